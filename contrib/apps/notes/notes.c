/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * notes — an example app that keeps short notes as files, one file per note, in its data
 * directory: $NOTES_DIR, by default /var/notes (a grain's /var is its persistent storage).
 *
 *   GET  /                 the notes, newest first, and a form to add one
 *   POST /notes            adds one: application/x-www-form-urlencoded, field "text";
 *                          answers 303 See Other with Location: /notes/<id>
 *   GET  /notes/<id>       one note as a page
 *   GET  /notes/<id>.txt   one note as it was stored, text/plain
 *
 * Pages greet the user by the platform's X-Sandstorm-Username header ("Hello, NAME", the header
 * percent-decoded) when it is there. A note is the submitted text, UTF-8 with CRLF turned into LF,
 * stored under its id, a decimal number. It is written atomically: a temporary file is written and
 * fsync()ed, then renamed to its id without replacing anything, and the directory is fsync()ed; a
 * crash leaves either the whole note or none (temporary files are removed at the next start).
 *
 * It owns its data directory and its connections, and logs to stderr: one line on start and stop,
 * and one per request that fails on our side. It listens on 127.0.0.1:PORT (argv[1], default
 * 8000), speaks HTTP/1.1 with keep-alive, pipelining and chunked request bodies, and is
 * single-threaded around ppoll(); disk writes block it briefly, which is fine for one user's
 * notes. It is linked statically so the package needs nothing from the host. SIGTERM and SIGINT
 * end it with status 0.
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
 * (2) every buffer is bounded: the request (head and body) by CONN_IN_MAX, a note by NOTE_MAX,
 *     the index page by LIST_MAX notes of at most PREVIEW_MAX bytes;
 * (3) every connection has a deadline, moved on each byte of progress.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PORT 8000
#define CONN_MAX 64                     /* connections served at once; more wait in the backlog */
#define HEAD_MAX 16384                  /* request line and headers */
#define HEADERS_MAX 100
#define BODY_MAX 65536                  /* a form, percent-encoded */
#define NOTE_MAX 16384                  /* a note, decoded */
#define NOTE_ID_MAX 999999999u
#define LIST_MAX 200                    /* notes on the index page; older ones are counted */
#define SCAN_MAX 100000                 /* directory entries looked at for the index */
#define PREVIEW_MAX 80                  /* bytes of a note's first line on the index page */
#define DEFAULT_NOTES_DIR "/var/notes"
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
        case 303: return "See Other";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 413: return "Content Too Large";
        case 415: return "Unsupported Media Type";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 505: return "HTTP Version Not Supported";
        case 507: return "Insufficient Storage";
        default: return "Unknown";
        }
}

/* The one table from an error to a status. */
static int status_from_errno(int r) {
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

/* Queues a whole answer. extra_headers are whole lines ("Name: value\r\n…") or NULL. With send_body
 * false (HEAD) the headers still give the body's length. */
static int respond(Conn *c, int status, const char *content_type, const char *extra_headers,
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
                     status, status_reason(status), content_type, body_len, extra_headers ?: "",
                     c->close_after_write ? "Connection: close\r\n" : "");
        if (n < 0 || (size_t) n >= sizeof(head))
                return -EINVAL;
        if (buf_append(&c->out, head, (size_t) n) < 0 ||
            (send_body && buf_append(&c->out, body, body_len) < 0))
                return -ENOMEM;
        return 0;
}

/* An answer that is only its status ("404 Not Found"). */
static int respond_status(Conn *c, int status, const char *extra_headers, bool send_body) {
        char body[128];
        int n;

        n = snprintf(body, sizeof(body), "%d %s\n", status, status_reason(status));
        return respond(c, status, "text/plain; charset=utf-8", extra_headers, body, (size_t) n, send_body);
}

static int respond_error(Conn *c, int status) {
        c->close_after_write = true;
        return respond_status(c, status, NULL, true);
}

/* ---- the notes ---- */

static struct {
        int dir_fd;
        uint32_t next_id;               /* ids are never reused while the app runs */
        unsigned tmp_counter;
} notes = { .dir_fd = -1, .next_id = 1 };

static const Header *request_header(const Request *req, const char *name) {
        for (size_t i = 0; i < req->n_headers; i++)
                if (mem_eq_ci(req->headers[i].name, req->headers[i].name_len, name))
                        return &req->headers[i];
        return NULL;
}

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

static bool utf8_valid(const char *s, size_t n) {
        for (size_t i = 0, k; i < n; i += k) {
                k = utf8_valid_len((const unsigned char *) s + i, n - i);
                if (k == 0)
                        return false;
        }
        return true;
}

