/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * One grain (a Grain exists once the grain was named since granaryd started):
 *
 *   STOPPED, watching its listening socket
 *      --a connection waits (on_listen → grain_start)--> RUNNING, not watching (the bridge accepts)
 *      --held (on_listen)--> STOPPED: every waiting connection accepted and closed
 *   RUNNING --grains_stop(), grains_delete(), grains_stop_all(): SIGTERM (grain_stop)--> STOPPING
 *   STOPPING --stop_timeout_usec (on_kill_timer): SIGKILL--> STOPPING
 *   RUNNING or STOPPING --the sandbox exits (on_sandbox_exit)-->
 *        status 0, or a stop we asked for: STOPPED; a connection already waiting starts it again at once,
 *             else the watch is re-armed
 *        anything else (a crash, an app that never came up): every waiting connection accepted and closed
 *             (the proxy answers 502), one log line, STOPPED watching (grain_failed)
 *        deleted: the storage goes (grain_remove_storage), the Grain is freed
 *   grain_start() failing (no package tree, a bad manifest, the sandbox refused) counts as a crash at once.
 *
 * Holding: GRAINS_CRASH_MAX crashes in a row, each within GRAINS_CRASH_WINDOW_USEC of its start, hold the
 * grain for GRAINS_HOLD_USEC (on_hold_timer ends it): connections are closed as they come instead of
 * starting a sandbox that fails again. A clean exit, or a crash after a longer run, resets the count.
 *
 * (1) a sandbox runs only in RUNNING or STOPPING, and at most one per grain; n_running counts them
 * (2) the listening socket is watched only in STOPPED, and not at all after grains_stop_all(), so a
 *     connection starts at most one sandbox and a crash loop never spins (waiting connections are closed)
 * (3) a deleted grain has no row, is not in the tree, and keeps only its sandbox until that exits
 * (4) nothing here walks a tree or sleeps on the loop: storage is removed by a worker process, a console
 *     rotation copies at most log_max bytes
 *
 * Under the systemd backend (g->systemd set) a Grain never leaves STOPPED and never listens: systemd holds
 * the socket and runs the sandbox (grains-systemd.c has that state diagram), and the API functions below
 * hand their grain to it after the checks they share with the direct backend.
 */

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <search.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/string-util.h"
#include "front/grains-systemd.h"
#include "front/grains.h"
#include "front/manifest.h"
#include "front/worker.h"
#include "grain/policy.h"

#define NEW_ACTION_FILE "new-action"
#define LOG_FILE "log"
#define LOG_OLD_FILE "log.1"
#define LOG_NEW_FILE ".log.1.new"
#define VAR_DIR "var"
#define DELETED_PREFIX ".deleted-"
#define SOCKET_SUFFIX ".sock"
#define STOP_TIMEOUT_DEFAULT_USEC (10u * 1000u * 1000u)
/* Processes summed by grains_info(): a sandbox may hold many; past this the sum is partial. */
#define MEMORY_PIDS_MAX 4096u

typedef struct Grain Grain;

struct Grain {
        Grains *grains;
        Grain *prev, *next;
        char *id;
        GrainState state;
        int listen_fd;
        sd_event_source *listen_source;
        sd_event_source *child_source; /* owns the pidfd and the process: freeing it kills and reaps */
        sd_event_source *kill_timer;
        sd_event_source *hold_timer;
        sd_event_source *log_timer;
        uint64_t started;   /* CLOCK_MONOTONIC */
        uint64_t held_until; /* CLOCK_MONOTONIC; meaningful while held */
        unsigned n_fast_failures;
        bool held;
        bool stop_requested;
        bool deleted;
        /* A grain started on an override (a development package): its console is a pipe granaryd reads,
         * copying it to console_log_fd (its log) and the console hook, until EOF. */
        int console_fd;
        int console_log_fd;
        sd_event_source *console_source;
        char *console_app_id;
};

struct Grains {
        sd_event *event;
        Store *store;
        char *grains_dir, *packages_dir, *sockets_dir, *bridge_path;
        int grains_dir_fd, packages_dir_fd, sockets_dir_fd;
        uint64_t idle_usec, stop_timeout_usec, log_max;
        SandboxLimits limits;
        uid_t uid;
        gid_t gid;
        Policy *policy;

        void *tree;    /* tsearch(3) root: the Grains not deleted, by id */
        Grain *grains; /* every Grain, deleted ones still stopping included */
        unsigned n_running;

        bool stopping_all;
        void (*stop_all_done)(void *userdata);
        void *stop_all_userdata;
        sd_event_source *stop_all_defer;

        void (*on_delete)(const char *id, void *userdata);
        void *on_delete_userdata;

        GrainsHooks hooks;

        GrainsSystemd *systemd; /* the systemd backend, or NULL */
        char *grains_dir_abs, *packages_dir_abs, *sockets_dir_abs; /* systemd only: what units name */

        Worker **workers;
        size_t n_workers;
};

static const char *const grain_state_table[_GRAIN_STATE_MAX] = {
        [GRAIN_STOPPED] = "stopped",
        [GRAIN_RUNNING] = "running",
        [GRAIN_STOPPING] = "stopping",
};

const char *grain_state_to_string(GrainState s) {
        if (s < 0 || s >= _GRAIN_STATE_MAX)
                return NULL;
        return grain_state_table[s];
}

static int grain_compare(const void *a, const void *b) {
        return strcmp(((const Grain *) a)->id, ((const Grain *) b)->id);
}

/* Ids come from callers (URLs, the API): only what the store could hold ever reaches a path. */
static bool grain_id_is_valid(const char *id) {
        return store_id_is_valid(id);
}

static uint64_t now_usec(Grains *g, clockid_t clock) {
        uint64_t t = 0;

        (void) sd_event_now(g->event, clock, &t);
        return t;
}

static Grain *grain_find(Grains *g, const char *id) {
        Grain key = { .id = (char *) id };
        Grain **p = tfind(&key, &g->tree, grain_compare);

        return p ? *p : NULL;
}

static void grain_console_close(Grain *gr);

static Grain *grain_free(Grain *gr) {
        Grains *g;

        if (!gr)
                return NULL;
        g = gr->grains;
        if (!gr->deleted)
                (void) tdelete(gr, &g->tree, grain_compare);
        if (gr->prev)
                gr->prev->next = gr->next;
        else
                g->grains = gr->next;
        if (gr->next)
                gr->next->prev = gr->prev;
        if (gr->child_source) {
                /* Set to own the process: this sends SIGKILL and reaps it. */
                gr->child_source = sd_event_source_unref(gr->child_source);
                g->n_running--;
        }
        sd_event_source_disable_unref(gr->listen_source);
        sd_event_source_disable_unref(gr->kill_timer);
        sd_event_source_disable_unref(gr->hold_timer);
        sd_event_source_disable_unref(gr->log_timer);
        grain_console_close(gr);
        safe_close(gr->listen_fd);
        free(gr->id);
        free(gr);
        return NULL;
}

/* The Grain of id, made (STOPPED, nothing open) when the store knows the grain. -ENOENT otherwise. */
static int grain_get(Grains *g, const char *id, Grain **ret) {
        _cleanup_(store_grain_freep) StoreGrain *row = NULL;
        Grain *gr;
        int r;

        if (!grain_id_is_valid(id))
                return -ENOENT;
        gr = grain_find(g, id);
        if (!gr) {
                r = store_grain_get(g->store, id, &row);
                if (r < 0)
                        return r;
                gr = calloc(1, sizeof(Grain));
                if (!gr)
                        return -ENOMEM;
                gr->grains = g;
                gr->listen_fd = gr->console_fd = gr->console_log_fd = -EBADF;
                gr->state = GRAIN_STOPPED;
                gr->id = strdup(id);
                if (!gr->id || !tsearch(gr, &g->tree, grain_compare)) {
                        free(gr->id);
                        free(gr);
                        return -ENOMEM;
                }
                gr->next = g->grains;
                if (g->grains)
                        g->grains->prev = gr;
                g->grains = gr;
        }
        *ret = gr;
        return 0;
}

