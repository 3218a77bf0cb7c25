/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The response parser:
 *
 *   HEAD --1xx head (not 101)--> HEAD            (interim responses are dropped, at most INTERIM_MAX)
 *     \--final head--> BODY --body ends, or the grain closes a close-delimited body--> COMPLETE
 *     \--101 asked for--> COMPLETE (upgrade)
 *   any --malformed, over a limit, closed early--> DEAD (p->error)
 *
 * (1) http-parser reads the bytes; our callbacks only record, and the verdict is given after
 *     http_parser_execute() returns, from p->error or http-parser's own errno.
 * (2) the parser stops (http_parser_pause()) at the end of the response, so bytes after it are never taken
 *     for part of it: they are handed back to the caller, which then never reuses the connection.
 * (3) ProxyResponse.headers point into p->storage, which no longer changes once the head is complete.
 */

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <http_parser.h>

#include "front/proxy.h"
#include "http/http-chars.h"

/* Interim (1xx) responses skipped before the final one: more is a grain playing games. */
#define INTERIM_MAX 16

/* ---- the request ---- */

int proxy_encode_uri_component(StrBuf *out, const char *p, size_t n) {
        static const char hex[] = "0123456789ABCDEF";
        size_t before = out->len;

        for (size_t i = 0; i < n; i++) {
                uint8_t c = (uint8_t) p[i];
                int r;

                if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    (c != 0 && strchr("-_.!~*'()", c)))
                        r = strbuf_append_char(out, (char) c);
                else {
                        char e[3] = {'%', hex[c >> 4], hex[c & 15]};

                        r = strbuf_append(out, e, 3);
                }
                if (r < 0) {
                        strbuf_truncate(out, before);
                        return r;
                }
        }
        return 0;
}

#define NAME_IS(h, lit) PROXY_HEADER_IS(h, lit)
#define NAME_HAS_PREFIX(h, lit)                                                                                  \
        ((h)->name_len >= STRLEN(lit) && http_strcaseeq((h)->name, STRLEN(lit), lit, STRLEN(lit)))

/* Whether a field named in a Connection header of headers names h. h's name is NUL-terminated at its length
 * (http.h's HttpHeader), so it is the token as it is. */
static bool named_by_connection(const HttpHeader *headers, size_t n, const HttpHeader *h) {
        assert(h->name[h->name_len] == '\0');
        return http_headers_have_token(headers, n, "connection", h->name);
}

/* A header name, lowercase, and its length. */
typedef struct Name {
        const char *name;
        size_t len;
} Name;
#define NAME(lit) {lit, STRLEN(lit)}

/* What never reaches the app from the client's request (besides the untrusted and Proxy-* names and those a
 * Connection field names), and what never reaches the client from the app's response: framing and
 * connection fields, and those granaryd sets itself. */
static const Name request_dropped[] = {
        NAME("te"), NAME("host"), NAME("expect"), NAME("cookie"), NAME("trailer"), NAME("upgrade"),
        NAME("connection"), NAME("keep-alive"), NAME("user-agent"), NAME("authorization"),
        NAME("content-length"), NAME("accept-language"), NAME("transfer-encoding"),
};
static const Name response_dropped[] = {
        NAME("te"), NAME("date"), NAME("trailer"), NAME("upgrade"), NAME("connection"), NAME("keep-alive"),
        NAME("content-length"), NAME("referrer-policy"), NAME("transfer-encoding"),
};

static bool name_listed(const HttpHeader *h, const Name *names, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (proxy_header_is(h, names[i].name, names[i].len))
                        return true;
        return false;
}

/* Whether h, a field of the client's request, reaches the app (see proxy.h for the list). connection: the
 * request has a Connection field (else no field can be named by one).
 *
 * The names are tokens and the values valid field values already, and are not checked again here: the
 * request parsers refused the request otherwise (http1.c's lex_field() for HTTP/1.1, http2.c's check_head()
 * for HTTP/2; http_request_new_http2() takes only what check_head() passed). */
