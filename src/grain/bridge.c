/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * granary-grain — the grain's supervisor and HTTP bridge (DESIGN.md "Grains", sandstorm-spec.md §5.1,
 * §6.6). It is bind-mounted read-only at /sandstorm-http-bridge in every grain, so a package's own command
 * line `/sandstorm-http-bridge <port> -- <cmd…>` runs it. It owns the app process and every connection of
 * the grain; it logs to stderr (the grain's log) with the prefix "** granary-grain: ", and the app's stdout
 * and stderr are inherited so that they land in the same log.
 *
 * Linked statically, with nothing but libc (its seccomp program is compiled at build time, policy-bpf.h): it
 * runs inside package roots that carry their own (or no) shared libraries, so it cannot rely on a dynamic
 * loader. That is also why it speaks the two tiny systemd
 * protocols itself instead of linking libsystemd (which has no static build and would pull in far more
 * than two environment variables and one datagram): LISTEN_FDS/LISTEN_PID for its listening socket (fd 3)
 * and a NOTIFY_SOCKET datagram for READY=1. No threads: one epoll loop.
 *
 * The bridge:
 *
 *   WAITING --the app's port answers a probe (bridge_ready)--> RUNNING
 *      \                                                         |
 *       \--idle, SIGTERM or SIGINT (bridge_stop)--> STOPPING <---/  (same events)
 *   STOPPING --GRAIN_STOP_TIMEOUT_USEC (bridge_run_timers)--> STOPPING, SIGKILL sent
 *   any --the app is reaped (on_signal)--> exit: 0 in STOPPING, the app's status otherwise
 *
 * One connection:
 *
 *   PENDING (accepted in WAITING) --bridge_ready()--> CONNECTING --connect() done (on_connection)--> JOINED
 *   accepted in RUNNING: straight to CONNECTING (or JOINED when connect() finishes at once)
 *   JOINED --the client's first byte is GRAIN_HANDOVER_BYTE (connection_hand_over)--> LEASED
 *   JOINED --any other first byte, or EOF (connection_pump)--> copied both ways until both finish --> closed
 *   LEASED --the client closes (on_connection)--> closed
 *   any --an error, or bridge_stop()--> closed (connection_close), freed after the current epoll batch
 *
 * The hand-over takes the bridge out of the data path: granaryd asks for it with the first byte it sends,
 * gets the connected TCP socket to the app back (SCM_RIGHTS, with a one-byte message) and speaks HTTP to
 * the app itself; the client connection stays open beside it as a lease, counted like any connection, and
 * granaryd closes it when it drops the app's socket. A client that sends anything else (curl
 * --unix-socket, a test, an old granaryd) gets its bytes copied both ways as before.
 *
 * One direction of a joined connection (a Pump), from one socket to the other (pump_run):
 *
 *   OPEN --read EOF--> DRAINING --nothing held, pipe empty: shutdown(to, SHUT_WR)--> SHUT
 *
 * While OPEN, a direction moves bytes one of two ways. Small messages: recv() into the bridge's one shared
 * buffer and send() at once; only what the destination did not take is kept, in a buffer of the
 * direction's own (`held`). A recv() that fills the shared buffer means a big body: the rest goes with
 * splice() through the direction's pipe (made then, kept until the connection closes) until a splice reads
 * less than GRAIN_BUFFER_SIZE or finds the source drained. No call is made that epoll says would fail: a
 * direction remembers whether its source may have bytes (`readable`: set by EPOLLIN, cleared when a read
 * comes back short or with EAGAIN, a short read draining a stream socket) and whether its destination may
 * take bytes (`writable`: set by EPOLLOUT, cleared by EAGAIN or a short write); the descriptors are
 * edge-triggered, so each change that clears one brings the event that sets it again.
 *
 * (1) the app is started once; the bridge never outlives it except to finish stopping it
 * (2) connections are accepted only outside STOPPING; in WAITING at most GRAIN_PENDING_MAX, otherwise at
 *     most max_connections; the rest wait in the kernel's backlog
 * (3) n_connections counts every connection not yet closed, pending ones included; the grain is idle only
 *     while it is 0, so an open connection (a WebSocket) keeps the grain running however quiet it is
 * (4) a direction reads from its source only while its destination may take bytes and nothing it read
 *     before waits (neither held nor in its pipe): a peer that does not read stops the other one being
 *     read (back-pressure), and the bridge holds at most GRAIN_BUFFER_SIZE in memory or GRAIN_SPLICE_CHUNK
 *     in the pipe per direction
 * (6) once a source reported EOF or a hangup (EPOLLRDHUP), it is read until the EOF itself: a short read
 *     then no longer means that nothing follows, since the FIN's event may have come with the last bytes
 * (5) a closed connection's memory lives until the end of the epoll batch, so a later event in the same
 *     batch finds it marked closed instead of freed
 * (7) the app's socket is removed from the epoll set before it is handed over: granaryd keeps the open file
 *     description alive, so closing our descriptor alone would leave it registered
 */

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "basic/hex.h"
#include "grain/grain-util.h"
#include "grain/seccomp-program.h"
#include "grain/storage-share.h"

#include "policy-bpf.h"

#define LOG_PREFIX "** granary-grain: "
/* "1": load the policy's libseccomp filter before starting the app (the systemd backend sets it). */
#define GRAIN_SECCOMP_ENV "GRANARY_GRAIN_SECCOMP"
/* --granary-exec: the command line to run, escaped (front/grains-systemd.h, grains_systemd_argv_escape()). */
#define GRAIN_ARGV_ENV "GRANARY_GRAIN_ARGV"
#define GRAIN_ARGV_MAX 4096
/* --granary-exec: the command's environment, NAME=value words escaped as GRANARY_GRAIN_ARGV is. */
#define GRAIN_ENV_ENV "GRANARY_GRAIN_ENV"
#define GRAIN_ENV_MAX 4096
#define LISTEN_FDS_START 3
#define EXIT_USAGE 2
#define FDS_PER_CONNECTION 6
#define FDS_RESERVED 16

typedef enum BridgeState {
        BRIDGE_WAITING,
        BRIDGE_RUNNING,
        BRIDGE_STOPPING,
} BridgeState;

typedef enum ConnectionState {
        CONNECTION_PENDING,
        CONNECTION_CONNECTING,
        CONNECTION_JOINED,
        CONNECTION_LEASED,
        CONNECTION_CLOSED,
} ConnectionState;

typedef enum WatchType {
        WATCH_LISTEN,
        WATCH_SIGNAL,
        WATCH_PROBE,
        WATCH_CLIENT,
        WATCH_APP,
} WatchType;

