/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Installing and removing apps (front/apps.h) with a real store and packages directory in a temporary
 * directory: packages are built byte by byte by tests/spk/package-builder.h, signed with a key made here,
 * and installed in this process, through a forked worker on a real sd_event loop, and through the API's
 * app endpoints (front/api.h). */

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>
#include <systemd/sd-event.h>

#include "../spk/package-builder.h"
#include "basic/fileio.h"
#include "basic/hex.h"
#include "basic/string-util.h"
#include "front/accounts.h"
#include "front/api.h"
#include "front/apps.h"
#include "front/worker.h"

#define SEC(n) ((uint64_t) (n) * UINT64_C(1000000))
#define T0 SEC(1700000000)

typedef struct Fixture {
        char dir[64];
        Store *store;
        int packages_fd;
        uint8_t pk[32], sk[64];
        char app_id[APP_ID_TEXT_SIZE + 1];
        unsigned n_files;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        _cleanup_free_ char *db = NULL, *packages = NULL;

        if (!f)
                return -1;
        strcpy(f->dir, "/tmp/test-apps-XXXXXX");
        if (!mkdtemp(f->dir) || sodium_init() < 0)
                return -1;
        db = path_join(f->dir, "granary.sqlite");
        packages = path_join(f->dir, "packages");
        if (!db || !packages || mkdir(packages, 0755) < 0)
                return -1;
        if (store_open(db, STORE_OPEN_CREATE, &f->store) < 0)
                return -1;
        f->packages_fd = open(packages, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (f->packages_fd < 0)
                return -1;
        crypto_sign_keypair(f->pk, f->sk);
        app_id_to_string(f->pk, f->app_id);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        int r;

        store_close(f->store);
        safe_close(f->packages_fd);
        r = rm_rf_path(f->dir);
        free(f);
        return r < 0 ? -1 : 0;
}

/* ---- packages ---- */

typedef struct Spec {
        uint32_t version;
        const char *title;     /* NULL: no appTitle */
        const char *marketing; /* NULL: no appMarketingVersion */
        const char *content;   /* of hello.txt */
        bool bridge_config;
        size_t description_size; /* > 0: metadata.description of that many bytes, to make a big manifest */
        const char *dup_name;    /* a root name given twice: a package spk refuses */
        bool forged;             /* signed by another key than the one it names */
} Spec;

static void set_localized(const CapnpBuilderStruct *s, uint16_t slot, const char *text) {
        CapnpBuilderStruct t;

        assert_true(capnp_build_init_struct(s, slot, 0, 2, &t) >= 0);
        assert_true(capnp_build_set_text(&t, 0, text, strlen(text)) >= 0);
}

/* A Manifest (2 words, 5 ptrs, spec §3.3): appVersion, appTitle, appMarketingVersion, one action. */
static void build_manifest(const Spec *spec, uint8_t **ret, size_t *ret_size) {
        CapnpBuilder b;
        CapnpBuilderStruct root, meta;
        CapnpBuilderList actions;

        capnp_builder_init(&b, 0);
        assert_true(capnp_builder_init_root(&b, 2, 5, &root) >= 0);
        capnp_build_set_u32(&root, 8, spec->version);
        assert_true(capnp_build_init_struct_list(&root, 0, 1, 1, 5, &actions) >= 0);
        if (spec->marketing)
                set_localized(&root, 2, spec->marketing);
        if (spec->title)
                set_localized(&root, 3, spec->title);
        if (spec->description_size > 0) {
                _cleanup_free_ char *d = malloc(spec->description_size + 1);

                assert_non_null(d);
                memset(d, 'x', spec->description_size);
                d[spec->description_size] = 0;
                assert_true(capnp_build_init_struct(&root, 4, 1, 17, &meta) >= 0);
                set_localized(&meta, 11, d);
        }
        assert_true(capnp_builder_finish(&b, ret, ret_size) >= 0);
        capnp_builder_done(&b);
}

/* A BridgeConfig (1 word, 3 ptrs) with apiPath "/api/". */
static void build_bridge_config(uint8_t **ret, size_t *ret_size) {
        CapnpBuilder b;
        CapnpBuilderStruct root;

        capnp_builder_init(&b, 0);
        assert_true(capnp_builder_init_root(&b, 1, 3, &root) >= 0);
        assert_true(capnp_build_set_text(&root, 1, "/api/", 5) >= 0);
        assert_true(capnp_builder_finish(&b, ret, ret_size) >= 0);
        capnp_builder_done(&b);
}

static char *at(const Fixture *f, const char *rel) {
        char *p = path_join(f->dir, rel);

        assert_non_null(p);
        return p;
}

static void write_bytes(const char *path, const void *p, size_t n) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(loop_write(fd, p, n), 0);
        close(fd);
}

/* Writes a package built from spec to a new file in f->dir; returns its path, and its package id (spec
 * §1.4) in ret_id when not NULL. */
static char *make_package(Fixture *f, const Spec *spec, char *ret_id) {
        _cleanup_free_ uint8_t *manifest = NULL, *bridge = NULL, *archive = NULL, *spk = NULL;
        size_t manifest_size, bridge_size = 0, archive_size, spk_size, n = 0;
        char name[32];
        uint8_t hash[32];
        const TestEntry run[] = {
                { .name = "run", .type = TEST_EXECUTABLE, .content = "#!/bin/sh\n", .content_len = 10 },
        };
        TestEntry root[6];
        char *path;

        build_manifest(spec, &manifest, &manifest_size);
        root[n++] = (TestEntry) { .name = "sandstorm-manifest", .type = TEST_REGULAR, .content = manifest,
                                  .content_len = manifest_size };
        root[n++] = (TestEntry) { .name = "hello.txt", .type = TEST_REGULAR,
                                  .content = spec->content ?: "hello\n",
                                  .content_len = strlen(spec->content ?: "hello\n"), .mtime_ns = 1000000000 };
        root[n++] = (TestEntry) { .name = "bin", .type = TEST_DIRECTORY, .children = run, .n_children = 1 };
        if (spec->bridge_config) {
                build_bridge_config(&bridge, &bridge_size);
                root[n++] = (TestEntry) { .name = "sandstorm-http-bridge-config", .type = TEST_REGULAR,
                                          .content = bridge, .content_len = bridge_size };
        }
        if (spec->dup_name) {
                root[n++] = (TestEntry) { .name = spec->dup_name, .type = TEST_REGULAR, .content = "a",
                                          .content_len = 1 };
                root[n++] = (TestEntry) { .name = spec->dup_name, .type = TEST_REGULAR, .content = "b",
                                          .content_len = 1 };
        }
        test_build_archive(root, n, &archive, &archive_size);
        if (spec->forged) {
                uint8_t other_pk[32], other_sk[64];

                crypto_sign_keypair(other_pk, other_sk);
                test_build_package(f->pk, other_sk, archive, archive_size, NULL, 0, &spk, &spk_size);
        } else
                test_build_package(f->pk, f->sk, archive, archive_size, NULL, 0, &spk, &spk_size);

        snprintf(name, sizeof(name), "package-%u.spk", f->n_files++);
        path = at(f, name);
        write_bytes(path, spk, spk_size);
        if (ret_id) {
                crypto_hash_sha256(hash, spk, spk_size);
                hex_encode(hash, 16, ret_id);
        }
        return path;
}

