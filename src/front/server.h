/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * front/server.h — granaryd's connections: listening sockets, accepting under global and per-address limits,
 * TLS handshakes, HTTP/1.1 (http1.h) and HTTP/2 (http2.h, by ALPN or prior knowledge) on one sd-event loop,
 * deadlines, back-pressure, and draining on shutdown. Turns both protocols into one request/response model
 * for the handler: a ServerRequest, whose body can be read whole or streamed, and a response with an
 * in-memory or streamed body — and, for WebSockets, one tunnel API over both protocols (see "Tunnels" below).
 *
 * Owns the listeners, the connections and the requests on them. Does not own routing, files, accounts or
 * anything a request means: every request goes to the one handler given to server_new(). Logs at debug
 * level only; what happens to a request is the handler's to log. The connection state diagram and its
 * invariants are at the top of server.c.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "http/http.h"
#include "http/limits.h"
#include "http/tls.h"

typedef struct Server Server;
typedef struct ServerRequest ServerRequest;

typedef enum ServerListenerKind {
        SERVER_LISTENER_HTTP,    /* plain: HTTP/1.1, and HTTP/2 with prior knowledge */
        SERVER_LISTENER_HTTPS,   /* TLS: h2 or http/1.1 by ALPN */
        SERVER_LISTENER_CONTROL, /* a Unix socket: HTTP/1.1, the peer's credentials known */
        _SERVER_LISTENER_KIND_MAX,
        _SERVER_LISTENER_KIND_INVALID = -EINVAL,
} ServerListenerKind;

typedef struct ServerLimits {
        HttpLimits http;
        unsigned connections_max;             /* all connections; past it, accepting pauses */
        unsigned connections_per_address_max; /* from one IP address (IPv6: one /64); past it, closed at once */
        uint64_t header_timeout_usec;         /* TLS handshake, and first byte of a head to its end */
        uint64_t idle_timeout_usec;           /* a connection with nothing in flight */
        uint64_t body_timeout_usec;           /* a request body that makes no progress */
        uint64_t body_min_rate;               /* bytes/s a body must average after body_timeout; 0: off */
        uint64_t write_timeout_usec;          /* output that makes no progress */
        uint64_t tunnel_idle_timeout_usec;    /* a tunnel (WebSocket) with no byte either way; 0: off */
} ServerLimits;

/* A new request whose head is complete. The handler answers it with server_request_respond(), now or
 * later; until then the request stays alive unless its connection goes, which server_request_on_abort()
 * reports. */
typedef void (*ServerHandler)(ServerRequest *req, void *userdata);

int server_new(sd_event *e, const ServerLimits *limits, ServerHandler handler, void *userdata, Server **ret);
/* Closes every connection (aborting their requests) and listener. Accepts NULL, returns NULL. */
Server *server_free(Server *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Server *, server_free);

/* Takes fd, a listening socket (made non-blocking here). port: what Host names for it (0 for CONTROL), so
 * that the handler can tell the primary port from the others. TLS listeners need server_set_tls() before
 * their first connection. */
int server_add_listener(Server *s, int fd, ServerListenerKind kind, uint16_t port);
/* Borrowed; new connections use the context's current certificate. NULL: TLS connections are refused. */
void server_set_tls(Server *s, TlsContext *tls);
/* Limits for connections accepted from now on (and the HTTP limits of their parsers). */
int server_set_limits(Server *s, const ServerLimits *limits);

/* Stops accepting; closes connections kept alive idle after an answer, lets requests in flight finish
 * (HTTP/1.1 with "Connection: close", HTTP/2 after GOAWAY), answers the first request of connections
 * accepted but not yet asked on (its bytes may be on the way: a restart must refuse nobody), and calls done
 * once no connection is left or after timeout_usec, closing what remains. */
int server_drain(Server *s, uint64_t timeout_usec, void (*done)(Server *s, void *userdata), void *userdata);

