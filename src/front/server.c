/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * One connection:
 *
 *   accept --(TLS listener)--> HANDSHAKE --done, ALPN h2--> H2
 *      |                           \--done, otherwise--> H1
 *      \--(plain)--> DETECT --HTTP/2 preface--> H2
 *                        \--anything else--> H1          (CONTROL goes to H1 at once)
 *   H1 --101 answered to an upgrade (h1_tunnel_start())--> TUNNEL
 *   H1, H2 --error, EOF, deadline, "Connection: close" answered, GOAWAY flushed--> closed (conn_free())
 *   TUNNEL --both directions ended, error, write or tunnel idle deadline--> closed (conn_free())
 *
 * TUNNEL has one request, the upgrade, and no parser: input (what was buffered behind the head first) goes
 * to its consumer (tunnel_consume()), output is its producer's bytes unframed; the producer's EOF shuts our
 * side down (conn_flush()), the client's EOF ends the body (tunnel_input_check()). An HTTP/2 tunnel is one
 * stream of H2 (an extended CONNECT answered 2xx), with the same request fields and deadlines.
 *
 * H1 runs one request at a time: the parser is not fed the bytes of the next request until the response to
 * the current one is written whole (pipelined requests wait in c->in), so responses can never be reordered
 * and a slow handler holds back only its own connection.
 *
 * (1) every connection counts in s->n_connections and in its address's entry until conn_free(); accepting
 *     pauses while s->n_connections >= connections_max.
 * (2) a connection has exactly one deadline at a time (c->timer), chosen by conn_update() from its state:
 *     handshake or head in progress → header timeout (not moved by progress); nothing in flight → idle
 *     timeout; body being read → body timeout (moved by progress); output waiting → write timeout (moved by
 *     progress); a request waiting for its handler → none; a tunnel → (7).
 * (3) a request is freed exactly once: after its response is written (H1) or its stream closes (H2), or
 *     when its connection goes; its abort callback runs in the latter case only, if it was not answered (or
 *     is a tunnel that did not end both ways: then also when its HTTP/2 stream is reset).
 * (4) input is read only while c->in holds less than IN_MAX bytes and no output is waiting (back-pressure
 *     both ways: a client that does not read stops being read; a handler that does not answer stops its
 *     connection's reading once IN_MAX bytes are waiting).
 * (5) idle connections hold no big buffers: c->in is freed when emptied, OpenSSL releases its buffers
 *     (SSL_MODE_RELEASE_BUFFERS), reads go to the server's one shared buffer, and the HTTP/1 parser keeps
 *     at most 1 KiB of head and 16 fields for the connection's next request (http1.c).
 * (6) handling one connection never frees another (see server_on_epoll()).
 * (7) a tunnel (r->tunnel) has no body or idle deadline: only the write deadline and, when set, the
 *     tunnel idle timeout since its last byte either way (r->active); on HTTP/2 that resets only its stream.
 *     In TUNNEL, input is read while output waits: the two directions hold each other back only through
 *     the handler.
 * (8) on the control socket, a client that closes while a streamed response is still being produced is gone
 *     (a half-close cannot be told from a close): the connection goes at once, and the request with it
 *     (its destroy), instead of waiting for the producer's next bytes to fail. A response that never ends
 *     (POST /api/v1/dev-apps) has no deadline while it waits for its producer: see (2).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "basic/log.h"
#include "basic/macro.h"
#include "basic/string-util.h"
#include "front/server.h"
#include "http/http1-response.h"
#include "http/http1.h"
#include "http/http2.h"

#define READ_BUFFER_SIZE ((size_t) 65536)
#define IN_MAX ((size_t) 65536)
/* Body bytes of a request nobody asked to read that are skipped before the connection is closed instead. */
#define DISCARD_MAX ((uint64_t) 65536)
#define ADDRESS_BUCKETS 1024U
#define ACCEPT_BATCH 64
#define USEC_PER_SEC UINT64_C(1000000)

typedef struct AddressEntry AddressEntry;
struct AddressEntry {
        AddressEntry *next;
        uint8_t key[16];
        unsigned n;
};

typedef struct Listener {
        Server *server;
        int fd;
        ServerListenerKind kind;
        uint16_t port;
        sd_event_source *source;
} Listener;

typedef enum ConnState {
        CONN_HANDSHAKE,
        CONN_DETECT,
        CONN_H1,
        CONN_H2,
        CONN_TUNNEL, /* after a 101 (H1): raw bytes both ways between the client and one request */
} ConnState;

typedef struct Conn Conn;

struct ServerRequest {
        Conn *conn;
        ServerRequest *next, *prev; /* the connection's requests (H2: several) */
        int32_t stream_id;
        uint64_t id;
        HttpRequest *http;

        bool answered, complete, close_after;
        /* body */
        bool reading;
        size_t body_max;
        StrBuf body;
        uint64_t body_seen;
        uint64_t started; /* when its head was complete */
        void (*body_cb)(ServerRequest *r, const void *body, size_t n, void *userdata);
        void *body_userdata;
        /* request body, streamed (server_request_stream_body()) */
        ServerBodyData body_data;
        void (*body_end)(ServerRequest *r, void *userdata);
        bool body_paused;
        /* response body: out[out_off..out_len) is next; a streamed one refills it from stream_read */
        const uint8_t *out;
        size_t out_len, out_off;
        void (*release)(void *data);
        void *release_data;
        ServerBodyRead stream_read;
        void *stream_userdata;
        uint8_t *stream_buf;
        int64_t stream_left; /* bytes promised by Content-Length and not yet produced; -1: unknown */
        bool streaming, stream_eof, stream_waiting, chunked;
        /* answered 101 (H1; the connection is CONN_TUNNEL) or 2xx to an extended CONNECT (H2): body and
         * response are a tunnel's two directions, under the tunnel's deadlines */
        bool tunnel;
        uint64_t active; /* a tunnel's last byte, either way */

        void (*abort_cb)(ServerRequest *r, void *userdata);
        void *abort_userdata;
};

struct Conn {
        Server *server;
        Conn *next, *prev;
        Listener *listener;
        int fd;
        sd_event_source *timer;
        uint32_t events;
        uint64_t deadline;
        ConnState state;
        AddressEntry *address_entry;
        char address[INET6_ADDRSTRLEN];
        struct ucred cred;
        gid_t *groups;
        size_t n_groups;

        SSL *ssl;
        bool ssl_want_write; /* the last TLS operation needs the socket writable */
        Http1Parser *h1;
        Http2Session *h2;
        ServerRequest *requests;

        uint8_t *in; /* read and not yet parsed */
        size_t in_len, in_allocated;

        /* H1 output: the head, then the current request's body */
        StrBuf head;
        size_t head_off;
        bool write_blocked; /* the last write would have blocked */
        bool read_eof, closing, dead;
        bool lingering; /* answered and shut down for writing: reading what is left until EOF */
        bool tunnel_out_done; /* CONN_TUNNEL: the producer ended, everything is sent, our side is shut down */
        bool busy, again; /* inside conn_process(); something asked for another step */
        bool may_read;    /* epoll said readable, and no read since came back short */
        bool asked;       /* a request came on it: idle now means kept alive, not just opened */
        uint64_t head_started; /* when the head (or handshake) in progress began */
};

struct Server {
        sd_event *event;
        ServerLimits limits;
        ServerHandler handler;
        void *userdata;
        TlsContext *tls;
        Listener **listeners;
        size_t n_listeners;
        Conn *conns;
        unsigned n_connections;
        AddressEntry *addresses[ADDRESS_BUCKETS];
        uint8_t *rbuf;
        int epfd; /* every connection's socket */
        sd_event_source *epoll_source;
        int reserve_fd;
        bool accepting, draining;
        uint64_t next_request_id;
        sd_event_source *drain_timer;
        void (*drain_done)(Server *s, void *userdata);
        void *drain_userdata;
        char date[HTTP_DATE_SIZE];
        time_t date_time;
};

static void conn_free(Conn *c);
static void conn_update(Conn *c);
static void conn_process(Conn *c);
static bool conn_hold(Conn *c);
static void conn_release(Conn *c, bool was_busy);
static int conn_flush(Conn *c);

static void *mfree(void *p) {
        free(p);
        return NULL;
}

#define LINGER_USEC (2 * USEC_PER_SEC)

/* ---- addresses ---- */

static void address_key(const struct sockaddr_storage *sa, uint8_t key[static 16]) {
        memset(key, 0, 16);
        if (sa->ss_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *) sa;

                key[10] = key[11] = 0xff;
                memcpy(key + 12, &in->sin_addr, 4);
        } else if (sa->ss_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;

                memcpy(key, &in6->sin6_addr, 16);
                /* one household or one attacker has a /64; IPv4-mapped addresses keep all their bits */
                if (!IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
                        memset(key + 8, 0, 8);
        }
}

static unsigned address_hash(const uint8_t key[static 16]) {
        uint32_t h = 2166136261u;

        for (size_t i = 0; i < 16; i++)
                h = (h ^ key[i]) * 16777619u;
        return h % ADDRESS_BUCKETS;
}

static AddressEntry *address_acquire(Server *s, const uint8_t key[static 16]) {
        unsigned b = address_hash(key);
        AddressEntry *e;

        for (e = s->addresses[b]; e; e = e->next)
                if (memcmp(e->key, key, 16) == 0)
                        break;
        if (!e) {
                e = calloc(1, sizeof *e);
                if (!e)
                        return NULL;
                memcpy(e->key, key, 16);
                e->next = s->addresses[b];
                s->addresses[b] = e;
        }
        e->n++;
        return e;
}

static void address_release(Server *s, AddressEntry *e) {
        AddressEntry **p;

        if (!e || --e->n > 0)
                return;
        for (p = &s->addresses[address_hash(e->key)]; *p; p = &(*p)->next)
                if (*p == e) {
                        *p = e->next;
                        free(e);
                        return;
                }
}

static void format_address(const struct sockaddr_storage *sa, char ret[static INET6_ADDRSTRLEN]) {
        ret[0] = '\0';
        if (sa->ss_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, ret, INET6_ADDRSTRLEN);
        else if (sa->ss_family == AF_INET6) {
                const struct in6_addr *a = &((const struct sockaddr_in6 *) sa)->sin6_addr;

                if (IN6_IS_ADDR_V4MAPPED(a))
                        inet_ntop(AF_INET, a->s6_addr + 12, ret, INET6_ADDRSTRLEN);
                else
                        inet_ntop(AF_INET6, a, ret, INET6_ADDRSTRLEN);
        }
}

/* ---- time ---- */

static uint64_t now_usec(Server *s) {
        uint64_t t = 0;

        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &t);
        return t;
}

