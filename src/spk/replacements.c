/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <string.h>
#include <strings.h>

#include "spk/replacements.h"

/*
 * Sandstorm's shipped table (spec §1.6), as raw key bytes. The text form of each id is in the comment
 * beside it; tests/spk/test-spk-replacements.c checks that they agree.
 */
static const char *const example_exceptions[] = { "b5bb9d8014a0f9b1d61e21e796d78dcc", NULL };
static const char *const drawio_exceptions[] = {
        "1450e0caa29b59ec938b3795bf17cb02",
        "738f0e56a9ca462e77245e3f392686d7",
        NULL,
};

static const SpkAppIdReplacement replacements[] = {
        {
                /* vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0 (example) */
                .original = { 0xdc, 0x76, 0xd9, 0x35, 0x70, 0x60, 0xd2, 0x87, 0x50, 0x39, 0x0c,
                              0xa8, 0x16, 0x3d, 0x94, 0x9a, 0x9b, 0x2b, 0x59, 0x31, 0x94, 0x76,
                              0x3f, 0xe1, 0xff, 0xf4, 0xd6, 0x4f, 0xa4, 0x23, 0xbb, 0x5c },
                /* wq95qmutckc0yfmecv0ky96cqxgp156up8sv81yxvmery58q87jh */
                .replacement = { 0xe5, 0x92, 0x5b, 0x4f, 0x59, 0x5c, 0x96, 0x0f, 0x3a, 0x6d, 0x5e,
                                 0xc1, 0x2f, 0x24, 0xcb, 0xb7, 0x5f, 0x50, 0x94, 0xda, 0xaa, 0x31,
                                 0xb4, 0x07, 0xdd, 0xdc, 0xdb, 0x7f, 0x15, 0x16, 0x41, 0xe3 },
                .revoke_except = example_exceptions,
        },
        {
                /* vxe8awcxvtj6yu0vgjpm1tsaeu7x8v8tfp71tyvnm6ykkephu9q0 (Paperwork) */
                .original = { 0xdf, 0x5a, 0x85, 0x71, 0x7d, 0xde, 0x62, 0x6f, 0x68, 0x1b, 0x7c,
                              0x6b, 0x30, 0xe7, 0x0a, 0x6e, 0x8f, 0xd4, 0x6d, 0x19, 0x75, 0x4e,
                              0x1c, 0xfb, 0x74, 0x99, 0xbd, 0x29, 0x36, 0xb0, 0xd2, 0x6c },
                /* n8cn71407n4mezn7mg0k5kkm21juuphhecc24hdf9kf56zyxm4ah */
                .replacement = { 0xa2, 0x17, 0x43, 0x84, 0x80, 0x3d, 0x09, 0x36, 0xfe, 0x87, 0x9b,
                                 0xc1, 0x22, 0xca, 0x53, 0x10, 0x63, 0xad, 0x56, 0x10, 0x6a, 0xd6,
                                 0x22, 0x41, 0x8e, 0x4c, 0x9c, 0x53, 0x7f, 0xdd, 0x99, 0x15 },
        },
        {
                /* nfqhx83vvzm80edpgkpax8mhqp176qj2vwg67rgq5e3kjc5r4cyh (draw.io) */
                .original = { 0xa3, 0xad, 0x0e, 0xa0, 0x7b, 0xdf, 0xe6, 0x80, 0x35, 0x95, 0x7c,
                              0xaa, 0xae, 0xa2, 0x70, 0xb5, 0x42, 0x73, 0x5a, 0x22, 0xdf, 0x1e,
                              0x63, 0xdd, 0xf6, 0x2b, 0x47, 0x28, 0xac, 0xb7, 0x22, 0xfd },
                /* a3w50h1435gsxczugm16q0amwkqm9f4crykzea53sv61pt7phk8h */
                .replacement = { 0x50, 0xf8, 0x50, 0x40, 0x24, 0x19, 0x5f, 0x8e, 0xaf, 0xfa, 0x7c,
                                 0xc2, 0x6b, 0x01, 0x53, 0xe4, 0xad, 0x34, 0xb8, 0x8b, 0xbf, 0xa5,
                                 0xf6, 0xa8, 0xa3, 0xc6, 0xcc, 0x1a, 0xe4, 0xf5, 0x84, 0x91 },
                .revoke_except = drawio_exceptions,
        },
        {
                /* m86q05rdvj14yvn78ghaxynqz7u2svw6rnttptxx49g1785cdv1h (Wekan) */
                .original = { 0x9a, 0x0d, 0x60, 0x16, 0xec, 0xdc, 0x42, 0x4f, 0x6e, 0x87, 0x43,
                              0xe0, 0xae, 0xfa, 0x96, 0xf9, 0xf4, 0x2c, 0x6f, 0x86, 0xbd, 0x33,
                              0x9a, 0xe7, 0xbd, 0x22, 0x5e, 0x13, 0xa0, 0xab, 0x66, 0xc3 },
                /* 6jz1aawur7kga7tdsj9kgpxx1yzh6xz1qmrpnqukcp1rekprd9f0 */
                .replacement = { 0x34, 0x7e, 0x15, 0x2b, 0x9a, 0xb9, 0xe4, 0xf5, 0x1f, 0x2c, 0xc4,
                                 0x53, 0x27, 0xd7, 0xbd, 0x0f, 0xbf, 0x03, 0x77, 0xe1, 0xb4, 0xef,
                                 0x5a, 0x5b, 0x52, 0x5d, 0x43, 0x76, 0xca, 0xb7, 0x62, 0x5c },
        },
        {
                /* aax9j672p6z8n7nyupzvj2nmumeqd4upa0f7mgu8gprwmy53x04h (WordPress) */
                .original = { 0x52, 0xba, 0x98, 0x98, 0xe2, 0xa9, 0xbe, 0x8a, 0x1e, 0x9e, 0xd5,
                              0x7f, 0xb8, 0x8a, 0x93, 0xd4, 0xdb, 0x66, 0x13, 0x55, 0x50, 0x1c,
                              0x79, 0xbf, 0x48, 0x7d, 0x6f, 0xc9, 0xf8, 0xa3, 0xe8, 0x09 },
                /* zp00qqrha6gp8515ju84ys91syyq8ezv77g9s1r0t3urz92uzmqh */
                .replacement = { 0xfd, 0x40, 0x0b, 0x5a, 0xf0, 0x51, 0x9f, 0x54, 0x14, 0x25, 0x8e,
                                 0x90, 0x4f, 0x61, 0x21, 0xc7, 0xbd, 0x64, 0x37, 0xfb, 0x39, 0xde,
                                 0x9c, 0x06, 0xe0, 0xc8, 0xf5, 0x7f, 0xa4, 0x5a, 0xfc, 0xed },
        },
};

