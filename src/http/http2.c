/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * One stream, as this file sees it (nghttp2 keeps the protocol state; ours hangs off it as stream user
 * data):
 *
 *   HEADERS begin --on_begin_headers()--> COLLECTING --END_HEADERS, fields pass check_head()--> PENDING
 *        COLLECTING --a field or the head fails--> RST_STREAM PROTOCOL_ERROR, never surfaced
 *        PENDING --end of feed() or first DATA chunk (flush_pending())--> SURFACED (on_request_head)
 *        PENDING --reset before flush--> dropped, never surfaced
 *        SURFACED --stream closes (on_stream_close())--> gone (on_stream_close callback)
 *
 * (1) on_request_head is called only for a head that passed check_head(): names are lowercase tokens,
 *     values valid field values without surrounding whitespace, no connection-specific field, pseudo-headers
 *     complete and known, and the limits of limits.h held.
 * (2) a request whose stream was reset within the same feed() as its HEADERS is never surfaced: heads wait
 *     in PENDING until the bytes fed so far are parsed, or until their first body byte.
 * (3) body bytes and the end of a request are reported only for SURFACED streams, in order; bytes of any
 *     other stream are given back to the connection window at once.
 * (4) the client's windows open only by http2_session_consume() (nghttp2's automatic WINDOW_UPDATE is off),
 *     and by what was never surfaced or was left unconsumed when a stream closed.
 * (5) every stream that ends in a reset, whoever reset it, costs a token; without one the connection gets
 *     GOAWAY ENHANCE_YOUR_CALM, and so does every flood nghttp2 detects. After that, input is dropped.
 * (6) a CONNECT is surfaced only as an extended CONNECT (RFC 8441: :protocol from protocol_lookup()'s table,
 *     with :scheme, :path and :authority, no content-length, not ended by its HEADERS); its DATA is a tunnel's
 *     byte stream, so body_max does not apply to it — flow control does.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include <nghttp2/nghttp2.h>

#include "http/http-chars.h"
#include "http/http2.h"

/* Bytes gathered from nghttp2 for one pending_output() call. */
#define OUTPUT_CHUNK ((size_t) 65536)
#define USEC_PER_SEC UINT64_C(1000000)

static void *mfree(void *p) {
        free(p);
        return NULL;
}

typedef struct Field {
        size_t name_off, name_len, value_off, value_len;
} Field;

typedef struct Stream Stream;
struct Stream {
        Http2Session *session;
        int32_t id;
        Stream *next, *prev;  /* all streams */
        Stream *pending_next; /* PENDING, in order */

        uint8_t *buf; /* names and values of fields */
        size_t buf_len, buf_allocated;
        Field *fields;
        size_t n_fields, n_fields_allocated;
        size_t decoded;                          /* as HTTP/1.1 counts them: name ": " value CRLF */
        size_t n_regular;                        /* regular fields */
        bool pseudo_done;                        /* a regular field was seen */
        ssize_t method, scheme, path, authority; /* index into fields, or -1 */
        ssize_t protocol;                        /* :protocol (RFC 8441), or -1 */

        HttpRequest *request; /* PENDING */
        uint64_t unconsumed;  /* body bytes surfaced and not consumed */
        uint64_t received;    /* body bytes surfaced */
        bool rejected, reset, pending, end_pending, surfaced, answered;
        bool tunnel; /* an extended CONNECT: its DATA is a byte stream, not a body held to body_max */
};

struct Http2Session {
        nghttp2_session *ng;
        HttpLimits limits;
        Http2SessionCallbacks cb;
        void *userdata;

        Stream *streams;
        Stream *pending_head, *pending_tail;

        /* a DATA chunk held back while its stream's head is PENDING (NGHTTP2_ERR_PAUSE) */
        int32_t paused_stream;
        const uint8_t *paused_data;
        size_t paused_len;

        uint8_t *out;
        size_t out_len, out_off, out_allocated;

        uint64_t reset_tat; /* the reset bucket, as a theoretical arrival time in µs */
        int64_t goaway_code;
        bool ending, in_feed, paused;
};

int http2_preface_check(const void *data, size_t n) {
        assert(data || n == 0);

        if (memcmp(data, HTTP2_PREFACE, MIN(n, STRLEN(HTTP2_PREFACE))) != 0)
                return -EPROTO;
        return n >= STRLEN(HTTP2_PREFACE);
}