static const char *server_date(Server *s) {
        time_t t = time(NULL);

        if (t != s->date_time) {
                if (http_date_format(t, s->date) < 0)
                        s->date[0] = '\0';
                s->date_time = t;
        }
        return s->date;
}

/* ---- requests ---- */

static ServerRequest *request_free(ServerRequest *r) {
        Conn *c;

        if (!r)
                return NULL;
        c = r->conn;
        if (c) {
                if (r->prev)
                        r->prev->next = r->next;
                else
                        c->requests = r->next;
                if (r->next)
                        r->next->prev = r->prev;
        }
        if (r->release)
                r->release(r->release_data);
        free(r->stream_buf);
        http_request_free(r->http);
        strbuf_done(&r->body);
        free(r);
        return NULL;
}

/* A tunnel's client→server direction is over: the client's EOF came, and the consumer heard of it (or never
 * registered). */
static bool tunnel_input_done(const ServerRequest *r) {
        return r->complete && (!r->body_data || !r->body_end);
}

/* The connection is going: tell the handler of every request it would otherwise wait on — unanswered, or a
 * tunnel that did not end both ways (an H2 tunnel that did is gone already) — then free them. */
static void conn_abort_requests(Conn *c) {
        while (c->requests) {
                ServerRequest *r = c->requests;
                bool ended = c->state == CONN_TUNNEL && c->tunnel_out_done && tunnel_input_done(r);

                if ((!r->answered || (r->tunnel && !ended)) && r->abort_cb)
                        r->abort_cb(r, r->abort_userdata);
                request_free(r);
        }
}

static void request_body_done(ServerRequest *r);

/* The server answers r itself (an error of the body): the handler is told that the request is gone for
 * it, exactly as if the connection had gone, and hears nothing more of it. */
static void request_take_over(ServerRequest *r) {
        void (*cb)(ServerRequest *, void *) = r->abort_cb;

        r->abort_cb = NULL;
        r->reading = false;
        r->body_cb = NULL;
        r->body_data = NULL;
        r->body_end = NULL;
        if (cb)
                cb(r, r->abort_userdata);
}

static ServerRequest *request_new(Conn *c, HttpRequest *http, int32_t stream_id) {
        ServerRequest *r = calloc(1, sizeof *r);

        if (!r)
                return NULL;
        r->conn = c;
        r->http = http;
        r->stream_id = stream_id;
        r->id = ++c->server->next_request_id;
        r->started = now_usec(c->server);
        c->asked = true;
        r->next = c->requests;
        if (c->requests)
                c->requests->prev = r;
        c->requests = r;
        return r;
}

static ServerRequest *request_by_stream(Conn *c, int32_t stream_id) {
        for (ServerRequest *r = c->requests; r; r = r->next)
                if (r->stream_id == stream_id)
                        return r;
        return NULL;
}

const HttpRequest *server_request_http(const ServerRequest *r) {
        return r->http;
}

ServerListenerKind server_request_listener(const ServerRequest *r) {
        return r->conn->listener->kind;
}

uint16_t server_request_port(const ServerRequest *r) {
        return r->conn->listener->port;
}

const char *server_request_address(const ServerRequest *r) {
        return r->conn->address;
}

const char *server_request_sni(const ServerRequest *r) {
        return r->conn->ssl ? tls_ssl_server_name(r->conn->ssl) : NULL;
}

bool server_request_is_tls(const ServerRequest *r) {
        return r->conn->ssl;
}

int server_request_peer(const ServerRequest *r, struct ucred *ret, const gid_t **ret_groups, size_t *ret_n_groups) {
        if (r->conn->listener->kind != SERVER_LISTENER_CONTROL)
                return -ENOENT;
        if (ret)
                *ret = r->conn->cred;
        if (ret_groups)
                *ret_groups = r->conn->groups;
        if (ret_n_groups)
                *ret_n_groups = r->conn->n_groups;
        return 0;
}

uint64_t server_request_id(const ServerRequest *r) {
        return r->id;
}

void server_request_on_abort(ServerRequest *r, void (*cb)(ServerRequest *r, void *userdata), void *userdata) {
        r->abort_cb = cb;
        r->abort_userdata = userdata;
}

void server_request_close_after(ServerRequest *r) {
        r->close_after = true;
}

/* Calls a streaming consumer's end callback once its body is complete and it is not paused. The body of an
 * HTTP/1.1 upgrade is not over before the answer: a 101 makes the client's further bytes its body. */
static void request_body_end(ServerRequest *r) {
        void (*end)(ServerRequest *, void *) = r->body_end;

        if (!r->complete || !r->body_data || r->body_paused || !end)
                return;
        if (r->conn->state == CONN_H1 && r->http->upgrade && !r->answered)
                return;
        r->body_end = NULL;
        end(r, r->body_userdata);
}

/* The request body ended: tell whoever reads it. */
static void request_body_complete(ServerRequest *r) {
        r->complete = true;
        if (r->reading)
                request_body_done(r);
        else
                request_body_end(r);
}

static void request_body_done(ServerRequest *r) {
        void (*cb)(ServerRequest *, const void *, size_t, void *) = r->body_cb;

        r->body_cb = NULL;
        r->reading = false;
        if (cb)
                cb(r, r->body.data ?: (char *) "", r->body.len, r->body_userdata);
}

int server_request_read_body(ServerRequest *r, size_t max,
                             void (*cb)(ServerRequest *r, const void *body, size_t n, void *userdata), void *userdata) {
        const HttpRequest *h = r->http;

        if (r->answered || r->body_cb || r->reading)
                return -EALREADY;
        if (h->framing == HTTP_FRAMING_LENGTH && h->content_length > max)
                return -EFBIG;
        /* a client that waits for "100 Continue" before sending its body gets it once the body is wanted */
        if (r->conn->state == CONN_H1 && !r->complete && h->version == HTTP_VERSION_1_1 &&
            http_headers_have_token(h->headers, h->n_headers, "expect", "100-continue") &&
            strbuf_append_str(&r->conn->head, "HTTP/1.1 100 Continue\r\n\r\n") < 0)
                return -ENOMEM;
        r->reading = true;
        r->body_max = max;
        r->body_cb = cb;
        r->body_userdata = userdata;
        if (r->complete) {
                Conn *c = r->conn;
                bool was_busy = conn_hold(c);

                request_body_done(r);
                conn_release(c, was_busy);
        } else
                conn_update(r->conn);
        return 0;
}

/* Body bytes for r; -EFBIG past what the handler wants. */
static int request_stream_deliver(ServerRequest *r, const uint8_t *p, size_t n);

static int request_take_body(ServerRequest *r, const uint8_t *p, size_t n) {
        r->body_seen += n;
        if (r->body_data)
                return request_stream_deliver(r, p, n);
        if (!r->reading && r->http->protocol)
                /* an extended CONNECT's first bytes, before its consumer: kept (the stream's window, not
                 * given back, bounds them) for server_request_stream_body() */
                return strbuf_append(&r->body, p, n);
        if (!r->reading)
                return 0;
        if (r->body.len + n > r->body_max)
                return -EFBIG;
        return strbuf_append(&r->body, p, n);
}

