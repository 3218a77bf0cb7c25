/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The /api/v1 endpoints, driven through api_handle() with a real store in a temporary directory and a
 * real sd_event loop (argon2id runs in forked workers, at libsodium's lowest cost). */

#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "basic/fileio.h"
#include "basic/random-util.h"
#include "basic/string-util.h"
#include "front/accounts.h"
#include "front/api.h"
#include "front/totp.h"
#include "front/worker.h"
#include "store/store-internal.h" /* store_password_set_limits(): cheap hashes for tests */

#define SEC(n) ((uint64_t) (n) * UINT64_C(1000000))
#define T0 SEC(1700000000)
#define BASE_URL "http://granary.localhost:6080"
#define ADDRESS "192.0.2.10"

typedef struct Fixture {
        char dir[64];
        char path[128];
        Store *store;
        sd_event *event;
        Api *api;
        uint64_t now;
} Fixture;

/* A browser's session: the cookie's value and the CSRF token the pages send back. */
typedef struct Session {
        char token[STORE_TOKEN_LENGTH + 1];
        char csrf[ACCOUNTS_CSRF_TOKEN_LENGTH + 1];
} Session;

typedef struct Call {
        HttpMethod method;
        const char *path;
        const char *body;         /* with Content-Type: application/json unless content_type says otherwise */
        const char *content_type; /* "" for none */
        const Session *session;   /* Cookie, and X-CSRF-Token unless csrf says otherwise */
        const char *csrf;         /* "" for none */
        const char *origin;       /* default: the base origin; "" for none */
        const char *sec_fetch_site;
        const char *cookie_header; /* a Cookie header as it is */
        ApiCaller caller;
        bool control_admin;
        const char *address; /* default ADDRESS */
        uint64_t now;        /* default f->now */
} Call;

typedef struct Outcome {
        unsigned calls;
        ApiResponse *response;
} Outcome;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        ApiSettings settings = {
                .base_url = BASE_URL,
                .wildcard_host = "*.granary.localhost:6080",
                .version = "0.1.0",
                .cookie_secure = accounts_base_url_is_secure(BASE_URL),
        };

        if (!f)
                return -1;
        (void) snprintf(f->dir, sizeof(f->dir), "/tmp/test-api-XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        (void) snprintf(f->path, sizeof(f->path), "%s/granary.sqlite", f->dir);
        if (store_open(f->path, STORE_OPEN_CREATE, &f->store) < 0)
                return -1;
        if (sd_event_new(&f->event) < 0)
                return -1;
        if (api_new(f->event, f->store, &settings, &f->api) < 0)
                return -1;
        f->now = T0;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        int r;

        f->api = api_free(f->api);
        f->event = sd_event_unref(f->event);
        f->store = store_close(f->store);
        r = rm_rf_path(f->dir);
        free(f);
        /* Every worker was reaped. */
        if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD || worker_count() != 0)
                return -1;
        return r < 0 ? -1 : 0;
}

static void on_done(ApiCall *call, ApiResponse *response, void *userdata) {
        Outcome *o = userdata;

        o->calls++;
        o->response = response;
}

static uint64_t monotonic_usec(void) {
        struct timespec ts;

        assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static void run_until(Fixture *f, const Outcome *o) {
        uint64_t deadline = monotonic_usec() + SEC(60);

        while (o->calls == 0) {
                assert_true(monotonic_usec() < deadline);
                assert_true(sd_event_run(f->event, 100000) >= 0);
        }
}

static HttpHeader header(const char *name, const char *value) {
        return (HttpHeader) { name, strlen(name), value, strlen(value) };
}

/* Builds the request; runs the loop until it is answered. */
static ApiResponse *run_call(Fixture *f, const Call *c, ApiCall **ret_pending) {
        HttpHeader h[8];
        size_t n = 0;
        char cookie[128];
        Outcome o = {};
        ApiCall *call = (ApiCall *) 1;
        ApiRequest req;

        if (c->body && !c->content_type)
                h[n++] = header("Content-Type", "application/json");
        else if (!isempty(c->content_type))
                h[n++] = header("Content-Type", c->content_type);
        if (c->session) {
                (void) snprintf(cookie, sizeof(cookie), "theme=dark; %s=%s", ACCOUNTS_COOKIE_NAME_SECURE,
                                c->session->token);
                h[n++] = header("Cookie", cookie);
                if (!c->csrf)
                        h[n++] = header("X-CSRF-Token", c->session->csrf);
        }
        if (!isempty(c->csrf))
                h[n++] = header("X-CSRF-Token", c->csrf);
        if (c->cookie_header)
                h[n++] = header("Cookie", c->cookie_header);
        if (!c->origin)
                h[n++] = header("Origin", BASE_URL);
        else if (c->origin[0])
                h[n++] = header("Origin", c->origin);
        if (c->sec_fetch_site)
                h[n++] = header("Sec-Fetch-Site", c->sec_fetch_site);

        req = (ApiRequest) {
                .method = c->method,
                .path = c->path,
                .path_len = strlen(c->path),
                .headers = h,
                .n_headers = n,
                .body = c->body,
                .body_size = c->body ? strlen(c->body) : 0,
                .caller = c->caller,
                .address = c->caller == API_CALLER_WEB ? (c->address ?: ADDRESS) : NULL,
                .control_admin = c->control_admin,
                .now = c->now ?: f->now,
        };
        assert_int_equal(api_handle(f->api, &req, on_done, &o, ret_pending ? ret_pending : &call), 0);
        if (ret_pending)
                return NULL;
        /* Answered at once: no call to cancel. Otherwise the worker finishes on the loop. */
        if (o.calls == 1)
                assert_null(call);
        run_until(f, &o);
        assert_int_equal(o.calls, 1);
        assert_non_null(o.response);
        return o.response;
}

#define CALL(f, ...) run_call(f, &(const Call) { __VA_ARGS__ }, NULL)

/* The value of the first header called name, or NULL. */
static const char *resp_header(const ApiResponse *r, const char *name) {
        size_t n = strlen(name);

        STRV_FOREACH(h, r->headers)
                if (strncasecmp(*h, name, n) == 0 && (*h)[n] == ':' && (*h)[n + 1] == ' ')
                        return *h + n + 2;
        return NULL;
}

static json_t *resp_json(const ApiResponse *r) {
        json_t *j;

        assert_non_null(r->body);
        assert_int_equal(strlen(r->body), r->body_size);
        j = json_loadb(r->body, r->body_size, 0, NULL);
        assert_non_null(j);
        return j;
}

/* Asserts the status and, for errors, that the body is {"error": message}. Frees r. */
static void expect(ApiResponse *r, int status, const char *error) {
        if (r->status != status)
                print_message("# got %d: %s\n", r->status, r->body ?: "(no body)");
        assert_int_equal(r->status, status);
        /* Only what the server cannot know; it adds Content-Type and Cache-Control itself. */
        STRV_FOREACH(h, r->headers)
                assert_true(startswith(*h, "Set-Cookie: ") || startswith(*h, "Retry-After: ") ||
                            startswith(*h, "Location: ") || startswith(*h, "Allow: "));
        if (error) {
                json_t *j = resp_json(r);

                assert_string_equal(json_string_value(json_object_get(j, "error")), error);
                json_decref(j);
        }
        api_response_free(r);
}

static const char *json_str(json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);

        assert_true(json_is_string(v));
        return json_string_value(v);
}

