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

#include <errno.h>
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

static bool name_is(const HttpHeader *h, const char *name) {
        return http_strcaseeq(h->name, h->name_len, name, strlen(name));
}

static bool name_has_prefix(const HttpHeader *h, const char *prefix) {
        size_t n = strlen(prefix);

        return h->name_len >= n && http_strcaseeq(h->name, n, prefix, n);
}

/* Whether a field named in a Connection header of headers names h. */
static bool named_by_connection(const HttpHeader *headers, size_t n, const HttpHeader *h) {
        _cleanup_free_ char *name = strndup_safe(h->name, h->name_len);

        if (!name)
                return true; /* out of memory: drop rather than pass */
        return http_headers_have_token(headers, n, "connection", name);
}

/* connection: the request has a Connection field (else no field can be named by one). */
static bool request_header_passes(const HttpHeader *all, size_t n, const HttpHeader *h, bool websocket,
                                  bool connection) {
        static const char *const dropped[] = {
                "host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer",
                "upgrade", "expect", "authorization", "user-agent", "accept-language", "cookie",
        };

        if (!http_token_is_valid(h->name, h->name_len) || !http_field_value_is_valid(h->value, h->value_len))
                return false;
        if (name_has_prefix(h, "x-sandstorm-app-"))
                return true;
        if (http_header_name_is_untrusted(h->name, h->name_len) || name_has_prefix(h, "proxy-"))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(dropped); i++)
                if (name_is(h, dropped[i]))
                        return false;
        if (websocket && name_is(h, "sec-websocket-key"))
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

