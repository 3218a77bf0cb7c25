/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * front/grains-systemd.h — the systemd backend of the grain manager (DESIGN.md "Grains", issue 5): each grain
 * is an instance of two static templates (units/), granary-grain@<id>.socket listening on
 * /run/granary/grains/<id>.sock and granary-grain@<id>.service, the sandbox it starts. granaryd only starts
 * and stops instances (StartUnit, StopUnit over sd-bus on its sd-event; polkit/granary.rules allows nothing
 * else) and writes what differs per grain into the grain's directory while its service is stopped: the
 * `environment` file (GRANARY_GRAIN_SECCOMP=1, the manifest's environment and the idle time as one word list
 * GRANARY_GRAIN_ENV, the command line as GRANARY_GRAIN_ARGV, all three read by the bridge's --granary-exec
 * mode, which runs the command with that environment) and the `root` link to the
 * package. The template builds the same sandbox as the direct backend (SECURITY.md "The grain sandbox");
 * the bridge loads the argument filters of the policy itself (grain/bridge.c).
 *
 * Owns: the D-Bus calls and the jobs they start, the grain's environment file and root link, and a cache
 * per grain of what systemd last said about its service (ActiveState, MemoryCurrent, CPUUsageNSec). Does
 * not own the grains' rows, storage or commands: front/grains.c gives a GrainUnitSpec it computed,
 * connects to the socket itself, and is told when a first start ran. Nor the units: their files are the
 * sysadmin's to read, their instances systemd's, which outlive granaryd. Logs: one line per failed call,
 * job or write, with the grain id. State diagram at the top of grains-systemd.c.
 *
 * The template's SystemCallFilter= is the policy's list as grains_systemd_syscall_filter() makes it,
 * written into units/granary-grain@.service by the build (grain-unit.c); a test compares the two word for
 * word.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "basic/macro.h"
#include "front/grains.h"
#include "grain/policy.h"
#include "grain/sandbox.h"

#define GRAINS_SYSTEMD_UNIT_PREFIX "granary-grain@"
/* Where the templates look (units/granary-grain@.socket, granary-grain@.service.in): the systemd backend
 * runs only with this layout. */
#define GRAINS_SYSTEMD_GRAINS_DIR "/var/lib/granary/grains"
#define GRAINS_SYSTEMD_SOCKETS_DIR "/run/granary/grains"
/* In each grain's directory: what its service reads at its next start. */
#define GRAINS_SYSTEMD_ENVIRONMENT_FILE "environment"
/* A symbolic link to the package's tree, and the grain's root directory (grains_systemd_write_start()). */
#define GRAINS_SYSTEMD_PACKAGE_LINK "package"
#define GRAINS_SYSTEMD_ROOT_DIR "root"
/* Where the package is bound in the root, read-only; its top-level entries link into it. */
#define GRAINS_SYSTEMD_PACKAGE_MOUNT ".granary-package"
/* The command line, escaped (grains_systemd_argv_escape()), for the bridge's --granary-exec mode. */
#define GRAINS_SYSTEMD_ARGV_ENV "GRANARY_GRAIN_ARGV"
#define GRAINS_SYSTEMD_SLICE "granary-grains.slice"
/* Every D-Bus call has this deadline (STYLE.md: nothing waits without one). */
#define GRAINS_SYSTEMD_CALL_TIMEOUT_USEC (25u * 1000u * 1000u)
/* What the bridge reads to load the policy's seccomp filter itself (grain/bridge.c), set to "1". */
#define GRAINS_SYSTEMD_SECCOMP_NAME "GRANARY_GRAIN_SECCOMP"
/* The command's environment, escaped as a command line is (grains_systemd_argv_escape()), one word per
 * NAME=value: only --granary-exec unpacks it, so that no other command of the unit (ExecStopPost= runs one as
 * root) is run in an environment the package chose. */
#define GRAINS_SYSTEMD_ENV_ENV "GRANARY_GRAIN_ENV"
/* Linux's default SOMAXCONN: how many connections may wait while a grain wakes. */
#define GRAINS_SYSTEMD_BACKLOG 4096u

/* "granary-grain@<id>.<suffix>" (suffix "socket" or "service"); -EINVAL for an id outside [A-Za-z0-9_-]
 * (unit names are built only from our own alphabet, SECURITY.md). */
int grains_systemd_unit_name(const char *id, const char *suffix, char **ret);

/* The SystemCallFilter= allow list for a policy: the calls it allows, those it filters by argument (the
 * bridge's layer narrows them), and "seccomp" (the bridge loads its layer with it; that layer then denies
 * it). Calls answered by an "errno" rule are left out: systemd's layer answers them ENOSYS and the
 * bridge's, installed later, gives the policy's errno (the kernel returns the newer filter's errno when
 * both say ERRNO), and listing them would count as allowing @privileged, @mount, … in `systemd-analyze
 * security`. Calls of systemd's @resources group are left out too (see grains-systemd.c). Sorted, no
 * duplicates, NULL-terminated. Names this build's libseccomp does not know are left out too: systemd reads
 * the list with that library. The build writes the list into the template (grain-unit.c). */
int grains_systemd_syscall_filter(const Policy *p, char ***ret);

