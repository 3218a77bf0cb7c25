/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * One call, from api_handle() to its done:
 *
 *   api_handle() --route, method, caller, CSRF, body (api_dispatch)--> ANSWERED: done(response), freed
 *        \--a password to hash or check (call_start_worker)--> WORKING
 *        \--a package to install (install_start; also from api_app_install())--> WORKING
 *   WORKING --worker done (on_worker_done → the call's continuation; on_install_done)--> ANSWERED:
 *        done(response), freed
 *        \--api_call_cancel(), api_free()--> worker killed and reaped, an install's staging directory moved
 *        aside for the purge worker, freed; done is not called
 *
 * (1) done is called exactly once per call that is not cancelled, and the call is freed right after
 * (2) a call has at most one worker, and only in WORKING; the Api lists every call until it is freed
 * (3) what a continuation relies on is read again from the store after the worker: the user may have been
 *     deleted, or their password changed, while the worker ran
 * (4) passwords, tokens and secrets live only in the call (wiped when it is freed), the worker's input
 *     (wiped once forked) and response bodies that exist to hand them out (wiped by api_response_free())
 * (5) the Api has at most one purge worker (deleting trees moved aside); a purge asked for while one runs
 *     runs again after it; none starts once api_free() has begun, and the next start purges instead
 *
 * The order of checks for every request: 404 unknown path, 405 method, then who calls (401/403, the
 * control socket's 400), CSRF/Origin (403), 415 Content-Type, 400 malformed body, then the endpoint.
 */

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "basic/fileio.h"
#include "basic/hex.h"
#include "basic/log.h"
#include "basic/string-util.h"
#include "front/accounts.h"
#include "front/api.h"
#include "front/apps.h"
#include "front/devapps.h"
#include "front/totp.h"
#include "front/worker.h"

/* A handler's answer is not ready yet: a worker runs. */
#define API_PENDING 1

typedef enum ApiRoute {
        ROUTE_STATUS,
        ROUTE_SETUP,
        ROUTE_SESSION,
        ROUTE_USERS,
        ROUTE_USER,
        ROUTE_USER_TOTP,
        ROUTE_TOTP_NEW,
        ROUTE_TOTP,
        ROUTE_ADMIN_TOKEN,
        ROUTE_APPS,
        ROUTE_APP,
        ROUTE_GRAINS,
        ROUTE_GRAIN,
        ROUTE_GRAIN_SESSION,
        ROUTE_GRAIN_STOP,
        ROUTE_GRAIN_LOG,
        ROUTE_DEV_APPS,
        _ROUTE_MAX,
        _ROUTE_INVALID = -EINVAL,
} ApiRoute;

#define METHOD_BIT(m) (UINT64_C(1) << (m))
_Static_assert(_HTTP_METHOD_MAX <= 64, "a method is a bit of a uint64_t");

static const uint64_t route_methods[_ROUTE_MAX] = {
        [ROUTE_STATUS] = METHOD_BIT(HTTP_METHOD_GET),
        [ROUTE_SETUP] = METHOD_BIT(HTTP_METHOD_POST),
        [ROUTE_SESSION] = METHOD_BIT(HTTP_METHOD_GET) | METHOD_BIT(HTTP_METHOD_POST) | METHOD_BIT(HTTP_METHOD_DELETE),
        [ROUTE_USERS] = METHOD_BIT(HTTP_METHOD_GET) | METHOD_BIT(HTTP_METHOD_POST),
        [ROUTE_USER] = METHOD_BIT(HTTP_METHOD_GET) | METHOD_BIT(HTTP_METHOD_PATCH) | METHOD_BIT(HTTP_METHOD_DELETE),
        [ROUTE_USER_TOTP] = METHOD_BIT(HTTP_METHOD_DELETE),
        [ROUTE_TOTP_NEW] = METHOD_BIT(HTTP_METHOD_GET),
        [ROUTE_TOTP] = METHOD_BIT(HTTP_METHOD_POST) | METHOD_BIT(HTTP_METHOD_DELETE),
        [ROUTE_ADMIN_TOKEN] = METHOD_BIT(HTTP_METHOD_POST),
        [ROUTE_APPS] = METHOD_BIT(HTTP_METHOD_GET) | METHOD_BIT(HTTP_METHOD_POST),
        [ROUTE_APP] = METHOD_BIT(HTTP_METHOD_GET) | METHOD_BIT(HTTP_METHOD_DELETE),
        [ROUTE_GRAINS] = METHOD_BIT(HTTP_METHOD_GET) | METHOD_BIT(HTTP_METHOD_POST),
        [ROUTE_GRAIN] = METHOD_BIT(HTTP_METHOD_GET) | METHOD_BIT(HTTP_METHOD_PATCH) | METHOD_BIT(HTTP_METHOD_DELETE),
        [ROUTE_GRAIN_SESSION] = METHOD_BIT(HTTP_METHOD_POST),
        [ROUTE_GRAIN_STOP] = METHOD_BIT(HTTP_METHOD_POST),
        [ROUTE_GRAIN_LOG] = METHOD_BIT(HTTP_METHOD_GET),
        [ROUTE_DEV_APPS] = METHOD_BIT(HTTP_METHOD_POST),
};

struct Api {
        sd_event *event;
        Store *store;
        char *base_url; /* without a trailing '/' */
        char *base_origin;
        char *wildcard_host;
        char *version;
        bool cookie_secure;
        uint8_t csrf_key[ACCOUNTS_CSRF_KEY_SIZE];
        bool have_csrf_key;
        uint64_t started; /* api_startup()'s now; 0 before */
        ApiCall *calls;
        int packages_fd; /* -EBADF: no packages directory, no app endpoints */
        Worker *purge;
        bool purge_again;
        bool freeing;
        Grains *grains; /* borrowed; NULL: no grain endpoints */
        Ui *ui;         /* borrowed; NULL: no sessions */
        DevApps *devapps; /* borrowed; NULL: no development apps */
};

typedef int (*ApiContinuation)(ApiCall *c, int error, const char *hash, ApiResponse **ret);

struct ApiCall {
        Api *api;
        ApiCall *prev, *next;
        ApiDone done;
        void *userdata;
        Worker *worker;
        ApiContinuation cont;
        /* A bare 500, made up front: what done gets when memory runs out for the real answer. */
        ApiResponse *fallback;

        /* The request, as far as an answer after a worker needs it. */
        bool secure; /* which cookie: __Host- with Secure, or the plain one */
        uint64_t now;
        char address_key[ACCOUNTS_ADDRESS_KEY_SIZE]; /* "" when unknown */
        json_t *body;                                /* the parsed body, or NULL */
        char path_name[ACCOUNTS_NAME_MAX + 1];       /* NAME in /users/NAME */
        char path_app[APP_ID_TEXT_SIZE + 1];          /* ID in /apps/ID, canonical; "" when not an id */
        bool force;                                   /* DELETE /apps/ID?force=1 */
        char path_grain[STORE_ID_MAX + 1];            /* ID in /grains/ID…; "" when it cannot be one */
        bool all;                                     /* GET /grains?all=1 */
        bool bad_query;                               /* GET /grains/ID/log?bytes=… not a number in range */
        size_t log_bytes;                             /* GET /grains/ID/log?bytes=N */
        char *user_agent;                             /* WEB: for a grain session */
        char *accept_language;

        /* Who calls. */
        ApiCaller caller;
        bool admin;
        bool had_cookie;
        StoreUser *user; /* WEB with a valid session */
        char session_token[STORE_TOKEN_LENGTH + 1];

        /* What a continuation works on. */
        int64_t target_id;
        char *target_name;
        char *target_hash; /* the hash a password was checked against: unchanged afterwards, or no go */
        bool verified;     /* the worker checked a password */

        /* An install. */
        int spk_fd;
        AppsJob job;
        bool job_running; /* a worker runs job: its staging directory is to be abandoned if it is killed */
};

/* ---- responses ---- */

ApiResponse *api_response_free(ApiResponse *r) {
        if (!r)
                return NULL;
        strv_free(r->headers);
        if (r->body) {
                explicit_bzero_safe(r->body, r->body_size);
                free(r->body);
        }
        free(r);
        return NULL;
}

/* A response with status and body (a JSON value, whose reference is taken; NULL: no body). */
static int response_new(int status, json_t *body, ApiResponse **ret) {
        _cleanup_(api_response_freep) ApiResponse *r = NULL;

        r = calloc(1, sizeof(ApiResponse));
        if (!r) {
                json_decref(body);
                return -ENOMEM;
        }
        r->status = status;

        if (body) {
                r->body = json_dumps(body, JSON_COMPACT);
                json_decref(body);
                if (!r->body)
                        return -ENOMEM;
                r->body_size = strlen(r->body);
        }

        *ret = TAKE_PTR(r);
        return 0;
}

/* body: the JSON value to answer (its reference is taken); NULL means that making it ran out of memory. */
static int reply(ApiResponse **ret, int status, json_t *body) {
        if (!body)
                return -ENOMEM;
        return response_new(status, body, ret);
}

static int reply_empty(ApiResponse **ret, int status) {
        return response_new(status, NULL, ret);
}

static int reply_error(ApiResponse **ret, int status, const char *fmt, ...) _printf_(3, 4);
static int reply_error(ApiResponse **ret, int status, const char *fmt, ...) {
        _cleanup_free_ char *message = NULL;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&message, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        return reply(ret, status, json_pack("{s:s}", "error", message));
}

/* 500 and friends, from an errno; logged here, once per request. */
static ApiResponse *response_for_errno(ApiCall *c, int error) {
        ApiResponse *r = NULL;
        int status = http_status_from_errno(error);

        if (status < 500)
                status = 500;
        log_error_errno(error, "API call failed: %m");
        if (reply_error(&r, status, "%s", status == 504 ? "The server took too long." : "Internal error.") < 0)
                (void) reply_empty(&r, status);
        return r;
}

/* ---- JSON ---- */

static json_t *time_json(uint64_t usec) {
        return usec == 0 ? json_null() : json_integer((json_int_t) (usec / 1000));
}

static json_t *user_json(const StoreUser *u) {
        assert(u);

        return json_pack("{s:I, s:s, s:s, s:b, s:b, s:o, s:o}",
                         "id", (json_int_t) u->id,
                         "name", u->name,
                         "displayName", u->display_name,
                         "admin", u->is_admin,
                         "totp", u->totp_secret != NULL,
                         "created", time_json(u->created),
                         "lastLogin", time_json(u->last_login));
}

typedef enum FieldType {
        FIELD_STRING,
        FIELD_BOOL,
        FIELD_INTEGER,
        FIELD_ANY, /* checked by the handler */
} FieldType;

typedef struct Field {
        const char *name;
        FieldType type;
        bool required;
} Field;

/* The body has only these fields, of these types. Otherwise a 400 answer is made: 1. */
static int body_check(ApiCall *c, const Field *fields, size_t n, ApiResponse **ret) {
        const char *key;
        json_t *value;

        json_object_foreach(c->body, key, value) {
                const Field *f = NULL;

                for (size_t i = 0; i < n; i++)
                        if (streq(fields[i].name, key))
                                f = &fields[i];
                if (!f) {
                        /* The key is printed back: keep it short. */
                        int r = reply_error(ret, 400, "Unknown field '%.64s'.", key);
                        return r < 0 ? r : 1;
                }
                if ((f->type == FIELD_STRING && !json_is_string(value)) ||
                    (f->type == FIELD_BOOL && !json_is_boolean(value)) ||
                    (f->type == FIELD_INTEGER && !json_is_integer(value))) {
                        int r = reply_error(ret, 400, "'%s' must be a %s.", f->name,
                                            f->type == FIELD_STRING ? "string"
                                            : f->type == FIELD_BOOL ? "boolean"
                                                                    : "number");
                        return r < 0 ? r : 1;
                }
        }
        for (size_t i = 0; i < n; i++)
                if (fields[i].required && !json_object_get(c->body, fields[i].name)) {
                        int r = reply_error(ret, 400, "'%s' is missing.", fields[i].name);
                        return r < 0 ? r : 1;
                }
        return 0;
}
#define BODY_CHECK(c, ret, ...)                                                                               \
        body_check(c, (const Field[]) { __VA_ARGS__ }, ELEMENTSOF(((const Field[]) { __VA_ARGS__ })), ret)

static const char *body_string(ApiCall *c, const char *key, size_t *ret_len) {
        json_t *v = json_object_get(c->body, key);

        if (!json_is_string(v)) {
                if (ret_len)
                        *ret_len = 0;
                return NULL;
        }
        if (ret_len)
                *ret_len = json_string_length(v);
        return json_string_value(v);
}

/* -1 absent, else 0 or 1. */
static int body_bool(ApiCall *c, const char *key) {
        json_t *v = json_object_get(c->body, key);

        return json_is_boolean(v) ? json_is_true(v) : -1;
}

/* ---- the store, as the endpoints need it ---- */

static int count_users(Store *s, size_t *ret_users, size_t *ret_admins) {
        _cleanup_(store_user_list_freep) StoreUser **l = NULL;
        size_t n = 0, admins = 0;
        int r;

        r = store_user_list(s, &l, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (l[i]->is_admin)
                        admins++;
        if (ret_users)
                *ret_users = n;
        if (ret_admins)
                *ret_admins = admins;
        return 0;
}

static int api_csrf_key(Api *api) {
        int r;

        if (api->have_csrf_key)
                return 0;
        r = accounts_csrf_key(api->store, api->csrf_key);
        if (r < 0)
                return r;
        api->have_csrf_key = true;
        return 0;
}

/* Starts a session for user_id and answers status with {"user","csrfToken"} and its cookie. */
static int reply_new_session(ApiCall *c, int64_t user_id, int status, ApiResponse **ret) {
        _cleanup_(store_user_freep) StoreUser *u = NULL;
        _cleanup_(api_response_freep) ApiResponse *resp = NULL;
        char token[STORE_TOKEN_LENGTH + 1], csrf[ACCOUNTS_CSRF_TOKEN_LENGTH + 1];
        _cleanup_free_ char *cookie = NULL;
        json_t *body;
        int r;

        r = api_csrf_key(c->api);
        if (r < 0)
                return r;
        r = store_user_get(c->api->store, user_id, &u);
        if (r < 0)
                return r;
        r = store_session_new(c->api->store, user_id, c->now, c->now + ACCOUNTS_SESSION_USEC, token);
        if (r < 0)
                return r;

        accounts_csrf_token(c->api->csrf_key, token, STORE_TOKEN_LENGTH, csrf);
        r = accounts_cookie_make(c->secure, token, ACCOUNTS_SESSION_USEC, &cookie);
        explicit_bzero_safe(token, sizeof(token));
        if (r < 0) {
                explicit_bzero_safe(csrf, sizeof(csrf));
                return r;
        }

        body = json_pack("{s:o, s:s}", "user", user_json(u), "csrfToken", csrf);
        explicit_bzero_safe(csrf, sizeof(csrf));
        r = reply(&resp, status, body);
        if (r >= 0)
                r = strv_extendf(&resp->headers, "Set-Cookie: %s", cookie);
        explicit_bzero_safe(cookie, strlen(cookie));
        if (r < 0)
                return r;

        *ret = TAKE_PTR(resp);
        return 0;
}

static int reply_user(ApiCall *c, int64_t id, int status, ApiResponse **ret) {
        _cleanup_(store_user_freep) StoreUser *u = NULL;
        int r;

        r = store_user_get(c->api->store, id, &u);
        if (r == -ENOENT)
                return reply_error(ret, 404, "No such user.");
        if (r < 0)
                return r;
        return reply(ret, status, json_pack("{s:o}", "user", user_json(u)));
}

static int reply_unauthenticated(ApiCall *c, ApiResponse **ret) {
        _cleanup_(api_response_freep) ApiResponse *resp = NULL;
        _cleanup_free_ char *cookie = NULL;
        int r;

        r = reply_error(&resp, 401, "Not logged in.");
        if (r < 0)
                return r;
        /* A cookie that opens nothing is dropped, so that the browser stops sending it. */
        if (c->had_cookie) {
                r = accounts_cookie_make_clear(c->secure, &cookie);
                if (r < 0)
                        return r;
                r = strv_extendf(&resp->headers, "Set-Cookie: %s", cookie);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(resp);
        return 0;
}

static int reply_retry_after(ApiResponse **ret, int status, uint64_t seconds, const char *message) {
        _cleanup_(api_response_freep) ApiResponse *resp = NULL;
        int r;

        r = reply_error(&resp, status, "%s", message);
        if (r < 0)
                return r;
        r = strv_extendf(&resp->headers, "Retry-After: %" PRIu64, seconds);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(resp);
        return 0;
}

/* ---- the password worker ---- */

/*
 * What the child gets: this header, then hash_len bytes of an argon2id string, verify_len bytes of the
 * password to check against it, new_len bytes of a password to hash. With verify set it checks first
 * (an empty hash: no such user, or no password: it does the same work and fails); with new_len > 0 the
 * result is the new hash.
 */
typedef struct PasswordJob {
        uint32_t verify;
        uint32_t hash_len;
        uint32_t verify_len;
        uint32_t new_len;
} PasswordJob;

static int password_job_run(const void *in, size_t in_size, void **ret, size_t *ret_size) {
        char hash[STORE_PASSWORD_HASH_SIZE], result[STORE_PASSWORD_HASH_SIZE];
        const char *verify_password, *new_password;
        PasswordJob job;
        int r;

        if (in_size < sizeof(job))
                return -EINVAL;
        memcpy(&job, in, sizeof(job));
        if ((uint64_t) sizeof(job) + job.hash_len + job.verify_len + job.new_len != in_size ||
            job.hash_len >= sizeof(hash))
                return -EINVAL;
        verify_password = (const char *) in + sizeof(job) + job.hash_len;
        new_password = verify_password + job.verify_len;

        if (job.verify) {
                if (job.hash_len == 0) {
                        /* Hashing costs what verifying against a hash made with the same limits costs, so
                         * that an unknown name takes as long as a wrong password. */
                        (void) store_password_hash(verify_password, job.verify_len, result);
                        return -EACCES;
                }
                memcpy(hash, (const char *) in + sizeof(job), job.hash_len);
                hash[job.hash_len] = '\0';
                r = store_password_verify(hash, verify_password, job.verify_len);
                if (r < 0)
                        return r;
        }

        if (job.new_len > 0) {
                r = store_password_hash(new_password, job.new_len, result);
                if (r < 0)
                        return r;
                *ret = strdup(result);
                if (!*ret)
                        return -ENOMEM;
                *ret_size = strlen(result);
        }
        return 0;
}

static void call_finish(ApiCall *c, ApiResponse *response);

static void on_worker_done(Worker *w, int error, const void *result, size_t size, void *userdata) {
        ApiCall *c = userdata;
        ApiResponse *resp = NULL;
        int r;

        assert(c);
        c->worker = NULL;

        r = c->cont(c, error, error >= 0 && size > 0 ? result : NULL, &resp);
        if (r < 0) {
                resp = api_response_free(resp);
                resp = response_for_errno(c, r);
        }
        call_finish(c, resp);
}

/* verify_hash: with verify_password, the hash to check it against ("" or NULL: none, which fails after
 * the same work); new_password: to hash. Then cont runs with the worker's error and the new hash. */
static int call_start_worker(ApiCall *c, const char *verify_hash, const char *verify_password, size_t verify_len,
                             const char *new_password, size_t new_len, ApiContinuation cont, ApiResponse **ret) {
        PasswordJob job = {
                .verify = !!verify_password,
                .hash_len = verify_password && verify_hash ? (uint32_t) strlen(verify_hash) : 0,
                .verify_len = verify_password ? (uint32_t) verify_len : 0,
                .new_len = new_password ? (uint32_t) new_len : 0,
        };
        size_t size = sizeof(job) + job.hash_len + job.verify_len + job.new_len;
        uint8_t *in;
        int r;

        assert(!c->worker);
        assert(verify_len <= ACCOUNTS_PASSWORD_MAX && new_len <= ACCOUNTS_PASSWORD_MAX);

        in = malloc(size);
        if (!in)
                return -ENOMEM;
        memcpy(in, &job, sizeof(job));
        if (job.hash_len > 0)
                memcpy(in + sizeof(job), verify_hash, job.hash_len);
        if (job.verify_len > 0)
                memcpy(in + sizeof(job) + job.hash_len, verify_password, job.verify_len);
        if (job.new_len > 0)
                memcpy(in + sizeof(job) + job.hash_len + job.verify_len, new_password, job.new_len);

        c->cont = cont;
        c->verified = job.verify;
        r = worker_run(c->api->event, password_job_run, in, size, API_WORKER_TIMEOUT_USEC, on_worker_done, c,
                       &c->worker);
        explicit_bzero_safe(in, size);
        free(in);
        if (r == -EBUSY)
                return reply_retry_after(ret, 503, 1, "The server is busy; try again in a moment.");
        if (r < 0)
                return r;
        return API_PENDING;
}

/* ---- endpoints ---- */

static int handle_status(ApiCall *c, ApiResponse **ret) {
        json_t *j;
        size_t n;
        int r;

        r = count_users(c->api->store, &n, NULL);
        if (r < 0)
                return r;

        j = json_pack("{s:s, s:b, s:s, s:s}", "version", c->api->version, "needsSetup", n == 0, "baseUrl",
                      c->api->base_url, "wildcardHost", c->api->wildcard_host);
        if (!j)
                return -ENOMEM;
        if (c->admin) {
                r = json_object_set_new(j, "users", json_integer((json_int_t) n));
                if (r >= 0 && c->api->started > 0 && c->now >= c->api->started)
                        r = json_object_set_new(j, "uptime",
                                                json_integer((json_int_t) ((c->now - c->api->started) / 1000000)));
                if (r < 0) {
                        json_decref(j);
                        return -ENOMEM;
                }
        }
        return reply(ret, 200, j);
}

static int reply_invalid_name(ApiResponse **ret) {
        return reply_error(ret, 400, "A user name has 1 to %u letters, digits, '.', '_' or '-', and does not "
                           "start with '.' or '-'.", ACCOUNTS_NAME_MAX);
}

static int reply_invalid_password(ApiResponse **ret) {
        return reply_error(ret, 400, "A password has %u to %u bytes.", ACCOUNTS_PASSWORD_MIN, ACCOUNTS_PASSWORD_MAX);
}

static int reply_invalid_display_name(ApiResponse **ret) {
        return reply_error(ret, 400, "A display name has 1 to %u bytes of printable text.",
                           ACCOUNTS_DISPLAY_NAME_MAX);
}

static int setup_hashed(ApiCall *c, int error, const char *hash, ApiResponse **ret) {
        Store *s = c->api->store;
        const char *token, *name = body_string(c, "name", NULL), *display = body_string(c, "displayName", NULL);
        size_t token_len;
        int64_t id;
        int r;

        if (error < 0)
                return error;
        if (!hash)
                return -EIO;
        token = body_string(c, "token", &token_len);

        r = store_begin(s);
        if (r < 0)
                return r;
        r = store_setup_token_consume(s, token, token_len, c->now);
        if (r == -ENOENT) {
                (void) store_rollback(s);
                return reply_error(ret, 403, "The setup token is not valid (any more).");
        }
        if (r >= 0)
                r = store_user_add(s, name, display, true, c->now, &id);
        if (r == -EEXIST) {
                (void) store_rollback(s);
                return reply_error(ret, 409, "That name is taken.");
        }
        if (r >= 0)
                r = store_user_set_password_hash(s, id, hash);
        if (r >= 0)
                r = store_user_set_last_login(s, id, c->now);
        if (r >= 0) {
                r = store_setting_delete(s, API_SETUP_TOKEN_EXPIRES_SETTING);
                if (r == -ENOENT)
                        r = 0;
        }
        if (r < 0) {
                (void) store_rollback(s);
                return r;
        }
        r = store_commit(s);
        if (r < 0)
                return r;

        log_struct(LOG_INFO, "Administrator '%s' created with the setup token.", name, "GRANARY_USER_NAME=%s",
                   name);
        return reply_new_session(c, id, 201, ret);
}

static int handle_setup(ApiCall *c, ApiResponse **ret) {
        _cleanup_(store_user_freep) StoreUser *existing = NULL;
        const char *token, *name, *password, *display;
        size_t token_len, name_len, password_len, display_len;
        int r;

        r = BODY_CHECK(c, ret, { "token", FIELD_STRING, true }, { "name", FIELD_STRING, true },
                       { "password", FIELD_STRING, true }, { "displayName", FIELD_STRING, false });
        if (r != 0)
                return r < 0 ? r : 0;
        token = body_string(c, "token", &token_len);
        name = body_string(c, "name", &name_len);
        password = body_string(c, "password", &password_len);
        display = body_string(c, "displayName", &display_len);

        /* The token first: without it nothing else is anybody's business. */
        r = store_setup_token_check(c->api->store, token, token_len, c->now);
        if (r == -ENOENT)
                return reply_error(ret, 403, "The setup token is not valid (any more).");
        if (r < 0)
                return r;

        if (!accounts_user_name_is_valid(name, name_len))
                return reply_invalid_name(ret);
        if (!accounts_password_is_valid(password, password_len))
                return reply_invalid_password(ret);
        if (display && !accounts_display_name_is_valid(display, display_len))
                return reply_invalid_display_name(ret);

        r = store_user_get_by_name(c->api->store, name, &existing);
        if (r >= 0)
                return reply_error(ret, 409, "That name is taken.");
        if (r != -ENOENT)
                return r;

        return call_start_worker(c, NULL, NULL, 0, password, password_len, setup_hashed, ret);
}

static int handle_session_get(ApiCall *c, ApiResponse **ret) {
        char csrf[ACCOUNTS_CSRF_TOKEN_LENGTH + 1];
        json_t *j;
        int r;

        if (!c->user)
                return reply_unauthenticated(c, ret);
        r = api_csrf_key(c->api);
        if (r < 0)
                return r;

        accounts_csrf_token(c->api->csrf_key, c->session_token, strlen(c->session_token), csrf);
        j = json_pack("{s:o, s:s}", "user", user_json(c->user), "csrfToken", csrf);
        explicit_bzero_safe(csrf, sizeof(csrf));
        return reply(ret, 200, j);
}

static void log_failed_login(ApiCall *c, const char *name, const char *what) {
        log_struct(LOG_NOTICE, "Failed login for '%s' from %s: %s.", name,
                   isempty(c->address_key) ? "an unknown address" : c->address_key, what,
                   "GRANARY_USER_NAME=%s", name, "GRANARY_ADDRESS=%s", c->address_key);
}

/* A failed attempt: counted, logged, and answered like every other one. */
static int login_failed(ApiCall *c, const char *name, const char *what, bool totp, ApiResponse **ret) {
        int r;

        r = accounts_login_failed(c->api->store, name, c->address_key, c->now);
        if (r < 0)
                return r;
        log_failed_login(c, name, what);
        if (totp)
                return reply(ret, 401, json_pack("{s:s, s:b}", "error", "Wrong code.", "totpRequired", true));
        return reply_error(ret, 401, "Wrong name or password.");
}

static int login_verified(ApiCall *c, int error, const char *hash, ApiResponse **ret) {
        _cleanup_(store_user_freep) StoreUser *u = NULL;
        const char *name = body_string(c, "name", NULL), *code;
        size_t code_len;
        uint64_t counter;
        int r;

        if (error == -EACCES)
                return login_failed(c, name, "wrong name or password", false, ret);
        if (error < 0)
                return error;
        if (c->target_id <= 0 || !c->target_hash)
                return -EIO; /* the worker cannot verify a password nobody has */

        r = store_user_get(c->api->store, c->target_id, &u);
        if (r == -ENOENT || (r >= 0 && (!u->password_hash || !streq(u->password_hash, c->target_hash))))
                /* Deleted, or given another password, while the worker ran. */
                return login_failed(c, name, "the account changed meanwhile", false, ret);
        if (r < 0)
                return r;

        if (u->totp_secret) {
                code = body_string(c, "totp", &code_len);
                if (!code)
                        /* Not a failure: the first step of a two-step login. */
                        return reply(ret, 401,
                                     json_pack("{s:s, s:b}", "error",
                                               "Enter the code from your authenticator app.", "totpRequired", true));
                r = totp_check(u->totp_secret, u->totp_secret_size, code, code_len, c->now, &counter);
                if (r == -EACCES)
                        return login_failed(c, name, "wrong TOTP code", true, ret);
                if (r < 0)
                        return r;
                r = store_user_use_totp_counter(c->api->store, u->id, counter);
                if (r == -EALREADY || r == -EINVAL)
                        return login_failed(c, name, "TOTP code used before", true, ret);
                if (r < 0)
                        return r;
        }

        r = accounts_login_succeeded(c->api->store, name, c->now);
        if (r < 0)
                return r;
        r = store_user_set_last_login(c->api->store, u->id, c->now);
        if (r < 0)
                return r;
        return reply_new_session(c, u->id, 201, ret);
}

static int handle_session_post(ApiCall *c, ApiResponse **ret) {
        _cleanup_(store_user_freep) StoreUser *u = NULL;
        const char *name, *password;
        size_t name_len, password_len;
        uint64_t retry_after;
        int r;

        r = BODY_CHECK(c, ret, { "name", FIELD_STRING, true }, { "password", FIELD_STRING, true },
                       { "totp", FIELD_STRING, false });
        if (r != 0)
                return r < 0 ? r : 0;
        name = body_string(c, "name", &name_len);
        password = body_string(c, "password", &password_len);

        /* No such name can exist: nothing to count under it, nothing to hash. */
        if (!accounts_user_name_is_valid(name, name_len) || password_len > ACCOUNTS_PASSWORD_MAX)
                return reply_error(ret, 401, "Wrong name or password.");

        r = accounts_login_limited(c->api->store, name, c->address_key, c->now, &retry_after);
        if (r < 0)
                return r;
        if (r > 0) {
                log_failed_login(c, name, "too many attempts");
                return reply_retry_after(ret, 429, retry_after, "Too many failed logins; try again later.");
        }

        r = store_user_get_by_name(c->api->store, name, &u);
        if (r < 0 && r != -ENOENT)
                return r;
        if (u && u->password_hash) {
                c->target_id = u->id;
                c->target_hash = strdup(u->password_hash);
                if (!c->target_hash)
                        return -ENOMEM;
        }

        return call_start_worker(c, c->target_hash, password, password_len, NULL, 0, login_verified, ret);
}

static int handle_session_delete(ApiCall *c, ApiResponse **ret) {
        _cleanup_(api_response_freep) ApiResponse *resp = NULL;
        _cleanup_free_ char *cookie = NULL;
        int r;

        r = store_session_delete(c->api->store, c->session_token, strlen(c->session_token));
        if (r < 0 && r != -ENOENT)
                return r;

        r = accounts_cookie_make_clear(c->secure, &cookie);
        if (r < 0)
                return r;
        r = reply_empty(&resp, 204);
        if (r < 0)
                return r;
        r = strv_extendf(&resp->headers, "Set-Cookie: %s", cookie);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(resp);
        return 0;
}

static int handle_users_get(ApiCall *c, ApiResponse **ret) {
        _cleanup_(store_user_list_freep) StoreUser **l = NULL;
        json_t *a;
        size_t n;
        int r;

        r = store_user_list(c->api->store, &l, &n);
        if (r < 0)
                return r;
        a = json_array();
        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (json_array_append_new(a, user_json(l[i])) < 0) {
                        json_decref(a);
                        return -ENOMEM;
                }
        return reply(ret, 200, json_pack("{s:o}", "users", a));
}

static int users_create(ApiCall *c, int error, const char *hash, ApiResponse **ret) {
        _cleanup_(api_response_freep) ApiResponse *resp = NULL;
        Store *s = c->api->store;
        const char *name = body_string(c, "name", NULL);
        int64_t id;
        int r;

        if (error < 0)
                return error;

        r = store_begin(s);
        if (r < 0)
                return r;
        r = store_user_add(s, name, body_string(c, "displayName", NULL), body_bool(c, "admin") > 0, c->now, &id);
        if (r == -EEXIST) {
                (void) store_rollback(s);
                return reply_error(ret, 409, "That name is taken.");
        }
        if (r >= 0 && hash)
                r = store_user_set_password_hash(s, id, hash);
        if (r < 0) {
                (void) store_rollback(s);
                return r;
        }
        r = store_commit(s);
        if (r < 0)
                return r;

        log_struct(LOG_INFO, "User '%s' created.", name, "GRANARY_USER_NAME=%s", name);
        r = reply_user(c, id, 201, &resp);
        if (r < 0)
                return r;
        r = strv_extendf(&resp->headers, "Location: /api/v1/users/%s", name);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(resp);
        return 0;
}

static int handle_users_post(ApiCall *c, ApiResponse **ret) {
        _cleanup_(store_user_freep) StoreUser *existing = NULL;
        const char *name, *password, *display;
        size_t name_len, password_len, display_len;
        int r;

        r = BODY_CHECK(c, ret, { "name", FIELD_STRING, true }, { "password", FIELD_STRING, false },
                       { "displayName", FIELD_STRING, false }, { "admin", FIELD_BOOL, false });
        if (r != 0)
                return r < 0 ? r : 0;
        name = body_string(c, "name", &name_len);
        password = body_string(c, "password", &password_len);
        display = body_string(c, "displayName", &display_len);

        if (!accounts_user_name_is_valid(name, name_len))
                return reply_invalid_name(ret);
        if (password && !accounts_password_is_valid(password, password_len))
                return reply_invalid_password(ret);
        if (display && !accounts_display_name_is_valid(display, display_len))
                return reply_invalid_display_name(ret);

        r = store_user_get_by_name(c->api->store, name, &existing);
        if (r >= 0)
                return reply_error(ret, 409, "That name is taken.");
        if (r != -ENOENT)
                return r;

        if (!password)
                return users_create(c, 0, NULL, ret);
        return call_start_worker(c, NULL, NULL, 0, password, password_len, users_create, ret);
}

/* The user NAME names, for an admin or for themselves; a 403 or 404 answer is made otherwise: 1. */
static int find_target(ApiCall *c, bool self_allowed, StoreUser **ret_user, ApiResponse **ret) {
        _cleanup_(store_user_freep) StoreUser *u = NULL;
        bool self = c->user && strcasecmp(c->user->name, c->path_name) == 0;
        int r;

        if (!c->admin && !(self_allowed && self)) {
                r = reply_error(ret, 403, "Only administrators may do that.");
                return r < 0 ? r : 1;
        }
        r = store_user_get_by_name(c->api->store, c->path_name, &u);
        if (r == -ENOENT) {
                r = reply_error(ret, 404, "No such user.");
                return r < 0 ? r : 1;
        }
        if (r < 0)
                return r;
        *ret_user = TAKE_PTR(u);
        return 0;
}

static int handle_user_get(ApiCall *c, ApiResponse **ret) {
        _cleanup_(store_user_freep) StoreUser *u = NULL;
        int r;

        r = find_target(c, true, &u, ret);
        if (r != 0)
                return r < 0 ? r : 0;
        return reply(ret, 200, json_pack("{s:o}", "user", user_json(u)));
}

static bool is_self(ApiCall *c, int64_t id) {
        return c->user && c->user->id == id;
}

static int user_patch_apply(ApiCall *c, int error, const char *hash, ApiResponse **ret) {
        _cleanup_(store_user_freep) StoreUser *u = NULL;
        Store *s = c->api->store;
        const char *display = body_string(c, "displayName", NULL);
        int admin = body_bool(c, "admin");
        size_t admins;
        int r;

        if (error == -EACCES) {
                r = accounts_login_failed(s, c->target_name, c->address_key, c->now);
                if (r < 0)
                        return r;
                return reply_error(ret, 403, "Wrong current password.");
        }
        if (error < 0)
                return error;

        r = store_begin(s);
        if (r < 0)
                return r;
        r = store_user_get(s, c->target_id, &u);
        if (r == -ENOENT) {
                (void) store_rollback(s);
                return reply_error(ret, 404, "No such user.");
        }
        if (r >= 0 && c->verified && (!u->password_hash || !streq(u->password_hash, c->target_hash))) {
                (void) store_rollback(s);
                return reply_error(ret, 409, "The password was changed meanwhile.");
        }
        if (r >= 0 && admin == 0 && u->is_admin) {
                r = count_users(s, NULL, &admins);
                if (r >= 0 && admins <= 1) {
                        (void) store_rollback(s);
                        return reply_error(ret, 409, "The last administrator must stay one.");
                }
        }
        if (r >= 0 && admin >= 0)
                r = store_user_set_admin(s, u->id, admin > 0);
        if (r >= 0 && display)
                r = store_user_set_display_name(s, u->id, display);
        if (r >= 0 && hash) {
                r = store_user_set_password_hash(s, u->id, hash);
                if (r >= 0)
                        r = store_session_delete_by_user(s, u->id, NULL);
        }
        if (r < 0) {
                (void) store_rollback(s);
                return r;
        }
        r = store_commit(s);
        if (r < 0)
                return r;

        if (hash) {
                log_struct(LOG_INFO, "Password of '%s' changed; their sessions are ended.", u->name,
                           "GRANARY_USER_NAME=%s", u->name);
                /* The caller's own session ended with the others: a new one keeps them logged in. */
                if (is_self(c, u->id))
                        return reply_new_session(c, u->id, 200, ret);
        }
        return reply_user(c, u->id, 200, ret);
}

static int handle_user_patch(ApiCall *c, ApiResponse **ret) {
        _cleanup_(store_user_freep) StoreUser *u = NULL;
        const char *password, *current, *display;
        size_t password_len, current_len, display_len;
        uint64_t retry_after;
        size_t admins;
        int admin, r;

        r = find_target(c, true, &u, ret);
        if (r != 0)
                return r < 0 ? r : 0;
        r = BODY_CHECK(c, ret, { "password", FIELD_STRING, false }, { "currentPassword", FIELD_STRING, false },
                       { "admin", FIELD_BOOL, false }, { "displayName", FIELD_STRING, false });
        if (r != 0)
                return r < 0 ? r : 0;
        password = body_string(c, "password", &password_len);
        current = body_string(c, "currentPassword", &current_len);
        display = body_string(c, "displayName", &display_len);
        admin = body_bool(c, "admin");

        if (admin >= 0 && !c->admin)
                return reply_error(ret, 403, "Only administrators may do that.");
        if (display && !accounts_display_name_is_valid(display, display_len))
                return reply_invalid_display_name(ret);
        if (password && !accounts_password_is_valid(password, password_len))
                return reply_invalid_password(ret);
        if (admin == 0 && u->is_admin) {
                r = count_users(c->api->store, NULL, &admins);
                if (r < 0)
                        return r;
                if (admins <= 1)
                        return reply_error(ret, 409, "The last administrator must stay one.");
        }

        c->target_id = u->id;
        c->target_name = strdup(u->name);
        if (!c->target_name)
                return -ENOMEM;

        if (!password)
                return user_patch_apply(c, 0, NULL, ret);

        /* Others' passwords are an admin's to reset; one's own needs the current one, so that a session
         * left open is not enough to take the account over. */
        if (!is_self(c, u->id))
                return call_start_worker(c, NULL, NULL, 0, password, password_len, user_patch_apply, ret);

        if (!current)
                return reply_error(ret, 400, "'currentPassword' is needed to change your password.");
        if (current_len > ACCOUNTS_PASSWORD_MAX)
                return reply_error(ret, 403, "Wrong current password.");
        r = accounts_login_limited(c->api->store, u->name, c->address_key, c->now, &retry_after);
        if (r < 0)
                return r;
        if (r > 0)
                return reply_retry_after(ret, 429, retry_after, "Too many wrong passwords; try again later.");

        c->target_hash = strdup(u->password_hash ?: "");
        if (!c->target_hash)
                return -ENOMEM;
        return call_start_worker(c, c->target_hash, current, current_len, password, password_len, user_patch_apply,
                                 ret);
}

static int handle_user_delete(ApiCall *c, ApiResponse **ret) {
        _cleanup_(store_user_freep) StoreUser *u = NULL;
        size_t admins;
        int r;

        r = find_target(c, false, &u, ret);
        if (r != 0)
                return r < 0 ? r : 0;
        if (is_self(c, u->id))
                return reply_error(ret, 403, "You cannot delete your own account.");
        if (u->is_admin) {
                r = count_users(c->api->store, NULL, &admins);
                if (r < 0)
                        return r;
                if (admins <= 1)
                        return reply_error(ret, 409, "The last administrator cannot be deleted.");
        }

        r = store_user_delete(c->api->store, u->id);
        if (r == -EBUSY)
                return reply_error(ret, 409, "This user still owns grains.");
        if (r == -ENOENT)
                return reply_error(ret, 404, "No such user.");
        if (r < 0)
                return r;

        if (c->api->ui)
                ui_drop_user(c->api->ui, u->id);
        log_struct(LOG_INFO, "User '%s' deleted.", u->name, "GRANARY_USER_NAME=%s", u->name);
        return reply_empty(ret, 204);
}

static int handle_user_totp_delete(ApiCall *c, ApiResponse **ret) {
        _cleanup_(store_user_freep) StoreUser *u = NULL;
        int r;

        r = find_target(c, false, &u, ret);
        if (r != 0)
                return r < 0 ? r : 0;
        r = store_user_set_totp_secret(c->api->store, u->id, NULL, 0);
        if (r < 0)
                return r;
        log_struct(LOG_INFO, "Two-factor login of '%s' turned off by an administrator.", u->name,
                   "GRANARY_USER_NAME=%s", u->name);
        return reply_empty(ret, 204);
}

static int handle_totp_new(ApiCall *c, ApiResponse **ret) {
        uint8_t secret[TOTP_SECRET_SIZE];
        char encoded[TOTP_SECRET_BASE32_LENGTH + 1];
        _cleanup_free_ char *uri = NULL;
        json_t *j;
        int r;

        totp_secret_new(secret);
        totp_base32_encode(secret, sizeof(secret), encoded);
        r = totp_uri(c->user->name, secret, sizeof(secret), &uri);
        explicit_bzero_safe(secret, sizeof(secret));
        if (r < 0) {
                explicit_bzero_safe(encoded, sizeof(encoded));
                return r;
        }

        j = json_pack("{s:s, s:s}", "secret", encoded, "uri", uri);
        explicit_bzero_safe(encoded, sizeof(encoded));
        explicit_bzero_safe(uri, strlen(uri));
        return reply(ret, 200, j);
}

static int handle_totp_post(ApiCall *c, ApiResponse **ret) {
        Store *s = c->api->store;
        uint8_t secret[TOTP_SECRET_SIZE];
        const char *encoded, *code;
        size_t encoded_len, code_len;
        uint64_t counter = 0;
        int r;

        r = BODY_CHECK(c, ret, { "secret", FIELD_STRING, true }, { "code", FIELD_STRING, true });
        if (r != 0)
                return r < 0 ? r : 0;
        encoded = body_string(c, "secret", &encoded_len);
        code = body_string(c, "code", &code_len);

        if (c->user->totp_secret)
                return reply_error(ret, 409, "Two-factor login is on already; turn it off first.");
        if (totp_base32_decode(encoded, encoded_len, secret, sizeof(secret)) < 0)
                return reply_error(ret, 400, "'secret' is not a secret from GET /totp/new.");

        /* Proof that the app has the secret: only then is it stored. */
        r = totp_check(secret, sizeof(secret), code, code_len, c->now, &counter);
        if (r == -EACCES) {
                explicit_bzero_safe(secret, sizeof(secret));
                return reply_error(ret, 400, "Wrong code.");
        }
        if (r >= 0)
                r = store_begin(s);
        if (r >= 0) {
                r = store_user_set_totp_secret(s, c->user->id, secret, sizeof(secret));
                /* The code just shown cannot also log in. */
                if (r >= 0 && counter > 0)
                        r = store_user_use_totp_counter(s, c->user->id, counter);
                if (r >= 0)
                        r = store_commit(s);
                else
                        (void) store_rollback(s);
        }
        explicit_bzero_safe(secret, sizeof(secret));
        if (r < 0)
                return r;

        log_struct(LOG_INFO, "Two-factor login of '%s' turned on.", c->user->name, "GRANARY_USER_NAME=%s",
                   c->user->name);
        return reply_user(c, c->user->id, 200, ret);
}

static int totp_delete_verified(ApiCall *c, int error, const char *hash, ApiResponse **ret) {
        _cleanup_(store_user_freep) StoreUser *u = NULL;
        int r;

        if (error == -EACCES) {
                r = accounts_login_failed(c->api->store, c->target_name, c->address_key, c->now);
                if (r < 0)
                        return r;
                return reply_error(ret, 403, "Wrong password.");
        }
        if (error < 0)
                return error;

        r = store_user_get(c->api->store, c->target_id, &u);
        if (r == -ENOENT)
                return reply_unauthenticated(c, ret);
        if (r < 0)
                return r;
        if (!u->password_hash || !streq(u->password_hash, c->target_hash))
                return reply_error(ret, 409, "The password was changed meanwhile.");

        r = store_user_set_totp_secret(c->api->store, u->id, NULL, 0);
        if (r < 0)
                return r;
        log_struct(LOG_INFO, "Two-factor login of '%s' turned off.", u->name, "GRANARY_USER_NAME=%s", u->name);
        return reply_empty(ret, 204);
}

static int handle_totp_delete(ApiCall *c, ApiResponse **ret) {
        const char *password;
        size_t password_len;
        uint64_t retry_after;
        int r;

        r = BODY_CHECK(c, ret, { "password", FIELD_STRING, true });
        if (r != 0)
                return r < 0 ? r : 0;
        password = body_string(c, "password", &password_len);
        if (password_len > ACCOUNTS_PASSWORD_MAX)
                return reply_error(ret, 403, "Wrong password.");

        r = accounts_login_limited(c->api->store, c->user->name, c->address_key, c->now, &retry_after);
        if (r < 0)
                return r;
        if (r > 0)
                return reply_retry_after(ret, 429, retry_after, "Too many wrong passwords; try again later.");

        c->target_id = c->user->id;
        c->target_name = strdup(c->user->name);
        c->target_hash = strdup(c->user->password_hash ?: "");
        if (!c->target_name || !c->target_hash)
                return -ENOMEM;
        return call_start_worker(c, c->target_hash, password, password_len, NULL, 0, totp_delete_verified, ret);
}

static int make_setup_token(Api *api, uint64_t now, uint64_t lifetime, char **ret_token, char **ret_url) {
        char token[STORE_SETUP_TOKEN_LENGTH + 1], expires[32];
        _cleanup_free_ char *url = NULL, *copy = NULL;
        int r;

        (void) snprintf(expires, sizeof(expires), "%" PRIu64, now + lifetime);
        r = store_begin(api->store);
        if (r < 0)
                return r;
        r = store_setup_token_new(api->store, now, now + lifetime, token);
        if (r >= 0)
                r = store_setting_set(api->store, API_SETUP_TOKEN_EXPIRES_SETTING, expires);
        if (r >= 0)
                r = store_commit(api->store);
        else
                (void) store_rollback(api->store);
        if (r < 0) {
                explicit_bzero_safe(token, sizeof(token));
                return r;
        }

        url = strjoin(api->base_url, "/setup?token=", token);
        if (ret_token)
                copy = strdup(token);
        explicit_bzero_safe(token, sizeof(token));
        if (!url || (ret_token && !copy))
                return -ENOMEM;

        if (ret_token)
                *ret_token = TAKE_PTR(copy);
        *ret_url = TAKE_PTR(url);
        return 0;
}

static int handle_admin_token(ApiCall *c, ApiResponse **ret) {
        _cleanup_free_ char *token = NULL, *url = NULL;
        json_t *j;
        int r;

        r = make_setup_token(c->api, c->now, API_ADMIN_TOKEN_USEC, &token, &url);
        if (r < 0)
                return r;
        log_info("A new setup token was made on the control socket; the one before no longer works.");

        j = json_pack("{s:s, s:s}", "token", token, "url", url);
        explicit_bzero_safe(token, strlen(token));
        explicit_bzero_safe(url, strlen(url));
        return reply(ret, 201, j);
}

/* ---- apps ---- */

ApiResponse *api_response_new_error(int status, const char *message) {
        ApiResponse *r = NULL;

        assert(message);

        if (reply_error(&r, status, "%s", message) < 0)
                return NULL;
        return r;
}

static int reply_apps_unavailable(ApiResponse **ret) {
        return reply_error(ret, 503, "Apps are not available on this server.");
}

static bool is_package_content_type(const HttpHeader *headers, size_t n) {
        const HttpHeader *h;
        const char *p;
        size_t len;

        if (http_headers_count(headers, n, "Content-Type") != 1)
                return false;
        h = http_headers_find(headers, n, "Content-Type");
        p = h->value;
        len = strcspn(p, ";");
        if (len > h->value_len)
                len = h->value_len;
        strip_span(&p, &len);
        return http_strcaseeq(p, len, "application/x-sandstorm-package",
                              STRLEN("application/x-sandstorm-package")) ||
               http_strcaseeq(p, len, "application/octet-stream", STRLEN("application/octet-stream"));
}

static void api_purge_start(Api *api);

static void on_purge_done(Worker *w, int error, const void *result, size_t size, void *userdata) {
        Api *api = userdata;

        api->purge = NULL;
        if (error < 0)
                log_warning_errno(error, "Failed to delete removed package trees; the next start tries "
                                         "again: %m");
        if (api->purge_again) {
                api->purge_again = false;
                api_purge_start(api);
        }
}

/* Deletes the trees moved aside, in a worker (5). */
static void api_purge_start(Api *api) {
        int r;

        if (api->freeing || api->packages_fd < 0)
                return;
        if (api->purge) {
                api->purge_again = true;
                return;
        }
        r = worker_run(api->event, apps_purge_job, &api->packages_fd, sizeof(api->packages_fd),
                       API_PURGE_TIMEOUT_USEC, on_purge_done, api, &api->purge);
        if (r < 0)
                log_debug_errno(r, "Removed package trees stay until a later purge: %m");
}

static json_t *app_json(const AppsApp *a) {
        assert(a);

        return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:b}",
                         "id", a->id,
                         "title", a->title,
                         "version", a->package_id ? json_integer((json_int_t) a->version) : json_null(),
                         "marketingVersion", a->package_id ? json_string(a->marketing_version) : json_null(),
                         "packageId", a->package_id ? json_string(a->package_id) : json_null(),
                         "installed", time_json(a->installed),
                         "created", time_json(a->created),
                         "dev", a->dev);
}

static bool app_is_in(AppsApp **l, size_t n, const char *id) {
        for (size_t i = 0; i < n; i++)
                if (streq(l[i]->id, id))
                        return true;
        return false;
}

/* Installed apps and, in place of an installed one of the same id (which it overrides), each app in
 * development, by title. */
static int handle_apps_get(ApiCall *c, ApiResponse **ret) {
        _cleanup_(apps_app_list_freep) AppsApp **l = NULL, **dev = NULL;
        size_t n, n_dev = 0, i = 0, k = 0;
        json_t *a;
        int r;

        r = apps_list(c->api->store, &l, &n);
        if (r < 0)
                return r;
        if (c->api->devapps) {
                r = devapps_list(c->api->devapps, &dev, &n_dev);
                if (r < 0)
                        return r;
        }
        a = json_array();
        if (!a)
                return -ENOMEM;
        /* both lists are by title: merge them */
        while (i < n || k < n_dev) {
                const AppsApp *next;

                if (i < n && app_is_in(dev, n_dev, l[i]->id)) {
                        i++;
                        continue;
                }
                if (k < n_dev && (i >= n || strcasecmp(dev[k]->title, l[i]->title) < 0))
                        next = dev[k++];
                else
                        next = l[i++];
                if (json_array_append_new(a, app_json(next)) < 0) {
                        json_decref(a);
                        return -ENOMEM;
                }
        }
        return reply(ret, 200, json_pack("{s:o}", "apps", a));
}

static int handle_app_get(ApiCall *c, ApiResponse **ret) {
        _cleanup_(apps_app_freep) AppsApp *app = NULL;
        _cleanup_(store_package_list_freep) StorePackage **l = NULL;
        json_t *j, *packages;
        size_t n;
        int r;

        if (isempty(c->path_app))
                return reply_error(ret, 404, "No such app.");
        r = apps_get(c->api->store, c->path_app, &app);
        if (r == -ENOENT)
                return reply_error(ret, 404, "No such app.");
        if (r < 0)
                return r;
        r = store_package_list_by_app(c->api->store, app->id, &l, &n);
        if (r < 0)
                return r;

        j = app_json(app);
        packages = json_array();
        if (!j || !packages || json_object_set_new(j, "packages", packages) < 0) {
                json_decref(j);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                bool latest = app->package_id && streq(app->package_id, l[i]->id);

                if (json_array_append_new(packages, json_pack("{s:s, s:I, s:s, s:o, s:b}", "id", l[i]->id,
                                                              "version", (json_int_t) l[i]->app_version,
                                                              "marketingVersion", l[i]->marketing_version,
                                                              "installed", time_json(l[i]->installed),
                                                              "latest", latest)) < 0) {
                        json_decref(j);
                        return -ENOMEM;
                }
        }
        return reply(ret, 200, json_pack("{s:o}", "app", j));
}

static int delete_grains_of_app(ApiCall *c, const char *app_id, char ***ret_ids);

static int handle_app_delete(ApiCall *c, ApiResponse **ret) {
        _cleanup_(apps_app_freep) AppsApp *app = NULL;
        _cleanup_strv_free_ char **grains = NULL, **removed = NULL;
        json_t *deleted;
        int r;

        if (!c->admin)
                return reply_error(ret, 403, "Only administrators may do that.");
        if (c->api->packages_fd < 0)
                return reply_apps_unavailable(ret);
        if (isempty(c->path_app))
                return reply_error(ret, 404, "No such app.");
        r = apps_get(c->api->store, c->path_app, &app);
        if (r == -ENOENT)
                return reply_error(ret, 404, "No such app.");
        if (r < 0)
                return r;
        if (c->api->devapps && devapps_get(c->api->devapps, app->id))
                return reply_error(ret, 409, "app %s is in development (spk dev runs): stop it first.",
                                   app->id);

        if (c->force && c->api->grains) {
                /* The grains go first, storage and all, as DELETE /grains/ID deletes them; apps_remove()
                 * then finds none (or removes the rows of any made meanwhile). */
                r = delete_grains_of_app(c, app->id, &grains);
                if (r < 0)
                        return r;
        }
        r = apps_remove(c->api->store, c->api->packages_fd, app->id,
                        APPS_REMOVE_DEFER | (c->force ? APPS_REMOVE_FORCE : 0), &removed);
        if (r == -ENOENT)
                return reply_error(ret, 404, "No such app.");
        if (r == -EBUSY)
                return reply_error(ret, 409,
                                   "Grains use this app: delete them first, or force the removal.");
        if (r < 0)
                return r;
        api_purge_start(c->api);
        STRV_FOREACH(g, removed)
                if (strv_extend(&grains, *g) < 0)
                        return -ENOMEM;

        if (strv_length(removed) > 0)
                log_struct(LOG_WARNING,
                           "App %s removed by force, with the rows of the %zu grain(s) that used it; their "
                           "storage stays.",
                           app->id, strv_length(removed), "GRANARY_APP_ID=%s", app->id);
        else if (strv_length(grains) > 0)
                log_struct(LOG_WARNING, "App %s removed by force, with the %zu grain(s) that used it.", app->id,
                           strv_length(grains), "GRANARY_APP_ID=%s", app->id);
        else
                log_struct(LOG_INFO, "App %s removed.", app->id, "GRANARY_APP_ID=%s", app->id);

        deleted = json_array();
        if (!deleted)
                return -ENOMEM;
        STRV_FOREACH(g, grains)
                if (json_array_append_new(deleted, json_string(*g)) < 0) {
                        json_decref(deleted);
                        return -ENOMEM;
                }
        return reply(ret, 200, json_pack("{s:o, s:o}", "app", app_json(app), "deletedGrains", deleted));
}

static int install_answer(ApiCall *c, int error, const void *result, size_t size, ApiResponse **ret) {
        _cleanup_(apps_install_result_done) AppsInstallResult res = {};
        _cleanup_(api_response_freep) ApiResponse *resp = NULL;
        _cleanup_free_ char *message = NULL;
        const char *outcome;
        int r, status;

        r = apps_job_finish(c->api->store, &c->job, error, result, size, c->now, &res, &message);
        if (r == -EEXIST)
                return reply_error(ret, 409, "%s", message ?: "This package is installed already.");
        if (r < 0 && apps_error_is_package(r)) {
                /* The message is spk's or ours, with every byte from the package escaped. */
                log_struct(LOG_NOTICE, "Refused a package: %s", message ?: "invalid", "GRANARY_ERROR=%s",
                           message ?: "invalid");
                return reply_error(ret, 400, "%s", message ?: "This is not a valid package.");
        }
        if (r < 0) {
                status = http_status_from_errno(r);
                if (status < 500)
                        status = 500;
                log_error_errno(r, "Failed to install a package: %s", message ?: "%m");
                return reply_error(ret, status, "%s",
                                   r == -ENOSPC     ? "The server's disk is full."
                                   : status == 504 ? "The server took too long."
                                                   : "Internal error.");
        }

        outcome = apps_install_outcome_to_string(res.outcome);
        log_struct(LOG_INFO, "Package %s of app %s installed (%s).", res.package_id, res.app->id, outcome,
                   "GRANARY_APP_ID=%s", res.app->id, "GRANARY_PACKAGE_ID=%s", res.package_id);
        r = reply(&resp, 201,
                  json_pack("{s:o, s:{s:s, s:I, s:s}, s:s}", "app", app_json(res.app), "package", "id",
                            res.package_id, "version", (json_int_t) res.version, "marketingVersion",
                            res.marketing_version, "outcome", outcome));
        if (r < 0)
                return r;
        r = strv_extendf(&resp->headers, "Location: /api/v1/apps/%s", res.app->id);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(resp);
        return 0;
}

static void on_install_done(Worker *w, int error, const void *result, size_t size, void *userdata) {
        ApiCall *c = userdata;
        ApiResponse *resp = NULL;
        int r;

        assert(c);
        c->worker = NULL;
        c->job_running = false;

        r = install_answer(c, error, result, size, &resp);
        /* A child that died (or timed out) may have left its staging directory. */
        if (apps_job_abandon(&c->job) > 0)
                api_purge_start(c->api);
        c->spk_fd = safe_close(c->spk_fd);
        if (r < 0) {
                resp = api_response_free(resp);
                resp = response_for_errno(c, r);
        }
        call_finish(c, resp);
}

/* Installs the package in fd (taken) in a worker. */
static int install_start(ApiCall *c, int fd, ApiResponse **ret) {
        _cleanup_close_ int spk_fd = fd;
        int r;

        assert(!c->worker);

        if (c->api->packages_fd < 0)
                return reply_apps_unavailable(ret);
        r = apps_job_init(&c->job, c->api->packages_fd, spk_fd);
        if (r < 0)
                return r;
        r = worker_run(c->api->event, apps_job_run, &c->job, sizeof(c->job), API_APP_INSTALL_TIMEOUT_USEC,
                       on_install_done, c, &c->worker);
        if (r == -EBUSY)
                return reply_retry_after(ret, 503, 1, "The server is busy; try again in a moment.");
        if (r < 0)
                return r;
        c->spk_fd = TAKE_FD(spk_fd);
        c->job_running = true;
        return API_PENDING;
}

/* POST /apps with the package as an ordinary (small) body. */
static int handle_apps_post(ApiCall *c, const ApiRequest *req, ApiResponse **ret) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = memfd_create("granary-package", MFD_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        r = loop_write(fd, req->body ?: "", req->body_size);
        if (r < 0)
                return r;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return negative_errno();
        return install_start(c, TAKE_FD(fd), ret);
}

/* ---- grains ---- */

static void segment_app_id(const char *p, size_t n, char ret[static APP_ID_TEXT_SIZE + 1]);
static int answered(int r);

static int reply_grains_unavailable(ApiResponse **ret) {
        return reply_error(ret, 503, "Grains are not available on this server.");
}

static int reply_no_grain(ApiResponse **ret) {
        return reply_error(ret, 404, "No such grain.");
}

/* Deletes every grain of app_id (DELETE /apps/ID?force=1), appending their ids to *ret_ids. */
static int delete_grains_of_app(ApiCall *c, const char *app_id, char ***ret_ids) {
        _cleanup_(store_grain_list_freep) StoreGrain **l = NULL;
        size_t n;
        int r;

        r = store_grain_list(c->api->store, &l, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (!l[i]->app_id || !streq(l[i]->app_id, app_id))
                        continue;
                r = grains_delete(c->api->grains, l[i]->id);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return r;
                log_struct(LOG_INFO, "Grain %s deleted with its app.", l[i]->id, "GRANARY_GRAIN_ID=%s",
                           l[i]->id);
                r = strv_extend(ret_ids, l[i]->id);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The title rule: 1…API_GRAIN_TITLE_MAX bytes of UTF-8 without control characters. */
static bool grain_title_is_valid(const char *s, size_t n) {
        if (n == 0 || n > API_GRAIN_TITLE_MAX || !utf8_is_valid(s, n))
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
                        return false;
        return true;
}

static int reply_invalid_title(ApiResponse **ret) {
        return reply_error(ret, 400, "A title has 1 to %u bytes of text without control characters.",
                           API_GRAIN_TITLE_MAX);
}

/* Whether the caller may see and change g: its owner, and admins. */
static bool grain_visible(ApiCall *c, const StoreGrain *g) {
        return c->admin || (c->user && c->user->id == g->owner_id);
}

/* The grain of the path, when the caller may see it: 0; a 404 (or 503) answer made: 1. */
static int find_grain(ApiCall *c, StoreGrain **ret_grain, ApiResponse **ret) {
        _cleanup_(store_grain_freep) StoreGrain *g = NULL;
        int r;

        if (!c->api->grains)
                return answered(reply_grains_unavailable(ret));
        if (isempty(c->path_grain))
                return answered(reply_no_grain(ret));
        r = store_grain_get(c->api->store, c->path_grain, &g);
        if (r == -ENOENT || (r >= 0 && !grain_visible(c, g)))
                /* Someone else's grain is answered like one that does not exist. */
                return answered(reply_no_grain(ret));
        if (r < 0)
                return r;
        *ret_grain = TAKE_PTR(g);
        return 0;
}

static int grain_json(ApiCall *c, const StoreGrain *g, json_t **ret) {
        _cleanup_(store_user_freep) StoreUser *owner = NULL;
        _cleanup_(store_app_freep) StoreApp *app = NULL;
        _cleanup_(store_package_freep) StorePackage *package = NULL;
        GrainState state = GRAIN_STOPPED;
        uint64_t memory = 0, cpu = 0;
        json_t *j;
        int r;

        r = store_user_get(c->api->store, g->owner_id, &owner);
        if (r < 0 && r != -ENOENT)
                return r;
        if (g->app_id) {
                r = store_app_get(c->api->store, g->app_id, &app);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        r = store_package_get(c->api->store, g->package_id, &package);
        if (r < 0 && r != -ENOENT)
                return r;
        r = grains_info_cpu(c->api->grains, g->id, &state, &memory, &cpu);
        if (r == -ENOENT)
                /* Deleted meanwhile (it is answered as it was). */
                state = GRAIN_STOPPED;
        else if (r < 0)
                return r;

        j = json_pack("{s:s, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:s, s:o, s:o}",
                      "id", g->id,
                      "title", g->title ?: "",
                      "appId", g->app_id ? json_string(g->app_id) : json_null(),
                      "appTitle", app ? json_string(app->title) : json_null(),
                      "packageId", g->package_id,
                      "appVersion", package ? json_integer((json_int_t) package->app_version) : json_null(),
                      "owner", owner ? json_string(owner->name) : json_null(),
                      "created", time_json(g->created),
                      "lastUsed", time_json(g->last_used),
                      "state", grain_state_to_string(state) ?: "stopped",
                      "memory", state == GRAIN_RUNNING ? json_integer((json_int_t) memory) : json_null(),
                      "cpuMs", state == GRAIN_RUNNING && cpu > 0 ? json_integer((json_int_t) (cpu / 1000000u))
                                                                 : json_null());
        if (!j)
                return -ENOMEM;
        *ret = j;
        return 0;
}

static int reply_grain(ApiCall *c, const char *id, int status, ApiResponse **ret) {
        _cleanup_(store_grain_freep) StoreGrain *g = NULL;
        json_t *j;
        int r;

        r = store_grain_get(c->api->store, id, &g);
        if (r == -ENOENT)
                return reply_no_grain(ret);
        if (r < 0)
                return r;
        r = grain_json(c, g, &j);
        if (r < 0)
                return r;
        return reply(ret, status, json_pack("{s:o}", "grain", j));
}

static int handle_grains_get(ApiCall *c, ApiResponse **ret) {
        _cleanup_(store_grain_list_freep) StoreGrain **l = NULL;
        json_t *a;
        size_t n;
        int r;

        if (!c->api->grains)
                return reply_grains_unavailable(ret);
        if (c->all && !c->admin)
                return reply_error(ret, 403, "Only administrators may do that.");
        if (c->all || !c->user)
                r = store_grain_list(c->api->store, &l, &n);
        else
                r = store_grain_list_by_owner(c->api->store, c->user->id, &l, &n);
        if (r < 0)
                return r;

        a = json_array();
        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_t *j;

                r = grain_json(c, l[i], &j);
                if (r >= 0)
                        r = json_array_append_new(a, j) < 0 ? -ENOMEM : 0;
                if (r < 0) {
                        json_decref(a);
                        return r;
                }
        }
        return reply(ret, 200, json_pack("{s:o}", "grains", a));
}

/* For whom the control socket acts: "user", else the only admin. 0, or 1 with a 400 answer. */
static int control_user(ApiCall *c, int64_t default_id, int64_t *ret_id, ApiResponse **ret) {
        _cleanup_(store_user_list_freep) StoreUser **l = NULL;
        _cleanup_(store_user_freep) StoreUser *u = NULL;
        const char *name = body_string(c, "user", NULL);
        int64_t id = 0;
        size_t n, admins = 0;
        int r;

        if (name) {
                r = store_user_get_by_name(c->api->store, name, &u);
                if (r == -ENOENT)
                        return answered(reply_error(ret, 400, "No such user '%.64s'.", name));
                if (r < 0)
                        return r;
                *ret_id = u->id;
                return 0;
        }
        if (default_id > 0) {
                *ret_id = default_id;
                return 0;
        }
        r = store_user_list(c->api->store, &l, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (l[i]->is_admin) {
                        admins++;
                        id = l[i]->id;
                }
        if (admins != 1)
                return answered(reply_error(ret, 400, "Say for which user (\"user\")."));
        *ret_id = id;
        return 0;
}

static int handle_grains_post(ApiCall *c, ApiResponse **ret) {
        _cleanup_(store_app_freep) StoreApp *app = NULL;
        _cleanup_free_ char *id = NULL;
        char app_id[APP_ID_TEXT_SIZE + 1];
        const char *app_text, *title;
        size_t app_len, title_len;
        json_t *action_json;
        json_int_t action = 0;
        int64_t owner;
        int r;

        if (!c->api->grains)
                return reply_grains_unavailable(ret);
        r = BODY_CHECK(c, ret, { "appId", FIELD_STRING, true }, { "title", FIELD_STRING, false },
                       { "action", FIELD_INTEGER, false }, { "user", FIELD_STRING, false });
        if (r != 0)
                return r < 0 ? r : 0;
        app_text = body_string(c, "appId", &app_len);
        title = body_string(c, "title", &title_len);
        action_json = json_object_get(c->body, "action");
        if (action_json)
                action = json_integer_value(action_json);
        if (action < 0)
                return reply_error(ret, 400, "'action' must be 0 or more.");
        if (title && !grain_title_is_valid(title, title_len))
                return reply_invalid_title(ret);

        if (c->caller == API_CALLER_CONTROL) {
                r = control_user(c, 0, &owner, ret);
                if (r != 0)
                        return r < 0 ? r : 0;
        } else {
                if (json_object_get(c->body, "user"))
                        return reply_error(ret, 400, "'user' is for the control socket only.");
                owner = c->user->id;
        }

        segment_app_id(app_text, app_len, app_id);
        if (app_id[0] == '\0')
                return reply_error(ret, 404, "No such app.");
        r = store_app_get(c->api->store, app_id, &app);
        if (r == -ENOENT)
                return reply_error(ret, 404, "No such app.");
        if (r < 0)
                return r;

        r = grains_create(c->api->grains, owner, app_id, (size_t) action, title ?: app->title, &id);
        if (r == -ENOENT)
                return reply_error(ret, 404, "No such app.");
        if (r == -ENXIO)
                return reply_error(ret, 409, "This app has no package to run.");
        if (r == -ERANGE)
                return reply_error(ret, 400, "The app has no action %lld.", (long long) action);
        if (r == -EBADMSG)
                return reply_error(ret, 400, "The app's manifest has no command that can run.");
        if (r == -EINVAL)
                return reply_invalid_title(ret);
        if (r < 0)
                return r;

        log_struct(LOG_INFO, "Grain %s of app %s created.", id, app_id, "GRANARY_GRAIN_ID=%s", id,
                   "GRANARY_APP_ID=%s", app_id);
        {
                _cleanup_(api_response_freep) ApiResponse *resp = NULL;

                r = reply_grain(c, id, 201, &resp);
                if (r < 0)
                        return r;
                r = strv_extendf(&resp->headers, "Location: /api/v1/grains/%s", id);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(resp);
        }
        return 0;
}

static int handle_grain_get(ApiCall *c, ApiResponse **ret) {
        _cleanup_(store_grain_freep) StoreGrain *g = NULL;
        json_t *j;
        int r;

        r = find_grain(c, &g, ret);
        if (r != 0)
                return r < 0 ? r : 0;
        r = grain_json(c, g, &j);
        if (r < 0)
                return r;
        return reply(ret, 200, json_pack("{s:o}", "grain", j));
}

static int handle_grain_patch(ApiCall *c, ApiResponse **ret) {
        _cleanup_(store_grain_freep) StoreGrain *g = NULL;
        const char *title;
        size_t title_len;
        int r;

        r = find_grain(c, &g, ret);
        if (r != 0)
                return r < 0 ? r : 0;
        r = BODY_CHECK(c, ret, { "title", FIELD_STRING, true });
        if (r != 0)
                return r < 0 ? r : 0;
        title = body_string(c, "title", &title_len);
        if (!grain_title_is_valid(title, title_len))
                return reply_invalid_title(ret);

        r = store_grain_set_title(c->api->store, g->id, title);
        if (r == -ENOENT)
                return reply_no_grain(ret);
        if (r < 0)
                return r;
        return reply_grain(c, g->id, 200, ret);
}

static int handle_grain_delete(ApiCall *c, ApiResponse **ret) {
        _cleanup_(store_grain_freep) StoreGrain *g = NULL;
        int r;

        r = find_grain(c, &g, ret);
        if (r != 0)
                return r < 0 ? r : 0;
        r = grains_delete(c->api->grains, g->id);
        if (r == -ENOENT)
                return reply_no_grain(ret);
        if (r < 0)
                return r;
        log_struct(LOG_INFO, "Grain %s deleted.", g->id, "GRANARY_GRAIN_ID=%s", g->id);
        return reply_empty(ret, 204);
}

static int handle_grain_stop(ApiCall *c, ApiResponse **ret) {
        _cleanup_(store_grain_freep) StoreGrain *g = NULL;
        int r;

        r = find_grain(c, &g, ret);
        if (r != 0)
                return r < 0 ? r : 0;
        r = grains_stop(c->api->grains, g->id);
        if (r == -ENOENT)
                return reply_no_grain(ret);
        if (r < 0)
                return r;
        return reply_empty(ret, 204);
}

static int handle_grain_log(ApiCall *c, ApiResponse **ret) {
        _cleanup_(store_grain_freep) StoreGrain *g = NULL;
        _cleanup_(api_response_freep) ApiResponse *resp = NULL;
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = find_grain(c, &g, ret);
        if (r != 0)
                return r < 0 ? r : 0;
        if (c->bad_query)
                return reply_error(ret, 400, "'bytes' must be a number from 1 to %u.", API_GRAIN_LOG_MAX);
        r = grains_log_tail(c->api->grains, g->id, c->log_bytes, &text, &size);
        if (r == -ENOENT)
                return reply_no_grain(ret);
        if (r < 0)
                return r;

        r = reply_empty(&resp, 200);
        if (r < 0)
                return r;
        resp->body = TAKE_PTR(text);
        resp->body_size = size;
        resp->content_type = "text/plain; charset=utf-8";
        *ret = TAKE_PTR(resp);
        return 0;
}

/* A path a session may start at: '/' and printable text, at most API_SESSION_PATH_MAX bytes. */
static bool session_path_is_valid(const char *s, size_t n) {
        if (n == 0 || n > API_SESSION_PATH_MAX || s[0] != '/' || !utf8_is_valid(s, n))
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] <= 0x20 || s[i] == 0x7f)
                        return false;
        return true;
}

static int handle_grain_session(ApiCall *c, ApiResponse **ret) {
        _cleanup_(store_grain_freep) StoreGrain *g = NULL;
        _cleanup_(store_user_freep) StoreUser *u = NULL;
        _cleanup_strv_free_ char **permissions = NULL;
        _cleanup_free_ char *url = NULL, *label = NULL, *origin = NULL;
        char identity[STORE_IDENTITY_ID_LENGTH + 1];
        const char *path, *init, *host;
        size_t path_len;
        int64_t user_id;
        int r;

        r = find_grain(c, &g, ret);
        if (r != 0)
                return r < 0 ? r : 0;
        if (!c->api->ui)
                return reply_error(ret, 503, "Grain sessions are not available on this server.");
        r = BODY_CHECK(c, ret, { "path", FIELD_STRING, false }, { "user", FIELD_STRING, false });
        if (r != 0)
                return r < 0 ? r : 0;
        path = body_string(c, "path", &path_len);
        if (path && !session_path_is_valid(path, path_len))
                return reply_error(ret, 400, "'path' must start with '/' and have at most %u bytes of text "
                                   "without spaces or control characters.", API_SESSION_PATH_MAX);

        if (c->caller == API_CALLER_CONTROL) {
                r = control_user(c, g->owner_id, &user_id, ret);
                if (r != 0)
                        return r < 0 ? r : 0;
        } else {
                if (json_object_get(c->body, "user"))
                        return reply_error(ret, 400, "'user' is for the control socket only.");
                user_id = c->user->id;
        }
        if (user_id != g->owner_id)
                return reply_error(ret, 403, "Only the grain's owner may open it.");

        r = store_user_get(c->api->store, user_id, &u);
        if (r == -ENOENT)
                return reply_error(ret, 400, "No such user.");
        if (r < 0)
                return r;
        r = store_identity_get_or_new(c->api->store, user_id, g->id, c->now, identity);
        if (r == -ENOENT)
                return reply_no_grain(ret);
        if (r < 0)
                return r;
        /* The owner holds every permission the package defines (spec §5.4). */
        r = grains_permissions(c->api->grains, g->id, &permissions);
        if (r == -ENOENT)
                return reply_no_grain(ret);
        if (r == -ENOPKG)
                /* it ran a development package, gone now (front/grains.h) */
                return reply_error(ret, 503, "app %s is not installed", g->app_id);
        if (r < 0)
                return r;

        r = ui_session_open(c->api->ui,
                            &(const UiSessionParams) {
                                    .grain_id = g->id,
                                    .user_id = user_id,
                                    .identity_id = identity,
                                    .display_name = u->display_name,
                                    .preferred_handle = u->name,
                                    .permissions = (const char *const *) permissions,
                                    .user_agent = c->user_agent,
                                    .accept_language = c->accept_language,
                            },
                            path ?: "/", &url, &label);
        explicit_bzero_safe(identity, sizeof(identity));
        if (r == -EINVAL)
                return reply_error(ret, 400, "The session cannot be made with these values.");
        if (r < 0)
                return r;

        /* ui.h: the URL is the session's origin followed by /_sandstorm-init?… */
        init = strstr(url, "/_sandstorm-init?");
        host = strstr(url, "://");
        if (!init || !host || host > init)
                return -EBADMSG;
        origin = strndup(url, (size_t) (init - url));
        if (!origin)
                return -ENOMEM;
        host += 3;

        r = store_grain_touch(c->api->store, g->id, c->now);
        if (r < 0 && r != -ENOENT)
                return r;
        return reply(ret, 201, json_pack("{s:s, s:s%, s:s}", "url", url, "host", host, (int) (init - host),
                                         "origin", origin));
}

/* ---- routing ---- */

/* A percent-decoded user name of a path segment into ret; -ENOENT when it cannot be one. */
static int segment_user_name(const char *p, size_t n, char ret[static ACCOUNTS_NAME_MAX + 1]) {
        size_t k = 0;

        for (size_t i = 0; i < n; i++) {
                char c = p[i];

                if (c == '%') {
                        int hi, lo;

                        if (i + 2 >= n)
                                return -ENOENT;
                        hi = hex_digit_value(p[i + 1]);
                        lo = hex_digit_value(p[i + 2]);
                        if (hi < 0 || lo < 0)
                                return -ENOENT;
                        c = (char) (hi * 16 + lo);
                        i += 2;
                }
                if (k >= ACCOUNTS_NAME_MAX)
                        return -ENOENT;
                ret[k++] = c;
        }
        ret[k] = '\0';
        return accounts_user_name_is_valid(ret, k) ? 0 : -ENOENT;
}

static bool span_eq(const char *p, size_t n, const char *s) {
        return n == strlen(s) && memcmp(p, s, n) == 0;
}

/* The canonical app id in a path segment into ret, or "" when it is none. */
static void segment_app_id(const char *p, size_t n, char ret[static APP_ID_TEXT_SIZE + 1]) {
        uint8_t id[APP_ID_SIZE];

        if (n == APP_ID_TEXT_SIZE && app_id_from_string(p, n, id) >= 0)
                app_id_to_string(id, ret);
        else
                ret[0] = '\0';
}

/* Whether the query ("?a=1&b", or "") has name, bare or as name=1, name=true or name=yes. */
static bool query_flag(const char *q, size_t n, const char *name) {
        size_t name_len = strlen(name);

        if (n == 0 || q[0] != '?')
                return false;
        q++;
        n--;
        while (n > 0) {
                const char *amp = memchr(q, '&', n);
                size_t len = amp ? (size_t) (amp - q) : n;

                if (len >= name_len && memcmp(q, name, name_len) == 0) {
                        const char *v = q + name_len;
                        size_t v_len = len - name_len;

                        if (v_len == 0)
                                return true;
                        if (v[0] == '=')
                                return span_eq(v + 1, v_len - 1, "1") || span_eq(v + 1, v_len - 1, "true") ||
                                       span_eq(v + 1, v_len - 1, "yes");
                }
                if (!amp)
                        break;
                q = amp + 1;
                n -= len + 1;
        }
        return false;
}

/* A grain id in a path segment into ret (letters and digits, as store_grain_id_new() makes them), or ""
 * when it cannot be one. */
static void segment_grain_id(const char *p, size_t n, char ret[static STORE_ID_MAX + 1]) {
        ret[0] = '\0';
        if (n == 0 || n > STORE_ID_MAX)
                return;
        for (size_t i = 0; i < n; i++)
                if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')))
                        return;
        memcpy(ret, p, n);
        ret[n] = '\0';
}

/* The value of name in the query ("?a=1&b=2", or ""): 1 with *ret_value and *ret_len, 0 when absent. */
static int query_value(const char *q, size_t n, const char *name, const char **ret_value, size_t *ret_len) {
        size_t name_len = strlen(name);

        if (n == 0 || q[0] != '?')
                return 0;
        q++;
        n--;
        while (n > 0) {
                const char *amp = memchr(q, '&', n);
                size_t len = amp ? (size_t) (amp - q) : n;

                if (len > name_len && memcmp(q, name, name_len) == 0 && q[name_len] == '=') {
                        *ret_value = q + name_len + 1;
                        *ret_len = len - name_len - 1;
                        return 1;
                }
                if (!amp)
                        break;
                q = amp + 1;
                n -= len + 1;
        }
        return 0;
}

/* GET /grains/ID/log?bytes=N: N into c->log_bytes, or c->bad_query. */
static void parse_log_query(ApiCall *c, const char *q, size_t n) {
        const char *v;
        size_t len;
        char buf[16];
        uint64_t bytes;

        c->log_bytes = API_GRAIN_LOG_DEFAULT;
        if (query_value(q, n, "bytes", &v, &len) <= 0)
                return;
        if (len == 0 || len >= sizeof(buf)) {
                c->bad_query = true;
                return;
        }
        memcpy(buf, v, len);
        buf[len] = '\0';
        if (parse_uint64(buf, API_GRAIN_LOG_MAX, &bytes) < 0 || bytes == 0) {
                c->bad_query = true;
                return;
        }
        c->log_bytes = (size_t) bytes;
}

/* A header's value as a string, when the request has exactly one and it is printable text. */
static int copy_header(const HttpHeader *headers, size_t n, const char *name, char **ret) {
        const HttpHeader *h;

        *ret = NULL;
        if (http_headers_count(headers, n, name) != 1)
                return 0;
        h = http_headers_find(headers, n, name);
        if (h->value_len > 1024 || !utf8_is_valid(h->value, h->value_len))
                return 0;
        for (size_t i = 0; i < h->value_len; i++)
                if ((unsigned char) h->value[i] < 0x20 || h->value[i] == 0x7f)
                        return 0;
        *ret = strndup_safe(h->value, h->value_len);
        return *ret ? 0 : -ENOMEM;
}

static ApiRoute route_parse(const char *path, size_t n, char name[static ACCOUNTS_NAME_MAX + 1],
                            char app[static APP_ID_TEXT_SIZE + 1], char grain[static STORE_ID_MAX + 1]) {
        const char *rest, *slash;
        size_t rest_len, seg_len;

        if (span_eq(path, n, "/status"))
                return ROUTE_STATUS;
        if (span_eq(path, n, "/setup"))
                return ROUTE_SETUP;
        if (span_eq(path, n, "/session"))
                return ROUTE_SESSION;
        if (span_eq(path, n, "/users"))
                return ROUTE_USERS;
        if (span_eq(path, n, "/totp/new"))
                return ROUTE_TOTP_NEW;
        if (span_eq(path, n, "/totp"))
                return ROUTE_TOTP;
        if (span_eq(path, n, "/admin-token"))
                return ROUTE_ADMIN_TOKEN;
        if (span_eq(path, n, "/apps"))
                return ROUTE_APPS;
        if (span_eq(path, n, "/grains"))
                return ROUTE_GRAINS;
        if (span_eq(path, n, "/dev-apps"))
                return ROUTE_DEV_APPS;
        if (n > STRLEN("/grains/") && memcmp(path, "/grains/", STRLEN("/grains/")) == 0) {
                rest = path + STRLEN("/grains/");
                rest_len = n - STRLEN("/grains/");
                slash = memchr(rest, '/', rest_len);
                seg_len = slash ? (size_t) (slash - rest) : rest_len;
                segment_grain_id(rest, seg_len, grain);
                if (seg_len == rest_len)
                        return ROUTE_GRAIN;
                if (span_eq(rest + seg_len, rest_len - seg_len, "/session"))
                        return ROUTE_GRAIN_SESSION;
                if (span_eq(rest + seg_len, rest_len - seg_len, "/stop"))
                        return ROUTE_GRAIN_STOP;
                if (span_eq(rest + seg_len, rest_len - seg_len, "/log"))
                        return ROUTE_GRAIN_LOG;
                return _ROUTE_INVALID;
        }
        if (n > STRLEN("/apps/") && memcmp(path, "/apps/", STRLEN("/apps/")) == 0) {
                rest = path + STRLEN("/apps/");
                rest_len = n - STRLEN("/apps/");
                if (memchr(rest, '/', rest_len))
                        return _ROUTE_INVALID;
                segment_app_id(rest, rest_len, app);
                return ROUTE_APP;
        }

        if (n <= STRLEN("/users/") || memcmp(path, "/users/", STRLEN("/users/")) != 0)
                return _ROUTE_INVALID;
        rest = path + STRLEN("/users/");
        rest_len = n - STRLEN("/users/");
        slash = memchr(rest, '/', rest_len);
        seg_len = slash ? (size_t) (slash - rest) : rest_len;
        if (segment_user_name(rest, seg_len, name) < 0)
                return _ROUTE_INVALID;
        if (seg_len == rest_len)
                return ROUTE_USER;
        if (span_eq(rest + seg_len, rest_len - seg_len, "/totp"))
                return ROUTE_USER_TOTP;
        return _ROUTE_INVALID;
}

static int reply_method_not_allowed(ApiRoute route, ApiResponse **ret) {
        static const HttpMethod order[] = {
                HTTP_METHOD_GET, HTTP_METHOD_HEAD, HTTP_METHOD_POST, HTTP_METHOD_PATCH, HTTP_METHOD_DELETE,
        };
        _cleanup_(api_response_freep) ApiResponse *resp = NULL;
        _cleanup_strbuf_ StrBuf allow = STRBUF_INIT;
        uint64_t methods = route_methods[route];
        int r;

        /* HEAD goes wherever GET goes. */
        if (methods & METHOD_BIT(HTTP_METHOD_GET))
                methods |= METHOD_BIT(HTTP_METHOD_HEAD);
        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                if (methods & METHOD_BIT(order[i])) {
                        r = strbuf_printf(&allow, "%s%s", allow.len > 0 ? ", " : "", http_method_to_string(order[i]));
                        if (r < 0)
                                return r;
                }

        r = reply_error(&resp, 405, "Method not allowed.");
        if (r < 0)
                return r;
        r = strv_extendf(&resp->headers, "Allow: %s", allow.data);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(resp);
        return 0;
}

/* What only a person with a browser session has: the control socket has no session, and no own account. */
static bool route_is_about_own_session(ApiRoute route) {
        return route == ROUTE_SETUP || route == ROUTE_SESSION || route == ROUTE_TOTP_NEW || route == ROUTE_TOTP;
}

static bool takes_json_body(ApiRoute route, HttpMethod m) {
        switch (route) {
        case ROUTE_SETUP:
        case ROUTE_USERS:
                return m == HTTP_METHOD_POST;
        case ROUTE_SESSION:
                return m == HTTP_METHOD_POST;
        case ROUTE_USER:
                return m == HTTP_METHOD_PATCH;
        case ROUTE_TOTP:
                return true;
        case ROUTE_GRAINS:
                return m == HTTP_METHOD_POST;
        case ROUTE_GRAIN:
                return m == HTTP_METHOD_PATCH;
        default:
                return false;
        }
}

/* A JSON body that may also be left out (no body, no Content-Type): as if it were {}. */
static bool body_is_optional(ApiRoute route, HttpMethod m) {
        return route == ROUTE_GRAIN_SESSION && m == HTTP_METHOD_POST;
}

static bool is_json_content_type(const HttpHeader *headers, size_t n) {
        const HttpHeader *h;
        const char *p;
        size_t len;

        if (http_headers_count(headers, n, "Content-Type") != 1)
                return false;
        h = http_headers_find(headers, n, "Content-Type");
        p = h->value;
        len = strcspn(p, ";");
        if (len > h->value_len)
                len = h->value_len;
        strip_span(&p, &len);
        return http_strcaseeq(p, len, "application/json", STRLEN("application/json"));
}

/* Who calls, from the session cookie. A cookie that leads nowhere is no session. */
static int authenticate_web(ApiCall *c, const ApiRequest *req) {
        _cleanup_(store_user_freep) StoreUser *u = NULL;
        StoreSession session;
        const char *token;
        size_t len;
        int r;

        r = accounts_cookie_find(req->headers, req->n_headers, c->secure, &token, &len);
        if (r == -ENOTUNIQ) {
                c->had_cookie = true;
                return 0;
        }
        if (r < 0)
                return 0;
        c->had_cookie = true;
        if (len != STORE_TOKEN_LENGTH)
                return 0;

        r = store_session_get(c->api->store, token, len, c->now, &session);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = store_user_get(c->api->store, session.user_id, &u);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;

        memcpy(c->session_token, token, len);
        c->session_token[len] = '\0';
        c->admin = u->is_admin;
        c->user = TAKE_PTR(u);
        return 0;
}

/* An answer made by a check: 1, so that the caller stops; or the error making it. */
static int answered(int r) {
        return r < 0 ? r : 1;
}

/* Who calls, and may they call route at all: 0 to go on, 1 with the answer in *ret (401, 403, the control
 * socket's 400), < 0. Sets c->admin, c->user. */
static int check_caller(ApiCall *c, const ApiRequest *req, ApiRoute route, HttpMethod method,
                        ApiResponse **ret) {
        bool changes = accounts_method_changes_state(req->method);
        int r;

        if (req->caller == API_CALLER_CONTROL) {
                if (!req->control_admin && !(route == ROUTE_STATUS && method == HTTP_METHOD_GET))
                        return answered(reply_error(ret, 403, "Only administrators may do that."));
                c->admin = req->control_admin;
                if (route_is_about_own_session(route))
                        return answered(reply_error(ret, 400, "Not available on the control socket."));
                return 0;
        }

        if (route == ROUTE_ADMIN_TOKEN)
                return answered(reply_error(ret, 403, "Only on the control socket."));
        r = authenticate_web(c, req);
        if (r < 0)
                return r;

        if (route == ROUTE_SETUP || (route == ROUTE_SESSION && method == HTTP_METHOD_POST)) {
                /* No session to protect yet, but no other site may log people in (or set the
                 * server up) behind their backs either. */
                if (changes && accounts_check_origin(req->headers, req->n_headers, c->api->base_origin) < 0)
                        return answered(reply_error(ret, 403, "Cross-site request refused."));
        } else if (!c->user) {
                if (route != ROUTE_STATUS)
                        return answered(reply_unauthenticated(c, ret));
        } else if (changes) {
                r = api_csrf_key(c->api);
                if (r < 0)
                        return r;
                if (accounts_check_csrf(req->headers, req->n_headers, c->api->base_origin, c->api->csrf_key,
                                        c->session_token, strlen(c->session_token)) < 0)
                        return answered(reply_error(ret, 403,
                                                    "Cross-site request refused (Origin or X-CSRF-Token)."));
        }
        return 0;
}

/* What only an admin may send to POST /apps, before its body: 0 to go on, 1 with the answer in *ret. */
static int check_upload(ApiCall *c, const ApiRequest *req, ApiResponse **ret) {
        if (!c->admin)
                return answered(reply_error(ret, 403, "Only administrators may do that."));
        if (c->api->packages_fd < 0)
                return answered(reply_apps_unavailable(ret));
        if (!is_package_content_type(req->headers, req->n_headers))
                return answered(reply_error(ret, 415,
                                            "The body must be a package (Content-Type "
                                            "application/x-sandstorm-package or application/octet-stream)."));
        return 0;
}

static int api_dispatch(ApiCall *c, const ApiRequest *req, ApiResponse **ret) {
        HttpMethod method = req->method == HTTP_METHOD_HEAD ? HTTP_METHOD_GET : req->method;
        json_error_t json_error;
        ApiRoute route;
        size_t path_len;
        int r;

        path_len = req->path_len;
        for (size_t i = 0; i < req->path_len; i++)
                if (req->path[i] == '?') {
                        path_len = i;
                        break;
                }
        route = route_parse(req->path, path_len, c->path_name, c->path_app, c->path_grain);
        if (route < 0 || (route == ROUTE_DEV_APPS && req->caller != API_CALLER_CONTROL))
                return reply_error(ret, 404, "No such API endpoint.");
        if (method < 0 || method >= _HTTP_METHOD_MAX || !(route_methods[route] & METHOD_BIT(method)))
                return reply_method_not_allowed(route, ret);

        r = check_caller(c, req, route, method, ret);
        if (r != 0)
                return r < 0 ? r : 0;

        if (route == ROUTE_APPS && method == HTTP_METHOD_POST) {
                r = check_upload(c, req, ret);
                if (r != 0)
                        return r < 0 ? r : 0;
                return handle_apps_post(c, req, ret);
        }
        if (route == ROUTE_APP && method == HTTP_METHOD_DELETE)
                c->force = query_flag(req->path + path_len, req->path_len - path_len, "force");
        if (route == ROUTE_GRAINS && method == HTTP_METHOD_GET)
                c->all = query_flag(req->path + path_len, req->path_len - path_len, "all");
        if (route == ROUTE_GRAIN_LOG)
                parse_log_query(c, req->path + path_len, req->path_len - path_len);
        if (route == ROUTE_GRAIN_SESSION && req->caller == API_CALLER_WEB) {
                /* Fixed for the session's life, as Sandstorm fixes them (spec §5.5). */
                r = copy_header(req->headers, req->n_headers, "User-Agent", &c->user_agent);
                if (r >= 0)
                        r = copy_header(req->headers, req->n_headers, "Accept-Language", &c->accept_language);
                if (r < 0)
                        return r;
        }

        if (body_is_optional(route, method) && req->body_size == 0 &&
            http_headers_count(req->headers, req->n_headers, "Content-Type") == 0) {
                c->body = json_object();
                if (!c->body)
                        return -ENOMEM;
        } else if (takes_json_body(route, method) || body_is_optional(route, method)) {
                if (!is_json_content_type(req->headers, req->n_headers))
                        return reply_error(ret, 415, "The body must be application/json.");
                if (req->body_size > API_BODY_MAX)
                        return reply_error(ret, 413, "The body is too large.");
                c->body = json_loadb(req->body ?: "", req->body_size, JSON_REJECT_DUPLICATES, &json_error);
                if (!c->body)
                        /* Not jansson's text: it quotes the body, which may hold a password. */
                        return reply_error(ret, 400, "Malformed JSON (line %d, column %d).", json_error.line,
                                           json_error.column);
                if (!json_is_object(c->body))
                        return reply_error(ret, 400, "The body must be a JSON object.");
        }

        switch (route) {
        case ROUTE_STATUS:
                return handle_status(c, ret);
        case ROUTE_SETUP:
                return handle_setup(c, ret);
        case ROUTE_SESSION:
                if (method == HTTP_METHOD_GET)
                        return handle_session_get(c, ret);
                if (method == HTTP_METHOD_POST)
                        return handle_session_post(c, ret);
                return handle_session_delete(c, ret);
        case ROUTE_USERS:
                if (!c->admin)
                        return reply_error(ret, 403, "Only administrators may do that.");
                return method == HTTP_METHOD_GET ? handle_users_get(c, ret) : handle_users_post(c, ret);
        case ROUTE_USER:
                if (method == HTTP_METHOD_GET)
                        return handle_user_get(c, ret);
                if (method == HTTP_METHOD_PATCH)
                        return handle_user_patch(c, ret);
                return handle_user_delete(c, ret);
        case ROUTE_USER_TOTP:
                return handle_user_totp_delete(c, ret);
        case ROUTE_TOTP_NEW:
                return handle_totp_new(c, ret);
        case ROUTE_TOTP:
                return method == HTTP_METHOD_POST ? handle_totp_post(c, ret) : handle_totp_delete(c, ret);
        case ROUTE_ADMIN_TOKEN:
                return handle_admin_token(c, ret);
        case ROUTE_APPS:
                return handle_apps_get(c, ret);
        case ROUTE_APP:
                return method == HTTP_METHOD_GET ? handle_app_get(c, ret) : handle_app_delete(c, ret);
        case ROUTE_GRAINS:
                return method == HTTP_METHOD_GET ? handle_grains_get(c, ret) : handle_grains_post(c, ret);
        case ROUTE_GRAIN:
                if (method == HTTP_METHOD_GET)
                        return handle_grain_get(c, ret);
                if (method == HTTP_METHOD_PATCH)
                        return handle_grain_patch(c, ret);
                return handle_grain_delete(c, ret);
        case ROUTE_GRAIN_SESSION:
                return handle_grain_session(c, ret);
        case ROUTE_GRAIN_STOP:
                return handle_grain_stop(c, ret);
        case ROUTE_GRAIN_LOG:
                return handle_grain_log(c, ret);
        case ROUTE_DEV_APPS:
                /* granaryd gives it to api_dev_app_register(): its answer is a stream */
                return reply_error(ret, 400, "A development app registers with a connection of its own.");
        default:
                assert(false);
                return -EINVAL;
        }
}

/* ---- calls ---- */

static ApiCall *call_free(ApiCall *c) {
        if (!c)
                return NULL;

        c->worker = worker_cancel(c->worker);
        if (c->job_running) {
                /* Killed with its child: what it had unpacked goes aside, for the purge worker. */
                c->job_running = false;
                if (apps_job_abandon(&c->job) > 0)
                        api_purge_start(c->api);
        }
        c->spk_fd = safe_close(c->spk_fd);
        if (c->api) {
                if (c->prev)
                        c->prev->next = c->next;
                else if (c->api->calls == c)
                        c->api->calls = c->next;
                if (c->next)
                        c->next->prev = c->prev;
        }
        api_response_free(c->fallback);
        json_decref(c->body);
        store_user_free(c->user);
        free(c->user_agent);
        free(c->accept_language);
        explicit_bzero_safe(c->session_token, sizeof(c->session_token));
        free(c->target_name);
        if (c->target_hash) {
                explicit_bzero_safe(c->target_hash, strlen(c->target_hash));
                free(c->target_hash);
        }
        free(c);
        return NULL;
}

static void call_finish(ApiCall *c, ApiResponse *response) {
        assert(c);
        assert(!c->worker);

        if (!response)
                response = TAKE_PTR(c->fallback);
        c->done(c, response, c->userdata);
        call_free(c);
}

static int call_new(Api *api, const ApiRequest *req, ApiDone done, void *userdata, ApiCall **ret) {
        ApiCall *c;

        c = calloc(1, sizeof(ApiCall));
        if (!c)
                return -ENOMEM;
        c->fallback = calloc(1, sizeof(ApiResponse));
        if (!c->fallback) {
                free(c);
                return -ENOMEM;
        }
        c->fallback->status = 500;
        c->api = api;
        c->done = done;
        c->userdata = userdata;
        c->now = req->now;
        c->caller = req->caller;
        c->secure = api->cookie_secure || req->https;
        c->spk_fd = -EBADF;
        if (req->caller == API_CALLER_WEB && accounts_address_key(req->address, c->address_key) < 0)
                c->address_key[0] = '\0';
        c->next = api->calls;
        if (c->next)
                c->next->prev = c;
        api->calls = c;

        *ret = c;
        return 0;
}

/* What api_handle() and api_app_install() do with what the call's handler returned. */
static void call_settle(ApiCall *c, int r, ApiResponse *resp, ApiCall **ret_call) {
        if (r == API_PENDING) {
                assert(!resp);
                if (ret_call)
                        *ret_call = c;
                return;
        }
        if (r < 0) {
                resp = api_response_free(resp);
                resp = response_for_errno(c, r);
        }
        if (ret_call)
                *ret_call = NULL;
        call_finish(c, resp);
}

int api_handle(Api *api, const ApiRequest *req, ApiDone done, void *userdata, ApiCall **ret_call) {
        ApiResponse *resp = NULL;
        ApiCall *c;
        int r;

        assert(api);
        assert(req);
        assert(req->path || req->path_len == 0);
        assert(req->headers || req->n_headers == 0);
        assert(req->body || req->body_size == 0);
        assert(done);

        r = call_new(api, req, done, userdata, &c);
        if (r < 0)
                return r;
        r = api_dispatch(c, req, &resp);
        call_settle(c, r, resp, ret_call);
        return 0;
}

int api_app_upload_check(Api *api, const ApiRequest *req, ApiResponse **ret) {
        _cleanup_(api_response_freep) ApiResponse *resp = NULL;
        ApiCall *c;
        int r;

        assert(api);
        assert(req);
        assert(ret);

        r = call_new(api, req, NULL, NULL, &c);
        if (r < 0)
                return r;
        r = check_caller(c, req, ROUTE_APPS, HTTP_METHOD_POST, &resp);
        if (r == 0)
                r = check_upload(c, req, &resp);
        call_free(c);
        if (r <= 0)
                return r;
        *ret = TAKE_PTR(resp);
        return 1;
}

int api_app_install(Api *api, const ApiRequest *req, int spk_fd, ApiDone done, void *userdata,
                    ApiCall **ret_call) {
        _cleanup_close_ int fd = spk_fd;
        ApiResponse *resp = NULL;
        ApiCall *c;
        int r;

        assert(api);
        assert(req);
        assert(spk_fd >= 0);
        assert(done);

        r = call_new(api, req, done, userdata, &c);
        if (r < 0)
                return r;
        r = check_caller(c, req, ROUTE_APPS, HTTP_METHOD_POST, &resp);
        if (r == 0)
                r = check_upload(c, req, &resp);
        if (r == 0)
                r = install_start(c, TAKE_FD(fd), &resp);
        else if (r > 0)
                r = 0; /* answered by a check */
        call_settle(c, r, resp, ret_call);
        return 0;
}

ApiCall *api_call_cancel(ApiCall *call) {
        return call_free(call);
}

/* ---- the Api ---- */

int api_new(sd_event *e, Store *store, const ApiSettings *settings, Api **ret) {
        _cleanup_(api_freep) Api *api = NULL;
        size_t n;
        int r;

        assert(e);
        assert(store);
        assert(settings);
        assert(settings->base_url);
        assert(ret);

        api = calloc(1, sizeof(Api));
        if (!api)
                return -ENOMEM;
        api->event = sd_event_ref(e);
        api->store = store;
        api->cookie_secure = settings->cookie_secure;
        api->packages_fd = -EBADF;
        api->grains = settings->grains;
        api->ui = settings->ui;
        api->devapps = settings->devapps;

        r = accounts_origin_from_url(settings->base_url, &api->base_origin);
        if (r < 0)
                return r;
        n = strlen(settings->base_url);
        while (n > 0 && settings->base_url[n - 1] == '/')
                n--;
        api->base_url = strndup_safe(settings->base_url, n);
        api->wildcard_host = strdup(settings->wildcard_host ?: "");
        api->version = strdup(settings->version ?: "");
        if (!api->base_url || !api->wildcard_host || !api->version)
                return -ENOMEM;
        if (settings->packages_dir) {
                r = mkdir_p(settings->packages_dir, 0755);
                if (r < 0)
                        return r;
                api->packages_fd = open(settings->packages_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (api->packages_fd < 0)
                        return negative_errno();
        }

        *ret = TAKE_PTR(api);
        return 0;
}

Api *api_free(Api *api) {
        if (!api)
                return NULL;

        api->freeing = true;
        while (api->calls)
                call_free(api->calls);
        api->purge = worker_cancel(api->purge);
        api->packages_fd = safe_close(api->packages_fd);
        free(api->base_url);
        free(api->base_origin);
        free(api->wildcard_host);
        free(api->version);
        explicit_bzero_safe(api->csrf_key, sizeof(api->csrf_key));
        sd_event_unref(api->event);
        free(api);
        return NULL;
}

int api_startup(Api *api, uint64_t now, char **ret_url) {
        _cleanup_free_ char *expires = NULL, *url = NULL;
        size_t users;
        uint64_t until;
        int r;

        assert(api);
        assert(ret_url);

        if (api->started == 0)
                api->started = now;
        if (api->packages_fd >= 0) {
                /* No install runs yet: every staging directory is a leftover. */
                r = apps_purge(api->packages_fd, true);
                if (r < 0)
                        log_warning_errno(r, "Failed to delete what earlier installs and removals left "
                                             "behind: %m");
        }

        r = count_users(api->store, &users, NULL);
        if (r < 0)
                return r;
        if (users > 0) {
                *ret_url = NULL;
                return 0;
        }

        r = store_setting_get(api->store, API_SETUP_TOKEN_EXPIRES_SETTING, &expires);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r >= 0 && sscanf(expires, "%" SCNu64, &until) == 1 && until > now) {
                *ret_url = NULL;
                return 1;
        }

        r = make_setup_token(api, now, API_SETUP_TOKEN_USEC, NULL, &url);
        if (r < 0)
                return r;
        *ret_url = TAKE_PTR(url);
        return 0;
}

/* ---- POST /dev-apps ---- */

/* A base64 field of the body into *ret (NULL when absent or null and !required). 1 with an answer made. */
static int body_base64(ApiCall *c, const char *key, bool required, void **ret, size_t *ret_size,
                       ApiResponse **ret_resp) {
        json_t *v = json_object_get(c->body, key);
        _cleanup_free_ uint8_t *buf = NULL;
        const char *text;
        size_t len, n = 0;

        *ret = NULL;
        *ret_size = 0;
        if (!v || (json_is_null(v) && !required)) {
                if (required)
                        return answered(reply_error(ret_resp, 400, "'%s' is missing.", key));
                return 0;
        }
        if (!json_is_string(v))
                return answered(reply_error(ret_resp, 400, "'%s' must be a string.", key));
        text = json_string_value(v);
        len = json_string_length(v);
        buf = malloc(len / 4 * 3 + 3);
        if (!buf)
                return -ENOMEM;
        if (sodium_base642bin(buf, len / 4 * 3 + 3, text, len, " \t\r\n", &n, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0)
                return answered(reply_error(ret_resp, 400, "'%s' is not base64.", key));
        if (n > STORE_BLOB_MAX)
                return answered(reply_error(ret_resp, 400, "'%s' is too large.", key));
        *ret = TAKE_PTR(buf);
        *ret_size = n;
        return 0;
}

static int dev_app_register(ApiCall *c, const ApiRequest *req, DevApp **ret_app, ApiResponse **ret) {
        _cleanup_free_ void *manifest = NULL, *bridge = NULL;
        _cleanup_free_ char *error = NULL;
        json_error_t json_error;
        size_t manifest_size, bridge_size;
        DevApp *a;
        int r;

        if (req->caller != API_CALLER_CONTROL)
                return answered(reply_error(ret, 404, "No such API endpoint."));
        r = check_caller(c, req, ROUTE_DEV_APPS, HTTP_METHOD_POST, ret);
        if (r != 0)
                return r;
        if (!c->api->devapps)
                return answered(reply_error(ret, 503, "Development apps are not available on this server."));
        /* Any Content-Type: `curl -d @body.json` sends a form's. */
        c->body = json_loadb(req->body ?: "", req->body_size, JSON_REJECT_DUPLICATES, &json_error);
        if (!c->body)
                return answered(reply_error(ret, 400, "Malformed JSON (line %d, column %d).", json_error.line,
                                            json_error.column));
        if (!json_is_object(c->body))
                return answered(reply_error(ret, 400, "The body must be a JSON object."));
        r = BODY_CHECK(c, ret, { "appId", FIELD_STRING, true }, { "root", FIELD_STRING, true },
                       { "manifest", FIELD_STRING, true }, { "bridgeConfig", FIELD_ANY, false });
        if (r != 0)
                return r;
        r = body_base64(c, "manifest", true, &manifest, &manifest_size, ret);
        if (r != 0)
                return r;
        r = body_base64(c, "bridgeConfig", false, &bridge, &bridge_size, ret);
        if (r != 0)
                return r;

        r = devapps_register(c->api->devapps,
                             &(DevAppsParams) {
                                     .app_id = body_string(c, "appId", NULL),
                                     .root = body_string(c, "root", NULL),
                                     .manifest = manifest,
                                     .manifest_size = manifest_size,
                                     .bridge_config = bridge,
                                     .bridge_config_size = bridge_size,
                                     .now = c->now,
                             },
                             &a, &error);
        if (r == -ENOMEM)
                return r;
        if (r == -EEXIST)
                return answered(reply_error(ret, 409, "%s", error ?: "The app is in development already."));
        if (r == -EINVAL || r == -EBADMSG)
                return answered(reply_error(ret, 400, "%s", error ?: "The app cannot be registered."));
        if (r < 0) {
                log_error_errno(r, "Failed to register a development app: %s", error ?: "%m");
                return answered(reply_error(ret, 500, "Failed to register the app."));
        }
        *ret_app = a;
        return 0;
}

int api_dev_app_register(Api *api, const ApiRequest *req, DevApp **ret_app, ApiResponse **ret) {
        _cleanup_(api_response_freep) ApiResponse *resp = NULL;
        ApiCall *c;
        int r;

        assert(api);
        assert(req);
        assert(ret_app);
        assert(ret);

        r = call_new(api, req, NULL, NULL, &c);
        if (r < 0)
                return r;
        r = dev_app_register(c, req, ret_app, &resp);
        call_free(c);
        if (r <= 0)
                return r;
        *ret = TAKE_PTR(resp);
        return 1;
}
