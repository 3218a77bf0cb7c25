/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <sodium.h>

#include "basic/hex.h"
#include "basic/log.h"
#include "basic/random-util.h"
#include "basic/string-util.h"
#include "store/store-internal.h"

_Static_assert(STORE_PASSWORD_HASH_SIZE == crypto_pwhash_STRBYTES, "argon2id strings must fit");

/* ---- users ---- */

StoreUser *store_user_free(StoreUser *u) {
        if (!u)
                return NULL;
        free(u->name);
        free(u->display_name);
        if (u->password_hash) {
                explicit_bzero_safe(u->password_hash, strlen(u->password_hash));
                free(u->password_hash);
        }
        if (u->totp_secret) {
                explicit_bzero_safe(u->totp_secret, u->totp_secret_size);
                free(u->totp_secret);
        }
        free(u);
        return NULL;
}

DEFINE_STORE_LIST_FREE(StoreUser, store_user)

#define USER_COLUMNS                                                                                         \
        "id, name, display_name, password_hash, is_admin, totp_secret, totp_last_counter, created, "        \
        "last_login"

static int user_from_row(sqlite3_stmt *st, void **ret) {
        _cleanup_(store_user_freep) StoreUser *u = NULL;
        int r;

        u = calloc(1, sizeof(StoreUser));
        if (!u)
                return -ENOMEM;
        u->id = sqlite3_column_int64(st, 0);
        r = store_column_strdup(st, 1, &u->name);
        if (r < 0)
                return r;
        r = store_column_strdup(st, 2, &u->display_name);
        if (r < 0)
                return r;
        r = store_column_strdup(st, 3, &u->password_hash);
        if (r < 0)
                return r;
        u->is_admin = sqlite3_column_int(st, 4) != 0;
        r = store_column_blobdup(st, 5, (void **) &u->totp_secret, &u->totp_secret_size);
        if (r < 0)
                return r;
        u->totp_last_counter = store_column_uint(st, 6);
        u->created = store_column_uint(st, 7);
        u->last_login = store_column_uint(st, 8);
        if (!u->name || !u->display_name)
                return -EBADMSG;

        *ret = TAKE_PTR(u);
        return 0;
}

int store_user_add(Store *s, const char *name, const char *display_name, bool is_admin, uint64_t now,
                   int64_t *ret_id) {
        int r;

        assert(s);

        r = store_check_text(name, STORE_NAME_MAX, false);
        if (r < 0)
                return r;
        if (!display_name)
                display_name = name;
        r = store_check_text(display_name, STORE_NAME_MAX, false);
        if (r < 0)
                return r;

        r = store_run(s,
                      "INSERT INTO users (name, display_name, is_admin, created) VALUES (?1, ?2, ?3, ?4)",
                      V_TEXT(name), V_TEXT(display_name), V_BOOL(is_admin), V_UINT(now));
        if (r < 0)
                return r;

        if (ret_id)
                *ret_id = sqlite3_last_insert_rowid(s->db);
        return 0;
}

int store_user_get(Store *s, int64_t id, StoreUser **ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        assert(s);
        assert(ret);

        r = store_query(s, &st, "SELECT " USER_COLUMNS " FROM users WHERE id = ?1", V_INT(id));
        if (r < 0)
                return r;
        return store_get_one(s, st, user_from_row, (void **) ret);
}

int store_user_get_by_name(Store *s, const char *name, StoreUser **ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        assert(s);
        assert(name);
        assert(ret);

        r = store_query(s, &st, "SELECT " USER_COLUMNS " FROM users WHERE name = ?1", V_TEXT(name));
        if (r < 0)
                return r;
        return store_get_one(s, st, user_from_row, (void **) ret);
}

int store_user_list(Store *s, StoreUser ***ret, size_t *ret_n) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        assert(s);
        assert(ret);

        r = store_prepare(s, "SELECT " USER_COLUMNS " FROM users ORDER BY id", &st);
        if (r < 0)
                return r;
        return store_collect(s, st, user_from_row, store_user_free_void, (void ***) ret, ret_n);
}

