/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Durability across kill -9: a child writes, acknowledging each committed write over a pipe, and is
 * killed at a random moment; every write it acknowledged must be there when the database is opened
 * again, and the one in flight must be there entirely or not at all.
 *
 * kill -9 loses what the process holds, not what the kernel holds: this shows that nothing we
 * acknowledge waits in our memory. synchronous=FULL (checked in test-store-open) is what covers a
 * power loss, which a test cannot simulate here.
 */

#include <signal.h>
#include <sys/wait.h>

#include "basic/random-util.h"
#include "store-test.h"

#define ITERATIONS 6
#define MAX_WRITES 400u
#define MAX_KILL_AFTER 40u

static _noreturn_ void child(const char *path, int ack_fd) {
        Store *s = NULL;

        if (store_open(path, 0, &s) < 0)
                _exit(2);
        for (uint32_t i = 0; i < MAX_WRITES; i++) {
                char name[32], key[32];

                (void) snprintf(name, sizeof(name), "user-%" PRIu32, i);
                (void) snprintf(key, sizeof(key), "key-%" PRIu32, i);
                /* Two writes that belong together. */
                if (store_begin(s) < 0 || store_user_add(s, name, NULL, false, T0 + i, NULL) < 0 ||
                    store_setting_set(s, key, name) < 0 || store_commit(s) < 0)
                        _exit(3);
                if (loop_write(ack_fd, &i, sizeof(i)) < 0)
                        _exit(4);
        }
        _exit(0);
}

static void check(const char *path, uint32_t acked) {
        Store *s = NULL;
        uint64_t users, settings;

        assert_int_equal(store_open(path, 0, &s), 0);
        for (uint32_t i = 0; i < acked; i++) {
                _cleanup_(store_user_freep) StoreUser *u = NULL;
                _cleanup_free_ char *v = NULL;
                char name[32], key[32];

                (void) snprintf(name, sizeof(name), "user-%" PRIu32, i);
                (void) snprintf(key, sizeof(key), "key-%" PRIu32, i);
                assert_int_equal(store_user_get_by_name(s, name, &u), 0);
                assert_int_equal(u->created, T0 + i);
                assert_int_equal(store_setting_get(s, key, &v), 0);
                assert_string_equal(v, name);
        }
        s = store_close(s);

        users = (uint64_t) raw_int(path, "SELECT count(*) FROM users");
        settings = (uint64_t) raw_int(path, "SELECT count(*) FROM settings");
        /* The acknowledged ones, and perhaps the one committed when the kill came. */
        assert_true(users == acked || users == acked + 1);
        assert_int_equal(settings, users);
        assert_int_equal(raw_int(path, "SELECT integrity_check = 'ok' FROM pragma_integrity_check"), 1);
}

static void test_kill9(void **state) {
        Fixture *f = *state;

        assert_int_equal(random_init(), 0);

        for (unsigned it = 0; it < ITERATIONS; it++) {
                char path[PATH_MAX];
                uint32_t acked = 0, kill_after, i;
                unsigned delay_usec;
                Store *s = NULL;
                int fds[2], status;
                ssize_t n;
                pid_t pid;

                (void) snprintf(path, sizeof(path), "%s/kill-%u.sqlite", f->dir, it);
                assert_int_equal(store_open(path, STORE_OPEN_CREATE, &s), 0);
                s = store_close(s); /* no connection crosses fork() */

                kill_after = 1 + (uint32_t) (random_u64() % MAX_KILL_AFTER);
                delay_usec = (unsigned) (random_u64() % 3000);
                print_message("# iteration %u: kill after %" PRIu32 " acknowledgements and %u µs\n", it,
                              kill_after, delay_usec);

                assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
                pid = fork();
                assert_true(pid >= 0);
                if (pid == 0) {
                        safe_close(fds[0]);
                        child(path, fds[1]);
                }
                safe_close(fds[1]);

                while (acked < kill_after) {
                        n = loop_read(fds[0], &i, sizeof(i));
                        assert_int_equal(n, sizeof(i));
                        assert_int_equal(i, acked);
                        acked++;
                }
                (void) usleep(delay_usec);
                assert_int_equal(kill(pid, SIGKILL), 0);
                assert_int_equal(waitpid(pid, &status, 0), pid);
                /* Killed, or (on a very fast disk) done with every write. */
                assert_true((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
                            (WIFEXITED(status) && WEXITSTATUS(status) == 0));

                /* Acknowledgements sent before the kill count too. */
                while ((n = loop_read(fds[0], &i, sizeof(i))) == sizeof(i)) {
                        assert_int_equal(i, acked);
                        acked++;
                }
                assert_int_equal(n, 0);
                safe_close(fds[0]);

                check(path, acked);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_kill9, fixture_setup_empty, fixture_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
