/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "basic/hex.h"
#include "basic/random-util.h"
#include "basic/string-util.h"
#include "store/store-internal.h"

/* The queries below spell strlen(STORE_DEV_PACKAGE_PREFIX) as 4. */
#define STRLEN_DEV_PREFIX 4
_Static_assert(STRLEN(STORE_DEV_PACKAGE_PREFIX) == STRLEN_DEV_PREFIX, "the prefix's length in SQL");

static int check_blob(const void *p, size_t n) {
        if (!p && n > 0)
                return -EINVAL;
        return n > STORE_BLOB_MAX ? -EINVAL : 0;
}

/* ---- apps ---- */

StoreApp *store_app_free(StoreApp *a) {
        if (!a)
                return NULL;
        free(a->id);
        free(a->title);
        free(a->latest_package_id);
        free(a);
        return NULL;
}

DEFINE_STORE_LIST_FREE(StoreApp, store_app)

#define APP_COLUMNS "id, title, latest_package_id, created"

static int app_from_row(sqlite3_stmt *st, void **ret) {
        _cleanup_(store_app_freep) StoreApp *a = NULL;
        int r;

        a = calloc(1, sizeof(StoreApp));
        if (!a)
                return -ENOMEM;
        r = store_column_strdup(st, 0, &a->id);
        if (r >= 0)
                r = store_column_strdup(st, 1, &a->title);
        if (r >= 0)
                r = store_column_strdup(st, 2, &a->latest_package_id);
        if (r < 0)
                return r;
        a->created = store_column_uint(st, 3);
        if (!a->id || !a->title)
                return -EBADMSG;

        *ret = TAKE_PTR(a);
        return 0;
}

int store_app_add(Store *s, const char *id, const char *title, uint64_t now) {
        int r;

        assert(s);

        r = store_check_id(id);
        if (r < 0)
                return r;
        r = store_check_text(title, STORE_TEXT_MAX, true);
        if (r < 0)
                return r;
        r = store_run(s, "INSERT INTO apps (id, title, created) VALUES (?1, ?2, ?3)", V_TEXT(id),
                      V_TEXT(title), V_UINT(now));
        return r < 0 ? r : 0;
}

int store_app_get(Store *s, const char *id, StoreApp **ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        assert(s);
        assert(id);
        assert(ret);

        r = store_query(s, &st, "SELECT " APP_COLUMNS " FROM apps WHERE id = ?1", V_TEXT(id));
        if (r < 0)
                return r;
        return store_get_one(s, st, app_from_row, (void **) ret);
}

int store_app_list(Store *s, StoreApp ***ret, size_t *ret_n) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        assert(s);
        assert(ret);

        r = store_prepare(s, "SELECT " APP_COLUMNS " FROM apps ORDER BY title COLLATE NOCASE, id", &st);
        if (r < 0)
                return r;
        return store_collect(s, st, app_from_row, store_app_free_void, (void ***) ret, ret_n);
}

int store_app_set_latest_package(Store *s, const char *app_id, const char *package_id) {
        assert(s);
        assert(app_id);
        assert(package_id);

        return store_one_row(store_run(s,
                                       "UPDATE apps SET latest_package_id = ?2 WHERE id = ?1 "
                                       "AND EXISTS (SELECT 1 FROM packages WHERE id = ?2 AND app_id = ?1) "
                                       "AND substr(?2, 1, 4) <> '"
                                       STORE_DEV_PACKAGE_PREFIX "'",
                                       V_TEXT(app_id), V_TEXT(package_id)));
}

int store_app_delete(Store *s, const char *id) {
        _cleanup_op_ StoreOp op = {};
        int r;

        assert(s);
        assert(id);

        r = store_op_begin(s, &op);
        if (r < 0)
                return r;
        r = store_exists(s,
                         "SELECT EXISTS (SELECT 1 FROM grains "
                         "JOIN packages ON packages.id = grains.package_id WHERE packages.app_id = ?1)",
                         V_TEXT(id));
        if (r < 0)
                return r;
        if (r > 0)
                return -EBUSY;
        r = store_one_row(store_run(s, "DELETE FROM apps WHERE id = ?1", V_TEXT(id)));
        if (r < 0)
                return r;
        return store_op_commit(&op);
}

