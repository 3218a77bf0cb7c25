/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * http-app — the HTTP/1.1 server of the example apps (what it owns: http-app.h). Single-threaded
 * around ppoll(); one process serves one app.
 *
 * A connection:
 *
 *   READING --request complete, handle()--> WRITING --answer sent, keep-alive--> READING
 *      \                                       \--answer sent, close--> DRAINING --EOF or deadline--> closed
 *       \--bad request: error answer--> WRITING (close)
 *       \--handle() accepted a WebSocket--> WEBSOCKET --close received, or an error: close frame queued-->
 *   CLOSING --close frame sent--> DRAINING
 *   any state --idle deadline, peer reset, I/O error--> closed
 *
 * (1) a connection holds at most one HTTP request at a time: while WRITING it reads nothing, so a
 *     pipelining client is served in order and cannot grow our buffers;
 * (2) every buffer is bounded: the request (head and body) by HTTP_APP_HEAD_MAX + body_max, the answer
 *     by what that request can produce; in WEBSOCKET a connection reads only while less than WS_OUT_HIGH
 *     bytes wait to be sent, so a client that sends without reading cannot grow our buffers, and a
 *     message being assembled is at most HTTP_APP_WS_MESSAGE_MAX bytes;
 * (3) after a close frame is queued nothing more is read as frames, and nothing but that close frame is
 *     sent;
 * (4) every connection has a deadline, moved on each byte of progress.
 */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http-app.h"

#define CONN_MAX 256                    /* connections served at once; more wait in the backlog */
#define LISTEN_BACKLOG 256
#define IDLE_TIMEOUT_MS 30000
#define WS_IDLE_TIMEOUT_MS 600000       /* an open WebSocket may well be quiet for a while */
#define WS_OUT_HIGH ((size_t) 1 << 20)  /* queued output above which frames are not read */
#define DRAIN_TIMEOUT_MS 2000
#define LEADING_CRLF_MAX 4              /* empty lines tolerated before a request line */

#define _fallthrough_ __attribute__((__fallthrough__))

typedef enum ConnState {
        CONN_READING,
        CONN_WRITING,
        CONN_WEBSOCKET,
        CONN_CLOSING,
        CONN_DRAINING,
} ConnState;

enum {
        WS_OP_CONTINUATION = 0x0,
        WS_OP_TEXT = HTTP_APP_WS_TEXT,
        WS_OP_BINARY = HTTP_APP_WS_BINARY,
        WS_OP_CLOSE = 0x8,
        WS_OP_PING = 0x9,
        WS_OP_PONG = 0xa,
};

/* Close status codes (RFC 6455 §7.4.1). */
enum {
        WS_CLOSE_NORMAL = 1000,
        WS_CLOSE_PROTOCOL_ERROR = 1002,
        WS_CLOSE_NO_STATUS = 1005,      /* never sent: stands for "no code" */
        WS_CLOSE_INVALID_DATA = 1007,
        WS_CLOSE_TOO_BIG = 1009,
};

/* Where the frame reader is. Payload bytes are unmasked as they arrive, into the message being
 * assembled or, for a control frame, into control[]. */
typedef struct WsReader {
        bool in_frame;                  /* a header was read; `remaining` payload bytes follow */
        uint8_t opcode;
        bool fin;
        uint8_t mask[4];
        uint64_t remaining;
        uint64_t offset;                /* payload bytes read so far, for the mask */
        uint8_t message_opcode;         /* WS_OP_TEXT or WS_OP_BINARY while a message is open, else 0 */
        HttpAppBuf message;
        uint8_t control[125];
        size_t control_len;
} WsReader;

struct HttpAppConn {
        int fd;
        ConnState state;
        bool close_after_write;
        bool continue_sent;             /* "100 Continue" went out for the request being read */
        int64_t deadline_ms;
        size_t in_len, in_max;
        HttpAppBuf out;
        size_t out_sent;
        WsReader ws;
        char in[];                      /* in_max bytes */
};

/* The app this process serves, set by http_app_serve(). */
static const HttpApp *app;
static volatile sig_atomic_t stop;

static void on_signal(int sig) {
        (void) sig;
        stop = 1;
}

static int64_t now_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int http_app_buf_append(HttpAppBuf *b, const void *p, size_t n) {
        if (n == 0)
                return 0;               /* p may be NULL: an empty HttpAppBuf's data */
        if (n > b->cap - b->len) {
                size_t cap = b->cap ? b->cap : 4096;
                char *q;

                while (cap - b->len < n)
                        cap *= 2;
                q = realloc(b->data, cap);
                if (!q)
                        return -ENOMEM;
                b->data = q;
                b->cap = cap;
        }
        memcpy(b->data + b->len, p, n);
        b->len += n;
        return 0;
}

int http_app_buf_str(HttpAppBuf *b, const char *s) {
        return http_app_buf_append(b, s, strlen(s));
}

void http_app_buf_done(HttpAppBuf *b) {
        free(b->data);
        *b = (HttpAppBuf) {};
}

/* ---- requests ---- */

