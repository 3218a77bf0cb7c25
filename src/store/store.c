/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include <sodium.h>
#include <sqlite3.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/random-util.h"
#include "basic/string-util.h"
#include "store/store-internal.h"

/*
 * Opening a database:
 *
 *   missing --STORE_OPEN_CREATE--> empty (version 0) --migrate--> 1 --> … --> STORE_SCHEMA_VERSION
 *   version > what we know -------> -EPROTO, nothing written
 *
 * (1) store_open() creates the file itself with mode 0600 before SQLite sees it; SQLite gives the
 *     -wal and -shm files the mode of the database file.
 * (2) Each migration step runs in its own BEGIN IMMEDIATE transaction that also sets user_version,
 *     so the file is always at some version i with exactly steps 0..i-1 applied. The version is read
 *     again inside the transaction, so two processes opening at once migrate once.
 * (3) A database at version 0 must be empty (no schema, no application_id): we never add our
 *     tables to somebody else's file. At any other version application_id must be ours.
 * (4) Foreign keys are off during a step (SQLite cannot switch them inside a transaction, and a
 *     step that rebuilds a table needs them off) and PRAGMA foreign_key_check must find nothing
 *     before the step commits.
 */

int store_errno(int rc) {
        /* Extended codes first: which constraint failed decides what the caller is told. */
        switch (rc) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_CONSTRAINT_UNIQUE:
        case SQLITE_CONSTRAINT_PRIMARYKEY:
                return -EEXIST;
        case SQLITE_CONSTRAINT_FOREIGNKEY:
                /* Inserting or updating a row that refers to one that does not exist. (Deleting a row
                 * still referred to is checked before the DELETE, and answered with -EBUSY.) */
                return -ENOENT;
        case SQLITE_CONSTRAINT_CHECK:
        case SQLITE_CONSTRAINT_NOTNULL:
        case SQLITE_CONSTRAINT_DATATYPE:
                return -EINVAL;
        case SQLITE_IOERR_NOMEM:
                return -ENOMEM;
        }

        switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_NOTFOUND:
                return -ENOENT;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EBADMSG;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_TOOBIG:
                return -E2BIG;
        case SQLITE_READONLY:
                return -EROFS;
        default:
                return -EIO;
        }
}

int store_error(Store *s, int rc, const char *what) {
        int r = store_errno(rc);

        assert(s);
        assert(r < 0);

        log_debug("store: %s failed: %s (%d): %s", what, sqlite3_errstr(rc), rc,
                  s->db ? sqlite3_errmsg(s->db) : "no connection");
        return r;
}

static size_t statement_slot(const char *sql, size_t allocated) {
        /* Fibonacci hashing of the literal's address; allocated is a power of two. */
        uint64_t h = (uint64_t) (uintptr_t) sql * UINT64_C(0x9e3779b97f4a7c15);

        return (size_t) (h >> 32) & (allocated - 1);
}

static int statements_grow(Store *s) {
        size_t n = s->allocated_statements ? s->allocated_statements * 2 : 64;
        StoreStatement *t;

        t = calloc(n, sizeof(StoreStatement));
        if (!t)
                return -ENOMEM;
        for (size_t i = 0; i < s->allocated_statements; i++) {
                StoreStatement *old = &s->statements[i];
                size_t j;

                if (!old->sql)
                        continue;
                for (j = statement_slot(old->sql, n); t[j].sql; j = (j + 1) & (n - 1))
                        ;
                t[j] = *old;
        }
        free(s->statements);
        s->statements = t;
        s->allocated_statements = n;
        return 0;
}

