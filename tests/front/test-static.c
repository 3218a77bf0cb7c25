/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <zlib.h>

#include "basic/fileio.h"
#include "basic/hex.h"
#include "basic/string-util.h"
#include "front/static.h"

#define H(n, v)                                                                                             \
        { n, sizeof(n) - 1, v, sizeof(v) - 1 }

/* Sun, 06 Nov 1994 08:49:37 GMT */
#define MTIME ((time_t) 784111777)
#define MTIME_TEXT "Sun, 06 Nov 1994 08:49:37 GMT"

static const char index_html[] =
        "<!doctype html><title>granary</title><script type=module src=app.js></script>\n";
static const char login_html[] = "<!doctype html><title>Sign in</title>\n";
static const char app_js[] = "import {start} from './lib.js';\nstart();\n";
static const char data_json[] = "{\"ok\":true}\n";
static const char sub_index_html[] = "<!doctype html><title>sub</title>\n";
static const char sub_page_html[] = "<!doctype html><title>page</title>\n";
static const char secret[] = "outside the site\n";
static char style_css[16384];
static uint8_t logo_png[1000];
static uint8_t noise_txt[4096];

static char top_dir[64]; /* the temporary directory; the site is its "site" */
static int site_fd = -EBADF;
static StaticSite *site;

static void write_at(int dir_fd, const char *name, const void *p, size_t n) {
        struct timespec ts[2] = {{.tv_sec = MTIME}, {.tv_sec = MTIME}};
        _cleanup_close_ int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(loop_write(fd, p, n), 0);
        assert_int_equal(futimens(fd, ts), 0);
}

static void write_str(int dir_fd, const char *name, const char *s) {
        write_at(dir_fd, name, s, strlen(s));
}

