/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The connection layer on a real loopback socket: streamed responses (Content-Length and chunked, a producer
 * that waits, a producer that lies), streamed request bodies with pauses, buffered bodies, pipelining,
 * HTTP/1.0, HEAD, aborts, and HTTP/2 through curl. The server runs on this thread's sd-event loop; each
 * client runs on a thread of its own and ends the loop when it is done.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "basic/string-util.h"
#include "front/server.h"
#include "server-fixture.h"

typedef struct Fixture {
        ServerFixture base;
        unsigned aborted;
} Fixture;

static Fixture *fixture;

/* ---- handlers, chosen by path ---- */

typedef struct Stream {
        ServerRequest *req;
        const char *parts[4];
        size_t next;
        bool wait_between, waited;
        sd_event_source *timer;
} Stream;

static int resume_later(sd_event_source *s, uint64_t usec, void *userdata) {
        Stream *st = userdata;

        st->timer = sd_event_source_unref(st->timer);
        server_request_resume(st->req);
        return 0;
}

static ssize_t stream_read(ServerRequest *r, uint8_t *buf, size_t n, bool *ret_eof, void *userdata) {
        Stream *st = userdata;
        const char *p = st->parts[st->next];
        size_t k;

        if (st->wait_between && st->next > 0 && !st->waited) {
                /* every part after the first comes "later", from a timer, as a grain's bytes would */
                st->waited = true;
                assert_int_equal(sd_event_add_time_relative(fixture->base.event, &st->timer, CLOCK_MONOTONIC,
                                                            10000, 0, resume_later, st),
                                 0);
                return 0;
        }
        st->waited = false;
        k = strlen(p);
        assert_true(k <= n);
        memcpy(buf, p, k);
        st->next++;
        *ret_eof = st->parts[st->next] == NULL;
        return (ssize_t) k;
}

static void stream_free(void *userdata) {
        Stream *st = userdata;

        sd_event_source_unref(st->timer);
        free(st);
}

static void stream(ServerRequest *r, int64_t length, bool wait, const char *a, const char *b, const char *c) {
        Stream *st = calloc(1, sizeof *st);

        assert_non_null(st);
        *st = (Stream) {.req = r, .parts = {a, b, b ? c : NULL, NULL}, .wait_between = wait};
        assert_int_equal(server_request_respond_stream(r, 200, NULL, 0, length, stream_read, stream_free, st), 0);
}

typedef struct Echo {
        size_t seen;
        unsigned pieces;
} Echo;

static int resume_body_later(sd_event_source *s, uint64_t usec, void *userdata) {
        ServerRequest *r = userdata;

        server_request_resume_body(r);
        return 0;
}

static int echo_data(ServerRequest *r, const uint8_t *p, size_t n, void *userdata) {
        Echo *e = userdata;

        e->seen += n;
        e->pieces++;
        /* pause after the first piece; a timer resumes */
        if (e->pieces == 1) {
                assert_int_equal(sd_event_add_time_relative(fixture->base.event, NULL, CLOCK_MONOTONIC, 20000,
                                                            0, resume_body_later, r),
                                 0);
                return 1;
        }
        return 0;
}

static void echo_end(ServerRequest *r, void *userdata) {
        Echo *e = userdata;
        char *text;

        assert_true(asprintf(&text, "%zu bytes in %s\n", e->seen, e->pieces > 1 ? "several pieces" : "one piece") > 0);
        free(e);
        assert_int_equal(server_request_respond(r, 200, NULL, 0, text, strlen(text), free, text), 0);
}

static void buffered(ServerRequest *r, const void *body, size_t n, void *userdata) {
        char *text;

        assert_true(asprintf(&text, "buffered %zu: %.*s", n, (int) n, (const char *) body) > 0);
        assert_int_equal(server_request_respond(r, 200, NULL, 0, text, strlen(text), free, text), 0);
}

static void on_abort(ServerRequest *r, void *userdata) {
        fixture->aborted++;
}

