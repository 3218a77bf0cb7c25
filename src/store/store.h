/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * store/store.h — granary's SQLite database (DESIGN.md "State"): the schema, its versioned
 * migrations, durability, and the queries the front server makes about users, sessions, setup
 * tokens, login attempts, settings, apps, packages, grains, per-grain identities and sharing/API
 * tokens.
 *
 * Owns the database file and everything in it. Does not own policy: who may log in, how many
 * attempts are too many, which names are acceptable, what a role grants — callers decide, the
 * store keeps the facts. Does not own grain storage or package trees on disk: deleting a grain's
 * row does not remove its directory. Never logs above debug.
 *
 * Errors are negative errno, mapped from SQLite in one place (store.c): -EEXIST a unique key is
 * taken, -ENOENT no such row (or a row referred to does not exist), -EINVAL an argument the schema
 * refuses (empty or too long text, invalid UTF-8, a bad id), -EBUSY the database is locked by
 * another process beyond the busy timeout, or a row is still in use (see each function), -ENOSPC
 * disk full, -EBADMSG a corrupt file or one that is not a granary database, -EPROTO the database
 * was written by a newer granary, -ENOMEM, -E2BIG a value beyond SQLITE_LIMIT_LENGTH, -EIO anything
 * else.
 *
 * Times are microseconds since the epoch (CLOCK_REALTIME) and are passed in by the caller (the
 * front server has sd_event_now() at hand; tests pick their own clock). In structs, 0 means "none"
 * for optional times (expires, last_used, last_login). Values above INT64_MAX give -ERANGE.
 *
 * Secrets. Session, setup and sharing/API tokens are generated here from libsodium's CSPRNG and
 * handed out once; only a SHA-256 of each is stored, and every lookup takes the raw token and
 * hashes it here, so no caller ever compares or stores a raw token. Passwords are stored as
 * argon2id strings (crypto_pwhash_str). The TOTP secret is the one secret kept as is, because
 * checking a code needs it. secure_delete is on, so deleted rows are overwritten.
 *
 * Durability: WAL, synchronous=FULL: when a call that writes returns 0 (or store_commit() returns
 * 0), the change is on disk and survives kill -9 and power loss.
 *
 * Transactions: every call is atomic on its own. store_begin()/store_commit() group several calls
 * (e.g. consuming the setup token and creating the first admin: either both happen or neither).
 * They do not nest. A call that fails inside a group leaves the group open with that call's
 * changes undone; the caller then commits what came before or rolls back. Exception: after
 * -ENOSPC, -EIO, -ENOMEM or -EBUSY SQLite may have rolled the whole group back by itself; every
 * later call then fails with -EIO until store_rollback() (or store_commit(), which fails too).
 *
 * A Store is one connection, used by one thread.
 *
 * Schema (version STORE_SCHEMA_VERSION; migrations in store-schema.c, one transaction per step;
 * PRAGMA user_version holds the version, application_id is STORE_APPLICATION_ID):
 *
 *   users          id (never reused), name (unique, ASCII case-insensitive), display_name,
 *                  password_hash (argon2id string, NULL = no password), is_admin, totp_secret (NULL
 *                  = no TOTP), totp_last_counter (replay guard), created, last_login
 *   sessions       id_hash = sha256(token) (32 bytes), user_id → users CASCADE, created, expires,
 *                  last_seen
 *   setup_tokens   hash = sha256(token), created, expires; at most one row
 *   login_attempts user_name, address, time — failed logins, counted per name and per address
 *   settings       key, value
 *   apps           id (52-character app id, spec §1.3), title, latest_package_id → packages SET
 *                  NULL, created
 *   packages       id (spec §1.4, or dev-…), app_id → apps CASCADE, app_version,
 *                  marketing_version, manifest (blob), bridge_config (blob, NULL = none), installed
 *   grains         id (22 characters, spec §11), owner_id → users RESTRICT, package_id → packages
 *                  RESTRICT, title, public_id (spec §10.4, NULL until assigned), created, last_used,
 *                  size
 *   identities     (user_id → users CASCADE, grain_id → grains CASCADE), identity_id (64 hex,
 *                  spec §5.4, unique within a grain), created
 *   tokens         hash = base64(sha256(token)) (44 characters, spec §10.2), grain_id → grains
 *                  CASCADE, account_id (creator) → users CASCADE, owner_user_id (direct-share
 *                  recipient, NULL = webkey/link) → users CASCADE, role_assignment (blob, NULL =
 *                  default role), petname, for_sharing, parent_hash → tokens CASCADE, created,
 *                  expires, expires_if_unused, last_used, revoked
 *
 * RESTRICT means: a user who owns grains, and a package (or app) that grains use, cannot be
 * deleted (-EBUSY) — the grains' storage must go first, and the store cannot remove it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/macro.h"

