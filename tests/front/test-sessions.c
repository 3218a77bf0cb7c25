/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Grain sessions (front/sessions.h): ids and what is derived from them (spec §5.4, §5.10), defaults,
 * lookups by host id, expiry and drops.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "basic/hex.h"
#include "basic/random-util.h"
#include "front/sessions.h"

#define SEC UINT64_C(1000000)

static bool is_lower_hex(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return s[n] == '\0';
}

static void test_derivations(void **state) {
        static const char id[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        char host[UI_SESSION_HOST_ID_LEN + 1], tab[UI_SESSION_TAB_ID_LEN + 1];

        /* sha256(id) and sha256("tab:" + id), hex, first 32 characters (python's hashlib agrees) */
        ui_session_host_id(id, host);
        assert_string_equal(host, "a8ae6e6ee929abea3afcfc5258c8ccd6");
        ui_session_tab_id(id, tab);
        assert_string_equal(tab, "f9bec8f153d6f73169a27de1bfd60285");
}

static void test_open_and_defaults(void **state) {
        _cleanup_(ui_session_table_freep) UiSessionTable *t = NULL;
        UiSessionParams anon = {.grain_id = "g1"};
        const char *perms[] = {"read", "write", NULL};
        UiSessionParams user = {
                .grain_id = "g1",
                .user_id = 7,
                .identity_id = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
                .display_name = "Kurt Friedrich Gödel",
                .preferred_handle = "",
                .picture_url = "https://example.org/p.png",
                .permissions = perms,
                .user_agent = "curl/8",
                .accept_language = "de",
        };
        UiSession *a, *b;
        char host[UI_SESSION_HOST_ID_LEN + 1], tab[UI_SESSION_TAB_ID_LEN + 1];

        assert_int_equal(ui_session_table_new(&t), 0);
        assert_int_equal(ui_session_table_open(t, &anon, 0, 100, &a), 0);
        assert_int_equal(strlen(a->id), 64);
        assert_true(is_lower_hex(a->id, 64));
        ui_session_host_id(a->id, host);
        ui_session_tab_id(a->id, tab);
        assert_string_equal(a->host_id, host);
        assert_string_equal(a->tab_id, tab);
        assert_string_equal(a->display_name, "Anonymous User");
        assert_string_equal(a->user_agent, "UnknownAgent/0.0");
        assert_string_equal(a->accept_language, "en-US,en");
        assert_null(a->identity_id);
        assert_null(a->preferred_handle);
        assert_null(a->picture_url);
        assert_non_null(a->permissions);
        assert_null(a->permissions[0]);

        assert_int_equal(ui_session_table_open(t, &user, 1, 100, &b), 0);
        assert_string_not_equal(a->id, b->id);
        assert_string_equal(b->display_name, "Kurt Friedrich Gödel");
        assert_null(b->preferred_handle); /* "" is none */
        assert_string_equal(b->picture_url, "https://example.org/p.png");
        assert_string_equal(b->permissions[0], "read");
        assert_string_equal(b->permissions[1], "write");
        assert_null(b->permissions[2]);
        assert_int_equal(b->number, 1);
        assert_int_equal(ui_session_table_size(t), 2);

        /* refused: no grain, a short identity, a control character in a value */
        user.identity_id = "0011";
        assert_int_equal(ui_session_table_open(t, &user, 2, 100, &b), -EINVAL);
        user.identity_id = NULL;
        user.display_name = "bad\r\nX-Sandstorm-User-Id: 1";
        assert_int_equal(ui_session_table_open(t, &user, 2, 100, &b), -EINVAL);
        anon.grain_id = NULL;
        assert_int_equal(ui_session_table_open(t, &anon, 2, 100, &b), -EINVAL);
        assert_int_equal(ui_session_table_size(t), 2);
}

static void test_find_and_compare(void **state) {
        _cleanup_(ui_session_table_freep) UiSessionTable *t = NULL;
        UiSessionParams p = {.grain_id = "g"};
        UiSession *s;
        char upper[UI_SESSION_HOST_ID_LEN + 1], wrong[UI_SESSION_ID_LEN + 1];

        assert_int_equal(ui_session_table_new(&t), 0);
        assert_int_equal(ui_session_table_open(t, &p, 0, 0, &s), 0);
        assert_ptr_equal(ui_session_table_find(t, s->host_id, UI_SESSION_HOST_ID_LEN, 1, 10 * SEC), s);
        /* a Host is case-insensitive */
        for (size_t i = 0; i <= UI_SESSION_HOST_ID_LEN; i++)
                upper[i] = s->host_id[i] >= 'a' && s->host_id[i] <= 'f' ? (char) (s->host_id[i] - 32) : s->host_id[i];
        assert_ptr_equal(ui_session_table_find(t, upper, UI_SESSION_HOST_ID_LEN, 1, 10 * SEC), s);
        /* other lengths, other ids, no hex */
        assert_null(ui_session_table_find(t, s->host_id, UI_SESSION_HOST_ID_LEN - 1, 1, 10 * SEC));
        assert_null(ui_session_table_find(t, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", 32, 1, 10 * SEC));
        assert_null(ui_session_table_find(t, "00000000000000000000000000000000", 32, 1, 10 * SEC));

        assert_true(ui_session_id_equal(s, s->id, UI_SESSION_ID_LEN));
        assert_false(ui_session_id_equal(s, s->id, UI_SESSION_ID_LEN - 1));
        memcpy(wrong, s->id, sizeof wrong);
        wrong[63] = wrong[63] == '0' ? '1' : '0';
        assert_false(ui_session_id_equal(s, wrong, UI_SESSION_ID_LEN));
}

static void test_expiry(void **state) {
        _cleanup_(ui_session_table_freep) UiSessionTable *t = NULL;
        UiSessionParams p = {.grain_id = "g"};
        UiSession *a, *b;
        char host_a[UI_SESSION_HOST_ID_LEN + 1];

        assert_int_equal(ui_session_table_new(&t), 0);
        assert_int_equal(ui_session_table_open(t, &p, 0, 0, &a), 0);
        assert_int_equal(ui_session_table_open(t, &p, 1, 0, &b), 0);
        memcpy(host_a, a->host_id, sizeof host_a);

        /* b is used at 5 s; at 10 s a has been idle for 10 s and goes, b stays */
        ui_session_touch(b, 5 * SEC);
        assert_int_equal(ui_session_table_expire(t, 10 * SEC - 1, 10 * SEC), 0);
        assert_int_equal(ui_session_table_expire(t, 10 * SEC, 10 * SEC), 1);
        assert_null(ui_session_table_find(t, host_a, 32, 10 * SEC, 10 * SEC));
        assert_ptr_equal(ui_session_table_find(t, b->host_id, 32, 10 * SEC, 10 * SEC), b);
        /* a lookup of a stale session removes it */
        assert_null(ui_session_table_find(t, b->host_id, 32, 15 * SEC, 10 * SEC));
        assert_int_equal(ui_session_table_size(t), 0);
}

static void test_drops(void **state) {
        _cleanup_(ui_session_table_freep) UiSessionTable *t = NULL;
        UiSessionParams p1 = {.grain_id = "g1", .user_id = 1}, p2 = {.grain_id = "g2", .user_id = 1},
                        p3 = {.grain_id = "g1", .user_id = 2}, anon = {.grain_id = "g2"};
        UiSession *s;

        assert_int_equal(ui_session_table_new(&t), 0);
        for (int i = 0; i < 100; i++) {
                assert_int_equal(ui_session_table_open(t, &p1, 0, 0, &s), 0);
                assert_int_equal(ui_session_table_open(t, &p2, 0, 0, &s), 0);
                assert_int_equal(ui_session_table_open(t, &p3, 0, 0, &s), 0);
                assert_int_equal(ui_session_table_open(t, &anon, 0, 0, &s), 0);
        }
        assert_int_equal(ui_session_table_size(t), 400);
        assert_int_equal(ui_session_table_drop_user(t, 0), 0); /* anonymous is nobody */
        assert_int_equal(ui_session_table_drop_user(t, 1), 200);
        assert_int_equal(ui_session_table_drop_grain(t, "g1"), 100);
        assert_int_equal(ui_session_table_drop_grain(t, "g1"), 0);
        assert_int_equal(ui_session_table_size(t), 100);
        ui_session_table_remove(t, s);
        assert_int_equal(ui_session_table_size(t), 99);
        assert_int_equal(ui_session_table_drop_grain(t, "g2"), 99);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_derivations),  cmocka_unit_test(test_open_and_defaults),
                cmocka_unit_test(test_find_and_compare), cmocka_unit_test(test_expiry),
                cmocka_unit_test(test_drops),
        };

        assert(random_init() >= 0);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
