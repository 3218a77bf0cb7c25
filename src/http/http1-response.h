/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * http/http1-response.h — an HTTP/1.1 response on the wire: the status line and the header fields, and the
 * chunked framing of a body whose length is not known in advance.
 *
 * Owns nothing: appends to the caller's StrBuf, or formats into the caller's array. Refuses to write
 * anything a recipient could read as more than one field or as another name (CR, LF, NUL, other control
 * characters, names that are no tokens), so that a grain's hostile header can become a 502 rather than a
 * split response. Never logs. Which headers a response needs (Date, framing, security headers) is the
 * caller's choice.
 */

#include <stddef.h>
#include <stdint.h>

#include "basic/string-util.h"
#include "http/http.h"

/*
 * Appends "HTTP/1.1 <status> <reason>\r\n", one "name: value\r\n" per header in the order given, and the
 * empty line. reason NULL means http_status_to_string(status), or an empty reason for a status without
 * one. -EINVAL, with out left as it was, when status is not in 100…599, the reason holds a control
 * character other than HTAB, a name is not a token, or a value holds a control character (CR, LF and NUL
 * included) other than HTAB; -ENOMEM, with out left as it was, when out cannot grow.
 */
int http1_response_head_append(
        StrBuf *out, int status, const char *reason, const HttpHeader *headers, size_t n_headers);

/* "<size in lowercase hex>\r\n" and a NUL: at most 16 digits. */
#define HTTP1_CHUNK_LINE_MAX (16 + 2 + 1)

/* Formats the line that starts a chunk of size bytes (for writev()); returns its length without the NUL. */
size_t http1_chunk_line_format(uint64_t size, char ret[static HTTP1_CHUNK_LINE_MAX]);

/* Appends one chunk: size line, the bytes, CRLF. size 0 appends nothing, so that an empty write can never
 * end the body by accident. -ENOMEM with out left as it was. */
int http1_chunk_append(StrBuf *out, const void *data, size_t size);

/* Appends the last chunk and an empty trailer section, "0\r\n\r\n", which ends the body. */
int http1_chunk_append_last(StrBuf *out);
