/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <strings.h>

#include <sodium.h>

#include "basic/hex.h"
#include "basic/random-util.h"
#include "basic/string-util.h"
#include "front/accounts.h"

/* ---- the base URL ---- */

/* Splits "scheme://authority[/…]" into its scheme ("http" or "https") and authority. */
static int split_base_url(const char *url, bool *ret_https, const char **ret_authority, size_t *ret_len) {
        const char *authority;
        bool https;
        size_t n;

        assert(url);

        /* Schemes are case-insensitive (RFC 3986 §3.1). */
        if (strncasecmp(url, "https://", STRLEN("https://")) == 0) {
                https = true;
                authority = url + STRLEN("https://");
        } else if (strncasecmp(url, "http://", STRLEN("http://")) == 0) {
                https = false;
                authority = url + STRLEN("http://");
        } else
                return -EINVAL;

        n = strcspn(authority, "/?#");
        if (n == 0 || !http_host_is_valid(authority, n))
                return -EINVAL;

        *ret_https = https;
        *ret_authority = authority;
        *ret_len = n;
        return 0;
}

/* The host part of an authority: without the port, and without the brackets of an IPv6 literal. */
static void authority_host(const char *p, size_t n, const char **ret_host, size_t *ret_host_len,
                           const char **ret_port, size_t *ret_port_len) {
        const char *colon;

        if (n > 0 && p[0] == '[') {
                const char *close = memchr(p, ']', n);

                assert(close); /* http_host_is_valid() saw to that */
                *ret_host = p + 1;
                *ret_host_len = (size_t) (close - p) - 1;
                colon = close + 1 < p + n ? close + 1 : NULL;
        } else {
                colon = memchr(p, ':', n);
                *ret_host = p;
                *ret_host_len = colon ? (size_t) (colon - p) : n;
        }
        *ret_port = colon ? colon + 1 : NULL;
        *ret_port_len = colon ? (size_t) (p + n - colon) - 1 : 0;
}

bool accounts_base_url_is_secure(const char *base_url) {
        const char *authority, *host, *port;
        size_t n, host_len, port_len;
        bool https;

        if (!base_url || split_base_url(base_url, &https, &authority, &n) < 0)
                return false;
        if (https)
                return true;

        authority_host(authority, n, &host, &host_len, &port, &port_len);
        return http_strcaseeq(host, host_len, "localhost", STRLEN("localhost")) ||
               (host_len > STRLEN(".localhost") &&
                http_strcaseeq(host + host_len - STRLEN(".localhost"), STRLEN(".localhost"), ".localhost",
                               STRLEN(".localhost")));
}

