/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "basic/hex.h"
#include "spk/replacements.h"

/* The shipped table as the spec gives it, in text (spec §1.6). */
static const struct {
        const char *original, *replacement;
} shipped[] = {
        {"vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0",
                "wq95qmutckc0yfmecv0ky96cqxgp156up8sv81yxvmery58q87jh"},
        {"vxe8awcxvtj6yu0vgjpm1tsaeu7x8v8tfp71tyvnm6ykkephu9q0",
                "n8cn71407n4mezn7mg0k5kkm21juuphhecc24hdf9kf56zyxm4ah"},
        {"nfqhx83vvzm80edpgkpax8mhqp176qj2vwg67rgq5e3kjc5r4cyh",
                "a3w50h1435gsxczugm16q0amwkqm9f4crykzea53sv61pt7phk8h"},
        {"m86q05rdvj14yvn78ghaxynqz7u2svw6rnttptxx49g1785cdv1h",
                "6jz1aawur7kga7tdsj9kgpxx1yzh6xz1qmrpnqukcp1rekprd9f0"},
        {"aax9j672p6z8n7nyupzvj2nmumeqd4upa0f7mgu8gprwmy53x04h",
                "zp00qqrha6gp8515ju84ys91syyq8ezv77g9s1r0t3urz92uzmqh"},
};

static void id(const char *text, uint8_t ret[32]) {
        assert_int_equal(app_id_from_string(text, strlen(text), ret), 0);
}

static const char *text_of(const uint8_t key[32], char buf[APP_ID_TEXT_SIZE + 1]) {
        return app_id_to_string(key, buf);
}

static void test_shipped_table(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(shipped); i++) {
                uint8_t orig[32], repl[32], out[32];
                char buf[APP_ID_TEXT_SIZE + 1];

                id(shipped[i].original, orig);
                id(shipped[i].replacement, repl);

                /* Packing for the original app signs with the replacement key … */
                spk_appid_signing_key(orig, out);
                assert_string_equal(text_of(out, buf), shipped[i].replacement);
                /* … and the replacement key's packages belong to the original app. */
                assert_int_equal(spk_appid_canonicalize(repl, "00000000000000000000000000000000", out), 0);
                assert_string_equal(text_of(out, buf), shipped[i].original);
                /* A replacement is not itself replaced. */
                spk_appid_signing_key(repl, out);
                assert_memory_equal(out, repl, 32);
        }
}

static void test_revocation(void **state) {
        uint8_t key[32], out[32];
        char buf[APP_ID_TEXT_SIZE + 1];

        /* The example key is revoked except for one package … */
        id("vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0", key);
        memset(out, 0xaa, sizeof(out));
        assert_int_equal(spk_appid_canonicalize(key, "0123456789abcdef0123456789abcdef", out), -EKEYREVOKED);
        assert_true(out[0] == 0xaa && out[31] == 0xaa); /* untouched on failure */
        assert_int_equal(spk_appid_canonicalize(key, "b5bb9d8014a0f9b1d61e21e796d78dcc", out), 0);
        assert_memory_equal(out, key, 32);
        assert_int_equal(spk_appid_canonicalize(key, "B5BB9D8014A0F9B1D61E21E796D78DCC", out), 0);
        {
                static const char shorter[33] = "b5bb9d8014a0f9b1d61e21e796d78dc";
                assert_int_equal(spk_appid_canonicalize(key, shorter, out), -EKEYREVOKED);
        }

        /* draw.io: two exceptions. */
        id("nfqhx83vvzm80edpgkpax8mhqp176qj2vwg67rgq5e3kjc5r4cyh", key);
        assert_int_equal(spk_appid_canonicalize(key, "1450e0caa29b59ec938b3795bf17cb02", out), 0);
        assert_string_equal(text_of(out, buf), "nfqhx83vvzm80edpgkpax8mhqp176qj2vwg67rgq5e3kjc5r4cyh");
        assert_int_equal(spk_appid_canonicalize(key, "738f0e56a9ca462e77245e3f392686d7", out), 0);
        assert_int_equal(spk_appid_canonicalize(key, "738f0e56a9ca462e77245e3f392686d8", out), -EKEYREVOKED);

        /* Paperwork, Wekan, WordPress: replaced but not revoked. */
        id("vxe8awcxvtj6yu0vgjpm1tsaeu7x8v8tfp71tyvnm6ykkephu9q0", key);
        assert_int_equal(spk_appid_canonicalize(key, "0123456789abcdef0123456789abcdef", out), 0);
        assert_memory_equal(out, key, 32);

        /* The replacement of a revoked key is not revoked. */
        id("a3w50h1435gsxczugm16q0amwkqm9f4crykzea53sv61pt7phk8h", key);
        assert_int_equal(spk_appid_canonicalize(key, "0123456789abcdef0123456789abcdef", out), 0);
        assert_string_equal(text_of(out, buf), "nfqhx83vvzm80edpgkpax8mhqp176qj2vwg67rgq5e3kjc5r4cyh");
}