/* ---- packages ---- */

StorePackage *store_package_free(StorePackage *p) {
        if (!p)
                return NULL;
        free(p->id);
        free(p->app_id);
        free(p->marketing_version);
        free(p->manifest);
        free(p->bridge_config);
        free(p);
        return NULL;
}

DEFINE_STORE_LIST_FREE(StorePackage, store_package)

#define PACKAGE_COLUMNS "id, app_id, app_version, marketing_version, manifest, bridge_config, installed"

static int package_from_row(sqlite3_stmt *st, void **ret) {
        _cleanup_(store_package_freep) StorePackage *p = NULL;
        int r;

        p = calloc(1, sizeof(StorePackage));
        if (!p)
                return -ENOMEM;
        r = store_column_strdup(st, 0, &p->id);
        if (r >= 0)
                r = store_column_strdup(st, 1, &p->app_id);
        if (r >= 0)
                r = store_column_strdup(st, 3, &p->marketing_version);
        if (r >= 0)
                r = store_column_blobdup(st, 4, &p->manifest, &p->manifest_size);
        if (r >= 0)
                r = store_column_blobdup(st, 5, &p->bridge_config, &p->bridge_config_size);
        if (r < 0)
                return r;
        p->app_version = (uint32_t) MIN(store_column_uint(st, 2), UINT32_MAX);
        p->installed = store_column_uint(st, 6);
        if (!p->id || !p->app_id || !p->marketing_version || !p->manifest)
                return -EBADMSG;

        *ret = TAKE_PTR(p);
        return 0;
}

int store_package_add(Store *s, const StorePackage *p) {
        int r;

        assert(s);
        assert(p);

        r = store_check_id(p->id);
        if (r < 0)
                return r;
        r = store_check_id(p->app_id);
        if (r < 0)
                return r;
        r = store_check_text(p->marketing_version, STORE_TEXT_MAX, true);
        if (r < 0)
                return r;
        if (!p->manifest)
                return -EINVAL;
        r = check_blob(p->manifest, p->manifest_size);
        if (r < 0)
                return r;
        r = check_blob(p->bridge_config, p->bridge_config_size);
        if (r < 0)
                return r;

        r = store_run(s,
                      "INSERT INTO packages (id, app_id, app_version, marketing_version, manifest, "
                      "bridge_config, installed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                      V_TEXT(p->id), V_TEXT(p->app_id), V_UINT(p->app_version), V_TEXT(p->marketing_version),
                      V_BLOB(p->manifest, p->manifest_size), V_BLOB(p->bridge_config, p->bridge_config_size),
                      V_UINT(p->installed));
        return r < 0 ? r : 0;
}

int store_package_get(Store *s, const char *id, StorePackage **ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        assert(s);
        assert(id);
        assert(ret);

        r = store_query(s, &st, "SELECT " PACKAGE_COLUMNS " FROM packages WHERE id = ?1", V_TEXT(id));
        if (r < 0)
                return r;
        return store_get_one(s, st, package_from_row, (void **) ret);
}

int store_package_list_by_app(Store *s, const char *app_id, StorePackage ***ret, size_t *ret_n) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        assert(s);
        assert(app_id);
        assert(ret);

        r = store_query(s, &st,
                        "SELECT " PACKAGE_COLUMNS " FROM packages WHERE app_id = ?1 "
                        "ORDER BY app_version DESC, installed DESC, id",
                        V_TEXT(app_id));
        if (r < 0)
                return r;
        return store_collect(s, st, package_from_row, store_package_free_void, (void ***) ret, ret_n);
}

/* Deletes the package's row unless a grain uses it (grains.package_id is RESTRICT): 1 when deleted, 0 when
 * in use. Within the caller's operation. */