/* ---- output ---- */

static bool status_has_body(int status) {
        return status >= 200 && status != 204 && status != 304;
}

static int build_h1_head(ServerRequest *r, int status, const HttpHeader *headers, size_t n_headers,
                         int64_t body_size, bool close) {
        Conn *c = r->conn;
        const char *date = server_date(c->server);
        HttpHeader small[32], *all = small;
        _cleanup_free_ HttpHeader *allocated = NULL;
        char len[20];
        size_t n = n_headers, before = c->head.len;
        int k;

        /* the app's fields and at most three of ours */
        if (n_headers + 3 > ELEMENTSOF(small)) {
                all = allocated = malloc((n_headers + 3) * sizeof(HttpHeader));
                if (!all)
                        return -ENOMEM;
        }
        if (n_headers > 0)
                memcpy(all, headers, n_headers * sizeof(HttpHeader));
        all[n++] = (HttpHeader) {"Date", 4, date, strlen(date)};
        if (status_has_body(status) && body_size >= 0)
                all[n++] = (HttpHeader) {"Content-Length", 14, len, format_uint64(len, (uint64_t) body_size)};
        else if (status_has_body(status) && r->chunked)
                all[n++] = (HttpHeader) {"Transfer-Encoding", 17, "chunked", 7};
        if (close)
                all[n++] = (HttpHeader) {"Connection", 10, "close", 5};
        k = http1_response_head_append(&c->head, status, NULL, all, n);
        if (k < 0)
                strbuf_truncate(&c->head, before);
        return k;
}

static int h2_read_body(Http2Session *session, int32_t stream_id, uint8_t *buf, size_t n, size_t *ret_n, bool *ret_eof,
                        void *userdata) {
        Conn *c = userdata;
        ServerRequest *r = request_by_stream(c, stream_id);
        size_t k;

        if (!r)
                return -ENOENT;
        if (r->streaming) {
                bool eof = false;
                ssize_t m = r->stream_read(r, buf, n, &eof, r->stream_userdata);

                if (m < 0)
                        return (int) m;
                if ((size_t) m > n || (r->stream_left >= 0 && m > r->stream_left))
                        return -EIO; /* a producer that breaks its promise resets the stream */
                if (r->stream_left >= 0)
                        r->stream_left -= m;
                if (eof && r->stream_left > 0)
                        return -EIO;
                if (m == 0 && !eof) {
                        r->stream_waiting = true;
                        return -EAGAIN;
                }
                if (r->tunnel)
                        r->active = now_usec(c->server);
                r->stream_eof = eof;
                *ret_n = (size_t) m;
                *ret_eof = eof;
                return 0;
        }
        k = MIN(n, r->out_len - r->out_off);
        memcpy(buf, r->out + r->out_off, k);
        r->out_off += k;
        *ret_n = k;
        *ret_eof = r->out_off >= r->out_len;
        return 0;
}

/* Refills a streamed HTTP/1.1 body's output from its producer, with chunked framing when chunked: 0, or
 * < 0 when the producer failed or broke its promise (the connection must close: the framing is lost). */
#define STREAM_CHUNK ((size_t) 16384)
#define STREAM_PREFIX (HTTP1_CHUNK_LINE_MAX + 1)
static int h1_stream_refill(ServerRequest *r) {
        uint8_t *data;
        bool eof = false;
        ssize_t m;
        size_t off = STREAM_PREFIX, len;

        if (!r->stream_buf) {
                r->stream_buf = malloc(STREAM_PREFIX + STREAM_CHUNK + STRLEN("\r\n0\r\n\r\n"));
                if (!r->stream_buf)
                        return -ENOMEM;
        }
        data = r->stream_buf + STREAM_PREFIX;
        m = r->stream_read(r, data, STREAM_CHUNK, &eof, r->stream_userdata);
        if (m < 0)
                return (int) m;
        if ((size_t) m > STREAM_CHUNK || (r->stream_left >= 0 && m > r->stream_left))
                return -EIO;
        if (r->stream_left >= 0)
                r->stream_left -= m;
        if (eof && r->stream_left > 0)
                return -EIO;
        if (m == 0 && !eof) {
                r->stream_waiting = true;
                return 0;
        }
        len = (size_t) m;
        if (r->chunked && m > 0) {
                char line[HTTP1_CHUNK_LINE_MAX];
                size_t l = http1_chunk_line_format((uint64_t) m, line);

                off -= l;
                memcpy(r->stream_buf + off, line, l);
                len += l;
                memcpy(data + m, "\r\n", 2);
                len += 2;
        }
        if (r->chunked && eof) {
                memcpy(r->stream_buf + off + len, "0\r\n\r\n", 5);
                len += 5;
        }
        r->stream_eof = eof;
        r->out = r->stream_buf + off;
        r->out_off = 0;
        r->out_len = len;
        return 0;
}

/* The response is written whole (HTTP/1.1), as far as this request is concerned. */
static bool request_output_done(const ServerRequest *r) {
        return r->answered && r->out_off >= r->out_len && (!r->streaming || r->stream_eof);
}

/* 101: the head exactly as the handler gave it, and the connection becomes a tunnel (see the diagram). */
static int h1_tunnel_start(ServerRequest *r, const HttpHeader *headers, size_t n_headers, ServerBodyRead stream_read,
                           void *stream_userdata) {
        Conn *c = r->conn;
        const HttpRequest *h = r->http;
        size_t before = c->head.len;
        int k;

        /* RFC 9110 §7.8: only what asked to upgrade, and only once its body (we take none) is read */
        if (c->state != CONN_H1 || !h->upgrade || !stream_read || h->framing == HTTP_FRAMING_CHUNKED ||
            (h->framing == HTTP_FRAMING_LENGTH && h->content_length > 0))
                return -EINVAL;
        k = http1_response_head_append(&c->head, 101, NULL, headers, n_headers);
        if (k < 0) {
                strbuf_truncate(&c->head, before);
                return k;
        }
        /* the parser is done with: what follows the head (c->in, pipelined) is the tunnel's */
        c->h1 = http1_parser_free(c->h1);
        c->state = CONN_TUNNEL;
        c->head_started = 0;
        r->tunnel = true;
        r->complete = false;
        r->reading = false;
        r->body_cb = NULL;
        r->body_seen = 0;
        r->streaming = true;
        r->stream_read = stream_read;
        r->stream_userdata = stream_userdata;
        r->stream_left = -1;
        r->chunked = false;
        r->out = NULL;
        r->out_off = r->out_len = 0;
        r->active = now_usec(c->server);
        return 0;
}

static int respond(ServerRequest *r, int status, const HttpHeader *headers, size_t n_headers, int64_t length,
                   const void *body, void (*release)(void *data), void *release_data, ServerBodyRead stream_read,
                   void *stream_userdata) {
        Conn *c = r->conn;
        bool send_body = status_has_body(status) && r->http->method != HTTP_METHOD_HEAD && length != 0;
        bool was_busy, tunnel = false;
        int k;

        if (r->answered)
                return -EALREADY;
        assert(!send_body || body || stream_read);

        if (status == 101) {
                k = h1_tunnel_start(r, headers, n_headers, stream_read, stream_userdata);
                if (k < 0)
                        return k;
                goto answered;
        }
        if (r->http->protocol && status >= 200 && status < 300) {
                /* an extended CONNECT (H2; plain ones never get here) accepted: a tunnel, whose bytes have no
                 * length (RFC 9110 §9.3.6) */
                if (!stream_read || length != -1)
                        return -EINVAL;
                tunnel = true;
        }

        r->streaming = send_body && stream_read;
        r->stream_read = stream_read;
        r->stream_userdata = stream_userdata;
        r->stream_left = length;
        if (c->state == CONN_H2) {
                _cleanup_free_ HttpHeader *h = NULL;
                _cleanup_free_ char *names = NULL;
                char len[24];
                size_t total = 0, off = 0;

                h = malloc((n_headers + 1) * sizeof(HttpHeader));
                for (size_t i = 0; i < n_headers; i++)
                        total += headers[i].name_len + 1;
                names = malloc(total + 1);
                if (!h || !names)
                        return -ENOMEM;
                for (size_t i = 0; i < n_headers; i++) {
                        char *nm = names + off;

                        for (size_t j = 0; j < headers[i].name_len; j++) {
                                char ch = headers[i].name[j];
                                nm[j] = ch >= 'A' && ch <= 'Z' ? (char) (ch + 32) : ch;
                        }
                        nm[headers[i].name_len] = '\0';
                        off += headers[i].name_len + 1;
                        h[i] = (HttpHeader) {nm, headers[i].name_len, headers[i].value, headers[i].value_len};
                }
                if (status_has_body(status) && length >= 0) {
                        k = snprintf(len, sizeof len, "%" PRIi64, length);
                        h[n_headers++] = (HttpHeader) {"content-length", 14, len, (size_t) k};
                }
                r->out = body;
                r->out_len = send_body && !stream_read ? (size_t) length : 0;
                k = http2_session_submit_response(c->h2, r->stream_id, status, h, n_headers, send_body);
                if (k < 0) {
                        r->out = NULL;
                        r->streaming = false;
                        return k;
                }
                if (tunnel) {
                        r->tunnel = true;
                        r->active = now_usec(c->server);
                }
        } else {
                bool close = r->close_after || c->closing || !r->http->keep_alive || c->server->draining;

                /* a body nobody read must be skipped before the next request; a large one is not worth it */
                if (!r->complete && !r->reading && !r->body_data) {
                        uint64_t left = r->http->framing == HTTP_FRAMING_NONE     ? 0
                                        : r->http->framing == HTTP_FRAMING_LENGTH ? r->http->content_length - r->body_seen
                                                                                  : UINT64_MAX;
                        if (left > DISCARD_MAX)
                                close = true;
                }
                /* a body of unknown length is chunked, or (HTTP/1.0) ends with the connection */
                if (length < 0 && status_has_body(status)) {
                        if (r->http->version == HTTP_VERSION_1_1)
                                r->chunked = true;
                        else
                                close = true;
                }
                k = build_h1_head(r, status, headers, n_headers, length, close);
                if (k < 0) {
                        r->chunked = false;
                        r->streaming = false;
                        return k;
                }
                if (close)
                        c->closing = true;
                r->out = body;
                r->out_len = send_body && !stream_read ? (size_t) length : 0;
        }
answered:
        r->answered = true;
        r->release = release;
        r->release_data = release_data;
        r->reading = false;
        r->body_cb = NULL;
        /* an upgrade answered otherwise: its (empty) body was over all along */
        was_busy = conn_hold(c);
        request_body_end(r);
        conn_release(c, was_busy);
        return 0;
}

