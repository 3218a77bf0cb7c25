/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * A session's life:
 *
 *   ui_session_table_open() --> LIVE --used: ui_session_touch()--> LIVE
 *                                 \--idle ≥ session_idle: ui_session_table_expire(), or found stale by
 *                                 |  ui_session_table_find()--> gone
 *                                 \--ui_session_table_drop_grain()/_drop_user()--> gone
 *
 * (1) a session is in exactly one bucket, the one of its host id, until it is gone; nothing else points to
 *     it once it is gone (ui.c copies what a request in flight needs).
 * (2) host ids are stored lowercase, and looked up case-insensitively (a Host is case-insensitive).
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "basic/hex.h"
#include "basic/random-util.h"
#include "basic/string-util.h"
#include "front/sessions.h"

#define BUCKETS 256U

struct UiSessionTable {
        UiSession *buckets[BUCKETS];
        size_t n;
};

static UiSession *ui_session_free(UiSession *s) {
        if (!s)
                return NULL;
        explicit_bzero_safe(s->id, sizeof s->id);
        free(s->grain_id);
        free(s->identity_id);
        free(s->display_name);
        free(s->preferred_handle);
        free(s->picture_url);
        strv_free(s->permissions);
        free(s->user_agent);
        free(s->accept_language);
        free(s->origin);
        free(s->csp);
        free(s->fields);
        free(s);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(UiSession *, ui_session_free);

int ui_session_table_new(UiSessionTable **ret) {
        UiSessionTable *t;

        assert(ret);
        t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}

UiSessionTable *ui_session_table_free(UiSessionTable *t) {
        if (!t)
                return NULL;
        for (size_t b = 0; b < BUCKETS; b++)
                while (t->buckets[b]) {
                        UiSession *s = t->buckets[b];

                        t->buckets[b] = s->next;
                        ui_session_free(s);
                }
        free(t);
        return NULL;
}

size_t ui_session_table_size(const UiSessionTable *t) {
        return t->n;
}

static void sha256_hex_prefix(const char *a, size_t a_len, const char *b, size_t b_len, char *ret, size_t n_hex) {
        crypto_hash_sha256_state st;
        uint8_t digest[crypto_hash_sha256_BYTES];
        char hex[2 * crypto_hash_sha256_BYTES + 1];

        crypto_hash_sha256_init(&st);
        crypto_hash_sha256_update(&st, (const uint8_t *) a, a_len);
        crypto_hash_sha256_update(&st, (const uint8_t *) b, b_len);
        crypto_hash_sha256_final(&st, digest);
        hex_encode(digest, sizeof digest, hex);
        memcpy(ret, hex, n_hex);
        ret[n_hex] = '\0';
}

void ui_session_host_id(const char *id, char ret[static UI_SESSION_HOST_ID_LEN + 1]) {
        sha256_hex_prefix("", 0, id, UI_SESSION_ID_LEN, ret, UI_SESSION_HOST_ID_LEN);
}

void ui_session_tab_id(const char *id, char ret[static UI_SESSION_TAB_ID_LEN + 1]) {
        sha256_hex_prefix("tab:", 4, id, UI_SESSION_ID_LEN, ret, UI_SESSION_TAB_ID_LEN);
}

bool ui_session_id_equal(const UiSession *s, const char *given, size_t n) {
        return n == UI_SESSION_ID_LEN && sodium_memcmp(s->id, given, UI_SESSION_ID_LEN) == 0;
}

static unsigned bucket_of(const char *host_id) {
        /* host ids are hex of a hash: their first two digits are uniform */
        return (unsigned) (hex_digit_value(host_id[0]) * 16 + hex_digit_value(host_id[1])) % BUCKETS;
}

static bool is_hex(const char *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (hex_digit_value(p[i]) < 0)
                        return false;
        return true;
}

static int dup_optional(const char *s, bool empty_is_none, char **ret) {
        if (!s || (empty_is_none && !*s)) {
                *ret = NULL;
                return 0;
        }
        if (!string_is_printable(s, strlen(s)))
                return -EINVAL;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

int ui_session_table_open(UiSessionTable *t, const UiSessionParams *p, uint64_t number, uint64_t now,
                          UiSession **ret) {
        _cleanup_(ui_session_freep) UiSession *s = NULL;
        uint8_t raw[UI_SESSION_ID_LEN / 2];
        unsigned b;
        int r;

        assert(t);
        assert(p);
        assert(ret);

        if (isempty(p->grain_id) || !string_is_printable(p->grain_id, strlen(p->grain_id)))
                return -EINVAL;
        if (p->identity_id && (strlen(p->identity_id) != 64 || !is_hex(p->identity_id, 64)))
                return -EINVAL;

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->number = number;
        s->user_id = p->user_id;
        s->last_used = now;
        s->grain_id = strdup(p->grain_id);
        if (!s->grain_id)
                return -ENOMEM;
        if ((r = dup_optional(p->identity_id, true, &s->identity_id)) < 0 ||
            (r = dup_optional(p->display_name ?: "Anonymous User", false, &s->display_name)) < 0 ||
            (r = dup_optional(p->preferred_handle, true, &s->preferred_handle)) < 0 ||
            (r = dup_optional(p->picture_url, true, &s->picture_url)) < 0 ||
            (r = dup_optional(p->user_agent ?: "UnknownAgent/0.0", false, &s->user_agent)) < 0 ||
            (r = dup_optional(p->accept_language ?: "en-US,en", false, &s->accept_language)) < 0)
                return r;
        s->permissions = calloc(1, sizeof(char *));
        if (!s->permissions)
                return -ENOMEM;
        for (const char *const *q = p->permissions; q && *q; q++) {
                if (!string_is_printable(*q, strlen(*q)))
                        return -EINVAL;
                r = strv_extend(&s->permissions, *q);
                if (r < 0)
                        return r;
        }

        for (;;) {
                random_bytes(raw, sizeof raw);
                hex_encode(raw, sizeof raw, s->id);
                ui_session_host_id(s->id, s->host_id);
                /* 128 bits of host id never collide in practice; make sure anyway */
                if (!ui_session_table_find(t, s->host_id, UI_SESSION_HOST_ID_LEN, now, UINT64_MAX))
                        break;
        }
        explicit_bzero_safe(raw, sizeof raw);
        ui_session_tab_id(s->id, s->tab_id);

        b = bucket_of(s->host_id);
        s->next = t->buckets[b];
        t->buckets[b] = s;
        t->n++;
        *ret = TAKE_PTR(s);
        return 0;
}

void ui_session_touch(UiSession *s, uint64_t now) {
        if (now > s->last_used)
                s->last_used = now;
}

static bool expired(const UiSession *s, uint64_t now, uint64_t idle_usec) {
        return now >= s->last_used && now - s->last_used >= idle_usec;
}

UiSession *ui_session_table_find(UiSessionTable *t, const char *host_id, size_t n, uint64_t now,
                                 uint64_t idle_usec) {
        char lower[UI_SESSION_HOST_ID_LEN];
        UiSession **p;

        if (n != UI_SESSION_HOST_ID_LEN || !is_hex(host_id, n))
                return NULL;
        for (size_t i = 0; i < n; i++)
                lower[i] = host_id[i] >= 'A' && host_id[i] <= 'F' ? (char) (host_id[i] + 32) : host_id[i];
        for (p = &t->buckets[bucket_of(lower)]; *p; p = &(*p)->next)
                if (memcmp((*p)->host_id, lower, UI_SESSION_HOST_ID_LEN) == 0)
                        break;
        if (!*p)
                return NULL;
        if (expired(*p, now, idle_usec)) {
                UiSession *s = *p;

                *p = s->next;
                t->n--;
                ui_session_free(s);
                return NULL;
        }
        return *p;
}

static bool match_pointer(const UiSession *s, const void *arg) {
        return s == arg;
}

/* Removes every session for which match() holds. */
static size_t remove_if(UiSessionTable *t, bool (*match)(const UiSession *s, const void *arg), const void *arg) {
        size_t n = 0;

        for (size_t b = 0; b < BUCKETS; b++)
                for (UiSession **p = &t->buckets[b]; *p;) {
                        UiSession *s = *p;

                        if (match(s, arg)) {
                                *p = s->next;
                                ui_session_free(s);
                                n++;
                        } else
                                p = &s->next;
                }
        t->n -= n;
        return n;
}

typedef struct ExpireArg {
        uint64_t now, idle;
} ExpireArg;

static bool match_expired(const UiSession *s, const void *arg) {
        const ExpireArg *a = arg;

        return expired(s, a->now, a->idle);
}

static bool match_grain(const UiSession *s, const void *arg) {
        return streq(s->grain_id, (const char *) arg);
}

static bool match_user(const UiSession *s, const void *arg) {
        return s->user_id == *(const int64_t *) arg;
}

void ui_session_table_remove(UiSessionTable *t, UiSession *s) {
        (void) remove_if(t, match_pointer, s);
}

size_t ui_session_table_expire(UiSessionTable *t, uint64_t now, uint64_t idle_usec) {
        ExpireArg a = {now, idle_usec};

        return remove_if(t, match_expired, &a);
}

size_t ui_session_table_drop_grain(UiSessionTable *t, const char *grain_id) {
        assert(grain_id);
        return remove_if(t, match_grain, grain_id);
}

size_t ui_session_table_drop_user(UiSessionTable *t, int64_t user_id) {
        if (user_id <= 0)
                return 0;
        return remove_if(t, match_user, &user_id);
}