static uint64_t now_usec(void) {
        struct timespec ts;

        if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
                return 0;
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static void session_calm(Http2Session *s) {
        (void) nghttp2_session_terminate_session(s->ng, NGHTTP2_ENHANCE_YOUR_CALM);
        s->ending = true;
}

/* One stream ended in a reset. false when that was one too many: the session is ending. */
static bool reset_charge(Http2Session *s) {
        uint64_t now = now_usec(), interval = USEC_PER_SEC / s->limits.h2_reset_rate;
        uint64_t tat = MAX(s->reset_tat, now) + interval;

        if (tat - now > (uint64_t) s->limits.h2_reset_burst * interval) {
                session_calm(s);
                return false;
        }
        s->reset_tat = tat;
        return true;
}

static Stream *stream_get(Http2Session *s, int32_t id) {
        if (id <= 0)
                return NULL;
        return nghttp2_session_get_stream_user_data(s->ng, id);
}

static void pending_remove(Http2Session *s, Stream *st) {
        Stream *prev = NULL;

        if (!st->pending)
                return;
        for (Stream *i = s->pending_head; i; prev = i, i = i->pending_next) {
                if (i != st)
                        continue;
                if (prev)
                        prev->pending_next = i->pending_next;
                else
                        s->pending_head = i->pending_next;
                if (s->pending_tail == st)
                        s->pending_tail = prev;
                break;
        }
        st->pending = false;
        st->pending_next = NULL;
}

static void stream_fields_drop(Stream *st) {
        st->buf = mfree(st->buf);
        st->fields = mfree(st->fields);
        st->buf_len = st->buf_allocated = st->n_fields = st->n_fields_allocated = 0;
}

static Stream *stream_free(Stream *st) {
        Http2Session *s;

        if (!st)
                return NULL;
        s = st->session;
        pending_remove(s, st);
        if (st->prev)
                st->prev->next = st->next;
        else
                s->streams = st->next;
        if (st->next)
                st->next->prev = st->prev;
        stream_fields_drop(st);
        http_request_free(st->request);
        free(st);
        return NULL;
}

/* Resets a stream from inside the session; charge when the client caused it (a malformed request), so that
 * it costs a token from the reset bucket. */
static int stream_reject(Http2Session *s, Stream *st, uint32_t code, bool charge) {
        st->reset = true;
        if (nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, st->id, code) < 0)
                return NGHTTP2_ERR_CALLBACK_FAILURE;
        if (charge && !reset_charge(s))
                return NGHTTP2_ERR_CALLBACK_FAILURE;
        return 0;
}

static int buf_put(Stream *st, const uint8_t *p, size_t n, size_t *ret_off) {
        if (st->buf_allocated - st->buf_len < n + 1) {
                size_t want = MAX(st->buf_allocated * 2, st->buf_len + n + 1);
                uint8_t *b = realloc(st->buf, MAX(want, (size_t) 256));

                if (!b)
                        return -ENOMEM;
                st->buf = b;
                st->buf_allocated = MAX(want, (size_t) 256);
        }
        if (n > 0)
                memcpy(st->buf + st->buf_len, p, n);
        st->buf[st->buf_len + n] = 0;
        *ret_off = st->buf_len;
        st->buf_len += n + 1;
        return 0;
}

static bool name_is_valid(const uint8_t *p, size_t n) {
        if (!http_token_is_valid((const char *) p, n))
                return false;
        for (size_t i = 0; i < n; i++)
                if (p[i] >= 'A' && p[i] <= 'Z')
                        return false;
        return true;
}

static bool value_is_valid(const uint8_t *p, size_t n) {
        if (!http_field_value_is_valid((const char *) p, n))
                return false;
        return n == 0 || (!http_char_is(p[0], HTTP_CHAR_WS) && !http_char_is(p[n - 1], HTTP_CHAR_WS));
}

