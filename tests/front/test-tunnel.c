/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Tunnels (WebSockets) through the connection layer, on a real loopback socket: HTTP/1.1 upgrades answered
 * 101 and HTTP/2 extended CONNECT (RFC 8441) answered 200, each echoing what the client sends through the
 * streaming calls of server.h. The server runs on this thread's sd-event loop; each client runs on a thread
 * of its own (HTTP/2: an nghttp2 client session) and ends the loop when it is done. The header, idle and
 * body timeouts are short, so that a tunnel that outlives them shows they do not apply to it.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "basic/string-util.h"
#include "front/server.h"
#include "server-fixture.h"

#define SHORT_TIMEOUT_USEC UINT64_C(200000)
#define MSEC UINT64_C(1000)

typedef struct Fixture {
        ServerFixture base;
        ServerLimits limits;
        unsigned destroyed, aborted, ended, refused_ended, pauses;
        StrBuf got_after_eof; /* what /ws-eof's consumer received */
        ServerRequest *stalled; /* /ws-stall's request, paused for good */
} Fixture;

static Fixture *fixture;

/* ---- the handler's side: an echo tunnel ---- */

typedef struct Tunnel {
        ServerRequest *req;
        StrBuf pending; /* from the consumer, not yet produced */
        size_t pending_off;
        size_t pause_at; /* the consumer pauses while this much waits (0: never) */
        size_t piece;    /* the producer gives at most this much per call */
        bool client_ended, paused;
        bool late; /* respond and register from a timer, not from the handler */
        bool stall, eof_at_once;
        sd_event_source *timer;
} Tunnel;

static void tunnel_destroy(void *userdata) {
        Tunnel *t = userdata;

        fixture->destroyed++;
        sd_event_source_unref(t->timer);
        strbuf_done(&t->pending);
        free(t);
}

static void tunnel_abort(ServerRequest *r, void *userdata) {
        fixture->aborted++;
}

static ssize_t tunnel_read(ServerRequest *r, uint8_t *buf, size_t n, bool *ret_eof, void *userdata) {
        Tunnel *t = userdata;
        size_t k = t->pending.len - t->pending_off;

        if (t->eof_at_once) {
                memcpy(buf, "bye", 3);
                *ret_eof = true;
                return 3;
        }
        if (k == 0) {
                *ret_eof = t->client_ended;
                return 0;
        }
        k = MIN(k, MIN(n, t->piece ?: n));
        memcpy(buf, t->pending.data + t->pending_off, k);
        t->pending_off += k;
        if (t->pending_off == t->pending.len) {
                strbuf_truncate(&t->pending, 0);
                t->pending_off = 0;
        }
        if (t->paused && t->pending.len - t->pending_off < t->pause_at) {
                t->paused = false;
                server_request_resume_body(r);
        }
        return (ssize_t) k;
}

static int tunnel_data(ServerRequest *r, const uint8_t *p, size_t n, void *userdata) {
        Tunnel *t = userdata;

        if (t->eof_at_once)
                return strbuf_append(&fixture->got_after_eof, p, n);
        if (t->stall) {
                /* takes the first piece, then waits until the test says */
                if (!fixture->stalled) {
                        fixture->stalled = r;
                        return 1;
                }
                return 0;
        }
        assert_int_equal(strbuf_append(&t->pending, p, n), 0);
        server_request_resume(r);
        if (t->pause_at > 0 && t->pending.len - t->pending_off >= t->pause_at) {
                t->paused = true;
                fixture->pauses++;
                return 1;
        }
        return 0;
}

static void tunnel_end(ServerRequest *r, void *userdata) {
        Tunnel *t = userdata;

        fixture->ended++;
        t->client_ended = true;
        server_request_resume(r);
}

