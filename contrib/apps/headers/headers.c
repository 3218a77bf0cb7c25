/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * headers — an example app that answers every request with what it received: the request line
 * and every header, in order, byte for byte, as text/plain; with a query parameter `json`
 * (`/any/path?json`), the same as one JSON object:
 *
 *   {"method": "GET", "target": "/a?json", "path": "/a", "query": "json", "version": "HTTP/1.1",
 *    "headers": [["Host", "example"], ["X-Sandstorm-Username", "Alice"]]}
 *
 * Header names keep their case, repeated headers appear once per occurrence, and the value is
 * the field value without surrounding whitespace. JSON strings carry valid UTF-8 as it came;
 * every byte that is not part of valid UTF-8 becomes \u00XX (its Latin-1 reading). A request body
 * is read and ignored. This is what the platform's integration tests look at to check the
 * identity headers a grain sees.
 *
 * It owns nothing but its connections and logs one line on start and stop, and one per failure
 * that ends the process, to stderr. It listens on 127.0.0.1:PORT (argv[1], default 8000), speaks
 * HTTP/1.1 with keep-alive and pipelining, and is single-threaded around ppoll(). It is linked
 * statically so the package needs nothing from the host. SIGTERM and SIGINT end it with status 0.
 *
 * A connection:
 *
 *   READING --request complete--> WRITING --answer sent, keep-alive--> READING
 *      \                             \--answer sent, close--> DRAINING --EOF or deadline--> closed
 *       \--bad request: error answer--> WRITING (close)
 *   any state --idle deadline, peer reset, I/O error--> closed
 *
 * (1) a connection holds at most one request at a time: while WRITING it reads nothing, so a
 *     pipelining client is served in order and cannot grow our buffers;
 * (2) every buffer is bounded: the request (head and body) by CONN_IN_MAX, the answer by what
 *     that request can produce;
 * (3) every connection has a deadline, moved on each byte of progress.
 */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PORT 8000
#define CONN_MAX 64                     /* connections served at once; more wait in the backlog */
#define HEAD_MAX 16384                  /* request line and headers */
#define HEADERS_MAX 100
#define BODY_MAX 65536                  /* a request body is read and dropped; larger is refused */
#define CONN_IN_MAX (HEAD_MAX + BODY_MAX)
#define IDLE_TIMEOUT_MS 30000
#define DRAIN_TIMEOUT_MS 2000
#define LEADING_CRLF_MAX 4              /* empty lines tolerated before a request line */

typedef struct Header {
        const char *name;
        size_t name_len;
        const char *value;
        size_t value_len;
} Header;

typedef struct Request {
        const char *method;
        size_t method_len;
        const char *target;
        size_t target_len;
        int minor_version;              /* HTTP/1.x */
        Header headers[HEADERS_MAX];
        size_t n_headers;
        size_t head_len;                /* bytes up to and including the empty line */
        uint64_t content_length;
        bool chunked;                   /* Transfer-Encoding: chunked, and no Content-Length */
        bool keep_alive;
        bool expect_continue;
} Request;

/* A growable byte buffer; its size is bounded by what fills it. */
typedef struct Buf {
        char *data;
        size_t len, cap;
} Buf;

typedef enum ConnState {
        CONN_READING,
        CONN_WRITING,
        CONN_DRAINING,
} ConnState;

typedef struct Conn {
        int fd;
        ConnState state;
        bool close_after_write;
        bool continue_sent;             /* "100 Continue" went out for the request being read */
        int64_t deadline_ms;
        size_t in_len;
        Buf out;
        size_t out_sent;
        char in[CONN_IN_MAX];
} Conn;

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

