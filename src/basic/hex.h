/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * basic/hex.h — lowercase hexadecimal and Sandstorm's base32 (spec §1.3).
 *
 * Sandstorm's base32 is not RFC 4648: the alphabet is 0123456789acdefghjkmnpqrstuvwxyz, bits are
 * taken most significant first, there is no padding, and the decoder accepts upper case and the
 * aliases o→0, i/l→1, b→8 and rejects non-zero leftover bits. Never logs.
 */

#include <stddef.h>
#include <stdint.h>

#include "basic/macro.h"

/* Writes 2*n lowercase hex digits and a NUL into out (which holds 2*n+1 bytes). */
char *hex_encode(const void *p, size_t n, char *out);
/* Decodes exactly 2*n hex digits (either case) from s[0..len) into out. -EINVAL on a bad digit or
 * a length other than 2*n. */
int hex_decode(const char *s, size_t len, void *out, size_t n);
/* The value of one hex digit (either case), or -EINVAL. */
int hex_digit_value(char c) _const_;

#define BASE32_ENCODED_SIZE(n) (((n) * 8 + 4) / 5)
/* Encodes n bytes into BASE32_ENCODED_SIZE(n) characters plus a NUL. */
char *base32_encode(const void *p, size_t n, char *out);
/* Decodes s[0..len) into exactly n bytes: the decoded length (len*5/8) must equal n and leftover
 * bits must be zero, else -EINVAL. */
int base32_decode(const char *s, size_t len, void *out, size_t n);

/* App ids: base32 of a 32-byte Ed25519 public key, 52 characters. */
#define APP_ID_SIZE 32
#define APP_ID_TEXT_SIZE 52
/* Package ids: the first 16 bytes of a SHA-256, as 32 lowercase hex characters. */
#define PACKAGE_ID_SIZE 16
#define PACKAGE_ID_TEXT_SIZE 32
int app_id_from_string(const char *s, size_t len, uint8_t ret[APP_ID_SIZE]);
char *app_id_to_string(const uint8_t id[APP_ID_SIZE], char out[APP_ID_TEXT_SIZE + 1]);
