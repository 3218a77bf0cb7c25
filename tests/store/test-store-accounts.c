/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Users, passwords, TOTP, sessions, the setup token, login attempts and settings. */

#include "basic/random-util.h"
#include "store-test.h"

static bool is_base64url(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!s[i] || !strchr(ID_ALPHABET_BASE64URL, s[i]))
                        return false;
        return s[n] == '\0';
}

static void test_user_add_get(void **state) {
        Fixture *f = *state;
        _cleanup_(store_user_freep) StoreUser *u = NULL;
        int64_t id = -1;

        assert_int_equal(store_user_add(f->store, "alice", "Alice Liddell", false, T0, &id), 0);
        assert_int_equal(id, 1);
        assert_int_equal(store_user_get(f->store, 1, &u), 0);
        assert_int_equal(u->id, 1);
        assert_string_equal(u->name, "alice");
        assert_string_equal(u->display_name, "Alice Liddell");
        assert_null(u->password_hash);
        assert_false(u->is_admin);
        assert_null(u->totp_secret);
        assert_int_equal(u->totp_secret_size, 0);
        assert_int_equal(u->totp_last_counter, 0);
        assert_int_equal(u->created, T0);
        assert_int_equal(u->last_login, 0);
        u = store_user_free(u);

        /* Names are unique ignoring ASCII case, and found that way, but kept as given. */
        assert_int_equal(store_user_get_by_name(f->store, "ALICE", &u), 0);
        assert_int_equal(u->id, 1);
        assert_string_equal(u->name, "alice");
        u = store_user_free(u);
        id = -1;
        assert_int_equal(store_user_add(f->store, "alice", NULL, false, T0, &id), -EEXIST);
        assert_int_equal(store_user_add(f->store, "Alice", NULL, true, T0, &id), -EEXIST);
        assert_int_equal(id, -1);

        /* The display name defaults to the name. */
        assert_int_equal(store_user_add(f->store, "Bob", NULL, true, T0 + 1, &id), 0);
        assert_int_equal(id, 2);
        assert_int_equal(store_user_get_by_name(f->store, "bob", &u), 0);
        assert_string_equal(u->name, "Bob");
        assert_string_equal(u->display_name, "Bob");
        assert_true(u->is_admin);
        assert_int_equal(u->created, T0 + 1);
        u = store_user_free(u);

        assert_int_equal(store_user_get(f->store, 99, &u), -ENOENT);
        assert_int_equal(store_user_get_by_name(f->store, "carol", &u), -ENOENT);
        assert_null(u);
}

static void test_user_invalid(void **state) {
        Fixture *f = *state;
        char name[STORE_NAME_MAX + 2];

        assert_int_equal(store_user_add(f->store, "", NULL, false, T0, NULL), -EINVAL);
        assert_int_equal(store_user_add(f->store, NULL, NULL, false, T0, NULL), -EINVAL);
        assert_int_equal(store_user_add(f->store, "bad\xff", NULL, false, T0, NULL), -EINVAL);
        assert_int_equal(store_user_add(f->store, "ok", "\xc0\xaf", false, T0, NULL), -EINVAL);
        assert_int_equal(store_user_add(f->store, "ok", "", false, T0, NULL), -EINVAL);

        memset(name, 'n', sizeof(name));
        name[STORE_NAME_MAX + 1] = '\0';
        assert_int_equal(store_user_add(f->store, name, NULL, false, T0, NULL), -EINVAL);
        name[STORE_NAME_MAX] = '\0';
        assert_int_equal(store_user_add(f->store, name, NULL, false, T0, NULL), 0);

        /* Times beyond what SQLite's signed integers hold. */
        assert_int_equal(store_user_add(f->store, "late", NULL, false, UINT64_MAX, NULL), -ERANGE);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM users"), 1);
}