static bool request_header_passes(const HttpHeader *all, size_t n, const HttpHeader *h, bool websocket,
                                  bool connection) {
        char first = (char) (h->name[0] | 0x20);

        if (name_listed(h, request_dropped, ELEMENTSOF(request_dropped)) ||
            (websocket && NAME_IS(h, "sec-websocket-key")))
                return false;
        /* the untrusted names start with 'x' or 'f' (http_header_name_is_untrusted()), Proxy-* with 'p' */
        if (first == 'x' || first == 'f') {
                if (NAME_HAS_PREFIX(h, "x-sandstorm-app-"))
                        return true;
                if (http_header_name_is_untrusted(h->name, h->name_len))
                        return false;
        } else if (first == 'p' && NAME_HAS_PREFIX(h, "proxy-"))
                return false;
        return !connection || !named_by_connection(all, n, h);
}

static bool cookie_is_ours(const char *p, size_t n) {
        static const char *const ours[] = {"sandstorm-sid", "__Host-granary-session", "granary-session"};
        const char *eq = memchr(p, '=', n);
        size_t name_len = eq ? (size_t) (eq - p) : n;

        strip_span(&p, &name_len);
        for (size_t i = 0; i < ELEMENTSOF(ours); i++)
                if (name_len == strlen(ours[i]) && memcmp(p, ours[i], name_len) == 0)
                        return true;
        return false;
}

#define PUT_LIT(p, s) ((char *) mempcpy((p), (s), STRLEN(s)))

/* Every Cookie field of the request (HTTP/2 sends one per cookie) as one "a=b; c=d" field, without ours,
 * written at p; returns its end (p itself when no cookie is left). A field of n bytes gives at most 2n + 2
 * (each ';' may become "; ", and "; " joins the fields), the whole at most 10 more. */
static char *cookies_put(char *p, const HttpRequest *req) {
        char *start = p;
        bool any = false;

        p = PUT_LIT(p, "Cookie: ");
        for (size_t i = 0; i < req->n_headers; i++) {
                const HttpHeader *h = req->headers + i;
                const char *v = h->value, *end = h->value + h->value_len;

                if (!NAME_IS(h, "cookie"))
                        continue;
                while (v < end) {
                        const char *semi = memchr(v, ';', (size_t) (end - v));
                        const char *q = v;
                        size_t n = (size_t) ((semi ?: end) - v);

                        strip_span(&q, &n);
                        if (n > 0 && !cookie_is_ours(q, n)) {
                                if (any)
                                        p = PUT_LIT(p, "; ");
                                p = mempcpy(p, q, n);
                                any = true;
                        }
                        v = semi ? semi + 1 : end;
                }
        }
        if (!any)
                return start;
        return PUT_LIT(p, "\r\n");
}

/* Appends the n bytes of each of the count pieces (pointer, length pairs): one reservation, memcpy's only
 * (the request head is built once per request, so no printf). */
static int append_pieces(StrBuf *out, size_t count, const struct iovec *v) {
        size_t total = 0;
        int r;

        for (size_t i = 0; i < count; i++)
                total += v[i].iov_len;
        r = strbuf_reserve(out, total);
        if (r < 0)
                return r;
        for (size_t i = 0; i < count; i++)
                if (v[i].iov_len > 0) {
                        r = strbuf_append(out, v[i].iov_base, v[i].iov_len);
                        if (r < 0)
                                return r;
                }
        return 0;
}

#define IOV(p, n) ((struct iovec) {(void *) (p), (n)})
#define IOV_STR(s) IOV(s, strlen(s))
#define IOV_LIT(s) IOV(s, STRLEN(s))

static int u64_append(StrBuf *out, uint64_t v) {
        char buf[20];

        return strbuf_append(out, buf, format_uint64(buf, v));
}

static int field_append(StrBuf *out, const char *name, const char *value) {
        size_t n = strlen(value);

        if (!http_field_value_is_valid(value, n))
                return -EINVAL;
        return append_pieces(out, 4, (const struct iovec[]) {IOV_STR(name), IOV_LIT(": "), IOV(value, n), IOV_LIT("\r\n")});
}