static void handler(ServerRequest *r, void *userdata) {
        const HttpRequest *h = server_request_http(r);
        const char *p = h->path;

        if (streq(p, "/chunked"))
                stream(r, -1, false, "hello ", "world", NULL);
        else if (streq(p, "/waiting"))
                stream(r, -1, true, "one ", "two ", "three");
        else if (streq(p, "/length"))
                stream(r, 11, true, "hello ", "world", NULL);
        else if (streq(p, "/liar"))
                stream(r, 20, false, "short", NULL, NULL);
        else if (streq(p, "/echo"))
                assert_int_equal(server_request_stream_body(r, echo_data, echo_end, calloc(1, sizeof(Echo))), 0);
        else if (streq(p, "/buffered")) {
                int k = server_request_read_body(r, 1024, buffered, NULL);

                if (k == -EFBIG)
                        assert_int_equal(server_request_respond_status(r, 413, NULL, 0), 0);
                else
                        assert_int_equal(k, 0);
        }
        else if (streq(p, "/never"))
                server_request_on_abort(r, on_abort, NULL);
        else {
                static const char text[] = "plain";

                assert_int_equal(server_request_respond(r, 200, NULL, 0, text, STRLEN(text), NULL, NULL), 0);
        }
}

/* ---- clients ---- */

typedef struct Client {
        const char *send;
        size_t send_len;
        bool half_close; /* shut down our side after sending */
        bool hang_up;    /* close after sending, without reading */
        const char *command; /* instead: run this shell command (curl), its stdout is the answer */
        StrBuf got;
        bool closed; /* the server closed the connection */
} Client;

static void client_main(void *userdata) {
        Client *cl = userdata;
        char buf[65536];

        if (cl->command) {
                FILE *f = popen(cl->command, "r");
                size_t k;

                assert_non_null(f);
                while ((k = fread(buf, 1, sizeof buf, f)) > 0)
                        assert_int_equal(strbuf_append(&cl->got, buf, k), 0);
                assert_int_equal(pclose(f), 0);
        } else {
                int fd = server_fixture_connect(&fixture->base, 5);

                assert_int_equal(send(fd, cl->send, cl->send_len, MSG_NOSIGNAL), (ssize_t) cl->send_len);
                if (cl->half_close)
                        shutdown(fd, SHUT_WR);
                if (!cl->hang_up)
                        for (;;) {
                                ssize_t k = recv(fd, buf, sizeof buf, 0);

                                if (k <= 0) {
                                        cl->closed = k == 0;
                                        break;
                                }
                                assert_int_equal(strbuf_append(&cl->got, buf, (size_t) k), 0);
                        }
                close(fd);
        }
}

/* Runs one client against the server until it is done; returns what it received. */
static char *run(Client *cl) {
        server_fixture_run(&fixture->base, client_main, cl);
        return cl->got.data ?: strdup("");
}

static char *exchange(const char *request, bool half_close, bool *ret_closed) {
        Client cl = {.send = request, .send_len = strlen(request), .half_close = half_close};
        char *got = run(&cl);

        if (ret_closed)
                *ret_closed = cl.closed;
        return got;
}

/* The response without its Date line, which changes. */
static char *strip_date(char *s) {
        char *d = strstr(s, "Date: ");

        if (d) {
                char *e = strstr(d, "\r\n");
                memmove(d, e + 2, strlen(e + 2) + 1);
        }
        return s;
}

/* ---- tests ---- */

