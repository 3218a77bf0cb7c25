/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <string.h>

#include "basic/hex.h"

static const char hex_digits[16] = "0123456789abcdef";
static const char base32_alphabet[32] = "0123456789acdefghjkmnpqrstuvwxyz";

char *hex_encode(const void *p, size_t n, char *out) {
        const uint8_t *b = p;

        assert(p || n == 0);
        assert(out);

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = hex_digits[b[i] >> 4];
                out[2 * i + 1] = hex_digits[b[i] & 15];
        }
        out[2 * n] = '\0';
        return out;
}

int hex_digit_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -EINVAL;
}

int hex_decode(const char *s, size_t len, void *out, size_t n) {
        uint8_t *b = out;
        size_t want;

        assert(s || len == 0);
        assert(out || n == 0);

        if (!MUL_SAFE(&want, n, (size_t) 2) || len != want)
                return -EINVAL;

        /* Check everything first, so that out is left alone on failure. */
        for (size_t i = 0; i < len; i++)
                if (hex_digit_value(s[i]) < 0)
                        return -EINVAL;

        for (size_t i = 0; i < n; i++)
                b[i] = (uint8_t) (hex_digit_value(s[2 * i]) << 4 | hex_digit_value(s[2 * i + 1]));
        return 0;
}

char *base32_encode(const void *p, size_t n, char *out) {
        const uint8_t *b = p;
        unsigned buffer = 0, bits = 0;
        size_t k = 0;

        assert(p || n == 0);
        assert(out);

        /* Most significant bit first: bytes are shifted in at the bottom, 5-bit groups taken off the top. */
        for (size_t i = 0; i < n; i++) {
                buffer = (buffer << 8) | b[i];
                bits += 8;
                while (bits >= 5) {
                        bits -= 5;
                        out[k++] = base32_alphabet[(buffer >> bits) & 31];
                }
                buffer &= (1u << bits) - 1;
        }
        if (bits > 0)
                out[k++] = base32_alphabet[(buffer << (5 - bits)) & 31];
        out[k] = '\0';
        return out;
}

static int base32_digit_value(char c) {
        const char *q;

        if (c >= 'A' && c <= 'Z')
                c = (char) (c - 'A' + 'a');

        /* The letters left out of the alphabet are read as the digits they look like. */
        switch (c) {
        case 'o':
                return 0;
        case 'i':
        case 'l':
                return 1;
        case 'b':
                return 8;
        case '\0':
                return -EINVAL;
        default:
                q = memchr(base32_alphabet, c, sizeof(base32_alphabet));
                return q ? (int) (q - base32_alphabet) : -EINVAL;
        }
}

/* Decodes into out, or only checks when out is NULL. Returns the leftover bits, which must be zero. */
static int base32_decode_internal(const char *s, size_t len, uint8_t *out) {
        unsigned buffer = 0, bits = 0;
        size_t k = 0;

        for (size_t i = 0; i < len; i++) {
                int v = base32_digit_value(s[i]);

                if (v < 0)
                        return v;
                buffer = (buffer << 5) | (unsigned) v;
                bits += 5;
                if (bits >= 8) {
                        bits -= 8;
                        if (out)
                                out[k] = (uint8_t) (buffer >> bits);
                        k++;
                }
                buffer &= (1u << bits) - 1;
        }
        return (int) buffer;
}

int base32_decode(const char *s, size_t len, void *out, size_t n) {
        int r;

        assert(s || len == 0);
        assert(out || n == 0);

        /* The length rule of spec §1.3: len*5/8, rounded down, is the byte count. */
        if (len > SIZE_MAX / 5 || len * 5 / 8 != n)
                return -EINVAL;

        /* A first pass checks every character and the leftover bits, so out is left alone on failure. */
        r = base32_decode_internal(s, len, NULL);
        if (r != 0)
                return r < 0 ? r : -EINVAL;

        r = base32_decode_internal(s, len, out);
        assert(r == 0);
        return 0;
}

int app_id_from_string(const char *s, size_t len, uint8_t ret[APP_ID_SIZE]) {
        uint8_t id[APP_ID_SIZE];
        int r;

        assert(ret);

        if (len != APP_ID_TEXT_SIZE)
                return -EINVAL;
        r = base32_decode(s, len, id, sizeof(id));
        if (r < 0)
                return r;
        memcpy(ret, id, sizeof(id));
        return 0;
}

char *app_id_to_string(const uint8_t id[APP_ID_SIZE], char out[APP_ID_TEXT_SIZE + 1]) {
        return base32_encode(id, APP_ID_SIZE, out);
}