static int fields_append(StrBuf *out, const UiSession *s, const char *origin) {
        const char *authority = strstr(origin, "://");
        int r;

        if (!authority || !http_field_value_is_valid(origin, strlen(origin)))
                return -EINVAL;

        /* spec §5.3's order, from Accept-Language on */
        if ((r = field_append(out, "Accept-Language", s->accept_language)) < 0 ||
            (r = field_append(out, "User-Agent", s->user_agent)) < 0 ||
            (r = field_append(out, "X-Sandstorm-Tab-Id", s->tab_id)) < 0 ||
            (r = strbuf_append_str(out, "X-Sandstorm-Username: ")) < 0 ||
            (r = proxy_encode_uri_component(out, s->display_name, strlen(s->display_name))) < 0 ||
            (r = strbuf_append(out, "\r\n", 2)) < 0)
                return r;
        if (s->identity_id) {
                r = append_pieces(out, 3, (const struct iovec[]) {
                        IOV_LIT("X-Sandstorm-User-Id: "), IOV(s->identity_id, strnlen(s->identity_id, 32)),
                        IOV_LIT("\r\n")});
                if (r < 0)
                        return r;
                if (s->preferred_handle && (r = field_append(out, "X-Sandstorm-Preferred-Handle", s->preferred_handle)) < 0)
                        return r;
                if (s->picture_url && (r = field_append(out, "X-Sandstorm-User-Picture", s->picture_url)) < 0)
                        return r;
        }
        r = strbuf_append_str(out, "X-Sandstorm-Session-Type: normal\r\nX-Sandstorm-Permissions: ");
        if (r < 0)
                return r;
        STRV_FOREACH(p, s->permissions) {
                if (!http_field_value_is_valid(*p, strlen(*p)) || strchr(*p, ','))
                        return -EINVAL;
                r = append_pieces(out, 2, (const struct iovec[]) {IOV(",", p == s->permissions ? 0 : 1), IOV_STR(*p)});
                if (r < 0)
                        return r;
        }
        r = append_pieces(out, 7, (const struct iovec[]) {
                IOV_LIT("\r\nX-Sandstorm-Base-Path: "), IOV_STR(origin), IOV_LIT("\r\nHost: "), IOV_STR(authority + 3),
                IOV_LIT("\r\nX-Forwarded-Proto: "), IOV(origin, (size_t) (authority - origin)),
                IOV_LIT("\r\nX-Sandstorm-Session-Id: ")});
        if (r < 0 || (r = u64_append(out, s->number)) < 0 || (r = strbuf_append(out, "\r\n", 2)) < 0)
                return r;
        return 0;
}

int proxy_session_fields(const UiSession *s, const char *origin, char **ret, size_t *ret_len) {
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;
        int r;

        assert(s);
        assert(origin);
        assert(ret);
        assert(ret_len);

        r = fields_append(&b, s, origin);
        if (r < 0)
                return r;
        *ret = strbuf_steal(&b, ret_len);
        return *ret ? 0 : -ENOMEM;
}

#define WEBSOCKET_FIELDS "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "

/* Runs once per request: one reservation for the most the head can be, then copies only (no printf, no
 * growth). */