int server_request_respond(ServerRequest *r, int status, const HttpHeader *headers, size_t n_headers,
                           const void *body, size_t body_size, void (*release)(void *data), void *release_data) {
        if (body_size > INT64_MAX)
                return -EINVAL;
        return respond(r, status, headers, n_headers, (int64_t) body_size, body, release, release_data, NULL, NULL);
}

int server_request_respond_stream(ServerRequest *r, int status, const HttpHeader *headers, size_t n_headers,
                                  int64_t content_length, ServerBodyRead read, void (*destroy)(void *userdata),
                                  void *userdata) {
        assert(read);
        if (content_length < -1)
                return -EINVAL;
        return respond(r, status, headers, n_headers, content_length, NULL, destroy, userdata, read, userdata);
}

void server_request_resume(ServerRequest *r) {
        if (!r->streaming || !r->stream_waiting)
                return;
        r->stream_waiting = false;
        if (r->conn->state == CONN_H2)
                (void) http2_session_resume_data(r->conn->h2, r->stream_id);
        conn_process(r->conn);
}

/* Callbacks into the handler may answer, and an answer may end the connection: while they run, the
 * connection is held (busy), and the step they ask for runs afterwards, when nothing refers to it. */
static bool conn_hold(Conn *c) {
        bool was_busy = c->busy;

        c->busy = true;
        return was_busy;
}

static void conn_release(Conn *c, bool was_busy) {
        c->busy = was_busy;
        if (was_busy)
                c->again = true;
        else
                conn_process(c);
}

int server_request_stream_body(ServerRequest *r, ServerBodyData data, void (*end)(ServerRequest *r, void *userdata),
                               void *userdata) {
        Conn *c = r->conn;
        bool was_busy;

        if (r->body_cb || r->reading || r->body_data)
                return -EALREADY;
        assert(data);
        if (!r->complete && c->state == CONN_H1 && r->http->version == HTTP_VERSION_1_1 &&
            http_headers_have_token(r->http->headers, r->http->n_headers, "expect", "100-continue") &&
            !r->answered && strbuf_append_str(&c->head, "HTTP/1.1 100 Continue\r\n\r\n") < 0)
                return -ENOMEM;
        r->body_data = data;
        r->body_end = end;
        r->body_userdata = userdata;
        if (r->body.len > 0) {
                /* bytes kept for the consumer (request_take_body()): delivered as after a pause */
                r->body_paused = true;
                server_request_resume_body(r);
                return 0;
        }
        was_busy = conn_hold(c);
        request_body_end(r);
        conn_release(c, was_busy);
        return 0;
}

/* Hands body bytes to a streaming consumer, or keeps them while it is paused (HTTP/2 only: HTTP/1.1
 * stops parsing instead). Bytes are given back to the HTTP/2 window as the consumer takes them. */
static int request_stream_deliver(ServerRequest *r, const uint8_t *p, size_t n) {
        Conn *c = r->conn;
        int k;

        if (r->body_paused)
                return strbuf_append(&r->body, p, n);
        k = r->body_data(r, p, n, r->body_userdata);
        if (k < 0)
                return k;
        if (c->state == CONN_H2)
                (void) http2_session_consume(c->h2, r->stream_id, n);
        if (k > 0)
                r->body_paused = true;
        return 0;
}

void server_request_resume_body(ServerRequest *r) {
        Conn *c = r->conn;
        bool was_busy;

        if (!r->body_data || !r->body_paused)
                return;
        was_busy = conn_hold(c);
        r->body_paused = false;
        if (r->body.len > 0) {
                /* HTTP/2 bytes that came while paused, in order; the consumer may pause again */
                _cleanup_(strbuf_done) StrBuf held = r->body;
                int k;

                r->body = (StrBuf) {};
                k = r->body_data(r, (const uint8_t *) held.data, held.len, r->body_userdata);
                if (c->state == CONN_H2)
                        (void) http2_session_consume(c->h2, r->stream_id, held.len);
                if (k > 0)
                        r->body_paused = true;
                if (k < 0 && c->state == CONN_H2)
                        (void) http2_session_reset_stream(c->h2, r->stream_id, HTTP2_CANCEL);
                else if (k < 0)
                        c->dead = true;
        }
        request_body_end(r);
        conn_release(c, was_busy);
}

int server_request_respond_status(ServerRequest *r, int status, const HttpHeader *headers, size_t n_headers) {
        char *text;
        const char *reason = http_status_to_string(status);
        _cleanup_free_ HttpHeader *h = NULL;
        int k;

        if (asprintf(&text, "%d %s\n", status, reason ?: "") < 0)
                return -ENOMEM;
        h = malloc((n_headers + 1) * sizeof(HttpHeader));
        if (!h) {
                free(text);
                return -ENOMEM;
        }
        if (n_headers > 0)
                memcpy(h, headers, n_headers * sizeof(HttpHeader));
        h[n_headers] = (HttpHeader) {"Content-Type", 12, "text/plain; charset=utf-8", 25};
        k = server_request_respond(r, status, h, n_headers + 1, text, strlen(text), free, text);
        if (k < 0)
                free(text);
        return k;
}

/* ---- socket I/O ---- */

static void conn_ssl_error(Conn *c) {
        ERR_clear_error();
        c->dead = true;
}

