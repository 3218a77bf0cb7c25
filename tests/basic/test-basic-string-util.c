/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "basic/string-util.h"

static void test_strbuf_append(void **state) {
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;

        assert_null(b.data);
        assert_int_equal(strbuf_append(&b, "ab", 2), 0);
        assert_int_equal(strbuf_append_str(&b, "cd"), 0);
        assert_int_equal(strbuf_append_char(&b, 'e'), 0);
        assert_int_equal(strbuf_append(&b, NULL, 0), 0);
        assert_int_equal(b.len, 5);
        assert_string_equal(b.data, "abcde");
        assert_true(b.allocated >= 6);

        /* Binary content, NUL included, is kept byte for byte and still terminated. */
        assert_int_equal(strbuf_append(&b, "x\0y", 3), 0);
        assert_int_equal(b.len, 8);
        assert_memory_equal(b.data, "abcdex\0y\0", 9);
}

static void test_strbuf_growth(void **state) {
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;
        char expect[10000];

        for (size_t i = 0; i < sizeof(expect); i++) {
                expect[i] = (char) ('a' + i % 26);
                assert_int_equal(strbuf_append_char(&b, expect[i]), 0);
                assert_int_equal(b.data[b.len], '\0');
        }
        assert_int_equal(b.len, sizeof(expect));
        assert_memory_equal(b.data, expect, sizeof(expect));
}

static void test_strbuf_reserve(void **state) {
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;
        char *p;

        assert_int_equal(strbuf_reserve(&b, 100), 0);
        assert_non_null(b.data);
        assert_string_equal(b.data, "");
        assert_true(b.allocated >= 101);
        p = b.data;
        assert_int_equal(strbuf_append(&b, "0123456789", 10), 0);
        assert_ptr_equal(b.data, p); /* no reallocation within the reservation */

        /* Overflowing sizes fail cleanly, leaving the buffer intact. */
        assert_int_equal(strbuf_reserve(&b, SIZE_MAX), -ENOMEM);
        assert_int_equal(strbuf_reserve(&b, SIZE_MAX - 10), -ENOMEM);
        assert_int_equal(b.len, 10);
        assert_string_equal(b.data, "0123456789");
}