static int head_append(StrBuf *out, const char *fields, size_t fields_len, const HttpRequest *req,
                       const char *websocket_key) {
        bool websocket = websocket_key, connection = false, cookies = false;
        const char *method = websocket ? "GET" : http_method_to_string(req->method);
        size_t method_len = strlen(method), key_len = 0, room;
        char *p, *start;
        int r;

        if (websocket) {
                key_len = strlen(websocket_key);
                if (!http_field_value_is_valid(websocket_key, key_len))
                        return -EINVAL;
        }

        room = method_len + STRLEN(" ") + req->path_len + STRLEN(" HTTP/1.1\r\n") + fields_len + STRLEN("\r\n");
        if (websocket)
                room += STRLEN(WEBSOCKET_FIELDS) + key_len + STRLEN("\r\n");
        else
                /* longer than "Transfer-Encoding: chunked\r\n" */
                room += STRLEN("Content-Length: ") + 20 + STRLEN("\r\n");
        for (size_t i = 0; i < req->n_headers; i++) {
                const HttpHeader *h = req->headers + i;

                room += h->name_len + h->value_len + STRLEN(": \r\n");
                if (NAME_IS(h, "connection"))
                        connection = true;
                else if (NAME_IS(h, "cookie")) {
                        /* with the above, 2n + 10 for each: more than cookies_put() writes */
                        room += h->value_len;
                        cookies = true;
                }
        }
        if (cookies)
                room += STRLEN("Cookie: \r\n");

        r = strbuf_reserve(out, room);
        if (r < 0)
                return r;
        p = start = out->data + out->len;
        p = mempcpy(p, method, method_len);
        *p++ = ' ';
        p = mempcpy(p, req->path, req->path_len);
        p = PUT_LIT(p, " HTTP/1.1\r\n");
        if (websocket) {
                p = PUT_LIT(p, WEBSOCKET_FIELDS);
                p = mempcpy(p, websocket_key, key_len);
                p = PUT_LIT(p, "\r\n");
        }
        p = mempcpy(p, fields, fields_len);
        if (cookies)
                p = cookies_put(p, req);
        for (size_t i = 0; i < req->n_headers; i++) {
                const HttpHeader *h = req->headers + i;

                if (!request_header_passes(req->headers, req->n_headers, h, websocket, connection))
                        continue;
                p = mempcpy(p, h->name, h->name_len);
                p = PUT_LIT(p, ": ");
                p = mempcpy(p, h->value, h->value_len);
                p = PUT_LIT(p, "\r\n");
        }
        if (!websocket && req->framing == HTTP_FRAMING_LENGTH) {
                p = PUT_LIT(p, "Content-Length: ");
                p += format_uint64(p, req->content_length);
                p = PUT_LIT(p, "\r\n");
        } else if (!websocket && req->framing == HTTP_FRAMING_CHUNKED)
                p = PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
        p = PUT_LIT(p, "\r\n");
        assert((size_t) (p - start) <= room);
        *p = '\0';
        out->len = (size_t) (p - out->data);
        return 0;
}

int proxy_request_head_append_fields(StrBuf *out, const char *fields, size_t fields_len,
                                     const HttpRequest *req, const char *websocket_key) {
        size_t before = out->len;
        int r;

        assert(out);
        assert(fields || fields_len == 0);
        assert(req);

        r = head_append(out, fields, fields_len, req, websocket_key);
        if (r < 0)
                strbuf_truncate(out, before);
        return r;
}

int proxy_request_head_append(StrBuf *out, const UiSession *s, const char *origin, const HttpRequest *req,
                              const char *websocket_key) {
        _cleanup_free_ char *fields = NULL;
        size_t fields_len;
        int r;

        assert(out);
        assert(s);
        assert(origin);
        assert(req);

        r = proxy_session_fields(s, origin, &fields, &fields_len);
        if (r < 0)
                return r;
        return proxy_request_head_append_fields(out, fields, fields_len, req, websocket_key);
}

/* ---- the response ---- */

/* A field of the head: while the head is read, offsets into storage (which may move as it grows); once the
 * head is complete and storage changes no more (invariant 3), the HttpHeader in its place, so that the
 * array is ProxyResponse.headers as it is. */
typedef union Field {
        struct {
                size_t name_off, name_len, value_off, value_len;
        } at;
        HttpHeader header;
} Field;

static_assert(sizeof(Field) == sizeof(HttpHeader) && offsetof(Field, header) == 0,
              "an array of Field is an array of HttpHeader");

/* Fields held without an allocation: more than most apps send. */
#define FIELDS_INLINE 16
/* A buffer grown past this by one response is not kept for the next (proxy_response_parser_reset()). */
#define STORAGE_KEEP_MAX ((size_t) 16384)

struct ProxyResponseParser {
        /* kept from one response to the next */
        StrBuf storage; /* "name\0value\0" of each field */
        Field *fields;  /* fields_inline, or on the heap once there are more */
        size_t n_allocated;
        Field fields_inline[FIELDS_INLINE];

        /* the response: cleared for each (parser_start()), from hp to the end */
        http_parser hp;
        bool head_request, allow_upgrade;
        int error;

        /* the head being read */
        bool in_name, in_value;
        size_t name_off, name_len, value_off, value_len; /* the field being read, in storage (callbacks
                                                          * may give it in pieces, appended as they come) */
        size_t n_fields;
        size_t n_trailers;
        size_t head_bytes;
        unsigned n_interim;
        bool interim;

        bool head_done, complete;
        ProxyResponse response;
        StrBuf *body; /* during proxy_response_parser_feed() */
        uint64_t seen;
};