static int package_delete_unused(Store *s, const char *id) {
        int r;

        r = store_exists(s, "SELECT EXISTS (SELECT 1 FROM grains WHERE package_id = ?1)", V_TEXT(id));
        if (r != 0)
                return r < 0 ? r : 0;
        r = store_one_row(store_run(s, "DELETE FROM packages WHERE id = ?1", V_TEXT(id)));
        return r < 0 ? r : 1;
}

int store_package_delete(Store *s, const char *id) {
        _cleanup_op_ StoreOp op = {};
        int r;

        assert(s);
        assert(id);

        r = store_op_begin(s, &op);
        if (r < 0)
                return r;
        r = package_delete_unused(s, id);
        if (r <= 0)
                return r < 0 ? r : -EBUSY;
        return store_op_commit(&op);
}

bool store_package_id_is_dev(const char *id) {
        return id && startswith(id, STORE_DEV_PACKAGE_PREFIX);
}

int store_package_release_dev(Store *s, const char *id) {
        _cleanup_op_ StoreOp op = {};
        _cleanup_(store_package_freep) StorePackage *p = NULL;
        int r;

        assert(s);

        if (!store_package_id_is_dev(id))
                return -EINVAL;
        r = store_op_begin(s, &op);
        if (r < 0)
                return r;
        r = store_package_get(s, id, &p);
        if (r < 0)
                return r;
        r = package_delete_unused(s, id);
        if (r <= 0)
                return r;
        /* An app row with no package left was made for development only (installs never leave one). */
        r = store_run(s,
                      "DELETE FROM apps WHERE id = ?1 AND "
                      "NOT EXISTS (SELECT 1 FROM packages WHERE app_id = ?1)",
                      V_TEXT(p->app_id));
        if (r < 0)
                return r;
        r = store_op_commit(&op);
        return r < 0 ? r : 1;
}

int store_package_release_all_dev(Store *s, size_t *ret_n) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        _cleanup_strv_free_ char **ids = NULL;
        size_t n = 0;
        int r;

        assert(s);

        r = store_prepare(s,
                          "SELECT id FROM packages WHERE substr(id, 1, 4) = '"
                          STORE_DEV_PACKAGE_PREFIX "' ORDER BY id",
                          &st);
        if (r < 0)
                return r;
        while ((r = store_step(s, st)) > 0) {
                _cleanup_free_ char *id = NULL;

                r = store_column_strdup(st, 0, &id);
                if (r < 0)
                        return r;
                if (!id)
                        continue;
                r = strv_consume(&ids, TAKE_PTR(id));
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        (void) sqlite3_reset(st);
        STRV_FOREACH(id, ids) {
                r = store_package_release_dev(s, *id);
                if (r < 0 && r != -ENOENT)
                        return r;
                if (r > 0)
                        n++;
        }
        if (ret_n)
                *ret_n = n;
        return 0;
}

/* ---- grains ---- */

StoreGrain *store_grain_free(StoreGrain *g) {
        if (!g)
                return NULL;
        free(g->id);
        free(g->package_id);
        free(g->app_id);
        free(g->title);
        free(g->public_id);
        free(g);
        return NULL;
}

DEFINE_STORE_LIST_FREE(StoreGrain, store_grain)

#define GRAIN_SELECT                                                                                         \
        "SELECT g.id, g.owner_id, g.package_id, p.app_id, g.title, g.public_id, g.created, g.last_used, "    \
        "g.size FROM grains AS g JOIN packages AS p ON p.id = g.package_id "

static int grain_from_row(sqlite3_stmt *st, void **ret) {
        _cleanup_(store_grain_freep) StoreGrain *g = NULL;
        int r;

        g = calloc(1, sizeof(StoreGrain));
        if (!g)
                return -ENOMEM;
        r = store_column_strdup(st, 0, &g->id);
        if (r >= 0)
                r = store_column_strdup(st, 2, &g->package_id);
        if (r >= 0)
                r = store_column_strdup(st, 3, &g->app_id);
        if (r >= 0)
                r = store_column_strdup(st, 4, &g->title);
        if (r >= 0)
                r = store_column_strdup(st, 5, &g->public_id);
        if (r < 0)
                return r;
        g->owner_id = sqlite3_column_int64(st, 1);
        g->created = store_column_uint(st, 6);
        g->last_used = store_column_uint(st, 7);
        g->size = store_column_uint(st, 8);
        if (!g->id || !g->package_id || !g->app_id || !g->title)
                return -EBADMSG;

        *ret = TAKE_PTR(g);
        return 0;
}

