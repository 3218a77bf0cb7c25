/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http/http-chars.h"
#include "http/http.h"
#include "http/limits.h"

/* The classes, written as the grammar writes them. */
#define C_ALPHA(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define C_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define C_VCHAR(c) ((c) >= 0x21 && (c) <= 0x7e)
#define C_OBS(c) ((c) >= 0x80)
#define C_TCHAR(c)                                                                                          \
        (C_ALPHA(c) || C_DIGIT(c) || (c) == '!' || (c) == '#' || (c) == '$' || (c) == '%' || (c) == '&' ||  \
                (c) == '\'' || (c) == '*' || (c) == '+' || (c) == '-' || (c) == '.' || (c) == '^' ||        \
                (c) == '_' || (c) == '`' || (c) == '|' || (c) == '~')
#define C_HEX(c) (C_DIGIT(c) || ((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F'))
#define C_UNRESERVED(c) (C_ALPHA(c) || C_DIGIT(c) || (c) == '-' || (c) == '.' || (c) == '_' || (c) == '~')
#define C_SUBDELIM(c)                                                                                       \
        ((c) == '!' || (c) == '$' || (c) == '&' || (c) == '\'' || (c) == '(' || (c) == ')' || (c) == '*' || \
                (c) == '+' || (c) == ',' || (c) == ';' || (c) == '=')
#define C_QDTEXT(c)                                                                                         \
        ((c) == '\t' || (c) == ' ' || (c) == 0x21 || ((c) >= 0x23 && (c) <= 0x5b) ||                        \
                ((c) >= 0x5d && (c) <= 0x7e) || C_OBS(c))
#define C_WS(c) ((c) == ' ' || (c) == '\t')

#define CLASS(c)                                                                                            \
        ((C_TCHAR(c) ? HTTP_CHAR_TCHAR : 0) | (C_VCHAR(c) || C_OBS(c) ? HTTP_CHAR_FIELD : 0) |              \
                (C_VCHAR(c) && (c) != '#' ? HTTP_CHAR_TARGET : 0) | (C_HEX(c) ? HTTP_CHAR_HEX : 0) |        \
                (C_DIGIT(c) ? HTTP_CHAR_DIGIT : 0) |                                                        \
                (C_UNRESERVED(c) || C_SUBDELIM(c) ? HTTP_CHAR_HOST : 0) |                                   \
                (C_QDTEXT(c) ? HTTP_CHAR_QDTEXT : 0) | (C_WS(c) ? HTTP_CHAR_WS : 0))
#define ROW(b)                                                                                              \
        CLASS((b) + 0), CLASS((b) + 1), CLASS((b) + 2), CLASS((b) + 3), CLASS((b) + 4), CLASS((b) + 5),     \
                CLASS((b) + 6), CLASS((b) + 7), CLASS((b) + 8), CLASS((b) + 9), CLASS((b) + 10),            \
                CLASS((b) + 11), CLASS((b) + 12), CLASS((b) + 13), CLASS((b) + 14), CLASS((b) + 15)

const uint8_t http_char_class[256] = {
        ROW(0x00),
        ROW(0x10),
        ROW(0x20),
        ROW(0x30),
        ROW(0x40),
        ROW(0x50),
        ROW(0x60),
        ROW(0x70),
        ROW(0x80),
        ROW(0x90),
        ROW(0xa0),
        ROW(0xb0),
        ROW(0xc0),
        ROW(0xd0),
        ROW(0xe0),
        ROW(0xf0),
};