static void parser_start(ProxyResponseParser *p, bool head_request) {
        memset((uint8_t *) p + offsetof(ProxyResponseParser, hp), 0,
               sizeof *p - offsetof(ProxyResponseParser, hp));
        http_parser_init(&p->hp, HTTP_RESPONSE);
        p->hp.data = p;
        p->head_request = head_request;
        p->response.content_length = -1;
        strbuf_truncate(&p->storage, 0);
}

int proxy_response_parser_new(bool head_request, ProxyResponseParser **ret) {
        ProxyResponseParser *p;

        assert(ret);
        p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        p->fields = p->fields_inline;
        p->n_allocated = FIELDS_INLINE;
        parser_start(p, head_request);
        *ret = p;
        return 0;
}

static void fields_free(ProxyResponseParser *p) {
        if (p->fields != p->fields_inline)
                free(p->fields);
        p->fields = p->fields_inline;
        p->n_allocated = FIELDS_INLINE;
}

void proxy_response_parser_reset(ProxyResponseParser *p, bool head_request) {
        assert(p);
        if (p->storage.allocated > STORAGE_KEEP_MAX)
                strbuf_done(&p->storage);
        if (p->n_allocated * sizeof(Field) > STORAGE_KEEP_MAX)
                fields_free(p);
        parser_start(p, head_request);
}

ProxyResponseParser *proxy_response_parser_free(ProxyResponseParser *p) {
        if (!p)
                return NULL;
        strbuf_done(&p->storage);
        fields_free(p);
        free(p);
        return NULL;
}

void proxy_response_parser_allow_upgrade(ProxyResponseParser *p) {
        p->allow_upgrade = true;
}

const ProxyResponse *proxy_response_parser_head(const ProxyResponseParser *p) {
        return p->head_done ? &p->response : NULL;
}

bool proxy_response_parser_complete(const ProxyResponseParser *p) {
        return p->complete;
}

uint64_t proxy_response_parser_seen(const ProxyResponseParser *p) {
        return p->seen;
}

static int fail(ProxyResponseParser *p, int error) {
        if (p->error == 0)
                p->error = error;
        return -1; /* tells http-parser to stop */
}

static int count_head(ProxyResponseParser *p, size_t n) {
        p->head_bytes += n;
        return p->head_bytes > PROXY_RESPONSE_HEAD_MAX ? fail(p, -EMSGSIZE) : 0;
}

/* Room for one more field. */
static int fields_grow(ProxyResponseParser *p) {
        size_t k = p->n_allocated * 2;
        Field *nf;

        if (p->fields == p->fields_inline) {
                nf = reallocarray(NULL, k, sizeof(Field));
                if (!nf)
                        return -ENOMEM;
                memcpy(nf, p->fields_inline, sizeof p->fields_inline);
        } else {
                nf = reallocarray(p->fields, k, sizeof(Field));
                if (!nf)
                        return -ENOMEM;
        }
        p->fields = nf;
        p->n_allocated = k;
        return 0;
}

/* The field read so far, in storage, becomes one of the head's. Its bytes came from the grain: this is
 * the one check of them. */
static int commit_field(ProxyResponseParser *p) {
        const char *v;
        size_t vn;
        Field *f;

        if (!p->in_value)
                return 0;
        p->in_name = p->in_value = false;
        if (p->n_fields >= PROXY_RESPONSE_HEADER_COUNT_MAX)
                return fail(p, -EMSGSIZE);
        v = p->storage.data + p->value_off;
        vn = p->value_len;
        strip_span(&v, &vn);
        if (!http_token_is_valid(p->storage.data + p->name_off, p->name_len) ||
            !http_field_value_is_valid(v, vn))
                return fail(p, -EBADMSG);
        if (p->n_fields == p->n_allocated && fields_grow(p) < 0)
                return fail(p, -ENOMEM);
        f = p->fields + p->n_fields;
        f->at.name_off = p->name_off;
        f->at.name_len = p->name_len;
        f->at.value_off = (size_t) (v - p->storage.data);
        f->at.value_len = vn;
        /* the value ends where its trailing whitespace began; the name's NUL is there already */
        p->storage.data[f->at.value_off + vn] = '\0';
        if (strbuf_append(&p->storage, "", 1) < 0)
                return fail(p, -ENOMEM);
        p->n_fields++;
        return 0;
}

