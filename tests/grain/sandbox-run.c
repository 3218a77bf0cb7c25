/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * sandbox-run — runs a command in the direct backend's sandbox through sandbox_spawn(), the code path
 * granaryd uses, and exits with its status (128 + the signal when killed). The command's stdout and stderr
 * are this program's stdout. For the tests (tests/grain/test-sandbox.sh).
 *
 *   sandbox-run --package DIR --var DIR [--bridge PATH] [--listen PATH] [--memory BYTES] [--tasks N]
 *               [--nofile N] [--tmp-size BYTES] [--cgroup DIR] [--env KEY=VALUE]... [--timing]
 *               -- COMMAND [ARG...]
 *
 * --listen binds a Unix socket at PATH and hands it to the sandbox as fd 3 (LISTEN_FDS=1). --timing writes
 * how long sandbox_spawn() took, "# spawn: N us", to stderr. SIGTERM and SIGINT are passed on to the
 * sandbox's first process.
 */

#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "basic/log.h"
#include "basic/string-util.h"
#include "grain/policy.h"
#include "grain/sandbox.h"

static volatile sig_atomic_t forward_pid;

static void on_signal(int sig) {
        if (forward_pid > 0)
                (void) kill((pid_t) forward_pid, sig);
}

static int listen_unix(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void) unlink(path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
                int r = -errno;
                safe_close(fd);
                return r;
        }
        return fd;
}

static int parse_size(const char *s, uint64_t *ret) {
        return parse_uint64(s, UINT64_MAX, ret);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "package", required_argument, NULL, 'p' },
                { "var", required_argument, NULL, 'v' },
                { "bridge", required_argument, NULL, 'b' },
                { "listen", required_argument, NULL, 'l' },
                { "memory", required_argument, NULL, 'm' },
                { "tasks", required_argument, NULL, 't' },
                { "nofile", required_argument, NULL, 'n' },
                { "tmp-size", required_argument, NULL, 's' },
                { "cgroup", required_argument, NULL, 'c' },
                { "env", required_argument, NULL, 'e' },
                { "timing", no_argument, NULL, 'T' },
                {}
        };
        SandboxConfig c = { .listen_fd = -1, .log_fd = STDOUT_FILENO };
        _cleanup_(policy_freep) Policy *policy = NULL;
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_free_ char *error = NULL;
        _cleanup_close_ int pidfd = -EBADF, listen_fd = -EBADF;
        struct timespec t0, t1;
        bool timing = false;
        pid_t pid;
        int opt, r, status;

        log_set_program("sandbox-run");
        while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (opt) {
                case 'p':
                        c.package_dir = optarg;
                        break;
                case 'v':
                        c.var_dir = optarg;
                        break;
                case 'b':
                        c.bridge_path = optarg;
                        break;
                case 'l':
                        listen_fd = listen_unix(optarg);
                        if (listen_fd < 0) {
                                log_error_errno(listen_fd, "Failed to listen on '%s': %m", optarg);
                                return 125;
                        }
                        c.listen_fd = listen_fd;
                        break;
                case 'm':
                case 't':
                case 'n':
                case 's': {
                        uint64_t *field = opt == 'm' ? &c.limits.memory_max :
                                          opt == 't' ? &c.limits.tasks_max :
                                          opt == 'n' ? &c.limits.nofile_max : &c.limits.tmp_size;
                        if (parse_size(optarg, field) < 0) {
                                log_error("Invalid number '%s'.", optarg);
                                return 125;
                        }
                        break;
                }
                case 'c':
                        c.cgroup_dir = optarg;
                        break;
                case 'e':
                        if (strv_extend(&env, optarg) < 0)
                                return 125;
                        break;
                case 'T':
                        timing = true;
                        break;
                default:
                        return 125;
                }
        }
        if (optind >= argc || !c.package_dir || !c.var_dir) {
                log_error("Usage: sandbox-run --package DIR --var DIR [OPTION...] -- COMMAND [ARG...]");
                return 125;
        }
        if (!env) {
                env = calloc(1, sizeof(char *));
                if (!env)
                        return 125;
        }

        r = policy_parse(policy_builtin(), &policy, &error);
        if (r < 0) {
                log_error_errno(r, "The built-in policy does not parse: %s", error ?: "out of memory");
                return 125;
        }
        c.policy = policy;
        c.argv = argv + optind;
        c.envp = env;
        sandbox_default_ids(&c.host_uid, &c.host_gid);

        (void) clock_gettime(CLOCK_MONOTONIC, &t0);
        r = sandbox_spawn(&c, &pid, &pidfd);
        (void) clock_gettime(CLOCK_MONOTONIC, &t1);
        if (r < 0)
                return 125; /* sandbox_spawn() said why */
        if (timing)
                fprintf(stderr, "# spawn: %lld us\n",
                        (long long) ((t1.tv_sec - t0.tv_sec) * 1000000LL + (t1.tv_nsec - t0.tv_nsec) / 1000));

        forward_pid = pid;
        (void) signal(SIGTERM, on_signal);
        (void) signal(SIGINT, on_signal);

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        log_error_errno(-errno, "Failed to wait for the sandbox: %m");
                        return 125;
                }
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        return 128 + WTERMSIG(status);
}
