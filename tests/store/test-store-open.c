/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Opening, settings, file modes, damaged and foreign files, transactions, the error map. */

#include <dirent.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "store-test.h"

static void test_create_and_settings(void **state) {
        Fixture *f = *state;
        char wal[PATH_MAX], shm[PATH_MAX];
        struct stat st;

        /* Written once, so that the -wal and -shm files exist. */
        assert_int_equal(store_setting_set(f->store, "k", "v"), 0);

        (void) snprintf(wal, sizeof(wal), "%s-wal", f->path);
        (void) snprintf(shm, sizeof(shm), "%s-shm", f->path);
        assert_int_equal(stat(f->path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(stat(wal, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(stat(shm, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);

        assert_int_equal(store_int(f->store, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
        assert_int_equal(store_int(f->store, "PRAGMA application_id"), STORE_APPLICATION_ID);
        assert_int_equal(store_int(f->store, "PRAGMA synchronous"), 2); /* FULL */
        assert_int_equal(store_int(f->store, "PRAGMA foreign_keys"), 1);
        assert_int_equal(store_int(f->store, "PRAGMA secure_delete"), 1);
        assert_int_equal(store_int(f->store, "PRAGMA trusted_schema"), 0);
        assert_int_equal(store_int(f->store, "PRAGMA busy_timeout"), STORE_BUSY_TIMEOUT_MSEC);
        assert_int_equal(raw_int(f->path, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);

        int defensive = -1;
        assert_int_equal(sqlite3_db_config(f->store->db, SQLITE_DBCONFIG_DEFENSIVE, -1, &defensive),
                         SQLITE_OK);
        assert_int_equal(defensive, 1);
        /* What DEFENSIVE is for: the schema cannot be edited from SQL. */
        assert_int_not_equal(sqlite3_exec(f->store->db,
                                          "PRAGMA writable_schema = ON; "
                                          "UPDATE sqlite_schema SET sql = 'x' WHERE name = 'users'",
                                          NULL, NULL, NULL),
                             SQLITE_OK);
}

static void test_reopen(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *v = NULL;

        assert_int_equal(store_setting_set(f->store, "k", "v"), 0);
        f->store = store_close(f->store);
        assert_null(f->store);
        assert_null(store_close(NULL));

        /* Without STORE_OPEN_CREATE an existing file opens; a missing one does not. */
        assert_int_equal(store_open(f->path, 0, &f->store), 0);
        assert_int_equal(store_setting_get(f->store, "k", &v), 0);
        assert_string_equal(v, "v");

        char missing[PATH_MAX];
        Store *s = (Store *) 0x1;
        (void) snprintf(missing, sizeof(missing), "%s/missing.sqlite", f->dir);
        assert_int_equal(store_open(missing, 0, &s), -ENOENT);
        assert_ptr_equal(s, (Store *) 0x1); /* untouched on failure */
        assert_false(file_exists(missing));
}

static void test_mode_tightened(void **state) {
        Fixture *f = *state;
        struct stat st;

        f->store = store_close(f->store);
        assert_int_equal(chmod(f->path, 0644), 0);
        assert_int_equal(store_open(f->path, 0, &f->store), 0);
        assert_int_equal(stat(f->path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_symlink_refused(void **state) {
        Fixture *f = *state;
        char link[PATH_MAX];
        Store *s = NULL;

        (void) snprintf(link, sizeof(link), "%s/link.sqlite", f->dir);
        assert_int_equal(symlink(f->path, link), 0);
        assert_int_equal(store_open(link, STORE_OPEN_CREATE, &s), -ELOOP);
        assert_null(s);
}

static void test_not_a_file(void **state) {
        Fixture *f = *state;
        char fifo[PATH_MAX];
        Store *s = NULL;

        (void) snprintf(fifo, sizeof(fifo), "%s/fifo", f->dir);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        /* Must not block waiting for a writer. */
        assert_int_equal(store_open(fifo, STORE_OPEN_CREATE, &s), -EBADMSG);
        assert_int_equal(store_open(f->dir, STORE_OPEN_CREATE, &s), -EISDIR);
        assert_null(s);
}

static void test_fds_cloexec(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *real_dir = realpath(f->dir, NULL);
        unsigned n = 0;
        DIR *d;

        assert_non_null(real_dir);
        assert_int_equal(store_setting_set(f->store, "k", "v"), 0);

        d = opendir("/proc/self/fd");
        assert_non_null(d);
        for (struct dirent *de; (de = readdir(d));) {
                char link[PATH_MAX], target[PATH_MAX];
                ssize_t l;
                int fd, flags;

                if (de->d_name[0] == '.')
                        continue;
                fd = atoi(de->d_name);
                (void) snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
                l = readlink(link, target, sizeof(target) - 1);
                if (l < 0)
                        continue;
                target[l] = '\0';
                if (!startswith(target, real_dir))
                        continue;
                flags = fcntl(fd, F_GETFD);
                assert_true(flags >= 0);
                assert_true(flags & FD_CLOEXEC);
                n++;
        }
        closedir(d);
        assert_int_equal(n, 3); /* the database, its WAL and its shared-memory index */
}

static void test_garbage_file(void **state) {
        Fixture *f = *state;
        char buf[8192];
        Store *s = NULL;
        int fd;

        f->store = store_close(f->store);
        memset(buf, 0xa5, sizeof(buf));
        fd = open(f->path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(loop_write(fd, buf, sizeof(buf)), 0);
        safe_close(fd);
        assert_int_equal(store_open(f->path, 0, &s), -EBADMSG);
        assert_null(s);

        /* The right magic, then garbage. */
        memcpy(buf, "SQLite format 3", 16);
        fd = open(f->path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(loop_write(fd, buf, sizeof(buf)), 0);
        safe_close(fd);
        assert_int_equal(store_open(f->path, 0, &s), -EBADMSG);
        assert_null(s);
}

static void test_corrupt_page(void **state) {
        Fixture *f = *state;
        StoreUser *u = NULL;
        char buf[4096];
        int64_t root, page_size;
        int fd;

        assert_int_equal(store_user_add(f->store, "alice", NULL, false, T0, NULL), 0);
        f->store = store_close(f->store); /* checkpoints: everything is in the main file */

        root = raw_int(f->path, "SELECT rootpage FROM sqlite_schema WHERE name = 'users'");
        page_size = raw_int(f->path, "PRAGMA page_size");
        assert_true(root > 1);
        assert_int_equal(page_size, sizeof(buf));

        memset(buf, 0xff, sizeof(buf));
        fd = open(f->path, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, buf, sizeof(buf), (off_t) ((root - 1) * page_size)),
                         (ssize_t) sizeof(buf));
        safe_close(fd);

        /* The schema is intact, so it opens; reading the damaged table fails cleanly. */
        assert_int_equal(store_open(f->path, 0, &f->store), 0);
        assert_int_equal(store_user_get_by_name(f->store, "alice", &u), -EBADMSG);
        assert_null(u);
        StoreUser **l = NULL;
        assert_int_equal(store_user_list(f->store, &l, NULL), -EBADMSG);
        assert_null(l);
        assert_int_equal(store_user_add(f->store, "bob", NULL, false, T0, NULL), -EBADMSG);
        /* Other tables still work. */
        assert_int_equal(store_setting_set(f->store, "k", "v"), 0);
}

static void test_foreign_database(void **state) {
        Fixture *f = *state;
        char other[PATH_MAX];
        Store *s = NULL;
        struct stat before, after;

        (void) snprintf(other, sizeof(other), "%s/other.sqlite", f->dir);
        assert_int_equal(close(open(other, O_CREAT | O_WRONLY | O_CLOEXEC, 0600)), 0);
        raw_exec(other, "CREATE TABLE notes (text TEXT)");
        assert_int_equal(stat(other, &before), 0);
        assert_int_equal(store_open(other, 0, &s), -EBADMSG);
        assert_null(s);
        assert_int_equal(stat(other, &after), 0);
        assert_int_equal(before.st_size, after.st_size);
        assert_int_equal(raw_int(other, "SELECT count(*) FROM sqlite_schema"), 1);

        /* Versioned, but by somebody else. */
        raw_exec(other, "PRAGMA user_version = 1; PRAGMA application_id = 42");
        assert_int_equal(store_open(other, 0, &s), -EBADMSG);
        assert_null(s);
}

static void test_transactions(void **state) {
        Fixture *f = *state;
        StoreUser *u = NULL;
        int64_t id;

        assert_int_equal(store_commit(f->store), -ENOTCONN);
        assert_int_equal(store_rollback(f->store), -ENOTCONN);

        /* Rolled back: nothing. */
        assert_int_equal(store_begin(f->store), 0);
        assert_int_equal(store_begin(f->store), -EALREADY);
        assert_int_equal(store_user_add(f->store, "a", NULL, false, T0, NULL), 0);
        assert_int_equal(store_user_add(f->store, "b", NULL, false, T0, NULL), 0);
        assert_int_equal(store_rollback(f->store), 0);
        assert_int_equal(store_user_get_by_name(f->store, "a", &u), -ENOENT);
        assert_int_equal(store_user_get_by_name(f->store, "b", &u), -ENOENT);

        /* A failed call inside undoes only itself. */
        assert_int_equal(store_begin(f->store), 0);
        assert_int_equal(store_user_add(f->store, "a", NULL, false, T0, &id), 0);
        assert_int_equal(store_user_add(f->store, "A", NULL, false, T0, NULL), -EEXIST);
        assert_int_equal(store_user_delete(f->store, 4242), -ENOENT); /* an op (savepoint) that fails */
        assert_int_equal(store_user_add(f->store, "b", NULL, false, T0, NULL), 0);
        assert_int_equal(store_commit(f->store), 0);
        assert_int_equal(store_commit(f->store), -ENOTCONN);
        assert_int_equal(store_user_get_by_name(f->store, "a", &u), 0);
        assert_int_equal(u->id, id);
        u = store_user_free(u);
        assert_int_equal(store_user_get_by_name(f->store, "b", &u), 0);
        u = store_user_free(u);

        /* An op (savepoint) inside a transaction goes with the transaction. */
        char token[STORE_SETUP_TOKEN_LENGTH + 1];
        assert_int_equal(store_begin(f->store), 0);
        assert_int_equal(store_setup_token_new(f->store, T0, T0 + SEC(60), token), 0);
        assert_int_equal(store_setup_token_check(f->store, token, strlen(token), T0), 0);
        assert_int_equal(store_rollback(f->store), 0);
        assert_int_equal(store_setup_token_check(f->store, token, strlen(token), T0), -ENOENT);
}

static void test_transaction_lost(void **state) {
        Fixture *f = *state;
        StoreUser *u = NULL;

        /* As SQLite does after SQLITE_FULL or SQLITE_IOERR inside a transaction: it is gone. Nothing may
         * then be written as if it were still open. */
        assert_int_equal(store_begin(f->store), 0);
        assert_int_equal(store_user_add(f->store, "a", NULL, false, T0, NULL), 0);
        assert_int_equal(sqlite3_exec(f->store->db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(store_user_add(f->store, "b", NULL, false, T0, NULL), -EIO);
        assert_int_equal(store_user_delete(f->store, 1), -EIO);
        assert_int_equal(store_commit(f->store), -EIO);
        assert_int_equal(store_user_get_by_name(f->store, "a", &u), -ENOENT);
        assert_int_equal(store_user_get_by_name(f->store, "b", &u), -ENOENT);

        assert_int_equal(store_begin(f->store), 0);
        assert_int_equal(sqlite3_exec(f->store->db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(store_rollback(f->store), 0);
        assert_int_equal(store_user_add(f->store, "c", NULL, false, T0, NULL), 0);
}

static int add_then(Store *s, void *userdata) {
        int r = store_user_add(s, "cb", NULL, false, T0, NULL);

        if (r < 0)
                return r;
        return *(int *) userdata;
}

static void test_transaction_callback(void **state) {
        Fixture *f = *state;
        StoreUser *u = NULL;
        int result;

        result = -EIO;
        assert_int_equal(store_transaction(f->store, add_then, &result), -EIO);
        assert_int_equal(store_user_get_by_name(f->store, "cb", &u), -ENOENT);

        result = 7;
        assert_int_equal(store_transaction(f->store, add_then, &result), 7);
        assert_int_equal(store_user_get_by_name(f->store, "cb", &u), 0);
        u = store_user_free(u);

        /* Nested: refused. */
        assert_int_equal(store_begin(f->store), 0);
        assert_int_equal(store_transaction(f->store, add_then, &result), -EALREADY);
        assert_int_equal(store_rollback(f->store), 0);
}

static void test_busy(void **state) {
        Fixture *f = *state;
        sqlite3 *other = raw_open(f->path);

        assert_int_equal(sqlite3_busy_timeout(f->store->db, 20), SQLITE_OK);
        assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(store_user_add(f->store, "a", NULL, false, T0, NULL), -EBUSY);
        assert_int_equal(store_begin(f->store), -EBUSY);
        assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_close(other), SQLITE_OK);
        assert_int_equal(store_user_add(f->store, "a", NULL, false, T0, NULL), 0);
}

static void test_disk_full(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *big = malloc(STORE_SETTING_VALUE_MAX + 1);
        _cleanup_free_ char *v = NULL;
        char sql[64];

        assert_non_null(big);
        memset(big, 'x', STORE_SETTING_VALUE_MAX);
        big[STORE_SETTING_VALUE_MAX] = '\0';

        /* No room to grow: what a full disk looks like to SQLite. */
        (void) snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %" PRIi64,
                        store_int(f->store, "PRAGMA page_count"));
        assert_int_equal(sqlite3_exec(f->store->db, sql, NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(store_setting_set(f->store, "big", big), -ENOSPC);
        assert_int_equal(store_setting_get(f->store, "big", &v), -ENOENT);

        assert_int_equal(sqlite3_exec(f->store->db, "PRAGMA max_page_count = 1073741823", NULL, NULL, NULL),
                         SQLITE_OK);
        assert_int_equal(store_setting_set(f->store, "big", big), 0);
        assert_int_equal(store_setting_get(f->store, "big", &v), 0);
        assert_int_equal(strlen(v), STORE_SETTING_VALUE_MAX);
}

static void test_errno_map(void **state) {
        assert_int_equal(store_errno(SQLITE_OK), 0);
        assert_int_equal(store_errno(SQLITE_DONE), 0);
        assert_int_equal(store_errno(SQLITE_BUSY), -EBUSY);
        assert_int_equal(store_errno(SQLITE_BUSY_SNAPSHOT), -EBUSY);
        assert_int_equal(store_errno(SQLITE_LOCKED), -EBUSY);
        assert_int_equal(store_errno(SQLITE_CONSTRAINT_UNIQUE), -EEXIST);
        assert_int_equal(store_errno(SQLITE_CONSTRAINT_PRIMARYKEY), -EEXIST);
        assert_int_equal(store_errno(SQLITE_CONSTRAINT_FOREIGNKEY), -ENOENT);
        assert_int_equal(store_errno(SQLITE_CONSTRAINT_CHECK), -EINVAL);
        assert_int_equal(store_errno(SQLITE_CONSTRAINT_NOTNULL), -EINVAL);
        assert_int_equal(store_errno(SQLITE_NOTFOUND), -ENOENT);
        assert_int_equal(store_errno(SQLITE_FULL), -ENOSPC);
        assert_int_equal(store_errno(SQLITE_CORRUPT), -EBADMSG);
        assert_int_equal(store_errno(SQLITE_CORRUPT_INDEX), -EBADMSG);
        assert_int_equal(store_errno(SQLITE_NOTADB), -EBADMSG);
        assert_int_equal(store_errno(SQLITE_NOMEM), -ENOMEM);
        assert_int_equal(store_errno(SQLITE_IOERR_NOMEM), -ENOMEM);
        assert_int_equal(store_errno(SQLITE_TOOBIG), -E2BIG);
        assert_int_equal(store_errno(SQLITE_IOERR), -EIO);
        assert_int_equal(store_errno(SQLITE_IOERR_FSYNC), -EIO);
        assert_int_equal(store_errno(SQLITE_ERROR), -EIO);
        assert_int_equal(store_errno(SQLITE_CONSTRAINT), -EIO);
}

static void test_statement_cache(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *v = NULL;
        size_t before;

        /* The same call twice reuses its statement; many different ones grow the table. */
        assert_int_equal(store_setting_set(f->store, "a", "1"), 0);
        before = f->store->n_statements;
        assert_int_equal(store_setting_set(f->store, "b", "2"), 0);
        assert_int_equal(f->store->n_statements, before);

        static const char *const sql[] = {
                "SELECT 1",  "SELECT 2",  "SELECT 3",  "SELECT 4",  "SELECT 5",  "SELECT 6",  "SELECT 7",
                "SELECT 8",  "SELECT 9",  "SELECT 10", "SELECT 11", "SELECT 12", "SELECT 13", "SELECT 14",
                "SELECT 15", "SELECT 16", "SELECT 17", "SELECT 18", "SELECT 19", "SELECT 20", "SELECT 21",
                "SELECT 22", "SELECT 23", "SELECT 24", "SELECT 25", "SELECT 26", "SELECT 27", "SELECT 28",
                "SELECT 29", "SELECT 30", "SELECT 31", "SELECT 32", "SELECT 33", "SELECT 34", "SELECT 35",
                "SELECT 36",
        };
        for (size_t i = 0; i < ELEMENTSOF(sql); i++) {
                sqlite3_stmt *st = NULL;

                assert_int_equal(store_prepare(f->store, sql[i], &st), 0);
                assert_string_equal(sqlite3_sql(st), sql[i]);
        }
        assert_true(f->store->allocated_statements >= 2 * f->store->n_statements);
        for (size_t i = 0; i < ELEMENTSOF(sql); i++) {
                sqlite3_stmt *st = NULL;

                assert_int_equal(store_prepare(f->store, sql[i], &st), 0);
                assert_string_equal(sqlite3_sql(st), sql[i]);
        }
        assert_int_equal(f->store->n_statements, before + ELEMENTSOF(sql));
        assert_int_equal(store_setting_get(f->store, "b", &v), 0);
        assert_string_equal(v, "2");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_create_and_settings, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_reopen, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_mode_tightened, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_symlink_refused, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_not_a_file, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_fds_cloexec, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_garbage_file, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_page, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_foreign_database, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_transactions, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_transaction_lost, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_transaction_callback, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_busy, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_disk_full, fixture_setup, fixture_teardown),
                cmocka_unit_test(test_errno_map),
                cmocka_unit_test_setup_teardown(test_statement_cache, fixture_setup, fixture_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
