/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * granaryd: the front server (DESIGN.md "A request, end to end"). Takes its listening sockets from systemd
 * or binds what granary.conf says, runs one sd-event loop, routes each request by Host, serves the shell
 * and the JSON API (streaming package uploads to a file for it), hands the requests of grain sessions
 * (ui-<hostId> hosts) to the Ui, which reaches grains through the grain manager, and answers the control
 * socket. This file decides and logs; the modules beside it do the work.
 *
 *   start --sockets, store, TLS, shell, grains, Ui, API ready--> RUNNING (READY=1)
 *   RUNNING --SIGHUP--> RELOADING --config, certificate, shell, Ui's timeouts reloaded (or kept on
 *           error)--> RUNNING
 *   RUNNING --SIGTERM/SIGINT--> DRAINING (STOPPING=1) --no connection left, or drain timeout-->
 *           STOPPING GRAINS (grains_stop_all: SIGTERM, SIGKILL after GRAIN_STOP_TIMEOUT_SEC) --none runs-->
 *           exit 0
 *
 * The bridge every grain runs (granary-grain) is found at $GRANARY_GRAIN_PATH, else beside granaryd (an
 * install: both live in LIBEXECDIR), else at ../grain/granary-grain from granaryd (a build tree), else in
 * LIBEXECDIR.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "basic/fileio.h"
#include "basic/hex.h"
#include "basic/log.h"
#include "basic/macro.h"
#include "basic/random-util.h"
#include "basic/string-util.h"
#include "front/accounts.h"
#include "front/api.h"
#include "front/apps.h"
#include "front/config.h"
#include "front/devapps.h"
#include "front/grains-systemd.h"
#include "front/grains.h"
#include "front/route.h"
#include "front/server.h"
#include "front/static.h"
#include "front/ui.h"
#include "http/tls.h"
#include "store/store.h"

#define USEC_PER_SEC UINT64_C(1000000)
/* Expired sessions and old login attempts are swept this often. */
#define SWEEP_INTERVAL_USEC (3600 * USEC_PER_SEC)
/* Kept-alive connections to a grain: how many per grain, and how long one may idle. An open connection
 * keeps a grain running, so the idle time stays well below GRAIN_IDLE_SEC. */
#define UI_POOL_MAX_PER_GRAIN 64U
#define UI_POOL_IDLE_MAX_USEC (30 * USEC_PER_SEC)

typedef struct Front {
        sd_event *event;
        FrontConfig config;
        const char *config_path;
        FrontConfigOverrides overrides;
        Store *store;
        Server *server;
        TlsContext *tls;
        RouteConfig *route;
        StaticSite *shell;
        Api *api;
        Grains *grains;
        Ui *ui;
        DevApps *devapps;
        char *grain_path; /* granary-grain */
        gid_t granary_gid; /* (gid_t) -1: no such group */
        uint16_t listener_ports[FRONT_PORTS_MAX + 2];
        size_t n_listener_ports;
        char *csp_shell;
        bool hsts;
        int exit_code;
        int upload_dir_fd; /* STATE_DIR/tmp: uploaded packages, as unnamed files */
} Front;

typedef struct ApiContext {
        Front *front;
        ServerRequest *req;
        ApiCall *call;
} ApiContext;

/* POST /api/v1/apps: the package goes to an unnamed file as it arrives, then to the API. */
typedef struct Upload {
        Front *front;
        ServerRequest *req;
        int fd;        /* until the body is complete; then the API's */
        uint64_t size; /* bytes written */
        ApiCall *call; /* once the body is complete */
} Upload;

static uint64_t realtime_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* ---- answers ---- */

#define H(n, v) ((HttpHeader) {(n), STRLEN(n), (v), strlen(v)})

/* Headers every answer carries, whatever it is. */
static size_t common_headers(Front *f, HttpHeader *h) {
        size_t n = 0;

        h[n++] = H("X-Content-Type-Options", "nosniff");
        h[n++] = H("Referrer-Policy", "no-referrer");
        if (f->hsts)
                h[n++] = H("Strict-Transport-Security", "max-age=31536000");
        return n;
}

static void log_answer(ServerRequest *req, int status) {
        const HttpRequest *h = server_request_http(req);

        if (status >= 500)
                log_struct(LOG_WARNING, "Request %" PRIu64 " from %s: %s '%.*s' answered %d",
                           server_request_id(req), server_request_address(req), http_method_to_string(h->method),
                           (int) MIN(h->path_len, (size_t) 512), h->path, status, "REQUEST_ID=%" PRIu64,
                           server_request_id(req));
        else
                log_debug("Request %" PRIu64 " from %s: %s '%.*s' answered %d", server_request_id(req),
                          server_request_address(req), http_method_to_string(h->method),
                          (int) MIN(h->path_len, (size_t) 512), h->path, status);
}

