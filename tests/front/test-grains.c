/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The grain manager (front/grains.h) with a real store, real packages and real sandboxes on a real sd_event
 * loop: the notes example app installed from the package the build makes, and packages written here by hand
 * (a tree on disk with the notes binary, a manifest built with capnp's builder, and store rows) for what the
 * example cannot show: a first command that differs from continueCommand, a crashing app, an upgrade.
 * Starting sandboxes needs root (the sandbox maps the app to nobody) and the build's granary-grain and notes;
 * without them those cases say SKIP. */

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>
#include <systemd/sd-event.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/string-util.h"
#include "capnp/capnp.h"
#include "front/apps.h"
#include "front/grains.h"

#define SEC(n) ((uint64_t) (n) * UINT64_C(1000000))
#define MSEC(n) ((uint64_t) (n) * UINT64_C(1000))
#define T0 SEC(1700000000)

#define HAND_APP "handmadeappxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define HAND_PKG1 "11111111111111111111111111111111"
#define HAND_PKG2 "22222222222222222222222222222222"

#define REQUEST "GET / HTTP/1.1\r\nHost: grain\r\nConnection: close\r\n\r\n"

typedef struct Fixture {
        char dir[64];
        char *grains_dir, *packages_dir, *sockets_dir;
        int packages_fd;
        sd_event *e;
        Store *store;
        Grains *grains;
        int64_t owner;
        char *notes_app;
        bool can_spawn;
        char *deleted;
        unsigned n_stopped_all;
} Fixture;

static const char *build_root(void) {
        return getenv("BUILD_ROOT") ?: ".";
}

static char *build_path(const char *rel) {
        return path_join(build_root(), rel);
}

static void on_deleted(const char *id, void *userdata) {
        Fixture *f = userdata;

        free(f->deleted);
        f->deleted = strdup(id);
}

static int make_grains(Fixture *f, uint64_t log_max) {
        _cleanup_free_ char *bridge = build_path("src/grain/granary-grain");
        GrainsConfig c = {
                .grains_dir = f->grains_dir,
                .packages_dir = f->packages_dir,
                .sockets_dir = f->sockets_dir,
                .bridge_path = bridge,
                .idle_usec = SEC(1),
                .stop_timeout_usec = SEC(2),
                .log_max = log_max,
                /* No memory limit: without a delegated cgroup it is an address-space rlimit, which the
                 * sanitizers' shadow memory in the sandbox's child (before its exec) cannot live with. */
                .limits = { .tasks_max = 256 },
        };

        int r;

        sandbox_default_ids(&c.uid, &c.gid);
        f->grains = grains_free(f->grains);
        r = grains_new(f->e, f->store, &c, &f->grains);
        if (r < 0) {
                print_message("# grains_new: %s\n", strerror(-r));
                return -1;
        }
        grains_on_delete(f->grains, on_deleted, f);
        return 0;
}

static int setup_failed(int line) {
        print_message("# setup failed at line %i: %m\n", line);
        return -1;
}

static int setup(void **state) {
        _cleanup_free_ char *db = NULL, *spk = NULL, *error = NULL, *bridge = NULL, *notes = NULL;
        _cleanup_(apps_install_result_done) AppsInstallResult res = {};
        _cleanup_close_ int spk_fd = -EBADF;
        Fixture *f = calloc(1, sizeof(Fixture));

        if (!f)
                return setup_failed(__LINE__);
        strcpy(f->dir, "/tmp/test-grains-XXXXXX");
        if (!mkdtemp(f->dir))
                return setup_failed(__LINE__);
        /* mkdtemp() makes it 0700: the sandbox needs no way in for the app's uid (grains.h) */
        db = path_join(f->dir, "db.sqlite");
        f->grains_dir = path_join(f->dir, "grains");
        f->packages_dir = path_join(f->dir, "packages");
        f->sockets_dir = path_join(f->dir, "sockets");
        if (!db || !f->grains_dir || !f->packages_dir || !f->sockets_dir || mkdir(f->packages_dir, 0755) < 0)
                return setup_failed(__LINE__);
        f->packages_fd = open(f->packages_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (f->packages_fd < 0 || store_open(db, STORE_OPEN_CREATE, &f->store) < 0)
                return setup_failed(__LINE__);
        if (sd_event_new(&f->e) < 0)
                return setup_failed(__LINE__);
        if (store_user_add(f->store, "alice", "Alice", true, T0, &f->owner) < 0)
                return setup_failed(__LINE__);

        spk = build_path("contrib/apps/notes/notes.spk");
        spk_fd = open(spk, O_RDONLY | O_CLOEXEC);
        if (spk_fd >= 0) {
                if (apps_install_fd(f->store, f->packages_fd, spk_fd, T0, &res, &error) < 0)
                        return setup_failed(__LINE__);
                f->notes_app = strdup(res.app->id);
                if (!f->notes_app)
                        return setup_failed(__LINE__);
        }
        bridge = build_path("src/grain/granary-grain");
        notes = build_path("contrib/apps/notes/notes");
        f->can_spawn = geteuid() == 0 && f->notes_app && file_exists(bridge) && file_exists(notes);

        if (make_grains(f, 4096) < 0)
                return setup_failed(__LINE__);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        int r;

        grains_free(f->grains);
        sd_event_unref(f->e);
        store_close(f->store);
        safe_close(f->packages_fd);
        r = rm_rf_path(f->dir);
        free(f->grains_dir);
        free(f->packages_dir);
        free(f->sockets_dir);
        free(f->notes_app);
        free(f->deleted);
        free(f);
        return r < 0 ? -1 : 0;
}

#define NEED_SPAWN(f)                                                                                        \
        do {                                                                                                 \
                if (!(f)->can_spawn) {                                                                       \
                        print_message("# SKIP: starting sandboxes needs root, granary-grain and notes\n");   \
                        skip();                                                                              \
                }                                                                                            \
        } while (0)

/* ---- the loop ---- */

typedef bool (*Condition)(Fixture *f, const void *arg);

/* Runs the loop until cond holds; false after timeout. */
static bool run_until(Fixture *f, Condition cond, const void *arg, uint64_t timeout) {
        struct timespec ts;
        uint64_t end, now;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        end = SEC(ts.tv_sec) + (uint64_t) ts.tv_nsec / 1000u + timeout;
        for (;;) {
                if (cond(f, arg))
                        return true;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                now = SEC(ts.tv_sec) + (uint64_t) ts.tv_nsec / 1000u;
                if (now >= end)
                        return false;
                assert_true(sd_event_run(f->e, MIN(end - now, MSEC(20))) >= 0);
        }
}

typedef struct StateIs {
        const char *id;
        GrainState state;
} StateIs;

static bool state_is(Fixture *f, const void *arg) {
        const StateIs *s = arg;

        return grains_state(f->grains, s->id) == s->state;
}

static void wait_state(Fixture *f, const char *id, GrainState state, uint64_t timeout) {
        StateIs s = { id, state };

        if (!run_until(f, state_is, &s, timeout))
                fail_msg("grain %s is %s, not %s", id, grain_state_to_string(grains_state(f->grains, id)),
                         grain_state_to_string(state));
}

/* One request on a new connection to the grain, read to EOF while the loop runs. Returns what came back
 * (possibly nothing: the grain closed the connection), NUL-terminated. */
static char *http(Fixture *f, const char *id, const char *request, size_t *ret_n) {
        _cleanup_close_ int fd = -EBADF;
        StrBuf b = STRBUF_INIT;
        struct timespec ts;
        uint64_t end;
        char buf[4096];

        assert_int_equal(grains_connect(f->grains, id, &fd), 0);
        assert_int_equal(loop_write(fd, request, strlen(request)), 0);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        end = SEC(ts.tv_sec + 10);
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));

                if (n == 0 || (n < 0 && errno == ECONNRESET))
                        break;
                if (n > 0) {
                        assert_int_equal(strbuf_append(&b, buf, (size_t) n), 0);
                        continue;
                }
                assert_int_equal(errno, EAGAIN);
                clock_gettime(CLOCK_MONOTONIC, &ts);
                if (SEC(ts.tv_sec) > end)
                        fail_msg("no answer from grain %s within 10 s", id);
                assert_true(sd_event_run(f->e, MSEC(10)) >= 0);
        }
        assert_int_equal(strbuf_append(&b, "", 0), 0);
        return strbuf_steal(&b, ret_n);
}