int store_user_set_admin(Store *s, int64_t id, bool is_admin) {
        assert(s);

        return store_one_row(
                store_run(s, "UPDATE users SET is_admin = ?2 WHERE id = ?1", V_INT(id), V_BOOL(is_admin)));
}

int store_user_set_display_name(Store *s, int64_t id, const char *display_name) {
        int r;

        assert(s);

        r = store_check_text(display_name, STORE_NAME_MAX, false);
        if (r < 0)
                return r;
        return store_one_row(store_run(s, "UPDATE users SET display_name = ?2 WHERE id = ?1", V_INT(id),
                                 V_TEXT(display_name)));
}

int store_user_set_last_login(Store *s, int64_t id, uint64_t now) {
        assert(s);

        return store_one_row(
                store_run(s, "UPDATE users SET last_login = ?2 WHERE id = ?1", V_INT(id), V_UINT(now)));
}

int store_user_set_password_hash(Store *s, int64_t id, const char *hash) {
        assert(s);

        if (hash && (!startswith(hash, "$argon2id$") ||
                     strnlen(hash, STORE_PASSWORD_HASH_SIZE) >= STORE_PASSWORD_HASH_SIZE))
                return -EINVAL;
        return store_one_row(
                store_run(s, "UPDATE users SET password_hash = ?2 WHERE id = ?1", V_INT(id), V_TEXT(hash)));
}

int store_user_set_password(Store *s, int64_t id, const char *password, size_t len) {
        char hash[STORE_PASSWORD_HASH_SIZE];
        int r;

        assert(s);

        if (!password)
                return store_user_set_password_hash(s, id, NULL);

        r = store_password_hash(password, len, hash);
        if (r < 0)
                return r;
        r = store_user_set_password_hash(s, id, hash);
        explicit_bzero_safe(hash, sizeof(hash));
        return r;
}

int store_user_check_password(Store *s, const char *name, const char *password, size_t len,
                              StoreUser **ret) {
        _cleanup_(store_user_freep) StoreUser *u = NULL;
        int r;

        assert(s);
        assert(name);
        assert(password || len == 0);

        /* Made before the lookup, whatever its outcome, so that only the very first check after
         * opening is slower, and for every name alike. */
        if (!s->dummy_password_hash[0]) {
                r = store_password_hash("granary", STRLEN("granary"), s->dummy_password_hash);
                if (r < 0)
                        return r;
        }

        r = store_user_get_by_name(s, name, &u);
        if (r < 0 && r != -ENOENT)
                return r;

        if (!u || !u->password_hash) {
                (void) store_password_verify(s->dummy_password_hash, password, len);
                return -EACCES;
        }
        r = store_password_verify(u->password_hash, password, len);
        if (r < 0)
                return r;

        if (ret)
                *ret = TAKE_PTR(u);
        return 0;
}

int store_user_set_totp_secret(Store *s, int64_t id, const void *secret, size_t size) {
        assert(s);

        if (size == 0)
                secret = NULL;
        if (secret && size > STORE_TOTP_SECRET_MAX)
                return -EINVAL;
        return store_one_row(store_run(s,
                                       "UPDATE users SET totp_secret = ?2, totp_last_counter = 0 "
                                       "WHERE id = ?1",
                                       V_INT(id), V_BLOB(secret, size)));
}

int store_user_use_totp_counter(Store *s, int64_t id, uint64_t counter) {
        _cleanup_(store_user_freep) StoreUser *u = NULL;
        int r;

        assert(s);

        if (counter == 0)
                return -EINVAL;

        /* One statement: two logins racing with the same code cannot both move the counter. */
        r = store_run(s, "UPDATE users SET totp_last_counter = ?2 WHERE id = ?1 AND totp_last_counter < ?2",
                      V_INT(id), V_UINT(counter));
        if (r < 0)
                return r;
        if (r > 0)
                return 0;

        r = store_user_get(s, id, &u);
        return r < 0 ? r : -EALREADY;
}

