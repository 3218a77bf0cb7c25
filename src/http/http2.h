/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * http/http2.h — the server side of one HTTP/2 connection, over nghttp2: bytes from the client in,
 * requests (http.h) and body bytes out through callbacks; responses in, bytes for the client out.
 *
 * Owns the nghttp2 session and each stream's state until the stream closes. Does not own the connection:
 * it reads nothing and writes nothing — the caller feeds what it read and sends what
 * http2_session_pending_output() gives, so that it alone decides when to read and write (back-pressure
 * toward the client: read nothing while pending output is large). Never logs. h2 by ALPN and h2c with prior
 * knowledge (see http2_preface_check()) are the same session; cleartext "Upgrade: h2c" is not supported.
 * Its invariants are at the top of http2.c.
 *
 * Strict, as RFC 9113 §8.1.1 allows: a malformed request — connection-specific fields, "te" other than
 * "trailers", content-length that the DATA frames do not add up to, a missing, repeated, unknown or late
 * pseudo-header, uppercase or invalid names, invalid values, :authority and Host that disagree, a plain
 * CONNECT, a header list past the limits — gets RST_STREAM and is never surfaced.
 *
 * WebSockets (RFC 8441): the server's SETTINGS carry ENABLE_CONNECT_PROTOCOL = 1, and an extended CONNECT —
 * :method CONNECT with :protocol (only "websocket" is known), :scheme, :path and :authority, no
 * content-length, not ended by its HEADERS — is surfaced as HTTP_METHOD_CONNECT with HttpRequest.protocol
 * set and framing CHUNKED. Its DATA frames are the tunnel's bytes from the client (on_request_body, with the
 * usual flow control but no body_max), END_STREAM ends that direction (on_request_end); the answer is a 2xx
 * whose body is the bytes toward the client. Floods (rapid reset, CONTINUATION,
 * HPACK bombs, SETTINGS and PING without reading the acknowledgements) end the connection with GOAWAY
 * ENHANCE_YOUR_CALM. The limits are in limits.h.
 *
 * A connection drives it like this:
 *
 *     r = http2_session_feed(s, buf, n);      callbacks fire from in here
 *     while (http2_session_pending_output(s, &p, &k) > 0)
 *             write what it can, then http2_session_output_done(s, written);
 *     if (http2_session_want_close(s))        close once the output is flushed;
 *
 * and, from any callback or later: http2_session_submit_response(), http2_session_resume_data() when a
 * deferred body has bytes again, http2_session_consume() as request body bytes are used up.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "http/limits.h"

typedef struct Http2Session Http2Session;

/* The 24 bytes every HTTP/2 connection begins with (RFC 9113 §3.4). */
#define HTTP2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

/* Whether a plain connection speaks h2c with prior knowledge: 1 when data starts with the whole preface,
 * 0 when it is a proper prefix of it (read more), -EPROTO when it is something else (HTTP/1.x). */
int http2_preface_check(const void *data, size_t n) _pure_;

/* Error codes of RST_STREAM and GOAWAY (RFC 9113 §7) that callers use. */
#define HTTP2_NO_ERROR ((uint32_t) 0x0)
#define HTTP2_PROTOCOL_ERROR ((uint32_t) 0x1)
#define HTTP2_INTERNAL_ERROR ((uint32_t) 0x2)
#define HTTP2_REFUSED_STREAM ((uint32_t) 0x7)
#define HTTP2_CANCEL ((uint32_t) 0x8)
#define HTTP2_ENHANCE_YOUR_CALM ((uint32_t) 0xb)

/*
 * Every callback gets the userdata given to http2_session_new(). A callback returning < 0 resets its
 * stream with INTERNAL_ERROR (the stream's on_stream_close still follows). Callbacks may call any
 * http2_session_*() function except feed() and free(); pending_output() gives nothing until feed() has
 * returned. A body of unknown length past body_max gets RST_STREAM ENHANCE_YOUR_CALM; a content-length past
 * it, RST_STREAM PROTOCOL_ERROR before the head is surfaced.
 */
