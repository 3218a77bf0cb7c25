/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * spk/replacements.h — Sandstorm's app-id replacement and revocation table (spec §1.6), compiled in.
 *
 * Some apps changed signing key: a *replacement* key signs new packages, and packages it signs count
 * as the *original* app id everywhere (install, VerifiedInfo, index). A compromised original key can
 * be revoked except for a list of known-good package ids. Pure functions, no state, never logs.
 */

#include <stddef.h>
#include <stdint.h>

#include "basic/macro.h"

/* Follows original→replacement repeatedly: the key that must sign packages for app_id (spec §1.6
 * item 4). ret may alias app_id. */
void spk_appid_signing_key(const uint8_t app_id[32], uint8_t ret[32]);

/* After signature verification: applies revocation, then replacement→original repeatedly (spec §1.6
 * items 1-3), giving the canonical app id. -EKEYREVOKED when the signer's key is revoked and the
 * package id is not one of its exceptions ("package is signed with an app key that has been
 * revoked"). package_id_text is 32 hex characters (either case) plus a NUL. ret may alias signer. */
int spk_appid_canonicalize(const uint8_t signer[32], const char package_id_text[33], uint8_t ret[32]);

/* One row of a replacement table. revoke_except: NULL when the original key is not revoked, else a
 * NULL-terminated list of lowercase package ids still accepted from it. */
typedef struct SpkAppIdReplacement {
        uint8_t original[32];
        uint8_t replacement[32];
        const char *const *revoke_except;
} SpkAppIdReplacement;

/* The same over another table than the compiled-in one (tests use it for chains and cycles). */
void spk_appid_signing_key_table(const SpkAppIdReplacement *table, size_t n, const uint8_t app_id[32],
                                 uint8_t ret[32]);
int spk_appid_canonicalize_table(const SpkAppIdReplacement *table, size_t n, const uint8_t signer[32],
                                 const char package_id_text[33], uint8_t ret[32]);

#define SPK_APPID_REVOKED_MESSAGE "package is signed with an app key that has been revoked"