static int install_path(Fixture *f, const char *path, uint64_t now, AppsInstallResult *ret,
                        char **ret_error) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

        assert_true(fd >= 0);
        return apps_install_fd(f->store, f->packages_fd, fd, now, ret, ret_error);
}

/* The names in the packages directory, sorted, separated by spaces. */
static char *packages_listing(Fixture *f) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;
        int fd = openat(f->packages_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d;

        assert_true(fd >= 0);
        d = fdopendir(fd);
        assert_non_null(d);
        assert_int_equal(dir_names(d, NULL, NULL, &names), 0);
        closedir(d);
        STRV_FOREACH(n, names)
                assert_true(strbuf_printf(&b, "%s%s", b.len > 0 ? " " : "", *n) >= 0);
        return strbuf_steal(&b, NULL);
}

static void assert_listing(Fixture *f, const char *want) {
        _cleanup_free_ char *got = packages_listing(f);

        assert_string_equal(got, want);
}

static char *read_tree_file(Fixture *f, const char *package_id, const char *name, size_t *ret_size) {
        _cleanup_free_ char *rel = path_join(package_id, name);
        char *data;

        assert_non_null(rel);
        assert_int_equal(read_full_file_at(f->packages_fd, rel, 64u << 20, &data, ret_size), 0);
        return data;
}

/* ---- tests ---- */

