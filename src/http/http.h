/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * http/http.h — the request model shared by HTTP/1.1 and HTTP/2, and what both need around it: methods,
 * versions, header lists and the helpers that read and clean them, the character classes of RFC 9110,
 * reason phrases, the Date format, and the one table that turns an errno into an HTTP status.
 *
 * Owns HttpRequest: one request's method, target, version, headers and framing, with copies of all their
 * bytes, freed by http_request_free(). Does not own connections, TLS, routing or any decision about which
 * requests are allowed; the wire formats are in http1.h (requests) and http1-response.h (responses).
 * Pure: no I/O, no global state, never logs.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "basic/macro.h"

typedef enum HttpMethod {
        HTTP_METHOD_GET,
        HTTP_METHOD_HEAD,
        HTTP_METHOD_POST,
        HTTP_METHOD_PUT,
        HTTP_METHOD_DELETE,
        HTTP_METHOD_CONNECT,
        HTTP_METHOD_OPTIONS,
        HTTP_METHOD_TRACE,
        HTTP_METHOD_PATCH,
        /* WebDAV, CalDAV and the rest that apps built for Sandstorm speak through its bridge */
        HTTP_METHOD_COPY,
        HTTP_METHOD_LOCK,
        HTTP_METHOD_MKCOL,
        HTTP_METHOD_MOVE,
        HTTP_METHOD_PROPFIND,
        HTTP_METHOD_PROPPATCH,
        HTTP_METHOD_SEARCH,
        HTTP_METHOD_UNLOCK,
        HTTP_METHOD_BIND,
        HTTP_METHOD_REBIND,
        HTTP_METHOD_UNBIND,
        HTTP_METHOD_ACL,
        HTTP_METHOD_REPORT,
        HTTP_METHOD_MKACTIVITY,
        HTTP_METHOD_CHECKOUT,
        HTTP_METHOD_MERGE,
        HTTP_METHOD_MSEARCH,
        HTTP_METHOD_NOTIFY,
        HTTP_METHOD_SUBSCRIBE,
        HTTP_METHOD_UNSUBSCRIBE,
        HTTP_METHOD_PURGE,
        HTTP_METHOD_MKCALENDAR,
        HTTP_METHOD_LINK,
        HTTP_METHOD_UNLINK,
        HTTP_METHOD_SOURCE,
        _HTTP_METHOD_MAX,
        _HTTP_METHOD_INVALID = -EINVAL,
} HttpMethod;

/* "GET", "M-SEARCH", …; NULL for values out of range. */
const char *http_method_to_string(HttpMethod m) _const_;
/* Exact, case-sensitive match (methods are case-sensitive); -EINVAL for anything else. */
HttpMethod http_method_from_string(const char *p, size_t n) _pure_;

typedef enum HttpVersion {
        HTTP_VERSION_1_0,
        HTTP_VERSION_1_1,
        HTTP_VERSION_2,
        _HTTP_VERSION_MAX,
        _HTTP_VERSION_INVALID = -EINVAL,
} HttpVersion;

/* "HTTP/1.0", "HTTP/1.1", "HTTP/2"; NULL for values out of range. */
const char *http_version_to_string(HttpVersion v) _const_;

typedef enum HttpTargetForm {
        HTTP_TARGET_ORIGIN,   /* "/path?query" */
        HTTP_TARGET_ABSOLUTE, /* "http://authority/path?query" */
        HTTP_TARGET_ASTERISK, /* "*", OPTIONS only */
        _HTTP_TARGET_FORM_MAX,
        _HTTP_TARGET_FORM_INVALID = -EINVAL,
} HttpTargetForm;

/* How the body of a message is delimited. */
typedef enum HttpFraming {
        HTTP_FRAMING_NONE,    /* no body */
        HTTP_FRAMING_LENGTH,  /* Content-Length bytes (possibly 0) */
        HTTP_FRAMING_CHUNKED, /* Transfer-Encoding: chunked */
        _HTTP_FRAMING_MAX,
        _HTTP_FRAMING_INVALID = -EINVAL,
} HttpFraming;

const char *http_framing_to_string(HttpFraming f) _const_;

/* A field as received: the name keeps the sender's case, the value has no leading or trailing whitespace.
 * Both are NUL-terminated at [len] and hold no NUL, CR or LF. */
typedef struct HttpHeader {
        const char *name;
        size_t name_len;
        const char *value;
        size_t value_len;
} HttpHeader;

/*
 * One request. Every pointer points into memory the request owns; every string is NUL-terminated at its
 * length and holds no NUL. What a parser guarantees about them (grammar, limits) is said by that parser.
 */
typedef struct HttpRequest {
        HttpMethod method;
        HttpVersion version;
        HttpTargetForm target_form;
        const char *target; /* as received */
        size_t target_len;
        const char *path; /* absolute-path ["?" query] ("/" when an absolute-form target has none); "*" */
        size_t path_len;
        const char *authority; /* absolute-form's authority, else the Host value; NULL when neither */
        size_t authority_len;
        HttpHeader *headers; /* in the order received; trailers are never here */
        size_t n_headers;
        HttpFraming framing;
        uint64_t content_length; /* HTTP_FRAMING_LENGTH only */
        bool keep_alive;         /* the client allows another request on this connection after this one */
        bool upgrade; /* HTTP/1.1 Upgrade with Connection: upgrade; the protocols are in Upgrade */
        /* HTTP/2 extended CONNECT (RFC 8441, method CONNECT): its :protocol, lowercase ("websocket"), a static
         * string; NULL for every other request, HTTP/1.1 upgrades included (they have upgrade and Upgrade) */
        const char *protocol;

        void *storage; /* private: the bytes the pointers above point into; NULL when they follow the request
                        * in its own allocation (the HTTP/1 parser's) */
} HttpRequest;