bool store_id_is_valid(const char *id) {
        size_t n;

        if (!id)
                return false;
        n = strnlen(id, STORE_ID_MAX + 1);
        if (n == 0 || n > STORE_ID_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
                      (id[i] >= '0' && id[i] <= '9') || id[i] == '-' || id[i] == '_'))
                        return false;
        return true;
}

void store_grain_id_new(char ret[static STORE_GRAIN_ID_LENGTH + 1]) {
        assert(ret);

        random_string(ID_ALPHABET_UNMISTAKABLE, STORE_GRAIN_ID_LENGTH, ret);
}

static int check_identity_id(const char *id) {
        if (!id || strnlen(id, STORE_IDENTITY_ID_LENGTH + 1) != STORE_IDENTITY_ID_LENGTH)
                return -EINVAL;
        /* Lowercase only: the same 32 bytes must always be the same text. */
        for (size_t i = 0; i < STORE_IDENTITY_ID_LENGTH; i++)
                if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
                        return -EINVAL;
        return 0;
}

static void identity_id_new(char ret[static STORE_IDENTITY_ID_LENGTH + 1]) {
        uint8_t bytes[STORE_IDENTITY_ID_LENGTH / 2];

        random_bytes(bytes, sizeof(bytes));
        hex_encode(bytes, sizeof(bytes), ret);
}

int store_grain_add(Store *s, const StoreGrain *g, const char *owner_identity_id) {
        _cleanup_op_ StoreOp op = {};
        char identity[STORE_IDENTITY_ID_LENGTH + 1];
        int r;

        assert(s);
        assert(g);

        r = store_check_id(g->id);
        if (r < 0)
                return r;
        r = store_check_id(g->package_id);
        if (r < 0)
                return r;
        r = store_check_text(g->title, STORE_TEXT_MAX, true);
        if (r < 0)
                return r;
        if (g->public_id) {
                r = store_check_id(g->public_id);
                if (r < 0)
                        return r;
        }
        if (owner_identity_id) {
                r = check_identity_id(owner_identity_id);
                if (r < 0)
                        return r;
                memcpy(identity, owner_identity_id, sizeof(identity));
        } else
                identity_id_new(identity);

        r = store_op_begin(s, &op);
        if (r < 0)
                return r;
        r = store_run(s,
                      "INSERT INTO grains (id, owner_id, package_id, title, public_id, created, last_used, "
                      "size) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                      V_TEXT(g->id), V_INT(g->owner_id), V_TEXT(g->package_id), V_TEXT(g->title),
                      V_TEXT(g->public_id), V_UINT(g->created), V_TIME_OR_NULL(g->last_used),
                      V_UINT(g->size));
        if (r < 0)
                return r;
        r = store_run(s,
                      "INSERT INTO identities (user_id, grain_id, identity_id, created) "
                      "VALUES (?1, ?2, ?3, ?4)",
                      V_INT(g->owner_id), V_TEXT(g->id), V_TEXT(identity), V_UINT(g->created));
        if (r < 0)
                return r;
        return store_op_commit(&op);
}

int store_grain_get(Store *s, const char *id, StoreGrain **ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        assert(s);
        assert(id);
        assert(ret);

        r = store_query(s, &st, GRAIN_SELECT "WHERE g.id = ?1", V_TEXT(id));
        if (r < 0)
                return r;
        return store_get_one(s, st, grain_from_row, (void **) ret);
}

int store_grain_list(Store *s, StoreGrain ***ret, size_t *ret_n) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        assert(s);
        assert(ret);

        r = store_prepare(s, GRAIN_SELECT "ORDER BY g.id", &st);
        if (r < 0)
                return r;
        return store_collect(s, st, grain_from_row, store_grain_free_void, (void ***) ret, ret_n);
}

