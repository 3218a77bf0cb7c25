/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "basic/string-util.h"
#include "http/http1-response.h"
#include "http/http1.h"

#define H(n, v)                                                                                             \
        { n, sizeof(n) - 1, v, sizeof(v) - 1 }

static void test_head(void **state) {
        _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
        const HttpHeader h[] = {
                H("Content-Type", "text/html; charset=utf-8"),
                H("Content-Length", "5"),
                H("X-Empty", ""),
                H("X-Tab", "a\tb"),
                H("X-Utf8", "caf\xc3\xa9"),
        };

        assert_int_equal(http1_response_head_append(&out, 200, NULL, h, ELEMENTSOF(h)), 0);
        assert_string_equal(out.data, "HTTP/1.1 200 OK\r\n"
                                      "Content-Type: text/html; charset=utf-8\r\n"
                                      "Content-Length: 5\r\n"
                                      "X-Empty: \r\n"
                                      "X-Tab: a\tb\r\n"
                                      "X-Utf8: caf\xc3\xa9\r\n"
                                      "\r\n");

        /* Appends; a status without a phrase gets an empty one; a reason can be chosen. */
        assert_int_equal(http1_response_head_append(&out, 299, NULL, NULL, 0), 0);
        assert_int_equal(http1_response_head_append(&out, 404, "Nothing Here", NULL, 0), 0);
        assert_int_equal(http1_response_head_append(&out, 101, "", NULL, 0), 0);
        assert_true(endswith(out.data, "\r\n\r\nHTTP/1.1 299 \r\n\r\nHTTP/1.1 404 Nothing Here\r\n\r\n"
                                       "HTTP/1.1 101 \r\n\r\n"));
}

static void test_head_refused(void **state) {
        _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
        static const HttpHeader bad[] = {
                H("", "x"),
                H("X A", "x"),
                H("X:A", "x"),
                H("X\r\nEvil", "x"),
                H("X\0A", "x"),
                H("X-\xc3\xa9", "x"),
                H("X", "a\r\nSet-Cookie: session=evil"),
                H("X", "a\rb"),
                H("X", "a\nb"),
                H("X", "a\0b"),
                H("X", "\x01"),
                H("X", "\x7f"),
                H("Location", "/x\r\n\r\n<script>"),
        };

        assert_int_equal(strbuf_append_str(&out, "before"), 0);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                const HttpHeader h[] = {H("Date", "x"), bad[i]};

                if (http1_response_head_append(&out, 200, NULL, h, ELEMENTSOF(h)) != -EINVAL)
                        fail_msg("header %zu accepted", i);
        }
        assert_int_equal(http1_response_head_append(&out, 99, NULL, NULL, 0), -EINVAL);
        assert_int_equal(http1_response_head_append(&out, 600, NULL, NULL, 0), -EINVAL);
        assert_int_equal(http1_response_head_append(&out, 2000, NULL, NULL, 0), -EINVAL);
        assert_int_equal(http1_response_head_append(&out, -200, NULL, NULL, 0), -EINVAL);
        assert_int_equal(http1_response_head_append(&out, 200, "OK\r\nX: y", NULL, 0), -EINVAL);
        assert_int_equal(http1_response_head_append(&out, 200, "OK\n", NULL, 0), -EINVAL);
        assert_int_equal(http1_response_head_append(&out, 200, "\x1b[0m", NULL, 0), -EINVAL);
        /* Nothing written by any refusal. */
        assert_string_equal(out.data, "before");
        assert_int_equal(out.len, 6);
}

/* Every byte, at every place of values of every length up to 24, is refused or taken as
 * http_field_value_is_valid() says. */
