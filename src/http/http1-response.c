/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <string.h>

#include "http/http-chars.h"
#include "http/http1-response.h"

/* SP, HTAB, VCHAR, obs-text: a reason phrase or a field value, with no way to end the line. */
static bool bytes_are_text(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!http_char_is((uint8_t) s[i], HTTP_CHAR_FIELD | HTTP_CHAR_WS))
                        return false;
        return true;
}

/* The same answer as bytes_are_text() (and http_field_value_is_valid()), eight bytes at a time, since every
 * value of every response is checked here: a word with no byte below 0x20 and none equal to 0x7f is text
 * whole (bytes from 0x80 up are obs-text); one that has one is looked at byte by byte, HTAB being below
 * 0x20. (w - 0x20 in each byte) & ~w has a high bit set exactly when some byte of w is below 0x20, and the
 * same with w ^ 0x7f and 1 when some byte is 0x7f: exact for whether there is one, which is all that is
 * asked. */
static bool text_is_valid(const char *s, size_t n) {
        const uint64_t ones = UINT64_C(0x0101010101010101), highs = ones * 0x80;
        size_t i = 0;

        for (; i + 8 <= n; i += 8) {
                uint64_t w, d;

                memcpy(&w, s + i, 8);
                d = w ^ (ones * 0x7f);
                if ((((w - ones * 0x20) & ~w) | ((d - ones) & ~d)) & highs)
                        if (!bytes_are_text(s + i, 8))
                                return false;
        }
        return bytes_are_text(s + i, n - i);
}

static bool token_is_valid(const char *s, size_t n) {
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!http_char_is((uint8_t) s[i], HTTP_CHAR_TCHAR))
                        return false;
        return true;
}

int http1_response_head_append(
        StrBuf *out, int status, const char *reason, const HttpHeader *headers, size_t n_headers) {
        size_t reason_len, total;
        char *p;
        int r;

        assert(out);
        assert(headers || n_headers == 0);

        /* Everything is checked before anything is written. */
        if (status < 100 || status > 599)
                return -EINVAL;
        if (!reason)
                reason = http_status_to_string(status) ?: "";
        else if (!text_is_valid(reason, strlen(reason)))
                return -EINVAL;
        for (size_t i = 0; i < n_headers; i++)
                if (!token_is_valid(headers[i].name, headers[i].name_len) ||
                    !text_is_valid(headers[i].value, headers[i].value_len))
                        return -EINVAL;

        /* One reservation for the whole head, then copies only: this runs once per response. */
        reason_len = strlen(reason);
        total = STRLEN("HTTP/1.1 200 ") + reason_len + 4;
        for (size_t i = 0; i < n_headers; i++)
                total += headers[i].name_len + headers[i].value_len + 4;
        r = strbuf_reserve(out, total);
        if (r < 0)
                return r;
        p = out->data + out->len;
        p = mempcpy(p, "HTTP/1.1 ", 9);
        *p++ = (char) ('0' + status / 100);
        *p++ = (char) ('0' + status / 10 % 10);
        *p++ = (char) ('0' + status % 10);
        *p++ = ' ';
        p = mempcpy(p, reason, reason_len);
        p = mempcpy(p, "\r\n", 2);
        for (size_t i = 0; i < n_headers; i++) {
                p = mempcpy(p, headers[i].name, headers[i].name_len);
                p = mempcpy(p, ": ", 2);
                p = mempcpy(p, headers[i].value, headers[i].value_len);
                p = mempcpy(p, "\r\n", 2);
        }
        p = mempcpy(p, "\r\n", 2);
        *p = '\0';
        out->len = (size_t) (p - out->data);
        return 0;
}

size_t http1_chunk_line_format(uint64_t size, char ret[static HTTP1_CHUNK_LINE_MAX]) {
        static const char digits[] = "0123456789abcdef";
        char buf[16];
        size_t n = 0;

        assert(ret);

        /* by hand rather than with snprintf(): once per chunk of a streamed body */
        do {
                buf[sizeof buf - ++n] = digits[size & 15];
                size >>= 4;
        } while (size > 0);
        memcpy(ret, buf + sizeof buf - n, n);
        memcpy(ret + n, "\r\n", 3);
        return n + 2;
}

int http1_chunk_append(StrBuf *out, const void *data, size_t size) {
        char line[HTTP1_CHUNK_LINE_MAX];
        size_t old_len, n;
        int r;

        assert(out);
        assert(data || size == 0);

        if (size == 0)
                return 0;

        old_len = out->len;
        n = http1_chunk_line_format(size, line);
        r = strbuf_reserve(out, n + size + 2);
        if (r < 0)
                return r;
        r = strbuf_append(out, line, n);
        if (r >= 0)
                r = strbuf_append(out, data, size);
        if (r >= 0)
                r = strbuf_append(out, "\r\n", 2);
        if (r < 0) {
                strbuf_truncate(out, old_len);
                return r;
        }
        return 0;
}

int http1_chunk_append_last(StrBuf *out) {
        assert(out);
        return strbuf_append(out, "0\r\n\r\n", 5);
}