int accounts_origin_from_url(const char *base_url, char **ret) {
        const char *authority, *host, *port;
        size_t n, host_len, port_len;
        char *origin;
        bool https;
        int r;

        assert(base_url);
        assert(ret);

        r = split_base_url(base_url, &https, &authority, &n);
        if (r < 0)
                return r;
        authority_host(authority, n, &host, &host_len, &port, &port_len);
        if (host_len == 0)
                return -EINVAL;

        /* A browser leaves the default port out of Origin. */
        if (port && ((https && port_len == 3 && strneq(port, "443", 3)) ||
                     (!https && port_len == 2 && strneq(port, "80", 2))))
                n = (size_t) (port - authority) - 1;

        if (asprintf(&origin, "%s://%.*s", https ? "https" : "http", (int) n, authority) < 0)
                return -ENOMEM;
        for (char *c = origin; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                        *c = (char) (*c - 'A' + 'a');

        *ret = origin;
        return 0;
}

/* ---- the session cookie ---- */

const char *accounts_cookie_name(bool secure) {
        return secure ? ACCOUNTS_COOKIE_NAME_SECURE : ACCOUNTS_COOKIE_NAME_PLAIN;
}

/* RFC 6265 §4.1.1 cookie-octet. */
static bool is_cookie_octet(char c) {
        unsigned char u = (unsigned char) c;

        return u == 0x21 || (u >= 0x23 && u <= 0x2b) || (u >= 0x2d && u <= 0x3a) || (u >= 0x3c && u <= 0x5b) ||
               (u >= 0x5d && u <= 0x7e);
}

static int cookie_make(bool secure, const char *token, uint64_t max_age_usec, char **ret) {
        char *s;

        if (asprintf(&s, "%s=%s; Path=/; HttpOnly; SameSite=Lax%s; Max-Age=%" PRIu64, accounts_cookie_name(secure),
                     token, secure ? "; Secure" : "", max_age_usec / ACCOUNTS_USEC_PER_SEC) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int accounts_cookie_make(bool secure, const char *token, uint64_t max_age_usec, char **ret) {
        assert(token);
        assert(ret);

        if (!token[0])
                return -EINVAL;
        for (const char *c = token; *c; c++)
                if (!is_cookie_octet(*c))
                        return -EINVAL;
        return cookie_make(secure, token, max_age_usec, ret);
}

int accounts_cookie_make_clear(bool secure, char **ret) {
        assert(ret);

        return cookie_make(secure, "", 0, ret);
}

static bool is_ows(char c) {
        return c == ' ' || c == '\t';
}

int accounts_cookie_find(const HttpHeader *headers, size_t n, bool secure, const char **ret, size_t *ret_len) {
        const char *name = accounts_cookie_name(secure), *found = NULL;
        size_t name_len = strlen(name), found_len = 0;
        unsigned count = 0;

        assert(headers || n == 0);

        for (size_t i = 0; i < n; i++) {
                const char *p, *end;

                if (!http_strcaseeq(headers[i].name, headers[i].name_len, "Cookie", STRLEN("Cookie")))
                        continue;

                p = headers[i].value;
                end = p + headers[i].value_len;
                while (p < end) {
                        const char *pair_end = memchr(p, ';', (size_t) (end - p)) ?: end;
                        const char *a = p, *b = pair_end, *eq;

                        p = pair_end < end ? pair_end + 1 : end;

                        while (a < b && is_ows(*a))
                                a++;
                        while (b > a && is_ows(b[-1]))
                                b--;
                        eq = memchr(a, '=', (size_t) (b - a));
                        /* A pair without '=' is no cookie at all; names are compared exactly. */
                        if (!eq || (size_t) (eq - a) != name_len || memcmp(a, name, name_len) != 0)
                                continue;

                        count++;
                        found = eq + 1;
                        found_len = (size_t) (b - found);
                        if (found_len >= 2 && found[0] == '"' && found[found_len - 1] == '"') {
                                found++;
                                found_len -= 2;
                        }
                }
        }

        if (count > 1)
                return -ENOTUNIQ;
        if (count == 0 || found_len == 0)
                return -ENOENT;
        for (size_t i = 0; i < found_len; i++)
                if (!is_cookie_octet(found[i]))
                        return -ENOENT;

        if (ret)
                *ret = found;
        if (ret_len)
                *ret_len = found_len;
        return 0;
}

/* ---- CSRF ---- */

int accounts_csrf_key(Store *s, uint8_t ret[static ACCOUNTS_CSRF_KEY_SIZE]) {
        _cleanup_free_ char *value = NULL;
        char hex[ACCOUNTS_CSRF_KEY_SIZE * 2 + 1];
        uint8_t key[ACCOUNTS_CSRF_KEY_SIZE];
        int r;

        assert(s);
        assert(ret);

        r = store_setting_get(s, ACCOUNTS_CSRF_KEY_SETTING, &value);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r >= 0 && hex_decode(value, strlen(value), key, sizeof(key)) >= 0) {
                memcpy(ret, key, sizeof(key));
                explicit_bzero_safe(key, sizeof(key));
                explicit_bzero_safe(value, strlen(value));
                return 0;
        }
        if (value)
                explicit_bzero_safe(value, strlen(value));

        /* Missing, or not what we write: a new key. Sessions' CSRF tokens change with it; the pages fetch
         * them again from GET /session. */
        random_bytes(key, sizeof(key));
        hex_encode(key, sizeof(key), hex);
        r = store_setting_set(s, ACCOUNTS_CSRF_KEY_SETTING, hex);
        explicit_bzero_safe(hex, sizeof(hex));
        if (r >= 0)
                memcpy(ret, key, sizeof(key));
        explicit_bzero_safe(key, sizeof(key));
        return r < 0 ? r : 0;
}

void accounts_csrf_token(const uint8_t key[static ACCOUNTS_CSRF_KEY_SIZE], const char *session_token,
                         size_t len, char ret[static ACCOUNTS_CSRF_TOKEN_LENGTH + 1]) {
        uint8_t mac[crypto_auth_hmacsha256_BYTES];

        assert(key);
        assert(session_token || len == 0);
        assert(ret);

        _Static_assert(crypto_auth_hmacsha256_KEYBYTES == ACCOUNTS_CSRF_KEY_SIZE, "HMAC-SHA256 key size");
        crypto_auth_hmacsha256(mac, (const unsigned char *) session_token, len, key);
        sodium_bin2base64(ret, ACCOUNTS_CSRF_TOKEN_LENGTH + 1, mac, sizeof(mac),
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        explicit_bzero_safe(mac, sizeof(mac));
}

int accounts_check_origin(const HttpHeader *headers, size_t n, const char *base_origin) {
        const HttpHeader *h;

        assert(headers || n == 0);
        assert(base_origin);

        switch (http_headers_count(headers, n, "Origin")) {
        case 0:
                break;
        case 1:
                h = http_headers_find(headers, n, "Origin");
                return http_strcaseeq(h->value, h->value_len, base_origin, strlen(base_origin)) ? 0 : -EPERM;
        default:
                return -EPERM;
        }

        /* No Origin: only a browser that says the request comes from our own pages. */
        if (http_headers_count(headers, n, "Sec-Fetch-Site") != 1)
                return -EPERM;
        h = http_headers_find(headers, n, "Sec-Fetch-Site");
        return http_strcaseeq(h->value, h->value_len, "same-origin", STRLEN("same-origin")) ? 0 : -EPERM;
}

int accounts_check_csrf(const HttpHeader *headers, size_t n, const char *base_origin,
                        const uint8_t key[static ACCOUNTS_CSRF_KEY_SIZE], const char *session_token, size_t len) {
        char expected[ACCOUNTS_CSRF_TOKEN_LENGTH + 1];
        const HttpHeader *h;
        int r;

        assert(key);

        r = accounts_check_origin(headers, n, base_origin);
        if (r < 0)
                return r;

        if (http_headers_count(headers, n, ACCOUNTS_CSRF_HEADER) != 1)
                return -EPERM;
        h = http_headers_find(headers, n, ACCOUNTS_CSRF_HEADER);
        /* The length is public (always 43); only the bytes are compared in constant time. */
        if (h->value_len != ACCOUNTS_CSRF_TOKEN_LENGTH)
                return -EPERM;

        accounts_csrf_token(key, session_token, len, expected);
        r = sodium_memcmp(expected, h->value, ACCOUNTS_CSRF_TOKEN_LENGTH) == 0 ? 0 : -EPERM;
        explicit_bzero_safe(expected, sizeof(expected));
        return r;
}

bool accounts_method_changes_state(HttpMethod m) {
        return m != HTTP_METHOD_GET && m != HTTP_METHOD_HEAD && m != HTTP_METHOD_OPTIONS;
}

/* ---- login rate limiting ---- */

int accounts_address_key(const char *address, char ret[static ACCOUNTS_ADDRESS_KEY_SIZE]) {
        char text[INET6_ADDRSTRLEN];
        struct in6_addr a6;
        struct in_addr a4;

        assert(ret);

        if (!address)
                return -EINVAL;

        if (inet_pton(AF_INET, address, &a4) == 1) {
                if (!inet_ntop(AF_INET, &a4, text, sizeof(text)))
                        return -EINVAL;
                (void) snprintf(ret, ACCOUNTS_ADDRESS_KEY_SIZE, "%s", text);
                return 0;
        }
        if (inet_pton(AF_INET6, address, &a6) != 1)
                return -EINVAL;

        if (IN6_IS_ADDR_V4MAPPED(&a6)) {
                memcpy(&a4, a6.s6_addr + 12, sizeof(a4));
                if (!inet_ntop(AF_INET, &a4, text, sizeof(text)))
                        return -EINVAL;
                (void) snprintf(ret, ACCOUNTS_ADDRESS_KEY_SIZE, "%s", text);
                return 0;
        }

        memset(a6.s6_addr + 8, 0, 8);
        if (!inet_ntop(AF_INET6, &a6, text, sizeof(text)))
                return -EINVAL;
        (void) snprintf(ret, ACCOUNTS_ADDRESS_KEY_SIZE, "%s/64", text);
        return 0;
}

int accounts_login_limited(Store *s, const char *name, const char *address_key, uint64_t now,
                           uint64_t *ret_retry_after_sec) {
        uint64_t since = now > ACCOUNTS_LOGIN_WINDOW_USEC ? now - ACCOUNTS_LOGIN_WINDOW_USEC : 0, count = 0;
        bool limited;
        int r;

        assert(s);
        assert(!isempty(name));

        r = store_login_attempt_count_by_name(s, name, since, &count);
        if (r < 0)
                return r;
        limited = count >= ACCOUNTS_LOGIN_FAILURES_PER_NAME;

        if (!limited && !isempty(address_key)) {
                r = store_login_attempt_count_by_address(s, address_key, since, &count);
                if (r < 0)
                        return r;
                limited = count >= ACCOUNTS_LOGIN_FAILURES_PER_ADDRESS;
        }

        if (!limited)
                return 0;
        /* The store counts attempts but does not say when the oldest one was: the whole window is an
         * upper bound that is never too early. */
        if (ret_retry_after_sec)
                *ret_retry_after_sec = ACCOUNTS_LOGIN_WINDOW_USEC / ACCOUNTS_USEC_PER_SEC;
        return 1;
}

int accounts_login_failed(Store *s, const char *name, const char *address_key, uint64_t now) {
        assert(s);
        assert(!isempty(name));

        return store_login_attempt_record(s, name, isempty(address_key) ? "-" : address_key, now);
}

int accounts_login_succeeded(Store *s, const char *name, uint64_t now) {
        int r;

        assert(s);
        assert(!isempty(name));

        r = store_login_attempt_clear_name(s, name);
        if (r < 0)
                return r;
        if (now > ACCOUNTS_LOGIN_WINDOW_USEC)
                r = store_login_attempt_prune(s, now - ACCOUNTS_LOGIN_WINDOW_USEC, NULL);
        return r < 0 ? r : 0;
}

/* ---- names and passwords ---- */

bool accounts_user_name_is_valid(const char *p, size_t n) {
        if (!p || n == 0 || n > ACCOUNTS_NAME_MAX || p[0] == '.' || p[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = p[i];

                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '_' || c == '-'))
                        return false;
        }
        return true;
}

bool accounts_password_is_valid(const char *p, size_t n) {
        return p && n >= ACCOUNTS_PASSWORD_MIN && n <= ACCOUNTS_PASSWORD_MAX && !memchr(p, '\0', n) &&
               utf8_is_valid(p, n);
}

bool accounts_display_name_is_valid(const char *p, size_t n) {
        if (!p || n == 0 || n > ACCOUNTS_DISPLAY_NAME_MAX || !utf8_is_valid(p, n))
                return false;
        /* No control characters at all, tabs included: names end up in headers (X-Sandstorm-Username)
         * and in lists. */
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) p[i] < 0x20 || p[i] == 0x7f)
                        return false;
        return true;
}