static int html_escape(Buf *b, const char *s, size_t n) {
        size_t start = 0;
        int r = 0;

        for (size_t i = 0; r >= 0 && i < n; i++) {
                const char *e = s[i] == '&' ? "&amp;" : s[i] == '<' ? "&lt;" : s[i] == '>' ? "&gt;" :
                                s[i] == '"' ? "&quot;" : s[i] == '\'' ? "&#39;" : NULL;
                if (!e)
                        continue;
                r = buf_append(b, s + start, i - start);
                r = r < 0 ? r : buf_str(b, e);
                start = i + 1;
        }
        return r < 0 ? r : buf_append(b, s + start, n - start);
}

static int unhex(char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
               c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/*
 * Appends s decoded to *ret. A form (form == true) turns '+' into a space and refuses a broken
 * escape with -EBADMSG; a header value keeps a broken escape as it is, since it is only shown.
 */
static int percent_decode(const char *s, size_t n, bool form, Buf *ret) {
        int r = 0;

        for (size_t i = 0; r >= 0 && i < n; i++) {
                char ch = s[i];

                if (ch == '%') {
                        int hi = i + 2 < n ? unhex(s[i + 1]) : -1;
                        int lo = i + 2 < n ? unhex(s[i + 2]) : -1;

                        if (hi >= 0 && lo >= 0) {
                                ch = (char) (hi << 4 | lo);
                                i += 2;
                        } else if (form)
                                return -EBADMSG;
                } else if (ch == '+' && form)
                        ch = ' ';
                r = buf_append(ret, &ch, 1);
        }
        return r;
}

/* Decodes the first field called name of an application/x-www-form-urlencoded body into *ret.
 * Returns 0, -ENOENT when there is none, or -EBADMSG. */
static int form_field(const char *body, size_t n, const char *name, Buf *ret) {
        size_t name_len = strlen(name), i = 0;

        while (i < n) {
                const char *amp = memchr(body + i, '&', n - i);
                size_t end = amp ? (size_t) (amp - body) : n;
                const char *eq = memchr(body + i, '=', end - i);
                size_t key_end = eq ? (size_t) (eq - body) : end;

                if (key_end - i == name_len && memcmp(body + i, name, name_len) == 0)
                        return eq ? percent_decode(eq + 1, end - key_end - 1, true, ret) : 0;
                i = end + 1;
        }
        return -ENOENT;
}

/* A note id: canonical decimal (no sign, no leading zero), 1 … NOTE_ID_MAX. */
static bool note_id_parse(const char *s, size_t n, uint32_t *ret) {
        uint32_t v = 0;

        if (n == 0 || n > 9 || s[0] == '0')
                return false;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (uint32_t) (s[i] - '0');
        }
        *ret = v;
        return true;
}