static bool name_is_connection_specific(const char *p, size_t n) {
        static const char *const table[] = {
                "connection",
                "keep-alive",
                "proxy-connection",
                "transfer-encoding",
                "upgrade",
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (http_strcaseeq(p, n, table[i], strlen(table[i])))
                        return true;
        return false;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *userdata) {
        Http2Session *s = userdata;
        Stream *st;

        if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
                return 0;
        if (s->ending)
                return NGHTTP2_ERR_CALLBACK_FAILURE;

        st = calloc(1, sizeof(Stream));
        if (!st)
                return NGHTTP2_ERR_CALLBACK_FAILURE;
        st->session = s;
        st->id = frame->hd.stream_id;
        st->method = st->scheme = st->path = st->authority = st->protocol = -1;
        st->next = s->streams;
        if (s->streams)
                s->streams->prev = st;
        s->streams = st;
        if (nghttp2_session_set_stream_user_data(ng, st->id, st) < 0) {
                stream_free(st);
                return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name, size_t name_len,
        const uint8_t *value, size_t value_len, uint8_t flags, void *userdata) {
        Http2Session *s = userdata;
        Stream *st = stream_get(s, frame->hd.stream_id);
        size_t name_off, value_off, d;
        ssize_t *pseudo = NULL;

        (void) ng;
        (void) flags;

        if (!st)
                return 0;

        /* Counted before anything else, for rejected streams and trailers too: decoding goes on either way,
         * and a block that decodes to far more than any request may hold is an HPACK bomb. */
        d = name_len + value_len + 4;
        if (!ADD_SAFE(&st->decoded, st->decoded, d) || st->decoded > 2 * s->limits.header_bytes_max) {
                session_calm(s);
                return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        if (st->rejected || st->reset)
                return 0;
        if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
                /* trailers: checked by nghttp2, held to the limits, then dropped */
                if (st->decoded > s->limits.header_bytes_max) {
                        st->rejected = true;
                        return stream_reject(s, st, NGHTTP2_PROTOCOL_ERROR, true);
                }
                return 0;
        }

        if (st->decoded > s->limits.header_bytes_max || value_len > s->limits.header_value_max)
                goto reject;

        if (name_len > 0 && name[0] == ':') {
                if (st->pseudo_done)
                        goto reject;
                if (name_len == 7 && memcmp(name, ":method", 7) == 0)
                        pseudo = &st->method;
                else if (name_len == 7 && memcmp(name, ":scheme", 7) == 0)
                        pseudo = &st->scheme;
                else if (name_len == 5 && memcmp(name, ":path", 5) == 0)
                        pseudo = &st->path;
                else if (name_len == 10 && memcmp(name, ":authority", 10) == 0)
                        pseudo = &st->authority;
                else if (name_len == 9 && memcmp(name, ":protocol", 9) == 0)
                        pseudo = &st->protocol;
                else
                        goto reject;
                if (*pseudo >= 0)
                        goto reject;
        } else {
                st->pseudo_done = true;
                if (++st->n_regular > s->limits.header_count_max)
                        goto reject;
                if (!name_is_valid(name, name_len) ||
                        name_is_connection_specific((const char *) name, name_len))
                        goto reject;
                if (name_len == 2 && memcmp(name, "te", 2) == 0 &&
                        !(value_len == 8 && memcmp(value, "trailers", 8) == 0))
                        goto reject;
        }
        if (!value_is_valid(value, value_len))
                goto reject;

        if (st->n_fields == st->n_fields_allocated) {
                size_t k = MAX(st->n_fields_allocated * 2, (size_t) 16);
                Field *f = reallocarray(st->fields, k, sizeof(Field));

                if (!f)
                        return NGHTTP2_ERR_CALLBACK_FAILURE;
                st->fields = f;
                st->n_fields_allocated = k;
        }
        if (buf_put(st, name, name_len, &name_off) < 0 || buf_put(st, value, value_len, &value_off) < 0)
                return NGHTTP2_ERR_CALLBACK_FAILURE;
        if (pseudo)
                *pseudo = (ssize_t) st->n_fields;
        st->fields[st->n_fields++] = (Field){name_off, name_len, value_off, value_len};
        return 0;

reject:
        /* The RST_STREAM goes out once the block is decoded (check_head()); nothing more is kept. */
        st->rejected = true;
        stream_fields_drop(st);
        return 0;
}

static const char *field_name(const Stream *st, size_t i) {
        return (const char *) st->buf + st->fields[i].name_off;
}

static const char *field_value(const Stream *st, size_t i) {
        return (const char *) st->buf + st->fields[i].value_off;
}

/* The protocols an extended CONNECT (RFC 8441) may name: HttpRequest.protocol points at one of these, so that
 * the request needs no copy of it. Anything else is refused like any malformed head. */
static const char *protocol_lookup(const char *p, size_t n) {
        static const char *const table[] = {
                "websocket",
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (http_strcaseeq(p, n, table[i], strlen(table[i])))
                        return table[i];
        return NULL;
}

/* The whole head is here: the checks that need all of it, then the request. -EBADMSG for a malformed one. */
static int head_build(Stream *st, bool end_stream, HttpRequest **ret) {
        _cleanup_free_ HttpHeader *headers = NULL;
        _cleanup_free_ char *cookie = NULL;
        const char *authority = NULL, *path, *cl = NULL;
        size_t authority_len = 0, path_len, n = 0, cookie_len = 0, n_cookies = 0, first_cookie = SIZE_MAX;
        uint64_t content_length = 0;
        const char *protocol = NULL;
        HttpMethod method;
        HttpFraming framing;
        ssize_t host = -1;
        int r;

        if (st->method < 0 || st->scheme < 0 || st->path < 0)
                return -EBADMSG;
        method = http_method_from_string(field_value(st, st->method), st->fields[st->method].value_len);
        if (method < 0)
                return -EBADMSG;
        /* RFC 8441 §4: CONNECT with :protocol names a tunnel to a resource, with :scheme, :path and
         * :authority like any request; a plain CONNECT (a TCP tunnel to :authority) is not served */
        if ((method == HTTP_METHOD_CONNECT) != (st->protocol >= 0))
                return -EBADMSG;
        if (st->protocol >= 0) {
                protocol = protocol_lookup(field_value(st, st->protocol), st->fields[st->protocol].value_len);
                if (!protocol || st->authority < 0 || end_stream)
                        return -EBADMSG;
        }
        if (!streq(field_value(st, st->scheme), "https") && !streq(field_value(st, st->scheme), "http"))
                return -EBADMSG;

        path = field_value(st, st->path);
        path_len = st->fields[st->path].value_len;
        if (path_len == 0)
                return -EBADMSG;
        if (path_len == 1 && path[0] == '*') {
                if (method != HTTP_METHOD_OPTIONS)
                        return -EBADMSG;
        } else if (path[0] != '/')
                return -EBADMSG;
        for (size_t i = 0; i < path_len; i++)
                if (!http_char_is((uint8_t) path[i], HTTP_CHAR_TARGET))
                        return -EBADMSG;

        if (st->authority >= 0) {
                authority = field_value(st, st->authority);
                authority_len = st->fields[st->authority].value_len;
                if (authority_len == 0 || !http_host_is_valid(authority, authority_len))
                        return -EBADMSG;
        }

        headers = calloc(st->n_fields + 1, sizeof(HttpHeader));
        if (!headers)
                return -ENOMEM;
        for (size_t i = 0; i < st->n_fields; i++) {
                const char *name = field_name(st, i), *value = field_value(st, i);
                size_t value_len = st->fields[i].value_len;

                if (name[0] == ':')
                        continue;
                if (streq(name, "host")) {
                        if (host >= 0 || value_len == 0 || !http_host_is_valid(value, value_len))
                                return -EBADMSG;
                        host = (ssize_t) i;
                }
                if (streq(name, "content-length")) {
                        /* nghttp2 has checked it: digits only, one value, and it will match the DATA */
                        if (cl)
                                return -EBADMSG;
                        cl = value;
                        content_length = strtoull(value, NULL, 10);
                }
                if (streq(name, "cookie")) {
                        /* RFC 9113 §8.2.3: crumbs become one field again, joined by "; " */
                        char *c = realloc(cookie, cookie_len + 2 + value_len + 1);

                        if (!c)
                                return -ENOMEM;
                        cookie = c;
                        if (n_cookies++ > 0) {
                                memcpy(cookie + cookie_len, "; ", 2);
                                cookie_len += 2;
                        }
                        memcpy(cookie + cookie_len, value, value_len);
                        cookie_len += value_len;
                        cookie[cookie_len] = 0;
                        if (first_cookie != SIZE_MAX)
                                continue;
                        first_cookie = n;
                }
                headers[n++] = (HttpHeader){
                        .name = name,
                        .name_len = st->fields[i].name_len,
                        .value = value,
                        .value_len = value_len,
                };
        }
        if (n_cookies > 1) {
                headers[first_cookie].value = cookie;
                headers[first_cookie].value_len = cookie_len;
        }

        if (host >= 0) {
                const char *h = field_value(st, host);
                size_t h_len = st->fields[host].value_len;

                if (authority && !http_strcaseeq(authority, authority_len, h, h_len))
                        return -EBADMSG;
                authority = h;
                authority_len = h_len;
        }

        framing = end_stream ? HTTP_FRAMING_NONE : cl ? HTTP_FRAMING_LENGTH : HTTP_FRAMING_CHUNKED;
        if (end_stream && cl && content_length != 0)
                return -EBADMSG;
        if (protocol && cl)
                return -EBADMSG; /* a tunnel's bytes have no length */
        if (framing == HTTP_FRAMING_LENGTH && content_length > st->session->limits.body_max)
                return -EBADMSG;

        r = http_request_new_http2(
                method, path, path_len, authority, authority_len, headers, n, framing, content_length, ret);
        if (r < 0)
                return r;
        (*ret)->protocol = protocol;
        st->tunnel = protocol != NULL;
        return 0;
}

static int request_end(Http2Session *s, Stream *st) {
        if (!st->surfaced) {
                st->end_pending = true;
                return 0;
        }
        if (st->reset)
                return 0;
        if (s->cb.on_request_end && s->cb.on_request_end(s, st->id, s->userdata) < 0)
                return stream_reject(s, st, NGHTTP2_INTERNAL_ERROR, false);
        return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *userdata) {
        Http2Session *s = userdata;
        Stream *st = stream_get(s, frame->hd.stream_id);
        bool end_stream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
        int r;

        (void) ng;

        switch (frame->hd.type) {
        case NGHTTP2_HEADERS:
                if (!st || st->reset)
                        return 0;
                if (frame->headers.cat != NGHTTP2_HCAT_REQUEST)
                        return end_stream ? request_end(s, st) : 0;
                if (!st->rejected) {
                        r = head_build(st, end_stream, &st->request);
                        if (r == -ENOMEM)
                                return NGHTTP2_ERR_CALLBACK_FAILURE;
                        if (r < 0)
                                st->rejected = true;
                }
                stream_fields_drop(st);
                if (st->rejected)
                        return stream_reject(s, st, NGHTTP2_PROTOCOL_ERROR, true);
                st->pending = true;
                if (s->pending_tail)
                        s->pending_tail->pending_next = st;
                else
                        s->pending_head = st;
                s->pending_tail = st;
                st->end_pending = end_stream;
                return 0;

        case NGHTTP2_DATA:
                if (st && !st->reset && end_stream)
                        return request_end(s, st);
                return 0;

        case NGHTTP2_RST_STREAM:
                if (st)
                        st->reset = true;
                return reset_charge(s) ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;

        default:
                return 0;
        }
}

/* nghttp2 found a stream error (malformed message, content-length ≠ DATA, …) and resets the stream. */
static int on_invalid_frame_recv(
        nghttp2_session *ng, const nghttp2_frame *frame, int lib_error_code, void *userdata) {
        Http2Session *s = userdata;
        Stream *st = stream_get(s, frame->hd.stream_id);

        (void) ng;
        (void) lib_error_code;

        if (frame->hd.stream_id == 0)
                return 0;
        if (st)
                st->reset = true;
        return reset_charge(s) ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int on_data_chunk_recv(nghttp2_session *ng, uint8_t flags, int32_t stream_id, const uint8_t *data,
        size_t len, void *userdata) {
        Http2Session *s = userdata;
        Stream *st = stream_get(s, stream_id);

        (void) flags;

        if (st && st->pending && !st->reset) {
                /* (2): the head goes first; nghttp2 keeps data valid until the next mem_recv() */
                s->paused_stream = stream_id;
                s->paused_data = data;
                s->paused_len = len;
                s->paused = true;
                return NGHTTP2_ERR_PAUSE;
        }
        if (!st || !st->surfaced || st->reset) {
                if (nghttp2_session_consume(ng, stream_id, len) < 0)
                        (void) nghttp2_session_consume_connection(ng, len);
                return 0;
        }
        st->unconsumed += len;
        if (!ADD_SAFE(&st->received, st->received, (uint64_t) len) ||
                (st->received > s->limits.body_max && !st->tunnel))
                /* only bodies of unknown length get here: nghttp2 holds the others to their content-length
                 */
                return stream_reject(s, st, NGHTTP2_ENHANCE_YOUR_CALM, false);
        if (s->cb.on_request_body && len > 0 &&
                s->cb.on_request_body(s, stream_id, data, len, s->userdata) < 0)
                return stream_reject(s, st, NGHTTP2_INTERNAL_ERROR, false);
        return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t stream_id, uint32_t error_code, void *userdata) {
        Http2Session *s = userdata;
        Stream *st = stream_get(s, stream_id);

        if (!st)
                return 0;
        (void) nghttp2_session_set_stream_user_data(ng, stream_id, NULL);
        if (st->unconsumed > 0)
                (void) nghttp2_session_consume_connection(ng, st->unconsumed);
        if (st->surfaced && s->cb.on_stream_close)
                s->cb.on_stream_close(s, stream_id, error_code, s->userdata);
        stream_free(st);
        return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *userdata) {
        Http2Session *s = userdata;

        (void) ng;

        if (frame->hd.type == NGHTTP2_GOAWAY)
                s->goaway_code = frame->goaway.error_code;
        return 0;
}

static ssize_t read_body(nghttp2_session *ng, int32_t stream_id, uint8_t *buf, size_t length,
        uint32_t *data_flags, nghttp2_data_source *source, void *userdata) {
        Http2Session *s = userdata;
        size_t n = 0;
        bool eof = false;
        int r;

        (void) ng;
        (void) source;

        if (!s->cb.read_response_body)
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        r = s->cb.read_response_body(s, stream_id, buf, length, &n, &eof, s->userdata);
        if (r == -EAGAIN)
                return NGHTTP2_ERR_DEFERRED;
        if (r < 0 || n > length)
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        if (eof)
                *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        else if (n == 0)
                return NGHTTP2_ERR_DEFERRED;
        return (ssize_t) n;
}

static int check_limits(const HttpLimits *l) {
        if (http_limits_check(l) < 0)
                return -EINVAL;
        if (l->h2_concurrent_streams_max == 0 || l->h2_stream_window == 0 ||
                l->h2_stream_window > INT32_MAX || l->h2_connection_window < 65535 ||
                l->h2_connection_window > INT32_MAX || l->h2_reset_burst == 0 || l->h2_reset_rate == 0 ||
                l->h2_reset_rate > USEC_PER_SEC || l->h2_continuation_max == 0)
                return -EINVAL;
        return 0;
}

int http2_session_new(const HttpLimits *limits, const Http2SessionCallbacks *callbacks, void *userdata,
        Http2Session **ret) {
        _cleanup_(http2_session_freep) Http2Session *s = NULL;
        nghttp2_session_callbacks *cbs = NULL;
        nghttp2_option *opt = NULL;
        HttpLimits l = limits ? *limits : HTTP_LIMITS_DEFAULT;
        nghttp2_settings_entry settings[4];
        int r;

        assert(callbacks);
        assert(ret);

        if (check_limits(&l) < 0)
                return -EINVAL;

        s = calloc(1, sizeof(Http2Session));
        if (!s)
                return -ENOMEM;
        s->limits = l;
        s->cb = *callbacks;
        s->userdata = userdata;
        s->goaway_code = -1;

        if (nghttp2_session_callbacks_new(&cbs) != 0)
                return -ENOMEM;
        nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
        nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, on_invalid_frame_recv);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
        nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);

        if (nghttp2_option_new(&opt) != 0) {
                nghttp2_session_callbacks_del(cbs);
                return -ENOMEM;
        }
        nghttp2_option_set_no_auto_window_update(opt, 1);
        nghttp2_option_set_max_settings(opt, HTTP2_SETTINGS_ENTRIES_MAX);
        nghttp2_option_set_max_outbound_ack(opt, HTTP2_OUTBOUND_ACK_MAX);
        nghttp2_option_set_max_continuations(opt, l.h2_continuation_max);
        /* a backstop only: ours (reset_charge()) is stricter and counts more */
        nghttp2_option_set_stream_reset_rate_limit(
                opt, 2 * (uint64_t) l.h2_reset_burst, 2 * (uint64_t) l.h2_reset_rate);

        r = nghttp2_session_server_new2(&s->ng, cbs, s, opt);
        nghttp2_session_callbacks_del(cbs);
        nghttp2_option_del(opt);
        if (r != 0)
                return -ENOMEM;

        settings[0] = (nghttp2_settings_entry){
                NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, l.h2_concurrent_streams_max};
        settings[1] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, l.h2_stream_window};
        settings[2] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
                (uint32_t) MIN(l.header_bytes_max, (size_t) UINT32_MAX)};
        /* RFC 8441: WebSockets over HTTP/2, by extended CONNECT */
        settings[3] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1};
        if (nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, settings, ELEMENTSOF(settings)) != 0)
                return -ENOMEM;
        if (nghttp2_session_set_local_window_size(
                    s->ng, NGHTTP2_FLAG_NONE, 0, (int32_t) l.h2_connection_window) != 0)
                return -ENOMEM;

        *ret = TAKE_PTR(s);
        return 0;
}

