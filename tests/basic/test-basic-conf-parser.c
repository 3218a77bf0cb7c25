/* SPDX-License-Identifier: LGPL-2.1-or-later */

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

#include "basic/conf-parser.h"
#include "basic/fileio.h"
#include "basic/string-util.h"

static int parse(Conf *c, const char *text, char **ret_error) {
        return conf_parse_text(c, "test.conf", text, strlen(text), ret_error);
}

/* The entries as "KEY=VALUE@FILE:LINE;…", to compare whole results at once. */
static char *dump(const Conf *c) {
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;

        assert_int_equal(strbuf_append_str(&b, ""), 0);
        for (size_t i = 0; i < c->n_entries; i++)
                assert_int_equal(strbuf_printf(&b, "%s=%s@%s:%u;", c->entries[i].key, c->entries[i].value,
                                               c->entries[i].file, c->entries[i].line),
                                 0);
        return strbuf_steal(&b, NULL);
}

static void check_parse(const char *text, const char *want) {
        _cleanup_(conf_done) Conf c = {};
        _cleanup_free_ char *err = NULL, *got = NULL;

        assert_int_equal(parse(&c, text, &err), 0);
        assert_null(err);
        got = dump(&c);
        assert_string_equal(got, want);
}

static void check_error(const char *text, const char *want_error) {
        _cleanup_(conf_done) Conf c = {};
        _cleanup_free_ char *err = NULL, *got = NULL;

        /* A bad text changes nothing of what was there. */
        assert_int_equal(parse(&c, "KEEP=1\n", NULL), 0);
        assert_int_equal(parse(&c, text, &err), -EINVAL);
        assert_string_equal(err, want_error);
        got = dump(&c);
        assert_string_equal(got, "KEEP=1@test.conf:1;");

        /* Without ret_error too. */
        assert_int_equal(parse(&c, text, NULL), -EINVAL);
}

static void test_basic(void **state) {
        check_parse("", "");
        check_parse("A=1\n", "A=1@test.conf:1;");
        check_parse("A=1\nB = two words \n", "A=1@test.conf:1;B=two words@test.conf:2;");
        /* The last line needs no newline. */
        check_parse("A=1\nB=2", "A=1@test.conf:1;B=2@test.conf:2;");
        /* Trimming: spaces, tabs, CR of CRLF files, vertical tab and form feed. */
        check_parse("\t KEY \t=\t value \r\n", "KEY=value@test.conf:1;");
        check_parse("A=1\r\n\r\nB=2\r\n", "A=1@test.conf:1;B=2@test.conf:3;");
        check_parse("\v\fA=\f1\v", "A=1@test.conf:1;");
        /* Inner whitespace is kept in keys and values. */
        check_parse("MY KEY = a  b ", "MY KEY=a  b@test.conf:1;");
}

static void test_comments_and_blanks(void **state) {
        check_parse("# comment\n\n   \n\t\nA=1\n", "A=1@test.conf:5;");
        /* '#' starts a comment anywhere, even inside what looks like a value. */
        check_parse("A=v # comment\nB=a#b\nC=#\n", "A=v@test.conf:1;B=a@test.conf:2;C=@test.conf:3;");
        /* A commented-out line without '=' is not an error, nor a line that is only a comment. */
        check_parse("  # no equals here\n#=x\nA=1", "A=1@test.conf:3;");
        check_parse("A=1 #= more", "A=1@test.conf:1;");
}

static void test_values(void **state) {
        /* Key and value are split at the first '='. */
        check_parse("URL=https://x/?a=b&c=d\n", "URL=https://x/?a=b&c=d@test.conf:1;");
        check_parse("A==\n", "A==@test.conf:1;");
        check_parse("A=\n", "A=@test.conf:1;");
        check_parse("A=   \n", "A=@test.conf:1;");
        /* No quoting: quotes are part of the value. */
        check_parse("A=\"x y\"\nB='z'\n", "A=\"x y\"@test.conf:1;B='z'@test.conf:2;");
        /* Bytes are kept as they are. */
        check_parse("NAME=Grüße \xff\n", "NAME=Grüße \xff@test.conf:1;");
}

