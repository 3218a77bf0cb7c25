/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "store/store-internal.h"

/*
 * The schema, as the steps that build it. Step i takes a database from version i to i + 1 (PRAGMA
 * user_version) in one transaction; store_open() applies the missing ones in order.
 *
 * Rules for changing it:
 * (1) Never edit a step that has been released: append a new one and bump STORE_SCHEMA_VERSION.
 *     tests/store/schema.sql holds the expected result and must be updated with it.
 * (2) A step must work on a database holding data: a new NOT NULL column needs a DEFAULT, a new
 *     UNIQUE index must not meet duplicates.
 * (3) To change a column, rebuild the table (CREATE new, INSERT … SELECT, DROP, ALTER … RENAME);
 *     foreign keys are off during a step and checked before it commits.
 * (4) Tables are STRICT, so a value of the wrong type is refused instead of converted.
 *
 * Times are INTEGER microseconds since the epoch; NULL means "none". Booleans are 0 or 1.
 * Byte-length limits on text are checked in C (store.h); the CHECKs here are a backstop.
 */

#define STEP_1_ACCOUNTS                                                                                      \
        "CREATE TABLE users (\n"                                                                             \
        "        id INTEGER PRIMARY KEY AUTOINCREMENT,\n" /* never reused */                                 \
        "        name TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (name <> ''),\n"                            \
        "        display_name TEXT NOT NULL CHECK (display_name <> ''),\n"                                  \
        "        password_hash TEXT,\n"                                                                      \
        "        is_admin INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),\n"                         \
        "        totp_secret BLOB,\n"                                                                        \
        "        totp_last_counter INTEGER NOT NULL DEFAULT 0 CHECK (totp_last_counter >= 0),\n"            \
        "        created INTEGER NOT NULL,\n"                                                                \
        "        last_login INTEGER\n"                                                                       \
        ") STRICT;\n"                                                                                        \
        "CREATE TABLE sessions (\n"                                                                          \
        "        id_hash BLOB PRIMARY KEY CHECK (length(id_hash) = 32),\n"                                  \
        "        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,\n"                        \
        "        created INTEGER NOT NULL,\n"                                                                \
        "        expires INTEGER NOT NULL,\n"                                                                \
        "        last_seen INTEGER NOT NULL\n"                                                               \
        ") STRICT, WITHOUT ROWID;\n"                                                                         \
        "CREATE INDEX sessions_by_user ON sessions (user_id);\n"                                            \
        "CREATE INDEX sessions_by_expiry ON sessions (expires);\n"                                          \
        "CREATE TABLE setup_tokens (\n"                                                                      \
        "        hash BLOB PRIMARY KEY CHECK (length(hash) = 32),\n"                                        \
        "        created INTEGER NOT NULL,\n"                                                                \
        "        expires INTEGER NOT NULL\n"                                                                 \
        ") STRICT, WITHOUT ROWID;\n"                                                                         \
        "CREATE TABLE login_attempts (\n"                                                                    \
        "        id INTEGER PRIMARY KEY,\n"                                                                  \
        "        user_name TEXT NOT NULL COLLATE NOCASE,\n"                                                  \
        "        address TEXT NOT NULL,\n"                                                                   \
        "        time INTEGER NOT NULL\n"                                                                    \
        ") STRICT;\n"                                                                                        \
        "CREATE INDEX login_attempts_by_name ON login_attempts (user_name, time);\n"                        \
        "CREATE INDEX login_attempts_by_address ON login_attempts (address, time);\n"                       \
        "CREATE INDEX login_attempts_by_time ON login_attempts (time);\n"                                   \
        "CREATE TABLE settings (\n"                                                                          \
        "        key TEXT PRIMARY KEY CHECK (key <> ''),\n"                                                  \
        "        value TEXT NOT NULL\n"                                                                      \
        ") STRICT, WITHOUT ROWID;\n"

/* apps.latest_package_id and packages.app_id refer to each other: an app is added first with no
 * latest package, then its packages, then the pointer. */