static void tunnel_accept(Tunnel *t) {
        const HttpRequest *h = server_request_http(t->req);
        int k;

        if (h->version == HTTP_VERSION_2) {
                static const HttpHeader hdr[] = {{"sec-websocket-protocol", 22, "echo", 4}};

                k = server_request_respond_stream(t->req, 200, hdr, ELEMENTSOF(hdr), -1, tunnel_read, tunnel_destroy, t);
        } else {
                static const HttpHeader hdr[] = {
                        {"Upgrade", 7, "websocket", 9},
                        {"Connection", 10, "Upgrade", 7},
                        {"Sec-WebSocket-Accept", 20, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", 28},
                };

                k = server_request_respond_stream(t->req, 101, hdr, ELEMENTSOF(hdr), -1, tunnel_read, tunnel_destroy, t);
        }
        assert_int_equal(k, 0);
}

static int tunnel_accept_later(sd_event_source *s, uint64_t usec, void *userdata) {
        Tunnel *t = userdata;

        t->timer = sd_event_source_unref(t->timer);
        tunnel_accept(t);
        /* the consumer comes after the answer: bytes that came meanwhile waited for it */
        assert_int_equal(server_request_stream_body(t->req, tunnel_data, tunnel_end, t), 0);
        return 0;
}

static void tunnel_start(ServerRequest *r, Tunnel tmpl) {
        Tunnel *t = calloc(1, sizeof *t);

        assert_non_null(t);
        *t = tmpl;
        t->req = r;
        server_request_on_abort(r, tunnel_abort, t);
        if (t->late) {
                assert_int_equal(sd_event_add_time_relative(fixture->base.event, &t->timer, CLOCK_MONOTONIC,
                                                            50 * MSEC, 0, tunnel_accept_later, t),
                                 0);
                return;
        }
        assert_int_equal(server_request_stream_body(r, tunnel_data, tunnel_end, t), 0);
        tunnel_accept(t);
}

static void refused_end(ServerRequest *r, void *userdata) {
        fixture->refused_ended++;
}

static int refused_data(ServerRequest *r, const uint8_t *p, size_t n, void *userdata) {
        fail_msg("an upgrade answered 403 has no body, got %zu bytes", n);
        return -EIO;
}

static void handler(ServerRequest *r, void *userdata) {
        const HttpRequest *h = server_request_http(r);
        const char *p = h->path;
        bool ws = h->version == HTTP_VERSION_2 ? h->method == HTTP_METHOD_CONNECT && streq(h->protocol, "websocket")
                                               : h->upgrade && h->protocol == NULL;

        assert_false(server_request_is_tls(r));
        if (ws && streq(p, "/ws"))
                tunnel_start(r, (Tunnel) {});
        else if (ws && streq(p, "/ws-late"))
                tunnel_start(r, (Tunnel) {.late = true});
        else if (ws && streq(p, "/ws-pause"))
                tunnel_start(r, (Tunnel) {.pause_at = 16384, .piece = 1000});
        else if (ws && streq(p, "/ws-stall"))
                tunnel_start(r, (Tunnel) {.stall = true});
        else if (ws && streq(p, "/ws-eof"))
                tunnel_start(r, (Tunnel) {.eof_at_once = true});
        else if (ws && streq(p, "/ws-refused")) {
                static const char text[] = "no";

                /* a consumer registered for a tunnel that does not come: its body ends with the answer */
                assert_int_equal(server_request_stream_body(r, refused_data, refused_end, NULL), 0);
                assert_int_equal(fixture->refused_ended, 0);
                assert_int_equal(server_request_respond(r, 403, NULL, 0, text, STRLEN(text), NULL, NULL), 0);
        } else if (streq(p, "/not-upgrade")) {
                static const char text[] = "refused 101";
                static const HttpHeader hdr[] = {{"Upgrade", 7, "websocket", 9}};

                /* 101 only for an upgrade request, and only streamed */
                assert_int_equal(server_request_respond_stream(r, 101, hdr, 1, -1, tunnel_read, NULL, NULL), -EINVAL);
                assert_int_equal(server_request_respond(r, 200, NULL, 0, text, STRLEN(text), NULL, NULL), 0);
        } else {
                static const char text[] = "plain";

                assert_int_equal(server_request_respond(r, 200, NULL, 0, text, STRLEN(text), NULL, NULL), 0);
        }
}

/* ---- running a client ---- */

/* Lets the server finish what it has to do (closing, freeing) after a client is done. */
static void settle(unsigned n_connections) {
        for (int i = 0; i < 200 && server_n_connections(fixture->base.server) != n_connections; i++)
                assert_true(sd_event_run(fixture->base.event, 10 * MSEC) >= 0);
        assert_int_equal(server_n_connections(fixture->base.server), n_connections);
}

static void reset_counters(void) {
        fixture->destroyed = fixture->aborted = fixture->ended = fixture->refused_ended = fixture->pauses = 0;
        strbuf_truncate(&fixture->got_after_eof, 0);
        fixture->stalled = NULL;
}

/* One client from fresh counters, on a thread of its own while the server's loop runs here, until the server
 * has no connection left. */
static void run_settled(void (*fn)(void *arg), void *arg) {
        reset_counters();
        server_fixture_run(&fixture->base, fn, arg);
        settle(0);
}

/* Both directions of the one tunnel ended (the client's end told, the producer's EOF), then it was freed. */
static void assert_tunnel_ended(void) {
        assert_int_equal(fixture->ended, 1);
        assert_int_equal(fixture->destroyed, 1);
        assert_int_equal(fixture->aborted, 0);
}

/* The one tunnel lost its connection (or stream) before both directions ended: abort, then destroy. */
static void assert_tunnel_aborted(void) {
        assert_int_equal(fixture->aborted, 1);
        assert_int_equal(fixture->destroyed, 1);
        assert_int_equal(fixture->ended, 0);
}

static int client_connect(void) {
        return server_fixture_connect(&fixture->base, 5);
}

static void send_str(int fd, const char *s) {
        assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t) strlen(s));
}

