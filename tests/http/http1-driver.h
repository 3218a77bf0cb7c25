/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Drives an Http1Parser the way a connection would — the input fed in the pieces given, pipelined requests
 * parsed one after the other — and writes what it reported as a transcript: one line per head (with every
 * field), the body bytes of each message merged into one line whatever the pieces were, the offset at which
 * each head and message ended, and the error at the end. Two ways of feeding the same bytes must give the
 * same transcript. Shared by the unit tests and the fuzz target.
 *
 * Also checks, on every event, what the parser promises, and aborts when a promise is broken:
 * (a) consumed never exceeds what was given, and NEED_MORE consumes everything;
 * (b) a head's strings are NUL-terminated at their length and hold no NUL; names are tokens; values hold no
 *     CR, LF, NUL or other control character except HTAB and have no surrounding whitespace; the target is
 *     visible ASCII without '#';
 * (c) the body delivered never exceeds the Content-Length (and equals it at COMPLETE), nor body_max;
 * (d) an error has one of the parser's statuses, always closes, and repeats on the next call.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/string-util.h"
#include "http/http1.h"

#define DRIVER_CHECK(expr)                                                                                  \
        do {                                                                                                \
                if (!(expr)) {                                                                              \
                        fprintf(stderr, "%s:%d: broken promise: %s\n", __FILE__, __LINE__, #expr);          \
                        abort();                                                                            \
                }                                                                                           \
        } while (0)

static inline void driver_escape(StrBuf *out, const char *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) p[i];

                if (c >= 0x20 && c < 0x7f && c != '\\')
                        (void) strbuf_append_char(out, (char) c);
                else
                        (void) strbuf_printf(out, "\\x%02x", c);
        }
}

static inline void driver_check_string(const char *s, size_t n) {
        DRIVER_CHECK(s);
        DRIVER_CHECK(s[n] == '\0');
        DRIVER_CHECK(memchr(s, '\0', n) == NULL);
}

static inline void driver_check_request(const HttpRequest *r, const HttpLimits *limits) {
        DRIVER_CHECK(http_method_to_string(r->method));
        DRIVER_CHECK(r->method != HTTP_METHOD_CONNECT);
        DRIVER_CHECK(r->version == HTTP_VERSION_1_0 || r->version == HTTP_VERSION_1_1);
        driver_check_string(r->target, r->target_len);
        DRIVER_CHECK(r->target_len > 0 && r->target_len <= limits->request_line_max);
        for (size_t i = 0; i < r->target_len; i++)
                DRIVER_CHECK(r->target[i] > 0x20 && r->target[i] < 0x7f && r->target[i] != '#');
        driver_check_string(r->path, r->path_len);
        if (r->target_form == HTTP_TARGET_ASTERISK)
                DRIVER_CHECK(r->method == HTTP_METHOD_OPTIONS && streq(r->path, "*"));
        else
                DRIVER_CHECK(r->path[0] == '/');
        if (r->authority) {
                driver_check_string(r->authority, r->authority_len);
                DRIVER_CHECK(http_host_is_valid(r->authority, r->authority_len));
        } else
                DRIVER_CHECK(r->version == HTTP_VERSION_1_0 && r->target_form != HTTP_TARGET_ABSOLUTE);
        if (r->version == HTTP_VERSION_1_1)
                DRIVER_CHECK(http_headers_count(r->headers, r->n_headers, "host") == 1);

        DRIVER_CHECK(r->n_headers <= limits->header_count_max);
        for (size_t i = 0; i < r->n_headers; i++) {
                const HttpHeader *h = r->headers + i;

                driver_check_string(h->name, h->name_len);
                driver_check_string(h->value, h->value_len);
                DRIVER_CHECK(http_token_is_valid(h->name, h->name_len));
                DRIVER_CHECK(http_field_value_is_valid(h->value, h->value_len));
                DRIVER_CHECK(!memchr(h->value, '\r', h->value_len) && !memchr(h->value, '\n', h->value_len));
                DRIVER_CHECK(h->value_len <= limits->header_value_max);
                if (h->value_len > 0)
                        DRIVER_CHECK(h->value[0] != ' ' && h->value[0] != '\t' &&
                                     h->value[h->value_len - 1] != ' ' &&
                                     h->value[h->value_len - 1] != '\t');
        }

        switch (r->framing) {
        case HTTP_FRAMING_NONE:
                DRIVER_CHECK(!http_request_header(r, "content-length") &&
                             !http_request_header(r, "transfer-encoding"));
                break;
        case HTTP_FRAMING_LENGTH:
                DRIVER_CHECK(http_headers_count(r->headers, r->n_headers, "content-length") == 1 &&
                             !http_request_header(r, "transfer-encoding"));
                DRIVER_CHECK(r->content_length <= limits->body_max);
                break;
        case HTTP_FRAMING_CHUNKED:
                DRIVER_CHECK(r->version == HTTP_VERSION_1_1);
                DRIVER_CHECK(http_headers_count(r->headers, r->n_headers, "transfer-encoding") == 1 &&
                             !http_request_header(r, "content-length"));
                break;
        default:
                DRIVER_CHECK(false);
        }
        if (r->upgrade)
                DRIVER_CHECK(r->version == HTTP_VERSION_1_1 && http_request_header(r, "upgrade"));
}