Http2Session *http2_session_free(Http2Session *s) {
        if (!s)
                return NULL;
        for (Stream *st = s->streams; st; st = st->next)
                if (st->surfaced && s->cb.on_stream_close)
                        s->cb.on_stream_close(s, st->id, NGHTTP2_CANCEL, s->userdata);
        while (s->streams)
                stream_free(s->streams);
        nghttp2_session_del(s->ng);
        free(s->out);
        free(s);
        return NULL;
}

/* (2): surfaces the PENDING heads that are still wanted, then a held-back DATA chunk. */
static int flush_pending(Http2Session *s) {
        Stream *st;

        while ((st = s->pending_head)) {
                _cleanup_(http_request_freep) HttpRequest *req = TAKE_PTR(st->request);
                int32_t id = st->id;

                pending_remove(s, st);
                if (st->reset)
                        continue;
                st->surfaced = true;
                if (s->cb.on_request_head && s->cb.on_request_head(s, id, TAKE_PTR(req), s->userdata) < 0) {
                        if (stream_reject(s, st, NGHTTP2_INTERNAL_ERROR, false) < 0)
                                return -ECONNRESET;
                        continue;
                }
                if (st->end_pending && request_end(s, st) < 0)
                        return -ECONNRESET;
        }

        if (s->paused_stream > 0) {
                int32_t id = s->paused_stream;
                int r;

                s->paused_stream = 0;
                r = on_data_chunk_recv(s->ng, 0, id, s->paused_data, s->paused_len, s);
                if (r < 0)
                        return -ECONNRESET;
        }
        return 0;
}

