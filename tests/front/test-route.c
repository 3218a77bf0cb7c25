/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "basic/string-util.h"
#include "front/route.h"

typedef struct Case {
        const char *host;
        bool https;
        RouteKind kind;
        const char *id; /* NULL: no id expected */
} Case;

static RouteConfig *config(const char *base_url, const char *wildcard) {
        RouteConfig *c = NULL;

        assert_int_equal(route_config_new(base_url, wildcard, &c), 0);
        assert_non_null(c);
        return c;
}

static void check_cases(const RouteConfig *c, const Case *cases, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const char *host = cases[i].host, *id = (const char *) 1;
                size_t id_len = 12345;
                RouteKind k;

                k = route_host(c, host, strlen(host), cases[i].https, &id, &id_len);
                if (k != cases[i].kind)
                        print_message("# '%s' (https=%d): got %s, want %s\n", host, cases[i].https,
                                route_kind_to_string(k), route_kind_to_string(cases[i].kind));
                assert_int_equal(k, cases[i].kind);
                if (!cases[i].id) {
                        assert_null(id);
                        assert_int_equal(id_len, 0);
                } else {
                        /* the id points into the input, with the client's case */
                        assert_true(id >= host && id + id_len <= host + strlen(host));
                        assert_int_equal(id_len, strlen(cases[i].id));
                        assert_memory_equal(id, cases[i].id, id_len);
                }
                /* the outputs are optional */
                assert_int_equal(route_host(c, host, strlen(host), cases[i].https, NULL, NULL), k);
        }
}

static void test_kind_strings(void **state) {
        for (RouteKind k = 0; k < _ROUTE_KIND_MAX; k++) {
                const char *s = route_kind_to_string(k);

                assert_non_null(s);
                assert_int_equal(route_kind_from_string(s), k);
        }
        assert_string_equal(route_kind_to_string(ROUTE_API_TOKEN), "api-token");
        assert_string_equal(route_kind_to_string(ROUTE_MISDIRECTED), "misdirected");
        assert_null(route_kind_to_string(_ROUTE_KIND_MAX));
        assert_null(route_kind_to_string(_ROUTE_KIND_INVALID));
        assert_int_equal(route_kind_from_string("Base"), -EINVAL);
        assert_int_equal(route_kind_from_string(""), -EINVAL);
        assert_int_equal(route_kind_from_string(NULL), -EINVAL);
}

static void test_authority_split(void **state) {
        size_t n;
        unsigned port;

        (void) state;
        assert_int_equal(route_authority_split("granary.localhost:6080", 22, &n, &port), 0);
        assert_int_equal(n, 17);
        assert_int_equal(port, 6080);
        assert_int_equal(route_authority_split("example.org", 11, &n, &port), 0);
        assert_int_equal(n, 11);
        assert_int_equal(port, 0);
        assert_int_equal(route_authority_split("[::1]:443", 9, &n, &port), 0);
        assert_int_equal(n, 5);
        assert_int_equal(port, 443);
        assert_int_equal(route_authority_split("[::1]", 5, &n, &port), 0);
        assert_int_equal(n, 5);
        assert_int_equal(port, 0);
        assert_int_equal(route_authority_split("a.b:0", 5, &n, &port), -EINVAL);
        assert_int_equal(route_authority_split("a.b:65536", 9, &n, &port), -EINVAL);
        assert_int_equal(route_authority_split("a.b:", 4, &n, &port), -EINVAL);
        assert_int_equal(route_authority_split("u@a.b", 5, &n, &port), -EINVAL);
        assert_int_equal(route_authority_split("", 0, &n, &port), -EINVAL);
}