/* > 0 bytes, 0 end of input, -EAGAIN, or another error. */
static ssize_t conn_recv(Conn *c, void *buf, size_t n) {
        if (c->ssl) {
                int k = SSL_read(c->ssl, buf, (int) MIN(n, (size_t) INT32_MAX));

                if (k > 0)
                        return k;
                switch (SSL_get_error(c->ssl, k)) {
                case SSL_ERROR_WANT_READ:
                        return -EAGAIN;
                case SSL_ERROR_WANT_WRITE:
                        c->ssl_want_write = true;
                        return -EAGAIN;
                case SSL_ERROR_ZERO_RETURN:
                        return 0;
                default:
                        conn_ssl_error(c);
                        return -EPROTO;
                }
        }
        for (;;) {
                ssize_t k = recv(c->fd, buf, n, 0);

                if (k >= 0)
                        return k;
                if (errno == EINTR)
                        continue;
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
}

static ssize_t conn_send(Conn *c, const struct iovec *iov, int n_iov) {
        if (c->ssl) {
                int k;

                /* one record per buffer; OpenSSL keeps a partial write of the same buffer for us */
                k = SSL_write(c->ssl, iov[0].iov_base, (int) MIN(iov[0].iov_len, (size_t) INT32_MAX));
                if (k > 0)
                        return k;
                switch (SSL_get_error(c->ssl, k)) {
                case SSL_ERROR_WANT_WRITE:
                        return -EAGAIN;
                case SSL_ERROR_WANT_READ:
                        return -EAGAIN;
                default:
                        conn_ssl_error(c);
                        return -EPIPE;
                }
        }
        for (;;) {
                struct msghdr m = {.msg_iov = (struct iovec *) iov, .msg_iovlen = (size_t) n_iov};
                ssize_t k = sendmsg(c->fd, &m, MSG_NOSIGNAL);

                if (k >= 0)
                        return k;
                if (errno == EINTR)
                        continue;
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
}

/* ---- HTTP/1.1 ---- */

/* The oldest (H1: the only) request, which is the one being answered. */
static ServerRequest *h1_current(Conn *c) {
        ServerRequest *r = c->requests;

        while (r && r->next)
                r = r->next;
        return r;
}

/* Answers a protocol error of the parser (when nothing is being answered) and closes. */
static void h1_fail(Conn *c, int error) {
        const Http1Error *e = c->h1 ? http1_parser_get_error(c->h1) : NULL;
        int status = e ? e->status : http_status_from_errno(error);
        char body[64];
        int k;

        c->closing = true;
        if (c->requests) {
                ServerRequest *r = h1_current(c);

                /* a body broke its framing while its request was in the handler's hands: the handler
                 * will never see the rest, so it is told (abort) and the client gets the parser's status */
                if (!r->answered) {
                        request_take_over(r);
                        r->complete = true;
                        server_request_close_after(r);
                        if (server_request_respond_status(r, status, NULL, 0) < 0)
                                c->dead = true;
                }
                /* otherwise an answer is under way: close after it */
                return;
        }
        k = snprintf(body, sizeof body, "%d %s\n", status, http_status_to_string(status) ?: "");
        {
                HttpHeader h[] = {
                        {"Date", 4, server_date(c->server), strlen(server_date(c->server))},
                        {"Content-Type", 12, "text/plain; charset=utf-8", 25},
                        {"Content-Length", 14, NULL, 0},
                        {"Connection", 10, "close", 5},
                };
                char len[16];
                int m = snprintf(len, sizeof len, "%d", k);

                h[2].value = len;
                h[2].value_len = (size_t) m;
                if (http1_response_head_append(&c->head, status, NULL, h, ELEMENTSOF(h)) < 0 ||
                    strbuf_append(&c->head, body, (size_t) k) < 0)
                        c->dead = true;
        }
        log_debug("Connection from %s: %s, answered %d", c->address, e && e->what ? e->what : "error", status);
}

static int in_append(Conn *c, const uint8_t *p, size_t n) {
        if (c->in_len + n > c->in_allocated) {
                size_t want = MAX(c->in_len + n, (size_t) 4096);
                uint8_t *q = realloc(c->in, want);

                if (!q)
                        return -ENOMEM;
                c->in = q;
                c->in_allocated = want;
        }
        memcpy(c->in + c->in_len, p, n);
        c->in_len += n;
        return 0;
}

/* Feeds input to the HTTP/1.1 parser until it needs more or must wait. Returns how many bytes it used. */
static size_t h1_parse(Conn *c, const uint8_t *p, size_t n) {
        size_t used = 0;

        /* a 101 answered from the handler ends the parsing: the rest belongs to the tunnel */
        while (!c->dead && c->state == CONN_H1) {
                ServerRequest *cur = h1_current(c);
                Http1Event ev;
                int k;

                /* closing: the body of the request in flight, but no further request */
                if (c->closing && (!cur || cur->complete))
                        break;
                /* a complete request waits for its answer: the next one stays unparsed; a consumer that
                 * paused its body leaves the rest of the body unparsed */
                if (cur && (cur->complete || cur->body_paused))
                        break;
                /* with nothing left, feed only to learn that a body just ended (COMPLETE comes after the last
                 * BODY event, from a call of its own) */
                if (n - used == 0 && (!cur || cur->complete))
                        break;
                if (http1_parser_is_idle(c->h1))
                        c->head_started = now_usec(c->server);
                k = http1_parser_feed(c->h1, p + used, n - used, &ev);
                if (k < 0) {
                        h1_fail(c, k);
                        break;
                }
                used += ev.consumed;
                switch (ev.type) {
                case HTTP1_EVENT_NEED_MORE:
                        break;
                case HTTP1_EVENT_HEAD: {
                        ServerRequest *r;

                        /* an upgrade reaches the handler as one: a 101 makes the connection a tunnel,
                         * anything else answers it as a plain request */
                        r = request_new(c, ev.request, 0);
                        if (!r) {
                                http_request_free(ev.request);
                                c->dead = true;
                                break;
                        }
                        c->head_started = 0;
                        c->server->handler(r, c->server->userdata);
                        break;
                }
                case HTTP1_EVENT_BODY:
                        if (cur) {
                                k = request_take_body(cur, ev.data, ev.size);
                                if (k == -EFBIG && !cur->answered) {
                                        request_take_over(cur);
                                        server_request_close_after(cur);
                                        (void) server_request_respond_status(cur, 413, NULL, 0);
                                } else if (k < 0)
                                        c->dead = true;
                        }
                        break;
                case HTTP1_EVENT_COMPLETE:
                        if (cur)
                                request_body_complete(cur);
                        break;
                default:
                        break;
                }
                if (ev.type == HTTP1_EVENT_NEED_MORE)
                        break;
        }
        return used;
}

/* ---- HTTP/2 callbacks ---- */

static int h2_on_head(Http2Session *session, int32_t stream_id, HttpRequest *request, void *userdata) {
        Conn *c = userdata;
        ServerRequest *r = request_new(c, request, stream_id);

        if (!r) {
                http_request_free(request);
                return -ENOMEM;
        }
        if (request->framing == HTTP_FRAMING_NONE)
                r->complete = true;
        c->server->handler(r, c->server->userdata);
        return 0;
}

static int h2_on_body(Http2Session *session, int32_t stream_id, const uint8_t *data, size_t n, void *userdata) {
        Conn *c = userdata;
        ServerRequest *r = request_by_stream(c, stream_id);
        int k;

        /* a streaming consumer gives the window back as it takes the bytes, and so will an extended
         * CONNECT's consumer that is still to come */
        if (!r || (!r->body_data && !r->http->protocol))
                (void) http2_session_consume(session, stream_id, n);
        if (!r)
                return 0;
        if (r->tunnel)
                r->active = now_usec(c->server);
        k = request_take_body(r, data, n);
        if (k == -EFBIG && !r->answered) {
                request_take_over(r);
                return server_request_respond_status(r, 413, NULL, 0) < 0 ? -EIO : 0;
        }
        return k < 0 ? k : 0;
}

static int h2_on_end(Http2Session *session, int32_t stream_id, void *userdata) {
        ServerRequest *r = request_by_stream(userdata, stream_id);

        if (r)
                request_body_complete(r);
        return 0;
}

static void h2_on_close(Http2Session *session, int32_t stream_id, uint32_t error_code, void *userdata) {
        ServerRequest *r = request_by_stream(userdata, stream_id);

        if (!r)
                return;
        /* a tunnel that was reset did not end both ways: its handler waits on it as on an unanswered one */
        if ((!r->answered || (r->tunnel && error_code != HTTP2_NO_ERROR)) && r->abort_cb)
                r->abort_cb(r, r->abort_userdata);
        request_free(r);
}

static const Http2SessionCallbacks h2_callbacks = {
        .on_request_head = h2_on_head,
        .on_request_body = h2_on_body,
        .on_request_end = h2_on_end,
        .on_stream_close = h2_on_close,
        .read_response_body = h2_read_body,
};

static int conn_start_h2(Conn *c) {
        int k = http2_session_new(&c->server->limits.http, &h2_callbacks, c, &c->h2);

        if (k < 0)
                return k;
        c->state = CONN_H2;
        return 0;
}

static int conn_start_h1(Conn *c) {
        int k = http1_parser_new(&c->server->limits.http, &c->h1);

        if (k < 0)
                return k;
        c->state = CONN_H1;
        return 0;
}

/* ---- the connection's step ---- */

/* A tunnel's input, for its consumer: all of it, or nothing while there is no consumer or it is paused (the
 * bytes wait in c->in, and reading stops once IN_MAX of them wait: the client is slowed down). */
static size_t tunnel_consume(Conn *c, const uint8_t *p, size_t n) {
        ServerRequest *r = c->requests;
        int k;

        if (!r || !r->body_data || r->body_paused || n == 0)
                return 0;
        r->body_seen += n;
        r->active = now_usec(c->server);
        k = r->body_data(r, p, n, r->body_userdata);
        if (k < 0)
                c->dead = true;
        else if (k > 0)
                r->body_paused = true;
        return n;
}

/* The client's EOF ends the tunnel's input once the consumer has every byte before it. */
static void tunnel_input_check(Conn *c) {
        ServerRequest *r = c->requests;

        if (c->state != CONN_TUNNEL || c->dead || !r || r->complete || !c->read_eof || c->in_len > 0)
                return;
        request_body_complete(r);
}

/* Hands input to the protocol; returns how much it used. */
static size_t conn_consume(Conn *c, const uint8_t *p, size_t n) {
        int k;

        if (c->state == CONN_DETECT) {
                k = http2_preface_check(p, n);
                if (k == 0)
                        return 0; /* a prefix of the preface: wait */
                k = k > 0 ? conn_start_h2(c) : conn_start_h1(c);
                if (k < 0) {
                        c->dead = true;
                        return n;
                }
        }
        if (c->state == CONN_H1)
                return h1_parse(c, p, n);
        if (c->state == CONN_TUNNEL)
                return tunnel_consume(c, p, n);
        if (c->state == CONN_H2) {
                k = http2_session_feed(c->h2, p, n);
                if (k < 0)
                        c->dead = true;
                return n;
        }
        return 0;
}

/* Runs whatever input is waiting in c->in. */
static void conn_consume_buffered(Conn *c) {
        size_t used;

        if (c->in_len == 0 || c->dead)
                return;
        used = conn_consume(c, c->in, c->in_len);
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
        if (c->in_len == 0) {
                c->in = mfree(c->in);
                c->in_allocated = 0;
        }
}

static bool conn_has_output(Conn *c) {
        ServerRequest *r;

        if (c->state == CONN_H2) {
                const uint8_t *p;
                size_t n;

                return http2_session_pending_output(c->h2, &p, &n) > 0;
        }
        if (c->head_off < c->head.len)
                return true;
        r = h1_current(c);
        return r && r->answered && r->out_off < r->out_len;
}

/* Writes what can be written. 0, or < 0 when the connection is broken. */
static int conn_flush(Conn *c) {
        c->write_blocked = false;
        if (c->state == CONN_H2) {
                for (;;) {
                        const uint8_t *p;
                        size_t n;
                        ssize_t k;
                        int m = http2_session_pending_output(c->h2, &p, &n);

                        if (m < 0)
                                return m;
                        if (m == 0)
                                return 0;
                        k = conn_send(c, &(struct iovec) {(void *) p, n}, 1);
                        if (k == -EAGAIN) {
                                c->write_blocked = true;
                                return 0;
                        }
                        if (k < 0)
                                return (int) k;
                        http2_session_output_done(c->h2, (size_t) k);
                        if (c->deadline)
                                c->deadline = 0; /* progress: conn_update() sets a fresh write deadline */
                }
        }

        for (;;) {
                ServerRequest *r = h1_current(c);
                struct iovec iov[2];
                int n_iov = 0;
                ssize_t k;
                size_t hl;

                if (r && r->streaming && r->out_off >= r->out_len && !r->stream_eof && !r->stream_waiting) {
                        int m = h1_stream_refill(r);

                        if (m < 0)
                                return m;
                }

                if (c->head_off < c->head.len)
                        iov[n_iov++] = (struct iovec) {c->head.data + c->head_off, c->head.len - c->head_off};
                if (r && r->answered && r->out_off < r->out_len)
                        iov[n_iov++] = (struct iovec) {(void *) (r->out + r->out_off), r->out_len - r->out_off};
                if (n_iov == 0)
                        break;
                k = conn_send(c, iov, n_iov);
                if (k == -EAGAIN) {
                        c->write_blocked = true;
                        return 0;
                }
                if (k < 0)
                        return (int) k;
                hl = MIN((size_t) k, c->head.len - c->head_off);
                c->head_off += hl;
                if (r && r->answered)
                        r->out_off += (size_t) k - hl;
                if (r && r->tunnel)
                        r->active = now_usec(c->server);
                c->deadline = 0;
        }
        /* everything written */
        strbuf_truncate(&c->head, 0);
        c->head_off = 0;
        if (c->state == CONN_TUNNEL) {
                ServerRequest *r = c->requests;

                /* (5): the 101 head was the last use of it */
                strbuf_done(&c->head);
                /* the producer ended: so does this direction (the client reads EOF), the other goes on */
                if (r && r->stream_eof && !c->tunnel_out_done) {
                        if (c->ssl)
                                (void) SSL_shutdown(c->ssl);
                        (void) shutdown(c->fd, SHUT_WR);
                        c->tunnel_out_done = true;
                }
                return 0;
        }
        {
                ServerRequest *r = h1_current(c);

                if (r && request_output_done(r) && r->complete)
                        r = request_free(r);
                /* (5): an idle connection keeps no buffer */
                if (!c->requests)
                        strbuf_done(&c->head);
                else if (r && r->answered && !r->complete && !c->closing) {
                        /* answered before its body was read: skip the rest of the body, then go on */
                        r->reading = false;
                }
        }
        return 0;
}

/* Whether input is still of use: a closing connection reads on only for the body of a request that is
 * still wanted (a shutdown drains requests in flight, uploads included), never for another request. */
static bool conn_wants_input(Conn *c) {
        ServerRequest *r;

        if (c->read_eof || c->in_len >= IN_MAX)
                return false;
        if (!c->closing || c->state == CONN_TUNNEL)
                return true;
        r = c->state == CONN_H1 ? h1_current(c) : NULL;
        return r && !r->complete && (!r->answered || r->reading || r->body_data);
}

static uint32_t conn_wanted_events(Conn *c) {
        uint32_t ev = 0;
        bool output = c->write_blocked || c->ssl_want_write;

        if (c->lingering)
                return EPOLLIN;
        if (output)
                ev |= EPOLLOUT;
        /* (4): do not read while output waits or while enough input is buffered; (7) a tunnel's directions
         * are independent */
        if ((!output || c->state == CONN_TUNNEL) && conn_wants_input(c))
                ev |= EPOLLIN;
        return ev;
}

/* A body must make progress every body_timeout, and, after a grace of one body_timeout, arrive at
 * body_min_rate bytes a second on average: trickling a byte now and then holds a connection no longer. */
static uint64_t body_deadline(const Server *s, const ServerRequest *r, uint64_t now) {
        const ServerLimits *l = &s->limits;
        uint64_t d = now + l->body_timeout_usec;

        if (l->body_min_rate > 0)
                d = MIN(d, r->started + l->body_timeout_usec + r->body_seen / l->body_min_rate * USEC_PER_SEC);
        return d;
}

static uint64_t conn_wanted_deadline(Conn *c, uint64_t now) {
        const ServerLimits *l = &c->server->limits;
        bool in_flight = c->requests != NULL;

        if (c->lingering)
                return c->deadline ?: now + LINGER_USEC;
        if (c->write_blocked || c->ssl_want_write)
                return c->deadline ?: now + l->write_timeout_usec;
        if (c->state == CONN_HANDSHAKE)
                return c->head_started + l->header_timeout_usec;
        if (c->state == CONN_TUNNEL) {
                ServerRequest *r = c->requests;

                if (!r || l->tunnel_idle_timeout_usec == 0)
                        return UINT64_MAX;
                return r->active + l->tunnel_idle_timeout_usec;
        }
        if (c->state == CONN_H1) {
                ServerRequest *r = h1_current(c);

                if (r && !r->complete && !r->body_paused && (r->reading || r->answered || r->body_data))
                        return body_deadline(c->server, r, now);
                if (in_flight)
                        return UINT64_MAX; /* the handler's */
                if (!http1_parser_is_idle(c->h1) && c->head_started)
                        return c->head_started + l->header_timeout_usec;
                return now + l->idle_timeout_usec;
        }
        if (c->state == CONN_H2) {
                if (in_flight) {
                        uint64_t d = UINT64_MAX;

                        for (ServerRequest *r = c->requests; r; r = r->next) {
                                /* an extended CONNECT is no body upload: quiet is fine, unless too long */
                                if (r->http->protocol) {
                                        if (r->tunnel && l->tunnel_idle_timeout_usec > 0)
                                                d = MIN(d, r->active + l->tunnel_idle_timeout_usec);
                                        continue;
                                }
                                if ((r->reading || r->body_data) && !r->complete && !r->body_paused)
                                        d = MIN(d, body_deadline(c->server, r, now));
                        }
                        return d;
                }
                return now + l->idle_timeout_usec;
        }
        return (c->head_started ?: now) + l->header_timeout_usec; /* DETECT */
}

static int conn_on_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Conn *c = userdata;
        uint64_t idle = c->server->limits.tunnel_idle_timeout_usec, now = now_usec(c->server);

        /* A tunnel's deadline may fire early (conn_update() re-arms one that moved later at most once a
         * second): then it is only re-armed. On HTTP/2 an idle tunnel is one stream of many: only it goes. */
        if (!c->write_blocked && !c->ssl_want_write) {
                bool other = false, reset = false;

                if (c->state == CONN_TUNNEL && c->requests && (idle == 0 || c->requests->active + idle > now)) {
                        c->deadline = 0;
                        conn_update(c);
                        return 0;
                }
                if (c->state == CONN_H2 && c->requests) {
                        for (ServerRequest *r = c->requests; r; r = r->next)
                                if (r->tunnel) {
                                        if (idle > 0 && r->active + idle <= now &&
                                            http2_session_reset_stream(c->h2, r->stream_id, HTTP2_CANCEL) >= 0)
                                                reset = true;
                                } else if (!r->http->protocol && (r->reading || r->body_data) && !r->complete &&
                                           !r->body_paused)
                                        other = true; /* a body deadline is armed as well */
                        if (reset || !other) {
                                if (reset)
                                        log_debug("Tunnel from %s idle, reset.", c->address);
                                c->deadline = 0;
                                conn_process(c);
                                return 0;
                        }
                }
        }
        log_debug("Connection from %s timed out, closing.", c->address);
        conn_free(c);
        return 0;
}

static bool conn_done(Conn *c) {
        if (c->dead)
                return true;
        if (c->state == CONN_H2)
                return http2_session_want_close(c->h2) && !conn_has_output(c);
        if (c->state == CONN_TUNNEL)
                return !c->requests || (c->tunnel_out_done && tunnel_input_done(c->requests));
        if (c->lingering)
                return c->read_eof;
        if (c->closing && !c->write_blocked && !c->ssl_want_write && c->head_off >= c->head.len) {
                ServerRequest *r = h1_current(c);

                if (r && !request_output_done(r))
                        return false;
                if (c->read_eof)
                        return true;
                /* Closing with unread input would make the kernel send RST, which can destroy the answer
                 * before the client reads it: shut down our side and read until the client closes. */
                if (c->ssl)
                        (void) SSL_shutdown(c->ssl);
                (void) shutdown(c->fd, SHUT_WR);
                conn_abort_requests(c);
                c->lingering = true;
                c->deadline = 0;
                return false;
        }
        if (c->read_eof && !c->requests && c->in_len == 0)
                return true;
        return false;
}

/* Re-arms the io events and the deadline, or closes. */
static void conn_update(Conn *c) {
        uint32_t ev;
        uint64_t now, deadline;

        if (c->busy)
                return; /* the step under way re-arms when it ends */
        if (conn_done(c)) {
                conn_free(c);
                return;
        }
        ev = conn_wanted_events(c);
        if (ev != c->events) {
                if (epoll_ctl(c->server->epfd, EPOLL_CTL_MOD, c->fd, &(struct epoll_event) {.events = ev, .data.ptr = c}) <
                    0) {
                        conn_free(c);
                        return;
                }
                c->events = ev;
        }
        now = now_usec(c->server);
        deadline = conn_wanted_deadline(c, now);
        if (deadline == UINT64_MAX) {
                (void) sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
                c->deadline = 0;
                return;
        }
        /* a deadline that only moves later is re-armed at most once a second, to spare the timer heap */
        if (c->deadline && deadline > c->deadline && deadline - c->deadline < USEC_PER_SEC)
                return;
        c->deadline = deadline;
        (void) sd_event_source_set_time(c->timer, deadline);
        (void) sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

static void conn_handshake(Conn *c) {
        int k;

        ERR_clear_error();
        k = SSL_do_handshake(c->ssl);
        if (k == 1) {
                c->head_started = 0;
                k = tls_ssl_alpn(c->ssl) == TLS_ALPN_H2 ? conn_start_h2(c) : conn_start_h1(c);
                if (k < 0)
                        c->dead = true;
                return;
        }
        switch (SSL_get_error(c->ssl, k)) {
        case SSL_ERROR_WANT_READ:
                return;
        case SSL_ERROR_WANT_WRITE:
                c->ssl_want_write = true;
                return;
        default:
                log_debug("TLS handshake with %s failed.", c->address);
                conn_ssl_error(c);
        }
}

/* Reads and drops what a client sends after its connection was answered and shut down. */
static void conn_linger(Conn *c) {
        for (int i = 0; i < 4; i++) {
                ssize_t k = recv(c->fd, c->server->rbuf, READ_BUFFER_SIZE, 0);

                if (k > 0)
                        continue;
                if (k == 0 || (errno != EAGAIN && errno != EINTR))
                        c->read_eof = true;
                return;
        }
}

/* One step: write, read, parse, write again. Never frees c. */
static void conn_step(Conn *c) {
        Server *s = c->server;

        if (c->dead)
                return;
        if (c->lingering) {
                conn_linger(c);
                return;
        }
        c->ssl_want_write = false;
        if (c->state == CONN_HANDSHAKE) {
                conn_handshake(c);
                if (c->state == CONN_HANDSHAKE || c->dead)
                        return;
        }

        if (conn_flush(c) < 0)
                c->dead = true;
        /* requests parsed earlier but held back (pipelining) */
        conn_consume_buffered(c);

        /* A plain socket that gave less than asked is empty for now: the next step (a handler answered)
         * does not ask again, and epoll says when more comes. TLS may hold decrypted bytes: always ask. */
        if (!c->dead && (!c->write_blocked || c->state == CONN_TUNNEL) && conn_wants_input(c) &&
            (c->ssl || c->may_read)) {
                ssize_t k = conn_recv(c, s->rbuf, READ_BUFFER_SIZE);

                c->may_read = k == (ssize_t) READ_BUFFER_SIZE;
                if (k > 0) {
                        size_t used;

                        if (c->in_len > 0) {
                                if (in_append(c, s->rbuf, (size_t) k) < 0)
                                        c->dead = true;
                                conn_consume_buffered(c);
                        } else {
                                used = conn_consume(c, s->rbuf, (size_t) k);
                                if (used < (size_t) k && !c->dead && in_append(c, s->rbuf + used, (size_t) k - used) < 0)
                                        c->dead = true;
                        }
                } else if (k == 0) {
                        c->read_eof = true;
                        if (c->state == CONN_H1 && http1_parser_eof(c->h1) < 0 && !c->requests)
                                c->dead = true; /* a head cut short: nobody to answer */
                        if (c->state == CONN_H1 && c->requests && !h1_current(c)->complete)
                                c->dead = true; /* the body will never come */
                        if (c->state == CONN_H1 && c->listener->kind == SERVER_LISTENER_CONTROL &&
                            c->requests && h1_current(c)->streaming && !h1_current(c)->stream_eof)
                                c->dead = true; /* (8) */
                        if (c->state == CONN_H2 || c->state == CONN_DETECT)
                                c->dead = true;
                } else if (k != -EAGAIN)
                        c->dead = true;
        }
        if (!c->dead && conn_flush(c) < 0)
                c->dead = true;
        tunnel_input_check(c);
        /* A client that closed while its request waits for the handler is gone, as far as HTTP/1.1 can
         * tell (a half-close cannot be told from a close): the handler is told by the abort. Requests
         * answered at once, pipelined ones included, are still answered. */
        if (!c->dead && c->read_eof && c->state == CONN_H1 && c->requests && !h1_current(c)->answered &&
            c->in_len == 0)
                c->dead = true;
        /* a response just finished may have unblocked pipelined requests */
        if (!c->dead && c->state == CONN_H1 && !c->requests && c->in_len > 0 && !c->write_blocked) {
                conn_consume_buffered(c);
                if (!c->dead && conn_flush(c) < 0)
                        c->dead = true;
        }
}

/* Runs steps until nothing asks for another, then re-arms (or frees c). Calls made from inside a step
 * (a handler answering at once) only ask for another step: parsers are never re-entered, and c is never
 * freed under a caller's feet. */
static void conn_process(Conn *c) {
        if (c->busy) {
                c->again = true;
                return;
        }
        c->busy = true;
        do {
                c->again = false;
                conn_step(c);
        } while (c->again && !c->dead);
        c->busy = false;
        conn_update(c);
}

static void conn_on_io(Conn *c, uint32_t revents) {
        if (revents & (EPOLLERR | EPOLLHUP) && !(revents & EPOLLIN))
                c->dead = true;
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
                c->may_read = true;
        conn_process(c);
}

/*
 * Connections are not sd-event sources of their own: they share one epoll set, which is one source.
 * sd-event dispatches one source per iteration and asks the kernel again each time, so with thousands of
 * ready connections (say, all closing at once) that would cost an epoll_wait() per connection, each
 * returning every ready one. Here one wakeup handles a batch, and a longer ready list simply wakes the
 * source again.
 */
#define EPOLL_BATCH 256
static int server_on_epoll(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Server *s = userdata;
        struct epoll_event evs[EPOLL_BATCH];
        int n;

        n = epoll_wait(s->epfd, evs, EPOLL_BATCH, 0);
        /* (6) nothing handled here frees any connection but the one being handled */
        for (int i = 0; i < n; i++)
                conn_on_io(evs[i].data.ptr, evs[i].events);
        return 0;
}

static void conn_free(Conn *c) {
        Server *s;

        if (!c)
                return;
        s = c->server;
        c->dead = true;
        conn_abort_requests(c);
        if (c->prev)
                c->prev->next = c->next;
        else
                s->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        if (c->events != UINT32_MAX)
                (void) epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        sd_event_source_disable_unref(c->timer);
        http2_session_free(c->h2);
        http1_parser_free(c->h1);
        if (c->ssl) {
                if (!c->read_eof)
                        (void) SSL_shutdown(c->ssl);
                SSL_free(c->ssl);
        }
        safe_close(c->fd);
        strbuf_done(&c->head);
        free(c->in);
        free(c->groups);
        address_release(s, c->address_entry);
        free(c);
        s->n_connections--;
        if (!s->accepting && !s->draining && s->n_connections < s->limits.connections_max) {
                for (size_t i = 0; i < s->n_listeners; i++)
                        (void) sd_event_source_set_enabled(s->listeners[i]->source, SD_EVENT_ON);
                s->accepting = true;
        }
        if (s->draining && s->n_connections == 0 && s->drain_done) {
                void (*done)(Server *, void *) = s->drain_done;

                s->drain_done = NULL;
                done(s, s->drain_userdata);
        }
}

/* ---- accepting ---- */

static void listeners_pause(Server *s) {
        for (size_t i = 0; i < s->n_listeners; i++)
                (void) sd_event_source_set_enabled(s->listeners[i]->source, SD_EVENT_OFF);
        s->accepting = false;
}

static int conn_new(Listener *l, int fd, const struct sockaddr_storage *sa) {
        Server *s = l->server;
        Conn *c;
        uint8_t key[16];
        int k;

        c = calloc(1, sizeof *c);
        if (!c) {
                safe_close(fd);
                return -ENOMEM;
        }
        c->server = s;
        c->listener = l;
        c->fd = fd;
        c->events = UINT32_MAX; /* not in s->epfd yet */
        c->next = s->conns;
        if (s->conns)
                s->conns->prev = c;
        s->conns = c;
        s->n_connections++;
        c->head_started = now_usec(s);

        if (l->kind == SERVER_LISTENER_CONTROL) {
                socklen_t len = sizeof c->cred;
                gid_t groups[256];
                socklen_t glen = sizeof groups;

                if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0)
                        goto fail;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) >= 0 && glen > 0) {
                        c->groups = malloc(glen);
                        if (!c->groups)
                                goto fail;
                        memcpy(c->groups, groups, glen);
                        c->n_groups = glen / sizeof(gid_t);
                }
        } else {
                format_address(sa, c->address);
                address_key(sa, key);
                c->address_entry = address_acquire(s, key);
                if (!c->address_entry)
                        goto fail;
                if (c->address_entry->n > s->limits.connections_per_address_max) {
                        log_debug("Too many connections from %s, closing.", c->address);
                        goto fail;
                }
                (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int) {1}, sizeof(int));
        }

        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &(struct epoll_event) {.events = EPOLLIN, .data.ptr = c}) < 0)
                goto fail;
        c->events = EPOLLIN;
        k = sd_event_add_time(s->event, &c->timer, CLOCK_MONOTONIC, UINT64_MAX, 0, conn_on_timer, c);
        if (k < 0)
                goto fail;

        if (l->kind == SERVER_LISTENER_HTTPS) {
                if (!s->tls || tls_context_new_ssl(s->tls, &c->ssl) < 0 || SSL_set_fd(c->ssl, fd) != 1)
                        goto fail;
                SSL_set_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                             SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
                c->state = CONN_HANDSHAKE;
        } else if (l->kind == SERVER_LISTENER_CONTROL) {
                if (conn_start_h1(c) < 0)
                        goto fail;
        } else
                c->state = CONN_DETECT;
        conn_update(c);
        return 0;