/* Reads until b holds at least n bytes; false on EOF or error before that. */
static bool recv_at_least(int fd, StrBuf *b, size_t n) {
        char buf[65536];

        while (b->len < n) {
                ssize_t k = recv(fd, buf, sizeof buf, 0);

                if (k <= 0)
                        return false;
                assert_int_equal(strbuf_append(b, buf, (size_t) k), 0);
        }
        return true;
}

/* Reads until the end of a response head; returns its length. */
static size_t recv_head(int fd, StrBuf *b) {
        char *e;

        while (!(b->data && (e = strstr(b->data, "\r\n\r\n"))))
                assert_true(recv_at_least(fd, b, b->len + 1));
        return (size_t) (e - b->data) + 4;
}

/* Reads until EOF: true for an orderly one. */
static bool recv_to_eof(int fd, StrBuf *b) {
        char buf[65536];

        for (;;) {
                ssize_t k = recv(fd, buf, sizeof buf, 0);

                if (k == 0)
                        return true;
                if (k < 0)
                        return false;
                assert_int_equal(strbuf_append(b, buf, (size_t) k), 0);
        }
}

#define UPGRADE(path)                                                                                       \
        "GET " path " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"               \
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

static const char switching[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

/* ---- HTTP/1.1 ---- */

/* Connects and sends request (an UPGRADE(), maybe with bytes behind it); the answer's head is exactly the
 * handler's: no Date, no framing. Returns the connection; *ret_head: the length of the head in b. */
static int tunnel_open(const char *request, StrBuf *b, size_t *ret_head) {
        int fd = client_connect();
        size_t head;

        send_str(fd, request);
        head = recv_head(fd, b);
        assert_int_equal(head, STRLEN(switching));
        assert_memory_equal(b->data, switching, head);
        *ret_head = head;
        return fd;
}

/* Sends text; the echo since the head is then want. */
static void echo_expect(int fd, StrBuf *b, size_t head, const char *text, const char *want) {
        send_str(fd, text);
        assert_true(recv_at_least(fd, b, head + strlen(want)));
        assert_memory_equal(b->data + head, want, strlen(want));
}

/* Our EOF ends the consumer's body; the echo ends its side in turn, after exactly n bytes of tunnel. */
static void tunnel_close(int fd, StrBuf *b, size_t head, size_t n) {
        assert_int_equal(shutdown(fd, SHUT_WR), 0);
        assert_true(recv_to_eof(fd, b));
        assert_int_equal(b->len, head + n);
        close(fd);
}

static void client_echo(void *arg) {
        _cleanup_strbuf_ StrBuf b = {};
        size_t head;
        int fd = tunnel_open(UPGRADE("/ws"), &b, &head);

        echo_expect(fd, &b, head, "hello", "hello");
        echo_expect(fd, &b, head, " world", "hello world");
        tunnel_close(fd, &b, head, 11);
}

static void test_h1_echo(void **state) {
        run_settled(client_echo, NULL);
        assert_tunnel_ended();
}

static void client_pipelined(void *arg) {
        _cleanup_strbuf_ StrBuf b = {};
        size_t head;
        /* the tunnel's first bytes right behind the head, in the same segment, before any answer; the
         * handler answers and registers its consumer only later */
        int fd = tunnel_open(UPGRADE("/ws-late") "early bytes", &b, &head);

        assert_true(recv_at_least(fd, &b, head + 11));
        assert_memory_equal(b.data + head, "early bytes", 11);
        tunnel_close(fd, &b, head, 11);
}

static void test_h1_pipelined(void **state) {
        run_settled(client_pipelined, NULL);
        assert_tunnel_ended();
}

#define BIG ((size_t) 1 << 20)

static uint8_t pattern(size_t i) {
        return (uint8_t) (i * 7 + i / 251);
}

/* Sends BIG bytes while reading the echo (both at once, as a consumer with a bounded buffer needs). */
static void client_backpressure(void *arg) {
        _cleanup_strbuf_ StrBuf b = {};
        _cleanup_free_ uint8_t *out = malloc(BIG);
        size_t head, sent = 0;
        int fd;

        assert_non_null(out);
        for (size_t i = 0; i < BIG; i++)
                out[i] = pattern(i);
        fd = tunnel_open(UPGRADE("/ws-pause"), &b, &head);
        assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
        while (b.len < head + BIG) {
                struct pollfd pfd = {fd, POLLIN | (sent < BIG ? POLLOUT : 0), 0};
                char buf[65536];
                ssize_t k;

                assert_int_equal(poll(&pfd, 1, 5000), 1);
                if (pfd.revents & POLLOUT) {
                        k = send(fd, out + sent, MIN(BIG - sent, (size_t) 65536), MSG_NOSIGNAL);
                        assert_true(k > 0 || errno == EAGAIN);
                        if (k > 0)
                                sent += (size_t) k;
                }
                if (pfd.revents & POLLIN) {
                        k = recv(fd, buf, sizeof buf, 0);
                        assert_true(k > 0 || (k < 0 && errno == EAGAIN));
                        if (k > 0)
                                assert_int_equal(strbuf_append(&b, buf, (size_t) k), 0);
                }
        }
        assert_int_equal(b.len, head + BIG);
        assert_memory_equal(b.data + head, out, BIG);
        assert_int_equal(fcntl(fd, F_SETFL, 0), 0);
        tunnel_close(fd, &b, head, BIG);
}

static void test_h1_backpressure(void **state) {
        run_settled(client_backpressure, NULL);
        /* the consumer paused (its buffer full) and was resumed by the producer, and nothing was lost */
        assert_true(fixture->pauses > 0);
        assert_tunnel_ended();
}

/* A consumer that pauses for good: the server stops reading, so the client's sending stops too. */
static void client_stall(void *arg) {
        _cleanup_strbuf_ StrBuf b = {};
        _cleanup_free_ uint8_t *out = calloc(1, 65536);
        size_t head, sent = 0;
        int fd = tunnel_open(UPGRADE("/ws-stall"), &b, &head);

        assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
        for (;;) {
                struct pollfd pfd = {fd, POLLOUT, 0};
                ssize_t k;

                if (poll(&pfd, 1, 300) == 0)
                        break; /* blocked for 300 ms: the server reads no more */
                k = send(fd, out, 65536, MSG_NOSIGNAL);
                assert_true(k > 0 || errno == EAGAIN);
                if (k > 0)
                        sent += (size_t) k;
                assert_true(sent < ((size_t) 64 << 20));
        }
        print_message("# sending stopped after %zu bytes\n", sent);
        assert_true(sent > 0);
        close(fd);
}

static void test_h1_stalled_consumer(void **state) {
        reset_counters();
        server_fixture_run(&fixture->base, client_stall, NULL);
        assert_non_null(fixture->stalled);
        /* it takes the rest now: everything arrives, then the client's EOF ends the tunnel */
        server_request_resume_body(fixture->stalled);
        settle(0);
        assert_tunnel_ended();
}

static void client_producer_eof(void *arg) {
        _cleanup_strbuf_ StrBuf b = {};
        size_t head;
        int fd = tunnel_open(UPGRADE("/ws-eof"), &b, &head);

        /* the producer's EOF: "bye", then an orderly end of this direction… */
        assert_true(recv_to_eof(fd, &b));
        assert_int_equal(b.len, head + 3);
        assert_memory_equal(b.data + head, "bye", 3);
        /* …while the other one goes on */
        send_str(fd, "still here");
        assert_int_equal(shutdown(fd, SHUT_WR), 0);
        close(fd);
}

static void test_h1_producer_eof(void **state) {
        run_settled(client_producer_eof, NULL);
        assert_string_equal(fixture->got_after_eof.data, "still here");
        assert_tunnel_ended();
}

static void client_refused(void *arg) {
        _cleanup_strbuf_ StrBuf b = {};
        int fd = client_connect();

        send_str(fd, UPGRADE("/ws-refused") "GET /not-upgrade HTTP/1.1\r\nHost: x\r\n\r\n"
                                            "GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_true(recv_to_eof(fd, &b));
        *(char **) arg = strbuf_steal(&b, NULL);
        close(fd);
}

/* The response without its Date lines, which change. */
static char *strip_dates(char *s) {
        char *d;

        while ((d = strstr(s, "Date: "))) {
                char *e = strstr(d, "\r\n");
                memmove(d, e + 2, strlen(e + 2) + 1);
        }
        return s;
}

static void test_h1_refused(void **state) {
        _cleanup_free_ char *got = NULL;

        run_settled(client_refused, &got);
        /* answered as a plain request each, in order, on the one connection */
        assert_string_equal(strip_dates(got), "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno"
                                              "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nrefused 101"
                                              "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nplain");
        assert_int_equal(fixture->refused_ended, 1);
}

/* A tunnel quiet for longer than every other deadline stays open. */
static void client_quiet(void *arg) {
        _cleanup_strbuf_ StrBuf b = {};
        size_t head;
        int fd = tunnel_open(UPGRADE("/ws"), &b, &head);

        usleep(3 * SHORT_TIMEOUT_USEC);
        echo_expect(fd, &b, head, "awake", "awake");
        tunnel_close(fd, &b, head, 5);
}

static void test_h1_quiet(void **state) {
        run_settled(client_quiet, NULL);
        assert_tunnel_ended();
}

/* With a tunnel idle timeout, the quiet tunnel is closed: the handler hears of it by the abort. */
static void client_idle(void *arg) {
        _cleanup_strbuf_ StrBuf b = {};
        size_t head;
        int fd = tunnel_open(UPGRADE("/ws"), &b, &head);

        echo_expect(fd, &b, head, "x", "x");
        /* no byte either way from here: the server closes */
        (void) recv_to_eof(fd, &b);
        assert_int_equal(b.len, head + 1);
        close(fd);
}

static void test_h1_tunnel_idle_timeout(void **state) {
        ServerLimits l = fixture->limits;
        struct timespec a, z;

        reset_counters();
        l.tunnel_idle_timeout_usec = 2 * SHORT_TIMEOUT_USEC;
        assert_int_equal(server_set_limits(fixture->base.server, &l), 0);
        assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &a), 0);
        server_fixture_run(&fixture->base, client_idle, NULL);
        assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &z), 0);
        assert_int_equal(server_set_limits(fixture->base.server, &fixture->limits), 0);
        settle(0);
        /* not before the idle timeout */
        assert_true((z.tv_sec - a.tv_sec) * 1000000 + (z.tv_nsec - a.tv_nsec) / 1000 >= (long) (2 * SHORT_TIMEOUT_USEC));
        assert_tunnel_aborted();
}