static int buf_append(Buf *b, const void *p, size_t n) {
        if (n == 0)
                return 0;               /* p may be NULL: an empty Buf's data */
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

static int buf_str(Buf *b, const char *s) {
        return buf_append(b, s, strlen(s));
}

static void buf_done(Buf *b) {
        free(b->data);
        *b = (Buf) {};
}

/* ---- requests ---- */

static bool is_tchar(unsigned char c) {
        /* RFC 9110 §5.6.2 token characters */
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static bool mem_eq_ci(const char *a, size_t n, const char *lit) {
        return strlen(lit) == n && strncasecmp(a, lit, n) == 0;
}

/* Whether a comma-separated header value (Connection, Upgrade) lists the token, ignoring case. */
static bool list_has_token(const char *v, size_t n, const char *token) {
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
                if (e > s && mem_eq_ci(v + s, e - s, token))
                        return true;
        }
        return false;
}

static int parse_request_line(const char *p, size_t n, Request *req) {
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

static int parse_header_line(const char *p, size_t n, Header *ret) {
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

        *ret = (Header) { .name = p, .name_len = i, .value = p + s, .value_len = e - s };
        return 0;
}

/*
 * Parses a request head from the start of buf. Returns 0 with *ret filled, 1 when more bytes are
 * needed, or -EBADMSG (400), -E2BIG (431), -EOPNOTSUPP (501: a transfer coding other than
 * chunked) or -EPROTONOSUPPORT (505). Pure: buf is not assumed to be NUL-terminated.
 */
static int parse_request(const char *buf, size_t len, Request *ret) {
        const char *p, *end, *eol, *head_end;
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
                        r = parse_request_line(buf + skip, (size_t) (eol - buf - skip), ret);
                        if (r < 0)
                                return r;
                } else
                        /* Nor wait for the end of a line that cannot start a request (TLS, noise). */
                        for (size_t i = skip; i < len && buf[i] != ' '; i++)
                                if (!is_tchar((unsigned char) buf[i]) && !(buf[i] == '\r' && i + 1 == len))
                                        return -EBADMSG;
                return len >= HEAD_MAX ? -E2BIG : 1;
        }
        if ((size_t) (head_end - buf) + 4 > HEAD_MAX)
                return -E2BIG;

        *ret = (Request) {};
        p = buf + skip;
        end = head_end + 2;             /* just past the last header line's CRLF */

        eol = memmem(p, (size_t) (end - p), "\r\n", 2);
        r = parse_request_line(p, (size_t) (eol - p), ret);
        if (r < 0)
                return r;
        p = eol + 2;

        while (p < end) {
                Header *h;

                eol = memmem(p, (size_t) (end - p), "\r\n", 2);
                if (ret->n_headers >= HEADERS_MAX)
                        return -E2BIG;
                h = &ret->headers[ret->n_headers];
                r = parse_header_line(p, (size_t) (eol - p), h);
                if (r < 0)
                        return r;
                ret->n_headers++;
                p = eol + 2;

                if (mem_eq_ci(h->name, h->name_len, "Host"))
                        n_host++;
                else if (mem_eq_ci(h->name, h->name_len, "Transfer-Encoding")) {
                        /* Only a plain "chunked": no other coding is decoded here. */
                        if (ret->chunked || !mem_eq_ci(h->value, h->value_len, "chunked"))
                                return -EOPNOTSUPP;
                        ret->chunked = true;
                }
                else if (mem_eq_ci(h->name, h->name_len, "Content-Length")) {
                        uint64_t v = 0;

                        if (h->value_len == 0 || h->value_len > 18)
                                return -EBADMSG;
                        for (size_t k = 0; k < h->value_len; k++) {
                                if (h->value[k] < '0' || h->value[k] > '9')
                                        return -EBADMSG;
                                v = v * 10 + (uint64_t) (h->value[k] - '0');
                        }
                        /* Repeated lengths must agree (RFC 9112 §6.3). */
                        if (have_length && v != ret->content_length)
                                return -EBADMSG;
                        ret->content_length = v;
                        have_length = true;
                } else if (mem_eq_ci(h->name, h->name_len, "Connection")) {
                        conn_close = conn_close || list_has_token(h->value, h->value_len, "close");
                        conn_keep_alive = conn_keep_alive ||
                                          list_has_token(h->value, h->value_len, "keep-alive");
                } else if (mem_eq_ci(h->name, h->name_len, "Expect"))
                        ret->expect_continue = mem_eq_ci(h->value, h->value_len, "100-continue");
        }

        /* RFC 9112 §3.2: exactly one Host in HTTP/1.1, never more than one. */
        if (n_host > 1 || (ret->minor_version == 1 && n_host == 0))
                return -EBADMSG;
        /* Both framings at once is how requests are smuggled (RFC 9112 §6.1); HTTP/1.0 has no
         * chunked coding. */
        if (ret->chunked && (have_length || ret->minor_version == 0))
                return -EBADMSG;

        ret->keep_alive = ret->minor_version == 1 ? !conn_close : (conn_keep_alive && !conn_close);
        ret->expect_continue = ret->expect_continue && ret->minor_version == 1;
        ret->head_len = (size_t) (head_end - buf) + 4;
        return 0;
}

/*
 * Decodes a chunked body (RFC 9112 §7.1) at the start of p, appending the data to *body (emptied
 * first). Returns 0 with *ret_len the encoded length, trailers included; 1 when more bytes are
 * needed; -EBADMSG, -EMSGSIZE (more than BODY_MAX of data) or -E2BIG (trailers). Pure: the same
 * bytes give the same answer, so the caller may run it again as more arrive.
 */