static void test_head_value_bytes(void **state) {
        _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
        char v[24];

        for (size_t len = 1; len <= sizeof v; len++)
                for (size_t at = 0; at < len; at++)
                        for (unsigned b = 0; b < 256; b++) {
                                const HttpHeader h[] = {{"X", 1, v, len}};
                                bool valid;
                                int r;

                                memset(v, b == 'a' ? 'b' : 'a', sizeof v);
                                /* the neighbours of the byte are HTAB and obs-text, valid both */
                                if (at > 0)
                                        v[at - 1] = '\t';
                                if (at + 1 < len)
                                        v[at + 1] = (char) 0x80;
                                v[at] = (char) b;
                                valid = http_field_value_is_valid(v, len);
                                assert_int_equal(valid, b == '\t' || (b >= 0x20 && b != 0x7f));
                                strbuf_truncate(&out, 0);
                                r = http1_response_head_append(&out, 200, NULL, h, 1);
                                if (r != (valid ? 0 : -EINVAL))
                                        fail_msg("byte 0x%02x at %zu of %zu: %d", b, at, len, r);
                        }
}

static void test_chunks(void **state) {
        _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
        char line[HTTP1_CHUNK_LINE_MAX];

        assert_int_equal(http1_chunk_line_format(0, line), 3);
        assert_string_equal(line, "0\r\n");
        assert_int_equal(http1_chunk_line_format(255, line), 4);
        assert_string_equal(line, "ff\r\n");
        assert_int_equal(http1_chunk_line_format(4096, line), 6);
        assert_string_equal(line, "1000\r\n");
        assert_int_equal(http1_chunk_line_format(UINT64_MAX, line), 18);
        assert_string_equal(line, "ffffffffffffffff\r\n");

        assert_int_equal(http1_chunk_append(&out, "hello", 5), 0);
        assert_int_equal(http1_chunk_append(&out, "", 0), 0);
        assert_int_equal(http1_chunk_append(&out, NULL, 0), 0);
        assert_int_equal(http1_chunk_append(&out, "0123456789abcdef!", 17), 0);
        assert_int_equal(http1_chunk_append_last(&out), 0);
        assert_string_equal(out.data, "5\r\nhello\r\n11\r\n0123456789abcdef!\r\n0\r\n\r\n");
}

/* What the writer frames, the parser reads back byte for byte, whatever the chunk sizes. */
static void test_chunks_roundtrip(void **state) {
        _cleanup_strbuf_ StrBuf msg = STRBUF_INIT, body = STRBUF_INIT, back = STRBUF_INIT;
        _cleanup_(http1_parser_freep) Http1Parser *p = NULL;
        size_t off = 0;
        bool complete = false;

        for (unsigned i = 0; i < 3000; i++)
                assert_int_equal(strbuf_append_char(&body, (char) (i * 7 + i / 13)), 0);
        assert_int_equal(
                strbuf_append_str(&msg, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"),
                0);
        for (size_t at = 0, n = 1; at < body.len; at += n, n = n * 3 + 1)
                assert_int_equal(http1_chunk_append(&msg, body.data + at, MIN(n, body.len - at)), 0);
        assert_int_equal(http1_chunk_append_last(&msg), 0);

        assert_int_equal(http1_parser_new(NULL, &p), 0);
        while (!complete) {
                Http1Event ev;

                assert_int_equal(
                        http1_parser_feed(p, msg.data + off, MIN((size_t) 97, msg.len - off), &ev), 0);
                off += ev.consumed;
                if (ev.type == HTTP1_EVENT_HEAD)
                        http_request_free(ev.request);
                else if (ev.type == HTTP1_EVENT_BODY)
                        assert_int_equal(strbuf_append(&back, ev.data, ev.size), 0);
                complete = ev.type == HTTP1_EVENT_COMPLETE;
        }
        assert_int_equal(off, msg.len);
        assert_int_equal(back.len, body.len);
        assert_memory_equal(back.data, body.data, body.len);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_head),
                cmocka_unit_test(test_head_refused),
                cmocka_unit_test(test_head_value_bytes),
                cmocka_unit_test(test_chunks),
                cmocka_unit_test(test_chunks_roundtrip),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
