/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * front/accounts.h — the policy of local accounts, over the facts the store keeps: what the session
 * cookie looks like and how it is read back, the CSRF rules for state-changing calls, when logins are
 * rate limited, and which user names and passwords are acceptable.
 *
 * Owns these rules and the server's CSRF key (the store's setting "csrf_key", made on first use). Does not
 * own users, sessions, tokens or login attempts (store/store.h), password hashing (the store, run in a
 * worker by the API), or HTTP answers (api.h turns these results into statuses). Never logs.
 *
 * Cookies. Over HTTPS, and when the base host is "localhost" or "*.localhost" (which browsers treat as a
 * secure context), the session cookie is "__Host-granary-session" with Secure: browsers then refuse to let
 * any other host — a grain's ui-….<wildcard> host above all — set or shadow it. Elsewhere it is
 * "granary-session" without Secure (a __Host- cookie without Secure is refused by browsers), and a second
 * cookie of that name, which a sibling host could plant, makes the request count as having no session.
 *
 * CSRF. A state-changing call (any method but GET, HEAD and OPTIONS) made with the cookie must carry an
 * Origin equal to the base origin (or, without Origin, "Sec-Fetch-Site: same-origin") and an
 * "X-CSRF-Token" equal to base64url(HMAC-SHA256(csrf key, session token)): a value only pages of the base
 * origin can learn (from GET /api/v1/session), tied to the session and useless without it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/macro.h"
#include "http/http.h"
#include "store/store.h"

#define ACCOUNTS_USEC_PER_SEC UINT64_C(1000000)

/* How long a session lasts from login; the cookie's Max-Age. */
#define ACCOUNTS_SESSION_USEC (UINT64_C(30) * 24 * 3600 * ACCOUNTS_USEC_PER_SEC)

#define ACCOUNTS_COOKIE_NAME_SECURE "__Host-granary-session"
#define ACCOUNTS_COOKIE_NAME_PLAIN "granary-session"

#define ACCOUNTS_CSRF_HEADER "X-CSRF-Token"
#define ACCOUNTS_CSRF_KEY_SETTING "csrf_key"
#define ACCOUNTS_CSRF_KEY_SIZE 32u
/* base64url of an HMAC-SHA256, without padding. */
#define ACCOUNTS_CSRF_TOKEN_LENGTH 43u

/* Failed logins are counted over this window. A name with ACCOUNTS_LOGIN_FAILURES_PER_NAME failures in it,
 * or an address with ACCOUNTS_LOGIN_FAILURES_PER_ADDRESS, gets no further attempt until the window has
 * moved past them. */
#define ACCOUNTS_LOGIN_WINDOW_USEC (UINT64_C(15) * 60 * ACCOUNTS_USEC_PER_SEC)
#define ACCOUNTS_LOGIN_FAILURES_PER_NAME 5u
#define ACCOUNTS_LOGIN_FAILURES_PER_ADDRESS 20u

/* User names: 1..ACCOUNTS_NAME_MAX characters of [A-Za-z0-9._-], not starting with '.' or '-'. */
#define ACCOUNTS_NAME_MAX 64u
/* Passwords: bytes of UTF-8. */
#define ACCOUNTS_PASSWORD_MIN 8u
#define ACCOUNTS_PASSWORD_MAX 1024u
/* Display names: 1..STORE_NAME_MAX bytes of printable UTF-8. */
#define ACCOUNTS_DISPLAY_NAME_MAX STORE_NAME_MAX

/* "203.0.113.7" or "2001:db8:1:2::/64", and a NUL. */
#define ACCOUNTS_ADDRESS_KEY_SIZE 64u

/* ---- the base URL ---- */

/* True when cookies for base_url ("scheme://host[:port]") may and must be Secure: https, or a host that is
 * "localhost" or ends in ".localhost" (any case). */
bool accounts_base_url_is_secure(const char *base_url) _pure_;
/* The origin a browser sends for pages of base_url: scheme and host lowercased, the scheme's default port
 * dropped, no path ("http://granary.localhost:6080"). -EINVAL unless base_url is http:// or https://
 * followed by a valid host. */
