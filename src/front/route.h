/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * front/route.h — which part of granaryd a request is for, decided from its Host (or :authority) alone
 * (sandstorm-spec.md §5.10, DESIGN.md "A request, end to end").
 *
 * Owns RouteConfig: the base URL and the wildcard host parsed once from the config, with the origins that
 * browsers will send for them. Does not own sessions, tokens or grains: a route only says which kind of
 * name a Host is and where its id is; whether that id exists is the caller's question. Pure: no I/O, no
 * global state, never logs.
 *
 * A Host is one of ours when its name equals the base host, or is one label followed by the wildcard
 * host's suffix, and its port is the one configured for that name. Names compare ASCII
 * case-insensitively; ids are handed back as the client spelled them.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "basic/macro.h"

typedef enum RouteKind {
        ROUTE_BASE,           /* the base host: shell and /api/v1 */
        ROUTE_UI,             /* "ui-<hostId>" under the wildcard; id = hostId */
        ROUTE_API,            /* "api" */
        ROUTE_API_TOKEN,      /* "api-<token>"; id = token */
        ROUTE_PUBLIC,         /* exactly 20 chars [a-z0-9]; id = publicId */
        ROUTE_SELFTEST,       /* "selftest-*"; id = the rest (possibly empty) */
        ROUTE_SHELL_WILDCARD, /* "ddp", "static", "payments": reserved for the shell: granaryd answers 404 */
        ROUTE_UNKNOWN,        /* a name under the wildcard that is none of the above: 404 */
        ROUTE_MISDIRECTED,    /* not a host of ours at all: 421 */
        _ROUTE_KIND_MAX,
        _ROUTE_KIND_INVALID = -EINVAL,
} RouteKind;

/* "base", "ui", "api", "api-token", "public", "selftest", "shell-wildcard", "unknown", "misdirected";
 * NULL for values out of range. */
const char *route_kind_to_string(RouteKind k) _const_;
/* The exact inverse of route_kind_to_string(); -EINVAL for anything else. */
RouteKind route_kind_from_string(const char *s) _pure_;

/* A wildcard label (the text the '*' stands for) is a DNS label: at most this many bytes. */
#define ROUTE_LABEL_MAX 63
/* A host name, base or wildcard, without its port: at most this many bytes (RFC 1035). */
#define ROUTE_HOST_MAX 253
/* The wildcard host's name after "*.": short enough that any label fits in front of it. */
#define ROUTE_WILDCARD_NAME_MAX (ROUTE_HOST_MAX - ROUTE_LABEL_MAX - 1)

typedef struct RouteConfig RouteConfig;

/*
 * base_url: "http://granary.localhost:6080" or "https://example.org": scheme http or https (any case), a
 * host (a DNS name of letters, digits, '-' and '.', no empty label and no trailing dot, or an IPv6
 * literal in brackets), an optional port 1…65535, and then nothing or a single "/". No userinfo, query or
 * fragment.
 * wildcard_host: "*.granary.localhost:6080": the first label is exactly "*", the rest is a DNS name as
 * above of at most ROUTE_WILDCARD_NAME_MAX bytes, then an optional port. A wildcard host without a port uses
 * the default port of base_url's scheme (the wildcard hosts are reached with the base URL's scheme). -EINVAL
 * with nothing allocated if either is malformed; -ENOMEM.
 */
int route_config_new(const char *base_url, const char *wildcard_host, RouteConfig **ret);
RouteConfig *route_config_free(RouteConfig *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(RouteConfig *, route_config_free);

/* "http://granary.localhost:6080", "https://example.org", "http://[::1]:6080": exactly what a browser
 * sends as Origin for the base host (lowercase, default port omitted, IPv6 in its canonical form). */
const char *route_config_base_origin(const RouteConfig *c) _pure_;
/* The wildcard host as a CSP source expression (frame-src): the base URL's scheme and "://", then
 * "*.granary.localhost:6080" (default port omitted). */
const char *route_config_wildcard_pattern(const RouteConfig *c) _pure_;
/* The origin of the wildcard host whose label is id ("http://ui-ab12.granary.localhost:6080"), as a
 * browser sends it: id is lowercased. -EINVAL when id is not a DNS label (1…ROUTE_LABEL_MAX letters,
 * digits and '-'); -ENOMEM. */
int route_config_wildcard_origin(const RouteConfig *c, const char *id, char **ret);

/* Splits a Host (or :authority) value, n bytes, into its name (a DNS name, or an IPv6 literal with its
 * brackets: the first *ret_name_len bytes) and its port (0 when none is given). -EINVAL when it is no
 * valid authority (route_host() calls it misdirected). Pure. */
int route_authority_split(const char *host, size_t n, size_t *ret_name_len, unsigned *ret_port);

/*
 * Classifies a Host (or :authority) value, n bytes, untrusted, with no terminating NUL needed. https:
 * whether the request came over TLS; it decides the port a Host without one means (80 or 443), which
 * must then be the configured port of the name (explicit, or the default of base_url's scheme). An
 * explicit default port ("example.org:443") is the same as none.
 *
 * ROUTE_MISDIRECTED for: an empty host; a trailing dot; userinfo; bytes other than letters, digits, '-'
 * and '.' in a name (percent-escapes and the rest of the reg-name grammar included: no name of ours has
 * them); an empty, missing or out-of-range port after ':'; a name that is neither the base host nor
 * exactly one label under the wildcard ("a.b.<wildcard>", "evil<wildcard suffix>",
 * "ui-x.<wildcard>.evil"); a label longer than ROUTE_LABEL_MAX; an IPv6 literal other than the base
 * host's own address; a port other than the name's.
 *
 * ret_id (may be NULL, as may ret_id_len) points into host, not NUL-terminated, with the client's case:
 * the id documented for the kind, or for ROUTE_API, ROUTE_SHELL_WILDCARD and ROUTE_UNKNOWN the whole
 * wildcard label; NULL and 0 for ROUTE_BASE and ROUTE_MISDIRECTED. The kind decision is
 * case-insensitive. Never fails: every input has a kind.
 */
RouteKind route_host(const RouteConfig *c, const char *host, size_t n, bool https, const char **ret_id,
        size_t *ret_id_len);