/* "/proc/self/fd/<dirfd>/<id>.sock": short whatever the directory's own path, as long as ids are. */
static int socket_address(Grains *g, const char *id, struct sockaddr_un *ret, socklen_t *ret_len) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int n;

        n = snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s" SOCKET_SUFFIX, g->sockets_dir_fd,
                     id);
        if (n < 0 || (size_t) n >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        *ret = sa;
        *ret_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + (size_t) n + 1);
        return 0;
}

/* Accepts and closes every connection waiting: each sees its connection close before any response. */
static void grain_drain(Grain *gr) {
        for (;;) {
                int fd = accept4(gr->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

                if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        return;
                }
                safe_close(fd);
        }
}

static bool grain_has_waiting(Grain *gr) {
        struct pollfd p = { .fd = gr->listen_fd, .events = POLLIN };

        return gr->listen_fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

static void grain_watch(Grain *gr, bool on) {
        if (gr->listen_source)
                (void) sd_event_source_set_enabled(gr->listen_source, on ? SD_EVENT_ON : SD_EVENT_OFF);
}

static int grain_start(Grain *gr);
static void grain_failed(Grain *gr, uint64_t ran_usec, const char *what, int r);

static int on_hold_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Grain *gr = userdata;

        gr->hold_timer = sd_event_source_disable_unref(gr->hold_timer);
        gr->held = false;
        gr->n_fast_failures = 0;
        return 0;
}

static int on_listen(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Grain *gr = userdata;
        int r;

        /* The timer may not have run yet in this iteration even though the hold is over. */
        if (gr->held && now_usec(gr->grains, CLOCK_MONOTONIC) >= gr->held_until)
                on_hold_timer(NULL, 0, gr);
        if (gr->held) {
                grain_drain(gr);
                return 0;
        }
        if (gr->state != GRAIN_STOPPED || gr->grains->stopping_all) {
                grain_watch(gr, false);
                return 0;
        }
        r = grain_start(gr);
        if (r < 0)
                grain_failed(gr, 0, "start", r);
        return 0;
}

/* Makes the listening socket (once) and watches it while the grain is stopped. */
static int grain_listen(Grain *gr) {
        Grains *g = gr->grains;
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *name = NULL;
        struct sockaddr_un sa;
        socklen_t len;
        int r;

        if (gr->listen_fd >= 0)
                return 0;

        r = socket_address(g, gr->id, &sa, &len);
        if (r < 0)
                return r;
        name = strjoin(gr->id, SOCKET_SUFFIX);
        if (!name)
                return -ENOMEM;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        /* A socket file left by an earlier granaryd: nobody listens on it any more. */
        if (unlinkat(g->sockets_dir_fd, name, 0) < 0 && errno != ENOENT)
                return negative_errno();
        if (bind(fd, (struct sockaddr *) &sa, len) < 0)
                return negative_errno();
        if (listen(fd, SOMAXCONN) < 0) {
                r = negative_errno();
                (void) unlinkat(g->sockets_dir_fd, name, 0);
                return r;
        }
        r = sd_event_add_io(g->event, &gr->listen_source, fd, EPOLLIN, on_listen, gr);
        if (r < 0) {
                (void) unlinkat(g->sockets_dir_fd, name, 0);
                return r;
        }
        (void) sd_event_source_set_description(gr->listen_source, "grain-listen");
        gr->listen_fd = TAKE_FD(fd);
        grain_watch(gr, gr->state == GRAIN_STOPPED && !g->stopping_all);
        return 0;
}

static void grain_unlisten(Grain *gr) {
        Grains *g = gr->grains;
        _cleanup_free_ char *name = strjoin(gr->id, SOCKET_SUFFIX);

        gr->listen_source = sd_event_source_disable_unref(gr->listen_source);
        if (gr->listen_fd >= 0 && name)
                (void) unlinkat(g->sockets_dir_fd, name, 0);
        gr->listen_fd = safe_close(gr->listen_fd);
}

/* ---- the console ---- */

/* Spec §6.6: once log reaches max, its last max bytes become log.1 and log starts again empty. Bytes the
 * grain writes between the copy and the truncation are lost, as in Sandstorm. */
