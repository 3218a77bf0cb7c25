/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * http/limits.h — every quantity an HTTP client controls, with its default, in one place.
 *
 * The parsers take these in an HttpLimits so that the config can override them; the defaults below are what
 * HTTP_LIMITS_DEFAULT holds. Each limit says which status a request exceeding it gets, and what exactly is
 * counted, so that "at the limit" and "one past it" are the same thing for the code, the tests and the
 * documentation. Owns nothing at run time, never logs.
 */

#include <stddef.h>
#include <stdint.h>

/* Bytes of the request line "METHOD SP target SP HTTP/x.y", without its CRLF. Past it: 414. */
#define HTTP_REQUEST_LINE_MAX ((size_t) 8192)

/* Bytes of the header section: every field line with its CRLF, not counting the request line nor the empty
 * line that ends the head. Past it: 431. The trailer section of a chunked body has the same limit. */
#define HTTP_HEADER_BYTES_MAX ((size_t) 65536)

/* Field lines in the header section (and, separately, in the trailer section). Past it: 431. */
#define HTTP_HEADER_COUNT_MAX ((size_t) 100)

/* Bytes of one field value, leading and trailing whitespace not counted. Past it: 431. */
#define HTTP_HEADER_VALUE_MAX ((size_t) 16384)

/* Bytes of the extensions on one chunk-size line, from the first ';' to the CRLF (not included). Past it:
 * 400. Extensions carry nothing we use; they are checked and dropped. */
#define HTTP_CHUNK_EXT_MAX ((size_t) 256)

/* Bytes of one request body: the Content-Length, or the sum of the chunk sizes. Past it: 413, from the
 * Content-Length before any body byte is read, or from the chunk-size line before that chunk's data. */
#define HTTP_BODY_MAX (UINT64_C(1) << 30)

/* Hex digits of one chunk size, leading zeros included. Not configurable: 16 digits hold any 64-bit
 * size, so longer is only ever an attempt to overflow someone's counter. Past it: 400. */
#define HTTP_CHUNK_SIZE_DIGITS_MAX 16

/* Ceilings for the configurable limits above. http-parser counts the bytes of a head (and of a chunk-size
 * line, and of a trailer section) against its own compiled-in maximum of 80 KiB; keeping ours below it
 * means that our limits always fire first, with the status they promise. The body ceiling keeps every sum
 * of sizes far from 64-bit overflow, in our code and in http-parser's. */
#define HTTP_HEAD_CEILING ((size_t) 80 * 1024)
#define HTTP_BODY_CEILING (UINT64_C(1) << 59)

/* HTTP/2 (http2.h). A stream error is RST_STREAM; a connection error is GOAWAY and close. */

/* Streams a client may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). One more before the client
 * acknowledged our SETTINGS: RST_STREAM REFUSED_STREAM; after: GOAWAY PROTOCOL_ERROR (nghttp2's rules). */
#define HTTP2_CONCURRENT_STREAMS_MAX ((uint32_t) 100)

/* Bytes a client may send on one stream before the caller has consumed them (SETTINGS_INITIAL_WINDOW_SIZE):
 * the window reopens only as the caller takes the body, so a slow consumer slows the client. One more:
 * GOAWAY FLOW_CONTROL_ERROR, from nghttp2. */
#define HTTP2_STREAM_WINDOW ((uint32_t) 65535)

/* The same for the whole connection, all streams together. */
#define HTTP2_CONNECTION_WINDOW ((uint32_t) 1 << 20)

/* Streams that end in a reset — RST_STREAM from the client, or a stream error of ours for a malformed
 * request — are a token bucket: reset_burst tokens, reset_rate more per second. Past it: GOAWAY
 * ENHANCE_YOUR_CALM (rapid reset). Below nghttp2's own bucket (1000, 33/s), so that ours fires first. */
#define HTTP2_RESET_BURST ((uint32_t) 200)
#define HTTP2_RESET_RATE ((uint32_t) 20)

/* CONTINUATION frames after one HEADERS frame. Past it: GOAWAY ENHANCE_YOUR_CALM (CONTINUATION flood). The
 * header list itself is held to header_bytes_max, header_count_max and header_value_max, counted as for
 * HTTP/1.1 ("name: value" CRLF per field, pseudo-headers included); past them: RST_STREAM PROTOCOL_ERROR,
 * and past twice header_bytes_max of decoded fields in one block, GOAWAY ENHANCE_YOUR_CALM (HPACK bomb). */
#define HTTP2_CONTINUATION_MAX ((uint32_t) 16)

/* Not configurable: entries in one SETTINGS frame, and SETTINGS/PING acknowledgements waiting to be sent
 * (a client that sends them and never reads). Past either: GOAWAY ENHANCE_YOUR_CALM. */
#define HTTP2_SETTINGS_ENTRIES_MAX ((size_t) 32)
#define HTTP2_OUTBOUND_ACK_MAX ((size_t) 1000)

typedef struct HttpLimits {
        size_t request_line_max;
        size_t header_bytes_max;
        size_t header_count_max;
        size_t header_value_max;
        size_t chunk_ext_max;
        uint64_t body_max;
        /* HTTP/2 only; checked by http2_session_new(), not by http_limits_check() */
        uint32_t h2_concurrent_streams_max;
        uint32_t h2_stream_window;
        uint32_t h2_connection_window;
        uint32_t h2_reset_burst;
        uint32_t h2_reset_rate;
        uint32_t h2_continuation_max;
} HttpLimits;

#define HTTP_LIMITS_DEFAULT                                                                                 \
        ((HttpLimits){                                                                                      \
                .request_line_max = HTTP_REQUEST_LINE_MAX,                                                  \
                .header_bytes_max = HTTP_HEADER_BYTES_MAX,                                                  \
                .header_count_max = HTTP_HEADER_COUNT_MAX,                                                  \
                .header_value_max = HTTP_HEADER_VALUE_MAX,                                                  \
                .chunk_ext_max = HTTP_CHUNK_EXT_MAX,                                                        \
                .body_max = HTTP_BODY_MAX,                                                                  \
                .h2_concurrent_streams_max = HTTP2_CONCURRENT_STREAMS_MAX,                                  \
                .h2_stream_window = HTTP2_STREAM_WINDOW,                                                    \
                .h2_connection_window = HTTP2_CONNECTION_WINDOW,                                            \
                .h2_reset_burst = HTTP2_RESET_BURST,                                                        \
                .h2_reset_rate = HTTP2_RESET_RATE,                                                          \
                .h2_continuation_max = HTTP2_CONTINUATION_MAX,                                              \
        })

/* 0 when the limits can be enforced as documented: every one at least 1 (chunk_ext_max may be 0: no
 * extensions), request_line_max + header_bytes_max + 4 and chunk_ext_max + 64 within HTTP_HEAD_CEILING,
 * body_max within HTTP_BODY_CEILING. -EINVAL otherwise. */
int http_limits_check(const HttpLimits *limits);
