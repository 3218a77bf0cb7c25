/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Migrations: from every older version to the latest, the expected schema, newer versions refused,
 * failed steps leaving the previous version. */

#include "store-test.h"

/* Rows valid at schema version `version`, one or more in every table that version has. */
static void populate(const char *path, size_t version) {
        if (version >= 1)
                raw_exec(path,
                         "INSERT INTO users (id, name, display_name, password_hash, is_admin, created) "
                         "VALUES (1, 'alice', 'Alice', '$argon2id$v=19$x', 1, 1), "
                         "(2, 'bob', 'Bob', NULL, 0, 2);"
                         "INSERT INTO sessions VALUES (randomblob(32), 1, 1, 2, 1);"
                         "INSERT INTO setup_tokens VALUES (randomblob(32), 1, 2);"
                         "INSERT INTO login_attempts (user_name, address, time) VALUES ('alice', '::1', 1);"
                         "INSERT INTO settings VALUES ('BASE_URL', 'https://example.org');");
        if (version >= 2)
                raw_exec(path,
                         "INSERT INTO apps (id, title, created) VALUES ('app', 'App', 1);"
                         "INSERT INTO packages VALUES ('pkg', 'app', 3, '1.0', x'00', NULL, 1);"
                         "UPDATE apps SET latest_package_id = 'pkg';"
                         "INSERT INTO grains (id, owner_id, package_id, title, created) "
                         "VALUES ('grain', 1, 'pkg', 'Grain', 1);"
                         "INSERT INTO identities VALUES (1, 'grain', hex(randomblob(32)), 1);");
        if (version >= 3)
                raw_exec(path,
                         "INSERT INTO tokens (hash, grain_id, account_id, for_sharing, created) "
                         "VALUES ('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', 'grain', 1, 1, 1);");
}

static void check_populated(const char *path, size_t version) {
        static const struct {
                const char *table;
                size_t since;
                int64_t rows;
        } expected[] = {
                { "users", 1, 2 },    { "sessions", 1, 1 },   { "setup_tokens", 1, 1 },
                { "login_attempts", 1, 1 }, { "settings", 1, 1 }, { "apps", 2, 1 },
                { "packages", 2, 1 }, { "grains", 2, 1 },     { "identities", 2, 1 },
                { "tokens", 3, 1 },
        };

        for (size_t i = 0; i < ELEMENTSOF(expected); i++) {
                char sql[128];

                (void) snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", expected[i].table);
                assert_int_equal(raw_int(path, sql), version >= expected[i].since ? expected[i].rows : 0);
        }
}

static void test_schema_version(void **state) {
        assert_int_equal(store_n_migrations, STORE_SCHEMA_VERSION);
}