static bool is_tchar(unsigned char c) {
        /* RFC 9110 §5.6.2 token characters */
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

bool http_app_mem_eq_ci(const char *a, size_t n, const char *lit) {
        return strlen(lit) == n && strncasecmp(a, lit, n) == 0;
}

bool http_app_list_has_token(const char *v, size_t n, const char *token) {
        size_t i = 0;

        while (i < n) {
                size_t s, e;

                while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
                        i++;
                s = i;
                while (i < n && v[i] != ',')
                        i++;
                e = i;
                while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
                        e--;
                if (e > s && http_app_mem_eq_ci(v + s, e - s, token))
                        return true;
        }
        return false;
}

static int parse_request_line(const char *p, size_t n, HttpAppRequest *req) {
        size_t i = 0, s;

        while (i < n && is_tchar((unsigned char) p[i]))
                i++;
        if (i == 0 || i > 32 || i >= n || p[i] != ' ')
                return -EBADMSG;
        req->method = p;
        req->method_len = i;

        s = ++i;
        while (i < n && p[i] > ' ' && p[i] < 0x7f)
                i++;
        if (i == s || i >= n || p[i] != ' ')
                return -EBADMSG;
        /* origin-form, or "*" for OPTIONS; the absolute form is for proxies */
        if (p[s] != '/' && !(i - s == 1 && p[s] == '*'))
                return -EBADMSG;
        req->target = p + s;
        req->target_len = i - s;

        s = ++i;
        if (n - s != 8 || memcmp(p + s, "HTTP/", 5) != 0 || p[s + 5] < '0' || p[s + 5] > '9' ||
            p[s + 6] != '.' || p[s + 7] < '0' || p[s + 7] > '9')
                return -EBADMSG;
        if (p[s + 5] != '1' || (p[s + 7] != '0' && p[s + 7] != '1'))
                return -EPROTONOSUPPORT;
        req->minor_version = p[s + 7] - '0';
        return 0;
}

static int parse_header_line(const char *p, size_t n, HttpAppHeader *ret) {
        size_t i = 0, s, e;

        /* No whitespace before the colon, and no obs-fold (RFC 9112 §5.1, §5.2). */
        while (i < n && is_tchar((unsigned char) p[i]))
                i++;
        if (i == 0 || i >= n || p[i] != ':')
                return -EBADMSG;

        s = i + 1;
        while (s < n && (p[s] == ' ' || p[s] == '\t'))
                s++;
        e = n;
        while (e > s && (p[e - 1] == ' ' || p[e - 1] == '\t'))
                e--;
        for (size_t k = s; k < e; k++) {
                unsigned char c = (unsigned char) p[k];
                if ((c < 0x20 && c != '\t') || c == 0x7f)
                        return -EBADMSG;
        }

        *ret = (HttpAppHeader) { .name = p, .name_len = i, .value = p + s, .value_len = e - s };
        return 0;
}

int http_app_parse_request(const char *buf, size_t len, HttpAppRequest *ret) {
        HttpAppRequest req = {};
        const char *p, *end, *eol, *head_end, *q;
        bool have_length = false, conn_close = false, conn_keep_alive = false;
        size_t skip = 0, n_host = 0;
        int r;

        /* RFC 9112 §2.2: empty lines before a request line are ignored. */
        while (skip + 2 <= len && skip < 2 * LEADING_CRLF_MAX && buf[skip] == '\r' && buf[skip + 1] == '\n')
                skip += 2;

        head_end = memmem(buf + skip, len - skip, "\r\n\r\n", 4);
        if (!head_end) {
                /* Refuse a bad request line as soon as it is complete, not only at the limit. */
                eol = memmem(buf + skip, len - skip, "\r\n", 2);
                if (eol) {
                        r = parse_request_line(buf + skip, (size_t) (eol - buf - skip), &req);
                        if (r < 0)
                                return r;
                } else
                        /* Nor wait for the end of a line that cannot start a request (TLS, noise). */
                        for (size_t i = skip; i < len && buf[i] != ' '; i++)
                                if (!is_tchar((unsigned char) buf[i]) && !(buf[i] == '\r' && i + 1 == len))
                                        return -EBADMSG;
                return len >= HTTP_APP_HEAD_MAX ? -E2BIG : 1;
        }
        if ((size_t) (head_end - buf) + 4 > HTTP_APP_HEAD_MAX)
                return -E2BIG;

        p = buf + skip;
        end = head_end + 2;             /* just past the last header line's CRLF */

        eol = memmem(p, (size_t) (end - p), "\r\n", 2);
        r = parse_request_line(p, (size_t) (eol - p), &req);
        if (r < 0)
                return r;
        p = eol + 2;

        while (p < end) {
                HttpAppHeader *h;

                eol = memmem(p, (size_t) (end - p), "\r\n", 2);
                if (req.n_headers >= HTTP_APP_HEADERS_MAX)
                        return -E2BIG;
                h = &req.headers[req.n_headers];
                r = parse_header_line(p, (size_t) (eol - p), h);
                if (r < 0)
                        return r;
                req.n_headers++;
                p = eol + 2;

                if (http_app_mem_eq_ci(h->name, h->name_len, "Host"))
                        n_host++;
                else if (http_app_mem_eq_ci(h->name, h->name_len, "Transfer-Encoding")) {
                        /* Only a plain "chunked": no other coding is decoded here. */
                        if (req.chunked || !http_app_mem_eq_ci(h->value, h->value_len, "chunked"))
                                return -EOPNOTSUPP;
                        req.chunked = true;
                }
                else if (http_app_mem_eq_ci(h->name, h->name_len, "Content-Length")) {
                        uint64_t v = 0;

                        if (h->value_len == 0 || h->value_len > 18)
                                return -EBADMSG;
                        for (size_t k = 0; k < h->value_len; k++) {
                                if (h->value[k] < '0' || h->value[k] > '9')
                                        return -EBADMSG;
                                v = v * 10 + (uint64_t) (h->value[k] - '0');
                        }
                        /* Repeated lengths must agree (RFC 9112 §6.3). */
                        if (have_length && v != req.content_length)
                                return -EBADMSG;
                        req.content_length = v;
                        have_length = true;
                } else if (http_app_mem_eq_ci(h->name, h->name_len, "Connection")) {
                        conn_close = conn_close || http_app_list_has_token(h->value, h->value_len, "close");
                        conn_keep_alive = conn_keep_alive ||
                                          http_app_list_has_token(h->value, h->value_len, "keep-alive");
                } else if (http_app_mem_eq_ci(h->name, h->name_len, "Expect"))
                        req.expect_continue = http_app_mem_eq_ci(h->value, h->value_len, "100-continue");
        }

        /* RFC 9112 §3.2: exactly one Host in HTTP/1.1, never more than one. */
        if (n_host > 1 || (req.minor_version == 1 && n_host == 0))
                return -EBADMSG;
        /* Both framings at once is how requests are smuggled (RFC 9112 §6.1); HTTP/1.0 has no
         * chunked coding. */
        if (req.chunked && (have_length || req.minor_version == 0))
                return -EBADMSG;

        req.keep_alive = req.minor_version == 1 ? !conn_close : (conn_keep_alive && !conn_close);
        req.expect_continue = req.expect_continue && req.minor_version == 1;
        req.head_len = (size_t) (head_end - buf) + 4;

        q = memchr(req.target, '?', req.target_len);
        req.path_len = q ? (size_t) (q - req.target) : req.target_len;
        req.query = q ? q + 1 : "";
        req.query_len = q ? req.target_len - req.path_len - 1 : 0;
        *ret = req;
        return 0;
}

/*
 * Decodes a chunked body (RFC 9112 §7.1) at the start of p, appending the data to *body (emptied
 * first). Returns 0 with *ret_len the encoded length, trailers included; 1 when more bytes are
 * needed; -EBADMSG, -EMSGSIZE (more than max bytes of data) or -E2BIG (trailers). Pure: the same
 * bytes give the same answer, so the caller may run it again as more arrive.
 */
static int chunked_decode(const char *p, size_t n, size_t max, HttpAppBuf *body, size_t *ret_len) {
        size_t i = 0;

        body->len = 0;
        for (;;) {
                const char *eol;
                size_t size = 0, digits = 0;

                for (; i < n; i++, digits++) {
                        int d = p[i] >= '0' && p[i] <= '9' ? p[i] - '0' :
                                p[i] >= 'a' && p[i] <= 'f' ? p[i] - 'a' + 10 :
                                p[i] >= 'A' && p[i] <= 'F' ? p[i] - 'A' + 10 : -1;
                        if (d < 0)
                                break;
                        size = size * 16 + (size_t) d;
                        if (size > max)
                                return -EMSGSIZE;
                }
                if (i == n)
                        return 1;
                if (digits == 0)
                        return -EBADMSG;

                /* Chunk extensions are allowed and ignored, but must be free of control bytes. */
                eol = memmem(p + i, n - i, "\r\n", 2);
                if (!eol)
                        return n - i > HTTP_APP_HEAD_MAX ? -EBADMSG : 1;
                if (eol > p + i && p[i] != ';' && p[i] != ' ' && p[i] != '\t')
                        return -EBADMSG;
                for (; p + i < eol; i++)
                        if (((unsigned char) p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
                                return -EBADMSG;
                i += 2;

                if (size == 0)
                        break;
                if (n - i < size + 2)
                        return 1;
                if (p[i + size] != '\r' || p[i + size + 1] != '\n')
                        return -EBADMSG;
                if (body->len + size > max)
                        return -EMSGSIZE;
                if (http_app_buf_append(body, p + i, size) < 0)
                        return -ENOMEM;
                i += size + 2;
        }

        /* Trailer fields, read and dropped, then the empty line. */
        for (size_t n_trailers = 0;; n_trailers++) {
                const char *eol = memmem(p + i, n - i, "\r\n", 2);
                HttpAppHeader h;
                int r;

                if (!eol)
                        return 1;
                if (eol == p + i)
                        break;
                if (n_trailers >= HTTP_APP_HEADERS_MAX)
                        return -E2BIG;
                r = parse_header_line(p + i, (size_t) (eol - p - i), &h);
                if (r < 0)
                        return r;
                i = (size_t) (eol - p) + 2;
        }

        *ret_len = i + 2;
        return 0;
}

/* ---- answers ---- */

const char *http_app_status_reason(int status) {
        switch (status) {
        case 100: return "Continue";
        case 101: return "Switching Protocols";
        case 200: return "OK";
        case 303: return "See Other";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 413: return "Content Too Large";
        case 415: return "Unsupported Media Type";
        case 426: return "Upgrade Required";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 505: return "HTTP Version Not Supported";
        case 507: return "Insufficient Storage";
        default: return "Unknown";
        }
}

int http_app_status_from_errno(int r) {
        switch (-r) {
        case EBADMSG: return 400;
        case ENOENT: return 404;
        case EMSGSIZE: return 413;
        case EMEDIUMTYPE: return 415;
        case E2BIG: return 431;
        case EOPNOTSUPP: return 501;
        case EPROTONOSUPPORT: return 505;
        case ENOSPC:
        case EDQUOT: return 507;
        default: return 500;
        }
}

int http_app_respond(HttpAppConn *c, int status, const char *content_type, const char *extra_headers,
                     const char *body, size_t body_len, bool send_body) {
        char head[512];
        int n;

        n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n"
                     "X-Content-Type-Options: nosniff\r\n"
                     "%s%s"
                     "\r\n",
                     status, http_app_status_reason(status), content_type, body_len, extra_headers ?: "",
                     c->close_after_write ? "Connection: close\r\n" : "");
        if (n < 0 || (size_t) n >= sizeof(head))
                return -EINVAL;
        if (http_app_buf_append(&c->out, head, (size_t) n) < 0 ||
            (send_body && http_app_buf_append(&c->out, body, body_len) < 0))
                return -ENOMEM;
        return 0;
}

int http_app_respond_status(HttpAppConn *c, int status, const char *extra_headers, bool send_body) {
        char body[128];
        int n;

        n = snprintf(body, sizeof(body), "%d %s\n", status, http_app_status_reason(status));
        return http_app_respond(c, status, "text/plain; charset=utf-8", extra_headers, body, (size_t) n,
                                send_body);
}

static int respond_error(HttpAppConn *c, int status) {
        c->close_after_write = true;
        return http_app_respond_status(c, status, NULL, true);
}

const HttpAppHeader *http_app_request_header(const HttpAppRequest *req, const char *name, size_t *ret_count) {
        const HttpAppHeader *first = NULL;
        size_t count = 0;

        for (size_t i = 0; i < req->n_headers; i++)
                if (http_app_mem_eq_ci(req->headers[i].name, req->headers[i].name_len, name)) {
                        if (!first)
                                first = &req->headers[i];
                        count++;
                }
        if (ret_count)
                *ret_count = count;
        return first;
}

size_t http_app_utf8_valid_len(const unsigned char *p, size_t n) {
        size_t len;
        uint32_t cp;

        if (p[0] < 0x80)
                return 1;
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                len = 2, cp = p[0] & 0x1f;
        else if (p[0] >= 0xe0 && p[0] <= 0xef)
                len = 3, cp = p[0] & 0x0f;
        else if (p[0] >= 0xf0 && p[0] <= 0xf4)
                len = 4, cp = p[0] & 0x07;
        else
                return 0;
        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return len;
}

bool http_app_utf8_valid(const char *s, size_t n) {
        for (size_t i = 0, k; i < n; i += k) {
                k = http_app_utf8_valid_len((const unsigned char *) s + i, n - i);
                if (k == 0)
                        return false;
        }
        return true;
}

/* ---- SHA-1 and Base64, for Sec-WebSocket-Accept: libc has neither ---- */

static uint32_t rol32(uint32_t x, unsigned n) {
        return x << n | x >> (32 - n);
}

static void sha1_block(uint32_t h[5], const uint8_t *p) {
        uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];

        for (unsigned i = 0; i < 16; i++)
                w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16 |
                       (uint32_t) p[4 * i + 2] << 8 | p[4 * i + 3];
        for (unsigned i = 16; i < 80; i++)
                w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);

        for (unsigned i = 0; i < 80; i++) {
                uint32_t f, k, t;

                if (i < 20)
                        f = (b & c) | (~b & d), k = 0x5a827999;
                else if (i < 40)
                        f = b ^ c ^ d, k = 0x6ed9eba1;
                else if (i < 60)
                        f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
                else
                        f = b ^ c ^ d, k = 0xca62c1d6;
                t = rol32(a, 5) + f + e + k + w[i];
                e = d;
                d = c;
                c = rol32(b, 30);
                b = a;
                a = t;
        }
        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
        h[4] += e;
}

