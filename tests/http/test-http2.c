/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "basic/string-util.h"
#include "http/http2.h"

/* What the server's callbacks saw, as text, plus the last request surfaced. */
typedef struct Rec {
        char log[8192];
        HttpRequest *req;
        size_t n_heads;
        uint8_t body[300000];
        size_t body_len;
        /* the response body read_response_body hands out */
        const char *resp;
        size_t resp_len, resp_off;
        bool defer;
} Rec;

static void rec_log(Rec *r, const char *fmt, ...) _printf_(2, 3);
static void rec_log(Rec *r, const char *fmt, ...) {
        size_t l = strlen(r->log);
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(r->log + l, sizeof(r->log) - l, fmt, ap);
        va_end(ap);
}

static int on_head(Http2Session *s, int32_t id, HttpRequest *req, void *userdata) {
        Rec *r = userdata;

        (void) s;
        rec_log(r, "head %d %s %s\n", id, http_method_to_string(req->method), req->path);
        http_request_free(r->req);
        r->req = req;
        r->n_heads++;
        return 0;
}

static int on_body(Http2Session *s, int32_t id, const uint8_t *data, size_t n, void *userdata) {
        Rec *r = userdata;

        (void) s;
        (void) id;
        assert_true(r->body_len + n <= sizeof(r->body));
        memcpy(r->body + r->body_len, data, n);
        r->body_len += n;
        return 0;
}

static int on_end(Http2Session *s, int32_t id, void *userdata) {
        (void) s;
        rec_log(userdata, "end %d\n", id);
        return 0;
}

static void on_close(Http2Session *s, int32_t id, uint32_t code, void *userdata) {
        (void) s;
        rec_log(userdata, "close %d %u\n", id, code);
}

static int read_resp(
        Http2Session *s, int32_t id, uint8_t *buf, size_t n, size_t *ret_n, bool *ret_eof, void *userdata) {
        Rec *r = userdata;
        size_t k;

        (void) s;
        (void) id;
        if (r->defer)
                return -EAGAIN;
        k = MIN(n, r->resp_len - r->resp_off);
        memcpy(buf, r->resp + r->resp_off, k);
        r->resp_off += k;
        *ret_n = k;
        *ret_eof = r->resp_off == r->resp_len;
        return 0;
}

static const Http2SessionCallbacks callbacks = {
        .on_request_head = on_head,
        .on_request_body = on_body,
        .on_request_end = on_end,
        .on_stream_close = on_close,
        .read_response_body = read_resp,
};

/* The client side: an nghttp2 client session, recording what it receives. */
typedef struct Client {
        nghttp2_session *ng;
        char log[4096];
        uint8_t body[300000];
        size_t body_len;
        const uint8_t *req_body;
        size_t req_body_len, req_body_off;
        bool req_open; /* the request body goes on after req_body: defer instead of ending it */
} Client;

static void client_log(Client *c, const char *fmt, ...) _printf_(2, 3);
static void client_log(Client *c, const char *fmt, ...) {
        size_t l = strlen(c->log);
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(c->log + l, sizeof(c->log) - l, fmt, ap);
        va_end(ap);
}

static int c_on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name, size_t name_len,
        const uint8_t *value, size_t value_len, uint8_t flags, void *userdata) {
        (void) ng;
        (void) flags;
        client_log(userdata, "%d %.*s: %.*s\n", frame->hd.stream_id, (int) name_len, name, (int) value_len,
                value);
        return 0;
}

static int c_on_data(
        nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *userdata) {
        Client *c = userdata;

        (void) ng;
        (void) flags;
        (void) id;
        memcpy(c->body + c->body_len, data, len);
        c->body_len += len;
        return 0;
}

static int c_on_frame(nghttp2_session *ng, const nghttp2_frame *frame, void *userdata) {
        (void) ng;
        if (frame->hd.type == NGHTTP2_GOAWAY)
                client_log(userdata, "goaway %u\n", frame->goaway.error_code);
        if (frame->hd.type == NGHTTP2_RST_STREAM)
                client_log(userdata, "rst %d %u\n", frame->hd.stream_id, frame->rst_stream.error_code);
        return 0;
}

static ssize_t c_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
        nghttp2_data_source *source, void *userdata) {
        Client *c = userdata;
        size_t k = MIN(length, c->req_body_len - c->req_body_off);

        (void) ng;
        (void) id;
        (void) source;
        if (k == 0 && c->req_open)
                return NGHTTP2_ERR_DEFERRED;
        memcpy(buf, c->req_body + c->req_body_off, k);
        c->req_body_off += k;
        if (c->req_body_off == c->req_body_len && !c->req_open)
                *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t) k;
}