static inline void driver_print_request(StrBuf *out, const HttpRequest *r, size_t offset) {
        static const char *const forms[] = {"origin", "absolute", "asterisk"};

        (void) strbuf_printf(out, "HEAD@%zu %s ", offset, http_method_to_string(r->method));
        driver_escape(out, r->target, r->target_len);
        (void) strbuf_printf(
                out, " %s form=%s authority=", http_version_to_string(r->version), forms[r->target_form]);
        if (r->authority)
                driver_escape(out, r->authority, r->authority_len);
        else
                (void) strbuf_append_str(out, "(none)");
        (void) strbuf_append_str(out, " path=");
        driver_escape(out, r->path, r->path_len);
        (void) strbuf_printf(out, " framing=%s length=%llu keep-alive=%d upgrade=%d\n",
                http_framing_to_string(r->framing), (unsigned long long) r->content_length, r->keep_alive,
                r->upgrade);
        for (size_t i = 0; i < r->n_headers; i++) {
                (void) strbuf_append_str(out, "  ");
                driver_escape(out, r->headers[i].name, r->headers[i].name_len);
                (void) strbuf_append_str(out, ": ");
                driver_escape(out, r->headers[i].value, r->headers[i].value_len);
                (void) strbuf_append_str(out, "\n");
        }
}

typedef struct DriverState {
        StrBuf body; /* of the current message, across BODY events */
        bool in_body;
        HttpFraming framing;
        uint64_t content_length;
        uint64_t body_total;
} DriverState;

static inline void driver_flush_body(StrBuf *out, DriverState *s) {
        if (!s->in_body)
                return;
        (void) strbuf_printf(out, "BODY %zu ", s->body.len);
        driver_escape(out, s->body.data ?: "", s->body.len);
        (void) strbuf_append_str(out, "\n");
        strbuf_truncate(&s->body, 0);
        s->in_body = false;
}

/*
 * Feeds data to a new parser in pieces ending at splits[0] < splits[1] < … (each at most size; size itself
 * need not be listed) and appends the transcript to out. Returns the parser's error, or 0.
 */
static inline int http1_drive(const HttpLimits *limits, const uint8_t *data, size_t size,
        const size_t *splits, size_t n_splits, StrBuf *out) {
        static const HttpLimits defaults = HTTP_LIMITS_DEFAULT;
        _cleanup_(http1_parser_freep) Http1Parser *p = NULL;
        DriverState s = {};
        size_t start = 0, offset = 0;
        int r = 0;

        if (!limits)
                limits = &defaults;
        DRIVER_CHECK(http1_parser_new(limits, &p) == 0);

        for (size_t k = 0; k <= n_splits && r >= 0; k++) {
                size_t end = k < n_splits ? splits[k] : size;

                DRIVER_CHECK(end >= start && end <= size);
                offset = start;
                for (;;) {
                        Http1Event ev;

                        r = http1_parser_feed(p, data + offset, end - offset, &ev);
                        if (r < 0)
                                break;
                        DRIVER_CHECK(ev.consumed <= end - offset);
                        offset += ev.consumed;

                        if (ev.type == HTTP1_EVENT_HEAD || ev.type == HTTP1_EVENT_COMPLETE)
                                driver_flush_body(out, &s);
                        switch (ev.type) {
                        case HTTP1_EVENT_NEED_MORE:
                                DRIVER_CHECK(offset == end);
                                break;
                        case HTTP1_EVENT_HEAD:
                                DRIVER_CHECK(ev.request);
                                driver_check_request(ev.request, limits);
                                driver_print_request(out, ev.request, offset);
                                s.framing = ev.request->framing;
                                s.content_length = ev.request->content_length;
                                s.body_total = 0;
                                http_request_free(ev.request);
                                break;
                        case HTTP1_EVENT_BODY:
                                DRIVER_CHECK(ev.size > 0 && ev.size <= ev.consumed);
                                DRIVER_CHECK(ev.data >= data + offset - ev.consumed &&
                                             ev.data + ev.size <= data + offset);
                                DRIVER_CHECK(s.framing != HTTP_FRAMING_NONE);
                                s.body_total += ev.size;
                                DRIVER_CHECK(s.body_total <= limits->body_max);
                                if (s.framing == HTTP_FRAMING_LENGTH)
                                        DRIVER_CHECK(s.body_total <= s.content_length);
                                DRIVER_CHECK(strbuf_append(&s.body, ev.data, ev.size) == 0);
                                s.in_body = true;
                                break;
                        case HTTP1_EVENT_COMPLETE:
                                if (s.framing == HTTP_FRAMING_LENGTH)
                                        DRIVER_CHECK(s.body_total == s.content_length);
                                (void) strbuf_printf(out, "COMPLETE@%zu\n", offset);
                                break;
                        default:
                                DRIVER_CHECK(false);
                        }
                        if (ev.type == HTTP1_EVENT_NEED_MORE)
                                break;
                }
                start = end;
        }

        driver_flush_body(out, &s);
        strbuf_done(&s.body);
        if (r < 0) {
                const Http1Error *e = http1_parser_get_error(p);
                Http1Event ev;

                DRIVER_CHECK(e && e->error == r && e->must_close && e->what);
                DRIVER_CHECK(e->status == http_status_from_errno(r));
                DRIVER_CHECK(e->status == 400 || e->status == 413 || e->status == 414 || e->status == 431 ||
                             e->status == 501 || e->status == 503 || e->status == 505);
                DRIVER_CHECK(http1_parser_feed(p, data, size, &ev) == r);
                (void) strbuf_printf(out, "ERROR %d close=%d\n", e->status, e->must_close);
                return r;
        }
        DRIVER_CHECK(!http1_parser_get_error(p));
        (void) strbuf_printf(out, "END %s\n", http1_parser_is_idle(p) ? "idle" : "partial");
        return 0;
}
