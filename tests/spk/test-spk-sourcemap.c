/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "basic/fileio.h"
#include "basic/string-util.h"
#include "spk/sourcemap.h"

#define PACK_TIME INT64_C(1700000000000000000)

/* Each test gets a fresh directory (absolute path in dir), removed afterwards. */
typedef struct Fixture {
        char dir[64];
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        if (!f)
                return -1;
        strcpy(f->dir, "/tmp/test-spk-sourcemap-XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        int r;

        r = rm_rf_path(f->dir);
        free(f);
        return r < 0 ? -1 : 0;
}

static char *at(const Fixture *f, const char *rel) {
        char *p = path_join(f->dir, rel);

        assert_non_null(p);
        return p;
}

static void mkdirs(const Fixture *f, const char *rel) {
        _cleanup_free_ char *p = at(f, rel);

        assert_int_equal(mkdir_p(p, 0755), 0);
}

/* Writes a file (and its parents) with the given mode and mtime (seconds). */
static void put(const Fixture *f, const char *rel, const char *content, mode_t mode, time_t mtime) {
        _cleanup_free_ char *p = at(f, rel), *d = path_dirname(p);
        struct timespec ts[2] = { { .tv_sec = mtime }, { .tv_sec = mtime } };
        int fd;

        assert_int_equal(mkdir_p(d, 0755), 0);
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        assert_int_equal(loop_write(fd, content, strlen(content)), 0);
        assert_int_equal(fchmod(fd, mode), 0);
        assert_int_equal(futimens(fd, ts), 0);
        close(fd);
}

static void add_mapping(SpkSourceMap *m, const char *package_path, const char *source_path,
                        char *const *hide) {
        assert_int_equal(spk_source_map_add(m, package_path, source_path, hide), 0);
}

static void init_map(const Fixture *f, SpkSourceMap *m) {
        *m = (SpkSourceMap) { .source_dir = strdup(f->dir) };
        assert_non_null(m->source_dir);
}

static void assert_strv(char **got, const char *const *want) {
        size_t i;

        for (i = 0; want[i]; i++) {
                assert_non_null(got);
                assert_non_null(got[i]);
                assert_string_equal(got[i], want[i]);
        }
        if (got)
                assert_null(got[i]);
}

/* ---- canonical paths and file lists ---- */

static void canon_ok(const char *in, const char *want) {
        _cleanup_free_ char *c = NULL;

        assert_int_equal(spk_package_path_canonicalize(in, strlen(in), &c), 0);
        assert_string_equal(c, want);
}

static void canon_bad(const char *in) {
        char *c = NULL;

        assert_int_equal(spk_package_path_canonicalize(in, strlen(in), &c), -EINVAL);
        assert_null(c);
}

static void test_canonicalize(void **state) {
        canon_ok("", "");
        canon_ok(".", "");
        canon_ok("./", "");
        canon_ok("usr/bin", "usr/bin");
        canon_ok("usr/bin/", "usr/bin");
        canon_ok("a.b/..c/...", "a.b/..c/...");
        canon_bad("/usr");
        canon_bad("usr//bin");
        canon_bad("usr/./bin");
        canon_bad("./usr");
        canon_bad("usr/../etc");
        canon_bad("..");
        assert_int_equal(spk_package_path_canonicalize("a\0b", 3, &(char *) { NULL }), -EINVAL);
}

static void test_file_list_parse(void **state) {
        static const char text[] = "# *** WARNING: GENERATED FILE ***\n"
                                   "usr/bin/app\n"
                                   "\n"
                                   "  lib/x.so   # a comment after a path\n"
                                   "\t.\r\n"
                                   "sandstorm-manifest#glued comment\n"
                                   "   \n"
                                   "no/final/newline";
        static const char *const want[] = { "usr/bin/app", "lib/x.so", "", "sandstorm-manifest",
                                            "no/final/newline", NULL };
        _cleanup_strv_free_ char **l = NULL;
        char *error = NULL;

        assert_int_equal(spk_file_list_parse("list", text, strlen(text), &l, &error), 0);
        assert_null(error);
        assert_strv(l, want);
}

static void test_file_list_errors(void **state) {
        _cleanup_free_ char *error = NULL, *error2 = NULL;
        _cleanup_strv_free_ char **empty = NULL;
        char **l = NULL;
        static const char abs[] = "a\n# x\n  /etc/passwd\n";
        static const char dots[] = "a\nb/../c\n";

        assert_int_equal(spk_file_list_parse("files.list", abs, strlen(abs), &l, &error), -EINVAL);
        assert_null(l);
        assert_string_equal(error, "files.list:3: package paths must not start with '/': '/etc/passwd'");
        assert_int_equal(spk_file_list_parse("files.list", dots, strlen(dots), &l, &error2), -EINVAL);
        assert_string_equal(error2, "files.list:2: invalid package path 'b/../c'");

        /* Only comments: an empty, non-NULL list. */
        assert_int_equal(spk_file_list_parse("x", "# nothing\n", 10, &empty, NULL), 0);
        assert_non_null(empty);
        assert_null(empty[0]);
}

static void test_file_list_read_missing(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *p = at(f, "nope.list"), *error = NULL, *want = NULL;
        char **l = NULL;

        assert_int_equal(spk_file_list_read(p, &l, &error), -ENOENT);
        assert_true(asprintf(&want, "Failed to read file list '%s': %s", p, strerror(ENOENT)) > 0);
        assert_string_equal(error, want);
}

/* ---- mapFile ---- */

static void test_resolve_prefix_and_join(void **state) {
        Fixture *f = *state;
        _cleanup_(spk_source_map_done) SpkSourceMap m = {};
        _cleanup_(spk_resolution_done) SpkResolution r1 = {}, r2 = {}, r3 = {}, r4 = {};
        _cleanup_free_ char *want1 = at(f, "src/foo/x"), *want4 = NULL;

        put(f, "src/foo/x", "x", 0644, 1);
        put(f, "src/foobar", "y", 0644, 1);
        put(f, "other/foobar", "z", 0644, 1);
        init_map(f, &m);
        add_mapping(&m, "foo", "src/foo", NULL);
        add_mapping(&m, "", f->dir, NULL); /* absolute: ignores the source dir */

        /* "foo" is a path-component prefix of "foo/x" ... */
        assert_int_equal(spk_source_map_resolve(&m, "foo/x", &r1), 0);
        assert_strv(r1.matches, (const char *const[]) { want1, NULL });
        /* ... but not of "foobar", which only the second mapping has (at the top, not in src/). */
        assert_int_equal(spk_source_map_resolve(&m, "foobar", &r2), 0);
        assert_null(r2.matches);
        assert_int_equal(spk_source_map_resolve(&m, "other/foobar", &r3), 0);
        assert_non_null(r3.matches);
        assert_null(r3.matches[1]);
        /* The second mapping at "" also offers src/foo/x under its own name. */
        want4 = at(f, "src/foo/x");
        assert_int_equal(spk_source_map_resolve(&m, "src/foo/x", &r4), 0);
        assert_strv(r4.matches, (const char *const[]) { want4, NULL });
}

static void test_resolve_order_and_virtual(void **state) {
        Fixture *f = *state;
        _cleanup_(spk_source_map_done) SpkSourceMap m = {};
        _cleanup_(spk_resolution_done) SpkResolution root = {}, usr = {}, both = {};
        _cleanup_free_ char *a = at(f, "a/common"), *b = at(f, "b/common"), *ra = at(f, "a");

        put(f, "a/common", "from a", 0644, 1);
        put(f, "b/common", "from b", 0644, 1);
        put(f, "headers/h.h", "h", 0644, 1);
        init_map(f, &m);
        add_mapping(&m, "", "a", NULL);
        add_mapping(&m, "usr/include", "headers", NULL);
        add_mapping(&m, "", "b", NULL);
        add_mapping(&m, "usr/lib", "nonexistent", NULL);

        /* Every match, in searchPath order. */
        assert_int_equal(spk_source_map_resolve(&m, "common", &both), 0);
        assert_strv(both.matches, (const char *const[]) { a, b, NULL });

        /* A mapping at usr/include makes "usr" a virtual child of the root, and "include" and "lib"
         * virtual children of "usr" (sorted, once each). */
        assert_int_equal(spk_source_map_resolve(&m, "", &root), 0);
        assert_string_equal(root.matches[0], ra);
        assert_strv(root.virtual_children, (const char *const[]) { "usr", NULL });
        assert_int_equal(spk_source_map_resolve(&m, "usr", &usr), 0);
        assert_null(usr.matches);
        assert_strv(usr.virtual_children, (const char *const[]) { "include", "lib", NULL });
}

static void test_resolve_hide(void **state) {
        Fixture *f = *state;
        _cleanup_(spk_source_map_done) SpkSourceMap m = {};
        _cleanup_(spk_resolution_done) SpkResolution r1 = {}, r2 = {}, r3 = {}, r4 = {}, r5 = {};
        char *hide[] = { "etc/passwd", "secret", NULL };

        put(f, "root/etc/passwd", "p", 0644, 1);
        put(f, "root/etc/passwd-", "q", 0644, 1);
        put(f, "root/secret/key", "k", 0644, 1);
        put(f, "root/secretive", "s", 0644, 1);
        put(f, "fallback/etc/passwd", "fallback", 0644, 1);
        init_map(f, &m);
        add_mapping(&m, "", "root", hide);
        add_mapping(&m, "", "fallback", NULL);

        /* A hidden path falls through to later mappings. */
        assert_int_equal(spk_source_map_resolve(&m, "etc/passwd", &r1), 0);
        assert_non_null(r1.matches);
        assert_non_null(strstr(r1.matches[0], "/fallback/etc/passwd"));
        assert_null(r1.matches[1]);
        /* Hiding is by path component. */
        assert_int_equal(spk_source_map_resolve(&m, "etc/passwd-", &r2), 0);
        assert_non_null(r2.matches);
        assert_int_equal(spk_source_map_resolve(&m, "secret/key", &r3), 0);
        assert_null(r3.matches);
        assert_int_equal(spk_source_map_resolve(&m, "secretive", &r4), 0);
        assert_non_null(r4.matches);
        /* The mapping's own root is never hidden. */
        assert_int_equal(spk_source_map_resolve(&m, "", &r5), 0);
        assert_non_null(r5.matches);
        assert_non_null(r5.matches[1]);
}

static void test_resolve_root_symlink(void **state) {
        Fixture *f = *state;
        _cleanup_(spk_source_map_done) SpkSourceMap m = {};
        _cleanup_(spk_resolution_done) SpkResolution r = {};
        _cleanup_free_ char *target = at(f, "real"), *link = at(f, "link"), *real = NULL;

        mkdirs(f, "real");
        assert_int_equal(symlink(target, link), 0);
        real = realpath(target, NULL);
        init_map(f, &m);
        add_mapping(&m, "", "link", NULL);

        assert_int_equal(spk_source_map_resolve(&m, "", &r), 0);
        assert_strv(r.matches, (const char *const[]) { real, NULL });
}

/* ---- the tree ---- */

static SpkNode *find(SpkTree *t, const char *path) {
        SpkNode *n = spk_tree_find(t, path);

        if (!n)
                fail_msg("'%s' is not in the tree", path);
        return n;
}

static void test_tree_recursive(void **state) {
        Fixture *f = *state;
        _cleanup_(spk_source_map_done) SpkSourceMap m = {};
        _cleanup_(spk_tree_done) SpkTree t = {};
        char *hide[] = { "hidden", NULL };
        SpkNode *n;

        put(f, "app/bin/run", "#!/bin/sh\n", 0755, 1000);
        put(f, "app/readme", "first", 0644, 2000);
        put(f, "app/hidden/secret", "s", 0644, 1);
        put(f, "app/var/data", "dropped", 0644, 1);
        put(f, "app/sandstorm-manifest", "not this one", 0644, 1);
        put(f, "extra/readme", "second", 0644, 3000);
        put(f, "extra/lib/x.so", "x", 0644, 4000);
        put(f, "inc/h.h", "h", 0644, 5000);
        {
                _cleanup_free_ char *l = at(f, "app/link");

                assert_int_equal(symlink("bin/run", l), 0);
        }

        init_map(f, &m);
        add_mapping(&m, "", "app", hide);
        add_mapping(&m, "", "extra", NULL);
        add_mapping(&m, "usr/include", "inc", NULL);

        spk_tree_init(&t, PACK_TIME);
        assert_int_equal(spk_tree_add_fixed(&t, "var", SPK_NODE_DIRECTORY, SPK_ORIGIN_NONE, NULL), 0);
        assert_int_equal(spk_tree_include(&t, &m, "", true, NULL), 0);
        assert_null(t.warnings);

        /* Root children: merged, sorted, reserved names and hidden paths left out. */
        assert_int_equal(t.root.n_children, 6);
        assert_string_equal(t.root.children[0]->name, "bin");
        assert_string_equal(t.root.children[1]->name, "lib");
        assert_string_equal(t.root.children[2]->name, "link");
        assert_string_equal(t.root.children[3]->name, "readme");
        assert_string_equal(t.root.children[4]->name, "usr");
        assert_string_equal(t.root.children[5]->name, "var");
        assert_null(spk_tree_find(&t, "hidden"));
        assert_null(spk_tree_find(&t, "sandstorm-manifest"));
        assert_int_equal(find(&t, "var")->n_children, 0);

        n = find(&t, "bin/run");
        assert_int_equal(n->type, SPK_NODE_EXECUTABLE);
        assert_int_equal(n->origin, SPK_ORIGIN_HOST);
        assert_int_equal(n->size, 10);
        assert_true(n->mtime_ns == INT64_C(1000) * 1000000000);

        /* The first mapping wins for a file. */
        n = find(&t, "readme");
        assert_int_equal(n->type, SPK_NODE_REGULAR);
        assert_non_null(strstr(n->source, "/app/readme"));
        assert_true(n->mtime_ns == INT64_C(2000) * 1000000000);

        n = find(&t, "link");
        assert_int_equal(n->type, SPK_NODE_SYMLINK);
        assert_string_equal(n->link_target, "bin/run");

        /* Directories from the second mapping, and virtual ones with the pack time. */
        assert_int_equal(find(&t, "lib/x.so")->type, SPK_NODE_REGULAR);
        n = find(&t, "usr");
        assert_int_equal(n->type, SPK_NODE_DIRECTORY);
        assert_true(n->mtime_ns == PACK_TIME);
        assert_int_equal(find(&t, "usr/include/h.h")->size, 1);
}

static void test_tree_non_recursive(void **state) {
        Fixture *f = *state;
        _cleanup_(spk_source_map_done) SpkSourceMap m = {};
        _cleanup_(spk_tree_done) SpkTree t = {};
        struct timespec ts[2] = { { .tv_sec = 7777 }, { .tv_sec = 7777 } };
        _cleanup_free_ char *usr = at(f, "src/usr");
        SpkNode *n;

        put(f, "src/usr/bin/tool", "t", 0755, 10);
        put(f, "src/usr/bin/other", "o", 0644, 10);
        put(f, "src/usr/share/doc", "d", 0644, 10);
        assert_int_equal(utimensat(AT_FDCWD, usr, ts, 0), 0);
        init_map(f, &m);
        add_mapping(&m, "", "src", NULL);

        spk_tree_init(&t, PACK_TIME);
        assert_int_equal(spk_tree_include(&t, &m, "usr/bin/tool", false, NULL), 0);
        /* The parent is synthesized with the pack time ... */
        n = find(&t, "usr");
        assert_true(n->mtime_ns == PACK_TIME);
        assert_false(n->mapped);
        /* ... until it is itself listed; a listed directory brings none of its children. */
        assert_int_equal(spk_tree_include(&t, &m, "usr", false, NULL), 0);
        assert_true(n->mtime_ns == INT64_C(7777) * 1000000000);
        assert_int_equal(spk_tree_include(&t, &m, "usr/share", false, NULL), 0);
        assert_int_equal(find(&t, "usr/share")->n_children, 0);
        assert_int_equal(find(&t, "usr/bin")->n_children, 1);
        /* The same line twice is harmless. */
        assert_int_equal(spk_tree_include(&t, &m, "usr/bin/tool", false, NULL), 0);
        assert_int_equal(find(&t, "usr/bin")->n_children, 1);
        /* "." is the root: nothing to add. */
        assert_int_equal(spk_tree_include(&t, &m, "", false, NULL), 0);
        assert_int_equal(t.root.n_children, 1);
}

static void test_tree_errors(void **state) {
        Fixture *f = *state;
        _cleanup_(spk_source_map_done) SpkSourceMap m = {};
        _cleanup_(spk_tree_done) SpkTree t = {};
        _cleanup_free_ char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL, *big = at(f, "src/big"),
                            *want3 = NULL;
        int fd;

        put(f, "src/file", "f", 0644, 1);
        {
                _cleanup_free_ char *l = at(f, "src/lnk");

                assert_int_equal(symlink("elsewhere", l), 0);
        }
        fd = open(big, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t) SPK_FILE_MAX_SIZE), 0);
        close(fd);
        init_map(f, &m);
        add_mapping(&m, "", "src", NULL);

        spk_tree_init(&t, PACK_TIME);
        assert_int_equal(spk_tree_include(&t, &m, "missing/thing", false, &e1), -ENOENT);
        assert_string_equal(e1, "No file found to satisfy requirement: missing/thing");

        /* A symlink that other entries need as a directory. */
        assert_int_equal(spk_tree_include(&t, &m, "lnk", false, NULL), 0);
        assert_int_equal(spk_tree_include(&t, &m, "lnk/x", false, &e2), -ENOTDIR);
        assert_string_equal(e2, "Cannot pack 'lnk/x': 'lnk' is a symlink in the package, not a directory");

        assert_int_equal(spk_tree_include(&t, &m, "big", false, &e3), -EFBIG);
        assert_true(asprintf(&want3, "Cannot pack 'big' ('%s'): it is 536870912 bytes, and files must be "
                                     "smaller than 512 MiB", big) > 0);
        assert_string_equal(e3, want3);

        /* Reserved names are never looked up on disk. */
        put(f, "src/sandstorm-http-bridge", "fake", 0755, 1);
        assert_int_equal(spk_tree_include(&t, &m, "sandstorm-http-bridge", false, &e4), -ENOENT);
        assert_string_equal(e4, "No file found to satisfy requirement: sandstorm-http-bridge");
        /* But anything beneath dev, tmp and var is satisfied without looking. */
        assert_int_equal(spk_tree_include(&t, &m, "var/lib/whatever", false, NULL), 0);
        assert_null(spk_tree_find(&t, "var"));
}

