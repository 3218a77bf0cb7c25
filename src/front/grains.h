/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * front/grains.h — the grain manager of granaryd with the direct backend (DESIGN.md "Grains", spec §6.1,
 * §6.6–6.7): creating and deleting grains, their storage and console, their listening sockets, and
 * starting each grain's sandbox when a connection waits on its socket (socket activation, DESIGN.md "A
 * request, end to end" 5).
 *
 * Owns, for every grain:
 *   <grains_dir>/                 0700, granaryd's user
 *   <grains_dir>/<id>/            0700, granaryd's user: the grain's directory
 *   <grains_dir>/<id>/var/        0700, the app's uid:gid: the app's /var
 *   <grains_dir>/<id>/log, log.1  the console (the bridge's and the app's stdout and stderr), rotated
 *   <grains_dir>/<id>/new-action  until the first start: the action whose command that start runs
 *   <grains_dir>/.deleted-<id>/   a deleted grain's directory on its way out (removed by a worker)
 *   <sockets_dir>/<id>.sock       the grain's listening socket, made the first time it is needed
 * and the sandbox processes (src/grain/sandbox.h) it starts, with their pidfds and event sources. Does not
 * own the rows (store/store.h: this module adds and deletes them but the store keeps the facts), the
 * package trees (front/apps.h), sessions, identity headers or HTTP (the proxy connects through
 * grains_connect() and answers for itself). Logs: one line per start failure, crash and hold, with the
 * grain id. The state diagram is at the top of grains.c.
 *
 * The sandbox gets var_dir and the package's tree as paths and opens them with granaryd's credentials
 * before it takes the app's (grain/sandbox.c), so no directory above them needs to let the app's uid
 * pass; var/ belongs to the app's uid. Apps never see these paths: each sandbox has only its own var/
 * bound at /var.
 *
 * The caller must have blocked SIGCHLD before creating the sd_event (child sources need it). Grains are
 * loaded from the store lazily, the first time one is named; a grain that was never connected to since
 * granaryd started costs nothing.
 *
 * With GrainsConfig.bus set, the systemd backend runs the grains instead (front/grains-systemd.h): this
 * module still owns the rows, the storage and which command a start runs, and asks for each grain's pair
 * of units — for every grain when it starts, and for a new grain when it is created — without waiting for
 * them. The socket and the sandbox then belong to systemd: the first connection wakes the service, the
 * bridge's idle exit stops it, and the units outlive granaryd. grains_connect() answers -EAGAIN (503) in
 * the short window before a grain's socket unit first listens; grains_stop_all() leaves them running; the
 * console is the service's journal. The contract of every function below is otherwise the same.
 */

#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "basic/macro.h"
#include "grain/sandbox.h"
#include "store/store.h"

/* A grain that exits nonzero within GRAINS_CRASH_WINDOW_USEC of its start GRAINS_CRASH_MAX times in a row
 * is held stopped for GRAINS_HOLD_USEC: connections that arrive meanwhile are closed at once (the proxy
 * answers 502), instead of starting a sandbox that fails again. The next connection after the hold starts
 * it afresh. */
#define GRAINS_CRASH_WINDOW_USEC (1000u * 1000u)
#define GRAINS_CRASH_MAX 5u
#define GRAINS_HOLD_USEC (5u * 1000u * 1000u)
/* While a grain runs, its console is checked for rotation this often (spec §6.6: every 5 minutes), and on
 * every start. */
#define GRAINS_LOG_CHECK_USEC (5u * 60u * 1000u * 1000u)
/* The default of GrainsConfig.log_max (spec §6.6). */
#define GRAINS_LOG_MAX_DEFAULT (512u * 1024u)
/* How long a worker may take to delete a grain's storage. */
#define GRAINS_REMOVE_TIMEOUT_USEC (10u * 60u * 1000u * 1000u)
/* idle_usec meaning "never stop when idle". */
#define GRAINS_IDLE_NEVER UINT64_MAX