unsigned server_n_connections(const Server *s) _pure_;

/* ---- one request ---- */

/* method, target, headers: valid until the request is freed (after its response, or its abort). ->version
 * tells HTTP/2 (HTTP_VERSION_2) from HTTP/1.x. */
const HttpRequest *server_request_http(const ServerRequest *r) _pure_;
ServerListenerKind server_request_listener(const ServerRequest *r) _pure_;
/* The port of the listener it came in on (0 for CONTROL). */
uint16_t server_request_port(const ServerRequest *r) _pure_;
/* The client's address as text ("192.0.2.1", "2001:db8::1"); "" on the control socket. */
const char *server_request_address(const ServerRequest *r) _pure_;
/* The SNI name of a TLS connection, lowercased, or NULL. */
const char *server_request_sni(const ServerRequest *r) _pure_;
/* Whether the request came over TLS (X-Forwarded-Proto, the scheme of URLs built for the client). */
bool server_request_is_tls(const ServerRequest *r) _pure_;
/* The peer's credentials on the control socket: 0, or -ENOENT elsewhere. ret_groups: the supplementary
 * groups (borrowed), may be NULL. */
int server_request_peer(const ServerRequest *r, struct ucred *ret, const gid_t **ret_groups, size_t *ret_n_groups);
/* A number for log lines, unique within this process. */
uint64_t server_request_id(const ServerRequest *r) _pure_;

/* Called at most once, if the connection goes before the response was given (or, for a tunnel, before both
 * of its directions ended); the request is freed right after it returns. */
void server_request_on_abort(ServerRequest *r, void (*cb)(ServerRequest *r, void *userdata), void *userdata);

/* Reads the whole body into memory. A body longer than max is answered 413 by the server (and cb is never
 * called; the abort callback is, since the request is gone). cb gets the body (valid during the call) once
 * it is complete; it may respond from there. Call at most once, before responding. -EALREADY otherwise. */
int server_request_read_body(ServerRequest *r, size_t max,
                             void (*cb)(ServerRequest *r, const void *body, size_t n, void *userdata), void *userdata);

/*
 * Answers the request. headers: the response's fields, without Date, Content-Length or framing (the server
 * adds them); names in any case (HTTP/2 lowercases them). body_size is the length of the representation:
 * it is sent as Content-Length (except for 1xx, 204, 304), and body bytes are sent unless the request was
 * HEAD (body may be NULL then). body is borrowed until release(release_data) is called (release may be
 * NULL for static data). -EINVAL for a header or status the protocol cannot carry (nothing is sent then and
 * the request is still the caller's: answer 500 instead), -EALREADY when already answered.
 * After this returns 0 the request is the server's: the caller must not touch it again.
 */
int server_request_respond(ServerRequest *r, int status, const HttpHeader *headers, size_t n_headers,
                           const void *body, size_t body_size, void (*release)(void *data), void *release_data);

/*
 * A streamed response body. The producer copies up to n bytes into buf and returns how many; 0 without
 * *ret_eof means "nothing yet": the server waits for server_request_resume(). *ret_eof with the last bytes
 * (or with 0) ends the body. < 0 fails: the response is cut off (HTTP/2: RST_STREAM; HTTP/1.1: the
 * connection closes, since its framing is lost) — and so does a producer that gives more or fewer bytes
 * than a Content-Length it promised.
 */
typedef ssize_t (*ServerBodyRead)(ServerRequest *r, uint8_t *buf, size_t n, bool *ret_eof, void *userdata);

/* Answers with a streamed body: content_length bytes, or -1 for a length not known in advance (HTTP/1.1:
 * chunked; HTTP/1.0: until the connection closes). The rules of server_request_respond() apply. destroy
 * (may be NULL) gets userdata once the request is freed — after the body, or when the connection went, or
 * when no body was wanted (HEAD) — and never before this returned 0. */
