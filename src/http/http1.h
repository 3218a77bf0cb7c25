/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * http/http1.h — the HTTP/1.1 request parser: one Http1Parser per connection turns the bytes a client
 * sends into requests (http.h), one event at a time.
 *
 * Owns the parser and, until a request is handed out, the bytes of its head. Does not own the
 * connection: it reads nothing, writes nothing, keeps no clock (header deadlines belong to the caller, which
 * can ask http1_parser_is_idle()), and never logs. Its state diagram and invariants are at the top of
 * http1.c.
 *
 * Strict: what RFC 9112 allows a server to reject, or tells it to reject, is rejected and never repaired
 * (bare CR or LF, obs-fold, whitespace before ':', CTLs, duplicate or malformed framing headers, …); the
 * whole list is in http1.c. Every error closes the connection: after a framing error nothing on the
 * connection can be trusted to start where it seems to.
 *
 * A connection drives it like this, buf and n being what it has read and not yet given to the parser:
 *
 *     r = http1_parser_feed(p, buf, n, &ev);
 *     if (r < 0)            answer http1_parser_get_error(p)->status if it still can, and close;
 *     buf += ev.consumed;   n -= ev.consumed;
 *     NEED_MORE:            read more;
 *     HEAD:                 take ev.request (the caller owns it now) and route it;
 *     BODY:                 pass ev.data, ev.size on (valid as long as buf is);
 *     COMPLETE:             the request is whole: answer it, and only then feed the rest of buf.
 *
 * Pipelining: the parser stops at the end of each message (COMPLETE, with consumed counting exactly the
 * bytes up to its end), so the bytes of the next request stay with the caller until it wants them. After an
 * accepted upgrade the bytes after COMPLETE belong to the new protocol.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "http/limits.h"

typedef struct Http1Parser Http1Parser;

typedef enum Http1EventType {
        HTTP1_EVENT_NEED_MORE, /* every byte given was used; nothing to report yet */
        HTTP1_EVENT_HEAD,      /* the head is complete: request */
        HTTP1_EVENT_BODY,      /* body bytes, chunked framing removed: data, size (size > 0) */
        HTTP1_EVENT_COMPLETE,  /* the message is complete; the parser waits for the next one */
        _HTTP1_EVENT_TYPE_MAX,
        _HTTP1_EVENT_TYPE_INVALID = -EINVAL,
} Http1EventType;

typedef struct Http1Event {
        Http1EventType type;
        size_t consumed;      /* bytes of the input this event used; the rest goes to the next call */
        HttpRequest *request; /* HEAD: owned by the caller from here on */
        const uint8_t *data;  /* BODY: points into the input given to this call */
        size_t size;
} Http1Event;

typedef struct Http1Error {
        int error;        /* the negative errno feed() returned */
        int status;       /* http_status_from_errno(error): 400, 413, 414, 431, 501, 505; 503 for -ENOMEM */
        bool must_close;  /* always true: see above */
        const char *what; /* a constant description for debug logs; never holds client bytes */
} Http1Error;

/* limits NULL means HTTP_LIMITS_DEFAULT. -EINVAL when http_limits_check() refuses them. */
int http1_parser_new(const HttpLimits *limits, Http1Parser **ret);
Http1Parser *http1_parser_free(Http1Parser *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Http1Parser *, http1_parser_free);

/*
 * Parses up to size bytes and reports the first event. 0 with *ret set; on a protocol error the errno of
 * its status (see http_status_from_errno()), -ENOMEM when out of memory. After any error the parser is
 * dead: http1_parser_get_error() says why and every later call returns the same error.
 */
int http1_parser_feed(Http1Parser *p, const void *data, size_t size, Http1Event *ret);

/*
 * The client closed its side. 0 when that happened between messages; -EBADMSG when a message was under
 * way (the parser is then dead, as after any error).
 */
int http1_parser_eof(Http1Parser *p);

/* True between messages, before the first byte of the next one: the connection is idle, not slow. */
bool http1_parser_is_idle(const Http1Parser *p) _pure_;

/* Why the parser died, or NULL while it is alive. */
const Http1Error *http1_parser_get_error(const Http1Parser *p) _pure_;
