/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Helpers shared by the store's tests: a fresh directory and database per test, and a second,
 * plain SQLite connection for looking at (or damaging) the file behind the store's back.
 */

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "basic/fileio.h"
#include "basic/string-util.h"
#include "store/store-internal.h"
#include "store/store.h"

/* 2023-11-14 22:13:20 UTC, and seconds from there. */
#define T0 (UINT64_C(1700000000) * STORE_USEC_PER_SEC)
#define SEC(n) ((uint64_t) (n) * STORE_USEC_PER_SEC)

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

typedef struct Fixture {
        char dir[64];
        char path[128];
        Store *store;
} Fixture;

static inline int fixture_setup_empty(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        if (!f)
                return -1;
        (void) snprintf(f->dir, sizeof(f->dir), "/tmp/test-store-XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        (void) snprintf(f->path, sizeof(f->path), "%s/granary.sqlite", f->dir);
        /* Cheap hashes: the tests check what is stored and compared, not the cost. */
        store_password_set_limits(crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN);
        *state = f;
        return 0;
}

static inline int fixture_setup(void **state) {
        Fixture *f;

        if (fixture_setup_empty(state) < 0)
                return -1;
        f = *state;
        return store_open(f->path, STORE_OPEN_CREATE, &f->store) < 0 ? -1 : 0;
}

static inline int fixture_teardown(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *parent = path_dirname(f->dir);
        int pfd, r;

        f->store = store_close(f->store);
        pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = rm_rf_at(pfd, path_basename(f->dir));
        safe_close(pfd);
        free(f);
        return r < 0 ? -1 : 0;
}

/* A plain connection, without the store's settings. */
static inline sqlite3 *raw_open(const char *path) {
        sqlite3 *db = NULL;

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        return db;
}

static inline void raw_exec(const char *path, const char *sql) {
        sqlite3 *db = raw_open(path);
        char *error = NULL;
        int rc;

        rc = sqlite3_exec(db, sql, NULL, NULL, &error);
        if (rc != SQLITE_OK)
                print_error("raw_exec: %s: %s\n", sql, error);
        sqlite3_free(error);
        assert_int_equal(rc, SQLITE_OK);
        assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* The first column of the first row, as an integer. */
static inline int64_t raw_int(const char *path, const char *sql) {
        sqlite3 *db = raw_open(path);
        sqlite3_stmt *st = NULL;
        int64_t v;

        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        v = sqlite3_column_int64(st, 0);
        assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
        assert_int_equal(sqlite3_close(db), SQLITE_OK);
        return v;
}

/* The same, through the store's own connection (for PRAGMAs that are per connection). */
static inline int64_t store_int(Store *s, const char *sql) {
        sqlite3_stmt *st = NULL;
        int64_t v;

        assert_int_equal(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        v = sqlite3_column_int64(st, 0);
        assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
        return v;
}

/* Every object of the schema, in a stable order: what "the same schema" means. */
static inline char *schema_dump(const char *path) {
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;
        sqlite3 *db = raw_open(path);
        sqlite3_stmt *st = NULL;
        int rc;

        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT type, name, tbl_name, sql FROM sqlite_schema "
                                            "ORDER BY type, name",
                                            -1, &st, NULL),
                         SQLITE_OK);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *sql = (const char *) sqlite3_column_text(st, 3);

                assert_int_equal(strbuf_printf(&b, "-- %s %s on %s\n%s%s\n", sqlite3_column_text(st, 0),
                                               sqlite3_column_text(st, 1), sqlite3_column_text(st, 2),
                                               sql ?: "-- (made by SQLite)", sql ? ";" : ""),
                                 0);
        }
        assert_int_equal(rc, SQLITE_DONE);
        assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
        assert_int_equal(sqlite3_close(db), SQLITE_OK);
        return strbuf_steal(&b, NULL);
}

/* True if needle occurs in the file at path (the database or its WAL). */
static inline bool file_contains(const char *path, const void *needle, size_t n) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;

        if (read_full_file_at(AT_FDCWD, path, SIZE_MAX, &data, &size) < 0)
                return false;
        return memmem(data, size, needle, n) != NULL;
}

static inline bool store_files_contain(const char *path, const char *needle) {
        char wal[PATH_MAX];

        (void) snprintf(wal, sizeof(wal), "%s-wal", path);
        return file_contains(path, needle, strlen(needle)) || file_contains(wal, needle, strlen(needle));
}
