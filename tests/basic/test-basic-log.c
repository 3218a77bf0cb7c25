/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Each case runs in a child process, because the log target and level are decided once per process.
 * The child's stderr and stdout come back through pipes; journal cases point the child at a socket of
 * our own in a temporary directory (log_set_journal_socket()), and the child copies the datagrams it
 * receives to stdout.
 */

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/string-util.h"

/* Where the journal cases put their socket; made and removed by the group setup and teardown. */
static char tmp_dir[64];

typedef struct Captured {
        char *out, *err;
        int status; /* exit status */
} Captured;

static void captured_done(Captured *c) {
        free(c->out);
        free(c->err);
}

static char *read_all(int fd) {
        char *s = NULL;

        assert_int_equal(read_full_fd(fd, 1 << 20, &s, NULL), 0);
        return s;
}

static void run(void (*fn)(void), Captured *ret) {
        int out[2], err[2], status;
        pid_t pid;

        assert_int_equal(pipe2(out, O_CLOEXEC), 0);
        assert_int_equal(pipe2(err, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                if (dup2(out[1], STDOUT_FILENO) < 0 || dup2(err[1], STDERR_FILENO) < 0)
                        _exit(1);
                safe_close(out[0]);
                safe_close(err[0]);
                unsetenv("JOURNAL_STREAM");
                unsetenv("GRANARY_LOG_LEVEL");
                fn();
                _exit(0);
        }
        safe_close(out[1]);
        safe_close(err[1]);
        /* Small outputs: the pipes cannot fill up while we read them one after the other. */
        ret->out = read_all(out[0]);
        ret->err = read_all(err[0]);
        safe_close(out[0]);
        safe_close(err[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        ret->status = WEXITSTATUS(status);
}

/* Runs fn and checks its exit status and exact output. */
static void check(void (*fn)(void), const char *want_out, const char *want_err) {
        _cleanup_(captured_done) Captured c = {};

        run(fn, &c);
        assert_int_equal(c.status, 0);
        assert_string_equal(c.err, want_err);
        assert_string_equal(c.out, want_out);
}

/* In a child: exits with 2 when a condition fails, so that the parent sees it. */
#define CHILD_ASSERT(x)                                                                                      \
        do {                                                                                                 \
                if (!(x)) {                                                                                  \
                        fprintf(stderr, "%s:%i: %s\n", __FILE__, __LINE__, #x);                              \
                        _exit(2);                                                                            \
                }                                                                                            \
        } while (0)

static void child_program_name(void) {
        log_info("hello %s", "world");
        log_set_program("spk");
        log_notice("second");
}

static void test_stderr_format(void **state) {
        check(child_program_name, "", "test-basic-log: hello world\nspk: second\n");
}

static void child_errno(void) {
        log_set_program("spk");
        errno = EBUSY;
        CHILD_ASSERT(log_error_errno(-ENOENT, "Failed to open '%s': %m", "x") == -ENOENT);
        /* A positive error is taken as its negative. */
        CHILD_ASSERT(log_warning_errno(EACCES, "Denied: %m") == -EACCES);
        CHILD_ASSERT(log_oom() == -ENOMEM);
        /* The caller's errno survives. */
        CHILD_ASSERT(errno == EBUSY);
        log_error("no error: %d%%", 100);
}

static void test_errno(void **state) {
        check(child_errno, "",
              "spk: Failed to open 'x': No such file or directory\n"
              "spk: Denied: Permission denied\n"
              "spk: Out of memory.\n"
              "spk: no error: 100%\n");
}

static int counter;

static int count(void) {
        return ++counter;
}

static void child_levels(void) {
        log_set_program("t");
        CHILD_ASSERT(log_get_max_level() == LOG_INFO);
        log_debug("hidden %d", count());
        log_info("shown %d", count());

        log_set_max_level(LOG_WARNING);
        CHILD_ASSERT(log_get_max_level() == LOG_WARNING);
        /* Filtered messages are not formatted: their arguments are not even evaluated. */
        log_notice("hidden %d", count());
        CHILD_ASSERT(log_info_errno(-EIO, "hidden %d", count()) == -EIO);
        CHILD_ASSERT(log_internal(LOG_DEBUG, 5, "f", 1, "g", "hidden") == -5);
        log_warning("shown %d", count());

        log_set_max_level(LOG_DEBUG);
        log_debug("shown %d", count());
}

static void test_levels(void **state) {
        check(child_levels, "", "t: shown 1\nt: shown 2\nt: shown 3\n");
}

static void child_env_debug(void) {
        setenv("GRANARY_LOG_LEVEL", "debug", 1);
        log_set_program("t");
        log_debug("debug shown");
}

static void child_env_warning(void) {
        setenv("GRANARY_LOG_LEVEL", "warning", 1);
        log_set_program("t");
        log_notice("notice hidden");
        log_warning("warning shown");
}

static void child_env_number(void) {
        setenv("GRANARY_LOG_LEVEL", "3", 1);
        log_set_program("t");
        CHILD_ASSERT(log_get_max_level() == LOG_ERR);
        log_warning("hidden");
        log_error("err shown");
}

static void child_env_invalid(void) {
        setenv("GRANARY_LOG_LEVEL", "loud", 1);
        log_set_program("t");
        CHILD_ASSERT(log_get_max_level() == LOG_INFO);
}

static void child_env_explicit_wins(void) {
        setenv("GRANARY_LOG_LEVEL", "debug", 1);
        log_set_program("t");
        log_set_max_level(LOG_ERR);
        log_warning("hidden");
}

static void test_env_level(void **state) {
        check(child_env_debug, "", "t: debug shown\n");
        check(child_env_warning, "", "t: warning shown\n");
        check(child_env_number, "", "t: err shown\n");
        check(child_env_invalid, "", "");
        check(child_env_explicit_wins, "", "");
}

static void test_level_from_string(void **state) {
        assert_int_equal(log_level_from_string("debug"), LOG_DEBUG);
        assert_int_equal(log_level_from_string("info"), LOG_INFO);
        assert_int_equal(log_level_from_string("notice"), LOG_NOTICE);
        assert_int_equal(log_level_from_string("warning"), LOG_WARNING);
        assert_int_equal(log_level_from_string("err"), LOG_ERR);
        assert_int_equal(log_level_from_string("crit"), LOG_CRIT);
        assert_int_equal(log_level_from_string("alert"), LOG_ALERT);
        assert_int_equal(log_level_from_string("emerg"), LOG_EMERG);
        assert_int_equal(log_level_from_string("0"), 0);
        assert_int_equal(log_level_from_string("7"), 7);
        assert_int_equal(log_level_from_string("8"), -EINVAL);
        assert_int_equal(log_level_from_string("07"), -EINVAL);
        assert_int_equal(log_level_from_string("DEBUG"), -EINVAL);
        assert_int_equal(log_level_from_string(""), -EINVAL);
        assert_int_equal(log_level_from_string(NULL), -EINVAL);
}

static void child_long(void) {
        char big[5001];

        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        log_set_program("t");
        log_info("<%s>", big);
}

static void test_long_message(void **state) {
        _cleanup_(captured_done) Captured c = {};

        /* Longer than the stack buffer: formatted on the heap, in full, as one line. */
        run(child_long, &c);
        assert_int_equal(c.status, 0);
        assert_int_equal(strlen(c.err), 3 + 1 + 5000 + 1 + 1);
        assert_memory_equal(c.err, "t: <xxx", 7);
        assert_int_equal(strspn(c.err + 4, "x"), 5000);
        assert_string_equal(c.err + 4 + 5000, ">\n");
}

static void child_struct_stderr(void) {
        log_set_program("t");
        /* On stderr only the message shows; the fields are for the journal. */
        CHILD_ASSERT(log_struct(LOG_INFO, "Grain '%s' started", "g1", "GRAIN_ID=%s", "g1") == 0);
        CHILD_ASSERT(log_struct_errno(LOG_ERR, -EPERM, "Failed: %m", "X=%d", 1) == -EPERM);
        log_set_max_level(LOG_ERR);
        CHILD_ASSERT(log_struct_errno(LOG_INFO, -EPERM, "hidden", "X=%d", 1) == -EPERM);
}

static void test_struct_stderr(void **state) {
        check(child_struct_stderr, "", "t: Grain 'g1' started\nt: Failed: Operation not permitted\n");
}

/* Points JOURNAL_STREAM at our stderr, as systemd does for a service whose stderr is the journal. */
static void set_journal_stream(void) {
        struct stat st;
        char v[64];

        CHILD_ASSERT(fstat(STDERR_FILENO, &st) == 0);
        snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long) st.st_dev, (unsigned long long) st.st_ino);
        CHILD_ASSERT(setenv("JOURNAL_STREAM", v, 1) == 0);
}

/* Points the log at a socket in tmp_dir, where journald's would be. Returns that socket, or -1 when
 * without_socket (then nothing is at that path). */
static int fake_journal(bool without_socket) {
        static struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        CHILD_ASSERT(snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/journal-socket", tmp_dir) <
                     (int) sizeof(sa.sun_path));
        /* Left behind by an earlier case. */
        CHILD_ASSERT(unlink(sa.sun_path) == 0 || errno == ENOENT);
        log_set_journal_socket(sa.sun_path);
        if (without_socket)
                return -1;
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        CHILD_ASSERT(fd >= 0);
        CHILD_ASSERT(bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0);
        return fd;
}

/* Copies each datagram waiting on fd to stdout, followed by "--\n". */
static void dump_datagrams(int fd) {
        static char buf[65536];

        for (;;) {
                ssize_t k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (k < 0) {
                        CHILD_ASSERT(errno == EAGAIN);
                        return;
                }
                CHILD_ASSERT(loop_write(STDOUT_FILENO, buf, (size_t) k) == 0);
                CHILD_ASSERT(loop_write(STDOUT_FILENO, "--\n", 3) == 0);
        }
}

static void child_journal_stream(void) {
        int fd = fake_journal(false);

        set_journal_stream();
        log_set_program("granaryd");
        CHILD_ASSERT(log_internal(LOG_ERR, -ENOENT, "src/x.c", 42, "do_it", "Failed '%s': %m", "a") ==
                     -ENOENT);
        CHILD_ASSERT(log_internal(LOG_INFO, 0, "src/x.c", 7, "f", "two\nlines") == 0);
        dump_datagrams(fd);
}

static void test_journal_stream(void **state) {
        /* The multi-line message uses the binary form: name, newline, 64-bit little-endian size. */
        static const char want[] = "MESSAGE=Failed 'a': No such file or directory\n"
                                   "PRIORITY=3\n"
                                   "CODE_FILE=src/x.c\n"
                                   "CODE_LINE=42\n"
                                   "CODE_FUNC=do_it\n"
                                   "ERRNO=2\n"
                                   "SYSLOG_IDENTIFIER=granaryd\n"
                                   "--\n"
                                   "MESSAGE\n\x09\0\0\0\0\0\0\0two\nlines\n"
                                   "PRIORITY=6\n"
                                   "CODE_FILE=src/x.c\n"
                                   "CODE_LINE=7\n"
                                   "CODE_FUNC=f\n"
                                   "SYSLOG_IDENTIFIER=granaryd\n"
                                   "--\n";
        _cleanup_(captured_done) Captured c = {};

        run(child_journal_stream, &c);
        assert_int_equal(c.status, 0);
        assert_string_equal(c.err, "");
        /* The binary size holds NULs: compare the bytes. */
        assert_memory_equal(c.out, want, sizeof(want) - 1);
        assert_int_equal(c.out[sizeof(want) - 1], '\0');
}

static void child_journal_struct(void) {
        int fd = fake_journal(false);

        log_set_program("granaryd");
        log_open_journal();
        /* Arguments of every printf type, so that each field finds its own arguments. */
        CHILD_ASSERT(log_struct_internal(LOG_WARNING, -EEXIST, "g.c", 9, "fn",
                                         "Grain '%s' %c%hd %ld %.1f %p %zu %jd",
                                         "g1", 'x', (short) -3, 123456789012L, 2.5, NULL, (size_t) 7,
                                         (intmax_t) -8,
                                         "GRAIN_ID=%s", "g1",
                                         "REQUEST_ID=%llu-%*d", 5ULL, 3, 4,
                                         "EMPTY=",
                                         "WHY=%m (%Lg)", (long double) 1.5,
                                         NULL) == -EEXIST);
        dump_datagrams(fd);
}

static void test_journal_struct(void **state) {
        check(child_journal_struct,
              "MESSAGE=Grain 'g1' x-3 123456789012 2.5 (nil) 7 -8\n"
              "PRIORITY=4\n"
              "CODE_FILE=g.c\n"
              "CODE_LINE=9\n"
              "CODE_FUNC=fn\n"
              "ERRNO=17\n"
              "SYSLOG_IDENTIFIER=granaryd\n"
              "GRAIN_ID=g1\n"
              "REQUEST_ID=5-  4\n"
              "EMPTY=\n"
              "WHY=File exists (1.5)\n"
              "--\n",
              "");
}

static void child_journal_missing(void) {
        /* stderr is the journal's stream, but the journal socket is gone: the message is not lost. */
        fake_journal(true);
        set_journal_stream();
        log_set_program("t");
        log_info("fell back");
}

static void child_journal_requested_missing(void) {
        fake_journal(true);
        log_open_journal();
        log_set_program("t");
        log_info("fell back too");
}

static void child_journal_stream_mismatch(void) {
        int fd = fake_journal(false);

        /* Our stderr is not the stream JOURNAL_STREAM names. */
        CHILD_ASSERT(setenv("JOURNAL_STREAM", "1:1", 1) == 0);
        log_set_program("t");
        log_info("to stderr");
        dump_datagrams(fd);
}

static void child_journal_stream_garbage(void) {
        int fd = fake_journal(false);

        CHILD_ASSERT(setenv("JOURNAL_STREAM", "x:y", 1) == 0);
        log_set_program("t");
        log_info("to stderr");
        dump_datagrams(fd);
}

static void child_journal_refused(void) {
        /* The socket is there, but nobody listens on it any more. */
        safe_close(fake_journal(false));
        log_open_journal();
        log_set_program("t");
        log_info("refused");
        log_info("refused again");
}

static void child_journal_bad_field(void) {
        int fd = fake_journal(false);

        /* A field without a name is refused, with its message, as journald's own library does. */
        log_open_journal();
        log_set_program("t");
        CHILD_ASSERT(log_struct_internal(LOG_INFO, 0, "f.c", 1, "fn", "no name", "GRAIN_ID=g1", "=x",
                                         NULL) == 0);
        CHILD_ASSERT(log_struct_internal(LOG_INFO, 0, "f.c", 2, "fn", "no equals sign", "GRAIN_ID",
                                         NULL) == 0);
        CHILD_ASSERT(log_struct_internal(LOG_INFO, 0, "f.c", 3, "fn", "newline in name", "GRAIN\nID=x",
                                         NULL) == 0);
        log_internal(LOG_INFO, 0, "f.c", 4, "fn", "fine");
        dump_datagrams(fd);
}

static void child_journal_socket_later(void) {
        int fd;

        fake_journal(true);
        log_open_journal();
        log_set_program("t");
        log_internal(LOG_INFO, 0, "f.c", 1, "fn", "before");
        /* Naming the socket decides the target again. */
        fd = fake_journal(false);
        log_internal(LOG_INFO, 0, "f.c", 2, "fn", "after");
        dump_datagrams(fd);
}

static void test_journal_fallbacks(void **state) {
        check(child_journal_missing, "", "t: fell back\n");
        check(child_journal_requested_missing, "", "t: fell back too\n");
        check(child_journal_stream_mismatch, "", "t: to stderr\n");
        check(child_journal_stream_garbage, "", "t: to stderr\n");
        check(child_journal_refused, "", "t: refused\nt: refused again\n");
        check(child_journal_bad_field,
              "MESSAGE=fine\n"
              "PRIORITY=6\n"
              "CODE_FILE=f.c\n"
              "CODE_LINE=4\n"
              "CODE_FUNC=fn\n"
              "SYSLOG_IDENTIFIER=t\n"
              "--\n",
              "t: no name\nt: no equals sign\nt: newline in name\n");
        check(child_journal_socket_later,
              "MESSAGE=after\n"
              "PRIORITY=6\n"
              "CODE_FILE=f.c\n"
              "CODE_LINE=2\n"
              "CODE_FUNC=fn\n"
              "SYSLOG_IDENTIFIER=t\n"
              "--\n",
              "t: before\n");
}

static int group_setup(void **state) {
        strcpy(tmp_dir, "/tmp/test-basic-log-XXXXXX");
        return mkdtemp(tmp_dir) ? 0 : -1;
}

static int group_teardown(void **state) {
        return rm_rf_path(tmp_dir) >= 0 ? 0 : -1;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_stderr_format),
                cmocka_unit_test(test_errno),
                cmocka_unit_test(test_levels),
                cmocka_unit_test(test_env_level),
                cmocka_unit_test(test_level_from_string),
                cmocka_unit_test(test_long_message),
                cmocka_unit_test(test_struct_stderr),
                cmocka_unit_test(test_journal_stream),
                cmocka_unit_test(test_journal_struct),
                cmocka_unit_test(test_journal_fallbacks),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
