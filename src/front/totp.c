/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "basic/random-util.h"
#include "basic/string-util.h"
#include "front/totp.h"

static const char base32_alphabet[32] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

void totp_secret_new(uint8_t ret[static TOTP_SECRET_SIZE]) {
        random_bytes(ret, TOTP_SECRET_SIZE);
}

char *totp_base32_encode(const void *p, size_t n, char *out) {
        const uint8_t *b = p;
        uint32_t acc = 0;
        unsigned bits = 0;
        size_t k = 0;

        assert(p || n == 0);
        assert(out);

        for (size_t i = 0; i < n; i++) {
                acc = (acc << 8) | b[i];
                bits += 8;
                while (bits >= 5) {
                        bits -= 5;
                        out[k++] = base32_alphabet[(acc >> bits) & 31];
                }
        }
        if (bits > 0)
                out[k++] = base32_alphabet[(acc << (5 - bits)) & 31];
        out[k] = '\0';
        return out;
}

static int base32_value(char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a';
        if (c >= '2' && c <= '7')
                return c - '2' + 26;
        return -EINVAL;
}

int totp_base32_decode(const char *s, size_t len, void *out, size_t n) {
        uint8_t *b = out;
        uint32_t acc = 0;
        unsigned bits = 0;
        size_t k = 0;

        assert(s || len == 0);
        assert(out || n == 0);

        while (len > 0 && s[len - 1] == '=')
                len--;
        /* The canonical length only: n bytes and fewer than 5 bits left over. */
        if (len != TOTP_BASE32_LENGTH(n))
                return -EINVAL;

        for (size_t i = 0; i < len; i++) {
                int v = base32_value(s[i]);

                if (v < 0)
                        return v;
                acc = (acc << 5) | (uint32_t) v;
                bits += 5;
                if (bits >= 8) {
                        bits -= 8;
                        b[k++] = (uint8_t) (acc >> bits);
                }
        }
        if ((acc & ((UINT32_C(1) << bits) - 1)) != 0)
                return -EINVAL;
        assert(k == n);
        return 0;
}

static int percent_encode(StrBuf *b, const char *s) {
        for (; *s; s++) {
                char c = *s;
                int r;

                if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~')
                        r = strbuf_append_char(b, c);
                else
                        r = strbuf_printf(b, "%%%02X", (unsigned) (uint8_t) c);
                if (r < 0)
                        return r;
        }
        return 0;
}

int totp_uri(const char *name, const void *secret, size_t n, char **ret) {
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;
        _cleanup_free_ char *encoded = NULL;
        int r;

        assert(name);
        assert(secret || n == 0);
        assert(ret);

        encoded = malloc(TOTP_BASE32_LENGTH(n) + 1);
        if (!encoded)
                return -ENOMEM;
        totp_base32_encode(secret, n, encoded);

        r = strbuf_append_str(&b, "otpauth://totp/" TOTP_ISSUER ":");
        if (r < 0)
                return r;
        r = percent_encode(&b, name);
        if (r < 0)
                return r;
        r = strbuf_printf(&b, "?secret=%s&issuer=" TOTP_ISSUER, encoded);
        explicit_bzero_safe(encoded, strlen(encoded));
        if (r < 0) {
                explicit_bzero_safe(b.data, b.len);
                return r;
        }

        *ret = strbuf_steal(&b, NULL);
        return 0;
}

int totp_hotp(const void *key, size_t n, uint64_t counter, unsigned digits, uint32_t *ret) {
        uint8_t message[8], md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0, offset;
        uint32_t modulus = 1, binary;

        assert(key || n == 0);
        assert(ret);

        if (digits < 1 || digits > 9 || n == 0 || n > INT_MAX)
                return -EINVAL;
        for (unsigned i = 0; i < digits; i++)
                modulus *= 10;

        for (unsigned i = 0; i < 8; i++)
                message[i] = (uint8_t) (counter >> (56 - 8 * i));
        if (!HMAC(EVP_sha1(), key, (int) n, message, sizeof(message), md, &md_len) || md_len != 20)
                return -EIO;

        /* RFC 4226 §5.3: dynamic truncation. */
        offset = md[19] & 0xf;
        binary = ((uint32_t) (md[offset] & 0x7f) << 24) | ((uint32_t) md[offset + 1] << 16) |
                 ((uint32_t) md[offset + 2] << 8) | (uint32_t) md[offset + 3];
        explicit_bzero_safe(md, sizeof(md));

        *ret = binary % modulus;
        return 0;
}

int totp_generate(const void *secret, size_t n, uint64_t now_usec, unsigned digits, uint32_t *ret) {
        return totp_hotp(secret, n, now_usec / TOTP_STEP_USEC, digits, ret);
}

static void format_code(uint32_t v, char ret[static TOTP_DIGITS + 1]) {
        (void) snprintf(ret, TOTP_DIGITS + 1, "%0*" PRIu32, (int) TOTP_DIGITS, v);
}

int totp_code(const void *secret, size_t n, uint64_t now_usec, char ret[static TOTP_DIGITS + 1]) {
        uint32_t v;
        int r;

        r = totp_generate(secret, n, now_usec, TOTP_DIGITS, &v);
        if (r < 0)
                return r;
        format_code(v, ret);
        return 0;
}

int totp_check(const void *secret, size_t n, const char *code, size_t code_len, uint64_t now_usec,
               uint64_t *ret_counter) {
        uint64_t step = now_usec / TOTP_STEP_USEC, matched = 0;
        bool well_formed = code_len == TOTP_DIGITS, found = false;
        char given[TOTP_DIGITS + 1] = {};

        assert(secret || n == 0);
        assert(code || code_len == 0);

        for (size_t i = 0; well_formed && i < code_len; i++)
                well_formed = code[i] >= '0' && code[i] <= '9';
        if (!well_formed)
                return -EACCES;
        memcpy(given, code, TOTP_DIGITS);

        /* Every candidate is computed and compared, whichever matches, so that the time taken says
         * nothing about which step (if any) it was. */
        for (uint64_t counter = step > 0 ? step - 1 : 0; counter <= step + 1; counter++) {
                char expected[TOTP_DIGITS + 1];
                uint32_t v;
                int r;

                r = totp_hotp(secret, n, counter, TOTP_DIGITS, &v);
                if (r < 0)
                        return r;
                format_code(v, expected);
                if (CRYPTO_memcmp(expected, given, TOTP_DIGITS) == 0) {
                        /* The latest step wins: the replay guard then refuses every earlier one. */
                        matched = counter;
                        found = true;
                }
                explicit_bzero_safe(expected, sizeof(expected));
        }
        explicit_bzero_safe(given, sizeof(given));

        if (!found)
                return -EACCES;
        if (ret_counter)
                *ret_counter = matched;
        return 0;
}