static void answer_status(Front *f, ServerRequest *req, int status, const HttpHeader *extra, size_t n_extra) {
        HttpHeader h[16];
        size_t n = common_headers(f, h);

        h[n++] = H("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
        h[n++] = H("Cache-Control", "no-store");
        for (size_t i = 0; i < n_extra && n < ELEMENTSOF(h); i++)
                h[n++] = extra[i];
        log_answer(req, status);
        if (server_request_respond_status(req, status, h, n) < 0)
                (void) server_request_respond_status(req, 500, NULL, 0);
}

static void release_site(void *p) {
        static_site_unref(p);
}

static void serve_shell(Front *f, ServerRequest *req) {
        const HttpRequest *h = server_request_http(req);
        StaticResult res;
        HttpHeader hd[STATIC_HEADERS_MAX + 16];
        size_t n;
        int r;

        r = static_site_serve(f->shell, h->method, h->path, h->path_len, h->headers, h->n_headers, &res);
        if (r < 0) {
                answer_status(f, req, http_status_from_errno(r), NULL, 0);
                return;
        }
        if (res.status == 404 || res.status == 405 || res.status == 416 || !res.body) {
                if (res.status >= 300 && res.status != 304) {
                        answer_status(f, req, res.status, res.headers, res.n_headers);
                        return;
                }
        }
        n = common_headers(f, hd);
        hd[n++] = H("Content-Security-Policy", f->csp_shell);
        hd[n++] = H("X-Frame-Options", "DENY");
        hd[n++] = H("Cross-Origin-Opener-Policy", "same-origin");
        hd[n++] = H("Cross-Origin-Resource-Policy", "same-origin");
        for (size_t i = 0; i < res.n_headers; i++)
                hd[n++] = res.headers[i];
        log_answer(req, res.status);
        r = server_request_respond(req, res.status, hd, n, res.body, res.body_size, release_site,
                                   static_site_ref(f->shell));
        if (r < 0) {
                static_site_unref(f->shell);
                answer_status(f, req, 500, NULL, 0);
        }
}

/* ---- the API ---- */

static void api_context_free(ApiContext *a) {
        free(a);
}

static void on_api_abort(ServerRequest *req, void *userdata) {
        ApiContext *a = userdata;

        api_call_cancel(a->call);
        api_context_free(a);
}

static void release_api_response(void *p) {
        api_response_free(p);
}

/* Sends what the API answered (resp is taken). */
static void respond_api(Front *f, ServerRequest *req, ApiResponse *resp) {
        HttpHeader h[32];
        size_t n = common_headers(f, h);
        int r;

        h[n++] = H("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
        h[n++] = H("Cache-Control", "no-store");
        if (resp->body)
                h[n++] = H("Content-Type", resp->content_type ?: "application/json");
        for (char **l = resp->headers; l && *l && n < ELEMENTSOF(h); l++) {
                const char *colon = strchr(*l, ':');

                if (!colon)
                        continue;
                h[n++] = (HttpHeader) {*l, (size_t) (colon - *l), colon + 2, strlen(colon + 2)};
        }
        log_answer(req, resp->status);
        r = server_request_respond(req, resp->status, h, n, resp->body, resp->body_size, release_api_response, resp);
        if (r < 0) {
                api_response_free(resp);
                answer_status(f, req, 500, NULL, 0);
        }
}

static void on_api_done(ApiCall *call, ApiResponse *resp, void *userdata) {
        ApiContext *a = userdata;
        Front *f = a->front;
        ServerRequest *req = a->req;

        server_request_on_abort(req, NULL, NULL);
        api_context_free(a);
        respond_api(f, req, resp);
}

static bool control_peer_is_admin(Front *f, ServerRequest *req) {
        struct ucred cred;
        const gid_t *groups;
        size_t n_groups;

        if (server_request_peer(req, &cred, &groups, &n_groups) < 0)
                return false;
        if (cred.uid == 0 || cred.uid == geteuid())
                return true;
        if (f->granary_gid == (gid_t) -1)
                return false;
        if (cred.gid == f->granary_gid)
                return true;
        for (size_t i = 0; i < n_groups; i++)
                if (groups[i] == f->granary_gid)
                        return true;
        return false;
}

/* The API's view of a request to /api/v1/…. */
static ApiRequest api_request_of(Front *f, ServerRequest *req, const void *body, size_t size) {
        const HttpRequest *h = server_request_http(req);
        bool control = server_request_listener(req) == SERVER_LISTENER_CONTROL;
        ApiRequest ar = {
                .method = h->method,
                .path = h->path + STRLEN("/api/v1"),
                .path_len = h->path_len - STRLEN("/api/v1"),
                .headers = h->headers,
                .n_headers = h->n_headers,
                .body = body,
                .body_size = size,
                .caller = control ? API_CALLER_CONTROL : API_CALLER_WEB,
                .address = control ? NULL : server_request_address(req),
                .https = server_request_listener(req) == SERVER_LISTENER_HTTPS,
                .control_admin = control && control_peer_is_admin(f, req),
                .now = realtime_usec(),
        };

        if (ar.path_len == 0) {
                ar.path = "/";
                ar.path_len = 1;
        }
        return ar;
}

static void api_run(ServerRequest *req, const void *body, size_t size, void *userdata) {
        ApiContext *a = userdata;
        Front *f = a->front;
        ApiRequest ar = api_request_of(f, req, body, size);
        int r;

        server_request_on_abort(req, on_api_abort, a);
        r = api_handle(f->api, &ar, on_api_done, a, &a->call);
        if (r < 0) {
                server_request_on_abort(req, NULL, NULL);
                api_context_free(a);
                answer_status(f, req, http_status_from_errno(r), NULL, 0);
        }
}

/* Hands req's body (at most max bytes) to handler with data, at once when it has none. While it is read,
 * on_abort has data if the connection goes; when the reading cannot start, data is freed (free()) and req
 * answered 413 or 500. */
static void read_body_then(Front *f, ServerRequest *req, size_t max,
                           void (*handler)(ServerRequest *req, const void *body, size_t n, void *data),
                           void (*on_abort)(ServerRequest *req, void *data), void *data) {
        int r;

        if (server_request_http(req)->framing == HTTP_FRAMING_NONE) {
                handler(req, "", 0, data);
                return;
        }
        server_request_on_abort(req, on_abort, data);
        r = server_request_read_body(req, max, handler, data);
        if (r < 0) {
                server_request_on_abort(req, NULL, NULL);
                free(data);
                server_request_close_after(req);
                answer_status(f, req, r == -EFBIG ? 413 : 500, NULL, 0);
        }
}

static void serve_api(Front *f, ServerRequest *req) {
        ApiContext *a;

        a = calloc(1, sizeof *a);
        if (!a) {
                answer_status(f, req, 503, NULL, 0);
                return;
        }
        *a = (ApiContext) {.front = f, .req = req};
        read_body_then(f, req, API_BODY_MAX, api_run, on_api_abort, a);
}

/* ---- POST /api/v1/apps ---- */

/*
 * A package is far larger than any other body, so it is neither buffered nor given to the API whole:
 *   head --api_app_upload_check() (401/403/415), Content-Length past APPS_UPLOAD_MAX (413)--> answered
 *   head --checks pass--> BODY: each piece written to an unnamed file under STATE_DIR/tmp, counted (past
 *        APPS_UPLOAD_MAX: 413 and close) --end--> INSTALLING: api_app_install() (a worker)
 *        --done--> answered
 * The client going away (abort) closes the file, which then vanishes, and cancels the install, whose worker
 * is killed and whose partial tree is purged.
 */

static Upload *upload_free(Upload *u) {
        if (!u)
                return NULL;
        safe_close(u->fd);
        free(u);
        return NULL;
}

/* An {"error": …} answer of our own; the upload is over. */
static void upload_refuse(Upload *u, int status, const char *message) {
        Front *f = u->front;
        ServerRequest *req = u->req;
        ApiResponse *resp;

        server_request_on_abort(req, NULL, NULL);
        upload_free(u);
        resp = api_response_new_error(status, message);
        if (!resp) {
                answer_status(f, req, status, NULL, 0);
                return;
        }
        respond_api(f, req, resp);
}

static void on_upload_abort(ServerRequest *req, void *userdata) {
        Upload *u = userdata;

        api_call_cancel(u->call);
        upload_free(u);
}

static void on_upload_done(ApiCall *call, ApiResponse *resp, void *userdata) {
        Upload *u = userdata;
        Front *f = u->front;
        ServerRequest *req = u->req;

        server_request_on_abort(req, NULL, NULL);
        upload_free(u);
        respond_api(f, req, resp);
}

static int on_upload_data(ServerRequest *req, const uint8_t *data, size_t n, void *userdata) {
        Upload *u = userdata;
        int r;

        if (n > APPS_UPLOAD_MAX - u->size) {
                /* A body without Content-Length (chunked, HTTP/2) that grew too big. */
                server_request_close_after(req);
                upload_refuse(u, 413, "The package is larger than 1 GiB.");
                return 1; /* nothing more is read: the connection closes after the answer */
        }
        /* A local file: written at once, no need to slow the client down. */
        r = loop_write(u->fd, data, n);
        if (r < 0) {
                log_error_errno(r, "Failed to store an uploaded package: %m");
                server_request_close_after(req);
                upload_refuse(u, http_status_from_errno(r),
                              r == -ENOSPC ? "The server's disk is full." : "Internal error.");
                return 1;
        }
        u->size += n;
        return 0;
}

static void on_upload_end(ServerRequest *req, void *userdata) {
        Upload *u = userdata;
        Front *f = u->front;
        ApiRequest ar = api_request_of(f, req, NULL, 0);
        int r;

        if (lseek(u->fd, 0, SEEK_SET) < 0) {
                log_error_errno(-errno, "Failed to read an uploaded package back: %m");
                upload_refuse(u, 500, "Internal error.");
                return;
        }
        /* done may run before this returns (an answer without a worker): u is gone then. */
        r = api_app_install(f->api, &ar, TAKE_FD(u->fd), on_upload_done, u, &u->call);
        if (r < 0) {
                server_request_on_abort(req, NULL, NULL);
                upload_free(u);
                answer_status(f, req, http_status_from_errno(r), NULL, 0);
        }
}

/* An unnamed file in dir_fd; where O_TMPFILE is not supported, a named one, unlinked at once. */
static int open_upload_file(int dir_fd) {
        char name[32] = ".upload-";
        uint8_t rnd[8];
        int fd;

        fd = openat(dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd >= 0)
                return fd;
        if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
                return -errno;
        random_bytes(rnd, sizeof rnd);
        hex_encode(rnd, sizeof rnd, name + strlen(name));
        fd = openat(dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        (void) unlinkat(dir_fd, name, 0);
        return fd;
}

static void serve_upload(Front *f, ServerRequest *req) {
        const HttpRequest *h = server_request_http(req);
        ApiRequest ar = api_request_of(f, req, NULL, 0);
        ApiResponse *resp = NULL;
        Upload *u;
        int r;

        /* Who may upload, before a byte of the body is read. */
        r = api_app_upload_check(f->api, &ar, &resp);
        if (r < 0) {
                answer_status(f, req, http_status_from_errno(r), NULL, 0);
                return;
        }
        if (r > 0) {
                respond_api(f, req, resp);
                return;
        }
        if (h->framing == HTTP_FRAMING_LENGTH && h->content_length > APPS_UPLOAD_MAX) {
                server_request_close_after(req);
                resp = api_response_new_error(413, "The package is larger than 1 GiB.");
                if (resp)
                        respond_api(f, req, resp);
                else
                        answer_status(f, req, 413, NULL, 0);
                return;
        }

        u = calloc(1, sizeof *u);
        if (!u) {
                answer_status(f, req, 503, NULL, 0);
                return;
        }
        *u = (Upload) {.front = f, .req = req, .fd = open_upload_file(f->upload_dir_fd)};
        if (u->fd < 0) {
                log_error_errno(u->fd, "Failed to make a file for an uploaded package: %m");
                upload_refuse(u, 500, "Internal error.");
                return;
        }
        server_request_on_abort(req, on_upload_abort, u);
        /* The body may be complete already: on_upload_end may run, and answer, before this returns. */
        r = server_request_stream_body(req, on_upload_data, on_upload_end, u);
        if (r < 0)
                upload_refuse(u, 500, "Internal error.");
}

/* ---- POST /api/v1/dev-apps (control socket) ----
 *
 *   head --body read (DEVAPPS_BODY_MAX)--> api_dev_app_register() --refused--> answered (400, 403, 409, …)
 *        \--registered--> STREAMING: 200, chunked, devapp_read() whenever the registration has output
 *   STREAMING --the client goes (server.c (8)), or granaryd stops (devapps_end_all(): the body ends)-->
 *        destroy: devapp_unregister()
 */

typedef struct DevStream {
        Front *front;
        ServerRequest *req;
        DevApp *app;
} DevStream;

static void on_dev_stream_abort(ServerRequest *req, void *userdata) {
        free(userdata);
}

static void on_dev_output(DevApp *a, void *userdata) {
        DevStream *s = userdata;

        server_request_resume(s->req);
}

static ssize_t dev_stream_read(ServerRequest *req, uint8_t *buf, size_t n, bool *ret_eof, void *userdata) {
        DevStream *s = userdata;

        return (ssize_t) devapp_read(s->app, buf, n, ret_eof);
}

static void dev_stream_destroy(void *userdata) {
        DevStream *s = userdata;

        devapp_on_output(s->app, NULL, NULL);
        devapp_unregister(s->app);
        free(s);
}

static void dev_stream_body(ServerRequest *req, const void *body, size_t size, void *userdata) {
        DevStream *s = userdata;
        Front *f = s->front;
        ApiRequest ar = api_request_of(f, req, body, size);
        ApiResponse *resp = NULL;
        HttpHeader h[16];
        size_t n;
        int r;

        server_request_on_abort(req, NULL, NULL);
        r = api_dev_app_register(f->api, &ar, &s->app, &resp);
        if (r != 0) {
                free(s);
                if (r > 0)
                        respond_api(f, req, resp);
                else
                        answer_status(f, req, http_status_from_errno(r), NULL, 0);
                return;
        }
        n = common_headers(f, h);
        h[n++] = H("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
        h[n++] = H("Cache-Control", "no-store");
        h[n++] = H("Content-Type", "text/plain; charset=utf-8");
        log_answer(req, 200);
        r = server_request_respond_stream(req, 200, h, n, -1, dev_stream_read, dev_stream_destroy, s);
        if (r < 0) {
                devapp_unregister(s->app);
                free(s);
                answer_status(f, req, 500, NULL, 0);
                return;
        }
        devapp_on_output(s->app, on_dev_output, s);
}

static void serve_dev_app(Front *f, ServerRequest *req) {
        DevStream *s;

        s = calloc(1, sizeof(DevStream));
        if (!s) {
                answer_status(f, req, 503, NULL, 0);
                return;
        }
        *s = (DevStream) {.front = f, .req = req};
        if (!control_peer_is_admin(f, req)) {
                dev_stream_body(req, "", 0, s); /* answers 403 without reading the body */
                return;
        }
        read_body_then(f, req, DEVAPPS_BODY_MAX, dev_stream_body, on_dev_stream_abort, s);
}

/* ---- routing ---- */

static bool path_is_api(const HttpRequest *h) {
        const char *p = h->path;
        size_t n = h->path_len;

        if (n < STRLEN("/api/v1") || memcmp(p, "/api/v1", STRLEN("/api/v1")) != 0)
                return false;
        return n == STRLEN("/api/v1") || p[7] == '/' || p[7] == '?';
}

/* POST /api/v1/dev-apps[?…]: a development app registers, for as long as its connection lives. */
static bool is_dev_app(const HttpRequest *h) {
        size_t n = strcspn(h->path, "?");

        if (n > h->path_len)
                n = h->path_len;
        return h->method == HTTP_METHOD_POST && n == STRLEN("/api/v1/dev-apps") &&
               memcmp(h->path, "/api/v1/dev-apps", n) == 0;
}

/* POST /api/v1/apps[?…]: a package upload, streamed (serve_upload()). */
static bool is_app_upload(const HttpRequest *h) {
        size_t n = strcspn(h->path, "?");

        if (n > h->path_len)
                n = h->path_len;
        return h->method == HTTP_METHOD_POST && n == STRLEN("/api/v1/apps") &&
               memcmp(h->path, "/api/v1/apps", n) == 0;
}

static bool is_listener_port(Front *f, unsigned port) {
        for (size_t i = 0; i < f->n_listener_ports; i++)
                if (f->listener_ports[i] == port)
                        return true;
        return false;
}

static void on_request(ServerRequest *req, void *userdata) {
        Front *f = userdata;
        const HttpRequest *h = server_request_http(req);
        bool https = front_config_https(&f->config);
        const char *sni, *id = NULL;
        size_t id_len = 0, name_len;
        unsigned port;
        RouteKind kind;

        if (server_request_listener(req) == SERVER_LISTENER_CONTROL) {
                if (is_app_upload(h))
                        serve_upload(f, req);
                else if (is_dev_app(h))
                        serve_dev_app(f, req);
                else if (path_is_api(h))
                        serve_api(f, req);
                else
                        answer_status(f, req, 404, NULL, 0);
                return;
        }
        if (!h->authority || h->authority_len == 0) {
                server_request_close_after(req);
                answer_status(f, req, 400, NULL, 0);
                return;
        }
        if (route_authority_split(h->authority, h->authority_len, &name_len, &port) < 0) {
                /* route_host() calls it misdirected: no redirect, and the SNI check compares it whole */
                name_len = h->authority_len;
                port = 0;
        }

        /* SNI and Host must name the same host (SECURITY.md: "Host/SNI mismatch → 421") */
        sni = server_request_sni(req);
        if (sni && !http_strcaseeq(sni, strlen(sni), h->authority, name_len)) {
                answer_status(f, req, 421, NULL, 0);
                return;
        }

        kind = route_host(f->route, h->authority, h->authority_len, https, &id, &id_len);
        if (kind == ROUTE_MISDIRECTED && port > 0 && port != front_config_primary_port(&f->config) &&
            is_listener_port(f, port)) {
                /* one of our names on another of our ports: send it to the primary port (Sandstorm does) */
                char buf[ROUTE_HOST_MAX + 16];
                _cleanup_free_ char *location = NULL;
                uint16_t primary = front_config_primary_port(&f->config);
                bool default_port = primary == (https ? 443 : 80);

                if (name_len <= ROUTE_HOST_MAX) {
                        int k = snprintf(buf, sizeof buf, "%.*s:%u", (int) name_len, h->authority, primary);

                        if (route_host(f->route, buf, (size_t) k, https, &id, &id_len) != ROUTE_MISDIRECTED &&
                            asprintf(&location, "%s://%.*s%s%.*s", https ? "https" : "http", (int) name_len,
                                     h->authority, default_port ? "" : buf + name_len,
                                     (int) (h->path[0] == '/' ? h->path_len : 1),
                                     h->path[0] == '/' ? h->path : "/") >= 0) {
                                HttpHeader loc = H("Location", location);

                                answer_status(f, req, 308, &loc, 1);
                                return;
                        }
                }
        }

        switch (kind) {
        case ROUTE_BASE:
                if (is_app_upload(h))
                        serve_upload(f, req);
                else if (path_is_api(h))
                        serve_api(f, req);
                else
                        serve_shell(f, req);
                return;
        case ROUTE_SELFTEST:
                if (h->method == HTTP_METHOD_GET && h->path_len == 1 && h->path[0] == '/') {
                        static const char ok[] = "Self-test OK.";
                        HttpHeader hd[8];
                        size_t n = common_headers(f, hd);

                        hd[n++] = H("Access-Control-Allow-Origin", "*");
                        hd[n++] = H("Content-Type", "text/plain; charset=utf-8");
                        hd[n++] = H("Cache-Control", "no-store");
                        log_answer(req, 200);
                        (void) server_request_respond(req, 200, hd, n, ok, STRLEN(ok), NULL, NULL);
                } else
                        answer_status(f, req, 400, NULL, 0);
                return;
        case ROUTE_MISDIRECTED:
                answer_status(f, req, 421, NULL, 0);
                return;
        case ROUTE_UI:
                ui_handle(f->ui, req, id, id_len);
                return;
        default:
                /* APIs and published sites: not yet */
                answer_status(f, req, 404, NULL, 0);
                return;
        }
}

/* ---- setup ---- */

static int load_shell(Front *f) {
        _cleanup_close_ int fd = -EBADF;
        StaticSite *site;
        int r;

        fd = open(f->config.shell_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(-errno, "Failed to open the shell directory '%s': %m", f->config.shell_dir);
        r = static_site_load(fd, &site);
        if (r < 0)
                return log_error_errno(r, "Failed to load the shell from '%s': %m", f->config.shell_dir);
        static_site_unref(f->shell);
        f->shell = site;
        return 0;
}

static int load_tls(Front *f) {
        _cleanup_free_ char *error = NULL;
        int r;

        if (f->tls) {
                r = tls_context_reload(f->tls, f->config.tls_cert, f->config.tls_key, &error);
                if (r < 0)
                        return log_error_errno(r, "Failed to reload the TLS certificate: %s", error ?: "");
                return 0;
        }
        if (!file_exists(f->config.tls_cert) && !file_exists(f->config.tls_key)) {
                /* no certificate yet: make a self-signed one for our names, as dev mode promises */
                _cleanup_free_ char *dir = path_dirname(f->config.tls_cert);
                _cleanup_free_ char *wild = NULL, *base = NULL;
                _cleanup_close_ int dfd = -EBADF;
                const char *h;
                size_t n;

                h = startswith(f->config.base_url, "https://") ?: startswith(f->config.base_url, "http://");
                n = strcspn(h, ":/");
                base = strndup(h, n);
                wild = strndup(f->config.wildcard_host, strcspn(f->config.wildcard_host, ":"));
                if (!dir || !base || !wild)
                        return log_oom();
                if (mkdir_p(dir, 0700) < 0 ||
                    (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                        return log_error_errno(-errno, "Failed to create '%s': %m", dir);
                r = tls_self_signed_ensure(dfd, path_basename(f->config.tls_cert), path_basename(f->config.tls_key),
                                           (const char *const[]) {base, wild, NULL}, &error);
                if (r < 0)
                        return log_error_errno(r, "Failed to make a self-signed certificate: %s", error ?: "");
                if (r > 0)
                        log_notice("Made a self-signed certificate for '%s' and '%s' in '%s'.", base, wild, dir);
        }
        r = tls_context_new(f->config.tls_cert, f->config.tls_key, 0, &f->tls, &error);
        if (r < 0)
                return log_error_errno(r, "Failed to load the TLS certificate '%s': %s", f->config.tls_cert,
                                       error ?: "");
        server_set_tls(f->server, f->tls);
        return 0;
}

static int make_csp(Front *f) {
        free(f->csp_shell);
        if (asprintf(&f->csp_shell,
                     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                     "connect-src 'self'; frame-src %s; frame-ancestors 'none'; base-uri 'none'; "
                     "form-action 'self'; object-src 'none'",
                     route_config_wildcard_pattern(f->route)) < 0)
                return log_oom();
        return 0;
}

static ServerLimits limits_of(const FrontConfig *c) {
        return (ServerLimits) {
                .http = c->limits,
                .connections_max = c->connections_max,
                .connections_per_address_max = c->connections_per_address_max,
                .header_timeout_usec = c->header_timeout_sec * USEC_PER_SEC,
                .idle_timeout_usec = c->idle_timeout_sec * USEC_PER_SEC,
                .body_timeout_usec = c->body_timeout_sec * USEC_PER_SEC,
                .body_min_rate = c->body_min_rate,
                .write_timeout_usec = c->write_timeout_sec * USEC_PER_SEC,
        };
}

static uint16_t socket_port(int fd) {
        struct sockaddr_storage sa;
        socklen_t len = sizeof sa;

        if (getsockname(fd, (struct sockaddr *) &sa, &len) < 0)
                return 0;
        if (sa.ss_family == AF_INET)
                return ntohs(((struct sockaddr_in *) &sa)->sin_port);
        if (sa.ss_family == AF_INET6)
                return ntohs(((struct sockaddr_in6 *) &sa)->sin6_port);
        return 0;
}

static int bind_tcp(const char *ip, uint16_t port) {
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } a = {};
        socklen_t len;
        _cleanup_close_ int fd = -EBADF;

        if (inet_pton(AF_INET, ip, &a.in.sin_addr) == 1) {
                a.in.sin_family = AF_INET;
                a.in.sin_port = htons(port);
                len = sizeof a.in;
        } else if (inet_pton(AF_INET6, ip, &a.in6.sin6_addr) == 1) {
                a.in6.sin6_family = AF_INET6;
                a.in6.sin6_port = htons(port);
                len = sizeof a.in6;
        } else
                return -EINVAL;
        fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int) {1}, sizeof(int));
        if (bind(fd, &a.sa, len) < 0 || listen(fd, SOMAXCONN) < 0)
                return -errno;
        return TAKE_FD(fd);
}

static int bind_control(Front *f) {
        const char *path = f->config.control_socket;
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *dir = NULL;
        mode_t old;
        int r;

        if (strlen(path) >= sizeof un.sun_path)
                return log_error_errno(-ENAMETOOLONG, "Control socket path '%s' is too long.", path);
        dir = path_dirname(path);
        if (!dir)
                return log_oom();
        r = mkdir_p(dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create '%s': %m", dir);
        strcpy(un.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(-errno, "Failed to make the control socket: %m");
        (void) unlink(path);
        old = umask(f->config.dev ? 0077 : 0007);
        r = bind(fd, (struct sockaddr *) &un, sizeof un) < 0 ? -errno : 0;
        umask(old);
        if (r < 0)
                return log_error_errno(r, "Failed to bind the control socket '%s': %m", path);
        if (!f->config.dev && f->granary_gid != (gid_t) -1)
                (void) chown(path, (uid_t) -1, f->granary_gid);
        if (listen(fd, SOMAXCONN) < 0)
                return log_error_errno(-errno, "Failed to listen on '%s': %m", path);
        r = server_add_listener(f->server, TAKE_FD(fd), SERVER_LISTENER_CONTROL, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to add the control socket: %m");
        return 0;
}

static int add_listener(Front *f, int fd, ServerListenerKind kind) {
        uint16_t port = socket_port(fd);
        int r;

        if (kind == SERVER_LISTENER_HTTPS && !f->tls) {
                r = load_tls(f);
                if (r < 0) {
                        safe_close(fd);
                        return r;
                }
        }
        if (f->n_listener_ports < ELEMENTSOF(f->listener_ports))
                f->listener_ports[f->n_listener_ports++] = port;
        r = server_add_listener(f->server, fd, kind, port);
        if (r < 0)
                return log_error_errno(r, "Failed to add a listener: %m");
        log_info("Listening on %s port %u.", kind == SERVER_LISTENER_HTTPS ? "HTTPS" : "HTTP", port);
        return 0;
}

static int setup_listeners(Front *f) {
        _cleanup_strv_free_ char **names = NULL;
        bool control = false;
        int n, r;

        n = sd_listen_fds_with_names(true, &names);
        if (n < 0)
                return log_error_errno(n, "Failed to take the sockets passed by systemd: %m");
        if (n > 0) {
                /* socket activation: the sockets are systemd's, the config's ports mean nothing here */
                for (int i = 0; i < n; i++) {
                        int fd = SD_LISTEN_FDS_START + i;
                        const char *name = names ? names[i] : "http";

                        if (streq(name, "https"))
                                r = add_listener(f, fd, SERVER_LISTENER_HTTPS);
                        else if (streq(name, "control")) {
                                r = server_add_listener(f->server, fd, SERVER_LISTENER_CONTROL, 0);
                                control = true;
                        } else if (streq(name, "http") || streq(name, "unknown"))
                                r = add_listener(f, fd, SERVER_LISTENER_HTTP);
                        else {
                                log_warning("Ignoring the socket named '%s' passed by systemd.", name);
                                safe_close(fd);
                                r = 0;
                        }
                        if (r < 0)
                                return r;
                }
        } else {
                if (f->config.https_port) {
                        int fd = bind_tcp(f->config.bind_ip, f->config.https_port);

                        if (fd < 0)
                                return log_error_errno(fd, "Failed to listen on %s port %u: %m", f->config.bind_ip,
                                                       f->config.https_port);
                        r = add_listener(f, fd, SERVER_LISTENER_HTTPS);
                        if (r < 0)
                                return r;
                }
                for (unsigned i = 0; i < f->config.n_ports; i++) {
                        int fd = bind_tcp(f->config.bind_ip, f->config.ports[i]);

                        if (fd < 0)
                                return log_error_errno(fd, "Failed to listen on %s port %u: %m", f->config.bind_ip,
                                                       f->config.ports[i]);
                        r = add_listener(f, fd, SERVER_LISTENER_HTTP);
                        if (r < 0)
                                return r;
                }
        }
        if (!control)
                return bind_control(f);
        return 0;
}

/* ---- grains ---- */

static UiConfig ui_config_of(const FrontConfig *c) {
        uint64_t pool_idle = UI_POOL_IDLE_MAX_USEC;

        /* Half the grain's idle time at most, so that a pooled connection alone never keeps it up. */
        if (c->grain_idle_sec > 0 && (uint64_t) c->grain_idle_sec * USEC_PER_SEC / 2 < pool_idle)
                pool_idle = (uint64_t) c->grain_idle_sec * USEC_PER_SEC / 2;
        return (UiConfig) {
                .response_timeout_usec = (uint64_t) c->grain_response_timeout_sec * USEC_PER_SEC,
                .pool_idle_usec = pool_idle,
                .pool_max_per_grain = UI_POOL_MAX_PER_GRAIN,
                .session_idle_usec = (uint64_t) c->grain_session_idle_sec * USEC_PER_SEC,
        };
}

static bool grain_settings_differ(const FrontConfig *a, const FrontConfig *b) {
        return a->grain_backend != b->grain_backend || a->grain_idle_sec != b->grain_idle_sec ||
               a->grain_stop_timeout_sec != b->grain_stop_timeout_sec ||
               a->grain_memory_max != b->grain_memory_max || a->grain_tasks_max != b->grain_tasks_max ||
               a->grain_nofile_max != b->grain_nofile_max || a->grain_cpu_weight != b->grain_cpu_weight;
}

static int on_ui_connect(const char *grain_id, int *ret_fd, void *userdata) {
        Front *f = userdata;

        return grains_connect(f->grains, grain_id, ret_fd);
}

static void on_grain_deleted(const char *id, void *userdata) {
        Front *f = userdata;

        if (f->ui)
                ui_drop_grain(f->ui, id);
}

/* granary-grain: see the top of this file. */
static int find_grain_path(char **ret) {
        _cleanup_free_ char *exe = NULL, *dir = NULL, *beside = NULL, *build = NULL;
        const char *e = getenv("GRANARY_GRAIN_PATH");

        if (!isempty(e)) {
                if (access(e, X_OK) < 0)
                        return log_error_errno(-errno, "GRANARY_GRAIN_PATH='%s' cannot be run: %m", e);
                *ret = strdup(e);
                return *ret ? 0 : log_oom();
        }
        exe = realpath("/proc/self/exe", NULL);
        dir = exe ? path_dirname(exe) : NULL;
        if (dir) {
                beside = path_join(dir, "granary-grain");
                build = path_join(dir, "../grain/granary-grain");
                if (!beside || !build)
                        return log_oom();
                if (access(beside, X_OK) >= 0) {
                        *ret = TAKE_PTR(beside);
                        return 0;
                }
                if (access(build, X_OK) >= 0) {
                        *ret = realpath(build, NULL);
                        return *ret ? 0 : log_oom();
                }
        }
        if (access(LIBEXECDIR "/granary-grain", X_OK) < 0)
                return log_error_errno(-errno, "Failed to find granary-grain (" LIBEXECDIR "/granary-grain; "
                                               "GRANARY_GRAIN_PATH says where it is): %m");
        *ret = strdup(LIBEXECDIR "/granary-grain");
        return *ret ? 0 : log_oom();
}

/* The grain manager and the Ui, before the API that uses them. */
static int setup_grains(Front *f, const char *packages) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *grains_dir = NULL, *sockets_dir = NULL;
        GrainsConfig gc;
        UiConfig uc;
        int r;

        switch (f->config.grain_backend) {
        case FRONT_GRAIN_BACKEND_SYSTEMD:
                r = grains_systemd_open_bus(&bus);
                if (r == -EOPNOTSUPP)
                        return log_error_errno(r, "GRAIN_BACKEND=systemd, but systemd is not PID 1 here; use "
                                                  "GRAIN_BACKEND=direct (or auto).");
                if (r < 0)
                        return log_error_errno(r, "GRAIN_BACKEND=systemd, but systemd does not answer on the "
                                                  "system bus: %m");
                break;
        case FRONT_GRAIN_BACKEND_AUTO:
                /* --dev runs as whoever typed it (and under the test suites), who may not make system units:
                 * there auto means direct, and GRAIN_BACKEND=systemd asks for units explicitly. */
                if (f->config.dev)
                        break;
                r = grains_systemd_open_bus(&bus);
                if (r < 0 && r != -EOPNOTSUPP)
                        log_full_errno(LOG_NOTICE, r, "systemd is PID 1 but does not answer on the system bus "
                                                      "(%m); grains use the direct backend.");
                break;
        case FRONT_GRAIN_BACKEND_DIRECT:
                break;
        default:
                return log_error_errno(-EINVAL, "Unknown grain backend.");
        }

        r = find_grain_path(&f->grain_path);
        if (r < 0)
                return r;
        /* The API makes it too; the grain manager wants it first. */
        r = mkdir_p(packages, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create '%s': %m", packages);
        grains_dir = path_join(f->config.state_dir, "grains");
        sockets_dir = path_join(f->config.runtime_dir, "grains");
        if (!grains_dir || !sockets_dir)
                return log_oom();
        if (streq(grains_dir, sockets_dir)) {
                /* --dev keeps its runtime files in the state directory: the sockets get their own folder. */
                free(sockets_dir);
                sockets_dir = path_join(f->config.runtime_dir, "grain-sockets");
                if (!sockets_dir)
                        return log_oom();
        }

        gc = (GrainsConfig) {
                .grains_dir = grains_dir,
                .packages_dir = packages,
                .sockets_dir = sockets_dir,
                .bridge_path = f->grain_path,
                .idle_usec = f->config.grain_idle_sec == 0 ? GRAINS_IDLE_NEVER
                                                           : (uint64_t) f->config.grain_idle_sec * USEC_PER_SEC,
                .stop_timeout_usec = (uint64_t) f->config.grain_stop_timeout_sec * USEC_PER_SEC,
                .limits = {
                        .memory_max = f->config.grain_memory_max,
                        .tasks_max = f->config.grain_tasks_max,
                        .nofile_max = f->config.grain_nofile_max,
                        .cpu_weight = f->config.grain_cpu_weight,
                },
                .bus = bus,
        };
        sandbox_default_ids(&gc.uid, &gc.gid);
        r = grains_new(f->event, f->store, &gc, &f->grains);
        if (r < 0)
                return log_error_errno(r, "Failed to start the grain manager in '%s': %m", grains_dir);

        uc = ui_config_of(&f->config);
        r = ui_new(f->event, f->route, &uc, on_ui_connect, f, &f->ui);
        if (r < 0)
                return log_error_errno(r, "Failed to start the grain sessions: %m");
        grains_on_delete(f->grains, on_grain_deleted, f);
        /* Under systemd a grain's console is its unit's journal: follow it there. */
        r = devapps_new(f->event, f->store, f->grains, bus != NULL, &f->devapps);
        if (r < 0)
                return log_error_errno(r, "Failed to start the registry of development apps: %m");
        if (bus)
                log_info("Grains run as transient systemd units (granary-grain-<id>.socket and .service), with "
                         "the bridge '%s'.", f->grain_path);
        else
                log_info("Grains run in the direct backend's sandbox, with the bridge '%s'.", f->grain_path);
        return 0;
}

/* ---- signals ---- */

static void on_grains_stopped(void *userdata) {
        Front *f = userdata;

        log_info("All grains stopped, exiting.");
        (void) sd_event_exit(f->event, f->exit_code);
}

/* After the connections: no request can start a grain any more, so the grains stop for good. */
static void stop_grains(Front *f) {
        int r;

        if (!f->grains) {
                (void) sd_event_exit(f->event, f->exit_code);
                return;
        }
        (void) sd_notify(false, "STATUS=Stopping the grains...");
        r = grains_stop_all(f->grains, on_grains_stopped, f);
        if (r < 0) {
                log_warning_errno(r, "Failed to stop the grains gracefully; they are killed: %m");
                (void) sd_event_exit(f->event, f->exit_code);
        }
}

static void on_drained(Server *s, void *userdata) {
        Front *f = userdata;

        log_info("All connections closed.");
        stop_grains(f);
}

static int on_terminate(sd_event_source *source, const struct signalfd_siginfo *si, void *userdata) {
        Front *f = userdata;

        if (sd_event_get_state(f->event) == SD_EVENT_FINISHED)
                return 0;
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Finishing the requests in flight...");
        log_info("Received %s, finishing %u connections.", strsignal((int) si->ssi_signo),
                 server_n_connections(f->server));
        (void) sd_event_source_set_enabled(source, SD_EVENT_OFF);
        /* spk dev's streams end, so that their connections close with the others. */
        if (f->devapps)
                devapps_end_all(f->devapps);
        if (server_drain(f->server, f->config.drain_timeout_sec * USEC_PER_SEC, on_drained, f) < 0)
                stop_grains(f);
        return 0;
}

static int on_reload(sd_event_source *source, const struct signalfd_siginfo *si, void *userdata) {
        Front *f = userdata;
        FrontConfig c = {};
        _cleanup_free_ char *error = NULL;
        _cleanup_strv_free_ char **warnings = NULL;
        ServerLimits l;
        int r;

        (void) sd_notify(false, "RELOADING=1\nSTATUS=Reloading the configuration...");
        r = front_config_load(f->config_path, f->config.dev, &f->overrides, &c, &warnings, &error);
        if (r < 0) {
                log_error_errno(r, "Failed to reload the configuration, keeping the old one: %s", error);
                goto done;
        }
        STRV_FOREACH(w, warnings)
                log_warning("%s", *w);
        if (!streq(c.base_url, f->config.base_url) || !streq(c.wildcard_host, f->config.wildcard_host) ||
            c.https_port != f->config.https_port || c.n_ports != f->config.n_ports ||
            memcmp(c.ports, f->config.ports, sizeof c.ports) != 0 || !streq(c.bind_ip, f->config.bind_ip))
                log_warning("BASE_URL, WILDCARD_HOST, BIND_IP and the ports change only with a restart.");
        if (grain_settings_differ(&c, &f->config))
                log_warning("The GRAIN_* keys but GRAIN_RESPONSE_TIMEOUT_SEC and GRAIN_SESSION_IDLE_SEC change "
                            "only with a restart.");
        c.grain_backend = f->config.grain_backend;
        c.grain_idle_sec = f->config.grain_idle_sec;
        c.grain_stop_timeout_sec = f->config.grain_stop_timeout_sec;
        c.grain_memory_max = f->config.grain_memory_max;
        c.grain_tasks_max = f->config.grain_tasks_max;
        c.grain_nofile_max = f->config.grain_nofile_max;
        c.grain_cpu_weight = f->config.grain_cpu_weight;
        free(c.base_url);
        c.base_url = TAKE_PTR(f->config.base_url);
        free(c.wildcard_host);
        c.wildcard_host = TAKE_PTR(f->config.wildcard_host);
        memcpy(c.ports, f->config.ports, sizeof c.ports);
        c.n_ports = f->config.n_ports;
        c.https_port = f->config.https_port;
        front_config_done(&f->config);
        f->config = c;
        if (f->config.log_level) {
                int level = log_level_from_string(f->config.log_level);

                if (level >= 0)
                        log_set_max_level(level);
        }
        l = limits_of(&f->config);
        if (server_set_limits(f->server, &l) < 0)
                log_warning("The new limits do not fit together, keeping the old ones.");
        if (f->ui) {
                UiConfig uc = ui_config_of(&f->config);

                r = ui_set_config(f->ui, &uc);
                if (r < 0)
                        log_warning_errno(r, "Failed to apply the new grain session settings: %m");
        }
        (void) load_shell(f);
        if (f->tls)
                (void) load_tls(f);
        log_info("Reloaded the configuration.");
done:
        (void) sd_notify(false, "READY=1\nSTATUS=Serving.");
        return 0;
}

static int on_sweep(sd_event_source *source, uint64_t usec, void *userdata) {
        Front *f = userdata;
        uint64_t now = realtime_usec(), n = 0;

        (void) store_session_expire(f->store, now, &n);
        (void) store_login_attempt_prune(f->store, now > 86400 * USEC_PER_SEC ? now - 86400 * USEC_PER_SEC : 0, NULL);
        (void) sd_event_source_set_time_relative(source, SWEEP_INTERVAL_USEC);
        (void) sd_event_source_set_enabled(source, SD_EVENT_ON);
        return 0;
}

/* ---- main ---- */

static void help(void) {
        printf("Usage: granaryd [OPTIONS]\n"
               "       granaryd --dev [STATE_DIR] [OPTIONS]\n"
               "\n"
               "The granary front server: HTTPS, the web shell, accounts and the JSON API.\n"
               "Under systemd it takes its sockets from granary.socket; run by hand it binds what\n"
               "granary.conf says (BIND_IP, PORT, HTTPS_PORT).\n"
               "\n"
               "  -h --help             Show this help and exit\n"
               "     --version          Show the version and exit\n"
               "  -c --config=FILE      Read FILE instead of " FRONT_CONFIG_FILE "\n"
               "     --dev[=STATE_DIR]  Run everything from one state directory (default ./granary-dev) on\n"
               "                        http://" FRONT_DEV_HOST ":%d with *." FRONT_DEV_HOST " as wildcard host\n"
               "     --port=PORT        Listen for HTTP on PORT (overrides PORT=)\n"
               "     --https-port=PORT  Listen for HTTPS on PORT, with a self-signed certificate made on first\n"
               "                        start when none is configured (overrides HTTPS_PORT=)\n"
               "     --bind-ip=ADDR     Listen on ADDR (overrides BIND_IP=)\n"
               "     --shell-dir=DIR    Serve the web shell from DIR\n"
               "     --log-level=LEVEL  debug, info, notice, warning or err\n"
               "\n"
               "Grains (granary.conf keys, with their defaults):\n"
               "  GRAIN_BACKEND=auto             direct, systemd or auto (systemd when it is PID 1, else direct)\n"
               "  GRAIN_IDLE_SEC=%u             a grain without connections stops after this (0: never)\n"
               "  GRAIN_STOP_TIMEOUT_SEC=%u       SIGTERM to SIGKILL when a grain stops\n"
               "  GRAIN_MEMORY_MAX=1G            memory of one grain: bytes, or with K, M, G or T (1024)\n"
               "  GRAIN_TASKS_MAX=%u            processes and threads of one grain\n"
               "  GRAIN_NOFILE_MAX=%u          open files per process\n"
               "  GRAIN_CPU_WEIGHT=%u           CPU share (cgroup cpu.weight, 1...10000)\n"
               "  GRAIN_RESPONSE_TIMEOUT_SEC=%u  until a grain's response head arrives (else 504)\n"
               "  GRAIN_SESSION_IDLE_SEC=%u    an unused grain session ends\n"
               "\n"
               "Environment: GRANARY_GRAIN_PATH, the granary-grain bridge to run in grains (default: beside\n"
               "granaryd, else " LIBEXECDIR "/granary-grain).\n",
               FRONT_DEV_PORT, FRONT_GRAIN_IDLE_SEC, FRONT_GRAIN_STOP_TIMEOUT_SEC, FRONT_GRAIN_TASKS_MAX,
               FRONT_GRAIN_NOFILE_MAX, FRONT_GRAIN_CPU_WEIGHT, FRONT_GRAIN_RESPONSE_TIMEOUT_SEC,
               FRONT_GRAIN_SESSION_IDLE_SEC);
}

static int parse_port(const char *s, uint16_t *ret) {
        uint64_t v;

        if (parse_uint64(s, 65535, &v) < 0 || v == 0)
                return -EINVAL;
        *ret = (uint16_t) v;
        return 0;
}

static void front_done(Front *f) {
        server_free(f->server); /* the connections' development apps unregister */
        api_free(f->api);
        ui_free(f->ui);
        devapps_free(f->devapps);
        grains_free(f->grains);
        free(f->grain_path);
        static_site_unref(f->shell);
        route_config_free(f->route);
        tls_context_free(f->tls);
        store_close(f->store);
        front_config_done(&f->config);
        free(f->csp_shell);
        safe_close(f->upload_dir_fd);
        sd_event_unref(f->event);
}

int main(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_DEV, ARG_PORT, ARG_HTTPS_PORT, ARG_BIND_IP, ARG_SHELL_DIR, ARG_LOG_LEVEL };
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, ARG_VERSION},
                {"config", required_argument, NULL, 'c'},
                {"dev", optional_argument, NULL, ARG_DEV},
                {"port", required_argument, NULL, ARG_PORT},
                {"https-port", required_argument, NULL, ARG_HTTPS_PORT},
                {"bind-ip", required_argument, NULL, ARG_BIND_IP},
                {"shell-dir", required_argument, NULL, ARG_SHELL_DIR},
                {"log-level", required_argument, NULL, ARG_LOG_LEVEL},
                {},
        };
        Front f = {.granary_gid = (gid_t) -1, .upload_dir_fd = -EBADF};
        _cleanup_free_ char *error = NULL, *db = NULL, *setup_url = NULL, *packages = NULL, *uploads = NULL;
        _cleanup_strv_free_ char **warnings = NULL;
        const char *log_level = NULL;
        bool dev = false;
        ServerLimits limits;
        sigset_t mask;
        struct rlimit rl;
        struct group *gr;
        int c, r;

        log_set_program("granaryd");
        while ((c = getopt_long(argc, argv, "hc:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("granaryd %s\n", PACKAGE_VERSION);
                        return 0;
                case 'c':
                        f.config_path = optarg;
                        break;
                case ARG_DEV:
                        dev = true;
                        f.overrides.state_dir = optarg;
                        break;
                case ARG_PORT:
                case ARG_HTTPS_PORT:
                        if (parse_port(optarg, c == ARG_PORT ? &f.overrides.port : &f.overrides.https_port) < 0) {
                                log_error("Invalid port '%s'.", optarg);
                                return 2;
                        }
                        break;
                case ARG_BIND_IP:
                        f.overrides.bind_ip = optarg;
                        break;
                case ARG_SHELL_DIR:
                        f.overrides.shell_dir = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        log_level = optarg;
                        break;
                default:
                        return 2;
                }
        if (dev && !f.overrides.state_dir && optind < argc)
                f.overrides.state_dir = argv[optind++];
        if (optind < argc) {
                log_error("Unexpected argument '%s'.", argv[optind]);
                return 2;
        }
        if (dev && !f.overrides.state_dir)
                f.overrides.state_dir = "granary-dev";

        if (dev) {
                r = mkdir_p(f.overrides.state_dir, 0700);
                if (r < 0) {
                        log_error_errno(r, "Failed to create the state directory '%s': %m", f.overrides.state_dir);
                        return 1;
                }
        }
        r = front_config_load(f.config_path, dev, &f.overrides, &f.config, &warnings, &error);
        if (r < 0) {
                log_error_errno(r, "%s", error ?: "Failed to load the configuration");
                return 1;
        }
        STRV_FOREACH(w, warnings)
                log_warning("%s", *w);
        if (log_level || f.config.log_level) {
                int level = log_level_from_string(log_level ?: f.config.log_level);

                if (level < 0) {
                        log_error("Invalid log level '%s'.", log_level ?: f.config.log_level);
                        return 2;
                }
                log_set_max_level(level);
        }
        gr = getgrnam("granary");
        if (gr)
                f.granary_gid = gr->gr_gid;

        /* room for every connection the limits allow */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
        (void) signal(SIGPIPE, SIG_IGN);
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        r = sd_event_default(&f.event);
        if (r < 0) {
                log_error_errno(r, "Failed to make the event loop: %m");
                goto finish;
        }
        (void) sd_event_add_signal(f.event, NULL, SIGTERM, on_terminate, &f);
        (void) sd_event_add_signal(f.event, NULL, SIGINT, on_terminate, &f);
        (void) sd_event_add_signal(f.event, NULL, SIGHUP, on_reload, &f);
        (void) sd_event_set_watchdog(f.event, true);

        r = mkdir_p(f.config.state_dir, 0700);
        if (r < 0) {
                log_error_errno(r, "Failed to create '%s': %m", f.config.state_dir);
                goto finish;
        }
        db = path_join(f.config.state_dir, "granary.sqlite");
        if (!db) {
                r = log_oom();
                goto finish;
        }
        r = store_open(db, STORE_OPEN_CREATE, &f.store);
        if (r < 0) {
                log_error_errno(r, "Failed to open the database '%s': %m", db);
                goto finish;
        }
        packages = path_join(f.config.state_dir, "packages");
        uploads = path_join(f.config.state_dir, "tmp");
        if (!packages || !uploads) {
                r = log_oom();
                goto finish;
        }
        r = mkdir_p(uploads, 0700);
        if (r >= 0) {
                f.upload_dir_fd = open(uploads, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (f.upload_dir_fd < 0)
                        r = -errno;
        }
        if (r < 0) {
                log_error_errno(r, "Failed to open '%s': %m", uploads);
                goto finish;
        }
        r = route_config_new(f.config.base_url, f.config.wildcard_host, &f.route);
        if (r < 0) {
                log_error_errno(r, "BASE_URL '%s' and WILDCARD_HOST '%s' do not make sense together.",
                                f.config.base_url, f.config.wildcard_host);
                goto finish;
        }
        f.hsts = front_config_https(&f.config) && !f.config.dev;
        r = make_csp(&f);
        if (r < 0)
                goto finish;
        r = load_shell(&f);
        if (r < 0)
                goto finish;
        r = setup_grains(&f, packages);
        if (r < 0)
                goto finish;
        {
                ApiSettings settings = {
                        .base_url = f.config.base_url,
                        .wildcard_host = f.config.wildcard_host,
                        .version = PACKAGE_VERSION,
                        .cookie_secure = accounts_base_url_is_secure(f.config.base_url),
                        .packages_dir = packages,
                        .grains = f.grains,
                        .ui = f.ui,
                        .devapps = f.devapps,
                };
                r = api_new(f.event, f.store, &settings, &f.api);
                if (r < 0) {
                        log_error_errno(r, "Failed to start the API: %m");
                        goto finish;
                }
        }
        limits = limits_of(&f.config);
        r = server_new(f.event, &limits, on_request, &f, &f.server);
        if (r < 0) {
                log_error_errno(r, "Failed to make the server: %m");
                goto finish;
        }
        r = setup_listeners(&f);
        if (r < 0)
                goto finish;

        r = api_startup(f.api, realtime_usec(), &setup_url);
        if (r < 0) {
                log_error_errno(r, "Failed to prepare the first start: %m");
                goto finish;
        }
        if (r > 0)
                log_notice("No account exists yet; the setup link printed earlier is still valid. "
                           "'granary admin-token' makes a new one.");
        if (setup_url)
                log_struct(LOG_NOTICE,
                           "No account exists yet. Create the first (admin) account at: %s", setup_url,
                           "GRANARY_SETUP_URL=%s", setup_url);
        (void) sd_event_add_time_relative(f.event, NULL, CLOCK_MONOTONIC, SWEEP_INTERVAL_USEC, USEC_PER_SEC,
                                          on_sweep, &f);

        log_info("granaryd %s serving %s (wildcard %s).", PACKAGE_VERSION, f.config.base_url, f.config.wildcard_host);
        (void) sd_notify(false, "READY=1\nSTATUS=Serving.");
        r = sd_event_loop(f.event);
        if (r < 0)
                log_error_errno(r, "The event loop failed: %m");

finish:
        front_done(&f);
        return r < 0 ? 1 : 0;
}
