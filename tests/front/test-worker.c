/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Forked workers on a real sd_event loop: results, errors, crashes, deadlines, cancelling, the limit on
 * running children, and no zombie left behind. */

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>
#include <systemd/sd-event.h>

#include "front/worker.h"

typedef struct Outcome {
        bool called;
        unsigned calls;
        int error;
        void *result;
        size_t size;
        bool result_null;
        bool nul_terminated;
} Outcome;

static void on_done(Worker *w, int error, const void *result, size_t size, void *userdata) {
        Outcome *o = userdata;

        o->called = true;
        o->calls++;
        o->error = error;
        o->size = size;
        o->result_null = !result;
        if (result) {
                o->result = malloc(size + 1);
                assert_non_null(o->result);
                memcpy(o->result, result, size + 1);
                o->nul_terminated = ((const char *) result)[size] == '\0';
        }
}

static uint64_t now_usec(void) {
        struct timespec ts;

        assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* Runs the loop until every outcome is in, for at most 20 s. */
static void run_until(sd_event *e, Outcome *o, size_t n) {
        uint64_t deadline = now_usec() + 20u * 1000000u;

        for (;;) {
                bool all = true;

                for (size_t i = 0; i < n; i++)
                        all = all && o[i].called;
                if (all)
                        return;
                assert_true(now_usec() < deadline);
                assert_true(sd_event_run(e, 100000) >= 0);
        }
}

static void assert_no_children(void) {
        errno = 0;
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
        assert_int_equal(worker_count(), 0);
}

static int fn_reverse(const void *in, size_t in_size, void **ret, size_t *ret_size) {
        const char *s = in;
        char *out = malloc(in_size);

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < in_size; i++)
                out[i] = s[in_size - 1 - i];
        *ret = out;
        *ret_size = in_size;
        return 0;
}

static int fn_empty(const void *in, size_t in_size, void **ret, size_t *ret_size) {
        *ret = NULL;
        *ret_size = 0;
        return 0;
}

static int fn_eacces(const void *in, size_t in_size, void **ret, size_t *ret_size) {
        return -EACCES;
}

static int fn_abort(const void *in, size_t in_size, void **ret, size_t *ret_size) {
        struct rlimit no_core = {};

        (void) setrlimit(RLIMIT_CORE, &no_core);
        abort();
}

static int fn_exit_quietly(const void *in, size_t in_size, void **ret, size_t *ret_size) {
        _exit(EXIT_SUCCESS); /* without writing anything */
}

static int fn_sleep(const void *in, size_t in_size, void **ret, size_t *ret_size) {
        (void) sleep(60);
        return 0;
}

/* in: the size of the result to make, as a size_t. */
static int fn_sized(const void *in, size_t in_size, void **ret, size_t *ret_size) {
        size_t n;
        char *out;

        assert(in_size == sizeof(n));
        memcpy(&n, in, sizeof(n));
        out = malloc(n);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                out[i] = (char) ('a' + i % 26);
        *ret = out;
        *ret_size = n;
        return 0;
}

static void test_success(void **state) {
        sd_event *e = NULL;
        Outcome o = {};
        Worker *w = NULL;
        char *in = strdup("hello, worker");

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(worker_run(e, fn_reverse, in, strlen(in), 10000000, on_done, &o, &w), 0);
        assert_non_null(w);
        assert_int_equal(worker_count(), 1);
        free(in); /* the child has its own copy */

        run_until(e, &o, 1);
        assert_int_equal(o.calls, 1);
        assert_int_equal(o.error, 0);
        assert_int_equal(o.size, 13);
        assert_memory_equal(o.result, "rekrow ,olleh", 13);
        assert_true(o.nul_terminated);
        free(o.result);

        /* An empty result is a result: a NUL-terminated empty buffer, not NULL. */
        o = (Outcome) {};
        assert_int_equal(worker_run(e, fn_empty, NULL, 0, 10000000, on_done, &o, NULL), 0);
        run_until(e, &o, 1);
        assert_int_equal(o.error, 0);
        assert_int_equal(o.size, 0);
        assert_false(o.result_null);
        assert_true(o.nul_terminated);
        free(o.result);

        /* Nothing else is pending: done came once, and the loop has nothing more to do. */
        assert_int_equal(sd_event_run(e, 0), 0);
        assert_no_children();
        sd_event_unref(e);
}

static void test_errors(void **state) {
        sd_event *e = NULL;
        Outcome o[3] = {};

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(worker_run(e, fn_eacces, "x", 1, 10000000, on_done, &o[0], NULL), 0);
        assert_int_equal(worker_run(e, fn_abort, "x", 1, 10000000, on_done, &o[1], NULL), 0);
        assert_int_equal(worker_run(e, fn_exit_quietly, "x", 1, 10000000, on_done, &o[2], NULL), 0);
        assert_int_equal(worker_count(), 3);
        run_until(e, o, 3);

        /* The function's own error comes back as it is. */
        assert_int_equal(o[0].calls, 1);
        assert_int_equal(o[0].error, -EACCES);
        assert_true(o[0].result_null);
        assert_int_equal(o[0].size, 0);
        /* A child killed by a signal, and one that exits without a word, gave no result. */
        assert_int_equal(o[1].calls, 1);
        assert_int_equal(o[1].error, -ECHILD);
        assert_true(o[1].result_null);
        assert_int_equal(o[2].calls, 1);
        assert_int_equal(o[2].error, -ECHILD);
        assert_true(o[2].result_null);

        assert_no_children();
        sd_event_unref(e);
}