/* FIPS 180-4 SHA-1 of one buffer. */
static void sha1(const void *data, size_t n, uint8_t ret[20]) {
        uint32_t h[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };
        const uint8_t *p = data;
        uint8_t last[128] = {};
        size_t rest = n % 64, tail;
        uint64_t bits = (uint64_t) n * 8;

        for (size_t i = 0; i + 64 <= n; i += 64)
                sha1_block(h, p + i);

        /* The rest, a 1 bit, zeros, and the length in bits: one block or two. */
        memcpy(last, p + n - rest, rest);
        last[rest] = 0x80;
        tail = rest < 56 ? 64 : 128;
        for (unsigned i = 0; i < 8; i++)
                last[tail - 1 - i] = (uint8_t) (bits >> (8 * i));
        sha1_block(h, last);
        if (tail == 128)
                sha1_block(h, last + 64);

        for (unsigned i = 0; i < 20; i++)
                ret[i] = (uint8_t) (h[i / 4] >> (24 - 8 * (i % 4)));
}

static const char base64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Writes the padded Base64 of p into out, which holds 4 * ((n + 2) / 3) + 1 bytes. */
static void base64_encode(const uint8_t *p, size_t n, char *out) {
        size_t i = 0;

        for (; i + 3 <= n; i += 3) {
                uint32_t v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8 | p[i + 2];
                *out++ = base64_chars[v >> 18];
                *out++ = base64_chars[(v >> 12) & 63];
                *out++ = base64_chars[(v >> 6) & 63];
                *out++ = base64_chars[v & 63];
        }
        if (i < n) {
                uint32_t v = (uint32_t) p[i] << 16 | (i + 1 < n ? (uint32_t) p[i + 1] << 8 : 0);
                *out++ = base64_chars[v >> 18];
                *out++ = base64_chars[(v >> 12) & 63];
                *out++ = i + 1 < n ? base64_chars[(v >> 6) & 63] : '=';
                *out++ = '=';
        }
        *out = '\0';
}