static void test_strbuf_printf(void **state) {
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;
        char big[3000];

        assert_int_equal(strbuf_printf(&b, "%s=%d", "x", 42), 0);
        assert_int_equal(strbuf_printf(&b, "%s", ""), 0);
        assert_int_equal(strbuf_printf(&b, ";%05u", 7u), 0);
        assert_string_equal(b.data, "x=42;00007");
        assert_int_equal(b.len, 10);

        /* Larger than what is free: the second formatting pass must give the same bytes. */
        memset(big, 'q', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(strbuf_printf(&b, "[%s]", big), 0);
        assert_int_equal(b.len, 10 + 2 + 2999);
        assert_int_equal(b.data[10], '[');
        assert_int_equal(b.data[11 + 2999], ']');
        assert_int_equal(b.data[b.len], '\0');
        assert_int_equal(strspn(b.data + 11, "q"), 2999);
}

static void test_strbuf_steal_truncate(void **state) {
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;
        _cleanup_free_ char *empty = NULL, *s = NULL;
        size_t len = 99;

        /* An untouched buffer still gives a string. */
        empty = strbuf_steal(&b, &len);
        assert_non_null(empty);
        assert_string_equal(empty, "");
        assert_int_equal(len, 0);

        assert_int_equal(strbuf_append_str(&b, "hello world"), 0);
        strbuf_truncate(&b, 5);
        assert_int_equal(b.len, 5);
        assert_string_equal(b.data, "hello");
        strbuf_truncate(&b, 50); /* never grows */
        assert_int_equal(b.len, 5);

        s = strbuf_steal(&b, &len);
        assert_string_equal(s, "hello");
        assert_int_equal(len, 5);
        assert_null(b.data);
        assert_int_equal(b.len, 0);
        assert_int_equal(b.allocated, 0);

        /* Reusable after steal and after done. */
        assert_int_equal(strbuf_append_str(&b, "x"), 0);
        strbuf_done(&b);
        assert_null(b.data);
        strbuf_done(&b);
        strbuf_done(NULL);
}

static void test_startswith_endswith(void **state) {
        const char *s = "granary.conf";

        assert_ptr_equal(startswith(s, "gran"), s + 4);
        assert_ptr_equal(startswith(s, ""), s);
        assert_ptr_equal(startswith(s, s), s + strlen(s));
        assert_null(startswith(s, "granary.conf.d"));
        assert_null(startswith(s, "x"));
        assert_null(startswith("", "x"));

        assert_ptr_equal(endswith(s, ".conf"), s + 7);
        assert_ptr_equal(endswith(s, ""), s + strlen(s));
        assert_ptr_equal(endswith(s, s), s);
        assert_null(endswith(s, "x.granary.conf"));
        assert_null(endswith(s, ".con"));
        assert_null(endswith("", "x"));
}

static void test_strip_span(void **state) {
        const char *in = " \t\r\n\v\fkey = value \n\f\v\r\t ";
        const char *p = in;
        size_t n = strlen(in);

        strip_span(&p, &n);
        assert_ptr_equal(p, in + 6);
        assert_int_equal(n, 11);
        assert_memory_equal(p, "key = value", 11);

        /* Only whitespace: an empty span. */
        p = " \t ";
        n = 3;
        strip_span(&p, &n);
        assert_int_equal(n, 0);

        /* Only n bytes are looked at. */
        p = "ab  cd";
        n = 4;
        strip_span(&p, &n);
        assert_int_equal(n, 2);
        assert_memory_equal(p, "ab", 2);

        /* Other bytes (NUL, 0x85, 0xa0) are not whitespace. */
        p = "\0x\xa0";
        n = 3;
        strip_span(&p, &n);
        assert_int_equal(n, 3);
}

static void test_strndup_safe(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
        const char unterminated[3] = { 'a', 'b', 'c' };

        a = strndup_safe(unterminated, 2);
        assert_string_equal(a, "ab");
        b = strndup_safe("x\0yz", 4);
        assert_string_equal(b, "x");
        c = strndup_safe(NULL, 0);
        assert_string_equal(c, "");
}

static void test_strjoin(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

        a = strjoin("a", "", "bc", "/", "d");
        assert_string_equal(a, "abc/d");
        b = strjoin("only", NULL);
        assert_string_equal(b, "only");
        /* A NULL ends the list early. */
        c = strjoin("x", NULL, "ignored");
        assert_string_equal(c, "x");
}

static void test_string_is_printable(void **state) {
        assert_true(string_is_printable("", 0));
        assert_true(string_is_printable("hello\tworld ~", 13));
        assert_true(string_is_printable("\x7f\x80\xff", 3)); /* only controls below 0x20 are refused */
        assert_false(string_is_printable("a\nb", 3));
        assert_false(string_is_printable("a\rb", 3));
        assert_false(string_is_printable("a\0b", 3));
        assert_false(string_is_printable("\x1b[31m", 5));
        assert_false(string_is_printable("\x1f", 1));
        /* Only n bytes are looked at. */
        assert_true(string_is_printable("ab\n", 2));
}

static void test_utf8_is_valid(void **state) {
        assert_true(utf8_is_valid("", 0));
        assert_true(utf8_is_valid("plain ascii", 11));
        assert_true(utf8_is_valid("\xc3\xa9", 2));                /* é */
        assert_true(utf8_is_valid("\xe2\x82\xac", 3));            /* € */
        assert_true(utf8_is_valid("\xf0\x9f\x98\x80", 4));        /* U+1F600 */
        assert_true(utf8_is_valid("\xf4\x8f\xbf\xbf", 4));        /* U+10FFFF */
        assert_true(utf8_is_valid("\xed\x9f\xbf", 3));            /* U+D7FF */
        assert_true(utf8_is_valid("\xee\x80\x80", 3));            /* U+E000 */
        assert_true(utf8_is_valid("a\0b", 3));                    /* NUL is a valid code point */

        assert_false(utf8_is_valid("\x80", 1));                   /* lone continuation */
        assert_false(utf8_is_valid("\xc3", 1));                   /* truncated */
        assert_false(utf8_is_valid("\xe2\x82", 2));               /* truncated */
        assert_false(utf8_is_valid("\xf0\x9f\x98", 3));           /* truncated */
        assert_false(utf8_is_valid("\xc0\xaf", 2));               /* overlong '/' */
        assert_false(utf8_is_valid("\xc1\xbf", 2));               /* overlong */
        assert_false(utf8_is_valid("\xe0\x80\xaf", 3));           /* overlong */
        assert_false(utf8_is_valid("\xf0\x80\x80\xaf", 4));       /* overlong */
        assert_false(utf8_is_valid("\xed\xa0\x80", 3));           /* surrogate U+D800 */
        assert_false(utf8_is_valid("\xed\xbf\xbf", 3));           /* surrogate U+DFFF */
        assert_false(utf8_is_valid("\xf4\x90\x80\x80", 4));       /* U+110000 */
        assert_false(utf8_is_valid("\xf5\x80\x80\x80", 4));
        assert_false(utf8_is_valid("\xff", 1));
        assert_false(utf8_is_valid("\xc3\x28", 2));               /* bad continuation */
        assert_false(utf8_is_valid("\xe2\x28\xac", 3));
        assert_false(utf8_is_valid("\xe2\x82\x28", 3));
        /* Only n bytes are looked at: a sequence cut by n is invalid. */
        assert_false(utf8_is_valid("\xc3\xa9", 1));
}

static void test_strv(void **state) {
        _cleanup_strv_free_ char **l = NULL;
        char *s;

        assert_int_equal(strv_length(NULL), 0);
        assert_false(strv_contains(NULL, "a"));
        strv_sort(NULL);

        assert_int_equal(strv_extend(&l, "pear"), 0);
        assert_int_equal(strv_extend(&l, "apple"), 0);
        s = strdup("Zebra");
        assert_non_null(s);
        assert_int_equal(strv_consume(&l, s), 0);
        assert_int_equal(strv_extend(&l, ""), 0);
        assert_int_equal(strv_length(l), 4);
        assert_null(l[4]);

        assert_true(strv_contains(l, "apple"));
        assert_true(strv_contains(l, ""));
        assert_false(strv_contains(l, "appl"));

        /* Byte order, not locale order. */
        strv_sort(l);
        assert_string_equal(l[0], "");
        assert_string_equal(l[1], "Zebra");
        assert_string_equal(l[2], "apple");
        assert_string_equal(l[3], "pear");

        size_t n = 0;
        STRV_FOREACH(i, l)
                n++;
        assert_int_equal(n, 4);

        /* A NULL to consume is an allocation that failed. */
        assert_int_equal(strv_consume(&l, NULL), -ENOMEM);
        assert_int_equal(strv_length(l), 4);

        assert_null(strv_free(TAKE_PTR(l)));
        assert_null(strv_free(NULL));

        assert_int_equal(strv_extendf(&l, "%s-%d", "kiwi", 3), 0);
        assert_int_equal(strv_extendf(&l, "%%"), 0);
        assert_int_equal(strv_length(l), 2);
        assert_string_equal(l[0], "kiwi-3");
        assert_string_equal(l[1], "%");
        assert_null(strv_free(TAKE_PTR(l)));
}

static void test_format_uint64(void **state) {
        static const uint64_t values[] = {0, 7, 10, 99, 1000, 4294967296, UINT64_MAX};
        char buf[21], want[32];

        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                size_t n;

                memset(buf, 'x', sizeof buf);
                n = format_uint64(buf, values[i]);
                snprintf(want, sizeof want, "%" PRIu64, values[i]);
                assert_int_equal(n, strlen(want));
                assert_memory_equal(buf, want, n);
                assert_int_equal(buf[n], 'x'); /* no NUL, nothing past the digits */
        }
}