static void test_every_kind(void **state) {
        _cleanup_(route_config_freep) RouteConfig *c =
                config("http://granary.localhost:6080", "*.granary.localhost:6080");
        static const Case cases[] = {
                {"granary.localhost:6080", false, ROUTE_BASE, NULL},
                {"ui-0123456789abcdef0123456789abcdef.granary.localhost:6080", false, ROUTE_UI,
                        "0123456789abcdef0123456789abcdef"},
                {"api.granary.localhost:6080", false, ROUTE_API, "api"},
                {"api-0123456789abcdef.granary.localhost:6080", false, ROUTE_API_TOKEN, "0123456789abcdef"},
                {"abcdefghij0123456789.granary.localhost:6080", false, ROUTE_PUBLIC, "abcdefghij0123456789"},
                {"selftest-1234.granary.localhost:6080", false, ROUTE_SELFTEST, "1234"},
                {"selftest-.granary.localhost:6080", false, ROUTE_SELFTEST, ""},
                {"ddp.granary.localhost:6080", false, ROUTE_SHELL_WILDCARD, "ddp"},
                {"static.granary.localhost:6080", false, ROUTE_SHELL_WILDCARD, "static"},
                {"payments.granary.localhost:6080", false, ROUTE_SHELL_WILDCARD, "payments"},
                {"www.granary.localhost:6080", false, ROUTE_UNKNOWN, "www"},
                /* 19 and 21 characters are no publicId; a '-' in 20 is not either */
                {"abcdefghij012345678.granary.localhost:6080", false, ROUTE_UNKNOWN, "abcdefghij012345678"},
                {"abcdefghij0123456789a.granary.localhost:6080", false, ROUTE_UNKNOWN,
                        "abcdefghij0123456789a"},
                {"abcdefghij-123456789.granary.localhost:6080", false, ROUTE_UNKNOWN,
                        "abcdefghij-123456789"},
                /* a prefix with nothing after it is not that kind */
                {"ui-.granary.localhost:6080", false, ROUTE_UNKNOWN, "ui-"},
                {"api-.granary.localhost:6080", false, ROUTE_UNKNOWN, "api-"},
                {"apix.granary.localhost:6080", false, ROUTE_UNKNOWN, "apix"},
                {"ddpx.granary.localhost:6080", false, ROUTE_UNKNOWN, "ddpx"},
                {"selftest.granary.localhost:6080", false, ROUTE_UNKNOWN, "selftest"},
                /* over TLS the explicit port still decides */
                {"granary.localhost:6080", true, ROUTE_BASE, NULL},
                {"api.granary.localhost:6080", true, ROUTE_API, "api"},
        };

        check_cases(c, cases, ELEMENTSOF(cases));
}

static void test_case_insensitive(void **state) {
        _cleanup_(route_config_freep) RouteConfig *c =
                config("HTTP://Granary.LocalHost:6080/", "*.GRANARY.localhost:6080");
        static const Case cases[] = {
                {"granary.localhost:6080", false, ROUTE_BASE, NULL},
                {"GRANARY.LOCALHOST:6080", false, ROUTE_BASE, NULL},
                {"UI-ABCDEF.Granary.Localhost:6080", false, ROUTE_UI, "ABCDEF"},
                {"Api.granary.localhost:6080", false, ROUTE_API, "Api"},
                {"API-XyZ.granary.localhost:6080", false, ROUTE_API_TOKEN, "XyZ"},
                {"ABCDEFGHIJ0123456789.granary.localhost:6080", false, ROUTE_PUBLIC, "ABCDEFGHIJ0123456789"},
                {"SelfTest-Q.granary.localhost:6080", false, ROUTE_SELFTEST, "Q"},
                {"DDP.granary.localhost:6080", false, ROUTE_SHELL_WILDCARD, "DDP"},
                {"PayMents.granary.localhost:6080", false, ROUTE_SHELL_WILDCARD, "PayMents"},
        };

        check_cases(c, cases, ELEMENTSOF(cases));
        assert_string_equal(route_config_base_origin(c), "http://granary.localhost:6080");
        assert_string_equal(route_config_wildcard_pattern(c), "http://*.granary.localhost:6080");
}