static const char *const method_table[_HTTP_METHOD_MAX] = {
        [HTTP_METHOD_GET] = "GET",
        [HTTP_METHOD_HEAD] = "HEAD",
        [HTTP_METHOD_POST] = "POST",
        [HTTP_METHOD_PUT] = "PUT",
        [HTTP_METHOD_DELETE] = "DELETE",
        [HTTP_METHOD_CONNECT] = "CONNECT",
        [HTTP_METHOD_OPTIONS] = "OPTIONS",
        [HTTP_METHOD_TRACE] = "TRACE",
        [HTTP_METHOD_PATCH] = "PATCH",
        [HTTP_METHOD_COPY] = "COPY",
        [HTTP_METHOD_LOCK] = "LOCK",
        [HTTP_METHOD_MKCOL] = "MKCOL",
        [HTTP_METHOD_MOVE] = "MOVE",
        [HTTP_METHOD_PROPFIND] = "PROPFIND",
        [HTTP_METHOD_PROPPATCH] = "PROPPATCH",
        [HTTP_METHOD_SEARCH] = "SEARCH",
        [HTTP_METHOD_UNLOCK] = "UNLOCK",
        [HTTP_METHOD_BIND] = "BIND",
        [HTTP_METHOD_REBIND] = "REBIND",
        [HTTP_METHOD_UNBIND] = "UNBIND",
        [HTTP_METHOD_ACL] = "ACL",
        [HTTP_METHOD_REPORT] = "REPORT",
        [HTTP_METHOD_MKACTIVITY] = "MKACTIVITY",
        [HTTP_METHOD_CHECKOUT] = "CHECKOUT",
        [HTTP_METHOD_MERGE] = "MERGE",
        [HTTP_METHOD_MSEARCH] = "M-SEARCH",
        [HTTP_METHOD_NOTIFY] = "NOTIFY",
        [HTTP_METHOD_SUBSCRIBE] = "SUBSCRIBE",
        [HTTP_METHOD_UNSUBSCRIBE] = "UNSUBSCRIBE",
        [HTTP_METHOD_PURGE] = "PURGE",
        [HTTP_METHOD_MKCALENDAR] = "MKCALENDAR",
        [HTTP_METHOD_LINK] = "LINK",
        [HTTP_METHOD_UNLINK] = "UNLINK",
        [HTTP_METHOD_SOURCE] = "SOURCE",
};

const char *http_method_to_string(HttpMethod m) {
        if (m < 0 || m >= _HTTP_METHOD_MAX)
                return NULL;
        return method_table[m];
}

HttpMethod http_method_from_string(const char *p, size_t n) {
        assert(p || n == 0);

        for (HttpMethod m = 0; m < _HTTP_METHOD_MAX; m++)
                if (strlen(method_table[m]) == n && memcmp(method_table[m], p, n) == 0)
                        return m;
        return _HTTP_METHOD_INVALID;
}

const char *http_version_to_string(HttpVersion v) {
        static const char *const table[_HTTP_VERSION_MAX] = {
                [HTTP_VERSION_1_0] = "HTTP/1.0",
                [HTTP_VERSION_1_1] = "HTTP/1.1",
                [HTTP_VERSION_2] = "HTTP/2",
        };

        if (v < 0 || v >= _HTTP_VERSION_MAX)
                return NULL;
        return table[v];
}

const char *http_framing_to_string(HttpFraming f) {
        static const char *const table[_HTTP_FRAMING_MAX] = {
                [HTTP_FRAMING_NONE] = "none",
                [HTTP_FRAMING_LENGTH] = "length",
                [HTTP_FRAMING_CHUNKED] = "chunked",
        };

        if (f < 0 || f >= _HTTP_FRAMING_MAX)
                return NULL;
        return table[f];
}

HttpRequest *http_request_free(HttpRequest *r) {
        if (!r)
                return NULL;
        free(r->storage);
        free(r);
        return NULL;
}

