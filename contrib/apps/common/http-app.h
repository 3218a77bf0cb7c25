/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * http-app — the small HTTP/1.1 server the example apps share: compiled into each of them (they are
 * linked statically and use nothing but libc, so that a package needs nothing from the host).
 *
 * It owns the listening socket on 127.0.0.1:PORT, every connection and its buffers, the request parser
 * (request line, headers, Content-Length and chunked bodies, keep-alive, pipelining, "100 Continue"),
 * the framing of answers, the WebSocket handshake and framing (RFC 6455: fragments, ping, close), and
 * SIGTERM and SIGINT, which end the server with status 0. It does not own what an answer says: the
 * app's handle() decides that for each complete request, and on_message() for each complete
 * WebSocket message. It logs to stderr, prefixed with the app's name: one line on start and stop, and
 * one per failure that ends the process. The connection's state diagram and invariants are at the
 * top of http-app.c.
 *
 * Limits: a request head is at most HTTP_APP_HEAD_MAX bytes (431), HTTP_APP_HEADERS_MAX headers
 * (431), a body at most the app's body_max (413); a WebSocket message at most HTTP_APP_WS_MESSAGE_MAX
 * bytes (closed with 1009).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_APP_DEFAULT_PORT 8000
#define HTTP_APP_HEAD_MAX 16384                 /* request line and headers */
#define HTTP_APP_HEADERS_MAX 100
#define HTTP_APP_WS_MESSAGE_MAX ((size_t) 1 << 20)

/* A growable byte buffer; its size is bounded by what fills it. Zero-initialised is empty. */
typedef struct HttpAppBuf {
        char *data;
        size_t len, cap;
} HttpAppBuf;

int http_app_buf_append(HttpAppBuf *b, const void *p, size_t n);
int http_app_buf_str(HttpAppBuf *b, const char *s);
void http_app_buf_done(HttpAppBuf *b);

/* Untrusted bytes, pointer plus length: they point into the connection's input buffer. */
typedef struct HttpAppHeader {
        const char *name;
        size_t name_len;
        const char *value;              /* without surrounding whitespace */
        size_t value_len;
} HttpAppHeader;

typedef struct HttpAppRequest {
        const char *method;
        size_t method_len;
        const char *target;             /* origin-form, or "*" */
        size_t target_len;
        size_t path_len;                /* the target up to '?' */
        const char *query;              /* after '?' ("" without one) */
        size_t query_len;
        int minor_version;              /* HTTP/1.x */
        HttpAppHeader headers[HTTP_APP_HEADERS_MAX];
        size_t n_headers;
        size_t head_len;                /* bytes up to and including the empty line */
        uint64_t content_length;
        bool chunked;                   /* Transfer-Encoding: chunked, and no Content-Length */
        bool keep_alive;
        bool expect_continue;
} HttpAppRequest;

typedef struct HttpAppConn HttpAppConn;

enum {
        HTTP_APP_WS_TEXT = 0x1,
        HTTP_APP_WS_BINARY = 0x2,
};

typedef struct HttpApp {
        const char *name;               /* prefixes every log line */
        size_t body_max;                /* request body bytes; a larger body gets 413 */
        /*
         * Answers one complete request, whose body (chunked or not) is body, body_len. Returns 0 once an
         * answer is queued with http_app_respond*(), 1 when http_app_websocket_accept() returned 1 (the
         * connection now speaks WebSocket), or a negative errno with nothing queued: the server then
         * answers with http_app_status_from_errno() and closes the connection.
         */
        int (*handle)(HttpAppConn *c, const HttpAppRequest *req, const char *body, size_t body_len);
        /* A complete WebSocket message (HTTP_APP_WS_TEXT, valid UTF-8, or HTTP_APP_WS_BINARY). Returns 0,
         * or a negative errno that drops the connection. Needed only by apps that accept WebSockets. */
        int (*on_message)(HttpAppConn *c, int opcode, const char *data, size_t n);
} HttpApp;

bool http_app_mem_eq_ci(const char *a, size_t n, const char *lit);
/* Whether a comma-separated header value (Connection, Upgrade) lists the token, ignoring case. */
bool http_app_list_has_token(const char *v, size_t n, const char *token);
/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates, ≤ U+10FFFF), or 0. */
size_t http_app_utf8_valid_len(const unsigned char *p, size_t n);
bool http_app_utf8_valid(const char *s, size_t n);
/* The first header of that name (ignoring case) or NULL, and, with ret_count, how many there are. */
const HttpAppHeader *http_app_request_header(const HttpAppRequest *req, const char *name, size_t *ret_count);

/*
 * Parses a request head from the start of buf. Returns 0 with *ret filled, 1 when more bytes are
 * needed, or -EBADMSG (400), -E2BIG (431), -EOPNOTSUPP (501: a transfer coding other than chunked) or
 * -EPROTONOSUPPORT (505). Pure: buf is not assumed to be NUL-terminated.
 */
int http_app_parse_request(const char *buf, size_t len, HttpAppRequest *ret);

const char *http_app_status_reason(int status);
/* The one table from an errno to a status. */
int http_app_status_from_errno(int r);

/* Queues a whole answer. extra_headers are whole lines ("Name: value\r\n…") or NULL. With send_body
 * false (HEAD) the headers still give the body's length. */
int http_app_respond(HttpAppConn *c, int status, const char *content_type, const char *extra_headers,
                     const char *body, size_t body_len, bool send_body);
/* An answer that is only its status ("404 Not Found\n"). */
int http_app_respond_status(HttpAppConn *c, int status, const char *extra_headers, bool send_body);

/*
 * The server side of the WebSocket handshake (RFC 6455 §4.2) for a request with "Upgrade: websocket".
 * Returns 1 with "101 Switching Protocols" queued; 0 with a refusal queued (400 for a malformed
 * handshake, then close; 426 for another version than 13); or -ENOMEM.
 */
int http_app_websocket_accept(HttpAppConn *c, const HttpAppRequest *req, size_t body_len);
/* Queues one unfragmented message. */
int http_app_websocket_send(HttpAppConn *c, int opcode, const void *payload, size_t n);

/* Reads the command line "[PORT]" into *ret_port; prints the usage and returns -EINVAL otherwise. */
int http_app_parse_args(const HttpApp *app, int argc, char *argv[], int *ret_port);
/* Listens on 127.0.0.1:port and serves until SIGTERM or SIGINT. detail, if not NULL, ends the
 * "listening" log line. Returns the process's exit status: 0 when asked to stop, 1 on a failure. */
int http_app_serve(const HttpApp *app, int port, const char *detail);
/* Both: what an app's main() returns. */
int http_app_main(const HttpApp *app, int argc, char *argv[]);
