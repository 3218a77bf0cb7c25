/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * grain/sandbox.h — the direct backend's sandbox: starts one program (the grain's bridge) in new user,
 * mount, PID, network, IPC, UTS and cgroup namespaces, inside the package's root, with the grain's storage
 * at /var, no capabilities, no_new_privs, resource limits and the syscall policy (grain/policy.h) loaded
 * last. What the app sees is SECURITY.md's "The grain sandbox"; how it is built is drawn at the top of
 * sandbox.c.
 *
 * Owns the setup of one sandbox, from the clone to the exec. Does not own what runs in it (the bridge,
 * src/grain/bridge.c, is PID 1 there and reaps everything), the grain's listening socket and log (the
 * caller's), nor waiting for the sandbox to end (the caller has its pid and pidfd). A failed setup is
 * logged once, at error level, naming the step; nothing else is logged above debug.
 */

#include <stdint.h>
#include <sys/types.h>

#include "grain/policy.h"

/* Defaults for the SandboxLimits fields left 0. */
#define SANDBOX_NOFILE_SOFT_DEFAULT 1024U
#define SANDBOX_NOFILE_HARD_DEFAULT 4096U
#define SANDBOX_TMP_SIZE_DEFAULT (16U * 1024U * 1024U)
#define SANDBOX_SHM_SIZE (16U * 1024U * 1024U)
/* The uid and gid the app has inside. */
#define SANDBOX_UID 1000U
#define SANDBOX_GID 1000U
/* The host ids sandbox_default_ids() gives a root caller. */
#define SANDBOX_NOBODY_UID 65534U
#define SANDBOX_NOBODY_GID 65534U

typedef struct SandboxLimits {
        uint64_t memory_max;  /* bytes the whole grain may use; 0: no limit */
        uint64_t tasks_max;   /* processes and threads; 0: no limit */
        uint64_t nofile_max;  /* open files per process (RLIMIT_NOFILE); 0: 1024 soft / 4096 hard */
        uint64_t cpu_weight;  /* 1…10000 (cgroup only); 0: the default */
        uint64_t tmp_size;    /* bytes of the private /tmp tmpfs; 0: 16 MiB */
} SandboxLimits;

typedef struct SandboxConfig {
        const char *package_dir;  /* host path: the app's / (read-only, nosuid, nodev) */
        const char *var_dir;      /* host path: the app's /var (read-write, nosuid, nodev) */
        const char *bridge_path;  /* host path of granary-grain: bound read-only at /sandstorm-http-bridge
                                   * (NULL: the package's own file, if any, stays) */
        const Policy *policy;
        char *const *argv;        /* argv[0] absolute inside the package; execve, no PATH search (spec §6.4) */
        char *const *envp;        /* the whole environment; the sandbox adds LISTEN_FDS/LISTEN_PID when
                                   * listen_fd >= 0 and nothing else */
        int listen_fd;            /* -1, or a listening socket: the process gets it as fd 3 */
        int log_fd;               /* becomes stdout and stderr (-1: /dev/null); stdin is /dev/null */
        uid_t host_uid;           /* what uid 1000 inside maps to (never 0: -EPERM) */
        gid_t host_gid;
        const char *cgroup_dir;   /* NULL, or a writable cgroup v2 directory: the grain gets a child cgroup
                                   * there with memory.max, pids.max, cpu.weight; otherwise rlimits */
        SandboxLimits limits;
} SandboxConfig;

/* Starts argv in a new sandbox. Returns 0 with the pid (in granaryd's PID namespace) and a pidfd of the
 * sandbox's first process, whose exit ends the whole sandbox (it is PID 1 of its namespace). Errors from
 * setting up the sandbox are reported by the child through a pipe (CLOEXEC, closed by the exec), so that
 * sandbox_spawn returns the failing step's negative errno (and logs which step at error level) rather
 * than a child that exits 127. -EINVAL for an incomplete config, -EPERM for host_uid or host_gid 0.
 *
 * The child also gets SIGKILL when the calling thread exits (PR_SET_PDEATHSIG), so that no sandbox
 * outlives the server that started it. The caller reaps the pid (waitpid or the pidfd). */
int sandbox_spawn(const SandboxConfig *c, pid_t *ret_pid, int *ret_pidfd);

/* Uid/gid the sandbox maps 1000 to by default: the caller's own, or, when that is root, 65534:65534. */
void sandbox_default_ids(uid_t *ret_uid, gid_t *ret_gid);