/* From a 201 with a session: the cookie's token and the CSRF token. Checks the cookie's attributes. */
static void take_session(const ApiResponse *r, Session *ret) {
        const char *cookie = resp_header(r, "Set-Cookie"), *token, *end;
        json_t *j = resp_json(r);

        assert_non_null(cookie);
        token = startswith(cookie, ACCOUNTS_COOKIE_NAME_SECURE "=");
        assert_non_null(token);
        end = strchr(token, ';');
        assert_non_null(end);
        assert_int_equal(end - token, STORE_TOKEN_LENGTH);
        assert_string_equal(end, "; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=2592000");
        memcpy(ret->token, token, STORE_TOKEN_LENGTH);
        ret->token[STORE_TOKEN_LENGTH] = '\0';

        assert_int_equal(strlen(json_str(j, "csrfToken")), ACCOUNTS_CSRF_TOKEN_LENGTH);
        strcpy(ret->csrf, json_str(j, "csrfToken"));
        json_decref(j);
}

/* A user made directly in the store (one cheap hash, no worker), with a session when ret is given. */
static int64_t make_user(Fixture *f, const char *name, const char *password, bool admin, Session *ret) {
        uint8_t key[ACCOUNTS_CSRF_KEY_SIZE];
        int64_t id;

        assert_int_equal(store_user_add(f->store, name, NULL, admin, f->now, &id), 0);
        if (password)
                assert_int_equal(store_user_set_password(f->store, id, password, strlen(password)), 0);
        if (ret) {
                assert_int_equal(store_session_new(f->store, id, f->now, f->now + ACCOUNTS_SESSION_USEC, ret->token), 0);
                assert_int_equal(accounts_csrf_key(f->store, key), 0);
                accounts_csrf_token(key, ret->token, STORE_TOKEN_LENGTH, ret->csrf);
        }
        return id;
}

static void assert_user(json_t *u, const char *name, const char *display, bool admin, bool totp) {
        assert_true(json_is_object(u));
        assert_int_equal(json_object_size(u), 7);
        assert_true(json_integer_value(json_object_get(u, "id")) > 0);
        assert_string_equal(json_str(u, "name"), name);
        assert_string_equal(json_str(u, "displayName"), display);
        assert_true(json_is_boolean(json_object_get(u, "admin")));
        assert_int_equal(json_is_true(json_object_get(u, "admin")), admin);
        assert_true(json_is_boolean(json_object_get(u, "totp")));
        assert_int_equal(json_is_true(json_object_get(u, "totp")), totp);
        assert_true(json_is_integer(json_object_get(u, "created")));
        assert_true(json_is_integer(json_object_get(u, "lastLogin")) || json_is_null(json_object_get(u, "lastLogin")));
}

/* ---- tests ---- */

