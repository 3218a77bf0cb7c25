/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Apps, packages, grains, identities, sharing and API tokens, and what deleting each one takes with it. */

#include "basic/random-util.h"
#include "store-test.h"

#define APP_A "vjpmfrcuhsgrp5cq6ffn8pkz9uqq0d0ytetcxp2zugeuu5t8hvyh"
#define APP_B "8d0ytetcxp2zugeuu5t8hvyhvjpmfrcuhsgrp5cq6ffn8pkz9uqq"
#define PKG_A1 "0123456789abcdef0123456789abcdef"
#define PKG_A2 "fedcba9876543210fedcba9876543210"
#define PKG_B1 "dev-AbC123"

static const uint8_t manifest[] = { 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 'm', 0x00, 'f' };
static const uint8_t bridge[] = { 'b', 'r', 0x00, 'i', 'd', 'g', 'e' };

static void add_package(Store *s, const char *id, const char *app_id, uint32_t version, bool with_bridge) {
        StorePackage p = {
                .id = (char *) id,
                .app_id = (char *) app_id,
                .app_version = version,
                .marketing_version = (char *) "1.0",
                .manifest = (void *) manifest,
                .manifest_size = sizeof(manifest),
                .bridge_config = with_bridge ? (void *) bridge : NULL,
                .bridge_config_size = with_bridge ? sizeof(bridge) : 0,
                .installed = T0 + version,
        };

        assert_int_equal(store_package_add(s, &p), 0);
}

/* alice (1) and bob (2); app A with packages A1 (v1) and A2 (v2); app B with B1. */
static int setup_world(void **state) {
        Fixture *f;

        if (fixture_setup(state) < 0)
                return -1;
        f = *state;
        assert_int_equal(store_user_add(f->store, "alice", NULL, false, T0, NULL), 0);
        assert_int_equal(store_user_add(f->store, "bob", NULL, false, T0, NULL), 0);
        assert_int_equal(store_app_add(f->store, APP_A, "Etherpad", T0), 0);
        assert_int_equal(store_app_add(f->store, APP_B, "davros", T0 + 1), 0);
        add_package(f->store, PKG_A1, APP_A, 1, false);
        add_package(f->store, PKG_A2, APP_A, 2, true);
        add_package(f->store, PKG_B1, APP_B, 7, false);
        return 0;
}

static void add_grain(Store *s, const char *id, int64_t owner, const char *package, const char *title,
                      uint64_t created) {
        StoreGrain g = {
                .id = (char *) id,
                .owner_id = owner,
                .package_id = (char *) package,
                .title = (char *) title,
                .created = created,
        };

        assert_int_equal(store_grain_add(s, &g, NULL), 0);
}

static void test_id_is_valid(void **state) {
        char id[STORE_GRAIN_ID_LENGTH + 1], longest[STORE_ID_MAX + 2];

        (void) state;
        store_grain_id_new(id);
        assert_true(store_id_is_valid(id));
        assert_true(store_id_is_valid("0123456789abcdef0123456789abcdef"));
        assert_true(store_id_is_valid("dev-my_app"));
        memset(longest, 'a', STORE_ID_MAX);
        longest[STORE_ID_MAX] = '\0';
        assert_true(store_id_is_valid(longest));
        longest[STORE_ID_MAX] = 'a';
        longest[STORE_ID_MAX + 1] = '\0';
        assert_false(store_id_is_valid(longest));
        assert_false(store_id_is_valid(NULL));
        assert_false(store_id_is_valid(""));
        assert_false(store_id_is_valid("../x"));
        assert_false(store_id_is_valid("a/b"));
        assert_false(store_id_is_valid("a.b"));
        assert_false(store_id_is_valid("a b"));
        assert_false(store_id_is_valid("\xc3\xa9"));
}

