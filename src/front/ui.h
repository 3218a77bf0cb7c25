/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * front/ui.h — the "ui-<hostId>" hosts: grain sessions and the proxy that carries their requests to the
 * grain (sandstorm-spec.md §5.3–5.8, §5.10; DESIGN.md "A request, end to end").
 *
 * Owns the sessions (sessions.h, in memory), the requests in flight to grains and the pool of kept-alive
 * connections to each grain. Does not own grains or their sockets (the UiConnect callback connects, from
 * grains.h), users, permissions or routing: the caller decides who may open a session on which grain, and
 * hands over the requests whose route is ROUTE_UI. Logs what happens to a grain request (a failure once,
 * at the place that answers it). The request state diagram and its invariants are at the top of ui.c; the
 * wire formats (the request the app gets, the response we read) are proxy.h's.
 *
 * What the app receives (the choices spec §5.3 leaves open, decided here):
 *  - the client's method and target, as HTTP/1.1 over the app's TCP connection that the grain's bridge
 *    handed over, kept alive (no pipelining);
 *  - Host, X-Forwarded-Proto, X-Sandstorm-Base-Path from the session's own origin;
 *  - User-Agent and Accept-Language fixed per session from the request that opened it (§5.2, §5.5), not the
 *    later requests': the app sees the same values the original bridge would give it;
 *  - X-Sandstorm-Session-Id: a counter per grain, from 0 in order of opening, fixed for the session;
 *  - every other header the client sent, except those that cross a trust boundary (proxy.h).
 * What the client receives: the app's status, headers and body, minus hop-by-hop fields, with Domain
 * removed from Set-Cookie (a grain's cookie can never reach the parent domain), and two headers of §5.7:
 * "Content-Security-Policy: frame-ancestors <shell origin> <session origin>" (added beside the app's own
 * policies, never replacing them: only the shell may frame a grain) and "Referrer-Policy: same-origin"
 * (the session host is a capability and must not leak to other sites). No X-Content-Type-Options and no
 * strict CSP: apps rely on what they send (the gateway does not add nosniff either).
 */

#include <stdint.h>

#include <systemd/sd-event.h>

#include "front/route.h"
#include "front/server.h"

typedef struct Ui Ui;

typedef struct UiConfig {
        uint64_t response_timeout_usec; /* from the request sent to the response head: else 504 */
        uint64_t pool_idle_usec;        /* a kept-alive grain connection idle this long is closed: it must be
                                         * well below the grain's idle exit, since an open connection keeps a
                                         * grain running */
        unsigned pool_max_per_grain;    /* idle connections kept per grain */
        uint64_t session_idle_usec;     /* a session not used this long is forgotten */
} UiConfig;

/* connect: a non-blocking AF_UNIX stream socket connected to the grain's socket, where granary-grain
 * listens (grains.h's grains_connect: -ENOENT unknown grain → 404, -ESTALE/-EAGAIN/other → 503). The Ui
 * asks the bridge on it for the app's own TCP connection (grain-util.h, GRAIN_HANDOVER_BYTE) and speaks
 * HTTP on that; what comes back must be exactly one byte with exactly one connected AF_INET/AF_INET6
 * stream socket, or the request is answered 502 and whatever came is closed. */
typedef int (*UiConnect)(const char *grain_id, int *ret_fd, void *userdata);

/* route and e are borrowed and must outlive the Ui; c is copied. */
int ui_new(sd_event *e, const RouteConfig *route, const UiConfig *c, UiConnect connect, void *userdata,
           Ui **ret);
/* Aborts every request in flight (their clients get 503, or a cut-off body), closes every grain connection
 * and forgets every session. Accepts NULL, returns NULL. */
Ui *ui_free(Ui *u);
DEFINE_TRIVIAL_CLEANUP_FUNC(Ui *, ui_free);
int ui_set_config(Ui *u, const UiConfig *c); /* SIGHUP */

typedef struct UiSessionParams {
        const char *grain_id;
        int64_t user_id;          /* 0: anonymous */
        const char *identity_id;  /* 64 hex (store.h identities); NULL: anonymous */
        const char *display_name; /* NULL: "Anonymous User" */
        const char *preferred_handle; /* NULL or "" : none */
        const char *picture_url;  /* NULL: none */
        const char *const *permissions; /* names the user holds, in definition order; NULL-terminated */
        const char *user_agent;   /* of the request that opens it; NULL → "UnknownAgent/0.0" */
        const char *accept_language; /* the Accept-Language header; NULL → "en-US,en" */
} UiSessionParams;

/* A new session (spec §5.10): a random 64-hex session id, its host ui-<sha256(id)[0:32]>, and the URL that
 * opens it: "<wildcard origin of ui-…>/_sandstorm-init?sessionid=<id>&path=<path percent-encoded>". path
 * NULL → "/". ret_host: "ui-<hostId>" (the label, without the wildcard's suffix); either output may be
 * NULL. -EINVAL for missing or malformed params (no grain id, an identity id that is not 64 hex, a value
 * with control characters), -ENOMEM. */
int ui_session_open(Ui *u, const UiSessionParams *p, const char *path, char **ret_url, char **ret_host);
void ui_drop_grain(Ui *u, const char *grain_id);   /* its sessions and pooled connections */
void ui_drop_user(Ui *u, int64_t user_id);         /* their sessions */
/* Answers a request whose route is ROUTE_UI with that hostId (as the client spelled it). */
void ui_handle(Ui *u, ServerRequest *req, const char *host_id, size_t host_id_len);
