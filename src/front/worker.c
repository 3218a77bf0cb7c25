/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * One worker, from worker_run() to its free:
 *
 *   RUNNING --pipe at EOF and child exited (either order)--> FINISHED: done(result or error), freed
 *      |--deadline (on_timeout)--> KILLED: SIGKILL, reaped at once, done(-ETIMEDOUT), freed
 *      |--read error, result too big (worker_fail)--> KILLED: SIGKILL, reaped at once, done(error), freed
 *      \--worker_cancel()--> KILLED: SIGKILL, reaped at once, freed; done is not called
 *
 * (1) the child is reaped exactly once, before its Worker is freed: by on_child() when it exits, or by
 *     worker_kill() (a blocking waitpid after SIGKILL, which cannot take long: the child only computes)
 * (2) done is called at most once, and the worker is freed right after it returns
 * (3) n_running counts the Workers that exist; each has a child that is not yet reaped, or is being freed
 *
 * The wire between child and parent: a native int32 (0 or a negative errno), then the result bytes, then
 * EOF. A child that exits with a non-zero status, dies of a signal, or leaves fewer than four bytes has
 * no result: -ECHILD.
 */

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "basic/fileio.h"
#include "basic/string-util.h"
#include "front/worker.h"

#define WORKER_HEADER_SIZE sizeof(int32_t)
#define WORKER_READ_CHUNK (64u * 1024u)

struct Worker {
        sd_event *event;
        pid_t pid;
        int fd; /* the pipe's read end */
        sd_event_source *io_source;
        sd_event_source *child_source;
        sd_event_source *timer_source;
        StrBuf buf; /* what the child wrote so far */
        bool eof;
        bool reaped;
        bool exit_ok; /* the child exited with status 0 */
        WorkerDone done;
        void *userdata;
};

static unsigned n_running = 0;

unsigned worker_count(void) {
        return n_running;
}

static Worker *worker_free(Worker *w) {
        if (!w)
                return NULL;

        assert(w->reaped || w->pid <= 0);
        w->io_source = sd_event_source_disable_unref(w->io_source);
        w->child_source = sd_event_source_disable_unref(w->child_source);
        w->timer_source = sd_event_source_disable_unref(w->timer_source);
        w->fd = safe_close(w->fd);
        strbuf_done(&w->buf);
        sd_event_unref(w->event);
        assert(n_running > 0);
        n_running--;
        free(w);
        return NULL;
}

/* Ends the child now: SIGKILL, then a blocking reap, which returns as soon as the kernel has torn the
 * process down. */
static void worker_kill(Worker *w) {
        assert(w);

        /* The child source goes first, so that sd-event never waits for a pid we reaped ourselves. */
        w->child_source = sd_event_source_disable_unref(w->child_source);
        if (w->pid > 0 && !w->reaped) {
                (void) kill(w->pid, SIGKILL);
                while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                w->reaped = true;
        }
}

static void worker_finish(Worker *w, int error, const void *result, size_t size) {
        assert(w);
        assert(w->reaped);

        if (error < 0) {
                result = NULL;
                size = 0;
        }
        w->done(w, error, result, size, w->userdata);
        worker_free(w);
}

static void worker_fail(Worker *w, int error) {
        assert(error < 0);

        worker_kill(w);
        worker_finish(w, error, NULL, 0);
}