static int mkdir_at(int dir_fd, const char *name) {
        assert_int_equal(mkdirat(dir_fd, name, 0755), 0);
        return openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Four directories of 200 'd' and a file of 214 'f' + ".html": a path of exactly STATIC_PATH_MAX bytes. */
static char long_path[STATIC_PATH_MAX + 1];

static void make_long_path(int dir_fd) {
        _cleanup_close_ int fd = -EBADF;
        char name[256];
        int d = dir_fd;

        memset(name, 'd', 200);
        name[200] = '\0';
        strcpy(long_path, "");
        for (int i = 0; i < 4; i++) {
                int sub;

                name[0] = (char) ('0' + i);
                sub = mkdir_at(d, name);
                assert_true(sub >= 0);
                if (d != dir_fd)
                        safe_close(d);
                d = sub;
                strcat(long_path, "/");
                strcat(long_path, name);
        }
        fd = d;
        memset(name, 'f', 214);
        strcpy(name + 214, ".html");
        write_str(fd, name, "long\n");
        strcat(long_path, "/");
        strcat(long_path, name);
        assert_int_equal(strlen(long_path), STATIC_PATH_MAX);
}

static int setup(void **state) {
        _cleanup_close_ int top = -EBADF, sub = -EBADF, dir = -EBADF;
        uint64_t x = 0x9e3779b97f4a7c15;

        strcpy(top_dir, "/tmp/test-front-static-XXXXXX");
        if (!mkdtemp(top_dir))
                return -1;
        top = open(top_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (top < 0)
                return -1;
        write_str(top, "secret", secret);
        site_fd = mkdir_at(top, "site");

        /* CSS that compresses well, a binary that is not compressible by type, text that does not compress
         */
        for (size_t i = 0; i < sizeof(style_css) - 1; i++)
                style_css[i] = ".a{color:red}\n"[i % 14];
        style_css[sizeof(style_css) - 1] = '\0';
        for (size_t i = 0; i < sizeof(logo_png); i++)
                logo_png[i] = (uint8_t) (i * 7);
        for (size_t i = 0; i < sizeof(noise_txt); i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                noise_txt[i] = (uint8_t) x;
        }

        write_str(site_fd, "index.html", index_html);
        write_str(site_fd, "login.html", login_html);
        write_str(site_fd, "app.js", app_js);
        write_str(site_fd, "data.json", data_json);
        write_str(site_fd, "style.css", style_css);
        write_at(site_fd, "logo.png", logo_png, sizeof(logo_png));
        write_at(site_fd, "noise.txt", noise_txt, sizeof(noise_txt));
        write_at(site_fd, "empty.txt", "", 0);
        write_str(site_fd, "LICENSE", "MIT\n");
        write_str(site_fd, "Font.WOFF2", "wOF2");
        write_str(site_fd, ".hidden", "hidden\n");
        write_str(site_fd, "back\\slash.txt", "unreachable\n");
        sub = mkdir_at(site_fd, "sub");
        write_str(sub, "index.html", sub_index_html);
        write_str(sub, "page.html", sub_page_html);
        dir = mkdir_at(sub, "deeper");
        dir = safe_close(dir);
        dir = mkdir_at(site_fd, "a b");
        write_str(dir, "index.html", "spaced\n");
        dir = safe_close(dir);
        dir = mkdir_at(site_fd, "d\xc3\xa9");
        dir = safe_close(dir);
        dir = mkdir_at(site_fd, "weird");
        safe_close(mkdir_at(dir, "index.html"));
        dir = safe_close(dir);
        dir = mkdir_at(site_fd, ".git");
        write_str(dir, "config", "[core]\n");
        dir = safe_close(dir);
        make_long_path(site_fd);

        /* what must be skipped: symlinks (in and out of the site), a FIFO */
        assert_int_equal(symlinkat("app.js", site_fd, "link.js"), 0);
        assert_int_equal(symlinkat("sub", site_fd, "linkdir"), 0);
        assert_int_equal(symlinkat("../secret", site_fd, "outside"), 0);
        assert_int_equal(symlinkat("/etc", site_fd, "etc"), 0);
        assert_int_equal(mkfifoat(site_fd, "fifo", 0600), 0);

        if (static_site_load(site_fd, &site) < 0)
                return -1;
        *state = NULL;
        return 0;
}

static int teardown(void **state) {
        int r;

        site = static_site_unref(site);
        site_fd = safe_close(site_fd);
        r = rm_rf_path(top_dir);
        return r < 0 ? -1 : 0;
}

static void etag_of(const void *p, size_t n, const char *suffix, char ret[64]) {
        uint8_t hash[16];
        char hex[33];

        assert_int_equal(crypto_generichash(hash, sizeof(hash), p, n, NULL, 0), 0);
        (void) snprintf(ret, 64, "\"%s%s\"", hex_encode(hash, sizeof(hash), hex), suffix);
}

static const char *header_get(const StaticResult *r, const char *name) {
        for (size_t i = 0; i < r->n_headers; i++)
                if (strcasecmp(r->headers[i].name, name) == 0)
                        return r->headers[i].value;
        return NULL;
}

/* The headers, exactly and in order: name, value, …, NULL. Checks that lengths and NULs agree too. */
static void check_headers(const StaticResult *r, ...) {
        va_list ap;
        size_t i = 0;

        va_start(ap, r);
        for (const char *name; (name = va_arg(ap, const char *)); i++) {
                const char *value = va_arg(ap, const char *);

                assert_true(i < r->n_headers);
                assert_string_equal(r->headers[i].name, name);
                assert_string_equal(r->headers[i].value, value);
                assert_int_equal(r->headers[i].name_len, strlen(name));
                assert_int_equal(r->headers[i].value_len, strlen(value));
        }
        va_end(ap);
        if (i != r->n_headers)
                print_message("# %zu headers, expected %zu\n", r->n_headers, i);
        assert_int_equal(r->n_headers, i);
}

static void serve_h(HttpMethod m, const char *path, const HttpHeader *h, size_t n_h, StaticResult *r) {
        memset(r, 0xa5, sizeof(*r));
        assert_int_equal(static_site_serve(site, m, path, strlen(path), h, n_h, r), 0);
}

static void serve(HttpMethod m, const char *path, StaticResult *r) {
        serve_h(m, path, NULL, 0, r);
}

static void check_body(const StaticResult *r, const void *p, size_t n) {
        assert_non_null(r->body);
        assert_int_equal(r->body_size, n);
        assert_memory_equal(r->body, p, n);
}

static void check_status(HttpMethod m, const char *path, int status) {
        StaticResult r;

        serve(m, path, &r);
        if (r.status != status)
                print_message("# '%s': %d, expected %d\n", path, r.status, status);
        assert_int_equal(r.status, status);
}

static void test_get_head(void **state) {
        StaticResult r;
        char etag[64];

        etag_of(index_html, strlen(index_html), "", etag);
        serve(HTTP_METHOD_GET, "/", &r);
        assert_int_equal(r.status, 200);
        check_headers(&r, "Content-Type", "text/html; charset=utf-8", "ETag", etag, "Last-Modified",
                MTIME_TEXT, "Cache-Control", "no-cache", "Accept-Ranges", "bytes", NULL);
        check_body(&r, index_html, strlen(index_html));

        serve(HTTP_METHOD_GET, "/index.html", &r);
        assert_int_equal(r.status, 200);
        check_body(&r, index_html, strlen(index_html));

        /* HEAD: the same headers, no body, the length to announce */
        serve(HTTP_METHOD_HEAD, "/", &r);
        assert_int_equal(r.status, 200);
        check_headers(&r, "Content-Type", "text/html; charset=utf-8", "ETag", etag, "Last-Modified",
                MTIME_TEXT, "Cache-Control", "no-cache", "Accept-Ranges", "bytes", NULL);
        assert_null(r.body);
        assert_int_equal(r.body_size, strlen(index_html));

        etag_of(app_js, strlen(app_js), "", etag);
        serve(HTTP_METHOD_GET, "/app.js", &r);
        assert_int_equal(r.status, 200);
        check_headers(&r, "Content-Type", "text/javascript; charset=utf-8", "ETag", etag, "Last-Modified",
                MTIME_TEXT, "Cache-Control", "public, max-age=3600", "Accept-Ranges", "bytes", NULL);
        check_body(&r, app_js, strlen(app_js));

        /* an empty file has an empty body, not none */
        etag_of("", 0, "", etag);
        serve(HTTP_METHOD_GET, "/empty.txt", &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(header_get(&r, "ETag"), etag);
        assert_non_null(r.body);
        assert_int_equal(r.body_size, 0);
}

static void test_methods(void **state) {
        static const HttpMethod methods[] = {HTTP_METHOD_POST, HTTP_METHOD_PUT, HTTP_METHOD_DELETE,
                HTTP_METHOD_OPTIONS, HTTP_METHOD_TRACE, HTTP_METHOD_PATCH, HTTP_METHOD_PROPFIND,
                HTTP_METHOD_CONNECT};
        StaticResult r;

        for (size_t i = 0; i < ELEMENTSOF(methods); i++) {
                /* 405 whatever the path, existing or not */
                serve(methods[i], "/index.html", &r);
                assert_int_equal(r.status, 405);
                check_headers(&r, "Allow", "GET, HEAD", NULL);
                assert_null(r.body);
                assert_int_equal(r.body_size, 0);
                serve(methods[i], "/../nothing", &r);
                assert_int_equal(r.status, 405);
        }
}

static void test_content_types(void **state) {
        static const struct {
                const char *path;
                const char *type;
                const char *cache;
        } table[] = {
                {"/index.html", "text/html; charset=utf-8", "no-cache"},
                {"/login", "text/html; charset=utf-8", "no-cache"},
                {"/app.js", "text/javascript; charset=utf-8", "public, max-age=3600"},
                {"/data.json", "application/json", "public, max-age=3600"},
                {"/style.css", "text/css; charset=utf-8", "public, max-age=3600"},
                {"/logo.png", "image/png", "public, max-age=3600"},
                {"/noise.txt", "text/plain; charset=utf-8", "public, max-age=3600"},
                {"/LICENSE", "application/octet-stream", "public, max-age=3600"},
                {"/Font.WOFF2", "font/woff2", "public, max-age=3600"},
        };
        StaticResult r;

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                serve(HTTP_METHOD_GET, table[i].path, &r);
                assert_int_equal(r.status, 200);
                assert_string_equal(header_get(&r, "Content-Type"), table[i].type);
                assert_string_equal(header_get(&r, "Cache-Control"), table[i].cache);
        }
}

static void test_lookup(void **state) {
        StaticResult r;

        serve(HTTP_METHOD_GET, "/sub/", &r);
        assert_int_equal(r.status, 200);
        check_body(&r, sub_index_html, strlen(sub_index_html));

        /* a directory without its slash: 303 to it, no body */
        serve(HTTP_METHOD_GET, "/sub", &r);
        assert_int_equal(r.status, 303);
        check_headers(&r, "Location", "/sub/", NULL);
        assert_null(r.body);
        serve(HTTP_METHOD_HEAD, "/sub?x=1", &r);
        assert_int_equal(r.status, 303);
        check_headers(&r, "Location", "/sub/", NULL); /* the query is not carried over */
        serve(HTTP_METHOD_GET, "/sub/deeper", &r);
        assert_int_equal(r.status, 303);
        check_headers(&r, "Location", "/sub/deeper/", NULL);
        check_status(HTTP_METHOD_GET, "/sub/deeper/", 404); /* no index.html */

        /* the Location is the loaded name, encoded again */
        serve(HTTP_METHOD_GET, "/a%20b", &r);
        assert_int_equal(r.status, 303);
        check_headers(&r, "Location", "/a%20b/", NULL);
        serve(HTTP_METHOD_GET, "/a%20b/", &r);
        assert_int_equal(r.status, 200);
        check_body(&r, "spaced\n", 7);
        serve(HTTP_METHOD_GET, "/d%c3%a9", &r);
        assert_int_equal(r.status, 303);
        check_headers(&r, "Location", "/d%C3%A9/", NULL);

        /* an extensionless path falls back to .html */
        serve(HTTP_METHOD_GET, "/login", &r);
        assert_int_equal(r.status, 200);
        check_body(&r, login_html, strlen(login_html));
        serve(HTTP_METHOD_GET, "/login?next=/x", &r);
        assert_int_equal(r.status, 200);
        serve(HTTP_METHOD_GET, "/sub/page", &r);
        assert_int_equal(r.status, 200);
        check_body(&r, sub_page_html, strlen(sub_page_html));
        check_status(HTTP_METHOD_GET, "/index", 200);
        check_status(HTTP_METHOD_GET, "/app", 404);    /* only .html */
        check_status(HTTP_METHOD_GET, "/login.", 404); /* has a '.' */
        check_status(HTTP_METHOD_GET, "/login/", 404);
        check_status(HTTP_METHOD_GET, "/sub/page.htm", 404);

        /* queries are dropped; escapes are decoded exactly once */
        serve(HTTP_METHOD_GET, "/app.js?v=1&x=%2e%2e", &r);
        assert_int_equal(r.status, 200);
        check_body(&r, app_js, strlen(app_js));
        check_status(HTTP_METHOD_GET, "/%61pp.js", 200);
        check_status(HTTP_METHOD_GET, "/%61%70%70%2E%6A%73", 200);
        check_status(HTTP_METHOD_GET, "/%2561pp.js", 404);
        check_status(HTTP_METHOD_GET, "/su%62/", 200);

        /* misses */
        check_status(HTTP_METHOD_GET, "/missing.js", 404);
        check_status(HTTP_METHOD_GET, "/missing/", 404);
        check_status(HTTP_METHOD_GET, "/index.html/", 404);
        check_status(HTTP_METHOD_GET, "/app.js/x", 404);
        check_status(HTTP_METHOD_GET, "/INDEX.HTML", 404);
        check_status(HTTP_METHOD_GET, "/weird/", 404); /* its index.html is a directory */
        serve(HTTP_METHOD_GET, "/missing", &r);
        assert_int_equal(r.status, 404);
        assert_int_equal(r.n_headers, 0);
        assert_null(r.body);
        assert_int_equal(r.body_size, 0);
}

static void test_traversal(void **state) {
        static const char *const paths[] = {
                /* dot segments, raw and encoded in every case */
                "/..",
                "/../secret",
                "/../site/index.html",
                "/sub/../index.html",
                "/sub/..",
                "/%2e%2e/secret",
                "/%2E%2E/secret",
                "/.%2e/secret",
                "/%2e./secret",
                "/sub/%2e%2e/index.html",
                "/sub/%2e%2e",
                "/./index.html",
                "/%2e/index.html",
                "/sub/./index.html",
                "/.",
                "/sub/.",
                "/sub/%2e",
                /* encoded slashes */
                "/sub%2findex.html",
                "/sub%2Findex.html",
                "/..%2fsecret",
                "/%2e%2e%2fsecret",
                "/%2fetc/passwd",
                /* NUL and other controls */
                "/%00",
                "/index.html%00",
                "/index.html%00.js",
                "/app.js%0a",
                "/a%0d%0aSet-Cookie:%20x",
                "/app%7f.js",
                /* backslashes, raw and encoded */
                "/..\\secret",
                "/sub\\index.html",
                "/sub%5cindex.html",
                "/sub%5Cindex.html",
                "/..%5csecret",
                "/back\\slash.txt",
                "/back%5cslash.txt",
                /* overlong and otherwise invalid UTF-8 */
                "/%c0%ae%c0%ae/secret",
                "/%c0%af",
                "/%c0%2e",
                "/%e0%80%ae%e0%80%ae/secret",
                "/%f0%80%80%ae",
                "/%c1%9c",
                "/%ff",
                "/%ed%a0%80",
                "/d%c3",
                /* broken escapes */
                "/%",
                "/%2",
                "/%zz",
                "/%2g",
                "/app.js%",
                /* empty segments, absolute and relative forms */
                "//index.html",
                "/sub//index.html",
                "//",
                "index.html",
                "",
                "*",
                "http://localhost/index.html",
                /* what the loader skipped */
                "/link.js",
                "/linkdir/",
                "/linkdir/index.html",
                "/linkdir",
                "/outside",
                "/etc/passwd",
                "/etc",
                "/.hidden",
                "/.git/config",
                "/fifo",
        };

        for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
                StaticResult r;

                check_status(HTTP_METHOD_GET, paths[i], 404);
                serve(HTTP_METHOD_GET, paths[i], &r);
                assert_int_equal(r.n_headers, 0);
                assert_null(r.body);
        }

        /* the limit on the path's length, query excluded */
        _cleanup_free_ char *with_query = strjoin(long_path, "?q=1");
        check_status(HTTP_METHOD_GET, long_path, 200);
        check_status(HTTP_METHOD_GET, with_query, 200);
        _cleanup_free_ char *encoded = strjoin("/%30", long_path + 2);
        assert_int_equal(strlen(encoded), STATIC_PATH_MAX + 2);
        check_status(HTTP_METHOD_GET, encoded, 404); /* decodes to the same, but is too long as sent */
        char too_long[STATIC_PATH_MAX + 2];
        memset(too_long, 'a', sizeof(too_long) - 1);
        too_long[0] = '/';
        too_long[sizeof(too_long) - 1] = '\0';
        check_status(HTTP_METHOD_GET, too_long, 404);

        /* only the n bytes given are read: the same path cut short */
        StaticResult r;
        assert_int_equal(
                static_site_serve(site, HTTP_METHOD_GET, "/app.js/../../secret", 7, NULL, 0, &r), 0);
        assert_int_equal(r.status, 200);
        check_body(&r, app_js, strlen(app_js));
}

static void test_conditional(void **state) {
        char etag[64], weak[80], list[160];
        StaticResult r;

        etag_of(app_js, strlen(app_js), "", etag);
        (void) snprintf(weak, sizeof(weak), "W/%s", etag);
        (void) snprintf(list, sizeof(list), "\"nope\", W/\"other\",%s , \"x\"", etag);

        const HttpHeader inm[] = {{"If-None-Match", 13, etag, strlen(etag)}};
        serve_h(HTTP_METHOD_GET, "/app.js", inm, 1, &r);
        assert_int_equal(r.status, 304);
        check_headers(&r, "ETag", etag, "Cache-Control", "public, max-age=3600", NULL);
        assert_null(r.body);
        assert_int_equal(r.body_size, 0);
        serve_h(HTTP_METHOD_HEAD, "/app.js", inm, 1, &r);
        assert_int_equal(r.status, 304);

        const HttpHeader inm_weak[] = {{"if-none-match", 13, weak, strlen(weak)}};
        serve_h(HTTP_METHOD_GET, "/app.js", inm_weak, 1, &r);
        assert_int_equal(r.status, 304);
        const HttpHeader inm_list[] = {{"If-None-Match", 13, list, strlen(list)}};
        serve_h(HTTP_METHOD_GET, "/app.js", inm_list, 1, &r);
        assert_int_equal(r.status, 304);
        const HttpHeader inm_two[] = {
                H("If-None-Match", "\"a\""), {"If-None-Match", 13, etag, strlen(etag)}};
        serve_h(HTTP_METHOD_GET, "/app.js", inm_two, 2, &r);
        assert_int_equal(r.status, 304);
        const HttpHeader inm_star[] = {H("If-None-Match", "*")};
        serve_h(HTTP_METHOD_GET, "/app.js", inm_star, 1, &r);
        assert_int_equal(r.status, 304);
        check_status(HTTP_METHOD_GET, "/missing.js", 404);

        /* no match, or a tag only almost ours: 200; If-Modified-Since is then not looked at */
        const HttpHeader no_match[] = {H("If-None-Match", "\"0123\""), H("If-Modified-Since", MTIME_TEXT)};
        serve_h(HTTP_METHOD_GET, "/app.js", no_match, 2, &r);
        assert_int_equal(r.status, 200);
        check_body(&r, app_js, strlen(app_js));
        char unquoted[64];
        (void) snprintf(unquoted, sizeof(unquoted), "%.*s", (int) strlen(etag) - 2, etag + 1);
        const HttpHeader inm_unquoted[] = {{"If-None-Match", 13, unquoted, strlen(unquoted)}};
        serve_h(HTTP_METHOD_GET, "/app.js", inm_unquoted, 1, &r);
        assert_int_equal(r.status, 200);
        /* another file's tag */
        char other[64];
        etag_of(index_html, strlen(index_html), "", other);
        const HttpHeader inm_other[] = {{"If-None-Match", 13, other, strlen(other)}};
        serve_h(HTTP_METHOD_GET, "/app.js", inm_other, 1, &r);
        assert_int_equal(r.status, 200);

        /* If-Modified-Since, in the three formats */
        static const struct {
                const char *date;
                int status;
        } dates[] = {
                {MTIME_TEXT, 304},
                {"Sun, 06 Nov 1994 08:49:38 GMT", 304},
                {"Sun, 06 Nov 1994 08:49:36 GMT", 200},
                {"Sat, 01 Jan 2050 00:00:00 GMT", 304},
                {"Sunday, 06-Nov-94 08:49:37 GMT", 304},
                {"Sunday, 06-Nov-94 08:49:36 GMT", 200},
                {"Sun Nov  6 08:49:37 1994", 304},
                {"Sun Nov  6 08:49:36 1994", 200},
                {"Thu Dec 31 23:59:59 2099", 304},
                /* not dates: ignored */
                {"Sun, 06 Nov 1994 08:49:37 UTC", 200},
                {"Sun, 06 Nov 1994 08:49:37", 200},
                {"Sun, 31 Feb 2050 00:00:00 GMT", 200},
                {"Sun, 06 Xyz 2050 00:00:00 GMT", 200},
                {"Sun, 06 Nov 2050 24:00:00 GMT", 200},
                {"Sun, 6 Nov 2050 00:00:00 GMT", 200},
                {"2050-01-01T00:00:00Z", 200},
                {"", 200},
                {"tomorrow", 200},
        };
        for (size_t i = 0; i < ELEMENTSOF(dates); i++) {
                const HttpHeader ims[] = {{"If-Modified-Since", 17, dates[i].date, strlen(dates[i].date)}};

                serve_h(HTTP_METHOD_GET, "/app.js", ims, 1, &r);
                if (r.status != dates[i].status)
                        print_message("# If-Modified-Since '%s': %d\n", dates[i].date, r.status);
                assert_int_equal(r.status, dates[i].status);
        }
}

static void test_range(void **state) {
        char etag[64], css_etag[64];
        char buf[64];
        StaticResult r;

        etag_of(logo_png, sizeof(logo_png), "", etag);
        etag_of(style_css, strlen(style_css), "", css_etag);

        static const struct {
                const char *range;
                int status;
                size_t first, last;
        } table[] = {
                {"bytes=0-3", 206, 0, 3},
                {"bytes=10-", 206, 10, 999},
                {"bytes=-5", 206, 995, 999},
                {"bytes=-5000", 206, 0, 999},
                {"bytes=990-5000", 206, 990, 999},
                {"bytes=999-999", 206, 999, 999},
                {"bytes=0-99999999999999999999999", 206, 0, 999},
                {"BYTES=1-2", 206, 1, 2},
                {"bytes= 1-2 ", 206, 1, 2},
                {"bytes=1-2,", 206, 1, 2},
                {"bytes=,1-2", 206, 1, 2},
                {"bytes=1000-", 416, 0, 0},
                {"bytes=1000-2000", 416, 0, 0},
                {"bytes=99999999999999999999999-", 416, 0, 0},
                {"bytes=-0", 416, 0, 0},
                /* ignored: the whole file */
                {"bytes=5-2", 200, 0, 0},
                {"bytes=0-1,3-4", 200, 0, 0},
                {"bytes=0-1, 0-1", 200, 0, 0},
                {"bytes=abc", 200, 0, 0},
                {"bytes=1", 200, 0, 0},
                {"bytes=-", 200, 0, 0},
                {"bytes=--1", 200, 0, 0},
                {"bytes=+1-2", 200, 0, 0},
                {"bytes=1 -2", 200, 0, 0},
                {"bytes=", 200, 0, 0},
                {"bytes 0-1", 200, 0, 0},
                {"items=0-1", 200, 0, 0},
                {"", 200, 0, 0},
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                const HttpHeader h[] = {{"Range", 5, table[i].range, strlen(table[i].range)}};

                serve_h(HTTP_METHOD_GET, "/logo.png", h, 1, &r);
                if (r.status != table[i].status)
                        print_message("# Range '%s': %d\n", table[i].range, r.status);
                assert_int_equal(r.status, table[i].status);
                if (r.status == 206) {
                        (void) snprintf(
                                buf, sizeof(buf), "bytes %zu-%zu/1000", table[i].first, table[i].last);
                        check_headers(&r, "Content-Type", "image/png", "ETag", etag, "Last-Modified",
                                MTIME_TEXT, "Cache-Control", "public, max-age=3600", "Accept-Ranges",
                                "bytes", "Content-Range", buf, NULL);
                        check_body(&r, logo_png + table[i].first, table[i].last - table[i].first + 1);
                } else if (r.status == 416) {
                        check_headers(&r, "Content-Range", "bytes */1000", NULL);
                        assert_null(r.body);
                        assert_int_equal(r.body_size, 0);
                } else
                        check_body(&r, logo_png, sizeof(logo_png));
        }

        /* HEAD ignores Range; so does GET with two of them */
        const HttpHeader one[] = {H("Range", "bytes=0-3")};
        serve_h(HTTP_METHOD_HEAD, "/logo.png", one, 1, &r);
        assert_int_equal(r.status, 200);
        assert_null(r.body);
        assert_int_equal(r.body_size, 1000);
        const HttpHeader two[] = {H("Range", "bytes=0-3"), H("range", "bytes=4-5")};
        serve_h(HTTP_METHOD_GET, "/logo.png", two, 2, &r);
        assert_int_equal(r.status, 200);

        /* an empty file has no satisfiable range */
        serve_h(HTTP_METHOD_GET, "/empty.txt", one, 1, &r);
        assert_int_equal(r.status, 416);
        check_headers(&r, "Content-Range", "bytes */0", NULL);

        /* If-Range: a strong match of the ETag, or exactly the Last-Modified date */
        const HttpHeader if_range_tag[] = {H("Range", "bytes=0-3"), {"If-Range", 8, etag, strlen(etag)}};
        serve_h(HTTP_METHOD_GET, "/logo.png", if_range_tag, 2, &r);
        assert_int_equal(r.status, 206);
        char weak[80];
        (void) snprintf(weak, sizeof(weak), "W/%s", etag);
        const HttpHeader if_range_weak[] = {H("Range", "bytes=0-3"), {"If-Range", 8, weak, strlen(weak)}};
        serve_h(HTTP_METHOD_GET, "/logo.png", if_range_weak, 2, &r);
        assert_int_equal(r.status, 200);
        check_body(&r, logo_png, sizeof(logo_png));
        const HttpHeader if_range_other[] = {H("Range", "bytes=0-3"), H("If-Range", "\"changed\"")};
        serve_h(HTTP_METHOD_GET, "/logo.png", if_range_other, 2, &r);
        assert_int_equal(r.status, 200);
        const HttpHeader if_range_date[] = {H("Range", "bytes=0-3"), H("If-Range", MTIME_TEXT)};
        serve_h(HTTP_METHOD_GET, "/logo.png", if_range_date, 2, &r);
        assert_int_equal(r.status, 206);
        const HttpHeader if_range_later[] = {
                H("Range", "bytes=0-3"), H("If-Range", "Wed, 09 Nov 1994 08:49:37 GMT")};
        serve_h(HTTP_METHOD_GET, "/logo.png", if_range_later, 2, &r);
        assert_int_equal(r.status, 200);
        const HttpHeader if_range_bad_416[] = {H("Range", "bytes=5000-"), H("If-Range", "\"changed\"")};
        serve_h(HTTP_METHOD_GET, "/logo.png", if_range_bad_416, 2, &r);
        assert_int_equal(r.status, 200);

        /* a matching If-None-Match wins over Range */
        const HttpHeader inm_range[] = {H("Range", "bytes=0-3"), {"If-None-Match", 13, etag, strlen(etag)}};
        serve_h(HTTP_METHOD_GET, "/logo.png", inm_range, 2, &r);
        assert_int_equal(r.status, 304);

        /* ranges come from the identity bytes even when gzip is welcome */
        const HttpHeader gz_range[] = {H("Accept-Encoding", "gzip"), H("Range", "bytes=2-5")};
        serve_h(HTTP_METHOD_GET, "/style.css", gz_range, 2, &r);
        assert_int_equal(r.status, 206);
        (void) snprintf(buf, sizeof(buf), "bytes 2-5/%zu", strlen(style_css));
        check_headers(&r, "Content-Type", "text/css; charset=utf-8", "ETag", css_etag, "Last-Modified",
                MTIME_TEXT, "Cache-Control", "public, max-age=3600", "Accept-Ranges", "bytes", "Vary",
                "Accept-Encoding", "Content-Range", buf, NULL);
        check_body(&r, style_css + 2, 4);
        const HttpHeader gz_416[] = {H("Accept-Encoding", "gzip"), H("Range", "bytes=99999-")};
        serve_h(HTTP_METHOD_GET, "/style.css", gz_416, 2, &r);
        assert_int_equal(r.status, 416);
        (void) snprintf(buf, sizeof(buf), "bytes */%zu", strlen(style_css));
        check_headers(&r, "Content-Range", buf, "Vary", "Accept-Encoding", NULL);
}

static void inflate_check(const uint8_t *gz, size_t gz_size, const void *want, size_t want_size) {
        _cleanup_free_ uint8_t *out = malloc(want_size + 16);
        z_stream z = {};

        assert_non_null(out);
        assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK); /* a gzip wrapper, not zlib's */
        z.next_in = (Bytef *) gz;
        z.avail_in = (uInt) gz_size;
        z.next_out = out;
        z.avail_out = (uInt) want_size + 16;
        assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
        assert_int_equal(z.total_out, want_size);
        assert_int_equal(z.avail_in, 0);
        assert_int_equal(inflateEnd(&z), Z_OK);
        assert_memory_equal(out, want, want_size);
}