void spk_appid_signing_key_table(const SpkAppIdReplacement *table, size_t n, const uint8_t app_id[32],
                                 uint8_t ret[32]) {
        uint8_t id[32];

        assert(table || n == 0);
        assert(app_id);
        assert(ret);

        memcpy(id, app_id, sizeof(id));
        /* Chains are allowed; a chain can be no longer than the table, which also stops a cycle. */
        for (size_t step = 0; step < n; step++) {
                bool found = false;

                for (size_t i = 0; i < n; i++)
                        if (memcmp(table[i].original, id, sizeof(id)) == 0) {
                                memcpy(id, table[i].replacement, sizeof(id));
                                found = true;
                                break;
                        }
                if (!found)
                        break;
        }
        memcpy(ret, id, sizeof(id));
}

static bool package_id_listed(const char *const *list, const char *package_id_text) {
        for (; *list; list++)
                if (strlen(package_id_text) == strlen(*list) && strcasecmp(*list, package_id_text) == 0)
                        return true;
        return false;
}

int spk_appid_canonicalize_table(const SpkAppIdReplacement *table, size_t n, const uint8_t signer[32],
                                 const char package_id_text[33], uint8_t ret[32]) {
        uint8_t id[32];

        assert(table || n == 0);
        assert(signer);
        assert(package_id_text);
        assert(ret);

        for (size_t i = 0; i < n; i++)
                if (table[i].revoke_except && memcmp(table[i].original, signer, 32) == 0 &&
                    !package_id_listed(table[i].revoke_except, package_id_text))
                        return -EKEYREVOKED;

        memcpy(id, signer, sizeof(id));
        for (size_t step = 0; step < n; step++) {
                bool found = false;

                for (size_t i = 0; i < n; i++)
                        if (memcmp(table[i].replacement, id, sizeof(id)) == 0) {
                                memcpy(id, table[i].original, sizeof(id));
                                found = true;
                                break;
                        }
                if (!found)
                        break;
        }
        memcpy(ret, id, sizeof(id));
        return 0;
}

void spk_appid_signing_key(const uint8_t app_id[32], uint8_t ret[32]) {
        spk_appid_signing_key_table(replacements, ELEMENTSOF(replacements), app_id, ret);
}

int spk_appid_canonicalize(const uint8_t signer[32], const char package_id_text[33], uint8_t ret[32]) {
        return spk_appid_canonicalize_table(
                replacements, ELEMENTSOF(replacements), signer, package_id_text, ret);
}