static int on_status(http_parser *hp, const char *at, size_t n) {
        return count_head(hp->data, n);
}

/* A trailer field of a chunked body (after the final head): checked and counted as a field of the head
 * would be, but not kept, so that the head's storage never changes once it is complete (invariant 3), and
 * trailers never mix with the head's fields. */
static int on_trailer_field(ProxyResponseParser *p, const char *at, size_t n) {
        /* a name split where a feed ended may come with a last piece of no bytes */
        if (n > 0 && !http_token_is_valid(at, n))
                return fail(p, -EBADMSG);
        if (!p->in_name) {
                p->in_name = true;
                if (++p->n_trailers > PROXY_RESPONSE_HEADER_COUNT_MAX)
                        return fail(p, -EMSGSIZE);
        }
        return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t n) {
        ProxyResponseParser *p = hp->data;

        /* ": " and CRLF once per field, however many pieces its name comes in: the limit must not depend
         * on how the grain's bytes were split */
        if (count_head(p, n + (!p->in_name || p->in_value ? 4 : 0)) < 0)
                return -1;
        if (p->head_done)
                return on_trailer_field(p, at, n);
        if (commit_field(p) < 0)
                return -1;
        if (!p->in_name) {
                p->in_name = true;
                p->name_off = p->storage.len;
                p->name_len = 0;
                /* most heads fit at once */
                if (!p->storage.data && strbuf_reserve(&p->storage, 1024) < 0)
                        return fail(p, -ENOMEM);
        }
        p->name_len += n;
        return strbuf_append(&p->storage, at, n) < 0 ? fail(p, -ENOMEM) : 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t n) {
        ProxyResponseParser *p = hp->data;

        if (count_head(p, n) < 0)
                return -1;
        if (p->head_done) {
                p->in_name = false;
                return http_field_value_is_valid(at, n) ? 0 : fail(p, -EBADMSG);
        }
        if (!p->in_value) {
                /* http-parser gives a value only after a name */
                if (!p->in_name)
                        return fail(p, -EBADMSG);
                if (strbuf_append(&p->storage, "", 1) < 0)
                        return fail(p, -ENOMEM);
                p->in_value = true;
                p->value_off = p->storage.len;
                p->value_len = 0;
        }
        p->value_len += n;
        return strbuf_append(&p->storage, at, n) < 0 ? fail(p, -ENOMEM) : 0;
}

static void reset_head(ProxyResponseParser *p) {
        p->in_name = p->in_value = false;
        strbuf_truncate(&p->storage, 0);
        p->n_fields = 0;
        p->head_bytes = 0;
}

/* Framing as we accept it: at most one Content-Length of digits, no Transfer-Encoding but exactly
 * "chunked", never both. http-parser refuses most of the rest too; this says it in one place. */
static int check_framing(const HttpHeader *h, size_t n) {
        const HttpHeader *cl = NULL, *te = NULL;

        for (size_t i = 0; i < n; i++)
                if (NAME_IS(h + i, "content-length")) {
                        if (cl)
                                return -EBADMSG;
                        cl = h + i;
                } else if (NAME_IS(h + i, "transfer-encoding")) {
                        if (te)
                                return -EBADMSG;
                        te = h + i;
                }
        if (cl && te)
                return -EBADMSG;
        if (te && !http_strcaseeq(te->value, te->value_len, "chunked", STRLEN("chunked")))
                return -EBADMSG;
        if (cl) {
                if (cl->value_len == 0 || cl->value_len > 18)
                        return -EBADMSG;
                for (size_t i = 0; i < cl->value_len; i++)
                        if (cl->value[i] < '0' || cl->value[i] > '9')
                                return -EBADMSG;
        }
        return 0;
}

/* A response that ends at the blank line after its head, whatever its fields say (RFC 9112 6.3): after a
 * 101 the other protocol's bytes follow; 204 and 304 have no content. (1xx interim heads too, above.) */
static bool status_is_bodiless(int status) {
        return status == 101 || status == 204 || status == 304;
}

