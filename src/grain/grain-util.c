/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "grain/grain-util.h"

/* Decimal digits only (no sign, no spaces, at least one digit), at most max. -EINVAL or -ERANGE. */
static int parse_decimal(const char *s, uint64_t max, uint64_t *ret) {
        uint64_t v = 0;

        if (isempty(s))
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                if (!MUL_SAFE(&v, v, 10) || !ADD_SAFE(&v, v, (uint64_t) (*p - '0')))
                        return -ERANGE;
        }
        if (v > max)
                return -ERANGE;

        *ret = v;
        return 0;
}

int grain_parse_port(const char *s, uint16_t *ret_port) {
        uint64_t v;
        int r;

        assert(ret_port);

        r = parse_decimal(s, UINT16_MAX, &v);
        if (r < 0 || v == 0)
                return -EINVAL;

        *ret_port = (uint16_t) v;
        return 0;
}

int grain_parse_idle_sec(const char *s, unsigned *ret_sec) {
        uint64_t v;
        int r;

        assert(ret_sec);

        r = parse_decimal(s, GRAIN_IDLE_SEC_MAX, &v);
        if (r < 0)
                return r;

        *ret_sec = (unsigned) v;
        return 0;
}

int grain_listen_fds(const char *listen_pid, const char *listen_fds, pid_t self) {
        uint64_t pid, n;
        int r;

        if (!listen_pid || !listen_fds)
                return 0;

        r = parse_decimal(listen_pid, INT32_MAX, &pid);
        if (r < 0)
                return -EINVAL;
        if (pid != (uint64_t) self)
                return 0;

        r = parse_decimal(listen_fds, 65536, &n);
        if (r == -ERANGE)
                return -ERANGE;
        if (r < 0)
                return -EINVAL;

        return (int) n;
}

int grain_notify_address(const char *s, struct sockaddr_un *ret_sa, socklen_t *ret_len) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t n;

        assert(ret_sa);
        assert(ret_len);

        if (isempty(s))
                return -EINVAL;
        if (s[0] != '/' && s[0] != '@')
                return -EAFNOSUPPORT;

        n = strlen(s);
        if (s[0] == '@') {
                /* Abstract: a leading NUL, then the name, with no terminator counted. */
                if (n < 2)
                        return -EINVAL;
                if (n > sizeof(sa.sun_path))
                        return -ENAMETOOLONG;
                memcpy(sa.sun_path + 1, s + 1, n - 1);
                *ret_sa = sa;
                *ret_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n);
                return 0;
        }

        if (n >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, s, n + 1);
        *ret_sa = sa;
        *ret_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n + 1);
        return 0;
}

int grain_exit_status(int wait_status) {
        if (WIFEXITED(wait_status))
                return WEXITSTATUS(wait_status);
        if (WIFSIGNALED(wait_status))
                return 128 + WTERMSIG(wait_status);
        return 1;
}

int grain_describe_exit(int wait_status, char *buf, size_t size) {
        int n;

        assert(buf);
        assert(size > 0);

        if (WIFEXITED(wait_status))
                n = snprintf(buf, size, "App exited with status %d", WEXITSTATUS(wait_status));
        else if (WIFSIGNALED(wait_status)) {
                int sig = WTERMSIG(wait_status);
                const char *name = sigabbrev_np(sig);

                if (name)
                        n = snprintf(buf, size, "App killed by signal %d (SIG%s)", sig, name);
                else if (sig >= SIGRTMIN && sig <= SIGRTMAX)
                        n = snprintf(buf, size, "App killed by signal %d (SIGRTMIN+%d)", sig,
                                     sig - SIGRTMIN);
                else
                        n = snprintf(buf, size, "App killed by signal %d", sig);
        } else
                n = snprintf(buf, size, "App ended with wait status 0x%x", (unsigned) wait_status);

        if (n < 0 || (size_t) n >= size)
                return -ENOBUFS;
        return 0;
}
