/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Fuzzes the shell's static file server as a request reaches it. A small site is written once to a
 * temporary directory, beside a file outside it and symlinks pointing there. The first input byte picks the
 * method (GET, HEAD, or another); the rest is the path up to the first '\n', then header lines
 * "Name: value" (at most 8), so that Range, If-None-Match, If-Range and Accept-Encoding are reached too.
 *
 * Invariants checked, beyond "no crash, no read past the path's n bytes":
 * (1) the status is one of 200, 206, 303, 304, 404, 405, 416, and 405 exactly for methods other than GET
 *     and HEAD;
 * (2) every header is a known name with a NUL-terminated value of its stated length holding no control
 *     character; never Date, Content-Length or anything framing;
 * (3) a body exists only for 200 and 206 on GET and is a span of a file of the site (or of its gzip copy)
 *     as served for its own name: the whole of it for 200, the bytes Content-Range names for 206; so no
 *     byte from outside the loaded set can ever be served;
 * (4) a 303 names a directory with a trailing '/', percent-encoded, which itself never redirects;
 * (5) the same request gives the same answer twice.
 */

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/string-util.h"
#include "front/static.h"
#include "fuzz.h"

typedef struct Span {
        const char *path;
        const uint8_t *identity;
        size_t identity_size;
        const uint8_t *gz; /* NULL when the file has no gzip copy */
        size_t gz_size;
} Span;

static const char *const site_paths[] = {
        "/index.html",
        "/login.html",
        "/app.js",
        "/style.css",
        "/logo.png",
        "/empty.txt",
        "/sub/index.html",
        "/sub/page.html",
        "/a b/index.html",
};

static char work_dir[64];
static StaticSite *site;
static Span spans[ELEMENTSOF(site_paths)];

static void write_at(int dir_fd, const char *name, const void *p, size_t n) {
        int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        CHECK(fd >= 0);
        CHECK(loop_write(fd, p, n) == 0);
        safe_close(fd);
}

static void write_str(int dir_fd, const char *name, const char *s) {
        write_at(dir_fd, name, s, strlen(s));
}