static int on_headers_complete(http_parser *hp) {
        ProxyResponseParser *p = hp->data;
        int status = (int) hp->status_code, r;

        if (commit_field(p) < 0)
                return -1;
        if (hp->http_major != 1 || status < 100 || status > 599)
                return fail(p, -EBADMSG);
        if (status / 100 == 1 && status != 101) {
                /* interim: dropped. It has no content whatever its fields say (RFC 9110 15.2): 1 tells
                 * http-parser so, else it would take a Content-Length or chunks after it as a body. */
                if (++p->n_interim > INTERIM_MAX)
                        return fail(p, -EBADMSG);
                p->interim = true;
                reset_head(p);
                return 1;
        }
        if (status == 101 && (!p->allow_upgrade || !hp->upgrade))
                return fail(p, -EBADMSG);

        /* storage is final: the offsets become pointers, in place */
        for (size_t i = 0; i < p->n_fields; i++) {
                Field *f = p->fields + i;
                HttpHeader h = {
                        .name = p->storage.data + f->at.name_off,
                        .name_len = f->at.name_len,
                        .value = p->storage.data + f->at.value_off,
                        .value_len = f->at.value_len,
                };

                f->header = h;
        }
        p->response.headers = &p->fields->header;
        p->response.n_headers = p->n_fields;
        r = check_framing(p->response.headers, p->n_fields);
        if (r < 0)
                return fail(p, r);
        p->response.status = status;
        p->response.upgrade = status == 101;
        p->response.chunked = (hp->flags & F_CHUNKED) && !status_is_bodiless(status);
        p->response.content_length = (hp->flags & F_CONTENTLENGTH) && !p->head_request && !status_is_bodiless(status)
                                             ? (int64_t) hp->content_length
                                             : -1;
        if (p->head_request && (hp->flags & F_CONTENTLENGTH))
                /* what the body of a GET would be: the client's HEAD gets the same Content-Length */
                p->response.content_length = (int64_t) hp->content_length;
        p->head_done = true;
        /* 1: no body follows, whatever the fields say */
        return p->head_request || status_is_bodiless(status) ? 1 : 0;
}

static int on_body(http_parser *hp, const char *at, size_t n) {
        ProxyResponseParser *p = hp->data;

        if (!p->body || strbuf_append(p->body, at, n) < 0)
                return fail(p, -ENOMEM);
        return 0;
}

static int on_message_complete(http_parser *hp) {
        ProxyResponseParser *p = hp->data;

        if (p->interim) {
                p->interim = false;
                return 0;
        }
        if (!p->head_done)
                return fail(p, -EBADMSG);
        p->response.keep_alive = !p->response.upgrade && http_should_keep_alive(hp);
        p->complete = true;
        http_parser_pause(hp, 1);
        return 0;
}

static const http_parser_settings settings = {
        .on_status = on_status,
        .on_header_field = on_header_field,
        .on_header_value = on_header_value,
        .on_headers_complete = on_headers_complete,
        .on_body = on_body,
        .on_message_complete = on_message_complete,
};

/* A feed that fails gives nothing: the body bytes http-parser passed on before the bad byte go too. */
static ssize_t feed_failed(ProxyResponseParser *p, StrBuf *body, size_t body_len, int error) {
        if (p->error == 0)
                p->error = error;
        if (body && body->len > body_len)
                strbuf_truncate(body, body_len);
        return p->error;
}

ssize_t proxy_response_parser_feed(ProxyResponseParser *p, const uint8_t *data, size_t n, StrBuf *body) {
        enum http_errno e;
        size_t k, body_len;

        assert(p);
        if (p->error < 0)
                return p->error;
        if (p->complete)
                return 0;

        body_len = body ? body->len : 0;
        p->body = body;
        k = http_parser_execute(&p->hp, &settings, (const char *) data, n);
        p->body = NULL;
        e = HTTP_PARSER_ERRNO(&p->hp);
        if (p->error < 0)
                return feed_failed(p, body, body_len, p->error);
        if (e == HPE_PAUSED) {
                /* only on_message_complete pauses */
                p->seen += k;
                return (ssize_t) k;
        }
        if (e != HPE_OK)
                return feed_failed(p, body, body_len, n == 0 ? -ECONNRESET : -EBADMSG);
        if (n == 0 && !p->complete)
                return feed_failed(p, body, body_len, -ECONNRESET);
        if (p->hp.upgrade && p->head_done && p->response.upgrade)
                p->complete = true;
        else if (k != n)
                return feed_failed(p, body, body_len, -EBADMSG);
        p->seen += k;
        return (ssize_t) k;
}

