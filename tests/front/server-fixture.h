/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * tests/front/server-fixture.h — the loopback server that the connection-level tests of src/front
 * share: one sd-event loop, one Server with a plain HTTP listener on 127.0.0.1 at a port the kernel
 * chose, and the way a client on a thread of its own tells that loop it is done.
 *
 * Owns the loop, the Server, its listener and the "done" eventfd. Does not own the handler or anything a
 * request means, nor what a test keeps beside the server (counters, fake grains, routes): each test embeds a
 * ServerFixture in a fixture of its own. Never logs. Setting up returns a negative errno, for a cmocka group
 * setup to fail on; running a client asserts with cmocka.
 *
 * Threads: the server, its handler and every sd-event call stay on the thread that calls
 * server_fixture_run(); a client thread touches only the eventfd (server_fixture_client_finished()) and its
 * own sockets.
 */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "front/server.h"

typedef struct ServerFixture {
        sd_event *event;
        Server *server;
        uint16_t port;    /* the listener's, on 127.0.0.1 */
        int done_fd;      /* an eventfd: written by a client thread once it is done */
        bool client_done; /* set by the loop when it read done_fd */
} ServerFixture;

/* Limits for a test's server: HTTP_LIMITS_DEFAULT, room for 100 connections (from one address too),
 * timeout_usec for the header, idle and body deadlines, 5 s for writes, and no tunnel idle timeout. */
ServerLimits server_fixture_limits(uint64_t timeout_usec);

/* Makes the loop and the server (limits borrowed; handler and userdata as for server_new()) and binds the
 * listener. On failure what was made is freed, and server_fixture_done() may still be called. */
int server_fixture_init(ServerFixture *f, const ServerLimits *limits, ServerHandler handler, void *userdata);
/* Frees the server (aborting what is in flight), the loop and the eventfd. Copes with a half-built fixture
 * and with a server the caller freed already (f->server NULL). */
void server_fixture_done(ServerFixture *f);

/* From a client thread: it is done, the loop of server_fixture_run() may return. */
void server_fixture_client_finished(ServerFixture *f);
/* Runs fn(arg) on a thread of its own while the server's loop runs on this one, until fn returned (then the
 * thread calls server_fixture_client_finished() itself), and joins the thread. */
void server_fixture_run(ServerFixture *f, void (*fn)(void *arg), void *arg);

/* A listening TCP socket on 127.0.0.1 at a port the kernel chose (*ret_port), for the server or for what a
 * test runs beside it. */
int server_fixture_listen(int *ret_fd, uint16_t *ret_port);

/* A blocking TCP connection to the listener, with a receive timeout of timeout_sec (a client that waits for
 * bytes the server never sends fails instead of hanging). */
int server_fixture_connect(const ServerFixture *f, unsigned timeout_sec);
