/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The bytes between granaryd and a grain (front/proxy.h): the request head the app receives, byte for byte,
 * for crafted sessions and hostile requests; the response parser over every framing, split at every byte;
 * and the filter of the response head.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "front/proxy.h"

#define H(n, v) ((HttpHeader) {(n), sizeof(n) - 1, (v), sizeof(v) - 1})
#define ORIGIN "http://ui-a8ae6e6ee929abea3afcfc5258c8ccd6.granary.localhost:6080"

static char *no_perms[] = {NULL};

static UiSession session_anonymous(void) {
        return (UiSession) {
                .id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                .host_id = "a8ae6e6ee929abea3afcfc5258c8ccd6",
                .tab_id = "f9bec8f153d6f73169a27de1bfd60285",
                .number = 0,
                .grain_id = (char *) "g",
                .display_name = (char *) "Anonymous User",
                .permissions = no_perms,
                .user_agent = (char *) "UnknownAgent/0.0",
                .accept_language = (char *) "en-US,en",
        };
}

static HttpRequest *request(HttpMethod m, const char *path, const HttpHeader *h, size_t n, HttpFraming framing,
                            uint64_t length) {
        HttpRequest *r;

        assert_int_equal(http_request_new_http2(m, path, strlen(path), "x", 1, h, n, framing, length, &r), 0);
        return r;
}

/* The head, made whole and made from the session's fields kept apart (as ui.c does): the same bytes. */
static char *head_of(const UiSession *s, const HttpRequest *r, const char *ws_key) {
        StrBuf b = STRBUF_INIT;
        _cleanup_strbuf_ StrBuf halves = STRBUF_INIT;
        _cleanup_free_ char *fields = NULL;
        size_t fields_len;

        assert_int_equal(proxy_request_head_append(&b, s, ORIGIN, r, ws_key), 0);
        assert_int_equal(proxy_session_fields(s, ORIGIN, &fields, &fields_len), 0);
        assert_int_equal(strlen(fields), fields_len);
        assert_true(startswith(fields, "Accept-Language: "));
        assert_true(endswith(fields, "\r\n"));
        assert_int_equal(proxy_request_head_append_fields(&halves, fields, fields_len, r, ws_key), 0);
        assert_string_equal(halves.data, b.data);
        return strbuf_steal(&b, NULL);
}

static void test_username_encoding(void **state) {
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;
        static const char all[] = "AZaz09-_.!~*'() \"#$%&+,/:;<=>?@[\\]^`{|}";

        assert_int_equal(proxy_encode_uri_component(&b, "Kurt Friedrich Gödel", strlen("Kurt Friedrich Gödel")), 0);
        assert_string_equal(b.data, "Kurt%20Friedrich%20G%C3%B6del");
        strbuf_truncate(&b, 0);
        assert_int_equal(proxy_encode_uri_component(&b, all, STRLEN(all)), 0);
        assert_string_equal(b.data, "AZaz09-_.!~*'()%20%22%23%24%25%26%2B%2C%2F%3A%3B%3C%3D%3E%3F%40%5B%5C%5D%5E%60%7B%7C%7D");
        strbuf_truncate(&b, 0);
        assert_int_equal(proxy_encode_uri_component(&b, "\0\n\xff", 3), 0);
        assert_string_equal(b.data, "%00%0A%FF");
}

static void test_request_anonymous(void **state) {
        UiSession s = session_anonymous();
        _cleanup_(http_request_freep) HttpRequest *r = request(HTTP_METHOD_GET, "/a/b?c=d", NULL, 0, HTTP_FRAMING_NONE, 0);
        _cleanup_free_ char *got = head_of(&s, r, NULL);

        assert_string_equal(got, "GET /a/b?c=d HTTP/1.1\r\n"
                                 "Accept-Language: en-US,en\r\n"
                                 "User-Agent: UnknownAgent/0.0\r\n"
                                 "X-Sandstorm-Tab-Id: f9bec8f153d6f73169a27de1bfd60285\r\n"
                                 "X-Sandstorm-Username: Anonymous%20User\r\n"
                                 "X-Sandstorm-Session-Type: normal\r\n"
                                 "X-Sandstorm-Permissions: \r\n"
                                 "X-Sandstorm-Base-Path: " ORIGIN "\r\n"
                                 "Host: ui-a8ae6e6ee929abea3afcfc5258c8ccd6.granary.localhost:6080\r\n"
                                 "X-Forwarded-Proto: http\r\n"
                                 "X-Sandstorm-Session-Id: 0\r\n"
                                 "\r\n");
}

