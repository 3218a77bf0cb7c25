/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * store/store-internal.h — what the store's own files share: the connection, the statement cache,
 * binding, stepping, the error map, nested atomic operations and list building. Not for other
 * modules; the tests use it to build databases at older schema versions.
 */

#include <sqlite3.h>

#include "store/store.h"

typedef struct StoreStatement {
        const char *sql; /* the key: the address of a string literal */
        sqlite3_stmt *stmt;
} StoreStatement;

struct Store {
        sqlite3 *db;
        /* Prepared statements by the address of their SQL text, open addressing; at most half full. */
        StoreStatement *statements;
        size_t n_statements;
        size_t allocated_statements;
        /* store_begin() was called and neither store_commit() nor store_rollback() yet. */
        bool in_transaction;
        /* store_user_check_password() verifies against this when the user is unknown, so that the
         * answer takes as long as for a known one. Made on first need. */
        char dummy_password_hash[STORE_PASSWORD_HASH_SIZE];
};

/* The one mapping from SQLite result codes (extended or primary) to negative errno. */
int store_errno(int rc);
/* store_errno() of the connection's last error, logged at debug level with SQLite's message. */
int store_error(Store *s, int rc, const char *what);

/* The cached statement for sql, which must be a string literal (its address is the cache key).
 * Reset and unbound on the way out by the cleanup below. */
int store_prepare(Store *s, const char *sql, sqlite3_stmt **ret);
static inline void store_stmt_resetp(sqlite3_stmt **st) {
        if (*st) {
                (void) sqlite3_reset(*st);
                (void) sqlite3_clear_bindings(*st);
        }
}
#define _cleanup_stmt_ _cleanup_(store_stmt_resetp)

/* Values to bind, positionally from ?1. Text and blobs are bound without copying: they must live
 * until the statement is reset, which the cleanup above does before the caller's scope ends. */
typedef enum StoreValueType {
        STORE_VALUE_NULL,
        STORE_VALUE_INT,
        STORE_VALUE_UINT, /* -ERANGE above INT64_MAX */
        STORE_VALUE_TEXT, /* NULL binds NULL */
        STORE_VALUE_BLOB, /* NULL binds NULL */
} StoreValueType;

typedef struct StoreValue {
        StoreValueType type;
        int64_t i;
        uint64_t u;
        const void *p;
        size_t n;
} StoreValue;

#define V_NULL ((StoreValue) { .type = STORE_VALUE_NULL })
#define V_INT(x) ((StoreValue) { .type = STORE_VALUE_INT, .i = (x) })
#define V_UINT(x) ((StoreValue) { .type = STORE_VALUE_UINT, .u = (x) })
#define V_BOOL(x) V_INT((x) ? 1 : 0)
#define V_TEXT(x) ((StoreValue) { .type = STORE_VALUE_TEXT, .p = (x) })
#define V_BLOB(x, size) ((StoreValue) { .type = STORE_VALUE_BLOB, .p = (x), .n = (size) })
/* 0 ("none") binds NULL. */
#define V_TIME_OR_NULL(x) ((x) == 0 ? V_NULL : V_UINT(x))
#define V_ID_OR_NULL(x) ((x) == 0 ? V_NULL : V_INT(x))

int store_bind_array(sqlite3_stmt *st, const StoreValue *v, size_t n);
#define store_bind(st, ...)                                                                                  \
        store_bind_array(st, (const StoreValue[]) { __VA_ARGS__ },                                           \
                         ELEMENTSOF(((const StoreValue[]) { __VA_ARGS__ })))

/* Prepares sql (from the cache) and binds the values: the statement, ready to step. */
int store_query_array(Store *s, sqlite3_stmt **ret, const char *sql, const StoreValue *v, size_t n);
#define store_query(s, ret, sql, ...)                                                                        \
        store_query_array(s, ret, sql, (const StoreValue[]) { __VA_ARGS__ },                                 \
                          ELEMENTSOF(((const StoreValue[]) { __VA_ARGS__ })))

/* sqlite3_step(): 1 a row, 0 done, < 0 errno. */
int store_step(Store *s, sqlite3_stmt *st);