typedef struct Connection Connection;

/* What an epoll event points to. */
typedef struct Watch {
        WatchType type;
        Connection *connection;
} Watch;

typedef struct Pump {
        int pipe[2];      /* -EBADF until the direction first carries a big body */
        size_t in_pipe;   /* bytes spliced from the source into the pipe and not yet written on */
        uint8_t *held;    /* the tail of a send() the destination did not take, or NULL */
        size_t held_off, held_len;
        bool readable;    /* the source may have bytes, or an EOF, to read */
        bool writable;    /* the destination may take bytes */
        bool hup;         /* the source reported EOF or an error: read it until it says so, (6) */
        bool bulk;        /* the last read filled the shared buffer: splice the rest */
        bool eof;         /* the source said EOF */
        bool shut;        /* the destination got shutdown(SHUT_WR) */
} Pump;

struct Connection {
        Connection *prev, *next;
        ConnectionState state;
        int client_fd;
        int app_fd;
        Watch client_watch;
        Watch app_watch;
        bool copying; /* the first byte was not GRAIN_HANDOVER_BYTE: the pumps carry the bytes */
        Pump up;   /* client → app */
        Pump down; /* app → client */
};

typedef struct Bridge {
        BridgeState state;
        uint16_t port;
        char **command;
        usec_t idle_usec; /* 0: never idle */

        pid_t app_pid;
        bool app_killed; /* SIGKILL sent */
        int exit_status; /* >= 0 once the app is reaped */

        int epoll_fd;
        int signal_fd;
        int listen_fd;
        int probe_fd;
        bool listen_watched;
        Watch listen_watch;
        Watch signal_watch;
        Watch probe_watch;

        usec_t start_usec;
        usec_t next_probe_usec;
        bool probe_warned;
        unsigned probes_failed;
        usec_t idle_since_usec;
        usec_t kill_usec;
        usec_t accept_pause_usec; /* accept() ran out of descriptors or memory: retry then */

        Connection *first, *last; /* in accept order, which is also the order pending ones are joined */
        unsigned n_connections;
        unsigned max_connections;
        Connection *closed; /* freed after the current epoll batch, (5) */

        bool notify;
        struct sockaddr_un notify_address;
        socklen_t notify_address_len;

        struct rlimit nofile_saved; /* what the app gets back */
} Bridge;

static _printf_(2, 0) void bridge_logv(int error, const char *fmt, va_list ap) {
        char buf[1024];
        size_t n = STRLEN(LOG_PREFIX);
        int k;

        memcpy(buf, LOG_PREFIX, n);
        /* glibc's %m prints strerror(errno). */
        if (error != 0)
                errno = abs(error);
        k = vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
        if (k < 0)
                k = 0;
        n = MIN(n + (size_t) k, sizeof(buf) - 2);
        buf[n++] = '\n';

        /* One write(2), so that a line never interleaves with the app's output on the same stderr. */
        for (size_t done = 0; done < n;) {
                ssize_t w = write(STDERR_FILENO, buf + done, n - done);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        break;
                done += (size_t) w;
        }
}

static _printf_(1, 2) void bridge_log(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        bridge_logv(0, fmt, ap);
        va_end(ap);
}

/* Logs with %m standing for error, and returns -abs(error). */
static _printf_(2, 3) int bridge_log_errno(int error, const char *fmt, ...) {
        va_list ap;
        int saved = errno;

        va_start(ap, fmt);
        bridge_logv(error, fmt, ap);
        va_end(ap);
        errno = saved;
        return -abs(error);
}

static usec_t now_usec(void) {
        struct timespec ts;

        if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
                abort();
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

static int fd_nonblock_cloexec(int fd) {
        int flags;

        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return negative_errno();
        flags = fcntl(fd, F_GETFD);
        if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
                return negative_errno();
        return 0;
}

static int epoll_add(Bridge *b, int fd, uint32_t events, Watch *w) {
        struct epoll_event ev = { .events = events, .data.ptr = w };

        return RET_NERRNO(epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, fd, &ev));
}

static void bridge_notify(Bridge *b, const char *message) {
        _cleanup_close_ int fd = -EBADF;

        if (!b->notify)
                return;

        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                bridge_log_errno(errno, "Failed to create the notification socket: %m");
                return;
        }
        if (sendto(fd, message, strlen(message), MSG_NOSIGNAL, (const struct sockaddr *) &b->notify_address,
                   b->notify_address_len) < 0)
                bridge_log_errno(errno, "Failed to notify the grain's starter: %m");
}

/* Signals the app's process group (it is its own leader, so helpers it forked go too), or the app alone
 * when the group is gone. */
static void app_signal(Bridge *b, int sig) {
        if (b->app_pid <= 0)
                return;
        if (kill(-b->app_pid, sig) < 0)
                (void) kill(b->app_pid, sig);
}

static _noreturn_ void app_exec(Bridge *b, pid_t parent) {
        sigset_t none;

        /* Our own process group, so that stopping the app reaches what it forked. */
        (void) setpgid(0, 0);
        /* Die with the bridge, which may be killed without the chance to stop us. */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
                _exit(EXIT_FAILURE);

        (void) close(b->listen_fd);
        (void) setrlimit(RLIMIT_NOFILE, &b->nofile_saved);
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        (void) signal(SIGPIPE, SIG_DFL);

        /* execvp: a PATH search, as Sandstorm's bridge does (the supervisor, by contrast, does none). */
        execvp(b->command[0], b->command);
        bridge_log_errno(errno, "Failed to execute '%s': %m", b->command[0]);
        _exit(127);
}

static int app_start(Bridge *b) {
        pid_t parent = getpid(), pid;

        pid = fork();
        if (pid < 0)
                return bridge_log_errno(errno, "Failed to fork the app: %m");
        if (pid == 0)
                app_exec(b, parent);

        /* Also from here: whichever of the two runs first, the group exists before we signal it. */
        (void) setpgid(pid, pid);
        b->app_pid = pid;
        return 0;
}

/* Where every direction's recv() lands: the loop runs one pump at a time, and a pump keeps only what it
 * could not send, in its own `held`. */
static uint8_t pump_buffer[GRAIN_BUFFER_SIZE];

static void pump_init(Pump *p) {
        p->pipe[0] = p->pipe[1] = -EBADF;
        /* Joined with bytes perhaps already waiting: the first pump tries once, and learns. */
        p->readable = p->writable = true;
}