static void test_user_list_update_delete(void **state) {
        Fixture *f = *state;
        _cleanup_(store_user_list_freep) StoreUser **l = NULL;
        _cleanup_(store_user_freep) StoreUser *u = NULL;
        size_t n = 0;
        int64_t id;

        assert_int_equal(store_user_list(f->store, &l, &n), 0);
        assert_int_equal(n, 0);
        assert_non_null(l);
        assert_null(l[0]);
        l = store_user_list_free(l);

        assert_int_equal(store_user_add(f->store, "c", NULL, false, T0, NULL), 0);
        assert_int_equal(store_user_add(f->store, "a", NULL, false, T0, NULL), 0);
        assert_int_equal(store_user_add(f->store, "b", NULL, false, T0, NULL), 0);
        assert_int_equal(store_user_list(f->store, &l, NULL), 0);
        assert_string_equal(l[0]->name, "c");
        assert_string_equal(l[1]->name, "a");
        assert_string_equal(l[2]->name, "b");
        assert_null(l[3]);

        assert_int_equal(store_user_set_admin(f->store, 2, true), 0);
        assert_int_equal(store_user_set_display_name(f->store, 2, "Ada"), 0);
        assert_int_equal(store_user_set_last_login(f->store, 2, T0 + SEC(5)), 0);
        assert_int_equal(store_user_get(f->store, 2, &u), 0);
        assert_true(u->is_admin);
        assert_string_equal(u->display_name, "Ada");
        assert_int_equal(u->last_login, T0 + SEC(5));
        u = store_user_free(u);
        assert_int_equal(store_user_set_admin(f->store, 2, false), 0);
        assert_int_equal(store_user_get(f->store, 2, &u), 0);
        assert_false(u->is_admin);
        u = store_user_free(u);

        assert_int_equal(store_user_set_admin(f->store, 99, true), -ENOENT);
        assert_int_equal(store_user_set_display_name(f->store, 99, "x"), -ENOENT);
        assert_int_equal(store_user_set_display_name(f->store, 2, ""), -EINVAL);
        assert_int_equal(store_user_set_last_login(f->store, 99, T0), -ENOENT);

        assert_int_equal(store_user_delete(f->store, 3), 0);
        assert_int_equal(store_user_get(f->store, 3, &u), -ENOENT);
        assert_int_equal(store_user_delete(f->store, 3), -ENOENT);

        /* Ids are never reused, even the highest one after it is deleted. */
        assert_int_equal(store_user_add(f->store, "d", NULL, false, T0, &id), 0);
        assert_int_equal(id, 4);
}

static void test_user_names_verbatim(void **state) {
        Fixture *f = *state;
        static const char *const names[] = {
                "'; DROP TABLE users; --",
                "Robert'); DROP TABLE users;--",
                "\" OR 1=1 --",
                "a' OR 'a'='a",
                "%",
                "_",
                "x\\' OR 1=1; --",
                "?1",
                "$name",
                "Gödel",
                "名前",
        };
        _cleanup_(store_user_list_freep) StoreUser **l = NULL;
        size_t n;

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                assert_int_equal(store_user_add(f->store, names[i], names[i], false, T0, NULL), 0);

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_(store_user_freep) StoreUser *u = NULL;
                _cleanup_free_ char *v = NULL;

                assert_int_equal(store_user_get_by_name(f->store, names[i], &u), 0);
                assert_int_equal(u->id, (int64_t) i + 1);
                assert_string_equal(u->name, names[i]);
                assert_string_equal(u->display_name, names[i]);

                assert_int_equal(store_setting_set(f->store, names[i], names[i]), 0);
                assert_int_equal(store_setting_get(f->store, names[i], &v), 0);
                assert_string_equal(v, names[i]);

                assert_int_equal(store_login_attempt_record(f->store, names[i], names[i], T0), 0);
        }
        assert_int_equal(store_user_list(f->store, &l, &n), 0);
        assert_int_equal(n, ELEMENTSOF(names));
        /* "%" and "_" matched only themselves: no LIKE anywhere. */
        uint64_t count;
        assert_int_equal(store_login_attempt_count_by_name(f->store, "%", 0, &count), 0);
        assert_int_equal(count, 1);
        assert_int_equal(store_login_attempt_count_by_address(f->store, "_", 0, &count), 0);
        assert_int_equal(count, 1);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE name = 'users'"), 1);
}