static void test_ports(void **state) {
        _cleanup_(route_config_freep) RouteConfig *c = config("https://example.org", "*.example.net");
        _cleanup_(route_config_freep) RouteConfig *d =
                config("https://example.org:443/", "*.example.net:8443");
        _cleanup_(route_config_freep) RouteConfig *e = config("http://example.org", "*.example.org:80");
        static const Case cases_c[] = {
                /* no port means the connection's default: only TLS reaches 443 */
                {"example.org", true, ROUTE_BASE, NULL},
                {"example.org:443", true, ROUTE_BASE, NULL},
                {"example.org:443", false, ROUTE_BASE, NULL},
                {"example.org", false, ROUTE_MISDIRECTED, NULL},
                {"example.org:80", false, ROUTE_MISDIRECTED, NULL},
                {"example.org:8443", true, ROUTE_MISDIRECTED, NULL},
                {"ui-ab.example.net", true, ROUTE_UI, "ab"},
                {"ui-ab.example.net:443", true, ROUTE_UI, "ab"},
                {"ui-ab.example.net", false, ROUTE_MISDIRECTED, NULL},
                {"ui-ab.example.net:444", true, ROUTE_MISDIRECTED, NULL},
                /* leading zeros are the same number */
                {"example.org:0443", true, ROUTE_BASE, NULL},
                /* empty, zero, too long, too big, not digits */
                {"example.org:", true, ROUTE_MISDIRECTED, NULL},
                {"example.org:0", true, ROUTE_MISDIRECTED, NULL},
                {"example.org:000443", true, ROUTE_MISDIRECTED, NULL},
                {"example.org:65536", true, ROUTE_MISDIRECTED, NULL},
                {"example.org:99999", true, ROUTE_MISDIRECTED, NULL},
                {"example.org:4a3", true, ROUTE_MISDIRECTED, NULL},
                {"example.org:+443", true, ROUTE_MISDIRECTED, NULL},
                {"example.org:443:443", true, ROUTE_MISDIRECTED, NULL},
                {"example.org: 443", true, ROUTE_MISDIRECTED, NULL},
        };
        static const Case cases_d[] = {
                /* the wildcard host has its own port */
                {"example.org", true, ROUTE_BASE, NULL},
                {"ui-ab.example.net", true, ROUTE_MISDIRECTED, NULL},
                {"ui-ab.example.net:443", true, ROUTE_MISDIRECTED, NULL},
                {"ui-ab.example.net:8443", true, ROUTE_UI, "ab"},
                {"ui-ab.example.net:8443", false, ROUTE_UI, "ab"},
                {"example.org:8443", true, ROUTE_MISDIRECTED, NULL},
        };
        static const Case cases_e[] = {
                {"example.org", false, ROUTE_BASE, NULL},
                {"example.org:80", false, ROUTE_BASE, NULL},
                {"example.org", true, ROUTE_MISDIRECTED, NULL},
                {"api.example.org", false, ROUTE_API, "api"},
                {"api.example.org:80", false, ROUTE_API, "api"},
                {"api.example.org", true, ROUTE_MISDIRECTED, NULL},
        };

        check_cases(c, cases_c, ELEMENTSOF(cases_c));
        check_cases(d, cases_d, ELEMENTSOF(cases_d));
        check_cases(e, cases_e, ELEMENTSOF(cases_e));
}

static void test_misdirected(void **state) {
        _cleanup_(route_config_freep) RouteConfig *c =
                config("http://granary.localhost:6080", "*.granary.localhost:6080");
        static const Case cases[] = {
                {"", false, ROUTE_MISDIRECTED, NULL},
                {":6080", false, ROUTE_MISDIRECTED, NULL},
                {"other.example:6080", false, ROUTE_MISDIRECTED, NULL},
                {"localhost:6080", false, ROUTE_MISDIRECTED, NULL},
                /* suffix tricks */
                {"evilgranary.localhost:6080", false, ROUTE_MISDIRECTED, NULL},
                {"ui-xgranary.localhost:6080", false, ROUTE_MISDIRECTED, NULL},
                {"granary.localhost.evil:6080", false, ROUTE_MISDIRECTED, NULL},
                {"ui-x.granary.localhost.evil:6080", false, ROUTE_MISDIRECTED, NULL},
                {"ui-x.granary.localhost.:6080", false, ROUTE_MISDIRECTED, NULL},
                {"granary.localhost:6080.evil", false, ROUTE_MISDIRECTED, NULL},
                /* a wildcard id may not hold a dot, nor be empty */
                {"a.b.granary.localhost:6080", false, ROUTE_MISDIRECTED, NULL},
                {"ui-x.api.granary.localhost:6080", false, ROUTE_MISDIRECTED, NULL},
                {".granary.localhost:6080", false, ROUTE_MISDIRECTED, NULL},
                {"..granary.localhost:6080", false, ROUTE_MISDIRECTED, NULL},
                {"ui-x..granary.localhost:6080", false, ROUTE_MISDIRECTED, NULL},
                /* a trailing dot, with and without port */
                {"granary.localhost.:6080", false, ROUTE_MISDIRECTED, NULL},
                {"granary.localhost.", false, ROUTE_MISDIRECTED, NULL},
                /* userinfo */
                {"user@granary.localhost:6080", false, ROUTE_MISDIRECTED, NULL},
                {"user:pw@granary.localhost:6080", false, ROUTE_MISDIRECTED, NULL},
                {"granary.localhost:6080@evil.example", false, ROUTE_MISDIRECTED, NULL},
                /* bytes no name of ours has: escapes, other reg-name characters, controls, spaces */
                {"%67ranary.localhost:6080", false, ROUTE_MISDIRECTED, NULL},
                {"ui_x.granary.localhost:6080", false, ROUTE_MISDIRECTED, NULL},
                {"ui-x!.granary.localhost:6080", false, ROUTE_MISDIRECTED, NULL},
                {"granary.localhost :6080", false, ROUTE_MISDIRECTED, NULL},
                {" granary.localhost:6080", false, ROUTE_MISDIRECTED, NULL},
                {"granary.localhost\t:6080", false, ROUTE_MISDIRECTED, NULL},
                {"granary.localhost/:6080", false, ROUTE_MISDIRECTED, NULL},
                {"granary.localhost\\:6080", false, ROUTE_MISDIRECTED, NULL},
                {"gr\xc3\xa4nary.localhost:6080", false, ROUTE_MISDIRECTED, NULL},
                /* the port is not optional when the config has one */
                {"granary.localhost", false, ROUTE_MISDIRECTED, NULL},
                {"ui-x.granary.localhost", false, ROUTE_MISDIRECTED, NULL},
                {"granary.localhost:6081", false, ROUTE_MISDIRECTED, NULL},
                /* IPv6 and IPv4 literals are not ours here */
                {"[::1]:6080", false, ROUTE_MISDIRECTED, NULL},
                {"127.0.0.1:6080", false, ROUTE_MISDIRECTED, NULL},
                /* a label longer than 63 */
                {"ui-0123456789012345678901234567890123456789012345678901234567890.granary.localhost:6080",
                        false, ROUTE_MISDIRECTED, NULL},
        };

        check_cases(c, cases, ELEMENTSOF(cases));

        /* no NUL needed, and none read past n: the name is cut at n */
        assert_int_equal(route_host(c, "granary.localhost:6080xyz", 22, false, NULL, NULL), ROUTE_BASE);
        assert_int_equal(route_host(c, "granary.localhost:60801", 22, false, NULL, NULL), ROUTE_BASE);
        assert_int_equal(route_host(c, "granary.localhost:6080", 21, false, NULL, NULL), ROUTE_MISDIRECTED);
        /* a NUL inside is a byte like any other */
        assert_int_equal(
                route_host(c, "granary.localhost\0:6080", 23, false, NULL, NULL), ROUTE_MISDIRECTED);
        assert_int_equal(route_host(c, NULL, 0, false, NULL, NULL), ROUTE_MISDIRECTED);
}