static void test_override(void **state) {
        /* A later line wins; the key keeps its first place, and the entry says where it was set. */
        check_parse("A=1\nB=2\nA=3\n", "A=3@test.conf:3;B=2@test.conf:2;");
        check_parse("A=1\nA=\n", "A=@test.conf:2;");
        /* Keys are case-sensitive. */
        check_parse("a=1\nA=2\n", "a=1@test.conf:1;A=2@test.conf:2;");
}

static void test_errors(void **state) {
        check_error("A=1\nnonsense\n", "test.conf:2: Invalid config line: missing '='");
        check_error("just words", "test.conf:1: Invalid config line: missing '='");
        check_error("\n\n\nB\n", "test.conf:4: Invalid config line: missing '='");
        /* The '=' after '#' does not count. */
        check_error("A # =1\n", "test.conf:1: Invalid config line: missing '='");
        check_error("=value\n", "test.conf:1: Invalid config line: empty key");
        check_error("  \t = value\n", "test.conf:1: Invalid config line: empty key");
        check_error("=\n", "test.conf:1: Invalid config line: empty key");
        /* An error after good lines: none of them is kept. */
        check_error("KEEP=2\nNEW=3\n=\n", "test.conf:3: Invalid config line: empty key");
}

static void test_nul_and_length(void **state) {
        _cleanup_(conf_done) Conf c = {};
        _cleanup_free_ char *err = NULL;
        const char unterminated[] = { 'A', '=', '1', '\n', 'B', '=', '2', 'X' };

        /* Only n bytes are read. */
        assert_int_equal(conf_parse_text(&c, "t", unterminated, 7, NULL), 0);
        assert_string_equal(conf_get(&c, "B"), "2");

        /* A NUL byte is refused rather than cutting a value short. */
        assert_int_equal(conf_parse_text(&c, "t", "A=1\nB=x\0y\n", 10, &err), -EINVAL);
        assert_string_equal(err, "t:2: Invalid config line: contains a NUL byte");
        assert_string_equal(conf_get(&c, "B"), "2");

        assert_int_equal(conf_parse_text(&c, "t", NULL, 0, NULL), 0);
}

static void test_get(void **state) {
        _cleanup_(conf_done) Conf c = {};

        assert_null(conf_get(&c, "A"));
        assert_true(conf_get_bool(&c, "A", true));
        assert_false(conf_get_bool(&c, "A", false));

        assert_int_equal(parse(&c,
                               "T1=true\nT2=yes\nF1=True\nF2=YES\nF3=1\nF4=on\nF5=\nF6=false\nF7=yes please\n"
                               "S=text\n",
                               NULL),
                         0);
        assert_string_equal(conf_get(&c, "S"), "text");
        assert_null(conf_get(&c, "s"));
        /* Sandstorm: only exactly "true" or "yes" is true. */
        assert_true(conf_get_bool(&c, "T1", false));
        assert_true(conf_get_bool(&c, "T2", false));
        for (const char *k = "1234567"; *k; k++) {
                char key[3] = { 'F', *k, 0 };

                assert_false(conf_get_bool(&c, key, true));
        }
        /* Set but empty is set: not the default. */
        assert_string_equal(conf_get(&c, "F5"), "");
}

