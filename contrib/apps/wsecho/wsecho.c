/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * wsecho — an example app that echoes WebSocket messages (RFC 6455). GET / serves a small page
 * whose script connects back to / and shows what comes back; a WebSocket handshake on any path
 * opens an echo session: each text or binary message, whole (reassembled from its fragments), is
 * sent back as one frame of the same type. Pings, the close handshake and every protocol error
 * are the shared server's (../common/http-app.c): a ping gets a pong with its payload; a close is
 * answered with a close carrying the same status code, and then the connection ends; a message
 * above HTTP_APP_WS_MESSAGE_MAX closes with 1009, a text message that is not UTF-8 with 1007, and
 * anything else RFC 6455 forbids with 1002. No extension and no subprotocol is ever agreed to.
 *
 * It owns nothing but its connections, through that server: it listens on 127.0.0.1:PORT (argv[1],
 * default 8000), speaks HTTP/1.1 with keep-alive up to the handshake, and logs one line on start
 * and stop to stderr. It is linked statically so the package needs nothing from the host. SIGTERM
 * and SIGINT end it with status 0.
 */

#include <stdbool.h>
#include <stddef.h>

#include "http-app.h"

#define BODY_MAX 4096                   /* nothing here wants a request body; it is read and dropped */

/* ---- the page ---- */

static const char page[] =
        "<!DOCTYPE html>\n"
        "<html lang=\"en\">\n"
        "<head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\n"
        "<title>WebSocket echo</title>\n"
        "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em}"
        "#log{font-family:monospace;white-space:pre-wrap}</style>\n"
        "</head>\n"
        "<body>\n"
        "<h1>WebSocket echo</h1>\n"
        "<form id=\"form\"><input id=\"message\" autocomplete=\"off\" value=\"hello\">\n"
        "<button type=\"submit\">Send</button></form>\n"
        "<p id=\"status\">connecting…</p>\n"
        "<div id=\"log\"></div>\n"
        "<script>\n"
        "'use strict';\n"
        "const status = document.getElementById('status');\n"
        "const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';\n"
        "const ws = new WebSocket(scheme + location.host + '/');\n"
        "function log(line) {\n"
        "  document.getElementById('log').append(line + '\\n');\n"
        "}\n"
        "ws.onopen = () => { status.textContent = 'connected'; };\n"
        "ws.onclose = (e) => { status.textContent = 'closed (' + e.code + ')'; };\n"
        "ws.onmessage = (e) => log('\\u2190 ' + e.data);\n"
        "document.getElementById('form').onsubmit = (e) => {\n"
        "  e.preventDefault();\n"
        "  const text = document.getElementById('message').value;\n"
        "  ws.send(text);\n"
        "  log('\\u2192 ' + text);\n"
        "};\n"
        "</script>\n"
        "</body>\n"
        "</html>\n";

static int on_message(HttpAppConn *c, int opcode, const char *data, size_t n) {
        return http_app_websocket_send(c, opcode, data, n);
}

/* Returns 0 when an answer is queued, 1 after a handshake (the connection now speaks WebSocket). */
static int handle(HttpAppConn *c, const HttpAppRequest *req, const char *body, size_t body_len) {
        const HttpAppHeader *upgrade = http_app_request_header(req, "Upgrade", NULL);
        bool get = http_app_mem_eq_ci(req->method, req->method_len, "GET");
        bool head = http_app_mem_eq_ci(req->method, req->method_len, "HEAD");

        (void) body;
        if (upgrade && http_app_list_has_token(upgrade->value, upgrade->value_len, "websocket"))
                return http_app_websocket_accept(c, req, body_len);
        if (req->path_len != 1 || req->target[0] != '/')
                return http_app_respond_status(c, 404, NULL, !head);
        if (!get && !head)
                return http_app_respond_status(c, 405, "Allow: GET, HEAD\r\n", true);
        return http_app_respond(c, 200, "text/html; charset=utf-8", NULL, page, sizeof(page) - 1, get);
}

int main(int argc, char *argv[]) {
        static const HttpApp app = {
                .name = "wsecho",
                .body_max = BODY_MAX,
                .handle = handle,
                .on_message = on_message,
        };

        return http_app_main(&app, argc, argv);
}