static void test_tree_fifo_warning(void **state) {
        Fixture *f = *state;
        _cleanup_(spk_source_map_done) SpkSourceMap m = {};
        _cleanup_(spk_tree_done) SpkTree t = {};
        _cleanup_free_ char *fifo = at(f, "src/pipe"), *want = NULL;
        SpkNode *n;

        mkdirs(f, "src");
        assert_int_equal(mkfifo(fifo, 0644), 0);
        init_map(f, &m);
        add_mapping(&m, "", "src", NULL);

        spk_tree_init(&t, PACK_TIME);
        assert_int_equal(spk_tree_include(&t, &m, "pipe", false, NULL), 0);
        n = find(&t, "pipe");
        assert_int_equal(n->type, SPK_NODE_REGULAR);
        assert_int_equal(n->origin, SPK_ORIGIN_NONE);
        assert_int_equal(n->size, 0);
        assert_true(asprintf(&want, "'pipe' ('%s') is not a regular file, directory or symlink; packing it as "
                                    "an empty file", fifo) > 0);
        assert_strv(t.warnings, (const char *const[]) { want, NULL });
}

static void test_tree_fixed(void **state) {
        _cleanup_(spk_tree_done) SpkTree t = {};
        SpkNode *n = NULL;

        spk_tree_init(&t, PACK_TIME);
        assert_int_equal(spk_tree_add_fixed(&t, "proc/cpuinfo", SPK_NODE_REGULAR, SPK_ORIGIN_NONE, &n), 0);
        assert_non_null(n);
        assert_true(n->mtime_ns == 0);
        assert_true(find(&t, "proc")->mtime_ns == PACK_TIME);
        assert_int_equal(spk_tree_add_fixed(&t, "proc/cpuinfo", SPK_NODE_REGULAR, SPK_ORIGIN_NONE, NULL), 0);
        assert_int_equal(spk_tree_add_fixed(&t, "proc/cpuinfo", SPK_NODE_DIRECTORY, SPK_ORIGIN_NONE, NULL),
                         -EEXIST);
        assert_true(spk_path_is_reserved("dev"));
        assert_true(spk_path_is_reserved("tmp/x/y"));
        assert_true(spk_path_is_reserved("sandstorm-manifest"));
        assert_false(spk_path_is_reserved("devices"));
        assert_false(spk_path_is_reserved("usr/sandstorm-manifest"));
        assert_false(spk_path_is_reserved("proc"));
}