/* A Sec-WebSocket-Key is the canonical Base64 of 16 bytes (RFC 6455 §4.1): 22 characters, the last
 * carrying only 2 bits, then "==". */
static bool websocket_key_valid(const char *s, size_t n) {
        const char *last;

        if (n != 24 || s[22] != '=' || s[23] != '=')
                return false;
        for (size_t i = 0; i < 22; i++)
                if (s[i] == '\0' || s[i] == '=' || !strchr(base64_chars, s[i]))
                        return false;
        last = strchr(base64_chars, s[21]);
        return ((last - base64_chars) & 0x0f) == 0;
}

/* ---- WebSocket ---- */

/* Queues one unfragmented, unmasked frame (servers never mask, RFC 6455 §5.1). */
static int ws_send_frame(HttpAppConn *c, uint8_t opcode, const void *payload, size_t n) {
        uint8_t head[10];
        size_t h = 0;
        int r;

        head[h++] = 0x80 | opcode;
        if (n <= 125)
                head[h++] = (uint8_t) n;
        else if (n <= 0xffff) {
                head[h++] = 126;
                head[h++] = (uint8_t) (n >> 8);
                head[h++] = (uint8_t) n;
        } else {
                head[h++] = 127;
                for (int i = 7; i >= 0; i--)
                        head[h++] = (uint8_t) ((uint64_t) n >> (8 * i));
        }
        r = http_app_buf_append(&c->out, head, h);
        return r < 0 ? r : http_app_buf_append(&c->out, payload, n);
}

