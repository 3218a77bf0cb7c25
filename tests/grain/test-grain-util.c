/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "grain/grain-util.h"

static void test_parse_port(void **state) {
        uint16_t port = 7;

        assert_int_equal(grain_parse_port("8000", &port), 0);
        assert_int_equal(port, 8000);
        assert_int_equal(grain_parse_port("1", &port), 0);
        assert_int_equal(port, 1);
        assert_int_equal(grain_parse_port("65535", &port), 0);
        assert_int_equal(port, 65535);
        assert_int_equal(grain_parse_port("08080", &port), 0);
        assert_int_equal(port, 8080);

        port = 7;
        assert_int_equal(grain_parse_port("0", &port), -EINVAL);
        assert_int_equal(grain_parse_port("65536", &port), -EINVAL);
        assert_int_equal(grain_parse_port("99999999999999999999999", &port), -EINVAL);
        assert_int_equal(grain_parse_port("", &port), -EINVAL);
        assert_int_equal(grain_parse_port(NULL, &port), -EINVAL);
        assert_int_equal(grain_parse_port("+80", &port), -EINVAL);
        assert_int_equal(grain_parse_port("-80", &port), -EINVAL);
        assert_int_equal(grain_parse_port(" 80", &port), -EINVAL);
        assert_int_equal(grain_parse_port("80 ", &port), -EINVAL);
        assert_int_equal(grain_parse_port("0x50", &port), -EINVAL);
        assert_int_equal(grain_parse_port("--", &port), -EINVAL);
        /* Nothing written on failure. */
        assert_int_equal(port, 7);
}

static void test_parse_idle_sec(void **state) {
        unsigned sec = 7;

        assert_int_equal(grain_parse_idle_sec("0", &sec), 0);
        assert_int_equal(sec, 0);
        assert_int_equal(grain_parse_idle_sec("90", &sec), 0);
        assert_int_equal(sec, 90);
        assert_int_equal(grain_parse_idle_sec("31622400", &sec), 0);
        assert_int_equal(sec, GRAIN_IDLE_SEC_MAX);

        sec = 7;
        assert_int_equal(grain_parse_idle_sec("31622401", &sec), -ERANGE);
        assert_int_equal(grain_parse_idle_sec("18446744073709551616", &sec), -ERANGE);
        assert_int_equal(grain_parse_idle_sec("", &sec), -EINVAL);
        assert_int_equal(grain_parse_idle_sec("1.5", &sec), -EINVAL);
        assert_int_equal(grain_parse_idle_sec("-1", &sec), -EINVAL);
        assert_int_equal(grain_parse_idle_sec("10s", &sec), -EINVAL);
        assert_int_equal(sec, 7);
}

static void test_listen_fds(void **state) {
        assert_int_equal(grain_listen_fds("1234", "1", 1234), 1);
        assert_int_equal(grain_listen_fds("1234", "3", 1234), 3);
        assert_int_equal(grain_listen_fds("1234", "0", 1234), 0);

        /* Meant for another process, or not passed at all. */
        assert_int_equal(grain_listen_fds("1235", "1", 1234), 0);
        assert_int_equal(grain_listen_fds(NULL, "1", 1234), 0);
        assert_int_equal(grain_listen_fds("1234", NULL, 1234), 0);
        assert_int_equal(grain_listen_fds(NULL, NULL, 1234), 0);

        /* Garbage is an error, not "none". */
        assert_int_equal(grain_listen_fds("12a4", "1", 1234), -EINVAL);
        assert_int_equal(grain_listen_fds("", "1", 1234), -EINVAL);
        assert_int_equal(grain_listen_fds("1234", "one", 1234), -EINVAL);
        assert_int_equal(grain_listen_fds("1234", "-1", 1234), -EINVAL);
        assert_int_equal(grain_listen_fds("1234", "", 1234), -EINVAL);
        assert_int_equal(grain_listen_fds("1234", "65537", 1234), -ERANGE);
}

static void test_notify_address_path(void **state) {
        struct sockaddr_un sa;
        socklen_t len = 0;

        assert_int_equal(grain_notify_address("/run/notify", &sa, &len), 0);
        assert_int_equal(sa.sun_family, AF_UNIX);
        assert_string_equal(sa.sun_path, "/run/notify");
        assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + strlen("/run/notify") + 1);
}

