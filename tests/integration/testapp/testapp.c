/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * testapp — the app the integration tests run as a grain (tests/integration/test-{grains,sessions,
 * upgrade,websocket}.sh). Built twice from this file, as appVersion 1 and 2 of one app id
 * (TESTAPP_VERSION), so that an upgrade shows in what it answers. Each endpoint answers something a test
 * can compare byte for byte:
 *
 *   GET  /headers      the request head exactly as it arrived (request line, headers, empty line)
 *   GET  /var/NAME     the file /var/NAME (404 when missing); NAME is [A-Za-z0-9._-], not starting with '.'
 *   PUT  /var/NAME     writes the body there (write to a temporary name, fsync, rename): 204
 *   GET  /crash        exits with status 3 without answering
 *   GET  /sleep?ms=N   answers "slept N\n" after N milliseconds (N ≤ 60000); the server waits meanwhile
 *   GET  /version      "TESTAPP_VERSION\n"
 *   POST /echo         the body back, with the request's Content-Type
 *   GET  /say?text=T   prints "testapp says: T" on stdout (the grain's console), answers 204
 *   GET  /ws           a WebSocket whose every message comes back unchanged
 *   anything else      404
 *
 * Every request is also printed to stdout as "testapp vN: METHOD TARGET". Built on the example apps'
 * shared server (contrib/apps/common/http-app.c), statically, like them.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http-app.h"

#ifndef TESTAPP_VERSION
#error "TESTAPP_VERSION must be defined"
#endif
#define STR2(x) #x
#define STR(x) STR2(x)

#define BODY_MAX (8u * 1024u * 1024u)
#define NAME_MAX_LEN 64u
#define FILE_MAX (8u * 1024u * 1024u)

static bool eq(const char *p, size_t n, const char *lit) {
        return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

static bool name_is_valid(const char *p, size_t n) {
        if (n == 0 || n > NAME_MAX_LEN || p[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') ||
                      p[i] == '.' || p[i] == '_' || p[i] == '-'))
                        return false;
        return true;
}

static int var_get(HttpAppConn *c, const char *name, bool send_body) {
        char path[NAME_MAX_LEN + 8];
        HttpAppBuf b = {};
        char buf[65536];
        ssize_t k;
        int fd, r;

        snprintf(path, sizeof path, "/var/%s", name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return http_app_respond_status(c, errno == ENOENT ? 404 : 500, NULL, send_body);
        while ((k = read(fd, buf, sizeof buf)) > 0)
                if (b.len + (size_t) k > FILE_MAX || http_app_buf_append(&b, buf, (size_t) k) < 0) {
                        k = -1;
                        break;
                }
        close(fd);
        if (k < 0) {
                http_app_buf_done(&b);
                return http_app_respond_status(c, 500, NULL, send_body);
        }
        r = http_app_respond(c, 200, "application/octet-stream", NULL, b.data ?: "", b.len, send_body);
        http_app_buf_done(&b);
        return r;
}

static int var_put(HttpAppConn *c, const char *name, const char *body, size_t n) {
        char path[NAME_MAX_LEN + 8], tmp[NAME_MAX_LEN + 16];
        size_t done = 0;
        int fd;

        snprintf(path, sizeof path, "/var/%s", name);
        snprintf(tmp, sizeof tmp, "/var/.%s.tmp", name);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return http_app_respond_status(c, 500, NULL, true);
        while (done < n) {
                ssize_t k = write(fd, body + done, n - done);

                if (k < 0) {
                        close(fd);
                        return http_app_respond_status(c, 500, NULL, true);
                }
                done += (size_t) k;
        }
        if (fsync(fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0)
                return http_app_respond_status(c, 500, NULL, true);
        return http_app_respond_status(c, 204, NULL, true);
}

/* The value of name in the query, or NULL. */
static const char *query_get(const HttpAppRequest *req, const char *name, size_t *ret_len) {
        const char *q = req->query, *end = req->query + req->query_len;
        size_t n = strlen(name);

        while (q < end) {
                const char *amp = memchr(q, '&', (size_t) (end - q));
                size_t len = amp ? (size_t) (amp - q) : (size_t) (end - q);

                if (len > n && memcmp(q, name, n) == 0 && q[n] == '=') {
                        *ret_len = len - n - 1;
                        return q + n + 1;
                }
                q += len + 1;
        }
        return NULL;
}

static int handle(HttpAppConn *c, const HttpAppRequest *req, const char *body, size_t body_len) {
        const char *path = req->target, *v;
        size_t path_len = req->path_len, n;
        bool get = eq(req->method, req->method_len, "GET"), head = eq(req->method, req->method_len, "HEAD");

        printf("testapp v" STR(TESTAPP_VERSION) ": %.*s %.*s\n", (int) req->method_len, req->method,
               (int) req->target_len, req->target);
        fflush(stdout);

        if ((get || head) && eq(path, path_len, "/headers"))
                return http_app_respond(c, 200, "text/plain; charset=utf-8", NULL, req->method, req->head_len,
                                        get);
        if ((get || head) && eq(path, path_len, "/version"))
                return http_app_respond(c, 200, "text/plain; charset=utf-8", NULL, STR(TESTAPP_VERSION) "\n",
                                        strlen(STR(TESTAPP_VERSION) "\n"), get);
        if (get && eq(path, path_len, "/crash")) {
                fprintf(stderr, "testapp: crashing on purpose\n");
                _exit(3);
        }
        if (get && eq(path, path_len, "/sleep")) {
                char buf[16], out[32];
                unsigned long ms;

                v = query_get(req, "ms", &n);
                if (!v || n == 0 || n >= sizeof buf)
                        return http_app_respond_status(c, 400, NULL, true);
                memcpy(buf, v, n);
                buf[n] = '\0';
                ms = strtoul(buf, NULL, 10);
                if (ms > 60000)
                        return http_app_respond_status(c, 400, NULL, true);
                nanosleep(&(struct timespec) { (time_t) (ms / 1000), (long) (ms % 1000) * 1000000L }, NULL);
                snprintf(out, sizeof out, "slept %lu\n", ms);
                return http_app_respond(c, 200, "text/plain; charset=utf-8", NULL, out, strlen(out), true);
        }
        if (get && eq(path, path_len, "/say")) {
                v = query_get(req, "text", &n);
                if (!v)
                        return http_app_respond_status(c, 400, NULL, true);
                printf("testapp says: %.*s\n", (int) n, v);
                fflush(stdout);
                return http_app_respond_status(c, 204, NULL, true);
        }
        if (eq(req->method, req->method_len, "POST") && eq(path, path_len, "/echo")) {
                const HttpAppHeader *ct = http_app_request_header(req, "Content-Type", NULL);
                char type[256] = "application/octet-stream";

                if (ct && ct->value_len < sizeof type) {
                        memcpy(type, ct->value, ct->value_len);
                        type[ct->value_len] = '\0';
                }
                return http_app_respond(c, 200, type, NULL, body, body_len, true);
        }
        if (get && eq(path, path_len, "/ws"))
                return http_app_websocket_accept(c, req, body_len);
        if (path_len > 5 && memcmp(path, "/var/", 5) == 0) {
                char name[NAME_MAX_LEN + 1];

                if (!name_is_valid(path + 5, path_len - 5))
                        return http_app_respond_status(c, 404, NULL, !head);
                memcpy(name, path + 5, path_len - 5);
                name[path_len - 5] = '\0';
                if (get || head)
                        return var_get(c, name, get);
                if (eq(req->method, req->method_len, "PUT"))
                        return var_put(c, name, body, body_len);
                return http_app_respond_status(c, 405, "Allow: GET, HEAD, PUT\r\n", true);
        }
        return http_app_respond_status(c, 404, NULL, !head);
}

static int on_message(HttpAppConn *c, int opcode, const char *data, size_t n) {
        return http_app_websocket_send(c, opcode, data, n);
}

int main(int argc, char *argv[]) {
        static const HttpApp app = {
                .name = "testapp",
                .body_max = BODY_MAX,
                .handle = handle,
                .on_message = on_message,
        };

        return http_app_main(&app, argc, argv);
}
