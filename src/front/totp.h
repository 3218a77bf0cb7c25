/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * front/totp.h — time-based one-time passwords for two-factor login: RFC 6238 TOTP over RFC 4226 HOTP
 * (HMAC-SHA1 from OpenSSL, 30-second steps, 6 digits, as every authenticator app expects), the RFC 4648
 * base32 that such apps read secrets in, and the otpauth:// URI that their QR codes carry.
 *
 * Owns nothing: pure functions over bytes and the time passed in. Does not store secrets or remember
 * which codes were used: the replay guard is the store's (store_user_use_totp_counter() with the counter
 * that totp_check() returns). Never logs.
 */

#include <stddef.h>
#include <stdint.h>

#include "basic/macro.h"

#define TOTP_SECRET_SIZE 20u /* 160 bits, RFC 4226's recommendation */
#define TOTP_STEP_USEC (UINT64_C(30) * UINT64_C(1000000))
#define TOTP_DIGITS 6u
#define TOTP_ISSUER "granary"

/* RFC 4648 base32 without padding: characters for n bytes (not counting the NUL). */
#define TOTP_BASE32_LENGTH(n) (((n) * 8 + 4) / 5)
#define TOTP_SECRET_BASE32_LENGTH TOTP_BASE32_LENGTH(TOTP_SECRET_SIZE) /* 32 */

/* 20 random bytes. random_init() must have succeeded. */
void totp_secret_new(uint8_t ret[static TOTP_SECRET_SIZE]);

/* RFC 4648 base32 (A–Z, 2–7), upper case, without '=' padding, as authenticator apps want it:
 * TOTP_BASE32_LENGTH(n) characters and a NUL into out. Returns out. */
char *totp_base32_encode(const void *p, size_t n, char *out);
/* Decodes s[0..len) into exactly n bytes. Accepts either case and trailing '=' padding; -EINVAL for any
 * other character, a length that does not give n bytes, or non-zero leftover bits. */
int totp_base32_decode(const char *s, size_t len, void *out, size_t n);

/* "otpauth://totp/granary:NAME?secret=BASE32&issuer=granary" with NAME percent-encoded (all but RFC 3986
 * unreserved characters), into *ret (malloc'd). -ENOMEM. */
int totp_uri(const char *name, const void *secret, size_t n, char **ret);

/* RFC 4226 HOTP: HMAC-SHA1(key, counter as 8 big-endian bytes), dynamically truncated, modulo
 * 10^digits (1 ≤ digits ≤ 9). -EINVAL for other digits, -EIO if OpenSSL fails. */
int totp_hotp(const void *key, size_t n, uint64_t counter, unsigned digits, uint32_t *ret);
/* RFC 6238: HOTP of the step that now_usec (CLOCK_REALTIME) falls in, with `digits` digits. */
int totp_generate(const void *secret, size_t n, uint64_t now_usec, unsigned digits, uint32_t *ret);
/* The TOTP_DIGITS-digit code for now_usec, zero-padded, as an app shows it. */
int totp_code(const void *secret, size_t n, uint64_t now_usec, char ret[static TOTP_DIGITS + 1]);

/* Checks a code typed by a person against the steps before, at and after now_usec (so that a clock off
 * by up to 30 s, or a code typed at the end of its step, still counts), comparing in constant time.
 * 0 with *ret_counter set to the step it matched (for the replay guard), -EACCES if it matches none or
 * is not exactly TOTP_DIGITS ASCII digits. */
int totp_check(const void *secret, size_t n, const char *code, size_t code_len, uint64_t now_usec,
               uint64_t *ret_counter);
