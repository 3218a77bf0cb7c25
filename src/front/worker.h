/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * front/worker.h — running one pure, slow function (argon2id hashing and verification) in a forked child,
 * so that granaryd's event loop never waits for it. The result comes back through a pipe, on the caller's
 * sd_event loop.
 *
 * Owns the child processes it forks, their pipes and event sources: every child is killed and reaped by
 * this module (on timeout or cancel) or reaped when it exits; none is left behind. Does not own what the
 * function computes: the caller's function runs in the child with a copy of the caller's memory and must
 * not touch shared state (no database, no sockets, no logging). Never logs.
 *
 * The caller must have blocked SIGCHLD before creating the sd_event (sd_event_add_child() needs it).
 * At most WORKER_MAX children run at a time, in the whole process; past that worker_run() says -EBUSY.
 * The state diagram is at the top of worker.c.
 */

#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "basic/macro.h"

/* Children running at once, per process. */
#define WORKER_MAX 8u
/* The largest result a child may hand back; a larger one fails with -EFBIG. */
#define WORKER_RESULT_MAX (1024u * 1024u)

typedef struct Worker Worker;

/* Runs in the child: computes from in and writes the result to *ret (malloc'd, may be NULL when *ret_size
 * is 0). Returns 0 or a negative errno, which the parent's done receives. */
typedef int (*WorkerFunc)(const void *in, size_t in_size, void **ret, size_t *ret_size);

/* Called once per worker_run() that succeeded, unless worker_cancel() comes first. error is 0 with the
 * result (size bytes, valid during the call, followed by a NUL byte that is not counted), or a negative
 * errno with result NULL: the function's own error, -ETIMEDOUT (killed at the deadline), -ECHILD (the
 * child died or exited without a result), -EFBIG (result beyond WORKER_RESULT_MAX), -EIO. The worker is
 * freed when done returns; done must not call worker_cancel() on it. */
typedef void (*WorkerDone)(Worker *w, int error, const void *result, size_t size, void *userdata);

/* Forks a child that runs fn(in, in_size) and _exit()s; in is read in the child's copy of the caller's
 * memory, so it may be freed as soon as this returns. timeout_usec (> 0) counts from now on
 * CLOCK_MONOTONIC. -EBUSY when WORKER_MAX children are running. ret may be NULL when the caller never
 * cancels. */
int worker_run(sd_event *e, WorkerFunc fn, const void *in, size_t in_size, uint64_t timeout_usec,
               WorkerDone done, void *userdata, Worker **ret);

/* Kills (SIGKILL) and reaps the child at once, and frees the worker without calling done. Accepts NULL,
 * returns NULL. */
Worker *worker_cancel(Worker *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(Worker *, worker_cancel);

/* How many children are running now. */
unsigned worker_count(void);