int http2_session_feed(Http2Session *s, const void *data, size_t n) {
        const uint8_t *p = data;
        ssize_t k;

        assert(s);
        assert(data || n == 0);
        assert(!s->in_feed);

        s->in_feed = true;
        /* after a pause nghttp2 finishes the frame (END_STREAM, content-length) only when called again */
        while ((n > 0 || s->paused) && !s->ending) {
                s->paused = false;
                k = nghttp2_session_mem_recv(s->ng, p, n);
                if (k < 0) {
                        s->in_feed = false;
                        if (k == NGHTTP2_ERR_NOMEM)
                                return -ENOMEM;
                        if (k == NGHTTP2_ERR_FLOODED || k == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS)
                                session_calm(s);
                        else if (!s->ending)
                                (void) nghttp2_session_terminate_session(s->ng, NGHTTP2_PROTOCOL_ERROR);
                        s->ending = true;
                        return 1;
                }
                p += k;
                n -= (size_t) k;
                if (flush_pending(s) < 0)
                        s->ending = true;
        }
        if (!s->ending && flush_pending(s) < 0)
                s->ending = true;
        s->in_feed = false;
        return http2_session_want_close(s) ? 1 : 0;
}

int http2_session_pending_output(Http2Session *s, const uint8_t **ret, size_t *ret_n) {
        assert(s);
        assert(ret);
        assert(ret_n);

        /* nghttp2 cannot send from inside its receive callbacks: output waits for feed() to return */
        if (s->in_feed)
                return 0;

        if (s->out_off >= s->out_len) {
                s->out_off = s->out_len = 0;
                while (s->out_len < OUTPUT_CHUNK) {
                        const uint8_t *d;
                        ssize_t k = nghttp2_session_mem_send(s->ng, &d);

                        if (k < 0) {
                                s->ending = true;
                                if (k == NGHTTP2_ERR_NOMEM)
                                        return -ENOMEM;
                                break;
                        }
                        if (k == 0)
                                break;
                        if (s->out_allocated - s->out_len < (size_t) k) {
                                size_t want = MAX(s->out_allocated * 2, s->out_len + (size_t) k);
                                uint8_t *o = realloc(s->out, want);

                                if (!o)
                                        return -ENOMEM;
                                s->out = o;
                                s->out_allocated = want;
                        }
                        memcpy(s->out + s->out_len, d, (size_t) k);
                        s->out_len += (size_t) k;
                }
        }
        if (s->out_off >= s->out_len)
                return 0;
        *ret = s->out + s->out_off;
        *ret_n = s->out_len - s->out_off;
        return 1;
}

