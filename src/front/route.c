/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Routing by Host. The config is parsed once into lowercase names and effective ports, so that classifying
 * a request is a few comparisons over the client's bytes with no allocation.
 *
 * (1) the base host and the wildcard suffix are stored lowercase, and every comparison with the client's
 *     bytes lowercases only the client's side;
 * (2) a port is always effective: the one written, else the default of the scheme that applies (the base
 *     URL's for the config, the connection's for a request), so "host:443" and "host" over TLS are equal;
 * (3) a wildcard label never holds a '.', so "a.b.<suffix>" cannot pass as the label "a.b".
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "basic/string-util.h"
#include "front/route.h"

struct RouteConfig {
        bool https;
        bool base_ipv6;
        uint8_t base_addr[16]; /* base_ipv6 only */
        char *base_host;       /* lowercase DNS name; NULL when base_ipv6 */
        size_t base_host_len;
        unsigned base_port;
        char *wildcard_suffix; /* ".granary.localhost", lowercase */
        size_t wildcard_suffix_len;
        unsigned wildcard_port;
        char *base_origin;
        char *wildcard_pattern;
};

static const char *const route_kind_table[_ROUTE_KIND_MAX] = {
        [ROUTE_BASE] = "base",
        [ROUTE_UI] = "ui",
        [ROUTE_API] = "api",
        [ROUTE_API_TOKEN] = "api-token",
        [ROUTE_PUBLIC] = "public",
        [ROUTE_SELFTEST] = "selftest",
        [ROUTE_SHELL_WILDCARD] = "shell-wildcard",
        [ROUTE_UNKNOWN] = "unknown",
        [ROUTE_MISDIRECTED] = "misdirected",
};

const char *route_kind_to_string(RouteKind k) {
        if (k < 0 || k >= _ROUTE_KIND_MAX)
                return NULL;
        return route_kind_table[k];
}

RouteKind route_kind_from_string(const char *s) {
        if (!s)
                return _ROUTE_KIND_INVALID;
        for (RouteKind k = 0; k < _ROUTE_KIND_MAX; k++)
                if (streq(route_kind_table[k], s))
                        return k;
        return _ROUTE_KIND_INVALID;
}

static char ascii_lower(char c) {
        return c >= 'A' && c <= 'Z' ? (char) (c + ('a' - 'A')) : c;
}

static bool ascii_is_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool ascii_is_hex(char c) {
        return (c >= '0' && c <= '9') || (ascii_lower(c) >= 'a' && ascii_lower(c) <= 'f');
}

static bool is_ldh(char c) {
        return ascii_is_alnum(c) || c == '-';
}

/* a is the client's, b is ours and already lowercase. */
static bool caseeq_lower(const char *a, const char *b, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (ascii_lower(a[i]) != b[i])
                        return false;
        return true;
}

static bool label_is_valid(const char *p, size_t n) {
        if (n == 0 || n > ROUTE_LABEL_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_ldh(p[i]))
                        return false;
        return true;
}

/* Labels of letters, digits and '-', 1…63 bytes, joined by single dots: no empty label, so no leading or
 * trailing dot. */
static bool dns_name_is_valid(const char *p, size_t n) {
        size_t start = 0;

        if (n == 0 || n > ROUTE_HOST_MAX)
                return false;
        for (size_t i = 0; i <= n; i++)
                if (i == n || p[i] == '.') {
                        if (!label_is_valid(p + start, i - start))
                                return false;
                        start = i + 1;
                }
        return true;
}

/* 1 to 5 digits, 1…65535. */
static int port_parse(const char *p, size_t n, unsigned *ret) {
        unsigned v = 0;

        if (n == 0 || n > 5)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (p[i] < '0' || p[i] > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned) (p[i] - '0');
        }
        if (v == 0 || v > 65535)
                return -EINVAL;
        *ret = v;
        return 0;
}

typedef struct Authority {
        const char *name; /* DNS name (not for IPv6) */
        size_t name_len;
        bool ipv6;
        uint8_t addr[16];
        size_t host_len;  /* the bytes before ":" port, brackets included */
        unsigned port; /* 0: none given */
} Authority;

/* host [":" port], where host is a DNS name or "[" IPv6 "]". Anything else, userinfo included: -EINVAL. */
static int authority_parse(const char *p, size_t n, Authority *ret) {
        Authority a = {};
        size_t i;

        if (n == 0)
                return -EINVAL;

        if (p[0] == '[') {
                char buf[INET6_ADDRSTRLEN];
                size_t l;

                /* Hex digits, ':' and '.' (an embedded IPv4) only: no zone id, no IPvFuture. */
                for (i = 1; i < n && p[i] != ']'; i++)
                        if (!ascii_is_hex(p[i]) && p[i] != ':' && p[i] != '.')
                                return -EINVAL;
                if (i >= n)
                        return -EINVAL;
                l = i - 1;
                if (l == 0 || l >= sizeof(buf))
                        return -EINVAL;
                memcpy(buf, p + 1, l);
                buf[l] = '\0';
                if (inet_pton(AF_INET6, buf, a.addr) != 1)
                        return -EINVAL;
                a.ipv6 = true;
                i++;
        } else {
                for (i = 0; i < n && p[i] != ':'; i++)
                        ;
                if (!dns_name_is_valid(p, i))
                        return -EINVAL;
                a.name = p;
                a.name_len = i;
        }

        a.host_len = i;
        if (i < n) {
                if (p[i] != ':')
                        return -EINVAL;
                if (port_parse(p + i + 1, n - i - 1, &a.port) < 0)
                        return -EINVAL;
        }

        *ret = a;
        return 0;
}