/* The client goes away mid-tunnel: abort, then destroy. */
static void client_vanish(void *arg) {
        _cleanup_strbuf_ StrBuf b = {};
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        size_t head;
        int fd = tunnel_open(UPGRADE("/ws"), &b, &head);

        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
        close(fd); /* RST */
}

static void test_h1_vanish(void **state) {
        run_settled(client_vanish, NULL);
        assert_tunnel_aborted();
}

/* ---- HTTP/2, with nghttp2 as the client ---- */

typedef struct H2Client {
        int fd;
        nghttp2_session *ng;
        StrBuf got; /* DATA of the stream */
        int status;
        bool closed, settings_seen, ping_acked;
        uint32_t close_code;
        const char *send; /* DATA to send; NULL: deferred */
        bool send_eof;
} H2Client;

static int h2c_on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name, size_t name_len,
                         const uint8_t *value, size_t value_len, uint8_t flags, void *userdata) {
        H2Client *c = userdata;

        if (name_len == 7 && memcmp(name, ":status", 7) == 0)
                c->status = atoi((const char *) value);
        return 0;
}

static int h2c_on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *userdata) {
        H2Client *c = userdata;

        assert_int_equal(strbuf_append(&c->got, data, len), 0);
        /* we read it: the server may send more */
        assert_int_equal(nghttp2_session_consume(ng, id, len), 0);
        return 0;
}