int server_request_respond_stream(ServerRequest *r, int status, const HttpHeader *headers, size_t n_headers,
                                  int64_t content_length, ServerBodyRead read, void (*destroy)(void *userdata),
                                  void *userdata);
/* The producer of a streamed response has bytes again. */
void server_request_resume(ServerRequest *r);

/*
 * Streams the request body to a consumer instead of buffering it: data gets each piece (valid during the
 * call) and returns 0 to go on, 1 to pause — nothing more comes until server_request_resume_body(), and the
 * client is slowed down (HTTP/1.1: its bytes stay unread; HTTP/2: its window stays closed) — or < 0 to give
 * up (the connection, or the HTTP/2 stream, is closed). end, if not NULL, is called once the body is
 * complete. Call it from the handler, before responding or after; -EALREADY when the body is read already.
 * The body limit is the connection's (MAX_BODY_BYTES); quotas are the consumer's.
 */
typedef int (*ServerBodyData)(ServerRequest *r, const uint8_t *data, size_t n, void *userdata);
int server_request_stream_body(ServerRequest *r, ServerBodyData data, void (*end)(ServerRequest *r, void *userdata),
                               void *userdata);
void server_request_resume_body(ServerRequest *r);

/*
 * Tunnels (WebSockets): one API over both protocols, made of the streaming calls above.
 *
 * Which requests: HTTP/1.1 — HttpRequest.upgrade is true (Upgrade with "Connection: upgrade"; protocol NULL),
 * the protocols are in the Upgrade header. HTTP/2 — an extended CONNECT (RFC 8441; the server's SETTINGS
 * enable it): method HTTP_METHOD_CONNECT, HttpRequest.protocol "websocket", path and authority as for any
 * request. A plain CONNECT never reaches the handler.
 *
 * Accepting: server_request_respond_stream(r, 101 (HTTP/1.1) or 200 (HTTP/2), headers, n, -1, read, destroy,
 * userdata), and server_request_stream_body() for the client's bytes (before or after answering; bytes wait
 * until a consumer is registered). HTTP/1.1: the 101 head is written exactly with the handler's headers
 * (give "Upgrade" and "Connection: upgrade" yourself; no Date or framing is added), and only an upgrade
 * request without a body can get it (-EINVAL otherwise, and for 101 on HTTP/2 or without read). HTTP/2: no
 * connection-specific header (Upgrade, Connection) may be given (-EINVAL), and the length must be -1.
 *
 * Then, both protocols alike:
 *  - client → handler: every byte the client sends after the request head (on HTTP/1.1 including bytes that
 *    came behind the head before the answer) goes to the consumer, with pause (return 1) and
 *    server_request_resume_body(); the client's end (HTTP/1.1: EOF, TLS close_notify; HTTP/2: END_STREAM)
 *    calls end. On HTTP/1.1, the end of an upgrade request's (empty) body is told only once the answer is
 *    not a 101.
 *  - handler → client: every byte read() produces goes to the client unframed (HTTP/2: DATA frames), with
 *    0 meaning "nothing yet" until server_request_resume(); *ret_eof ends this direction (HTTP/1.1:
 *    shutdown(SHUT_WR), TLS close_notify; HTTP/2: END_STREAM) and the other goes on.
 *  - the tunnel is freed (destroy) once both directions ended; if the connection (or HTTP/2 stream: RST)
 *    goes before that, the abort callback runs first. Body and idle deadlines do not apply to a tunnel:
 *    only the write deadline and ServerLimits.tunnel_idle_timeout_usec (no byte either way; off when 0).
 *
 * Any other answer to an upgrade request answers it as a plain request, and the connection goes on.
 */

/* A short text/plain answer "<status> <reason>\n" with extra headers; for errors. */
int server_request_respond_status(ServerRequest *r, int status, const HttpHeader *headers, size_t n_headers);

/* Closes the connection after this request's response (HTTP/1.1: "Connection: close"). */
void server_request_close_after(ServerRequest *r);
