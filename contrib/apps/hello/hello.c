/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * hello — the smallest granary app: every request, whatever its method and path, gets one small
 * HTML page (HEAD: its headers only). A request body is read and dropped.
 *
 * It owns nothing but its connections, through the shared server in ../common/http-app.c: it
 * listens on 127.0.0.1:PORT (argv[1], default 8000), speaks HTTP/1.1 with keep-alive and
 * pipelining, and logs one line on start and stop to stderr. The package runs it behind the
 * platform's bridge (`/sandstorm-http-bridge 8000 -- /hello 8000`); the grain benchmark measures
 * its start and its requests, so it does nothing else. It is linked statically so the package
 * needs nothing from the host. SIGTERM (what stopping a grain sends) and SIGINT end it with status 0.
 */

#include <stdbool.h>
#include <stddef.h>

#include "http-app.h"

#define BODY_MAX 4096                   /* nothing here wants a request body */

static const char page[] =
        "<!DOCTYPE html>\n"
        "<html lang=\"en\">\n"
        "<head><meta charset=\"utf-8\"><title>Hello</title></head>\n"
        "<body><h1>Hello from granary!</h1>\n"
        "<p>This grain is running the example app <code>hello</code>.</p></body>\n"
        "</html>\n";

static int handle(HttpAppConn *c, const HttpAppRequest *req, const char *body, size_t body_len) {
        (void) body;
        (void) body_len;
        return http_app_respond(c, 200, "text/html; charset=utf-8", NULL, page, sizeof(page) - 1,
                                !http_app_mem_eq_ci(req->method, req->method_len, "HEAD"));
}

int main(int argc, char *argv[]) {
        static const HttpApp app = {
                .name = "hello",
                .body_max = BODY_MAX,
                .handle = handle,
        };

        return http_app_main(&app, argc, argv);
}