int route_authority_split(const char *host, size_t n, size_t *ret_name_len, unsigned *ret_port) {
        Authority a;
        int r;

        r = authority_parse(host, n, &a);
        if (r < 0)
                return r;
        *ret_name_len = a.host_len;
        *ret_port = a.port;
        return 0;
}

static unsigned default_port(bool https) {
        return https ? 443 : 80;
}

static char *strndup_lower(const char *p, size_t n) {
        char *s = strndup_safe(p, n);

        if (s)
                for (size_t i = 0; i < n; i++)
                        s[i] = ascii_lower(s[i]);
        return s;
}

RouteConfig *route_config_free(RouteConfig *c) {
        if (!c)
                return NULL;
        free(c->base_host);
        free(c->wildcard_suffix);
        free(c->base_origin);
        free(c->wildcard_pattern);
        free(c);
        return NULL;
}

static const char *scheme_prefix(const RouteConfig *c) {
        return c->https ? "https://" : "http://";
}

/* ":<port>" when port is not the scheme's default, else "". */
static void port_suffix(const RouteConfig *c, unsigned port, char buf[static 8]) {
        if (port == default_port(c->https))
                buf[0] = '\0';
        else
                (void) snprintf(buf, 8, ":%u", port);
}

int route_config_new(const char *base_url, const char *wildcard_host, RouteConfig **ret) {
        _cleanup_(route_config_freep) RouteConfig *c = NULL;
        _cleanup_strbuf_ StrBuf origin = STRBUF_INIT, pattern = STRBUF_INIT;
        const char *rest, *slash;
        Authority base, wild;
        char port[8];
        bool https;
        size_t l;

        assert(base_url);
        assert(wildcard_host);
        assert(ret);

        if (strncasecmp(base_url, "https://", STRLEN("https://")) == 0) {
                https = true;
                rest = base_url + STRLEN("https://");
        } else if (strncasecmp(base_url, "http://", STRLEN("http://")) == 0) {
                https = false;
                rest = base_url + STRLEN("http://");
        } else
                return -EINVAL;

        slash = strchr(rest, '/');
        l = slash ? (size_t) (slash - rest) : strlen(rest);
        if (slash && !streq(slash, "/"))
                return -EINVAL;
        if (authority_parse(rest, l, &base) < 0)
                return -EINVAL;

        /* "*" then ".", then a DNS name: the star is the whole first label. */
        if (wildcard_host[0] != '*' || wildcard_host[1] != '.')
                return -EINVAL;
        if (authority_parse(wildcard_host + 2, strlen(wildcard_host + 2), &wild) < 0 || wild.ipv6)
                return -EINVAL;
        /* Every label must fit in front of it, or some ids would have names too long to route. */
        if (wild.name_len > ROUTE_WILDCARD_NAME_MAX)
                return -EINVAL;

        c = calloc(1, sizeof(RouteConfig));
        if (!c)
                return -ENOMEM;
        c->https = https;
        c->base_ipv6 = base.ipv6;
        c->base_port = base.port ?: default_port(https);
        c->wildcard_port = wild.port ?: default_port(https);

        if (base.ipv6)
                memcpy(c->base_addr, base.addr, sizeof(c->base_addr));
        else {
                c->base_host = strndup_lower(base.name, base.name_len);
                if (!c->base_host)
                        return -ENOMEM;
                c->base_host_len = base.name_len;
        }

        /* The suffix keeps its leading dot: one comparison then checks the label boundary too. */
        c->wildcard_suffix = strndup_lower(wildcard_host + 1, wild.name_len + 1);
        if (!c->wildcard_suffix)
                return -ENOMEM;
        c->wildcard_suffix_len = wild.name_len + 1;

        if (strbuf_append_str(&origin, scheme_prefix(c)) < 0)
                return -ENOMEM;
        if (base.ipv6) {
                char buf[INET6_ADDRSTRLEN];

                if (!inet_ntop(AF_INET6, c->base_addr, buf, sizeof(buf)))
                        return -EINVAL;
                if (strbuf_printf(&origin, "[%s]", buf) < 0)
                        return -ENOMEM;
        } else if (strbuf_append_str(&origin, c->base_host) < 0)
                return -ENOMEM;
        port_suffix(c, c->base_port, port);
        if (strbuf_append_str(&origin, port) < 0)
                return -ENOMEM;

        port_suffix(c, c->wildcard_port, port);
        if (strbuf_printf(&pattern, "%s*%s%s", scheme_prefix(c), c->wildcard_suffix, port) < 0)
                return -ENOMEM;

        c->base_origin = strbuf_steal(&origin, NULL);
        c->wildcard_pattern = strbuf_steal(&pattern, NULL);
        if (!c->base_origin || !c->wildcard_pattern)
                return -ENOMEM;

        *ret = TAKE_PTR(c);
        return 0;
}