/* Reads at most max bytes of a note; with exact, a longer note is -EFBIG. -ENOENT when there is none. */
static int note_read(uint32_t id, size_t max, bool exact, Buf *ret) {
        char name[16];
        struct stat st;
        Buf b = {};
        int fd, r = 0;

        snprintf(name, sizeof(name), "%" PRIu32, id);
        fd = openat(notes.dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return errno == ELOOP ? -ENOENT : -errno;
        if (fstat(fd, &st) < 0)
                r = -errno;
        else if (!S_ISREG(st.st_mode))
                r = -ENOENT;            /* not a note: something else someone put there */
        else if (exact && (uint64_t) st.st_size > max)
                r = -EFBIG;

        while (r >= 0 && b.len < max) {
                char chunk[4096];
                size_t want = max - b.len < sizeof(chunk) ? max - b.len : sizeof(chunk);
                ssize_t k = read(fd, chunk, want);

                if (k < 0)
                        r = errno == EINTR ? 0 : -errno;
                else if (k == 0)
                        break;
                else
                        r = buf_append(&b, chunk, (size_t) k);
        }
        close(fd);
        if (r < 0) {
                buf_done(&b);
                return r;
        }
        *ret = b;
        return 0;
}

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/* Stores a note under the next free id, atomically and durably (see the top of this file). */
static int note_write(const char *text, size_t n, uint32_t *ret_id) {
        char tmp[64], name[16];
        uint32_t id = notes.next_id;
        int fd, r;

        snprintf(tmp, sizeof(tmp), ".tmp-%ld-%u", (long) getpid(), notes.tmp_counter++);
        fd = openat(notes.dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        r = write_all(fd, text, n);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r >= 0)
                r = -errno;

        /* Never replace a note: one that appeared behind our back (another copy of the app on the
         * same directory) only moves this one to the next id. */
        for (unsigned tries = 0; r >= 0; tries++, id++) {
                if (id > NOTE_ID_MAX || tries >= 1000) {
                        r = -ENOSPC;
                        break;
                }
                snprintf(name, sizeof(name), "%" PRIu32, id);
                if (renameat2(notes.dir_fd, tmp, notes.dir_fd, name, RENAME_NOREPLACE) >= 0)
                        break;
                if (errno == EEXIST)
                        continue;
                if (errno != EINVAL && errno != ENOSYS) {
                        r = -errno;
                        break;
                }
                /* A file system without RENAME_NOREPLACE: a hard link never replaces either. */
                if (linkat(notes.dir_fd, tmp, notes.dir_fd, name, 0) >= 0) {
                        (void) unlinkat(notes.dir_fd, tmp, 0);
                        break;
                }
                if (errno != EEXIST)
                        r = -errno;
        }
        if (r < 0) {
                (void) unlinkat(notes.dir_fd, tmp, 0);
                return r;
        }
        notes.next_id = id + 1;
        if (fsync(notes.dir_fd) < 0)
                return -errno;
        *ret_id = id;
        return 0;
}

static int id_compare_desc(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

        return x < y ? 1 : x > y ? -1 : 0;
}

/* The ids of the notes on disk, newest (highest) first; at most SCAN_MAX of them. With
 * remove_temporary, also deletes what an interrupted note_write() left behind. */
static int notes_scan(bool remove_temporary, uint32_t **ret_ids, size_t *ret_n) {
        uint32_t *ids = NULL;
        struct dirent *de;
        size_t n = 0, cap = 0;
        DIR *d;
        int fd;

        fd = openat(notes.dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                int r = -errno;
                close(fd);
                return r;
        }
        while ((de = readdir(d)) && n < SCAN_MAX) {
                uint32_t id;

                if (remove_temporary && strncmp(de->d_name, ".tmp-", 5) == 0) {
                        (void) unlinkat(notes.dir_fd, de->d_name, 0);
                        continue;
                }
                if (!note_id_parse(de->d_name, strlen(de->d_name), &id))
                        continue;
                if (n == cap) {
                        uint32_t *p = realloc(ids, (cap ? cap * 2 : 64) * sizeof(uint32_t));
                        if (!p) {
                                free(ids);
                                closedir(d);
                                return -ENOMEM;
                        }
                        ids = p;
                        cap = cap ? cap * 2 : 64;
                }
                ids[n++] = id;
        }
        closedir(d);
        if (n > 0)
                qsort(ids, n, sizeof(uint32_t), id_compare_desc);
        *ret_ids = ids;
        *ret_n = n;
        return 0;
}

static int notes_open(const char *dir) {
        uint32_t *ids = NULL;
        size_t n;
        int r;

        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        notes.dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (notes.dir_fd < 0)
                return -errno;
        r = notes_scan(true, &ids, &n);
        if (r < 0)
                return r;
        notes.next_id = n > 0 && ids[0] < NOTE_ID_MAX ? ids[0] + 1 : n > 0 ? NOTE_ID_MAX + 1 : 1;
        free(ids);
        return 0;
}

/* ---- pages ---- */

static int page_begin(Buf *b, const Request *req, const char *title) {
        const Header *user = request_header(req, "X-Sandstorm-Username");
        int r;

        r = buf_str(b, "<!DOCTYPE html>\n"
                       "<html lang=\"en\">\n"
                       "<head><meta charset=\"utf-8\">"
                       "<meta name=\"viewport\" content=\"width=device-width\">\n"
                       "<title>");
        r = r < 0 ? r : html_escape(b, title, strlen(title));
        r = r < 0 ? r : buf_str(b, "</title>\n"
                                   "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto;"
                                   "padding:0 1em}textarea{width:100%;box-sizing:border-box}"
                                   "pre{white-space:pre-wrap}</style>\n"
                                   "</head>\n<body>\n");
        if (r >= 0 && user) {
                Buf name = {};

                r = percent_decode(user->value, user->value_len, false, &name);
                r = r < 0 ? r : buf_str(b, "<p class=\"greeting\">Hello, ");
                r = r < 0 ? r : html_escape(b, name.data, name.len);
                r = r < 0 ? r : buf_str(b, "</p>\n");
                buf_done(&name);
        }
        return r;
}

static int page_end(Buf *b) {
        return buf_str(b, "</body>\n</html>\n");
}

/* The first line of a note, cut to PREVIEW_MAX bytes on a character boundary. */
static int preview(Buf *b, const char *s, size_t n) {
        const char *nl = memchr(s, '\n', n);
        size_t len = nl ? (size_t) (nl - s) : n;
        bool cut = len > PREVIEW_MAX || (nl && (size_t) (nl - s) + 1 < n);
        int r;

        if (len > PREVIEW_MAX) {
                len = PREVIEW_MAX;
                while (len > 0 && ((unsigned char) s[len] & 0xc0) == 0x80)
                        len--;
        }
        r = html_escape(b, s, len);
        return r < 0 || !cut ? r : buf_str(b, "…");
}

static int handle_index(Conn *c, const Request *req, bool send_body) {
        uint32_t *ids = NULL;
        Buf b = {};
        size_t n = 0;
        int r;

        r = notes_scan(false, &ids, &n);
        r = r < 0 ? r : page_begin(&b, req, "Notes");
        r = r < 0 ? r : buf_str(&b, "<h1>Notes</h1>\n"
                                    "<form method=\"post\" action=\"/notes\">\n"
                                    "<p><textarea name=\"text\" rows=\"4\" required></textarea></p>\n"
                                    "<p><button type=\"submit\">Add note</button></p>\n"
                                    "</form>\n");
        if (r >= 0 && n == 0)
                r = buf_str(&b, "<p>No notes yet.</p>\n");
        else if (r >= 0) {
                r = buf_str(&b, "<ul>\n");
                for (size_t i = 0; r >= 0 && i < n && i < LIST_MAX; i++) {
                        char line[64];
                        Buf text = {};

                        r = note_read(ids[i], PREVIEW_MAX + 64, false, &text);
                        if (r == -ENOENT) {     /* gone since the scan */
                                r = 0;
                                continue;
                        }
                        snprintf(line, sizeof(line), "<li><a href=\"/notes/%" PRIu32 "\">", ids[i]);
                        r = r < 0 ? r : buf_str(&b, line);
                        r = r < 0 ? r : preview(&b, text.data ?: "", text.len);
                        r = r < 0 ? r : buf_str(&b, "</a></li>\n");
                        buf_done(&text);
                }
                r = r < 0 ? r : buf_str(&b, "</ul>\n");
                if (r >= 0 && n > LIST_MAX) {
                        char more[64];

                        snprintf(more, sizeof(more), "<p>And %zu older notes.</p>\n", n - LIST_MAX);
                        r = buf_str(&b, more);
                }
        }
        r = r < 0 ? r : page_end(&b);
        r = r < 0 ? r : respond(c, 200, "text/html; charset=utf-8", NULL, b.data, b.len, send_body);
        free(ids);
        buf_done(&b);
        return r;
}

static int handle_show(Conn *c, const Request *req, uint32_t id, bool raw, bool send_body) {
        char title[32];
        Buf text = {}, b = {};
        int r;

        r = note_read(id, NOTE_MAX, true, &text);
        if (r == -EFBIG)
                r = -ENOENT;            /* not one of ours */
        if (r >= 0 && raw)
                r = respond(c, 200, "text/plain; charset=utf-8", NULL, text.data, text.len, send_body);
        else if (r >= 0) {
                snprintf(title, sizeof(title), "Note %" PRIu32, id);
                r = page_begin(&b, req, title);
                r = r < 0 ? r : buf_str(&b, "<h1>");
                r = r < 0 ? r : buf_str(&b, title);
                r = r < 0 ? r : buf_str(&b, "</h1>\n<pre>");
                r = r < 0 ? r : html_escape(&b, text.data ?: "", text.len);
                r = r < 0 ? r : buf_str(&b, "</pre>\n<p><a href=\"/\">All notes</a></p>\n");
                r = r < 0 ? r : page_end(&b);
                r = r < 0 ? r : respond(c, 200, "text/html; charset=utf-8", NULL, b.data, b.len, send_body);
        }
        buf_done(&text);
        buf_done(&b);
        return r;
}

static int handle_add(Conn *c, const Request *req, const char *body, size_t body_len) {
        static const char form_type[] = "application/x-www-form-urlencoded";
        const Header *ct = request_header(req, "Content-Type");
        size_t n_type = strlen(form_type);
        char location[64], page[160];
        Buf text = {};
        size_t j = 0;
        uint32_t id = 0;
        int r, n;

        /* The media type, ignoring parameters such as "; charset=UTF-8". */
        if (!ct || ct->value_len < n_type || strncasecmp(ct->value, form_type, n_type) != 0 ||
            (ct->value_len > n_type && !strchr("; \t", ct->value[n_type])))
                return -EMEDIUMTYPE;

        r = form_field(body, body_len, "text", &text);
        if (r >= 0 && text.len > NOTE_MAX)
                r = -EMSGSIZE;
        if (r >= 0 && (text.len == 0 || !utf8_valid(text.data, text.len)))
                r = -EBADMSG;
        if (r == -ENOENT)
                r = -EBADMSG;
        if (r < 0) {
                buf_done(&text);
                return r;
        }

        /* Browsers send a textarea's line breaks as CRLF; notes keep LF. */
        for (size_t i = 0; i < text.len; i++)
                if (!(text.data[i] == '\r' && i + 1 < text.len && text.data[i + 1] == '\n'))
                        text.data[j++] = text.data[i];
        text.len = j;

        r = note_write(text.data, text.len, &id);
        buf_done(&text);
        if (r < 0)
                return r;

        snprintf(location, sizeof(location), "Location: /notes/%" PRIu32 "\r\n", id);
        n = snprintf(page, sizeof(page), "<!DOCTYPE html>\n<p><a href=\"/notes/%" PRIu32 "\">Note %" PRIu32
                     "</a> added.</p>\n", id, id);
        return respond(c, 303, "text/html; charset=utf-8", location, page, (size_t) n, true);
}

static int handle_request(Conn *c, const Request *req, const char *body, size_t body_len) {
        const char *q = memchr(req->target, '?', req->target_len);
        const char *path = req->target;
        size_t path_len = q ? (size_t) (q - path) : req->target_len;
        bool get = mem_eq_ci(req->method, req->method_len, "GET");
        bool head = mem_eq_ci(req->method, req->method_len, "HEAD");
        int status, r = -ENOENT;
        uint32_t id;

        if (path_len == 1 && path[0] == '/') {
                if (!get && !head)
                        return respond_status(c, 405, "Allow: GET, HEAD\r\n", true);
                r = handle_index(c, req, get);
        } else if (path_len == 6 && memcmp(path, "/notes", 6) == 0) {
                if (!mem_eq_ci(req->method, req->method_len, "POST"))
                        return respond_status(c, 405, "Allow: POST\r\n", !head);
                r = handle_add(c, req, body, body_len);
        } else if (path_len > 7 && memcmp(path, "/notes/", 7) == 0) {
                bool raw = path_len > 11 && memcmp(path + path_len - 4, ".txt", 4) == 0;

                if (note_id_parse(path + 7, path_len - 7 - (raw ? 4 : 0), &id)) {
                        if (!get && !head)
                                return respond_status(c, 405, "Allow: GET, HEAD\r\n", true);
                        r = handle_show(c, req, id, raw, get);
                }
        }
        if (r >= 0 || r == -ENOMEM)
                return r;

        /* The one place a failed request is answered, and logged when it is our fault. */
        status = status_from_errno(r);
        if (status >= 500)
                fprintf(stderr, "notes: %.*s '%.*s' failed: %s\n", (int) req->method_len, req->method,
                        (int) path_len, path, strerror(-r));
        return respond_status(c, status, NULL, !head);
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

        c->close_after_write = !req.keep_alive;
        if (req.chunked)
                r = handle_request(c, &req, chunked_body.data ?: "", chunked_body.len);
        else
                r = handle_request(c, &req, c->in + req.head_len, (size_t) req.content_length);
        buf_done(&chunked_body);
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
                        fprintf(stderr, "notes: poll: %s\n", strerror(errno));
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
        const char *dir = getenv("NOTES_DIR");
        sigset_t block, run_mask;
        int port = DEFAULT_PORT, lfd, r;

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
                fprintf(stderr, "notes: signals: %s\n", strerror(errno));
                return 1;
        }
        sigdelset(&run_mask, SIGTERM);
        sigdelset(&run_mask, SIGINT);

        if (!dir || !*dir)
                dir = DEFAULT_NOTES_DIR;
        r = notes_open(dir);
        if (r < 0) {
                fprintf(stderr, "notes: cannot use '%s' for notes: %s\n", dir, strerror(-r));
                return 1;
        }

        lfd = listen_on(port);
        if (lfd < 0) {
                fprintf(stderr, "notes: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(-lfd));
                return 1;
        }
        fprintf(stderr, "notes: listening on 127.0.0.1:%d, notes in '%s'\n", port, dir);

        serve(lfd, &run_mask);

        close(lfd);
        close(notes.dir_fd);
        fprintf(stderr, "notes: stopping\n");
        return 0;
}