static void test_request_user_with_body(void **state) {
        char *perms[] = {(char *) "read", (char *) "write", (char *) "admin", NULL};
        UiSession s = session_anonymous();
        HttpHeader h[] = {
                H("content-type", "application/json"),
                H("range", "bytes=0-9"),
                H("if-none-match", "\"abc\""),
                H("x-sandstorm-app-foo", "kept"),
                H("X-Requested-With", "XMLHttpRequest"),
        };
        _cleanup_(http_request_freep) HttpRequest *r = request(HTTP_METHOD_POST, "/api", h, ELEMENTSOF(h),
                                                               HTTP_FRAMING_LENGTH, 12);
        _cleanup_(http_request_freep) HttpRequest *r2 = request(HTTP_METHOD_PUT, "/up", NULL, 0, HTTP_FRAMING_CHUNKED, 0);
        _cleanup_free_ char *got = NULL, *got2 = NULL;

        s.identity_id = (char *) "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        s.display_name = (char *) "Kurt Friedrich Gödel";
        s.preferred_handle = (char *) "kurt";
        s.picture_url = (char *) "https://example.org/k.png";
        s.permissions = perms;
        s.user_agent = (char *) "Mozilla/5.0";
        s.accept_language = (char *) "de-DE,de;q=0.9";
        s.number = 17;
        got = head_of(&s, r, NULL);
        assert_string_equal(got, "POST /api HTTP/1.1\r\n"
                                 "Accept-Language: de-DE,de;q=0.9\r\n"
                                 "User-Agent: Mozilla/5.0\r\n"
                                 "X-Sandstorm-Tab-Id: f9bec8f153d6f73169a27de1bfd60285\r\n"
                                 "X-Sandstorm-Username: Kurt%20Friedrich%20G%C3%B6del\r\n"
                                 "X-Sandstorm-User-Id: 00112233445566778899aabbccddeeff\r\n"
                                 "X-Sandstorm-Preferred-Handle: kurt\r\n"
                                 "X-Sandstorm-User-Picture: https://example.org/k.png\r\n"
                                 "X-Sandstorm-Session-Type: normal\r\n"
                                 "X-Sandstorm-Permissions: read,write,admin\r\n"
                                 "X-Sandstorm-Base-Path: " ORIGIN "\r\n"
                                 "Host: ui-a8ae6e6ee929abea3afcfc5258c8ccd6.granary.localhost:6080\r\n"
                                 "X-Forwarded-Proto: http\r\n"
                                 "X-Sandstorm-Session-Id: 17\r\n"
                                 "content-type: application/json\r\n"
                                 "range: bytes=0-9\r\n"
                                 "if-none-match: \"abc\"\r\n"
                                 "x-sandstorm-app-foo: kept\r\n"
                                 "X-Requested-With: XMLHttpRequest\r\n"
                                 "Content-Length: 12\r\n"
                                 "\r\n");
        /* a body of unknown length is chunked */
        got2 = head_of(&s, r2, NULL);
        assert_true(startswith(got2, "PUT /up HTTP/1.1\r\n"));
        assert_true(endswith(got2, "X-Sandstorm-Session-Id: 17\r\nTransfer-Encoding: chunked\r\n\r\n"));
}

static void test_request_forged_headers(void **state) {
        UiSession s = session_anonymous();
        HttpHeader h[] = {
                H("X-Sandstorm-User-Id", "00000000000000000000000000000000"),
                H("x-sandstorm-permissions", "admin"),
                H("X_Sandstorm_Username", "root"),
                H("x-SANDSTORM-tab-id", "x"),
                H("X-Forwarded-For", "1.2.3.4"),
                H("x_forwarded_proto", "https"),
                H("Forwarded", "for=1.2.3.4"),
                H("X-Real-IP", "1.2.3.4"),
                H("Authorization", "Bearer secret"),
                H("Proxy-Authorization", "Basic x"),
                H("Connection", "keep-alive, X-Custom-Hop"),
                H("X-Custom-Hop", "gone"),
                H("Keep-Alive", "timeout=5"),
                H("TE", "trailers"),
                H("Trailer", "X"),
                H("Upgrade", "h2c"),
                H("Expect", "100-continue"),
                H("Host", "evil.example"),
                H("User-Agent", "ForgedAgent"),
                H("Accept-Language", "xx"),
                H("Cookie", "a=1; sandstorm-sid=0123; __Host-granary-session=s3cr3t"),
                H("cookie", "granary-session=t; b=2"),
                H("Accept", "text/html"),
        };
        _cleanup_(http_request_freep) HttpRequest *r = request(HTTP_METHOD_GET, "/", h, ELEMENTSOF(h),
                                                               HTTP_FRAMING_NONE, 0);
        _cleanup_free_ char *got = head_of(&s, r, NULL);

        /* every identity header is ours, the shell's cookies are gone, hop-by-hop fields are gone */
        assert_string_equal(got, "GET / HTTP/1.1\r\n"
                                 "Accept-Language: en-US,en\r\n"
                                 "User-Agent: UnknownAgent/0.0\r\n"
                                 "X-Sandstorm-Tab-Id: f9bec8f153d6f73169a27de1bfd60285\r\n"
                                 "X-Sandstorm-Username: Anonymous%20User\r\n"
                                 "X-Sandstorm-Session-Type: normal\r\n"
                                 "X-Sandstorm-Permissions: \r\n"
                                 "X-Sandstorm-Base-Path: " ORIGIN "\r\n"
                                 "Host: ui-a8ae6e6ee929abea3afcfc5258c8ccd6.granary.localhost:6080\r\n"
                                 "X-Forwarded-Proto: http\r\n"
                                 "X-Sandstorm-Session-Id: 0\r\n"
                                 "Cookie: a=1; b=2\r\n"
                                 "Accept: text/html\r\n"
                                 "\r\n");
}