static void test_install_new(void **state) {
        Fixture *f = *state;
        _cleanup_(apps_install_result_done) AppsInstallResult res = {};
        _cleanup_(store_app_freep) StoreApp *app = NULL;
        _cleanup_(store_package_freep) StorePackage *pkg = NULL;
        _cleanup_free_ char *path = NULL, *error = NULL, *hello = NULL, *manifest = NULL, *bridge = NULL;
        char id[PACKAGE_ID_TEXT_SIZE + 1];
        size_t size, manifest_size, bridge_size;
        struct stat st;

        path = make_package(f, &(Spec) { .version = 3, .title = "Notes", .marketing = "1.2.0",
                                         .content = "version one\n", .bridge_config = true }, id);
        assert_int_equal(install_path(f, path, T0, &res, &error), 0);
        assert_null(error);

        assert_int_equal(res.outcome, APPS_INSTALL_NEW);
        assert_string_equal(res.package_id, id);
        assert_int_equal(res.version, 3);
        assert_string_equal(res.marketing_version, "1.2.0");
        assert_string_equal(res.app->id, f->app_id);
        assert_string_equal(res.app->title, "Notes");
        assert_string_equal(res.app->package_id, id);
        assert_int_equal(res.app->version, 3);
        assert_string_equal(res.app->marketing_version, "1.2.0");
        assert_true(res.app->installed == T0);
        assert_true(res.app->created == T0);

        /* The tree, and nothing else, in the packages directory. */
        assert_listing(f, id);
        hello = read_tree_file(f, id, "hello.txt", &size);
        assert_string_equal(hello, "version one\n");
        assert_int_equal(fstatat(f->packages_fd, id, &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISDIR(st.st_mode));
        {
                _cleanup_free_ char *rel = path_join(id, "bin/run");

                assert_int_equal(fstatat(f->packages_fd, rel, &st, AT_SYMLINK_NOFOLLOW), 0);
                assert_true(S_ISREG(st.st_mode) && (st.st_mode & 0100));
        }

        /* The rows: the manifest and bridge config exactly as in the package. */
        assert_int_equal(store_app_get(f->store, f->app_id, &app), 0);
        assert_string_equal(app->title, "Notes");
        assert_string_equal(app->latest_package_id, id);
        assert_int_equal(store_package_get(f->store, id, &pkg), 0);
        assert_string_equal(pkg->app_id, f->app_id);
        assert_int_equal(pkg->app_version, 3);
        assert_string_equal(pkg->marketing_version, "1.2.0");
        manifest = read_tree_file(f, id, "sandstorm-manifest", &manifest_size);
        assert_int_equal(pkg->manifest_size, manifest_size);
        assert_memory_equal(pkg->manifest, manifest, manifest_size);
        bridge = read_tree_file(f, id, "sandstorm-http-bridge-config", &bridge_size);
        assert_int_equal(pkg->bridge_config_size, bridge_size);
        assert_memory_equal(pkg->bridge_config, bridge, bridge_size);
}

static void test_install_again(void **state) {
        Fixture *f = *state;
        _cleanup_(apps_install_result_done) AppsInstallResult res = {}, res2 = {};
        _cleanup_free_ char *path = NULL, *error = NULL;
        char id[PACKAGE_ID_TEXT_SIZE + 1];
        struct stat before, after;

        path = make_package(f, &(Spec) { .version = 1, .title = "Hello", .marketing = "1.0" }, id);
        assert_int_equal(install_path(f, path, T0, &res, &error), 0);
        assert_int_equal(fstatat(f->packages_fd, id, &before, AT_SYMLINK_NOFOLLOW), 0);

        assert_int_equal(install_path(f, path, T0 + SEC(1), &res2, &error), -EEXIST);
        assert_string_equal(error, "This package is installed already.");
        assert_null(res2.app);
        /* The tree there is the same tree, untouched, and the new copy is gone. */
        assert_int_equal(fstatat(f->packages_fd, id, &after, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(before.st_ino == after.st_ino);
        assert_listing(f, id);
}

static void test_no_title(void **state) {
        Fixture *f = *state;
        _cleanup_(apps_install_result_done) AppsInstallResult res = {};
        _cleanup_free_ char *path = NULL, *error = NULL;

        /* Neither appTitle nor appMarketingVersion: the app id stands in for the title. */
        path = make_package(f, &(Spec) { .version = 0 }, NULL);
        assert_int_equal(install_path(f, path, T0, &res, &error), 0);
        assert_string_equal(res.app->title, f->app_id);
        assert_string_equal(res.marketing_version, "");
        assert_int_equal(res.version, 0);
}

static void test_upgrade(void **state) {
        Fixture *f = *state;
        _cleanup_(apps_install_result_done) AppsInstallResult r1 = {}, r2 = {};
        _cleanup_(apps_app_freep) AppsApp *app = NULL;
        _cleanup_(store_package_list_freep) StorePackage **l = NULL;
        _cleanup_free_ char *p1 = NULL, *p2 = NULL, *error = NULL, *hello = NULL, *want = NULL;
        char id1[PACKAGE_ID_TEXT_SIZE + 1], id2[PACKAGE_ID_TEXT_SIZE + 1];
        size_t n, size;

        p1 = make_package(f, &(Spec) { .version = 1, .title = "Hello", .marketing = "1.0", .content = "one\n" },
                          id1);
        p2 = make_package(f,
                          &(Spec) { .version = 2, .title = "Hello Again", .marketing = "2.0", .content = "two\n" },
                          id2);
        assert_int_equal(install_path(f, p1, T0, &r1, &error), 0);
        assert_int_equal(install_path(f, p2, T0 + SEC(60), &r2, &error), 0);
        assert_null(error);

        assert_int_equal(r2.outcome, APPS_INSTALL_UPGRADE);
        assert_string_equal(r2.package_id, id2);
        assert_string_equal(r2.app->package_id, id2);
        assert_int_equal(r2.app->version, 2);
        assert_string_equal(r2.app->marketing_version, "2.0");
        /* The title shown is the new version's; the app is as old as its first install. */
        assert_string_equal(r2.app->title, "Hello Again");
        assert_true(r2.app->created == T0);
        assert_true(r2.app->installed == T0 + SEC(60));

        assert_int_equal(apps_get(f->store, f->app_id, &app), 0);
        assert_string_equal(app->package_id, id2);
        assert_int_equal(store_package_list_by_app(f->store, f->app_id, &l, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(l[0]->id, id2);
        assert_string_equal(l[1]->id, id1);

        /* Both trees stay: grains of the old version move at their next start. */
        want = strjoin(strcmp(id1, id2) < 0 ? id1 : id2, " ", strcmp(id1, id2) < 0 ? id2 : id1);
        assert_listing(f, want);
        hello = read_tree_file(f, id2, "hello.txt", &size);
        assert_string_equal(hello, "two\n");
}

static void test_downgrade(void **state) {
        Fixture *f = *state;
        _cleanup_(apps_install_result_done) AppsInstallResult r1 = {}, r2 = {}, r3 = {};
        _cleanup_(store_package_freep) StorePackage *old = NULL;
        _cleanup_free_ char *p1 = NULL, *p2 = NULL, *p3 = NULL, *error = NULL;
        char id1[PACKAGE_ID_TEXT_SIZE + 1], id2[PACKAGE_ID_TEXT_SIZE + 1], id3[PACKAGE_ID_TEXT_SIZE + 1];

        p2 = make_package(f, &(Spec) { .version = 5, .title = "Five", .marketing = "5.0" }, id2);
        p1 = make_package(f, &(Spec) { .version = 4, .title = "Four", .marketing = "4.0" }, id1);
        p3 = make_package(f,
                          &(Spec) { .version = 5, .title = "Five rebuilt", .marketing = "5.0-b", .content = "b" },
                          id3);
        assert_int_equal(install_path(f, p2, T0, &r2, &error), 0);

        /* A lower appVersion is recorded, but the latest stays. */
        assert_int_equal(install_path(f, p1, T0 + SEC(1), &r1, &error), 0);
        assert_int_equal(r1.outcome, APPS_INSTALL_OLDER);
        assert_string_equal(r1.package_id, id1);
        assert_int_equal(r1.version, 4);
        assert_string_equal(r1.app->package_id, id2);
        assert_int_equal(r1.app->version, 5);
        assert_string_equal(r1.app->title, "Five");
        assert_int_equal(store_package_get(f->store, id1, &old), 0);
        assert_int_equal(old->app_version, 4);

        /* So is another build of the same appVersion: only a higher one upgrades. */
        assert_int_equal(install_path(f, p3, T0 + SEC(2), &r3, &error), 0);
        assert_int_equal(r3.outcome, APPS_INSTALL_OLDER);
        assert_string_equal(r3.app->package_id, id2);
}

static void test_remove(void **state) {
        Fixture *f = *state;
        _cleanup_(apps_install_result_done) AppsInstallResult r1 = {}, r2 = {};
        _cleanup_(apps_app_freep) AppsApp *app = NULL;
        _cleanup_(store_grain_freep) StoreGrain *g = NULL;
        _cleanup_strv_free_ char **grains = NULL, **none = NULL;
        _cleanup_free_ char *p1 = NULL, *p2 = NULL, *error = NULL, *want = NULL;
        char id1[PACKAGE_ID_TEXT_SIZE + 1], id2[PACKAGE_ID_TEXT_SIZE + 1], grain_id[STORE_GRAIN_ID_LENGTH + 1];
        int64_t user;

        p1 = make_package(f, &(Spec) { .version = 1, .title = "App" }, id1);
        p2 = make_package(f, &(Spec) { .version = 2, .title = "App" }, id2);
        assert_int_equal(install_path(f, p1, T0, &r1, &error), 0);
        assert_int_equal(install_path(f, p2, T0, &r2, &error), 0);

        /* A grain of the old version holds the whole app. */
        assert_int_equal(store_user_add(f->store, "alice", NULL, false, T0, &user), 0);
        store_grain_id_new(grain_id);
        assert_int_equal(store_grain_add(f->store,
                                         &(StoreGrain) { .id = grain_id, .owner_id = user, .package_id = id1,
                                                         .title = "My notes", .created = T0 },
                                         NULL),
                         0);
        assert_int_equal(apps_remove(f->store, f->packages_fd, f->app_id, 0, &none), -EBUSY);
        assert_null(none);
        assert_int_equal(apps_get(f->store, f->app_id, &app), 0);
        assert_int_equal(store_grain_get(f->store, grain_id, &g), 0);
        want = strjoin(strcmp(id1, id2) < 0 ? id1 : id2, " ", strcmp(id1, id2) < 0 ? id2 : id1);
        assert_listing(f, want);

        /* Forced: the grain's row goes with the app, and the caller learns which. */
        assert_int_equal(apps_remove(f->store, f->packages_fd, f->app_id, APPS_REMOVE_FORCE, &grains), 0);
        assert_int_equal(strv_length(grains), 1);
        assert_string_equal(grains[0], grain_id);
        app = apps_app_free(app);
        assert_int_equal(apps_get(f->store, f->app_id, &app), -ENOENT);
        g = store_grain_free(g);
        assert_int_equal(store_grain_get(f->store, grain_id, &g), -ENOENT);
        assert_int_equal(store_package_get(f->store, id1, &(StorePackage *) { NULL }), -ENOENT);
        assert_listing(f, "");

        assert_int_equal(apps_remove(f->store, f->packages_fd, f->app_id, 0, NULL), -ENOENT);
}

static void test_remove_deferred(void **state) {
        Fixture *f = *state;
        _cleanup_(apps_install_result_done) AppsInstallResult r = {};
        _cleanup_strv_free_ char **grains = NULL;
        _cleanup_free_ char *p = NULL, *error = NULL, *listing = NULL;

        p = make_package(f, &(Spec) { .version = 1, .title = "App" }, NULL);
        assert_int_equal(install_path(f, p, T0, &r, &error), 0);

        /* No grains: an empty list, not NULL. The tree is moved aside in one step, and deleted by the purge. */
        assert_int_equal(apps_remove(f->store, f->packages_fd, f->app_id, APPS_REMOVE_DEFER, &grains), 0);
        assert_non_null(grains);
        assert_int_equal(strv_length(grains), 0);
        listing = packages_listing(f);
        assert_non_null(startswith(listing, APPS_REMOVED_PREFIX));
        assert_null(strchr(listing, ' '));
        assert_int_equal(apps_purge(f->packages_fd, false), 0);
        assert_listing(f, "");
}

static void test_purge(void **state) {
        Fixture *f = *state;

        assert_int_equal(mkdirat(f->packages_fd, ".install-0123456789abcdef", 0700), 0);
        assert_int_equal(mkdirat(f->packages_fd, ".install-0123456789abcdef/tree", 0700), 0);
        assert_int_equal(mkdirat(f->packages_fd, ".removed-0123456789abcdef", 0700), 0);
        assert_int_equal(mkdirat(f->packages_fd, ".removed-0123456789abcdef/x", 0700), 0);
        assert_int_equal(mkdirat(f->packages_fd, "00112233445566778899aabbccddeeff", 0755), 0);

        /* Installs may be running: their staging directories stay. */
        assert_int_equal(apps_purge(f->packages_fd, false), 0);
        assert_listing(f, ".install-0123456789abcdef 00112233445566778899aabbccddeeff");
        /* At start none runs. Package trees are never touched. */
        assert_int_equal(apps_purge(f->packages_fd, true), 0);
        assert_listing(f, "00112233445566778899aabbccddeeff");
}

/* A package spk refuses leaves nothing behind, and the message says why, without raw bytes from it. */
static void expect_refused(Fixture *f, const char *path, int want_error, const char *want_message) {
        _cleanup_(apps_install_result_done) AppsInstallResult res = {};
        _cleanup_(store_app_list_freep) StoreApp **apps = NULL;
        _cleanup_free_ char *error = NULL;
        size_t n;
        int r;

        r = install_path(f, path, T0, &res, &error);
        if (want_error != 0)
                assert_int_equal(r, want_error);
        assert_true(r < 0);
        assert_true(apps_error_is_package(r));
        assert_non_null(error);
        print_message("# refused: %s\n", error);
        if (want_message)
                assert_string_equal(error, want_message);
        assert_true(utf8_is_valid(error, strlen(error)));
        for (const char *p = error; *p; p++)
                assert_true((unsigned char) *p >= 0x20 && *p != 0x7f);
        assert_null(res.app);
        assert_listing(f, "");
        assert_int_equal(store_app_list(f->store, &apps, &n), 0);
        assert_int_equal(n, 0);
}

static void test_refused(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *good = NULL, *bad = NULL, *dup = NULL, *title = NULL, *junk = NULL, *data = NULL,
                            *forged = NULL;
        size_t size;

        good = make_package(f, &(Spec) { .version = 1, .title = "Fine" }, NULL);
        assert_int_equal(read_full_file_at(AT_FDCWD, good, 1u << 20, &data, &size), 0);

        /* One byte changed in the compressed stream: xz or the signature catches it. */
        data[size / 2] ^= 0x40;
        bad = at(f, "tampered.spk");
        write_bytes(bad, data, size);
        expect_refused(f, bad, 0, NULL);

        /* Signed by someone else than the key it names. */
        forged = make_package(f, &(Spec) { .version = 1, .title = "Forged", .forged = true }, NULL);
        expect_refused(f, forged, -EKEYREJECTED, "Invalid signature.");

        /* Cut short. */
        write_bytes(bad, data, size - 20);
        expect_refused(f, bad, 0, NULL);

        /* Not a package at all. */
        junk = at(f, "junk.spk");
        write_bytes(junk, "GIF89a not a package at all", 27);
        expect_refused(f, junk, -EBADMSG, NULL);

        /* A name given twice, made of an escape sequence and a byte that is not UTF-8. */
        dup = make_package(f, &(Spec) { .version = 1, .title = "Dup", .dup_name = "\xff\x1b[31m" }, NULL);
        expect_refused(f, dup, -EBADMSG, "Archive contains the name '\\xff\\x1b[31m' twice.");

        /* Verified and signed, but the title cannot be recorded: refused before the tree goes into place. */
        title = make_package(f, &(Spec) { .version = 1, .title = "caf\xc3" }, NULL);
        expect_refused(f, title, -EBADMSG, "The manifest's appTitle is not valid UTF-8 text.");
}

static void test_tree_without_rows(void **state) {
        Fixture *f = *state;
        _cleanup_(apps_install_result_done) AppsInstallResult r1 = {}, r2 = {};
        _cleanup_free_ char *p = NULL, *error = NULL;
        char id[PACKAGE_ID_TEXT_SIZE + 1];
        struct stat before, after;

        p = make_package(f, &(Spec) { .version = 1, .title = "App" }, id);
        assert_int_equal(install_path(f, p, T0, &r1, &error), 0);
        assert_int_equal(fstatat(f->packages_fd, id, &before, AT_SYMLINK_NOFOLLOW), 0);

        /* As after a crash between the rename and the record: the rows are gone, the tree is there. */
        assert_int_equal(store_app_delete(f->store, f->app_id), 0);
        assert_int_equal(install_path(f, p, T0 + SEC(5), &r2, &error), 0);
        assert_int_equal(r2.outcome, APPS_INSTALL_NEW);
        assert_true(r2.app->installed == T0 + SEC(5));
        assert_int_equal(fstatat(f->packages_fd, id, &after, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(before.st_ino == after.st_ino);
        assert_listing(f, id);
}

static void test_rows_without_tree(void **state) {
        Fixture *f = *state;
        _cleanup_(apps_install_result_done) AppsInstallResult r1 = {}, r2 = {};
        _cleanup_free_ char *p = NULL, *error = NULL, *hello = NULL;
        char id[PACKAGE_ID_TEXT_SIZE + 1];
        size_t size;

        p = make_package(f, &(Spec) { .version = 7, .title = "App", .content = "back\n" }, id);
        assert_int_equal(install_path(f, p, T0, &r1, &error), 0);
        assert_int_equal(rm_rf_at(f->packages_fd, id), 0);

        assert_int_equal(install_path(f, p, T0 + SEC(5), &r2, &error), 0);
        assert_int_equal(r2.outcome, APPS_INSTALL_RESTORED);
        assert_int_equal(r2.version, 7);
        /* Still the first record. */
        assert_true(r2.app->installed == T0);
        hello = read_tree_file(f, id, "hello.txt", &size);
        assert_string_equal(hello, "back\n");
        assert_listing(f, id);
}

static void test_big_manifest(void **state) {
        Fixture *f = *state;
        _cleanup_(apps_install_result_done) AppsInstallResult res = {};
        _cleanup_(store_package_freep) StorePackage *pkg = NULL;
        _cleanup_free_ char *p = NULL, *error = NULL, *manifest = NULL;
        char id[PACKAGE_ID_TEXT_SIZE + 1];
        size_t size;

        /* More than a worker may hand back: the parent reads it from the tree. */
        p = make_package(f, &(Spec) { .version = 1, .title = "Big", .bridge_config = true,
                                      .description_size = WORKER_RESULT_MAX + 4096 }, id);
        assert_int_equal(install_path(f, p, T0, &res, &error), 0);
        assert_string_equal(res.app->title, "Big");
        assert_int_equal(store_package_get(f->store, id, &pkg), 0);
        manifest = read_tree_file(f, id, "sandstorm-manifest", &size);
        assert_true(size > WORKER_RESULT_MAX);
        assert_int_equal(pkg->manifest_size, size);
        assert_memory_equal(pkg->manifest, manifest, size);
        assert_non_null(pkg->bridge_config);
        assert_true(pkg->bridge_config_size > 0);
}

static void test_list(void **state) {
        Fixture *f = *state;
        _cleanup_(apps_install_result_done) AppsInstallResult r1 = {}, r2 = {};
        _cleanup_(apps_app_list_freep) AppsApp **l = NULL;
        _cleanup_free_ char *p1 = NULL, *p2 = NULL, *error = NULL;
        uint8_t pk2[32], sk2[64];
        size_t n;

        p1 = make_package(f, &(Spec) { .version = 1, .title = "Zebra" }, NULL);
        assert_int_equal(install_path(f, p1, T0, &r1, &error), 0);
        /* Another key: another app. */
        crypto_sign_keypair(pk2, sk2);
        memcpy(f->pk, pk2, 32);
        memcpy(f->sk, sk2, 64);
        p2 = make_package(f, &(Spec) { .version = 9, .title = "Aardvark", .marketing = "9" }, NULL);
        assert_int_equal(install_path(f, p2, T0, &r2, &error), 0);

        assert_int_equal(apps_list(f->store, &l, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(l[0]->title, "Aardvark");
        assert_int_equal(l[0]->version, 9);
        assert_string_equal(l[0]->marketing_version, "9");
        assert_string_equal(l[1]->title, "Zebra");
        assert_string_equal(l[1]->id, f->app_id);
        assert_null(l[2]);
}

static void test_manifest_parse(void **state) {
        _cleanup_(apps_manifest_done) AppsManifest m = {};
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_free_ char *error = NULL;
        size_t size;

        build_manifest(&(Spec) { .version = 42, .title = "T", .marketing = "4.2" }, &buf, &size);
        assert_int_equal(apps_manifest_parse(buf, size, &m, &error), 0);
        assert_string_equal(m.title, "T");
        assert_string_equal(m.marketing_version, "4.2");
        assert_int_equal(m.app_version, 42);
        assert_int_equal(m.n_actions, 1);

        assert_int_equal(apps_manifest_parse("\1\0\0\0", 4, &(AppsManifest) {}, &error), -EBADMSG);
        assert_string_equal(error, "The package's manifest is not a Cap'n Proto message.");
}

static void test_outcome_strings(void **state) {
        for (int i = 0; i < _APPS_INSTALL_OUTCOME_MAX; i++)
                assert_int_equal(apps_install_outcome_from_string(apps_install_outcome_to_string(i)), i);
        assert_string_equal(apps_install_outcome_to_string(APPS_INSTALL_UPGRADE), "upgrade");
        assert_int_equal(apps_install_outcome_from_string("downgrade"), -EINVAL);
        assert_null(apps_install_outcome_to_string(_APPS_INSTALL_OUTCOME_MAX));
        assert_false(apps_error_is_package(-EEXIST));
        assert_false(apps_error_is_package(-ENOSPC));
        assert_true(apps_error_is_package(-EKEYREJECTED));
}

/* ---- through a worker ---- */

typedef struct Outcome {
        bool called;
        int error;
        void *result;
        size_t size;
} Outcome;

static void on_done(Worker *w, int error, const void *result, size_t size, void *userdata) {
        Outcome *o = userdata;

        o->called = true;
        o->error = error;
        o->size = size;
        if (result) {
                o->result = malloc(size + 1);
                assert_non_null(o->result);
                memcpy(o->result, result, size);
        }
}

static void run_until(sd_event *e, const Outcome *o) {
        for (unsigned i = 0; i < 600 && !o->called; i++)
                assert_true(sd_event_run(e, 100000) >= 0);
        assert_true(o->called);
}

static void test_worker(void **state) {
        Fixture *f = *state;
        _cleanup_(apps_install_result_done) AppsInstallResult res = {};
        _cleanup_free_ char *p = NULL, *error = NULL;
        _cleanup_close_ int fd = -EBADF;
        char id[PACKAGE_ID_TEXT_SIZE + 1];
        sd_event *e = NULL;
        Outcome o = {};
        sigset_t mask;
        AppsJob job;

        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        assert_int_equal(sigprocmask(SIG_BLOCK, &mask, NULL), 0);
        assert_true(sd_event_new(&e) >= 0);

        p = make_package(f, &(Spec) { .version = 1, .title = "Forked", .bridge_config = true }, id);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(apps_job_init(&job, f->packages_fd, fd), 0);
        assert_int_equal(worker_run(e, apps_job_run, &job, sizeof(job), SEC(60), on_done, &o, NULL), 0);
        run_until(e, &o);
        assert_int_equal(o.error, 0);
        assert_int_equal(apps_job_finish(f->store, &job, o.error, o.result, o.size, T0, &res, &error), 0);
        assert_int_equal(apps_job_abandon(&job), 0);
        assert_int_equal(res.outcome, APPS_INSTALL_NEW);
        assert_string_equal(res.app->title, "Forked");
        assert_listing(f, id);
        free(o.result);

        /* A worker killed at once: whatever it left is moved aside and purged; no half tree remains. */
        o = (Outcome) {};
        {
                _cleanup_free_ char *p2 = make_package(f, &(Spec) { .version = 2, .title = "Killed" }, NULL);
                _cleanup_close_ int fd2 = open(p2, O_RDONLY | O_CLOEXEC);
                _cleanup_free_ char *listing = NULL;
                Worker *w = NULL;

                assert_true(fd2 >= 0);
                assert_int_equal(apps_job_init(&job, f->packages_fd, fd2), 0);
                assert_int_equal(worker_run(e, apps_job_run, &job, sizeof(job), SEC(60), on_done, &o, &w), 0);
                worker_cancel(w);
                assert_true(apps_job_abandon(&job) >= 0);
                assert_int_equal(apps_purge(f->packages_fd, false), 0);
                listing = packages_listing(f);
                assert_null(strstr(listing, ".install-"));
                assert_null(strstr(listing, ".removed-"));
                assert_false(o.called);
        }
        assert_int_equal(worker_count(), 0);
        sd_event_unref(e);
}

/* ---- through the API ---- */

typedef struct ApiFixture {
        Fixture *f;
        sd_event *event;
        Api *api;
} ApiFixture;

static int setup_api(void **state) {
        ApiFixture *a = calloc(1, sizeof(ApiFixture));
        _cleanup_free_ char *packages = NULL;
        sigset_t mask;
        void *inner;

        if (!a || setup(&inner) < 0)
                return -1;
        a->f = inner;
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || sd_event_new(&a->event) < 0)
                return -1;
        packages = path_join(a->f->dir, "packages");
        if (!packages)
                return -1;
        if (api_new(a->event, a->f->store,
                    &(ApiSettings) { .base_url = "http://granary.localhost:6080",
                                     .wildcard_host = "*.granary.localhost:6080", .version = "0.1.0",
                                     .cookie_secure = true, .packages_dir = packages },
                    &a->api) < 0)
                return -1;
        *state = a;
        return 0;
}

static int teardown_api(void **state) {
        ApiFixture *a = *state;
        void *inner = a->f;
        int r;

        a->api = api_free(a->api);
        a->event = sd_event_unref(a->event);
        r = teardown(&inner);
        free(a);
        if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD || worker_count() != 0)
                return -1;
        return r;
}

typedef struct ApiOutcome {
        unsigned calls;
        ApiResponse *response;
} ApiOutcome;

static void on_api_done(ApiCall *call, ApiResponse *response, void *userdata) {
        ApiOutcome *o = userdata;

        o->calls++;
        o->response = response;
}

/* Runs the loop until o is answered and no worker (an install, a purge) is left. */
static void api_wait(ApiFixture *a, const ApiOutcome *o) {
        for (unsigned i = 0; i < 600 && (o->calls == 0 || worker_count() > 0); i++)
                assert_true(sd_event_run(a->event, 100000) >= 0);
        assert_int_equal(o->calls, 1);
        assert_int_equal(worker_count(), 0);
}

typedef struct Req {
        HttpMethod method;
        const char *path;
        const void *body;
        size_t body_size;
        const char *content_type;
        bool admin;               /* a CONTROL caller: an admin or not */
        const char *session;      /* a WEB caller with this session token (and its CSRF token) */
} Req;

static ApiRequest api_request(ApiFixture *a, const Req *q, HttpHeader h[static 4]) {
        static char cookie[128], csrf[ACCOUNTS_CSRF_TOKEN_LENGTH + 1];
        uint8_t key[ACCOUNTS_CSRF_KEY_SIZE];
        size_t n = 0;

        if (q->content_type)
                h[n++] = (HttpHeader) { "Content-Type", 12, q->content_type, strlen(q->content_type) };
        if (q->session) {
                assert_int_equal(accounts_csrf_key(a->f->store, key), 0);
                accounts_csrf_token(key, q->session, strlen(q->session), csrf);
                snprintf(cookie, sizeof(cookie), "%s=%s", ACCOUNTS_COOKIE_NAME_SECURE, q->session);
                h[n++] = (HttpHeader) { "Cookie", 6, cookie, strlen(cookie) };
                h[n++] = (HttpHeader) { "X-CSRF-Token", 12, csrf, strlen(csrf) };
                h[n++] = (HttpHeader) { "Origin", 6, "http://granary.localhost:6080", 29 };
        }
        return (ApiRequest) {
                .method = q->method,
                .path = q->path,
                .path_len = strlen(q->path),
                .headers = h,
                .n_headers = n,
                .body = q->body,
                .body_size = q->body_size,
                .caller = q->session ? API_CALLER_WEB : API_CALLER_CONTROL,
                .address = q->session ? "192.0.2.1" : NULL,
                .control_admin = !q->session && q->admin,
                .now = T0,
        };
}

/* The call's answer: its status, its JSON body in *ret_json (may be NULL). */
static int api_call(ApiFixture *a, const Req *q, json_t **ret_json) {
        HttpHeader h[4];
        ApiRequest req = api_request(a, q, h);
        ApiOutcome o = {};
        int status;

        assert_int_equal(api_handle(a->api, &req, on_api_done, &o, NULL), 0);
        api_wait(a, &o);
        status = o.response->status;
        if (ret_json) {
                *ret_json = o.response->body ? json_loadb(o.response->body, o.response->body_size, 0, NULL)
                                             : NULL;
                assert_true(!o.response->body || *ret_json);
        }
        api_response_free(o.response);
        return status;
}

#define API_CALL(a, json, ...) api_call(a, &(const Req) { __VA_ARGS__ }, json)

static void read_package(const char *path, char **ret, size_t *ret_size) {
        assert_int_equal(read_full_file_at(AT_FDCWD, path, 1u << 20, ret, ret_size), 0);
}

static void test_api_install_list_remove(void **state) {
        ApiFixture *a = *state;
        Fixture *f = a->f;
        _cleanup_free_ char *path = NULL, *spk = NULL, *app_path = NULL, *force_path = NULL;
        _cleanup_(json_decrefp) json_t *j = NULL;
        char id[PACKAGE_ID_TEXT_SIZE + 1], grain_id[STORE_GRAIN_ID_LENGTH + 1];
        json_t *app;
        size_t size;
        int64_t user;

        path = make_package(f, &(Spec) { .version = 2, .title = "Through the API", .marketing = "2.0.1" }, id);
        read_package(path, &spk, &size);
        app_path = strjoin("/apps/", f->app_id);
        force_path = strjoin("/apps/", f->app_id, "?force=1");
        assert_non_null(app_path);
        assert_non_null(force_path);

        assert_int_equal(API_CALL(a, &j, .method = HTTP_METHOD_POST, .path = "/apps", .body = spk, .body_size = size,
                                  .content_type = "application/x-sandstorm-package", .admin = true),
                         201);
        assert_string_equal(json_string_value(json_object_get(j, "outcome")), "new");
        app = json_object_get(j, "app");
        assert_string_equal(json_string_value(json_object_get(app, "id")), f->app_id);
        assert_string_equal(json_string_value(json_object_get(app, "title")), "Through the API");
        assert_int_equal(json_integer_value(json_object_get(app, "version")), 2);
        assert_string_equal(json_string_value(json_object_get(app, "marketingVersion")), "2.0.1");
        assert_string_equal(json_string_value(json_object_get(app, "packageId")), id);
        assert_int_equal(json_integer_value(json_object_get(app, "installed")), (json_int_t) (T0 / 1000));
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "package"), "id")), id);
        assert_listing(f, id);
        j = (json_decref(j), NULL);

        /* The same bytes again: 409, nothing changes. */
        assert_int_equal(API_CALL(a, &j, .method = HTTP_METHOD_POST, .path = "/apps", .body = spk, .body_size = size,
                                  .content_type = "application/octet-stream", .admin = true),
                         409);
        assert_string_equal(json_string_value(json_object_get(j, "error")), "This package is installed already.");
        j = (json_decref(j), NULL);

        assert_int_equal(API_CALL(a, &j, .method = HTTP_METHOD_GET, .path = "/apps", .admin = true), 200);
        assert_int_equal(json_array_size(json_object_get(j, "apps")), 1);
        j = (json_decref(j), NULL);
        assert_int_equal(API_CALL(a, &j, .method = HTTP_METHOD_GET, .path = app_path, .admin = true), 200);
        app = json_object_get(j, "app");
        assert_int_equal(json_array_size(json_object_get(app, "packages")), 1);
        assert_true(json_is_true(json_object_get(json_array_get(json_object_get(app, "packages"), 0), "latest")));
        j = (json_decref(j), NULL);

        /* A grain holds the app; forced, the removal takes the grain's row along. */
        assert_int_equal(store_user_add(f->store, "alice", NULL, false, T0, &user), 0);
        store_grain_id_new(grain_id);
        assert_int_equal(store_grain_add(f->store,
                                         &(StoreGrain) { .id = grain_id, .owner_id = user, .package_id = id,
                                                         .title = "g", .created = T0 },
                                         NULL),
                         0);
        assert_int_equal(API_CALL(a, &j, .method = HTTP_METHOD_DELETE, .path = app_path, .admin = true), 409);
        assert_listing(f, id);
        j = (json_decref(j), NULL);
        assert_int_equal(API_CALL(a, &j, .method = HTTP_METHOD_DELETE, .path = force_path, .admin = true), 200);
        assert_string_equal(json_string_value(json_array_get(json_object_get(j, "deletedGrains"), 0)), grain_id);
        assert_int_equal(json_array_size(json_object_get(j, "deletedGrains")), 1);
        /* The tree was moved aside, and the purge worker (awaited by api_call()) deleted it. */
        assert_listing(f, "");
        j = (json_decref(j), NULL);

        assert_int_equal(API_CALL(a, &j, .method = HTTP_METHOD_DELETE, .path = app_path, .admin = true), 404);
        j = (json_decref(j), NULL);
        assert_int_equal(API_CALL(a, &j, .method = HTTP_METHOD_GET, .path = "/apps", .admin = true), 200);
        assert_int_equal(json_array_size(json_object_get(j, "apps")), 0);
}

static void test_api_refusals(void **state) {
        ApiFixture *a = *state;
        Fixture *f = a->f;
        _cleanup_free_ char *path = NULL, *spk = NULL;
        _cleanup_(json_decrefp) json_t *j = NULL;
        char token[STORE_TOKEN_LENGTH + 1];
        size_t size;
        int64_t bob;

        path = make_package(f, &(Spec) { .version = 1, .title = "T" }, NULL);
        read_package(path, &spk, &size);

        assert_int_equal(API_CALL(a, &j, .method = HTTP_METHOD_POST, .path = "/apps", .body = spk, .body_size = size,
                                  .content_type = "text/plain", .admin = true),
                         415);
        j = (json_decref(j), NULL);
        assert_int_equal(API_CALL(a, &j, .method = HTTP_METHOD_POST, .path = "/apps", .body = spk, .body_size = size,
                                  .content_type = "application/x-sandstorm-package", .admin = false),
                         403);
        j = (json_decref(j), NULL);

        /* A user who is no admin may look, not install or remove. */
        assert_int_equal(store_user_add(f->store, "bob", NULL, false, T0, &bob), 0);
        assert_int_equal(store_session_new(f->store, bob, T0, T0 + SEC(3600), token), 0);
        assert_int_equal(API_CALL(a, &j, .method = HTTP_METHOD_GET, .path = "/apps", .session = token), 200);
        j = (json_decref(j), NULL);
        assert_int_equal(API_CALL(a, &j, .method = HTTP_METHOD_POST, .path = "/apps", .body = spk, .body_size = size,
                                  .content_type = "application/x-sandstorm-package", .session = token),
                         403);
        j = (json_decref(j), NULL);
        assert_int_equal(API_CALL(a, &j, .method = HTTP_METHOD_GET,
                                  .path = "/apps/0000000000000000000000000000000000000000000000000000",
                                  .session = token),
                         404);
        j = (json_decref(j), NULL);
        assert_int_equal(API_CALL(a, &j, .method = HTTP_METHOD_GET, .path = "/apps/x/y", .session = token), 404);
        j = (json_decref(j), NULL);
        assert_int_equal(API_CALL(a, &j, .method = HTTP_METHOD_PUT, .path = "/apps", .session = token), 405);
        j = (json_decref(j), NULL);

        /* A bad package: 400 with the reason; nothing left. */
        spk[size / 2] ^= 0x10;
        assert_int_equal(API_CALL(a, &j, .method = HTTP_METHOD_POST, .path = "/apps", .body = spk, .body_size = size,
                                  .content_type = "application/x-sandstorm-package", .admin = true),
                         400);
        assert_non_null(json_string_value(json_object_get(j, "error")));
        assert_listing(f, "");
}

static void test_api_streamed(void **state) {
        ApiFixture *a = *state;
        Fixture *f = a->f;
        _cleanup_free_ char *path = NULL, *path2 = NULL;
        ApiResponse *resp = NULL;
        HttpHeader h[4];
        ApiRequest req;
        ApiOutcome o = {};
        ApiCall *call = NULL;
        char id[PACKAGE_ID_TEXT_SIZE + 1];
        int fd;

        path = make_package(f, &(Spec) { .version = 1, .title = "Streamed" }, id);

        /* Before the body: who may upload what. */
        req = api_request(a, &(Req) { .method = HTTP_METHOD_POST, .path = "/apps", .admin = true,
                                      .content_type = "application/x-sandstorm-package; charset=binary" }, h);
        assert_int_equal(api_app_upload_check(a->api, &req, &resp), 0);
        assert_null(resp);
        req = api_request(a, &(Req) { .method = HTTP_METHOD_POST, .path = "/apps", .admin = true }, h);
        assert_int_equal(api_app_upload_check(a->api, &req, &resp), 1);
        assert_int_equal(resp->status, 415);
        resp = api_response_free(resp);
        req = api_request(a, &(Req) { .method = HTTP_METHOD_POST, .path = "/apps", .admin = false,
                                      .content_type = "application/octet-stream" }, h);
        assert_int_equal(api_app_upload_check(a->api, &req, &resp), 1);
        assert_int_equal(resp->status, 403);
        resp = api_response_free(resp);
        req = api_request(a, &(Req) { .method = HTTP_METHOD_POST, .path = "/apps", .session = "nobody",
                                      .content_type = "application/octet-stream" }, h);
        assert_int_equal(api_app_upload_check(a->api, &req, &resp), 1);
        assert_int_equal(resp->status, 401);
        resp = api_response_free(resp);

        /* From a file. */
        req = api_request(a, &(Req) { .method = HTTP_METHOD_POST, .path = "/apps", .admin = true,
                                      .content_type = "application/octet-stream" }, h);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(api_app_install(a->api, &req, fd, on_api_done, &o, &call), 0);
        assert_non_null(call);
        api_wait(a, &o);
        assert_int_equal(o.response->status, 201);
        o.response = api_response_free(o.response);
        assert_listing(f, id);

        /* Cancelled at once: the worker dies, whatever it made is purged, done is never called. */
        path2 = make_package(f, &(Spec) { .version = 2, .title = "Cancelled" }, NULL);
        fd = open(path2, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        o = (ApiOutcome) {};
        assert_int_equal(api_app_install(a->api, &req, fd, on_api_done, &o, &call), 0);
        assert_non_null(call);
        api_call_cancel(call);
        for (unsigned i = 0; i < 600 && worker_count() > 0; i++)
                assert_true(sd_event_run(a->event, 100000) >= 0);
        assert_int_equal(worker_count(), 0);
        assert_int_equal(o.calls, 0);
        {
                _cleanup_free_ char *listing = packages_listing(f);

                assert_null(strstr(listing, ".install-"));
                assert_null(strstr(listing, ".removed-"));
        }
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_install_new),   T(test_install_again),     T(test_no_title),
                T(test_upgrade),       T(test_downgrade),         T(test_remove),
                T(test_remove_deferred), T(test_purge),           T(test_refused),
                T(test_tree_without_rows), T(test_rows_without_tree), T(test_big_manifest),
                T(test_list),          T(test_manifest_parse),    T(test_outcome_strings),
                T(test_worker),
#define TA(name) cmocka_unit_test_setup_teardown(name, setup_api, teardown_api)
                TA(test_api_install_list_remove), TA(test_api_refusals), TA(test_api_streamed),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