static void client_init(Client *c) {
        nghttp2_session_callbacks *cbs;

        memset(c, 0, sizeof(*c));
        assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
        nghttp2_session_callbacks_set_on_header_callback(cbs, c_on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, c_on_data);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, c_on_frame);
        assert_int_equal(nghttp2_session_client_new(&c->ng, cbs, c), 0);
        nghttp2_session_callbacks_del(cbs);
        assert_int_equal(nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

/* Moves bytes both ways until neither side has anything to say. */
static void pump(Http2Session *s, Client *c) {
        for (bool more = true; more;) {
                const uint8_t *p;
                size_t n;
                ssize_t k;

                more = false;
                while ((k = nghttp2_session_mem_send(c->ng, &p)) > 0) {
                        assert_true(http2_session_feed(s, p, (size_t) k) >= 0);
                        more = true;
                }
                while (http2_session_pending_output(s, &p, &n) > 0) {
                        assert_int_equal(nghttp2_session_mem_recv(c->ng, p, n), (ssize_t) n);
                        http2_session_output_done(s, n);
                        more = true;
                }
        }
}

#define NV(n, v)                                                                                            \
        { (uint8_t *) (n), (uint8_t *) (v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE }

static void test_get(void **state) {
        _cleanup_(http2_session_freep) Http2Session *s = NULL;
        static Rec r;
        Client c;
        const nghttp2_nv nva[] = {
                NV(":method", "GET"),
                NV(":scheme", "https"),
                NV(":path", "/a/b?c=d"),
                NV(":authority", "example.com"),
                NV("accept", "text/html"),
                NV("cookie", "a=1"),
                NV("x-thing", "1"),
                NV("cookie", "b=2"),
        };
        const HttpHeader resp[] = {{"content-type", 12, "text/plain", 10}};
        int32_t id;

        (void) state;
        memset(&r, 0, sizeof(r));
        r.resp = "hello";
        r.resp_len = 5;
        assert_int_equal(http2_session_new(NULL, &callbacks, &r, &s), 0);
        client_init(&c);
        id = nghttp2_submit_request(c.ng, NULL, nva, ELEMENTSOF(nva), NULL, NULL);
        assert_int_equal(id, 1);
        pump(s, &c);

        assert_string_equal(r.log, "head 1 GET /a/b?c=d\nend 1\n");
        assert_int_equal(r.req->version, HTTP_VERSION_2);
        assert_int_equal(r.req->framing, HTTP_FRAMING_NONE);
        assert_int_equal(r.req->target_form, HTTP_TARGET_ORIGIN);
        assert_string_equal(r.req->target, "/a/b?c=d");
        assert_string_equal(r.req->authority, "example.com");
        assert_int_equal(r.req->n_headers, 3);
        assert_string_equal(r.req->headers[0].name, "accept");
        assert_string_equal(r.req->headers[0].value, "text/html");
        assert_string_equal(r.req->headers[1].name, "cookie");
        assert_string_equal(r.req->headers[1].value, "a=1; b=2");
        assert_int_equal(r.req->headers[1].value_len, 8);
        assert_string_equal(r.req->headers[2].name, "x-thing");

        assert_int_equal(http2_session_submit_response(s, 1, 200, resp, 1, true), 0);
        assert_int_equal(http2_session_submit_response(s, 1, 200, resp, 1, true), -EALREADY);
        pump(s, &c);
        assert_string_equal(c.log, "1 :status: 200\n1 content-type: text/plain\n");
        assert_int_equal(c.body_len, 5);
        assert_memory_equal(c.body, "hello", 5);
        assert_string_equal(r.log, "head 1 GET /a/b?c=d\nend 1\nclose 1 0\n");
        assert_false(http2_session_want_close(s));

        r.req = http_request_free(r.req);
        nghttp2_session_del(c.ng);
}

static void test_post(void **state) {
        _cleanup_(http2_session_freep) Http2Session *s = NULL;
        static Rec r;
        Client c;
        const nghttp2_nv nva[] = {
                NV(":method", "POST"),
                NV(":scheme", "http"),
                NV(":path", "/upload"),
                NV("host", "h.example:8080"),
                NV("content-length", "11"),
                NV("te", "trailers"),
        };
        nghttp2_data_provider prd = {.read_callback = c_read};

        (void) state;
        memset(&r, 0, sizeof(r));
        assert_int_equal(http2_session_new(NULL, &callbacks, &r, &s), 0);
        client_init(&c);
        c.req_body = (const uint8_t *) "hello world";
        c.req_body_len = 11;
        assert_int_equal(nghttp2_submit_request(c.ng, NULL, nva, ELEMENTSOF(nva), &prd, NULL), 1);
        pump(s, &c);

        assert_string_equal(r.log, "head 1 POST /upload\nend 1\n");
        assert_int_equal(r.req->framing, HTTP_FRAMING_LENGTH);
        assert_int_equal(r.req->content_length, 11);
        assert_string_equal(r.req->authority, "h.example:8080");
        assert_int_equal(r.req->n_headers, 3);
        assert_string_equal(r.req->headers[0].name, "host");
        assert_string_equal(r.req->headers[1].name, "content-length");
        assert_string_equal(r.req->headers[1].value, "11");
        assert_string_equal(r.req->headers[2].name, "te");
        assert_int_equal(r.body_len, 11);
        assert_memory_equal(r.body, "hello world", 11);

        assert_int_equal(http2_session_submit_response(s, 1, 204, NULL, 0, false), 0);
        pump(s, &c);
        assert_string_equal(c.log, "1 :status: 204\n");
        assert_string_equal(r.log, "head 1 POST /upload\nend 1\nclose 1 0\n");
        r.req = http_request_free(r.req);
        nghttp2_session_del(c.ng);
}

static void test_response_deferred(void **state) {
        _cleanup_(http2_session_freep) Http2Session *s = NULL;
        static Rec r;
        static char big[100000];
        Client c;
        const nghttp2_nv nva[] = {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"),
                NV(":authority", "a.example")};

        (void) state;
        memset(&r, 0, sizeof(r));
        for (size_t i = 0; i < sizeof(big); i++)
                big[i] = (char) ('a' + i % 26);
        r.resp = big;
        r.resp_len = sizeof(big);
        r.defer = true;
        assert_int_equal(http2_session_new(NULL, &callbacks, &r, &s), 0);
        client_init(&c);
        assert_int_equal(nghttp2_submit_request(c.ng, NULL, nva, ELEMENTSOF(nva), NULL, NULL), 1);
        pump(s, &c);
        assert_string_equal(r.req->authority, "a.example");
        assert_int_equal(http2_session_submit_response(s, 1, 200, NULL, 0, true), 0);
        pump(s, &c);
        assert_string_equal(c.log, "1 :status: 200\n");
        assert_int_equal(c.body_len, 0);
        assert_string_equal(r.log, "head 1 GET /\nend 1\n");

        /* the body is ready: resume, and the client's window (65535, opened by its own library) paces it */
        r.defer = false;
        assert_int_equal(http2_session_resume_data(s, 1), 0);
        pump(s, &c);
        assert_int_equal(c.body_len, sizeof(big));
        assert_memory_equal(c.body, big, sizeof(big));
        assert_string_equal(r.log, "head 1 GET /\nend 1\nclose 1 0\n");
        assert_int_equal(http2_session_resume_data(s, 1), -ENOENT);
        r.req = http_request_free(r.req);
        nghttp2_session_del(c.ng);
}

static void test_flow_control(void **state) {
        _cleanup_(http2_session_freep) Http2Session *s = NULL;
        static Rec r;
        static uint8_t big[200000];
        Client c;
        const nghttp2_nv nva[] = {
                NV(":method", "PUT"), NV(":scheme", "https"), NV(":path", "/f"), NV("host", "a.example")};
        nghttp2_data_provider prd = {.read_callback = c_read};

        (void) state;
        memset(&r, 0, sizeof(r));
        memset(big, 'x', sizeof(big));
        assert_int_equal(http2_session_new(NULL, &callbacks, &r, &s), 0);
        client_init(&c);
        c.req_body = big;
        c.req_body_len = sizeof(big);
        assert_int_equal(nghttp2_submit_request(c.ng, NULL, nva, ELEMENTSOF(nva), &prd, NULL), 1);
        pump(s, &c);
        /* nothing consumed: the stream's initial window and not one byte more */
        assert_int_equal(r.req->framing, HTTP_FRAMING_CHUNKED);
        assert_int_equal(r.body_len, HTTP2_STREAM_WINDOW);
        assert_string_equal(r.log, "head 1 PUT /f\n");

        assert_int_equal(http2_session_consume(s, 1, 1000), 0);
        pump(s, &c);
        /* nghttp2 sends WINDOW_UPDATE once half the window is consumed */
        assert_int_equal(r.body_len, HTTP2_STREAM_WINDOW);

        while (r.body_len < sizeof(big)) {
                size_t before = r.body_len;

                assert_int_equal(http2_session_consume(s, 1, 65535), 0);
                pump(s, &c);
                assert_true(r.body_len > before);
        }
        assert_int_equal(r.body_len, sizeof(big));
        assert_string_equal(r.log, "head 1 PUT /f\nend 1\n");
        r.req = http_request_free(r.req);
        nghttp2_session_del(c.ng);
}

/* Raw frames, for what a well-behaved client library would never send. */
typedef struct Raw {
        uint8_t b[400000];
        size_t n;
} Raw;

static void raw_frame(Raw *w, uint8_t type, uint8_t flags, int32_t id, const void *payload, size_t n) {
        uint8_t *p = w->b + w->n;

        assert_true(w->n + 9 + n <= sizeof(w->b));
        p[0] = (uint8_t) (n >> 16);
        p[1] = (uint8_t) (n >> 8);
        p[2] = (uint8_t) n;
        p[3] = type;
        p[4] = flags;
        p[5] = (uint8_t) ((uint32_t) id >> 24);
        p[6] = (uint8_t) (id >> 16);
        p[7] = (uint8_t) (id >> 8);
        p[8] = (uint8_t) id;
        if (n > 0)
                memcpy(p + 9, payload, n);
        w->n += 9 + n;
}

static void raw_start(Raw *w) {
        w->n = 0;
        memcpy(w->b, HTTP2_PREFACE, STRLEN(HTTP2_PREFACE));
        w->n = STRLEN(HTTP2_PREFACE);
        raw_frame(w, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
}

static void raw_headers(
        Raw *w, nghttp2_hd_deflater *d, int32_t id, uint8_t flags, const nghttp2_nv *nva, size_t n) {
        static uint8_t block[300000];
        ssize_t k = nghttp2_hd_deflate_hd(d, block, sizeof(block), nva, n);

        if (k <= 0)
                print_message("# deflate: %zd\n", k);
        assert_true(k > 0);
        raw_frame(w, NGHTTP2_HEADERS, flags | NGHTTP2_FLAG_END_HEADERS, id, block, (size_t) k);
}

static void raw_rst(Raw *w, int32_t id, uint32_t code) {
        uint8_t p[4] = {
                (uint8_t) (code >> 24), (uint8_t) (code >> 16), (uint8_t) (code >> 8), (uint8_t) code};

        raw_frame(w, NGHTTP2_RST_STREAM, 0, id, p, 4);
}

/* The server's frames after the input, as "SETTINGS", "rst 1 1", "goaway 11", one per line (SETTINGS
 * acknowledgements and WINDOW_UPDATE left out). Checks that the first frame is the server's SETTINGS. */
static int feed_and_scan(Http2Session *s, const Raw *w, char *out, size_t out_size) {
        static uint8_t buf[400000];
        const uint8_t *p;
        size_t n, len = 0, l = 0;
        int r;

        r = http2_session_feed(s, w->b, w->n);
        while (http2_session_pending_output(s, &p, &n) > 0) {
                assert_true(len + n <= sizeof(buf));
                memcpy(buf + len, p, n);
                len += n;
                http2_session_output_done(s, n);
        }
        out[0] = 0;
        assert_true(len >= 9);
        assert_int_equal(buf[3], NGHTTP2_SETTINGS);
        assert_int_equal(buf[4], 0);
        for (size_t i = 0; i + 9 <= len;) {
                size_t flen = (size_t) buf[i] << 16 | (size_t) buf[i + 1] << 8 | buf[i + 2];
                uint32_t id = ((uint32_t) buf[i + 5] << 24 | (uint32_t) buf[i + 6] << 16 |
                                      (uint32_t) buf[i + 7] << 8 | buf[i + 8]) &
                              0x7fffffff;
                const uint8_t *q = buf + i + 9;

                assert_true(i + 9 + flen <= len);
                if (buf[i + 3] == NGHTTP2_RST_STREAM)
                        l += (size_t) snprintf(out + l, out_size - l, "rst %u %u\n", id,
                                (unsigned) ((uint32_t) q[0] << 24 | (uint32_t) q[1] << 16 |
                                            (uint32_t) q[2] << 8 | q[3]));
                else if (buf[i + 3] == NGHTTP2_GOAWAY)
                        l += (size_t) snprintf(out + l, out_size - l, "goaway %u\n",
                                (unsigned) ((uint32_t) q[4] << 24 | (uint32_t) q[5] << 16 |
                                            (uint32_t) q[6] << 8 | q[7]));
                else if (buf[i + 3] == NGHTTP2_HEADERS)
                        l += (size_t) snprintf(out + l, out_size - l, "headers %u\n", id);
                i += 9 + flen;
                assert_true(l < out_size);
        }
        return r;
}

typedef struct Bad {
        const char *what;
        bool no_auth; /* the case sets :authority itself, or has none on purpose */
        nghttp2_nv nva[8];
        size_t n;
} Bad;

static void test_malformed(void **state) {
        static const Bad bad[] = {
                {"uppercase name", false,
                        {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"), NV("Accept", "x")},
                        4},
                {"connection", false,
                        {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"),
                                NV("connection", "close")},
                        4},
                {"keep-alive", false,
                        {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"),
                                NV("keep-alive", "5")},
                        4},
                {"proxy-connection", false,
                        {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"),
                                NV("proxy-connection", "x")},
                        4},
                {"transfer-encoding", false,
                        {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"),
                                NV("transfer-encoding", "chunked")},
                        4},
                {"upgrade", false,
                        {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"),
                                NV("upgrade", "h2c")},
                        4},
                {"te gzip", false,
                        {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"), NV("te", "gzip")},
                        4},
                {"no :path", false, {NV(":method", "GET"), NV(":scheme", "https")}, 2},
                {"no :method", false, {NV(":scheme", "https"), NV(":path", "/")}, 2},
                {"no :scheme", false, {NV(":method", "GET"), NV(":path", "/")}, 2},
                {"two :method", false,
                        {NV(":method", "GET"), NV(":method", "GET"), NV(":scheme", "https"),
                                NV(":path", "/")},
                        4},
                {"unknown pseudo", false,
                        {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"), NV(":foo", "x")},
                        4},
                {"response pseudo", false,
                        {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"),
                                NV(":status", "200")},
                        4},
                {"late pseudo", false,
                        {NV(":method", "GET"), NV(":scheme", "https"), NV("accept", "x"), NV(":path", "/")},
                        4},
                {"host mismatch", true,
                        {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"),
                                NV(":authority", "a.example"), NV("host", "b.example")},
                        5},
                {"two hosts", false,
                        {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"),
                                NV("host", "a.example"), NV("host", "a.example")},
                        5},
                {"bad authority", true,
                        {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"),
                                NV(":authority", "a b")},
                        4},
                {"CONNECT", true, {NV(":method", "CONNECT"), NV(":authority", "a.example:443")}, 2},
                {"unknown method", false, {NV(":method", "BREW"), NV(":scheme", "https"), NV(":path", "/")},
                        3},
                {"scheme ftp", false, {NV(":method", "GET"), NV(":scheme", "ftp"), NV(":path", "/")}, 3},
                {"relative path", false, {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "a")},
                        3},
                {"* not OPTIONS", false, {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "*")},
                        3},
                {"empty path", false, {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "")}, 3},
                {"value LF", false,
                        {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"), NV("x", "a\nb")},
                        4},
                {"value leading space", false,
                        {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"), NV("x", " a")}, 4},
                {"name with space", false,
                        {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"), NV("x y", "a")}, 4},
                {"content-length on empty", false,
                        {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"),
                                NV("content-length", "3")},
                        4},
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(http2_session_freep) Http2Session *s = NULL;
                nghttp2_hd_deflater *d;
                static Rec r;
                static Raw w;
                nghttp2_nv nva[9];
                char out[256];

                print_message("# %s\n", bad[i].what);
                memset(&r, 0, sizeof(r));
                assert_int_equal(http2_session_new(NULL, &callbacks, &r, &s), 0);
                assert_int_equal(nghttp2_hd_deflate_new(&d, 4096), 0);
                raw_start(&w);
                nva[0] = (nghttp2_nv) NV(":authority", "a.example");
                memcpy(nva + 1, bad[i].nva, bad[i].n * sizeof(nghttp2_nv));
                if (bad[i].no_auth)
                        raw_headers(&w, d, 1, NGHTTP2_FLAG_END_STREAM, bad[i].nva, bad[i].n);
                else
                        raw_headers(&w, d, 1, NGHTTP2_FLAG_END_STREAM, nva, bad[i].n + 1);
                assert_int_equal(feed_and_scan(s, &w, out, sizeof(out)), 0);
                assert_string_equal(out, "rst 1 1\n");
                assert_string_equal(r.log, "");
                assert_false(http2_session_want_close(s));
                nghttp2_hd_deflate_del(d);
        }
}

static void test_content_length_mismatch(void **state) {
        static const struct {
                const char *cl;
                bool split;
                const char *log;
                size_t body;
        } cases[] = {
                /* fewer bytes than announced: known only at END_STREAM, after the head and the bytes went up
                 */
                {"10", false, "head 1 POST /\nclose 1 1\n", 5},
                {"10", true, "head 1 POST /\nclose 1 1\n", 5},
                /* more: the DATA frame is refused before any byte of it is surfaced (the head is: nghttp2
                 * says nothing about the stream until its RST_STREAM goes out) */
                {"3", false, "head 1 POST /\nclose 1 1\n", 0},
                {"3", true, "head 1 POST /\nclose 1 1\n", 0},
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(http2_session_freep) Http2Session *s = NULL;
                const nghttp2_nv nva[] = {
                        NV(":method", "POST"),
                        NV(":scheme", "https"),
                        NV(":path", "/"),
                        NV(":authority", "a.example"),
                        {(uint8_t *) "content-length", (uint8_t *) cases[i].cl, 14, strlen(cases[i].cl), 0},
                };
                nghttp2_hd_deflater *d;
                static Rec r;
                static Raw w;
                char out[256];

                memset(&r, 0, sizeof(r));
                assert_int_equal(http2_session_new(NULL, &callbacks, &r, &s), 0);
                assert_int_equal(nghttp2_hd_deflate_new(&d, 4096), 0);
                raw_start(&w);
                raw_headers(&w, d, 1, 0, nva, ELEMENTSOF(nva));
                if (cases[i].split) {
                        assert_int_equal(feed_and_scan(s, &w, out, sizeof(out)), 0);
                        assert_string_equal(r.log, "head 1 POST /\n");
                        w.n = 0;
                }
                raw_frame(&w, NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 1, "12345", 5);
                if (cases[i].split) {
                        const uint8_t *p;
                        size_t n;

                        assert_int_equal(http2_session_feed(s, w.b, w.n), 0);
                        out[0] = 0;
                        while (http2_session_pending_output(s, &p, &n) > 0) {
                                /* RST_STREAM 1 PROTOCOL_ERROR */
                                if (n >= 13 && p[3] == NGHTTP2_RST_STREAM)
                                        assert_memory_equal(p, "\0\0\4\3\0\0\0\0\1\0\0\0\1", 13);
                                http2_session_output_done(s, n);
                        }
                } else {
                        assert_int_equal(feed_and_scan(s, &w, out, sizeof(out)), 0);
                        assert_string_equal(out, "rst 1 1\n");
                }
                assert_string_equal(r.log, cases[i].log);
                assert_int_equal(r.body_len, cases[i].body);
                r.req = http_request_free(r.req);
                nghttp2_hd_deflate_del(d);
        }
}

static void test_reset_before_surfaced(void **state) {
        _cleanup_(http2_session_freep) Http2Session *s = NULL;
        const nghttp2_nv nva[] = {NV(":method", "POST"), NV(":scheme", "https"), NV(":path", "/"),
                NV(":authority", "a.example")};
        nghttp2_hd_deflater *d;
        static Rec r;
        static Raw w;
        char out[256];

        (void) state;
        memset(&r, 0, sizeof(r));
        assert_int_equal(http2_session_new(NULL, &callbacks, &r, &s), 0);
        assert_int_equal(nghttp2_hd_deflate_new(&d, 4096), 0);
        raw_start(&w);
        raw_headers(&w, d, 1, 0, nva, ELEMENTSOF(nva));
        raw_rst(&w, 1, NGHTTP2_CANCEL);
        raw_headers(&w, d, 3, NGHTTP2_FLAG_END_STREAM, nva, ELEMENTSOF(nva));
        assert_int_equal(feed_and_scan(s, &w, out, sizeof(out)), 0);
        assert_string_equal(r.log, "head 3 POST /\nend 3\n");
        r.req = http_request_free(r.req);
        nghttp2_hd_deflate_del(d);
}

static void test_rapid_reset(void **state) {
        _cleanup_(http2_session_freep) Http2Session *s = NULL;
        HttpLimits l = HTTP_LIMITS_DEFAULT;
        const nghttp2_nv nva[] = {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"),
                NV(":authority", "a.example")};
        nghttp2_hd_deflater *d;
        static Rec r;
        static Raw w;
        char out[256];

        (void) state;
        memset(&r, 0, sizeof(r));
        l.h2_reset_burst = 10;
        assert_int_equal(http2_session_new(&l, &callbacks, &r, &s), 0);
        assert_int_equal(nghttp2_hd_deflate_new(&d, 4096), 0);
        raw_start(&w);
        for (int32_t id = 1; id < 2 * 40; id += 2) {
                raw_headers(&w, d, id, 0, nva, ELEMENTSOF(nva));
                raw_rst(&w, id, NGHTTP2_CANCEL);
        }
        assert_int_equal(feed_and_scan(s, &w, out, sizeof(out)), 1);
        assert_string_equal(out, "goaway 11\n");
        assert_string_equal(r.log, "");
        assert_true(http2_session_want_close(s));
        assert_int_equal(http2_session_goaway_code(s), NGHTTP2_ENHANCE_YOUR_CALM);
        /* and later input is dropped */
        assert_int_equal(http2_session_feed(s, w.b, w.n), 1);
        nghttp2_hd_deflate_del(d);
}

static void test_malformed_flood(void **state) {
        /* streams that we reset cost tokens too ("made you reset") */
        _cleanup_(http2_session_freep) Http2Session *s = NULL;
        HttpLimits l = HTTP_LIMITS_DEFAULT;
        const nghttp2_nv nva[] = {
                NV(":method", "GET"),
                NV(":scheme", "https"),
                NV(":path", "/"),
                NV(":authority", "a"),
                NV("te", "x"),
        };
        nghttp2_hd_deflater *d;
        static Rec r;
        static Raw w;
        char out[1024];

        (void) state;
        memset(&r, 0, sizeof(r));
        l.h2_reset_burst = 5;
        assert_int_equal(http2_session_new(&l, &callbacks, &r, &s), 0);
        assert_int_equal(nghttp2_hd_deflate_new(&d, 4096), 0);
        raw_start(&w);
        for (int32_t id = 1; id < 2 * 20; id += 2)
                raw_headers(&w, d, id, NGHTTP2_FLAG_END_STREAM, nva, ELEMENTSOF(nva));
        assert_int_equal(feed_and_scan(s, &w, out, sizeof(out)), 1);
        /* RST_STREAM frames still queued may be dropped once GOAWAY is decided: only its code matters */
        assert_non_null(strstr(out, "goaway 11\n"));
        assert_null(strstr(out, "rst 13 "));
        assert_string_equal(r.log, "");
        nghttp2_hd_deflate_del(d);
}

static void test_settings_flood(void **state) {
        _cleanup_(http2_session_freep) Http2Session *s = NULL;
        static Rec r;
        static Raw w;
        char out[256];

        (void) state;
        memset(&r, 0, sizeof(r));
        assert_int_equal(http2_session_new(NULL, &callbacks, &r, &s), 0);
        raw_start(&w);
        for (size_t i = 0; i < 2 * HTTP2_OUTBOUND_ACK_MAX; i++)
                raw_frame(&w, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
        assert_int_equal(feed_and_scan(s, &w, out, sizeof(out)), 1);
        assert_string_equal(out, "goaway 11\n");
        assert_true(http2_session_want_close(s));
}

static void test_ping_flood(void **state) {
        _cleanup_(http2_session_freep) Http2Session *s = NULL;
        static Rec r;
        static Raw w;
        char out[256];

        (void) state;
        memset(&r, 0, sizeof(r));
        assert_int_equal(http2_session_new(NULL, &callbacks, &r, &s), 0);
        raw_start(&w);
        for (size_t i = 0; i < 2 * HTTP2_OUTBOUND_ACK_MAX; i++)
                raw_frame(&w, NGHTTP2_PING, 0, 0, "12345678", 8);
        assert_int_equal(feed_and_scan(s, &w, out, sizeof(out)), 1);
        assert_string_equal(out, "goaway 11\n");
}

static void test_settings_too_many_entries(void **state) {
        _cleanup_(http2_session_freep) Http2Session *s = NULL;
        static Rec r;
        static Raw w;
        uint8_t p[6 * (HTTP2_SETTINGS_ENTRIES_MAX + 1)];
        char out[256];

        (void) state;
        memset(&r, 0, sizeof(r));
        for (size_t i = 0; i < HTTP2_SETTINGS_ENTRIES_MAX + 1; i++)
                memcpy(p + 6 * i, "\x00\x03\x00\x00\x00\x64", 6); /* MAX_CONCURRENT_STREAMS 100 */
        assert_int_equal(http2_session_new(NULL, &callbacks, &r, &s), 0);
        raw_start(&w);
        raw_frame(&w, NGHTTP2_SETTINGS, 0, 0, p, sizeof(p));
        /* nghttp2 decides this one itself: the GOAWAY is there once the output is read */
        assert_int_equal(feed_and_scan(s, &w, out, sizeof(out)), 0);
        assert_string_equal(out, "goaway 11\n");
        assert_true(http2_session_want_close(s));
}

static void test_continuation_flood(void **state) {
        _cleanup_(http2_session_freep) Http2Session *s = NULL;
        static Rec r;
        static Raw w;
        char out[256];

        (void) state;
        memset(&r, 0, sizeof(r));
        assert_int_equal(http2_session_new(NULL, &callbacks, &r, &s), 0);
        raw_start(&w);
        /* :method GET, :scheme https, :path / from the static table; then accept-encoding, again and again
         */
        raw_frame(&w, NGHTTP2_HEADERS, 0, 1, "\x82\x87\x84", 3);
        for (size_t i = 0; i < HTTP2_CONTINUATION_MAX + 5; i++)
                raw_frame(&w, NGHTTP2_CONTINUATION, 0, 1, "\x90", 1);
        assert_int_equal(feed_and_scan(s, &w, out, sizeof(out)), 1);
        assert_string_equal(out, "goaway 11\n");
        assert_string_equal(r.log, "");
}

static void test_hpack_bomb(void **state) {
        _cleanup_(http2_session_freep) Http2Session *s = NULL;
        static char big[2000];
        static nghttp2_nv nva[100];
        nghttp2_hd_deflater *d;
        static Rec r;
        static Raw w;
        char out[256];

        (void) state;
        memset(&r, 0, sizeof(r));
        memset(big, 'a', sizeof(big));
        nva[0] = (nghttp2_nv) NV(":method", "GET");
        nva[1] = (nghttp2_nv) NV(":scheme", "https");
        nva[2] = (nghttp2_nv) NV(":path", "/");
        for (size_t i = 3; i < ELEMENTSOF(nva); i++)
                nva[i] =
                        (nghttp2_nv){(uint8_t *) "x", (uint8_t *) big, 1, sizeof(big), NGHTTP2_NV_FLAG_NONE};
        assert_int_equal(http2_session_new(NULL, &callbacks, &r, &s), 0);
        assert_int_equal(nghttp2_hd_deflate_new(&d, 4096), 0);
        raw_start(&w);
        /* a block of ~2 KiB that decodes to 97 × 2000 bytes */
        raw_headers(&w, d, 1, NGHTTP2_FLAG_END_STREAM, nva, ELEMENTSOF(nva));
        assert_true(w.n < 8192);
        assert_int_equal(feed_and_scan(s, &w, out, sizeof(out)), 1);
        assert_string_equal(out, "goaway 11\n");
        assert_string_equal(r.log, "");
        nghttp2_hd_deflate_del(d);
}

static void test_header_limits(void **state) {
        HttpLimits l = HTTP_LIMITS_DEFAULT;
        nghttp2_nv nva[8] = {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"),
                NV(":authority", "a"), NV("a", "1"), NV("b", "2"), NV("c", "123456789")};

        (void) state;
        l.header_count_max = 2;
        l.header_value_max = 8;
        for (size_t n = 6; n <= 7; n++) {
                _cleanup_(http2_session_freep) Http2Session *s = NULL;
                nghttp2_hd_deflater *d;
                static Rec r;
                static Raw w;
                char out[256];

                memset(&r, 0, sizeof(r));
                assert_int_equal(http2_session_new(&l, &callbacks, &r, &s), 0);
                assert_int_equal(nghttp2_hd_deflate_new(&d, 4096), 0);
                raw_start(&w);
                raw_headers(&w, d, 1, NGHTTP2_FLAG_END_STREAM, nva, n);
                assert_int_equal(feed_and_scan(s, &w, out, sizeof(out)), 0);
                if (n == 6) {
                        /* at the limit */
                        assert_string_equal(out, "");
                        assert_string_equal(r.log, "head 1 GET /\nend 1\n");
                } else {
                        assert_string_equal(out, "rst 1 1\n");
                        assert_string_equal(r.log, "");
                }
                r.req = http_request_free(r.req);
                nghttp2_hd_deflate_del(d);
        }
}

static void test_body_max(void **state) {
        HttpLimits l = HTTP_LIMITS_DEFAULT;

        (void) state;
        l.body_max = 10;
        for (int with_length = 0; with_length < 2; with_length++) {
                _cleanup_(http2_session_freep) Http2Session *s = NULL;
                const nghttp2_nv nva[] = {
                        NV(":method", "PUT"),
                        NV(":scheme", "https"),
                        NV(":path", "/"),
                        NV(":authority", "a"),
                        NV("content-length", "11"),
                };
                nghttp2_hd_deflater *d;
                static Rec r;
                static Raw w;
                char out[256];
                const uint8_t *p;
                size_t n;

                memset(&r, 0, sizeof(r));
                assert_int_equal(http2_session_new(&l, &callbacks, &r, &s), 0);
                assert_int_equal(nghttp2_hd_deflate_new(&d, 4096), 0);
                raw_start(&w);
                raw_headers(&w, d, 1, 0, nva, ELEMENTSOF(nva) - !with_length);
                assert_int_equal(feed_and_scan(s, &w, out, sizeof(out)), 0);
                if (with_length) {
                        /* announced past the limit: refused before anything is surfaced */
                        assert_string_equal(out, "rst 1 1\n");
                        assert_string_equal(r.log, "");
                } else {
                        assert_string_equal(out, "");
                        assert_string_equal(r.log, "head 1 PUT /\n");
                        w.n = 0;
                        raw_frame(&w, NGHTTP2_DATA, 0, 1, "0123456789", 10);
                        raw_frame(&w, NGHTTP2_DATA, 0, 1, "x", 1);
                        assert_int_equal(http2_session_feed(s, w.b, w.n), 0);
                        while (http2_session_pending_output(s, &p, &n) > 0)
                                http2_session_output_done(s, n);
                        /* at the limit, then one past it */
                        assert_int_equal(r.body_len, 10);
                        assert_string_equal(r.log, "head 1 PUT /\nclose 1 11\n");
                }
                r.req = http_request_free(r.req);
                nghttp2_hd_deflate_del(d);
        }
}

static void test_bad_preface(void **state) {
        _cleanup_(http2_session_freep) Http2Session *s = NULL;
        static Rec r;
        const char *h1 = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

        (void) state;
        memset(&r, 0, sizeof(r));
        assert_int_equal(http2_session_new(NULL, &callbacks, &r, &s), 0);
        assert_int_equal(http2_session_feed(s, h1, strlen(h1)), 1);
        assert_true(http2_session_want_close(s));
        assert_string_equal(r.log, "");

        assert_int_equal(http2_preface_check(h1, strlen(h1)), -EPROTO);
        assert_int_equal(http2_preface_check("PRI * HTTP/2", 12), 0);
        assert_int_equal(http2_preface_check("", 0), 0);
        assert_int_equal(http2_preface_check(HTTP2_PREFACE "\0\0", STRLEN(HTTP2_PREFACE) + 2), 1);
}

static void test_submit_response_checks(void **state) {
        _cleanup_(http2_session_freep) Http2Session *s = NULL;
        static Rec r;
        Client c;
        const nghttp2_nv nva[] = {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"),
                NV(":authority", "a.example")};
        static const HttpHeader bad[] = {
                {"Content-Type", 12, "x", 1},
                {"connection", 10, "close", 5},
                {"transfer-encoding", 17, "chunked", 7},
                {"te", 2, "trailers", 8},
                {"x", 1, "a\r\nb", 4},
                {"x", 1, " a", 2},
                {":status", 7, "200", 3},
                {"", 0, "a", 1},
        };

        (void) state;
        memset(&r, 0, sizeof(r));
        assert_int_equal(http2_session_new(NULL, &callbacks, &r, &s), 0);
        client_init(&c);
        assert_int_equal(nghttp2_submit_request(c.ng, NULL, nva, ELEMENTSOF(nva), NULL, NULL), 1);
        pump(s, &c);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(http2_session_submit_response(s, 1, 200, bad + i, 1, false), -EINVAL);
        assert_int_equal(http2_session_submit_response(s, 1, 101, NULL, 0, false), -EINVAL);
        assert_int_equal(http2_session_submit_response(s, 1, 600, NULL, 0, false), -EINVAL);
        assert_int_equal(http2_session_submit_response(s, 3, 200, NULL, 0, false), -ENOENT);
        assert_int_equal(http2_session_reset_stream(s, 1, HTTP2_CANCEL), 0);
        assert_int_equal(http2_session_submit_response(s, 1, 200, NULL, 0, false), -ENOENT);
        pump(s, &c);
        assert_string_equal(c.log, "rst 1 8\n");
        assert_string_equal(r.log, "head 1 GET /\nend 1\nclose 1 8\n");

        assert_int_equal(http2_session_terminate(s, HTTP2_NO_ERROR), 0);
        pump(s, &c);
        assert_true(http2_session_want_close(s));
        assert_string_equal(c.log, "rst 1 8\ngoaway 0\n");
        r.req = http_request_free(r.req);
        nghttp2_session_del(c.ng);
}

/* RFC 8441: the SETTINGS say so, an extended CONNECT is surfaced with its protocol, and its DATA flows both
 * ways as a tunnel: the client's before and after the answer, END_STREAM from either side. */
static void test_extended_connect(void **state) {
        _cleanup_(http2_session_freep) Http2Session *s = NULL;
        static Rec r;
        Client c;
        const nghttp2_nv nva[] = {
                NV(":method", "CONNECT"),
                NV(":protocol", "websocket"),
                NV(":scheme", "https"),
                NV(":path", "/chat?x=1"),
                NV(":authority", "a.example"),
                NV("sec-websocket-version", "13"),
        };
        const HttpHeader resp[] = {{"sec-websocket-protocol", 22, "chat", 4}};
        nghttp2_data_provider prd = {.read_callback = c_read};

        (void) state;
        memset(&r, 0, sizeof(r));
        assert_int_equal(http2_session_new(NULL, &callbacks, &r, &s), 0);
        client_init(&c);
        pump(s, &c);
        assert_int_equal(
                nghttp2_session_get_remote_settings(c.ng, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL), 1);

        c.req_open = true;
        c.req_body = (const uint8_t *) "ping";
        c.req_body_len = 4;
        assert_int_equal(nghttp2_submit_request(c.ng, NULL, nva, ELEMENTSOF(nva), &prd, NULL), 1);
        pump(s, &c);
        assert_string_equal(r.log, "head 1 CONNECT /chat?x=1\n");
        assert_int_equal(r.req->method, HTTP_METHOD_CONNECT);
        assert_string_equal(r.req->protocol, "websocket");
        assert_int_equal(r.req->framing, HTTP_FRAMING_CHUNKED);
        assert_string_equal(r.req->authority, "a.example");
        assert_int_equal(r.req->n_headers, 1);
        assert_string_equal(r.req->headers[0].name, "sec-websocket-version");
        assert_int_equal(r.body_len, 4);
        assert_memory_equal(r.body, "ping", 4);

        /* the answer opens the other direction; the server's END_STREAM ends only that one */
        r.resp = "pong";
        r.resp_len = 4;
        assert_int_equal(http2_session_submit_response(s, 1, 200, resp, 1, true), 0);
        pump(s, &c);
        assert_string_equal(c.log, "1 :status: 200\n1 sec-websocket-protocol: chat\n");
        assert_int_equal(c.body_len, 4);
        assert_memory_equal(c.body, "pong", 4);
        assert_string_equal(r.log, "head 1 CONNECT /chat?x=1\n");

        /* the client goes on sending, then ends its side: the stream closes cleanly */
        c.req_body = (const uint8_t *) "more";
        c.req_body_off = 0;
        c.req_open = false;
        assert_int_equal(nghttp2_session_resume_data(c.ng, 1), 0);
        pump(s, &c);
        assert_int_equal(r.body_len, 8);
        assert_memory_equal(r.body, "pingmore", 8);
        assert_string_equal(r.log, "head 1 CONNECT /chat?x=1\nend 1\nclose 1 0\n");

        r.req = http_request_free(r.req);
        nghttp2_session_del(c.ng);
}

/* What RFC 8441 and our strictness refuse: RST_STREAM PROTOCOL_ERROR, never surfaced. */
static void test_extended_connect_malformed(void **state) {
        static const Bad bad[] = {
                {"plain CONNECT", true, {NV(":method", "CONNECT"), NV(":authority", "a.example:443")}, 2},
                {":protocol on GET", false,
                        {NV(":method", "GET"), NV(":protocol", "websocket"), NV(":scheme", "https"),
                                NV(":path", "/")},
                        4},
                {"unknown protocol", false,
                        {NV(":method", "CONNECT"), NV(":protocol", "h2c"), NV(":scheme", "https"),
                                NV(":path", "/")},
                        4},
                {"no :path", false,
                        {NV(":method", "CONNECT"), NV(":protocol", "websocket"), NV(":scheme", "https")}, 3},
                {"no :authority", true,
                        {NV(":method", "CONNECT"), NV(":protocol", "websocket"), NV(":scheme", "https"),
                                NV(":path", "/")},
                        4},
                {"two :protocol", false,
                        {NV(":method", "CONNECT"), NV(":protocol", "websocket"), NV(":protocol", "websocket"),
                                NV(":scheme", "https"), NV(":path", "/")},
                        5},
                {"content-length", false,
                        {NV(":method", "CONNECT"), NV(":protocol", "websocket"), NV(":scheme", "https"),
                                NV(":path", "/"), NV("content-length", "4")},
                        5},
                {"upgrade field", false,
                        {NV(":method", "CONNECT"), NV(":protocol", "websocket"), NV(":scheme", "https"),
                                NV(":path", "/"), NV("upgrade", "websocket")},
                        5},
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad) + 1; i++) {
                _cleanup_(http2_session_freep) Http2Session *s = NULL;
                static const nghttp2_nv ended[] = {NV(":method", "CONNECT"), NV(":protocol", "websocket"),
                        NV(":scheme", "https"), NV(":path", "/")};
                nghttp2_hd_deflater *d;
                static Rec r;
                static Raw w;
                nghttp2_nv nva[9];
                char out[256];

                memset(&r, 0, sizeof(r));
                assert_int_equal(http2_session_new(NULL, &callbacks, &r, &s), 0);
                assert_int_equal(nghttp2_hd_deflate_new(&d, 4096), 0);
                raw_start(&w);
                nva[0] = (nghttp2_nv) NV(":authority", "a.example");
                if (i == ELEMENTSOF(bad)) {
                        /* a tunnel that ends with its HEADERS is none */
                        print_message("# END_STREAM on the HEADERS\n");
                        memcpy(nva + 1, ended, sizeof(ended));
                        raw_headers(&w, d, 1, NGHTTP2_FLAG_END_STREAM, nva, 1 + ELEMENTSOF(ended));
                } else {
                        print_message("# %s\n", bad[i].what);
                        memcpy(nva + 1, bad[i].nva, bad[i].n * sizeof(nghttp2_nv));
                        if (bad[i].no_auth)
                                raw_headers(&w, d, 1, 0, bad[i].nva, bad[i].n);
                        else
                                raw_headers(&w, d, 1, 0, nva, bad[i].n + 1);
                }
                assert_int_equal(feed_and_scan(s, &w, out, sizeof(out)), 0);
                assert_string_equal(out, "rst 1 1\n");
                assert_string_equal(r.log, "");
                nghttp2_hd_deflate_del(d);
        }
}

/* A tunnel's bytes are not a body: body_max does not end it. */
static void test_extended_connect_no_body_max(void **state) {
        _cleanup_(http2_session_freep) Http2Session *s = NULL;
        HttpLimits l = HTTP_LIMITS_DEFAULT;
        static Rec r;
        static uint8_t data[5000];
        Client c;
        const nghttp2_nv nva[] = {NV(":method", "CONNECT"), NV(":protocol", "websocket"), NV(":scheme", "http"),
                NV(":path", "/"), NV(":authority", "a.example")};
        nghttp2_data_provider prd = {.read_callback = c_read};

        (void) state;
        memset(&r, 0, sizeof(r));
        memset(data, 'w', sizeof(data));
        l.body_max = 1000;
        assert_int_equal(http2_session_new(&l, &callbacks, &r, &s), 0);
        client_init(&c);
        c.req_body = data;
        c.req_body_len = sizeof(data);
        assert_int_equal(nghttp2_submit_request(c.ng, NULL, nva, ELEMENTSOF(nva), &prd, NULL), 1);
        pump(s, &c);
        assert_int_equal(r.body_len, sizeof(data));
        assert_string_equal(r.log, "head 1 CONNECT /\nend 1\n");
        assert_string_equal(c.log, "");
        r.req = http_request_free(r.req);
        nghttp2_session_del(c.ng);
}

static void test_new_limits(void **state) {
        Http2Session *s = NULL;
        HttpLimits l = HTTP_LIMITS_DEFAULT;

        (void) state;
        l.h2_reset_rate = 0;
        assert_int_equal(http2_session_new(&l, &callbacks, NULL, &s), -EINVAL);
        l = HTTP_LIMITS_DEFAULT;
        l.h2_stream_window = (uint32_t) INT32_MAX + 1;
        assert_int_equal(http2_session_new(&l, &callbacks, NULL, &s), -EINVAL);
        l = HTTP_LIMITS_DEFAULT;
        l.header_bytes_max = 0;
        assert_int_equal(http2_session_new(&l, &callbacks, NULL, &s), -EINVAL);
        assert_null(s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_get),
                cmocka_unit_test(test_post),
                cmocka_unit_test(test_response_deferred),
                cmocka_unit_test(test_flow_control),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_content_length_mismatch),
                cmocka_unit_test(test_reset_before_surfaced),
                cmocka_unit_test(test_rapid_reset),
                cmocka_unit_test(test_malformed_flood),
                cmocka_unit_test(test_settings_flood),
                cmocka_unit_test(test_ping_flood),
                cmocka_unit_test(test_settings_too_many_entries),
                cmocka_unit_test(test_continuation_flood),
                cmocka_unit_test(test_hpack_bomb),
                cmocka_unit_test(test_header_limits),
                cmocka_unit_test(test_body_max),
                cmocka_unit_test(test_bad_preface),
                cmocka_unit_test(test_submit_response_checks),
                cmocka_unit_test(test_extended_connect),
                cmocka_unit_test(test_extended_connect_malformed),
                cmocka_unit_test(test_extended_connect_no_body_max),
                cmocka_unit_test(test_new_limits),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