int store_grain_list_by_owner(Store *s, int64_t owner_id, StoreGrain ***ret, size_t *ret_n) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        assert(s);
        assert(ret);

        r = store_query(s, &st,
                        GRAIN_SELECT "WHERE g.owner_id = ?1 "
                                     "ORDER BY coalesce(g.last_used, g.created) DESC, g.id",
                        V_INT(owner_id));
        if (r < 0)
                return r;
        return store_collect(s, st, grain_from_row, store_grain_free_void, (void ***) ret, ret_n);
}

int store_grain_set_title(Store *s, const char *id, const char *title) {
        int r;

        assert(s);
        assert(id);

        r = store_check_text(title, STORE_TEXT_MAX, true);
        if (r < 0)
                return r;
        return store_one_row(
                store_run(s, "UPDATE grains SET title = ?2 WHERE id = ?1", V_TEXT(id), V_TEXT(title)));
}

int store_grain_touch(Store *s, const char *id, uint64_t now) {
        assert(s);
        assert(id);

        return store_one_row(
                store_run(s, "UPDATE grains SET last_used = ?2 WHERE id = ?1", V_TEXT(id), V_UINT(now)));
}

int store_grain_set_package(Store *s, const char *id, const char *package_id) {
        _cleanup_op_ StoreOp op = {};
        int r;

        assert(s);
        assert(id);
        assert(package_id);

        r = store_op_begin(s, &op);
        if (r < 0)
                return r;
        r = store_exists(s, "SELECT EXISTS (SELECT 1 FROM grains WHERE id = ?1)", V_TEXT(id));
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        r = store_exists(s, "SELECT EXISTS (SELECT 1 FROM packages WHERE id = ?1)", V_TEXT(package_id));
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        r = store_one_row(store_run(s,
                                    "UPDATE grains SET package_id = ?2 WHERE id = ?1 AND "
                                    "(SELECT app_id FROM packages WHERE id = ?2) = "
                                    "(SELECT p.app_id FROM packages AS p JOIN grains AS g "
                                    "ON g.package_id = p.id WHERE g.id = ?1)",
                                    V_TEXT(id), V_TEXT(package_id)));
        if (r == -ENOENT)
                return -EXDEV;
        if (r < 0)
                return r;
        return store_op_commit(&op);
}

int store_grain_delete(Store *s, const char *id) {
        assert(s);
        assert(id);

        return store_one_row(store_run(s, "DELETE FROM grains WHERE id = ?1", V_TEXT(id)));
}

/* ---- identities ---- */

int store_identity_get(Store *s, int64_t user_id, const char *grain_id,
                       char ret[static STORE_IDENTITY_ID_LENGTH + 1]) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        const char *id;
        int r;

        assert(s);
        assert(grain_id);
        assert(ret);

        r = store_query(s, &st, "SELECT identity_id FROM identities WHERE user_id = ?1 AND grain_id = ?2",
                        V_INT(user_id), V_TEXT(grain_id));
        if (r < 0)
                return r;
        r = store_step(s, st);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        id = (const char *) sqlite3_column_text(st, 0);
        if (!id)
                return -ENOMEM; /* the column is NOT NULL: only a failed conversion gives NULL */
        if (check_identity_id(id) < 0)
                return -EBADMSG;
        memcpy(ret, id, STORE_IDENTITY_ID_LENGTH + 1);
        return 0;
}

int store_identity_add(Store *s, int64_t user_id, const char *grain_id, const char *identity_id,
                       uint64_t now) {
        int r;

        assert(s);
        assert(grain_id);

        r = check_identity_id(identity_id);
        if (r < 0)
                return r;
        r = store_run(s,
                      "INSERT INTO identities (user_id, grain_id, identity_id, created) "
                      "VALUES (?1, ?2, ?3, ?4)",
                      V_INT(user_id), V_TEXT(grain_id), V_TEXT(identity_id), V_UINT(now));
        return r < 0 ? r : 0;
}