static void test_password(void **state) {
        Fixture *f = *state;
        _cleanup_(store_user_freep) StoreUser *u = NULL;
        char hash[STORE_PASSWORD_HASH_SIZE];
        static const char pw[] = "correct horse battery staple";

        assert_int_equal(store_user_add(f->store, "alice", NULL, false, T0, NULL), 0);
        assert_int_equal(store_user_add(f->store, "nopass", NULL, false, T0, NULL), 0);

        /* No password yet: nothing matches, not even the empty one. */
        assert_int_equal(store_user_check_password(f->store, "alice", "", 0, &u), -EACCES);
        assert_int_equal(store_user_set_password(f->store, 1, pw, strlen(pw)), 0);
        assert_int_equal(store_user_set_password(f->store, 99, pw, strlen(pw)), -ENOENT);

        assert_int_equal(store_user_get(f->store, 1, &u), 0);
        assert_non_null(startswith(u->password_hash, "$argon2id$v=19$"));
        assert_null(strstr(u->password_hash, pw));
        u = store_user_free(u);
        assert_false(store_files_contain(f->path, pw));

        assert_int_equal(store_user_check_password(f->store, "alice", pw, strlen(pw), &u), 0);
        assert_int_equal(u->id, 1);
        u = store_user_free(u);
        assert_int_equal(store_user_check_password(f->store, "ALICE", pw, strlen(pw), NULL), 0);
        assert_int_equal(store_user_check_password(f->store, "alice", pw, strlen(pw) - 1, &u), -EACCES);
        assert_int_equal(store_user_check_password(f->store, "alice", "Correct horse battery staple",
                                                   strlen(pw), &u),
                         -EACCES);
        /* Unknown user and user without a password: the same answer. */
        assert_int_equal(store_user_check_password(f->store, "mallory", pw, strlen(pw), &u), -EACCES);
        assert_int_equal(store_user_check_password(f->store, "nopass", pw, strlen(pw), &u), -EACCES);
        assert_null(u);

        /* Length, not NUL, ends a password. */
        assert_int_equal(store_user_set_password(f->store, 2, "a\0b", 3), 0);
        assert_int_equal(store_user_check_password(f->store, "nopass", "a\0b", 3, NULL), 0);
        assert_int_equal(store_user_check_password(f->store, "nopass", "a", 1, NULL), -EACCES);
        assert_int_equal(store_user_check_password(f->store, "nopass", "a\0c", 3, NULL), -EACCES);

        /* Removing it. */
        assert_int_equal(store_user_set_password(f->store, 2, NULL, 0), 0);
        assert_int_equal(store_user_check_password(f->store, "nopass", "a\0b", 3, NULL), -EACCES);

        /* Hashed elsewhere, stored here. */
        assert_int_equal(store_password_hash("elsewhere", 9, hash), 0);
        assert_int_equal(store_password_verify(hash, "elsewhere", 9), 0);
        assert_int_equal(store_password_verify(hash, "elsewhers", 9), -EACCES);
        assert_int_equal(store_password_verify("$argon2i$v=19$m=8,t=1,p=1$AAAA$AAAA", "x", 1), -EACCES);
        assert_int_equal(store_password_verify("", "x", 1), -EACCES);
        assert_int_equal(store_user_set_password_hash(f->store, 2, hash), 0);
        assert_int_equal(store_user_check_password(f->store, "nopass", "elsewhere", 9, NULL), 0);
        assert_int_equal(store_user_set_password_hash(f->store, 2, "plaintext"), -EINVAL);
        assert_int_equal(store_user_set_password_hash(f->store, 99, hash), -ENOENT);

        /* Too long to hash. */
        _cleanup_free_ char *huge = calloc(1, STORE_PASSWORD_MAX + 1);
        assert_non_null(huge);
        assert_int_equal(store_user_set_password(f->store, 1, huge, STORE_PASSWORD_MAX + 1), -EINVAL);
        assert_int_equal(store_user_check_password(f->store, "alice", huge, STORE_PASSWORD_MAX + 1, NULL),
                         -EACCES);
        assert_int_equal(store_user_check_password(f->store, "alice", pw, strlen(pw), NULL), 0);
}

static void test_password_default_cost(void **state) {
        char hash[STORE_PASSWORD_HASH_SIZE];

        /* What production uses: libsodium's interactive argon2id limits (64 MiB, 2 passes). */
        store_password_set_limits(0, 0);
        assert_int_equal(store_password_hash("pw", 2, hash), 0);
        assert_non_null(startswith(hash, "$argon2id$v=19$m=65536,t=2,p=1$"));
        assert_int_equal(store_password_verify(hash, "pw", 2), 0);
        store_password_set_limits(crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN);
}

