/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Fuzzes routing by Host. The first byte picks what is fuzzed: with its top bit clear, a Host value
 * classified against one of three configs (low bits) over plain HTTP or TLS (bit 2); with it set, a config:
 * the rest is "<base_url>\n<wildcard_host>".
 *
 * Invariants checked, beyond "no crash, no read past the input":
 * (1) the kind is in range, and the id lies within the input; there is an id exactly when the kind has one;
 * (2) the id has its kind's shape: "ui-", "api-", "selftest-" right before it, 20 letters and digits for
 *     a publicId, one of the reserved words for the shell's names;
 * (3) the decision ignores case: the input upper- and lowercased routes the same, with the same id span;
 * (4) an explicit port makes the connection's scheme irrelevant;
 * (5) a Host we route holds only letters, digits, '-', '.', ':' and brackets; one more label in front of a
 *     wildcard name is never routed;
 * (6) a config that parses yields origins whose hosts route back to what they name, and that hold no byte
 *     a header could not carry.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front/route.h"
#include "fuzz.h"

static const struct {
        const char *base;
        const char *wildcard;
} configs[] = {
        {"http://granary.localhost:6080", "*.granary.localhost:6080"},
        {"https://example.org", "*.sandbox.example.org:8443"},
        {"http://[::1]:6080", "*.example.org"},
        {"https://www.example.org", "*.example.org"},
};

static bool caseeq(const char *a, const char *b, size_t n) {
        for (size_t i = 0; i < n; i++) {
                char x = a[i], y = b[i];

                if (x >= 'A' && x <= 'Z')
                        x = (char) (x + 32);
                if (y >= 'A' && y <= 'Z')
                        y = (char) (y + 32);
                if (x != y)
                        return false;
        }
        return true;
}

static bool is_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool preceded_by(const char *host, const char *id, const char *prefix) {
        size_t l = strlen(prefix);

        return (size_t) (id - host) >= l && caseeq(id - l, prefix, l);
}

static void check_host(const RouteConfig *c, const char *host, size_t n, bool https) {
        const char *id = NULL;
        size_t id_len = 0;
        RouteKind k;

        k = route_host(c, host, n, https, &id, &id_len);

        /* (1) */
        CHECK(k >= 0 && k < _ROUTE_KIND_MAX);
        CHECK(route_kind_to_string(k));
        if (k == ROUTE_BASE || k == ROUTE_MISDIRECTED)
                CHECK(!id && id_len == 0);
        else {
                CHECK(id && id >= host && id_len <= n && (size_t) (id - host) <= n - id_len);
                CHECK(id_len > 0 || k == ROUTE_SELFTEST);
        }

        /* (2) */
        switch (k) {
        case ROUTE_UI:
                CHECK(preceded_by(host, id, "ui-"));
                break;
        case ROUTE_API_TOKEN:
                CHECK(preceded_by(host, id, "api-"));
                break;
        case ROUTE_SELFTEST:
                CHECK(preceded_by(host, id, "selftest-"));
                break;
        case ROUTE_API:
                CHECK(id_len == 3 && caseeq(id, "api", 3));
                break;
        case ROUTE_PUBLIC:
                CHECK(id_len == 20 && id == host && id[20] == '.');
                for (size_t i = 0; i < id_len; i++)
                        CHECK(is_alnum(id[i]));
                break;
        case ROUTE_SHELL_WILDCARD:
                CHECK((id_len == 3 && caseeq(id, "ddp", 3)) || (id_len == 6 && caseeq(id, "static", 6)) ||
                        (id_len == 8 && caseeq(id, "payments", 8)));
                break;
        default:
                break;
        }

        /* (3) */
        char *upper = malloc(n ? n : 1), *lower = malloc(n ? n : 1);
        CHECK(upper && lower);
        for (size_t i = 0; i < n; i++) {
                char ch = host[i];

                upper[i] = ch >= 'a' && ch <= 'z' ? (char) (ch - 32) : ch;
                lower[i] = ch >= 'A' && ch <= 'Z' ? (char) (ch + 32) : ch;
        }
        const char *uid, *lid;
        size_t uid_len, lid_len;
        CHECK(route_host(c, upper, n, https, &uid, &uid_len) == k);
        CHECK(route_host(c, lower, n, https, &lid, &lid_len) == k);
        CHECK(uid_len == id_len && lid_len == id_len);
        if (id) {
                CHECK(uid - upper == id - host);
                CHECK(lid - lower == id - host);
        }
        free(upper);
        free(lower);

        /* (4): a port given is the port, over TLS or not */
        const char *colon = NULL, *bracket = NULL;
        for (size_t i = 0; i < n; i++)
                if (host[i] == ':')
                        colon = host + i;
                else if (host[i] == ']')
                        bracket = host + i;
        if (colon && (!bracket || colon > bracket) && colon + 1 < host + n)
                CHECK(route_host(c, host, n, !https, NULL, NULL) == k);

        if (k == ROUTE_MISDIRECTED)
                return;

        /* (5) */
        for (size_t i = 0; i < n; i++)
                CHECK(is_alnum(host[i]) || strchr("-.:[]", host[i]));
        if (k != ROUTE_BASE && n < 1024) {
                char longer[1030];

                memcpy(longer, "a.", 2);
                memcpy(longer + 2, host, n);
                CHECK(route_host(c, longer, n + 2, https, NULL, NULL) == ROUTE_MISDIRECTED);
        }
}

