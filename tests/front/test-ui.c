/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The ui-<hostId> hosts end to end (front/ui.h): a real Server on loopback whose handler routes by Host to
 * ui_handle(), and a fake grain: a Unix listening socket where a fake bridge hands over connections to a small
 * HTTP/1.1 app on a loopback TCP port (grain-util.h, GRAIN_HANDOVER_BYTE), each on threads of its own; and
 * grains whose "bridge" answers the hand-over with what no grain may hand over. The server runs on this
 * thread's sd-event loop; each client runs on a thread and ends the loop when done.
 */

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "basic/random-util.h"
#include "basic/string-util.h"
#include "front/route.h"
#include "front/server.h"
#include "front/ui.h"
#include "grain/grain-util.h"
#include "server-fixture.h"

#define MSEC UINT64_C(1000)
#define BIG_SIZE ((size_t) 3 << 20)

/* A listening socket whose connections each get a thread of its own, until the socket is shut down. */
typedef struct Acceptor {
        int fd;
        void *(*conn_main)(void *userdata); /* given the accepted descriptor */
        pthread_t thread;
} Acceptor;

typedef struct Fixture {
        ServerFixture base;
        RouteConfig *route;
        Ui *ui;
        char dir[64], grain_path[128], dead_path[128];
        Acceptor grain;       /* the grain's Unix socket, where the fake bridge accepts */
        Acceptor app;         /* the fake app's TCP socket */
        uint16_t app_port;
        unsigned accepted;     /* connections the app accepted */
        unsigned leases;       /* hand-overs the bridge made */
        unsigned leases_closed; /* leases granaryd closed */
        int bad_peers[16];     /* the other ends of the hostile grains' sockets, closed by the test */
        size_t n_bad_peers;
        pthread_mutex_t lock;
} Fixture;

static Fixture *fixture;

/* ---- the fake grain ---- */

/* The counters the grain's threads keep, read and written under the lock. */
static unsigned counter(const unsigned *p) {
        unsigned n;

        pthread_mutex_lock(&fixture->lock);
        n = *p;
        pthread_mutex_unlock(&fixture->lock);
        return n;
}

static unsigned counter_inc(unsigned *p) {
        unsigned n;

        pthread_mutex_lock(&fixture->lock);
        n = ++*p;
        pthread_mutex_unlock(&fixture->lock);
        return n;
}

static unsigned grain_accepted(void) {
        return counter(&fixture->accepted);
}

/* Reads one request head (up to the empty line) into head, and the bytes after it into rest. */
static bool grain_read_head(int fd, StrBuf *head, StrBuf *rest) {
        char buf[8192];

        strbuf_truncate(head, 0);
        if (rest->len > 0) {
                assert_int_equal(strbuf_append(head, rest->data, rest->len), 0);
                strbuf_truncate(rest, 0);
        }
        for (;;) {
                char *end = head->data ? strstr(head->data, "\r\n\r\n") : NULL;
                ssize_t k;

                if (end) {
                        size_t n = (size_t) (end + 4 - head->data);

                        assert_int_equal(strbuf_append(rest, head->data + n, head->len - n), 0);
                        strbuf_truncate(head, n);
                        return true;
                }
                k = recv(fd, buf, sizeof buf, 0);
                if (k <= 0)
                        return false;
                assert_int_equal(strbuf_append(head, buf, (size_t) k), 0);
        }
}

static void send_all(int fd, const void *p, size_t n) {
        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

                if (k <= 0)
                        return;
                p = (const char *) p + k;
                n -= (size_t) k;
        }
}

static void send_str(int fd, const char *s) {
        send_all(fd, s, strlen(s));
}