static void test_request_websocket(void **state) {
        UiSession s = session_anonymous();
        HttpHeader h[] = {
                H("Upgrade", "websocket"),
                H("Connection", "Upgrade"),
                H("Sec-WebSocket-Key", "Y2xpZW50IGtleSAxMjM0NQ=="),
                H("Sec-WebSocket-Version", "13"),
                H("Sec-WebSocket-Protocol", "chat"),
        };
        _cleanup_(http_request_freep) HttpRequest *r = request(HTTP_METHOD_CONNECT, "/ws", h, ELEMENTSOF(h),
                                                               HTTP_FRAMING_CHUNKED, 0);
        _cleanup_free_ char *got = head_of(&s, r, "dGhlIHNhbXBsZSBub25jZQ==");

        assert_true(startswith(got, "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAccept-Language: en-US,en\r\n"));
        assert_true(endswith(got, "X-Sandstorm-Session-Id: 0\r\nSec-WebSocket-Version: 13\r\n"
                                  "Sec-WebSocket-Protocol: chat\r\n\r\n"));
        assert_null(strstr(got, "Y2xpZW50"));
        assert_null(strstr(got, "Transfer-Encoding"));
}

/* Connection: and the fields it names go, cookies are joined whatever their spacing (the head grows past
 * the bytes the fields had: one reservation must hold it), and many fields pass in order. */
static void test_request_connection_cookies_many(void **state) {
        UiSession s = session_anonymous();
        HttpHeader h[40];
        char names[30][16], values[30][16];
        size_t n = 0;
        _cleanup_strbuf_ StrBuf want = STRBUF_INIT;

        h[n++] = H("Connection", "keep-alive, X-Named");
        h[n++] = H("x-named", "gone");
        h[n++] = H("cookie", "a=1;b=2;c=3;sandstorm-sid=x;d=4");
        h[n++] = H("Cookie", "e=5;;f");
        h[n++] = H("X-Sandstorm-App-Named", "kept");
        for (size_t i = 0; i < 30; i++) {
                snprintf(names[i], sizeof names[i], "X-F%zu", i);
                snprintf(values[i], sizeof values[i], "v%zu", i * 7);
                h[n++] = (HttpHeader) {names[i], strlen(names[i]), values[i], strlen(values[i])};
        }
        _cleanup_(http_request_freep) HttpRequest *r = request(HTTP_METHOD_DELETE, "/x", h, n, HTTP_FRAMING_NONE, 0);
        _cleanup_free_ char *got = head_of(&s, r, NULL);

        assert_int_equal(strbuf_append_str(&want, "X-Sandstorm-Session-Id: 0\r\n"
                                                  "Cookie: a=1; b=2; c=3; d=4; e=5; f\r\n"
                                                  "X-Sandstorm-App-Named: kept\r\n"),
                         0);
        for (size_t i = 0; i < 30; i++)
                assert_int_equal(strbuf_printf(&want, "X-F%zu: v%zu\r\n", i, i * 7), 0);
        assert_int_equal(strbuf_append_str(&want, "\r\n"), 0);
        assert_true(startswith(got, "DELETE /x HTTP/1.1\r\nAccept-Language: en-US,en\r\n"));
        if (!endswith(got, want.data))
                fail_msg("got %s", got);
        assert_null(strstr(got, "gone"));
        assert_null(strstr(got, "keep-alive"));
}