static void check_origin_chars(const char *s) {
        for (; *s; s++)
                CHECK(is_alnum(*s) || strchr("-.:/[]*", *s));
}

static void check_config(const uint8_t *data, size_t size) {
        RouteConfig *c = NULL;
        char *base, *nl, *o = NULL;
        const char *host;
        bool https;
        int r;

        if (memchr(data, '\0', size))
                return;
        base = malloc(size + 1);
        CHECK(base);
        memcpy(base, data, size);
        base[size] = '\0';
        nl = strchr(base, '\n');
        if (!nl) {
                free(base);
                return;
        }
        *nl = '\0';

        r = route_config_new(base, nl + 1, &c);
        CHECK(r == 0 || r == -EINVAL);
        if (r < 0) {
                CHECK(!c);
                free(base);
                return;
        }

        /* (6) */
        check_origin_chars(route_config_base_origin(c));
        check_origin_chars(route_config_wildcard_pattern(c));
        https = strncmp(route_config_base_origin(c), "https://", 8) == 0;
        host = strstr(route_config_base_origin(c), "://") + 3;
        CHECK(route_host(c, host, strlen(host), https, NULL, NULL) == ROUTE_BASE);
        CHECK(strncmp(route_config_wildcard_pattern(c), https ? "https://*." : "http://*.",
                      https ? 10 : 9) == 0);

        CHECK(route_config_wildcard_origin(c, "ui-Ab12", &o) == 0);
        check_origin_chars(o);
        host = strstr(o, "://") + 3;
        {
                const char *id;
                size_t id_len;
                RouteKind k = route_host(c, host, strlen(host), https, &id, &id_len);

                /* the base host may be that very name; otherwise it is the UI host */
                CHECK(k == ROUTE_UI || k == ROUTE_BASE);
                if (k == ROUTE_UI)
                        CHECK(id_len == 4 && memcmp(id, "ab12", 4) == 0);
        }
        free(o);
        CHECK(route_config_wildcard_origin(c, "a.b", &o) == -EINVAL);

        check_host(c, base, strlen(base), https);
        route_config_free(c);
        free(base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static RouteConfig *parsed[ELEMENTSOF(configs)];
        const char *host;
        bool https;

        if (size < 1 || size > 4096)
                return 0;

        if (data[0] & 0x80) {
                check_config(data + 1, size - 1);
                return 0;
        }

        for (size_t i = 0; i < ELEMENTSOF(configs); i++)
                if (!parsed[i])
                        CHECK(route_config_new(configs[i].base, configs[i].wildcard, &parsed[i]) == 0);

        https = data[0] & 4;
        /* An exact-size copy, so that a read past the end is caught. */
        char *copy = malloc(size - 1 ? size - 1 : 1);
        CHECK(copy);
        memcpy(copy, data + 1, size - 1);
        host = copy;
        check_host(parsed[data[0] % ELEMENTSOF(configs)], host, size - 1, https);
        free(copy);
        return 0;
}