typedef struct GrainsSystemdConfig {
        const char *sockets_dir;  /* absolute: ListenStream=<sockets_dir>/<id>.sock */
        const char *bridge_path;  /* bound at /sandstorm-http-bridge */
        uid_t uid;                /* SocketUser=, User=: granaryd's */
        gid_t gid;
        uint64_t idle_usec;       /* as GrainsConfig */
        uint64_t stop_timeout_usec;
        SandboxLimits limits;
        const Policy *policy;
} GrainsSystemdConfig;

/* What one start of a grain runs; computed by front/grains.c. */
typedef struct GrainUnitSpec {
        const char *id;
        const char *package_id;
        const char *package_dir;  /* absolute: RootDirectory= */
        const char *var_dir;      /* absolute: bound at /var */
        const char *grain_dir;    /* absolute: the grain's directory (environment, root) */
        char *const *argv;        /* argv[0] absolute inside the package */
        char *const *envp;        /* the manifest's environment */
        bool first;               /* argv is the first start's action */
} GrainUnitSpec;

/* argv as one word list for GRANARY_GRAIN_ARGV (and an environment for GRANARY_GRAIN_ENV): the arguments
 * separated by one space, each with every byte outside [A-Za-z0-9/._+:=,@%-] as \xHH, an empty one as ''.
 * grain/bridge.c reads it back. */
int grains_systemd_argv_escape(char *const *argv, char **ret);
/* The environment file of a start: a first line "# granary grain <id>: package <package-id>[, first
 * start]" (what a later look tells the start from), then three KEY="value" lines (systemd's
 * EnvironmentFile= syntax, \ " ` $ escaped): GRANARY_GRAIN_SECCOMP="1"; GRANARY_GRAIN_ENV, s->envp without
 * the three names; GRANARY_GRAIN_ARGV. -EINVAL for an entry without '=' or with a name that is not a
 * shell variable's. */
int grains_systemd_environment(const GrainUnitSpec *s, char **ret);
/* In s->grain_dir: writes the environment file (0600), points the package link at s->package_dir and makes
 * the root directory match the package's top level, each atomically (a temporary beside it, then a rename
 * or an exchange). s->package_dir must exist. 0 if all were already so, 1 if something changed. */
int grains_systemd_write_start(const GrainUnitSpec *s);
/* Each grain runs as a dynamic user of its own (units/granary-grain@.service.in) with this group added: its
 * storage, var_dir, belongs to the group, setgid (what the app makes there does too) and group-writable, and
 * granaryd, a member, reaches it. Sets the group and mode of var_dir (never followed if a link) if they
 * differ. */
#define GRAINS_SYSTEMD_STORAGE_GROUP "granary-grain"
#define GRAINS_SYSTEMD_STORAGE_MODE 02770
int grains_systemd_storage_prepare(const char *var_dir, gid_t gid);

typedef struct GrainsSystemd GrainsSystemd;

typedef struct GrainsSystemdCallbacks {
        /* The spec of the grain's next start (a fresh one each call; done with grain_unit_spec_free). */
        int (*spec)(const char *id, GrainUnitSpec **ret, void *userdata);
        /* The service ran with a spec whose `first` was set: the grain's first start is done. */
        void (*first_started)(const char *id, void *userdata);
        void *userdata;
} GrainsSystemdCallbacks;

GrainUnitSpec *grain_unit_spec_free(GrainUnitSpec *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(GrainUnitSpec *, grain_unit_spec_free);

/* Attaches to bus (already attached to e, or attached here) and subscribes to the manager's signals. The
 * strings of c are copied; c->policy must outlive the result. */
int grains_systemd_new(sd_event *e, sd_bus *bus, const GrainsSystemdConfig *c, const GrainsSystemdCallbacks *cb,
                       GrainsSystemd **ret);
GrainsSystemd *grains_systemd_free(GrainsSystemd *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(GrainsSystemd *, grains_systemd_free);

/* Makes sure the grain's socket listens, asynchronously: its service's state first (GetAll), then, if that
 * is stopped, the files of its next start, then StartUnit of the socket. 0 when it is known to listen; 1
 * when a call or job is under way (the caller answers -EAGAIN meanwhile). */
int grains_systemd_ensure(GrainsSystemd *s, const char *id);
/* StopUnit on the service; the socket stays, so the next connection starts it again. */
int grains_systemd_stop(GrainsSystemd *s, const char *id);
/* StopUnit on both units and forgets the grain (a deleted grain; its directory is the caller's). */
int grains_systemd_remove(GrainsSystemd *s, const char *id);
/* What systemd last said (asks again, asynchronously, for the next call): the state, the memory the
 * service's cgroup holds and its CPU time in nanoseconds (0 when stopped or unknown). */
int grains_systemd_info(GrainsSystemd *s, const char *id, GrainState *ret_state, uint64_t *ret_memory,
                        uint64_t *ret_cpu_nsec);
/* The last max bytes of the service's journal, its messages one a line, oldest first. */
int grains_systemd_log_tail(const char *id, size_t max, char **ret, size_t *ret_size);

/* The caller could not connect to the grain's socket although the units were thought to listen (someone
 * stopped the socket unit): the next grains_systemd_ensure() looks again. */
void grains_systemd_lost(GrainsSystemd *s, const char *id);

/* The system bus, when systemd is PID 1 (sd_booted()) and answers on it (one blocking Ping, with a 5 s
 * deadline: for startup only). -EOPNOTSUPP when systemd is not PID 1; the bus's errno otherwise. */
int grains_systemd_open_bus(sd_bus **ret);