static void worker_maybe_finish(Worker *w) {
        int32_t error;

        if (!w->eof || !w->reaped)
                return;

        if (!w->exit_ok || w->buf.len < WORKER_HEADER_SIZE) {
                worker_finish(w, -ECHILD, NULL, 0);
                return;
        }

        memcpy(&error, w->buf.data, sizeof(error));
        if (error > 0 || error < -4095)
                error = -EIO;
        else if (error == 0 && w->buf.len - WORKER_HEADER_SIZE > WORKER_RESULT_MAX)
                error = -EFBIG;
        /* StrBuf keeps a NUL after its bytes, so a textual result is a C string as it is. */
        worker_finish(w, error, w->buf.data + WORKER_HEADER_SIZE, w->buf.len - WORKER_HEADER_SIZE);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;
        const size_t limit = WORKER_HEADER_SIZE + WORKER_RESULT_MAX;

        assert(w);

        for (;;) {
                size_t room;
                ssize_t n;
                int r;

                if (w->buf.len > limit) {
                        worker_fail(w, -EFBIG);
                        return 0;
                }

                /* One byte beyond the limit is enough to know that the result is too big. */
                room = MIN((size_t) WORKER_READ_CHUNK, limit + 1 - w->buf.len);
                r = strbuf_reserve(&w->buf, room);
                if (r < 0) {
                        worker_fail(w, r);
                        return 0;
                }

                n = read(fd, w->buf.data + w->buf.len, room);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        worker_fail(w, negative_errno());
                        return 0;
                }
                if (n == 0)
                        break;
                w->buf.len += (size_t) n;
                w->buf.data[w->buf.len] = '\0';
        }

        w->eof = true;
        w->io_source = sd_event_source_disable_unref(w->io_source);
        w->fd = safe_close(w->fd);
        worker_maybe_finish(w);
        return 0;
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Worker *w = userdata;

        assert(w);
        assert(si);

        w->exit_ok = si->si_code == CLD_EXITED && si->si_status == EXIT_SUCCESS;

        /* Reaped here rather than by sd-event after this returns, so that the process is gone when done
         * runs. sd-event's own waitid() afterwards then finds nothing, which it ignores. */
        while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
                ;
        w->reaped = true;
        w->child_source = sd_event_source_disable_unref(w->child_source);

        worker_maybe_finish(w);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Worker *w = userdata;

        assert(w);

        worker_fail(w, -ETIMEDOUT);
        return 0;
}

_noreturn_ static void worker_child(int fd, pid_t parent, WorkerFunc fn, const void *in, size_t in_size) {
        void *result = NULL;
        size_t size = 0;
        int32_t error;
        int r;

        /* A child whose parent is gone has nobody to answer. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(EXIT_FAILURE);

        r = fn(in, in_size, &result, &size);
        if (r >= 0 && size > WORKER_RESULT_MAX)
                r = -EFBIG;
        error = r < 0 ? r : 0;

        if (loop_write(fd, &error, sizeof(error)) < 0)
                _exit(EXIT_FAILURE);
        if (error == 0 && size > 0 && loop_write(fd, result, size) < 0)
                _exit(EXIT_FAILURE);
        /* Not exit(): no atexit handlers, no stdio flushing of the parent's buffers, nothing of the
         * caller's runs here. */
        _exit(EXIT_SUCCESS);
}

int worker_run(sd_event *e, WorkerFunc fn, const void *in, size_t in_size, uint64_t timeout_usec,
               WorkerDone done, void *userdata, Worker **ret) {
        _cleanup_close_ int write_fd = -EBADF;
        pid_t parent = getpid();
        int pipe_fds[2], r;
        Worker *w;

        assert(e);
        assert(fn);
        assert(in || in_size == 0);
        assert(timeout_usec > 0);
        assert(done);

        if (n_running >= WORKER_MAX)
                return -EBUSY;

        w = calloc(1, sizeof(Worker));
        if (!w)
                return -ENOMEM;
        *w = (Worker) {
                .event = sd_event_ref(e),
                .fd = -EBADF,
                .done = done,
                .userdata = userdata,
        };
        n_running++;

        r = RET_NERRNO(pipe2(pipe_fds, O_CLOEXEC));
        if (r < 0)
                goto fail;
        w->fd = pipe_fds[0];
        write_fd = pipe_fds[1];

        w->pid = fork();
        if (w->pid < 0) {
                r = negative_errno();
                goto fail;
        }
        if (w->pid == 0) {
                w->fd = safe_close(w->fd);
                worker_child(write_fd, parent, fn, in, in_size);
        }
        write_fd = safe_close(write_fd);

        r = RET_NERRNO(fcntl(w->fd, F_SETFL, O_NONBLOCK));
        if (r < 0)
                goto fail_kill;
        r = sd_event_add_io(e, &w->io_source, w->fd, EPOLLIN, on_io, w);
        if (r < 0)
                goto fail_kill;
        r = sd_event_add_child(e, &w->child_source, w->pid, WEXITED, on_child, w);
        if (r < 0)
                goto fail_kill;
        r = sd_event_add_time_relative(e, &w->timer_source, CLOCK_MONOTONIC, timeout_usec, 0, on_timeout, w);
        if (r < 0)
                goto fail_kill;

        if (ret)
                *ret = w;
        return 0;

fail_kill:
        worker_kill(w);
fail:
        if (w->pid <= 0)
                w->reaped = true;
        worker_free(w);
        return r;
}

Worker *worker_cancel(Worker *w) {
        if (!w)
                return NULL;

        worker_kill(w);
        return worker_free(w);
}