static void pump_done(Pump *p) {
        p->pipe[0] = safe_close(p->pipe[0]);
        p->pipe[1] = safe_close(p->pipe[1]);
        free(TAKE_PTR(p->held));
        p->held_off = p->held_len = 0;
}

/* Sends size bytes to `to`; returns how many it took (all of them unless it is full, which clears
 * `writable`), or a negative errno when the connection is broken. */
static ssize_t pump_send(Pump *p, int to, const uint8_t *data, size_t size) {
        size_t done = 0;

        while (done < size) {
                ssize_t n = send(to, data + done, size - done, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n >= 0) {
                        done += (size_t) n;
                        if (done < size) {
                                /* A short write on a stream socket: its buffer is full. */
                                p->writable = false;
                                break;
                        }
                } else if (errno == EAGAIN) {
                        p->writable = false;
                        break;
                } else if (errno != EINTR)
                        return negative_errno();
        }
        return (ssize_t) done;
}

/* Writes on what `held` keeps. Returns 0, or a negative errno. */
static int pump_send_held(Pump *p, int to) {
        ssize_t n;

        n = pump_send(p, to, p->held + p->held_off, p->held_len - p->held_off);
        if (n < 0)
                return (int) n;
        p->held_off += (size_t) n;
        if (p->held_off == p->held_len) {
                free(TAKE_PTR(p->held));
                p->held_off = p->held_len = 0;
        }
        return 0;
}

/* Sends what recv() put in pump_buffer, keeping what `to` did not take. Returns 0, or a negative errno. */
static int pump_send_buffer(Pump *p, int to, size_t size) {
        ssize_t n;

        assert(!p->held);

        n = pump_send(p, to, pump_buffer, size);
        if (n < 0)
                return (int) n;
        if ((size_t) n == size)
                return 0;

        p->held_len = size - (size_t) n;
        p->held = malloc(p->held_len);
        if (!p->held) {
                p->held_len = 0;
                return -ENOMEM;
        }
        memcpy(p->held, pump_buffer + n, p->held_len);
        p->held_off = 0;
        return 0;
}