/* Close codes a peer may send (RFC 6455 §7.4; 1004–1006 and 1015 never go on the wire). */
static bool ws_close_code_valid(unsigned code) {
        return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
               (code >= 3000 && code <= 4999);
}

/* A frame is complete. Returns 0, a close code > 0 to end the session with, or a negative errno. */
static int ws_frame_done(HttpAppConn *c) {
        WsReader *w = &c->ws;
        int r;

        switch (w->opcode) {
        case WS_OP_PING:
                return ws_send_frame(c, WS_OP_PONG, w->control, w->control_len);
        case WS_OP_PONG:
                return 0;
        case WS_OP_CLOSE: {
                unsigned code;

                if (w->control_len == 0)
                        return WS_CLOSE_NO_STATUS;
                code = (unsigned) w->control[0] << 8 | w->control[1];
                if (w->control_len == 1 || !ws_close_code_valid(code))
                        return WS_CLOSE_PROTOCOL_ERROR;
                if (!http_app_utf8_valid((const char *) w->control + 2, w->control_len - 2))
                        return WS_CLOSE_INVALID_DATA;
                return (int) code;
        }
        default:
                if (!w->fin)
                        return 0;
                if (w->message_opcode == WS_OP_TEXT &&
                    !http_app_utf8_valid(w->message.data, w->message.len))
                        return WS_CLOSE_INVALID_DATA;
                r = app->on_message ? app->on_message(c, w->message_opcode, w->message.data ?: "",
                                                      w->message.len) : 0;
                w->message_opcode = 0;
                w->message.len = 0;
                if (w->message.cap > 65536)
                        http_app_buf_done(&w->message);  /* give a big message's memory back */
                return r;
        }
}

/* Reads the frame header at p (avail ≥ 2 bytes). Returns 0 with *ret_len its length, 0 when more bytes
 * are needed; or a close code > 0 for a header RFC 6455 forbids. */
static int ws_read_header(WsReader *w, const uint8_t *p, size_t avail, size_t *ret_len) {
        uint8_t opcode = p[0] & 0x0f;
        uint64_t len = p[1] & 0x7f;
        size_t h = 2;

        /* What two bytes tell is checked at once, so garbage is refused without waiting for more. */
        if (p[0] & 0x70)
                return WS_CLOSE_PROTOCOL_ERROR; /* reserved bits, and no extension was agreed */
        if (!(p[1] & 0x80))
                return WS_CLOSE_PROTOCOL_ERROR; /* client frames are masked */
        if (opcode != WS_OP_CONTINUATION && opcode != WS_OP_TEXT && opcode != WS_OP_BINARY &&
            opcode != WS_OP_CLOSE && opcode != WS_OP_PING && opcode != WS_OP_PONG)
                return WS_CLOSE_PROTOCOL_ERROR;
        if (opcode & 0x8) {
                if (!(p[0] & 0x80) || len > 125)
                        return WS_CLOSE_PROTOCOL_ERROR;
        } else if ((opcode == WS_OP_CONTINUATION) != (w->message_opcode != 0))
                return WS_CLOSE_PROTOCOL_ERROR; /* a continuation with no message, or a new one inside one */

        if (len == 126) {
                if (avail < 4)
                        goto more;
                len = (uint64_t) p[2] << 8 | p[3];
                h = 4;
        } else if (len == 127) {
                if (avail < 10)
                        goto more;
                if (p[2] & 0x80)
                        return WS_CLOSE_PROTOCOL_ERROR;
                len = 0;
                for (unsigned i = 0; i < 8; i++)
                        len = len << 8 | p[2 + i];
                h = 10;
        }
        if (!(opcode & 0x8) && len > HTTP_APP_WS_MESSAGE_MAX - w->message.len)
                return WS_CLOSE_TOO_BIG;
        if (avail < h + 4)
                goto more;

        memcpy(w->mask, p + h, 4);
        w->in_frame = true;
        w->opcode = opcode;
        w->fin = p[0] & 0x80;
        w->remaining = len;
        w->offset = 0;
        if (opcode & 0x8)
                w->control_len = 0;
        else if (opcode != WS_OP_CONTINUATION) {
                w->message_opcode = opcode;
                w->message.len = 0;
        }
        *ret_len = h + 4;
        return 0;

more:
        *ret_len = 0;
        return 0;
}