static int chunked_decode(const char *p, size_t n, Buf *body, size_t *ret_len) {
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
                        if (size > BODY_MAX)
                                return -EMSGSIZE;
                }
                if (i == n)
                        return 1;
                if (digits == 0)
                        return -EBADMSG;

                /* Chunk extensions are allowed and ignored, but must be free of control bytes. */
                eol = memmem(p + i, n - i, "\r\n", 2);
                if (!eol)
                        return n - i > HEAD_MAX ? -EBADMSG : 1;
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
                if (body->len + size > BODY_MAX)
                        return -EMSGSIZE;
                if (buf_append(body, p + i, size) < 0)
                        return -ENOMEM;
                i += size + 2;
        }

        /* Trailer fields, read and dropped, then the empty line. */
        for (size_t n_trailers = 0;; n_trailers++) {
                const char *eol = memmem(p + i, n - i, "\r\n", 2);
                Header h;
                int r;

                if (!eol)
                        return 1;
                if (eol == p + i)
                        break;
                if (n_trailers >= HEADERS_MAX)
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

static const char *status_reason(int status) {
        switch (status) {
        case 100: return "Continue";
        case 200: return "OK";
        case 400: return "Bad Request";
        case 413: return "Content Too Large";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 505: return "HTTP Version Not Supported";
        default: return "Unknown";
        }
}

/* The one table from a parse error to a status. */
static int status_from_errno(int r) {
        switch (-r) {
        case EBADMSG: return 400;
        case EMSGSIZE: return 413;
        case E2BIG: return 431;
        case EOPNOTSUPP: return 501;
        case EPROTONOSUPPORT: return 505;
        default: return 500;
        }
}

/* Queues a whole answer. With send_body false (HEAD) the headers still give the body's length. */
static int respond(Conn *c, int status, const char *content_type, const char *body, size_t body_len,
                   bool send_body) {
        char head[256];
        int n;

        n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n"
                     "X-Content-Type-Options: nosniff\r\n"
                     "%s"
                     "\r\n",
                     status, status_reason(status), content_type, body_len,
                     c->close_after_write ? "Connection: close\r\n" : "");
        if (n < 0 || (size_t) n >= sizeof(head))
                return -EINVAL;
        if (buf_append(&c->out, head, (size_t) n) < 0 ||
            (send_body && buf_append(&c->out, body, body_len) < 0))
                return -ENOMEM;
        return 0;
}

static int respond_error(Conn *c, int status) {
        char body[128];
        int n;

        c->close_after_write = true;
        n = snprintf(body, sizeof(body), "%d %s\n", status, status_reason(status));
        return respond(c, status, "text/plain; charset=utf-8", body, (size_t) n, true);
}