static void test_totp(void **state) {
        Fixture *f = *state;
        _cleanup_(store_user_freep) StoreUser *u = NULL;
        static const uint8_t secret[20] = { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
                                            0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x00 };
        uint8_t big[STORE_TOTP_SECRET_MAX + 1] = {};

        assert_int_equal(store_user_add(f->store, "alice", NULL, false, T0, NULL), 0);
        assert_int_equal(store_user_set_totp_secret(f->store, 1, secret, sizeof(secret)), 0);
        assert_int_equal(store_user_get(f->store, 1, &u), 0);
        assert_int_equal(u->totp_secret_size, sizeof(secret));
        assert_memory_equal(u->totp_secret, secret, sizeof(secret));
        u = store_user_free(u);

        assert_int_equal(store_user_use_totp_counter(f->store, 1, 56666666), 0);
        assert_int_equal(store_user_use_totp_counter(f->store, 1, 56666666), -EALREADY);
        assert_int_equal(store_user_use_totp_counter(f->store, 1, 56666665), -EALREADY);
        assert_int_equal(store_user_use_totp_counter(f->store, 1, 56666667), 0);
        assert_int_equal(store_user_use_totp_counter(f->store, 1, 0), -EINVAL);
        assert_int_equal(store_user_use_totp_counter(f->store, 99, 56666668), -ENOENT);
        assert_int_equal(store_user_get(f->store, 1, &u), 0);
        assert_int_equal(u->totp_last_counter, 56666667);
        u = store_user_free(u);

        /* Turning it off forgets the secret and the guard. */
        assert_int_equal(store_user_set_totp_secret(f->store, 1, NULL, 0), 0);
        assert_int_equal(store_user_get(f->store, 1, &u), 0);
        assert_null(u->totp_secret);
        assert_int_equal(u->totp_secret_size, 0);
        assert_int_equal(u->totp_last_counter, 0);
        u = store_user_free(u);

        assert_int_equal(store_user_set_totp_secret(f->store, 1, big, sizeof(big)), -EINVAL);
        assert_int_equal(store_user_set_totp_secret(f->store, 99, secret, sizeof(secret)), -ENOENT);
}

static void test_sessions(void **state) {
        Fixture *f = *state;
        char token[STORE_TOKEN_LENGTH + 1], other[STORE_TOKEN_LENGTH + 1];
        uint8_t digest[32];
        StoreSession session = {}, untouched = { .user_id = -7 };
        sqlite3 *db;
        sqlite3_stmt *st;

        assert_int_equal(store_user_add(f->store, "alice", NULL, false, T0, NULL), 0);
        assert_int_equal(store_session_new(f->store, 1, T0, T0 + SEC(3600), token), 0);
        assert_int_equal(strlen(token), STORE_TOKEN_LENGTH);
        assert_true(is_base64url(token, STORE_TOKEN_LENGTH));

        /* Only sha256(token) is stored; the token itself is nowhere in the files. */
        crypto_hash_sha256(digest, (const unsigned char *) token, STORE_TOKEN_LENGTH);
        db = raw_open(f->path);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT id_hash FROM sessions", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_bytes(st, 0), 32);
        assert_memory_equal(sqlite3_column_blob(st, 0), digest, 32);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
        sqlite3_close(db);
        assert_false(store_files_contain(f->path, token));

        assert_int_equal(store_session_get(f->store, token, STORE_TOKEN_LENGTH, T0 + SEC(1), &session), 0);
        assert_memory_equal(session.id_hash, digest, 32);
        assert_int_equal(session.user_id, 1);
        assert_int_equal(session.created, T0);
        assert_int_equal(session.expires, T0 + SEC(3600));
        assert_int_equal(session.last_seen, T0); /* within STORE_TOUCH_INTERVAL_USEC: not written */

        assert_int_equal(store_session_get(f->store, token, STORE_TOKEN_LENGTH, T0 + SEC(61), &session), 0);
        assert_int_equal(session.last_seen, T0 + SEC(61));
        assert_int_equal(store_session_get(f->store, token, STORE_TOKEN_LENGTH, T0 + SEC(62), NULL), 0);
        assert_int_equal(raw_int(f->path, "SELECT last_seen FROM sessions"), (int64_t) (T0 + SEC(61)));

        /* Valid while now < expires. */
        assert_int_equal(store_session_get(f->store, token, STORE_TOKEN_LENGTH, T0 + SEC(3600) - 1, NULL),
                         0);
        assert_int_equal(store_session_get(f->store, token, STORE_TOKEN_LENGTH, T0 + SEC(3600), &untouched),
                         -ENOENT);
        assert_int_equal(untouched.user_id, -7);

        /* Wrong, short, long, missing tokens. */
        memcpy(other, token, sizeof(other));
        other[0] = other[0] == 'A' ? 'B' : 'A';
        assert_int_equal(store_session_get(f->store, other, STORE_TOKEN_LENGTH, T0, NULL), -ENOENT);
        assert_int_equal(store_session_get(f->store, token, STORE_TOKEN_LENGTH - 1, T0, NULL), -ENOENT);
        assert_int_equal(store_session_get(f->store, NULL, 0, T0, NULL), -ENOENT);
        assert_int_equal(store_session_get(f->store, "x", 1, T0, NULL), -ENOENT);

        /* Tokens differ every time. */
        assert_int_equal(store_session_new(f->store, 1, T0, T0 + SEC(10), other), 0);
        assert_string_not_equal(token, other);

        assert_int_equal(store_session_new(f->store, 99, T0, T0 + SEC(10), other), -ENOENT);
        assert_int_equal(store_session_new(f->store, 1, T0, T0, other), -EINVAL);

        assert_int_equal(store_session_delete(f->store, token, STORE_TOKEN_LENGTH), 0);
        assert_int_equal(store_session_get(f->store, token, STORE_TOKEN_LENGTH, T0, NULL), -ENOENT);
        assert_int_equal(store_session_delete(f->store, token, STORE_TOKEN_LENGTH), -ENOENT);
        assert_int_equal(store_session_delete(f->store, "short", 5), -ENOENT);
}