void http2_session_output_done(Http2Session *s, size_t n) {
        assert(s);
        assert(n <= s->out_len - s->out_off);

        s->out_off += n;
}

int http2_session_submit_response(
        Http2Session *s, int32_t stream_id, int status, const HttpHeader *headers, size_t n, bool has_body) {
        _cleanup_free_ nghttp2_nv *nva = NULL;
        nghttp2_data_provider prd = {.read_callback = read_body};
        char st_buf[4];
        Stream *st;

        assert(s);
        assert(headers || n == 0);

        if (status < 100 || status > 599 || status == 101)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (!name_is_valid((const uint8_t *) headers[i].name, headers[i].name_len) ||
                        name_is_connection_specific(headers[i].name, headers[i].name_len) ||
                        http_strcaseeq(headers[i].name, headers[i].name_len, "te", 2) ||
                        !value_is_valid((const uint8_t *) headers[i].value, headers[i].value_len))
                        return -EINVAL;
        }

        st = stream_get(s, stream_id);
        if (!st || !st->surfaced || st->reset)
                return -ENOENT;
        if (st->answered)
                return -EALREADY;

        nva = calloc(n + 1, sizeof(nghttp2_nv));
        if (!nva)
                return -ENOMEM;
        (void) snprintf(st_buf, sizeof(st_buf), "%03d", status);
        nva[0] = (nghttp2_nv){(uint8_t *) ":status", (uint8_t *) st_buf, 7, 3, NGHTTP2_NV_FLAG_NONE};
        for (size_t i = 0; i < n; i++)
                nva[i + 1] = (nghttp2_nv){
                        (uint8_t *) headers[i].name,
                        (uint8_t *) headers[i].value,
                        headers[i].name_len,
                        headers[i].value_len,
                        NGHTTP2_NV_FLAG_NONE,
                };
        if (nghttp2_submit_response(s->ng, stream_id, nva, n + 1, has_body ? &prd : NULL) != 0)
                return -ENOMEM;
        st->answered = true;
        return 0;
}