typedef struct Grains Grains;

typedef enum GrainState {
        GRAIN_STOPPED,
        GRAIN_RUNNING,
        GRAIN_STOPPING,
        _GRAIN_STATE_MAX,
        _GRAIN_STATE_INVALID = -EINVAL,
} GrainState;

/* "stopped", "running", "stopping"; NULL for anything else. */
const char *grain_state_to_string(GrainState s) _const_;

typedef struct GrainsConfig {
        const char *grains_dir;   /* <id>/var (the app's /var), <id>/log and <id>/log.1 (the console) */
        const char *packages_dir; /* apps.h's packages/<package-id>/ trees */
        const char *sockets_dir;  /* <id>.sock, the grain's listening socket; the directory is 0700 */
        const char *bridge_path;  /* granary-grain */
        uint64_t idle_usec;       /* the bridge's idle exit (GRANARY_GRAIN_IDLE_SEC, whole seconds rounded
                                   * up); 0: the bridge's default; GRAINS_IDLE_NEVER: never */
        uint64_t stop_timeout_usec; /* SIGTERM → SIGKILL; 0: 10 s */
        uint64_t log_max;         /* rotate the console at this size (spec §6.6: 512 KiB); 0: the default */
        SandboxLimits limits;     /* src/grain/sandbox.h */
        uid_t uid;                /* what the app's 1000 maps to (sandbox_default_ids()) */
        gid_t gid;
        sd_bus *bus;              /* NULL: the direct backend; else the system bus, and grains are transient
                                   * systemd units (front/grains-systemd.h) */
} GrainsConfig;

/* Makes grains_dir and sockets_dir when missing and sets their modes (grains_dir 0710 with the app's gid,
 * sockets_dir 0700), parses the builtin sandbox policy (-EINVAL, logged, if it does not parse), and starts
 * removing what deleted grains left behind. The strings of c are copied. */
int grains_new(sd_event *e, Store *store, const GrainsConfig *c, Grains **ret);
/* Kills every running grain (SIGKILL, and reaps it) and frees. Accepts NULL, returns NULL. */
Grains *grains_free(Grains *g);
DEFINE_TRIVIAL_CLEANUP_FUNC(Grains *, grains_free);
/* SIGTERM to every running grain, SIGKILL after stop_timeout_usec; done() once none runs (from the event
 * loop, never from within this call). Grains that stop are not started again by waiting connections
 * afterwards: this is for shutting down. */
int grains_stop_all(Grains *g, void (*done)(void *userdata), void *userdata);

/* A new grain of the app's latest package: the row (store_grain_add, which also makes the owner's identity),
 * its directory and empty var/. Its first start runs action `action`'s command; later starts the
 * continueCommand (spec §6.1). -ENOENT unknown app or owner, -ENXIO app with no package, -ERANGE no such
 * action, -EBADMSG a manifest whose command cannot run, -EINVAL a title the store refuses. An app with an
 * override (grains_set_hooks()) gets a grain of its development package. */
int grains_create(Grains *g, int64_t owner_id, const char *app_id, size_t action, const char *title,
                  char **ret_id);
/* Deletes the row at once (its identities and tokens with it), tells the grains_on_delete() listener, drops
 * the listening socket (connections waiting on it are closed), stops the sandbox if it runs, and once it
 * has stopped removes the storage in a worker process. -ENOENT. */
int grains_delete(Grains *g, const char *id);
/* SIGTERM, SIGKILL after stop_timeout_usec. 0 also when it is not running. A connection that arrives
 * afterwards starts it again. -ENOENT. */
int grains_stop(Grains *g, const char *id);
/* The grain's state; -ENOENT (as a GrainState) for an unknown grain. */
GrainState grains_state(Grains *g, const char *id);
/* The state and, while it runs, the resident memory of its sandbox's processes in bytes (0 when stopped).
 * -ENOENT. */