int accounts_origin_from_url(const char *base_url, char **ret);

/* ---- the session cookie ---- */

const char *accounts_cookie_name(bool secure) _const_;
/* The value of a Set-Cookie header that stores token for max_age_usec (rounded down to seconds):
 * "NAME=TOKEN; Path=/; HttpOnly; SameSite=Lax[; Secure]; Max-Age=N". -EINVAL if token is empty or holds
 * anything but cookie-octets. */
int accounts_cookie_make(bool secure, const char *token, uint64_t max_age_usec, char **ret);
/* The Set-Cookie value that removes the cookie: empty value, Max-Age=0. */
int accounts_cookie_make_clear(bool secure, char **ret);
/* Finds the session cookie in the request's Cookie headers (several are allowed, as HTTP/2 splits them):
 * only the name for secure, matched exactly. 0 with *ret pointing into the header (not NUL-terminated
 * there: use *ret_len), -ENOENT when there is none or it is empty, -ENOTUNIQ when it occurs more than once
 * (someone planted a second one: no session). ret and ret_len are written only on success. */
int accounts_cookie_find(const HttpHeader *headers, size_t n, bool secure, const char **ret, size_t *ret_len);

/* ---- CSRF ---- */

/* The server's CSRF key from the store's settings, made (32 random bytes, stored as hex) if it is missing
 * or unreadable. random_init() must have succeeded. */
int accounts_csrf_key(Store *s, uint8_t ret[static ACCOUNTS_CSRF_KEY_SIZE]);
/* base64url(HMAC-SHA256(key, session token)): the token pages send back in X-CSRF-Token. */
void accounts_csrf_token(const uint8_t key[static ACCOUNTS_CSRF_KEY_SIZE], const char *session_token,
                         size_t len, char ret[static ACCOUNTS_CSRF_TOKEN_LENGTH + 1]);
/* 0 when exactly one Origin equal to base_origin (ASCII case ignored) is present or, without Origin,
 * exactly one "Sec-Fetch-Site: same-origin"; -EPERM otherwise (a cross-site request, or a client that
 * says neither). What calls made before a session exists (login, setup) need. */
int accounts_check_origin(const HttpHeader *headers, size_t n, const char *base_origin);
/* accounts_check_origin(), and exactly one X-CSRF-Token equal (in constant time) to the session's token.
 * 0 or -EPERM. */
int accounts_check_csrf(const HttpHeader *headers, size_t n, const char *base_origin,
                        const uint8_t key[static ACCOUNTS_CSRF_KEY_SIZE], const char *session_token, size_t len);
/* True for the methods that may change state (all but GET, HEAD and OPTIONS). */
bool accounts_method_changes_state(HttpMethod m) _const_;

/* ---- login rate limiting ---- */

/* How failed logins from address are counted: IPv4 as it is ("203.0.113.7"), IPv4-mapped IPv6 as the
 * IPv4 address, other IPv6 as its /64 ("2001:db8:1:2::/64"), since one host usually has a whole /64.
 * -EINVAL for anything that is not a numeric address. */
int accounts_address_key(const char *address, char ret[static ACCOUNTS_ADDRESS_KEY_SIZE]);
/* 0 when a login for name from address_key (NULL: not counted by address) may be tried now; 1 when it
 * is refused, with *ret_retry_after_sec set to when to come back (the window's length). name must be
 * non-empty. */
int accounts_login_limited(Store *s, const char *name, const char *address_key, uint64_t now,
                           uint64_t *ret_retry_after_sec);
/* Records a failed attempt (address_key NULL: under "-"). */
int accounts_login_failed(Store *s, const char *name, const char *address_key, uint64_t now);
/* Forgets name's failures, and everyone's that have left the window. */
int accounts_login_succeeded(Store *s, const char *name, uint64_t now);

/* ---- names and passwords ---- */

bool accounts_user_name_is_valid(const char *p, size_t n) _pure_;
bool accounts_password_is_valid(const char *p, size_t n) _pure_;
bool accounts_display_name_is_valid(const char *p, size_t n) _pure_;
