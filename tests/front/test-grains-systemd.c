/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The systemd backend without systemd: the unit names, the SystemCallFilter= list a policy gives, the
 * properties of a grain's socket and service byte for byte, and the D-Bus message they become (read back
 * from a sealed message on a bus that never reaches a daemon). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "basic/fileio.h"
#include "basic/string-util.h"
#include "front/grains-systemd.h"
#include "grain/policy.h"

#define POLICY_TEXT                                                                                          \
        "default ENOSYS\n"                                                                                   \
        "allow write read openat setrlimit\n"                                                                \
        "errno EPERM mount chown\n"                                                                          \
        "errno 0 sync\n"                                                                                     \
        "errno ENOSYS bpf seccomp\n"                                                                         \
        "filter ioctl ENOTTY\n"                                                                              \
        "when ioctl arg1==0x5421\n"

static Policy *small_policy(void) {
        Policy *p = NULL;

        assert_int_equal(policy_parse(POLICY_TEXT, &p, NULL), 0);
        return p;
}

static void test_unit_names(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL;
        char *x = NULL;

        assert_int_equal(grains_systemd_unit_name("aB3-_x", "socket", &a), 0);
        assert_string_equal(a, "granary-grain@aB3-_x.socket");
        assert_int_equal(grains_systemd_unit_name("aB3-_x", "service", &b), 0);
        assert_string_equal(b, "granary-grain@aB3-_x.service");

        /* Nothing outside the id alphabet ever reaches a unit name. */
        assert_int_equal(grains_systemd_unit_name("a.b", "service", &x), -EINVAL);
        assert_int_equal(grains_systemd_unit_name("a/b", "service", &x), -EINVAL);
        assert_int_equal(grains_systemd_unit_name("a b", "service", &x), -EINVAL);
        assert_int_equal(grains_systemd_unit_name("", "service", &x), -EINVAL);
        assert_int_equal(grains_systemd_unit_name(NULL, "service", &x), -EINVAL);
        assert_int_equal(grains_systemd_unit_name("abc", "timer", &x), -EINVAL);
        assert_null(x);
}

static void test_syscall_filter_small(void **state) {
        _cleanup_(policy_freep) Policy *p = small_policy();
        _cleanup_strv_free_ char **l = NULL;
        static const char *const want[] = { "ioctl", "openat", "read", "seccomp", "write" };

        assert_int_equal(grains_systemd_syscall_filter(p, &l), 0);
        /* allowed and filtered calls, sorted, with seccomp for the bridge's layer; no errno rule, nothing of
         * @resources */
        assert_int_equal(strv_length(l), ELEMENTSOF(want));
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                assert_string_equal(l[i], want[i]);
}

static void test_syscall_filter_builtin(void **state) {
        _cleanup_(policy_freep) Policy *p = NULL;
        _cleanup_strv_free_ char **l = NULL;
        static const char *const in[] = { "openat", "clone", "prctl", "socket", "socketpair", "execve",
                                          "seccomp", "prlimit64", "ioctl", "epoll_wait" };
        static const char *const out[] = { "mount", "chown", "ptrace", "sync", "bpf", "setrlimit",
                                           "setpriority", "sched_setscheduler", "unshare", "reboot",
                                           "clone3", "io_uring_setup", "keyctl", "personality" };

        assert_int_equal(policy_parse(policy_builtin(), &p, NULL), 0);
        assert_int_equal(grains_systemd_syscall_filter(p, &l), 0);
        for (size_t i = 0; i < ELEMENTSOF(in); i++)
                assert_true(strv_contains(l, in[i]));
        for (size_t i = 0; i < ELEMENTSOF(out); i++)
                assert_false(strv_contains(l, out[i]));
        for (size_t i = 1; l[i]; i++)
                assert_true(strcmp(l[i - 1], l[i]) < 0);
}