static void test_setup_login_users_logout(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *url = NULL;
        char body[512];
        const char *token;
        Session alice, bob, bob2;
        ApiResponse *r;
        json_t *j, *u;

        /* A fresh server: needs setup, tells nothing more to strangers. */
        r = CALL(f, .method = HTTP_METHOD_GET, .path = "/status");
        assert_int_equal(r->status, 200);
        j = resp_json(r);
        assert_string_equal(json_str(j, "version"), "0.1.0");
        assert_true(json_is_true(json_object_get(j, "needsSetup")));
        assert_string_equal(json_str(j, "baseUrl"), BASE_URL);
        assert_string_equal(json_str(j, "wildcardHost"), "*.granary.localhost:6080");
        assert_null(json_object_get(j, "users"));
        assert_int_equal(json_object_size(j), 4);
        json_decref(j);
        expect(r, 200, NULL);

        /* First start: a setup URL to log. A restart while it is valid makes no other. */
        assert_int_equal(api_startup(f->api, f->now, &url), 0);
        assert_non_null(url);
        token = startswith(url, BASE_URL "/setup?token=");
        assert_non_null(token);
        assert_int_equal(strlen(token), STORE_SETUP_TOKEN_LENGTH);
        {
                char *again = (char *) "x";

                assert_int_equal(api_startup(f->api, f->now + SEC(60), &again), 1);
                assert_null(again);
        }

        /* The token is checked first; the request must come from our own pages. */
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/setup",
                    .body = "{\"token\":\"0000000000000000000000000000000000000000\",\"name\":\"alice\","
                            "\"password\":\"correct horse\"}"),
               403, "The setup token is not valid (any more).");
        (void) snprintf(body, sizeof(body),
                        "{\"token\":\"%s\",\"name\":\"alice\",\"password\":\"correct horse\","
                        "\"displayName\":\"Alice Liddell\"}", token);
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/setup", .body = body, .origin = ""), 403,
               "Cross-site request refused.");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/setup", .body = body, .origin = "http://evil.example"),
               403, "Cross-site request refused.");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/setup", .body = body, .content_type = "text/plain"), 415,
               "The body must be application/json.");

        /* The admin account, and a session at once. */
        r = CALL(f, .method = HTTP_METHOD_POST, .path = "/setup", .body = body);
        assert_int_equal(r->status, 201);
        take_session(r, &alice);
        j = resp_json(r);
        u = json_object_get(j, "user");
        assert_user(u, "alice", "Alice Liddell", true, false);
        assert_int_equal(json_integer_value(json_object_get(u, "created")), 1700000000000);
        assert_int_equal(json_integer_value(json_object_get(u, "lastLogin")), 1700000000000);
        json_decref(j);
        /* The token is not in the answer, nor is any hash. */
        assert_null(strstr(r->body, token));
        assert_null(strstr(r->body, "argon2"));
        expect(r, 201, NULL);

        /* Used up. */
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/setup", .body = body), 403,
               "The setup token is not valid (any more).");

        /* Set up now; an admin sees more. */
        r = CALL(f, .method = HTTP_METHOD_GET, .path = "/status", .now = f->now + SEC(90));
        j = resp_json(r);
        assert_true(json_is_false(json_object_get(j, "needsSetup")));
        assert_null(json_object_get(j, "users"));
        json_decref(j);
        expect(r, 200, NULL);
        r = CALL(f, .method = HTTP_METHOD_GET, .path = "/status", .session = &alice, .now = f->now + SEC(90));
        j = resp_json(r);
        assert_int_equal(json_integer_value(json_object_get(j, "users")), 1);
        assert_int_equal(json_integer_value(json_object_get(j, "uptime")), 90);
        json_decref(j);
        expect(r, 200, NULL);

        /* The session, as the pages load it. */
        r = CALL(f, .method = HTTP_METHOD_GET, .path = "/session", .session = &alice);
        j = resp_json(r);
        assert_user(json_object_get(j, "user"), "alice", "Alice Liddell", true, false);
        assert_string_equal(json_str(j, "csrfToken"), alice.csrf);
        json_decref(j);
        assert_null(resp_header(r, "Set-Cookie"));
        expect(r, 200, NULL);

        /* Alice makes Bob. */
        r = CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice,
                 .body = "{\"name\":\"bob\",\"password\":\"bobs password\"}");
        assert_int_equal(r->status, 201);
        assert_string_equal(resp_header(r, "Location"), "/api/v1/users/bob");
        j = resp_json(r);
        assert_user(json_object_get(j, "user"), "bob", "bob", false, false);
        assert_true(json_is_null(json_object_get(json_object_get(j, "user"), "lastLogin")));
        json_decref(j);
        expect(r, 201, NULL);
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice, .body = "{\"name\":\"BOB\"}"),
               409, "That name is taken.");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice, .body = "{\"name\":\".bob\"}"),
               400, "A user name has 1 to 64 letters, digits, '.', '_' or '-', and does not start with '.' or '-'.");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice,
                    .body = "{\"name\":\"carl\",\"password\":\"short\"}"),
               400, "A password has 8 to 1024 bytes.");

        r = CALL(f, .method = HTTP_METHOD_GET, .path = "/users", .session = &alice);
        j = resp_json(r);
        assert_int_equal(json_array_size(json_object_get(j, "users")), 2);
        assert_user(json_array_get(json_object_get(j, "users"), 0), "alice", "Alice Liddell", true, false);
        assert_user(json_array_get(json_object_get(j, "users"), 1), "bob", "bob", false, false);
        json_decref(j);
        expect(r, 200, NULL);

        /* Bob logs in: a wrong password and an unknown name answer alike. */
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/session",
                    .body = "{\"name\":\"bob\",\"password\":\"not bobs password\"}"),
               401, "Wrong name or password.");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/session",
                    .body = "{\"name\":\"nobody\",\"password\":\"bobs password\"}"),
               401, "Wrong name or password.");
        r = CALL(f, .method = HTTP_METHOD_POST, .path = "/session", .now = f->now + SEC(5),
                 .body = "{\"name\":\"Bob\",\"password\":\"bobs password\"}");
        assert_int_equal(r->status, 201);
        take_session(r, &bob);
        j = resp_json(r);
        assert_user(json_object_get(j, "user"), "bob", "bob", false, false);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "user"), "lastLogin")),
                         1700000005000);
        json_decref(j);
        expect(r, 201, NULL);
        /* The failures before were forgotten with the success. */
        {
                uint64_t n = 99;

                assert_int_equal(store_login_attempt_count_by_name(f->store, "bob", 0, &n), 0);
                assert_int_equal(n, 0);
                assert_int_equal(store_login_attempt_count_by_name(f->store, "nobody", 0, &n), 0);
                assert_int_equal(n, 1);
        }

        /* What Bob may do: himself, not others. */
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/users", .session = &bob), 403,
               "Only administrators may do that.");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &bob, .body = "{\"name\":\"eve\"}"),
               403, "Only administrators may do that.");
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/users/alice", .session = &bob), 403,
               "Only administrators may do that.");
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/users/bob", .session = &bob), 200, NULL);
        expect(CALL(f, .method = HTTP_METHOD_PATCH, .path = "/users/bob", .session = &bob, .body = "{\"admin\":true}"),
               403, "Only administrators may do that.");
        r = CALL(f, .method = HTTP_METHOD_PATCH, .path = "/users/BOB", .session = &bob,
                 .body = "{\"displayName\":\"Robert\"}");
        j = resp_json(r);
        assert_user(json_object_get(j, "user"), "bob", "Robert", false, false);
        json_decref(j);
        expect(r, 200, NULL);
        expect(CALL(f, .method = HTTP_METHOD_PATCH, .path = "/users/bob", .session = &bob,
                    .body = "{\"displayName\":\"a\\nb\"}"),
               400, "A display name has 1 to 256 bytes of printable text.");
        expect(CALL(f, .method = HTTP_METHOD_DELETE, .path = "/users/alice", .session = &bob), 403,
               "Only administrators may do that.");

        /* Bob logs out: the cookie is cleared and the session is gone. */
        r = CALL(f, .method = HTTP_METHOD_DELETE, .path = "/session", .session = &bob);
        assert_int_equal(r->status, 204);
        assert_null(r->body);
        assert_int_equal(r->body_size, 0);
        assert_string_equal(resp_header(r, "Set-Cookie"),
                            "__Host-granary-session=; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=0");
        expect(r, 204, NULL);
        r = CALL(f, .method = HTTP_METHOD_GET, .path = "/session", .session = &bob);
        assert_string_equal(resp_header(r, "Set-Cookie"),
                            "__Host-granary-session=; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=0");
        expect(r, 401, "Not logged in.");
        /* Without any cookie, nothing to clear. */
        r = CALL(f, .method = HTTP_METHOD_GET, .path = "/session");
        assert_null(resp_header(r, "Set-Cookie"));
        expect(r, 401, "Not logged in.");

        /* Sessions expire. */
        bob2 = alice;
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/session", .session = &bob2,
                    .now = f->now + ACCOUNTS_SESSION_USEC),
               401, "Not logged in.");

        /* Alice deletes Bob, not herself. */
        expect(CALL(f, .method = HTTP_METHOD_DELETE, .path = "/users/alice", .session = &alice), 403,
               "You cannot delete your own account.");
        expect(CALL(f, .method = HTTP_METHOD_DELETE, .path = "/users/bob", .session = &alice), 204, NULL);
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/users/bob", .session = &alice), 404, "No such user.");
        expect(CALL(f, .method = HTTP_METHOD_DELETE, .path = "/users/bob", .session = &alice), 404, "No such user.");
}