const char *route_config_base_origin(const RouteConfig *c) {
        assert(c);
        return c->base_origin;
}

const char *route_config_wildcard_pattern(const RouteConfig *c) {
        assert(c);
        return c->wildcard_pattern;
}

int route_config_wildcard_origin(const RouteConfig *c, const char *id, char **ret) {
        _cleanup_strbuf_ StrBuf s = STRBUF_INIT;
        char port[8];
        size_t n;

        assert(c);
        assert(id);
        assert(ret);

        n = strlen(id);
        if (!label_is_valid(id, n))
                return -EINVAL;

        port_suffix(c, c->wildcard_port, port);
        if (strbuf_append_str(&s, scheme_prefix(c)) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (strbuf_append_char(&s, ascii_lower(id[i])) < 0)
                        return -ENOMEM;
        if (strbuf_printf(&s, "%s%s", c->wildcard_suffix, port) < 0)
                return -ENOMEM;

        *ret = strbuf_steal(&s, NULL);
        return *ret ? 0 : -ENOMEM;
}

static bool label_has_prefix(const char *p, size_t n, const char *prefix) {
        size_t l = strlen(prefix);

        return n >= l && caseeq_lower(p, prefix, l);
}

static bool label_is(const char *p, size_t n, const char *word) {
        return n == strlen(word) && caseeq_lower(p, word, n);
}

/* What a wildcard label names (sandstorm-spec.md §5.10); sets the id within the label. */
static RouteKind label_classify(const char *p, size_t n, const char **ret_id, size_t *ret_id_len) {
        size_t skip = 0;
        RouteKind k;

        if (label_is(p, n, "api"))
                k = ROUTE_API;
        else if (label_is(p, n, "ddp") || label_is(p, n, "static") || label_is(p, n, "payments"))
                k = ROUTE_SHELL_WILDCARD;
        else if (label_has_prefix(p, n, "ui-") && n > STRLEN("ui-")) {
                k = ROUTE_UI;
                skip = STRLEN("ui-");
        } else if (label_has_prefix(p, n, "api-") && n > STRLEN("api-")) {
                k = ROUTE_API_TOKEN;
                skip = STRLEN("api-");
        } else if (label_has_prefix(p, n, "selftest-")) {
                k = ROUTE_SELFTEST;
                skip = STRLEN("selftest-");
        } else {
                k = n == 20 ? ROUTE_PUBLIC : ROUTE_UNKNOWN;
                for (size_t i = 0; k == ROUTE_PUBLIC && i < n; i++)
                        if (!ascii_is_alnum(p[i]))
                                k = ROUTE_UNKNOWN;
        }

        *ret_id = p + skip;
        *ret_id_len = n - skip;
        return k;
}

RouteKind route_host(const RouteConfig *c, const char *host, size_t n, bool https, const char **ret_id,
        size_t *ret_id_len) {
        const char *id = NULL;
        size_t id_len = 0;
        RouteKind k = ROUTE_MISDIRECTED;
        Authority a;
        unsigned port;

        assert(c);
        assert(host || n == 0);

        if (authority_parse(host, n, &a) < 0)
                goto done;
        port = a.port ?: default_port(https);

        if (a.ipv6) {
                if (c->base_ipv6 && port == c->base_port && memcmp(a.addr, c->base_addr, 16) == 0)
                        k = ROUTE_BASE;
                goto done;
        }

        if (!c->base_ipv6 && port == c->base_port && a.name_len == c->base_host_len &&
                caseeq_lower(a.name, c->base_host, a.name_len)) {
                k = ROUTE_BASE;
                goto done;
        }

        if (port == c->wildcard_port && a.name_len > c->wildcard_suffix_len &&
                caseeq_lower(a.name + a.name_len - c->wildcard_suffix_len, c->wildcard_suffix,
                        c->wildcard_suffix_len)) {
                size_t label_len = a.name_len - c->wildcard_suffix_len;

                /* The name is valid, so the label is non-empty; (3) */
                if (memchr(a.name, '.', label_len))
                        goto done;
                k = label_classify(a.name, label_len, &id, &id_len);
        }

done:
        if (ret_id)
                *ret_id = id;
        if (ret_id_len)
                *ret_id_len = id_len;
        return k;
}