static void test_timeout(void **state) {
        sd_event *e = NULL;
        Outcome o = {};
        uint64_t start;

        assert_int_equal(sd_event_new(&e), 0);
        start = now_usec();
        assert_int_equal(worker_run(e, fn_sleep, NULL, 0, 200000, on_done, &o, NULL), 0);
        run_until(e, &o, 1);
        assert_int_equal(o.calls, 1);
        assert_int_equal(o.error, -ETIMEDOUT);
        assert_true(o.result_null);
        /* Killed at the deadline, not after the function's minute of sleep. */
        assert_true(now_usec() - start >= 200000);
        assert_true(now_usec() - start < 5000000);
        assert_no_children();
        sd_event_unref(e);
}

static void test_cancel(void **state) {
        sd_event *e = NULL;
        Outcome o = {};
        Worker *w = NULL;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(worker_run(e, fn_sleep, NULL, 0, 10000000, on_done, &o, &w), 0);
        assert_int_equal(worker_count(), 1);
        /* Let the child start for real, then take it down. */
        assert_true(sd_event_run(e, 50000) >= 0);
        assert_null(worker_cancel(w));
        assert_null(worker_cancel(NULL));
        /* Killed and reaped synchronously: no zombie even before the loop runs again. */
        assert_no_children();
        /* And done never comes. */
        assert_true(sd_event_run(e, 100000) >= 0);
        assert_false(o.called);

        /* Cancelled before the loop ever ran. */
        assert_int_equal(worker_run(e, fn_reverse, "ab", 2, 10000000, on_done, &o, &w), 0);
        worker_cancel(w);
        assert_no_children();
        assert_true(sd_event_run(e, 100000) >= 0);
        assert_false(o.called);
        sd_event_unref(e);
}

static void test_busy(void **state) {
        sd_event *e = NULL;
        Worker *w[WORKER_MAX] = {}, *extra = NULL;
        Outcome o[WORKER_MAX] = {}, late = {};

        assert_int_equal(sd_event_new(&e), 0);
        for (size_t i = 0; i < WORKER_MAX; i++)
                assert_int_equal(worker_run(e, fn_sleep, NULL, 0, 10000000, on_done, &o[i], &w[i]), 0);
        assert_int_equal(worker_count(), WORKER_MAX);

        /* One more is refused without forking, and without touching ret. */
        assert_int_equal(worker_run(e, fn_reverse, "ab", 2, 10000000, on_done, &late, &extra), -EBUSY);
        assert_null(extra);
        assert_int_equal(worker_count(), WORKER_MAX);

        /* A slot that frees up can be used again. */
        w[0] = worker_cancel(w[0]);
        assert_int_equal(worker_count(), WORKER_MAX - 1);
        assert_int_equal(worker_run(e, fn_reverse, "ab", 2, 10000000, on_done, &late, &extra), 0);
        run_until(e, &late, 1);
        assert_int_equal(late.error, 0);
        assert_memory_equal(late.result, "ba", 2);
        free(late.result);

        for (size_t i = 1; i < WORKER_MAX; i++)
                w[i] = worker_cancel(w[i]);
        for (size_t i = 0; i < WORKER_MAX; i++)
                assert_false(o[i].called);
        assert_no_children();
        sd_event_unref(e);
}

static void test_result_limit(void **state) {
        sd_event *e = NULL;
        Outcome o[2] = {};
        size_t fits = WORKER_RESULT_MAX, too_big = WORKER_RESULT_MAX + 1;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(worker_run(e, fn_sized, &fits, sizeof(fits), 10000000, on_done, &o[0], NULL), 0);
        assert_int_equal(worker_run(e, fn_sized, &too_big, sizeof(too_big), 10000000, on_done, &o[1], NULL), 0);
        run_until(e, o, 2);

        /* Exactly the limit crosses the pipe whole, in many reads. */
        assert_int_equal(o[0].error, 0);
        assert_int_equal(o[0].size, WORKER_RESULT_MAX);
        assert_memory_equal(o[0].result, "abcdefghijklmnopqrstuvwxyz", 26);
        assert_int_equal(((char *) o[0].result)[WORKER_RESULT_MAX - 1], 'a' + (WORKER_RESULT_MAX - 1) % 26);
        assert_true(o[0].nul_terminated);
        free(o[0].result);
        /* One byte more is refused. */
        assert_int_equal(o[1].error, -EFBIG);
        assert_true(o[1].result_null);

        assert_no_children();
        sd_event_unref(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_success),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_timeout),
                cmocka_unit_test(test_cancel),
                cmocka_unit_test(test_busy),
                cmocka_unit_test(test_result_limit),
        };
        sigset_t mask;

        /* As granaryd does before it creates its loop: sd_event_add_child() needs SIGCHLD blocked. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return EXIT_FAILURE;

        return cmocka_run_group_tests(tests, NULL, NULL);
}
