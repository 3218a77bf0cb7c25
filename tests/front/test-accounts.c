/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The account policy: cookies, CSRF, login rate limiting (over a real store), names and passwords. */

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "basic/fileio.h"
#include "basic/random-util.h"
#include "front/accounts.h"

#define H(n, v) { n, sizeof(n) - 1, v, sizeof(v) - 1 }
#define SEC(n) ((uint64_t) (n) * UINT64_C(1000000))
#define T0 SEC(1700000000)

typedef struct Fixture {
        char dir[64];
        char path[128];
        Store *store;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        if (!f)
                return -1;
        (void) snprintf(f->dir, sizeof(f->dir), "/tmp/test-accounts-XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        (void) snprintf(f->path, sizeof(f->path), "%s/granary.sqlite", f->dir);
        if (store_open(f->path, STORE_OPEN_CREATE, &f->store) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        int r;

        f->store = store_close(f->store);
        r = rm_rf_path(f->dir);
        free(f);
        return r < 0 ? -1 : 0;
}

static void test_base_url(void **state) {
        char *o = NULL;

        assert_true(accounts_base_url_is_secure("https://example.com"));
        assert_true(accounts_base_url_is_secure("https://example.com:8443"));
        assert_true(accounts_base_url_is_secure("http://localhost:6080"));
        assert_true(accounts_base_url_is_secure("http://granary.localhost:6080"));
        assert_true(accounts_base_url_is_secure("http://GRANARY.LocalHost"));
        assert_false(accounts_base_url_is_secure("http://example.com"));
        assert_false(accounts_base_url_is_secure("http://localhost.example.com"));
        assert_false(accounts_base_url_is_secure("http://notlocalhost"));
        assert_false(accounts_base_url_is_secure("http://192.0.2.1:6080"));
        assert_false(accounts_base_url_is_secure("ftp://localhost"));
        assert_false(accounts_base_url_is_secure(NULL));

        assert_int_equal(accounts_origin_from_url("http://granary.localhost:6080", &o), 0);
        assert_string_equal(o, "http://granary.localhost:6080");
        free(o);
        assert_int_equal(accounts_origin_from_url("HTTPS://Example.COM:443/some/path", &o), 0);
        assert_string_equal(o, "https://example.com");
        free(o);
        assert_int_equal(accounts_origin_from_url("http://example.com:80", &o), 0);
        assert_string_equal(o, "http://example.com");
        free(o);
        assert_int_equal(accounts_origin_from_url("http://example.com:443", &o), 0);
        assert_string_equal(o, "http://example.com:443");
        free(o);
        assert_int_equal(accounts_origin_from_url("http://[2001:DB8::1]:8080/", &o), 0);
        assert_string_equal(o, "http://[2001:db8::1]:8080");
        free(o);
        o = NULL;
        assert_int_equal(accounts_origin_from_url("example.com", &o), -EINVAL);
        assert_int_equal(accounts_origin_from_url("http://", &o), -EINVAL);
        assert_int_equal(accounts_origin_from_url("http://exa mple.com", &o), -EINVAL);
        assert_null(o);
}

static void test_cookie_make(void **state) {
        char *c = NULL;

        assert_int_equal(accounts_cookie_make(true, "abc-DEF_123", ACCOUNTS_SESSION_USEC, &c), 0);
        assert_string_equal(c, "__Host-granary-session=abc-DEF_123; Path=/; HttpOnly; SameSite=Lax; Secure; "
                               "Max-Age=2592000");
        free(c);
        assert_int_equal(accounts_cookie_make(false, "abc", SEC(90) + 999999, &c), 0);
        assert_string_equal(c, "granary-session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=90");
        free(c);
        assert_int_equal(accounts_cookie_make_clear(true, &c), 0);
        assert_string_equal(c, "__Host-granary-session=; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=0");
        free(c);
        assert_int_equal(accounts_cookie_make_clear(false, &c), 0);
        assert_string_equal(c, "granary-session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
        free(c);

        /* Nothing that could end the attribute list or the header. */
        c = NULL;
        assert_int_equal(accounts_cookie_make(true, "", 1, &c), -EINVAL);
        assert_int_equal(accounts_cookie_make(true, "a;Domain=evil", 1, &c), -EINVAL);
        assert_int_equal(accounts_cookie_make(true, "a b", 1, &c), -EINVAL);
        assert_int_equal(accounts_cookie_make(true, "a\r\nX: y", 1, &c), -EINVAL);
        assert_null(c);
}

static void test_cookie_find(void **state) {
        const char *v = NULL;
        size_t n = 0;

        {
                const HttpHeader h[] = {
                        H("Host", "granary.localhost"),
                        H("Cookie", "theme=dark; __Host-granary-session=TOKEN1; lang=en"),
                };
                assert_int_equal(accounts_cookie_find(h, ELEMENTSOF(h), true, &v, &n), 0);
                assert_int_equal(n, 6);
                assert_memory_equal(v, "TOKEN1", 6);
                /* The plain name is another cookie. */
                assert_int_equal(accounts_cookie_find(h, ELEMENTSOF(h), false, &v, &n), -ENOENT);
        }
        {
                /* HTTP/2 sends one Cookie field per cookie; names are case-sensitive; quotes are dropped. */
                const HttpHeader h[] = {
                        H("cookie", "a=1"),
                        H("COOKIE", "__host-granary-session=lower"),
                        H("cookie", "granary-session=\"TOKEN2\""),
                        H("cookie", "xgranary-session=no;granary-sessionx=no"),
                };
                v = NULL;
                assert_int_equal(accounts_cookie_find(h, ELEMENTSOF(h), false, &v, &n), 0);
                assert_int_equal(n, 6);
                assert_memory_equal(v, "TOKEN2", 6);
                assert_int_equal(accounts_cookie_find(h, ELEMENTSOF(h), true, &v, &n), -ENOENT);
        }
        {
                /* A second one, in the same field or another: somebody planted it. No session. */
                const HttpHeader same[] = { H("Cookie", "granary-session=A; granary-session=B") };
                const HttpHeader split[] = { H("Cookie", "granary-session=A"), H("Cookie", "granary-session=A") };

                v = NULL;
                assert_int_equal(accounts_cookie_find(same, 1, false, &v, &n), -ENOTUNIQ);
                assert_int_equal(accounts_cookie_find(split, 2, false, &v, &n), -ENOTUNIQ);
                assert_null(v);
        }
        {
                const HttpHeader empty[] = { H("Cookie", "granary-session=; x=y") };
                const HttpHeader bare[] = { H("Cookie", "granary-session; x=y") };
                const HttpHeader spaces[] = { H("Cookie", "  x=y ;   granary-session=TOK  ;") };
                const HttpHeader bad[] = { H("Cookie", "granary-session=a\\b") };

                assert_int_equal(accounts_cookie_find(empty, 1, false, &v, &n), -ENOENT);
                assert_int_equal(accounts_cookie_find(bare, 1, false, &v, &n), -ENOENT);
                assert_int_equal(accounts_cookie_find(bad, 1, false, &v, &n), -ENOENT);
                assert_int_equal(accounts_cookie_find(spaces, 1, false, &v, &n), 0);
                assert_int_equal(n, 3);
                assert_memory_equal(v, "TOK", 3);
                assert_int_equal(accounts_cookie_find(NULL, 0, false, &v, &n), -ENOENT);
        }
}

static void test_csrf_token(void **state) {
        uint8_t key[ACCOUNTS_CSRF_KEY_SIZE];
        char t[ACCOUNTS_CSRF_TOKEN_LENGTH + 1];

        for (size_t i = 0; i < sizeof(key); i++)
                key[i] = (uint8_t) i;
        /* HMAC-SHA256 as computed elsewhere (Python's hmac), in unpadded base64url. */
        accounts_csrf_token(key, "abc", 3, t);
        assert_string_equal(t, "8BM3KcQWPe3oHiHNR4OSVtpYFxI4yKDYdDl8c7FOHkc");
        accounts_csrf_token(key, "", 0, t);
        assert_string_equal(t, "04tCCW2A9F-Ca0Sp1WB95ySWpBXT9KGoyI47udqNwcs");
}

static void test_csrf_key(void **state) {
        Fixture *f = *state;
        uint8_t a[ACCOUNTS_CSRF_KEY_SIZE], b[ACCOUNTS_CSRF_KEY_SIZE], c[ACCOUNTS_CSRF_KEY_SIZE];
        char *value = NULL;

        assert_int_equal(store_setting_get(f->store, "csrf_key", &value), -ENOENT);
        assert_int_equal(accounts_csrf_key(f->store, a), 0);
        assert_int_equal(store_setting_get(f->store, "csrf_key", &value), 0);
        assert_int_equal(strlen(value), 64);
        free(value);
        /* The same key on the next use, also after reopening. */
        assert_int_equal(accounts_csrf_key(f->store, b), 0);
        assert_memory_equal(a, b, sizeof(a));
        f->store = store_close(f->store);
        assert_int_equal(store_open(f->path, 0, &f->store), 0);
        assert_int_equal(accounts_csrf_key(f->store, b), 0);
        assert_memory_equal(a, b, sizeof(a));

        /* A value that is not 64 hex digits is replaced. */
        assert_int_equal(store_setting_set(f->store, "csrf_key", "nothex"), 0);
        assert_int_equal(accounts_csrf_key(f->store, c), 0);
        assert_memory_not_equal(a, c, sizeof(a));
        assert_int_equal(accounts_csrf_key(f->store, b), 0);
        assert_memory_equal(b, c, sizeof(b));
}

static void test_check_origin_and_csrf(void **state) {
        const char *origin = "http://granary.localhost:6080";
        uint8_t key[ACCOUNTS_CSRF_KEY_SIZE] = { 7 };
        char good[ACCOUNTS_CSRF_TOKEN_LENGTH + 1], other[ACCOUNTS_CSRF_TOKEN_LENGTH + 1];

        accounts_csrf_token(key, "session-token", 13, good);
        accounts_csrf_token(key, "another-token", 13, other);

        {
                const HttpHeader h[] = { H("Origin", "http://granary.localhost:6080") };
                const HttpHeader upper[] = { H("origin", "HTTP://GRANARY.localhost:6080") };
                const HttpHeader evil[] = { H("Origin", "http://ui-abc.granary.localhost:6080") };
                const HttpHeader port[] = { H("Origin", "http://granary.localhost:6081") };
                const HttpHeader null[] = { H("Origin", "null") };
                const HttpHeader two[] = { H("Origin", "http://granary.localhost:6080"), H("Origin", "http://x") };
                /* Origin decides when present, whatever Sec-Fetch-Site says. */
                const HttpHeader mixed[] = { H("Origin", "http://evil.example"), H("Sec-Fetch-Site", "same-origin") };

                assert_int_equal(accounts_check_origin(h, 1, origin), 0);
                assert_int_equal(accounts_check_origin(upper, 1, origin), 0);
                assert_int_equal(accounts_check_origin(evil, 1, origin), -EPERM);
                assert_int_equal(accounts_check_origin(port, 1, origin), -EPERM);
                assert_int_equal(accounts_check_origin(null, 1, origin), -EPERM);
                assert_int_equal(accounts_check_origin(two, 2, origin), -EPERM);
                assert_int_equal(accounts_check_origin(mixed, 2, origin), -EPERM);
        }
        {
                const HttpHeader same[] = { H("Sec-Fetch-Site", "same-origin") };
                const HttpHeader site[] = { H("Sec-Fetch-Site", "same-site") };
                const HttpHeader cross[] = { H("Sec-Fetch-Site", "cross-site") };
                const HttpHeader none[] = { H("Sec-Fetch-Site", "none") };

                assert_int_equal(accounts_check_origin(same, 1, origin), 0);
                assert_int_equal(accounts_check_origin(site, 1, origin), -EPERM);
                assert_int_equal(accounts_check_origin(cross, 1, origin), -EPERM);
                assert_int_equal(accounts_check_origin(none, 1, origin), -EPERM);
                /* Neither: curl, or an old client. Refused. */
                assert_int_equal(accounts_check_origin(NULL, 0, origin), -EPERM);
        }
        {
                HttpHeader h[3] = { H("Origin", "http://granary.localhost:6080") };

                h[1] = (HttpHeader) { "X-CSRF-Token", 12, good, strlen(good) };
                assert_int_equal(accounts_check_csrf(h, 2, origin, key, "session-token", 13), 0);
                /* The token of another session, of another key, or none. */
                assert_int_equal(accounts_check_csrf(h, 2, origin, key, "another-token", 13), -EPERM);
                key[0] ^= 1;
                assert_int_equal(accounts_check_csrf(h, 2, origin, key, "session-token", 13), -EPERM);
                key[0] ^= 1;
                assert_int_equal(accounts_check_csrf(h, 1, origin, key, "session-token", 13), -EPERM);
                /* Truncated, or sent twice. */
                h[1].value_len--;
                assert_int_equal(accounts_check_csrf(h, 2, origin, key, "session-token", 13), -EPERM);
                h[1].value_len++;
                h[2] = (HttpHeader) { "x-csrf-token", 12, other, strlen(other) };
                assert_int_equal(accounts_check_csrf(h, 3, origin, key, "session-token", 13), -EPERM);
                /* The right token from the wrong origin. */
                h[0] = (HttpHeader) H("Origin", "http://evil.example");
                assert_int_equal(accounts_check_csrf(h, 2, origin, key, "session-token", 13), -EPERM);
        }

        assert_false(accounts_method_changes_state(HTTP_METHOD_GET));
        assert_false(accounts_method_changes_state(HTTP_METHOD_HEAD));
        assert_false(accounts_method_changes_state(HTTP_METHOD_OPTIONS));
        assert_true(accounts_method_changes_state(HTTP_METHOD_POST));
        assert_true(accounts_method_changes_state(HTTP_METHOD_PATCH));
        assert_true(accounts_method_changes_state(HTTP_METHOD_DELETE));
        assert_true(accounts_method_changes_state(HTTP_METHOD_PUT));
}

static void test_address_key(void **state) {
        char k[ACCOUNTS_ADDRESS_KEY_SIZE] = "untouched";

        assert_int_equal(accounts_address_key("203.0.113.7", k), 0);
        assert_string_equal(k, "203.0.113.7");
        assert_int_equal(accounts_address_key("2001:db8:1:2:3:4:5:6", k), 0);
        assert_string_equal(k, "2001:db8:1:2::/64");
        assert_int_equal(accounts_address_key("2001:DB8:1:2::ffff", k), 0);
        assert_string_equal(k, "2001:db8:1:2::/64");
        assert_int_equal(accounts_address_key("::1", k), 0);
        assert_string_equal(k, "::/64");
        assert_int_equal(accounts_address_key("::ffff:198.51.100.9", k), 0);
        assert_string_equal(k, "198.51.100.9");
        strcpy(k, "untouched");
        assert_int_equal(accounts_address_key("", k), -EINVAL);
        assert_int_equal(accounts_address_key("example.com", k), -EINVAL);
        assert_int_equal(accounts_address_key("fe80::1%eth0", k), -EINVAL);
        assert_int_equal(accounts_address_key("203.0.113.7/24", k), -EINVAL);
        assert_int_equal(accounts_address_key(NULL, k), -EINVAL);
        assert_string_equal(k, "untouched");
}

static void test_rate_limit(void **state) {
        Fixture *f = *state;
        uint64_t retry = 0;
        char key[ACCOUNTS_ADDRESS_KEY_SIZE];

        /* Four failures for alice: still allowed. The fifth fills the quota. */
        for (unsigned i = 0; i < ACCOUNTS_LOGIN_FAILURES_PER_NAME - 1; i++)
                assert_int_equal(accounts_login_failed(f->store, "alice", "192.0.2.1", T0 + SEC(i)), 0);
        assert_int_equal(accounts_login_limited(f->store, "alice", "192.0.2.1", T0 + SEC(10), &retry), 0);
        assert_int_equal(retry, 0);
        assert_int_equal(accounts_login_failed(f->store, "ALICE", "192.0.2.2", T0 + SEC(10)), 0);
        assert_int_equal(accounts_login_limited(f->store, "alice", "192.0.2.3", T0 + SEC(11), &retry), 1);
        assert_int_equal(retry, 900);
        /* Others are not affected. */
        assert_int_equal(accounts_login_limited(f->store, "bob", "192.0.2.1", T0 + SEC(11), &retry), 0);
        /* Once the window has moved past the first failure, alice may try again. */
        assert_int_equal(accounts_login_limited(f->store, "alice", NULL, T0 + SEC(901), &retry), 0);
        assert_int_equal(accounts_login_limited(f->store, "alice", NULL, T0 + SEC(900), &retry), 1);

        /* A success forgets the name's failures. */
        assert_int_equal(accounts_login_succeeded(f->store, "Alice", T0 + SEC(12)), 0);
        assert_int_equal(accounts_login_limited(f->store, "alice", "192.0.2.1", T0 + SEC(12), &retry), 0);

        /* Twenty failures from one /64, each for another name: the whole /64 waits. */
        assert_int_equal(accounts_address_key("2001:db8:1:2::5", key), 0);
        for (unsigned i = 0; i < ACCOUNTS_LOGIN_FAILURES_PER_ADDRESS; i++) {
                char name[16];
                char other[ACCOUNTS_ADDRESS_KEY_SIZE];
                char address[64];

                (void) snprintf(address, sizeof(address), "2001:db8:1:2::%x", i + 1);
                assert_int_equal(accounts_address_key(address, other), 0);
                assert_string_equal(other, key);
                (void) snprintf(name, sizeof(name), "user%u", i);
                assert_int_equal(accounts_login_limited(f->store, name, other, T0 + SEC(100), &retry), 0);
                assert_int_equal(accounts_login_failed(f->store, name, other, T0 + SEC(100)), 0);
        }
        assert_int_equal(accounts_login_limited(f->store, "carol", key, T0 + SEC(101), &retry), 1);
        assert_int_equal(retry, 900);
        assert_int_equal(accounts_address_key("2001:db8:1:3::5", key), 0);
        assert_int_equal(accounts_login_limited(f->store, "carol", key, T0 + SEC(101), &retry), 0);
        /* Without an address, the attempt is counted under "-". */
        assert_int_equal(accounts_login_failed(f->store, "dave", NULL, T0), 0);
}

static void test_names_passwords(void **state) {
        char long_name[ACCOUNTS_NAME_MAX + 2];

        assert_true(accounts_user_name_is_valid("alice", 5));
        assert_true(accounts_user_name_is_valid("A.b_c-9", 7));
        assert_true(accounts_user_name_is_valid("_x", 2));
        assert_true(accounts_user_name_is_valid("0", 1));
        assert_false(accounts_user_name_is_valid("", 0));
        assert_false(accounts_user_name_is_valid(".hidden", 7));
        assert_false(accounts_user_name_is_valid("-opt", 4));
        assert_false(accounts_user_name_is_valid("a b", 3));
        assert_false(accounts_user_name_is_valid("a/b", 3));
        assert_false(accounts_user_name_is_valid("caf\xc3\xa9", 5));
        assert_false(accounts_user_name_is_valid("a\0b", 3));
        memset(long_name, 'n', sizeof(long_name));
        assert_true(accounts_user_name_is_valid(long_name, ACCOUNTS_NAME_MAX));
        assert_false(accounts_user_name_is_valid(long_name, ACCOUNTS_NAME_MAX + 1));

        assert_false(accounts_password_is_valid("1234567", 7));
        assert_true(accounts_password_is_valid("12345678", 8));
        assert_true(accounts_password_is_valid("pässwörd", strlen("pässwörd")));
        assert_false(accounts_password_is_valid("1234\0" "5678", 9));
        assert_false(accounts_password_is_valid("12345678\xff", 9));
        {
                char big[ACCOUNTS_PASSWORD_MAX + 1];

                memset(big, 'p', sizeof(big));
                assert_true(accounts_password_is_valid(big, ACCOUNTS_PASSWORD_MAX));
                assert_false(accounts_password_is_valid(big, ACCOUNTS_PASSWORD_MAX + 1));
        }

        assert_true(accounts_display_name_is_valid("Alice Liddell", 13));
        assert_true(accounts_display_name_is_valid("Zoë", strlen("Zoë")));
        assert_false(accounts_display_name_is_valid("", 0));
        assert_false(accounts_display_name_is_valid("a\tb", 3));
        assert_false(accounts_display_name_is_valid("a\r\nX-Sandstorm-User-Id: x", 25));
        assert_false(accounts_display_name_is_valid("\xc0\xaf", 2));
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_base_url),
                cmocka_unit_test(test_cookie_make),
                cmocka_unit_test(test_cookie_find),
                cmocka_unit_test(test_csrf_token),
                T(test_csrf_key),
                cmocka_unit_test(test_check_origin_and_csrf),
                cmocka_unit_test(test_address_key),
                T(test_rate_limit),
                cmocka_unit_test(test_names_passwords),
        };

        if (random_init() < 0)
                return EXIT_FAILURE;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
