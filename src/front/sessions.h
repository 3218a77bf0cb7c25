/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * front/sessions.h — grain UI sessions (sandstorm-spec.md §5.10): the table of sessions that granaryd has
 * opened, each bound to one grain and one user, found by the host id its "ui-<hostId>" name carries.
 *
 * Owns UiSessionTable and the UiSessions in it: their random ids, the ids derived from them (host id, tab
 * id), a copy of everything the proxy needs to tell the app who is asking (UiSessionParams), the strings
 * ui.c derives from those once per session, and when each was last used. Does not own grains, users or
 * connections: ui.c decides when a session is opened, used or dropped, and the clock is the caller's (every
 * time is a CLOCK_MONOTONIC µs value passed in), so this module is pure apart from its randomness. Never
 * logs. Sessions live in memory only: a restarted granaryd knows none, and the shell opens new ones.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/macro.h"
#include "front/ui.h"

/* A session id: 32 random bytes as 64 lowercase hex characters (chosen by the client in Sandstorm, by us
 * here). */
#define UI_SESSION_ID_LEN 64
/* hostId = sha256(sessionId) hex [0:32]; tabId = sha256("tab:" + sessionId) hex [0:32] (§5.4, §5.10). */
#define UI_SESSION_HOST_ID_LEN 32
#define UI_SESSION_TAB_ID_LEN 32

typedef struct UiSession UiSession;
struct UiSession {
        UiSession *next; /* private: the bucket's list */

        char id[UI_SESSION_ID_LEN + 1];
        char host_id[UI_SESSION_HOST_ID_LEN + 1];
        char tab_id[UI_SESSION_TAB_ID_LEN + 1];
        /* X-Sandstorm-Session-Id: a decimal number given in order of opening, per grain, from 0 (the
         * bridge's counter is per grain process; ours is per grain in this granaryd's life, and fixed for
         * the session's life, which is what getSessionContext(id) needs) */
        uint64_t number;

        /* copies of UiSessionParams, defaults applied: display_name, user_agent and accept_language are never
         * NULL; identity_id, preferred_handle and picture_url are NULL when absent or empty */
        char *grain_id;
        int64_t user_id;
        char *identity_id;
        char *display_name;
        char *preferred_handle;
        char *picture_url;
        char **permissions; /* never NULL; may be empty */
        char *user_agent;
        char *accept_language;

        /* What every request of the session carries, made once when ui.c opens it (NULL until then) and
         * freed with the session: its origin ("http://ui-<hostId>.<wildcard>"), the value of the
         * Content-Security-Policy added to each response, and the identity fields of each request head
         * (proxy.h, proxy_session_fields()) */
        char *origin;
        char *csp;
        char *fields;
        size_t fields_len;

        uint64_t last_used;
};

typedef struct UiSessionTable UiSessionTable;

int ui_session_table_new(UiSessionTable **ret);
UiSessionTable *ui_session_table_free(UiSessionTable *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(UiSessionTable *, ui_session_table_free);

size_t ui_session_table_size(const UiSessionTable *t) _pure_;

/* A new session with a fresh random id for p (p->grain_id required), used at now. number: its
 * X-Sandstorm-Session-Id. -EINVAL for a missing grain id or an identity id that is not 64 hex; -ENOMEM.
 * *ret is borrowed: valid until the session is removed. */
int ui_session_table_open(UiSessionTable *t, const UiSessionParams *p, uint64_t number, uint64_t now,
                          UiSession **ret);

/* The session whose host id is host_id (n bytes, untrusted, any case, as a Host carries it), if it was
 * used less than idle_usec before now; NULL otherwise (an expired one is removed). Does not mark it used. */
UiSession *ui_session_table_find(UiSessionTable *t, const char *host_id, size_t n, uint64_t now,
                                 uint64_t idle_usec);

void ui_session_touch(UiSession *s, uint64_t now);

/* Removes s from t (s is freed). */
void ui_session_table_remove(UiSessionTable *t, UiSession *s);
/* Removes sessions unused for idle_usec or longer; returns how many. */
size_t ui_session_table_expire(UiSessionTable *t, uint64_t now, uint64_t idle_usec);
/* Remove every session of a grain, or of a user (user_id > 0; anonymous sessions are never "a user's");
 * return how many. */
size_t ui_session_table_drop_grain(UiSessionTable *t, const char *grain_id);
size_t ui_session_table_drop_user(UiSessionTable *t, int64_t user_id);

/* The derivations of §5.4/§5.10 from a 64-hex session id (the first UI_SESSION_ID_LEN bytes of id). */
void ui_session_host_id(const char *id, char ret[static UI_SESSION_HOST_ID_LEN + 1]);
void ui_session_tab_id(const char *id, char ret[static UI_SESSION_TAB_ID_LEN + 1]);

/* Whether the n bytes given equal the session's id; in constant time for a given length. */
bool ui_session_id_equal(const UiSession *s, const char *given, size_t n) _pure_;
