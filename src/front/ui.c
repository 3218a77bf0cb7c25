/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * One request to a grain (a UiCall):
 *
 *   ui_handle() --cookie, Origin ok--> call_start(): a pooled connection, or grains' connect()
 *        --connect failed--> answered 404/503
 *   SENDING: the head, then the body as the client gives it (call_flush())
 *        --pooled connection found dead, nothing of the body sent--> SENDING again, on a fresh connection (once)
 *        --grain closed or failed before a whole head came back--> answered 502 (503 if it refused)
 *        --no head within response_timeout after the request was sent--> answered 504
 *   head received (call_on_head()) --> STREAMING: the body flows grain → call->resp → client (call_read())
 *        --response complete (and the request sent whole, keep-alive)--> the connection goes to the pool
 *        --grain closed early, or broke the framing--> the client's body is cut off
 *   the server frees the request (abort, release or destroy: call_gone()) --> the call is freed
 *
 * (1) a call lives exactly as long as its ServerRequest: every answer passes the call as release/destroy
 *     data, and the abort callback covers a connection that goes before the answer; so no callback of the
 *     server can reach a freed call. A call freed while one of our own handlers runs (the server may free
 *     the request inside server_request_resume()) is freed when that handler returns (call->busy). "Freed"
 *     is call_free(): the call leaves every list and connection, and its memory, buffers and parser wait
 *     among u->spare for the next call (call_new()), which starts from them cleared.
 * (2) at most RESP_MAX body bytes wait in call->resp for the client, and at most UP_OUT_MAX request body
 *     bytes in call->up_out for the grain: past them the grain is not read, or the client's body is paused
 *     (back-pressure both ways).
 * (3) a grain connection is pooled only after a complete response to a request that was sent whole, with
 *     no byte after the response, and keep-alive on both sides; a pooled connection that becomes readable
 *     (EOF, or bytes nobody asked for) or stays idle for pool_idle_usec is closed.
 * (4) a request is answered once: by call_on_head() (the app's answer) or by call_fail() (ours).
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sodium.h>

#include "basic/hex.h"
#include "basic/log.h"
#include "basic/random-util.h"
#include "basic/string-util.h"
#include "front/proxy.h"
#include "front/sessions.h"
#include "front/ui.h"
#include "grain/grain-util.h"
#include "http/http1-response.h"

#define RESP_MAX ((size_t) 65536)
#define UP_OUT_MAX ((size_t) 65536)
#define READ_MAX ((size_t) 65536)
#define EXPIRE_INTERVAL_USEC (UINT64_C(60) * 1000000)
#define INIT_PATH "/_sandstorm-init"
#define WEBSOCKET_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* Calls kept for reuse once done (call_new()), and the largest buffer one keeps. */
#define SPARE_CALLS_MAX 64u
#define SPARE_BUFFER_MAX ((size_t) 16384)

typedef struct UiGrain UiGrain;
typedef struct UiConn UiConn;
typedef struct UiCall UiCall;

/* A connection to a grain's app, from its connect() to its close: used by one call at a time, idle in its
 * grain's pool between calls. granaryd connects to the grain's socket and asks the bridge for the app's
 * connection (grain-util.h, GRAIN_HANDOVER_BYTE): the bridge answers with the connected TCP socket, which
 * the call then speaks HTTP on, while the grain's socket stays open beside it as the lease that keeps the
 * grain running. One io source for its whole life: on the grain's socket until the hand-over, then on the
 * app's socket, watching EPOLLIN|EPOLLRDHUP (plus EPOLLOUT only while a send would block), so that a
 * request on a pooled connection costs no epoll_ctl. */
struct UiConn {
        UiConn *next;      /* in the pool, or among the dead */
        Ui *ui;
        UiGrain *grain;    /* while pooled */
        UiCall *call;      /* while a call uses it */
        int fd;            /* the app's socket; -EBADF until the bridge handed it over */
        int lease_fd;      /* the grain's socket: the hand-over, then the lease */
        int watched_fd;    /* the one in u->epfd (lease_fd, then fd); -EBADF: none */
        uint32_t events;   /* what it is watched for there */
        bool dead;         /* closed while a batch was handled: freed after it */
        uint64_t idle_since;
};

struct UiGrain {
        UiGrain *next;
        Ui *ui;
        char *id;
        uint64_t next_number; /* X-Sandstorm-Session-Id of the next session */
        UiConn *idle;
        unsigned n_idle;
};

struct UiCall {
        /* kept when the call is done, for the next one (call_new()): buffers and the parser */
        StrBuf head;    /* the request head, kept whole for a retry */
        StrBuf up_out;  /* request body bytes (framed) for the grain */
        StrBuf resp;    /* body bytes for the client: resp.data[resp_off..resp.len) */
        StrBuf text;    /* the values call_on_head() rewrote */
        StrBuf strings; /* grain_id and csp: copies, since the session may go before the call */
        ProxyResponseParser *parser;

        /* the call: cleared for each, from here to the end */
        UiCall *next, *prev; /* among the Ui's calls, or its spares (next only) */
        Ui *ui;
        ServerRequest *req; /* NULL once the server freed it */
        char *grain_id;     /* in strings */
        char *csp;          /* the session's Content-Security-Policy, in strings */
        size_t csp_len;
        uint64_t id;

        UiConn *conn;
        bool reused, retried;
        uint64_t deadline; /* of the response head; 0: none (see sweep_on_timer()) */

        size_t head_sent;
        uint64_t body_sent;
        bool has_body, chunked, body_paused, body_complete;
        bool sent; /* head and body are with the grain */

        size_t resp_off;
        bool answered, upstream_complete, upstream_failed, extra_bytes, client_waiting;

        /* WebSocket: tunnel once the app's 101 came */
        bool websocket, h2, tunnel, shut;
        char ws_key[25];

        bool busy, gone;
};

struct Ui {
        sd_event *event;
        const RouteConfig *route;
        UiConfig config;
        UiConnect connect;
        void *userdata;
        bool https;
        UiSessionTable *sessions;
        UiGrain *grains;
        UiCall *calls;
        uint64_t next_call_id;
        sd_event_source *expire_timer;
        sd_event_source *sweep_timer; /* response deadlines and idle pooled connections */
        bool sweep_armed;
        int epfd;                     /* every UiConn's socket: see ui_on_epoll() */
        sd_event_source *epoll_source;
        bool dispatching;             /* within ui_on_epoll(): frees wait in dead */
        UiConn *dead;
        UiCall *spare;                /* calls done, kept for reuse (call_new()) */
        unsigned n_spare;
};

static uint64_t now_usec(Ui *u) {
        uint64_t t;

        if (sd_event_now(u->event, CLOCK_MONOTONIC, &t) < 0) {
                struct timespec ts;

                clock_gettime(CLOCK_MONOTONIC, &ts);
                t = (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
        }
        return t;
}

/* ---- grains and their pools ---- */

static UiGrain *grain_find(Ui *u, const char *id) {
        for (UiGrain *g = u->grains; g; g = g->next)
                if (streq(g->id, id))
                        return g;
        return NULL;
}

static UiGrain *grain_get(Ui *u, const char *id) {
        UiGrain *g = grain_find(u, id);

        if (g)
                return g;
        g = calloc(1, sizeof *g);
        if (!g)
                return NULL;
        g->id = strdup(id);
        if (!g->id) {
                free(g);
                return NULL;
        }
        g->ui = u;
        g->next = u->grains;
        u->grains = g;
        return g;
}

/* Watches fd (the lease, then the app's socket) for events in u->epfd; no events: not watched at all, so
 * that not even a hang-up wakes it. An unchanged mask costs no epoll_ctl. */
static int conn_watch(UiConn *c, int fd, uint32_t events) {
        int epfd = c->ui->epfd;

        if (c->watched_fd >= 0 && (c->watched_fd != fd || events == 0)) {
                (void) epoll_ctl(epfd, EPOLL_CTL_DEL, c->watched_fd, NULL);
                c->watched_fd = -EBADF;
                c->events = 0;
        }
        if (events == 0 || (c->watched_fd == fd && c->events == events))
                return 0;
        if (epoll_ctl(epfd, c->watched_fd == fd ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd,
                      &(struct epoll_event) {.events = events, .data.ptr = c}) < 0)
                return negative_errno();
        c->watched_fd = fd;
        c->events = events;
        return 0;
}

static UiConn *conn_free(UiConn *c) {
        Ui *u;

        if (!c)
                return NULL;
        u = c->ui;
        (void) conn_watch(c, -EBADF, 0);
        c->fd = safe_close(c->fd);
        /* the lease goes with the app's socket: the bridge may count the grain idle now */
        c->lease_fd = safe_close(c->lease_fd);
        if (u->dispatching) {
                /* ui_on_epoll() may still hold an event for c */
                c->dead = true;
                c->next = u->dead;
                u->dead = c;
        } else
                free(c);
        return NULL;
}

static void conn_on_io(UiConn *conn, uint32_t revents);

/* Takes lease_fd, a connection to the grain's socket (closed on failure), and asks for the hand-over. */
static int conn_new(Ui *u, int lease_fd, UiConn **ret) {
        static const uint8_t request = GRAIN_HANDOVER_BYTE;
        UiConn *c = calloc(1, sizeof *c);
        int r;

        if (!c) {
                safe_close(lease_fd);
                return -ENOMEM;
        }
        c->ui = u;
        c->fd = -EBADF;
        c->lease_fd = lease_fd;
        c->watched_fd = -EBADF;
        /* queued even before the bridge accepts: its socket's buffer is empty */
        if (send(lease_fd, &request, 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) {
                r = errno == EAGAIN ? -EAGAIN : negative_errno();
                conn_free(c);
                return r;
        }
        r = conn_watch(c, lease_fd, EPOLLIN | EPOLLRDHUP);
        if (r < 0) {
                conn_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

/* What the grain handed over is a connected stream socket of the internet families, and nothing else: a
 * grain is not trusted to give granaryd a file, a Unix socket or a datagram socket to write requests to. */
static int handover_check(int fd) {
        struct stat st;
        int v;
        socklen_t len = sizeof v;

        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISSOCK(st.st_mode))
                return -ENOTSOCK;
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0)
                return negative_errno();
        if (v != AF_INET && v != AF_INET6)
                return -EAFNOSUPPORT;
        len = sizeof v;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0)
                return negative_errno();
        if (v != SOCK_STREAM)
                return -ESOCKTNOSUPPORT;
        v = fcntl(fd, F_GETFL);
        if (v < 0 || fcntl(fd, F_SETFL, v | O_NONBLOCK) < 0)
                return negative_errno();
        /* MSG_CMSG_CLOEXEC set it already; said again so that nothing depends on the flag's presence */
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
                return negative_errno();
        return 0;
}

/* Receives the app's socket on the lease. Returns 0 once conn->fd is it, 1 while nothing came yet, or a
 * negative errno: -ECONNRESET when the grain closed without answering, -EBADMSG when it answered anything
 * but one byte with exactly one descriptor (every descriptor that came is closed), or handover_check()'s. */
static int conn_receive(UiConn *conn) {
        uint8_t byte = 0xff;
        struct iovec iov = {.iov_base = &byte, .iov_len = 1};
        union {
                struct cmsghdr header;
                /* room for more than one, to see them and close them */
                uint8_t buf[CMSG_SPACE(sizeof(int) * 8)];
        } control;
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof control,
        };
        int fd = -EBADF, r = 0;
        size_t n_fds = 0;
        ssize_t k;

        k = recvmsg(conn->lease_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (k < 0)
                return errno == EAGAIN || errno == EINTR ? 1 : negative_errno();
        for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&mh); cmsg; cmsg = CMSG_NXTHDR(&mh, cmsg)) {
                if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
                        continue;
                for (size_t i = 0; i < (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                        int got;

                        memcpy(&got, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
                        n_fds++;
                        if (fd < 0)
                                fd = got;
                        else
                                safe_close(got);
                }
        }
        if (k == 0 && n_fds == 0)
                return -ECONNRESET;
        if (k != 1 || byte != GRAIN_HANDOVER_BYTE || n_fds != 1 || (mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)))
                r = -EBADMSG;
        if (r >= 0)
                r = handover_check(fd);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        r = conn_watch(conn, fd, EPOLLIN | EPOLLRDHUP);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        conn->fd = fd;
        return 0;
}

static void pool_remove(UiConn *c) {
        UiGrain *g = c->grain;

        for (UiConn **p = &g->idle; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        g->n_idle--;
                        break;
                }
        conn_free(c);
}

static void pool_clear(UiGrain *g) {
        while (g->idle)
                pool_remove(g->idle);
}

static void sweep_arm(Ui *u);

/* Keeps c for the grain's next request; closes it when the pool is full. */
static void pool_put(Ui *u, const char *grain_id, UiConn *c) {
        UiGrain *g = grain_find(u, grain_id);

        c->call = NULL;
        if (!g || g->n_idle >= u->config.pool_max_per_grain || u->config.pool_idle_usec == 0) {
                conn_free(c);
                return;
        }
        /* a no-op unless a call changed it */
        if (conn_watch(c, c->fd, EPOLLIN | EPOLLRDHUP) < 0) {
                conn_free(c);
                return;
        }
        c->grain = g;
        c->idle_since = now_usec(u);
        c->next = g->idle;
        g->idle = c;
        g->n_idle++;
        sweep_arm(u);
}

/* The most recently pooled connection, or NULL. One that closed meanwhile was removed by conn_on_io(),
 * unless its EOF is not seen yet: the caller retries once on a fresh connection for that race. */
static UiConn *pool_take(Ui *u, const char *grain_id) {
        UiGrain *g = grain_find(u, grain_id);
        UiConn *c;

        if (!g || !g->idle)
                return NULL;
        c = g->idle;
        g->idle = c->next;
        g->n_idle--;
        c->next = NULL;
        c->grain = NULL;
        return c;
}

/* ---- answers of our own ---- */

static void log_call(UiCall *c, int status, int error, const char *what) {
        if (status >= 500)
                log_struct_errno(LOG_WARNING, error, "Grain request %" PRIu64 " for grain '%s' answered %d: %s",
                                 c->id, c->grain_id, status, what, "GRAIN_ID=%s", c->grain_id,
                                 "REQUEST_ID=%" PRIu64, c->id);
        else
                log_debug("Grain request %" PRIu64 " for grain '%s' answered %d", c->id, c->grain_id, status);
}

/* "frame-ancestors <shell origin> <session origin>", made once per session (ui_session_open()). */
static char *session_csp(Ui *u, const char *origin) {
        return strjoin("frame-ancestors ", route_config_base_origin(u->route), " ", origin);
}

/* A short text answer for a request that no call holds (yet). */
static void answer_text(ServerRequest *req, int status, const char *text, const HttpHeader *extra, size_t n_extra) {
        HttpHeader h[8];
        size_t n = 0;
        _cleanup_free_ char *body = NULL;

        if (!text)
                text = http_status_to_string(status) ?: "";
        if (asprintf(&body, "%d %s\n", status, text) < 0) {
                (void) server_request_respond_status(req, 503, NULL, 0);
                return;
        }
        h[n++] = (HttpHeader) {"Content-Type", 12, "text/plain; charset=utf-8", 25};
        h[n++] = (HttpHeader) {"Cache-Control", 13, "no-store", 8};
        h[n++] = (HttpHeader) {"Referrer-Policy", 15, "no-referrer", 11};
        for (size_t i = 0; i < n_extra && n < ELEMENTSOF(h); i++)
                h[n++] = extra[i];
        if (server_request_respond(req, status, h, n, body, strlen(body), free, body) == 0)
                TAKE_PTR(body);
        else
                (void) server_request_respond_status(req, 500, NULL, 0);
}

/* ---- calls ---- */

static UiCall *call_destroy(UiCall *c) {
        strbuf_done(&c->head);
        strbuf_done(&c->up_out);
        strbuf_done(&c->resp);
        strbuf_done(&c->text);
        strbuf_done(&c->strings);
        proxy_response_parser_free(c->parser);
        free(c);
        return NULL;
}

/* An empty buffer of a call kept for reuse; a large one goes, so that one large response does not cost
 * memory for as long as the call is kept. allocated 0: the text call_fail() handed over, not the
 * buffer's own. */
static void call_buffer_keep(StrBuf *b) {
        if (b->allocated == 0 || b->allocated > SPARE_BUFFER_MAX)
                strbuf_done(b);
        else
                strbuf_truncate(b, 0);
}

/* A fresh call, with the buffers and parser of one that is done when there is one: in the steady state,
 * a request to a grain costs no allocation here. NULL: out of memory. */
static UiCall *call_new(Ui *u) {
        UiCall *c = u->spare;

        if (!c)
                return calloc(1, sizeof(UiCall));
        u->spare = c->next;
        u->n_spare--;
        memset((uint8_t *) c + offsetof(UiCall, next), 0, sizeof *c - offsetof(UiCall, next));
        return c;
}

static void call_free(UiCall *c) {
        Ui *u = c->ui;

        if (c->prev)
                c->prev->next = c->next;
        else if (u && u->calls == c)
                u->calls = c->next;
        if (c->next)
                c->next->prev = c->prev;
        if (c->conn) {
                c->conn->call = NULL;
                conn_free(c->conn);
        }
        if (!u || u->n_spare >= SPARE_CALLS_MAX) {
                call_destroy(c);
                return;
        }
        call_buffer_keep(&c->head);
        call_buffer_keep(&c->up_out);
        call_buffer_keep(&c->resp);
        call_buffer_keep(&c->text);
        call_buffer_keep(&c->strings);
        c->next = u->spare;
        u->spare = c;
        u->n_spare++;
}

/* The server is done with the request (aborted, or its answer is over). */
static void call_close_upstream(UiCall *c);

static void call_gone(UiCall *c) {
        c->req = NULL;
        c->gone = true;
        if (!c->busy)
                call_free(c);
}

static void call_on_abort(ServerRequest *r, void *userdata) {
        UiCall *c = userdata;

        /* a tunnel is told of its connection's end before its destroy callback: the call lives until then */
        c->req = NULL;
        if (!c->answered)
                call_gone(c);
        else
                call_close_upstream(c);
}

static void call_release(void *userdata) {
        call_gone(userdata);
}

/* Entering and leaving one of our own event handlers: a call the server let go meanwhile is freed at the
 * end (invariant 1). Returns false when the call is gone already. */
static void call_enter(UiCall *c) {
        c->busy = true;
}

static void call_leave(UiCall *c) {
        c->busy = false;
        if (c->gone)
                call_free(c);
}

static void call_close_upstream(UiCall *c) {
        if (!c->conn)
                return;
        c->conn->call = NULL;
        c->conn = conn_free(c->conn);
}

static void call_stop_timer(UiCall *c) {
        c->deadline = 0;
}

/* Our own answer, before the app's (invariant 4), or the end of a body already under way. */
static void call_fail(UiCall *c, int status, int error, const char *what) {
        call_stop_timer(c);
        call_close_upstream(c);
        if (c->answered) {
                /* the head went out already: the body is cut off */
                c->upstream_failed = true;
                log_struct_errno(LOG_WARNING, error, "Grain request %" PRIu64 " for grain '%s' cut off: %s", c->id,
                                 c->grain_id, what, "GRAIN_ID=%s", c->grain_id, "REQUEST_ID=%" PRIu64, c->id);
                if (c->req)
                        server_request_resume(c->req);
                return;
        }
        c->answered = true;
        if (!c->req)
                return;
        log_call(c, status, error, what);
        {
                HttpHeader h[4];
                size_t n = 0;
                const char *reason = http_status_to_string(status) ?: "";
                char *body = NULL;

                /* -ENOPKG: the grain ran an app in development that ended, and the app is not installed */
                if (asprintf(&body, "%d %s%s\n", status, reason,
                             error == -ENOPKG ? ": the app of this grain is not installed" : "") < 0)
                        body = NULL;
                h[n++] = (HttpHeader) {"Content-Type", 12, "text/plain; charset=utf-8", 25};
                h[n++] = (HttpHeader) {"Cache-Control", 13, "no-store", 8};
                h[n++] = (HttpHeader) {"Referrer-Policy", 15, "no-referrer", 11};
                if (c->has_body && !c->body_complete)
                        /* the rest of the body is not worth reading */
                        server_request_close_after(c->req);
                /* the body text is freed with the call: the release of the request */
                strbuf_done(&c->resp);
                c->resp = (StrBuf) {.data = body, .len = body ? strlen(body) : 0};
                c->resp_off = c->resp.len;
                if (server_request_respond(c->req, status, h, n, body ?: "", body ? strlen(body) : 0, call_release,
                                           c) < 0) {
                        /* the call then lives until ui_free(); it has nothing left to do */
                        (void) server_request_respond_status(c->req, 500, NULL, 0);
                        c->req = NULL;
                }
        }
}

static void call_update_io(UiCall *c);

/* The request is with the grain: the response deadline starts. */
static void call_sent(UiCall *c) {
        if (c->sent)
                return;
        c->sent = true;
        /* a deadline set at the connect (call_connect()) runs on */
        if (proxy_response_parser_head(c->parser) || c->ui->config.response_timeout_usec == 0 ||
            c->deadline > 0)
                return;
        c->deadline = now_usec(c->ui) + c->ui->config.response_timeout_usec;
        sweep_arm(c->ui);
}

/* The response is complete: the connection goes back to the pool when it can (invariant 3). */
static void call_upstream_done(UiCall *c) {
        const ProxyResponse *head = proxy_response_parser_head(c->parser);

        c->upstream_complete = true;
        call_stop_timer(c);
        if (c->websocket)
                return;
        if (head && head->keep_alive && c->sent && !c->extra_bytes && c->conn) {
                UiConn *conn = TAKE_PTR(c->conn);

                pool_put(c->ui, c->grain_id, conn);
        } else
                call_close_upstream(c);
}

static ssize_t call_read(ServerRequest *r, uint8_t *buf, size_t n, bool *ret_eof, void *userdata) {
        UiCall *c = userdata;
        size_t k = MIN(n, c->resp.len - c->resp_off);

        if (k > 0)
                memcpy(buf, c->resp.data + c->resp_off, k);
        c->resp_off += k;
        if (c->resp_off == c->resp.len) {
                strbuf_truncate(&c->resp, 0);
                c->resp_off = 0;
        }
        if (k == 0 && c->upstream_failed)
                return -EIO;
        *ret_eof = c->upstream_complete && c->resp.len == c->resp_off;
        if (k == 0 && !*ret_eof)
                c->client_waiting = true;
        /* room again: read the grain */
        call_update_io(c);
        return (ssize_t) k;
}

static int call_connect(UiCall *c, bool fresh);

static int call_on_body(ServerRequest *r, const uint8_t *data, size_t n, void *userdata);
static void call_on_body_end(ServerRequest *r, void *userdata);

/* base64(sha1(key + GUID)), RFC 6455 §4.2.2. */
static void websocket_accept(const char *key, char ret[static 29]) {
        _cleanup_free_ char *text = strjoin(key, WEBSOCKET_GUID);
        uint8_t digest[SHA_DIGEST_LENGTH];

        if (!text) {
                ret[0] = '\0'; /* matches no answer: the app's is refused */
                return;
        }
        SHA1((const unsigned char *) text, strlen(text), digest);
        EVP_EncodeBlock((unsigned char *) ret, digest, sizeof digest);
}

/* The app accepted the WebSocket: the client gets 101 (HTTP/1.1) or 200 (HTTP/2), and bytes flow both ways
 * through the server's tunnel from now on. all/n: the app's fields, filtered, with ours. */
static void call_on_switch(UiCall *c, const ProxyResponse *head, HttpHeader *all, size_t n) {
        const HttpHeader *accept = http_headers_find(head->headers, head->n_headers, "sec-websocket-accept");
        char expected[29];
        size_t k = 0;
        int r;

        websocket_accept(c->ws_key, expected);
        if (!accept || expected[0] == '\0' || accept->value_len != strlen(expected) ||
            memcmp(accept->value, expected, accept->value_len) != 0)
                return call_fail(c, 502, -EPROTO, "the grain's Sec-WebSocket-Accept is wrong");
        if (c->h2) {
                /* RFC 8441: no Sec-WebSocket-Accept, and nothing connection-specific */
                for (size_t i = 0; i < n; i++)
                        if (!http_strcaseeq(all[i].name, all[i].name_len, "sec-websocket-accept", 20))
                                all[k++] = all[i];
                n = k;
        } else {
                all[n++] = (HttpHeader) {"Upgrade", 7, "websocket", 9};
                all[n++] = (HttpHeader) {"Connection", 10, "upgrade", 7};
        }
        c->answered = true;
        c->tunnel = true;
        c->has_body = true;
        c->body_complete = false;
        c->chunked = false;
        r = server_request_respond_stream(c->req, c->h2 ? 200 : 101, all, n, -1, call_read, call_release, c);
        if (r < 0) {
                c->answered = false;
                c->tunnel = false;
                return call_fail(c, 502, r, "the grain's WebSocket answer cannot be carried");
        }
        if (c->req) {
                r = server_request_stream_body(c->req, call_on_body, call_on_body_end, c);
                if (r < 0)
                        return call_fail(c, 502, r, "the WebSocket cannot be read");
        }
        call_update_io(c);
}

/* The app's head arrived: answer the client with it. */
static void call_on_head(UiCall *c) {
        const ProxyResponse *head = proxy_response_parser_head(c->parser);
        _cleanup_free_ HttpHeader *allocated = NULL;
        HttpHeader small[32], *all = small;
        size_t n;
        int status = head->status, r;

        call_stop_timer(c);
        if (!c->req) {
                c->answered = true;
                return;
        }
        /* room for the app's, ours (two) and, for a 101, Upgrade and Connection */
        if (head->n_headers + 4 > ELEMENTSOF(small)) {
                all = allocated = calloc(head->n_headers + 4, sizeof(HttpHeader));
                if (!all)
                        return call_fail(c, 503, -ENOMEM, "out of memory");
        }
        r = proxy_response_headers_filter(head, &c->text, all, &n);
        if (r < 0)
                return call_fail(c, 503, r, "out of memory");
        all[n++] = (HttpHeader) {"Content-Security-Policy", 23, c->csp, c->csp_len};
        all[n++] = (HttpHeader) {"Referrer-Policy", 15, "same-origin", 11};

        if (status == 101)
                return call_on_switch(c, head, all, n);
        c->answered = true;
        if (proxy_response_parser_complete(c->parser) && server_request_http(c->req)->method != HTTP_METHOD_HEAD) {
                /* the whole (small) response is in hand: answered from memory, c->resp lives until the
                 * release; a HEAD keeps the streaming path, which passes the app's Content-Length on */
                r = server_request_respond(c->req, status, all, n, c->resp.data + c->resp_off,
                                           c->resp.len - c->resp_off, call_release, c);
        } else
                r = server_request_respond_stream(c->req, status, all, n, head->content_length, call_read,
                                                  call_release, c);
        if (r < 0) {
                c->answered = false;
                return call_fail(c, 502, r, "the grain's response head cannot be carried");
        }
}

/* Reads what the grain sent; false when the call ended. */
static void call_read_upstream(UiCall *c) {
        uint8_t buf[READ_MAX];
        size_t room;
        ssize_t k, used;
        bool had_head = proxy_response_parser_head(c->parser);

        if (!c->conn || c->upstream_complete)
                return;
        room = RESP_MAX - MIN(RESP_MAX, c->resp.len - c->resp_off);
        if (room == 0)
                return;
        k = recv(c->conn->fd, buf, MIN(room, sizeof buf), MSG_DONTWAIT);
        if (c->tunnel) {
                if (k < 0 && (errno == EAGAIN || errno == EINTR))
                        return;
                if (k < 0)
                        return call_fail(c, 502, negative_errno(), "the grain's connection failed");
                if (k == 0)
                        c->upstream_complete = true; /* the client's side is shut down once it has it all */
                else if (strbuf_append(&c->resp, buf, (size_t) k) < 0)
                        return call_fail(c, 502, -ENOMEM, "out of memory");
                if (c->req && c->client_waiting) {
                        c->client_waiting = false;
                        server_request_resume(c->req);
                }
                return;
        }
        if (k < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return;
                k = negative_errno();
                if (c->reused && !c->retried && proxy_response_parser_seen(c->parser) == 0 && c->body_sent == 0) {
                        call_connect(c, true);
                        return;
                }
                return call_fail(c, 502, (int) k, "the grain's connection failed");
        }
        if (k == 0 && c->reused && !c->retried && proxy_response_parser_seen(c->parser) == 0 && c->body_sent == 0) {
                /* a kept-alive connection the grain had closed: once more, on a fresh one */
                call_connect(c, true);
                return;
        }
        used = proxy_response_parser_feed(c->parser, buf, (size_t) k, &c->resp);
        if (used < 0)
                return call_fail(c, 502, (int) used,
                                 used == -ECONNRESET ? "the grain closed the connection early"
                                                     : "the grain's response is malformed");
        if (used < k) {
                c->extra_bytes = true;
                /* after a 101: the app's first WebSocket bytes */
                if (proxy_response_parser_head(c->parser) && proxy_response_parser_head(c->parser)->upgrade &&
                    strbuf_append(&c->resp, buf + used, (size_t) (k - used)) < 0)
                        return call_fail(c, 502, -ENOMEM, "out of memory");
        }
        if (!had_head && proxy_response_parser_head(c->parser))
                call_on_head(c);
        if (c->tunnel)
                return;
        if (proxy_response_parser_complete(c->parser)) {
                /* even when the answer is over already (the server may release an in-memory answer at
                 * once): the connection still goes back to the pool */
                call_upstream_done(c);
                if (c->gone)
                        return;
        } else if (c->gone)
                return;
        else if (c->answered && !c->req)
                /* the client went: the rest of the body is of no use */
                return call_close_upstream(c);
        if (c->req && c->client_waiting && (c->resp.len > c->resp_off || c->upstream_complete)) {
                c->client_waiting = false;
                server_request_resume(c->req);
        }
}

/* Writes the head and body bytes to the grain (once its app's socket is there). */
static void call_flush(UiCall *c) {
        while (c->conn && c->conn->fd >= 0) {
                const char *p;
                size_t n;
                ssize_t k;
                bool head = c->head_sent < c->head.len;

                if (head) {
                        p = c->head.data + c->head_sent;
                        n = c->head.len - c->head_sent;
                } else if (c->up_out.len > 0) {
                        p = c->up_out.data;
                        n = c->up_out.len;
                } else
                        break;
                k = send(c->conn->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (k < 0) {
                        int e = errno;

                        if (e == EAGAIN || e == EINTR)
                                return;
                        if (c->reused && !c->retried && proxy_response_parser_seen(c->parser) == 0 && c->body_sent == 0) {
                                call_connect(c, true);
                                return;
                        }
                        if (proxy_response_parser_head(c->parser)) {
                                /* the app answered without reading all of the body: no matter */
                                call_close_upstream(c);
                                return;
                        }
                        return call_fail(c, !c->reused && c->head_sent == 0 && (e == ECONNREFUSED || e == ENOENT) ? 503 : 502,
                                         -e, "sending to the grain failed");
                }
                if (head)
                        c->head_sent += (size_t) k;
                else {
                        c->body_sent += (uint64_t) k;
                        memmove(c->up_out.data, c->up_out.data + k, c->up_out.len - (size_t) k);
                        strbuf_truncate(&c->up_out, c->up_out.len - (size_t) k);
                }
        }
        if (!c->conn || c->conn->fd < 0)
                return;
        if (c->head_sent == c->head.len && c->up_out.len == 0) {
                if (c->tunnel && c->body_complete && !c->shut) {
                        /* the client ended its direction: so does the grain's */
                        c->shut = true;
                        (void) shutdown(c->conn->fd, SHUT_WR);
                } else if (!c->has_body || c->body_complete)
                        call_sent(c);
                else if (c->body_paused && c->req) {
                        c->body_paused = false;
                        server_request_resume_body(c->req);
                }
        }
}

/* Input on an idle connection is its end (EOF, or bytes nobody asked for); otherwise it is its call's. */
static void conn_on_io(UiConn *conn, uint32_t revents) {
        UiCall *c = conn->call;

        if (!c) {
                if (conn->grain)
                        pool_remove(conn);
                else
                        (void) conn_watch(conn, -EBADF, 0);
                return;
        }
        call_enter(c);
        if (conn->fd < 0) {
                int r = conn_receive(conn);

                if (r < 0)
                        call_fail(c, 502, r,
                                  r == -ECONNRESET ? "the grain closed the connection before handing it over"
                                                   : "the grain handed over no usable connection");
                if (r != 0) {
                        call_leave(c);
                        return;
                }
                revents = EPOLLOUT | EPOLLIN;
        }
        if (revents & EPOLLOUT)
                call_flush(c);
        if (!c->gone && c->conn && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
                call_read_upstream(c);
        if (!c->gone)
                call_update_io(c);
        call_leave(c);
}

/*
 * The grain connections are not sd-event sources of their own, for the reason server.c's connections are
 * not: sd-event dispatches one source per iteration and asks the kernel again each time, which under load
 * costs an epoll_wait() per response, each returning every ready connection. Here one wakeup handles a
 * batch. Handling one connection may close another (a pool overflowing, a grain stopping): conn_free()
 * then only closes it, and frees it once the batch is done, so that no event of the batch reaches freed
 * memory.
 */
#define EPOLL_BATCH 64
static int ui_on_epoll(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Ui *u = userdata;
        struct epoll_event evs[EPOLL_BATCH];
        int n;

        n = epoll_wait(u->epfd, evs, EPOLL_BATCH, 0);
        u->dispatching = true;
        for (int i = 0; i < n; i++) {
                UiConn *conn = evs[i].data.ptr;

                if (!conn->dead)
                        conn_on_io(conn, evs[i].events);
        }
        u->dispatching = false;
        while (u->dead) {
                UiConn *c = u->dead;

                u->dead = c->next;
                free(c);
        }
        return 0;
}

/* EPOLLIN|EPOLLRDHUP while the grain may be read, EPOLLOUT only while bytes wait that a send could not
 * take: unchanged masks cost nothing (conn_watch() skips the epoll_ctl). */
static void call_update_io(UiCall *c) {
        uint32_t events = 0;

        if (!c->conn)
                return;
        if (c->conn->fd < 0) {
                /* the hand-over's answer on the lease */
                (void) conn_watch(c->conn, c->conn->lease_fd, EPOLLIN | EPOLLRDHUP);
                return;
        }
        if (c->head_sent < c->head.len || c->up_out.len > 0)
                events |= EPOLLOUT;
        if (!c->upstream_complete && c->resp.len - c->resp_off < RESP_MAX)
                events |= EPOLLIN | EPOLLRDHUP;
        (void) conn_watch(c->conn, c->conn->fd, events);
}

/* A connection to the grain for c: from the pool unless fresh, else a new one. The head goes out at once. */
static int call_connect(UiCall *c, bool fresh) {
        Ui *u = c->ui;
        UiConn *conn = NULL;
        int fd, r;

        if (c->conn) {
                /* a retry: the old connection was dead */
                call_close_upstream(c);
                c->retried = true;
                c->head_sent = 0;
                proxy_response_parser_reset(c->parser, server_request_http(c->req)->method == HTTP_METHOD_HEAD);
                if (c->websocket)
                        proxy_response_parser_allow_upgrade(c->parser);
        }
        c->reused = false;
        if (!fresh) {
                conn = pool_take(u, c->grain_id);
                c->reused = conn;
        }
        if (!conn) {
                r = u->connect(c->grain_id, &fd, u->userdata);
                if (r < 0) {
                        call_fail(c, r == -ENOENT ? 404 : 503, r, "connecting to the grain failed");
                        return r;
                }
                r = conn_new(u, fd, &conn);
                if (r < 0) {
                        call_fail(c, 503, r, "watching the grain's connection failed");
                        return r;
                }
        }
        c->conn = conn;
        conn->call = c;
        if (conn->fd < 0 && u->config.response_timeout_usec > 0) {
                /* the response deadline covers the hand-over too (a waking grain answers it once its app
                 * listens), as it covered a request queued in the grain's socket */
                c->deadline = now_usec(u) + u->config.response_timeout_usec;
                sweep_arm(u);
        }
        call_flush(c);
        call_update_io(c);
        return 0;
}

static int call_on_body(ServerRequest *r, const uint8_t *data, size_t n, void *userdata) {
        UiCall *c = userdata;
        int k;

        if (!c->conn || (c->answered && !c->req) || (c->upstream_complete && !c->tunnel))
                return 0; /* nobody wants it any more: the server skips it, or closes */
        if (c->chunked) {
                char line[HTTP1_CHUNK_LINE_MAX];
                size_t l = http1_chunk_line_format(n, line);

                if (n == 0)
                        return 0;
                if ((k = strbuf_append(&c->up_out, line, l)) < 0 || (k = strbuf_append(&c->up_out, data, n)) < 0 ||
                    (k = strbuf_append(&c->up_out, "\r\n", 2)) < 0)
                        return k;
        } else if ((k = strbuf_append(&c->up_out, data, n)) < 0)
                return k;
        call_update_io(c);
        if (c->up_out.len >= UP_OUT_MAX) {
                c->body_paused = true;
                return 1;
        }
        return 0;
}

static void call_on_body_end(ServerRequest *r, void *userdata) {
        UiCall *c = userdata;

        c->body_complete = true;
        if (c->chunked && strbuf_append_str(&c->up_out, "0\r\n\r\n") < 0) {
                call_fail(c, 503, -ENOMEM, "out of memory");
                return;
        }
        if (c->conn && c->head_sent == c->head.len && c->up_out.len == 0)
                call_flush(c);
        call_update_io(c);
}

static void call_start(Ui *u, ServerRequest *req, UiSession *s, const char *ws_key) {
        const HttpRequest *h = server_request_http(req);
        size_t grain_id_len = strlen(s->grain_id), csp_len = strlen(s->csp);
        bool head_request = h->method == HTTP_METHOD_HEAD;
        UiCall *c;
        int r;

        c = call_new(u);
        if (!c)
                return answer_text(req, 503, NULL, NULL, 0);
        if (strbuf_append(&c->strings, s->grain_id, grain_id_len + 1) < 0 ||
            strbuf_append(&c->strings, s->csp, csp_len) < 0) {
                call_destroy(c);
                return answer_text(req, 503, NULL, NULL, 0);
        }
        c->ui = u;
        c->req = req;
        c->id = server_request_id(req);
        c->grain_id = c->strings.data;
        c->csp = c->strings.data + grain_id_len + 1;
        c->csp_len = csp_len;
        c->websocket = ws_key;
        c->h2 = h->version == HTTP_VERSION_2;
        /* a WebSocket's bytes wait until the app accepted it */
        c->has_body = !ws_key && h->framing != HTTP_FRAMING_NONE;
        c->chunked = c->has_body && h->framing == HTTP_FRAMING_CHUNKED;
        if (ws_key)
                snprintf(c->ws_key, sizeof c->ws_key, "%s", ws_key);
        c->next = u->calls;
        if (u->calls)
                u->calls->prev = c;
        u->calls = c;
        server_request_on_abort(req, call_on_abort, c);

        call_enter(c);
        r = s->fields ? proxy_request_head_append_fields(&c->head, s->fields, s->fields_len, h, ws_key)
                      : proxy_request_head_append(&c->head, s, s->origin, h, ws_key);
        if (r >= 0 && c->parser)
                proxy_response_parser_reset(c->parser, head_request);
        else if (r >= 0)
                r = proxy_response_parser_new(head_request, &c->parser);
        if (r >= 0 && ws_key)
                proxy_response_parser_allow_upgrade(c->parser);
        if (r < 0) {
                call_fail(c, 503, r, "building the grain request failed");
                goto finish;
        }
        if (call_connect(c, false) < 0 || c->answered)
                goto finish;
        if (c->has_body) {
                r = server_request_stream_body(req, call_on_body, call_on_body_end, c);
                if (r < 0) {
                        call_fail(c, 503, r, "reading the request body failed");
                        goto finish;
                }
        }
finish:
        call_leave(c);
}

/* ---- sessions ---- */

static void answer_forbidden(ServerRequest *req, const char *why) {
        answer_text(req, 403, why, NULL, 0);
}

/* The value of the cookie named name in the request's Cookie fields equals s's id (any of them, if several). */
static bool cookie_matches(const HttpRequest *h, const UiSession *s) {
        static const char name[] = "sandstorm-sid";

        for (size_t i = 0; i < h->n_headers; i++) {
                const HttpHeader *f = h->headers + i;
                const char *p = f->value, *end = f->value + f->value_len;

                if (!PROXY_HEADER_IS(f, "cookie"))
                        continue;
                while (p < end) {
                        const char *semi = memchr(p, ';', (size_t) (end - p)), *q = p, *eq;
                        size_t n = (size_t) ((semi ?: end) - p);

                        strip_span(&q, &n);
                        eq = memchr(q, '=', n);
                        if (eq && (size_t) (eq - q) == STRLEN(name) && memcmp(q, name, STRLEN(name)) == 0 &&
                            ui_session_id_equal(s, eq + 1, n - STRLEN(name) - 1))
                                return true;
                        p = semi ? semi + 1 : end;
                }
        }
        return false;
}

static int percent_decode(const char *p, size_t n, char **ret) {
        _cleanup_free_ char *s = malloc(n + 1);
        size_t k = 0;

        if (!s)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (p[i] == '%') {
                        int a, b;

                        if (i + 2 >= n)
                                return -EINVAL;
                        a = hex_digit_value(p[i + 1]);
                        b = hex_digit_value(p[i + 2]);
                        if (a < 0 || b < 0)
                                return -EINVAL;
                        s[k++] = (char) (a * 16 + b);
                        i += 2;
                } else
                        s[k++] = p[i];
        }
        s[k] = '\0';
        *ret = TAKE_PTR(s);
        return 0;
}

/* The target of the init redirect: a path on this host, nothing else (no "//host", no backslash, no
 * scheme, no control character or space, which the shell percent-encodes). */
static int init_location(const char *decoded, char **ret) {
        size_t n = strlen(decoded), first;

        for (size_t i = 0; i < n; i++) {
                uint8_t ch = (uint8_t) decoded[i];

                if (ch <= 0x20 || ch >= 0x7f || ch == '\\')
                        return -EINVAL;
        }
        if (decoded[0] == '/') {
                if (decoded[1] == '/')
                        return -EINVAL;
                *ret = strdup(decoded);
                return *ret ? 0 : -ENOMEM;
        }
        /* "javascript:…", "https:…": a scheme, whatever a browser would make of "/" in front */
        first = strcspn(decoded, "/?#");
        if (memchr(decoded, ':', first))
                return -EINVAL;
        *ret = strjoin("/", decoded);
        return *ret ? 0 : -ENOMEM;
}

/* GET /_sandstorm-init?sessionid=<id>&path=<path> (spec §5.10): the cookie that binds this browser to the
 * session, and a redirect to where the grain opens. */
static void handle_init(Ui *u, ServerRequest *req, UiSession *s) {
        const HttpRequest *h = server_request_http(req);
        const char *q = h->path + STRLEN(INIT_PATH), *end = h->path + h->path_len, *id, *path;
        _cleanup_free_ char *decoded = NULL, *location = NULL, *cookie = NULL;
        HttpHeader extra[3];
        int r;

        if (!startswith(q, "?sessionid=")) 
                return answer_text(req, 400, NULL, NULL, 0);
        id = q + STRLEN("?sessionid=");
        path = memchr(id, '&', (size_t) (end - id));
        if (!path || !startswith(path, "&path=") || memchr(path + 1, '&', (size_t) (end - path - 1)))
                return answer_text(req, 400, NULL, NULL, 0);
        r = percent_decode(path + STRLEN("&path="), (size_t) (end - path) - STRLEN("&path="), &decoded);
        if (r == -ENOMEM)
                return answer_text(req, 503, NULL, NULL, 0);
        if (r >= 0)
                r = init_location(decoded, &location);
        if (r == -ENOMEM)
                return answer_text(req, 503, NULL, NULL, 0);
        if (r < 0)
                return answer_text(req, 400, NULL, NULL, 0);
        if (!s || !ui_session_id_equal(s, id, (size_t) (path - id)))
                return answer_text(req, 404, NULL, NULL, 0);
        ui_session_touch(s, now_usec(u));

        if (asprintf(&cookie, "sandstorm-sid=%s; Path=/; HttpOnly; SameSite=Lax%s", s->id,
                     u->https ? "; Secure" : "") < 0)
                return answer_text(req, 503, NULL, NULL, 0);
        extra[0] = (HttpHeader) {"Location", 8, location, strlen(location)};
        extra[1] = (HttpHeader) {"Set-Cookie", 10, cookie, strlen(cookie)};
        log_debug("Grain session for grain '%s' bound to a browser", s->grain_id);
        answer_text(req, 303, NULL, extra, 2);
}

/* An HTTP/1.1 Upgrade to websocket, or an HTTP/2 extended CONNECT for it (RFC 8441). */
static bool is_websocket(const HttpRequest *h) {
        if (h->version == HTTP_VERSION_2)
                return h->method == HTTP_METHOD_CONNECT && h->protocol && streq(h->protocol, "websocket");
        return h->upgrade && http_headers_have_token(h->headers, h->n_headers, "upgrade", "websocket");
}

/* The key the app gets: the client's (HTTP/1.1, checked: 16 bytes in base64), or a new one (HTTP/2 has
 * none). */
static int websocket_key(const HttpRequest *h, char ret[static 25]) {
        const HttpHeader *k;
        uint8_t raw[16];

        if (h->version == HTTP_VERSION_2) {
                random_bytes(raw, sizeof raw);
                EVP_EncodeBlock((unsigned char *) ret, raw, sizeof raw);
                return 0;
        }
        k = http_request_header(h, "sec-websocket-key");
        if (!k || http_headers_count(h->headers, h->n_headers, "sec-websocket-key") != 1 || k->value_len != 24 ||
            EVP_DecodeBlock(raw, (const unsigned char *) k->value, 24) != 18 || k->value[22] != '=' ||
            k->value[23] != '=')
                return -EINVAL;
        memcpy(ret, k->value, 24);
        ret[24] = '\0';
        return 0;
}

void ui_handle(Ui *u, ServerRequest *req, const char *host_id, size_t host_id_len) {
        const HttpRequest *h = server_request_http(req);
        uint64_t now = now_usec(u);
        UiSession *s;
        const HttpHeader *o;
        size_t n = strcspn(h->path, "?");

        assert(u);
        assert(req);

        s = ui_session_table_find(u->sessions, host_id, host_id_len, now, u->config.session_idle_usec);
        if (MIN(n, h->path_len) == STRLEN(INIT_PATH) && memcmp(h->path, INIT_PATH, STRLEN(INIT_PATH)) == 0)
                return handle_init(u, req, s);
        if (!s || !cookie_matches(h, s))
                return answer_forbidden(req, "Unauthorized due to missing cookie");

        o = NULL;
        for (size_t i = 0; i < h->n_headers; i++)
                if (PROXY_HEADER_IS(h->headers + i, "origin")) {
                        if (o)
                                return answer_forbidden(req, "CSRF not allowed"); /* more than one */
                        o = h->headers + i;
                }
        if (o && !(streq(o->value, s->origin) || streq(o->value, "null")))
                return answer_forbidden(req, "CSRF not allowed");

        ui_session_touch(s, now);
        if (is_websocket(h)) {
                char key[25];

                if (websocket_key(h, key) < 0)
                        return answer_text(req, 400, NULL, NULL, 0);
                return call_start(u, req, s, key);
        }
        if (h->method == HTTP_METHOD_CONNECT)
                return answer_text(req, 405, NULL, NULL, 0);
        call_start(u, req, s, NULL);
}

/* ---- sessions, opened and dropped ---- */

int ui_session_open(Ui *u, const UiSessionParams *p, const char *path, char **ret_url, char **ret_host) {
        _cleanup_free_ char *origin = NULL, *host = NULL, *url = NULL;
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;
        UiSession *s;
        UiGrain *g;
        int r;

        assert(u);
        assert(p);

        if (isempty(p->grain_id))
                return -EINVAL;
        if (!path)
                path = "/";
        g = grain_get(u, p->grain_id);
        if (!g)
                return -ENOMEM;
        r = ui_session_table_open(u->sessions, p, g->next_number, now_usec(u), &s);
        if (r < 0)
                return r;
        g->next_number++;

        host = strjoin("ui-", s->host_id);
        if (!host) {
                ui_session_table_remove(u->sessions, s);
                return -ENOMEM;
        }
        r = route_config_wildcard_origin(u->route, host, &origin);
        if (r >= 0) {
                s->csp = session_csp(u, origin);
                if (!s->csp)
                        r = -ENOMEM;
        }
        /* a session whose values cannot go into fields gets them refused at each request, as before */
        if (r >= 0 && proxy_session_fields(s, origin, &s->fields, &s->fields_len) == -ENOMEM)
                r = -ENOMEM;
        if (r >= 0)
                r = strbuf_printf(&b, "%s" INIT_PATH "?sessionid=%s&path=", origin, s->id);
        if (r >= 0)
                r = proxy_encode_uri_component(&b, path, strlen(path));
        if (r < 0) {
                ui_session_table_remove(u->sessions, s);
                return r;
        }
        url = strbuf_steal(&b, NULL);
        if (!url) {
                ui_session_table_remove(u->sessions, s);
                return -ENOMEM;
        }
        s->origin = TAKE_PTR(origin);
        log_debug("Opened a session on grain '%s' for user %" PRIi64, p->grain_id, p->user_id);
        if (ret_url)
                *ret_url = TAKE_PTR(url);
        if (ret_host)
                *ret_host = TAKE_PTR(host);
        return 0;
}

void ui_drop_grain(Ui *u, const char *grain_id) {
        UiGrain *g;

        assert(u);
        assert(grain_id);
        (void) ui_session_table_drop_grain(u->sessions, grain_id);
        for (UiGrain **p = &u->grains; *p; p = &(*p)->next)
                if (streq((*p)->id, grain_id)) {
                        g = *p;
                        *p = g->next;
                        pool_clear(g);
                        free(g->id);
                        free(g);
                        break;
                }
}

void ui_drop_user(Ui *u, int64_t user_id) {
        assert(u);
        (void) ui_session_table_drop_user(u->sessions, user_id);
}

/* ---- the Ui ---- */

static int expire_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Ui *u = userdata;

        (void) ui_session_table_expire(u->sessions, usec, u->config.session_idle_usec);
        (void) sd_event_source_set_time_relative(s, MIN(EXPIRE_INTERVAL_USEC, MAX(u->config.session_idle_usec, (uint64_t) 1000)));
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

/* The sweep's period: a quarter of the shorter of the response timeout and the pool's idle time, at most
 * 1 s (and at least 1 ms), so either fires at most a quarter late. */
static uint64_t sweep_interval(const Ui *u) {
        uint64_t t = UINT64_MAX;

        if (u->config.response_timeout_usec > 0)
                t = u->config.response_timeout_usec;
        if (u->config.pool_idle_usec > 0)
                t = MIN(t, u->config.pool_idle_usec);
        return MAX(MIN(t / 4, (uint64_t) 1000000), (uint64_t) 1000);
}

/* Armed while a call waits for a response head or a connection is pooled; one timer for all of them. */
static void sweep_arm(Ui *u) {
        uint64_t interval;

        if (u->sweep_armed || !u->sweep_timer)
                return;
        interval = sweep_interval(u);
        if (sd_event_source_set_time(u->sweep_timer, now_usec(u) + interval) < 0 ||
            sd_event_source_set_time_accuracy(u->sweep_timer, MAX(interval / 4, (uint64_t) 1)) < 0 ||
            sd_event_source_set_enabled(u->sweep_timer, SD_EVENT_ONESHOT) < 0)
                return;
        u->sweep_armed = true;
}

static int sweep_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Ui *u = userdata;
        uint64_t now = now_usec(u);
        bool more = false;

        u->sweep_armed = false;
        for (UiCall *c = u->calls, *next; c; c = next) {
                next = c->next;
                if (c->deadline == 0)
                        continue;
                if (c->deadline > now) {
                        more = true;
                        continue;
                }
                call_enter(c);
                c->deadline = 0;
                call_fail(c, 504, -ETIMEDOUT, "no response from the grain in time");
                call_leave(c);
        }
        for (UiGrain *g = u->grains; g; g = g->next)
                for (UiConn *c = g->idle, *next; c; c = next) {
                        next = c->next;
                        if (now - c->idle_since >= u->config.pool_idle_usec)
                                pool_remove(c);
                        else
                                more = true;
                }
        if (more)
                sweep_arm(u);
        return 0;
}

static int config_check(const UiConfig *c) {
        if (c->session_idle_usec == 0)
                return -EINVAL;
        return 0;
}

int ui_new(sd_event *e, const RouteConfig *route, const UiConfig *c, UiConnect connect, void *userdata, Ui **ret) {
        _cleanup_(ui_freep) Ui *u = NULL;
        int r;

        assert(e);
        assert(route);
        assert(c);
        assert(connect);
        assert(ret);

        r = config_check(c);
        if (r < 0)
                return r;
        u = calloc(1, sizeof *u);
        if (!u)
                return -ENOMEM;
        u->epfd = -EBADF;
        u->event = sd_event_ref(e);
        u->route = route;
        u->config = *c;
        u->connect = connect;
        u->userdata = userdata;
        u->https = startswith(route_config_base_origin(route), "https://");
        u->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (u->epfd < 0)
                return negative_errno();
        r = sd_event_add_io(e, &u->epoll_source, u->epfd, EPOLLIN, ui_on_epoll, u);
        if (r < 0)
                return r;
        r = ui_session_table_new(&u->sessions);
        if (r < 0)
                return r;
        r = sd_event_add_time_relative(e, &u->expire_timer, CLOCK_MONOTONIC,
                                       MIN(EXPIRE_INTERVAL_USEC, MAX(c->session_idle_usec, (uint64_t) 1000)), 0,
                                       expire_on_timer, u);
        if (r < 0)
                return r;
        r = sd_event_add_time(e, &u->sweep_timer, CLOCK_MONOTONIC, UINT64_MAX, 0, sweep_on_timer, u);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(u->sweep_timer, SD_EVENT_OFF);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(u);
        return 0;
}

int ui_set_config(Ui *u, const UiConfig *c) {
        int r;

        assert(u);
        assert(c);
        r = config_check(c);
        if (r < 0)
                return r;
        u->config = *c;
        /* a new period from the next arming on */
        /* pools shrink to the new size as their connections are taken or time out */
        return 0;
}

Ui *ui_free(Ui *u) {
        if (!u)
                return NULL;
        /* requests in flight: their grain connections close; the server frees them (and the calls) later,
         * so they are cut loose from u here */
        while (u->calls) {
                UiCall *c = u->calls;

                u->calls = c->next;
                c->next = c->prev = NULL;
                call_enter(c);
                call_fail(c, 503, -ECANCELED, "granaryd is stopping");
                c->ui = NULL;
                call_leave(c);
        }
        while (u->spare) {
                UiCall *c = u->spare;

                u->spare = c->next;
                call_destroy(c);
        }
        while (u->grains) {
                UiGrain *g = u->grains;

                u->grains = g->next;
                pool_clear(g);
                free(g->id);
                free(g);
        }
        ui_session_table_free(u->sessions);
        sd_event_source_disable_unref(u->expire_timer);
        sd_event_source_disable_unref(u->sweep_timer);
        sd_event_source_disable_unref(u->epoll_source);
        safe_close(u->epfd);
        sd_event_unref(u->event);
        free(u);
        return NULL;
}