static void test_gzip(void **state) {
        char etag[64], etag_gz[64];
        StaticResult r;
        size_t gz_size;

        etag_of(style_css, strlen(style_css), "", etag);
        etag_of(style_css, strlen(style_css), "-gz", etag_gz);

        const HttpHeader gzip[] = {H("Accept-Encoding", "gzip, deflate, br")};
        serve_h(HTTP_METHOD_GET, "/style.css", gzip, 1, &r);
        assert_int_equal(r.status, 200);
        check_headers(&r, "Content-Type", "text/css; charset=utf-8", "ETag", etag_gz, "Last-Modified",
                MTIME_TEXT, "Cache-Control", "public, max-age=3600", "Content-Encoding", "gzip", "Vary",
                "Accept-Encoding", NULL);
        assert_non_null(r.body);
        assert_true(r.body_size * 10 <= strlen(style_css) * 9);
        inflate_check(r.body, r.body_size, style_css, strlen(style_css));
        gz_size = r.body_size;

        serve_h(HTTP_METHOD_HEAD, "/style.css", gzip, 1, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(header_get(&r, "Content-Encoding"), "gzip");
        assert_null(r.body);
        assert_int_equal(r.body_size, gz_size);

        /* without gzip: the identity, still with Vary */
        serve(HTTP_METHOD_GET, "/style.css", &r);
        assert_int_equal(r.status, 200);
        check_headers(&r, "Content-Type", "text/css; charset=utf-8", "ETag", etag, "Last-Modified",
                MTIME_TEXT, "Cache-Control", "public, max-age=3600", "Accept-Ranges", "bytes", "Vary",
                "Accept-Encoding", NULL);
        check_body(&r, style_css, strlen(style_css));

        static const struct {
                const char *value;
                bool gzip;
        } table[] = {
                {"gzip", true},
                {"GZIP", true},
                {"x-gzip", true},
                {"br, gzip;q=0.5", true},
                {"gzip;q=1.0", true},
                {"gzip; q=0.001", true},
                {"gzip ;Q=1", true},
                {"*", true},
                {"br, *;q=0.1", true},
                {"gzip;q=0", false},
                {"gzip;q=0.000", false},
                {"gzip;q=0, *", false},
                {"*, gzip;q=0", false},
                {"*;q=0", false},
                {"gzip;q=2", false},
                {"gzip;q=1.5", false},
                {"gzip;q=0.0001", false},
                {"gzip;q=", false},
                {"gzip;q=abc", false},
                {"deflate, br", false},
                {"identity", false},
                {"gzipx", false},
                {"", false},
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                const HttpHeader h[] = {{"Accept-Encoding", 15, table[i].value, strlen(table[i].value)}};

                serve_h(HTTP_METHOD_GET, "/style.css", h, 1, &r);
                assert_int_equal(r.status, 200);
                if (!!header_get(&r, "Content-Encoding") != table[i].gzip)
                        print_message("# Accept-Encoding '%s'\n", table[i].value);
                assert_int_equal(!!header_get(&r, "Content-Encoding"), table[i].gzip);
                assert_string_equal(header_get(&r, "ETag"), table[i].gzip ? etag_gz : etag);
                assert_int_equal(r.body_size, table[i].gzip ? gz_size : strlen(style_css));
        }

        /* the field may come several times */
        const HttpHeader split[] = {H("Accept-Encoding", "br"), H("accept-encoding", "gzip")};
        serve_h(HTTP_METHOD_GET, "/style.css", split, 2, &r);
        assert_string_equal(header_get(&r, "Content-Encoding"), "gzip");

        /* no copy: too small (app.js), not compressible by type (logo.png), not worth it (noise.txt) */
        serve_h(HTTP_METHOD_GET, "/app.js", gzip, 1, &r);
        assert_null(header_get(&r, "Content-Encoding"));
        assert_null(header_get(&r, "Vary"));
        serve_h(HTTP_METHOD_GET, "/logo.png", gzip, 1, &r);
        assert_null(header_get(&r, "Content-Encoding"));
        assert_null(header_get(&r, "Vary"));
        serve_h(HTTP_METHOD_GET, "/noise.txt", gzip, 1, &r);
        assert_int_equal(r.status, 200);
        assert_null(header_get(&r, "Content-Encoding"));
        assert_null(header_get(&r, "Vary"));
        check_body(&r, noise_txt, sizeof(noise_txt));

        /* 304s name the representation the client has */
        const HttpHeader gz_inm[] = {
                H("Accept-Encoding", "gzip"), {"If-None-Match", 13, etag_gz, strlen(etag_gz)}};
        serve_h(HTTP_METHOD_GET, "/style.css", gz_inm, 2, &r);
        assert_int_equal(r.status, 304);
        check_headers(&r, "ETag", etag_gz, "Cache-Control", "public, max-age=3600", "Vary",
                "Accept-Encoding", NULL);
        const HttpHeader gz_inm_identity[] = {
                H("Accept-Encoding", "gzip"), {"If-None-Match", 13, etag, strlen(etag)}};
        serve_h(HTTP_METHOD_GET, "/style.css", gz_inm_identity, 2, &r);
        assert_int_equal(r.status, 304);
        check_headers(
                &r, "ETag", etag, "Cache-Control", "public, max-age=3600", "Vary", "Accept-Encoding", NULL);
        /* a client that does not take gzip cannot have the gzip copy */
        const HttpHeader inm_gz_only[] = {{"If-None-Match", 13, etag_gz, strlen(etag_gz)}};
        serve_h(HTTP_METHOD_GET, "/style.css", inm_gz_only, 1, &r);
        assert_int_equal(r.status, 200);
        check_body(&r, style_css, strlen(style_css));
        /* If-Modified-Since 304 with gzip names the gzip copy */
        const HttpHeader gz_ims[] = {H("Accept-Encoding", "gzip"), H("If-Modified-Since", MTIME_TEXT)};
        serve_h(HTTP_METHOD_GET, "/style.css", gz_ims, 2, &r);
        assert_int_equal(r.status, 304);
        assert_string_equal(header_get(&r, "ETag"), etag_gz);
        /* If-Range with the gzip tag is no strong match of the identity */
        const HttpHeader if_range_gz[] = {
                H("Range", "bytes=0-1"), {"If-Range", 8, etag_gz, strlen(etag_gz)}};
        serve_h(HTTP_METHOD_GET, "/style.css", if_range_gz, 2, &r);
        assert_int_equal(r.status, 200);
}

static void test_refcount(void **state) {
        _cleanup_close_ int fd = -EBADF;
        StaticSite *s = NULL, *t;
        StaticResult r;

        assert_int_equal(static_site_load(site_fd, &s), 0);
        t = static_site_ref(s);
        assert_ptr_equal(t, s);
        assert_int_equal(static_site_serve(t, HTTP_METHOD_GET, "/logo.png", 9, NULL, 0, &r), 0);
        assert_int_equal(r.status, 200);

        /* dropping one reference leaves the body to the other */
        assert_null(static_site_unref(s));
        check_body(&r, logo_png, sizeof(logo_png));
        assert_string_equal(header_get(&r, "Last-Modified"), MTIME_TEXT);
        assert_null(static_site_unref(t));
        assert_null(static_site_unref(NULL));
        assert_null(static_site_ref(NULL));

        /* the loader leaves the caller's descriptor alone */
        fd = fcntl(site_fd, F_DUPFD_CLOEXEC, 3);
        assert_true(fd >= 0);
        assert_int_equal(static_site_load(fd, &s), 0);
        assert_true(fcntl(fd, F_GETFD) >= 0);
        s = static_site_unref(s);
}

/* A fresh directory for one limit, removed by the caller with rm_rf_path(). */
static int limit_dir(char path[static 64]) {
        strcpy(path, "/tmp/test-front-static-limit-XXXXXX");
        assert_non_null(mkdtemp(path));
        return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void sized_file(int dir_fd, const char *name, off_t size) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, size), 0);
}