static void test_session_touch_best_effort(void **state) {
        Fixture *f = *state;
        char token[STORE_TOKEN_LENGTH + 1];
        StoreSession session = {};
        sqlite3 *other;

        assert_int_equal(store_user_add(f->store, "alice", NULL, false, T0, NULL), 0);
        assert_int_equal(store_session_new(f->store, 1, T0, T0 + SEC(3600), token), 0);

        /* Somebody else holds the write lock: the lookup works, the touch waits for a later one. */
        other = raw_open(f->path);
        assert_int_equal(sqlite3_busy_timeout(f->store->db, 10), SQLITE_OK);
        assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(store_session_get(f->store, token, STORE_TOKEN_LENGTH, T0 + SEC(100), &session), 0);
        assert_int_equal(session.user_id, 1);
        assert_int_equal(session.last_seen, T0);
        assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_close(other), SQLITE_OK);

        assert_int_equal(store_session_get(f->store, token, STORE_TOKEN_LENGTH, T0 + SEC(101), &session), 0);
        assert_int_equal(session.last_seen, T0 + SEC(101));
        assert_int_equal(raw_int(f->path, "SELECT last_seen FROM sessions"), (int64_t) (T0 + SEC(101)));
}

static void test_sessions_bulk(void **state) {
        Fixture *f = *state;
        char a[3][STORE_TOKEN_LENGTH + 1], b[STORE_TOKEN_LENGTH + 1];
        uint64_t n = 99;

        assert_int_equal(store_user_add(f->store, "alice", NULL, false, T0, NULL), 0);
        assert_int_equal(store_user_add(f->store, "bob", NULL, false, T0, NULL), 0);
        for (unsigned i = 0; i < 3; i++)
                assert_int_equal(store_session_new(f->store, 1, T0, T0 + SEC(100 + i), a[i]), 0);
        assert_int_equal(store_session_new(f->store, 2, T0, T0 + SEC(200), b), 0);

        /* Expiry: expires <= now. */
        assert_int_equal(store_session_expire(f->store, T0 + SEC(100), &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(store_session_expire(f->store, T0 + SEC(100), NULL), 0);
        assert_int_equal(store_session_get(f->store, a[1], STORE_TOKEN_LENGTH, T0, NULL), 0);

        assert_int_equal(store_session_delete_by_user(f->store, 1, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(store_session_get(f->store, a[1], STORE_TOKEN_LENGTH, T0, NULL), -ENOENT);
        assert_int_equal(store_session_get(f->store, a[2], STORE_TOKEN_LENGTH, T0, NULL), -ENOENT);
        assert_int_equal(store_session_get(f->store, b, STORE_TOKEN_LENGTH, T0, NULL), 0);
        assert_int_equal(store_session_delete_by_user(f->store, 1, &n), 0);
        assert_int_equal(n, 0);

        /* Deleting the user deletes their sessions. */
        assert_int_equal(store_user_delete(f->store, 2), 0);
        assert_int_equal(store_session_get(f->store, b, STORE_TOKEN_LENGTH, T0, NULL), -ENOENT);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sessions"), 0);
}

static void test_setup_token(void **state) {
        Fixture *f = *state;
        char t1[STORE_SETUP_TOKEN_LENGTH + 1], t2[STORE_SETUP_TOKEN_LENGTH + 1];

        assert_int_equal(store_setup_token_new(f->store, T0, T0 + SEC(3600), t1), 0);
        assert_int_equal(strlen(t1), 40);
        assert_int_equal(strspn(t1, "0123456789abcdef"), 40);
        assert_false(store_files_contain(f->path, t1));

        assert_int_equal(store_setup_token_check(f->store, t1, 40, T0), 0);
        assert_int_equal(store_setup_token_check(f->store, t1, 40, T0), 0); /* checking does not use it */
        assert_int_equal(store_setup_token_consume(f->store, t1, 40, T0 + SEC(1)), 0);
        assert_int_equal(store_setup_token_consume(f->store, t1, 40, T0 + SEC(2)), -ENOENT);
        assert_int_equal(store_setup_token_check(f->store, t1, 40, T0 + SEC(2)), -ENOENT);

        /* A new token replaces the old one. */
        assert_int_equal(store_setup_token_new(f->store, T0, T0 + SEC(3600), t1), 0);
        assert_int_equal(store_setup_token_new(f->store, T0, T0 + SEC(3600), t2), 0);
        assert_string_not_equal(t1, t2);
        assert_int_equal(store_setup_token_consume(f->store, t1, 40, T0), -ENOENT);
        assert_int_equal(store_setup_token_check(f->store, t2, 40, T0), 0);

        /* Expiry: valid while now < expires. */
        assert_int_equal(store_setup_token_new(f->store, T0, T0 + SEC(10), t1), 0);
        assert_int_equal(store_setup_token_check(f->store, t1, 40, T0 + SEC(10) - 1), 0);
        assert_int_equal(store_setup_token_check(f->store, t1, 40, T0 + SEC(10)), -ENOENT);
        assert_int_equal(store_setup_token_consume(f->store, t1, 40, T0 + SEC(10)), -ENOENT);
        assert_int_equal(store_setup_token_new(f->store, T0, T0, t1), -EINVAL);

        /* Malformed. */
        assert_int_equal(store_setup_token_consume(f->store, t2, 39, T0), -ENOENT);
        assert_int_equal(store_setup_token_consume(f->store, NULL, 0, T0), -ENOENT);
}

static void test_setup_token_with_account(void **state) {
        Fixture *f = *state;
        char token[STORE_SETUP_TOKEN_LENGTH + 1];
        _cleanup_(store_user_freep) StoreUser *u = NULL;

        assert_int_equal(store_user_add(f->store, "taken", NULL, false, T0, NULL), 0);
        assert_int_equal(store_setup_token_new(f->store, T0, T0 + SEC(3600), token), 0);

        /* Creating the admin fails: the token is given back. */
        assert_int_equal(store_begin(f->store), 0);
        assert_int_equal(store_setup_token_consume(f->store, token, 40, T0), 0);
        assert_int_equal(store_user_add(f->store, "Taken", NULL, true, T0, NULL), -EEXIST);
        assert_int_equal(store_rollback(f->store), 0);
        assert_int_equal(store_setup_token_check(f->store, token, 40, T0), 0);

        /* It succeeds: the token is gone. */
        assert_int_equal(store_begin(f->store), 0);
        assert_int_equal(store_setup_token_consume(f->store, token, 40, T0), 0);
        assert_int_equal(store_user_add(f->store, "admin", NULL, true, T0, NULL), 0);
        assert_int_equal(store_commit(f->store), 0);
        assert_int_equal(store_setup_token_check(f->store, token, 40, T0), -ENOENT);
        assert_int_equal(store_user_get_by_name(f->store, "admin", &u), 0);
        assert_true(u->is_admin);
}

static void test_login_attempts(void **state) {
        Fixture *f = *state;
        uint64_t n = 99;

        assert_int_equal(store_login_attempt_record(f->store, "alice", "10.0.0.1", T0), 0);
        assert_int_equal(store_login_attempt_record(f->store, "ALICE", "10.0.0.2", T0 + SEC(10)), 0);
        assert_int_equal(store_login_attempt_record(f->store, "bob", "10.0.0.1", T0 + SEC(20)), 0);
        assert_int_equal(store_login_attempt_record(f->store, "alice", "10.0.0.1", T0 + SEC(30)), 0);

        /* The window is time >= since. */
        assert_int_equal(store_login_attempt_count_by_name(f->store, "alice", T0, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(store_login_attempt_count_by_name(f->store, "Alice", T0 + SEC(10), &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(store_login_attempt_count_by_name(f->store, "alice", T0 + SEC(30), &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(store_login_attempt_count_by_name(f->store, "alice", T0 + SEC(31), &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(store_login_attempt_count_by_name(f->store, "carol", 0, &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(store_login_attempt_count_by_address(f->store, "10.0.0.1", T0, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(store_login_attempt_count_by_address(f->store, "10.0.0.1", T0 + SEC(25), &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(store_login_attempt_count_by_address(f->store, "10.0.0.2", 0, &n), 0);
        assert_int_equal(n, 1);

        /* A successful login clears the name (every case of it), not the address. */
        assert_int_equal(store_login_attempt_clear_name(f->store, "Alice"), 0);
        assert_int_equal(store_login_attempt_count_by_name(f->store, "alice", 0, &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(store_login_attempt_count_by_address(f->store, "10.0.0.1", 0, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(store_login_attempt_clear_name(f->store, "nobody"), 0);

        assert_int_equal(store_login_attempt_record(f->store, "carol", "10.0.0.3", T0 + SEC(40)), 0);
        assert_int_equal(store_login_attempt_prune(f->store, T0 + SEC(40), &n), 0);
        assert_int_equal(n, 1); /* bob's, at T0 + 20 s */
        assert_int_equal(store_login_attempt_count_by_name(f->store, "carol", 0, &n), 0);
        assert_int_equal(n, 1);

        assert_int_equal(store_login_attempt_record(f->store, "", "10.0.0.1", T0), -EINVAL);
        assert_int_equal(store_login_attempt_record(f->store, "alice", "", T0), -EINVAL);
        assert_int_equal(store_login_attempt_record(f->store, "alice", NULL, T0), -EINVAL);
}

static void test_settings(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *big = calloc(1, STORE_SETTING_VALUE_MAX + 2);
        char *v = NULL;

        assert_int_equal(store_setting_get(f->store, "BASE_URL", &v), -ENOENT);
        assert_int_equal(store_setting_set(f->store, "BASE_URL", "https://example.org"), 0);
        assert_int_equal(store_setting_get(f->store, "BASE_URL", &v), 0);
        assert_string_equal(v, "https://example.org");
        v = mfree(v);
        assert_int_equal(store_setting_set(f->store, "BASE_URL", "https://example.com"), 0);
        assert_int_equal(store_setting_get(f->store, "BASE_URL", &v), 0);
        assert_string_equal(v, "https://example.com");
        v = mfree(v);
        assert_int_equal(store_setting_get(f->store, "base_url", &v), -ENOENT); /* keys are exact */

        assert_int_equal(store_setting_set(f->store, "empty", ""), 0);
        assert_int_equal(store_setting_get(f->store, "empty", &v), 0);
        assert_string_equal(v, "");
        v = mfree(v);

        assert_int_equal(store_setting_delete(f->store, "BASE_URL"), 0);
        assert_int_equal(store_setting_get(f->store, "BASE_URL", &v), -ENOENT);
        assert_int_equal(store_setting_delete(f->store, "BASE_URL"), -ENOENT);

        assert_non_null(big);
        memset(big, 'v', STORE_SETTING_VALUE_MAX + 1);
        assert_int_equal(store_setting_set(f->store, "big", big), -EINVAL);
        big[STORE_SETTING_VALUE_MAX] = '\0';
        assert_int_equal(store_setting_set(f->store, "big", big), 0);
        assert_int_equal(store_setting_set(f->store, "", "x"), -EINVAL);
        assert_int_equal(store_setting_set(f->store, "k", NULL), -EINVAL);
        assert_null(v);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)
        const struct CMUnitTest tests[] = {
                T(test_user_add_get),
                T(test_user_invalid),
                T(test_user_list_update_delete),
                T(test_user_names_verbatim),
                T(test_password),
                cmocka_unit_test(test_password_default_cost),
                T(test_totp),
                T(test_sessions),
                T(test_session_touch_best_effort),
                T(test_sessions_bulk),
                T(test_setup_token),
                T(test_setup_token_with_account),
                T(test_login_attempts),
                T(test_settings),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