int store_prepare(Store *s, const char *sql, sqlite3_stmt **ret) {
        sqlite3_stmt *st = NULL;
        size_t i;
        int r, rc;

        assert(s);
        assert(sql);
        assert(ret);

        /* An error inside store_begin() may have made SQLite roll the whole transaction back
         * (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM, SQLITE_BUSY). Running on would write outside the
         * transaction the caller believes is open. */
        if (s->in_transaction && sqlite3_get_autocommit(s->db)) {
                log_debug("store: the open transaction was rolled back after an error");
                return -EIO;
        }

        if (s->allocated_statements > 0)
                for (i = statement_slot(sql, s->allocated_statements); s->statements[i].sql;
                     i = (i + 1) & (s->allocated_statements - 1))
                        if (s->statements[i].sql == sql) {
                                /* One use at a time: a statement still stepping would be reset under
                                 * its first user. */
                                assert(!sqlite3_stmt_busy(s->statements[i].stmt));
                                *ret = s->statements[i].stmt;
                                return 0;
                        }

        if ((s->n_statements + 1) * 2 > s->allocated_statements) {
                r = statements_grow(s);
                if (r < 0)
                        return r;
        }

        rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        if (rc != SQLITE_OK)
                return store_error(s, rc, "prepare");
        assert(st); /* all our SQL is one statement, never blank */

        for (i = statement_slot(sql, s->allocated_statements); s->statements[i].sql;
             i = (i + 1) & (s->allocated_statements - 1))
                ;
        s->statements[i] = (StoreStatement) { .sql = sql, .stmt = st };
        s->n_statements++;

        *ret = st;
        return 0;
}

int store_bind_array(sqlite3_stmt *st, const StoreValue *v, size_t n) {
        assert(st);
        assert(v || n == 0);

        for (size_t i = 0; i < n; i++) {
                int idx = (int) i + 1, rc;

                switch (v[i].type) {
                case STORE_VALUE_NULL:
                        rc = sqlite3_bind_null(st, idx);
                        break;
                case STORE_VALUE_INT:
                        rc = sqlite3_bind_int64(st, idx, v[i].i);
                        break;
                case STORE_VALUE_UINT:
                        if (v[i].u > INT64_MAX)
                                return -ERANGE;
                        rc = sqlite3_bind_int64(st, idx, (sqlite3_int64) v[i].u);
                        break;
                case STORE_VALUE_TEXT:
                        rc = v[i].p ? sqlite3_bind_text(st, idx, v[i].p, -1, SQLITE_STATIC)
                                    : sqlite3_bind_null(st, idx);
                        break;
                case STORE_VALUE_BLOB:
                        if (v[i].n > INT_MAX)
                                return -E2BIG;
                        /* A non-NULL empty blob stays a blob: sqlite3_bind_blob() would store NULL for
                         * a NULL pointer only. */
                        rc = v[i].p ? sqlite3_bind_blob(st, idx, v[i].p, (int) v[i].n, SQLITE_STATIC)
                                    : sqlite3_bind_null(st, idx);
                        break;
                default:
                        assert(false);
                        return -EINVAL;
                }
                if (rc != SQLITE_OK)
                        return store_errno(rc);
        }
        return 0;
}

int store_step(Store *s, sqlite3_stmt *st) {
        int rc;

        assert(s);
        assert(st);

        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                return 1;
        if (rc == SQLITE_DONE)
                return 0;
        return store_error(s, rc, "step");
}

int store_query_array(Store *s, sqlite3_stmt **ret, const char *sql, const StoreValue *v, size_t n) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        assert(s);
        assert(sql);
        assert(ret);

        r = store_prepare(s, sql, &st);
        if (r < 0)
                return r;
        r = store_bind_array(st, v, n);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(st);
        return 0;
}

int store_run_array(Store *s, const char *sql, const StoreValue *v, size_t n) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        r = store_query_array(s, &st, sql, v, n);
        if (r < 0)
                return r;
        do
                r = store_step(s, st);
        while (r > 0);
        if (r < 0)
                return r;

        return (int) MIN(sqlite3_changes64(s->db), (sqlite3_int64) INT_MAX);
}

int store_exists_array(Store *s, const char *sql, const StoreValue *v, size_t n) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        r = store_query_array(s, &st, sql, v, n);
        if (r < 0)
                return r;
        r = store_step(s, st);
        if (r < 0)
                return r;
        return r > 0 && sqlite3_column_int(st, 0) != 0;
}

int store_column_strdup(sqlite3_stmt *st, int col, char **ret) {
        const unsigned char *t;
        char *copy;

        assert(st);
        assert(ret);

        t = sqlite3_column_text(st, col);
        if (!t) {
                if (sqlite3_column_type(st, col) != SQLITE_NULL)
                        return -ENOMEM;
                *ret = NULL;
                return 0;
        }
        copy = strndup_safe((const char *) t, (size_t) sqlite3_column_bytes(st, col));
        if (!copy)
                return -ENOMEM;
        *ret = copy;
        return 0;
}

