/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * spk/keyring.h — Sandstorm keyrings (~/.sandstorm-keyring, spec §2): loading, looking keys up,
 * generating keys and appending them.
 *
 * A keyring is a concatenation of single-segment, unpacked KeyFile messages (0 data words, 2 ptrs:
 * publicKey 32 bytes, privateKey 64 bytes = libsodium seed ‖ public key). Owns the loaded keys; the
 * secret halves are wiped by spk_keyring_done(). Never logs.
 */

#include <stddef.h>
#include <stdint.h>

#include "basic/macro.h"

/* A keyring is read whole into memory; a real one holds a few keys of 136 bytes each. */
#define SPK_KEYRING_MAX_BYTES (16u * 1024u * 1024u)

typedef struct SpkKey {
        uint8_t public_key[32];
        uint8_t secret_key[64];
} SpkKey;

typedef struct SpkKeyring {
        SpkKey *keys;
        size_t n_keys;
} SpkKeyring;

/* Loads every key of the keyring at path, in file order. -ENOENT if the file is missing; -EBADMSG
 * ("Invalid key in keyring.") if a message is malformed or a key has the wrong size; -EFBIG beyond
 * SPK_KEYRING_MAX_BYTES. An empty file is an empty keyring. */
int spk_keyring_load(const char *path, SpkKeyring *ret);
/* Parses keyring bytes already in memory; same errors as spk_keyring_load(). */
int spk_keyring_parse(const void *buf, size_t size, SpkKeyring *ret);
/* Wipes the secret keys and frees; leaves *k empty. Accepts NULL. */
void spk_keyring_done(SpkKeyring *k);
static inline void spk_keyring_donep(SpkKeyring *k) {
        spk_keyring_done(k);
}
#define _cleanup_spk_keyring_ _cleanup_(spk_keyring_donep)

/* The first key with this public key (the first occurrence wins, spec §2), or NULL. */
const SpkKey *spk_keyring_find(const SpkKeyring *k, const uint8_t public_key[32]);

/* A new Ed25519 key pair (libsodium crypto_sign_keypair). */
int spk_key_generate(SpkKey *ret);

/* The exact KeyFile message for key (spec §2 writer layout): 8-byte segment table, then 15 words. */
#define SPK_KEYFILE_MESSAGE_SIZE 128u
void spk_key_to_message(const SpkKey *key, uint8_t ret[SPK_KEYFILE_MESSAGE_SIZE]);

/* Appends key as one KeyFile message, opening path O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC, mode 0600. */
int spk_keyring_append(const char *path, const SpkKey *key);