/*
 * Reads and answers the frames in c->in, as far as they go and while the output queue is below
 * WS_OUT_HIGH. Returns 0, a close code > 0 when the session must end with it (the peer's close
 * included), or -ENOMEM.
 */
static int ws_process(HttpAppConn *c) {
        WsReader *w = &c->ws;
        size_t i = 0;
        int r = 0;

        while (r == 0 && c->out.len - c->out_sent < WS_OUT_HIGH) {
                const uint8_t *p = (const uint8_t *) c->in + i;
                size_t avail = c->in_len - i, take;

                if (!w->in_frame) {
                        size_t h;

                        if (avail < 2)
                                break;
                        r = ws_read_header(w, p, avail, &h);
                        if (r != 0 || h == 0)
                                break;
                        i += h;
                        p += h;
                        avail -= h;
                }

                take = w->remaining < avail ? (size_t) w->remaining : avail;
                if (take > 0) {
                        uint8_t *dst;

                        if (w->opcode & 0x8)
                                dst = w->control + w->control_len;
                        else {
                                r = http_app_buf_append(&w->message, p, take);
                                if (r < 0)
                                        break;
                                dst = (uint8_t *) w->message.data + w->message.len - take;
                        }
                        for (size_t k = 0; k < take; k++)
                                dst[k] = p[k] ^ w->mask[(w->offset + k) % 4];
                        if (w->opcode & 0x8)
                                w->control_len += take;
                        w->offset += take;
                        w->remaining -= take;
                        i += take;
                }
                if (w->remaining > 0)
                        break;

                w->in_frame = false;
                r = ws_frame_done(c);
        }

        memmove(c->in, c->in + i, c->in_len - i);
        c->in_len -= i;
        return r;
}

/* Ends the session: queues a close frame with the code (WS_CLOSE_NO_STATUS: an empty one, the
 * answer to an empty close) and reads no further frames. */
static int ws_close(HttpAppConn *c, int code) {
        uint8_t payload[2] = { (uint8_t) (code >> 8), (uint8_t) code };

        c->state = CONN_CLOSING;
        c->in_len = 0;
        return ws_send_frame(c, WS_OP_CLOSE, payload, code == WS_CLOSE_NO_STATUS ? 0 : 2);
}

/* Runs the frame reader; false when the connection is to be dropped at once. */
static bool conn_websocket(HttpAppConn *c) {
        int r;

        if (c->state != CONN_WEBSOCKET)
                return true;
        r = ws_process(c);
        if (r > 0)
                r = ws_close(c, r);
        return r >= 0;
}

int http_app_websocket_accept(HttpAppConn *c, const HttpAppRequest *req, size_t body_len) {
        static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
        const HttpAppHeader *connection, *key, *version;
        char concat[24 + sizeof(guid)], accept[29], head[160];
        uint8_t digest[20];
        size_t n_keys, n_versions;
        int n;

        connection = http_app_request_header(req, "Connection", NULL);
        key = http_app_request_header(req, "Sec-WebSocket-Key", &n_keys);
        version = http_app_request_header(req, "Sec-WebSocket-Version", &n_versions);

        if (!http_app_mem_eq_ci(req->method, req->method_len, "GET") || req->minor_version != 1 ||
            body_len > 0 || !connection ||
            !http_app_list_has_token(connection->value, connection->value_len, "upgrade") ||
            n_keys != 1 || !websocket_key_valid(key->value, key->value_len))
                return respond_error(c, 400);
        /* RFC 6455 §4.4: name the version this server speaks. */
        if (n_versions != 1 || !http_app_mem_eq_ci(version->value, version->value_len, "13"))
                return http_app_respond_status(c, 426, "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n",
                                               true);

        memcpy(concat, key->value, 24);
        memcpy(concat + 24, guid, sizeof(guid) - 1);
        sha1(concat, 24 + sizeof(guid) - 1, digest);
        base64_encode(digest, sizeof(digest), accept);

        n = snprintf(head, sizeof(head),
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n"
                     "\r\n",
                     accept);
        if (http_app_buf_append(&c->out, head, (size_t) n) < 0)
                return -ENOMEM;
        return 1;
}

int http_app_websocket_send(HttpAppConn *c, int opcode, const void *payload, size_t n) {
        if (opcode != WS_OP_TEXT && opcode != WS_OP_BINARY)
                return -EINVAL;
        return ws_send_frame(c, (uint8_t) opcode, payload, n);
}

/* ---- connections ---- */

static HttpAppConn *conn_free(HttpAppConn *c) {
        if (!c)
                return NULL;
        if (c->fd >= 0)
                close(c->fd);
        http_app_buf_done(&c->out);
        http_app_buf_done(&c->ws.message);
        free(c);
        return NULL;
}

static void conn_touch(HttpAppConn *c) {
        if (c->state != CONN_DRAINING)
                c->deadline_ms = now_ms() + (c->state == CONN_WEBSOCKET || c->state == CONN_CLOSING ?
                                             WS_IDLE_TIMEOUT_MS : IDLE_TIMEOUT_MS);
}