fail:
        conn_free(c);
        return -EIO;
}

static int listener_on_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Listener *l = userdata;
        Server *s = l->server;

        for (int i = 0; i < ACCEPT_BATCH; i++) {
                struct sockaddr_storage sa = {};
                socklen_t len = sizeof sa;
                int cfd;

                if (s->n_connections >= s->limits.connections_max) {
                        listeners_pause(s);
                        return 0;
                }
                cfd = accept4(fd, (struct sockaddr *) &sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno == EMFILE || errno == ENFILE) {
                                /* out of descriptors: use the reserve to take one connection off the
                                 * queue and close it, so that the queue does not stall everyone */
                                safe_close(s->reserve_fd);
                                cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
                                safe_close(cfd);
                                s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                                log_debug("Out of file descriptors, refused a connection.");
                                return 0;
                        }
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        return 0; /* EAGAIN, or a transient error: try again on the next event */
                }
                (void) conn_new(l, cfd, &sa);
        }
        return 0;
}

/* ---- the server ---- */

int server_new(sd_event *e, const ServerLimits *limits, ServerHandler handler, void *userdata, Server **ret) {
        Server *s;
        int k;

        assert(e && limits && handler && ret);
        if (http_limits_check(&limits->http) < 0 || limits->connections_max == 0 ||
            limits->connections_per_address_max == 0)
                return -EINVAL;
        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->rbuf = malloc(READ_BUFFER_SIZE);
        if (!s->rbuf) {
                free(s);
                return -ENOMEM;
        }
        s->epfd = epoll_create1(EPOLL_CLOEXEC);
        k = s->epfd < 0 ? -errno : sd_event_add_io(e, &s->epoll_source, s->epfd, EPOLLIN, server_on_epoll, s);
        if (k < 0) {
                safe_close(s->epfd);
                free(s->rbuf);
                free(s);
                return k;
        }
        s->event = sd_event_ref(e);
        s->limits = *limits;
        s->handler = handler;
        s->userdata = userdata;
        s->accepting = true;
        s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        *ret = s;
        return 0;
}