static void test_fresh_schema_is_expected(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *dump = NULL, *expected = NULL;

        f->store = store_close(f->store);
        dump = schema_dump(f->path);
        assert_int_equal(read_full_file_at(AT_FDCWD, STORE_SCHEMA_FILE, SIZE_MAX, &expected, NULL), 0);
        /* A schema change must come with a new step and an update of tests/store/schema.sql. */
        assert_string_equal(dump, expected);
        assert_int_equal(raw_int(f->path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
        assert_int_equal(raw_int(f->path, "PRAGMA application_id"), STORE_APPLICATION_ID);
}

static void test_migrate_from_each_version(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *fresh = NULL;

        f->store = store_close(f->store);
        fresh = schema_dump(f->path);

        for (size_t version = 0; version < store_n_migrations; version++) {
                _cleanup_free_ char *dump = NULL;
                char path[PATH_MAX];
                Store *s = NULL;

                (void) snprintf(path, sizeof(path), "%s/v%zu.sqlite", f->dir, version);

                /* What a granary of that version made, with data in it. */
                assert_int_equal(store_open_with_migrations(path, STORE_OPEN_CREATE, store_migrations,
                                                            version, &s),
                                 0);
                s = store_close(s);
                assert_int_equal(raw_int(path, "PRAGMA user_version"), (int64_t) version);
                populate(path, version);

                assert_int_equal(store_open(path, 0, &s), 0);
                s = store_close(s);

                dump = schema_dump(path);
                assert_string_equal(dump, fresh);
                assert_int_equal(raw_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
                assert_int_equal(raw_int(path, "PRAGMA application_id"), STORE_APPLICATION_ID);
                assert_int_equal(raw_int(path, "SELECT integrity_check = 'ok' FROM pragma_integrity_check"),
                                 1);
                assert_int_equal(raw_int(path, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
                check_populated(path, version);
        }
}

static void test_newer_refused(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *before = NULL, *after = NULL;
        size_t before_size = 0, after_size = 0;
        char sql[64];
        Store *s = NULL;

        assert_int_equal(store_setting_set(f->store, "k", "v"), 0);
        f->store = store_close(f->store);
        (void) snprintf(sql, sizeof(sql), "PRAGMA user_version = %u", STORE_SCHEMA_VERSION + 1);
        raw_exec(f->path, sql);

        assert_int_equal(read_full_file_at(AT_FDCWD, f->path, SIZE_MAX, &before, &before_size), 0);
        assert_int_equal(store_open(f->path, 0, &s), -EPROTO);
        assert_null(s);
        assert_int_equal(read_full_file_at(AT_FDCWD, f->path, SIZE_MAX, &after, &after_size), 0);
        assert_int_equal(before_size, after_size);
        assert_memory_equal(before, after, before_size);
        assert_int_equal(raw_int(f->path, "PRAGMA user_version"), STORE_SCHEMA_VERSION + 1);

        /* The same, seen from an older granary: today's database is too new for it. */
        (void) snprintf(sql, sizeof(sql), "PRAGMA user_version = %u", STORE_SCHEMA_VERSION);
        raw_exec(f->path, sql);
        assert_int_equal(store_open_with_migrations(f->path, 0, store_migrations, store_n_migrations - 1,
                                                    &s),
                         -EPROTO);
        assert_null(s);
        assert_int_equal(store_open(f->path, 0, &s), 0);
        s = store_close(s);
}

static void test_failed_step(void **state) {
        Fixture *f = *state;
        const char *const steps[] = {
                store_migrations[0],
                /* The first statement works, the second does not: neither may stay. */
                "CREATE TABLE half_done (x INTEGER) STRICT; INSERT INTO no_such_table VALUES (1);",
        };
        Store *s = NULL;

        f->store = store_close(f->store);
        assert_int_equal(unlink(f->path), 0);

        assert_int_equal(store_open_with_migrations(f->path, STORE_OPEN_CREATE, steps, 2, &s), -EIO);
        assert_null(s);
        assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 1);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE name = 'half_done'"), 0);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE name = 'users'"), 1);
        assert_int_equal(raw_int(f->path, "PRAGMA application_id"), STORE_APPLICATION_ID);

        /* The real steps carry on from there. */
        assert_int_equal(store_open(f->path, 0, &s), 0);
        assert_int_equal(store_user_add(s, "alice", NULL, false, T0, NULL), 0);
        s = store_close(s);
        assert_int_equal(raw_int(f->path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
}

static void test_step_leaving_dangling_reference(void **state) {
        Fixture *f = *state;
        const char *const steps[] = {
                store_migrations[0],
                "INSERT INTO sessions VALUES (zeroblob(32), 42, 0, 1, 0);",
        };
        Store *s = NULL;

        f->store = store_close(f->store);
        assert_int_equal(unlink(f->path), 0);

        /* Foreign keys are off during a step, and checked before it commits. */
        assert_int_equal(store_open_with_migrations(f->path, STORE_OPEN_CREATE, steps, 2, &s), -EBADMSG);
        assert_null(s);
        assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 1);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sessions"), 0);
}

static void test_foreign_keys_back_on(void **state) {
        Fixture *f = *state;
        char token[STORE_TOKEN_LENGTH + 1];

        /* After migrating, references are enforced again. */
        assert_int_equal(store_int(f->store, "PRAGMA foreign_keys"), 1);
        assert_int_equal(store_session_new(f->store, 42, T0, T0 + 1, token), -ENOENT);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_schema_version),
                T(test_fresh_schema_is_expected),
                T(test_migrate_from_each_version),
                T(test_newer_refused),
                T(test_failed_step),
                T(test_step_leaving_dangling_reference),
                T(test_foreign_keys_back_on),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