int store_column_blobdup(sqlite3_stmt *st, int col, void **ret, size_t *ret_size) {
        const void *b;
        void *copy;
        size_t n;

        assert(st);
        assert(ret);
        assert(ret_size);

        if (sqlite3_column_type(st, col) == SQLITE_NULL) {
                *ret = NULL;
                *ret_size = 0;
                return 0;
        }
        b = sqlite3_column_blob(st, col);
        n = (size_t) sqlite3_column_bytes(st, col);
        /* One byte more, so that an empty blob is a non-NULL pointer and not "none". */
        copy = malloc(n + 1);
        if (!copy)
                return -ENOMEM;
        if (n > 0) {
                if (!b) {
                        free(copy);
                        return -ENOMEM;
                }
                memcpy(copy, b, n);
        }
        *ret = copy;
        *ret_size = n;
        return 0;
}

uint64_t store_column_uint(sqlite3_stmt *st, int col) {
        sqlite3_int64 v = sqlite3_column_int64(st, col);

        /* Never negative when written through this module; NULL reads as 0. */
        return v < 0 ? 0 : (uint64_t) v;
}

/* Transaction control goes straight to sqlite3_exec(): these must work when store_prepare()
 * refuses because SQLite rolled the transaction back on its own. */
static int store_exec(Store *s, const char *sql) {
        int rc;

        rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return store_error(s, rc, sql);
        return 0;
}

int store_op_begin(Store *s, StoreOp *ret) {
        bool savepoint;
        int r;

        assert(s);
        assert(ret);

        if (s->in_transaction && sqlite3_get_autocommit(s->db))
                return -EIO; /* see store_prepare() */

        savepoint = !sqlite3_get_autocommit(s->db);
        r = store_exec(s, savepoint ? "SAVEPOINT store_op" : "BEGIN IMMEDIATE");
        if (r < 0)
                return r;

        *ret = (StoreOp) { .store = s, .savepoint = savepoint };
        return 0;
}

void store_op_rollback(StoreOp *op) {
        Store *s;

        assert(op);

        s = TAKE_PTR(op->store);
        if (!s)
                return;
        /* After SQLite rolled back by itself there is nothing left to undo. */
        if (sqlite3_get_autocommit(s->db))
                return;
        if (op->savepoint)
                (void) store_exec(s, "ROLLBACK TO store_op; RELEASE store_op");
        else
                (void) store_exec(s, "ROLLBACK");
}

int store_op_commit(StoreOp *op) {
        Store *s;
        int r;

        assert(op);
        assert(op->store);

        s = op->store;
        r = store_exec(s, op->savepoint ? "RELEASE store_op" : "COMMIT");
        if (r < 0) {
                store_op_rollback(op);
                return r;
        }
        op->store = NULL;
        return 0;
}