static char *console(Fixture *f, const char *id) {
        char *text;
        size_t n;

        assert_int_equal(grains_log_tail(f->grains, id, SIZE_MAX, &text, &n), 0);
        assert_int_equal(strlen(text), n);
        return text;
}

#define assert_notes_page(page) assert_notes_page_of(f, id, page)
static void assert_notes_page_of(Fixture *f, const char *id, const char *page) {
        if (!startswith(page, "HTTP/1.1 200 OK\r\n") || !strstr(page, "<h1>Notes</h1>")) {
                _cleanup_free_ char *text = console(f, id);

                fail_msg("not the notes page: '%.200s'; the console says:\n%s", page, text);
        }
}

static size_t count(const char *haystack, const char *needle) {
        size_t n = 0;

        for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

static char *grain_path(Fixture *f, const char *id, const char *rel) {
        char *p;

        assert_true(asprintf(&p, "%s/%s%s%s", f->grains_dir, id, rel ? "/" : "", rel ?: "") > 0);
        return p;
}

/* ---- packages made by hand ---- */

typedef struct HandCmd {
        const char *const *argv;
        const char *notes_dir; /* NOTES_DIR, or NULL */
} HandCmd;

static void build_command(const CapnpBuilderStruct *parent, uint16_t slot, const HandCmd *c) {
        CapnpBuilderStruct cmd, kv;
        CapnpBuilderList l;
        size_t n = 0;

        while (c->argv[n])
                n++;
        assert_true(capnp_build_init_struct(parent, slot, 0, 3, &cmd) >= 0);
        assert_true(capnp_build_init_list(&cmd, 1, CAPNP_ELEMENT_POINTER, (uint32_t) n, &l) >= 0);
        for (size_t i = 0; i < n; i++)
                assert_true(capnp_build_list_set_text(&l, (uint32_t) i, c->argv[i], strlen(c->argv[i])) >= 0);
        assert_true(capnp_build_init_struct_list(&cmd, 2, c->notes_dir ? 2 : 1, 0, 2, &l) >= 0);
        assert_true(capnp_build_list_get_struct(&l, 0, &kv) >= 0);
        assert_true(capnp_build_set_text(&kv, 0, "PATH", 4) >= 0);
        assert_true(capnp_build_set_text(&kv, 1, "/bin", 4) >= 0);
        if (c->notes_dir) {
                assert_true(capnp_build_list_get_struct(&l, 1, &kv) >= 0);
                assert_true(capnp_build_set_text(&kv, 0, "NOTES_DIR", 9) >= 0);
                assert_true(capnp_build_set_text(&kv, 1, c->notes_dir, strlen(c->notes_dir)) >= 0);
        }
}

static void copy_file(const char *from, int to_dir_fd, const char *to) {
        _cleanup_free_ char *data = NULL;
        size_t n;

        assert_int_equal(read_full_file_at(AT_FDCWD, from, 64u << 20, &data, &n), 0);
        assert_int_equal(write_file_atomic_at(to_dir_fd, to, data, n, 0755), 0);
}

/* packages/<id>/ with the notes binary, the mount points the sandbox wants, and store rows for the package
 * (app HAND_APP, made when missing), which becomes the app's latest. */
static void add_hand_package(Fixture *f, const char *id, uint32_t version, const HandCmd *first,
                             const HandCmd *cont, const char *permission) {
        _cleanup_free_ char *notes = build_path("contrib/apps/notes/notes");
        _cleanup_free_ uint8_t *manifest = NULL, *bridge = NULL;
        _cleanup_close_ int fd = -EBADF;
        CapnpBuilder b;
        CapnpBuilderStruct root, action, view, def;
        CapnpBuilderList l;
        size_t manifest_size, bridge_size = 0;
        int r;

        assert_int_equal(mkdirat(f->packages_fd, id, 0755), 0);
        fd = openat(f->packages_fd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        copy_file(notes, fd, "notes");
        assert_int_equal(write_file_atomic_at(fd, "sandstorm-http-bridge", "", 0, 0755), 0);
        for (size_t i = 0; i < 4; i++)
                assert_int_equal(mkdirat(fd, (const char *[]) { "dev", "tmp", "var", "proc" }[i], 0755), 0);

        capnp_builder_init(&b, 0);
        assert_true(capnp_builder_init_root(&b, 2, 5, &root) >= 0);
        capnp_build_set_u32(&root, 8, version);
        assert_true(capnp_build_init_struct_list(&root, 0, 1, 1, 5, &l) >= 0);
        assert_true(capnp_build_list_get_struct(&l, 0, &action) >= 0);
        build_command(&action, 1, first);
        build_command(&root, 1, cont);
        assert_int_equal(capnp_builder_finish(&b, &manifest, &manifest_size), 0);
        capnp_builder_done(&b);

        if (permission) {
                capnp_builder_init(&b, 0);
                assert_true(capnp_builder_init_root(&b, 1, 3, &root) >= 0);
                assert_true(capnp_build_init_struct(&root, 0, 0, 8, &view) >= 0);
                assert_true(capnp_build_init_struct_list(&view, 0, 1, 1, 3, &l) >= 0);
                assert_true(capnp_build_list_get_struct(&l, 0, &def) >= 0);
                assert_true(capnp_build_set_text(&def, 2, permission, strlen(permission)) >= 0);
                assert_int_equal(capnp_builder_finish(&b, &bridge, &bridge_size), 0);
                capnp_builder_done(&b);
        }

        r = store_app_add(f->store, HAND_APP, "Hand", T0);
        assert_true(r == 0 || r == -EEXIST);
        StorePackage p = {
                .id = (char *) id,
                .app_id = (char *) HAND_APP,
                .app_version = version,
                .marketing_version = (char *) "1",
                .manifest = manifest,
                .manifest_size = manifest_size,
                .bridge_config = bridge,
                .bridge_config_size = bridge_size,
                .installed = T0,
        };
        assert_int_equal(store_package_add(f->store, &p), 0);
        assert_int_equal(store_app_set_latest_package(f->store, HAND_APP, id), 0);
}

static const char *const notes_argv[] = { "/sandstorm-http-bridge", "8000", "--", "/notes", "8000", NULL };
static const char *const crash_argv[] = { "/sandstorm-http-bridge", "8000", "--", "/missing", NULL };

/* ---- tests ---- */

static void test_create(void **state) {
        Fixture *f = *state;
        _cleanup_(store_grain_freep) StoreGrain *row = NULL;
        _cleanup_free_ char *id = NULL, *dir = NULL, *var = NULL, *action = NULL, *log = NULL, *text = NULL;
        _cleanup_strv_free_ char **perms = NULL;
        char identity[STORE_IDENTITY_ID_LENGTH + 1];
        struct stat st;
        uid_t uid;
        gid_t gid;
        GrainState s;
        uint64_t mem = 1;
        size_t n;

        add_hand_package(f, HAND_PKG1, 1, &(HandCmd) { notes_argv }, &(HandCmd) { notes_argv }, "edit");
        sandbox_default_ids(&uid, &gid);

        assert_int_equal(grains_create(f->grains, f->owner, HAND_APP, 0, "My notes", &id), 0);
        assert_int_equal(strlen(id), STORE_GRAIN_ID_LENGTH);
        assert_int_equal(store_grain_get(f->store, id, &row), 0);
        assert_string_equal(row->package_id, HAND_PKG1);
        assert_string_equal(row->title, "My notes");
        assert_int_equal(row->owner_id, f->owner);
        assert_int_equal(store_identity_get(f->store, f->owner, id, identity), 0);

        dir = grain_path(f, id, NULL);
        var = grain_path(f, id, "var");
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(st.st_uid, geteuid());
        assert_int_equal(stat(var, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(st.st_uid, uid);
        assert_int_equal(st.st_gid, gid);
        action = grain_path(f, id, "new-action");
        assert_int_equal(read_full_file_at(AT_FDCWD, action, 64, &text, &n), 0);
        assert_string_equal(text, "0\n");
        assert_false(file_exists(log = grain_path(f, id, "log")));

        assert_int_equal(grains_state(f->grains, id), GRAIN_STOPPED);
        assert_int_equal(grains_info(f->grains, id, &s, &mem), 0);
        assert_int_equal(s, GRAIN_STOPPED);
        assert_int_equal(mem, 0);
        assert_int_equal(grains_permissions(f->grains, id, &perms), 0);
        assert_string_equal(perms[0], "edit");
        assert_null(perms[1]);
        free(text);
        assert_int_equal(grains_log_tail(f->grains, id, 100, &text, &n), 0);
        assert_int_equal(n, 0);
        assert_string_equal(text, "");

        /* No title: the app's. */
        free(id);
        assert_int_equal(grains_create(f->grains, f->owner, HAND_APP, 0, NULL, &id), 0);
        row = store_grain_free(row);
        assert_int_equal(store_grain_get(f->store, id, &row), 0);
        assert_string_equal(row->title, "Hand");

        assert_int_equal(grains_create(f->grains, f->owner, HAND_APP, 1, "x", &text), -ERANGE);
        assert_int_equal(grains_create(f->grains, f->owner, "nosuchapp", 0, "x", &text), -ENOENT);
        assert_int_equal(grains_create(f->grains, 4242, HAND_APP, 0, "x", &text), -ENOENT);
        assert_int_equal(store_app_add(f->store, "emptyapp", "Empty", T0), 0);
        assert_int_equal(grains_create(f->grains, f->owner, "emptyapp", 0, "x", &text), -ENXIO);
        /* What failed left nothing: two grains' directories and no more. */
        {
                _cleanup_(store_grain_list_freep) StoreGrain **l = NULL;
                DIR *d = opendir(f->grains_dir);
                struct dirent *de;
                unsigned dirs = 0;

                assert_non_null(d);
                while ((de = readdir(d)))
                        dirs += de->d_name[0] != '.';
                closedir(d);
                assert_int_equal(dirs, 2);
                assert_int_equal(store_grain_list(f->store, &l, &n), 0);
                assert_int_equal(n, 2);
        }

        assert_int_equal(grains_state(f->grains, "nosuchgrain"), -ENOENT);
        assert_int_equal(grains_state(f->grains, "../etc"), -ENOENT);
        assert_int_equal(grains_info(f->grains, "nosuchgrain", &s, &mem), -ENOENT);
        assert_int_equal(grains_stop(f->grains, "nosuchgrain"), -ENOENT);
        assert_int_equal(grains_delete(f->grains, "nosuchgrain"), -ENOENT);
        assert_int_equal(grains_connect(f->grains, "nosuchgrain", &(int) { 0 }), -ENOENT);
        assert_int_equal(grains_log_tail(f->grains, "nosuchgrain", 10, &text, &n), -ENOENT);
        assert_int_equal(grains_permissions(f->grains, "nosuchgrain", &perms), -ENOENT);
        assert_string_equal(grain_state_to_string(GRAIN_STOPPING), "stopping");
        assert_null(grain_state_to_string(_GRAIN_STATE_MAX));
}

static void test_log_tail(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *id = NULL, *log = NULL, *old = NULL, *text = NULL;
        size_t n;

        add_hand_package(f, HAND_PKG1, 1, &(HandCmd) { notes_argv }, &(HandCmd) { notes_argv }, NULL);
        assert_int_equal(grains_create(f->grains, f->owner, HAND_APP, 0, "t", &id), 0);
        log = grain_path(f, id, "log");
        old = grain_path(f, id, "log.1");
        assert_int_equal(write_file_atomic_at(AT_FDCWD, old, "0123456789", 10, 0600), 0);
        assert_int_equal(write_file_atomic_at(AT_FDCWD, log, "abcdef", 6, 0600), 0);

        assert_int_equal(grains_log_tail(f->grains, id, 100, &text, &n), 0);
        assert_int_equal(n, 16);
        assert_string_equal(text, "0123456789abcdef");
        free(text);
        assert_int_equal(grains_log_tail(f->grains, id, 9, &text, &n), 0);
        assert_string_equal(text, "789abcdef");
        free(text);
        assert_int_equal(grains_log_tail(f->grains, id, 4, &text, &n), 0);
        assert_string_equal(text, "cdef");
        free(text);
        assert_int_equal(grains_log_tail(f->grains, id, 0, &text, &n), 0);
        assert_int_equal(n, 0);
        free(text);
        text = NULL;
        assert_int_equal(unlink(log), 0);
        assert_int_equal(grains_log_tail(f->grains, id, 3, &text, &n), 0);
        assert_string_equal(text, "789");
}

static void test_connect_starts(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *id = NULL, *page = NULL, *action = NULL, *log = NULL, *old = NULL, *text = NULL,
                            *sock = NULL, *filler = NULL;
        GrainState s;
        uint64_t mem = 0;
        struct stat st;
        size_t n;

        NEED_SPAWN(f);
        assert_int_equal(grains_create(f->grains, f->owner, f->notes_app, 0, "Notes", &id), 0);

        /* A console past log_max (4096 here) is rotated when the grain starts (spec §6.6). */
        log = grain_path(f, id, "log");
        old = grain_path(f, id, "log.1");
        filler = malloc(10000);
        assert_non_null(filler);
        for (size_t i = 0; i < 10000; i++)
                filler[i] = (char) ('a' + i % 26);
        assert_int_equal(write_file_atomic_at(AT_FDCWD, log, filler, 10000, 0600), 0);

        page = http(f, id, REQUEST, &n);
        assert_notes_page(page);
        assert_int_equal(grains_info(f->grains, id, &s, &mem), 0);
        assert_int_equal(s, GRAIN_RUNNING);
        assert_true(mem > 0);
        print_message("# sandbox resident memory: %" PRIu64 " KiB\n", mem / 1024);

        /* The first start used the action and recorded it. */
        assert_false(file_exists(action = grain_path(f, id, "new-action")));

        assert_int_equal(stat(old, &st), 0);
        assert_int_equal(st.st_size, 4096);
        assert_int_equal(read_full_file_at(AT_FDCWD, old, 8192, &text, &n), 0);
        assert_memory_equal(text, filler + 10000 - 4096, 4096);
        free(text);
        text = console(f, id);
        assert_non_null(strstr(text, "notes: listening on 127.0.0.1:8000, notes in '/var/notes'"));
        assert_null(strstr(text + 4096, "abcdefghij"));

        /* The listening socket is where grains.h says, in a 0700 directory. */
        assert_int_equal(stat(f->sockets_dir, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_true(asprintf(&sock, "%s/%s.sock", f->sockets_dir, id) > 0);
        assert_int_equal(stat(sock, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));

        /* Keep-alive: a second request on the running grain. */
        free(page);
        page = http(f, id, REQUEST, &n);
        assert_notes_page(page);

        /* The note the app wrote is in the grain's storage, owned by the app's uid. */
        free(page);
        page = http(f, id,
                    "POST /notes HTTP/1.1\r\nHost: grain\r\nConnection: close\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\n\r\ntext=hello",
                    &n);
        assert_true(startswith(page, "HTTP/1.1 303 See Other\r\n"));
        free(text);
        text = grain_path(f, id, "var/notes/1");
        assert_int_equal(stat(text, &st), 0);
}

static void test_idle_and_wake(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *id = NULL, *page = NULL, *text = NULL;
        size_t n;

        NEED_SPAWN(f);
        assert_int_equal(grains_create(f->grains, f->owner, f->notes_app, 0, "Notes", &id), 0);
        page = http(f, id, REQUEST, &n);
        assert_notes_page(page);
        assert_int_equal(grains_state(f->grains, id), GRAIN_RUNNING);

        /* idle_usec is 1 s: the bridge exits 0 by itself, and the grain waits for the next connection. */
        wait_state(f, id, GRAIN_STOPPED, SEC(5));
        text = console(f, id);
        assert_int_equal(count(text, "notes: listening"), 1);

        free(page);
        page = http(f, id, REQUEST, &n);
        assert_notes_page(page);
        free(text);
        text = console(f, id);
        assert_int_equal(count(text, "notes: listening"), 2);
        wait_state(f, id, GRAIN_STOPPED, SEC(5));
}

static void test_first_then_continue(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *id = NULL, *page = NULL, *text = NULL, *first = NULL, *cont = NULL;
        size_t n;

        NEED_SPAWN(f);
        add_hand_package(f, HAND_PKG1, 1, &(HandCmd) { notes_argv, "/var/first" },
                         &(HandCmd) { notes_argv, "/var/later" }, NULL);
        assert_int_equal(grains_create(f->grains, f->owner, HAND_APP, 0, "t", &id), 0);

        page = http(f, id, REQUEST, &n);
        assert_notes_page(page);
        text = console(f, id);
        assert_non_null(strstr(text, "notes in '/var/first'"));
        assert_null(strstr(text, "notes in '/var/later'"));
        assert_true(file_exists(first = grain_path(f, id, "var/first")));

        assert_int_equal(grains_stop(f->grains, id), 0);
        assert_int_equal(grains_state(f->grains, id), GRAIN_STOPPING);
        wait_state(f, id, GRAIN_STOPPED, SEC(5));

        free(page);
        page = http(f, id, REQUEST, &n);
        assert_notes_page(page);
        free(text);
        text = console(f, id);
        assert_int_equal(count(text, "notes in '/var/first'"), 1);
        assert_int_equal(count(text, "notes in '/var/later'"), 1);
        assert_true(file_exists(cont = grain_path(f, id, "var/later")));
}

static void test_crash(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *id = NULL, *page = NULL, *text = NULL;
        size_t n;

        NEED_SPAWN(f);
        /* The first command's app does not exist: the bridge exits nonzero. continueCommand works. */
        add_hand_package(f, HAND_PKG1, 1, &(HandCmd) { crash_argv }, &(HandCmd) { notes_argv }, NULL);
        assert_int_equal(grains_create(f->grains, f->owner, HAND_APP, 0, "t", &id), 0);

        page = http(f, id, REQUEST, &n);
        assert_int_equal(n, 0); /* closed before any response: the proxy's 502 */
        wait_state(f, id, GRAIN_STOPPED, SEC(5));
        /* The bridge said why, in the grain's console. */
        text = console(f, id);
        assert_int_equal(count(text, "** granary-grain: Failed to execute '/missing': No such file or "
                                     "directory\n"),
                         1);
        assert_int_equal(count(text, "App exited with status 127"), 1);

        /* The next connection tries again, with continueCommand. */
        free(page);
        page = http(f, id, REQUEST, &n);
        assert_notes_page(page);
        assert_int_equal(grains_state(f->grains, id), GRAIN_RUNNING);
}

static void test_crash_loop_held(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *id = NULL, *page = NULL, *text = NULL;
        size_t n, lines;

        NEED_SPAWN(f);
        add_hand_package(f, HAND_PKG1, 1, &(HandCmd) { crash_argv }, &(HandCmd) { crash_argv }, NULL);
        assert_int_equal(grains_create(f->grains, f->owner, HAND_APP, 0, "t", &id), 0);

        for (unsigned i = 0; i < GRAINS_CRASH_MAX; i++) {
                page = http(f, id, REQUEST, &n);
                assert_int_equal(n, 0);
                free(page);
                wait_state(f, id, GRAIN_STOPPED, SEC(5));
        }
        text = console(f, id);
        lines = count(text, "\n");

        /* Held: the connection is closed at once and nothing starts (the console does not grow). */
        page = http(f, id, REQUEST, &n);
        assert_int_equal(n, 0);
        assert_int_equal(grains_state(f->grains, id), GRAIN_STOPPED);
        free(text);
        text = console(f, id);
        assert_int_equal(count(text, "\n"), lines);
        free(page);

        /* After the hold the next connection starts it again. */
        {
                struct timespec ts = { .tv_sec = GRAINS_HOLD_USEC / 1000000u, .tv_nsec = 200 * 1000 * 1000 };

                (void) nanosleep(&ts, NULL);
        }
        page = http(f, id, REQUEST, &n);
        assert_int_equal(n, 0);
        wait_state(f, id, GRAIN_STOPPED, SEC(5));
        free(text);
        text = console(f, id);
        assert_true(count(text, "\n") > lines);
}

static void test_upgrade(void **state) {
        Fixture *f = *state;
        _cleanup_(store_grain_freep) StoreGrain *row = NULL;
        _cleanup_free_ char *id = NULL, *page = NULL, *text = NULL;
        _cleanup_strv_free_ char **perms = NULL;
        size_t n;

        NEED_SPAWN(f);
        add_hand_package(f, HAND_PKG1, 1, &(HandCmd) { notes_argv, "/var/v1" },
                         &(HandCmd) { notes_argv, "/var/v1" }, NULL);
        assert_int_equal(grains_create(f->grains, f->owner, HAND_APP, 0, "t", &id), 0);
        page = http(f, id, REQUEST, &n);
        assert_notes_page(page);
        assert_int_equal(grains_permissions(f->grains, id, &perms), 0);
        assert_null(perms[0]);
        perms = strv_free(perms);

        add_hand_package(f, HAND_PKG2, 2, &(HandCmd) { notes_argv, "/var/v2" },
                         &(HandCmd) { notes_argv, "/var/v2" }, "admin");
        /* Running grains keep their package until their next start; permissions already say what that
         * start runs. */
        assert_int_equal(store_grain_get(f->store, id, &row), 0);
        assert_string_equal(row->package_id, HAND_PKG1);
        assert_int_equal(grains_permissions(f->grains, id, &perms), 0);
        assert_string_equal(perms[0], "admin");

        assert_int_equal(grains_stop(f->grains, id), 0);
        wait_state(f, id, GRAIN_STOPPED, SEC(5));
        free(page);
        page = http(f, id, REQUEST, &n);
        assert_notes_page(page);
        row = store_grain_free(row);
        assert_int_equal(store_grain_get(f->store, id, &row), 0);
        assert_string_equal(row->package_id, HAND_PKG2);
        text = console(f, id);
        assert_int_equal(count(text, "notes in '/var/v1'"), 1);
        assert_int_equal(count(text, "notes in '/var/v2'"), 1);

        /* A package tree gone from disk: 503 material, not a start. */
        assert_int_equal(grains_stop(f->grains, id), 0);
        wait_state(f, id, GRAIN_STOPPED, SEC(5));
        assert_int_equal(renameat(f->packages_fd, HAND_PKG2, f->packages_fd, "moved"), 0);
        assert_int_equal(grains_connect(f->grains, id, &(int) { 0 }), -ESTALE);
}

typedef struct Gone {
        const char *a, *b;
} Gone;

static bool paths_gone(Fixture *f, const void *arg) {
        const Gone *g = arg;

        return !file_exists(g->a) && !file_exists(g->b);
}

static void test_delete(void **state) {
        Fixture *f = *state;
        _cleanup_(store_grain_freep) StoreGrain *row = NULL;
        _cleanup_free_ char *id = NULL, *id2 = NULL, *page = NULL, *dir = NULL, *dir2 = NULL, *sock = NULL,
                            *hidden = NULL, *hidden2 = NULL;
        char identity[STORE_IDENTITY_ID_LENGTH + 1];
        size_t n;

        NEED_SPAWN(f);
        assert_int_equal(grains_create(f->grains, f->owner, f->notes_app, 0, "a", &id), 0);
        assert_int_equal(grains_create(f->grains, f->owner, f->notes_app, 0, "b", &id2), 0);
        page = http(f, id, REQUEST, &n);
        assert_notes_page(page);
        dir = grain_path(f, id, NULL);
        dir2 = grain_path(f, id2, NULL);
        assert_true(asprintf(&hidden, "%s/.deleted-%s", f->grains_dir, id) > 0);
        assert_true(asprintf(&hidden2, "%s/.deleted-%s", f->grains_dir, id2) > 0);
        assert_true(asprintf(&sock, "%s/%s.sock", f->sockets_dir, id) > 0);
        assert_true(file_exists(sock));

        /* Running: the row goes at once, the storage once it stopped. */
        assert_int_equal(grains_delete(f->grains, id), 0);
        assert_string_equal(f->deleted, id);
        assert_int_equal(store_grain_get(f->store, id, &row), -ENOENT);
        assert_int_equal(store_identity_get(f->store, f->owner, id, identity), -ENOENT);
        assert_false(file_exists(sock));
        assert_int_equal(grains_state(f->grains, id), -ENOENT);
        assert_int_equal(grains_connect(f->grains, id, &(int) { 0 }), -ENOENT);
        assert_int_equal(grains_delete(f->grains, id), -ENOENT);
        assert_true(run_until(f, paths_gone, &(Gone) { dir, hidden }, SEC(10)));

        /* Never started. */
        assert_int_equal(grains_delete(f->grains, id2), 0);
        assert_string_equal(f->deleted, id2);
        assert_true(run_until(f, paths_gone, &(Gone) { dir2, hidden2 }, SEC(10)));
}

static void on_stopped_all(void *userdata) {
        Fixture *f = userdata;

        f->n_stopped_all++;
}

static bool stopped_all(Fixture *f, const void *arg) {
        return f->n_stopped_all >= *(const unsigned *) arg;
}

static void test_stop_all(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *page = NULL;
        size_t n;

        NEED_SPAWN(f);
        assert_int_equal(grains_create(f->grains, f->owner, f->notes_app, 0, "a", &a), 0);
        assert_int_equal(grains_create(f->grains, f->owner, f->notes_app, 0, "b", &b), 0);
        assert_int_equal(grains_create(f->grains, f->owner, f->notes_app, 0, "c", &c), 0);
        page = http(f, a, REQUEST, &n);
        assert_notes_page_of(f, a, page);
        free(page);
        page = http(f, b, REQUEST, &n);
        assert_notes_page_of(f, b, page);
        assert_int_equal(grains_state(f->grains, c), GRAIN_STOPPED);

        assert_int_equal(grains_stop_all(f->grains, on_stopped_all, f), 0);
        assert_int_equal(f->n_stopped_all, 0); /* never from within the call */
        assert_int_equal(grains_state(f->grains, a), GRAIN_STOPPING);
        assert_true(run_until(f, stopped_all, &(unsigned) { 1 }, SEC(5)));
        assert_int_equal(f->n_stopped_all, 1);
        assert_int_equal(grains_state(f->grains, a), GRAIN_STOPPED);
        assert_int_equal(grains_state(f->grains, b), GRAIN_STOPPED);

        /* Nothing runs: done comes on the next iteration all the same. */
        assert_int_equal(grains_stop_all(f->grains, on_stopped_all, f), 0);
        assert_int_equal(f->n_stopped_all, 1);
        assert_true(run_until(f, stopped_all, &(unsigned) { 2 }, SEC(1)));
        assert_int_equal(f->n_stopped_all, 2);
}

static void test_free_kills(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *id = NULL, *page = NULL;
        pid_t pid;
        size_t n;

        NEED_SPAWN(f);
        assert_int_equal(grains_create(f->grains, f->owner, f->notes_app, 0, "a", &id), 0);
        page = http(f, id, REQUEST, &n);
        assert_notes_page(page);

        /* Freeing the manager kills and reaps the sandbox: no child is left. */
        f->grains = grains_free(f->grains);
        pid = waitpid(-1, NULL, WNOHANG);
        assert_int_equal(pid, -1);
        assert_int_equal(errno, ECHILD);

        /* A new manager finds the grain stopped, and starts it again with continueCommand. */
        assert_int_equal(make_grains(f, 4096), 0);
        assert_int_equal(grains_state(f->grains, id), GRAIN_STOPPED);
        free(page);
        page = http(f, id, REQUEST, &n);
        assert_notes_page(page);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_create, setup, teardown),
                cmocka_unit_test_setup_teardown(test_log_tail, setup, teardown),
                cmocka_unit_test_setup_teardown(test_connect_starts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_idle_and_wake, setup, teardown),
                cmocka_unit_test_setup_teardown(test_first_then_continue, setup, teardown),
                cmocka_unit_test_setup_teardown(test_crash, setup, teardown),
                cmocka_unit_test_setup_teardown(test_crash_loop_held, setup, teardown),
                cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
                cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stop_all, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_kills, setup, teardown),
        };
        sigset_t mask;

        /* sd-event's child sources need SIGCHLD blocked before the loop exists. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || sodium_init() < 0)
                return 1;
        log_set_max_level(LOG_WARNING);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
