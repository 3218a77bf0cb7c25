/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Fuzzes the HTTP/2 server session as a connection would drive it: the preface, then the input as the
 * client's bytes, fed in pieces whose size the first byte picks (the second byte picks the limits), with
 * the output taken after each piece. Every request gets a 200 with a short body and its body bytes are
 * consumed, so that responses, flow control and stream closing are exercised too. Checks, beyond "no
 * crash":
 * (1) every request surfaced keeps http2.h's promises: a known method, CONNECT only as an extended CONNECT
 *     (protocol "websocket", an authority, a body delimited by END_STREAM) and protocol NULL otherwise, a
 *     path that is "*" (OPTIONS) or starts with '/', names that are lowercase tokens and not connection-specific, "te"
 *     only as "trailers", values valid and without surrounding whitespace, strings NUL-terminated;
 * (2) body bytes never exceed a content-length, and nothing is reported for a stream before its head;
 * (3) the output is a sequence of whole frames of at most 16384 bytes, of types 0…9, starting with the
 *     server's SETTINGS.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http2.h"
#include "fuzz.h"

#define STREAMS 64
#define OUTPUT_MAX ((size_t) 1 << 22)

typedef struct Ctx {
        struct {
                int32_t id;
                bool has_length;
                uint64_t length, received;
        } streams[STREAMS];
        uint8_t *out;
        size_t out_len;
        bool out_truncated;
} Ctx;

static void check_string(const char *p, size_t n) {
        CHECK(p);
        CHECK(p[n] == '\0');
        CHECK(memchr(p, '\0', n) == NULL);
}

static int on_head(Http2Session *s, int32_t id, HttpRequest *req, void *userdata) {
        Ctx *c = userdata;
        const HttpHeader body_type = {"content-type", 12, "text/plain", 10};

        CHECK(req->version == HTTP_VERSION_2);
        CHECK(http_method_to_string(req->method));
        if (req->method == HTTP_METHOD_CONNECT)
                CHECK(req->protocol && streq(req->protocol, "websocket") && req->authority &&
                        req->framing == HTTP_FRAMING_CHUNKED && req->path[0] == '/');
        else
                CHECK(!req->protocol);
        check_string(req->path, req->path_len);
        check_string(req->target, req->target_len);
        CHECK(req->path_len > 0);
        if (req->path[0] == '*')
                CHECK(req->path_len == 1 && req->method == HTTP_METHOD_OPTIONS &&
                        req->target_form == HTTP_TARGET_ASTERISK);
        else
                CHECK(req->path[0] == '/' && req->target_form == HTTP_TARGET_ORIGIN);
        if (req->authority) {
                check_string(req->authority, req->authority_len);
                CHECK(http_host_is_valid(req->authority, req->authority_len));
        }
        for (size_t i = 0; i < req->n_headers; i++) {
                const HttpHeader *h = req->headers + i;

                check_string(h->name, h->name_len);
                check_string(h->value, h->value_len);
                CHECK(http_token_is_valid(h->name, h->name_len));
                for (size_t j = 0; j < h->name_len; j++)
                        CHECK(!(h->name[j] >= 'A' && h->name[j] <= 'Z'));
                CHECK(http_field_value_is_valid(h->value, h->value_len));
                CHECK(h->value_len == 0 ||
                        (h->value[0] != ' ' && h->value[0] != '\t' && h->value[h->value_len - 1] != ' ' &&
                                h->value[h->value_len - 1] != '\t'));
                CHECK(!streq(h->name, "connection") && !streq(h->name, "keep-alive") &&
                        !streq(h->name, "proxy-connection") && !streq(h->name, "transfer-encoding") &&
                        !streq(h->name, "upgrade"));
                if (streq(h->name, "te"))
                        CHECK(streq(h->value, "trailers"));
        }

        for (size_t i = 0; i < STREAMS; i++)
                if (c->streams[i].id == 0) {
                        c->streams[i].id = id;
                        c->streams[i].has_length = req->framing == HTTP_FRAMING_LENGTH;
                        c->streams[i].length = req->content_length;
                        c->streams[i].received = 0;
                        break;
                }

        CHECK(http2_session_submit_response(s, id, 200, &body_type, 1, true) == 0);
        http_request_free(req);
        return 0;
}