static int h2c_on_frame(nghttp2_session *ng, const nghttp2_frame *frame, void *userdata) {
        H2Client *c = userdata;

        if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK))
                c->settings_seen = true;
        if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK))
                c->ping_acked = true;
        return 0;
}

static int h2c_on_close(nghttp2_session *ng, int32_t id, uint32_t code, void *userdata) {
        H2Client *c = userdata;

        c->closed = true;
        c->close_code = code;
        return 0;
}

static ssize_t h2c_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                        nghttp2_data_source *source, void *userdata) {
        H2Client *c = userdata;
        size_t k;

        if (!c->send && !c->send_eof)
                return NGHTTP2_ERR_DEFERRED;
        k = c->send ? strlen(c->send) : 0;
        assert_true(k <= length);
        memcpy(buf, c->send ?: "", k);
        c->send = NULL;
        if (c->send_eof)
                *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t) k;
}

static void h2c_init(H2Client *c) {
        nghttp2_session_callbacks *cbs;
        nghttp2_option *opt;

        *c = (H2Client) {.fd = client_connect()};
        assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
        nghttp2_session_callbacks_set_on_header_callback(cbs, h2c_on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2c_on_data);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2c_on_frame);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2c_on_close);
        assert_int_equal(nghttp2_option_new(&opt), 0);
        nghttp2_option_set_no_auto_window_update(opt, 1);
        assert_int_equal(nghttp2_session_client_new2(&c->ng, cbs, c, opt), 0);
        nghttp2_option_del(opt);
        nghttp2_session_callbacks_del(cbs);
        assert_int_equal(nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

static void h2c_done(H2Client *c) {
        nghttp2_session_del(c->ng);
        strbuf_done(&c->got);
        close(c->fd);
}

/* Sends what the session has, then reads until until(c) holds (or the server closes). */
static void h2c_pump(H2Client *c, bool (*until)(H2Client *c)) {
        while (!until(c)) {
                const uint8_t *p;
                uint8_t buf[65536];
                ssize_t k;

                while ((k = nghttp2_session_mem_send(c->ng, &p)) > 0)
                        assert_int_equal(send(c->fd, p, (size_t) k, MSG_NOSIGNAL), k);
                assert_true(k == 0);
                if (until(c))
                        break;
                k = recv(c->fd, buf, sizeof buf, 0);
                assert_true(k > 0);
                assert_int_equal(nghttp2_session_mem_recv(c->ng, buf, (size_t) k), k);
        }
        /* what the callbacks queued (WINDOW_UPDATE, acknowledgements) */
        for (;;) {
                const uint8_t *p;
                ssize_t k = nghttp2_session_mem_send(c->ng, &p);

                if (k <= 0)
                        break;
                assert_int_equal(send(c->fd, p, (size_t) k, MSG_NOSIGNAL), k);
        }
}

static bool h2c_settings(H2Client *c) {
        return c->settings_seen;
}
static bool h2c_answered(H2Client *c) {
        return c->status != 0;
}
static bool h2c_got5(H2Client *c) {
        return c->got.len >= 5;
}
static bool h2c_closed(H2Client *c) {
        return c->closed;
}
static bool h2c_ping_acked(H2Client *c) {
        return c->ping_acked;
}

static int32_t h2c_connect(H2Client *c, const char *path) {
        char authority[32];
        nghttp2_data_provider prd = {.read_callback = h2c_read};
        nghttp2_nv nva[] = {
                {(uint8_t *) ":method", (uint8_t *) "CONNECT", 7, 7, 0},
                {(uint8_t *) ":protocol", (uint8_t *) "websocket", 9, 9, 0},
                {(uint8_t *) ":scheme", (uint8_t *) "http", 7, 4, 0},
                {(uint8_t *) ":path", (uint8_t *) path, 5, strlen(path), 0},
                {(uint8_t *) ":authority", (uint8_t *) authority, 10, 0, 0},
                {(uint8_t *) "sec-websocket-version", (uint8_t *) "13", 21, 2, 0},
        };
        int32_t id;

        nva[4].valuelen = (size_t) snprintf(authority, sizeof authority, "127.0.0.1:%u", fixture->base.port);
        id = nghttp2_submit_request(c->ng, NULL, nva, ELEMENTSOF(nva), &prd, NULL);
        assert_true(id > 0);
        return id;
}

/* A tunnel to /ws on a new connection, once the server's SETTINGS allowed it (RFC 8441 §3); answered 200.
 * Returns its stream. */
static int32_t h2c_open_tunnel(H2Client *c) {
        int32_t id;

        h2c_init(c);
        h2c_pump(c, h2c_settings);
        assert_int_equal(nghttp2_session_get_remote_settings(c->ng, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL),
                         1);
        id = h2c_connect(c, "/ws");
        h2c_pump(c, h2c_answered);
        assert_int_equal(c->status, 200);
        return id;
}

/* Gives the stream's deferred DATA: data (NULL: none), and END_STREAM when eof. */
static void h2c_send(H2Client *c, int32_t id, const char *data, bool eof) {
        c->send = data;
        c->send_eof = eof;
        assert_int_equal(nghttp2_session_resume_data(c->ng, id), 0);
}

static void client_h2_echo(void *arg) {
        H2Client c;
        int32_t id = h2c_open_tunnel(&c);

        /* quiet for longer than the body and idle timeouts: the stream stays */
        usleep(3 * SHORT_TIMEOUT_USEC);
        h2c_send(&c, id, "hello", false);
        h2c_pump(&c, h2c_got5);
        assert_int_equal(c.got.len, 5);
        assert_memory_equal(c.got.data, "hello", 5);
        assert_false(c.closed);
        /* END_STREAM from us: the echo ends its side too, and the stream closes without error */
        h2c_send(&c, id, NULL, true);
        h2c_pump(&c, h2c_closed);
        assert_int_equal(c.close_code, NGHTTP2_NO_ERROR);
        assert_int_equal(c.got.len, 5);
        h2c_done(&c);
}

static void test_h2_echo(void **state) {
        run_settled(client_h2_echo, NULL);
        assert_tunnel_ended();
}

static void client_h2_reset(void *arg) {
        H2Client c;
        int32_t id = h2c_open_tunnel(&c);

        h2c_send(&c, id, "hello", false);
        h2c_pump(&c, h2c_got5);
        assert_int_equal(nghttp2_submit_rst_stream(c.ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL), 0);
        h2c_pump(&c, h2c_closed);
        assert_int_equal(c.close_code, NGHTTP2_CANCEL);
        /* only the stream went: the connection answers a PING */
        assert_int_equal(nghttp2_submit_ping(c.ng, NGHTTP2_FLAG_NONE, NULL), 0);
        h2c_pump(&c, h2c_ping_acked);
        h2c_done(&c);
}

static void test_h2_reset(void **state) {
        run_settled(client_h2_reset, NULL);
        /* the reset tunnel did not end both ways */
        assert_tunnel_aborted();
}

static int setup(void **state) {
        static Fixture f;

        fixture = &f;
        f.limits = server_fixture_limits(SHORT_TIMEOUT_USEC);
        if (server_fixture_init(&f.base, &f.limits, handler, NULL) < 0)
                return -1;
        *state = &f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        server_fixture_done(&f->base);
        strbuf_done(&f->got_after_eof);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_h1_echo),
                cmocka_unit_test(test_h1_pipelined),
                cmocka_unit_test(test_h1_backpressure),
                cmocka_unit_test(test_h1_stalled_consumer),
                cmocka_unit_test(test_h1_producer_eof),
                cmocka_unit_test(test_h1_refused),
                cmocka_unit_test(test_h1_quiet),
                cmocka_unit_test(test_h1_tunnel_idle_timeout),
                cmocka_unit_test(test_h1_vanish),
                cmocka_unit_test(test_h2_echo),
                cmocka_unit_test(test_h2_reset),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