static void test_csrf(void **state) {
        Fixture *f = *state;
        Session alice;
        char cookie[128], wrong[ACCOUNTS_CSRF_TOKEN_LENGTH + 1];

        make_user(f, "alice", NULL, true, &alice);
        strcpy(wrong, alice.csrf);
        wrong[0] = wrong[0] == 'A' ? 'B' : 'A';

        /* Reads need no token. */
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/users", .session = &alice, .csrf = "", .origin = ""), 200,
               NULL);

        /* Changes do. */
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice, .csrf = "",
                    .body = "{\"name\":\"x1\"}"),
               403, "Cross-site request refused (Origin or X-CSRF-Token).");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice, .csrf = wrong,
                    .body = "{\"name\":\"x2\"}"),
               403, "Cross-site request refused (Origin or X-CSRF-Token).");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice,
                    .origin = "http://ui-0123.granary.localhost:6080", .body = "{\"name\":\"x3\"}"),
               403, "Cross-site request refused (Origin or X-CSRF-Token).");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice, .origin = "",
                    .body = "{\"name\":\"x4\"}"),
               403, "Cross-site request refused (Origin or X-CSRF-Token).");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice, .origin = "",
                    .sec_fetch_site = "same-site", .body = "{\"name\":\"x5\"}"),
               403, "Cross-site request refused (Origin or X-CSRF-Token).");
        expect(CALL(f, .method = HTTP_METHOD_DELETE, .path = "/session", .session = &alice, .csrf = ""), 403,
               "Cross-site request refused (Origin or X-CSRF-Token).");
        expect(CALL(f, .method = HTTP_METHOD_DELETE, .path = "/users/alice/totp", .session = &alice, .csrf = wrong),
               403, "Cross-site request refused (Origin or X-CSRF-Token).");
        /* Nothing was made by the refused calls. */
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/users/x1", .session = &alice), 404, "No such user.");
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/users/x4", .session = &alice), 404, "No such user.");

        /* The right token, with Origin or, without it, Sec-Fetch-Site: same-origin. */
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice, .body = "{\"name\":\"y1\"}"),
               201, NULL);
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice, .origin = "",
                    .sec_fetch_site = "same-origin", .body = "{\"name\":\"y2\"}"),
               201, NULL);

        /* Logging in from another site is refused before any password is looked at. */
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/session", .origin = "http://evil.example",
                    .body = "{\"name\":\"alice\",\"password\":\"whatever1\"}"),
               403, "Cross-site request refused.");

        /* A planted second cookie of our name: no session at all. */
        (void) snprintf(cookie, sizeof(cookie), "%s=%s", ACCOUNTS_COOKIE_NAME_SECURE, alice.token);
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/session", .session = &alice, .cookie_header = cookie), 401,
               "Not logged in.");
        /* Over a secure base, the plain name is not our cookie. */
        (void) snprintf(cookie, sizeof(cookie), "%s=%s", ACCOUNTS_COOKIE_NAME_PLAIN, alice.token);
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/session", .cookie_header = cookie), 401, "Not logged in.");
        /* And state changes without a session are refused as such. */
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .body = "{\"name\":\"z\"}"), 401,
               "Not logged in.");
}

static void test_rate_limit(void **state) {
        Fixture *f = *state;
        ApiResponse *r;
        Session s;

        make_user(f, "carol", "carols password", false, NULL);

        /* One failure through the API, four more recorded as if they had happened. */
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/session",
                    .body = "{\"name\":\"carol\",\"password\":\"guess one\"}"),
               401, "Wrong name or password.");
        for (unsigned i = 1; i < ACCOUNTS_LOGIN_FAILURES_PER_NAME; i++)
                assert_int_equal(accounts_login_failed(f->store, "carol", "198.51.100.1", f->now + SEC(i)), 0);

        /* Now even the right password waits, from any address. */
        r = CALL(f, .method = HTTP_METHOD_POST, .path = "/session", .address = "198.51.100.99",
                 .now = f->now + SEC(10), .body = "{\"name\":\"CAROL\",\"password\":\"carols password\"}");
        assert_string_equal(resp_header(r, "Retry-After"), "900");
        assert_null(resp_header(r, "Set-Cookie"));
        expect(r, 429, "Too many failed logins; try again later.");

        /* Once the window has passed the first failure... */
        r = CALL(f, .method = HTTP_METHOD_POST, .path = "/session", .now = f->now + SEC(901),
                 .body = "{\"name\":\"carol\",\"password\":\"carols password\"}");
        take_session(r, &s);
        expect(r, 201, NULL);

        /* Twenty failures from one IPv6 /64, for other names: the /64 waits, its neighbour does not. */
        for (unsigned i = 0; i < ACCOUNTS_LOGIN_FAILURES_PER_ADDRESS; i++) {
                char name[16];

                (void) snprintf(name, sizeof(name), "guess%u", i);
                assert_int_equal(accounts_login_failed(f->store, name, "2001:db8:7:7::/64", f->now), 0);
        }
        r = CALL(f, .method = HTTP_METHOD_POST, .path = "/session", .address = "2001:db8:7:7:aaaa::1",
                 .body = "{\"name\":\"carol\",\"password\":\"carols password\"}");
        assert_string_equal(resp_header(r, "Retry-After"), "900");
        expect(r, 429, "Too many failed logins; try again later.");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/session", .address = "2001:db8:7:8::1",
                    .body = "{\"name\":\"carol\",\"password\":\"carols password\"}"),
               201, NULL);
}

static void test_totp(void **state) {
        Fixture *f = *state;
        uint8_t secret[TOTP_SECRET_SIZE];
        char body[256], code[TOTP_DIGITS + 1], next[TOTP_DIGITS + 1], expected_uri[128];
        const char *encoded;
        Session dave, alice, s;
        ApiResponse *r;
        json_t *j, *nj;
        int64_t dave_id;

        make_user(f, "alice", NULL, true, &alice);
        dave_id = make_user(f, "dave", "daves password", false, &dave);

        /* A secret to show as a QR code, not stored yet. */
        r = CALL(f, .method = HTTP_METHOD_GET, .path = "/totp/new", .session = &dave);
        nj = resp_json(r);
        encoded = json_str(nj, "secret");
        assert_int_equal(strlen(encoded), TOTP_SECRET_BASE32_LENGTH);
        assert_int_equal(totp_base32_decode(encoded, strlen(encoded), secret, sizeof(secret)), 0);
        (void) snprintf(expected_uri, sizeof(expected_uri), "otpauth://totp/granary:dave?secret=%s&issuer=granary",
                        encoded);
        assert_string_equal(json_str(nj, "uri"), expected_uri);
        expect(r, 200, NULL);
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/session", .session = &dave), 200, NULL);

        /* Stored once a code proves the app has it. */
        assert_int_equal(totp_code(secret, sizeof(secret), f->now, code), 0);
        (void) snprintf(body, sizeof(body), "{\"secret\":\"%s\",\"code\":\"%s\"}", encoded, code[0] == '0' ? "111111" : "000000");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/totp", .session = &dave, .body = body), 400, "Wrong code.");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/totp", .session = &dave,
                    .body = "{\"secret\":\"not base32!\",\"code\":\"123456\"}"),
               400, "'secret' is not a secret from GET /totp/new.");
        (void) snprintf(body, sizeof(body), "{\"secret\":\"%s\",\"code\":\"%s\"}", encoded, code);
        r = CALL(f, .method = HTTP_METHOD_POST, .path = "/totp", .session = &dave, .body = body);
        j = resp_json(r);
        assert_user(json_object_get(j, "user"), "dave", "dave", false, true);
        json_decref(j);
        expect(r, 200, NULL);
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/totp", .session = &dave, .body = body), 409,
               "Two-factor login is on already; turn it off first.");
        json_decref(nj);

        /* The password alone is the first step only. */
        r = CALL(f, .method = HTTP_METHOD_POST, .path = "/session", .body = "{\"name\":\"dave\",\"password\":\"daves password\"}");
        j = resp_json(r);
        assert_true(json_is_true(json_object_get(j, "totpRequired")));
        json_decref(j);
        assert_null(resp_header(r, "Set-Cookie"));
        expect(r, 401, "Enter the code from your authenticator app.");

        /* The code that turned TOTP on cannot log in: it was used. */
        (void) snprintf(body, sizeof(body), "{\"name\":\"dave\",\"password\":\"daves password\",\"totp\":\"%s\"}", code);
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/session", .body = body), 401, "Wrong code.");

        /* The next step's code does, once. */
        assert_int_equal(totp_code(secret, sizeof(secret), f->now + SEC(30), next), 0);
        (void) snprintf(body, sizeof(body), "{\"name\":\"dave\",\"password\":\"daves password\",\"totp\":\"%s\"}", next);
        r = CALL(f, .method = HTTP_METHOD_POST, .path = "/session", .now = f->now + SEC(30), .body = body);
        take_session(r, &s);
        j = resp_json(r);
        assert_user(json_object_get(j, "user"), "dave", "dave", false, true);
        json_decref(j);
        expect(r, 201, NULL);
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/session", .now = f->now + SEC(31), .body = body), 401,
               "Wrong code.");
        /* Wrong codes count as failed logins. */
        {
                uint64_t n = 0;

                assert_int_equal(store_login_attempt_count_by_name(f->store, "dave", 0, &n), 0);
                assert_int_equal(n, 1);
        }

        /* Turning it off takes the password. */
        expect(CALL(f, .method = HTTP_METHOD_DELETE, .path = "/totp", .session = &s, .body = "{\"password\":\"wrong pass\"}"),
               403, "Wrong password.");
        expect(CALL(f, .method = HTTP_METHOD_DELETE, .path = "/totp", .session = &s,
                    .body = "{\"password\":\"daves password\"}"),
               204, NULL);
        r = CALL(f, .method = HTTP_METHOD_GET, .path = "/session", .session = &s);
        j = resp_json(r);
        assert_user(json_object_get(j, "user"), "dave", "dave", false, false);
        json_decref(j);
        expect(r, 200, NULL);

        /* An admin can reset someone's TOTP; others cannot. */
        assert_int_equal(store_user_set_totp_secret(f->store, dave_id, secret, sizeof(secret)), 0);
        expect(CALL(f, .method = HTTP_METHOD_DELETE, .path = "/users/dave/totp", .session = &dave), 403,
               "Only administrators may do that.");
        expect(CALL(f, .method = HTTP_METHOD_DELETE, .path = "/users/dave/totp", .session = &alice), 204, NULL);
        r = CALL(f, .method = HTTP_METHOD_GET, .path = "/users/dave", .session = &alice);
        j = resp_json(r);
        assert_user(json_object_get(j, "user"), "dave", "dave", false, false);
        json_decref(j);
        expect(r, 200, NULL);
}

