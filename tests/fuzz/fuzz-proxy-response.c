/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Fuzzes the parser of a grain's response (front/proxy.h). The first byte picks the request it answers
 * (bit 0: HEAD; bit 1: a WebSocket opening, so 101 is allowed) and whether the grain closes after the rest
 * (bit 2); the rest is what the grain sends.
 *
 * Invariants checked, beyond "no crash, no read past the input":
 * (1) the bytes consumed never exceed those given, and fewer are consumed only once the response is complete;
 * (2) fed whole or one byte at a time, the outcome is the same: an error both times, or the same status,
 *     fields, framing and body (the error itself may differ: http-parser gives a field's bytes when the field
 *     ends or the input does, so a field over the count and a bad byte after it can come in either order);
 * (3) a head has a status in 101 or 200…599 (101 only when allowed), fields whose names are tokens and
 *     whose values a header can carry, and a Content-Length only with no chunked framing;
 * (4) body bytes never outnumber the bytes consumed, and a HEAD response has none;
 * (5) the filter for the client keeps no hop-by-hop field, no Content-Length, and no Domain attribute in a
 *     Set-Cookie.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front/proxy.h"
#include "fuzz.h"

typedef struct Outcome {
        ssize_t error;
        size_t consumed;
        bool complete;
        int status;
        int64_t length;
        bool chunked;
        size_t n_headers;
        StrBuf body;
} Outcome;

static Outcome run(const uint8_t *data, size_t size, bool head, bool upgrade, bool eof, size_t step,
                   ProxyResponseParser **ret) {
        ProxyResponseParser *p = NULL;
        Outcome o = {};

        CHECK(proxy_response_parser_new(head, &p) == 0);
        if (upgrade)
                proxy_response_parser_allow_upgrade(p);
        while (o.consumed < size) {
                size_t n = step == 0 ? size - o.consumed : MIN(step, size - o.consumed);
                ssize_t k = proxy_response_parser_feed(p, data + o.consumed, n, &o.body);

                if (k < 0) {
                        o.error = k;
                        break;
                }
                CHECK((size_t) k <= n); /* (1) */
                o.consumed += (size_t) k;
                if ((size_t) k < n) {
                        CHECK(proxy_response_parser_complete(p));
                        break;
                }
        }
        if (o.error == 0 && eof && !proxy_response_parser_complete(p)) {
                ssize_t k = proxy_response_parser_feed(p, NULL, 0, &o.body);

                if (k < 0)
                        o.error = k;
        }
        o.complete = proxy_response_parser_complete(p);
        if (proxy_response_parser_head(p)) {
                const ProxyResponse *r = proxy_response_parser_head(p);

                o.status = r->status;
                o.length = r->content_length;
                o.chunked = r->chunked;
                o.n_headers = r->n_headers;
        }
        CHECK(o.body.len <= o.consumed); /* (4) */
        CHECK(!head || o.body.len == 0);
        *ret = p;
        return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ProxyResponseParser *whole = NULL, *bytes = NULL;
        const ProxyResponse *r;
        bool head, upgrade, eof;
        Outcome a, b;

        if (size < 1 || size > 200000)
                return 0;
        head = data[0] & 1;
        upgrade = data[0] & 2;
        eof = data[0] & 4;
        data++, size--;

        a = run(data, size, head, upgrade, eof, 0, &whole);
        b = run(data, size, head, upgrade, eof, 1, &bytes);
        /* (2) */
        CHECK((a.error < 0) == (b.error < 0));
        if (a.error == 0) {
                CHECK(a.consumed == b.consumed);
                CHECK(a.complete == b.complete);
                CHECK(a.status == b.status && a.length == b.length && a.chunked == b.chunked);
                CHECK(a.n_headers == b.n_headers);
                CHECK(a.body.len == b.body.len && (a.body.len == 0 || memcmp(a.body.data, b.body.data, a.body.len) == 0));
        }

        r = proxy_response_parser_head(whole);
        if (r && a.error == 0) {
                HttpHeader *f = calloc(r->n_headers ?: 1, sizeof(HttpHeader));
                StrBuf text = STRBUF_INIT;
                size_t n;

                /* (3) */
                CHECK(r->status == 101 ? upgrade : (r->status >= 200 && r->status <= 599));
                CHECK(!(r->chunked && r->content_length >= 0 && !head));
                for (size_t i = 0; i < r->n_headers; i++) {
                        CHECK(http_token_is_valid(r->headers[i].name, r->headers[i].name_len));
                        CHECK(http_field_value_is_valid(r->headers[i].value, r->headers[i].value_len));
                }
                /* (5) */
                CHECK(f);
                CHECK(proxy_response_headers_filter(r, &text, f, &n) == 0);
                CHECK(n <= r->n_headers);
                for (size_t i = 0; i < n; i++) {
                        static const char *const hop[] = {"connection", "keep-alive", "te", "trailer",
                                                          "transfer-encoding", "upgrade", "content-length"};

                        CHECK(http_field_value_is_valid(f[i].value, f[i].value_len));
                        for (size_t j = 0; j < ELEMENTSOF(hop); j++)
                                CHECK(!http_strcaseeq(f[i].name, f[i].name_len, hop[j], strlen(hop[j])));
                        if (http_strcaseeq(f[i].name, f[i].name_len, "set-cookie", 10)) {
                                const char *p = f[i].value, *end = p + f[i].value_len;
                                bool first = true;

                                while (p < end) {
                                        const char *semi = memchr(p, ';', (size_t) (end - p)), *q = p;
                                        size_t len = (size_t) ((semi ?: end) - p);

                                        /* RFC 6265 5.2: an attribute's name is what comes before its '=', or
                                         * all of it, trimmed ("Domain 1" names no Domain) */
                                        strip_span(&q, &len);
                                        if (memchr(q, '=', len))
                                                len = (size_t) ((const char *) memchr(q, '=', len) - q);
                                        strip_span(&q, &len);
                                        if (!first)
                                                CHECK(!http_strcaseeq(q, len, "domain", 6));
                                        first = false;
                                        p = semi ? semi + 1 : end;
                                }
                        }
                }
                free(f);
                strbuf_done(&text);
        }

        strbuf_done(&a.body);
        strbuf_done(&b.body);
        proxy_response_parser_free(whole);
        proxy_response_parser_free(bytes);
        return 0;
}
