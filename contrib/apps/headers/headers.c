/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * headers — an example app that answers every request with what it received: the request line
 * and every header, in order, byte for byte, as text/plain; with a query parameter `json`
 * (`/any/path?json`), the same as one JSON object:
 *
 *   {"method": "GET", "target": "/a?json", "path": "/a", "query": "json", "version": "HTTP/1.1",
 *    "headers": [["Host", "example"], ["X-Sandstorm-Username", "Alice"]]}
 *
 * Header names keep their case, repeated headers appear once per occurrence, and the value is
 * the field value without surrounding whitespace. JSON strings carry valid UTF-8 as it came;
 * every byte that is not part of valid UTF-8 becomes \u00XX (its Latin-1 reading). A request body
 * (at most BODY_MAX bytes) is read and ignored. This is what the platform's integration tests look
 * at to check the identity headers a grain sees.
 *
 * It owns nothing but its connections, through the shared server in ../common/http-app.c: it
 * listens on 127.0.0.1:PORT (argv[1], default 8000), speaks HTTP/1.1 with keep-alive and
 * pipelining, and logs one line on start and stop to stderr. It is linked statically so the
 * package needs nothing from the host. SIGTERM and SIGINT end it with status 0.
 */

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "http-app.h"

#define BODY_MAX 65536                  /* a request body is read and dropped; larger is refused */

/* ---- the dump ---- */

static int json_string(HttpAppBuf *b, const char *s, size_t n) {
        const unsigned char *p = (const unsigned char *) s;
        size_t i = 0;
        int r;

        r = http_app_buf_str(b, "\"");
        while (r >= 0 && i < n) {
                size_t k = http_app_utf8_valid_len(p + i, n - i);
                char esc[8];

                if (k > 1) {
                        r = http_app_buf_append(b, p + i, k);
                        i += k;
                        continue;
                }
                if (p[i] == '"' || p[i] == '\\') {
                        esc[0] = '\\';
                        esc[1] = (char) p[i];
                        r = http_app_buf_append(b, esc, 2);
                } else if (p[i] < 0x20 || p[i] >= 0x7f) {
                        snprintf(esc, sizeof(esc), "\\u%04x", p[i]);
                        r = http_app_buf_append(b, esc, 6);
                } else
                        r = http_app_buf_append(b, p + i, 1);
                i++;
        }
        return r < 0 ? r : http_app_buf_str(b, "\"");
}

/* Whether the query string has a parameter named "json" ("json", "json=…", among "&"s). */
static bool query_wants_json(const char *q, size_t n) {
        size_t i = 0;

        while (i <= n) {
                size_t s = i;

                while (i < n && q[i] != '&')
                        i++;
                if ((i - s == 4 && memcmp(q + s, "json", 4) == 0) ||
                    (i - s > 4 && memcmp(q + s, "json=", 5) == 0))
                        return true;
                i++;
        }
        return false;
}

static int dump_text(HttpAppBuf *b, const HttpAppRequest *req) {
        int r;

        r = http_app_buf_append(b, req->method, req->method_len);
        r = r < 0 ? r : http_app_buf_str(b, " ");
        r = r < 0 ? r : http_app_buf_append(b, req->target, req->target_len);
        r = r < 0 ? r : http_app_buf_str(b, req->minor_version == 1 ? " HTTP/1.1\n" : " HTTP/1.0\n");
        for (size_t i = 0; r >= 0 && i < req->n_headers; i++) {
                const HttpAppHeader *h = &req->headers[i];

                r = http_app_buf_append(b, h->name, h->name_len);
                r = r < 0 ? r : http_app_buf_str(b, ": ");
                r = r < 0 ? r : http_app_buf_append(b, h->value, h->value_len);
                r = r < 0 ? r : http_app_buf_str(b, "\n");
        }
        return r;
}

static int dump_json(HttpAppBuf *b, const HttpAppRequest *req) {
        int r;

        r = http_app_buf_str(b, "{\"method\": ");
        r = r < 0 ? r : json_string(b, req->method, req->method_len);
        r = r < 0 ? r : http_app_buf_str(b, ", \"target\": ");
        r = r < 0 ? r : json_string(b, req->target, req->target_len);
        r = r < 0 ? r : http_app_buf_str(b, ", \"path\": ");
        r = r < 0 ? r : json_string(b, req->target, req->path_len);
        r = r < 0 ? r : http_app_buf_str(b, ", \"query\": ");
        r = r < 0 ? r : json_string(b, req->query, req->query_len);
        r = r < 0 ? r : http_app_buf_str(b, req->minor_version == 1 ? ", \"version\": \"HTTP/1.1\"" :
                                                                      ", \"version\": \"HTTP/1.0\"");
        r = r < 0 ? r : http_app_buf_str(b, ", \"headers\": [");
        for (size_t i = 0; r >= 0 && i < req->n_headers; i++) {
                const HttpAppHeader *h = &req->headers[i];

                r = http_app_buf_str(b, i == 0 ? "[" : ", [");
                r = r < 0 ? r : json_string(b, h->name, h->name_len);
                r = r < 0 ? r : http_app_buf_str(b, ", ");
                r = r < 0 ? r : json_string(b, h->value, h->value_len);
                r = r < 0 ? r : http_app_buf_str(b, "]");
        }
        return r < 0 ? r : http_app_buf_str(b, "]}\n");
}

static int handle(HttpAppConn *c, const HttpAppRequest *req, const char *body, size_t body_len) {
        bool json = query_wants_json(req->query, req->query_len);
        HttpAppBuf dump = {};
        int r;

        (void) body;
        (void) body_len;
        r = json ? dump_json(&dump, req) : dump_text(&dump, req);
        if (r >= 0)
                r = http_app_respond(c, 200, json ? "application/json" : "text/plain; charset=utf-8", NULL,
                                     dump.data, dump.len,
                                     !http_app_mem_eq_ci(req->method, req->method_len, "HEAD"));
        http_app_buf_done(&dump);
        return r;
}

int main(int argc, char *argv[]) {
        static const HttpApp app = {
                .name = "headers",
                .body_max = BODY_MAX,
                .handle = handle,
        };

        return http_app_main(&app, argc, argv);
}
