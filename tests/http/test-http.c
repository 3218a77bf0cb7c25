/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/http.h"
#include "http/limits.h"

#define H(n, v)                                                                                             \
        { n, sizeof(n) - 1, v, sizeof(v) - 1 }

static void test_methods(void **state) {
        for (HttpMethod m = 0; m < _HTTP_METHOD_MAX; m++) {
                const char *s = http_method_to_string(m);

                assert_non_null(s);
                assert_int_equal(http_method_from_string(s, strlen(s)), m);
        }
        assert_int_equal(http_method_from_string("M-SEARCH", 8), HTTP_METHOD_MSEARCH);
        assert_int_equal(http_method_from_string("GETX", 3), HTTP_METHOD_GET); /* by length, no NUL needed */
        assert_int_equal(http_method_from_string("get", 3), -EINVAL);
        assert_int_equal(http_method_from_string("GETX", 4), -EINVAL);
        assert_int_equal(http_method_from_string("", 0), -EINVAL);
        assert_null(http_method_to_string(_HTTP_METHOD_MAX));
        assert_null(http_method_to_string(_HTTP_METHOD_INVALID));
        assert_string_equal(http_version_to_string(HTTP_VERSION_1_0), "HTTP/1.0");
        assert_string_equal(http_version_to_string(HTTP_VERSION_2), "HTTP/2");
        assert_null(http_version_to_string(_HTTP_VERSION_MAX));
        assert_string_equal(http_framing_to_string(HTTP_FRAMING_CHUNKED), "chunked");
        assert_null(http_framing_to_string(_HTTP_FRAMING_INVALID));
}

static void test_headers_find(void **state) {
        const HttpHeader h[] = {
                H("Host", "example.com"),
                H("Connection", "keep-alive, Upgrade"),
                H("X-A", "1"),
                H("x-a", "2"),
                H("connection", "foo"),
        };

        assert_ptr_equal(http_headers_find(h, ELEMENTSOF(h), "host"), h + 0);
        assert_ptr_equal(http_headers_find(h, ELEMENTSOF(h), "X-A"), h + 2);
        assert_null(http_headers_find(h, ELEMENTSOF(h), "X-"));
        assert_null(http_headers_find(h, ELEMENTSOF(h), "Hostx"));
        assert_null(http_headers_find(NULL, 0, "host"));
        assert_int_equal(http_headers_count(h, ELEMENTSOF(h), "x-A"), 2);
        assert_int_equal(http_headers_count(h, ELEMENTSOF(h), "cookie"), 0);
        assert_true(http_headers_have_token(h, ELEMENTSOF(h), "connection", "upgrade"));
        assert_true(http_headers_have_token(h, ELEMENTSOF(h), "CONNECTION", "Foo"));
        assert_false(http_headers_have_token(h, ELEMENTSOF(h), "connection", "close"));
        assert_false(http_headers_have_token(h, ELEMENTSOF(h), "host", "example"));
}