static void setup_once(void) {
        static char css[4096];
        uint8_t png[512];
        int top, fd, sub;

        if (site)
                return;

        strcpy(work_dir, "/tmp/fuzz-static-path-XXXXXX");
        CHECK(mkdtemp(work_dir));
        top = open(work_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(top >= 0);
        write_str(top, "secret", "SECRET outside the site\n");
        CHECK(mkdirat(top, "site", 0755) == 0);
        fd = openat(top, "site", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(fd >= 0);

        for (size_t i = 0; i < sizeof(css) - 1; i++)
                css[i] = "body{margin:0}\n"[i % 15];
        for (size_t i = 0; i < sizeof(png); i++)
                png[i] = (uint8_t) (i * 13);
        write_str(fd, "index.html", "<!doctype html><title>granary</title>\n");
        write_str(fd, "login.html", "<!doctype html><title>Sign in</title>\n");
        write_str(fd, "app.js", "console.log('granary');\n");
        write_str(fd, "style.css", css);
        write_at(fd, "logo.png", png, sizeof(png));
        write_at(fd, "empty.txt", "", 0);
        write_str(fd, ".hidden", "SECRET hidden\n");
        CHECK(mkdirat(fd, "sub", 0755) == 0);
        sub = openat(fd, "sub", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(sub >= 0);
        write_str(sub, "index.html", "<!doctype html><title>sub</title>\n");
        write_str(sub, "page.html", "<!doctype html><title>page</title>\n");
        CHECK(mkdirat(sub, "empty", 0755) == 0);
        safe_close(sub);
        CHECK(mkdirat(fd, "a b", 0755) == 0);
        sub = openat(fd, "a b", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(sub >= 0);
        write_str(sub, "index.html", "spaced\n");
        safe_close(sub);
        CHECK(symlinkat("../secret", fd, "outside") == 0);
        CHECK(symlinkat("..", fd, "up") == 0);
        CHECK(symlinkat("/etc/passwd", fd, "passwd") == 0);

        CHECK(static_site_load(fd, &site) == 0);
        safe_close(fd);
        safe_close(top);

        for (size_t i = 0; i < ELEMENTSOF(site_paths); i++) {
                static const HttpHeader gzip = {"Accept-Encoding", 15, "gzip", 4};
                const char *p = site_paths[i];
                StaticResult r;

                spans[i].path = p;
                CHECK(static_site_serve(site, HTTP_METHOD_GET, p, strlen(p), NULL, 0, &r) == 0);
                CHECK(r.status == 200 && r.body);
                spans[i].identity = r.body;
                spans[i].identity_size = r.body_size;
                CHECK(static_site_serve(site, HTTP_METHOD_GET, p, strlen(p), &gzip, 1, &r) == 0);
                CHECK(r.status == 200 && r.body);
                if (r.body != spans[i].identity) {
                        spans[i].gz = r.body;
                        spans[i].gz_size = r.body_size;
                }
        }
}

static __attribute__((destructor)) void cleanup_once(void) {
        if (!site)
                return;
        site = static_site_unref(site);
        (void) rm_rf_path(work_dir);
}

static bool header_is_known(const char *name) {
        static const char *const known[] = {"Content-Type", "ETag", "Last-Modified", "Cache-Control",
                "Accept-Ranges", "Content-Range", "Content-Encoding", "Vary", "Location", "Allow"};

        for (size_t i = 0; i < ELEMENTSOF(known); i++)
                if (streq(name, known[i]))
                        return true;
        return false;
}

static const char *header_get(const StaticResult *r, const char *name) {
        for (size_t i = 0; i < r->n_headers; i++)
                if (streq(r->headers[i].name, name))
                        return r->headers[i].value;
        return NULL;
}

/* The span the body lies in: identity (*ret_gz false) or gzip copy. */
static const Span *span_of(const uint8_t *body, size_t size, bool *ret_gz) {
        for (size_t i = 0; i < ELEMENTSOF(spans); i++) {
                const Span *s = spans + i;

                if (body >= s->identity && body <= s->identity + s->identity_size &&
                        size <= (size_t) (s->identity + s->identity_size - body)) {
                        *ret_gz = false;
                        return s;
                }
                if (s->gz && body >= s->gz && body <= s->gz + s->gz_size &&
                        size <= (size_t) (s->gz + s->gz_size - body)) {
                        *ret_gz = true;
                        return s;
                }
        }
        return NULL;
}

static void check_result(const StaticResult *r, HttpMethod m) {
        const char *v;

        /* (1) */
        CHECK(r->status == 200 || r->status == 206 || r->status == 303 || r->status == 304 ||
                r->status == 404 || r->status == 405 || r->status == 416);
        CHECK((r->status == 405) == (m != HTTP_METHOD_GET && m != HTTP_METHOD_HEAD));
        CHECK(r->status != 206 || m == HTTP_METHOD_GET);

        /* (2) */
        CHECK(r->n_headers <= STATIC_HEADERS_MAX);
        for (size_t i = 0; i < r->n_headers; i++) {
                const HttpHeader *h = r->headers + i;

                CHECK(header_is_known(h->name));
                CHECK(strlen(h->name) == h->name_len);
                CHECK(strlen(h->value) == h->value_len);
                for (size_t j = 0; j < h->value_len; j++)
                        CHECK((uint8_t) h->value[j] >= 0x20 && h->value[j] != 0x7f);
        }

        /* (3) */
        if (r->status != 200 && r->status != 206) {
                CHECK(!r->body && r->body_size == 0);
                CHECK(!header_get(r, "Content-Type"));
        }
        if (m == HTTP_METHOD_HEAD)
                CHECK(!r->body);
        if (r->body) {
                bool gz;
                const Span *s = span_of(r->body, r->body_size, &gz);

                CHECK(s);
                CHECK(gz == !!header_get(r, "Content-Encoding"));
                if (r->status == 200)
                        CHECK(r->body == (gz ? s->gz : s->identity) &&
                                r->body_size == (gz ? s->gz_size : s->identity_size));
                else {
                        uint64_t first, last, total;
                        int consumed = 0;

                        CHECK(!gz);
                        v = header_get(r, "Content-Range");
                        CHECK(v);
                        CHECK(sscanf(v, "bytes %" SCNu64 "-%" SCNu64 "/%" SCNu64 "%n", &first, &last, &total,
                                      &consumed) == 3);
                        CHECK((size_t) consumed == strlen(v));
                        CHECK(first <= last && last < total && total == s->identity_size);
                        CHECK(r->body == s->identity + first && r->body_size == last - first + 1);
                }
        }
        if (r->status == 416) {
                v = header_get(r, "Content-Range");
                CHECK(v && startswith(v, "bytes */"));
        }

        /* (4) */
        v = header_get(r, "Location");
        CHECK(!!v == (r->status == 303));
        if (v) {
                StaticResult again;
                size_t l = strlen(v);

                CHECK(l >= 3 && v[0] == '/' && v[l - 1] == '/' && v[1] != '/');
                for (size_t i = 0; i < l; i++)
                        CHECK(strchr("-._~/%", v[i]) || (v[i] >= 'a' && v[i] <= 'z') ||
                                (v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= '0' && v[i] <= '9'));
                CHECK(static_site_serve(site, HTTP_METHOD_GET, v, l, NULL, 0, &again) == 0);
                CHECK(again.status == 200 || again.status == 404);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        HttpHeader headers[8];
        size_t n_headers = 0, path_len;
        const char *p, *end, *nl;
        HttpMethod m;
        char *copy;

        if (size < 1 || size > 8192)
                return 0;
        setup_once();

        m = data[0] % 3 == 0 ? HTTP_METHOD_GET : data[0] % 3 == 1 ? HTTP_METHOD_HEAD : HTTP_METHOD_POST;
        copy = malloc(size);
        CHECK(copy);
        memcpy(copy, data + 1, size - 1);
        p = copy;
        end = copy + size - 1;

        nl = memchr(p, '\n', (size_t) (end - p));
        path_len = (size_t) ((nl ?: end) - p);

        /* Header lines: NUL-terminated in place, as HttpRequest gives them. */
        for (char *line = nl ? (char *) nl + 1 : NULL;
                line && line < end && n_headers < ELEMENTSOF(headers);) {
                char *eol = memchr(line, '\n', (size_t) (end - line)), *colon, *value;

                if (eol)
                        *eol = '\0';
                else {
                        /* The last line has no room for a NUL: leave it out. */
                        break;
                }
                colon = strchr(line, ':');
                if (colon) {
                        *colon = '\0';
                        value = colon + 1;
                        while (*value == ' ')
                                value++;
                        headers[n_headers++] = (HttpHeader){line, strlen(line), value, strlen(value)};
                }
                line = eol + 1;
        }

        /* An exact-size copy of the path, so that a read past its n bytes is caught. */
        char *path = malloc(path_len ? path_len : 1);
        CHECK(path);
        memcpy(path, p, path_len);

        StaticResult a, b;
        CHECK(static_site_serve(site, m, path, path_len, headers, n_headers, &a) == 0);
        check_result(&a, m);

        /* (5) */
        CHECK(static_site_serve(site, m, path, path_len, headers, n_headers, &b) == 0);
        CHECK(a.status == b.status && a.n_headers == b.n_headers && a.body == b.body &&
                a.body_size == b.body_size);
        for (size_t i = 0; i < a.n_headers; i++)
                CHECK(streq(a.headers[i].name, b.headers[i].name) &&
                        streq(a.headers[i].value, b.headers[i].value));

        free(path);
        free(copy);
        return 0;
}