static char *storage_put(char **q, const char *p, size_t n) {
        char *start = *q;

        if (n > 0)
                memcpy(start, p, n);
        start[n] = '\0';
        *q = start + n + 1;
        return start;
}

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
                HttpRequest **ret) {
        _cleanup_free_ HttpRequest *r = NULL;
        _cleanup_free_ char *storage = NULL;
        size_t total = path_len + 1, hdrs;
        char *q;

        assert(path || path_len == 0);
        assert(authority || authority_len == 0);
        assert(headers || n_headers == 0);
        assert(ret);

        if (authority && !ADD_SAFE(&total, total, authority_len + 1))
                return -ENOMEM;
        for (size_t i = 0; i < n_headers; i++)
                if (!ADD_SAFE(&total, total, headers[i].name_len + headers[i].value_len + 2))
                        return -ENOMEM;
        if (!MUL_SAFE(&hdrs, n_headers, sizeof(HttpHeader)) || !ADD_SAFE(&hdrs, hdrs, sizeof(HttpRequest)))
                return -ENOMEM;

        r = malloc(hdrs);
        storage = malloc(total);
        if (!r || !storage)
                return -ENOMEM;

        q = storage;
        *r = (HttpRequest){
                .method = method,
                .version = HTTP_VERSION_2,
                .target_form = path_len == 1 && path[0] == '*' ? HTTP_TARGET_ASTERISK : HTTP_TARGET_ORIGIN,
                .target_len = path_len,
                .path_len = path_len,
                .headers = (HttpHeader *) (r + 1),
                .n_headers = n_headers,
                .framing = framing,
                .content_length = framing == HTTP_FRAMING_LENGTH ? content_length : 0,
                .keep_alive = true,
        };
        r->target = r->path = storage_put(&q, path, path_len);
        if (authority) {
                r->authority = storage_put(&q, authority, authority_len);
                r->authority_len = authority_len;
        }
        for (size_t i = 0; i < n_headers; i++) {
                r->headers[i].name = storage_put(&q, headers[i].name, headers[i].name_len);
                r->headers[i].name_len = headers[i].name_len;
                r->headers[i].value = storage_put(&q, headers[i].value, headers[i].value_len);
                r->headers[i].value_len = headers[i].value_len;
        }
        r->storage = TAKE_PTR(storage);
        *ret = TAKE_PTR(r);
        return 0;
}

bool http_strcaseeq(const char *a, size_t a_len, const char *b, size_t b_len) {
        assert(a || a_len == 0);
        assert(b || b_len == 0);

        if (a_len != b_len)
                return false;
        for (size_t i = 0; i < a_len; i++)
                if (http_char_lower((uint8_t) a[i]) != http_char_lower((uint8_t) b[i]))
                        return false;
        return true;
}

const HttpHeader *http_headers_find(const HttpHeader *headers, size_t n, const char *name) {
        size_t name_len;

        assert(headers || n == 0);
        assert(name);

        name_len = strlen(name);
        for (size_t i = 0; i < n; i++)
                if (http_strcaseeq(headers[i].name, headers[i].name_len, name, name_len))
                        return headers + i;
        return NULL;
}

size_t http_headers_count(const HttpHeader *headers, size_t n, const char *name) {
        size_t name_len, k = 0;

        assert(headers || n == 0);
        assert(name);

        name_len = strlen(name);
        for (size_t i = 0; i < n; i++)
                if (http_strcaseeq(headers[i].name, headers[i].name_len, name, name_len))
                        k++;
        return k;
}

bool http_headers_have_token(const HttpHeader *headers, size_t n, const char *name, const char *token) {
        size_t name_len;

        assert(headers || n == 0);
        assert(name);
        assert(token);

        name_len = strlen(name);
        for (size_t i = 0; i < n; i++)
                if (http_strcaseeq(headers[i].name, headers[i].name_len, name, name_len) &&
                        http_list_has_token(headers[i].value, headers[i].value_len, token))
                        return true;
        return false;
}

/* name, lowercased and with '_' read as '-', starts with prefix (or equals it, when exact). */
static bool name_matches(const char *name, size_t n, const char *prefix, bool exact) {
        size_t k = strlen(prefix);

        if (n < k || (exact && n != k))
                return false;
        for (size_t i = 0; i < k; i++) {
                uint8_t c = http_char_lower((uint8_t) name[i]);

                if (c == '_')
                        c = '-';
                if (c != (uint8_t) prefix[i])
                        return false;
        }
        return true;
}

bool http_header_name_is_untrusted(const char *name, size_t n) {
        assert(name || n == 0);

        /* Prefixes without the trailing dash: "X-Sandstorm" alone or glued to more letters is nothing a
         * client has a reason to send, and a grain cannot tell it from ours. */
        return name_matches(name, n, "x-sandstorm", false) || name_matches(name, n, "x-forwarded", false) ||
               name_matches(name, n, "forwarded", true) || name_matches(name, n, "x-real-ip", true);
}

size_t http_headers_strip_untrusted(HttpHeader *headers, size_t n) {
        size_t k = 0;

        assert(headers || n == 0);

        for (size_t i = 0; i < n; i++) {
                if (http_header_name_is_untrusted(headers[i].name, headers[i].name_len))
                        continue;
                headers[k++] = headers[i];
        }
        return k;
}