static void test_ipv6(void **state) {
        _cleanup_(route_config_freep) RouteConfig *c =
                config("http://[::1]:6080", "*.granary.localhost:6080");
        _cleanup_(route_config_freep) RouteConfig *d = config("https://[2001:DB8:0:0::1]", "*.example.org");
        static const Case cases_c[] = {
                {"[::1]:6080", false, ROUTE_BASE, NULL},
                {"[0:0:0:0:0:0:0:1]:6080", false, ROUTE_BASE, NULL},
                {"[::1]", false, ROUTE_MISDIRECTED, NULL},
                {"[::1]:6081", false, ROUTE_MISDIRECTED, NULL},
                {"[::2]:6080", false, ROUTE_MISDIRECTED, NULL},
                {"[::1:6080", false, ROUTE_MISDIRECTED, NULL},
                {"[]:6080", false, ROUTE_MISDIRECTED, NULL},
                {"[::1]x:6080", false, ROUTE_MISDIRECTED, NULL},
                {"[::1%25eth0]:6080", false, ROUTE_MISDIRECTED, NULL},
                {"[v1.x]:6080", false, ROUTE_MISDIRECTED, NULL},
                {"[::g]:6080", false, ROUTE_MISDIRECTED, NULL},
                {"::1:6080", false, ROUTE_MISDIRECTED, NULL},
                {"ui-a.granary.localhost:6080", false, ROUTE_UI, "a"},
        };
        static const Case cases_d[] = {
                {"[2001:db8::1]", true, ROUTE_BASE, NULL},
                {"[2001:DB8::0:1]:443", false, ROUTE_BASE, NULL},
                {"[2001:db8::1]", false, ROUTE_MISDIRECTED, NULL},
                {"[::ffff:192.0.2.1]", true, ROUTE_MISDIRECTED, NULL},
        };

        check_cases(c, cases_c, ELEMENTSOF(cases_c));
        check_cases(d, cases_d, ELEMENTSOF(cases_d));
        assert_string_equal(route_config_base_origin(c), "http://[::1]:6080");
        assert_string_equal(route_config_base_origin(d), "https://[2001:db8::1]");
        assert_string_equal(route_config_wildcard_pattern(d), "https://*.example.org");

        /* a config whose base is not IPv6 refuses every literal */
        _cleanup_(route_config_freep) RouteConfig *e = config("http://127.0.0.1:6080", "*.example.org:6080");
        assert_int_equal(route_host(e, "127.0.0.1:6080", 14, false, NULL, NULL), ROUTE_BASE);
        assert_int_equal(route_host(e, "[::1]:6080", 10, false, NULL, NULL), ROUTE_MISDIRECTED);
        assert_int_equal(route_host(e, "[::ffff:127.0.0.1]:6080", 23, false, NULL, NULL), ROUTE_MISDIRECTED);
}