static void test_password_change(void **state) {
        Fixture *f = *state;
        Session alice, bob, bob_elsewhere, bob_new;
        ApiResponse *r;
        json_t *j;
        int64_t id;

        make_user(f, "alice", NULL, true, &alice);
        id = make_user(f, "bob", "old password", false, &bob);
        assert_int_equal(store_session_new(f->store, id, f->now, f->now + SEC(3600), bob_elsewhere.token), 0);

        expect(CALL(f, .method = HTTP_METHOD_PATCH, .path = "/users/bob", .session = &bob,
                    .body = "{\"password\":\"new password\"}"),
               400, "'currentPassword' is needed to change your password.");
        expect(CALL(f, .method = HTTP_METHOD_PATCH, .path = "/users/bob", .session = &bob,
                    .body = "{\"password\":\"new password\",\"currentPassword\":\"not the password\"}"),
               403, "Wrong current password.");
        /* Nothing changed. */
        assert_int_equal(store_user_check_password(f->store, "bob", "old password", 12, NULL), 0);

        r = CALL(f, .method = HTTP_METHOD_PATCH, .path = "/users/bob", .session = &bob,
                 .body = "{\"password\":\"new password\",\"currentPassword\":\"old password\"}");
        assert_int_equal(r->status, 200);
        take_session(r, &bob_new);
        j = resp_json(r);
        assert_user(json_object_get(j, "user"), "bob", "bob", false, false);
        json_decref(j);
        expect(r, 200, NULL);
        assert_int_equal(store_user_check_password(f->store, "bob", "new password", 12, NULL), 0);

        /* Every other session of Bob's ended; the new one works. */
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/session", .session = &bob), 401, "Not logged in.");
        assert_int_equal(store_session_get(f->store, bob_elsewhere.token, STORE_TOKEN_LENGTH, f->now, NULL), -ENOENT);
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/session", .session = &bob_new), 200, NULL);

        /* An admin resets it without knowing it; Bob is logged out everywhere. */
        expect(CALL(f, .method = HTTP_METHOD_PATCH, .path = "/users/bob", .session = &alice,
                    .body = "{\"password\":\"reset by alice\",\"admin\":true}"),
               200, NULL);
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/session", .session = &bob_new), 401, "Not logged in.");
        assert_int_equal(store_user_check_password(f->store, "bob", "reset by alice", 14, NULL), 0);

        /* A user who owns grains stays until their grains are gone. */
        {
                static const uint8_t manifest[] = { 0 };
                StorePackage p = {
                        .id = (char *) "dev-AbC123",
                        .app_id = (char *) "vjpmfrcuhsgrp5cq6ffn8pkz9uqq0d0ytetcxp2zugeuu5t8hvyh",
                        .app_version = 1,
                        .marketing_version = (char *) "1.0",
                        .manifest = (void *) manifest,
                        .manifest_size = sizeof(manifest),
                        .installed = f->now,
                };
                StoreGrain g = {
                        .id = (char *) "grain0000000000000000a",
                        .owner_id = id,
                        .package_id = p.id,
                        .title = (char *) "Notes",
                        .created = f->now,
                };

                assert_int_equal(store_app_add(f->store, p.app_id, "Notes", f->now), 0);
                assert_int_equal(store_package_add(f->store, &p), 0);
                assert_int_equal(store_grain_add(f->store, &g, NULL), 0);
                expect(CALL(f, .method = HTTP_METHOD_DELETE, .path = "/users/bob", .session = &alice), 409,
                       "This user still owns grains.");
                assert_int_equal(store_grain_delete(f->store, g.id), 0);
        }

        /* The last admin stays one; with two, one may step down. */
        expect(CALL(f, .method = HTTP_METHOD_PATCH, .path = "/users/bob", .session = &alice, .body = "{\"admin\":false}"),
               200, NULL);
        expect(CALL(f, .method = HTTP_METHOD_PATCH, .path = "/users/alice", .session = &alice,
                    .body = "{\"admin\":false}"),
               409, "The last administrator must stay one.");
        expect(CALL(f, .method = HTTP_METHOD_DELETE, .path = "/users/bob", .session = &alice), 204, NULL);
}