Server *server_free(Server *s) {
        if (!s)
                return NULL;
        s->drain_done = NULL;
        s->draining = true; /* no re-enabling listeners from conn_free() */
        while (s->conns)
                conn_free(s->conns);
        for (size_t i = 0; i < s->n_listeners; i++) {
                sd_event_source_disable_unref(s->listeners[i]->source);
                safe_close(s->listeners[i]->fd);
                free(s->listeners[i]);
        }
        free(s->listeners);
        for (size_t i = 0; i < ADDRESS_BUCKETS; i++)
                while (s->addresses[i]) {
                        AddressEntry *e = s->addresses[i];

                        s->addresses[i] = e->next;
                        free(e);
                }
        sd_event_source_disable_unref(s->drain_timer);
        sd_event_source_disable_unref(s->epoll_source);
        safe_close(s->epfd);
        safe_close(s->reserve_fd);
        free(s->rbuf);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

int server_add_listener(Server *s, int fd, ServerListenerKind kind, uint16_t port) {
        _cleanup_free_ Listener *l = NULL;
        Listener **a;
        int flags, k;

        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
                k = -errno;
                safe_close(fd);
                return k;
        }
        a = reallocarray(s->listeners, s->n_listeners + 1, sizeof(Listener *));
        l = calloc(1, sizeof *l);
        if (a)
                s->listeners = a;
        if (!a || !l) {
                safe_close(fd);
                return -ENOMEM;
        }
        *l = (Listener) {.server = s, .fd = fd, .kind = kind, .port = port};
        k = sd_event_add_io(s->event, &l->source, fd, EPOLLIN, listener_on_io, l);
        if (k < 0) {
                safe_close(fd);
                return k;
        }
        if (!s->accepting || s->draining)
                (void) sd_event_source_set_enabled(l->source, SD_EVENT_OFF);
        s->listeners[s->n_listeners++] = TAKE_PTR(l);
        return 0;
}