/* Bump STORE_SCHEMA_VERSION only by appending a step to store-schema.c. */
#define STORE_SCHEMA_VERSION 3u
#define STORE_APPLICATION_ID 0x47524e59 /* "GRNY" */

#define STORE_USEC_PER_SEC UINT64_C(1000000)

/* Limits on what the store accepts (bytes, UTF-8). Longer values give -EINVAL. */
#define STORE_NAME_MAX 256u               /* user names and display names */
#define STORE_TEXT_MAX 4096u              /* titles, petnames, marketing versions */
#define STORE_ID_MAX 64u                  /* app, package and grain ids */
#define STORE_ADDRESS_MAX 128u            /* client addresses in login attempts */
#define STORE_SETTING_KEY_MAX 256u
#define STORE_SETTING_VALUE_MAX (64u * 1024u)
#define STORE_PASSWORD_MAX 4096u
#define STORE_TOTP_SECRET_MAX 64u
#define STORE_BLOB_MAX (16u * 1024u * 1024u) /* manifests, bridge configs, role assignments */
/* SQLITE_LIMIT_LENGTH: no single value may be larger, whatever the caller asks. */
#define STORE_VALUE_MAX (STORE_BLOB_MAX + 1024u * 1024u)
/* How long a call waits for another process's write lock before -EBUSY. */
#define STORE_BUSY_TIMEOUT_MSEC 5000

/* Tokens: 43 characters of base64url (258 random bits), like Sandstorm's sharing tokens (spec
 * §10.2). Setup tokens are 40 hex characters (20 random bytes), like Sandstorm's admin token
 * (spec §11). Strings handed out have a NUL after them: buffers hold LENGTH + 1 bytes. */
#define STORE_TOKEN_LENGTH 43u
#define STORE_SETUP_TOKEN_LENGTH 40u
/* base64(sha256(token)), standard alphabet with padding: the key of a sharing/API token. */
#define STORE_TOKEN_HASH_LENGTH 44u
/* A presented token longer than this is not looked up at all: -ENOENT. */
#define STORE_TOKEN_INPUT_MAX 256u
#define STORE_GRAIN_ID_LENGTH 22u
#define STORE_IDENTITY_ID_LENGTH 64u
/* crypto_pwhash_STRBYTES: an argon2id string and its NUL fit in this. */
#define STORE_PASSWORD_HASH_SIZE 128u

/* Sessions and tokens remember when they were last used, but a lookup writes that down at most this
 * often: otherwise every request would cost a synchronous disk write. */
#define STORE_TOUCH_INTERVAL_USEC (60u * STORE_USEC_PER_SEC)

typedef struct Store Store;

typedef enum StoreOpenFlags {
        /* Create the file (mode 0600) if it is missing; its directory must exist. */
        STORE_OPEN_CREATE = 1 << 0,
} StoreOpenFlags;

/* Opens (and with STORE_OPEN_CREATE creates) the database at path and migrates it to
 * STORE_SCHEMA_VERSION. -ENOENT missing file without STORE_OPEN_CREATE, -ELOOP path is a symlink,
 * -EBADMSG not an SQLite file, corrupt, or another program's database, -EPROTO written by a newer
 * granary (left untouched). A migration that fails leaves the database at the last step that
 * succeeded and returns its error. */
int store_open(const char *path, StoreOpenFlags flags, Store **ret);
/* Rolls back an open transaction, closes. Accepts NULL, returns NULL. */
Store *store_close(Store *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Store *, store_close);