/* Moves the pipe's bytes to `to`. Returns 0, or a negative errno. */
static int pump_splice_out(Pump *p, int to) {
        for (;;) {
                ssize_t n = splice(p->pipe[0], NULL, to, NULL, p->in_pipe,
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

                if (n > 0) {
                        p->in_pipe -= (size_t) n;
                        if (p->in_pipe > 0)
                                p->writable = false; /* short: `to` is full */
                        return 0;
                }
                if (n == 0)
                        return -EIO; /* the pipe lost bytes we counted in */
                if (errno == EAGAIN) {
                        p->writable = false;
                        return 0;
                }
                if (errno != EINTR)
                        return negative_errno();
        }
}

/* Reads from `from` into the empty pipe, which it makes the first time. Returns 0, or a negative errno. */
static int pump_splice_in(Pump *p, int from) {
        assert(p->in_pipe == 0);

        if (p->pipe[0] < 0 && pipe2(p->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
                return negative_errno();

        for (;;) {
                ssize_t n = splice(from, NULL, p->pipe[1], NULL, GRAIN_SPLICE_CHUNK,
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

                if (n > 0) {
                        p->in_pipe = (size_t) n;
                        /* The body's end, or a slow sender: the next message is likely small. */
                        if ((size_t) n < GRAIN_BUFFER_SIZE)
                                p->bulk = false;
                        return 0;
                }
                if (n == 0) {
                        p->eof = true;
                        return 0;
                }
                if (errno == EAGAIN) {
                        /* The pipe is empty, so it is the source that has nothing. */
                        p->readable = p->bulk = false;
                        return 0;
                }
                if (errno != EINTR)
                        return negative_errno();
        }
}

/* recv()s into pump_buffer and sends on at once. Returns 0, or a negative errno. */
static int pump_copy(Pump *p, int from, int to) {
        for (;;) {
                ssize_t n = recv(from, pump_buffer, sizeof(pump_buffer), MSG_DONTWAIT);

                if (n > 0) {
                        if ((size_t) n == sizeof(pump_buffer))
                                p->bulk = true;
                        else if (!p->hup)
                                p->readable = false; /* a short read drained the socket, (6) */
                        return pump_send_buffer(p, to, (size_t) n);
                }
                if (n == 0) {
                        p->eof = true;
                        return 0;
                }
                if (errno == EAGAIN) {
                        p->readable = false;
                        return 0;
                }
                if (errno != EINTR)
                        return negative_errno();
        }
}

/*
 * Moves what it can from `from` to `to`, until what stopped it is something epoll will tell about: the
 * destination is full, or the source is drained, or it said EOF. Returns 0, or a negative errno when the
 * connection is broken.
 */
static int pump_run(Pump *p, int from, int to) {
        for (;;) {
                int r;

                /* What was read before goes first: in order, and (4). */
                if (p->held) {
                        if (!p->writable)
                                break;
                        r = pump_send_held(p, to);
                } else if (p->in_pipe > 0) {
                        if (!p->writable)
                                break;
                        r = pump_splice_out(p, to);
                } else if (p->eof || !p->readable || !p->writable)
                        break;
                else if (p->bulk)
                        r = pump_splice_in(p, from);
                else
                        r = pump_copy(p, from, to);
                if (r < 0)
                        return r;
        }

        if (p->eof && !p->held && p->in_pipe == 0 && !p->shut) {
                /* The half-close goes on: the other side reads EOF and may still answer. */
                if (shutdown(to, SHUT_WR) < 0 && errno != ENOTCONN)
                        return negative_errno();
                p->shut = true;
        }
        return 0;
}

static void bridge_connections_changed(Bridge *b) {
        if (b->n_connections == 0)
                b->idle_since_usec = now_usec();
}

static void connection_close(Bridge *b, Connection *c) {
        if (c->state == CONNECTION_CLOSED)
                return;

        /* Closing a descriptor removes it from the epoll set: each is ours alone. */
        c->client_fd = safe_close(c->client_fd);
        c->app_fd = safe_close(c->app_fd);
        pump_done(&c->up);
        pump_done(&c->down);

        if (c->prev)
                c->prev->next = c->next;
        else
                b->first = c->next;
        if (c->next)
                c->next->prev = c->prev;
        else
                b->last = c->prev;

        c->state = CONNECTION_CLOSED;
        c->prev = NULL;
        c->next = b->closed;
        b->closed = c;

        assert(b->n_connections > 0);
        b->n_connections--;
        bridge_connections_changed(b);
}

static void bridge_free_closed(Bridge *b) {
        while (b->closed) {
                Connection *c = b->closed;

                b->closed = c->next;
                free(c);
        }
}

/* Gives the client the app's socket: one byte with the descriptor attached, then our copy is closed, (7).
 * Returns 0, or a negative errno (the connection is then closed by the caller). */
static int connection_hand_over(Bridge *b, Connection *c) {
        uint8_t byte = GRAIN_HANDOVER_BYTE;
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        union {
                struct cmsghdr header;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&mh);
        ssize_t n;

        assert(c->state == CONNECTION_JOINED);

        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &c->app_fd, sizeof(int));

        if (epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, c->app_fd, NULL) < 0)
                return negative_errno();
        do
                n = sendmsg(c->client_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return negative_errno();
        if (n != 1)
                return -EIO;

        c->app_fd = safe_close(c->app_fd);
        pump_done(&c->up);
        pump_done(&c->down);
        c->state = CONNECTION_LEASED;
        return 0;
}

/* A joined connection's first byte decides what it is: a hand-over (the byte is consumed), or a connection
 * whose bytes are copied (the byte stays, for the app). Returns 0 once decided, 1 while no byte came,
 * or a negative errno. */
static int connection_decide(Bridge *b, Connection *c) {
        uint8_t byte;
        ssize_t n;

        n = recv(c->client_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) {
                        c->up.readable = false;
                        return 1;
                }
                return negative_errno();
        }
        if (n == 1 && byte == GRAIN_HANDOVER_BYTE) {
                n = recv(c->client_fd, &byte, 1, MSG_DONTWAIT);
                if (n != 1)
                        return n < 0 ? negative_errno() : -EIO;
                return connection_hand_over(b, c);
        }
        /* Another byte, or the client's EOF: the pumps pass it on. */
        c->copying = true;
        return 0;
}

/* Reads and drops what a lease's client sends (it is not meant to send anything); false once it closed. */
static bool lease_drain(Connection *c) {
        for (;;) {
                ssize_t n = recv(c->client_fd, pump_buffer, sizeof(pump_buffer), MSG_DONTWAIT);

                if (n > 0)
                        continue;
                if (n < 0 && errno == EINTR)
                        continue;
                return n < 0 && errno == EAGAIN;
        }
}

static void connection_pump(Bridge *b, Connection *c) {
        int r;

        if (!c->copying) {
                r = connection_decide(b, c);
                if (r < 0) {
                        bridge_log_errno(r, "Failed to hand over a connection to the app, closing it: %m");
                        connection_close(b, c);
                }
                if (r != 0 || c->state == CONNECTION_LEASED)
                        return;
        }

        r = pump_run(&c->up, c->client_fd, c->app_fd);
        if (r >= 0)
                r = pump_run(&c->down, c->app_fd, c->client_fd);
        /* A reset or a broken pipe on either side ends both directions: the peers are gone. Running out of
         * memory or descriptors (for a pipe, a held tail) is ours, and said. */
        if (r == -ENOMEM || r == -EMFILE || r == -ENFILE)
                bridge_log_errno(r, "Failed to pass on a connection's bytes, closing it: %m");
        if (r < 0 || (c->up.shut && c->down.shut))
                connection_close(b, c);
}

static void socket_nodelay(int fd) {
        static const int one = 1;

        /* Requests and WebSocket frames are small: never hold them back for Nagle. Fails harmlessly on a
         * Unix socket. */
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static struct sockaddr_in app_address(const Bridge *b) {
        return (struct sockaddr_in) {
                .sin_family = AF_INET,
                .sin_port = htons(b->port),
                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        };
}

/* Opens the connection's own connection to the app. On failure the client's connection is closed: the
 * front server answers its request with 502. */
static void connection_join(Bridge *b, Connection *c) {
        struct sockaddr_in sa = app_address(b);
        const uint32_t events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        int r;

        assert(c->state == CONNECTION_PENDING);

        c->app_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->app_fd < 0) {
                bridge_log_errno(errno, "Failed to create a socket for a connection: %m");
                connection_close(b, c);
                return;
        }
        socket_nodelay(c->app_fd);

        r = connect(c->app_fd, (const struct sockaddr *) &sa, sizeof(sa));
        if (r < 0 && errno != EINPROGRESS) {
                bridge_log_errno(errno, "Failed to connect to the app on 127.0.0.1:%u: %m",
                                 (unsigned) b->port);
                connection_close(b, c);
                return;
        }
        c->state = r < 0 ? CONNECTION_CONNECTING : CONNECTION_JOINED;

        r = epoll_add(b, c->client_fd, events, &c->client_watch);
        if (r >= 0)
                r = epoll_add(b, c->app_fd, events, &c->app_watch);
        if (r < 0) {
                bridge_log_errno(r, "Failed to watch a connection: %m");
                connection_close(b, c);
                return;
        }

        if (c->state == CONNECTION_JOINED)
                connection_pump(b, c);
}

/* What an event on one of the connection's sockets says about the two directions. */
static void connection_note_events(Connection *c, WatchType type, uint32_t events) {
        Pump *source = type == WATCH_CLIENT ? &c->up : &c->down;
        Pump *destination = type == WATCH_CLIENT ? &c->down : &c->up;

        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                source->readable = true;
        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                source->hup = true;
        /* An error or hangup lets the write fail and say why. */
        if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
                destination->writable = true;
}

static void on_connection(Bridge *b, Connection *c, WatchType type, uint32_t events) {
        if (c->state == CONNECTION_CLOSED)
                return; /* closed earlier in this batch, (5) */

        if (c->state == CONNECTION_LEASED) {
                if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) || !lease_drain(c))
                        connection_close(b, c);
                return;
        }

        connection_note_events(c, type, events);

        if (c->state == CONNECTION_CONNECTING) {
                int error = 0;
                socklen_t len = sizeof(error);

                /* The client's bytes wait in its socket; the pump after the join reads them. */
                if (type != WATCH_APP || !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
                        return;
                if (getsockopt(c->app_fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
                        error = errno;
                if (error != 0) {
                        bridge_log_errno(error, "Failed to connect to the app on 127.0.0.1:%u: %m",
                                         (unsigned) b->port);
                        connection_close(b, c);
                        return;
                }
                c->state = CONNECTION_JOINED;
        }

        connection_pump(b, c);
}

static void connection_new(Bridge *b, int fd) {
        Connection *c;

        c = calloc(1, sizeof(*c));
        if (!c) {
                bridge_log("Out of memory; dropping a connection.");
                (void) close(fd);
                return;
        }
        *c = (Connection) {
                .state = CONNECTION_PENDING,
                .client_fd = fd,
                .app_fd = -EBADF,
                .client_watch = { WATCH_CLIENT, c },
                .app_watch = { WATCH_APP, c },
                .prev = b->last,
        };
        pump_init(&c->up);
        pump_init(&c->down);
        socket_nodelay(fd);

        if (b->last)
                b->last->next = c;
        else
                b->first = c;
        b->last = c;
        b->n_connections++;

        if (b->state == BRIDGE_RUNNING)
                connection_join(b, c);
}

static bool bridge_may_accept(const Bridge *b) {
        switch (b->state) {
        case BRIDGE_WAITING:
                return b->n_connections < GRAIN_PENDING_MAX;
        case BRIDGE_RUNNING:
                return b->n_connections < b->max_connections;
        default:
                return false;
        }
}

/* Watches the listening socket exactly when a connection may be accepted now, (2). */
static void bridge_update_listen(Bridge *b, usec_t now) {
        bool want = bridge_may_accept(b) && now >= b->accept_pause_usec;
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &b->listen_watch };

        if (want == b->listen_watched)
                return;
        if (epoll_ctl(b->epoll_fd, want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, b->listen_fd, &ev) < 0) {
                bridge_log_errno(errno, "Failed to %s watching the listening socket: %m",
                                 want ? "start" : "stop");
                return;
        }
        b->listen_watched = want;
}

static void on_listen(Bridge *b) {
        while (bridge_may_accept(b)) {
                int fd = accept4(b->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (fd >= 0) {
                        connection_new(b, fd);
                        continue;
                }
                switch (errno) {
                case EAGAIN:
                        return;
                case EINTR:
                case ECONNABORTED:
                case EPROTO:
                case ENETDOWN:
                case ENOPROTOOPT:
                case EHOSTDOWN:
                case ENONET:
                case EHOSTUNREACH:
                case EOPNOTSUPP:
                case ENETUNREACH:
                        continue; /* that connection's problem, not ours (accept(2)) */
                case EMFILE:
                case ENFILE:
                case ENOBUFS:
                case ENOMEM:
                        bridge_log_errno(errno, "Failed to accept a connection, pausing for 100 ms: %m");
                        b->accept_pause_usec = now_usec() + 100 * USEC_PER_MSEC;
                        bridge_update_listen(b, now_usec());
                        return;
                default:
                        bridge_log_errno(errno, "Failed to accept a connection: %m");
                        b->accept_pause_usec = now_usec() + 100 * USEC_PER_MSEC;
                        bridge_update_listen(b, now_usec());
                        return;
                }
        }
}

static void bridge_ready(Bridge *b) {
        char status[128];

        assert(b->state == BRIDGE_WAITING);

        b->state = BRIDGE_RUNNING;
        if (b->probe_warned)
                bridge_log("App is listening on 127.0.0.1:%u now.", (unsigned) b->port);

        (void) snprintf(status, sizeof(status), "READY=1\nSTATUS=App is listening on 127.0.0.1:%u",
                        (unsigned) b->port);
        bridge_notify(b, status);

        /* Join the waiting connections in the order they came. A join can close only its own connection,
         * which leaves `next` valid. */
        for (Connection *c = b->first, *next; c; c = next) {
                next = c->next;
                if (c->state == CONNECTION_PENDING)
                        connection_join(b, c);
        }
}

static void probe_failed(Bridge *b) {
        usec_t now = now_usec();

        b->next_probe_usec = now + (b->probes_failed < 4 ? GRAIN_PROBE_FIRST_USEC << b->probes_failed
                                                          : GRAIN_PROBE_INTERVAL_USEC);
        b->probes_failed++;
        if (!b->probe_warned && now - b->start_usec >= GRAIN_PROBE_WARN_USEC) {
                bridge_log("App isn't listening for TCP connections after 30 seconds; still trying.");
                b->probe_warned = true;
        }
}

static void probe_start(Bridge *b) {
        struct sockaddr_in sa = app_address(b);
        int fd, r;

        assert(b->probe_fd < 0);

        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                probe_failed(b);
                return;
        }

        if (connect(fd, (const struct sockaddr *) &sa, sizeof(sa)) >= 0) {
                /* The probe is simply dropped, as Sandstorm's bridge does. */
                (void) close(fd);
                bridge_ready(b);
                return;
        }
        if (errno != EINPROGRESS) {
                (void) close(fd);
                probe_failed(b);
                return;
        }

        r = epoll_add(b, fd, EPOLLOUT, &b->probe_watch);
        if (r < 0) {
                (void) close(fd);
                probe_failed(b);
                return;
        }
        b->probe_fd = fd;
}

static void on_probe(Bridge *b) {
        int error = 0;
        socklen_t len = sizeof(error);

        if (getsockopt(b->probe_fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
                error = errno;
        b->probe_fd = safe_close(b->probe_fd);

        if (error == 0 && b->state == BRIDGE_WAITING)
                bridge_ready(b);
        else if (b->state == BRIDGE_WAITING)
                probe_failed(b);
}

static void bridge_stop(Bridge *b) {
        if (b->state == BRIDGE_STOPPING)
                return;

        b->state = BRIDGE_STOPPING;
        while (b->first)
                connection_close(b, b->first);
        b->probe_fd = safe_close(b->probe_fd);
        bridge_update_listen(b, now_usec());
        bridge_notify(b, "STOPPING=1\nSTATUS=Stopping the app");

        app_signal(b, SIGTERM);
        b->kill_usec = now_usec() + GRAIN_STOP_TIMEOUT_USEC;
}

static void on_app_exit(Bridge *b, int wait_status) {
        char message[128];

        (void) grain_describe_exit(wait_status, message, sizeof(message));
        bridge_log("%s", message);

        /* The app is gone: nothing it left behind in its group may outlive the grain. Only the group: the
         * app's own pid is free for reuse now. */
        (void) kill(-b->app_pid, SIGKILL);
        b->app_pid = 0;
        b->exit_status = b->state == BRIDGE_STOPPING ? 0 : grain_exit_status(wait_status);
}

static void on_signal(Bridge *b) {
        for (;;) {
                struct signalfd_siginfo si;
                ssize_t n = read(b->signal_fd, &si, sizeof(si));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n != (ssize_t) sizeof(si))
                        break;

                switch (si.ssi_signo) {
                case SIGCHLD:
                        /* Reap everything: as PID 1 of a namespace we inherit the app's orphans. */
                        for (;;) {
                                int status;
                                pid_t pid = waitpid(-1, &status, WNOHANG);

                                if (pid <= 0)
                                        break;
                                if (pid == b->app_pid)
                                        on_app_exit(b, status);
                        }
                        break;
                case SIGTERM:
                case SIGINT:
                        if (b->state != BRIDGE_STOPPING) {
                                bridge_log("Received SIG%s; stopping the app.",
                                           sigabbrev_np((int) si.ssi_signo));
                                bridge_stop(b);
                        } else if (!b->app_killed) {
                                /* Asked twice: no more waiting. */
                                app_signal(b, SIGKILL);
                                b->app_killed = true;
                        }
                        break;
                default:
                        break;
                }
        }
}

static usec_t bridge_idle_deadline(const Bridge *b) {
        if (b->idle_usec == 0 || b->state == BRIDGE_STOPPING || b->n_connections > 0)
                return USEC_INFINITY;
        return b->idle_since_usec + b->idle_usec;
}

static void bridge_run_timers(Bridge *b, usec_t now) {
        if (b->state == BRIDGE_WAITING && b->probe_fd < 0 && now >= b->next_probe_usec)
                probe_start(b);

        if (now >= bridge_idle_deadline(b)) {
                bridge_log("Grain no longer in use; shutting down.");
                bridge_stop(b);
        }

        if (b->state == BRIDGE_STOPPING && !b->app_killed && now >= b->kill_usec) {
                bridge_log("App still running %u s after SIGTERM; killing it.",
                         (unsigned) (GRAIN_STOP_TIMEOUT_USEC / USEC_PER_SEC));
                app_signal(b, SIGKILL);
                b->app_killed = true;
        }
}

/* Milliseconds until the next timer, rounded up; -1 for none. */
static int bridge_timeout_ms(const Bridge *b, usec_t now) {
        usec_t next = bridge_idle_deadline(b);

        if (b->state == BRIDGE_WAITING && b->probe_fd < 0)
                next = MIN(next, b->next_probe_usec);
        if (b->state == BRIDGE_STOPPING && !b->app_killed)
                next = MIN(next, b->kill_usec);
        if (!b->listen_watched && bridge_may_accept(b) && b->accept_pause_usec > now)
                next = MIN(next, b->accept_pause_usec);

        if (next == USEC_INFINITY)
                return -1;
        if (next <= now)
                return 0;
        return (int) MIN((next - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC, (usec_t) INT32_MAX);
}

static int bridge_loop(Bridge *b) {
        struct epoll_event events[64];

        while (b->exit_status < 0) {
                usec_t now = now_usec();
                int n;

                bridge_run_timers(b, now);
                bridge_update_listen(b, now);

                n = epoll_wait(b->epoll_fd, events, ELEMENTSOF(events), bridge_timeout_ms(b, now_usec()));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        bridge_log_errno(errno, "Failed to wait for events: %m");
                        app_signal(b, SIGKILL);
                        return EXIT_FAILURE;
                }

                for (int i = 0; i < n; i++) {
                        Watch *w = events[i].data.ptr;

                        switch (w->type) {
                        case WATCH_LISTEN:
                                if (b->listen_watched)
                                        on_listen(b);
                                break;
                        case WATCH_SIGNAL:
                                on_signal(b);
                                break;
                        case WATCH_PROBE:
                                if (b->probe_fd >= 0)
                                        on_probe(b);
                                break;
                        case WATCH_CLIENT:
                        case WATCH_APP:
                                on_connection(b, w->connection, w->type, events[i].events);
                                break;
                        }
                }
                bridge_free_closed(b);
        }

        return b->exit_status;
}

static void help(void) {
        printf("Usage: granary-grain <port> -- <command> [args...]\n"
               "\n"
               "The grain's supervisor and HTTP bridge, run as /sandstorm-http-bridge. Starts <command>\n"
               "(with a PATH search) and joins every connection accepted on the listening socket passed\n"
               "as fd 3 (LISTEN_FDS) to a new connection to the app on 127.0.0.1:<port>, once the app\n"
               "listens there, when it also sends READY=1 to $NOTIFY_SOCKET. A connection whose first\n"
               "byte is NUL gets the app's connection itself instead (SCM_RIGHTS), for as long as it\n"
               "stays open.\n"
               "\n"
               "Exits with the app's status when the app dies (128 + the signal that killed it), and\n"
               "with 0 after stopping the app on SIGTERM, SIGINT, or when no connection was open for\n"
               "$GRANARY_GRAIN_IDLE_SEC seconds (default %u; 0: never). The app gets the bridge's\n"
               "environment without that variable and those of socket activation, plus http_proxy,\n"
               "HTTP_PROXY=%s and no_proxy=%s.\n"
               "\n"
               "granary-grain --granary-exec runs the command line of $GRANARY_GRAIN_ARGV instead (the\n"
               "systemd backend's unit template starts it so), in the environment $GRANARY_GRAIN_ENV\n"
               "lists (plus LISTEN_PID, LISTEN_FDS and NOTIFY_SOCKET), after loading the policy's system\n"
               "call filter when GRANARY_GRAIN_SECCOMP=1.\n"
               "\n"
               "granary-grain --granary-share-storage DIR gives DIR's group what each owner has of\n"
               "everything below DIR, without following links (the unit template runs it as root after\n"
               "each run, so that the grain's next run reaches its files whatever its uid).\n"
               "\n"
               "  -h --help     Show this help\n"
               "     --version  Show the version\n",
               GRAIN_IDLE_SEC_DEFAULT, GRAIN_HTTP_PROXY, GRAIN_NO_PROXY);
}

static int usage_error(const char *what) {
        bridge_log("%s. Usage: granary-grain <port> -- <command> [args...]", what);
        return EXIT_USAGE;
}

/* Sets the environment the app inherits (sandstorm-spec.md §5.1) and forgets what was meant for us. */
static int setup_environment(void) {
        /* The proxy granary is to provide there (powerbox requests, sandstorm-spec.md §5.1) does not exist
         * yet; apps are told about it anyway so that they behave as under Sandstorm. */
        if (setenv("http_proxy", GRAIN_HTTP_PROXY, 1) < 0 || setenv("HTTP_PROXY", GRAIN_HTTP_PROXY, 1) < 0 ||
            setenv("no_proxy", GRAIN_NO_PROXY, 1) < 0)
                return negative_errno();

        (void) unsetenv("GRANARY_GRAIN_IDLE_SEC");
        (void) unsetenv("LISTEN_PID");
        (void) unsetenv("LISTEN_FDS");
        (void) unsetenv("LISTEN_FDNAMES");
        (void) unsetenv("NOTIFY_SOCKET");
        return 0;
}

static int setup_seccomp(void) {
        int r;

        r = seccomp_program_load(policy_builtin_bpf, ELEMENTSOF(policy_builtin_bpf));
        if (r < 0)
                return bridge_log_errno(r, "Failed to load the system call policy: %m");
        return 0;
}

/* Reads back what grains_systemd_argv_escape() wrote: words separated by one space, \xHH for a byte, ''
 * for an empty word. Decodes in place into s; ret gets pointers into s (at most max - 1 and a NULL). */
static int argv_unescape(char *s, char **ret, size_t max) {
        size_t n = 0;
        char *w = s, *start = s;

        if (!*s)
                return -EINVAL;
        for (const char *c = s;; c++) {
                if (*c == ' ' || *c == 0) {
                        bool end = *c == 0;

                        if (n + 1 >= max)
                                return -E2BIG;
                        if (w == start)
                                return -EINVAL; /* an empty word is written '' */
                        *w++ = 0;
                        ret[n++] = start;
                        start = w;
                        if (end)
                                break;
                        continue;
                }
                if (c[0] == '\'' && c[1] == '\'' && w == start && (c[2] == ' ' || c[2] == 0)) {
                        /* An empty word: left as "", ended by the separator that follows. */
                        c++;
                        if (n + 1 >= max)
                                return -E2BIG;
                        *w++ = 0;
                        ret[n++] = start;
                        start = w;
                        if (c[1] == 0)
                                break;
                        c++;
                        continue;
                }
                if (*c == '\\') {
                        int hi, lo;

                        if (c[1] != 'x' || (hi = hex_digit_value(c[2])) < 0 || (lo = hex_digit_value(c[3])) < 0 ||
                            (hi == 0 && lo == 0))
                                return -EINVAL;
                        *w++ = (char) (hi << 4 | lo);
                        c += 3;
                        continue;
                }
                *w++ = *c;
        }
        ret[n] = NULL;
        return (int) n;
}

/* Makes the environment GRANARY_GRAIN_ENV's NAME=value words (argv_unescape()'s syntax, decoded in place
 * in list) and what socket activation passed: the command gets what the direct backend gives it
 * (sandstorm-spec.md §5.1: the manifest's environment, nothing of the service manager's). The three names
 * of --granary-exec itself are never set from it. */
static int env_apply(char *list) {
        static const char *const kept[] = { "LISTEN_PID", "LISTEN_FDS", "NOTIFY_SOCKET" };
        static char *words[GRAIN_ENV_MAX];
        char *values[ELEMENTSOF(kept)] = {};
        int n = 0, r = 0;

        if (*list) {
                n = argv_unescape(list, words, ELEMENTSOF(words));
                if (n < 0)
                        return n;
        }
        for (int i = 0; i < n; i++) {
                char *eq = strchr(words[i], '=');

                if (!eq || eq == words[i])
                        return -EINVAL;
        }

        for (size_t i = 0; i < ELEMENTSOF(kept); i++) {
                const char *v = getenv(kept[i]);

                if (v && !(values[i] = strdup(v)))
                        r = -ENOMEM;
        }
        if (r >= 0 && clearenv() != 0)
                r = -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(kept) && r >= 0; i++)
                if (values[i] && setenv(kept[i], values[i], 1) < 0)
                        r = negative_errno();
        for (size_t i = 0; i < ELEMENTSOF(kept); i++)
                free(values[i]);
        if (r < 0)
                return r;

        for (int i = 0; i < n; i++) {
                char *eq = strchr(words[i], '=');

                *eq = 0;
                if (streq(words[i], GRAIN_ENV_ENV) || streq(words[i], GRAIN_ARGV_ENV) ||
                    streq(words[i], GRAIN_SECCOMP_ENV))
                        continue;
                if (setenv(words[i], eq + 1, 1) < 0)
                        return negative_errno();
        }
        return 0;
}

/* --granary-exec: the systemd backend's entry (units/granary-grain@.service.in), which cannot put a grain's
 * own command line in a static unit file. Sets the command's environment from GRANARY_GRAIN_ENV (the
 * package's variables reach no other command of the unit) and loads the seccomp layer here, once: the
 * command (usually this program again, as the bridge) sees none of the three variables. */
static int exec_mode(void) {
        static char *argv[GRAIN_ARGV_MAX];
        _cleanup_free_ char *env = NULL;
        const char *e;
        char *copy;
        bool load;
        int r;

        e = getenv(GRAIN_ARGV_ENV);
        if (!e) {
                bridge_log("--granary-exec: $%s is not set.", GRAIN_ARGV_ENV);
                return EXIT_USAGE;
        }
        copy = strdup(e);
        if (!copy) {
                bridge_log_errno(-ENOMEM, "--granary-exec: %m");
                return EXIT_FAILURE;
        }
        r = argv_unescape(copy, argv, ELEMENTSOF(argv));
        if (r < 0 || argv[0][0] != '/') {
                bridge_log("--granary-exec: invalid $%s.", GRAIN_ARGV_ENV);
                return EXIT_USAGE;
        }
        /* Absent from an environment file an older granaryd wrote, whose variables are set as they are. */
        e = getenv(GRAIN_ENV_ENV);
        if (e) {
                env = strdup(e);
                if (!env) {
                        bridge_log_errno(-ENOMEM, "--granary-exec: %m");
                        return EXIT_FAILURE;
                }
        }
        e = getenv(GRAIN_SECCOMP_ENV);
        load = e && streq(e, "1");
        (void) unsetenv(GRAIN_ARGV_ENV);
        (void) unsetenv(GRAIN_ENV_ENV);
        (void) unsetenv(GRAIN_SECCOMP_ENV);
        if (env) {
                r = env_apply(env);
                if (r == -ENOMEM) {
                        bridge_log_errno(r, "--granary-exec: %m");
                        return EXIT_FAILURE;
                }
                if (r < 0) {
                        bridge_log("--granary-exec: invalid $%s.", GRAIN_ENV_ENV);
                        return EXIT_USAGE;
                }
        }
        if (load && setup_seccomp() < 0)
                return EXIT_FAILURE;
        execv(argv[0], argv);
        bridge_log_errno(-errno, "--granary-exec: failed to run %s: %m", argv[0]);
        return EXIT_FAILURE;
}

/* --granary-share-storage DIR: the systemd backend's ExecStopPost=, as root once the grain's processes are
 * gone: what the app made in DIR is shared with DIR's group (grain/storage-share.h). Never fails the unit:
 * what cannot be shared is said in the log. */
static int share_storage_mode(const char *dir) {
        StorageShareStats s;
        int r;

        r = storage_share(dir, &s);
        if (r < 0) {
                bridge_log_errno(r, "--granary-share-storage: cannot use %s: %m", dir);
                return EXIT_SUCCESS;
        }
        if (s.failed > 0) {
                errno = -s.first_error;
                bridge_log("--granary-share-storage: %zu of %zu entries of %s could not be shared with its group "
                           "(the first: %m).", s.failed, s.seen, dir);
        }
        return EXIT_SUCCESS;
}

static int setup_listen_fd(Bridge *b) {
        int n, accepting = 0;
        socklen_t len = sizeof(accepting);

        n = grain_listen_fds(getenv("LISTEN_PID"), getenv("LISTEN_FDS"), getpid());
        if (n < 0)
                return bridge_log_errno(n, "Invalid LISTEN_PID or LISTEN_FDS: %m");
        if (n == 0) {
                bridge_log("No listening socket passed (LISTEN_FDS); granary-grain runs socket-activated.");
                return -EBADF;
        }
        /* Only the first is ours; the app must not inherit the others. */
        for (int fd = LISTEN_FDS_START + 1; fd < LISTEN_FDS_START + n; fd++)
                (void) fcntl(fd, F_SETFD, FD_CLOEXEC);

        if (getsockopt(LISTEN_FDS_START, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) < 0 || !accepting) {
                bridge_log("File descriptor %d is not a listening socket.", LISTEN_FDS_START);
                return -ENOTSOCK;
        }
        n = fd_nonblock_cloexec(LISTEN_FDS_START);
        if (n < 0)
                return bridge_log_errno(n, "Failed to set up the listening socket: %m");

        b->listen_fd = LISTEN_FDS_START;
        return 0;
}

static void setup_limits(Bridge *b) {
        struct rlimit rl;
        rlim_t usable;

        /* As many descriptors as we may have, for connections; the app gets the limit we were given, so
         * that select() users are not surprised. */
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
                rl = (struct rlimit) { 1024, 1024 };
                b->nofile_saved = rl;
        } else {
                b->nofile_saved = rl;
                rl.rlim_cur = rl.rlim_max;
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                        rl = b->nofile_saved;
        }

        usable = rl.rlim_cur > FDS_RESERVED ? rl.rlim_cur - FDS_RESERVED : 0;
        b->max_connections = (unsigned) MIN((rlim_t) GRAIN_CONNECTIONS_MAX, usable / FDS_PER_CONNECTION);
        if (b->max_connections == 0)
                b->max_connections = 1;
}

int main(int argc, char *argv[]) {
        Bridge b = {
                .exit_status = -1,
                .epoll_fd = -EBADF,
                .signal_fd = -EBADF,
                .listen_fd = -EBADF,
                .probe_fd = -EBADF,
                .listen_watch = { WATCH_LISTEN, NULL },
                .signal_watch = { WATCH_SIGNAL, NULL },
                .probe_watch = { WATCH_PROBE, NULL },
        };
        unsigned idle_sec = GRAIN_IDLE_SEC_DEFAULT;
        const char *e;
        sigset_t mask;
        int r;

        if (argc >= 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
                help();
                return EXIT_SUCCESS;
        }
        if (argc == 2 && streq(argv[1], "--granary-exec"))
                return exec_mode();
        if (argc == 3 && streq(argv[1], "--granary-share-storage"))
                return share_storage_mode(argv[2]);
        if (argc >= 2 && streq(argv[1], "--version")) {
                printf("granary-grain %s\n", PACKAGE_VERSION);
                return EXIT_SUCCESS;
        }
        if (argc < 4 || !streq(argv[2], "--"))
                return usage_error("Expected a port, '--' and a command");
        if (grain_parse_port(argv[1], &b.port) < 0)
                return usage_error("Invalid port");
        b.command = argv + 3;

        e = getenv("GRANARY_GRAIN_IDLE_SEC");
        if (e && grain_parse_idle_sec(e, &idle_sec) < 0) {
                bridge_log("Ignoring invalid GRANARY_GRAIN_IDLE_SEC='%s'; using %u.", e,
                           GRAIN_IDLE_SEC_DEFAULT);
                idle_sec = GRAIN_IDLE_SEC_DEFAULT;
        }
        b.idle_usec = (usec_t) idle_sec * USEC_PER_SEC;

        e = getenv("NOTIFY_SOCKET");
        if (e) {
                r = grain_notify_address(e, &b.notify_address, &b.notify_address_len);
                if (r < 0)
                        bridge_log_errno(r, "Ignoring NOTIFY_SOCKET='%s': %m", e);
                else
                        b.notify = true;
        }

        /* Under the systemd backend, whose SystemCallFilter= cannot compare arguments nor give each call its
         * own errno, the policy's own filter is loaded here, before the app exists; the direct backend
         * loaded it before starting us and does not set the variable. Failing closed: no filter, no app. */
        e = getenv(GRAIN_SECCOMP_ENV);
        if (e) {
                bool load = streq(e, "1");

                (void) unsetenv(GRAIN_SECCOMP_ENV);
                if (load && setup_seccomp() < 0)
                        return EXIT_FAILURE;
        }

        if (setup_listen_fd(&b) < 0)
                return EXIT_FAILURE;
        r = setup_environment();
        if (r < 0) {
                bridge_log_errno(r, "Failed to set up the app's environment: %m");
                return EXIT_FAILURE;
        }
        setup_limits(&b);

        /* Signals arrive through the loop; writes to a closed connection fail with EPIPE instead. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
                bridge_log_errno(errno, "Failed to set up signals: %m");
                return EXIT_FAILURE;
        }
        b.signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        b.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (b.signal_fd < 0 || b.epoll_fd < 0) {
                bridge_log_errno(errno, "Failed to set up the event loop: %m");
                return EXIT_FAILURE;
        }
        r = epoll_add(&b, b.signal_fd, EPOLLIN, &b.signal_watch);
        if (r < 0) {
                bridge_log_errno(r, "Failed to set up the event loop: %m");
                return EXIT_FAILURE;
        }

        b.start_usec = b.idle_since_usec = b.next_probe_usec = now_usec();
        bridge_notify(&b, "STATUS=Starting the app");
        if (app_start(&b) < 0)
                return EXIT_FAILURE;

        r = bridge_loop(&b);

        while (b.first)
                connection_close(&b, b.first);
        bridge_free_closed(&b);
        safe_close(b.probe_fd);
        safe_close(b.epoll_fd);
        safe_close(b.signal_fd);
        return r;
}