static int log_rotate(int dir_fd, uint64_t max) {
        _cleanup_close_ int fd = -EBADF, out = -EBADF;
        uint8_t buf[64 * 1024];
        struct stat st;
        uint64_t off, left;

        fd = openat(dir_fd, LOG_FILE, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADF;
        if ((uint64_t) st.st_size < max)
                return 0;

        out = openat(dir_fd, LOG_NEW_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (out < 0)
                return negative_errno();
        off = (uint64_t) st.st_size - max;
        left = max;
        while (left > 0) {
                ssize_t n = pread(fd, buf, MIN(left, sizeof(buf)), (off_t) off);
                int r;

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                if (n == 0)
                        break;
                r = loop_write(out, buf, (size_t) n);
                if (r < 0)
                        return r;
                off += (uint64_t) n;
                left -= (uint64_t) n;
        }
        if (renameat(dir_fd, LOG_NEW_FILE, dir_fd, LOG_OLD_FILE) < 0)
                return negative_errno();
        if (ftruncate(fd, 0) < 0)
                return negative_errno();
        return 1;
}

static int grain_dir_open(Grains *g, const char *id) {
        int fd = openat(g->grains_dir_fd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

        return fd < 0 ? negative_errno() : fd;
}

static void grain_rotate_log(Grain *gr) {
        _cleanup_close_ int dir_fd = grain_dir_open(gr->grains, gr->id);
        int r;

        if (dir_fd < 0)
                return;
        r = log_rotate(dir_fd, gr->grains->log_max);
        if (r < 0)
                log_warning_errno(r, "Failed to rotate the console of grain %s: %m", gr->id);
}

static int on_log_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Grain *gr = userdata;

        grain_rotate_log(gr);
        (void) sd_event_source_set_time_relative(s, GRAINS_LOG_CHECK_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

/* A grain on an override: its console is read here (on_console), copied to its log and to the hook. */

static const GrainsOverride *grains_override(Grains *g, const char *app_id) {
        if (!g->hooks.override || !app_id)
                return NULL;
        return g->hooks.override(app_id, g->hooks.userdata);
}

/* Reads what is there (at most a few buffers a call, so one grain cannot hold the loop); at EOF closes. */
static int on_console(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Grain *gr = userdata;
        Grains *g = gr->grains;
        uint8_t buf[16 * 1024];

        for (int i = 0; i < 8; i++) {
                ssize_t n = read(gr->console_fd, buf, sizeof(buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                if (n <= 0) {
                        grain_console_close(gr);
                        return 0;
                }
                if (gr->console_log_fd >= 0 && loop_write(gr->console_log_fd, buf, (size_t) n) < 0)
                        gr->console_log_fd = safe_close(gr->console_log_fd);
                if (g->hooks.console)
                        g->hooks.console(gr->id, gr->console_app_id, buf, (size_t) n, g->hooks.userdata);
        }
        return 0;
}

/* Reads what is left (the writers are gone or going), tells the hook the console ended, and closes. */
static void grain_console_close(Grain *gr) {
        Grains *g = gr->grains;

        if (gr->console_fd < 0)
                return;
        gr->console_source = sd_event_source_disable_unref(gr->console_source);
        for (int i = 0; i < 64; i++) {
                uint8_t buf[16 * 1024];
                ssize_t n = read(gr->console_fd, buf, sizeof(buf));

                if (n <= 0)
                        break;
                if (gr->console_log_fd >= 0)
                        (void) loop_write(gr->console_log_fd, buf, (size_t) n);
                if (g->hooks.console)
                        g->hooks.console(gr->id, gr->console_app_id, buf, (size_t) n, g->hooks.userdata);
        }
        if (g->hooks.console)
                g->hooks.console(gr->id, gr->console_app_id, NULL, 0, g->hooks.userdata);
        gr->console_fd = safe_close(gr->console_fd);
        gr->console_log_fd = safe_close(gr->console_log_fd);
        free(gr->console_app_id);
        gr->console_app_id = NULL;
}

/* A pipe for the sandbox's console: *ret_write is the sandbox's end, the read end is watched. log_fd and
 * app_id are taken on success. */
static int grain_console_open(Grain *gr, int log_fd, const char *app_id, int *ret_write) {
        Grains *g = gr->grains;
        _cleanup_close_ int rfd = -EBADF, wfd = -EBADF;
        _cleanup_free_ char *copy = NULL;
        int p[2], r;

        grain_console_close(gr); /* an earlier run's, if its last bytes were not read yet */
        copy = strdup(app_id);
        if (!copy)
                return -ENOMEM;
        if (pipe2(p, O_CLOEXEC) < 0)
                return negative_errno();
        rfd = p[0];
        wfd = p[1];
        if (fcntl(rfd, F_SETFL, O_NONBLOCK) < 0)
                return negative_errno();
        r = sd_event_add_io(g->event, &gr->console_source, rfd, EPOLLIN, on_console, gr);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(gr->console_source, "grain-console");
        gr->console_fd = TAKE_FD(rfd);
        gr->console_log_fd = log_fd;
        gr->console_app_id = TAKE_PTR(copy);
        *ret_write = TAKE_FD(wfd);
        return 0;
}

/* ---- storage ---- */

typedef struct RemoveJob {
        int dir_fd;
        char name[STRLEN(DELETED_PREFIX) + STORE_ID_MAX + 1];
} RemoveJob;

static int remove_job_run(const void *in, size_t in_size, void **ret, size_t *ret_size) {
        const RemoveJob *job = in;

        if (in_size != sizeof(RemoveJob))
                return -EINVAL;
        *ret = NULL;
        *ret_size = 0;
        return rm_rf_at(job->dir_fd, job->name);
}

static void grains_forget_worker(Grains *g, Worker *w) {
        for (size_t i = 0; i < g->n_workers; i++)
                if (g->workers[i] == w) {
                        g->workers[i] = g->workers[--g->n_workers];
                        return;
                }
}

static void on_remove_done(Worker *w, int error, const void *result, size_t size, void *userdata) {
        Grains *g = userdata;

        grains_forget_worker(g, w);
        if (error < 0)
                log_warning_errno(error, "Failed to remove a deleted grain's storage; it is retried at the "
                                         "next start: %m");
}

/* Removes <grains_dir>/.deleted-<id>/ in a worker. When none can run now, the next grains_new() does it. */
static void grains_remove_deleted(Grains *g, const char *name) {
        RemoveJob job = { .dir_fd = g->grains_dir_fd };
        Worker **a, *w;
        int r;

        if (strlen(name) >= sizeof(job.name))
                return;
        strcpy(job.name, name);
        a = reallocarray(g->workers, g->n_workers + 1, sizeof(Worker *));
        if (!a)
                return (void) log_oom();
        g->workers = a;
        r = worker_run(g->event, remove_job_run, &job, sizeof(job), GRAINS_REMOVE_TIMEOUT_USEC,
                       on_remove_done, g, &w);
        if (r < 0)
                return (void) log_warning_errno(r, "Failed to start removing '%s': %m", name);
        g->workers[g->n_workers++] = w;
}

/* One rename on the loop, so the id is free at once and a crash leaves only a hidden name behind. */
static void grain_remove_storage(Grains *g, const char *id) {
        _cleanup_free_ char *name = strjoin(DELETED_PREFIX, id);

        if (!name)
                return (void) log_oom();
        if (renameat(g->grains_dir_fd, id, g->grains_dir_fd, name) < 0) {
                if (errno != ENOENT)
                        log_warning_errno(negative_errno(), "Failed to move grain %s's storage aside: %m",
                                          id);
                return;
        }
        grains_remove_deleted(g, name);
}

/* ---- starting and stopping ---- */

static void grains_check_stopped_all(Grains *g);

static void grain_failed(Grain *gr, uint64_t ran_usec, const char *what, int r) {
        Grains *g = gr->grains;

        grain_drain(gr);
        if (ran_usec < GRAINS_CRASH_WINDOW_USEC)
                gr->n_fast_failures++;
        else
                gr->n_fast_failures = 0;

        if (streq(what, "start"))
                log_error_errno(r, "Failed to start grain %s: %m", gr->id);
        if (gr->n_fast_failures >= GRAINS_CRASH_MAX && !gr->held) {
                log_warning("Grain %s failed %u times in a row within %u ms of starting; holding it stopped "
                            "for %u s.",
                            gr->id, gr->n_fast_failures, GRAINS_CRASH_WINDOW_USEC / 1000u,
                            GRAINS_HOLD_USEC / 1000000u);
                gr->held = true;
                gr->held_until = now_usec(g, CLOCK_MONOTONIC) + GRAINS_HOLD_USEC;
                gr->hold_timer = sd_event_source_disable_unref(gr->hold_timer);
                r = sd_event_add_time_relative(g->event, &gr->hold_timer, CLOCK_MONOTONIC, GRAINS_HOLD_USEC,
                                               0, on_hold_timer, gr);
                if (r < 0) {
                        /* Without a timer there is no end to the hold: do without one. */
                        log_warning_errno(r, "Failed to hold grain %s: %m", gr->id);
                        gr->held = false;
                }
        }
        grain_watch(gr, !g->stopping_all);
}

static int on_sandbox_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Grain *gr = userdata;
        Grains *g = gr->grains;
        bool clean = si->si_code == CLD_EXITED && si->si_status == 0;
        uint64_t ran = now_usec(g, CLOCK_MONOTONIC) - gr->started;
        int r;

        /* sd-event reaps the process once this returns; the source goes with our reference now. */
        gr->child_source = sd_event_source_unref(gr->child_source);
        gr->kill_timer = sd_event_source_disable_unref(gr->kill_timer);
        gr->log_timer = sd_event_source_disable_unref(gr->log_timer);
        g->n_running--;
        gr->state = GRAIN_STOPPED;

        if (gr->deleted) {
                grain_remove_storage(g, gr->id);
                grain_free(gr);
                grains_check_stopped_all(g);
                return 0;
        }

        if (clean || gr->stop_requested) {
                gr->stop_requested = false;
                gr->n_fast_failures = 0;
                if (g->stopping_all)
                        grains_check_stopped_all(g);
                else if (grain_has_waiting(gr)) {
                        r = grain_start(gr);
                        if (r < 0)
                                grain_failed(gr, 0, "start", r);
                } else
                        grain_watch(gr, true);
                return 0;
        }

        if (si->si_code == CLD_EXITED)
                log_error("Grain %s exited with status %i after %" PRIu64 " ms; closing the connections that "
                          "waited for it.",
                          gr->id, si->si_status, ran / 1000u);
        else
                log_error("Grain %s was killed by signal %i (%s) after %" PRIu64 " ms; closing the "
                          "connections that waited for it.",
                          gr->id, si->si_status, strsignal(si->si_status), ran / 1000u);
        grain_failed(gr, ran, "exit", 0);
        grains_check_stopped_all(g);
        return 0;
}

static int on_kill_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Grain *gr = userdata;

        gr->kill_timer = sd_event_source_disable_unref(gr->kill_timer);
        if (gr->child_source) {
                log_warning("Grain %s did not stop within %" PRIu64 " ms; killing it.", gr->id,
                            gr->grains->stop_timeout_usec / 1000u);
                (void) sd_event_source_send_child_signal(gr->child_source, SIGKILL, NULL, 0);
        }
        return 0;
}

static int grain_stop(Grain *gr) {
        Grains *g = gr->grains;
        int r;

        if (gr->state != GRAIN_RUNNING)
                return 0;
        gr->stop_requested = true;
        r = sd_event_source_send_child_signal(gr->child_source, SIGTERM, NULL, 0);
        if (r < 0)
                return r;
        gr->state = GRAIN_STOPPING;
        r = sd_event_add_time_relative(g->event, &gr->kill_timer, CLOCK_MONOTONIC, g->stop_timeout_usec, 0,
                                       on_kill_timer, gr);
        if (r < 0)
                (void) sd_event_source_send_child_signal(gr->child_source, SIGKILL, NULL, 0);
        return 0;
}

/* The package the grain runs at its next start: its app's override while there is one (front/devapps.h);
 * else, for a grain on a development package, its app's latest installed package (-ENOPKG when none); else
 * the app's latest when that is newer than the grain's (spec: grains move to an upgrade at their next
 * start), else its own. *ret_upgrade: the grain moves to it. */
static int grain_package(Grains *g, const StoreGrain *row, StorePackage **ret, bool *ret_upgrade) {
        _cleanup_(store_package_freep) StorePackage *cur = NULL, *latest = NULL;
        _cleanup_(store_app_freep) StoreApp *app = NULL;
        const GrainsOverride *ov;
        int r;

        r = store_package_get(g->store, row->package_id, &cur);
        if (r < 0)
                return r;
        ov = grains_override(g, cur->app_id);
        if (ov && !streq(ov->package_id, cur->id)) {
                r = store_package_get(g->store, ov->package_id, &latest);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(latest);
                *ret_upgrade = true;
                return 0;
        }
        if (ov) {
                *ret = TAKE_PTR(cur);
                *ret_upgrade = false;
                return 0;
        }
        r = store_app_get(g->store, cur->app_id, &app);
        if (r < 0)
                return r;
        if (store_package_id_is_dev(cur->id)) {
                if (!app->latest_package_id)
                        return -ENOPKG;
                r = store_package_get(g->store, app->latest_package_id, &latest);
                if (r == -ENOENT)
                        return -ENOPKG;
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(latest);
                *ret_upgrade = true;
                return 0;
        }
        if (app->latest_package_id && !streq(app->latest_package_id, cur->id) &&
            store_package_get(g->store, app->latest_package_id, &latest) >= 0 &&
            latest->app_version > cur->app_version) {
                *ret = TAKE_PTR(latest);
                *ret_upgrade = true;
                return 0;
        }
        *ret = TAKE_PTR(cur);
        *ret_upgrade = false;
        return 0;
}

/* The override whose package pkg is, or NULL. */
static const GrainsOverride *package_override(Grains *g, const StorePackage *pkg) {
        const GrainsOverride *ov = grains_override(g, pkg->app_id);

        return ov && streq(ov->package_id, pkg->id) ? ov : NULL;
}

static int package_tree_exists(Grains *g, const StorePackage *pkg) {
        const GrainsOverride *ov = package_override(g, pkg);
        struct stat st;

        if (ov) {
                if (stat(ov->root, &st) < 0)
                        return errno == ENOENT || errno == ENOTCONN ? -ESTALE : negative_errno();
                return S_ISDIR(st.st_mode) ? 0 : -ESTALE;
        }
        if (!grain_id_is_valid(pkg->id) || store_package_id_is_dev(pkg->id))
                return -ESTALE;
        if (fstatat(g->packages_dir_fd, pkg->id, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? -ESTALE : negative_errno();
        return S_ISDIR(st.st_mode) ? 0 : -ESTALE;
}

/* The tree a start of pkg runs: an override's root, else packages_dir/<id> (base: the packages directory,
 * as the backend names it). */
static char *package_tree_path(Grains *g, const char *base, const StorePackage *pkg) {
        const GrainsOverride *ov = package_override(g, pkg);

        return ov ? strdup(ov->root) : path_join(base, pkg->id);
}

/* After a grain left the development package package_id (moved, or deleted): the package goes when nothing
 * uses it any more. */
static void grains_release_package(Grains *g, const char *app_id, const char *package_id) {
        const GrainsOverride *ov = grains_override(g, app_id);
        int r;

        if (!store_package_id_is_dev(package_id) || (ov && streq(ov->package_id, package_id)))
                return;
        r = store_package_release_dev(g->store, package_id);
        if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "Failed to remove development package %s: %m", package_id);
}

/* The command of this start: the action recorded at creation for the first one, the continueCommand
 * after. 1 when it was the action's (the record goes once the sandbox runs). */
static int grain_command(Grain *gr, int dir_fd, const StorePackage *pkg, ManifestCommand *ret) {
        _cleanup_free_ char *text = NULL;
        uint64_t action;
        size_t n;
        int r;

        r = read_full_file_at(dir_fd, NEW_ACTION_FILE, 64, &text, &n);
        if (r == -ENOENT)
                return manifest_continue_command(pkg->manifest, pkg->manifest_size, ret);
        if (r < 0)
                return r;
        if (n > 0 && text[n - 1] == '\n')
                text[n - 1] = 0;
        r = parse_uint64(text, SIZE_MAX, &action);
        if (r < 0)
                return -EBADMSG;
        r = manifest_action_command(pkg->manifest, pkg->manifest_size, (size_t) action, ret);
        if (r == -ERANGE) {
                /* An upgrade before the first start dropped that action: the grain starts as any other. */
                log_notice("Grain %s's package has no action %" PRIu64 "; starting it with continueCommand.",
                           gr->id, action);
                return manifest_continue_command(pkg->manifest, pkg->manifest_size, ret);
        }
        return r < 0 ? r : 1;
}

static int grain_environment(Grains *g, char **app_env, char ***ret) {
        _cleanup_strv_free_ char **env = NULL;
        char buf[64];
        int r;

        /* Both are ours to set: a manifest cannot change the idle time or ask for a second seccomp layer. */
        STRV_FOREACH(e, app_env)
                if (!startswith(*e, "GRANARY_GRAIN_IDLE_SEC=") && !startswith(*e, "GRANARY_GRAIN_SECCOMP=")) {
                        r = strv_extend(&env, *e);
                        if (r < 0)
                                return r;
                }
        /* The bridge reads its idle time from its environment (grain/bridge.c). */
        if (g->idle_usec != 0) {
                uint64_t sec = g->idle_usec == GRAINS_IDLE_NEVER ? 0 : (g->idle_usec + 999999u) / 1000000u;

                (void) snprintf(buf, sizeof(buf), "GRANARY_GRAIN_IDLE_SEC=%" PRIu64, sec);
                r = strv_extend(&env, buf);
                if (r < 0)
                        return r;
        }
        if (!env) {
                env = calloc(1, sizeof(char *));
                if (!env)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(env);
        return 0;
}

/* The grain's row and the package its next start runs (*ret_upgrade: a newer one than the row's), whose
 * tree must be on disk: -ESTALE otherwise. */
static int grain_runnable(Grains *g, const char *id, StoreGrain **ret_row, StorePackage **ret_pkg,
                          bool *ret_upgrade) {
        _cleanup_(store_grain_freep) StoreGrain *row = NULL;
        _cleanup_(store_package_freep) StorePackage *pkg = NULL;
        bool upgrade;
        int r;

        r = store_grain_get(g->store, id, &row);
        if (r < 0)
                return r;
        r = grain_package(g, row, &pkg, &upgrade);
        if (r == -ENOPKG)
                log_notice("Grain %s cannot start: app %s is not installed.", id, row->app_id);
        if (r < 0)
                return r;
        r = package_tree_exists(g, pkg);
        if (r < 0)
                return r;
        *ret_row = TAKE_PTR(row);
        *ret_pkg = TAKE_PTR(pkg);
        *ret_upgrade = upgrade;
        return 0;
}

/* What the grain's next start runs, under either backend: its package (the grain moves to its app's newest
 * one first: "grains move to it at their next start"), its directory, the command (the chosen action's on
 * a first start, *ret_first, else continueCommand) and the environment. */
static int grain_prepare(Grain *gr, StorePackage **ret_pkg, int *ret_dir_fd, ManifestCommand *ret_cmd,
                         char ***ret_env, bool *ret_first) {
        Grains *g = gr->grains;
        _cleanup_(store_grain_freep) StoreGrain *row = NULL;
        _cleanup_(store_package_freep) StorePackage *pkg = NULL;
        _cleanup_(manifest_command_done) ManifestCommand cmd = {};
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        bool upgrade, first;
        int r;

        r = grain_runnable(g, gr->id, &row, &pkg, &upgrade);
        if (r < 0)
                return r;
        if (upgrade) {
                r = store_grain_set_package(g->store, gr->id, pkg->id);
                if (r < 0)
                        return r;
                log_info("Grain %s moves to package %s (version %" PRIu32 ").", gr->id, pkg->id,
                         pkg->app_version);
                grains_release_package(g, row->app_id, row->package_id);
        }
        dir_fd = grain_dir_open(g, gr->id);
        if (dir_fd < 0)
                return dir_fd;
        r = grain_command(gr, dir_fd, pkg, &cmd);
        if (r < 0)
                return r;
        first = r > 0;
        r = grain_environment(g, cmd.environ, &env);
        if (r < 0)
                return r;

        *ret_pkg = TAKE_PTR(pkg);
        *ret_dir_fd = TAKE_FD(dir_fd);
        *ret_cmd = cmd;
        cmd = (ManifestCommand) {};
        *ret_env = TAKE_PTR(env);
        *ret_first = first;
        return 0;
}

static int grain_start(Grain *gr) {
        Grains *g = gr->grains;
        _cleanup_(store_package_freep) StorePackage *pkg = NULL;
        _cleanup_(manifest_command_done) ManifestCommand cmd = {};
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_free_ char *package_dir = NULL, *var_dir = NULL;
        _cleanup_close_ int dir_fd = -EBADF, log_fd = -EBADF, pidfd = -EBADF, console_fd = -EBADF;
        sd_event_source *child = NULL;
        bool first;
        pid_t pid;
        int r;

        assert(gr->state == GRAIN_STOPPED);

        r = grain_prepare(gr, &pkg, &dir_fd, &cmd, &env, &first);
        if (r < 0)
                return r;

        r = log_rotate(dir_fd, g->log_max);
        if (r < 0)
                log_warning_errno(r, "Failed to rotate the console of grain %s: %m", gr->id);
        log_fd = openat(dir_fd, LOG_FILE, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (log_fd < 0)
                return negative_errno();

        package_dir = package_tree_path(g, g->packages_dir, pkg);
        var_dir = strjoin(g->grains_dir, "/", gr->id, "/" VAR_DIR);
        if (!package_dir || !var_dir)
                return -ENOMEM;
        if (package_override(g, pkg)) {
                /* In development: the console goes through us, to the log and to spk dev. */
                int wfd;

                r = grain_console_open(gr, log_fd, pkg->app_id, &wfd);
                if (r < 0)
                        return r;
                TAKE_FD(log_fd);
                console_fd = wfd;
        }

        SandboxConfig c = {
                .package_dir = package_dir,
                .var_dir = var_dir,
                .bridge_path = g->bridge_path,
                .policy = g->policy,
                .argv = cmd.argv,
                .envp = env,
                .listen_fd = gr->listen_fd,
                .log_fd = console_fd >= 0 ? console_fd : log_fd,
                .host_uid = g->uid,
                .host_gid = g->gid,
                .cgroup_dir = NULL,
                .limits = g->limits,
        };
        r = sandbox_spawn(&c, &pid, &pidfd);
        if (r < 0) {
                console_fd = safe_close(console_fd);
                grain_console_close(gr);
                return r;
        }
        console_fd = safe_close(console_fd); /* the sandbox's now: EOF once it is gone */

        r = sd_event_add_child_pidfd(g->event, &child, pidfd, WEXITED, on_sandbox_exit, gr);
        if (r < 0) {
                /* Nothing watches it: it must not run. */
                siginfo_t si = {};

                (void) kill(pid, SIGKILL);
                (void) waitid(P_PIDFD, (id_t) pidfd, &si, WEXITED);
                return r;
        }
        TAKE_FD(pidfd);
        (void) sd_event_source_set_child_pidfd_own(child, true);
        (void) sd_event_source_set_child_process_own(child, true);
        (void) sd_event_source_set_description(child, "grain-sandbox");
        gr->child_source = child;
        gr->state = GRAIN_RUNNING;
        gr->started = now_usec(g, CLOCK_MONOTONIC);
        g->n_running++;
        grain_watch(gr, false);

        if (first && unlinkat(dir_fd, NEW_ACTION_FILE, 0) < 0 && errno != ENOENT)
                log_warning_errno(negative_errno(), "Failed to record grain %s's first start: %m", gr->id);
        r = sd_event_add_time_relative(g->event, &gr->log_timer, CLOCK_MONOTONIC, GRAINS_LOG_CHECK_USEC, 0,
                                       on_log_timer, gr);
        if (r < 0)
                log_warning_errno(r, "Failed to watch grain %s's console size: %m", gr->id);
        log_debug("Grain %s started (pid %i, %s).", gr->id, (int) pid, first ? "first start" : "continue");
        return 0;
}

/* ---- the API ---- */

static int on_stop_all_defer(sd_event_source *s, void *userdata) {
        Grains *g = userdata;
        void (*done)(void *) = g->stop_all_done;

        g->stop_all_defer = sd_event_source_disable_unref(g->stop_all_defer);
        g->stop_all_done = NULL;
        if (done)
                done(g->stop_all_userdata);
        return 0;
}

static void grains_check_stopped_all(Grains *g) {
        int r;

        if (!g->stopping_all || g->n_running > 0 || !g->stop_all_done || g->stop_all_defer)
                return;
        r = sd_event_add_defer(g->event, &g->stop_all_defer, on_stop_all_defer, g);
        if (r < 0) {
                log_warning_errno(r, "Failed to schedule the end of stopping every grain: %m");
                on_stop_all_defer(NULL, g);
        }
}

int grains_stop_all(Grains *g, void (*done)(void *userdata), void *userdata) {
        int r = 0;

        assert(g);

        g->stopping_all = true;
        g->stop_all_done = done;
        g->stop_all_userdata = userdata;
        for (Grain *gr = g->grains; gr; gr = gr->next) {
                grain_watch(gr, false);
                int k = grain_stop(gr);

                if (k < 0 && r == 0)
                        r = k;
        }
        grains_check_stopped_all(g);
        return r;
}

static void grains_purge_deleted(Grains *g) {
        _cleanup_close_ int fd = -EBADF;
        DIR *d;
        struct dirent *de;

        fd = openat(g->grains_dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return;
        d = fdopendir(TAKE_FD(fd));
        if (!d)
                return;
        while ((de = readdir(d)))
                if (startswith(de->d_name, DELETED_PREFIX) && g->n_workers < WORKER_MAX / 2)
                        grains_remove_deleted(g, de->d_name);
        closedir(d);
}

static int open_dir(const char *path, mode_t mode, bool make, int *ret) {
        int fd, r;

        if (make) {
                r = mkdir_p(path, mode);
                if (r < 0)
                        return r;
        }
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        *ret = fd;
        return 0;
}

/* ---- the systemd backend's questions ---- */

/* What the grain's next start runs, for its units: the same choice as grain_start() makes. A grain moving
 * to a newer package moves now, since its units will run that one from now on. */
static int grains_unit_spec(const char *id, GrainUnitSpec **ret, void *userdata) {
        Grains *g = userdata;
        _cleanup_(store_package_freep) StorePackage *pkg = NULL;
        _cleanup_(manifest_command_done) ManifestCommand cmd = {};
        _cleanup_(grain_unit_spec_freep) GrainUnitSpec *spec = NULL;
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        Grain *gr;
        bool first;
        int r;

        r = grain_get(g, id, &gr);
        if (r < 0)
                return r;
        r = grain_prepare(gr, &pkg, &dir_fd, &cmd, &env, &first);
        if (r < 0)
                return r;
        spec = calloc(1, sizeof(GrainUnitSpec));
        if (!spec)
                return -ENOMEM;
        spec->first = first;
        spec->id = strdup(gr->id);
        spec->package_id = strdup(pkg->id);
        spec->package_dir = package_tree_path(g, g->packages_dir_abs, pkg);
        spec->var_dir = strjoin(g->grains_dir_abs, "/", gr->id, "/" VAR_DIR);
        spec->grain_dir = path_join(g->grains_dir_abs, gr->id);
        if (!spec->id || !spec->package_id || !spec->package_dir || !spec->var_dir || !spec->grain_dir)
                return -ENOMEM;
        spec->argv = TAKE_PTR(cmd.argv);
        spec->envp = TAKE_PTR(env);
        *ret = TAKE_PTR(spec);
        return 0;
}

static void grains_unit_first_started(const char *id, void *userdata) {
        Grains *g = userdata;
        _cleanup_close_ int dir_fd = grain_dir_open(g, id);

        if (dir_fd >= 0 && unlinkat(dir_fd, NEW_ACTION_FILE, 0) < 0 && errno != ENOENT)
                log_warning_errno(negative_errno(), "Failed to record grain %s's first start: %m", id);
}

/* The units of every grain, asked for now (without waiting), so that a grain's first request after a boot
 * finds its socket listening. */
static void grains_systemd_ensure_all(Grains *g) {
        _cleanup_(store_grain_list_freep) StoreGrain **list = NULL;
        size_t n = 0;
        int r;

        r = store_grain_list(g->store, &list, &n);
        if (r < 0)
                return (void) log_warning_errno(r, "Failed to list the grains for their units: %m");
        for (size_t i = 0; i < n; i++)
                (void) grains_systemd_ensure(g->systemd, list[i]->id);
}

static int grains_systemd_setup(Grains *g, const GrainsConfig *c) {
        GrainsSystemdConfig sc;
        int r;

        /* Units name absolute paths, whatever the directory granaryd was started in. */
        g->grains_dir_abs = realpath(g->grains_dir, NULL);
        g->packages_dir_abs = realpath(g->packages_dir, NULL);
        g->sockets_dir_abs = realpath(g->sockets_dir, NULL);
        if (!g->grains_dir_abs || !g->packages_dir_abs || !g->sockets_dir_abs)
                return negative_errno();
        /* The unit templates name these paths (units/granary-grain@.service.in). */
        if (!streq(g->grains_dir_abs, GRAINS_SYSTEMD_GRAINS_DIR) || !streq(g->sockets_dir_abs, GRAINS_SYSTEMD_SOCKETS_DIR))
                return log_error_errno(-EINVAL, "The systemd backend needs grains in %s and their sockets in %s, not %s and %s.",
                                       GRAINS_SYSTEMD_GRAINS_DIR, GRAINS_SYSTEMD_SOCKETS_DIR, g->grains_dir_abs,
                                       g->sockets_dir_abs);
        sc = (GrainsSystemdConfig) {
                .sockets_dir = g->sockets_dir_abs,
                .bridge_path = g->bridge_path,
                .uid = g->uid,
                .gid = g->gid,
                .idle_usec = g->idle_usec,
                .stop_timeout_usec = g->stop_timeout_usec,
                .limits = g->limits,
                .policy = g->policy,
        };
        r = grains_systemd_new(g->event, c->bus, &sc,
                               &(GrainsSystemdCallbacks) {
                                       .spec = grains_unit_spec,
                                       .first_started = grains_unit_first_started,
                                       .userdata = g,
                               },
                               &g->systemd);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the systemd backend: %m");
        grains_systemd_ensure_all(g);
        return 0;
}

int grains_new(sd_event *e, Store *store, const GrainsConfig *c, Grains **ret) {
        _cleanup_(grains_freep) Grains *g = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        assert(e);
        assert(store);
        assert(c);
        assert(c->grains_dir && c->packages_dir && c->sockets_dir && c->bridge_path);
        assert(ret);

        g = calloc(1, sizeof(Grains));
        if (!g)
                return -ENOMEM;
        g->grains_dir_fd = g->packages_dir_fd = g->sockets_dir_fd = -EBADF;
        g->event = sd_event_ref(e);
        g->store = store;
        g->idle_usec = c->idle_usec;
        g->stop_timeout_usec = c->stop_timeout_usec ?: STOP_TIMEOUT_DEFAULT_USEC;
        g->log_max = c->log_max ?: GRAINS_LOG_MAX_DEFAULT;
        g->limits = c->limits;
        g->uid = c->uid;
        g->gid = c->gid;
        g->grains_dir = strdup(c->grains_dir);
        g->packages_dir = strdup(c->packages_dir);
        g->sockets_dir = strdup(c->sockets_dir);
        g->bridge_path = strdup(c->bridge_path);
        if (!g->grains_dir || !g->packages_dir || !g->sockets_dir || !g->bridge_path)
                return -ENOMEM;

        r = open_dir(g->grains_dir, 0700, true, &g->grains_dir_fd);
        if (r < 0)
                return r;
        /* The sandbox opens var_dir with granaryd's own credentials (grain/sandbox.c): nobody else needs
         * a way in. */
        if (fchmod(g->grains_dir_fd, 0700) < 0)
                return negative_errno();
        r = open_dir(g->packages_dir, 0755, false, &g->packages_dir_fd);
        if (r < 0)
                return r;
        r = open_dir(g->sockets_dir, 0700, true, &g->sockets_dir_fd);
        if (r < 0)
                return r;
        /* Whoever can connect to a grain's socket talks to the grain as the proxy does. */
        if (fchmod(g->sockets_dir_fd, 0700) < 0)
                return negative_errno();

        r = policy_parse(policy_builtin(), &g->policy, &error);
        if (r < 0)
                return log_error_errno(r, "Failed to parse the builtin system call policy: %s",
                                       error ?: "out of memory");

        grains_purge_deleted(g);
        if (c->bus) {
                r = grains_systemd_setup(g, c);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(g);
        return 0;
}

static void free_nothing(void *p) {
}

Grains *grains_free(Grains *g) {
        if (!g)
                return NULL;
        while (g->grains) {
                g->grains->deleted = true; /* no tdelete per node: the tree goes as a whole below */
                grain_free(g->grains);
        }
        tdestroy(g->tree, free_nothing);
        for (size_t i = 0; i < g->n_workers; i++)
                worker_cancel(g->workers[i]);
        free(g->workers);
        sd_event_source_disable_unref(g->stop_all_defer);
        grains_systemd_free(g->systemd);
        free(g->grains_dir_abs);
        free(g->packages_dir_abs);
        free(g->sockets_dir_abs);
        policy_free(g->policy);
        safe_close(g->grains_dir_fd);
        safe_close(g->packages_dir_fd);
        safe_close(g->sockets_dir_fd);
        free(g->grains_dir);
        free(g->packages_dir);
        free(g->sockets_dir);
        free(g->bridge_path);
        sd_event_unref(g->event);
        free(g);
        return NULL;
}

int grains_create(Grains *g, int64_t owner_id, const char *app_id, size_t action, const char *title,
                  char **ret_id) {
        _cleanup_(store_user_freep) StoreUser *owner = NULL;
        _cleanup_(store_app_freep) StoreApp *app = NULL;
        _cleanup_(store_package_freep) StorePackage *pkg = NULL;
        _cleanup_(manifest_command_done) ManifestCommand cmd = {};
        _cleanup_close_ int dir_fd = -EBADF;
        char id[STORE_GRAIN_ID_LENGTH + 1], text[32];
        const GrainsOverride *ov;
        StoreGrain row;
        int r;

        assert(g);
        assert(app_id);
        assert(ret_id);

        r = store_user_get(g->store, owner_id, &owner);
        if (r < 0)
                return r;
        r = store_app_get(g->store, app_id, &app);
        if (r < 0)
                return r;
        ov = grains_override(g, app->id);
        if (!ov && !app->latest_package_id)
                return -ENXIO;
        r = store_package_get(g->store, ov ? ov->package_id : app->latest_package_id, &pkg);
        if (r < 0)
                return r;
        r = manifest_action_command(pkg->manifest, pkg->manifest_size, action, &cmd);
        if (r < 0)
                return r == -ERANGE || r == -ENOMEM ? r : -EBADMSG;

        store_grain_id_new(id);
        if (mkdirat(g->grains_dir_fd, id, 0700) < 0)
                return negative_errno();
        dir_fd = grain_dir_open(g, id);
        if (dir_fd < 0)
                r = dir_fd;
        else if (mkdirat(dir_fd, VAR_DIR, 0700) < 0 ||
                 fchownat(dir_fd, VAR_DIR, g->uid, g->gid, AT_SYMLINK_NOFOLLOW) < 0 ||
                 fchmodat(dir_fd, VAR_DIR, 0700, 0) < 0)
                r = negative_errno();
        if (r >= 0) {
                (void) snprintf(text, sizeof(text), "%zu\n", action);
                r = write_file_atomic_at(dir_fd, NEW_ACTION_FILE, text, strlen(text), 0600);
        }
        if (r >= 0) {
                row = (StoreGrain) {
                        .id = id,
                        .owner_id = owner_id,
                        .package_id = pkg->id,
                        .title = (char *) (title ?: app->title),
                        .created = now_usec(g, CLOCK_REALTIME),
                };
                r = store_grain_add(g->store, &row, NULL);
        }
        if (r < 0) {
                (void) rm_rf_at(g->grains_dir_fd, id); /* empty but for new-action: no tree walk */
                return r;
        }

        if (g->systemd)
                (void) grains_systemd_ensure(g->systemd, id); /* its first request finds the socket */
        *ret_id = strdup(id);
        if (!*ret_id)
                return -ENOMEM; /* the grain exists; only its name could not be handed out */
        return 0;
}

int grains_delete(Grains *g, const char *id) {
        _cleanup_(store_grain_freep) StoreGrain *row = NULL;
        _cleanup_free_ char *name = NULL, *copy = NULL;
        Grain *gr;
        int r;

        assert(g);

        if (!grain_id_is_valid(id))
                return -ENOENT;
        copy = strdup(id); /* id may be the Grain's own, freed below */
        if (!copy)
                return -ENOMEM;
        r = store_grain_get(g->store, copy, &row);
        if (r < 0)
                return r;
        r = store_grain_delete(g->store, copy);
        if (r < 0)
                return r;
        grains_release_package(g, row->app_id, row->package_id);
        if (g->on_delete)
                g->on_delete(copy, g->on_delete_userdata);

        if (g->systemd) {
                /* The units stop (their jobs are systemd's); the storage goes at once: a sandbox still
                 * stopping keeps its bind mount of the moved directory until it is gone. */
                r = grains_systemd_remove(g->systemd, copy);
                if (r < 0)
                        log_warning_errno(r, "Failed to stop deleted grain %s's units: %m", copy);
                grain_free(grain_find(g, copy));
                grain_remove_storage(g, copy);
                return 0;
        }

        gr = grain_find(g, copy);
        if (gr) {
                (void) tdelete(gr, &g->tree, grain_compare);
                gr->deleted = true;
                grain_unlisten(gr);
                gr->hold_timer = sd_event_source_disable_unref(gr->hold_timer);
                if (gr->state != GRAIN_STOPPED) {
                        r = grain_stop(gr);
                        if (r < 0)
                                log_warning_errno(r, "Failed to stop deleted grain %s: %m", copy);
                        return 0; /* the storage goes once it exits (on_sandbox_exit) */
                }
                grain_free(gr);
        } else {
                name = strjoin(copy, SOCKET_SUFFIX);
                if (!name)
                        return -ENOMEM;
                (void) unlinkat(g->sockets_dir_fd, name, 0);
        }
        grain_remove_storage(g, copy);
        return 0;
}

int grains_stop(Grains *g, const char *id) {
        Grain *gr;
        int r;

        assert(g);

        r = grain_get(g, id, &gr);
        if (r < 0)
                return r;
        if (g->systemd)
                return grains_systemd_stop(g->systemd, gr->id);
        return grain_stop(gr);
}

GrainState grains_state(Grains *g, const char *id) {
        Grain *gr;
        int r;

        assert(g);

        r = grain_get(g, id, &gr);
        if (r < 0)
                return (GrainState) r;
        if (g->systemd) {
                GrainState state;

                r = grains_systemd_info(g->systemd, gr->id, &state, NULL, NULL);
                return r < 0 ? (GrainState) r : state;
        }
        return gr->state;
}

/* VmRSS of pid, in bytes; 0 when it cannot be read (the process went). */
static uint64_t process_rss(pid_t pid) {
        _cleanup_free_ char *text = NULL;
        char path[64];
        const char *p;
        uint64_t kib = 0;

        (void) snprintf(path, sizeof(path), "/proc/%i/status", (int) pid);
        if (read_full_file_at(AT_FDCWD, path, 64 * 1024, &text, NULL) < 0)
                return 0;
        p = strstr(text, "\nVmRSS:");
        if (!p)
                return 0;
        p += STRLEN("\nVmRSS:");
        while (*p == ' ' || *p == '\t')
                p++;
        for (; *p >= '0' && *p <= '9'; p++)
                if (!MUL_SAFE(&kib, kib, 10) || !ADD_SAFE(&kib, kib, (uint64_t) (*p - '0')))
                        return 0;
        return kib * 1024u;
}

/* The sandbox's processes: pid and its descendants, through /proc/<pid>/task/<tid>/children. */
static uint64_t sandbox_rss(pid_t top) {
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0, i = 0;
        uint64_t sum = 0;

        pids = malloc(MEMORY_PIDS_MAX * sizeof(pid_t));
        if (!pids)
                return process_rss(top);
        pids[n++] = top;
        for (; i < n; i++) {
                _cleanup_free_ char *text = NULL;
                char path[96];
                DIR *d;
                struct dirent *de;

                sum += process_rss(pids[i]);
                (void) snprintf(path, sizeof(path), "/proc/%i/task", (int) pids[i]);
                d = opendir(path);
                if (!d)
                        continue;
                while ((de = readdir(d)) && n < MEMORY_PIDS_MAX) {
                        char cpath[96 + sizeof(de->d_name) + 16];
                        const char *p;

                        if (de->d_name[0] == '.')
                                continue;
                        (void) snprintf(cpath, sizeof(cpath), "%s/%s/children", path, de->d_name);
                        free(text);
                        text = NULL;
                        if (read_full_file_at(AT_FDCWD, cpath, 64 * 1024, &text, NULL) < 0)
                                continue;
                        for (p = text; *p && n < MEMORY_PIDS_MAX;) {
                                long v = 0;

                                while (*p == ' ')
                                        p++;
                                if (!(*p >= '0' && *p <= '9'))
                                        break;
                                for (; *p >= '0' && *p <= '9'; p++)
                                        v = v * 10 + (*p - '0');
                                if (v > 0 && v < INT32_MAX)
                                        pids[n++] = (pid_t) v;
                        }
                }
                closedir(d);
        }
        return sum;
}

int grains_info(Grains *g, const char *id, GrainState *ret_state, uint64_t *ret_memory) {
        return grains_info_cpu(g, id, ret_state, ret_memory, NULL);
}

int grains_info_cpu(Grains *g, const char *id, GrainState *ret_state, uint64_t *ret_memory,
                    uint64_t *ret_cpu_nsec) {
        Grain *gr;
        pid_t pid = 0;
        int r;

        assert(g);

        r = grain_get(g, id, &gr);
        if (r < 0)
                return r;
        if (g->systemd)
                return grains_systemd_info(g->systemd, gr->id, ret_state, ret_memory, ret_cpu_nsec);
        if (ret_cpu_nsec)
                *ret_cpu_nsec = 0;
        if (ret_memory) {
                uint64_t m = 0;

                if (gr->child_source && sd_event_source_get_child_pid(gr->child_source, &pid) >= 0)
                        m = sandbox_rss(pid);
                *ret_memory = m;
        }
        if (ret_state)
                *ret_state = gr->state;
        return 0;
}

/* Under systemd: the socket is the socket unit's. Missing or refusing (not made yet since the boot, or
 * stopped by hand): the units are asked for, and the caller answers 503 this once. */
static int grains_systemd_connect(Grains *g, Grain *gr, int *ret_fd) {
        _cleanup_(store_grain_freep) StoreGrain *row = NULL;
        _cleanup_(store_package_freep) StorePackage *pkg = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa;
        socklen_t len;
        bool upgrade;
        int r;

        r = grain_runnable(g, gr->id, &row, &pkg, &upgrade);
        if (r < 0)
                return r;
        r = socket_address(g, gr->id, &sa, &len);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (struct sockaddr *) &sa, len) < 0 && errno != EINPROGRESS) {
                if (errno == EAGAIN)
                        return -EAGAIN;
                if (errno != ENOENT && errno != ECONNREFUSED)
                        return negative_errno();
                grains_systemd_lost(g->systemd, gr->id);
                r = grains_systemd_ensure(g->systemd, gr->id);
                return r < 0 ? r : -EAGAIN;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int grains_connect(Grains *g, const char *id, int *ret_fd) {
        _cleanup_(store_grain_freep) StoreGrain *row = NULL;
        _cleanup_(store_package_freep) StorePackage *pkg = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa;
        socklen_t len;
        Grain *gr;
        bool upgrade;
        int r;

        assert(g);
        assert(ret_fd);

        r = grain_get(g, id, &gr);
        if (r < 0)
                return r;
        if (g->systemd)
                return grains_systemd_connect(g, gr, ret_fd);
        if (gr->state == GRAIN_STOPPED && !gr->held) {
                r = grain_runnable(g, gr->id, &row, &pkg, &upgrade);
                if (r < 0)
                        return r;
        }
        r = grain_listen(gr);
        if (r < 0)
                return r;
        r = socket_address(g, gr->id, &sa, &len);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (struct sockaddr *) &sa, len) < 0 && errno != EINPROGRESS)
                return errno == EAGAIN ? -EAGAIN : negative_errno();

        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int read_tail(int dir_fd, const char *name, size_t max, char *buf, size_t *ret_n) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        size_t want, got = 0;

        *ret_n = 0;
        if (max == 0)
                return 0;
        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return 0;
        want = (size_t) MIN((uint64_t) st.st_size, (uint64_t) max);
        while (got < want) {
                ssize_t n = pread(fd, buf + got, want - got, (off_t) ((uint64_t) st.st_size - want + got));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                if (n == 0)
                        break; /* truncated meanwhile (a rotation) */
                got += (size_t) n;
        }
        *ret_n = got;
        return 0;
}

int grains_log_tail(Grains *g, const char *id, size_t max, char **ret, size_t *ret_size) {
        _cleanup_close_ int dir_fd = -EBADF;
        _cleanup_free_ char *now = NULL, *old = NULL, *out = NULL;
        size_t n_now, n_old;
        Grain *gr;
        int r;

        assert(g);
        assert(ret);
        assert(ret_size);

        r = grain_get(g, id, &gr);
        if (r < 0)
                return r;
        if (max > SIZE_MAX - 1)
                max = SIZE_MAX - 1;
        if (g->systemd)
                return grains_systemd_log_tail(gr->id, max, ret, ret_size);
        dir_fd = grain_dir_open(g, gr->id);
        if (dir_fd < 0)
                return dir_fd == -ENOENT ? -ENOENT : dir_fd;

        /* log holds the newest bytes: take from it first, then what is left of max from log.1. */
        now = malloc(MIN(max, (size_t) g->log_max * 2) + 1);
        if (!now)
                return -ENOMEM;
        r = read_tail(dir_fd, LOG_FILE, MIN(max, (size_t) g->log_max * 2), now, &n_now);
        if (r < 0)
                return r;
        old = malloc(MIN(max - n_now, (size_t) g->log_max) + 1);
        if (!old)
                return -ENOMEM;
        r = read_tail(dir_fd, LOG_OLD_FILE, MIN(max - n_now, (size_t) g->log_max), old, &n_old);
        if (r < 0)
                return r;

        out = malloc(n_old + n_now + 1);
        if (!out)
                return -ENOMEM;
        memcpy(out, old, n_old);
        memcpy(out + n_old, now, n_now);
        out[n_old + n_now] = 0;
        *ret = TAKE_PTR(out);
        *ret_size = n_old + n_now;
        return 0;
}

int grains_permissions(Grains *g, const char *id, char ***ret_names) {
        _cleanup_(store_grain_freep) StoreGrain *row = NULL;
        _cleanup_(store_package_freep) StorePackage *pkg = NULL;
        _cleanup_(manifest_bridge_config_done) ManifestBridgeConfig bc = {};
        bool upgrade;
        int r;

        assert(g);
        assert(ret_names);

        if (!grain_id_is_valid(id))
                return -ENOENT;
        r = store_grain_get(g->store, id, &row);
        if (r < 0)
                return r;
        r = grain_package(g, row, &pkg, &upgrade);
        if (r < 0)
                return r;
        r = manifest_bridge_config_parse(pkg->bridge_config, pkg->bridge_config_size, &bc);
        if (r < 0)
                return r;
        *ret_names = TAKE_PTR(bc.permissions);
        return 0;
}

void grains_on_delete(Grains *g, void (*cb)(const char *id, void *userdata), void *userdata) {
        assert(g);

        g->on_delete = cb;
        g->on_delete_userdata = cb ? userdata : NULL;
}

int grains_app_id(Grains *g, const char *id, char **ret_app_id) {
        _cleanup_(store_grain_freep) StoreGrain *row = NULL;
        int r;

        assert(g);
        assert(ret_app_id);

        if (!grain_id_is_valid(id))
                return -ENOENT;
        r = store_grain_get(g->store, id, &row);
        if (r < 0)
                return r;
        *ret_app_id = TAKE_PTR(row->app_id);
        return 0;
}

void grains_set_hooks(Grains *g, const GrainsHooks *hooks) {
        assert(g);

        g->hooks = hooks ? *hooks : (GrainsHooks) {};
}

int grains_stop_app(Grains *g, const char *app_id) {
        _cleanup_(store_grain_list_freep) StoreGrain **list = NULL;
        size_t n = 0;
        int r, first = 0;

        assert(g);
        assert(app_id);

        r = store_grain_list(g->store, &list, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (!streq(list[i]->app_id, app_id))
                        continue;
                if (g->systemd)
                        /* Its units may be starting on the other tree: a stop queued now ends that start. */
                        r = grains_systemd_stop(g->systemd, list[i]->id);
                else {
                        Grain *gr = grain_find(g, list[i]->id);

                        r = gr ? grain_stop(gr) : 0;
                }
                if (r < 0 && first == 0)
                        first = r;
        }
        return first;
}
