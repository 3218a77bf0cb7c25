/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The registry of development apps (front/devapps.h) with a real store, a real grain manager (no sandbox is
 * started: the choices are read through grains_create() and grains_permissions()) and a real sd_event:
 * registering and unregistering, what is refused, the app list, which package a grain gets, console lines
 * and the cap on what a slow reader leaves queued. */

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>
#include <systemd/sd-event.h>

#include "basic/fileio.h"
#include "basic/string-util.h"
#include "capnp/capnp.h"
#include "front/devapps.h"
#include "front/grains.h"

#define SEC(n) ((uint64_t) (n) *UINT64_C(1000000))
#define T0 SEC(1700000000)
/* A valid app id (spec §1.3), and the installed package of it some tests add. */
#define APP "07nwwgkeg6t63hqefg48ggq1hmvg5un8n6kgw4dusa7mwm0uyxn0"
#define APP_UPPER "07NWWGKEG6T63HQEFG48GGQ1HMVG5UN8N6KGW4DUSA7MWM0UYXN0"
#define INSTALLED "0123456789abcdef0123456789abcdef"

typedef struct Fixture {
        char dir[64];
        char *root, *grains_dir, *packages_dir, *sockets_dir;
        sd_event *e;
        Store *store;
        Grains *grains;
        DevApps *devapps;
        int64_t owner;
        uint8_t *manifest, *bridge;
        size_t manifest_size, bridge_size;
} Fixture;

/* A manifest: title, appVersion, marketing version, one action and a continueCommand of one argument. */
static void build_manifest(const char *title, uint32_t version, uint8_t **ret, size_t *ret_size) {
        CapnpBuilder b;
        CapnpBuilderStruct root, lt, action, cmd;
        CapnpBuilderList l;

        capnp_builder_init(&b, 0);
        assert_true(capnp_builder_init_root(&b, 2, 5, &root) >= 0);
        capnp_build_set_u32(&root, 8, version);
        assert_true(capnp_build_init_struct(&root, 3, 0, 2, &lt) >= 0);
        assert_true(capnp_build_set_text(&lt, 0, title, strlen(title)) >= 0);
        assert_true(capnp_build_init_struct(&root, 2, 0, 2, &lt) >= 0);
        assert_true(capnp_build_set_text(&lt, 0, "1.0", 3) >= 0);
        assert_true(capnp_build_init_struct_list(&root, 0, 1, 1, 5, &l) >= 0);
        assert_true(capnp_build_list_get_struct(&l, 0, &action) >= 0);
        for (int i = 0; i < 2; i++) {
                CapnpBuilderList argv;

                assert_true(capnp_build_init_struct(i == 0 ? &action : &root, 1, 0, 3, &cmd) >= 0);
                assert_true(capnp_build_init_list(&cmd, 1, CAPNP_ELEMENT_POINTER, 1, &argv) >= 0);
                assert_true(capnp_build_list_set_text(&argv, 0, "/app", 4) >= 0);
        }
        assert_int_equal(capnp_builder_finish(&b, ret, ret_size), 0);
        capnp_builder_done(&b);
}

/* A bridge config defining one permission. */
static void build_bridge(const char *permission, uint8_t **ret, size_t *ret_size) {
        CapnpBuilder b;
        CapnpBuilderStruct root, view, def;
        CapnpBuilderList l;

        capnp_builder_init(&b, 0);
        assert_true(capnp_builder_init_root(&b, 1, 3, &root) >= 0);
        assert_true(capnp_build_init_struct(&root, 0, 0, 8, &view) >= 0);
        assert_true(capnp_build_init_struct_list(&view, 0, 1, 1, 3, &l) >= 0);
        assert_true(capnp_build_list_get_struct(&l, 0, &def) >= 0);
        assert_true(capnp_build_set_text(&def, 2, permission, strlen(permission)) >= 0);
        assert_int_equal(capnp_builder_finish(&b, ret, ret_size), 0);
        capnp_builder_done(&b);
}

