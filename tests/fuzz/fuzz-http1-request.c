/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Fuzzes the HTTP/1.1 request parser as a connection would feed it. The first byte picks the limits (the
 * defaults, small ones, or tiny ones, so that every limit is reached), the next two a split point; the rest
 * is what the client sent. Checks, beyond "no crash":
 * (1) the bytes fed whole, split once at the chosen point, and (when short) byte by byte give the same
 *     transcript: the same requests, fields, body bytes, message ends and error status;
 * (2) every promise http1-driver.h checks on every event: names are tokens, values hold no CR, LF, NUL or
 *     other control character, strings are NUL-terminated, body bytes never exceed the Content-Length nor
 *     body_max, errors have one of the parser's statuses and always close;
 * (3) the first request's head, written out again in its shortest canonical form, parses to the same
 *     request (so nothing the parser accepts depends on whitespace or on how it was split).
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/string-util.h"
#include "http/http1.h"
#include "tests/http/http1-driver.h"
#include "fuzz.h"

static HttpLimits pick_limits(uint8_t b) {
        HttpLimits l = HTTP_LIMITS_DEFAULT;

        switch (b % 3) {
        case 1:
                l = (HttpLimits){
                        .request_line_max = 64,
                        .header_bytes_max = 128,
                        .header_count_max = 4,
                        .header_value_max = 32,
                        .chunk_ext_max = 8,
                        .body_max = 64,
                };
                break;
        case 2:
                l = (HttpLimits){
                        .request_line_max = 16,
                        .header_bytes_max = 24,
                        .header_count_max = 2,
                        .header_value_max = 8,
                        .chunk_ext_max = 0,
                        .body_max = 4,
                };
                break;
        default:
                break;
        }
        return l;
}

/* The first head, if the input holds a complete one that parses; NULL otherwise. */
static HttpRequest *first_request(const HttpLimits *limits, const uint8_t *data, size_t size) {
        _cleanup_(http1_parser_freep) Http1Parser *p = NULL;
        Http1Event ev;

        if (http1_parser_new(limits, &p) < 0)
                abort();
        if (http1_parser_feed(p, data, size, &ev) < 0 || ev.type != HTTP1_EVENT_HEAD)
                return NULL;
        return ev.request;
}

static void check_canonical(const HttpLimits *limits, const uint8_t *data, size_t size) {
        _cleanup_(http_request_freep) HttpRequest *a = NULL, *b = NULL;
        _cleanup_strbuf_ StrBuf s = STRBUF_INIT;

        a = first_request(limits, data, size);
        if (!a)
                return;

        /* The target as received, one space each, the version; "name:value" with nothing around. Never
         * longer than what was received, so the same limits apply. */
        if (strbuf_printf(&s, "%s %s %s\r\n", http_method_to_string(a->method), a->target,
                    http_version_to_string(a->version)) < 0)
                return;
        for (size_t i = 0; i < a->n_headers; i++)
                if (strbuf_printf(&s, "%s:%s\r\n", a->headers[i].name, a->headers[i].value) < 0)
                        return;
        if (strbuf_append_str(&s, "\r\n") < 0)
                return;

        b = first_request(limits, (const uint8_t *) s.data, s.len);
        DRIVER_CHECK(b);
        DRIVER_CHECK(a->method == b->method && a->version == b->version && a->target_form == b->target_form);
        DRIVER_CHECK(streq(a->target, b->target) && streq(a->path, b->path));
        DRIVER_CHECK(!a->authority == !b->authority && (!a->authority || streq(a->authority, b->authority)));
        DRIVER_CHECK(a->framing == b->framing && a->content_length == b->content_length);
        DRIVER_CHECK(a->keep_alive == b->keep_alive && a->upgrade == b->upgrade);
        DRIVER_CHECK(a->n_headers == b->n_headers);
        for (size_t i = 0; i < a->n_headers; i++)
                DRIVER_CHECK(streq(a->headers[i].name, b->headers[i].name) &&
                             streq(a->headers[i].value, b->headers[i].value));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_strbuf_ StrBuf whole = STRBUF_INIT, split = STRBUF_INIT, bytes = STRBUF_INIT;
        _cleanup_free_ size_t *all = NULL;
        HttpLimits limits;
        size_t at;
        int r, k;

        if (size < 3 || size > 64 * 1024)
                return 0;
        limits = pick_limits(data[0]);
        at = (size_t) (data[1] | data[2] << 8);
        data += 3;
        size -= 3;
        at %= size + 1;

        /* (1), (2) */
        r = http1_drive(&limits, data, size, NULL, 0, &whole);
        k = http1_drive(&limits, data, size, &at, 1, &split);
        if (r != k || !streq(whole.data, split.data)) {
                fprintf(stderr, "whole:\n%s\nsplit at %zu:\n%s\n", whole.data, at, split.data);
                abort();
        }
        if (size <= 4096 && size > 1) {
                all = malloc((size - 1) * sizeof(size_t));
                if (!all)
                        return 0;
                for (size_t i = 1; i < size; i++)
                        all[i - 1] = i;
                k = http1_drive(&limits, data, size, all, size - 1, &bytes);
                if (r != k || !streq(whole.data, bytes.data)) {
                        fprintf(stderr, "whole:\n%s\nbyte by byte:\n%s\n", whole.data, bytes.data);
                        abort();
                }
        }

        /* (3) */
        check_canonical(&limits, data, size);
        return 0;
}