static void test_limit_size(void **state) {
        _cleanup_close_ int fd = -EBADF;
        StaticSite *s = (StaticSite *) 0x1;
        char path[64];

        /* one file: at the limit, then one byte past it */
        fd = limit_dir(path);
        sized_file(fd, "big.bin", (off_t) STATIC_FILE_SIZE_MAX);
        assert_int_equal(static_site_load(fd, &s), 0);
        s = static_site_unref(s);
        sized_file(fd, "big.bin", (off_t) STATIC_FILE_SIZE_MAX + 1);
        s = (StaticSite *) 0x1;
        assert_int_equal(static_site_load(fd, &s), -EFBIG);
        assert_ptr_equal(s, (StaticSite *) 0x1);

        /* all files: exactly the total, then one byte more */
        for (size_t i = 0; i < STATIC_TOTAL_SIZE_MAX / STATIC_FILE_SIZE_MAX; i++) {
                char name[32];

                (void) snprintf(name, sizeof(name), "big%zu.bin", i);
                sized_file(fd, name, (off_t) STATIC_FILE_SIZE_MAX);
        }
        assert_int_equal(unlinkat(fd, "big.bin", 0), 0);
        assert_int_equal(static_site_load(fd, &s), 0);
        s = static_site_unref(s);
        sized_file(fd, "one.bin", 1);
        assert_int_equal(static_site_load(fd, &s), -EFBIG);
        assert_int_equal(rm_rf_path(path), 0);
}