static char *argv_[] = { "/sandstorm-http-bridge", "8000", "--", "/opt/app/run.sh", NULL };
static char *envp_[] = { "HOME=/var", "SANDSTORM=1", "GRANARY_GRAIN_IDLE_SEC=120", "GRANARY_GRAIN_SECCOMP=0",
                         NULL };

static GrainUnitSpec spec(bool first) {
        return (GrainUnitSpec) {
                .id = "g1",
                .package_id = "0123456789abcdef",
                .package_dir = "/var/lib/granary/packages/0123456789abcdef",
                .var_dir = "/var/lib/granary/grains/g1/var",
                .argv = argv_,
                .envp = envp_,
                .first = first,
        };
}

/* A bus that is "open" (authenticating over one end of a socketpair) is enough to build messages. */
static void test_argv_escape(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL;
        char *x = NULL;
        char *argv[] = { "/sandstorm-http-bridge", "8000", "--", "/opt/a b", "", "x\ny'\"$\\", "\xc3\xa9", NULL };
        char *one[] = { "/bin/true", NULL };
        char *none[] = { NULL };

        assert_int_equal(grains_systemd_argv_escape(argv, &a), 0);
        assert_string_equal(a, "/sandstorm-http-bridge 8000 -- /opt/a\\x20b '' x\\x0ay\\x27\\x22\\x24\\x5c \\xc3\\xa9");
        assert_int_equal(grains_systemd_argv_escape(one, &b), 0);
        assert_string_equal(b, "/bin/true");
        assert_int_equal(grains_systemd_argv_escape(none, &x), -EINVAL);
        assert_int_equal(grains_systemd_argv_escape(NULL, &x), -EINVAL);
        assert_null(x);
}

static void test_environment(void **state) {
        _cleanup_free_ char *first = NULL, *cont = NULL;
        char *x = NULL;
        char *env[] = { "A=x\"y$z`w\\v", "GRANARY_GRAIN_ARGV=/bin/sh", "B=", NULL };
        char *bad[] = { "NOEQUALS", NULL };
        char *bad2[] = { "=v", NULL };
        GrainUnitSpec s = spec(true);

        assert_int_equal(grains_systemd_environment(&s, &first), 0);
        assert_string_equal(first,
                            "# granary grain g1: package 0123456789abcdef, first start\n"
                            "HOME=\"/var\"\n"
                            "SANDSTORM=\"1\"\n"
                            "GRANARY_GRAIN_IDLE_SEC=\"120\"\n"
                            "GRANARY_GRAIN_SECCOMP=\"1\"\n"
                            "GRANARY_GRAIN_ARGV=\"/sandstorm-http-bridge 8000 -- /opt/app/run.sh\"\n");
        s = spec(false);
        s.envp = env;
        assert_int_equal(grains_systemd_environment(&s, &cont), 0);
        /* The manifest cannot set the command line nor turn the seccomp layer off; \ " ` $ are escaped, so
         * that systemd reads back the bytes. */
        assert_string_equal(cont,
                            "# granary grain g1: package 0123456789abcdef\n"
                            "A=\"x\\\"y\\$z\\`w\\\\v\"\n"
                            "B=\"\"\n"
                            "GRANARY_GRAIN_SECCOMP=\"1\"\n"
                            "GRANARY_GRAIN_ARGV=\"/sandstorm-http-bridge 8000 -- /opt/app/run.sh\"\n");
        s.envp = bad;
        assert_int_equal(grains_systemd_environment(&s, &x), -EINVAL);
        s.envp = bad2;
        assert_int_equal(grains_systemd_environment(&s, &x), -EINVAL);
        s.envp = envp_;
        s.id = "../g1";
        assert_int_equal(grains_systemd_environment(&s, &x), -EINVAL);
        assert_null(x);
}

