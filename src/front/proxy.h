/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * front/proxy.h — the bytes between granaryd and a grain: the HTTP/1.1 request head the app receives for a
 * client's request in a session (sandstorm-spec.md §5.3–5.4), and the parser of the app's response (with
 * http-parser, in response mode), with the filter that turns its head into what the client may receive.
 *
 * Owns ProxyResponseParser and the buffers it fills. Does not own connections, sessions or timing: ui.c
 * moves the bytes, sessions.h holds who asks. Pure: bytes in, bytes or a struct and an errno out; no I/O,
 * never logs.
 *
 * Removed from what the client sent, before the app sees it (SECURITY.md "The front server"):
 *  - every X-Sandstorm-*, X-Forwarded-*, Forwarded and X-Real-IP, in any case and with '_' for '-'
 *    (http_header_name_is_untrusted()), except the whitelisted "X-Sandstorm-App-*" (spec §5.5);
 *  - the shell's cookies (__Host-granary-session, granary-session) and the session's own sandstorm-sid;
 *    other cookies belong to the grain's origin and pass, joined into one Cookie field;
 *  - Authorization (the shell's credential on this origin is the cookie, and API tokens go to api hosts);
 *  - hop-by-hop fields: Connection and every field it names, Keep-Alive, TE, Trailer, Transfer-Encoding,
 *    Upgrade, Proxy-*, and Expect (granaryd answers "100 Continue" itself);
 *  - Host, Content-Length, User-Agent and Accept-Language, which are set from the session or the framing;
 * Everything else passes (Range, caching and conditional fields, Content-Type, Origin, Referer, …). A field
 * whose name is no token or whose value holds CR, LF, NUL or another control character never gets here: the
 * request parsers refuse the request (http1.c, and http2.c, which alone gives http_request_new_http2() its
 * fields), so the fields are not checked twice.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/macro.h"
#include "basic/string-util.h"
#include "front/sessions.h"
#include "http/http.h"
#include "http/limits.h"

/* Bytes of a response head from a grain (status line and fields) and its field count: past either, the
 * response is refused (502). The same limits as a client's head (limits.h). */
#define PROXY_RESPONSE_HEAD_MAX (HTTP_REQUEST_LINE_MAX + HTTP_HEADER_BYTES_MAX)
#define PROXY_RESPONSE_HEADER_COUNT_MAX HTTP_HEADER_COUNT_MAX

/* Whether h is named name, in any case: the lengths compared inline first, for the loops over every field
 * of every request and response, where most names differ in length. */
static inline bool proxy_header_is(const HttpHeader *h, const char *name, size_t name_len) {
        return h->name_len == name_len && http_strcaseeq(h->name, h->name_len, name, name_len);
}
#define PROXY_HEADER_IS(h, lit) proxy_header_is((h), (lit), STRLEN(lit))

/* Appends JavaScript's encodeURIComponent() of the n bytes (UTF-8 as given): A–Z a–z 0–9 - _ . ! ~ * ' ( )
 * stay, every other byte becomes %XX with uppercase hex (spec §5.4). -ENOMEM. */
int proxy_encode_uri_component(StrBuf *out, const char *p, size_t n);

/*
 * Appends the request head the app receives for req in session s, up to and including the empty line.
 * origin: the session host's origin ("http://ui-….granary.localhost:6080"), which gives Host,
 * X-Forwarded-Proto and X-Sandstorm-Base-Path. The method and target are req's (the path, for an
 * absolute-form target); the body is framed as req's is: Content-Length when known, chunked when not, none
 * for none.
 *
 * websocket_key: NULL for an ordinary request. Otherwise a WebSocket opening (an HTTP/1.1 Upgrade, or an
 * HTTP/2 extended CONNECT): sent as "GET" with "Upgrade: websocket", "Connection: Upgrade" and
 * "Sec-WebSocket-Key: <websocket_key>" (the client's Sec-WebSocket-Key is not passed on; its
 * Sec-WebSocket-Version, -Protocol and -Extensions are), and without a body.
 *
 * -EINVAL when a value of the session or the origin cannot go into a field (it was checked when the session
 * was opened, so never in practice); -ENOMEM. out is left as it was on failure.
 */
int proxy_request_head_append(StrBuf *out, const UiSession *s, const char *origin, const HttpRequest *req,
                              const char *websocket_key);

/* The two halves of proxy_request_head_append(), for a caller that keeps the first per session: the fields
 * that depend on the session and its origin alone (spec §5.3's, from Accept-Language to
 * X-Sandstorm-Session-Id, each line ending in CRLF) in *ret (NUL-terminated, free() it), *ret_len bytes;
 * -EINVAL, -ENOMEM as above. Then the head of one request with those fields: the same bytes as
 * proxy_request_head_append() with that session and origin. */
int proxy_session_fields(const UiSession *s, const char *origin, char **ret, size_t *ret_len);
int proxy_request_head_append_fields(StrBuf *out, const char *fields, size_t fields_len,
                                     const HttpRequest *req, const char *websocket_key);

/* ---- the response ---- */

typedef struct ProxyResponse {
        int status;          /* 101, or 200…599: interim 1xx responses are skipped */
        HttpHeader *headers; /* as received (names in the app's case, values trimmed), in order */
        size_t n_headers;
        int64_t content_length; /* the body's length when it is Content-Length framed; -1 otherwise */
        bool chunked;           /* Transfer-Encoding: chunked */
        bool keep_alive;        /* the connection may carry another request after this response */
        bool upgrade;           /* 101 Switching Protocols: the bytes after the head are the other protocol's */
} ProxyResponse;

typedef struct ProxyResponseParser ProxyResponseParser;

/* head_request: the request was HEAD, so the response has no body whatever its fields say. */
int proxy_response_parser_new(bool head_request, ProxyResponseParser **ret);
/* Makes p as proxy_response_parser_new() made it, for another response (the next on a kept-alive
 * connection, or on another): nothing of the last response is left (head, fields, errors, counts, the
 * upgrade allowance), but p keeps its buffers, unless one response made them large. Whatever
 * proxy_response_parser_head() gave is invalid from here on. */
void proxy_response_parser_reset(ProxyResponseParser *p, bool head_request);
ProxyResponseParser *proxy_response_parser_free(ProxyResponseParser *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(ProxyResponseParser *, proxy_response_parser_free);

/*
 * Feeds n bytes from the grain; n == 0 says the grain closed its side. Body bytes, unframed, are appended
 * to body; the trailer fields of a chunked body are checked as the head's are (tokens, values, limits) and
 * dropped. Returns how many bytes were consumed: all of them, except once the response is complete or has
 * switched protocols (101), when the parser stops and the rest belongs to what follows. Errors (the parser
 * is dead after one, and the call that fails appends nothing to body):
 *   -EBADMSG   the response is malformed or framed badly (bad status line, Content-Length with
 *              Transfer-Encoding, a Transfer-Encoding other than "chunked", duplicate Content-Length, bad
 *              chunks, a field name that is no token or a value with control characters, a 101 that was
 *              not asked for…);
 *   -EMSGSIZE  the head is over PROXY_RESPONSE_HEAD_MAX bytes or PROXY_RESPONSE_HEADER_COUNT_MAX fields;
 *   -ECONNRESET the grain closed before the response was complete (a close-delimited body is complete at
 *              the close, so never for those);
 *   -ENOMEM.
 */
ssize_t proxy_response_parser_feed(ProxyResponseParser *p, const uint8_t *data, size_t n, StrBuf *body);

/* The final head, once received (NULL before): valid until the parser is freed. */
const ProxyResponse *proxy_response_parser_head(const ProxyResponseParser *p) _pure_;
/* The response ended (its body included, or it switched protocols). */
bool proxy_response_parser_complete(const ProxyResponseParser *p) _pure_;
/* Bytes of the response seen so far (head and body, framing included): 0 means the grain sent nothing. */
uint64_t proxy_response_parser_seen(const ProxyResponseParser *p) _pure_;
/* The request allows a 101 (a WebSocket opening): must be called before feeding, if at all. */
void proxy_response_parser_allow_upgrade(ProxyResponseParser *p);

/*
 * The fields of head the client receives: without hop-by-hop fields (Connection and what it names,
 * Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-*), Content-Length and Date (the server frames
 * and dates the response itself), Referrer-Policy (ui.c sets its own); Set-Cookie without any Domain
 * attribute, and no Set-Cookie at all for the session's own cookie "sandstorm-sid". For a 101, Upgrade and
 * Connection are kept out too; the caller adds its own. They go into out, which has room for head->n_headers
 * fields, *ret_n of them, with the rewritten Set-Cookie values appended to text (nothing is, without a
 * Set-Cookie): they are valid while text is neither freed nor appended to. -ENOMEM (out and text then
 * unchanged).
 */
int proxy_response_headers_filter(const ProxyResponse *head, StrBuf *text, HttpHeader *out, size_t *ret_n);
