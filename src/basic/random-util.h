/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * basic/random-util.h — randomness and random identifiers, from libsodium's CSPRNG.
 * Never logs. random_init() must succeed before anything else here is used.
 */

#include <stddef.h>
#include <stdint.h>

int random_init(void);
void random_bytes(void *p, size_t n);
uint64_t random_u64(void);
/* A uniformly random string of n characters from alphabet (no modulo bias), NUL-terminated in
 * out[n]. */
void random_string(const char *alphabet, size_t n, char *out);

/* Meteor's "unmistakable" alphabet, used for grain ids (spec §11). */
#define ID_ALPHABET_UNMISTAKABLE "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"
#define ID_ALPHABET_BASE64URL "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#define ID_ALPHABET_LOWER_ALNUM "abcdefghijklmnopqrstuvwxyz0123456789"