/* Serves what the input buffer holds: at most one request, then WRITING, or WEBSOCKET after a
 * handshake. Returns false when the connection is to be dropped at once. */
static bool conn_process(HttpAppConn *c) {
        HttpAppBuf chunked_body = {};
        HttpAppRequest req;
        size_t total;
        int r;

        if (c->state != CONN_READING || c->in_len == 0)
                return true;

        r = http_app_parse_request(c->in, c->in_len, &req);
        if (r > 0)
                return true;
        if (r < 0)
                goto fail;

        if (req.chunked) {
                size_t encoded;

                r = chunked_decode(c->in + req.head_len, c->in_len - req.head_len, app->body_max,
                                   &chunked_body, &encoded);
                if (r == 1 && c->in_len == c->in_max)
                        r = -EMSGSIZE;
                if (r < 0)
                        goto fail;
                total = req.head_len + encoded;
        } else {
                if (req.content_length > app->body_max) {
                        r = -EMSGSIZE;
                        goto fail;
                }
                total = req.head_len + (size_t) req.content_length;
                r = c->in_len < total;
        }
        if (r > 0) {
                http_app_buf_done(&chunked_body);
                if (req.expect_continue && !c->continue_sent) {
                        r = http_app_buf_str(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
                        if (r < 0)
                                goto fail;
                        c->continue_sent = true;
                }
                return true;
        }

        c->close_after_write = !req.keep_alive;
        if (req.chunked)
                r = app->handle(c, &req, chunked_body.data ?: "", chunked_body.len);
        else
                r = app->handle(c, &req, c->in + req.head_len, (size_t) req.content_length);
        http_app_buf_done(&chunked_body);
        if (r < 0)
                goto fail;
        memmove(c->in, c->in + total, c->in_len - total);
        c->in_len -= total;
        c->continue_sent = false;
        if (r == 0) {
                c->state = CONN_WRITING;
                return true;
        }
        /* Frames may have come right behind the handshake. */
        c->state = CONN_WEBSOCKET;
        conn_touch(c);
        return conn_websocket(c);

fail:
        /* Nothing more is read as a request on this connection. */
        http_app_buf_done(&chunked_body);
        c->in_len = 0;
        c->state = CONN_WRITING;
        return respond_error(c, http_app_status_from_errno(r)) >= 0;
}

/* Returns false when the connection is to be closed. */
static bool conn_on_readable(HttpAppConn *c) {
        ssize_t k;

        if (c->state == CONN_DRAINING) {
                char junk[4096];

                k = recv(c->fd, junk, sizeof(junk), 0);
                return k > 0 || (k < 0 && (errno == EAGAIN || errno == EINTR));
        }
        if ((c->state != CONN_READING && c->state != CONN_WEBSOCKET) || c->in_len >= c->in_max)
                return true;

        k = recv(c->fd, c->in + c->in_len, c->in_max - c->in_len, 0);
        if (k == 0)
                return false;
        if (k < 0)
                return errno == EAGAIN || errno == EINTR;
        c->in_len += (size_t) k;
        conn_touch(c);
        return c->state == CONN_WEBSOCKET ? conn_websocket(c) : conn_process(c);
}

/* Sends what is queued. Once a whole answer is out, reads the next request or closes; in a
 * WebSocket session, goes on reading frames once the queue is short enough. */
static bool conn_on_writable(HttpAppConn *c) {
        while (c->out_sent < c->out.len) {
                ssize_t k = send(c->fd, c->out.data + c->out_sent, c->out.len - c->out_sent, MSG_NOSIGNAL);

                if (k < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                return false;
                        break;
                }
                c->out_sent += (size_t) k;
                conn_touch(c);
        }
        if (c->out_sent < c->out.len) {
                /* Keep the unsent part at the front, so a steady stream does not grow the buffer. */
                if (c->out_sent >= 65536) {
                        memmove(c->out.data, c->out.data + c->out_sent, c->out.len - c->out_sent);
                        c->out.len -= c->out_sent;
                        c->out_sent = 0;
                }
                if (c->state == CONN_WEBSOCKET && c->out.len - c->out_sent < WS_OUT_HIGH)
                        return conn_websocket(c);
                return true;
        }
        c->out.len = c->out_sent = 0;

        switch (c->state) {
        case CONN_WEBSOCKET:
                return conn_websocket(c);
        case CONN_WRITING:
                if (!c->close_after_write) {
                        c->state = CONN_READING;
                        return conn_process(c);         /* a pipelined request may be waiting */
                }
                _fallthrough_;
        case CONN_CLOSING:
                /* Close gracefully: stop sending, then read until the peer is done, so that unread
                 * bytes do not make the kernel reset the connection under the last answer. */
                (void) shutdown(c->fd, SHUT_WR);
                c->state = CONN_DRAINING;
                c->deadline_ms = now_ms() + DRAIN_TIMEOUT_MS;
                return true;
        default:
                return true;                    /* only a "100 Continue" went out */
        }
}

static int parse_port(const char *s, int *ret_port) {
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 65535)
                return -EINVAL;
        *ret_port = (int) v;
        return 0;
}

