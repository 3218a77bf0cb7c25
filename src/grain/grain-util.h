/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * grain/grain-util.h — granary-grain's limits and the pure pieces of its startup: the command-line port,
 * GRANARY_GRAIN_IDLE_SEC, the LISTEN_FDS/LISTEN_PID check, the NOTIFY_SOCKET address, what an app's
 * wait status means (the bridge's exit code and its log line), and the byte of the hand-over protocol that
 * granaryd speaks with the bridge (GRAIN_HANDOVER_BYTE).
 *
 * Owns nothing at run time, does no I/O and never logs: strings in, a value or a negative errno out. Uses
 * libc and basic/macro.h only, because granary-grain is linked statically (see bridge.c). The bridge's
 * state diagram is at the top of bridge.c.
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include "basic/macro.h"

typedef uint64_t usec_t;
#define USEC_PER_MSEC ((usec_t) 1000)
#define USEC_PER_SEC ((usec_t) 1000000)
#define USEC_INFINITY ((usec_t) UINT64_MAX)

/* Seconds without an open connection after which the grain stops, when GRANARY_GRAIN_IDLE_SEC is unset
 * (Sandstorm stops a grain 90–180 s after the last call). 0 in the variable means "never". */
#define GRAIN_IDLE_SEC_DEFAULT 90u
/* The largest GRANARY_GRAIN_IDLE_SEC accepted: a year. */
#define GRAIN_IDLE_SEC_MAX (366u * 24u * 3600u)

/* How often the bridge tries to connect to the app's port until it answers: every 10 ms as Sandstorm's
 * bridge, except that the first tries come sooner (1, 2, 4, 8 ms after the one before), since most apps
 * listen within a few milliseconds and a waking grain's first request waits for this. */
#define GRAIN_PROBE_INTERVAL_USEC (10 * USEC_PER_MSEC)
#define GRAIN_PROBE_FIRST_USEC (1 * USEC_PER_MSEC)
/* After this long without an answer the bridge says so, once, and keeps trying. */
#define GRAIN_PROBE_WARN_USEC (30 * USEC_PER_SEC)
/* Between SIGTERM and SIGKILL when the bridge stops the app. */
#define GRAIN_STOP_TIMEOUT_USEC (5 * USEC_PER_SEC)

/* Connections accepted before the app listens, waiting to be joined. Past it the bridge stops accepting
 * and further connections wait in the kernel's backlog. */
#define GRAIN_PENDING_MAX 64u
/* Connections joined to the app at once. Each costs up to six descriptors (two sockets, and the two pipes
 * a connection gets once it carries a big body); the bridge also stays below its RLIMIT_NOFILE. Past it
 * the bridge stops accepting until one closes. */
#define GRAIN_CONNECTIONS_MAX 1024u
/* What one recv() moves. Requests and answers up to this size cross through the bridge's one shared
 * buffer with a recv() and a send(); a read that fills it means a big body, whose rest is spliced through
 * a pipe. The tail of a send() the destination did not take waits in a buffer of the direction's own, at
 * most this big, allocated then and freed once written. */
#define GRAIN_BUFFER_SIZE ((size_t) 16 * 1024)
/* Bytes moved by one splice() call, which is also what one direction's pipe holds by default: a peer that
 * reads slowly holds at most this much per direction in the pipe (or GRAIN_BUFFER_SIZE in memory). */
#define GRAIN_SPLICE_CHUNK ((size_t) 64 * 1024)

/* The hand-over (bridge.c): a client of the grain's socket whose first byte is this one asks for the app's
 * connection itself. The bridge connects to the app as for any connection and answers with one byte, this
 * one again, carrying the connected TCP socket (SCM_RIGHTS); the client then speaks HTTP to the app over
 * that socket, and keeps its connection to the grain's socket open as a lease for as long as it uses it
 * (the bridge counts it as an open connection: the grain does not stop while it is open). It cannot begin
 * an HTTP request, so a client that speaks HTTP on the grain's socket gets its bytes copied as before. */
#define GRAIN_HANDOVER_BYTE 0x00

/* The HTTP proxy every app is told about (sandstorm-spec.md §5.1). Nothing listens there yet: an app that
 * uses it gets "connection refused" until granary provides the proxy. */
#define GRAIN_HTTP_PROXY "http://127.0.0.1:15239/"
#define GRAIN_NO_PROXY "localhost,127.0.0.1"

/* The app's TCP port: decimal digits only, 1–65535. -EINVAL otherwise. */
int grain_parse_port(const char *s, uint16_t *ret_port);

/* GRANARY_GRAIN_IDLE_SEC: decimal digits only. -EINVAL for anything else, -ERANGE past
 * GRAIN_IDLE_SEC_MAX. */
int grain_parse_idle_sec(const char *s, unsigned *ret_sec);

/* The number of descriptors passed from fd 3 on by the LISTEN_FDS protocol, given $LISTEN_PID and
 * $LISTEN_FDS (either may be NULL) and our own pid: 0 when either is unset or LISTEN_PID names another
 * process (the variables were meant for someone else), -EINVAL when one is not a decimal number,
 * -ERANGE when LISTEN_FDS is absurdly large. */
int grain_listen_fds(const char *listen_pid, const char *listen_fds, pid_t self);

/* The address of $NOTIFY_SOCKET: an absolute path, or '@' and an abstract name. -EAFNOSUPPORT for another
 * form (e.g. "vsock:"), -EINVAL for an empty value or name, -ENAMETOOLONG when it does not fit. */
int grain_notify_address(const char *s, struct sockaddr_un *ret_sa, socklen_t *ret_len);

/* What the bridge exits with when the app ended with this waitpid() status: the app's exit status, or
 * 128 + the signal that killed it. */
int grain_exit_status(int wait_status);

/* The log line for that status, NUL-terminated in buf: "App exited with status N" or "App killed by
 * signal N (SIGNAME)". -ENOBUFS when buf is too small (it then holds a truncated line). */
int grain_describe_exit(int wait_status, char *buf, size_t size);