/* The next non-empty element of a comma-separated list at or after *i, OWS trimmed; false at the end. */
static bool list_next(const char *p, size_t n, size_t *i, const char **ret, size_t *ret_len) {
        assert(p || n == 0);
        assert(i);

        while (*i < n) {
                size_t start, end;

                while (*i < n && http_char_is((uint8_t) p[*i], HTTP_CHAR_WS))
                        (*i)++;
                start = *i;
                while (*i < n && p[*i] != ',')
                        (*i)++;
                end = *i;
                while (end > start && http_char_is((uint8_t) p[end - 1], HTTP_CHAR_WS))
                        end--;
                if (*i < n)
                        (*i)++; /* the comma */
                if (end > start) {
                        *ret = p + start;
                        *ret_len = end - start;
                        return true;
                }
        }
        return false;
}

bool http_list_has_token(const char *p, size_t n, const char *token) {
        size_t i = 0, token_len, e_len;
        const char *e;

        assert(token);

        token_len = strlen(token);
        while (list_next(p, n, &i, &e, &e_len))
                if (http_strcaseeq(e, e_len, token, token_len))
                        return true;
        return false;
}

bool http_list_is_tokens(const char *p, size_t n) {
        size_t i = 0, e_len;
        const char *e;

        while (list_next(p, n, &i, &e, &e_len))
                if (!http_token_is_valid(e, e_len))
                        return false;
        return true;
}

bool http_list_is_protocols(const char *p, size_t n) {
        size_t i = 0, e_len;
        bool seen = false;
        const char *e;

        while (list_next(p, n, &i, &e, &e_len)) {
                const char *slash = memchr(e, '/', e_len);

                if (slash ? !http_token_is_valid(e, (size_t) (slash - e)) ||
                                        !http_token_is_valid(slash + 1, e_len - (size_t) (slash - e) - 1)
                          : !http_token_is_valid(e, e_len))
                        return false;
                seen = true;
        }
        return seen;
}

bool http_token_is_valid(const char *p, size_t n) {
        assert(p || n == 0);

        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!http_char_is((uint8_t) p[i], HTTP_CHAR_TCHAR))
                        return false;
        return true;
}

bool http_field_value_is_valid(const char *p, size_t n) {
        assert(p || n == 0);

        for (size_t i = 0; i < n; i++)
                if (!http_char_is((uint8_t) p[i], HTTP_CHAR_FIELD | HTTP_CHAR_WS))
                        return false;
        return true;
}

bool http_host_is_valid(const char *p, size_t n) {
        size_t i = 0, host_end;

        assert(p || n == 0);

        if (n == 0)
                return true;

        if (p[0] == '[') {
                /* IPv6 literal: hex digits, ':' and '.' for an embedded IPv4; no zone, no IPvFuture. */
                for (i = 1; i < n && p[i] != ']'; i++)
                        if (!http_char_is((uint8_t) p[i], HTTP_CHAR_HEX) && p[i] != ':' && p[i] != '.')
                                return false;
                if (i >= n || i == 1)
                        return false;
                i++;
        } else
                while (i < n && p[i] != ':') {
                        if (p[i] == '%') {
                                if (n - i < 3 || !http_char_is((uint8_t) p[i + 1], HTTP_CHAR_HEX) ||
                                        !http_char_is((uint8_t) p[i + 2], HTTP_CHAR_HEX))
                                        return false;
                                i += 3;
                        } else if (http_char_is((uint8_t) p[i], HTTP_CHAR_HOST))
                                i++;
                        else
                                return false;
                }
        host_end = i;
        if (host_end == 0)
                return false;
        if (i == n)
                return true;
        if (p[i] != ':')
                return false;

        i++;
        if (n - i < 1 || n - i > 5)
                return false;
        unsigned port = 0;
        for (; i < n; i++) {
                if (!http_char_is((uint8_t) p[i], HTTP_CHAR_DIGIT))
                        return false;
                port = port * 10 + (unsigned) (p[i] - '0');
        }
        return port <= 65535;
}