/* Each load test gets its own directory. */
typedef struct Fixture {
        char dir[64];
        char conf[96];
        int fd;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        if (!f)
                return -1;
        strcpy(f->dir, "/tmp/test-basic-conf-parser-XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        snprintf(f->conf, sizeof(f->conf), "%s/granary.conf", f->dir);
        f->fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        *state = f;
        return f->fd < 0 ? -1 : 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *parent = path_dirname(f->dir);
        _cleanup_close_ int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = rm_rf_at(pfd, path_basename(f->dir));

        safe_close(f->fd);
        free(f);
        return r < 0 ? -1 : 0;
}

static void put(Fixture *f, const char *name, const char *text) {
        assert_int_equal(write_file_atomic_at(f->fd, name, text, strlen(text), 0644), 0);
}

static void test_load(void **state) {
        Fixture *f = *state;
        _cleanup_(conf_done) Conf c = {};
        _cleanup_free_ char *err = NULL, *got = NULL, *want = NULL;

        put(f, "granary.conf", "A=main\nB=main\nC=main\n");
        assert_int_equal(mkdirat(f->fd, "granary.conf.d", 0755), 0);
        /* Lexical order: 02 before 10 before b, whatever order they were written in. */
        put(f, "granary.conf.d/10-second.conf", "B=second\nD=second\n");
        put(f, "granary.conf.d/b.conf", "D=last\n");
        put(f, "granary.conf.d/02-first.conf", "A=first\nB=first\n");
        /* Not drop-ins: other suffixes, hidden files, directories, dangling links. */
        put(f, "granary.conf.d/02-first.conf~", "A=backup\n");
        put(f, "granary.conf.d/03.conf.bak", "A=bak\n");
        put(f, "granary.conf.d/.hidden.conf", "A=hidden\n");
        put(f, "granary.conf.d/README", "not a config\n");
        assert_int_equal(mkdirat(f->fd, "granary.conf.d/dir.conf", 0755), 0);
        assert_int_equal(symlinkat("nowhere", f->fd, "granary.conf.d/dangling.conf"), 0);

        assert_int_equal(conf_load(&c, f->conf, false, &err), 0);
        assert_null(err);
        got = dump(&c);
        assert_true(asprintf(&want,
                             "A=first@%1$s.d/02-first.conf:1;B=second@%1$s.d/10-second.conf:1;"
                             "C=main@%1$s:3;D=last@%1$s.d/b.conf:1;",
                             f->conf) > 0);
        assert_string_equal(got, want);
}

static void test_load_missing(void **state) {
        Fixture *f = *state;
        _cleanup_(conf_done) Conf c = {};
        _cleanup_free_ char *err = NULL, *want = NULL;

        assert_int_equal(conf_load(&c, f->conf, true, &err), 0);
        assert_null(err);
        assert_int_equal(c.n_entries, 0);

        assert_int_equal(conf_load(&c, f->conf, false, &err), -ENOENT);
        assert_true(asprintf(&want, "%s: Failed to read: No such file or directory", f->conf) > 0);
        assert_string_equal(err, want);

        /* An optional main file that is missing still lets the drop-ins count. */
        assert_int_equal(mkdirat(f->fd, "granary.conf.d", 0755), 0);
        put(f, "granary.conf.d/x.conf", "X=1\n");
        assert_int_equal(conf_load(&c, f->conf, true, NULL), 0);
        assert_string_equal(conf_get(&c, "X"), "1");
}

static void test_load_errors(void **state) {
        Fixture *f = *state;
        _cleanup_(conf_done) Conf c = {};
        _cleanup_free_ char *err = NULL, *err2 = NULL, *want = NULL, *big = NULL;

        assert_int_equal(parse(&c, "KEEP=1\n", NULL), 0);

        /* An error in a drop-in names the drop-in; nothing of the load is kept. */
        put(f, "granary.conf", "A=1\n");
        assert_int_equal(mkdirat(f->fd, "granary.conf.d", 0755), 0);
        put(f, "granary.conf.d/1.conf", "B=2\n");
        put(f, "granary.conf.d/2.conf", "\nbroken\n");
        assert_int_equal(conf_load(&c, f->conf, false, &err), -EINVAL);
        assert_true(asprintf(&want, "%s.d/2.conf:2: Invalid config line: missing '='", f->conf) > 0);
        assert_string_equal(err, want);
        assert_int_equal(c.n_entries, 1);
        assert_string_equal(conf_get(&c, "KEEP"), "1");

        /* Too big. */
        big = malloc(CONF_FILE_SIZE_MAX + 2);
        assert_non_null(big);
        memset(big, '#', CONF_FILE_SIZE_MAX + 1);
        big[CONF_FILE_SIZE_MAX + 1] = '\0';
        put(f, "granary.conf.d/2.conf", big);
        assert_int_equal(conf_load(&c, f->conf, false, &err2), -EFBIG);
        assert_non_null(err2);
        assert_int_equal(c.n_entries, 1);
}

static void test_done(void **state) {
        Conf c = {};

        conf_done(&c);
        assert_int_equal(parse(&c, "A=1", NULL), 0);
        conf_done(&c);
        assert_null(c.entries);
        assert_int_equal(c.n_entries, 0);
        conf_done(&c);
        conf_done(NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_basic),
                cmocka_unit_test(test_comments_and_blanks),
                cmocka_unit_test(test_values),
                cmocka_unit_test(test_override),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_nul_and_length),
                cmocka_unit_test(test_get),
                cmocka_unit_test_setup_teardown(test_load, setup, teardown),
                cmocka_unit_test_setup_teardown(test_load_missing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
                cmocka_unit_test(test_done),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