static void test_notify_address_abstract(void **state) {
        struct sockaddr_un sa;
        socklen_t len = 0;

        assert_int_equal(grain_notify_address("@granary/notify", &sa, &len), 0);
        assert_int_equal(sa.sun_family, AF_UNIX);
        assert_int_equal(sa.sun_path[0], '\0');
        assert_memory_equal(sa.sun_path + 1, "granary/notify", strlen("granary/notify"));
        /* The leading NUL counts, no terminator does. */
        assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 1 + strlen("granary/notify"));
}

static void test_notify_address_rejects(void **state) {
        struct sockaddr_un sa;
        socklen_t len = 99;
        char longest[sizeof(sa.sun_path) + 2];

        assert_int_equal(grain_notify_address("", &sa, &len), -EINVAL);
        assert_int_equal(grain_notify_address(NULL, &sa, &len), -EINVAL);
        assert_int_equal(grain_notify_address("@", &sa, &len), -EINVAL);
        assert_int_equal(grain_notify_address("vsock:2:1234", &sa, &len), -EAFNOSUPPORT);
        assert_int_equal(grain_notify_address("run/notify", &sa, &len), -EAFNOSUPPORT);

        /* A path needs room for its NUL; an abstract name does not. */
        memset(longest, 'x', sizeof(longest));
        longest[0] = '/';
        longest[sizeof(sa.sun_path)] = '\0';
        assert_int_equal(grain_notify_address(longest, &sa, &len), -ENAMETOOLONG);
        longest[sizeof(sa.sun_path) - 1] = '\0';
        assert_int_equal(grain_notify_address(longest, &sa, &len), 0);
        assert_int_equal(len, sizeof(struct sockaddr_un));

        len = 99;
        memset(longest, 'x', sizeof(longest));
        longest[0] = '@';
        longest[sizeof(sa.sun_path) + 1] = '\0';
        assert_int_equal(grain_notify_address(longest, &sa, &len), -ENAMETOOLONG);
        assert_int_equal(len, 99);
        longest[sizeof(sa.sun_path)] = '\0';
        assert_int_equal(grain_notify_address(longest, &sa, &len), 0);
        assert_int_equal(len, sizeof(struct sockaddr_un));
}

/* A real wait status, from a child that exits with code or dies of sig. */
static int child_status(int code, int sig) {
        int status;
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                if (sig > 0) {
                        signal(sig, SIG_DFL);
                        raise(sig);
                }
                _exit(code);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return status;
}

static void test_exit_status(void **state) {
        assert_int_equal(grain_exit_status(child_status(0, 0)), 0);
        assert_int_equal(grain_exit_status(child_status(3, 0)), 3);
        assert_int_equal(grain_exit_status(child_status(255, 0)), 255);
        assert_int_equal(grain_exit_status(child_status(0, SIGKILL)), 137);
        assert_int_equal(grain_exit_status(child_status(0, SIGTERM)), 143);
        assert_int_equal(grain_exit_status(child_status(0, SIGUSR1)), 128 + SIGUSR1);
}

static void test_describe_exit(void **state) {
        char buf[128];

        assert_int_equal(grain_describe_exit(child_status(0, 0), buf, sizeof(buf)), 0);
        assert_string_equal(buf, "App exited with status 0");
        assert_int_equal(grain_describe_exit(child_status(42, 0), buf, sizeof(buf)), 0);
        assert_string_equal(buf, "App exited with status 42");
        assert_int_equal(grain_describe_exit(child_status(0, SIGKILL), buf, sizeof(buf)), 0);
        assert_string_equal(buf, "App killed by signal 9 (SIGKILL)");
        assert_int_equal(grain_describe_exit(child_status(0, SIGTERM), buf, sizeof(buf)), 0);
        assert_string_equal(buf, "App killed by signal 15 (SIGTERM)");
        assert_int_equal(grain_describe_exit(child_status(0, SIGRTMIN + 2), buf, sizeof(buf)), 0);
        assert_true(strstr(buf, "App killed by signal ") == buf);
        assert_non_null(strstr(buf, "(SIGRTMIN+2)"));

        /* Too small: truncated, still terminated, and said so. */
        assert_int_equal(grain_describe_exit(child_status(42, 0), buf, 8), -ENOBUFS);
        assert_string_equal(buf, "App exi");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_port),
                cmocka_unit_test(test_parse_idle_sec),
                cmocka_unit_test(test_listen_fds),
                cmocka_unit_test(test_notify_address_path),
                cmocka_unit_test(test_notify_address_abstract),
                cmocka_unit_test(test_notify_address_rejects),
                cmocka_unit_test(test_exit_status),
                cmocka_unit_test(test_describe_exit),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