/* ---- the response parser ---- */

typedef struct Parsed {
        ssize_t result; /* the first error, or the bytes consumed in all */
        int status;
        int64_t length;
        bool chunked, keep_alive, complete;
        StrBuf body;
        char *headers; /* "name: value\n"… */
} Parsed;

static void parsed_done(Parsed *p) {
        strbuf_done(&p->body);
        free(p->headers);
}

/* Feeds text in pieces of step bytes (0: all at once), then EOF when eof. */
static Parsed parse(const char *text, size_t step, bool head_request, bool eof) {
        _cleanup_(proxy_response_parser_freep) ProxyResponseParser *p = NULL;
        Parsed out = {.result = 0};
        size_t n = strlen(text), off = 0;
        const ProxyResponse *h;

        assert_int_equal(proxy_response_parser_new(head_request, &p), 0);
        while (off < n) {
                size_t k = step == 0 ? n - off : MIN(step, n - off);
                ssize_t used = proxy_response_parser_feed(p, (const uint8_t *) text + off, k, &out.body);

                if (used < 0) {
                        out.result = used;
                        return out;
                }
                off += (size_t) used;
                out.result += used;
                if ((size_t) used < k)
                        break;
        }
        if (eof && !proxy_response_parser_complete(p)) {
                ssize_t used = proxy_response_parser_feed(p, NULL, 0, &out.body);

                if (used < 0) {
                        out.result = used;
                        return out;
                }
        }
        h = proxy_response_parser_head(p);
        if (h) {
                StrBuf b = STRBUF_INIT;

                out.status = h->status;
                out.length = h->content_length;
                out.chunked = h->chunked;
                out.keep_alive = h->keep_alive;
                for (size_t i = 0; i < h->n_headers; i++)
                        assert_int_equal(strbuf_printf(&b, "%s: %s\n", h->headers[i].name, h->headers[i].value), 0);
                out.headers = strbuf_steal(&b, NULL);
        }
        out.complete = proxy_response_parser_complete(p);
        return out;
}