static void test_base_under_wildcard(void **state) {
        /* The base host wins over the wildcard label that would name it. */
        _cleanup_(route_config_freep) RouteConfig *c = config("https://www.example.org", "*.example.org");

        assert_int_equal(route_host(c, "www.example.org", 15, true, NULL, NULL), ROUTE_BASE);
        assert_int_equal(route_host(c, "WWW.example.org", 15, true, NULL, NULL), ROUTE_BASE);
        assert_int_equal(route_host(c, "ui-1.example.org", 16, true, NULL, NULL), ROUTE_UI);
        assert_int_equal(route_host(c, "example.org", 11, true, NULL, NULL), ROUTE_MISDIRECTED);
}

static void test_origins(void **state) {
        _cleanup_(route_config_freep) RouteConfig *c =
                config("http://granary.localhost:6080", "*.granary.localhost:6080");
        _cleanup_(route_config_freep) RouteConfig *d =
                config("https://Example.ORG:443", "*.Example.org:443");
        _cleanup_(route_config_freep) RouteConfig *e =
                config("http://example.org:80/", "*.example.org:8080");
        _cleanup_(route_config_freep) RouteConfig *f = config("https://example.org:80", "*.example.org");
        char *o;

        assert_string_equal(route_config_base_origin(c), "http://granary.localhost:6080");
        assert_string_equal(route_config_wildcard_pattern(c), "http://*.granary.localhost:6080");
        assert_int_equal(route_config_wildcard_origin(c, "ui-AbC", &o), 0);
        assert_string_equal(o, "http://ui-abc.granary.localhost:6080");
        free(o);

        assert_string_equal(route_config_base_origin(d), "https://example.org");
        assert_string_equal(route_config_wildcard_pattern(d), "https://*.example.org");
        assert_int_equal(route_config_wildcard_origin(d, "abcdefghij0123456789", &o), 0);
        assert_string_equal(o, "https://abcdefghij0123456789.example.org");
        free(o);

        assert_string_equal(route_config_base_origin(e), "http://example.org");
        assert_string_equal(route_config_wildcard_pattern(e), "http://*.example.org:8080");

        /* 80 is not the default of https */
        assert_string_equal(route_config_base_origin(f), "https://example.org:80");
        assert_string_equal(route_config_wildcard_pattern(f), "https://*.example.org");

        /* ids that are no DNS label, and nothing written for them */
        o = (char *) "untouched";
        assert_int_equal(route_config_wildcard_origin(c, "", &o), -EINVAL);
        assert_int_equal(route_config_wildcard_origin(c, "a.b", &o), -EINVAL);
        assert_int_equal(route_config_wildcard_origin(c, "a/b", &o), -EINVAL);
        assert_int_equal(route_config_wildcard_origin(c, "a b", &o), -EINVAL);
        assert_int_equal(route_config_wildcard_origin(c, "a\r\nSet-Cookie: x", &o), -EINVAL);
        assert_int_equal(route_config_wildcard_origin(
                                 c, "0123456789012345678901234567890123456789012345678901234567890123", &o),
                -EINVAL);
        assert_string_equal(o, "untouched");

        /* every origin's host classifies as what it names */
        const char *base = route_config_base_origin(c) + STRLEN("http://");
        assert_int_equal(route_host(c, base, strlen(base), false, NULL, NULL), ROUTE_BASE);
        base = route_config_base_origin(d) + STRLEN("https://");
        assert_int_equal(route_host(d, base, strlen(base), true, NULL, NULL), ROUTE_BASE);
}