HttpRequest *http_request_free(HttpRequest *r);

/*
 * An HTTP/2 request, from fields its caller (http2.c) has already checked; everything is copied. path is
 * :path ("*" gives HTTP_TARGET_ASTERISK, anything else HTTP_TARGET_ORIGIN), and is also the target;
 * authority is :authority or Host, or NULL. framing: NONE when the HEADERS frame ended the stream, LENGTH
 * with content-length, and CHUNKED for a body of unknown length that END_STREAM ends (HTTP/2 has no
 * chunked coding; the name means "delimited by the protocol"). keep_alive is true, upgrade false, protocol
 * NULL (an extended CONNECT's caller sets it).
 * -ENOMEM, or 0 with *ret set.
 */
int http_request_new_http2(
        HttpMethod method,
        const char *path,
        size_t path_len,
        const char *authority,
        size_t authority_len,
        const HttpHeader *headers,
        size_t n_headers,
        HttpFraming framing,
        uint64_t content_length,
        HttpRequest **ret);
DEFINE_TRIVIAL_CLEANUP_FUNC(HttpRequest *, http_request_free);

/* First header named name (ASCII case-insensitive), or NULL. */
const HttpHeader *http_headers_find(const HttpHeader *headers, size_t n, const char *name) _pure_;
/* How many headers are named name (ASCII case-insensitive). */
size_t http_headers_count(const HttpHeader *headers, size_t n, const char *name) _pure_;
/* True when any header named name holds token as an element of its comma-separated list. */
bool http_headers_have_token(
        const HttpHeader *headers, size_t n, const char *name, const char *token) _pure_;
static inline const HttpHeader *http_request_header(const HttpRequest *r, const char *name) {
        return http_headers_find(r->headers, r->n_headers, name);
}

/* True for names a client must never get to a grain: X-Sandstorm-*, X-Forwarded-*, Forwarded, X-Real-IP,
 * in any case and with '_' in place of any '-' (CGI-style servers treat them alike). */
bool http_header_name_is_untrusted(const char *name, size_t n) _pure_;
/* Removes those headers in place, keeping the order of the rest; returns how many are left. */
size_t http_headers_strip_untrusted(HttpHeader *headers, size_t n);
static inline void http_request_strip_untrusted(HttpRequest *r) {
        r->n_headers = http_headers_strip_untrusted(r->headers, r->n_headers);
}

/* Comma-separated lists (RFC 9110 §5.6.1): elements separated by ',' with optional whitespace around;
 * empty elements are allowed and skipped. */
/* True when some element equals token, ASCII case-insensitively. */
bool http_list_has_token(const char *p, size_t n, const char *token) _pure_;
/* True when every element is a token (Connection, Transfer-Encoding). */
bool http_list_is_tokens(const char *p, size_t n) _pure_;
/* True when every element is token ["/" token] (Upgrade) and there is at least one. */
bool http_list_is_protocols(const char *p, size_t n) _pure_;

/* RFC 9110 grammar over pointer and length. */
bool http_token_is_valid(const char *p, size_t n) _pure_;       /* 1*tchar */
bool http_field_value_is_valid(const char *p, size_t n) _pure_; /* VCHAR, obs-text, SP, HTAB; no CR LF NUL */
/* uri-host [":" port] as in Host: a reg-name (unreserved, sub-delims, %HH) or an IPv6 literal in
 * brackets, then an optional port of 1 to 5 digits up to 65535. The empty string is valid (RFC 9112 §3.2
 * sends an empty Host for targets without authority); a port needs a host before it. */
bool http_host_is_valid(const char *p, size_t n) _pure_;

/* ASCII case-insensitive comparison of two byte strings. */
bool http_strcaseeq(const char *a, size_t a_len, const char *b, size_t b_len) _pure_;

/* The RFC 9110 reason phrase ("Not Found"), or NULL for a code without one. */
const char *http_status_to_string(int status) _const_;

/*
 * The one table that turns a negative errno into the status to answer. The HTTP/1.1 parser fails with one
 * errno per status: -EBADMSG 400, -EFBIG 413, -ENAMETOOLONG 414, -EMSGSIZE 431, -EOPNOTSUPP 501,
 * -EPROTONOSUPPORT 505. Also -ENOENT 404, -EACCES/-EPERM 403, -ENOMEM/-EMFILE/-ENFILE/-EAGAIN 503,
 * -ETIMEDOUT 504, -ECONNREFUSED/-ECONNRESET/-EPIPE 502. Anything else: 500.
 */
int http_status_from_errno(int error) _const_;

/* IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT": 29 characters and a NUL. */
#define HTTP_DATE_SIZE 30
/* Writes t as an IMF-fixdate; -EOVERFLOW when its year is not in 0000…9999 (nothing written then). */
int http_date_format(time_t t, char ret[static HTTP_DATE_SIZE]);