int store_identity_get_or_new(Store *s, int64_t user_id, const char *grain_id, uint64_t now,
                              char ret[static STORE_IDENTITY_ID_LENGTH + 1]) {
        char identity[STORE_IDENTITY_ID_LENGTH + 1];
        int r;

        assert(s);
        assert(grain_id);
        assert(ret);

        /* Insert-if-missing and read back in one statement each; no window in which two callers could
         * each make a different identity for the same user and grain. */
        identity_id_new(identity);
        r = store_run(s,
                      "INSERT INTO identities (user_id, grain_id, identity_id, created) "
                      "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user_id, grain_id) DO NOTHING",
                      V_INT(user_id), V_TEXT(grain_id), V_TEXT(identity), V_UINT(now));
        if (r < 0)
                return r;
        return store_identity_get(s, user_id, grain_id, ret);
}

/* ---- tokens ---- */

StoreToken *store_token_free(StoreToken *t) {
        if (!t)
                return NULL;
        free(t->grain_id);
        free(t->role_assignment);
        free(t->petname);
        free(t->parent_hash);
        free(t);
        return NULL;
}

DEFINE_STORE_LIST_FREE(StoreToken, store_token)

#define TOKEN_COLUMNS                                                                                        \
        "hash, grain_id, account_id, owner_user_id, role_assignment, petname, for_sharing, revoked, "       \
        "parent_hash, created, expires, expires_if_unused, last_used"

static int token_from_row(sqlite3_stmt *st, void **ret) {
        _cleanup_(store_token_freep) StoreToken *t = NULL;
        const char *hash;
        int r;

        t = calloc(1, sizeof(StoreToken));
        if (!t)
                return -ENOMEM;
        hash = (const char *) sqlite3_column_text(st, 0);
        if (!hash || strlen(hash) != STORE_TOKEN_HASH_LENGTH)
                return -EBADMSG;
        memcpy(t->hash, hash, sizeof(t->hash));
        r = store_column_strdup(st, 1, &t->grain_id);
        if (r >= 0)
                r = store_column_blobdup(st, 4, &t->role_assignment, &t->role_assignment_size);
        if (r >= 0)
                r = store_column_strdup(st, 5, &t->petname);
        if (r >= 0)
                r = store_column_strdup(st, 8, &t->parent_hash);
        if (r < 0)
                return r;
        t->account_id = sqlite3_column_int64(st, 2);
        t->owner_user_id = sqlite3_column_int64(st, 3);
        t->for_sharing = sqlite3_column_int(st, 6) != 0;
        t->revoked = sqlite3_column_int(st, 7) != 0;
        t->created = store_column_uint(st, 9);
        t->expires = store_column_uint(st, 10);
        t->expires_if_unused = store_column_uint(st, 11);
        t->last_used = store_column_uint(st, 12);
        if (!t->grain_id || !t->petname)
                return -EBADMSG;

        *ret = TAKE_PTR(t);
        return 0;
}

int store_token_add(Store *s, const StoreToken *t, char ret_token[static STORE_TOKEN_LENGTH + 1]) {
        char token[STORE_TOKEN_LENGTH + 1], hash[STORE_TOKEN_HASH_LENGTH + 1];
        int r;

        assert(s);
        assert(t);
        assert(ret_token);

        r = store_check_id(t->grain_id);
        if (r < 0)
                return r;
        r = store_check_text(t->petname ?: "", STORE_TEXT_MAX, true);
        if (r < 0)
                return r;
        r = check_blob(t->role_assignment, t->role_assignment_size);
        if (r < 0)
                return r;
        if (t->parent_hash &&
            strnlen(t->parent_hash, STORE_TOKEN_HASH_LENGTH + 1) != STORE_TOKEN_HASH_LENGTH)
                return -EINVAL;

        random_string(ID_ALPHABET_BASE64URL, STORE_TOKEN_LENGTH, token);
        store_token_hash(token, STORE_TOKEN_LENGTH, hash);

        r = store_run(s,
                      "INSERT INTO tokens (hash, grain_id, account_id, owner_user_id, role_assignment, "
                      "petname, for_sharing, parent_hash, created, expires, expires_if_unused) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                      V_TEXT(hash), V_TEXT(t->grain_id), V_ID_OR_NULL(t->account_id),
                      V_ID_OR_NULL(t->owner_user_id), V_BLOB(t->role_assignment, t->role_assignment_size),
                      V_TEXT(t->petname ?: ""), V_BOOL(t->for_sharing), V_TEXT(t->parent_hash),
                      V_UINT(t->created), V_TIME_OR_NULL(t->expires), V_TIME_OR_NULL(t->expires_if_unused));
        if (r >= 0)
                memcpy(ret_token, token, sizeof(token));
        explicit_bzero_safe(token, sizeof(token));
        return r < 0 ? r : 0;
}