static void test_control_socket(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *startup_url = NULL;
        char body[256], token[STORE_SETUP_TOKEN_LENGTH + 1], expected_url[128];
        Session alice;
        ApiResponse *r;
        json_t *j;

        assert_int_equal(api_startup(f->api, f->now, &startup_url), 0);
        assert_non_null(startup_url);

        /* Anyone on the socket may ask how things are, and nothing else. */
        r = CALL(f, .method = HTTP_METHOD_GET, .path = "/status", .caller = API_CALLER_CONTROL);
        j = resp_json(r);
        assert_null(json_object_get(j, "users"));
        json_decref(j);
        expect(r, 200, NULL);
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/users", .caller = API_CALLER_CONTROL), 403,
               "Only administrators may do that.");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/admin-token", .caller = API_CALLER_CONTROL), 403,
               "Only administrators may do that.");
        /* The web cannot make setup tokens, even as an admin. */
        make_user(f, "root-ish", NULL, true, &alice);
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/admin-token", .session = &alice), 403,
               "Only on the control socket.");

        /* An admin on the socket: no cookies, no CSRF. */
        r = CALL(f, .method = HTTP_METHOD_GET, .path = "/status", .caller = API_CALLER_CONTROL, .control_admin = true);
        j = resp_json(r);
        assert_int_equal(json_integer_value(json_object_get(j, "users")), 1);
        json_decref(j);
        expect(r, 200, NULL);
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/session", .caller = API_CALLER_CONTROL,
                    .control_admin = true),
               400, "Not available on the control socket.");
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/totp/new", .caller = API_CALLER_CONTROL,
                    .control_admin = true),
               400, "Not available on the control socket.");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .caller = API_CALLER_CONTROL, .control_admin = true,
                    .origin = "", .body = "{\"name\":\"ops\",\"displayName\":\"Operations\",\"admin\":true}"),
               201, NULL);
        expect(CALL(f, .method = HTTP_METHOD_PATCH, .path = "/users/ops", .caller = API_CALLER_CONTROL,
                    .control_admin = true, .origin = "", .body = "{\"admin\":false}"),
               200, NULL);
        expect(CALL(f, .method = HTTP_METHOD_DELETE, .path = "/users/root-ish", .caller = API_CALLER_CONTROL,
                    .control_admin = true, .origin = ""),
               409, "The last administrator cannot be deleted.");
        expect(CALL(f, .method = HTTP_METHOD_DELETE, .path = "/users/ops", .caller = API_CALLER_CONTROL,
                    .control_admin = true, .origin = ""),
               204, NULL);

        /* granary admin-token: a new setup token for 15 minutes, replacing the one before. */
        r = CALL(f, .method = HTTP_METHOD_POST, .path = "/admin-token", .caller = API_CALLER_CONTROL,
                 .control_admin = true, .origin = "");
        assert_int_equal(r->status, 201);
        j = resp_json(r);
        assert_int_equal(strlen(json_str(j, "token")), STORE_SETUP_TOKEN_LENGTH);
        strcpy(token, json_str(j, "token"));
        (void) snprintf(expected_url, sizeof(expected_url), BASE_URL "/setup?token=%s", token);
        assert_string_equal(json_str(j, "url"), expected_url);
        json_decref(j);
        expect(r, 201, NULL);
        assert_int_equal(store_setup_token_check(f->store, startup_url + STRLEN(BASE_URL "/setup?token="),
                                                 STORE_SETUP_TOKEN_LENGTH, f->now),
                         -ENOENT);

        /* Which the locked-out owner uses in a browser to make a new admin. */
        (void) snprintf(body, sizeof(body), "{\"token\":\"%s\",\"name\":\"rescue\",\"password\":\"rescue me now\"}",
                        token);
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/setup", .now = f->now + SEC(15 * 60), .body = body), 403,
               "The setup token is not valid (any more).");
        r = CALL(f, .method = HTTP_METHOD_POST, .path = "/setup", .now = f->now + SEC(60), .body = body);
        j = resp_json(r);
        assert_user(json_object_get(j, "user"), "rescue", "rescue", true, false);
        json_decref(j);
        expect(r, 201, NULL);
}

static void test_errors(void **state) {
        Fixture *f = *state;
        Session alice;
        ApiResponse *r;

        make_user(f, "alice", "alices password", true, &alice);

        /* Unknown paths. */
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/nope"), 404, "No such API endpoint.");
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/"), 404, "No such API endpoint.");
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/status/"), 404, "No such API endpoint.");
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/users/", .session = &alice), 404, "No such API endpoint.");
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/users/.x", .session = &alice), 404,
               "No such API endpoint.");
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/users/alice/x", .session = &alice), 404,
               "No such API endpoint.");
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/users/a%2", .session = &alice), 404,
               "No such API endpoint.");
        /* Percent-encoded names, and queries, are fine. */
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/users/%61lice?x=1", .session = &alice), 200, NULL);
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/status?verbose"), 200, NULL);
        expect(CALL(f, .method = HTTP_METHOD_HEAD, .path = "/status"), 200, NULL);

        /* Wrong methods, with what is allowed. */
        r = CALL(f, .method = HTTP_METHOD_PUT, .path = "/status");
        assert_string_equal(resp_header(r, "Allow"), "GET, HEAD");
        expect(r, 405, "Method not allowed.");
        r = CALL(f, .method = HTTP_METHOD_DELETE, .path = "/users", .session = &alice);
        assert_string_equal(resp_header(r, "Allow"), "GET, HEAD, POST");
        expect(r, 405, "Method not allowed.");
        r = CALL(f, .method = HTTP_METHOD_GET, .path = "/setup");
        assert_string_equal(resp_header(r, "Allow"), "POST");
        expect(r, 405, "Method not allowed.");
        r = CALL(f, .method = HTTP_METHOD_POST, .path = "/users/alice", .session = &alice);
        assert_string_equal(resp_header(r, "Allow"), "GET, HEAD, PATCH, DELETE");
        expect(r, 405, "Method not allowed.");
        r = CALL(f, .method = HTTP_METHOD_SOURCE, .path = "/session");
        assert_string_equal(resp_header(r, "Allow"), "GET, HEAD, POST, DELETE");
        expect(r, 405, "Method not allowed.");

        /* Content types. */
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice, .content_type = "",
                    .body = "{\"name\":\"x\"}"),
               415, "The body must be application/json.");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice,
                    .content_type = "application/jsonx", .body = "{\"name\":\"x\"}"),
               415, "The body must be application/json.");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice,
                    .content_type = "Application/JSON; charset=utf-8", .body = "{\"name\":\"x\"}"),
               201, NULL);

        /* Bodies. */
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice, .body = "{\"name\":"), 400,
               "Malformed JSON (line 1, column 8).");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice, .body = ""), 400,
               "Malformed JSON (line 1, column 0).");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice, .body = "[\"name\"]"), 400,
               "The body must be a JSON object.");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice, .body = "{\"name\":5}"), 400,
               "'name' must be a string.");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice,
                    .body = "{\"name\":\"y\",\"admin\":\"yes\"}"),
               400, "'admin' must be a boolean.");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice, .body = "{}"), 400,
               "'name' is missing.");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice,
                    .body = "{\"name\":\"y\",\"nmae\":\"y\"}"),
               400, "Unknown field 'nmae'.");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/users", .session = &alice,
                    .body = "{\"name\":\"y\",\"name\":\"z\"}"),
               400, "Malformed JSON (line 1, column 18).");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/session",
                    .body = "{\"name\":\"alice\",\"password\":\"alices password\",\"totp\":123456}"),
               400, "'totp' must be a string.");
        /* The body is not quoted back: it may hold a password. */
        r = CALL(f, .method = HTTP_METHOD_POST, .path = "/session", .body = "{\"name\":\"alice\",\"password\":hunter22}");
        assert_null(strstr(r->body, "hunter"));
        expect(r, 400, NULL);
}