/* Many names, in reverse order: the children end up sorted byte-wise (strcmp, so 'B' < 'a' < 0xc3). */
static void test_tree_sorting(void **state) {
        Fixture *f = *state;
        _cleanup_(spk_source_map_done) SpkSourceMap m = {};
        _cleanup_(spk_tree_done) SpkTree t = {};
        char name[32];

        for (int i = 999; i >= 0; i--) {
                snprintf(name, sizeof(name), "src/f%03d", i);
                put(f, name, "", 0644, 1);
        }
        put(f, "src/B", "", 0644, 1);
        put(f, "src/a", "", 0644, 1);
        put(f, "src/\xc3\xa9", "", 0644, 1);
        init_map(f, &m);
        add_mapping(&m, "", "src", NULL);

        spk_tree_init(&t, PACK_TIME);
        for (int i = 999; i >= 500; i--) {
                snprintf(name, sizeof(name), "f%03d", i);
                assert_int_equal(spk_tree_include(&t, &m, name, false, NULL), 0);
        }
        assert_int_equal(spk_tree_include(&t, &m, "", true, NULL), 0);
        assert_int_equal(t.root.n_children, 1003);
        for (size_t i = 1; i < t.root.n_children; i++)
                assert_true(strcmp(t.root.children[i - 1]->name, t.root.children[i]->name) < 0);
        assert_string_equal(t.root.children[0]->name, "B");
        assert_string_equal(t.root.children[1]->name, "a");
        assert_string_equal(t.root.children[1002]->name, "\xc3\xa9");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_canonicalize),
                cmocka_unit_test(test_file_list_parse),
                cmocka_unit_test(test_file_list_errors),
                cmocka_unit_test_setup_teardown(test_file_list_read_missing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_resolve_prefix_and_join, setup, teardown),
                cmocka_unit_test_setup_teardown(test_resolve_order_and_virtual, setup, teardown),
                cmocka_unit_test_setup_teardown(test_resolve_hide, setup, teardown),
                cmocka_unit_test_setup_teardown(test_resolve_root_symlink, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tree_recursive, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tree_non_recursive, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tree_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tree_fifo_warning, setup, teardown),
                cmocka_unit_test(test_tree_fixed),
                cmocka_unit_test_setup_teardown(test_tree_sorting, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