int store_token_get_by_hash(Store *s, const char *hash, StoreToken **ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        assert(s);
        assert(hash);
        assert(ret);

        r = store_query(s, &st, "SELECT " TOKEN_COLUMNS " FROM tokens WHERE hash = ?1", V_TEXT(hash));
        if (r < 0)
                return r;
        return store_get_one(s, st, token_from_row, (void **) ret);
}

int store_token_use(Store *s, const char *token, size_t len, uint64_t now, StoreToken **ret) {
        _cleanup_(store_token_freep) StoreToken *t = NULL;
        char hash[STORE_TOKEN_HASH_LENGTH + 1];
        int r;

        assert(s);

        if (!token || len == 0 || len > STORE_TOKEN_INPUT_MAX)
                return -ENOENT;
        store_token_hash(token, len, hash);

        r = store_token_get_by_hash(s, hash, &t);
        if (r < 0)
                return r;
        if (t->expires_if_unused != 0 && t->expires_if_unused <= now)
                return -ENOENT;

        /* The token and its ancestors (UNION, not UNION ALL: it stops even if parent links were ever to
         * form a cycle). Any of them revoked or expired and the token is dead. */
        r = store_exists(s,
                         "WITH RECURSIVE chain (hash, parent_hash, revoked, expires) AS ("
                         "SELECT hash, parent_hash, revoked, expires FROM tokens WHERE hash = ?1 "
                         "UNION "
                         "SELECT t.hash, t.parent_hash, t.revoked, t.expires "
                         "FROM tokens AS t JOIN chain AS c ON t.hash = c.parent_hash) "
                         "SELECT EXISTS (SELECT 1 FROM chain WHERE revoked = 1 OR expires <= ?2)",
                         V_TEXT(hash), V_UINT(now));
        if (r < 0)
                return r;
        if (r > 0)
                return -ENOENT;

        if (t->expires_if_unused != 0 || t->last_used == 0 ||
            (now > t->last_used && now - t->last_used >= STORE_TOUCH_INTERVAL_USEC)) {
                r = store_one_row(store_run(s,
                                            "UPDATE tokens SET last_used = ?2, expires_if_unused = NULL "
                                            "WHERE hash = ?1",
                                            V_TEXT(hash), V_UINT(now)));
                if (r < 0)
                        return r;
                t->last_used = now;
                t->expires_if_unused = 0;
        }

        if (ret)
                *ret = TAKE_PTR(t);
        return 0;
}

int store_token_list_by_grain(Store *s, const char *grain_id, StoreToken ***ret, size_t *ret_n) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        assert(s);
        assert(grain_id);
        assert(ret);

        r = store_query(s, &st,
                        "SELECT " TOKEN_COLUMNS " FROM tokens WHERE grain_id = ?1 "
                        "ORDER BY created, hash",
                        V_TEXT(grain_id));
        if (r < 0)
                return r;
        return store_collect(s, st, token_from_row, store_token_free_void, (void ***) ret, ret_n);
}

int store_token_revoke(Store *s, const char *hash) {
        assert(s);
        assert(hash);

        return store_one_row(store_run(s, "UPDATE tokens SET revoked = 1 WHERE hash = ?1", V_TEXT(hash)));
}

int store_token_delete(Store *s, const char *hash) {
        assert(s);
        assert(hash);

        return store_one_row(store_run(s, "DELETE FROM tokens WHERE hash = ?1", V_TEXT(hash)));
}