static void test_limit_count(void **state) {
        _cleanup_close_ int fd = -EBADF;
        StaticSite *s = NULL;
        char path[64];

        /* files and directories count alike */
        fd = limit_dir(path);
        safe_close(mkdir_at(fd, "dir"));
        for (size_t i = 0; i < STATIC_FILES_MAX - 1; i++) {
                char name[32];

                (void) snprintf(name, sizeof(name), "f%zu", i);
                sized_file(fd, name, 0);
        }
        assert_int_equal(static_site_load(fd, &s), 0);
        StaticResult r;
        assert_int_equal(static_site_serve(s, HTTP_METHOD_GET, "/f4094", 6, NULL, 0, &r), 0);
        assert_int_equal(r.status, 200);
        s = static_site_unref(s);
        sized_file(fd, "one-more", 0);
        assert_int_equal(static_site_load(fd, &s), -E2BIG);
        assert_int_equal(rm_rf_path(path), 0);
}

static void test_limit_depth(void **state) {
        _cleanup_close_ int fd = -EBADF;
        StaticSite *s = NULL;
        StaticResult r;
        char path[64], deepest[2 * STATIC_DEPTH_MAX + 16] = "";
        int d;

        fd = limit_dir(path);
        d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        for (int i = 0; i < STATIC_DEPTH_MAX; i++) {
                int sub = mkdir_at(d, "d");

                assert_true(sub >= 0);
                safe_close(d);
                d = sub;
                strcat(deepest, "/d");
        }
        write_str(d, "index.html", "deep\n");
        assert_int_equal(static_site_load(fd, &s), 0);
        strcat(deepest, "/");
        assert_int_equal(static_site_serve(s, HTTP_METHOD_GET, deepest, strlen(deepest), NULL, 0, &r), 0);
        assert_int_equal(r.status, 200);
        check_body(&r, "deep\n", 5);
        s = static_site_unref(s);

        safe_close(mkdir_at(d, "d"));
        safe_close(d);
        assert_int_equal(static_site_load(fd, &s), -ELOOP);
        assert_int_equal(rm_rf_path(path), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_get_head),
                cmocka_unit_test(test_methods),
                cmocka_unit_test(test_content_types),
                cmocka_unit_test(test_lookup),
                cmocka_unit_test(test_traversal),
                cmocka_unit_test(test_conditional),
                cmocka_unit_test(test_range),
                cmocka_unit_test(test_gzip),
                cmocka_unit_test(test_refcount),
                cmocka_unit_test(test_limit_size),
                cmocka_unit_test(test_limit_count),
                cmocka_unit_test(test_limit_depth),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