static void test_unrelated(void **state) {
        uint8_t key[32], out[32];

        memset(key, 0x11, sizeof(key));
        spk_appid_signing_key(key, out);
        assert_memory_equal(out, key, 32);
        assert_int_equal(spk_appid_canonicalize(key, "0123456789abcdef0123456789abcdef", out), 0);
        assert_memory_equal(out, key, 32);

        /* In place. */
        spk_appid_signing_key(key, key);
        assert_int_equal(spk_appid_canonicalize(key, "0123456789abcdef0123456789abcdef", key), 0);
        assert_int_equal(key[0], 0x11);
}

static void test_chains(void **state) {
        static const char *const except[] = { "ffffffffffffffffffffffffffffffff", NULL };
        SpkAppIdReplacement table[3];
        uint8_t out[32];

        /* A → B → C, A revoked except one package. */
        memset(table, 0, sizeof(table));
        memset(table[0].original, 'A', 32);
        memset(table[0].replacement, 'B', 32);
        table[0].revoke_except = except;
        memset(table[1].original, 'B', 32);
        memset(table[1].replacement, 'C', 32);

        spk_appid_signing_key_table(table, 2, table[0].original, out);
        assert_int_equal(out[0], 'C');
        spk_appid_signing_key_table(table, 2, table[1].original, out);
        assert_int_equal(out[0], 'C');

        assert_int_equal(spk_appid_canonicalize_table(table, 2, table[1].replacement,
                                                      "00000000000000000000000000000000", out), 0);
        assert_int_equal(out[0], 'A');
        assert_int_equal(spk_appid_canonicalize_table(table, 2, table[0].replacement,
                                                      "00000000000000000000000000000000", out), 0);
        assert_int_equal(out[0], 'A');
        assert_int_equal(spk_appid_canonicalize_table(
                                 table, 2, table[0].original, "00000000000000000000000000000000", out),
                -EKEYREVOKED);
        assert_int_equal(spk_appid_canonicalize_table(table, 2, table[0].original,
                                                      "ffffffffffffffffffffffffffffffff", out), 0);
        assert_int_equal(out[0], 'A');

        /* A cycle (not in any real table) still ends. */
        memset(table[2].original, 'C', 32);
        memset(table[2].replacement, 'A', 32);
        table[0].revoke_except = NULL;
        spk_appid_signing_key_table(table, 3, table[0].original, out);
        assert_true(out[0] == 'A' || out[0] == 'B' || out[0] == 'C');
        assert_int_equal(spk_appid_canonicalize_table(table, 3, table[0].original,
                                                      "00000000000000000000000000000000", out), 0);
        assert_true(out[0] == 'A' || out[0] == 'B' || out[0] == 'C');
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_shipped_table),
                cmocka_unit_test(test_revocation),
                cmocka_unit_test(test_unrelated),
                cmocka_unit_test(test_chains),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