void server_set_tls(Server *s, TlsContext *tls) {
        s->tls = tls;
}

int server_set_limits(Server *s, const ServerLimits *limits) {
        if (http_limits_check(&limits->http) < 0 || limits->connections_max == 0 ||
            limits->connections_per_address_max == 0)
                return -EINVAL;
        s->limits = *limits;
        return 0;
}

unsigned server_n_connections(const Server *s) {
        return s->n_connections;
}

static int drain_on_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Server *s = userdata;
        void (*done)(Server *, void *) = s->drain_done;

        s->drain_done = NULL;
        while (s->conns)
                conn_free(s->conns);
        if (done)
                done(s, s->drain_userdata);
        return 0;
}

int server_drain(Server *s, uint64_t timeout_usec, void (*done)(Server *s, void *userdata), void *userdata) {
        Conn *next;
        int k;

        s->draining = true;
        s->drain_done = done;
        s->drain_userdata = userdata;
        listeners_pause(s);
        for (Conn *c = s->conns; c; c = next) {
                next = c->next;
                if (c->state == CONN_H2) {
                        (void) http2_session_terminate(c->h2, HTTP2_NO_ERROR);
                        conn_process(c);
                } else if (!c->requests && c->asked && c->in_len == 0) {
                        /* kept alive after an answer: the client knows to ask again on a new connection */
                        conn_free(c);
                } else if (!c->requests) {
                        /* just opened (or in its TLS handshake): its request may be on the way, and it was
                         * accepted before the listeners paused, so it gets its answer, with "Connection:
                         * close", or the header deadline closes it */
                } else
                        c->closing = true;
        }
        if (s->n_connections == 0) {
                s->drain_done = NULL;
                if (done)
                        done(s, userdata);
                return 0;
        }
        k = sd_event_add_time_relative(s->event, &s->drain_timer, CLOCK_MONOTONIC, timeout_usec, 0, drain_on_timer, s);
        return k < 0 ? k : 0;
}