static void test_response_length(void **state) {
        static const char text[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-A:  spaced  \r\n\r\nhello"
                                   "HTTP/1.1 200 OK\r\n";

        for (size_t step = 0; step <= 7; step++) {
                Parsed p = parse(text, step, false, false);

                /* stops at the end of the response: the next bytes are not taken */
                assert_int_equal(p.result, STRLEN(text) - STRLEN("HTTP/1.1 200 OK\r\n"));
                assert_int_equal(p.status, 200);
                assert_int_equal(p.length, 5);
                assert_true(p.complete);
                assert_true(p.keep_alive);
                assert_string_equal(p.body.data, "hello");
                assert_string_equal(p.headers, "Content-Type: text/plain\nContent-Length: 5\nX-A: spaced\n");
                parsed_done(&p);
        }
}

static void test_response_chunked(void **state) {
        static const char text[] = "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";

        for (size_t step = 0; step <= 5; step++) {
                Parsed p = parse(text, step, false, false);

                assert_int_equal(p.result, STRLEN(text));
                assert_int_equal(p.status, 201);
                assert_int_equal(p.length, -1);
                assert_true(p.chunked);
                assert_true(p.complete);
                assert_true(p.keep_alive);
                assert_string_equal(p.body.data, "hello world");
                parsed_done(&p);
        }
}

static void test_response_close_delimited(void **state) {
        Parsed p = parse("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", 3, false, true);

        assert_int_equal(p.status, 200);
        assert_int_equal(p.length, -1);
        assert_true(p.complete);
        assert_false(p.keep_alive);
        assert_string_equal(p.body.data, "until the end");
        parsed_done(&p);

        /* HTTP/1.0 and Connection: close end the connection */
        p = parse("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, false, false);
        assert_true(p.complete);
        assert_false(p.keep_alive);
        parsed_done(&p);
        p = parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 0, false, false);
        assert_true(p.complete);
        assert_false(p.keep_alive);
        parsed_done(&p);
}

static void test_response_interim_and_empty(void **state) {
        Parsed p = parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                         "HTTP/1.1 204 No Content\r\nX-B: 1\r\n\r\n",
                         1, false, false);

        assert_int_equal(p.status, 204);
        assert_true(p.complete);
        assert_string_equal(p.headers, "X-B: 1\n"); /* the interim heads' fields are not the final's */
        assert_null(p.body.data);
        parsed_done(&p);

        /* An interim head has no content, whatever its fields say: the bytes after it are the next head,
         * never body (else a grain could put bytes in a HEAD response and desynchronise the client). */
        for (size_t step = 0; step <= 3; step++)
                for (int head = 0; head <= 1; head++) {
                        p = parse("HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n"
                                  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n" "ok",
                                  step, head, false);
                        assert_int_equal(p.status, 200);
                        assert_true(p.complete);
                        if (head)
                                assert_null(p.body.data);
                        else
                                assert_string_equal(p.body.data, "ok");
                        parsed_done(&p);
                }
        p = parse("HTTP/1.1 103 Early Hints\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n" "ok", 0, false, false);
        assert_int_equal(p.status, 200);
        assert_string_equal(p.body.data, "ok");
        parsed_done(&p);

        /* 204 and 304 end at the blank line whatever their fields say: what follows is not theirs */
        p = parse("HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\n" "ok", 1, false, false);
        assert_int_equal(p.result, STRLEN("HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\n"));
        assert_int_equal(p.status, 204);
        assert_int_equal(p.length, -1);
        assert_true(p.complete);
        assert_null(p.body.data);
        parsed_done(&p);
        p = parse("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n" "2\r\nok\r\n0\r\n\r\n", 0,
                  false, false);
        assert_int_equal(p.result, STRLEN("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"));
        assert_int_equal(p.status, 304);
        assert_false(p.chunked);
        assert_true(p.complete);
        assert_null(p.body.data);
        parsed_done(&p);

        /* HEAD: the length of what a GET would give, and no body */
        p = parse("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 0, true, false);
        assert_int_equal(p.status, 200);
        assert_int_equal(p.length, 100);
        assert_true(p.complete);
        parsed_done(&p);
        p = parse("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", 0, false, false);
        assert_int_equal(p.status, 304);
        assert_true(p.complete);
        parsed_done(&p);
}

static void test_response_bad(void **state) {
        static const char *const bad[] = {
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nhello",
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
                "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello",
                "HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\nhello",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n",
                "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
                "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
                "HTTP/1.1 2000 OK\r\n\r\n",
                "HTTP/2 200 OK\r\n\r\n",
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
                "garbage\r\n\r\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                Parsed p = parse(bad[i], 0, false, false);

                print_message("# %zu\n", i);
                assert_int_equal(p.result, -EBADMSG);
                parsed_done(&p);
        }
}

static void test_response_early_close_and_limits(void **state) {
        _cleanup_strbuf_ StrBuf big = STRBUF_INIT;
        Parsed p;

        /* the grain closed before the head was complete, or in a framed body */
        p = parse("HTTP/1.1 200 OK\r\nContent-", 0, false, true);
        assert_int_equal(p.result, -ECONNRESET);
        parsed_done(&p);
        p = parse("", 0, false, true);
        assert_int_equal(p.result, -ECONNRESET);
        parsed_done(&p);
        p = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 0, false, true);
        assert_int_equal(p.result, -ECONNRESET);
        assert_string_equal(p.body.data, "short");
        parsed_done(&p);
        p = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", 0, false, true);
        assert_int_equal(p.result, -ECONNRESET);
        parsed_done(&p);

        /* a call that fails gives no body bytes, not even those before the bad one */
        p = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabcX\r\n", 0, false,
                  false);
        assert_int_equal(p.result, -EBADMSG);
        assert_int_equal(p.body.len, 0);
        parsed_done(&p);
        p = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabcX\r\n", 1, false,
                  false);
        assert_int_equal(p.result, -EBADMSG);
        assert_string_equal(p.body.data, "helloabc"); /* fed a byte at a time: the calls before the bad one */
        parsed_done(&p);

        /* a head over the limits */
        assert_int_equal(strbuf_append_str(&big, "HTTP/1.1 200 OK\r\n"), 0);
        for (size_t i = 0; i <= PROXY_RESPONSE_HEADER_COUNT_MAX; i++)
                assert_int_equal(strbuf_printf(&big, "X-%zu: v\r\n", i), 0);
        assert_int_equal(strbuf_append_str(&big, "\r\n"), 0);
        p = parse(big.data, 0, false, false);
        assert_int_equal(p.result, -EMSGSIZE);
        parsed_done(&p);
        strbuf_truncate(&big, 0);
        assert_int_equal(strbuf_append_str(&big, "HTTP/1.1 200 OK\r\nX: "), 0);
        for (size_t i = 0; i < PROXY_RESPONSE_HEAD_MAX; i++)
                assert_int_equal(strbuf_append_char(&big, 'a'), 0);
        p = parse(big.data, 4096, false, false);
        assert_int_equal(p.result, -EMSGSIZE);
        parsed_done(&p);

        /* a head just under the limit passes however its bytes are split: one long field name (a name's
         * ": " and CRLF count once, not once per piece), then a value up to the limit */
        strbuf_truncate(&big, 0);
        assert_int_equal(strbuf_append_str(&big, "HTTP/1.1 204 No Content\r\nX-"), 0);
        for (size_t i = 0; i < 2000; i++)
                assert_int_equal(strbuf_append_char(&big, 'n'), 0);
        assert_int_equal(strbuf_append_str(&big, ": "), 0);
        while (big.len < PROXY_RESPONSE_HEAD_MAX - 64)
                assert_int_equal(strbuf_append_char(&big, 'v'), 0);
        assert_int_equal(strbuf_append_str(&big, "\r\n\r\n"), 0);
        for (size_t step = 0; step <= 1; step++) {
                p = parse(big.data, step, false, false);
                assert_int_equal(p.result, (ssize_t) big.len);
                assert_int_equal(p.status, 204);
                assert_true(p.complete);
                parsed_done(&p);
        }
}

