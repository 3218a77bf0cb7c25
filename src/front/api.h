/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * front/api.h — granaryd's JSON API, /api/v1/…, as the shell's pages and the Unix control socket (the
 * `granary` CLI) call it: server status, first setup with the setup token, sessions (login, logout),
 * users, TOTP, new setup tokens ("granary admin-token", spec §9.2), apps (install, list, remove), and grains
 * (create, list, rename, stop, delete, read the console, open a session on them).
 *
 * Owns the calls in flight and their workers (argon2id, package installs and the deletion of removed trees
 * run in forked children, worker.h, so that the event loop never waits for them). Does not own connections,
 * HTTP framing or body limits (server.c reads the body, at most API_BODY_MAX, and sends what api_handle()
 * answers; granaryd streams packages to a file); nor the facts (store.h), the account rules (accounts.h) or
 * what installing means (apps.h); nor grains (grains.h runs them) and their sessions (ui.h). Logs: failed logins (notice, with the name and address in their own
 * fields), refused packages (notice), accounts, tokens, installs and removals (info), and every 5xx once
 * (error). Never logs a secret.
 *
 * Who calls. A WEB caller is whoever the session cookie says, or nobody; every state-changing WEB call
 * with a session must pass the CSRF check (accounts.h), and POST /session and POST /setup, which have no
 * session yet, the Origin check. A CONTROL caller whose peer credentials make it an admin (root, or the
 * granary group: the server decides) acts as an administrator who is no user: no cookies, no CSRF, and
 * the endpoints about one's own session answer 400. Any other CONTROL caller may only GET /status.
 *
 * Endpoints (JSON objects in and out; errors are {"error": "…"}; unknown fields in a body are refused):
 *   GET    /status             {"version","needsSetup","baseUrl","wildcardHost"} (+ "users","uptime" for admins)
 *   POST   /setup              {"token","name","password","displayName"?} → 201 admin account and session
 *   GET    /session            {"user","csrfToken"} or 401
 *   POST   /session            {"name","password","totp"?} → 201 {"user","csrfToken"}; 401, 429
 *   DELETE /session            204, the cookie cleared
 *   GET    /users              (admin) {"users":[…]}
 *   POST   /users              (admin) {"name","password"?,"displayName"?,"admin"?} → 201 {"user"}; 409
 *   GET    /users/NAME         (admin or self) {"user"}
 *   PATCH  /users/NAME         {"password"?,"currentPassword"?,"admin"?,"displayName"?} → {"user"}
 *   DELETE /users/NAME         (admin, not oneself) 204; 409 while they own grains or are the last admin
 *   DELETE /users/NAME/totp    (admin) 204
 *   GET    /totp/new           (self) {"secret","uri"}, not stored
 *   POST   /totp               (self) {"secret","code"} → {"user"}; 400 wrong code
 *   DELETE /totp               (self) {"password"} → 204
 *   POST   /admin-token        (CONTROL admin) 201 {"token","url"}
 *   GET    /apps               {"apps":[…]}, by title
 *   POST   /apps               (admin) the body is the .spk (Content-Type application/octet-stream or
 *                              application/x-sandstorm-package) → 201 {"app","package","outcome"}; 400 a
 *                              bad package (spk's message), 409 installed already, 413 beyond
 *                              APPS_UPLOAD_MAX
 *   GET    /apps/ID            {"app"}, with "packages": [{"id","version","marketingVersion","installed",
 *                              "latest"}]
 *   DELETE /apps/ID[?force=1]  (admin) {"app","deletedGrains":[…]}; 409 while grains use it, unless
 *                              forced: then those grains are deleted first, storage and all (grains.h)
 *   GET    /grains[?all=1]     {"grains":[…]}: the caller's own, most recently used first; with ?all=1 (admins
 *                              only, else 403) and on the control socket everyone's, by id
 *   POST   /grains             {"appId","title"?,"action"?,"user"?} → 201 {"grain"}: a new grain of the
 *                              app's latest package, whose first start runs actions[action] (default 0).
 *                              title: default the app's title. "user" (control socket only): the owner;
 *                              default the only admin when there is exactly one, else 400. 404 unknown
 *                              app, 409 an app without a package, 400 no such action
 *   GET    /grains/ID          {"grain"}
 *   PATCH  /grains/ID          {"title"} → {"grain"}
 *   DELETE /grains/ID          204: stopped, its row, sessions and storage gone
 *   POST   /grains/ID/stop     204 (also when it was not running); the next request starts it again
 *   GET    /grains/ID/log[?bytes=N]  200 text/plain: the last N bytes of the console (default
 *                              API_GRAIN_LOG_DEFAULT, 1…API_GRAIN_LOG_MAX, else 400)
 *   POST   /dev-apps           (CONTROL admin; 404 on the web) {"appId","root","manifest" (base64),
 *                              "bridgeConfig"? (base64)} → 200 text/plain, a body that lasts as long as the
 *                              registration (front/devapps.h): its first line "dev <appId> <packageId>
 *                              <title>", then the console lines of the app's grains "[<grainId>] <line>".
 *                              Closing the connection unregisters. 400 bad JSON, app id, root (absolute, a
 *                              directory) or manifest; 409 registered already. Any Content-Type. granaryd
 *                              calls api_dev_app_register() for it, and streams the rest itself
 *   POST   /grains/ID/session  {"path"?,"user"?} (the body may be empty) → 201 {"url","host","origin"}: a UI
 *                              session for the caller (control socket: for "user", default the owner) on
 *                              host ui-<hostId> under the wildcard (spec §5.10). url opens it
 *                              (/_sandstorm-init, then path, default "/"); host is the session's whole
 *                              host name with its port; origin is scheme://host. The owner holds every
 *                              permission the package defines; anyone else gets 403 (sharing comes later). 503 "app <id> is
 *                              not installed" for a grain that ran a development package no longer
 *                              registered, while its app has no installed package
 * Who sees a grain: its owner and admins (on the web and the control socket); anyone else gets 404, as for
 * a grain that does not exist. Grain endpoints answer 503 on a server without grains (ApiSettings.grains).
 * A user object is {"id","name","displayName","admin","totp","created","lastLogin"} (milliseconds since
 * the epoch, null when unset). Changing a password ends the user's sessions; when users change their
 * own, the call answers with a new session (Set-Cookie and "csrfToken").
 *
 * A grain object is {"id","title","appId","appTitle","packageId","appVersion","owner" (the owner's user
 * name),"created","lastUsed","state" ("running", "stopped", "stopping"),"memory" (bytes while running, else
 * null),"cpuMs" (CPU time since the grain last started, in milliseconds, while running under the systemd
 * backend, which counts it; else null)}; packageId and appVersion are the package it ran last (or will run first).
 *
 * An app object is {"id","title","version","marketingVersion","packageId","installed","created","dev"}: the
 * app's latest package (version, marketingVersion, packageId and installed are null when it has none). An app
 * in development is listed by GET /apps with "dev": true and its development package (title and versions
 * from the manifest spk dev gave, "installed" when it registered) in place of its installed one; an app
 * known only as a development package is not listed once its registration ends. DELETE /apps/ID answers 409
 * while the app is in development. "outcome"
 * is one of "new", "upgrade", "older" (recorded, but the latest stays) and "restored" (front/apps.h). A
 * package is a body far beyond API_BODY_MAX: granaryd streams it to a file and calls api_app_install(); the
 * body api_handle() gets for POST /apps is installed the same way, from memory. Installs run in a worker
 * (front/apps.h's child half) and trees that removals and cancelled installs leave behind are deleted in
 * another, so the event loop only ever records rows.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "basic/macro.h"
#include "front/devapps.h"
#include "front/grains.h"
#include "front/ui.h"
#include "http/http.h"
#include "store/store.h"

/* The largest request body api_handle() takes; granaryd answers 413 itself beyond. */
#define API_BODY_MAX (64u * 1024u)
/* An argon2id run that takes longer than this is killed (504). */
#define API_WORKER_TIMEOUT_USEC (UINT64_C(30) * UINT64_C(1000000))
/* The setup token made at first start lasts until used or replaced, but at most this long. */
#define API_SETUP_TOKEN_USEC (UINT64_C(7) * 24 * 3600 * UINT64_C(1000000))
/* POST /admin-token: like Sandstorm's, valid for 15 minutes. */
#define API_ADMIN_TOKEN_USEC (UINT64_C(15) * 60 * UINT64_C(1000000))
/* An install (verify, unpack) that takes longer than this is killed (504). */
#define API_APP_INSTALL_TIMEOUT_USEC (UINT64_C(10) * 60 * UINT64_C(1000000))
/* Deleting the trees removals leave behind: killed after this long, and tried again at the next start. */
#define API_PURGE_TIMEOUT_USEC (UINT64_C(60) * 60 * UINT64_C(1000000))
/* GET /grains/ID/log: bytes of the console by default, and at most. */
#define API_GRAIN_LOG_DEFAULT (64u * 1024u)
#define API_GRAIN_LOG_MAX (1024u * 1024u)
/* A grain's title: bytes of UTF-8 text without control characters. */
#define API_GRAIN_TITLE_MAX 256u
/* POST /grains/ID/session: bytes of "path". */
#define API_SESSION_PATH_MAX 2048u

/* The store setting that remembers until when the last setup token we made is valid. */
#define API_SETUP_TOKEN_EXPIRES_SETTING "setup_token_expires"

typedef struct Api Api;

typedef struct ApiSettings {
        const char *base_url;      /* "http://granary.localhost:6080" — also the base origin */
        const char *wildcard_host; /* "*.granary.localhost:6080" */
        const char *version;       /* PACKAGE_VERSION */
        bool cookie_secure;        /* __Host- and Secure: accounts_base_url_is_secure(base_url) */
        const char *packages_dir;  /* STATE_DIR/packages, made if missing; NULL: app endpoints answer 503 */
        Grains *grains;            /* borrowed, must outlive the Api; NULL: grain endpoints answer 503 */
        Ui *ui;                    /* borrowed, must outlive the Api; NULL: POST /grains/ID/session answers 503 */
        DevApps *devapps;          /* borrowed, must outlive the Api; NULL: POST /dev-apps answers 503 */
} ApiSettings;

/* Copies settings. The store is borrowed and must outlive the Api. -EINVAL if base_url is not
 * http(s)://host[:port]. */
int api_new(sd_event *e, Store *store, const ApiSettings *settings, Api **ret);
/* Cancels the calls in flight without calling their done. Accepts NULL, returns NULL. Not from within a
 * done. */
Api *api_free(Api *api);
DEFINE_TRIVIAL_CLEANUP_FUNC(Api *, api_free);

/* At start (now: CLOCK_REALTIME usec; the first call's is where "uptime" counts from). Deletes what
 * interrupted installs and removals left in the packages directory. When no user exists and no setup
 * token made earlier is still valid, makes one, valid until used or replaced but at most
 * API_SETUP_TOKEN_USEC, and returns its setup URL (BASE_URL/setup?token=…) in *ret_url (malloc'd) for
 * granaryd to log: 0. When no user exists but the earlier token is still valid, *ret_url is NULL and the
 * return value 1 (its URL was logged when it was made; `granary admin-token` makes a new one). When users
 * exist: 0 and NULL. */
int api_startup(Api *api, uint64_t now, char **ret_url);

typedef enum ApiCaller {
        API_CALLER_WEB,
        API_CALLER_CONTROL,
        _API_CALLER_MAX,
        _API_CALLER_INVALID = -EINVAL,
} ApiCaller;

typedef struct ApiRequest {
        HttpMethod method;
        const char *path; /* the part after "/api/v1", starting with '/', query included */
        size_t path_len;
        const HttpHeader *headers;
        size_t n_headers;
        const void *body; /* the whole body, at most API_BODY_MAX bytes */
        size_t body_size;
        ApiCaller caller;
        const char *address; /* WEB: the client's IP as text (rate limiting); CONTROL: NULL */
        bool https;          /* WEB: over TLS */
        bool control_admin;  /* CONTROL: the peer's credentials make it an admin */
        uint64_t now;        /* usec, CLOCK_REALTIME */
} ApiRequest;

typedef struct ApiResponse {
        int status;
        char **headers; /* strv of "Name: value" lines to add (Set-Cookie, Retry-After, Location, Allow);
                         * NULL when none. The server adds the rest: Content-Type (content_type, by
                         * default application/json) whenever body is not NULL, and Cache-Control: no-store always (answers carry
                         * sessions, tokens and secrets) */
        char *body;     /* JSON text (or what content_type says), or NULL (204) */
        const char *content_type; /* a static string; NULL: application/json */
        size_t body_size;
} ApiResponse;

/* Wipes the body (it may hold a token) and frees. Accepts NULL, returns NULL. */
ApiResponse *api_response_free(ApiResponse *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(ApiResponse *, api_response_free);

typedef struct ApiCall ApiCall;

/* response: never NULL; the callee owns it (api_response_free()). When memory runs out for the real
 * answer it is a bare 500 without headers or body. The call is freed when done returns. */
typedef void (*ApiDone)(ApiCall *call, ApiResponse *response, void *userdata);

/* Answers req: copies what it needs from it, so req and its buffers may go when this returns. done is
 * called exactly once — possibly before api_handle() returns, in which case *ret_call is set to NULL
 * before done runs — unless api_call_cancel() comes first. ret_call may be NULL when the caller never cancels. -ENOMEM (done
 * is then never called); every other failure is an answer. */
int api_handle(Api *api, const ApiRequest *req, ApiDone done, void *userdata, ApiCall **ret_call);
/* Stops a call in flight (its worker is killed) without calling done, e.g. when the client has gone.
 * Accepts NULL, returns NULL. Not from within its own done. */
ApiCall *api_call_cancel(ApiCall *call);

/* ---- POST /apps with a streamed body ---- */

/* Before any byte of the body of POST /apps is read: 0 when req may upload a package (an admin, the CSRF
 * check passed, a package's Content-Type); else 1 with the answer in *ret (401, 403, 415, 503). -ENOMEM. */
int api_app_upload_check(Api *api, const ApiRequest *req, ApiResponse **ret);

/* POST /apps with the package in spk_fd (taken: closed when the call ends, on every path), positioned at
 * the package's first byte; req->body is ignored. Checks req as api_app_upload_check() does (again: the
 * session may have ended meanwhile), then installs in a worker. done, ret_call and the failures as for
 * api_handle(). */
int api_app_install(Api *api, const ApiRequest *req, int spk_fd, ApiDone done, void *userdata,
                    ApiCall **ret_call);

/* ---- POST /dev-apps ---- */

/* req: the whole body (at most DEVAPPS_BODY_MAX bytes). 0 with the registration in *ret_app (the caller's:
 * devapp_unregister() once its connection goes); 1 with the answer in *ret (400, 403, 404 on the web, 409,
 * 500, 503); -ENOMEM. */
int api_dev_app_register(Api *api, const ApiRequest *req, DevApp **ret_app, ApiResponse **ret);

/* An {"error": message} answer, for what granaryd refuses itself (413 past APPS_UPLOAD_MAX). NULL when
 * memory runs out. */
ApiResponse *api_response_new_error(int status, const char *message);