static int on_body(Http2Session *s, int32_t id, const uint8_t *data, size_t n, void *userdata) {
        Ctx *c = userdata;
        bool found = false;

        CHECK(data && n > 0);
        for (size_t i = 0; i < STREAMS; i++)
                if (c->streams[i].id == id) {
                        c->streams[i].received += n;
                        if (c->streams[i].has_length)
                                CHECK(c->streams[i].received <= c->streams[i].length);
                        found = true;
                }
        /* the table holds the first STREAMS streams only */
        (void) found;
        CHECK(http2_session_consume(s, id, n) == 0);
        return 0;
}

static void on_close(Http2Session *s, int32_t id, uint32_t code, void *userdata) {
        Ctx *c = userdata;

        (void) s;
        (void) code;
        for (size_t i = 0; i < STREAMS; i++)
                if (c->streams[i].id == id)
                        c->streams[i].id = 0;
}

static int read_resp(
        Http2Session *s, int32_t id, uint8_t *buf, size_t n, size_t *ret_n, bool *ret_eof, void *userdata) {
        (void) s;
        (void) id;
        (void) userdata;
        *ret_n = MIN(n, (size_t) 5);
        memcpy(buf, "hello", *ret_n);
        *ret_eof = true;
        return 0;
}

static void drain(Http2Session *s, Ctx *c) {
        const uint8_t *p;
        size_t n;

        while (http2_session_pending_output(s, &p, &n) > 0) {
                CHECK(n > 0);
                if (c->out_len + n <= OUTPUT_MAX) {
                        memcpy(c->out + c->out_len, p, n);
                        c->out_len += n;
                } else
                        c->out_truncated = true;
                http2_session_output_done(s, n);
        }
}

static void check_output(const Ctx *c) {
        size_t i = 0;

        CHECK(c->out_len >= 9);
        CHECK(c->out[3] == 0x4 && c->out[4] == 0 && c->out[5] == 0 && c->out[6] == 0 && c->out[7] == 0 &&
                c->out[8] == 0);
        while (i + 9 <= c->out_len) {
                size_t len = (size_t) c->out[i] << 16 | (size_t) c->out[i + 1] << 8 | c->out[i + 2];

                CHECK(len <= 16384);
                CHECK(c->out[i + 3] <= 9);
                i += 9 + len;
        }
        if (!c->out_truncated)
                CHECK(i == c->out_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const Http2SessionCallbacks callbacks = {
                .on_request_head = on_head,
                .on_request_body = on_body,
                .on_stream_close = on_close,
                .read_response_body = read_resp,
        };
        Http2Session *s = NULL;
        HttpLimits limits = HTTP_LIMITS_DEFAULT;
        Ctx *c;
        size_t piece;

        if (size < 2)
                return 0;
        piece = data[0] == 0 ? SIZE_MAX : data[0];
        if (data[1] & 1) {
                limits.header_bytes_max = 256;
                limits.header_count_max = 4;
                limits.header_value_max = 32;
                limits.body_max = 64;
                limits.h2_concurrent_streams_max = 2;
                limits.h2_stream_window = 16;
                limits.h2_reset_burst = 3;
                limits.h2_continuation_max = 1;
        }
        data += 2;
        size -= 2;

        c = calloc(1, sizeof(Ctx));
        CHECK(c);
        c->out = malloc(OUTPUT_MAX);
        CHECK(c->out);
        CHECK(http2_session_new(&limits, &callbacks, c, &s) == 0);

        CHECK(http2_session_feed(s, HTTP2_PREFACE, STRLEN(HTTP2_PREFACE)) == 0);
        drain(s, c);
        while (size > 0) {
                size_t n = MIN(size, piece);
                int r = http2_session_feed(s, data, n);

                CHECK(r == 0 || r == 1);
                drain(s, c);
                if (r == 1) {
                        CHECK(http2_session_want_close(s));
                        break;
                }
                data += n;
                size -= n;
        }
        drain(s, c);
        check_output(c);

        http2_session_free(s);
        free(c->out);
        free(c);
        return 0;
}