static void test_list_tokens(void **state) {
        static const struct {
                const char *list;
                const char *token;
                bool found;
        } table[] = {
                {"close", "close", true},
                {"Close", "close", true},
                {"keep-alive, close", "close", true},
                {" ,\t, close ,", "close", true},
                {"a,close,b", "close", true},
                {"closed", "close", false},
                {"xclose", "close", false},
                {"\"close\"", "close", false},
                {"close;x", "close", false},
                {"", "close", false},
                {",,,", "close", false},
                {"websocket", "WebSocket", true},
                {"h2c, websocket/13", "websocket", false},
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (http_list_has_token(table[i].list, strlen(table[i].list), table[i].token) !=
                        table[i].found)
                        fail_msg("'%s' has '%s'", table[i].list, table[i].token);

        /* Only the given length is read. */
        assert_false(http_list_has_token("clos", 4, "close"));
        assert_true(http_list_has_token("close, x", 5, "close"));

        assert_true(http_list_is_tokens("", 0));
        assert_true(http_list_is_tokens("a, b ,\tc,,", 10));
        assert_false(http_list_is_tokens("a b", 3));
        assert_false(http_list_is_tokens("a;b", 3));
        assert_false(http_list_is_tokens("a/b", 3));
        assert_true(http_list_is_protocols("websocket", 9));
        assert_true(http_list_is_protocols("HTTP/2.0, websocket", 19));
        assert_false(http_list_is_protocols("", 0));
        assert_false(http_list_is_protocols(" , ", 3));
        assert_false(http_list_is_protocols("a/", 2));
        assert_false(http_list_is_protocols("/a", 2));
        assert_false(http_list_is_protocols("a/b/c", 5));
        assert_false(http_list_is_protocols("web socket", 10));
}

static void test_strip_untrusted(void **state) {
        static const char *const untrusted[] = {
                "X-Sandstorm-User-Id",
                "x-sandstorm-user-id",
                "X-SANDSTORM-PERMISSIONS",
                "x_sandstorm_user_id",
                "X_Sandstorm-Username",
                "X-Sandstorm",
                "x-sandstormish",
                "X-Forwarded-For",
                "x-forwarded-proto",
                "X_FORWARDED_HOST",
                "X-Forwarded",
                "Forwarded",
                "FORWARDED",
                "X-Real-IP",
                "x_real_ip",
                "X-REAL_IP",
        };
        static const char *const trusted[] = {
                "Host",
                "X-Sandstor",
                "Sandstorm-User",
                "X--Sandstorm",
                "XSandstorm",
                "Forwarded-For",
                "X-Forwarde",
                "X-Real-IPv6",
                "X-Real",
                "Cookie",
                "X-Sandstorm\xc3\xa9",
        };

        for (size_t i = 0; i < ELEMENTSOF(untrusted); i++)
                if (!http_header_name_is_untrusted(untrusted[i], strlen(untrusted[i])))
                        fail_msg("'%s' kept", untrusted[i]);
        for (size_t i = 0; i < ELEMENTSOF(trusted); i++)
                if (http_header_name_is_untrusted(trusted[i], strlen(trusted[i])) !=
                        (strncmp(trusted[i], "X-Sandstorm", 11) == 0))
                        fail_msg("'%s' misjudged", trusted[i]);
        /* By length: the bytes after it do not count. */
        assert_false(http_header_name_is_untrusted("X-Real-IP", 8));
        assert_true(http_header_name_is_untrusted("ForwardedX", 9));

        HttpHeader h[] = {
                H("Host", "example.com"),
                H("X-Sandstorm-User-Id", "admin"),
                H("Accept", "*/*"),
                H("x_forwarded_for", "1.2.3.4"),
                H("Forwarded", "for=1.2.3.4"),
                H("X-Real-IP", "1.2.3.4"),
                H("Cookie", "a=b"),
                H("X-SANDSTORM-TAB-ID", "x"),
        };
        size_t n = http_headers_strip_untrusted(h, ELEMENTSOF(h));

        assert_int_equal(n, 3);
        assert_string_equal(h[0].name, "Host");
        assert_string_equal(h[1].name, "Accept");
        assert_string_equal(h[2].name, "Cookie");
        assert_string_equal(h[2].value, "a=b");
        assert_int_equal(http_headers_strip_untrusted(h, 0), 0);
}

static void test_grammar(void **state) {
        assert_true(http_token_is_valid("!#$%&'*+-.^_`|~09AZaz", 21));
        assert_false(http_token_is_valid("", 0));
        for (const char *c = "()<>@,;:\\\"/[]?={} \t\x7f\x80\x01"; *c; c++)
                if (http_token_is_valid(c, 1))
                        fail_msg("0x%02x is a token", (unsigned char) *c);
        assert_false(http_token_is_valid("\0", 1));

        assert_true(http_field_value_is_valid("", 0));
        assert_true(http_field_value_is_valid("a \tb\x80\xff~", 7));
        assert_false(http_field_value_is_valid("a\rb", 3));
        assert_false(http_field_value_is_valid("a\nb", 3));
        assert_false(http_field_value_is_valid("a\0b", 3));
        assert_false(http_field_value_is_valid("\x7f", 1));
        assert_false(http_field_value_is_valid("\x1f", 1));
}

static void test_host(void **state) {
        static const char *const valid[] = {
                "",
                "example.com",
                "EXAMPLE.com:443",
                "a",
                "a:1",
                "a:65535",
                "a:00080",
                "127.0.0.1",
                "[::1]",
                "[::1]:8080",
                "[2001:db8::7]",
                "[::ffff:1.2.3.4]",
                "x_y.example",
                "%41b",
                "a!$&'()*+,;=b",
                "ui-abc.granary.localhost:6080",
        };
        static const char *const invalid[] = {
                "a:",
                ":80",
                "a:65536",
                "a:123456",
                "a:-1",
                "a:8x",
                "a b",
                "u@h",
                "a/b",
                "a?b",
                "a#b",
                "%4",
                "%zz",
                "[::1",
                "[]",
                "[::1]x",
                "[::1]:",
                "[g::1]",
                "[::1%eth0]",
                "a:1:2",
                "\xc3\xa9",
                "a\tb",
        };

        for (size_t i = 0; i < ELEMENTSOF(valid); i++)
                if (!http_host_is_valid(valid[i], strlen(valid[i])))
                        fail_msg("'%s' refused", valid[i]);
        for (size_t i = 0; i < ELEMENTSOF(invalid); i++)
                if (http_host_is_valid(invalid[i], strlen(invalid[i])))
                        fail_msg("'%s' accepted", invalid[i]);
        assert_false(http_host_is_valid("a\0", 2));
        assert_true(http_host_is_valid("a:80x", 4)); /* by length */
}

static void test_strcaseeq(void **state) {
        assert_true(http_strcaseeq("Content-Length", 14, "content-length", 14));
        assert_false(http_strcaseeq("Content-Length", 14, "content-lengths", 15));
        assert_true(http_strcaseeq("", 0, "", 0));
        /* ASCII only: no locale, no folding of other bytes. */
        assert_false(http_strcaseeq("\xc3\xa9", 2, "\xc3\x89", 2));
        assert_false(http_strcaseeq("@", 1, "`", 1));
        assert_false(http_strcaseeq("[", 1, "{", 1));
}

static void test_status(void **state) {
        assert_string_equal(http_status_to_string(200), "OK");
        assert_string_equal(http_status_to_string(404), "Not Found");
        assert_string_equal(http_status_to_string(413), "Content Too Large");
        assert_string_equal(http_status_to_string(421), "Misdirected Request");
        assert_string_equal(http_status_to_string(431), "Request Header Fields Too Large");
        assert_string_equal(http_status_to_string(505), "HTTP Version Not Supported");
        assert_null(http_status_to_string(299));
        assert_null(http_status_to_string(0));
        assert_null(http_status_to_string(-1));
        /* Every phrase can go on a status line. */
        for (int s = 100; s < 600; s++) {
                const char *p = http_status_to_string(s);

                if (p)
                        assert_true(*p && http_field_value_is_valid(p, strlen(p)));
        }

        assert_int_equal(http_status_from_errno(-EBADMSG), 400);
        assert_int_equal(http_status_from_errno(-EFBIG), 413);
        assert_int_equal(http_status_from_errno(-ENAMETOOLONG), 414);
        assert_int_equal(http_status_from_errno(-EMSGSIZE), 431);
        assert_int_equal(http_status_from_errno(-EOPNOTSUPP), 501);
        assert_int_equal(http_status_from_errno(-EPROTONOSUPPORT), 505);
        assert_int_equal(http_status_from_errno(-ENOMEM), 503);
        assert_int_equal(http_status_from_errno(-ENOENT), 404);
        assert_int_equal(http_status_from_errno(-EACCES), 403);
        assert_int_equal(http_status_from_errno(-ECONNREFUSED), 502);
        assert_int_equal(http_status_from_errno(-ETIMEDOUT), 504);
        assert_int_equal(http_status_from_errno(-EIO), 500);
        assert_int_equal(http_status_from_errno(0), 500);
}

static void test_date(void **state) {
        char d[HTTP_DATE_SIZE];

        memset(d, 'x', sizeof(d));
        assert_int_equal(http_date_format(784111777, d), 0);
        assert_string_equal(d, "Sun, 06 Nov 1994 08:49:37 GMT"); /* RFC 9110 §5.6.7 */
        assert_int_equal(http_date_format(0, d), 0);
        assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_int_equal(http_date_format(951782400, d), 0);
        assert_string_equal(d, "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_int_equal(http_date_format(-1, d), 0);
        assert_string_equal(d, "Wed, 31 Dec 1969 23:59:59 GMT");
        assert_int_equal(http_date_format((time_t) 253402300799, d), 0);
        assert_string_equal(d, "Fri, 31 Dec 9999 23:59:59 GMT");

        memset(d, 'x', sizeof(d));
        assert_int_equal(http_date_format((time_t) 253402300800, d), -EOVERFLOW);
        assert_int_equal(http_date_format((time_t) -62167219201, d), -EOVERFLOW);
        assert_int_equal(d[0], 'x'); /* nothing written */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_methods),
                cmocka_unit_test(test_headers_find),
                cmocka_unit_test(test_list_tokens),
                cmocka_unit_test(test_strip_untrusted),
                cmocka_unit_test(test_grammar),
                cmocka_unit_test(test_host),
                cmocka_unit_test(test_strcaseeq),
                cmocka_unit_test(test_status),
                cmocka_unit_test(test_date),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