static int setup(void **state) {
        _cleanup_free_ char *db = NULL;
        Fixture *f = calloc(1, sizeof(Fixture));
        GrainsConfig c;

        assert_non_null(f);
        strcpy(f->dir, "/tmp/test-devapps-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->root = path_join(f->dir, "root");
        f->grains_dir = path_join(f->dir, "grains");
        f->packages_dir = path_join(f->dir, "packages");
        f->sockets_dir = path_join(f->dir, "sockets");
        db = path_join(f->dir, "granary.sqlite");
        assert_int_equal(mkdir(f->root, 0755), 0);
        assert_int_equal(mkdir(f->packages_dir, 0755), 0);
        assert_int_equal(sd_event_new(&f->e), 0);
        assert_int_equal(store_open(db, STORE_OPEN_CREATE, &f->store), 0);
        assert_int_equal(store_user_add(f->store, "alice", NULL, true, T0, &f->owner), 0);
        c = (GrainsConfig){
                .grains_dir = f->grains_dir,
                .packages_dir = f->packages_dir,
                .sockets_dir = f->sockets_dir,
                .bridge_path = "/nonexistent/granary-grain",
        };
        sandbox_default_ids(&c.uid, &c.gid);
        assert_int_equal(grains_new(f->e, f->store, &c, &f->grains), 0);
        assert_int_equal(devapps_new(f->e, f->store, f->grains, false, &f->devapps), 0);
        build_manifest("Dev Title", 7, &f->manifest, &f->manifest_size);
        build_bridge("devperm", &f->bridge, &f->bridge_size);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        int r;

        devapps_free(f->devapps);
        grains_free(f->grains);
        store_close(f->store);
        sd_event_unref(f->e);
        r = rm_rf_path(f->dir);
        free(f->root);
        free(f->grains_dir);
        free(f->packages_dir);
        free(f->sockets_dir);
        free(f->manifest);
        free(f->bridge);
        free(f);
        return r < 0 ? -1 : 0;
}

static int do_register(Fixture *f, const char *app_id, const char *root, DevApp **ret, char **ret_error) {
        return devapps_register(f->devapps,
                &(DevAppsParams){
                        .app_id = app_id,
                        .root = root,
                        .manifest = f->manifest,
                        .manifest_size = f->manifest_size,
                        .bridge_config = f->bridge,
                        .bridge_config_size = f->bridge_size,
                        .now = T0 + 5,
                },
                ret, ret_error);
}

/* What the stream holds now, read whole. */
static char *read_all(DevApp *a, bool *ret_eof) {
        StrBuf b = STRBUF_INIT;
        uint8_t buf[777]; /* an odd size: lines are split across reads */
        bool eof = false;
        size_t n;

        while ((n = devapp_read(a, buf, sizeof(buf), &eof)) > 0)
                assert_int_equal(strbuf_append(&b, buf, n), 0);
        assert_int_equal(strbuf_append(&b, "", 0), 0);
        if (ret_eof)
                *ret_eof = eof;
        return strbuf_steal(&b, NULL);
}

/* An installed package of APP with permission "installedperm", its app's latest. */
static void add_installed(Fixture *f) {
        _cleanup_free_ uint8_t *m = NULL, *br = NULL;
        size_t m_size, br_size;
        int r;

        build_manifest("Installed Title", 3, &m, &m_size);
        build_bridge("installedperm", &br, &br_size);
        r = store_app_add(f->store, APP, "Installed Title", T0);
        assert_true(r == 0 || r == -EEXIST);
        assert_int_equal(store_package_add(f->store,
                                 &(StorePackage){
                                         .id = (char *) INSTALLED,
                                         .app_id = (char *) APP,
                                         .app_version = 3,
                                         .marketing_version = (char *) "0.3",
                                         .manifest = m,
                                         .manifest_size = m_size,
                                         .bridge_config = br,
                                         .bridge_config_size = br_size,
                                         .installed = T0,
                                 }),
                0);
        assert_int_equal(store_app_set_latest_package(f->store, APP, INSTALLED), 0);
        assert_int_equal(mkdirat(AT_FDCWD, f->packages_dir, 0755) < 0 && errno != EEXIST, 0);
}

static void assert_permission(Fixture *f, const char *grain, const char *want) {
        _cleanup_strv_free_ char **names = NULL;

        assert_int_equal(grains_permissions(f->grains, grain, &names), 0);
        assert_non_null(names);
        assert_string_equal(names[0], want);
        assert_null(names[1]);
}

static void test_register_unregister(void **state) {
        Fixture *f = *state;
        _cleanup_(store_package_freep) StorePackage *p = NULL;
        _cleanup_(store_app_freep) StoreApp *app = NULL;
        _cleanup_(apps_app_list_freep) AppsApp **l = NULL;
        _cleanup_free_ char *text = NULL, *error = NULL, *want = NULL, *pkg = NULL;
        DevApp *a = NULL, *b = NULL;
        size_t n;
        bool eof;

        /* the app id in any case; the registry keeps it canonical */
        assert_int_equal(do_register(f, APP_UPPER, f->root, &a, NULL), 0);
        assert_string_equal(devapp_app_id(a), APP);
        assert_string_equal(devapp_root(a), f->root);
        pkg = strdup(devapp_package_id(a));
        assert_int_equal(strlen(pkg), 20);
        assert_true(startswith(pkg, "dev-"));
        assert_true(store_id_is_valid(pkg));
        assert_ptr_equal(devapps_get(f->devapps, APP), a);

        text = read_all(a, &eof);
        assert_true(asprintf(&want, "dev %s %s Dev Title\n", APP, pkg) > 0);
        assert_string_equal(text, want);
        assert_false(eof);

        /* the rows: the package (never the app's latest) and an app row, which apps_list() does not show */
        assert_int_equal(store_package_get(f->store, pkg, &p), 0);
        assert_int_equal(p->app_version, 7);
        assert_int_equal(p->bridge_config_size, f->bridge_size);
        assert_int_equal(store_app_get(f->store, APP, &app), 0);
        assert_null(app->latest_package_id);
        assert_int_equal(store_app_set_latest_package(f->store, APP, pkg), -ENOENT);
        assert_int_equal(apps_list(f->store, &l, &n), 0);
        assert_int_equal(n, 0);
        l = apps_app_list_free(l);

        /* listed by the registry instead, with dev set */
        assert_int_equal(devapps_list(f->devapps, &l, &n), 0);
        assert_int_equal(n, 1);
        assert_true(l[0]->dev);
        assert_string_equal(l[0]->id, APP);
        assert_string_equal(l[0]->title, "Dev Title");
        assert_string_equal(l[0]->package_id, pkg);
        assert_string_equal(l[0]->marketing_version, "1.0");
        assert_int_equal(l[0]->version, 7);
        assert_int_equal(l[0]->installed, T0 + 5);
        l = apps_app_list_free(l);

        /* one registration per app */
        assert_int_equal(do_register(f, APP, f->root, &b, &error), -EEXIST);
        assert_string_equal(error, "app " APP " is already in development (another spk dev is running)");
        assert_null(b);

        /* gone, with its rows: the app was known only for development */
        a = devapp_unregister(a);
        assert_null(devapps_get(f->devapps, APP));
        store_package_free(p);
        p = NULL;
        assert_int_equal(store_package_get(f->store, pkg, &p), -ENOENT);
        store_app_free(app);
        app = NULL;
        assert_int_equal(store_app_get(f->store, APP, &app), -ENOENT);
        assert_int_equal(devapps_list(f->devapps, &l, &n), 0);
        assert_int_equal(n, 0);

        /* and it can register again */
        assert_int_equal(do_register(f, APP, f->root, &a, NULL), 0);
        devapp_unregister(a);
}

static void test_refused(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *file = path_join(f->dir, "file"), *missing = path_join(f->dir, "missing");
        _cleanup_(store_app_freep) StoreApp *app = NULL;
        DevApp *a = NULL;
        static const struct {
                const char *app_id, *root; /* root NULL: the fixture's */
                int error;
                const char *message;
        } cases[] = {
                {"nope", NULL, -EINVAL, "The app id is not valid."},
                {APP "0", NULL, -EINVAL, "The app id is not valid."},
                {APP, "relative/root", -EINVAL, "The root must be an absolute path."},
                {APP, "", -EINVAL, "The root must be an absolute path."},
                {APP, "/tmp/a\nb", -EINVAL, "The root must be an absolute path."},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *error = NULL;

                assert_int_equal(do_register(f, cases[i].app_id, cases[i].root ?: f->root, &a, &error),
                        cases[i].error);
                assert_string_equal(error, cases[i].message);
        }

        assert_int_equal(write_file_atomic_at(AT_FDCWD, file, "x", 1, 0644), 0);
        {
                _cleanup_free_ char *error = NULL;

                assert_int_equal(do_register(f, APP, file, &a, &error), -EINVAL);
                assert_string_equal(error, "The root is not a directory.");
        }
        {
                _cleanup_free_ char *error = NULL;

                assert_int_equal(do_register(f, APP, missing, &a, &error), -EINVAL);
                assert_string_equal(error, "The root cannot be reached: No such file or directory");
        }
        {
                _cleanup_free_ char *error = NULL;
                static const uint8_t garbage[] = "not a manifest";

                assert_int_equal(devapps_register(f->devapps,
                                         &(DevAppsParams){.app_id = APP,
                                                 .root = f->root,
                                                 .manifest = garbage,
                                                 .manifest_size = sizeof(garbage)},
                                         &a, &error),
                        -EBADMSG);
                assert_string_equal(error, "The package's manifest is not a Cap'n Proto message.");
        }
        {
                _cleanup_free_ char *error = NULL;

                assert_int_equal(devapps_register(f->devapps,
                                         &(DevAppsParams){.app_id = APP, .root = f->root}, &a, &error),
                        -EBADMSG);
                assert_string_equal(error, "The manifest is missing.");
        }
        /* nothing was recorded */
        assert_int_equal(store_app_get(f->store, APP, &app), -ENOENT);
        assert_null(devapps_get(f->devapps, APP));
}

static void test_installed_app(void **state) {
        Fixture *f = *state;
        _cleanup_(apps_app_list_freep) AppsApp **l = NULL;
        _cleanup_(store_app_freep) StoreApp *app = NULL;
        _cleanup_free_ char *before = NULL, *during = NULL, *pkg = NULL, *grain_app = NULL;
        _cleanup_(store_grain_freep) StoreGrain *row = NULL;
        _cleanup_(store_package_freep) StorePackage *p = NULL;
        DevApp *a = NULL;
        size_t n;

        add_installed(f);
        assert_int_equal(grains_create(f->grains, f->owner, APP, 0, NULL, &before), 0);
        assert_permission(f, before, "installedperm");

        assert_int_equal(do_register(f, APP, f->root, &a, NULL), 0);
        pkg = strdup(devapp_package_id(a));
        /* the override wins for an existing grain (its next start moves it) and for a new one */
        assert_permission(f, before, "devperm");
        assert_int_equal(grains_create(f->grains, f->owner, APP, 0, NULL, &during), 0);
        assert_int_equal(store_grain_get(f->store, during, &row), 0);
        assert_string_equal(row->package_id, pkg);
        assert_permission(f, during, "devperm");
        assert_int_equal(grains_app_id(f->grains, during, &grain_app), 0);
        assert_string_equal(grain_app, APP);
        /* the installed app stays the app's latest, and is what apps_list() shows */
        assert_int_equal(store_app_get(f->store, APP, &app), 0);
        assert_string_equal(app->latest_package_id, INSTALLED);
        assert_int_equal(apps_list(f->store, &l, &n), 0);
        assert_int_equal(n, 1);
        assert_false(l[0]->dev);
        assert_string_equal(l[0]->package_id, INSTALLED);

        /* unregistered: the grain made meanwhile keeps the development package's row alive... */
        devapp_unregister(a);
        assert_int_equal(store_package_get(f->store, pkg, &p), 0);
        /* ...and its next start moves it to the installed package, whatever the versions (7 > 3) */
        assert_permission(f, during, "installedperm");
        assert_permission(f, before, "installedperm");
        /* deleting the last grain on it lets the development package go */
        assert_int_equal(grains_delete(f->grains, during), 0);
        store_package_free(p);
        p = NULL;
        assert_int_equal(store_package_get(f->store, pkg, &p), -ENOENT);
        app = store_app_free(app);
        assert_int_equal(store_app_get(f->store, APP, &app), 0); /* installed: it stays */
}

static void test_not_installed(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *id = NULL, *pkg = NULL;
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_(store_package_freep) StorePackage *p = NULL;
        _cleanup_(store_app_freep) StoreApp *app = NULL;
        DevApp *a = NULL;
        size_t n = 99;

        assert_int_equal(grains_create(f->grains, f->owner, APP, 0, NULL, &id), -ENOENT);
        assert_int_equal(do_register(f, APP, f->root, &a, NULL), 0);
        pkg = strdup(devapp_package_id(a));
        assert_int_equal(grains_create(f->grains, f->owner, APP, 0, NULL, &id), 0);
        assert_int_equal(grains_create(f->grains, f->owner, APP, 5, NULL, &id), -ERANGE);
        assert_permission(f, id, "devperm");
        devapp_unregister(a);

        /* no installed package: the grain cannot start */
        assert_int_equal(grains_permissions(f->grains, id, &names), -ENOPKG);
        assert_int_equal(grains_connect(f->grains, id, &(int){-1}), -ENOPKG);
        assert_int_equal(store_package_get(f->store, pkg, &p), 0);

        /* a restart of granaryd keeps what grains use */
        f->devapps = devapps_free(f->devapps);
        assert_int_equal(devapps_new(f->e, f->store, f->grains, false, &f->devapps), 0);
        store_package_free(p);
        p = NULL;
        assert_int_equal(store_package_get(f->store, pkg, &p), 0);

        /* the grain goes: so do the package and the app row made for it */
        assert_int_equal(grains_delete(f->grains, id), 0);
        store_package_free(p);
        p = NULL;
        assert_int_equal(store_package_get(f->store, pkg, &p), -ENOENT);
        assert_int_equal(store_app_get(f->store, APP, &app), -ENOENT);
        assert_int_equal(store_package_release_all_dev(f->store, &n), 0);
        assert_int_equal(n, 0);
}

/* Runs the loop until the registration has bytes queued, for at most seconds. */
static bool wait_queued(Fixture *f, DevApp *a, unsigned seconds) {
        for (unsigned i = 0; i < seconds * 50; i++) {
                if (devapp_queued(a) > 0)
                        return true;
                assert_true(sd_event_run(f->e, 20000) >= 0);
        }
        return devapp_queued(a) > 0;
}

static void test_console_lines(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *text = NULL, *longline = NULL, *want = NULL;
        DevApp *a = NULL;
        struct timespec t0, t1;

        assert_int_equal(do_register(f, APP, f->root, &a, NULL), 0);
        free(read_all(a, NULL));

        /* lines split across chunks, several in one, and another app's (not registered) dropped */
        devapps_console(f->devapps, "grainA", APP, "he", 2);
        devapps_console(f->devapps, "grainB", APP, "one\ntwo\nthr", 11);
        devapps_console(f->devapps, "grainA", APP, "llo\n", 4);
        devapps_console(
                f->devapps, "grainC", "otherappxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "no\n", 3);
        text = read_all(a, NULL);
        assert_string_equal(text, "[grainB] one\n[grainB] two\n[grainA] hello\n");
        free(text);

        /* a line without its newline goes after DEVAPPS_PARTIAL_USEC */
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_true(wait_queued(f, a, 3));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 900);
        text = read_all(a, NULL);
        assert_string_equal(text, "[grainB] thr\n");
        free(text);

        /* a line longer than DEVAPPS_LINE_MAX is cut there, the rest of it dropped */
        longline = malloc(DEVAPPS_LINE_MAX + 1000);
        assert_non_null(longline);
        memset(longline, 'x', DEVAPPS_LINE_MAX + 1000);
        devapps_console(f->devapps, "grainA", APP, longline, 3000);
        devapps_console(f->devapps, "grainA", APP, longline, DEVAPPS_LINE_MAX + 1000);
        devapps_console(f->devapps, "grainA", APP, "tail\nnext\n", 10);
        assert_true(asprintf(&want, "[grainA] %.*s\n[grainA] next\n", (int) DEVAPPS_LINE_MAX, longline) > 0);
        text = read_all(a, NULL);
        assert_string_equal(text, want);
        free(text);

        /* the end of a console sends what is left of its line */
        devapps_console(f->devapps, "grainA", APP, "last words", 10);
        devapps_console(f->devapps, "grainA", APP, NULL, 0);
        text = read_all(a, NULL);
        assert_string_equal(text, "[grainA] last words\n");
        free(text);

        /* the end of the stream: eof once read */
        {
                bool eof = false;

                devapps_console(f->devapps, "grainA", APP, "before end\n", 11);
                devapps_end_all(f->devapps);
                devapps_console(f->devapps, "grainA", APP, "after end\n", 10);
                text = read_all(a, &eof);
                assert_string_equal(text, "[grainA] before end\n");
                assert_true(eof);
        }
        devapp_unregister(a);
}

static void test_queue_cap(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *text = NULL, *content = NULL, *line = NULL;
        const size_t len = 4 + 1000 + 1; /* "[gg] " is 5; "[g] " 4: one line is 1005 bytes */
        const size_t kept = DEVAPPS_QUEUE_MAX / len, pushed = 2000;
        DevApp *a = NULL;
        const char *p;
        size_t n_lines = 0;

        assert_int_equal(do_register(f, APP, f->root, &a, NULL), 0);
        free(read_all(a, NULL));
        content = malloc(1001);
        assert_non_null(content);
        memset(content, 'y', 1000);
        content[1000] = '\n';
        for (size_t i = 0; i < pushed; i++)
                devapps_console(f->devapps, "g", APP, content, 1001);
        assert_true(devapp_queued(a) <= DEVAPPS_QUEUE_MAX);
        assert_int_equal(devapp_queued(a), kept * len);

        text = read_all(a, NULL);
        assert_true(asprintf(&line,
                            "granaryd: %zu console line(s) dropped: they came faster than they were read\n",
                            pushed - kept) > 0);
        assert_true(startswith(text, line));
        for (p = text + strlen(line); *p; p += len) {
                assert_true(startswith(p, "[g] yyy"));
                assert_int_equal(p[len - 1], '\n');
                n_lines++;
        }
        assert_int_equal(n_lines, kept);
        assert_int_equal(strlen(text), strlen(line) + kept * len);
        devapp_unregister(a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_register_unregister, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_installed_app, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_installed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_console_lines, setup, teardown),
                cmocka_unit_test_setup_teardown(test_queue_cap, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