/* Prepares sql, binds the values, steps to the end: the number of rows changed, or < 0. */
int store_run_array(Store *s, const char *sql, const StoreValue *v, size_t n);
#define store_run(s, sql, ...)                                                                               \
        store_run_array(s, sql, (const StoreValue[]) { __VA_ARGS__ },                                        \
                        ELEMENTSOF(((const StoreValue[]) { __VA_ARGS__ })))
#define store_run_plain(s, sql) store_run_array(s, sql, NULL, 0)

/* The result of store_run() for an UPDATE or DELETE of one row by its key: -ENOENT if none. */
static inline int store_one_row(int r) {
        if (r < 0)
                return r;
        return r == 0 ? -ENOENT : 0;
}

/* SELECT EXISTS (…) with the given values: 1 or 0, or < 0. */
int store_exists_array(Store *s, const char *sql, const StoreValue *v, size_t n);
#define store_exists(s, sql, ...)                                                                            \
        store_exists_array(s, sql, (const StoreValue[]) { __VA_ARGS__ },                                     \
                           ELEMENTSOF(((const StoreValue[]) { __VA_ARGS__ })))

/* Column readers; text and blob copies are NULL for SQL NULL. */
int store_column_strdup(sqlite3_stmt *st, int col, char **ret);
int store_column_blobdup(sqlite3_stmt *st, int col, void **ret, size_t *ret_size);
uint64_t store_column_uint(sqlite3_stmt *st, int col);

/* Defines prefix_list_free() and prefix_free_void() (for store_collect()) from prefix_free(). */
#define DEFINE_STORE_LIST_FREE(Type, prefix)                                                                 \
        Type **prefix##_list_free(Type **l) {                                                                \
                if (!l)                                                                                      \
                        return NULL;                                                                         \
                for (Type **i = l; *i; i++)                                                                  \
                        prefix##_free(*i);                                                                   \
                free(l);                                                                                     \
                return NULL;                                                                                 \
        }                                                                                                    \
        static void prefix##_free_void(void *p) {                                                            \
                prefix##_free(p);                                                                            \
        }

/* Several statements as one: BEGIN IMMEDIATE when no transaction is open, else a SAVEPOINT inside
 * it, so the public calls compose inside store_begin(). An op not committed is rolled back by the
 * cleanup. */
typedef struct StoreOp {
        Store *store;
        bool savepoint;
} StoreOp;

int store_op_begin(Store *s, StoreOp *ret);
int store_op_commit(StoreOp *op);
void store_op_rollback(StoreOp *op);
#define _cleanup_op_ _cleanup_(store_op_rollback)

/* Steps a SELECT whose rows from_row turns into heap objects; returns a NULL-terminated array. */
typedef int (*StoreFromRow)(sqlite3_stmt *st, void **ret);
/* Steps st once and reads the row with from_row: -ENOENT when there is none. */
int store_get_one(Store *s, sqlite3_stmt *st, StoreFromRow from_row, void **ret);
int store_collect(Store *s, sqlite3_stmt *st, StoreFromRow from_row, void (*free_fn)(void *), void ***ret,
                  size_t *ret_n);

/* Checks text the caller hands in: non-NULL, 1..max bytes (0..max when empty_ok), valid UTF-8. */
int store_check_text(const char *t, size_t max, bool empty_ok);
/* Ids: 1..STORE_ID_MAX bytes of [A-Za-z0-9_-]. */
int store_check_id(const char *id);

/* sha256 of a presented token into ret; -ENOENT when len is out of range, so that a malformed token
 * answers like an unknown one. */
int store_token_digest(const char *token, size_t len, size_t expected_len, uint8_t ret[static 32]);

/* The migration steps: step i takes the schema from version i to i + 1. */
extern const char *const store_migrations[];
extern const size_t store_n_migrations;

/* store_open() with another list of steps: tests open databases at older versions with a prefix
 * of store_migrations, and check failing steps with lists of their own. */
int store_open_with_migrations(const char *path, StoreOpenFlags flags, const char *const *steps,
                               size_t n_steps, Store **ret);

/* Tests lower the argon2id cost; 0, 0 goes back to libsodium's interactive limits. */
void store_password_set_limits(unsigned long long opslimit, size_t memlimit);
