/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* spk/devfs.h without a mount: what the view resolves, the recording rules of spec §3.6 step 7, and
 * the merge of a file list (§3.5). */

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "basic/fileio.h"
#include "basic/string-util.h"
#include "spk/devfs.h"

#define START_NS INT64_C(1700000000123456789)

static const uint8_t MANIFEST[] = { 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x2a, 0, 0, 0, 0, 0, 0, 0 };
static const uint8_t CONFIG[] = { 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0 };

typedef struct Fixture {
        char dir[64];
        char *bridge;
        SpkPkgdef pkgdef;
        SpkDevView view;
} Fixture;

static char *at(const Fixture *f, const char *rel) {
        char *p = path_join(f->dir, rel);

        assert_non_null(p);
        return p;
}

static void put(const Fixture *f, const char *rel, const char *content, mode_t mode) {
        _cleanup_free_ char *p = at(f, rel), *d = path_dirname(p);
        int fd;

        assert_int_equal(mkdir_p(d, 0755), 0);
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        assert_int_equal(loop_write(fd, content, strlen(content)), 0);
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

static void *dup_bytes(const void *p, size_t n) {
        void *c = malloc(n);

        assert_non_null(c);
        memcpy(c, p, n);
        return c;
}

/*
 * The tree, with the searchPath [ (sourcePath = "app", hidePaths = ["secret"]),
 *                                 (packagePath = "usr/share/extra", sourcePath = "extra") ]:
 *   app/bin/run (0755), app/data/{a.txt, b.txt, empty, link -> a.txt, fifo}, app/secret/key,
 *   app/var/junk, app/sandstorm-manifest (never served), app/home/u/x, extra/readme
 */
static int setup(void **state) {
        _cleanup_free_ char *link = NULL, *fifo = NULL;
        char *hide[] = { (char *) "secret", NULL };
        Fixture *f = calloc(1, sizeof(Fixture));

        if (!f)
                return -1;
        strcpy(f->dir, "/tmp/test-spk-devfs-XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        put(f, "app/bin/run", "#!/bin/sh\n", 0755);
        put(f, "app/data/a.txt", "hello\n", 0644);
        put(f, "app/data/b.txt", "untouched\n", 0644);
        put(f, "app/data/empty", "", 0644);
        put(f, "app/secret/key", "hidden\n", 0600);
        put(f, "app/var/junk", "mounted over\n", 0644);
        put(f, "app/sandstorm-manifest", "never from disk\n", 0644);
        put(f, "app/home/u/x", "home\n", 0644);
        put(f, "extra/readme", "extra\n", 0644);
        put(f, "bridge", "#!/bin/sh\n# bridge\n", 0755);
        link = at(f, "app/data/link");
        assert_int_equal(symlink("a.txt", link), 0);
        fifo = at(f, "app/data/fifo");
        assert_int_equal(mkfifo(fifo, 0644), 0);

        f->bridge = at(f, "bridge");
        f->pkgdef.manifest = dup_bytes(MANIFEST, sizeof(MANIFEST));
        f->pkgdef.manifest_size = sizeof(MANIFEST);
        f->pkgdef.bridge_config = dup_bytes(CONFIG, sizeof(CONFIG));
        f->pkgdef.bridge_config_size = sizeof(CONFIG);
        f->pkgdef.source_map.source_dir = strdup(f->dir);
        assert_non_null(f->pkgdef.source_map.source_dir);
        assert_int_equal(spk_source_map_add(&f->pkgdef.source_map, "", "app", hide), 0);
        assert_int_equal(spk_source_map_add(&f->pkgdef.source_map, "usr/share/extra", "extra", NULL), 0);
        assert_int_equal(spk_dev_view_init(&f->view, &f->pkgdef, f->bridge, START_NS), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        int r;

        r = rm_rf_path(f->dir);
        spk_dev_view_done(&f->view);
        spk_pkgdef_done(&f->pkgdef);
        free(f->bridge);
        free(f);
        return r < 0 ? -1 : 0;
}

static void expect_entry(Fixture *f, const char *name, SpkDevEntryType type, mode_t mode, uint64_t size,
                         const char *source_rel, bool fixed) {
        _cleanup_(spk_dev_entry_done) SpkDevEntry e = {};

        print_message("# lookup '%s'\n", name);
        assert_int_equal(spk_dev_view_lookup(&f->view, name, &e), 0);
        assert_int_equal(e.type, type);
        assert_int_equal(e.mode, mode);
        assert_int_equal(e.size, size);
        assert_int_equal(e.fixed, fixed);
        if (source_rel) {
                _cleanup_free_ char *s = at(f, source_rel);

                assert_non_null(e.source);
                assert_string_equal(e.source, s);
        }
}

static void expect_missing(Fixture *f, const char *name) {
        _cleanup_(spk_dev_entry_done) SpkDevEntry e = {};

        print_message("# missing '%s'\n", name);
        assert_int_equal(spk_dev_view_lookup(&f->view, name, &e), -ENOENT);
}

static void test_lookup(void **state) {
        Fixture *f = *state;
        _cleanup_(spk_dev_entry_done) SpkDevEntry e = {};
        const void *p;
        size_t n;

        expect_entry(f, "", SPK_DEV_ENTRY_DIRECTORY, S_IFDIR | 0555, 0, "app", false);
        expect_entry(f, "bin", SPK_DEV_ENTRY_DIRECTORY, S_IFDIR | 0555, 0, "app/bin", false);
        expect_entry(f, "bin/run", SPK_DEV_ENTRY_FILE, S_IFREG | 0555, 10, "app/bin/run", false);
        expect_entry(f, "data/a.txt", SPK_DEV_ENTRY_FILE, S_IFREG | 0444, 6, "app/data/a.txt", false);
        expect_entry(f, "data/empty", SPK_DEV_ENTRY_FILE, S_IFREG | 0444, 0, "app/data/empty", false);
        expect_entry(f, "data/link", SPK_DEV_ENTRY_SYMLINK, S_IFLNK | 0777, 5, "app/data/link", false);
        /* A fifo is an empty file, as spk pack packs it, and is never opened. */
        expect_entry(f, "data/fifo", SPK_DEV_ENTRY_FILE, S_IFREG | 0444, 0, "app/data/fifo", false);
        /* The generated root entries win over the source tree. */
        expect_entry(f, "sandstorm-manifest", SPK_DEV_ENTRY_FILE, S_IFREG | 0444, sizeof(MANIFEST), NULL, true);
        expect_entry(f, "sandstorm-http-bridge-config", SPK_DEV_ENTRY_FILE, S_IFREG | 0444, sizeof(CONFIG), NULL,
                     true);
        expect_entry(f, "sandstorm-http-bridge", SPK_DEV_ENTRY_FILE, S_IFREG | 0555, 19, "bridge", true);
        expect_entry(f, "proc/cpuinfo", SPK_DEV_ENTRY_FILE, S_IFREG | 0444, 0, NULL, true);
        expect_entry(f, "var", SPK_DEV_ENTRY_DIRECTORY, S_IFDIR | 0555, 0, NULL, true);
        expect_entry(f, "proc", SPK_DEV_ENTRY_DIRECTORY, S_IFDIR | 0555, 0, NULL, false);
        /* Virtual children of the second mapping, then its tree. */
        expect_entry(f, "usr", SPK_DEV_ENTRY_DIRECTORY, S_IFDIR | 0555, 0, NULL, false);
        expect_entry(f, "usr/share", SPK_DEV_ENTRY_DIRECTORY, S_IFDIR | 0555, 0, NULL, false);
        expect_entry(f, "usr/share/extra/readme", SPK_DEV_ENTRY_FILE, S_IFREG | 0444, 6, "extra/readme", false);

        expect_missing(f, "secret");
        expect_missing(f, "secret/key");
        expect_missing(f, "var/junk");
        expect_missing(f, "tmp/x");
        expect_missing(f, "data/nothing");
        expect_missing(f, "usr/lib");

        assert_int_equal(spk_dev_view_lookup(&f->view, "sandstorm-manifest", &e), 0);
        p = spk_dev_view_generated(&f->view, &e, &n);
        assert_non_null(p);
        assert_int_equal(n, sizeof(MANIFEST));
        assert_memory_equal(p, MANIFEST, sizeof(MANIFEST));
        spk_dev_entry_done(&e);
        assert_int_equal(spk_dev_view_lookup(&f->view, "data/a.txt", &e), 0);
        assert_null(spk_dev_view_generated(&f->view, &e, &n));
}

/* Changes on the host are seen at the next lookup: nothing is cached. */
static void test_lookup_live(void **state) {
        Fixture *f = *state;

        expect_missing(f, "data/new");
        put(f, "app/data/new", "fresh content\n", 0644);
        expect_entry(f, "data/new", SPK_DEV_ENTRY_FILE, S_IFREG | 0444, 14, "app/data/new", false);
        put(f, "app/data/new", "", 0755);
        expect_entry(f, "data/new", SPK_DEV_ENTRY_FILE, S_IFREG | 0555, 0, "app/data/new", false);
}

static void expect_list(Fixture *f, const char *name, const char *want) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;

        assert_int_equal(spk_dev_view_list(&f->view, name, &l), 0);
        STRV_FOREACH(s, l) {
                assert_int_equal(strbuf_append_str(&b, *s), 0);
                assert_int_equal(strbuf_append_char(&b, ' '), 0);
        }
        print_message("# list '%s': %s\n", name, b.data ?: "");
        assert_string_equal(b.data ?: "", want);
}

static void test_list(void **state) {
        Fixture *f = *state;
        _cleanup_strv_free_ char **l = NULL;

        expect_list(f, "", "bin data dev home proc sandstorm-http-bridge sandstorm-http-bridge-config "
                           "sandstorm-manifest tmp usr var ");
        expect_list(f, "data", "a.txt b.txt empty fifo link ");
        expect_list(f, "var", "");
        expect_list(f, "proc", "cpuinfo ");
        expect_list(f, "usr", "share ");
        expect_list(f, "usr/share/extra", "readme ");
        assert_int_equal(spk_dev_view_list(&f->view, "data/a.txt", &l), -ENOTDIR);
        assert_int_equal(spk_dev_view_list(&f->view, "secret", &l), -ENOENT);
}

/* Without a bridge, the view has none. */
static void test_no_bridge(void **state) {
        Fixture *f = *state;
        _cleanup_(spk_dev_view_done) SpkDevView v = {};
        _cleanup_(spk_dev_entry_done) SpkDevEntry e = {};
        _cleanup_strv_free_ char **l = NULL;

        assert_int_equal(spk_dev_view_init(&v, &f->pkgdef, NULL, START_NS), 0);
        assert_int_equal(spk_dev_view_lookup(&v, "sandstorm-http-bridge", &e), -ENOENT);
        assert_int_equal(spk_dev_view_list(&v, "", &l), 0);
        assert_false(strv_contains(l, "sandstorm-http-bridge"));
        assert_true(strv_contains(l, "sandstorm-http-bridge-config"));
}

static void test_access_rules(void **state) {
        static const struct {
                SpkDevEntryType type;
                uint64_t size;
                bool lookup, open, opendir, readlink;
        } cases[] = {
                { SPK_DEV_ENTRY_FILE, 6, false, true, false, false },
                { SPK_DEV_ENTRY_FILE, 0, true, true, false, false },
                { SPK_DEV_ENTRY_DIRECTORY, 0, false, false, true, false },
                { SPK_DEV_ENTRY_SYMLINK, 5, false, false, false, true },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                SpkDevEntry e = { .type = cases[i].type, .size = cases[i].size };

                assert_int_equal(spk_dev_access_records(&e, SPK_DEV_ACCESS_LOOKUP), cases[i].lookup);
                assert_int_equal(spk_dev_access_records(&e, SPK_DEV_ACCESS_OPEN), cases[i].open);
                assert_int_equal(spk_dev_access_records(&e, SPK_DEV_ACCESS_OPENDIR), cases[i].opendir);
                assert_int_equal(spk_dev_access_records(&e, SPK_DEV_ACCESS_READLINK), cases[i].readlink);
        }
}

static void test_recordable(void **state) {
        assert_false(spk_dev_path_recordable(""));
        assert_false(spk_dev_path_recordable("home"));
        assert_false(spk_dev_path_recordable("home/u/.profile"));
        assert_false(spk_dev_path_recordable("proc"));
        assert_false(spk_dev_path_recordable("proc/self/maps"));
        assert_false(spk_dev_path_recordable("sys/kernel"));
        assert_true(spk_dev_path_recordable("proc/cpuinfo"));
        assert_true(spk_dev_path_recordable("homework"));
        assert_true(spk_dev_path_recordable("system/x"));
        assert_true(spk_dev_path_recordable("usr/lib/libc.so.6"));
}

static void test_used(void **state) {
        _cleanup_(spk_dev_used_done) SpkDevUsed u = {};
        _cleanup_strv_free_ char **l = NULL;
        SpkDevEntry file = { .type = SPK_DEV_ENTRY_FILE, .size = 3 };
        SpkDevEntry empty = { .type = SPK_DEV_ENTRY_FILE, .size = 0 };
        SpkDevEntry dir = { .type = SPK_DEV_ENTRY_DIRECTORY };
        char name[32];

        assert_int_equal(spk_dev_used_note(&u, "usr/bin/tool", &file, SPK_DEV_ACCESS_LOOKUP), 0);
        assert_int_equal(spk_dev_used_note(&u, "usr/bin/tool", &file, SPK_DEV_ACCESS_OPEN), 1);
        assert_int_equal(spk_dev_used_note(&u, "usr/bin/tool", &file, SPK_DEV_ACCESS_OPEN), 0);
        assert_int_equal(spk_dev_used_note(&u, "etc/empty.conf", &empty, SPK_DEV_ACCESS_LOOKUP), 1);
        assert_int_equal(spk_dev_used_note(&u, "usr/share", &dir, SPK_DEV_ACCESS_LOOKUP), 0);
        assert_int_equal(spk_dev_used_note(&u, "usr/share", &dir, SPK_DEV_ACCESS_OPENDIR), 1);
        assert_int_equal(spk_dev_used_note(&u, "home/u/.bashrc", &file, SPK_DEV_ACCESS_OPEN), 0);
        assert_int_equal(spk_dev_used_note(&u, "proc/self/status", &file, SPK_DEV_ACCESS_OPEN), 0);
        assert_int_equal(spk_dev_used_note(&u, "proc/cpuinfo", &empty, SPK_DEV_ACCESS_OPEN), 1);
        assert_int_equal(spk_dev_used_note(&u, "", &dir, SPK_DEV_ACCESS_OPENDIR), 0);
        assert_int_equal(u.n, 4);
        assert_true(spk_dev_used_contains(&u, "usr/share"));
        assert_false(spk_dev_used_contains(&u, "usr"));

        /* Many names: the set grows and stays exact. */
        for (unsigned i = 0; i < 5000; i++) {
                snprintf(name, sizeof(name), "many/%05u", i);
                assert_int_equal(spk_dev_used_add(&u, name), 1);
        }
        for (unsigned i = 0; i < 5000; i += 7) {
                snprintf(name, sizeof(name), "many/%05u", i);
                assert_int_equal(spk_dev_used_add(&u, name), 0);
        }
        assert_int_equal(u.n, 5004);
        assert_int_equal(spk_dev_used_list(&u, &l), 0);
        assert_int_equal(strv_length(l), 5004);
        assert_string_equal(l[0], "etc/empty.conf");
        assert_string_equal(l[1], "many/00000");
        assert_string_equal(l[5000], "many/04999");
        assert_string_equal(l[5001], "proc/cpuinfo");
        assert_string_equal(l[5002], "usr/bin/tool");
        assert_string_equal(l[5003], "usr/share");
}

static void test_merge(void **state) {
        Fixture *f = *state;
        static const char old[] = "# a comment\n"
                                  "data/b.txt   # kept: it still maps\n"
                                  "gone/file\n"
                                  "\n"
                                  "home/u/x\n"
                                  "sandstorm-http-bridge\n"
                                  "secret/key\n"
                                  "proc/cpuinfo\n"
                                  "bin/run\n"
                                  "data/b.txt\n";
        _cleanup_(spk_dev_used_done) SpkDevUsed u = {};
        _cleanup_strv_free_ char **warnings = NULL;
        _cleanup_free_ char *text = NULL, *error = NULL;
        size_t count = 0;

        assert_int_equal(spk_dev_used_add(&u, "data/a.txt"), 1);
        assert_int_equal(spk_dev_used_add(&u, "bin/run"), 1);
        assert_int_equal(spk_dev_used_add(&u, "data"), 1);

        assert_int_equal(spk_dev_file_list_merge(&f->view, "files.list", old, strlen(old), &u, &text, &count,
                                                 &warnings, &error),
                         0);
        assert_string_equal(text, SPK_DEV_FILE_LIST_HEADER
                            "bin/run\n"
                            "data\n"
                            "data/a.txt\n"
                            "data/b.txt\n"
                            "proc/cpuinfo\n"
                            "sandstorm-http-bridge\n"
                            "sandstorm-manifest\n");
        assert_int_equal(count, 7);
        assert_int_equal(strv_length(warnings), 3);
        assert_string_equal(warnings[0], "files.list: dropped 'gone/file': it no longer maps to anything");
        assert_string_equal(warnings[1],
                            "files.list: dropped 'home/u/x': packages never hold files from home, proc or sys");
        assert_string_equal(warnings[2], "files.list: dropped 'secret/key': it no longer maps to anything");

        /* No old list; the app runs the bridge: its files are listed too. */
        free(text);
        text = NULL;
        warnings = strv_free(warnings);
        f->pkgdef.uses_http_bridge = true;
        assert_int_equal(spk_dev_file_list_merge(&f->view, "files.list", NULL, 0, &u, &text, &count, &warnings,
                                                 &error),
                         0);
        assert_string_equal(text, SPK_DEV_FILE_LIST_HEADER
                            "bin/run\n"
                            "data\n"
                            "data/a.txt\n"
                            "sandstorm-http-bridge\n"
                            "sandstorm-http-bridge-config\n"
                            "sandstorm-manifest\n");
        assert_null(warnings);

        /* The whole root included: spk pack adds the generated files itself. */
        free(text);
        text = NULL;
        assert_int_equal(strv_extend(&f->pkgdef.always_include, ""), 0);
        assert_int_equal(spk_dev_file_list_merge(&f->view, "files.list", NULL, 0, &u, &text, &count, &warnings,
                                                 &error),
                         0);
        assert_string_equal(text, SPK_DEV_FILE_LIST_HEADER "bin/run\ndata\ndata/a.txt\n");
        assert_int_equal(count, 3);
}

static void test_merge_errors(void **state) {
        Fixture *f = *state;
        static const char bad[] = "data/a.txt\n/etc/passwd\n";
        _cleanup_(spk_dev_used_done) SpkDevUsed u = {};
        _cleanup_strv_free_ char **warnings = NULL;
        _cleanup_free_ char *text = NULL, *error = NULL;

        assert_int_equal(spk_dev_file_list_merge(&f->view, "files.list", bad, strlen(bad), &u, &text, NULL,
                                                 &warnings, &error),
                         -EINVAL);
        assert_non_null(error);
        assert_string_equal(error, "files.list:2: package paths must not start with '/': '/etc/passwd'");
        assert_null(text);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
                cmocka_unit_test_setup_teardown(test_lookup_live, setup, teardown),
                cmocka_unit_test_setup_teardown(test_list, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_bridge, setup, teardown),
                cmocka_unit_test(test_access_rules),
                cmocka_unit_test(test_recordable),
                cmocka_unit_test(test_used),
                cmocka_unit_test_setup_teardown(test_merge, setup, teardown),
                cmocka_unit_test_setup_teardown(test_merge_errors, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