static int listen_on(int port) {
        struct sockaddr_in sa = {
                .sin_family = AF_INET,
                .sin_port = htons((uint16_t) port),
                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        };
        int fd, one = 1;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static void accept_some(int lfd, HttpAppConn **conns, size_t *n_conns) {
        while (*n_conns < CONN_MAX) {
                int fd, one = 1;
                HttpAppConn *c;

                fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd < 0)
                        return;         /* EAGAIN, or a connection that died in the backlog */
                (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                /* Only the struct is zeroed: the input buffer is written before it is read. */
                c = malloc(sizeof(HttpAppConn) + HTTP_APP_HEAD_MAX + app->body_max);
                if (!c) {
                        close(fd);
                        return;
                }
                *c = (HttpAppConn) { .fd = fd, .in_max = HTTP_APP_HEAD_MAX + app->body_max };
                c->state = CONN_READING;
                c->deadline_ms = now_ms() + IDLE_TIMEOUT_MS;
                conns[(*n_conns)++] = c;
        }
}

static int serve(int lfd, const sigset_t *run_mask) {
        HttpAppConn *conns[CONN_MAX] = {};
        size_t n_conns = 0;

        while (!stop) {
                struct pollfd pfds[CONN_MAX + 1];
                struct timespec ts, *tsp = NULL;
                int64_t now = now_ms(), next = INT64_MAX;
                size_t n_pfds;
                int n;

                for (size_t i = 0; i < n_conns; i++) {
                        HttpAppConn *c = conns[i];
                        short ev = 0;

                        if (c->out_sent < c->out.len)
                                ev |= POLLOUT;
                        /* (1) and (2): a full input buffer, or a long output queue, stops reading. */
                        if (((c->state == CONN_READING || c->state == CONN_WEBSOCKET) &&
                             c->in_len < c->in_max && c->out.len - c->out_sent < WS_OUT_HIGH) ||
                            c->state == CONN_DRAINING)
                                ev |= POLLIN;
                        pfds[i] = (struct pollfd) { .fd = c->fd, .events = ev };
                        if (c->deadline_ms < next)
                                next = c->deadline_ms;
                }
                /* A full table leaves new connections in the kernel's backlog. */
                n_pfds = n_conns;
                pfds[n_pfds] = (struct pollfd) { .fd = n_conns < CONN_MAX ? lfd : -1, .events = POLLIN };

                if (next != INT64_MAX) {
                        int64_t d = next > now ? next - now : 0;
                        ts = (struct timespec) { .tv_sec = d / 1000, .tv_nsec = (d % 1000) * 1000000 };
                        tsp = &ts;
                }
                n = ppoll(pfds, n_pfds + 1, tsp, run_mask);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "%s: poll: %s\n", app->name, strerror(errno));
                        break;
                }

                now = now_ms();
                for (size_t i = 0; i < n_conns; i++) {
                        HttpAppConn *c = conns[i];
                        short re = pfds[i].revents;
                        bool keep = true;

                        if (re & (POLLIN | POLLHUP | POLLERR))
                                keep = conn_on_readable(c);
                        /* An answer queued just now is sent at once, without waiting for POLLOUT. */
                        if (keep && c->out_sent < c->out.len)
                                keep = conn_on_writable(c);
                        if (keep && c->deadline_ms <= now)
                                keep = false;
                        if (!keep)
                                conns[i] = conn_free(c);
                }
                /* Compact the table, keeping order. */
                {
                        size_t j = 0;
                        for (size_t i = 0; i < n_conns; i++)
                                if (conns[i])
                                        conns[j++] = conns[i];
                        n_conns = j;
                }
                if (pfds[n_pfds].revents & POLLIN)
                        accept_some(lfd, conns, &n_conns);
        }

        for (size_t i = 0; i < n_conns; i++)
                conn_free(conns[i]);
        return 0;
}

int http_app_parse_args(const HttpApp *a, int argc, char *argv[], int *ret_port) {
        int port = HTTP_APP_DEFAULT_PORT;

        if (argc > 2 || (argc == 2 && parse_port(argv[1], &port) < 0)) {
                fprintf(stderr, "usage: %s [PORT]\n", argc > 0 ? argv[0] : a->name);
                return -EINVAL;
        }
        *ret_port = port;
        return 0;
}

int http_app_serve(const HttpApp *a, int port, const char *detail) {
        struct sigaction sa = { .sa_handler = on_signal };
        sigset_t block, run_mask;
        int lfd;

        app = a;

        /* The signals are blocked except inside ppoll(), so a stop request is never missed between
         * the check of the flag and the wait. */
        sigemptyset(&sa.sa_mask);
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGINT);
        if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
            sigprocmask(SIG_BLOCK, &block, &run_mask) < 0) {
                fprintf(stderr, "%s: signals: %s\n", app->name, strerror(errno));
                return 1;
        }
        sigdelset(&run_mask, SIGTERM);
        sigdelset(&run_mask, SIGINT);

        lfd = listen_on(port);
        if (lfd < 0) {
                fprintf(stderr, "%s: cannot listen on 127.0.0.1:%d: %s\n", app->name, port, strerror(-lfd));
                return 1;
        }
        fprintf(stderr, "%s: listening on 127.0.0.1:%d%s\n", app->name, port, detail ?: "");

        serve(lfd, &run_mask);

        close(lfd);
        fprintf(stderr, "%s: stopping\n", app->name);
        return 0;
}

int http_app_main(const HttpApp *a, int argc, char *argv[]) {
        int port;

        if (http_app_parse_args(a, argc, argv, &port) < 0)
                return 2;
        return http_app_serve(a, port, NULL);
}
