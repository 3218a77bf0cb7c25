/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "basic/macro.h"
#include "server-fixture.h"

/* Room for every connection a test opens at once before the loop gets to accept them. */
#define LISTEN_BACKLOG 64

static int on_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ServerFixture *f = userdata;
        eventfd_t v;

        (void) eventfd_read(fd, &v);
        f->client_done = true;
        return 0;
}

ServerLimits server_fixture_limits(uint64_t timeout_usec) {
        return (ServerLimits) {
                .http = HTTP_LIMITS_DEFAULT,
                .connections_max = 100,
                .connections_per_address_max = 100,
                .header_timeout_usec = timeout_usec,
                .idle_timeout_usec = timeout_usec,
                .body_timeout_usec = timeout_usec,
                .write_timeout_usec = 5000000,
        };
}

int server_fixture_listen(int *ret_fd, uint16_t *ret_port) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof a;
        _cleanup_close_ int fd = -EBADF;

        assert(ret_fd);
        assert(ret_port);

        fd = RET_NERRNO(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (fd < 0)
                return fd;
        if (bind(fd, (struct sockaddr *) &a, sizeof a) < 0 || listen(fd, LISTEN_BACKLOG) < 0)
                return negative_errno();
        if (getsockname(fd, (struct sockaddr *) &a, &len) < 0)
                return negative_errno();

        *ret_port = ntohs(a.sin_port);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int server_fixture_init(ServerFixture *f, const ServerLimits *limits, ServerHandler handler,
                        void *userdata) {
        int fd, r;

        assert(f);
        assert(limits);
        assert(handler);

        *f = (ServerFixture) {.done_fd = -EBADF};
        r = sd_event_new(&f->event);
        if (r < 0)
                goto fail;
        r = server_new(f->event, limits, handler, userdata, &f->server);
        if (r < 0)
                goto fail;
        r = server_fixture_listen(&fd, &f->port);
        if (r < 0)
                goto fail;
        /* takes fd, also when it fails */
        r = server_add_listener(f->server, fd, SERVER_LISTENER_HTTP, f->port);
        if (r < 0)
                goto fail;
        f->done_fd = RET_NERRNO(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (f->done_fd < 0) {
                r = f->done_fd;
                goto fail;
        }
        r = sd_event_add_io(f->event, NULL, f->done_fd, EPOLLIN, on_done, f);
        if (r < 0)
                goto fail;
        return 0;

fail:
        server_fixture_done(f);
        return r;
}

void server_fixture_done(ServerFixture *f) {
        if (!f)
                return;
        f->server = server_free(f->server);
        f->event = sd_event_unref(f->event);
        f->done_fd = safe_close(f->done_fd);
}

void server_fixture_client_finished(ServerFixture *f) {
        assert_int_equal(eventfd_write(f->done_fd, 1), 0);
}

typedef struct ClientThread {
        ServerFixture *fixture;
        void (*fn)(void *arg);
        void *arg;
} ClientThread;

static void *client_thread_main(void *userdata) {
        ClientThread *c = userdata;

        c->fn(c->arg);
        server_fixture_client_finished(c->fixture);
        return NULL;
}

void server_fixture_run(ServerFixture *f, void (*fn)(void *arg), void *arg) {
        ClientThread c = {f, fn, arg};
        pthread_t t;

        f->client_done = false;
        assert_int_equal(pthread_create(&t, NULL, client_thread_main, &c), 0);
        while (!f->client_done)
                assert_true(sd_event_run(f->event, UINT64_MAX) >= 0);
        assert_int_equal(pthread_join(t, NULL), 0);
}

int server_fixture_connect(const ServerFixture *f, unsigned timeout_sec) {
        struct sockaddr_in a = {
                .sin_family = AF_INET,
                .sin_port = htons(f->port),
                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        };
        struct timeval tv = {.tv_sec = timeout_sec};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_int_equal(connect(fd, (struct sockaddr *) &a, sizeof a), 0);
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
        return fd;
}