const char *http_status_to_string(int status) {
        switch (status) {
        case 100:
                return "Continue";
        case 101:
                return "Switching Protocols";
        case 103:
                return "Early Hints";
        case 200:
                return "OK";
        case 201:
                return "Created";
        case 202:
                return "Accepted";
        case 203:
                return "Non-Authoritative Information";
        case 204:
                return "No Content";
        case 205:
                return "Reset Content";
        case 206:
                return "Partial Content";
        case 207:
                return "Multi-Status";
        case 300:
                return "Multiple Choices";
        case 301:
                return "Moved Permanently";
        case 302:
                return "Found";
        case 303:
                return "See Other";
        case 304:
                return "Not Modified";
        case 307:
                return "Temporary Redirect";
        case 308:
                return "Permanent Redirect";
        case 400:
                return "Bad Request";
        case 401:
                return "Unauthorized";
        case 402:
                return "Payment Required";
        case 403:
                return "Forbidden";
        case 404:
                return "Not Found";
        case 405:
                return "Method Not Allowed";
        case 406:
                return "Not Acceptable";
        case 407:
                return "Proxy Authentication Required";
        case 408:
                return "Request Timeout";
        case 409:
                return "Conflict";
        case 410:
                return "Gone";
        case 411:
                return "Length Required";
        case 412:
                return "Precondition Failed";
        case 413:
                return "Content Too Large";
        case 414:
                return "URI Too Long";
        case 415:
                return "Unsupported Media Type";
        case 416:
                return "Range Not Satisfiable";
        case 417:
                return "Expectation Failed";
        case 421:
                return "Misdirected Request";
        case 422:
                return "Unprocessable Content";
        case 423:
                return "Locked";
        case 424:
                return "Failed Dependency";
        case 425:
                return "Too Early";
        case 426:
                return "Upgrade Required";
        case 428:
                return "Precondition Required";
        case 429:
                return "Too Many Requests";
        case 431:
                return "Request Header Fields Too Large";
        case 451:
                return "Unavailable For Legal Reasons";
        case 500:
                return "Internal Server Error";
        case 501:
                return "Not Implemented";
        case 502:
                return "Bad Gateway";
        case 503:
                return "Service Unavailable";
        case 504:
                return "Gateway Timeout";
        case 505:
                return "HTTP Version Not Supported";
        case 507:
                return "Insufficient Storage";
        default:
                return NULL;
        }
}

int http_status_from_errno(int error) {
        switch (error) {
        case -EBADMSG:
                return 400;
        case -EACCES:
        case -EPERM:
                return 403;
        case -ENOENT:
                return 404;
        case -EFBIG:
                return 413;
        case -ENAMETOOLONG:
                return 414;
        case -EMSGSIZE:
                return 431;
        case -EOPNOTSUPP:
                return 501;
        case -ECONNREFUSED:
        case -ECONNRESET:
        case -EPIPE:
                return 502;
        case -ENOMEM:
        case -EMFILE:
        case -ENFILE:
        case -EAGAIN:
                return 503;
        case -ETIMEDOUT:
                return 504;
        case -EPROTONOSUPPORT:
                return 505;
        default:
                return 500;
        }
}

int http_date_format(time_t t, char ret[static HTTP_DATE_SIZE]) {
        /* Spelled out here rather than with strftime(), whose names depend on the locale. */
        static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static const char months[12][4] = {
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        struct tm tm;
        int n;

        assert(ret);

        if (!gmtime_r(&t, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
                return -EOVERFLOW;
        n = snprintf(ret, HTTP_DATE_SIZE, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
                tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        assert(n == HTTP_DATE_SIZE - 1);
        return 0;
}

int http_limits_check(const HttpLimits *l) {
        size_t head;

        assert(l);

        if (l->request_line_max == 0 || l->header_bytes_max == 0 || l->header_count_max == 0 ||
                l->header_value_max == 0 || l->body_max == 0)
                return -EINVAL;
        if (!ADD_SAFE(&head, l->request_line_max, l->header_bytes_max) ||
                !ADD_SAFE(&head, head, (size_t) 4) || head > HTTP_HEAD_CEILING)
                return -EINVAL;
        if (l->chunk_ext_max > HTTP_HEAD_CEILING - 64)
                return -EINVAL;
        if (l->body_max > HTTP_BODY_CEILING)
                return -EINVAL;
        return 0;
}