static void test_response_upgrade(void **state) {
        static const char text[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi";
        _cleanup_(proxy_response_parser_freep) ProxyResponseParser *p = NULL;
        _cleanup_strbuf_ StrBuf body = STRBUF_INIT;
        ssize_t used;

        assert_int_equal(proxy_response_parser_new(false, &p), 0);
        proxy_response_parser_allow_upgrade(p);
        used = proxy_response_parser_feed(p, (const uint8_t *) text, STRLEN(text), &body);
        /* the bytes after the head are the other protocol's: handed back */
        assert_int_equal(used, STRLEN(text) - 4);
        assert_true(proxy_response_parser_complete(p));
        assert_int_equal(proxy_response_parser_head(p)->status, 101);
        assert_true(proxy_response_parser_head(p)->upgrade);
        assert_false(proxy_response_parser_head(p)->keep_alive);
        assert_null(body.data);

        /* a 101 has no body whatever its fields say, so the other protocol starts right after the head */
        for (size_t step = 0; step <= 1; step++) {
                static const char chunked[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                              "Connection: Upgrade\r\nTransfer-Encoding: chunked\r\n\r\n"
                                              "2\r\nhi\r\n0\r\n\r\n";
                size_t off = 0;

                proxy_response_parser_reset(p, false);
                proxy_response_parser_allow_upgrade(p);
                while (off < STRLEN(chunked) && !proxy_response_parser_complete(p)) {
                        size_t n = step == 0 ? STRLEN(chunked) : 1;

                        used = proxy_response_parser_feed(p, (const uint8_t *) chunked + off, n, &body);
                        assert_true(used >= 0);
                        off += (size_t) used;
                }
                assert_int_equal(off, STRLEN(chunked) - STRLEN("2\r\nhi\r\n0\r\n\r\n"));
                assert_true(proxy_response_parser_head(p)->upgrade);
                assert_false(proxy_response_parser_head(p)->chunked);
                assert_null(body.data);
        }
}

/* More fields than the parser holds without an allocation, and more bytes than its first reservation:
 * every one exactly, in order, whatever the pieces the bytes come in. */
static void test_response_many_fields(void **state) {
        _cleanup_strbuf_ StrBuf text = STRBUF_INIT, want = STRBUF_INIT;

        assert_int_equal(strbuf_append_str(&text, "HTTP/1.1 200 OK\r\n"), 0);
        for (size_t i = 0; i < PROXY_RESPONSE_HEADER_COUNT_MAX - 1; i++) {
                assert_int_equal(strbuf_printf(&text, "X-Field-%zu:  ", i), 0);
                assert_int_equal(strbuf_printf(&want, "X-Field-%zu: ", i), 0);
                for (size_t k = 0; k < i * 3; k++) {
                        assert_int_equal(strbuf_append_char(&text, (char) ('a' + (i + k) % 26)), 0);
                        assert_int_equal(strbuf_append_char(&want, (char) ('a' + (i + k) % 26)), 0);
                }
                assert_int_equal(strbuf_append_str(&text, " \r\n"), 0);
                assert_int_equal(strbuf_append_char(&want, '\n'), 0);
        }
        assert_int_equal(strbuf_append_str(&text, "Content-Length: 2\r\n\r\nok"), 0);
        assert_int_equal(strbuf_append_str(&want, "Content-Length: 2\n"), 0);

        for (size_t step = 0; step <= 1031; step += 1031 / 3) {
                Parsed p = parse(text.data, step, false, false);

                assert_int_equal(p.result, text.len);
                assert_int_equal(p.status, 200);
                assert_true(p.complete);
                assert_string_equal(p.body.data, "ok");
                assert_string_equal(p.headers, want.data);
                parsed_done(&p);
        }
}

/* Trailers are checked and dropped; the head they follow stays as it was, however many bytes they are. */
static void test_response_trailers(void **state) {
        _cleanup_strbuf_ StrBuf text = STRBUF_INIT;
        Parsed p;

        assert_int_equal(strbuf_append_str(&text, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: a\r\n\r\n"
                                                  "2\r\nok\r\n0\r\nX-Trailer: "),
                         0);
        for (size_t i = 0; i < 5000; i++)
                assert_int_equal(strbuf_append_char(&text, 't'), 0);
        assert_int_equal(strbuf_append_str(&text, "\r\nX-Other: o\r\n\r\n"), 0);
        for (size_t step = 0; step <= 3; step++) {
                p = parse(text.data, step == 0 ? 0 : step * 7, false, false);
                assert_int_equal(p.result, text.len);
                assert_true(p.complete);
                assert_true(p.keep_alive);
                assert_string_equal(p.body.data, "ok");
                assert_string_equal(p.headers, "Transfer-Encoding: chunked\nX-A: a\n");
                parsed_done(&p);
        }

        p = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\x01" "b\r\n\r\n", 0, false, false);
        assert_int_equal(p.result, -EBADMSG);
        parsed_done(&p);
}

/* A parser made ready for the next response keeps nothing of the last: not its fields, its error, its
 * count of bytes, nor its allowance of a 101. */
static void test_response_parser_reset(void **state) {
        static const char many[] = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\n"
                                   "I: 9\r\nJ: 10\r\nK: 11\r\nL: 12\r\nM: 13\r\nN: 14\r\nO: 15\r\nP: 16\r\nQ: 17\r\n"
                                   "R: 18\r\nContent-Length: 3\r\n\r\nabc";
        static const char small[] = "HTTP/1.1 204 No Content\r\nX-B: 1\r\n\r\n";
        static const char upgrade[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                      "Connection: Upgrade\r\n\r\n";
        static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
        _cleanup_(proxy_response_parser_freep) ProxyResponseParser *p = NULL;
        _cleanup_strbuf_ StrBuf body = STRBUF_INIT, big = STRBUF_INIT;
        const ProxyResponse *r;

        assert_int_equal(proxy_response_parser_new(false, &p), 0);
        proxy_response_parser_allow_upgrade(p);
        assert_int_equal(proxy_response_parser_feed(p, (const uint8_t *) many, STRLEN(many), &body), STRLEN(many));
        assert_true(proxy_response_parser_complete(p));
        assert_int_equal(proxy_response_parser_head(p)->n_headers, 19);
        assert_string_equal(body.data, "abc");

        proxy_response_parser_reset(p, false);
        assert_null(proxy_response_parser_head(p));
        assert_false(proxy_response_parser_complete(p));
        assert_int_equal(proxy_response_parser_seen(p), 0);
        strbuf_truncate(&body, 0);
        assert_int_equal(proxy_response_parser_feed(p, (const uint8_t *) small, STRLEN(small), &body), STRLEN(small));
        r = proxy_response_parser_head(p);
        assert_non_null(r);
        assert_int_equal(r->status, 204);
        assert_int_equal(r->n_headers, 1);
        assert_string_equal(r->headers[0].name, "X-B");
        assert_string_equal(r->headers[0].value, "1");
        assert_int_equal(r->content_length, -1);
        assert_true(r->keep_alive);
        assert_int_equal(proxy_response_parser_seen(p), STRLEN(small));
        assert_int_equal(body.len, 0);

        /* the allowance went with the last response */
        proxy_response_parser_reset(p, false);
        assert_int_equal(proxy_response_parser_feed(p, (const uint8_t *) upgrade, STRLEN(upgrade), &body), -EBADMSG);
        /* and the error with the reset; HEAD now */
        proxy_response_parser_reset(p, true);
        assert_int_equal(proxy_response_parser_feed(p, (const uint8_t *) head, STRLEN(head), &body), STRLEN(head));
        assert_true(proxy_response_parser_complete(p));
        assert_int_equal(proxy_response_parser_head(p)->content_length, 100);
        assert_int_equal(body.len, 0);

        /* after a head too large to keep the buffers of: the same again */
        assert_int_equal(strbuf_append_str(&big, "HTTP/1.1 200 OK\r\n"), 0);
        for (size_t i = 0; i < 90; i++)
                assert_int_equal(strbuf_printf(&big, "X-%zu: %0400zu\r\n", i, i), 0);
        assert_int_equal(strbuf_append_str(&big, "Content-Length: 0\r\n\r\n"), 0);
        proxy_response_parser_reset(p, false);
        assert_int_equal(proxy_response_parser_feed(p, (const uint8_t *) big.data, big.len, &body), big.len);
        assert_int_equal(proxy_response_parser_head(p)->n_headers, 91);
        proxy_response_parser_reset(p, false);
        assert_int_equal(proxy_response_parser_feed(p, (const uint8_t *) small, STRLEN(small), &body), STRLEN(small));
        assert_int_equal(proxy_response_parser_head(p)->n_headers, 1);
        assert_string_equal(proxy_response_parser_head(p)->headers[0].value, "1");
}

static void test_response_filter(void **state) {
        static const char text[] = "HTTP/1.1 200 OK\r\n"
                                   "Content-Type: text/html\r\n"
                                   "Content-Length: 0\r\n"
                                   "Connection: keep-alive, X-Hop\r\n"
                                   "X-Hop: 1\r\n"
                                   "Keep-Alive: timeout=5\r\n"
                                   "Date: Mon, 01 Jan 2001 00:00:00 GMT\r\n"
                                   "Proxy-Authenticate: Basic\r\n"
                                   "Upgrade: h2c\r\n"
                                   "Trailer: X\r\n"
                                   "Referrer-Policy: unsafe-url\r\n"
                                   "Set-Cookie: a=1; Domain=granary.localhost; Path=/; HttpOnly\r\n"
                                   "Set-Cookie: b=2;domain=.evil;Secure\r\n"
                                   "Set-Cookie: sandstorm-sid=forged; Path=/\r\n"
                                   "Cache-Control: max-age=60\r\n"
                                   "Content-Security-Policy: default-src 'self'\r\n"
                                   "X-Sandstorm-App-Thing: kept\r\n"
                                   "\r\n";
        _cleanup_(proxy_response_parser_freep) ProxyResponseParser *p = NULL;
        _cleanup_free_ HttpHeader *h = NULL;
        _cleanup_strbuf_ StrBuf body = STRBUF_INIT, out = STRBUF_INIT, kept = STRBUF_INIT;
        const ProxyResponse *r;
        size_t n;

        assert_int_equal(proxy_response_parser_new(false, &p), 0);
        assert_int_equal(proxy_response_parser_feed(p, (const uint8_t *) text, STRLEN(text), &body), STRLEN(text));
        r = proxy_response_parser_head(p);
        h = calloc(r->n_headers, sizeof(HttpHeader));
        assert_non_null(h);
        /* the rewritten values go after what the caller's buffer held */
        assert_int_equal(strbuf_append_str(&kept, "before"), 0);
        assert_int_equal(proxy_response_headers_filter(r, &kept, h, &n), 0);
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(h[i].value[h[i].value_len], '\0');
                assert_int_equal(strbuf_printf(&out, "%.*s: %.*s\n", (int) h[i].name_len, h[i].name,
                                               (int) h[i].value_len, h[i].value),
                                 0);
        }
        assert_string_equal(out.data, "Content-Type: text/html\n"
                                      "Set-Cookie: a=1; Path=/; HttpOnly\n"
                                      "Set-Cookie: b=2; Secure\n"
                                      "Cache-Control: max-age=60\n"
                                      "Content-Security-Policy: default-src 'self'\n"
                                      "X-Sandstorm-App-Thing: kept\n");
        assert_true(startswith(kept.data, "before"));
        assert_true(h[1].value >= kept.data + 6 && h[2].value < kept.data + kept.len);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_username_encoding),
                cmocka_unit_test(test_request_anonymous),
                cmocka_unit_test(test_request_user_with_body),
                cmocka_unit_test(test_request_forged_headers),
                cmocka_unit_test(test_request_websocket),
                cmocka_unit_test(test_request_connection_cookies_many),
                cmocka_unit_test(test_response_length),
                cmocka_unit_test(test_response_chunked),
                cmocka_unit_test(test_response_close_delimited),
                cmocka_unit_test(test_response_interim_and_empty),
                cmocka_unit_test(test_response_bad),
                cmocka_unit_test(test_response_early_close_and_limits),
                cmocka_unit_test(test_response_upgrade),
                cmocka_unit_test(test_response_many_fields),
                cmocka_unit_test(test_response_trailers),
                cmocka_unit_test(test_response_parser_reset),
                cmocka_unit_test(test_response_filter),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