int store_begin(Store *s) {
        int r;

        assert(s);

        if (s->in_transaction)
                return -EALREADY;
        r = store_exec(s, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        s->in_transaction = true;
        return 0;
}

int store_commit(Store *s) {
        int r;

        assert(s);

        if (!s->in_transaction)
                return -ENOTCONN;
        s->in_transaction = false;
        if (sqlite3_get_autocommit(s->db))
                return -EIO; /* already rolled back by SQLite after an error */
        r = store_exec(s, "COMMIT");
        if (r < 0 && !sqlite3_get_autocommit(s->db))
                (void) store_exec(s, "ROLLBACK");
        return r;
}

int store_rollback(Store *s) {
        assert(s);

        if (!s->in_transaction)
                return -ENOTCONN;
        s->in_transaction = false;
        if (sqlite3_get_autocommit(s->db))
                return 0;
        return store_exec(s, "ROLLBACK");
}

int store_transaction(Store *s, int (*fn)(Store *s, void *userdata), void *userdata) {
        int r, q;

        assert(s);
        assert(fn);

        r = store_begin(s);
        if (r < 0)
                return r;
        r = fn(s, userdata);
        if (r < 0) {
                (void) store_rollback(s);
                return r;
        }
        q = store_commit(s);
        return q < 0 ? q : r;
}

int store_get_one(Store *s, sqlite3_stmt *st, StoreFromRow from_row, void **ret) {
        int r;

        r = store_step(s, st);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        return from_row(st, ret);
}

int store_collect(Store *s, sqlite3_stmt *st, StoreFromRow from_row, void (*free_fn)(void *), void ***ret,
                  size_t *ret_n) {
        void **l = NULL;
        size_t n = 0, allocated = 0;
        int r;

        assert(s);
        assert(st);
        assert(from_row);
        assert(free_fn);
        assert(ret);

        for (;;) {
                r = store_step(s, st);
                if (r < 0)
                        goto fail;
                if (r == 0)
                        break;
                if (n + 2 > allocated) {
                        size_t m = allocated ? allocated * 2 : 8;
                        void **t = reallocarray(l, m, sizeof(void *));

                        if (!t) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        l = t;
                        allocated = m;
                }
                r = from_row(st, &l[n]);
                if (r < 0)
                        goto fail;
                l[++n] = NULL;
        }

        if (!l) {
                l = calloc(1, sizeof(void *));
                if (!l)
                        return -ENOMEM;
        }
        *ret = l;
        if (ret_n)
                *ret_n = n;
        return 0;

fail:
        for (size_t i = 0; i < n; i++)
                free_fn(l[i]);
        free(l);
        return r;
}

int store_check_text(const char *t, size_t max, bool empty_ok) {
        size_t n;

        if (!t)
                return -EINVAL;
        n = strnlen(t, max + 1);
        if (n > max || (n == 0 && !empty_ok))
                return -EINVAL;
        if (!utf8_is_valid(t, n))
                return -EINVAL;
        return 0;
}

int store_check_id(const char *id) {
        size_t n;

        if (!id)
                return -EINVAL;
        n = strnlen(id, STORE_ID_MAX + 1);
        if (n == 0 || n > STORE_ID_MAX)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
                      (id[i] >= '0' && id[i] <= '9') || id[i] == '-' || id[i] == '_'))
                        return -EINVAL;
        return 0;
}

int store_token_digest(const char *token, size_t len, size_t expected_len, uint8_t ret[static 32]) {
        assert(ret);

        if (!token || len == 0 || len > STORE_TOKEN_INPUT_MAX)
                return -ENOENT;
        if (expected_len > 0 && len != expected_len)
                return -ENOENT;
        crypto_hash_sha256(ret, (const unsigned char *) token, len);
        return 0;
}

void store_token_hash(const char *token, size_t len, char ret[static STORE_TOKEN_HASH_LENGTH + 1]) {
        uint8_t digest[crypto_hash_sha256_BYTES];

        assert(token || len == 0);
        assert(ret);

        crypto_hash_sha256(digest, (const unsigned char *) token, len);
        sodium_bin2base64(ret, STORE_TOKEN_HASH_LENGTH + 1, digest, sizeof(digest),
                          sodium_base64_VARIANT_ORIGINAL);
}

Store *store_close(Store *s) {
        if (!s)
                return NULL;

        for (size_t i = 0; i < s->allocated_statements; i++)
                if (s->statements[i].stmt)
                        (void) sqlite3_finalize(s->statements[i].stmt);
        free(s->statements);
        /* Every statement is finalized, so this closes (and, as the last connection, checkpoints the
         * WAL into the database and removes it). An open transaction is rolled back. */
        if (s->db)
                (void) sqlite3_close(s->db);
        explicit_bzero_safe(s->dummy_password_hash, sizeof(s->dummy_password_hash));
        free(s);
        return NULL;
}

static int store_pragma_int(Store *s, const char *sql, int64_t *ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        r = store_prepare(s, sql, &st);
        if (r < 0)
                return r;
        r = store_step(s, st);
        if (r < 0)
                return r;
        if (r == 0)
                return -EIO;
        *ret = sqlite3_column_int64(st, 0);
        return 0;
}

static int store_read_version(Store *s, int64_t *ret_version, int64_t *ret_application_id) {
        int r;

        r = store_pragma_int(s, "PRAGMA user_version", ret_version);
        if (r < 0)
                return r;
        return store_pragma_int(s, "PRAGMA application_id", ret_application_id);
}