static void test_write_start(void **state) {
        char dir[] = "/tmp/test-grains-systemd.XXXXXX";
        _cleanup_free_ char *env = NULL, *want = NULL;
        char link[256];
        struct stat st;
        ssize_t n;
        GrainUnitSpec s = spec(true);
        int fd;

        assert_non_null(mkdtemp(dir));
        s.grain_dir = dir;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);

        assert_int_equal(grains_systemd_write_start(&s), 1);
        assert_int_equal(read_full_file_at(fd, "environment", 65536, &env, NULL), 0);
        assert_int_equal(grains_systemd_environment(&s, &want), 0);
        assert_string_equal(env, want);
        assert_int_equal(fstatat(fd, "environment", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        n = readlinkat(fd, "root", link, sizeof(link) - 1);
        assert_true(n > 0);
        link[n] = 0;
        assert_string_equal(link, "/var/lib/granary/packages/0123456789abcdef");

        /* Nothing changed: nothing written. */
        assert_int_equal(grains_systemd_write_start(&s), 0);

        /* An upgrade and the first start done: both move, and no temporary is left. */
        s.first = false;
        s.package_dir = "/var/lib/granary/packages/fedcba9876543210";
        assert_int_equal(grains_systemd_write_start(&s), 1);
        n = readlinkat(fd, "root", link, sizeof(link) - 1);
        assert_true(n > 0);
        link[n] = 0;
        assert_string_equal(link, "/var/lib/granary/packages/fedcba9876543210");
        assert_int_equal(faccessat(fd, ".#root.new", F_OK, AT_SYMLINK_NOFOLLOW), -1);
        free(env);
        env = NULL;
        assert_int_equal(read_full_file_at(fd, "environment", 65536, &env, NULL), 0);
        assert_true(startswith(env, "# granary grain g1: package 0123456789abcdef\n"));

        s.grain_dir = "relative";
        assert_int_equal(grains_systemd_write_start(&s), -EINVAL);

        assert_int_equal(unlinkat(fd, "environment", 0), 0);
        assert_int_equal(unlinkat(fd, "root", 0), 0);
        close(fd);
        assert_int_equal(rmdir(dir), 0);
}

/* The template's SystemCallFilter= is the list the built-in policy gives, word for word. */
static void test_template_syscall_filter(void **state) {
        _cleanup_(policy_freep) Policy *p = NULL;
        _cleanup_strv_free_ char **want = NULL, **got = NULL;
        _cleanup_free_ char *text = NULL, *path = NULL, *dir = NULL;
        const char *src = __FILE__;

        /* __FILE__ is this file as the compiler was given it: relative to the build directory, where meson
         * runs the test, or absolute. */
        dir = strndup(src, strlen(src) - strlen("tests/front/test-grains-systemd.c"));
        assert_non_null(dir);
        path = strjoin(dir, "units/granary-grain@.service.in");
        assert_non_null(path);
        assert_int_equal(read_full_file_at(AT_FDCWD, path, 1 << 20, &text, NULL), 0);
        for (char *l = text, *e; l && *l; l = e ? e + 1 : NULL) {
                e = strchr(l, '\n');
                if (e)
                        *e = 0;
                if (startswith(l, "SystemCallFilter=")) {
                        char *w = l + strlen("SystemCallFilter="), *sp;

                        for (; w && *w; w = sp ? sp + 1 : NULL) {
                                sp = strchr(w, ' ');
                                if (sp)
                                        *sp = 0;
                                assert_int_equal(strv_extend(&got, w), 0);
                        }
                }
        }
        assert_int_equal(policy_parse(policy_builtin(), &p, NULL), 0);
        assert_int_equal(grains_systemd_syscall_filter(p, &want), 0);
        assert_int_equal(strv_length(got), strv_length(want));
        for (size_t i = 0; want[i]; i++)
                assert_string_equal(got[i], want[i]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unit_names),
                cmocka_unit_test(test_syscall_filter_small),
                cmocka_unit_test(test_syscall_filter_builtin),
                cmocka_unit_test(test_argv_escape),
                cmocka_unit_test(test_environment),
                cmocka_unit_test(test_write_start),
                cmocka_unit_test(test_template_syscall_filter),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