/* Every Cookie field of the request (HTTP/2 sends one per cookie) as one "a=b; c=d" value, without ours. */
static int cookies_append(StrBuf *out, const HttpRequest *req) {
        size_t start = out->len;
        bool any = false;
        int r;

        r = strbuf_append_str(out, "Cookie: ");
        if (r < 0)
                return r;
        for (size_t i = 0; i < req->n_headers; i++) {
                const HttpHeader *h = req->headers + i;
                const char *p = h->value, *end = h->value + h->value_len;

                if (!name_is(h, "cookie") || !http_field_value_is_valid(h->value, h->value_len))
                        continue;
                while (p < end) {
                        const char *semi = memchr(p, ';', (size_t) (end - p));
                        const char *q = p;
                        size_t n = (size_t) ((semi ?: end) - p);

                        strip_span(&q, &n);
                        if (n > 0 && !cookie_is_ours(q, n)) {
                                if (any && (r = strbuf_append(out, "; ", 2)) < 0)
                                        return r;
                                if ((r = strbuf_append(out, q, n)) < 0)
                                        return r;
                                any = true;
                        }
                        p = semi ? semi + 1 : end;
                }
        }
        if (!any) {
                strbuf_truncate(out, start);
                return 0;
        }
        return strbuf_append(out, "\r\n", 2);
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
        char buf[20]; /* UINT64_MAX has 20 digits */
        size_t i = sizeof buf;

        do {
                buf[--i] = (char) ('0' + v % 10);
                v /= 10;
        } while (v > 0);
        return strbuf_append(out, buf + i, sizeof buf - i);
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

static int head_append(StrBuf *out, const char *fields, size_t fields_len, const HttpRequest *req,
                       const char *websocket_key) {
        bool websocket = websocket_key, connection;
        int r;

        /* the head's usual size, at once: a request's own fields are usually fewer than ours */
        r = strbuf_reserve(out, fields_len + req->path_len + 512);
        if (r < 0)
                return r;
        r = append_pieces(out, 4, (const struct iovec[]) {
                IOV_STR(websocket ? "GET" : http_method_to_string(req->method)), IOV_LIT(" "),
                IOV(req->path, req->path_len), IOV_LIT(" HTTP/1.1\r\n")});
        if (r < 0)
                return r;
        if (websocket) {
                r = strbuf_append_str(out, "Upgrade: websocket\r\nConnection: Upgrade\r\n");
                if (r < 0 || (r = field_append(out, "Sec-WebSocket-Key", websocket_key)) < 0)
                        return r;
        }
        r = strbuf_append(out, fields, fields_len);
        if (r < 0)
                return r;

        r = cookies_append(out, req);
        if (r < 0)
                return r;
        connection = http_headers_find(req->headers, req->n_headers, "connection");
        for (size_t i = 0; i < req->n_headers; i++) {
                const HttpHeader *h = req->headers + i;

                if (!request_header_passes(req->headers, req->n_headers, h, websocket, connection))
                        continue;
                r = append_pieces(out, 4, (const struct iovec[]) {
                        IOV(h->name, h->name_len), IOV_LIT(": "), IOV(h->value, h->value_len), IOV_LIT("\r\n")});
                if (r < 0)
                        return r;
        }

        if (!websocket && req->framing == HTTP_FRAMING_LENGTH) {
                r = strbuf_append_str(out, "Content-Length: ");
                if (r >= 0 && (r = u64_append(out, req->content_length)) >= 0)
                        r = strbuf_append(out, "\r\n", 2);
        } else if (!websocket && req->framing == HTTP_FRAMING_CHUNKED)
                r = strbuf_append_str(out, "Transfer-Encoding: chunked\r\n");
        if (r < 0)
                return r;
        return strbuf_append(out, "\r\n", 2);
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

typedef struct Field {
        size_t name_off, name_len, value_off, value_len;
} Field;

struct ProxyResponseParser {
        http_parser hp;
        bool head_request, allow_upgrade;
        int error;

        /* the head being read */
        bool in_name, in_value;
        size_t name_off, name_len, value_off, value_len; /* the field being read, in storage (callbacks
                                                          * may give it in pieces, appended as they come) */
        StrBuf storage;     /* "name\0value\0" of each field */
        Field *fields;
        size_t n_fields, n_allocated;
        size_t head_bytes;
        unsigned n_interim;
        bool interim;

        bool head_done, complete;
        ProxyResponse response;
        StrBuf *body; /* during proxy_response_parser_feed() */
        uint64_t seen;
};

int proxy_response_parser_new(bool head_request, ProxyResponseParser **ret) {
        ProxyResponseParser *p;

        assert(ret);
        p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        http_parser_init(&p->hp, HTTP_RESPONSE);
        p->hp.data = p;
        p->head_request = head_request;
        p->response.content_length = -1;
        *ret = p;
        return 0;
}

ProxyResponseParser *proxy_response_parser_free(ProxyResponseParser *p) {
        if (!p)
                return NULL;
        strbuf_done(&p->storage);
        free(p->fields);
        free(p->response.headers);
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

/* The field read so far, in storage, becomes one of the head's. */
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
        if (p->n_fields == p->n_allocated) {
                size_t k = MAX(p->n_allocated * 2, (size_t) 16);
                Field *nf = reallocarray(p->fields, k, sizeof(Field));

                if (!nf)
                        return fail(p, -ENOMEM);
                p->fields = nf;
                p->n_allocated = k;
        }
        f = p->fields + p->n_fields;
        *f = (Field) {
                .name_off = p->name_off,
                .name_len = p->name_len,
                .value_off = (size_t) (v - p->storage.data),
                .value_len = vn,
        };
        /* the value ends where its trailing whitespace began; the name's NUL is there already */
        p->storage.data[f->value_off + vn] = '\0';
        if (strbuf_append_char(&p->storage, 0) < 0)
                return fail(p, -ENOMEM);
        p->n_fields++;
        return 0;
}

static int on_status(http_parser *hp, const char *at, size_t n) {
        return count_head(hp->data, n);
}

static int on_header_field(http_parser *hp, const char *at, size_t n) {
        ProxyResponseParser *p = hp->data;

        if (count_head(p, n + 4) < 0 || commit_field(p) < 0)
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
        if (!p->in_value) {
                /* http-parser gives a value only after a name */
                if (!p->in_name)
                        return fail(p, -EBADMSG);
                if (strbuf_append_char(&p->storage, 0) < 0)
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
static int check_framing(ProxyResponseParser *p, const HttpHeader *h, size_t n) {
        size_t n_cl = http_headers_count(h, n, "content-length"), n_te = http_headers_count(h, n, "transfer-encoding");
        const HttpHeader *cl = http_headers_find(h, n, "content-length"), *te = http_headers_find(h, n, "transfer-encoding");

        if (n_cl > 1 || n_te > 1 || (cl && te))
                return -EBADMSG;
        if (te && !http_strcaseeq(te->value, te->value_len, "chunked", 7))
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

static int on_headers_complete(http_parser *hp) {
        ProxyResponseParser *p = hp->data;
        HttpHeader *h;
        int status = (int) hp->status_code, r;

        if (commit_field(p) < 0)
                return -1;
        if (hp->http_major != 1 || status < 100 || status > 599)
                return fail(p, -EBADMSG);
        if (status / 100 == 1 && status != 101) {
                /* interim: dropped; http-parser ends it as a message without a body */
                if (++p->n_interim > INTERIM_MAX)
                        return fail(p, -EBADMSG);
                p->interim = true;
                reset_head(p);
                return 0;
        }
        if (status == 101 && (!p->allow_upgrade || !hp->upgrade))
                return fail(p, -EBADMSG);

        h = calloc(MAX(p->n_fields, (size_t) 1), sizeof(HttpHeader));
        if (!h)
                return fail(p, -ENOMEM);
        for (size_t i = 0; i < p->n_fields; i++)
                h[i] = (HttpHeader) {
                        .name = p->storage.data + p->fields[i].name_off,
                        .name_len = p->fields[i].name_len,
                        .value = p->storage.data + p->fields[i].value_off,
                        .value_len = p->fields[i].value_len,
                };
        p->response.headers = h;
        p->response.n_headers = p->n_fields;
        r = check_framing(p, h, p->n_fields);
        if (r < 0)
                return fail(p, r);
        p->response.status = status;
        p->response.upgrade = status == 101;
        p->response.chunked = hp->flags & F_CHUNKED;
        p->response.content_length = (hp->flags & F_CONTENTLENGTH) && !p->head_request && status != 204 &&
                                                     status != 304
                                             ? (int64_t) hp->content_length
                                             : -1;
        if (p->head_request && (hp->flags & F_CONTENTLENGTH))
                /* what the body of a GET would be: the client's HEAD gets the same Content-Length */
                p->response.content_length = (int64_t) hp->content_length;
        p->head_done = true;
        return p->head_request ? 1 : 0; /* 1: no body follows, whatever the fields say */
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

ssize_t proxy_response_parser_feed(ProxyResponseParser *p, const uint8_t *data, size_t n, StrBuf *body) {
        enum http_errno e;
        size_t k;

        assert(p);
        if (p->error < 0)
                return p->error;
        if (p->complete)
                return 0;

        p->body = body;
        k = http_parser_execute(&p->hp, &settings, (const char *) data, n);
        p->body = NULL;
        e = HTTP_PARSER_ERRNO(&p->hp);
        if (p->error < 0)
                return p->error;
        if (e == HPE_PAUSED) {
                /* only on_message_complete pauses */
                p->seen += k;
                return (ssize_t) k;
        }
        if (e != HPE_OK) {
                p->error = n == 0 ? -ECONNRESET : -EBADMSG;
                return p->error;
        }
        if (n == 0 && !p->complete) {
                p->error = -ECONNRESET;
                return p->error;
        }
        if (p->hp.upgrade && p->head_done && p->response.upgrade)
                p->complete = true;
        else if (k != n) {
                p->error = -EBADMSG;
                return p->error;
        }
        p->seen += k;
        return (ssize_t) k;
}

/* ---- the response head, for the client ---- */

static bool response_header_passes(const ProxyResponse *head, const HttpHeader *h) {
        static const char *const dropped[] = {
                "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "content-length",
                "date", "referrer-policy",
        };

        for (size_t i = 0; i < ELEMENTSOF(dropped); i++)
                if (name_is(h, dropped[i]))
                        return false;
        if (name_has_prefix(h, "proxy-"))
                return false;
        return !named_by_connection(head->headers, head->n_headers, h);
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

int proxy_response_headers_filter(const ProxyResponse *head, HttpHeader **ret, size_t *ret_n) {
        size_t size, n = 0;
        char *text;
        HttpHeader *h;

        assert(head);
        assert(ret);
        assert(ret_n);

        size = MAX(head->n_headers, (size_t) 1) * sizeof(HttpHeader);
        for (size_t i = 0; i < head->n_headers; i++)
                if (name_is(head->headers + i, "set-cookie"))
                        /* "; " may replace a ";" with no space after it */
                        size += 2 * head->headers[i].value_len + 1;
        h = malloc(size);
        if (!h)
                return -ENOMEM;
        text = (char *) (h + MAX(head->n_headers, (size_t) 1));
        for (size_t i = 0; i < head->n_headers; i++) {
                const HttpHeader *f = head->headers + i;

                if (!response_header_passes(head, f))
                        continue;
                if (name_is(f, "set-cookie")) {
                        size_t len;

                        if (!set_cookie_rewrite(f, text, &len))
                                continue;
                        h[n++] = (HttpHeader) {f->name, f->name_len, text, len};
                        text += len + 1;
                } else
                        h[n++] = *f;
        }
        *ret = h;
        *ret_n = n;
        return 0;
}