static void test_busy_and_cancel(void **state) {
        Fixture *f = *state;
        ApiCall *pending[WORKER_MAX] = {};
        ApiResponse *r;

        make_user(f, "erin", "erins password", false, NULL);

        /* Every worker busy (the loop does not run, so none finishes). */
        for (size_t i = 0; i < WORKER_MAX; i++) {
                run_call(f, &(const Call) { .method = HTTP_METHOD_POST, .path = "/session",
                                            .body = "{\"name\":\"erin\",\"password\":\"erins password\"}" },
                         &pending[i]);
                assert_non_null(pending[i]);
        }
        assert_int_equal(worker_count(), WORKER_MAX);

        r = CALL(f, .method = HTTP_METHOD_POST, .path = "/session",
                 .body = "{\"name\":\"erin\",\"password\":\"erins password\"}");
        assert_string_equal(resp_header(r, "Retry-After"), "1");
        expect(r, 503, "The server is busy; try again in a moment.");

        /* Cancelled calls kill their workers, and their done never comes. */
        for (size_t i = 0; i < WORKER_MAX / 2; i++)
                assert_null(api_call_cancel(pending[i]));
        assert_int_equal(worker_count(), WORKER_MAX - WORKER_MAX / 2);
        assert_null(api_call_cancel(NULL));
        /* The rest go with the Api (teardown checks that no child is left). */
}

/* ---- grains ---- */

#define APP_ID "07nwwgkeg6t63hqefg48ggq1hmvg5un8n6kgw4dusa7mwm0uyxn0"
#define PACKAGE_ID "775c3399f994106a59348803b157de71"

/* Grain endpoints on an Api with a real grain manager (nothing is started: these calls never connect).
 * The app, its package and the grains are rows made directly in the store. */