int store_user_delete(Store *s, int64_t id) {
        _cleanup_op_ StoreOp op = {};
        int r;

        assert(s);

        r = store_op_begin(s, &op);
        if (r < 0)
                return r;

        /* grains.owner_id is RESTRICT: the grains' storage must be removed first, by the caller. */
        r = store_exists(s, "SELECT EXISTS (SELECT 1 FROM grains WHERE owner_id = ?1)", V_INT(id));
        if (r < 0)
                return r;
        if (r > 0)
                return -EBUSY;

        r = store_one_row(store_run(s, "DELETE FROM users WHERE id = ?1", V_INT(id)));
        if (r < 0)
                return r;
        return store_op_commit(&op);
}

/* ---- passwords ---- */

static unsigned long long password_opslimit = 0;
static size_t password_memlimit = 0;

void store_password_set_limits(unsigned long long opslimit, size_t memlimit) {
        password_opslimit = opslimit;
        password_memlimit = memlimit;
}

int store_password_hash(const char *password, size_t len, char ret[static STORE_PASSWORD_HASH_SIZE]) {
        char hash[STORE_PASSWORD_HASH_SIZE];

        assert(password || len == 0);
        assert(ret);

        if (len > STORE_PASSWORD_MAX)
                return -EINVAL;
        if (sodium_init() < 0)
                return -EIO;
        if (crypto_pwhash_str_alg(hash, password ?: "", len,
                                  password_opslimit ?: crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                  password_memlimit ?: crypto_pwhash_MEMLIMIT_INTERACTIVE,
                                  crypto_pwhash_ALG_ARGON2ID13) != 0)
                return -ENOMEM; /* the only way it fails: the memory limit could not be allocated */

        memcpy(ret, hash, sizeof(hash));
        explicit_bzero_safe(hash, sizeof(hash));
        return 0;
}

int store_password_verify(const char *hash, const char *password, size_t len) {
        assert(hash);
        assert(password || len == 0);

        if (len > STORE_PASSWORD_MAX || !startswith(hash, "$argon2id$"))
                return -EACCES;
        if (sodium_init() < 0)
                return -EIO;
        if (crypto_pwhash_str_verify(hash, password ?: "", len) != 0)
                return -EACCES;
        return 0;
}

/* ---- sessions ---- */

int store_session_new(Store *s, int64_t user_id, uint64_t now, uint64_t expires,
                      char ret_token[static STORE_TOKEN_LENGTH + 1]) {
        char token[STORE_TOKEN_LENGTH + 1];
        uint8_t digest[32];
        int r;

        assert(s);
        assert(ret_token);

        if (expires <= now)
                return -EINVAL;

        random_string(ID_ALPHABET_BASE64URL, STORE_TOKEN_LENGTH, token);
        r = store_token_digest(token, STORE_TOKEN_LENGTH, STORE_TOKEN_LENGTH, digest);
        assert(r == 0);

        r = store_run(s,
                      "INSERT INTO sessions (id_hash, user_id, created, expires, last_seen) "
                      "VALUES (?1, ?2, ?3, ?4, ?3)",
                      V_BLOB(digest, sizeof(digest)), V_INT(user_id), V_UINT(now), V_UINT(expires));
        if (r >= 0)
                memcpy(ret_token, token, sizeof(token));
        explicit_bzero_safe(token, sizeof(token));
        return r < 0 ? r : 0;
}