/* BEGIN IMMEDIATE: takes the write lock now, so nothing inside can fail for a lock later.
 * -EALREADY if a transaction is open. */
int store_begin(Store *s);
/* -ENOTCONN if no transaction is open. A commit that fails rolls back. */
int store_commit(Store *s);
int store_rollback(Store *s);
/* Runs fn inside store_begin()/store_commit(); rolls back if fn returns < 0, and returns what fn
 * returned (or the commit's error). */
int store_transaction(Store *s, int (*fn)(Store *s, void *userdata), void *userdata);

/* base64(sha256(token)) into ret (STORE_TOKEN_HASH_LENGTH characters and a NUL): the key under
 * which a sharing/API token is stored, and the input of the API Tab-Id (spec §5.4). */
void store_token_hash(const char *token, size_t len, char ret[static STORE_TOKEN_HASH_LENGTH + 1]);

/* ---- users ---- */

typedef struct StoreUser {
        int64_t id;
        char *name;
        char *display_name;
        char *password_hash;  /* NULL: no password set */
        bool is_admin;
        uint8_t *totp_secret; /* NULL: no TOTP */
        size_t totp_secret_size;
        uint64_t totp_last_counter; /* the last TOTP time step accepted, 0 if none */
        uint64_t created;
        uint64_t last_login;
} StoreUser;

