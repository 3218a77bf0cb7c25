-- index apps_by_latest_package on apps
CREATE INDEX apps_by_latest_package ON apps (latest_package_id);
-- index grains_by_owner on grains
CREATE INDEX grains_by_owner ON grains (owner_id);
-- index grains_by_package on grains
CREATE INDEX grains_by_package ON grains (package_id);
-- index login_attempts_by_address on login_attempts
CREATE INDEX login_attempts_by_address ON login_attempts (address, time);
-- index login_attempts_by_name on login_attempts
CREATE INDEX login_attempts_by_name ON login_attempts (user_name, time);
-- index login_attempts_by_time on login_attempts
CREATE INDEX login_attempts_by_time ON login_attempts (time);
-- index packages_by_app on packages
CREATE INDEX packages_by_app ON packages (app_id, app_version);
-- index sessions_by_expiry on sessions
CREATE INDEX sessions_by_expiry ON sessions (expires);
-- index sessions_by_user on sessions
CREATE INDEX sessions_by_user ON sessions (user_id);
-- index sqlite_autoindex_grains_1 on grains
-- (made by SQLite)
-- index sqlite_autoindex_grains_2 on grains
-- (made by SQLite)
-- index sqlite_autoindex_identities_2 on identities
-- (made by SQLite)
-- index sqlite_autoindex_packages_1 on packages
-- (made by SQLite)
-- index sqlite_autoindex_users_1 on users
-- (made by SQLite)
-- index tokens_by_account on tokens
CREATE INDEX tokens_by_account ON tokens (account_id);
-- index tokens_by_grain on tokens
CREATE INDEX tokens_by_grain ON tokens (grain_id);
-- index tokens_by_owner on tokens
CREATE INDEX tokens_by_owner ON tokens (owner_user_id);
-- index tokens_by_parent on tokens
CREATE INDEX tokens_by_parent ON tokens (parent_hash);
-- table apps on apps
CREATE TABLE apps (
        id TEXT PRIMARY KEY CHECK (id <> ''),
        title TEXT NOT NULL,
        latest_package_id TEXT REFERENCES packages (id) ON DELETE SET NULL,
        created INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
-- table grains on grains
CREATE TABLE grains (
        id TEXT PRIMARY KEY CHECK (id <> ''),
        owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
        package_id TEXT NOT NULL REFERENCES packages (id) ON DELETE RESTRICT,
        title TEXT NOT NULL,
        public_id TEXT UNIQUE,
        created INTEGER NOT NULL,
        last_used INTEGER,
        size INTEGER NOT NULL DEFAULT 0 CHECK (size >= 0)
) STRICT;
-- table identities on identities
CREATE TABLE identities (
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        grain_id TEXT NOT NULL REFERENCES grains (id) ON DELETE CASCADE,
        identity_id TEXT NOT NULL CHECK (length(identity_id) = 64),
        created INTEGER NOT NULL,
        PRIMARY KEY (user_id, grain_id),
        UNIQUE (grain_id, identity_id)
) STRICT, WITHOUT ROWID;
-- table login_attempts on login_attempts
CREATE TABLE login_attempts (
        id INTEGER PRIMARY KEY,
        user_name TEXT NOT NULL COLLATE NOCASE,
        address TEXT NOT NULL,
        time INTEGER NOT NULL
) STRICT;
-- table packages on packages
CREATE TABLE packages (
        id TEXT PRIMARY KEY CHECK (id <> ''),
        app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
        app_version INTEGER NOT NULL CHECK (app_version BETWEEN 0 AND 4294967295),
        marketing_version TEXT NOT NULL,
        manifest BLOB NOT NULL,
        bridge_config BLOB,
        installed INTEGER NOT NULL
) STRICT;
-- table sessions on sessions
CREATE TABLE sessions (
        id_hash BLOB PRIMARY KEY CHECK (length(id_hash) = 32),
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL,
        last_seen INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
-- table settings on settings
CREATE TABLE settings (
        key TEXT PRIMARY KEY CHECK (key <> ''),
        value TEXT NOT NULL
) STRICT, WITHOUT ROWID;
-- table setup_tokens on setup_tokens
CREATE TABLE setup_tokens (
        hash BLOB PRIMARY KEY CHECK (length(hash) = 32),
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
-- table sqlite_sequence on sqlite_sequence
CREATE TABLE sqlite_sequence(name,seq);
-- table tokens on tokens
CREATE TABLE tokens (
        hash TEXT PRIMARY KEY CHECK (length(hash) = 44),
        grain_id TEXT NOT NULL REFERENCES grains (id) ON DELETE CASCADE,
        account_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
        owner_user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
        role_assignment BLOB,
        petname TEXT NOT NULL DEFAULT '',
        for_sharing INTEGER NOT NULL CHECK (for_sharing IN (0, 1)),
        parent_hash TEXT REFERENCES tokens (hash) ON DELETE CASCADE,
        created INTEGER NOT NULL,
        expires INTEGER,
        expires_if_unused INTEGER,
        last_used INTEGER,
        revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
) STRICT, WITHOUT ROWID;
-- table users on users
CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (name <> ''),
        display_name TEXT NOT NULL CHECK (display_name <> ''),
        password_hash TEXT,
        is_admin INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
        totp_secret BLOB,
        totp_last_counter INTEGER NOT NULL DEFAULT 0 CHECK (totp_last_counter >= 0),
        created INTEGER NOT NULL,
        last_login INTEGER
) STRICT;