#define STEP_2_APPS_AND_GRAINS                                                                               \
        "CREATE TABLE apps (\n"                                                                              \
        "        id TEXT PRIMARY KEY CHECK (id <> ''),\n"                                                    \
        "        title TEXT NOT NULL,\n"                                                                     \
        "        latest_package_id TEXT REFERENCES packages (id) ON DELETE SET NULL,\n"                      \
        "        created INTEGER NOT NULL\n"                                                                 \
        ") STRICT, WITHOUT ROWID;\n"                                                                         \
        "CREATE INDEX apps_by_latest_package ON apps (latest_package_id);\n"                                \
        "CREATE TABLE packages (\n"                                                                          \
        "        id TEXT PRIMARY KEY CHECK (id <> ''),\n"                                                    \
        "        app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,\n"                             \
        "        app_version INTEGER NOT NULL CHECK (app_version BETWEEN 0 AND 4294967295),\n"              \
        "        marketing_version TEXT NOT NULL,\n"                                                         \
        "        manifest BLOB NOT NULL,\n"                                                                  \
        "        bridge_config BLOB,\n"                                                                      \
        "        installed INTEGER NOT NULL\n"                                                               \
        ") STRICT;\n"                                                                                        \
        "CREATE INDEX packages_by_app ON packages (app_id, app_version);\n"                                 \
        "CREATE TABLE grains (\n"                                                                            \
        "        id TEXT PRIMARY KEY CHECK (id <> ''),\n"                                                    \
        "        owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE RESTRICT,\n"                      \
        "        package_id TEXT NOT NULL REFERENCES packages (id) ON DELETE RESTRICT,\n"                    \
        "        title TEXT NOT NULL,\n"                                                                     \
        "        public_id TEXT UNIQUE,\n"                                                                   \
        "        created INTEGER NOT NULL,\n"                                                                \
        "        last_used INTEGER,\n"                                                                       \
        "        size INTEGER NOT NULL DEFAULT 0 CHECK (size >= 0)\n"                                        \
        ") STRICT;\n"                                                                                        \
        "CREATE INDEX grains_by_owner ON grains (owner_id);\n"                                              \
        "CREATE INDEX grains_by_package ON grains (package_id);\n"                                          \
        "CREATE TABLE identities (\n"                                                                        \
        "        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,\n"                        \
        "        grain_id TEXT NOT NULL REFERENCES grains (id) ON DELETE CASCADE,\n"                         \
        "        identity_id TEXT NOT NULL CHECK (length(identity_id) = 64),\n"                              \
        "        created INTEGER NOT NULL,\n"                                                                \
        "        PRIMARY KEY (user_id, grain_id),\n"                                                         \
        "        UNIQUE (grain_id, identity_id)\n"                                                           \
        ") STRICT, WITHOUT ROWID;\n"

/* Sharing links and API tokens are one kind of row, as Sandstorm's apiTokens (spec §10.2, §10.3). */
#define STEP_3_TOKENS                                                                                        \
        "CREATE TABLE tokens (\n"                                                                            \
        "        hash TEXT PRIMARY KEY CHECK (length(hash) = 44),\n"                                         \
        "        grain_id TEXT NOT NULL REFERENCES grains (id) ON DELETE CASCADE,\n"                         \
        "        account_id INTEGER REFERENCES users (id) ON DELETE CASCADE,\n"                              \
        "        owner_user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,\n"                           \
        "        role_assignment BLOB,\n"                                                                    \
        "        petname TEXT NOT NULL DEFAULT '',\n"                                                        \
        "        for_sharing INTEGER NOT NULL CHECK (for_sharing IN (0, 1)),\n"                              \
        "        parent_hash TEXT REFERENCES tokens (hash) ON DELETE CASCADE,\n"                             \
        "        created INTEGER NOT NULL,\n"                                                                \
        "        expires INTEGER,\n"                                                                         \
        "        expires_if_unused INTEGER,\n"                                                               \
        "        last_used INTEGER,\n"                                                                       \
        "        revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))\n"                             \
        ") STRICT, WITHOUT ROWID;\n"                                                                         \
        "CREATE INDEX tokens_by_grain ON tokens (grain_id);\n"                                              \
        "CREATE INDEX tokens_by_account ON tokens (account_id);\n"                                          \
        "CREATE INDEX tokens_by_owner ON tokens (owner_user_id);\n"                                         \
        "CREATE INDEX tokens_by_parent ON tokens (parent_hash);\n"

const char *const store_migrations[] = {
        STEP_1_ACCOUNTS,
        STEP_2_APPS_AND_GRAINS,
        STEP_3_TOKENS,
};
const size_t store_n_migrations = ELEMENTSOF(store_migrations);

_Static_assert(ELEMENTSOF(store_migrations) == STORE_SCHEMA_VERSION,
               "STORE_SCHEMA_VERSION must be the number of migration steps");