/* Wipes the password hash and TOTP secret. Accept NULL, return NULL. */
StoreUser *store_user_free(StoreUser *u);
DEFINE_TRIVIAL_CLEANUP_FUNC(StoreUser *, store_user_free);
StoreUser **store_user_list_free(StoreUser **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(StoreUser **, store_user_list_free);

/* name: 1..STORE_NAME_MAX bytes of UTF-8, stored verbatim, unique ignoring ASCII case (-EEXIST).
 * display_name NULL means the name. No password: set one with store_user_set_password*(). */
int store_user_add(Store *s, const char *name, const char *display_name, bool is_admin, uint64_t now,
                   int64_t *ret_id);
int store_user_get(Store *s, int64_t id, StoreUser **ret);
/* Ignores ASCII case. */
int store_user_get_by_name(Store *s, const char *name, StoreUser **ret);
/* Every user, by id; a NULL-terminated array. ret_n may be NULL. */
int store_user_list(Store *s, StoreUser ***ret, size_t *ret_n);
int store_user_set_admin(Store *s, int64_t id, bool is_admin);
int store_user_set_display_name(Store *s, int64_t id, const char *display_name);
int store_user_set_last_login(Store *s, int64_t id, uint64_t now);
/* Hashes password (argon2id, libsodium's interactive limits: ~64 MiB and a noticeable fraction of a
 * second — run it outside the event loop, or hash there with store_password_hash() and store the
 * result with store_user_set_password_hash()). password NULL removes the password. */
int store_user_set_password(Store *s, int64_t id, const char *password, size_t len);
/* hash: an argon2id string from store_password_hash() (-EINVAL otherwise). */
int store_user_set_password_hash(Store *s, int64_t id, const char *hash);
/* Finds the user by name and checks the password; as slow as hashing. -EACCES for an unknown
 * name, a user without a password, and a wrong password alike, after the same amount of work, so
 * that neither the answer nor its timing tells which. ret may be NULL. */
int store_user_check_password(Store *s, const char *name, const char *password, size_t len,
                              StoreUser **ret);
/* secret NULL (or size 0) turns TOTP off; also resets the replay guard. */
int store_user_set_totp_secret(Store *s, int64_t id, const void *secret, size_t size);
/* Records that the code for TOTP time step counter was accepted. -EALREADY if that step or a later
 * one was accepted before (a replayed code), -ENOENT no such user. Atomic, so one code logs in once. */
int store_user_use_totp_counter(Store *s, int64_t id, uint64_t counter);
/* Deletes the user with their sessions, identities and tokens. -EBUSY while they own grains. */
int store_user_delete(Store *s, int64_t id);

/* argon2id (crypto_pwhash_str, interactive limits) of password into ret. No database involved:
 * safe to run in a worker process. -EINVAL beyond STORE_PASSWORD_MAX, -ENOMEM. */
int store_password_hash(const char *password, size_t len, char ret[static STORE_PASSWORD_HASH_SIZE]);
/* 0 if password matches hash, -EACCES if not (or hash is not a valid argon2id string). */
int store_password_verify(const char *hash, const char *password, size_t len);

/* ---- sessions ---- */

typedef struct StoreSession {
        uint8_t id_hash[32]; /* sha256(token) */
        int64_t user_id;
        uint64_t created;
        uint64_t expires;
        uint64_t last_seen;
} StoreSession;

/* A new session for user_id, valid while now < expires. The token (STORE_TOKEN_LENGTH characters
 * of base64url) is written to ret_token and is not kept: this is the only time it is seen.
 * -ENOENT no such user, -EINVAL expires <= now. */
int store_session_new(Store *s, int64_t user_id, uint64_t now, uint64_t expires,
                      char ret_token[static STORE_TOKEN_LENGTH + 1]);
/* The session of token, if now < expires; records now as last_seen (at most every
 * STORE_TOUCH_INTERVAL_USEC; if that write fails, the lookup still succeeds and ret->last_seen keeps
 * the old value). -ENOENT unknown, expired, or malformed token. ret may be NULL. */
int store_session_get(Store *s, const char *token, size_t len, uint64_t now, StoreSession *ret);
/* -ENOENT unknown token. */
int store_session_delete(Store *s, const char *token, size_t len);
/* Every session of user_id ("log out everywhere", password changes). ret_n may be NULL. */
int store_session_delete_by_user(Store *s, int64_t user_id, uint64_t *ret_n);
/* Deletes the sessions with expires <= now. ret_n may be NULL. */
int store_session_expire(Store *s, uint64_t now, uint64_t *ret_n);

/* ---- the setup token (first admin, "granary admin-token") ---- */

/* A new setup token valid while now < expires; any earlier one stops working. The token
 * (STORE_SETUP_TOKEN_LENGTH hex characters) is written to ret_token and is not kept. */
int store_setup_token_new(Store *s, uint64_t now, uint64_t expires,
                          char ret_token[static STORE_SETUP_TOKEN_LENGTH + 1]);
/* 0 if token is the current, unexpired setup token, -ENOENT otherwise. Does not use it up. */
int store_setup_token_check(Store *s, const char *token, size_t len, uint64_t now);
/* Uses the token up: 0 exactly once for a valid token, -ENOENT for anything else. Inside a
 * transaction with the account it creates, so that a failure gives the token back. */
int store_setup_token_consume(Store *s, const char *token, size_t len, uint64_t now);

/* ---- login attempts (failed logins, for rate limiting) ---- */

/* name: the user name tried (need not exist; ASCII case ignored when counting); address: the
 * client's address as the caller wants it counted (e.g. an IPv6 /64 prefix). Both non-empty. */
int store_login_attempt_record(Store *s, const char *name, const char *address, uint64_t now);
/* How many attempts were recorded with time >= since. */
int store_login_attempt_count_by_name(Store *s, const char *name, uint64_t since, uint64_t *ret_n);
int store_login_attempt_count_by_address(Store *s, const char *address, uint64_t since, uint64_t *ret_n);
/* Forgets the attempts on one name (after a successful login). */
int store_login_attempt_clear_name(Store *s, const char *name);
/* Forgets the attempts older than before. ret_n may be NULL. */
int store_login_attempt_prune(Store *s, uint64_t before, uint64_t *ret_n);

/* ---- settings ---- */

/* -ENOENT if unset. */
int store_setting_get(Store *s, const char *key, char **ret);
int store_setting_set(Store *s, const char *key, const char *value);
/* -ENOENT if unset. */
int store_setting_delete(Store *s, const char *key);

/* ---- apps and packages ---- */

typedef struct StoreApp {
        char *id;                /* spec §1.3: 52 characters of base32 */
        char *title;
        char *latest_package_id; /* NULL: none */
        uint64_t created;
} StoreApp;

StoreApp *store_app_free(StoreApp *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(StoreApp *, store_app_free);
StoreApp **store_app_list_free(StoreApp **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(StoreApp **, store_app_list_free);

/* -EEXIST known app. */
int store_app_add(Store *s, const char *id, const char *title, uint64_t now);
int store_app_get(Store *s, const char *id, StoreApp **ret);
/* Every app, by title. */
int store_app_list(Store *s, StoreApp ***ret, size_t *ret_n);
/* package_id must be a package of this app and not a development one (-ENOENT otherwise). */
int store_app_set_latest_package(Store *s, const char *app_id, const char *package_id);
/* Deletes the app and its packages. -EBUSY while grains use any of them. */
int store_app_delete(Store *s, const char *id);

typedef struct StorePackage {
        char *id;                /* spec §1.4: 32 hex, or dev-… */
        char *app_id;
        uint32_t app_version;
        char *marketing_version;
        void *manifest;          /* the sandstorm-manifest message, as in the package */
        size_t manifest_size;
        void *bridge_config;     /* sandstorm-http-bridge-config; NULL: none */
        size_t bridge_config_size;
        uint64_t installed;
} StorePackage;

StorePackage *store_package_free(StorePackage *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(StorePackage *, store_package_free);
StorePackage **store_package_list_free(StorePackage **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(StorePackage **, store_package_list_free);

/* Records p (every field). -ENOENT unknown app, -EEXIST known package. */
int store_package_add(Store *s, const StorePackage *p);
int store_package_get(Store *s, const char *id, StorePackage **ret);
/* The app's packages, highest app_version first. */
int store_package_list_by_app(Store *s, const char *app_id, StorePackage ***ret, size_t *ret_n);
/* -EBUSY while grains use it. If it was its app's latest package, the app has none afterwards. */
int store_package_delete(Store *s, const char *id);

/* Development packages (spk dev, front/devapps.h): ids STORE_DEV_PACKAGE_PREFIX and 16 hex digits, rows
 * like any package (grains.package_id needs one), but never an app's latest package
 * (store_app_set_latest_package() refuses them: -ENOENT). They live while a registration or a grain uses
 * them. */
#define STORE_DEV_PACKAGE_PREFIX "dev-"
/* Whether id names a development package. Pure. */
bool store_package_id_is_dev(const char *id) _pure_;
/* Deletes the development package id when no grain uses it, and then its app when that app has no package
 * left (an app recorded only for development). 1 deleted, 0 kept (grains use it), -ENOENT no such package,
 * -EINVAL not a development package. Atomic. */
int store_package_release_dev(Store *s, const char *id);
/* store_package_release_dev() for every development package: what a crash of the server left. The ids of
 * those still in use (by grains) are kept. ret_n (may be NULL): how many went. */
int store_package_release_all_dev(Store *s, size_t *ret_n);

/* ---- grains and identities ---- */

typedef struct StoreGrain {
        char *id;          /* spec §11: 22 characters */
        int64_t owner_id;
        char *package_id;
        char *app_id;      /* the package's app: filled in by reads, ignored by store_grain_add() */
        char *title;
        char *public_id;   /* spec §10.4: NULL until assigned */
        uint64_t created;
        uint64_t last_used;
        uint64_t size;     /* bytes of storage, as last measured */
} StoreGrain;

StoreGrain *store_grain_free(StoreGrain *g);
DEFINE_TRIVIAL_CLEANUP_FUNC(StoreGrain *, store_grain_free);
StoreGrain **store_grain_list_free(StoreGrain **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(StoreGrain **, store_grain_list_free);

/* Whether id could be an app, package or grain id here: 1…STORE_ID_MAX letters, digits, '-' and '_' (so that
 * it is safe as a file or unit name). Pure. */
bool store_id_is_valid(const char *id) _pure_;
/* A fresh grain id: STORE_GRAIN_ID_LENGTH characters of Meteor's unmistakable alphabet. */
void store_grain_id_new(char ret[static STORE_GRAIN_ID_LENGTH + 1]);
/* Records g (id, owner_id, package_id, title, public_id, created, last_used, size) and the owner's
 * identity in this grain: owner_identity_id (restoring a backup) or, if NULL, a new random one.
 * -ENOENT unknown owner or package, -EEXIST known id or public_id. */
int store_grain_add(Store *s, const StoreGrain *g, const char *owner_identity_id);
int store_grain_get(Store *s, const char *id, StoreGrain **ret);
/* Every grain, by id. */
int store_grain_list(Store *s, StoreGrain ***ret, size_t *ret_n);
/* The owner's grains, most recently used first. */
int store_grain_list_by_owner(Store *s, int64_t owner_id, StoreGrain ***ret, size_t *ret_n);
int store_grain_set_title(Store *s, const char *id, const char *title);
int store_grain_touch(Store *s, const char *id, uint64_t now);
/* Moves the grain to package_id (an upgrade at its next start). -ENOENT unknown grain or package,
 * -EXDEV a package of another app than the grain's. */
int store_grain_set_package(Store *s, const char *id, const char *package_id);
/* Deletes the row with its identities and tokens; the grain's storage is the caller's. */
int store_grain_delete(Store *s, const char *id);

/* The identity id (64 lowercase hex, spec §5.4) of user_id in grain_id. -ENOENT if none yet. */
int store_identity_get(Store *s, int64_t user_id, const char *grain_id,
                       char ret[static STORE_IDENTITY_ID_LENGTH + 1]);
/* The same, generating and recording 32 random bytes the first time. -ENOENT unknown user or grain. */
int store_identity_get_or_new(Store *s, int64_t user_id, const char *grain_id, uint64_t now,
                              char ret[static STORE_IDENTITY_ID_LENGTH + 1]);
/* Records a known identity id (from a backup). -EEXIST if the user already has one in the grain or
 * another user has this one there. */
int store_identity_add(Store *s, int64_t user_id, const char *grain_id, const char *identity_id,
                       uint64_t now);

/* ---- sharing and API tokens (spec §10.2, §10.3) ---- */

typedef struct StoreToken {
        char hash[STORE_TOKEN_HASH_LENGTH + 1]; /* base64(sha256(token)) */
        char *grain_id;
        int64_t account_id;      /* who made it; 0: nobody (made by the grain or the server) */
        int64_t owner_user_id;   /* direct share to this user; 0: a webkey or link */
        void *role_assignment;   /* opaque to the store; NULL: the app's default role */
        size_t role_assignment_size;
        char *petname;
        bool for_sharing;
        bool revoked;
        char *parent_hash;       /* the token this one was derived from; NULL: none */
        uint64_t created;
        uint64_t expires;
        uint64_t expires_if_unused; /* cleared by the first use */
        uint64_t last_used;
} StoreToken;

StoreToken *store_token_free(StoreToken *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(StoreToken *, store_token_free);
StoreToken **store_token_list_free(StoreToken **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(StoreToken **, store_token_list_free);

/* A new token with the fields of t (hash, revoked and last_used are ignored). The token is written
 * to ret_token, and is not kept. -ENOENT unknown grain, user or parent. */
int store_token_add(Store *s, const StoreToken *t, char ret_token[static STORE_TOKEN_LENGTH + 1]);
/* The token presented by a client, if it and every token it was derived from are neither revoked
 * nor expired; records its use (last_used at most every STORE_TOUCH_INTERVAL_USEC, clears
 * expires_if_unused). -ENOENT otherwise, whatever the reason. ret may be NULL. */
int store_token_use(Store *s, const char *token, size_t len, uint64_t now, StoreToken **ret);
/* By hash, whatever its state (sharing UIs, walking parent_hash). */
int store_token_get_by_hash(Store *s, const char *hash, StoreToken **ret);
/* The grain's tokens, oldest first. */
int store_token_list_by_grain(Store *s, const char *grain_id, StoreToken ***ret, size_t *ret_n);
/* Revoking a token also stops every token derived from it (store_token_use()). */
int store_token_revoke(Store *s, const char *hash);
/* Deletes the token and every token derived from it. */
int store_token_delete(Store *s, const char *hash);