static void test_parse_uint64(void **state) {
        uint64_t v = 7;

        assert_int_equal(parse_uint64("0", 10, &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(parse_uint64("65535", 65535, &v), 0);
        assert_int_equal(v, 65535);
        assert_int_equal(parse_uint64("18446744073709551615", UINT64_MAX, &v), 0);
        assert_true(v == UINT64_MAX);
        v = 7;
        assert_int_equal(parse_uint64("65536", 65535, &v), -ERANGE);
        assert_int_equal(parse_uint64("18446744073709551616", UINT64_MAX, &v), -ERANGE);
        assert_int_equal(parse_uint64("", 10, &v), -EINVAL);
        assert_int_equal(parse_uint64(NULL, 10, &v), -EINVAL);
        assert_int_equal(parse_uint64("+1", 10, &v), -EINVAL);
        assert_int_equal(parse_uint64("-1", 10, &v), -EINVAL);
        assert_int_equal(parse_uint64(" 1", 10, &v), -EINVAL);
        assert_int_equal(parse_uint64("1 ", 10, &v), -EINVAL);
        assert_int_equal(parse_uint64("0x1", 10, &v), -EINVAL);
        assert_int_equal(parse_uint64("1s", 10, &v), -EINVAL);
        /* written only on success */
        assert_int_equal(v, 7);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_strbuf_append),
                cmocka_unit_test(test_strbuf_growth),
                cmocka_unit_test(test_strbuf_reserve),
                cmocka_unit_test(test_strbuf_printf),
                cmocka_unit_test(test_strbuf_steal_truncate),
                cmocka_unit_test(test_startswith_endswith),
                cmocka_unit_test(test_strip_span),
                cmocka_unit_test(test_strndup_safe),
                cmocka_unit_test(test_strjoin),
                cmocka_unit_test(test_string_is_printable),
                cmocka_unit_test(test_utf8_is_valid),
                cmocka_unit_test(test_format_uint64),
                cmocka_unit_test(test_parse_uint64),
                cmocka_unit_test(test_strv),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