/* ---- the response head, for the client ---- */

/* connection: the head has a Connection field (else no field can be named by one). */
static bool response_header_passes(const ProxyResponse *head, const HttpHeader *h, bool connection) {
        if (name_listed(h, response_dropped, ELEMENTSOF(response_dropped)))
                return false;
        if ((h->name[0] | 0x20) == 'p' && NAME_HAS_PREFIX(h, "proxy-"))
                return false;
        return !connection || !named_by_connection(head->headers, head->n_headers, h);
}

/* Set-Cookie without its Domain attributes into out (value_len + 1 bytes); false for a cookie that must not
 * be set at all. */
static bool set_cookie_rewrite(const HttpHeader *h, char *out, size_t *ret_len) {
        const char *p = h->value, *end = h->value + h->value_len;
        size_t len = 0;
        bool first = true;

        while (p < end) {
                const char *semi = memchr(p, ';', (size_t) (end - p)), *q = p, *eq;
                size_t n = (size_t) ((semi ?: end) - p), name_len;

                strip_span(&q, &n);
                eq = memchr(q, '=', n);
                name_len = eq ? (size_t) (eq - q) : n;
                {
                        const char *nm = q;

                        strip_span(&nm, &name_len);
                        if (first && http_strcaseeq(nm, name_len, "sandstorm-sid", STRLEN("sandstorm-sid")))
                                return false;
                        if (!first && http_strcaseeq(nm, name_len, "domain", 6)) {
                                p = semi ? semi + 1 : end;
                                continue;
                        }
                }
                if (!first) {
                        memcpy(out + len, "; ", 2);
                        len += 2;
                }
                memcpy(out + len, q, n);
                len += n;
                first = false;
                p = semi ? semi + 1 : end;
        }
        out[len] = '\0';
        *ret_len = len;
        return true;
}

/* The bytes the rewritten Set-Cookie values of head may take ("; " may replace a ";" with no space after
 * it), and whether head has a Connection field. */
static size_t filter_text_room(const ProxyResponse *head, bool *ret_connection) {
        size_t room = 0;
        bool connection = false;

        for (size_t i = 0; i < head->n_headers; i++) {
                const HttpHeader *h = head->headers + i;

                if (NAME_IS(h, "set-cookie"))
                        room += 2 * h->value_len + 1;
                else if (NAME_IS(h, "connection"))
                        connection = true;
        }
        *ret_connection = connection;
        return room;
}

/* The filtered fields into out (room for head->n_headers), rewritten values into text (room for what
 * filter_text_room() said); returns how many. */
static size_t filter(const ProxyResponse *head, bool connection, HttpHeader *out, char *text) {
        size_t n = 0;

        for (size_t i = 0; i < head->n_headers; i++) {
                const HttpHeader *f = head->headers + i;

                if (!response_header_passes(head, f, connection))
                        continue;
                if (NAME_IS(f, "set-cookie")) {
                        size_t len;

                        if (!set_cookie_rewrite(f, text, &len))
                                continue;
                        out[n++] = (HttpHeader) {f->name, f->name_len, text, len};
                        text += len + 1;
                } else
                        out[n++] = *f;
        }
        return n;
}

int proxy_response_headers_filter(const ProxyResponse *head, StrBuf *text, HttpHeader *out, size_t *ret_n) {
        size_t room;
        bool connection;
        int r;

        assert(head);
        assert(text);
        assert(out || head->n_headers == 0);
        assert(ret_n);

        room = filter_text_room(head, &connection);
        if (room > 0) {
                r = strbuf_reserve(text, room);
                if (r < 0)
                        return r;
        }
        *ret_n = filter(head, connection, out, room > 0 ? text->data + text->len : NULL);
        if (room > 0) {
                /* the values stay where they are: text is not to grow while they are used */
                text->len += room;
                text->data[text->len] = '\0';
        }
        return 0;
}