/* ---- the dump ---- */

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates, ≤ U+10FFFF), or 0. */
static size_t utf8_valid_len(const unsigned char *p, size_t n) {
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

static int json_string(Buf *b, const char *s, size_t n) {
        const unsigned char *p = (const unsigned char *) s;
        size_t i = 0;
        int r;

        r = buf_str(b, "\"");
        while (r >= 0 && i < n) {
                size_t k = utf8_valid_len(p + i, n - i);
                char esc[8];

                if (k > 1) {
                        r = buf_append(b, p + i, k);
                        i += k;
                        continue;
                }
                if (p[i] == '"' || p[i] == '\\') {
                        esc[0] = '\\';
                        esc[1] = (char) p[i];
                        r = buf_append(b, esc, 2);
                } else if (p[i] < 0x20 || p[i] >= 0x7f) {
                        snprintf(esc, sizeof(esc), "\\u%04x", p[i]);
                        r = buf_append(b, esc, 6);
                } else
                        r = buf_append(b, p + i, 1);
                i++;
        }
        return r < 0 ? r : buf_str(b, "\"");
}

/* Whether the query string has a parameter named "json" ("json", "json=…", among "&"s). */
static bool query_wants_json(const char *q, size_t n) {
        size_t i = 0;

        while (i <= n) {
                size_t s = i;

                while (i < n && q[i] != '&')
                        i++;
                if ((i - s == 4 && memcmp(q + s, "json", 4) == 0) ||
                    (i - s > 4 && memcmp(q + s, "json=", 5) == 0))
                        return true;
                i++;
        }
        return false;
}

static int dump_text(Buf *b, const Request *req) {
        int r;

        r = buf_append(b, req->method, req->method_len);
        r = r < 0 ? r : buf_str(b, " ");
        r = r < 0 ? r : buf_append(b, req->target, req->target_len);
        r = r < 0 ? r : buf_str(b, req->minor_version == 1 ? " HTTP/1.1\n" : " HTTP/1.0\n");
        for (size_t i = 0; r >= 0 && i < req->n_headers; i++) {
                const Header *h = &req->headers[i];

                r = buf_append(b, h->name, h->name_len);
                r = r < 0 ? r : buf_str(b, ": ");
                r = r < 0 ? r : buf_append(b, h->value, h->value_len);
                r = r < 0 ? r : buf_str(b, "\n");
        }
        return r;
}

static int dump_json(Buf *b, const Request *req, size_t path_len, const char *query, size_t query_len) {
        int r;

        r = buf_str(b, "{\"method\": ");
        r = r < 0 ? r : json_string(b, req->method, req->method_len);
        r = r < 0 ? r : buf_str(b, ", \"target\": ");
        r = r < 0 ? r : json_string(b, req->target, req->target_len);
        r = r < 0 ? r : buf_str(b, ", \"path\": ");
        r = r < 0 ? r : json_string(b, req->target, path_len);
        r = r < 0 ? r : buf_str(b, ", \"query\": ");
        r = r < 0 ? r : json_string(b, query, query_len);
        r = r < 0 ? r : buf_str(b, req->minor_version == 1 ? ", \"version\": \"HTTP/1.1\"" :
                                                            ", \"version\": \"HTTP/1.0\"");
        r = r < 0 ? r : buf_str(b, ", \"headers\": [");
        for (size_t i = 0; r >= 0 && i < req->n_headers; i++) {
                const Header *h = &req->headers[i];

                r = buf_str(b, i == 0 ? "[" : ", [");
                r = r < 0 ? r : json_string(b, h->name, h->name_len);
                r = r < 0 ? r : buf_str(b, ", ");
                r = r < 0 ? r : json_string(b, h->value, h->value_len);
                r = r < 0 ? r : buf_str(b, "]");
        }
        return r < 0 ? r : buf_str(b, "]}\n");
}

static int handle_request(Conn *c, const Request *req) {
        const char *q = memchr(req->target, '?', req->target_len);
        size_t path_len = q ? (size_t) (q - req->target) : req->target_len;
        const char *query = q ? q + 1 : "";
        size_t query_len = q ? req->target_len - path_len - 1 : 0;
        bool json = q && query_wants_json(query, query_len);
        Buf body = {};
        int r;

        r = json ? dump_json(&body, req, path_len, query, query_len) : dump_text(&body, req);
        if (r >= 0)
                r = respond(c, 200, json ? "application/json" : "text/plain; charset=utf-8", body.data,
                            body.len, !mem_eq_ci(req->method, req->method_len, "HEAD"));
        buf_done(&body);
        return r;
}

/* ---- connections ---- */

static Conn *conn_free(Conn *c) {
        if (!c)
                return NULL;
        if (c->fd >= 0)
                close(c->fd);
        buf_done(&c->out);
        free(c);
        return NULL;
}

/* Serves what the input buffer holds: at most one request, then WRITING. */
static void conn_process(Conn *c) {
        Buf chunked_body = {};
        Request req;
        size_t total;
        int r;

        if (c->state != CONN_READING || c->in_len == 0)
                return;

        r = parse_request(c->in, c->in_len, &req);
        if (r > 0)
                return;
        if (r < 0)
                goto fail;

        if (req.chunked) {
                size_t encoded;

                r = chunked_decode(c->in + req.head_len, c->in_len - req.head_len, &chunked_body, &encoded);
                if (r == 1 && c->in_len == sizeof(c->in))
                        r = -EMSGSIZE;
                if (r < 0)
                        goto fail;
                total = req.head_len + encoded;
        } else {
                if (req.content_length > BODY_MAX) {
                        r = -EMSGSIZE;
                        goto fail;
                }
                total = req.head_len + (size_t) req.content_length;
                r = c->in_len < total;
        }
        if (r > 0) {
                buf_done(&chunked_body);
                if (req.expect_continue && !c->continue_sent) {
                        r = buf_str(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
                        if (r < 0)
                                goto fail;
                        c->continue_sent = true;
                }
                return;
        }

        /* The body is read and dropped. */
        buf_done(&chunked_body);
        c->close_after_write = !req.keep_alive;
        r = handle_request(c, &req);
        if (r < 0)
                goto fail;
        memmove(c->in, c->in + total, c->in_len - total);
        c->in_len -= total;
        c->continue_sent = false;
        c->state = CONN_WRITING;
        return;

fail:
        /* Nothing more is read as a request on this connection. */
        buf_done(&chunked_body);
        c->in_len = 0;
        (void) respond_error(c, status_from_errno(r));
        c->state = CONN_WRITING;
}

/* Returns false when the connection is to be closed. */
static bool conn_on_readable(Conn *c) {
        ssize_t k;

        if (c->state == CONN_DRAINING) {
                char junk[4096];

                k = recv(c->fd, junk, sizeof(junk), 0);
                return k > 0 || (k < 0 && (errno == EAGAIN || errno == EINTR));
        }
        if (c->state != CONN_READING || c->in_len >= sizeof(c->in))
                return true;

        k = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
        if (k == 0)
                return false;
        if (k < 0)
                return errno == EAGAIN || errno == EINTR;
        c->in_len += (size_t) k;
        c->deadline_ms = now_ms() + IDLE_TIMEOUT_MS;
        conn_process(c);
        return true;
}

/* Sends what is queued; once a whole answer is out, reads the next request or closes. */
static bool conn_on_writable(Conn *c) {
        while (c->out_sent < c->out.len) {
                ssize_t k = send(c->fd, c->out.data + c->out_sent, c->out.len - c->out_sent, MSG_NOSIGNAL);

                if (k < 0)
                        return errno == EAGAIN || errno == EINTR;
                c->out_sent += (size_t) k;
                c->deadline_ms = now_ms() + IDLE_TIMEOUT_MS;
        }
        c->out.len = c->out_sent = 0;

        if (c->state != CONN_WRITING)
                return true;            /* only a "100 Continue" went out */
        if (c->close_after_write) {
                /* Close gracefully: stop sending, then read until the peer is done, so that
                 * unread bytes do not make the kernel reset the connection under the answer. */
                (void) shutdown(c->fd, SHUT_WR);
                c->state = CONN_DRAINING;
                c->deadline_ms = now_ms() + DRAIN_TIMEOUT_MS;
                return true;
        }
        c->state = CONN_READING;
        conn_process(c);                /* a pipelined request may be waiting */
        return true;
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
            bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static void accept_some(int lfd, Conn **conns, size_t *n_conns) {
        while (*n_conns < CONN_MAX) {
                int fd, one = 1;
                Conn *c;

                fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd < 0)
                        return;         /* EAGAIN, or a connection that died in the backlog */
                (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                c = calloc(1, sizeof(Conn));
                if (!c) {
                        close(fd);
                        return;
                }
                c->fd = fd;
                c->state = CONN_READING;
                c->deadline_ms = now_ms() + IDLE_TIMEOUT_MS;
                conns[(*n_conns)++] = c;
        }
}

static int serve(int lfd, const sigset_t *run_mask) {
        Conn *conns[CONN_MAX] = {};
        size_t n_conns = 0;

        while (!stop) {
                struct pollfd pfds[CONN_MAX + 1];
                struct timespec ts, *tsp = NULL;
                int64_t now = now_ms(), next = INT64_MAX;
                size_t n_pfds;
                int n;

                for (size_t i = 0; i < n_conns; i++) {
                        Conn *c = conns[i];
                        short ev = 0;

                        if (c->out_sent < c->out.len)
                                ev |= POLLOUT;
                        if ((c->state == CONN_READING && c->in_len < sizeof(c->in)) ||
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
                        fprintf(stderr, "headers: poll: %s\n", strerror(errno));
                        break;
                }

                now = now_ms();
                for (size_t i = 0; i < n_conns; i++) {
                        Conn *c = conns[i];
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

int main(int argc, char *argv[]) {
        struct sigaction sa = { .sa_handler = on_signal };
        sigset_t block, run_mask;
        int port = DEFAULT_PORT, lfd;

        if (argc > 2 || (argc == 2 && parse_port(argv[1], &port) < 0)) {
                fprintf(stderr, "usage: %s [PORT]\n", argv[0]);
                return 2;
        }

        /* The signals are blocked except inside ppoll(), so a stop request is never missed between
         * the check of the flag and the wait. */
        sigemptyset(&sa.sa_mask);
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGINT);
        if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
            sigprocmask(SIG_BLOCK, &block, &run_mask) < 0) {
                fprintf(stderr, "headers: signals: %s\n", strerror(errno));
                return 1;
        }
        sigdelset(&run_mask, SIGTERM);
        sigdelset(&run_mask, SIGINT);

        lfd = listen_on(port);
        if (lfd < 0) {
                fprintf(stderr, "headers: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(-lfd));
                return 1;
        }
        fprintf(stderr, "headers: listening on 127.0.0.1:%d\n", port);

        serve(lfd, &run_mask);

        close(lfd);
        fprintf(stderr, "headers: stopping\n");
        return 0;
}