int store_session_get(Store *s, const char *token, size_t len, uint64_t now, StoreSession *ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        StoreSession session = {};
        int r;

        assert(s);

        /* Looking a token up by its hash in a B-tree takes time that depends on the hash, which tells
         * nothing about any valid token. */
        r = store_token_digest(token, len, STORE_TOKEN_LENGTH, session.id_hash);
        if (r < 0)
                return r;

        r = store_query(s, &st,
                        "SELECT user_id, created, expires, last_seen FROM sessions "
                        "WHERE id_hash = ?1 AND expires > ?2",
                        V_BLOB(session.id_hash, sizeof(session.id_hash)), V_UINT(now));
        if (r < 0)
                return r;
        r = store_step(s, st);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        session.user_id = sqlite3_column_int64(st, 0);
        session.created = store_column_uint(st, 1);
        session.expires = store_column_uint(st, 2);
        session.last_seen = store_column_uint(st, 3);
        store_stmt_resetp(&st);

        if (now > session.last_seen && now - session.last_seen >= STORE_TOUCH_INTERVAL_USEC) {
                /* Bookkeeping: a session deleted meanwhile is gone, but a full disk or a busy database
                 * must not log everybody out. */
                r = store_one_row(store_run(s, "UPDATE sessions SET last_seen = ?2 WHERE id_hash = ?1",
                                            V_BLOB(session.id_hash, sizeof(session.id_hash)), V_UINT(now)));
                if (r == -ENOENT)
                        return r;
                if (r < 0)
                        (void) log_debug_errno(r, "store: could not record a session's use, continuing: %m");
                else
                        session.last_seen = now;
        }

        if (ret)
                *ret = session;
        return 0;
}

int store_session_delete(Store *s, const char *token, size_t len) {
        uint8_t digest[32];
        int r;

        assert(s);

        r = store_token_digest(token, len, STORE_TOKEN_LENGTH, digest);
        if (r < 0)
                return r;
        return store_one_row(
                store_run(s, "DELETE FROM sessions WHERE id_hash = ?1", V_BLOB(digest, sizeof(digest))));
}

static int count_result(int r, uint64_t *ret_n) {
        if (r < 0)
                return r;
        if (ret_n)
                *ret_n = (uint64_t) r;
        return 0;
}

int store_session_delete_by_user(Store *s, int64_t user_id, uint64_t *ret_n) {
        assert(s);

        return count_result(store_run(s, "DELETE FROM sessions WHERE user_id = ?1", V_INT(user_id)), ret_n);
}

int store_session_expire(Store *s, uint64_t now, uint64_t *ret_n) {
        assert(s);

        return count_result(store_run(s, "DELETE FROM sessions WHERE expires <= ?1", V_UINT(now)), ret_n);
}

/* ---- the setup token ---- */

int store_setup_token_new(Store *s, uint64_t now, uint64_t expires,
                          char ret_token[static STORE_SETUP_TOKEN_LENGTH + 1]) {
        _cleanup_op_ StoreOp op = {};
        char token[STORE_SETUP_TOKEN_LENGTH + 1];
        uint8_t bytes[STORE_SETUP_TOKEN_LENGTH / 2], digest[32];
        int r;

        assert(s);
        assert(ret_token);

        if (expires <= now)
                return -EINVAL;

        random_bytes(bytes, sizeof(bytes));
        hex_encode(bytes, sizeof(bytes), token);
        explicit_bzero_safe(bytes, sizeof(bytes));
        r = store_token_digest(token, STORE_SETUP_TOKEN_LENGTH, STORE_SETUP_TOKEN_LENGTH, digest);
        assert(r == 0);

        r = store_op_begin(s, &op);
        if (r >= 0)
                r = store_run_plain(s, "DELETE FROM setup_tokens");
        if (r >= 0)
                r = store_run(s, "INSERT INTO setup_tokens (hash, created, expires) VALUES (?1, ?2, ?3)",
                              V_BLOB(digest, sizeof(digest)), V_UINT(now), V_UINT(expires));
        if (r >= 0)
                r = store_op_commit(&op);
        if (r >= 0)
                memcpy(ret_token, token, sizeof(token));
        explicit_bzero_safe(token, sizeof(token));
        return r < 0 ? r : 0;
}

int store_setup_token_check(Store *s, const char *token, size_t len, uint64_t now) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        uint8_t digest[32];
        int r;

        assert(s);

        r = store_token_digest(token, len, STORE_SETUP_TOKEN_LENGTH, digest);
        if (r < 0)
                return r;
        r = store_query(s, &st, "SELECT 1 FROM setup_tokens WHERE hash = ?1 AND expires > ?2",
                        V_BLOB(digest, sizeof(digest)), V_UINT(now));
        if (r < 0)
                return r;
        r = store_step(s, st);
        if (r < 0)
                return r;
        return r > 0 ? 0 : -ENOENT;
}