static void *grain_conn_main(void *userdata) {
        int fd = (int) (intptr_t) userdata;
        _cleanup_strbuf_ StrBuf head = STRBUF_INIT, rest = STRBUF_INIT;
        unsigned conn = counter_inc(&fixture->accepted), served = 0;

        while (grain_read_head(fd, &head, &rest)) {
                char path[256] = "";
                _cleanup_free_ char *reply = NULL;

                served++;
                assert_int_equal(sscanf(head.data, "%*s %255s", path), 1);
                if (streq(path, "/headers")) {
                        assert_true(asprintf(&reply, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                                                     "Set-Cookie: g=1; Domain=granary.localhost; Path=/\r\n\r\n%s",
                                             head.len, head.data) > 0);
                        send_str(fd, reply);
                } else if (streq(path, "/count")) {
                        char body[64];

                        snprintf(body, sizeof body, "conn %u request %u", conn, served);
                        assert_true(asprintf(&reply, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(body),
                                             body) > 0);
                        send_str(fd, reply);
                } else if (streq(path, "/many")) {
                        /* more fields than a parser holds without an allocation, a cookie to rewrite, and
                         * trailers after a chunked body */
                        _cleanup_strbuf_ StrBuf r = STRBUF_INIT;

                        assert_int_equal(strbuf_append_str(&r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"), 0);
                        for (int i = 0; i < 40; i++)
                                assert_int_equal(strbuf_printf(&r, "X-Field-%d: value %d\r\n", i, i), 0);
                        assert_int_equal(strbuf_append_str(&r, "Set-Cookie: m=1;Domain=granary.localhost;Path=/\r\n\r\n"
                                                               "4\r\nmany\r\n0\r\nX-Trailer: t\r\n\r\n"),
                                         0);
                        send_all(fd, r.data, r.len);
                } else if (streq(path, "/chunked")) {
                        send_str(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     "6\r\nhello \r\n");
                        usleep(20000);
                        send_str(fd, "5\r\nworld\r\n0\r\n\r\n");
                } else if (streq(path, "/echo")) {
                        /* streams the body back as it comes: Content-Length in, Content-Length out */
                        const char *cl = strcasestr(head.data, "\r\nContent-Length: ");
                        size_t left;
                        char buf[65536];

                        assert_non_null(cl);
                        left = strtoull(cl + 18, NULL, 10);
                        assert_true(asprintf(&reply, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", left) > 0);
                        send_str(fd, reply);
                        if (rest.len > 0) {
                                send_all(fd, rest.data, rest.len);
                                left -= rest.len;
                                strbuf_truncate(&rest, 0);
                        }
                        while (left > 0) {
                                ssize_t k = recv(fd, buf, MIN(sizeof buf, left), 0);

                                if (k <= 0)
                                        break;
                                send_all(fd, buf, (size_t) k);
                                left -= (size_t) k;
                        }
                } else if (startswith(path, "/ws")) {
                        /* a WebSocket echo of raw bytes: "hello" right behind the 101, then "echo:<bytes>" */
                        const char *key = strcasestr(head.data, "\r\nSec-WebSocket-Key: ");
                        char text[128], accept[29], buf[4096];
                        uint8_t digest[SHA_DIGEST_LENGTH];
                        ssize_t k;

                        assert_non_null(key);
                        snprintf(text, sizeof text, "%.24s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key + 21);
                        SHA1((const unsigned char *) text, strlen(text), digest);
                        EVP_EncodeBlock((unsigned char *) accept, digest, sizeof digest);
                        if (streq(path, "/ws-bad"))
                                accept[0] ^= 1;
                        assert_true(asprintf(&reply, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                                                     "Sec-WebSocket-Protocol: chat\r\n\r\nhello",
                                             accept) > 0);
                        send_str(fd, reply);
                        while ((k = recv(fd, buf + 5, sizeof buf - 5, 0)) > 0) {
                                memcpy(buf, "echo:", 5);
                                send_all(fd, buf, (size_t) k + 5);
                        }
                        break;
                } else if (streq(path, "/close")) {
                        send_str(fd, "HTTP/1.1 200 OK\r\nContent-Le");
                        break;
                } else if (streq(path, "/bye")) {
                        /* a whole keep-alive answer, then the grain closes the idle connection */
                        send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbye");
                        break;
                } else if (streq(path, "/cut")) {
                        send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this");
                        break;
                } else if (streq(path, "/bad")) {
                        send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc");
                } else if (streq(path, "/stall")) {
                        char b;

                        (void) recv(fd, &b, 1, 0); /* until granaryd gives up and closes */
                        break;
                } else {
                        send_str(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                }
        }
        close(fd);
        return NULL;
}

static void *acceptor_main(void *userdata) {
        Acceptor *a = userdata;

        for (;;) {
                int fd = accept4(a->fd, NULL, NULL, SOCK_CLOEXEC);
                pthread_t t;

                if (fd < 0)
                        return NULL;
                assert_int_equal(pthread_create(&t, NULL, a->conn_main, (void *) (intptr_t) fd), 0);
                pthread_detach(t);
        }
}

/* Takes fd, a listening socket. */
static int acceptor_start(Acceptor *a, int fd, void *(*conn_main)(void *userdata)) {
        *a = (Acceptor) {.fd = fd, .conn_main = conn_main};
        return -pthread_create(&a->thread, NULL, acceptor_main, a);
}

/* The thread's accept4() fails once its socket is shut down. */
static void acceptor_stop(Acceptor *a) {
        shutdown(a->fd, SHUT_RDWR);
        pthread_join(a->thread, NULL);
        close(a->fd);
}

/* A new connection to the fake app, as the bridge makes it. */
static int app_connect(void) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(fixture->app_port)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *) &a, sizeof a), 0);
        return fd;
}

/* Sends the byte with the n descriptors attached (none for n == 0). */
static void send_fds(int fd, uint8_t byte, const int *fds, size_t n) {
        union {
                struct cmsghdr h;
                uint8_t buf[CMSG_SPACE(sizeof(int) * 4)];
        } control = {};
        struct iovec iov = {&byte, 1};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

        assert_true(n <= 4);
        if (n > 0) {
                struct cmsghdr *c;

                mh.msg_control = &control;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
        }
        assert_int_equal(sendmsg(fd, &mh, MSG_NOSIGNAL), 1);
}

/* The fake bridge, for one connection to the grain's socket: the hand-over, then the lease until granaryd
 * closes it. */
static void *grain_lease_main(void *userdata) {
        int fd = (int) (intptr_t) userdata, app;
        uint8_t byte;

        if (recv(fd, &byte, 1, 0) == 1 && byte == GRAIN_HANDOVER_BYTE) {
                app = app_connect();
                send_fds(fd, GRAIN_HANDOVER_BYTE, &app, 1);
                close(app);
                counter_inc(&fixture->leases);
                while (recv(fd, &byte, 1, 0) > 0)
                        ;
                counter_inc(&fixture->leases_closed);
        }
        close(fd);
        return NULL;
}

/* "bad-<what>": a grain whose bridge answers the hand-over with <what>, on a socket pair. */
static int bad_grain_connect(const char *what, int *ret_fd) {
        int sp[2], fds[2] = {-EBADF, -EBADF};

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
        assert_true(fixture->n_bad_peers < ELEMENTSOF(fixture->bad_peers));
        fixture->bad_peers[fixture->n_bad_peers++] = sp[1];
        if (streq(what, "eof"))
                assert_int_equal(shutdown(sp[1], SHUT_WR), 0);
        else if (streq(what, "none"))
                send_fds(sp[1], GRAIN_HANDOVER_BYTE, NULL, 0);
        else if (streq(what, "byte")) {
                fds[0] = app_connect();
                send_fds(sp[1], 'x', fds, 1);
        } else if (streq(what, "two")) {
                fds[0] = app_connect();
                fds[1] = app_connect();
                send_fds(sp[1], GRAIN_HANDOVER_BYTE, fds, 2);
        } else if (streq(what, "unix")) {
                int other[2];

                assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, other), 0);
                fds[0] = other[0];
                fds[1] = other[1];
                send_fds(sp[1], GRAIN_HANDOVER_BYTE, fds, 1);
        } else if (streq(what, "dgram")) {
                fds[0] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                send_fds(sp[1], GRAIN_HANDOVER_BYTE, fds, 1);
        } else if (streq(what, "file")) {
                fds[0] = open("/dev/null", O_RDWR | O_CLOEXEC);
                send_fds(sp[1], GRAIN_HANDOVER_BYTE, fds, 1);
        } else
                fail_msg("unknown bad grain %s", what);
        for (size_t i = 0; i < 2; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        assert_int_equal(fcntl(sp[0], F_SETFL, O_NONBLOCK | O_RDWR), 0);
        *ret_fd = sp[0];
        return 0;
}

static int grain_connect(const char *grain_id, int *ret_fd, void *userdata) {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        int fd;

        if (streq(grain_id, "missing"))
                return -ENOENT;
        if (streq(grain_id, "starting"))
                return -EAGAIN;
        if (startswith(grain_id, "bad-"))
                return bad_grain_connect(grain_id + 4, ret_fd);
        strcpy(a.sun_path, streq(grain_id, "dead") ? fixture->dead_path : fixture->grain_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &a, sizeof a) < 0 && errno != EINPROGRESS && errno != EAGAIN) {
                int r = -errno;

                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

/* ---- the server ---- */

static void handler(ServerRequest *r, void *userdata) {
        const HttpRequest *h = server_request_http(r);
        const char *id;
        size_t id_len;

        if (h->authority && route_host(fixture->route, h->authority, h->authority_len, false, &id, &id_len) == ROUTE_UI)
                ui_handle(fixture->ui, r, id, id_len);
        else
                assert_int_equal(server_request_respond_status(r, 404, NULL, 0), 0);
}

/* ---- clients ---- */

typedef struct Client {
        const char *send;
        size_t send_len;
        const char *send2; /* then, on the same connection, once the first answer is in */
        bool sender_thread; /* send from a thread of its own while reading slowly */
        bool slow;
        StrBuf got;
} Client;

static int client_socket(void) {
        return server_fixture_connect(&fixture->base, 3);
}

typedef struct Sender {
        int fd;
        const char *p;
        size_t n;
} Sender;

static void *sender_main(void *userdata) {
        Sender *s = userdata;

        send_all(s->fd, s->p, s->n);
        return NULL;
}

/* A WebSocket client over HTTP/1.1: the upgrade, then "ping" and the echo, then a half-close. */
static void ws_client_main(void *userdata) {
        Client *cl = userdata;
        char buf[4096];
        int fd = client_socket();
        bool pinged = false;

        send_all(fd, cl->send, cl->send_len);
        for (;;) {
                ssize_t k = recv(fd, buf, sizeof buf, 0);

                if (k <= 0)
                        break;
                assert_int_equal(strbuf_append(&cl->got, buf, (size_t) k), 0);
                if (!pinged && startswith(cl->got.data, "HTTP/1.1 101 ") && endswith(cl->got.data, "\r\n\r\nhello")) {
                        send_str(fd, "ping");
                        pinged = true;
                }
                if (pinged && endswith(cl->got.data, "echo:ping"))
                        shutdown(fd, SHUT_WR);
        }
        close(fd);
}

static void client_main(void *userdata) {
        Client *cl = userdata;
        char buf[65536];
        int fd = client_socket();
        pthread_t t;
        Sender s = {fd, cl->send, cl->send_len};

        if (cl->sender_thread)
                assert_int_equal(pthread_create(&t, NULL, sender_main, &s), 0);
        else
                send_all(fd, cl->send, cl->send_len);
        for (;;) {
                ssize_t k = recv(fd, buf, cl->slow ? 4096 : sizeof buf, 0);

                if (k <= 0)
                        break;
                assert_int_equal(strbuf_append(&cl->got, buf, (size_t) k), 0);
                if (cl->slow)
                        usleep(200);
                if (cl->send2 && strstr(cl->got.data, "\r\n\r\n")) {
                        send_str(fd, cl->send2);
                        cl->send2 = NULL;
                }
        }
        if (cl->sender_thread)
                pthread_join(t, NULL);
        close(fd);
}

static char *run_with(Client *cl, void (*main_fn)(void *userdata)) {
        server_fixture_run(&fixture->base, main_fn, cl);
        return cl->got.data ?: strdup("");
}

static char *run(Client *cl) {
        return run_with(cl, client_main);
}

static char *exchange(const char *request) {
        Client cl = {.send = request, .send_len = strlen(request)};

        return run(&cl);
}

/* Runs the loop a little, for what happens after a client is done (pool watchers, timers). */
static void spin(uint64_t usec) {
        uint64_t end, now;

        assert_int_equal(sd_event_now(fixture->base.event, CLOCK_MONOTONIC, &now), 0);
        end = now + usec;
        while (sd_event_now(fixture->base.event, CLOCK_MONOTONIC, &now) >= 0 && now < end)
                assert_true(sd_event_run(fixture->base.event, end - now) >= 0);
}

/* ---- sessions for the tests ---- */

typedef struct Session {
        char *url, *host, *id, *authority;
} Session;

static void session_done(Session *s) {
        free(s->url);
        free(s->host);
        free(s->authority);
}

static Session session_open(const char *grain_id, const char *path) {
        const char *perms[] = {"read", "write", NULL};
        UiSessionParams p = {
                .grain_id = grain_id,
                .user_id = 5,
                .identity_id = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
                .display_name = "Kurt Friedrich Gödel",
                .permissions = perms,
                .user_agent = "TestAgent/1",
        };
        Session s = {};

        assert_int_equal(ui_session_open(fixture->ui, &p, path, &s.url, &s.host), 0);
        s.id = strstr(s.url, "sessionid=") + 10;
        assert_true(asprintf(&s.authority, "%s.granary.localhost:%u", s.host, fixture->base.port) > 0);
        return s;
}

/* "<method> <target>" on authority, with the cookie of session id sid (NULL: no cookie) and the extra header
 * lines, on a connection of its own. */
static char *exchange_on(const char *method, const char *target, const char *authority, const char *sid,
                         const char *extra) {
        _cleanup_free_ char *req = NULL, *cookie = NULL;

        if (sid)
                assert_true(asprintf(&cookie, "Cookie: sandstorm-sid=%.64s\r\n", sid) > 0);
        assert_true(asprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\n%s%sConnection: close\r\n\r\n", method,
                             target, authority, cookie ?: "", extra ?: "") > 0);
        return exchange(req);
}

static char *get(const Session *s, const char *path, const char *extra) {
        return exchange_on("GET", path, s->authority, s->id, extra);
}

static char *exchange_head(const Session *s, const char *path) {
        return exchange_on("HEAD", path, s->authority, s->id, NULL);
}

/* GET path in the session, with the extra header lines: the answer starts with want. */
static void assert_get(const Session *s, const char *path, const char *extra, const char *want) {
        _cleanup_free_ char *got = get(s, path, extra);

        if (!startswith(got, want))
                fail_msg("GET %s: %.40s", path, got);
}

/* The init redirect of the session on its host, with session id sid and the query's rest. */
static char *get_init(const Session *s, const char *sid, const char *query_rest) {
        _cleanup_free_ char *target = NULL;

        assert_true(asprintf(&target, "/_sandstorm-init?sessionid=%.64s%s", sid, query_rest) > 0);
        return exchange_on("GET", target, s->authority, NULL, NULL);
}

static const char *body_of(const char *response) {
        const char *b = strstr(response, "\r\n\r\n");

        assert_non_null(b);
        return b + 4;
}

/* ---- tests ---- */

static void test_init(void **state) {
        Session s = session_open("g1", "/notes?x=1&y=ö");
        _cleanup_free_ char *got = NULL, *expected = NULL;
        char bad_id[65];
        static const char *const bad_paths[] = {"%2F%2Fevil.example", "%5Cevil", "javascript%3Aalert(1)",
                                                "https%3A%2F%2Fevil", "%2Fa%0D%0ASet-Cookie%3A%20x", "%zz"};

        assert_true(asprintf(&expected, "http://%s/_sandstorm-init?sessionid=", s.authority) > 0);
        assert_true(startswith(s.url, expected));
        assert_true(endswith(s.url, "&path=%2Fnotes%3Fx%3D1%26y%3D%C3%B6"));
        assert_int_equal(strlen(s.host), 3 + 32);

        got = get_init(&s, s.id, "&path=%2Fnotes%3Fx%3D1");
        free(expected);
        assert_true(asprintf(&expected, "Set-Cookie: sandstorm-sid=%.64s; Path=/; HttpOnly; SameSite=Lax\r\n", s.id) > 0);
        assert_true(startswith(got, "HTTP/1.1 303 See Other\r\n"));
        assert_non_null(strstr(got, "\r\nLocation: /notes?x=1\r\n"));
        assert_non_null(strstr(got, expected));

        /* a path without its "/" gets one */
        free(got);
        got = get_init(&s, s.id, "&path=a%2Fb");
        assert_true(startswith(got, "HTTP/1.1 303 "));
        assert_non_null(strstr(got, "\r\nLocation: /a/b\r\n"));

        /* anything that is not a path */
        for (size_t i = 0; i < ELEMENTSOF(bad_paths); i++) {
                _cleanup_free_ char *rest = NULL;

                free(got);
                assert_true(asprintf(&rest, "&path=%s", bad_paths[i]) > 0);
                got = get_init(&s, s.id, rest);
                assert_true(startswith(got, "HTTP/1.1 400 "));
                assert_null(strstr(got, "Set-Cookie"));
        }
        /* the wrong id, and a third parameter */
        memcpy(bad_id, s.id, 64);
        bad_id[64] = '\0';
        bad_id[0] = bad_id[0] == 'a' ? 'b' : 'a';
        free(got);
        got = get_init(&s, bad_id, "&path=%2F");
        assert_true(startswith(got, "HTTP/1.1 404 "));
        assert_null(strstr(got, "Set-Cookie"));
        free(got);
        got = get_init(&s, s.id, "&path=%2F&x=1");
        assert_true(startswith(got, "HTTP/1.1 400 "));
        session_done(&s);
}

static void test_cookie_and_origin(void **state) {
        Session s = session_open("g1", NULL), other = session_open("g1", NULL);
        _cleanup_free_ char *got = NULL, *origin = NULL, *nobody = NULL;

        /* no cookie */
        got = exchange_on("GET", "/count", s.authority, NULL, NULL);
        assert_true(startswith(got, "HTTP/1.1 403 Forbidden\r\n"));
        assert_string_equal(body_of(got), "403 Unauthorized due to missing cookie\n");
        /* another session's cookie */
        free(got);
        got = exchange_on("GET", "/count", s.authority, other.id, NULL);
        assert_true(startswith(got, "HTTP/1.1 403 "));
        /* a foreign Origin; then the session's own, and "null" */
        free(got);
        got = get(&s, "/count", "Origin: http://granary.localhost\r\n");
        assert_true(startswith(got, "HTTP/1.1 403 "));
        assert_string_equal(body_of(got), "403 CSRF not allowed\n");
        assert_true(asprintf(&origin, "Origin: http://%s\r\n", s.authority) > 0);
        assert_get(&s, "/count", origin, "HTTP/1.1 200 OK\r\n");
        assert_get(&s, "/count", "Origin: null\r\n", "HTTP/1.1 200 OK\r\n");
        /* a host nobody opened */
        free(got);
        assert_true(asprintf(&nobody, "ui-0123456789abcdef0123456789abcdef.granary.localhost:%u",
                             fixture->base.port) > 0);
        got = exchange_on("GET", "/", nobody, s.id, NULL);
        assert_true(startswith(got, "HTTP/1.1 403 "));
        session_done(&s);
        session_done(&other);
}

static void test_headers_the_app_sees(void **state) {
        Session s = session_open("g1", NULL);
        _cleanup_free_ char *got = NULL, *expected = NULL, *csp = NULL;
        const char *b;

        got = get(&s, "/headers",
                  "X-Sandstorm-User-Id: forged\r\nX-Forwarded-For: 1.2.3.4\r\nAuthorization: Basic eA==\r\n"
                  "Cookie: mine=1; __Host-granary-session=secret\r\nRange: bytes=0-1\r\n");
        assert_true(startswith(got, "HTTP/1.1 200 OK\r\n"));
        /* the response: Domain gone from the grain's cookie; frame-ancestors and Referrer-Policy added */
        assert_non_null(strstr(got, "\r\nSet-Cookie: g=1; Path=/\r\n"));
        assert_true(asprintf(&csp, "\r\nContent-Security-Policy: frame-ancestors http://granary.localhost:%u http://%s\r\n",
                             fixture->base.port, s.authority) > 0);
        assert_non_null(strstr(got, csp));
        assert_non_null(strstr(got, "\r\nReferrer-Policy: same-origin\r\n"));

        b = body_of(got);
        assert_true(asprintf(&expected,
                             "GET /headers HTTP/1.1\r\n"
                             "Accept-Language: en-US,en\r\n"
                             "User-Agent: TestAgent/1\r\n"
                             "X-Sandstorm-Tab-Id: %s\r\n"
                             "X-Sandstorm-Username: Kurt%%20Friedrich%%20G%%C3%%B6del\r\n"
                             "X-Sandstorm-User-Id: 00112233445566778899aabbccddeeff\r\n"
                             "X-Sandstorm-Session-Type: normal\r\n"
                             "X-Sandstorm-Permissions: read,write\r\n"
                             "X-Sandstorm-Base-Path: http://%s\r\n"
                             "Host: %s\r\n"
                             "X-Forwarded-Proto: http\r\n",
                             "", s.authority, s.authority) > 0);
        /* the tab id is checked by test-sessions; here: everything around it */
        assert_true(startswith(b, "GET /headers HTTP/1.1\r\nAccept-Language: en-US,en\r\nUser-Agent: TestAgent/1\r\n"
                                  "X-Sandstorm-Tab-Id: "));
        assert_non_null(strstr(b, "\r\nX-Sandstorm-Username: Kurt%20Friedrich%20G%C3%B6del\r\n"
                                  "X-Sandstorm-User-Id: 00112233445566778899aabbccddeeff\r\n"
                                  "X-Sandstorm-Session-Type: normal\r\nX-Sandstorm-Permissions: read,write\r\n"));
        assert_non_null(strstr(b, "\r\nCookie: mine=1\r\nRange: bytes=0-1\r\n\r\n"));
        assert_null(strstr(b, "forged"));
        assert_null(strstr(b, "1.2.3.4"));
        assert_null(strstr(b, "Authorization"));
        assert_null(strstr(b, "secret"));
        assert_null(strstr(b, "sandstorm-sid"));
        session_done(&s);
}

static void test_keep_alive_reuse(void **state) {
        Session s = session_open("g2", NULL);
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
        unsigned before;

        spin(10 * MSEC);
        before = grain_accepted();
        a = get(&s, "/count", NULL);
        b = get(&s, "/count", NULL);
        c = get(&s, "/chunked", NULL);
        /* one grain connection for all three, from two client connections each */
        assert_true(startswith(a, "HTTP/1.1 200 OK\r\n"));
        assert_string_equal(body_of(b) - 0, strstr(body_of(b), "conn"));
        assert_true(endswith(a, " request 1"));
        assert_true(endswith(b, " request 2"));
        assert_int_equal(strtoul(body_of(a) + 5, NULL, 10), strtoul(body_of(b) + 5, NULL, 10));
        assert_int_equal(grain_accepted(), before + 1);
        /* chunked from the app (after a 100 Continue, which is dropped), chunked to the client */
        assert_true(startswith(c, "HTTP/1.1 200 OK\r\n"));
        assert_non_null(strstr(c, "\r\nTransfer-Encoding: chunked\r\n"));
        assert_true(endswith(c, "\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"));
        session_done(&s);
}

/* Calls are reused, and so are their parsers: a response with many fields, a rewritten cookie and trailers,
 * then on the same grain connection a small one, which has none of them. */
static void test_many_fields_then_few(void **state) {
        Session s = session_open("g10", NULL);
        _cleanup_free_ char *a = NULL, *b = NULL;
        _cleanup_strbuf_ StrBuf want = STRBUF_INIT;
        unsigned before;

        spin(10 * MSEC);
        before = grain_accepted();
        a = get(&s, "/many", NULL);
        b = get(&s, "/count", NULL);
        for (int i = 0; i < 40; i++)
                assert_int_equal(strbuf_printf(&want, "\r\nX-Field-%d: value %d", i, i), 0);
        assert_int_equal(strbuf_append_str(&want, "\r\nSet-Cookie: m=1; Path=/\r\nContent-Security-Policy: "), 0);
        assert_true(startswith(a, "HTTP/1.1 200 OK\r\n"));
        if (!strstr(a, want.data))
                fail_msg("got %s", a);
        assert_null(strstr(a, "X-Trailer"));
        assert_non_null(strstr(body_of(a), "many"));
        assert_true(startswith(b, "HTTP/1.1 200 OK\r\n"));
        assert_true(endswith(b, " request 2"));
        assert_null(strstr(b, "X-Field"));
        assert_null(strstr(b, "Set-Cookie"));
        assert_int_equal(grain_accepted(), before + 1);
        session_done(&s);
}

/* A pooled connection the grain closes leaves the pool at its EOF; one idle past pool_idle_usec is closed by
 * the sweep; a HEAD keeps the app's Content-Length. */
static void test_pool_closed_and_idle(void **state) {
        Session s = session_open("g8", NULL);
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL;
        UiConfig quick = {
                .response_timeout_usec = 300 * MSEC,
                .pool_idle_usec = 40 * MSEC,
                .pool_max_per_grain = 4,
                .session_idle_usec = 60000 * MSEC,
        }, normal = quick;
        unsigned before;
        char want[64];

        a = get(&s, "/bye", NULL);
        assert_string_equal(a + strlen(a) - 3, "bye");
        assert_true(startswith(a, "HTTP/1.1 200 OK\r\n"));
        assert_non_null(strstr(a, "\r\nContent-Length: 3\r\n"));
        spin(30 * MSEC);
        before = grain_accepted();
        b = get(&s, "/count", NULL);
        assert_true(endswith(b, " request 1"));
        assert_int_equal(grain_accepted(), before + 1);
        c = get(&s, "/count", NULL);
        assert_true(endswith(c, " request 2"));
        assert_int_equal(grain_accepted(), before + 1);

        /* idle past pool_idle_usec (swept at a quarter of it): a new connection */
        assert_int_equal(ui_set_config(fixture->ui, &quick), 0);
        spin(80 * MSEC);
        d = get(&s, "/count", NULL);
        assert_true(endswith(d, " request 1"));
        assert_int_equal(grain_accepted(), before + 2);
        normal.pool_idle_usec = 2000 * MSEC;
        assert_int_equal(ui_set_config(fixture->ui, &normal), 0);

        /* on d's connection, its second request: the length of "conn <n> request 2", no body */
        e = exchange_head(&s, "/count");
        assert_true(startswith(e, "HTTP/1.1 200 OK\r\n"));
        snprintf(want, sizeof want, "\r\nContent-Length: %zu\r\n", strlen(body_of(d)));
        assert_non_null(strstr(e, want));
        assert_true(endswith(e, "\r\n\r\n"));
        session_done(&s);
}

static void test_big_bodies_slow_reader(void **state) {
        Session s = session_open("g3", NULL);
        _cleanup_free_ char *req = NULL, *got = NULL;
        char *body = malloc(BIG_SIZE), *head;
        size_t head_len;
        Client cl = {.sender_thread = true, .slow = true};

        assert_non_null(body);
        for (size_t i = 0; i < BIG_SIZE; i++)
                body[i] = (char) ('a' + (i * 7 + i / 4096) % 26);
        assert_true(asprintf(&head, "POST /echo HTTP/1.1\r\nHost: %s\r\nCookie: sandstorm-sid=%.64s\r\nContent-Length: %zu\r\n"
                                    "Connection: close\r\n\r\n",
                             s.authority, s.id, BIG_SIZE) > 0);
        head_len = strlen(head);
        req = malloc(head_len + BIG_SIZE);
        memcpy(req, head, head_len);
        memcpy(req + head_len, body, BIG_SIZE);
        free(head);
        cl.send = req;
        cl.send_len = head_len + BIG_SIZE;
        got = run(&cl);
        assert_true(startswith(got, "HTTP/1.1 200 OK\r\n"));
        assert_int_equal(cl.got.len - (size_t) (body_of(got) - got), BIG_SIZE);
        assert_memory_equal(body_of(got), body, BIG_SIZE);
        free(body);
        session_done(&s);
}

static void test_errors(void **state) {
        Session s = session_open("g4", NULL), missing = session_open("missing", NULL),
                starting = session_open("starting", NULL), dead = session_open("dead", NULL);
        _cleanup_free_ char *got = NULL;

        /* the grain closes before a whole head: 502, and the next request works */
        assert_get(&s, "/close", NULL, "HTTP/1.1 502 Bad Gateway\r\n");
        assert_get(&s, "/count", NULL, "HTTP/1.1 200 OK\r\n");
        /* bad framing from the app: 502 */
        assert_get(&s, "/bad", NULL, "HTTP/1.1 502 ");
        /* a body cut short: the client's response is cut off too (its framing cannot be kept) */
        got = get(&s, "/cut", NULL);
        assert_true(startswith(got, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n") || startswith(got, "HTTP/1.1 200 OK\r\n"));
        assert_true(endswith(got, "only this"));
        /* a grain that does not exist, one that is starting, one whose socket refuses */
        assert_get(&missing, "/", NULL, "HTTP/1.1 404 ");
        assert_get(&starting, "/", NULL, "HTTP/1.1 503 ");
        assert_get(&dead, "/", NULL, "HTTP/1.1 503 ");
        /* a grain that never answers: 504 after response_timeout */
        assert_get(&s, "/stall", NULL, "HTTP/1.1 504 Gateway Timeout\r\n");
        session_done(&s);
        session_done(&missing);
        session_done(&starting);
        session_done(&dead);
}

/* Spins until *p is want, for at most 2 s; the value then. */
static unsigned counter_wait(const unsigned *p, unsigned want) {
        for (unsigned i = 0; i < 200 && counter(p) != want; i++)
                spin(10 * MSEC);
        return counter(p);
}

static unsigned open_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        unsigned n = 0;

        assert_non_null(d);
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

/* A grain that hands over anything but one byte with one connected TCP socket: 502, and every descriptor
 * that came is closed. */
static void test_handover_refused(void **state) {
        static const char *const kinds[] = {"eof", "none", "byte", "two", "unix", "dgram", "file"};
        unsigned before = open_fds(), after = 0, accepted = grain_accepted();

        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                _cleanup_free_ char *id = NULL, *got = NULL;
                Session s;

                assert_true(asprintf(&id, "bad-%s", kinds[i]) > 0);
                s = session_open(id, NULL);
                got = get(&s, "/count", NULL);
                if (!startswith(got, "HTTP/1.1 502 Bad Gateway\r\n"))
                        fail_msg("%s: %.40s", id, got);
                session_done(&s);
        }
        /* "byte" and "two" connected to the app three times: the app accepts them in its own time, and the
         * next test counts what it accepts */
        for (unsigned i = 0; i < 200 && grain_accepted() != accepted + 3; i++)
                spin(10 * MSEC);
        assert_int_equal(grain_accepted(), accepted + 3);
        for (size_t i = 0; i < fixture->n_bad_peers; i++)
                close(fixture->bad_peers[i]);
        fixture->n_bad_peers = 0;
        /* the app's threads close their ends once granaryd closed the sockets it received */
        for (unsigned i = 0; i < 200 && (after = open_fds()) != before; i++)
                spin(10 * MSEC);
        assert_int_equal(after, before);
}

/* Each connection to the app comes with a lease on the grain's socket, open exactly as long as granaryd
 * keeps the connection: pooled, it stays; closed by the app, or dropped with the grain, it goes. */
static void test_leases(void **state) {
        Session s = session_open("g9", NULL);
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
        unsigned leases = counter(&fixture->leases), closed = counter(&fixture->leases_closed);
        unsigned accepted = grain_accepted();

        a = get(&s, "/count", NULL);
        assert_true(endswith(a, " request 1"));
        assert_int_equal(counter(&fixture->leases), leases + 1);
        spin(20 * MSEC);
        assert_int_equal(counter(&fixture->leases_closed), closed);

        /* on the pooled connection; then the app closes it, and granaryd the lease */
        b = get(&s, "/bye", NULL);
        assert_true(endswith(b, "bye"));
        assert_int_equal(grain_accepted(), accepted + 1);
        assert_int_equal(counter_wait(&fixture->leases_closed, closed + 1), closed + 1);

        c = get(&s, "/count", NULL);
        assert_true(endswith(c, " request 1"));
        assert_int_equal(counter(&fixture->leases), leases + 2);
        ui_drop_grain(fixture->ui, "g9");
        assert_int_equal(counter_wait(&fixture->leases_closed, closed + 2), closed + 2);
        session_done(&s);
}

static void test_drops(void **state) {
        Session s = session_open("g5", NULL), t = session_open("g6", NULL);

        assert_get(&s, "/count", NULL, "HTTP/1.1 200 ");
        ui_drop_grain(fixture->ui, "g5");
        assert_get(&s, "/count", NULL, "HTTP/1.1 403 ");
        assert_get(&t, "/count", NULL, "HTTP/1.1 200 ");
        ui_drop_user(fixture->ui, 5);
        assert_get(&t, "/count", NULL, "HTTP/1.1 403 ");
        session_done(&s);
        session_done(&t);
}

/* An upgrade to a WebSocket at path in the session, with the extra header lines. */
static char *upgrade_request(const Session *s, const char *path, const char *extra) {
        char *req;

        assert_true(asprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nCookie: sandstorm-sid=%.64s\r\n"
                                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                             path, s->authority, s->id, extra) > 0);
        return req;
}

static void test_websocket_h1(void **state) {
        Session s = session_open("g7", NULL);
        _cleanup_free_ char *req = NULL, *got = NULL, *got2 = NULL;
        Client cl = {};

        req = upgrade_request(&s, "/ws", "Sec-WebSocket-Protocol: chat\r\n");
        cl.send = req;
        cl.send_len = strlen(req);
        got = run_with(&cl, ws_client_main);
        /* the app's 101 with its accept (RFC 6455's example key), its first bytes, then the echo, then the end */
        assert_true(startswith(got, "HTTP/1.1 101 Switching Protocols\r\n"));
        assert_non_null(strstr(got, "\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert_non_null(strstr(got, "\r\nSec-WebSocket-Protocol: chat\r\n"));
        assert_non_null(strstr(got, "\r\nUpgrade: websocket\r\n"));
        assert_true(endswith(got, "\r\n\r\nhelloecho:ping"));

        /* an app whose accept is wrong: 502 */
        free(req);
        req = upgrade_request(&s, "/ws-bad", "");
        got2 = exchange(req);
        assert_true(startswith(got2, "HTTP/1.1 502 "));
        session_done(&s);
}

static int setup(void **state) {
        static Fixture f;
        ServerLimits l = server_fixture_limits(5000000);
        UiConfig uc = {
                .response_timeout_usec = 300 * MSEC,
                .pool_idle_usec = 2000 * MSEC,
                .pool_max_per_grain = 4,
                .session_idle_usec = 60000 * MSEC,
        };
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        char base[64], wild[64];
        int fd;

        fixture = &f;
        if (random_init() < 0)
                return -1;
        pthread_mutex_init(&f.lock, NULL);
        strcpy(f.dir, "/tmp/test-front-ui-XXXXXX");
        if (!mkdtemp(f.dir))
                return -1;
        snprintf(f.grain_path, sizeof f.grain_path, "%s/grain.sock", f.dir);
        snprintf(f.dead_path, sizeof f.dead_path, "%s/dead.sock", f.dir);
        strcpy(un.sun_path, f.grain_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &un, sizeof un) < 0 || listen(fd, 64) < 0 ||
            acceptor_start(&f.grain, fd, grain_lease_main) < 0)
                return -1;
        /* a socket file nobody listens on: connect() is refused */
        strcpy(un.sun_path, f.dead_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &un, sizeof un) < 0)
                return -1;
        close(fd);

        /* the fake app, on a loopback port */
        if (server_fixture_listen(&fd, &f.app_port) < 0 || acceptor_start(&f.app, fd, grain_conn_main) < 0)
                return -1;

        if (server_fixture_init(&f.base, &l, handler, NULL) < 0)
                return -1;
        snprintf(base, sizeof base, "http://granary.localhost:%u", f.base.port);
        snprintf(wild, sizeof wild, "*.granary.localhost:%u", f.base.port);
        if (route_config_new(base, wild, &f.route) < 0 ||
            ui_new(f.base.event, f.route, &uc, grain_connect, NULL, &f.ui) < 0)
                return -1;
        *state = &f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        char path[128];

        /* the server first: requests in flight go before the ui they use */
        f->base.server = server_free(f->base.server);
        ui_free(f->ui);
        route_config_free(f->route);
        server_fixture_done(&f->base);
        acceptor_stop(&f->grain);
        acceptor_stop(&f->app);
        unlink(f->grain_path);
        unlink(f->dead_path);
        snprintf(path, sizeof path, "%s", f->dir);
        rmdir(path);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_init),
                cmocka_unit_test(test_cookie_and_origin),
                cmocka_unit_test(test_headers_the_app_sees),
                cmocka_unit_test(test_keep_alive_reuse),
                cmocka_unit_test(test_many_fields_then_few),
                cmocka_unit_test(test_pool_closed_and_idle),
                cmocka_unit_test(test_big_bodies_slow_reader),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_drops),
                cmocka_unit_test(test_websocket_h1),
                cmocka_unit_test(test_handover_refused),
                cmocka_unit_test(test_leases),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