static void test_grains(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *grains_dir = NULL, *packages_dir = NULL, *sockets_dir = NULL;
        char path[128], alice_grain[STORE_GRAIN_ID_LENGTH + 1], bob_grain[STORE_GRAIN_ID_LENGTH + 1];
        Grains *grains = NULL;
        Api *api = NULL;
        Session alice, bob, admin;
        ApiResponse *r;
        json_t *j, *g;
        int64_t alice_id, bob_id;

        /* Without a grain manager: 503. */
        make_user(f, "root-ish", NULL, true, &admin);
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/grains", .session = &admin), 503,
               "Grains are not available on this server.");

        grains_dir = path_join(f->dir, "grains");
        packages_dir = path_join(f->dir, "packages");
        sockets_dir = path_join(f->dir, "sockets");
        assert_non_null(grains_dir);
        assert_non_null(packages_dir);
        assert_non_null(sockets_dir);
        assert_int_equal(mkdir_p(packages_dir, 0755), 0);
        {
                GrainsConfig gc = {
                        .grains_dir = grains_dir,
                        .packages_dir = packages_dir,
                        .sockets_dir = sockets_dir,
                        .bridge_path = "/nonexistent/granary-grain",
                        .uid = getuid() ?: 65534,
                        .gid = getgid() ?: 65534,
                };
                ApiSettings settings = {
                        .base_url = BASE_URL,
                        .wildcard_host = "*.granary.localhost:6080",
                        .version = "0.1.0",
                        .cookie_secure = accounts_base_url_is_secure(BASE_URL),
                        .grains = NULL,
                };

                assert_int_equal(grains_new(f->event, f->store, &gc, &grains), 0);
                settings.grains = grains;
                f->api = api_free(f->api);
                assert_int_equal(api_new(f->event, f->store, &settings, &api), 0);
                f->api = api;
        }

        alice_id = make_user(f, "alice", NULL, false, &alice);
        bob_id = make_user(f, "bob", NULL, false, &bob);
        assert_int_equal(store_app_add(f->store, APP_ID, "Test App", f->now), 0);
        assert_int_equal(store_package_add(f->store, &(const StorePackage) { .id = (char *) PACKAGE_ID,
                                                                             .app_id = (char *) APP_ID,
                                                                             .app_version = 3,
                                                                             .marketing_version = (char *) "3.0",
                                                                             .manifest = (void *) "\0\0\0\0\0\0\0\0",
                                                                             .manifest_size = 8,
                                                                             .installed = f->now }),
                         0);
        store_grain_id_new(alice_grain);
        store_grain_id_new(bob_grain);
        assert_int_equal(store_grain_add(f->store, &(const StoreGrain) { .id = alice_grain, .owner_id = alice_id,
                                                                         .package_id = (char *) PACKAGE_ID,
                                                                         .title = (char *) "Alice's",
                                                                         .created = f->now, .last_used = f->now },
                                         NULL),
                         0);
        assert_int_equal(store_grain_add(f->store, &(const StoreGrain) { .id = bob_grain, .owner_id = bob_id,
                                                                         .package_id = (char *) PACKAGE_ID,
                                                                         .title = (char *) "Bob's",
                                                                         .created = f->now, .last_used = f->now },
                                         NULL),
                         0);

        /* What grains_create() would have made on disk. */
        (void) snprintf(path, sizeof(path), "%s/%s/var", grains_dir, alice_grain);
        assert_int_equal(mkdir_p(path, 0700), 0);

        /* Routing: 404 for paths that are none, 405 with Allow. */
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/grains/x/nothing", .session = &alice), 404,
               "No such API endpoint.");
        r = CALL(f, .method = HTTP_METHOD_PUT, .path = "/grains/x", .session = &alice, .body = "{}");
        assert_string_equal(resp_header(r, "Allow"), "GET, HEAD, PATCH, DELETE");
        expect(r, 405, "Method not allowed.");
        r = CALL(f, .method = HTTP_METHOD_GET, .path = "/grains/x/session", .session = &alice);
        assert_string_equal(resp_header(r, "Allow"), "POST");
        expect(r, 405, "Method not allowed.");
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/grains", .origin = ""), 401, "Not logged in.");

        /* Alice sees her own grain, and only hers. */
        r = CALL(f, .method = HTTP_METHOD_GET, .path = "/grains", .session = &alice);
        j = resp_json(r);
        assert_int_equal(json_array_size(json_object_get(j, "grains")), 1);
        g = json_array_get(json_object_get(j, "grains"), 0);
        assert_int_equal(json_object_size(g), 12);
        assert_string_equal(json_str(g, "id"), alice_grain);
        assert_string_equal(json_str(g, "title"), "Alice's");
        assert_string_equal(json_str(g, "appId"), APP_ID);
        assert_string_equal(json_str(g, "appTitle"), "Test App");
        assert_string_equal(json_str(g, "packageId"), PACKAGE_ID);
        assert_int_equal(json_integer_value(json_object_get(g, "appVersion")), 3);
        assert_string_equal(json_str(g, "owner"), "alice");
        assert_int_equal(json_integer_value(json_object_get(g, "created")), T0 / 1000);
        assert_int_equal(json_integer_value(json_object_get(g, "lastUsed")), T0 / 1000);
        assert_string_equal(json_str(g, "state"), "stopped");
        assert_true(json_is_null(json_object_get(g, "memory")));
        assert_true(json_is_null(json_object_get(g, "cpuMs")));
        json_decref(j);
        expect(r, 200, NULL);
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/grains?all=1", .session = &alice), 403,
               "Only administrators may do that.");

        /* Bob's grain is as invisible to her as one that does not exist. */
        (void) snprintf(path, sizeof(path), "/grains/%s", bob_grain);
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = path, .session = &alice), 404, "No such grain.");
        expect(CALL(f, .method = HTTP_METHOD_PATCH, .path = path, .session = &alice, .body = "{\"title\":\"x\"}"),
               404, "No such grain.");
        expect(CALL(f, .method = HTTP_METHOD_DELETE, .path = path, .session = &alice), 404, "No such grain.");
        (void) snprintf(path, sizeof(path), "/grains/%s/stop", bob_grain);
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = path, .session = &alice), 404, "No such grain.");
        (void) snprintf(path, sizeof(path), "/grains/%s/log", bob_grain);
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = path, .session = &alice), 404, "No such grain.");
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = "/grains/no-such!grain", .session = &alice), 404,
               "No such grain.");

        /* Renaming: the rules, then the new title. */
        (void) snprintf(path, sizeof(path), "/grains/%s", alice_grain);
        expect(CALL(f, .method = HTTP_METHOD_PATCH, .path = path, .session = &alice, .body = "{\"title\":\"\"}"), 400,
               "A title has 1 to 256 bytes of text without control characters.");
        expect(CALL(f, .method = HTTP_METHOD_PATCH, .path = path, .session = &alice,
                    .body = "{\"title\":\"a\\u0007b\"}"),
               400, "A title has 1 to 256 bytes of text without control characters.");
        expect(CALL(f, .method = HTTP_METHOD_PATCH, .path = path, .session = &alice, .body = "{\"title\":1}"), 400,
               "'title' must be a string.");
        expect(CALL(f, .method = HTTP_METHOD_PATCH, .path = path, .session = &alice, .body = "{\"name\":\"x\"}"), 400,
               "Unknown field 'name'.");
        expect(CALL(f, .method = HTTP_METHOD_PATCH, .path = path, .session = &alice, .body = "{\"title\":\"x\"}",
                    .csrf = ""),
               403, "Cross-site request refused (Origin or X-CSRF-Token).");
        r = CALL(f, .method = HTTP_METHOD_PATCH, .path = path, .session = &alice,
                 .body = "{\"title\":\"Gr\\u00fcn\"}");
        j = resp_json(r);
        assert_string_equal(json_str(json_object_get(j, "grain"), "title"), "Gr\xc3\xbcn");
        json_decref(j);
        expect(r, 200, NULL);

        /* The console of a grain that never ran is empty; bytes must be 1…1 MiB. */
        (void) snprintf(path, sizeof(path), "/grains/%s/log?bytes=0", alice_grain);
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = path, .session = &alice), 400,
               "'bytes' must be a number from 1 to 1048576.");
        (void) snprintf(path, sizeof(path), "/grains/%s/log?bytes=1048577", alice_grain);
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = path, .session = &alice), 400,
               "'bytes' must be a number from 1 to 1048576.");
        (void) snprintf(path, sizeof(path), "/grains/%s/log?bytes=100", alice_grain);
        r = CALL(f, .method = HTTP_METHOD_GET, .path = path, .session = &alice);
        if (!r->content_type)
                print_message("# got %d: %s\n", r->status, r->body ?: "(no body)");
        assert_non_null(r->content_type);
        assert_string_equal(r->content_type, "text/plain; charset=utf-8");
        assert_int_equal(r->body_size, 0);
        expect(r, 200, NULL);

        /* POST /grains: what is refused before anything is made. */
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/grains", .session = &alice, .body = "{}"), 400,
               "'appId' is missing.");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/grains", .session = &alice,
                    .body = "{\"appId\":\"" APP_ID "\",\"action\":-1}"),
               400, "'action' must be 0 or more.");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/grains", .session = &alice,
                    .body = "{\"appId\":\"" APP_ID "\",\"user\":\"bob\"}"),
               400, "'user' is for the control socket only.");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/grains", .session = &alice,
                    .body = "{\"appId\":\"nope\"}"),
               404, "No such app.");
        /* The control socket, with two admins and no "user", cannot guess for whom. */
        make_user(f, "root-too", NULL, true, NULL);
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/grains", .caller = API_CALLER_CONTROL,
                    .control_admin = true, .origin = "", .body = "{\"appId\":\"" APP_ID "\"}"),
               400, "Say for which user (\"user\").");
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = "/grains", .caller = API_CALLER_CONTROL,
                    .control_admin = true, .origin = "", .body = "{\"appId\":\"" APP_ID "\",\"user\":\"zed\"}"),
               400, "No such user 'zed'.");

        /* Sessions: this Api has no Ui. */
        (void) snprintf(path, sizeof(path), "/grains/%s/session", alice_grain);
        expect(CALL(f, .method = HTTP_METHOD_POST, .path = path, .session = &alice), 503,
               "Grain sessions are not available on this server.");

        /* Admins see everyone's, on the web with ?all=1 and on the control socket. */
        r = CALL(f, .method = HTTP_METHOD_GET, .path = "/grains?all=1", .session = &admin);
        j = resp_json(r);
        assert_int_equal(json_array_size(json_object_get(j, "grains")), 2);
        json_decref(j);
        expect(r, 200, NULL);
        r = CALL(f, .method = HTTP_METHOD_GET, .path = "/grains", .caller = API_CALLER_CONTROL, .control_admin = true,
                 .origin = "");
        j = resp_json(r);
        assert_int_equal(json_array_size(json_object_get(j, "grains")), 2);
        json_decref(j);
        expect(r, 200, NULL);

        /* Deleting: the row goes; a user who owns grains cannot be deleted before. */
        expect(CALL(f, .method = HTTP_METHOD_DELETE, .path = "/users/bob", .session = &admin), 409,
               "This user still owns grains.");
        (void) snprintf(path, sizeof(path), "/grains/%s", bob_grain);
        expect(CALL(f, .method = HTTP_METHOD_DELETE, .path = path, .session = &bob), 204, NULL);
        expect(CALL(f, .method = HTTP_METHOD_GET, .path = path, .session = &bob), 404, "No such grain.");
        expect(CALL(f, .method = HTTP_METHOD_DELETE, .path = "/users/bob", .session = &admin), 204, NULL);

        f->api = api_free(f->api);
        grains_free(grains);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_setup_login_users_logout),
                T(test_csrf),
                T(test_rate_limit),
                T(test_totp),
                T(test_password_change),
                T(test_control_socket),
                T(test_errors),
                T(test_busy_and_cancel),
                T(test_grains),
        };
        sigset_t mask;

        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || random_init() < 0)
                return EXIT_FAILURE;
        /* Cheap argon2id, also in the workers, which inherit it. */
        store_password_set_limits(crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