typedef struct Http2SessionCallbacks {
        /* A request whose head passed every check. The callee owns request. */
        int (*on_request_head)(Http2Session *s, int32_t stream_id, HttpRequest *request, void *userdata);
        /* Body bytes (n > 0), valid during the call. They count against the client's window until
         * http2_session_consume() is called for them. */
        int (*on_request_body)(
                Http2Session *s, int32_t stream_id, const uint8_t *data, size_t n, void *userdata);
        /* The body is complete (content-length, when given, was matched). */
        int (*on_request_end)(Http2Session *s, int32_t stream_id, void *userdata);
        /* A stream whose head was surfaced is gone: error_code 0 when both sides finished, otherwise the
         * RST_STREAM or GOAWAY code. Called once per surfaced stream, also from http2_session_free(). */
        void (*on_stream_close)(Http2Session *s, int32_t stream_id, uint32_t error_code, void *userdata);
        /* The response body of a stream submitted with has_body: copy up to n bytes to buf, set *ret_n,
         * and *ret_eof when the body is complete. 0, or -EAGAIN when no bytes are ready yet (the stream
         * waits for http2_session_resume_data()), or another < 0 to reset the stream. */
        int (*read_response_body)(Http2Session *s, int32_t stream_id, uint8_t *buf, size_t n, size_t *ret_n,
                bool *ret_eof, void *userdata);
} Http2SessionCallbacks;

/* limits NULL means HTTP_LIMITS_DEFAULT. -EINVAL when http_limits_check() refuses them or an h2_ limit is
 * 0 or out of range (windows at most 2^31-1); -ENOMEM. The server's SETTINGS are queued at once. */
int http2_session_new(const HttpLimits *limits, const Http2SessionCallbacks *callbacks, void *userdata,
        Http2Session **ret);
Http2Session *http2_session_free(Http2Session *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Http2Session *, http2_session_free);

/*
 * Everything the client sent, all of it used. 0; 1 when the connection is ending (a GOAWAY of ours is
 * queued, or the peer broke the protocol, or the session is done): send the pending output, then close —
 * later feeds drop their bytes and return 1 again. Some connection errors nghttp2 answers itself (a
 * SETTINGS frame with too many entries, a bad frame size, …) and feed() returns 0 for them: their GOAWAY is
 * in the output, and http2_session_want_close() is true once it has been taken. -ENOMEM.
 */
int http2_session_feed(Http2Session *s, const void *data, size_t n);

/* Bytes to send, valid until the next call into the session: 1 with *ret and *ret_n set (n > 0), 0 when
 * there is nothing to send now, -ENOMEM. */
int http2_session_pending_output(Http2Session *s, const uint8_t **ret, size_t *ret_n);
/* n of the bytes from pending_output() were sent. */
void http2_session_output_done(Http2Session *s, size_t n);

/*
 * Answers a surfaced stream. headers are the regular fields: names lowercase tokens and not
 * connection-specific (connection, keep-alive, proxy-connection, transfer-encoding, upgrade, te), values
 * valid field values without leading or trailing whitespace — else -EINVAL and nothing is sent. status
 * 100…599 but not 101 (-EINVAL). has_body: the body comes from read_response_body. -ENOENT for a stream
 * that is not open, -EALREADY when it was answered already, -ENOMEM.
 */
int http2_session_submit_response(
        Http2Session *s, int32_t stream_id, int status, const HttpHeader *headers, size_t n, bool has_body);
/* read_response_body has bytes again for a stream it deferred. 0, -ENOENT when the stream is gone. */
int http2_session_resume_data(Http2Session *s, int32_t stream_id);
/* The caller has used n body bytes of stream_id: the client may send that many more. 0; -ENOENT when the
 * stream is gone (its bytes were given back when it closed). */
int http2_session_consume(Http2Session *s, int32_t stream_id, size_t n);
/* Resets a stream (e.g. CANCEL when the grain went away). 0, -ENOENT. */
int http2_session_reset_stream(Http2Session *s, int32_t stream_id, uint32_t error_code);

/* Queues GOAWAY with error_code; the connection closes once the output is flushed. */
int http2_session_terminate(Http2Session *s, uint32_t error_code);
/* True when the connection has nothing more to do once the pending output is sent: close it then. */
bool http2_session_want_close(Http2Session *s);
/* The GOAWAY code the session sent, or -1 when it sent none. For the caller's one log line. */
int64_t http2_session_goaway_code(const Http2Session *s) _pure_;