int grains_info(Grains *g, const char *id, GrainState *ret_state, uint64_t *ret_memory);
/* The same, and the CPU time the grain used, in nanoseconds: under systemd the service's CPUUsageNSec since
 * its last start (0 under the direct backend, which does not count it). Under systemd the values are what
 * systemd said at the last asking; each call asks again, for the next one. */
int grains_info_cpu(Grains *g, const char *id, GrainState *ret_state, uint64_t *ret_memory,
                    uint64_t *ret_cpu_nsec);

/* A non-blocking AF_UNIX stream socket connected (or connecting) to the grain's listening socket. A
 * stopped grain starts because of it: once the connection waits in the socket's backlog. -ENOENT unknown
 * grain, -ESTALE its package tree is missing, -ENOPKG its app has no installed package (it ran a
 * development one, gone now), -EAGAIN its backlog is full; the caller (the proxy) answers 503 for these. A grain that then fails to start, or crashes, closes the connection before any byte of a
 * response (502). */
int grains_connect(Grains *g, const char *id, int *ret_fd);

/* The last max bytes of the console (log.1 then log); *ret is NUL-terminated after *ret_size bytes.
 * -ENOENT unknown grain (a grain that never ran has an empty console). */
int grains_log_tail(Grains *g, const char *id, size_t max, char **ret, size_t *ret_size);
/* viewInfo.permissions names of the package the grain runs (or will run at its next start): the owner
 * holds them all. A NULL-terminated strv, empty when the package defines none. -ENOENT, -EBADMSG a bridge
 * config that cannot be read. */
int grains_permissions(Grains *g, const char *id, char ***ret_names);
/* Called when a grain is deleted (so the UI can drop its sessions); at most one listener: a second call
 * replaces the first, cb NULL removes it. */
void grains_on_delete(Grains *g, void (*cb)(const char *id, void *userdata), void *userdata);

/* The app id of the grain (the app of the package it ran last, or will run first). -ENOENT. */
int grains_app_id(Grains *g, const char *id, char **ret_app_id);

/* ---- development apps (spk dev, front/devapps.h) ----
 *
 * While an app is in development its development package overrides its installed ones for every grain of
 * it: a grain's next start moves it to that package (its row: the manifest and bridge config given) and
 * runs it from root, under either backend; grains_create() makes new grains of it. Once the override is
 * gone, a grain on a development package moves at its next start to its app's latest installed package,
 * whatever its version, or, when there is none, does not start: grains_connect() answers -ENOPKG (the
 * proxy answers 503 "app <id> is not installed") and the log says so. A development package no grain
 * uses any more, and no override names, goes with its row (store_package_release_dev()) when a grain
 * leaves it (moves or is deleted). */

typedef struct GrainsOverride {
        const char *package_id; /* STORE_DEV_PACKAGE_PREFIX…: a row in the store */
        const char *root;       /* absolute path of its tree (a FUSE mount, say), opened with granaryd's
                                 * credentials */
} GrainsOverride;

typedef struct GrainsHooks {
        /* The override of app_id, or NULL. What it returns is borrowed until the hook is called again. */
        const GrainsOverride *(*override)(const char *app_id, void *userdata);
        /* Direct backend: bytes a grain started on an override wrote to its console (they go to its log
         * file too), in order, as they come; n == 0: the console ended (its sandbox exited). */
        void (*console)(const char *grain_id, const char *app_id, const void *data, size_t n, void *userdata);
        void *userdata;
} GrainsHooks;

/* hooks NULL: none (no override). Copied. */
void grains_set_hooks(Grains *g, const GrainsHooks *hooks);
/* Stops every grain of app_id that runs (or, under systemd, may run): for when its override starts or ends,
 * so that its next start runs the right tree. A grain starting now is stopped once it started. Returns the
 * first error, after trying every grain. */
int grains_stop_app(Grains *g, const char *app_id);