int http2_session_resume_data(Http2Session *s, int32_t stream_id) {
        assert(s);

        if (!stream_get(s, stream_id))
                return -ENOENT;
        (void) nghttp2_session_resume_data(s->ng, stream_id);
        return 0;
}

int http2_session_consume(Http2Session *s, int32_t stream_id, size_t n) {
        Stream *st;

        assert(s);

        st = stream_get(s, stream_id);
        if (!st || !st->surfaced)
                return -ENOENT;
        n = (size_t) MIN((uint64_t) n, st->unconsumed);
        st->unconsumed -= n;
        if (nghttp2_session_consume(s->ng, stream_id, n) != 0)
                return -ENOMEM;
        return 0;
}

int http2_session_reset_stream(Http2Session *s, int32_t stream_id, uint32_t error_code) {
        Stream *st;

        assert(s);

        st = stream_get(s, stream_id);
        if (!st || st->reset)
                return -ENOENT;
        st->reset = true;
        if (nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, stream_id, error_code) != 0)
                return -ENOMEM;
        return 0;
}

int http2_session_terminate(Http2Session *s, uint32_t error_code) {
        assert(s);

        s->ending = true;
        if (nghttp2_session_terminate_session(s->ng, error_code) != 0)
                return -ENOMEM;
        return 0;
}

bool http2_session_want_close(Http2Session *s) {
        assert(s);

        return s->ending || !nghttp2_session_want_read(s->ng);
}

int64_t http2_session_goaway_code(const Http2Session *s) {
        assert(s);
        return s->goaway_code;
}