static void test_apps(void **state) {
        Fixture *f = *state;
        _cleanup_(store_app_list_freep) StoreApp **l = NULL;
        _cleanup_(store_app_freep) StoreApp *a = NULL;
        size_t n;

        assert_int_equal(store_app_get(f->store, APP_A, &a), 0);
        assert_string_equal(a->id, APP_A);
        assert_string_equal(a->title, "Etherpad");
        assert_null(a->latest_package_id);
        assert_int_equal(a->created, T0);
        a = store_app_free(a);

        assert_int_equal(store_app_add(f->store, APP_A, "again", T0), -EEXIST);
        assert_int_equal(store_app_add(f->store, "not an id", "x", T0), -EINVAL);
        assert_int_equal(store_app_add(f->store, "", "x", T0), -EINVAL);
        assert_int_equal(store_app_get(f->store, "missing", &a), -ENOENT);

        /* By title, ignoring case. */
        assert_int_equal(store_app_list(f->store, &l, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(l[0]->id, APP_B);
        assert_string_equal(l[1]->id, APP_A);
        assert_null(l[2]);

        assert_int_equal(store_app_set_latest_package(f->store, APP_A, PKG_A2), 0);
        assert_int_equal(store_app_get(f->store, APP_A, &a), 0);
        assert_string_equal(a->latest_package_id, PKG_A2);
        a = store_app_free(a);
        /* Not a package of this app, or none at all. */
        assert_int_equal(store_app_set_latest_package(f->store, APP_A, PKG_B1), -ENOENT);
        assert_int_equal(store_app_set_latest_package(f->store, APP_A, "0000"), -ENOENT);
        assert_int_equal(store_app_set_latest_package(f->store, "missing", PKG_A1), -ENOENT);
}

static void test_packages(void **state) {
        Fixture *f = *state;
        _cleanup_(store_package_list_freep) StorePackage **l = NULL;
        _cleanup_(store_package_freep) StorePackage *p = NULL;
        _cleanup_(store_app_freep) StoreApp *a = NULL;
        StorePackage q = {
                .id = (char *) "abc",
                .app_id = (char *) APP_B,
                .marketing_version = (char *) "",
                .manifest = (void *) "",
                .manifest_size = 0,
        };
        size_t n;

        assert_int_equal(store_package_get(f->store, PKG_A1, &p), 0);
        assert_string_equal(p->id, PKG_A1);
        assert_string_equal(p->app_id, APP_A);
        assert_int_equal(p->app_version, 1);
        assert_string_equal(p->marketing_version, "1.0");
        assert_int_equal(p->manifest_size, sizeof(manifest));
        assert_memory_equal(p->manifest, manifest, sizeof(manifest));
        assert_null(p->bridge_config);
        assert_int_equal(p->bridge_config_size, 0);
        assert_int_equal(p->installed, T0 + 1);
        p = store_package_free(p);

        assert_int_equal(store_package_get(f->store, PKG_A2, &p), 0);
        assert_int_equal(p->bridge_config_size, sizeof(bridge));
        assert_memory_equal(p->bridge_config, bridge, sizeof(bridge));
        p = store_package_free(p);

        /* An empty manifest is a manifest, not a missing one. */
        assert_int_equal(store_package_add(f->store, &q), 0);
        assert_int_equal(store_package_get(f->store, "abc", &p), 0);
        assert_non_null(p->manifest);
        assert_int_equal(p->manifest_size, 0);
        p = store_package_free(p);
        q.id = (char *) "abd";
        q.manifest = NULL;
        assert_int_equal(store_package_add(f->store, &q), -EINVAL);

        /* Duplicates, unknown apps, bad ids. */
        q.id = (char *) PKG_A1;
        q.manifest = (void *) manifest;
        assert_int_equal(store_package_add(f->store, &q), -EEXIST);
        q.id = (char *) "fresh";
        q.app_id = (char *) "missing";
        assert_int_equal(store_package_add(f->store, &q), -ENOENT);
        q.app_id = (char *) APP_A;
        q.id = (char *) "../x";
        assert_int_equal(store_package_add(f->store, &q), -EINVAL);
        q.id = (char *) "big";
        q.manifest_size = STORE_BLOB_MAX + 1;
        assert_int_equal(store_package_add(f->store, &q), -EINVAL);
        assert_int_equal(store_package_get(f->store, "missing", &p), -ENOENT);

        /* Highest version first. */
        assert_int_equal(store_package_list_by_app(f->store, APP_A, &l, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(l[0]->id, PKG_A2);
        assert_string_equal(l[1]->id, PKG_A1);
        assert_null(l[2]);
        l = store_package_list_free(l);
        assert_int_equal(store_package_list_by_app(f->store, "missing", &l, &n), 0);
        assert_int_equal(n, 0);
        l = store_package_list_free(l);

        /* Deleting the latest package leaves the app without one. */
        assert_int_equal(store_app_set_latest_package(f->store, APP_A, PKG_A2), 0);
        assert_int_equal(store_package_delete(f->store, PKG_A2), 0);
        assert_int_equal(store_package_get(f->store, PKG_A2, &p), -ENOENT);
        assert_int_equal(store_package_delete(f->store, PKG_A2), -ENOENT);
        assert_int_equal(store_app_get(f->store, APP_A, &a), 0);
        assert_null(a->latest_package_id);
        a = store_app_free(a);

        /* Deleting an app deletes its packages. */
        assert_int_equal(store_app_delete(f->store, APP_A), 0);
        assert_int_equal(store_package_get(f->store, PKG_A1, &p), -ENOENT);
        assert_int_equal(store_app_delete(f->store, APP_A), -ENOENT);
        assert_int_equal(store_package_get(f->store, PKG_B1, &p), 0);
}

static void test_grains(void **state) {
        Fixture *f = *state;
        _cleanup_(store_grain_list_freep) StoreGrain **l = NULL;
        _cleanup_(store_grain_freep) StoreGrain *g = NULL;
        char id[STORE_GRAIN_ID_LENGTH + 1], other[STORE_GRAIN_ID_LENGTH + 1];
        char identity[STORE_IDENTITY_ID_LENGTH + 1];
        size_t n;

        store_grain_id_new(id);
        assert_int_equal(strlen(id), STORE_GRAIN_ID_LENGTH);
        assert_int_equal(strspn(id, ID_ALPHABET_UNMISTAKABLE), STORE_GRAIN_ID_LENGTH);
        store_grain_id_new(other);
        assert_string_not_equal(id, other);

        add_grain(f->store, id, 1, PKG_A1, "My pad", T0);
        assert_int_equal(store_grain_get(f->store, id, &g), 0);
        assert_string_equal(g->id, id);
        assert_int_equal(g->owner_id, 1);
        assert_string_equal(g->package_id, PKG_A1);
        assert_string_equal(g->app_id, APP_A);
        assert_string_equal(g->title, "My pad");
        assert_null(g->public_id);
        assert_int_equal(g->created, T0);
        assert_int_equal(g->last_used, 0);
        assert_int_equal(g->size, 0);
        g = store_grain_free(g);

        /* The owner got an identity in it. */
        assert_int_equal(store_identity_get(f->store, 1, id, identity), 0);
        assert_int_equal(strlen(identity), 64);
        assert_int_equal(strspn(identity, "0123456789abcdef"), 64);
        assert_int_equal(store_identity_get(f->store, 2, id, identity), -ENOENT);

        /* Refusals leave nothing behind. */
        StoreGrain bad = {
                .id = other,
                .owner_id = 99,
                .package_id = (char *) PKG_A1,
                .title = (char *) "",
        };
        assert_int_equal(store_grain_add(f->store, &bad, NULL), -ENOENT);
        bad.owner_id = 2;
        bad.package_id = (char *) "missing";
        assert_int_equal(store_grain_add(f->store, &bad, NULL), -ENOENT);
        bad.package_id = (char *) PKG_B1;
        bad.id = id;
        assert_int_equal(store_grain_add(f->store, &bad, NULL), -EEXIST);
        bad.id = other;
        assert_int_equal(store_grain_add(f->store, &bad,
                                         "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"),
                         -EINVAL);
        assert_int_equal(store_grain_add(f->store, &bad, "abc"), -EINVAL);
        bad.id = (char *) "a/b";
        assert_int_equal(store_grain_add(f->store, &bad, NULL), -EINVAL);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM grains"), 1);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM identities"), 1);

        /* A restored grain keeps its owner's identity; public ids are unique. */
        static const char restored[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        bad.id = other;
        bad.public_id = (char *) "abcdefghij0123456789";
        bad.created = T0 + SEC(1);
        assert_int_equal(store_grain_add(f->store, &bad, restored), 0);
        assert_int_equal(store_identity_get(f->store, 2, other, identity), 0);
        assert_string_equal(identity, restored);
        assert_int_equal(store_grain_get(f->store, other, &g), 0);
        assert_string_equal(g->public_id, "abcdefghij0123456789");
        assert_string_equal(g->app_id, APP_B);
        g = store_grain_free(g);
        bad.id = (char *) "third";
        assert_int_equal(store_grain_add(f->store, &bad, NULL), -EEXIST);
        assert_int_equal(store_grain_get(f->store, "third", &g), -ENOENT);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM identities"), 2);

        /* Lists. */
        add_grain(f->store, "alice2", 1, PKG_A2, "Second", T0 + SEC(2));
        assert_int_equal(store_grain_list(f->store, &l, &n), 0);
        assert_int_equal(n, 3);
        l = store_grain_list_free(l);
        assert_int_equal(store_grain_list_by_owner(f->store, 1, &l, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(l[0]->id, "alice2"); /* created later, neither used */
        assert_string_equal(l[1]->id, id);
        l = store_grain_list_free(l);
        assert_int_equal(store_grain_touch(f->store, id, T0 + SEC(3)), 0);
        assert_int_equal(store_grain_list_by_owner(f->store, 1, &l, &n), 0);
        assert_string_equal(l[0]->id, id); /* most recently used first */
        assert_int_equal(l[0]->last_used, T0 + SEC(3));
        assert_string_equal(l[1]->id, "alice2");
        l = store_grain_list_free(l);
        assert_int_equal(store_grain_list_by_owner(f->store, 99, &l, &n), 0);
        assert_int_equal(n, 0);

        assert_int_equal(store_grain_set_title(f->store, id, "Renamed'); DROP TABLE grains; --"), 0);
        assert_int_equal(store_grain_get(f->store, id, &g), 0);
        assert_string_equal(g->title, "Renamed'); DROP TABLE grains; --");
        g = store_grain_free(g);
        assert_int_equal(store_grain_set_title(f->store, "missing", "x"), -ENOENT);
        assert_int_equal(store_grain_set_title(f->store, id, "\xff"), -EINVAL);
        assert_int_equal(store_grain_touch(f->store, "missing", T0), -ENOENT);

        /* While grains use them, packages and apps stay. */
        assert_int_equal(store_package_delete(f->store, PKG_A1), -EBUSY);
        assert_int_equal(store_app_delete(f->store, APP_A), -EBUSY);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM packages WHERE id = '" PKG_A1 "'"), 1);

        assert_int_equal(store_grain_delete(f->store, id), 0);
        assert_int_equal(store_grain_get(f->store, id, &g), -ENOENT);
        assert_int_equal(store_grain_delete(f->store, id), -ENOENT);
        assert_int_equal(store_identity_get(f->store, 1, id, identity), -ENOENT);
}

/* An upgrade moves a grain to another package of its own app, never to another app's. */
static void test_grain_set_package(void **state) {
        Fixture *f = *state;
        _cleanup_(store_grain_freep) StoreGrain *g = NULL;

        add_grain(f->store, "grain-set-package-1234", 1, PKG_A1, "pad", T0);
        assert_int_equal(store_grain_set_package(f->store, "grain-set-package-1234", PKG_A2), 0);
        assert_int_equal(store_grain_get(f->store, "grain-set-package-1234", &g), 0);
        assert_string_equal(g->package_id, PKG_A2);
        assert_string_equal(g->app_id, APP_A);
        g = store_grain_free(g);

        /* Back to the older one is allowed too: the store keeps facts, the caller decides. */
        assert_int_equal(store_grain_set_package(f->store, "grain-set-package-1234", PKG_A1), 0);
        assert_int_equal(store_grain_set_package(f->store, "grain-set-package-1234", PKG_B1), -EXDEV);
        assert_int_equal(store_grain_set_package(f->store, "grain-set-package-1234", "missing"), -ENOENT);
        assert_int_equal(store_grain_set_package(f->store, "no-such-grain", PKG_A2), -ENOENT);
        assert_int_equal(store_grain_get(f->store, "grain-set-package-1234", &g), 0);
        assert_string_equal(g->package_id, PKG_A1);

        /* The package a grain uses cannot go. */
        assert_int_equal(store_package_delete(f->store, PKG_A1), -EBUSY);
        assert_int_equal(store_package_delete(f->store, PKG_A2), 0);
}

static void test_identities(void **state) {
        Fixture *f = *state;
        char first[STORE_IDENTITY_ID_LENGTH + 1], again[STORE_IDENTITY_ID_LENGTH + 1];
        char owner[STORE_IDENTITY_ID_LENGTH + 1];

        add_grain(f->store, "g1", 1, PKG_A1, "", T0);
        add_grain(f->store, "g2", 1, PKG_A1, "", T0);
        assert_int_equal(store_identity_get(f->store, 1, "g1", owner), 0);

        assert_int_equal(store_identity_get_or_new(f->store, 2, "g1", T0, first), 0);
        assert_int_equal(strspn(first, "0123456789abcdef"), 64);
        assert_string_not_equal(first, owner);
        assert_int_equal(store_identity_get_or_new(f->store, 2, "g1", T0 + 1, again), 0);
        assert_string_equal(first, again);
        assert_int_equal(store_identity_get(f->store, 2, "g1", again), 0);
        assert_string_equal(first, again);
        /* Per grain: another grain, another identity. */
        assert_int_equal(store_identity_get_or_new(f->store, 2, "g2", T0, again), 0);
        assert_string_not_equal(first, again);

        assert_int_equal(store_identity_get_or_new(f->store, 2, "missing", T0, again), -ENOENT);
        assert_int_equal(store_identity_get_or_new(f->store, 99, "g1", T0, again), -ENOENT);

        /* Known ids (from backups): one per user and grain, unique within a grain. */
        assert_int_equal(store_identity_add(f->store, 2, "g1", owner, T0), -EEXIST);
        assert_int_equal(store_user_add(f->store, "carol", NULL, false, T0, NULL), 0);
        assert_int_equal(store_identity_add(f->store, 3, "g1", owner, T0), -EEXIST);
        assert_int_equal(store_identity_add(f->store, 3, "g1", "nothex", T0), -EINVAL);
        assert_int_equal(store_identity_add(f->store, 3, "g2", first, T0), 0);
        assert_int_equal(store_identity_get(f->store, 3, "g2", again), 0);
        assert_string_equal(again, first);

        /* Deleting a user takes their identities. */
        assert_int_equal(store_user_delete(f->store, 3), 0);
        assert_int_equal(store_identity_get(f->store, 3, "g2", again), -ENOENT);
}

static void test_token_hash(void **state) {
        char hash[STORE_TOKEN_HASH_LENGTH + 1];

        /* base64(sha256("abc")), standard alphabet with padding (spec §10.2). */
        store_token_hash("abc", 3, hash);
        assert_string_equal(hash, "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
        store_token_hash("", 0, hash);
        assert_string_equal(hash, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
}

static void test_tokens(void **state) {
        Fixture *f = *state;
        _cleanup_(store_token_list_freep) StoreToken **l = NULL;
        _cleanup_(store_token_freep) StoreToken *t = NULL;
        char token[STORE_TOKEN_LENGTH + 1], hash[STORE_TOKEN_HASH_LENGTH + 1];
        static const uint8_t role[] = { 0x02, 0x00, 0x01, 0x00 };
        StoreToken n = {
                .grain_id = (char *) "g1",
                .account_id = 1,
                .role_assignment = (void *) role,
                .role_assignment_size = sizeof(role),
                .petname = (char *) "for bob",
                .for_sharing = true,
                .created = T0,
        };
        size_t count;

        add_grain(f->store, "g1", 1, PKG_A1, "", T0);

        assert_int_equal(store_token_add(f->store, &n, token), 0);
        assert_int_equal(strlen(token), STORE_TOKEN_LENGTH);
        assert_false(store_files_contain(f->path, token));
        store_token_hash(token, strlen(token), hash);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM tokens WHERE length(hash) = 44"), 1);

        assert_int_equal(store_token_get_by_hash(f->store, hash, &t), 0);
        assert_string_equal(t->hash, hash);
        assert_string_equal(t->grain_id, "g1");
        assert_int_equal(t->account_id, 1);
        assert_int_equal(t->owner_user_id, 0);
        assert_int_equal(t->role_assignment_size, sizeof(role));
        assert_memory_equal(t->role_assignment, role, sizeof(role));
        assert_string_equal(t->petname, "for bob");
        assert_true(t->for_sharing);
        assert_false(t->revoked);
        assert_null(t->parent_hash);
        assert_int_equal(t->created, T0);
        assert_int_equal(t->expires, 0);
        assert_int_equal(t->expires_if_unused, 0);
        assert_int_equal(t->last_used, 0);
        t = store_token_free(t);

        /* Using it. */
        assert_int_equal(store_token_use(f->store, token, strlen(token), T0 + SEC(1), &t), 0);
        assert_string_equal(t->hash, hash);
        assert_int_equal(t->last_used, T0 + SEC(1));
        t = store_token_free(t);
        assert_int_equal(store_token_use(f->store, token, strlen(token) - 1, T0, &t), -ENOENT);
        /* The stored hash is not a token. */
        assert_int_equal(store_token_use(f->store, hash, strlen(hash), T0, &t), -ENOENT);
        assert_int_equal(store_token_use(f->store, NULL, 0, T0, &t), -ENOENT);
        assert_null(t);

        /* A direct share to bob, with no role assignment (the default role) and an expiry. */
        char direct[STORE_TOKEN_LENGTH + 1];
        n.owner_user_id = 2;
        n.role_assignment = NULL;
        n.role_assignment_size = 0;
        n.petname = NULL;
        n.expires = T0 + SEC(100);
        assert_int_equal(store_token_add(f->store, &n, direct), 0);
        assert_int_equal(store_token_use(f->store, direct, STORE_TOKEN_LENGTH, T0 + SEC(99), &t), 0);
        assert_int_equal(t->owner_user_id, 2);
        assert_null(t->role_assignment);
        assert_string_equal(t->petname, "");
        assert_int_equal(t->expires, T0 + SEC(100));
        t = store_token_free(t);
        assert_int_equal(store_token_use(f->store, direct, STORE_TOKEN_LENGTH, T0 + SEC(100), &t), -ENOENT);

        /* Offer templates: dead if unused in time, kept once used. */
        char offer[STORE_TOKEN_LENGTH + 1], unused[STORE_TOKEN_LENGTH + 1];
        n.owner_user_id = 0;
        n.expires = 0;
        n.expires_if_unused = T0 + SEC(300);
        assert_int_equal(store_token_add(f->store, &n, offer), 0);
        assert_int_equal(store_token_add(f->store, &n, unused), 0);
        assert_int_equal(store_token_use(f->store, offer, STORE_TOKEN_LENGTH, T0 + SEC(1), &t), 0);
        assert_int_equal(t->expires_if_unused, 0);
        t = store_token_free(t);
        assert_int_equal(store_token_use(f->store, offer, STORE_TOKEN_LENGTH, T0 + SEC(600), NULL), 0);
        assert_int_equal(store_token_use(f->store, unused, STORE_TOKEN_LENGTH, T0 + SEC(300), NULL),
                         -ENOENT);

        assert_int_equal(store_token_list_by_grain(f->store, "g1", &l, &count), 0);
        assert_int_equal(count, 4);
        l = store_token_list_free(l);

        /* Refusals. */
        n.expires_if_unused = 0;
        n.grain_id = (char *) "missing";
        assert_int_equal(store_token_add(f->store, &n, offer), -ENOENT);
        n.grain_id = (char *) "g1";
        n.account_id = 99;
        assert_int_equal(store_token_add(f->store, &n, offer), -ENOENT);
        n.account_id = 1;
        n.parent_hash = (char *) "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        assert_int_equal(store_token_add(f->store, &n, offer), -ENOENT);
        n.parent_hash = (char *) "short";
        assert_int_equal(store_token_add(f->store, &n, offer), -EINVAL);
        assert_int_equal(store_token_list_by_grain(f->store, "g1", &l, &count), 0);
        assert_int_equal(count, 4);

        assert_int_equal(store_token_revoke(f->store, hash), 0);
        assert_int_equal(store_token_use(f->store, token, STORE_TOKEN_LENGTH, T0, NULL), -ENOENT);
        assert_int_equal(store_token_get_by_hash(f->store, hash, &t), 0);
        assert_true(t->revoked);
        t = store_token_free(t);
        assert_int_equal(store_token_revoke(f->store, "missing"), -ENOENT);
        assert_int_equal(store_token_delete(f->store, hash), 0);
        assert_int_equal(store_token_delete(f->store, hash), -ENOENT);
        assert_int_equal(store_token_get_by_hash(f->store, hash, &t), -ENOENT);
        assert_null(t);
}

static void test_token_chains(void **state) {
        Fixture *f = *state;
        char root[STORE_TOKEN_LENGTH + 1], child[STORE_TOKEN_LENGTH + 1], grandchild[STORE_TOKEN_LENGTH + 1];
        char root_hash[STORE_TOKEN_HASH_LENGTH + 1], child_hash[STORE_TOKEN_HASH_LENGTH + 1];
        StoreToken n = { .grain_id = (char *) "g1", .account_id = 1, .created = T0 };
        StoreToken *t = NULL;

        add_grain(f->store, "g1", 1, PKG_A1, "", T0);

        assert_int_equal(store_token_add(f->store, &n, root), 0);
        store_token_hash(root, STORE_TOKEN_LENGTH, root_hash);
        /* Bob redeems the link: a child token (spec §10.2), and shares on. */
        n.account_id = 2;
        n.owner_user_id = 2;
        n.parent_hash = root_hash;
        assert_int_equal(store_token_add(f->store, &n, child), 0);
        store_token_hash(child, STORE_TOKEN_LENGTH, child_hash);
        n.owner_user_id = 0;
        n.parent_hash = child_hash;
        assert_int_equal(store_token_add(f->store, &n, grandchild), 0);

        assert_int_equal(store_token_get_by_hash(f->store, child_hash, &t), 0);
        assert_string_equal(t->parent_hash, root_hash);
        t = store_token_free(t);
        assert_int_equal(store_token_use(f->store, grandchild, STORE_TOKEN_LENGTH, T0, NULL), 0);

        /* Revoking the root stops everything below it. */
        assert_int_equal(store_token_revoke(f->store, root_hash), 0);
        assert_int_equal(store_token_use(f->store, root, STORE_TOKEN_LENGTH, T0, NULL), -ENOENT);
        assert_int_equal(store_token_use(f->store, child, STORE_TOKEN_LENGTH, T0, NULL), -ENOENT);
        assert_int_equal(store_token_use(f->store, grandchild, STORE_TOKEN_LENGTH, T0, NULL), -ENOENT);
        raw_exec(f->path, "UPDATE tokens SET revoked = 0");

        /* So does an expired ancestor. */
        raw_exec(f->path, "UPDATE tokens SET expires = 1700000010000000 WHERE parent_hash IS NULL");
        assert_int_equal(store_token_use(f->store, grandchild, STORE_TOKEN_LENGTH, T0 + SEC(9), NULL), 0);
        assert_int_equal(store_token_use(f->store, grandchild, STORE_TOKEN_LENGTH, T0 + SEC(10), NULL),
                         -ENOENT);

        /* Deleting the root deletes the chain. */
        assert_int_equal(store_token_delete(f->store, root_hash), 0);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM tokens"), 0);
}

static int64_t check_violations(const char *path) {
        sqlite3 *db = raw_open(path);
        sqlite3_stmt *st = NULL;
        int64_t n = 0;

        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW)
                n++;
        sqlite3_finalize(st);
        sqlite3_close(db);
        return n;
}

static void test_cascades(void **state) {
        Fixture *f = *state;
        char t1[STORE_TOKEN_LENGTH + 1], t2[STORE_TOKEN_LENGTH + 1], t3[STORE_TOKEN_LENGTH + 1];
        char session[STORE_TOKEN_LENGTH + 1], identity[STORE_IDENTITY_ID_LENGTH + 1];
        StoreToken n = { .grain_id = (char *) "alices", .account_id = 1, .created = T0 };

        add_grain(f->store, "alices", 1, PKG_A1, "", T0);
        add_grain(f->store, "bobs", 2, PKG_B1, "", T0);
        /* alice shares her grain with bob directly (t1) and by link (t2); bob makes a link too (t3). */
        n.owner_user_id = 2;
        assert_int_equal(store_token_add(f->store, &n, t1), 0);
        n.owner_user_id = 0;
        assert_int_equal(store_token_add(f->store, &n, t2), 0);
        n.account_id = 2;
        assert_int_equal(store_token_add(f->store, &n, t3), 0);
        assert_int_equal(store_identity_get_or_new(f->store, 2, "alices", T0, identity), 0);
        assert_int_equal(store_session_new(f->store, 2, T0, T0 + SEC(60), session), 0);

        /* Bob owns a grain: his account cannot go before it does. */
        assert_int_equal(store_user_delete(f->store, 2), -EBUSY);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM users"), 2);
        assert_int_equal(store_session_get(f->store, session, STORE_TOKEN_LENGTH, T0, NULL), 0);

        assert_int_equal(store_grain_delete(f->store, "bobs"), 0);
        assert_int_equal(store_user_delete(f->store, 2), 0);
        /* Gone with him: his session, his identity in alice's grain, the share to him, his link. */
        assert_int_equal(store_session_get(f->store, session, STORE_TOKEN_LENGTH, T0, NULL), -ENOENT);
        assert_int_equal(store_identity_get(f->store, 2, "alices", identity), -ENOENT);
        assert_int_equal(store_token_use(f->store, t1, STORE_TOKEN_LENGTH, T0, NULL), -ENOENT);
        assert_int_equal(store_token_use(f->store, t3, STORE_TOKEN_LENGTH, T0, NULL), -ENOENT);
        assert_int_equal(store_token_use(f->store, t2, STORE_TOKEN_LENGTH, T0, NULL), 0);

        /* Deleting alice's grain takes its tokens and identities. */
        assert_int_equal(store_grain_delete(f->store, "alices"), 0);
        assert_int_equal(store_token_use(f->store, t2, STORE_TOKEN_LENGTH, T0, NULL), -ENOENT);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM tokens"), 0);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM identities"), 0);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sessions"), 0);
        assert_int_equal(check_violations(f->path), 0);
}

static void test_no_dangling_references(void **state) {
        Fixture *f = *state;

        add_grain(f->store, "g1", 1, PKG_A1, "", T0);
        assert_int_equal(store_app_set_latest_package(f->store, APP_A, PKG_A2), 0);
        assert_int_equal(store_package_delete(f->store, PKG_A2), 0);
        assert_int_equal(store_grain_delete(f->store, "g1"), 0);
        assert_int_equal(store_app_delete(f->store, APP_A), 0);
        assert_int_equal(store_user_delete(f->store, 1), 0);
        assert_int_equal(check_violations(f->path), 0);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM packages"), 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_id_is_valid),
                cmocka_unit_test_setup_teardown(test_apps, setup_world, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_packages, setup_world, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_grains, setup_world, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_grain_set_package, setup_world, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_identities, setup_world, fixture_teardown),
                cmocka_unit_test(test_token_hash),
                cmocka_unit_test_setup_teardown(test_tokens, setup_world, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_token_chains, setup_world, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_cascades, setup_world, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_no_dangling_references, setup_world, fixture_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