static void test_bad_config(void **state) {
        static const struct {
                const char *base;
                const char *wildcard;
        } bad[] = {
                {"", "*.example.org"},
                {"example.org", "*.example.org"},
                {"ftp://example.org", "*.example.org"},
                {"http:/example.org", "*.example.org"},
                {"http://", "*.example.org"},
                {"http:///", "*.example.org"},
                {"http://example.org/shell", "*.example.org"},
                {"http://example.org//", "*.example.org"},
                {"http://example.org?x", "*.example.org"},
                {"http://example.org#x", "*.example.org"},
                {"http://example.org/?x", "*.example.org"},
                {"http://user@example.org", "*.example.org"},
                {"http://user:pw@example.org", "*.example.org"},
                {"http://example.org:", "*.example.org"},
                {"http://example.org:0", "*.example.org"},
                {"http://example.org:65536", "*.example.org"},
                {"http://example.org:123456", "*.example.org"},
                {"http://example.org:http", "*.example.org"},
                {"http://example.org.", "*.example.org"},
                {"http://.example.org", "*.example.org"},
                {"http://exa mple.org", "*.example.org"},
                {"http://exa_mple.org", "*.example.org"},
                {"http://[::1", "*.example.org"},
                {"http://[::1]x", "*.example.org"},
                {"http://[not-v6]", "*.example.org"},
                {"http://[]", "*.example.org"},
                {"http://example.org", ""},
                {"http://example.org", "*"},
                {"http://example.org", "*."},
                {"http://example.org", "example.org"},
                {"http://example.org", "x*.example.org"},
                {"http://example.org", "*x.example.org"},
                {"http://example.org", "ui-*.example.org"},
                {"http://example.org", "*.*.example.org"},
                {"http://example.org", "*.example.*"},
                {"http://example.org", "**.example.org"},
                {"http://example.org", "*..example.org"},
                {"http://example.org", "*.example.org."},
                {"http://example.org", "*.example.org:"},
                {"http://example.org", "*.example.org:0"},
                {"http://example.org", "*.example.org:65536"},
                {"http://example.org", "*.example.org/"},
                {"http://example.org", "http://*.example.org"},
                {"http://example.org", "*.[::1]"},
                {"http://example.org", "*.exa%6dple.org"},
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                RouteConfig *c = (RouteConfig *) 0x1;

                if (route_config_new(bad[i].base, bad[i].wildcard, &c) != -EINVAL)
                        print_message("# accepted '%s' '%s'\n", bad[i].base, bad[i].wildcard);
                assert_int_equal(route_config_new(bad[i].base, bad[i].wildcard, &c), -EINVAL);
                assert_ptr_equal(c, (RouteConfig *) 0x1);
        }

        /* the longest names that are still names */
        char label[64], name[300];
        memset(label, 'a', 63);
        label[63] = '\0';
        (void) snprintf(name, sizeof(name), "http://%s.%s.%s.%.61s", label, label, label, label);
        assert_int_equal(strlen(name) - STRLEN("http://"), 253);
        RouteConfig *c = NULL;
        assert_int_equal(route_config_new(name, "*.example.org", &c), 0);
        c = route_config_free(c);
        assert_null(c);
        (void) snprintf(name, sizeof(name), "http://%s.%s.%s.%.62s", label, label, label, label);
        assert_int_equal(route_config_new(name, "*.example.org", &c), -EINVAL);
        (void) snprintf(name, sizeof(name), "http://%sa.org", label);
        assert_int_equal(route_config_new(name, "*.example.org", &c), -EINVAL);
        assert_null(route_config_free(NULL));

        /* the wildcard's name leaves room for the longest label */
        (void) snprintf(name, sizeof(name), "*.%s.%s.%.61s", label, label, label);
        assert_int_equal(strlen(name) - 2, ROUTE_WILDCARD_NAME_MAX);
        assert_int_equal(route_config_new("http://example.org", name, &c), 0);
        _cleanup_free_ char *host = strjoin(label, name + 1);
        assert_int_equal(strlen(host), ROUTE_HOST_MAX);
        assert_int_equal(route_host(c, host, strlen(host), false, NULL, NULL), ROUTE_UNKNOWN);
        c = route_config_free(c);
        (void) snprintf(name, sizeof(name), "*.%s.%s.%.62s", label, label, label);
        assert_int_equal(route_config_new("http://example.org", name, &c), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kind_strings),
                cmocka_unit_test(test_authority_split),
                cmocka_unit_test(test_every_kind),
                cmocka_unit_test(test_case_insensitive),
                cmocka_unit_test(test_ports),
                cmocka_unit_test(test_misdirected),
                cmocka_unit_test(test_ipv6),
                cmocka_unit_test(test_base_under_wildcard),
                cmocka_unit_test(test_origins),
                cmocka_unit_test(test_bad_config),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