static void test_chunked(void **state) {
        _cleanup_free_ char *got = exchange("GET /chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false, NULL);

        assert_string_equal(strip_date(got), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                                             "6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n");
}

static void test_waiting_producer(void **state) {
        _cleanup_free_ char *got = exchange("GET /waiting HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false, NULL);

        assert_non_null(strstr(got, "\r\n\r\n4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n"));
}

static void test_length_and_keep_alive(void **state) {
        bool closed;
        _cleanup_free_ char *got = exchange("GET /length HTTP/1.1\r\nHost: x\r\n\r\n"
                                            "GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n"
                                            "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n",
                                            true, &closed);

        /* three answers in order on one connection; the client's half-close ends it after the last */
        assert_string_equal(strip_date(strip_date(strip_date(got))),
                            "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"
                            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"
                            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain");
        assert_true(closed);
}

static void test_http10_and_head(void **state) {
        bool closed;
        _cleanup_free_ char *got = exchange("GET /chunked HTTP/1.0\r\n\r\n", false, &closed);
        _cleanup_free_ char *head = NULL;

        /* HTTP/1.0 has no chunked coding: the body ends with the connection */
        assert_string_equal(strip_date(got), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello world");
        assert_true(closed);

        head = exchange("HEAD /length HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false, NULL);
        assert_string_equal(strip_date(head), "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n");
}

static void test_lying_producer(void **state) {
        bool closed;
        _cleanup_free_ char *got = exchange("GET /liar HTTP/1.1\r\nHost: x\r\n\r\n", false, &closed);

        /* 20 bytes promised, 5 given: the framing would be lost, so the connection closes instead */
        assert_null(strstr(got, "short"));
        assert_true(closed);
}

static void test_streamed_body(void **state) {
        _cleanup_free_ char *big = malloc(200001), *request = NULL, *got = NULL;

        memset(big, 'b', 200000);
        big[200000] = '\0';
        assert_true(asprintf(&request,
                             "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\nConnection: close\r\n\r\n%s",
                             big) > 0);
        got = exchange(request, false, NULL);
        assert_non_null(strstr(got, "\r\n\r\n200000 bytes in several pieces\n"));

        free(got);
        got = exchange("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                       "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
                       false, NULL);
        assert_non_null(strstr(got, "\r\n\r\n7 bytes in several pieces\n"));
}

static void test_buffered_body_and_100_continue(void **state) {
        _cleanup_free_ char *got = exchange("POST /buffered HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                                            "Expect: 100-continue\r\nConnection: close\r\n\r\nabc",
                                            false, NULL);

        assert_true(startswith(got, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"));
        assert_non_null(strstr(got, "\r\n\r\nbuffered 3: abc"));

        free(got);
        got = exchange("POST /buffered HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n", false, NULL);
        assert_true(startswith(got, "HTTP/1.1 413 "));
}

static void test_abort(void **state) {
        static const char request[] = "GET /never HTTP/1.1\r\nHost: x\r\n\r\n";
        Client cl = {.send = request, .send_len = STRLEN(request), .hang_up = true};
        _cleanup_free_ char *got = NULL;

        fixture->aborted = 0;
        got = run(&cl);
        /* the server notices the closed connection on its next turn */
        for (int i = 0; i < 50 && fixture->aborted == 0; i++)
                assert_true(sd_event_run(fixture->base.event, 10000) >= 0);
        assert_int_equal(fixture->aborted, 1);
        assert_int_equal(server_n_connections(fixture->base.server), 0);
}

static void test_http2(void **state) {
        _cleanup_free_ char *cmd = NULL, *got = NULL;
        char body[] = "/tmp/test-front-server-XXXXXX";
        Client cl = {};
        int fd;

        /* nghttp, since curl 7.88 cannot reuse an h2c connection with prior knowledge (nginx fails alike) */
        if (system("command -v nghttp >/dev/null") != 0)
                skip();
        fd = mkstemp(body);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "abcdefg", 7), 7);
        close(fd);
        assert_true(asprintf(&cmd,
                             "nghttp http://127.0.0.1:%u/waiting && echo && nghttp http://127.0.0.1:%u/length && echo && "
                             "nghttp -d %s http://127.0.0.1:%u/echo",
                             fixture->base.port, fixture->base.port, body, fixture->base.port) > 0);
        cl.command = cmd;
        got = run(&cl);
        unlink(body);
        assert_string_equal(got, "one two three\nhello world\n7 bytes in one piece\n");
}

static int setup(void **state) {
        static Fixture f;
        ServerLimits l = server_fixture_limits(5000000);

        fixture = &f;
        if (server_fixture_init(&f.base, &l, handler, NULL) < 0)
                return -1;
        *state = &f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        server_fixture_done(&f->base);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_chunked),
                cmocka_unit_test(test_waiting_producer),
                cmocka_unit_test(test_length_and_keep_alive),
                cmocka_unit_test(test_http10_and_head),
                cmocka_unit_test(test_lying_producer),
                cmocka_unit_test(test_streamed_body),
                cmocka_unit_test(test_buffered_body_and_100_continue),
                cmocka_unit_test(test_abort),
                cmocka_unit_test(test_http2),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