static int store_check_ours(Store *s, size_t n_steps, int64_t *ret_version) {
        int64_t version, application_id, n_objects;
        int r;

        r = store_read_version(s, &version, &application_id);
        if (r < 0)
                return r;

        if (version < 0)
                return -EBADMSG;
        if (version == 0) {
                r = store_pragma_int(s, "SELECT count(*) FROM sqlite_schema", &n_objects);
                if (r < 0)
                        return r;
                if (n_objects > 0 || application_id != 0) {
                        log_debug("store: version 0 but not empty: another program's database");
                        return -EBADMSG;
                }
        } else if (application_id != STORE_APPLICATION_ID) {
                log_debug("store: application_id %" PRIi64 " is not granary's", application_id);
                return -EBADMSG;
        }
        if ((uint64_t) version > n_steps) {
                log_debug("store: schema version %" PRIi64 " is newer than this granary's (%zu)", version,
                          n_steps);
                return -EPROTO;
        }

        *ret_version = version;
        return 0;
}

static int store_foreign_key_violations(Store *s) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        r = store_prepare(s, "PRAGMA foreign_key_check", &st);
        if (r < 0)
                return r;
        r = store_step(s, st);
        if (r < 0)
                return r;
        if (r > 0) {
                log_debug("store: a migration left a dangling reference in table '%s'",
                          (const char *) sqlite3_column_text(st, 0));
                return -EBADMSG;
        }
        return 0;
}

static int store_migrate_step(Store *s, const char *const *steps, size_t n_steps, int64_t version) {
        /* PRAGMA takes no parameters; these are our own integers, not anybody's input. */
        char sql[128];
        int64_t current, application_id;
        char *error = NULL;
        int r, rc;

        r = store_exec(s, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;

        /* Another process may have migrated while we waited for the lock (invariant 2). */
        r = store_read_version(s, &current, &application_id);
        if (r < 0)
                goto rollback;
        if (current != version) {
                r = current > version && (uint64_t) current <= n_steps ? 0 : -EPROTO;
                goto rollback;
        }

        rc = sqlite3_exec(s->db, steps[version], NULL, NULL, &error);
        if (rc != SQLITE_OK) {
                log_debug("store: migration to version %" PRIi64 " failed: %s", version + 1,
                          error ?: "unknown error");
                sqlite3_free(error);
                r = store_errno(rc);
                goto rollback;
        }

        r = store_foreign_key_violations(s);
        if (r < 0)
                goto rollback;

        (void) snprintf(sql, sizeof(sql), "PRAGMA user_version = %" PRIi64 "; PRAGMA application_id = %d",
                        version + 1, STORE_APPLICATION_ID);
        r = store_exec(s, sql);
        if (r < 0)
                goto rollback;
        r = store_exec(s, "COMMIT");
        if (r < 0)
                goto rollback;
        return 0;

rollback:
        if (!sqlite3_get_autocommit(s->db))
                (void) store_exec(s, "ROLLBACK");
        return r;
}

static int store_migrate(Store *s, const char *const *steps, size_t n_steps) {
        int r = 0, q;

        /* Invariant 4: off for the steps, and back on whatever happened. */
        r = store_exec(s, "PRAGMA foreign_keys = OFF");
        if (r < 0)
                return r;

        for (;;) {
                int64_t version;

                r = store_check_ours(s, n_steps, &version);
                if (r < 0 || (uint64_t) version == n_steps)
                        break;
                r = store_migrate_step(s, steps, n_steps, version);
                if (r < 0)
                        break;
        }

        q = store_exec(s, "PRAGMA foreign_keys = ON");
        return r < 0 ? r : q;
}

/* Creates the file with mode 0600 (invariant 1), or tightens the mode of an existing one. */
static int store_prepare_file(const char *path, StoreOpenFlags flags) {
        _cleanup_close_ int fd = -EBADF;
        bool created = false;
        struct stat st;

        /* O_NONBLOCK: a FIFO planted at path must not hang us. */
        if (flags & STORE_OPEN_CREATE) {
                fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK,
                          0600);
                if (fd >= 0)
                        created = true;
                else if (errno != EEXIST)
                        return negative_errno();
        }
        if (fd < 0) {
                fd = RET_NERRNO(open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK));
                if (fd < 0)
                        return fd;
        }

        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0)
                return negative_errno();

        if (created) {
                /* The new name must survive a power loss as much as what is later written to it. */
                _cleanup_free_ char *dir = path_dirname(path);
                _cleanup_close_ int dir_fd = -EBADF;

                if (!dir)
                        return -ENOMEM;
                dir_fd = RET_NERRNO(open(isempty(dir) ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
                if (dir_fd < 0)
                        return dir_fd;
                if (fsync(fd) < 0 || fsync(dir_fd) < 0)
                        return negative_errno();
        }
        return 0;
}

static int store_configure(Store *s) {
        static const struct {
                int op;
                int value;
        } config[] = {
                /* No writable_schema, no shadow table writes, no deliberate corruption from SQL. */
                { SQLITE_DBCONFIG_DEFENSIVE, 1 },
                /* SQL functions in the schema (views, triggers, defaults) are not trusted. */
                { SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0 },
                /* Double-quoted strings are identifiers, never literals: a typo fails loudly. */
                { SQLITE_DBCONFIG_DQS_DML, 0 },
                { SQLITE_DBCONFIG_DQS_DDL, 0 },
                { SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0 },
        };
        int rc;

        for (size_t i = 0; i < ELEMENTSOF(config); i++) {
                rc = sqlite3_db_config(s->db, config[i].op, config[i].value, NULL);
                if (rc != SQLITE_OK)
                        return store_error(s, rc, "sqlite3_db_config");
        }

        (void) sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, (int) STORE_VALUE_MAX);
        (void) sqlite3_limit(s->db, SQLITE_LIMIT_ATTACHED, 0);

        rc = sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MSEC);
        if (rc != SQLITE_OK)
                return store_error(s, rc, "sqlite3_busy_timeout");

        /* Per connection, and cheap: secure_delete overwrites deleted rows, so a deleted session,
         * token or password hash does not linger in free pages. Writes are few and small. */
        return store_exec(s,
                          "PRAGMA foreign_keys = ON; "
                          "PRAGMA trusted_schema = OFF; "
                          "PRAGMA secure_delete = ON");
}

