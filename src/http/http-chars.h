/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * http/http-chars.h — private to src/http: the character classes of RFC 9110, 9112 and 3986 as one table
 * of bit flags, computed by the compiler from the grammar's definitions (so the table cannot drift from
 * them). Whatever accepts or emits bytes in this module asks these, and only these.
 */

#include <stdbool.h>
#include <stdint.h>

enum {
        HTTP_CHAR_TCHAR = 1 << 0,  /* token character */
        HTTP_CHAR_FIELD = 1 << 1,  /* field-vchar: VCHAR or obs-text */
        HTTP_CHAR_TARGET = 1 << 2, /* allowed in a request target: VCHAR except '#' */
        HTTP_CHAR_HEX = 1 << 3,    /* HEXDIG, either case */
        HTTP_CHAR_DIGIT = 1 << 4,  /* DIGIT */
        HTTP_CHAR_HOST = 1 << 5,   /* reg-name without pct-encoded: unreserved / sub-delims */
        HTTP_CHAR_QDTEXT = 1 << 6, /* inside a quoted-string, unescaped */
        HTTP_CHAR_WS = 1 << 7,     /* SP or HTAB */
};

extern const uint8_t http_char_class[256];

static inline bool http_char_is(uint8_t c, unsigned class) {
        return http_char_class[c] & class;
}

static inline uint8_t http_char_lower(uint8_t c) {
        return c >= 'A' && c <= 'Z' ? (uint8_t) (c + ('a' - 'A')) : c;
}

static inline int http_char_hex_value(uint8_t c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c = http_char_lower(c);
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}
