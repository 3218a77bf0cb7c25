/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <string.h>

#include "http/http1-response.h"

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
        else if (!http_field_value_is_valid(reason, strlen(reason)))
                return -EINVAL;
        for (size_t i = 0; i < n_headers; i++)
                if (!http_token_is_valid(headers[i].name, headers[i].name_len) ||
                    !http_field_value_is_valid(headers[i].value, headers[i].value_len))
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