static int store_set_journal(Store *s) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        const char *mode;
        int r;

        r = store_prepare(s, "PRAGMA journal_mode = WAL", &st);
        if (r < 0)
                return r;
        r = store_step(s, st);
        if (r < 0)
                return r;
        mode = r > 0 ? (const char *) sqlite3_column_text(st, 0) : NULL;
        if (!mode || !streq(mode, "wal")) {
                log_debug("store: journal mode is '%s', not 'wal'", mode ?: "(none)");
                return -EIO;
        }

        /* Durability. In WAL mode synchronous=NORMAL already survives a crash of the process, but a
         * power loss or a kernel crash may take the last commits with it. FULL syncs the WAL at every
         * commit, so every write we acknowledge — an account, a session, a share, a consumed setup
         * token — survives those too (SECURITY.md, "Data safety"). It costs one fdatasync per commit;
         * the front server reads far more often than it writes. */
        return store_exec(s, "PRAGMA synchronous = FULL; PRAGMA journal_size_limit = 67108864");
}

int store_open_with_migrations(const char *path, StoreOpenFlags flags, const char *const *steps,
                               size_t n_steps, Store **ret) {
        _cleanup_(store_closep) Store *s = NULL;
        int64_t version;
        int r, rc;

        assert(path);
        assert(steps || n_steps == 0);
        assert(ret);

        /* STRICT tables. meson.build checks the headers; this checks the library we run with. */
        if (sqlite3_libversion_number() < 3037000)
                return -EPROTONOSUPPORT;

        r = random_init();
        if (r < 0)
                return r;

        r = store_prepare_file(path, flags);
        if (r < 0)
                return r;

        s = calloc(1, sizeof(Store));
        if (!s)
                return -ENOMEM;

        /* NOMUTEX: one connection, one thread. NOFOLLOW: as store_prepare_file(). */
        rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, NULL);
        if (rc != SQLITE_OK)
                return store_error(s, rc, "sqlite3_open_v2");
        (void) sqlite3_extended_result_codes(s->db, 1);

        r = store_configure(s);
        if (r < 0)
                return r;

        /* Before anything writes: a newer or foreign database is left exactly as it was. */
        r = store_check_ours(s, n_steps, &version);
        if (r < 0)
                return r;

        r = store_set_journal(s);
        if (r < 0)
                return r;

        r = store_migrate(s, steps, n_steps);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(s);
        return 0;
}

int store_open(const char *path, StoreOpenFlags flags, Store **ret) {
        return store_open_with_migrations(path, flags, store_migrations, store_n_migrations, ret);
}