int store_setup_token_consume(Store *s, const char *token, size_t len, uint64_t now) {
        uint8_t digest[32];
        int r;

        assert(s);

        r = store_token_digest(token, len, STORE_SETUP_TOKEN_LENGTH, digest);
        if (r < 0)
                return r;
        /* Check and use up in one statement: of two requests racing with the token, one wins. */
        return store_one_row(store_run(s, "DELETE FROM setup_tokens WHERE hash = ?1 AND expires > ?2",
                                 V_BLOB(digest, sizeof(digest)), V_UINT(now)));
}

/* ---- login attempts ---- */

int store_login_attempt_record(Store *s, const char *name, const char *address, uint64_t now) {
        int r;

        assert(s);

        r = store_check_text(name, STORE_NAME_MAX, false);
        if (r < 0)
                return r;
        r = store_check_text(address, STORE_ADDRESS_MAX, false);
        if (r < 0)
                return r;
        r = store_run(s, "INSERT INTO login_attempts (user_name, address, time) VALUES (?1, ?2, ?3)",
                      V_TEXT(name), V_TEXT(address), V_UINT(now));
        return r < 0 ? r : 0;
}

static int count_one(Store *s, sqlite3_stmt *st, uint64_t *ret_n) {
        int r;

        r = store_step(s, st);
        if (r < 0)
                return r;
        if (r == 0)
                return -EIO;
        *ret_n = store_column_uint(st, 0);
        return 0;
}

int store_login_attempt_count_by_name(Store *s, const char *name, uint64_t since, uint64_t *ret_n) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        assert(s);
        assert(name);
        assert(ret_n);

        r = store_query(s, &st, "SELECT count(*) FROM login_attempts WHERE user_name = ?1 AND time >= ?2",
                        V_TEXT(name), V_UINT(since));
        if (r < 0)
                return r;
        return count_one(s, st, ret_n);
}

int store_login_attempt_count_by_address(Store *s, const char *address, uint64_t since, uint64_t *ret_n) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        assert(s);
        assert(address);
        assert(ret_n);

        r = store_query(s, &st, "SELECT count(*) FROM login_attempts WHERE address = ?1 AND time >= ?2",
                        V_TEXT(address), V_UINT(since));
        if (r < 0)
                return r;
        return count_one(s, st, ret_n);
}

int store_login_attempt_clear_name(Store *s, const char *name) {
        int r;

        assert(s);
        assert(name);

        r = store_run(s, "DELETE FROM login_attempts WHERE user_name = ?1", V_TEXT(name));
        return r < 0 ? r : 0;
}

int store_login_attempt_prune(Store *s, uint64_t before, uint64_t *ret_n) {
        assert(s);

        return count_result(store_run(s, "DELETE FROM login_attempts WHERE time < ?1", V_UINT(before)),
                            ret_n);
}

/* ---- settings ---- */

int store_setting_get(Store *s, const char *key, char **ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        char *value;
        int r;

        assert(s);
        assert(key);
        assert(ret);

        r = store_query(s, &st, "SELECT value FROM settings WHERE key = ?1", V_TEXT(key));
        if (r < 0)
                return r;
        r = store_step(s, st);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        r = store_column_strdup(st, 0, &value);
        if (r < 0)
                return r;
        if (!value)
                return -EBADMSG;
        *ret = value;
        return 0;
}

int store_setting_set(Store *s, const char *key, const char *value) {
        int r;

        assert(s);

        r = store_check_text(key, STORE_SETTING_KEY_MAX, false);
        if (r < 0)
                return r;
        r = store_check_text(value, STORE_SETTING_VALUE_MAX, true);
        if (r < 0)
                return r;
        r = store_run(s,
                      "INSERT INTO settings (key, value) VALUES (?1, ?2) "
                      "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                      V_TEXT(key), V_TEXT(value));
        return r < 0 ? r : 0;
}

int store_setting_delete(Store *s, const char *key) {
        assert(s);
        assert(key);

        return store_one_row(store_run(s, "DELETE FROM settings WHERE key = ?1", V_TEXT(key)));
}
