/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "basic/macro.h"
#include "basic/random-util.h"

static int setup(void **state) {
        return random_init() == 0 ? 0 : -1;
}

static void test_random_init_twice(void **state) {
        assert_int_equal(random_init(), 0);
        assert_int_equal(random_init(), 0);
}

static bool all_zero(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p[i])
                        return false;
        return true;
}

static void test_random_bytes(void **state) {
        uint8_t a[66], b[66];

        /* Exactly n bytes are written: the guards stay. */
        memset(a, 0, sizeof(a));
        memset(b, 0, sizeof(b));
        a[0] = a[65] = 0xee;
        random_bytes(a + 1, 64);
        random_bytes(b + 1, 64);
        assert_int_equal(a[0], 0xee);
        assert_int_equal(a[65], 0xee);
        /* 2^-512 chances of a false failure. */
        assert_false(all_zero(a + 1, 64));
        assert_memory_not_equal(a + 1, b + 1, 64);

        random_bytes(NULL, 0);
}

static void test_random_u64(void **state) {
        uint64_t x = random_u64(), y = random_u64(), z = random_u64();

        /* Three equal 64-bit draws would be a broken generator. */
        assert_false(x == y && y == z);
}

static void test_random_string_shape(void **state) {
        char s[32];

        memset(s, '#', sizeof(s));
        random_string(ID_ALPHABET_UNMISTAKABLE, 22, s);
        assert_int_equal(strlen(s), 22);
        assert_int_equal(strspn(s, ID_ALPHABET_UNMISTAKABLE), 22);
        assert_int_equal(s[23], '#'); /* nothing beyond out[n] */

        random_string(ID_ALPHABET_LOWER_ALNUM, 20, s);
        assert_int_equal(strspn(s, ID_ALPHABET_LOWER_ALNUM), 20);
        assert_int_equal(s[20], '\0');

        random_string(ID_ALPHABET_BASE64URL, 31, s);
        assert_int_equal(strspn(s, ID_ALPHABET_BASE64URL), 31);
        assert_int_equal(s[31], '\0');

        random_string("q", 5, s);
        assert_string_equal(s, "qqqqq");

        random_string("ab", 0, s);
        assert_string_equal(s, "");

        /* The alphabets are what the spec says (§11: grain ids use Meteor's 55 characters). */
        assert_int_equal(strlen(ID_ALPHABET_UNMISTAKABLE), 55);
        assert_int_equal(strlen(ID_ALPHABET_BASE64URL), 64);
        assert_int_equal(strlen(ID_ALPHABET_LOWER_ALNUM), 36);
}

static void test_random_string_uniform(void **state) {
        enum { PER_CHAR = 2000, N = 55 * PER_CHAR };
        _cleanup_free_ char *s = malloc(N + 1);
        unsigned counts[256] = {};

        /* With 55 characters a modulo-based mapping from bytes would favour the first 36 (256 % 55 = 36)
         * by 1/4; each count must stay within 9 standard deviations (about 44) of 2000. */
        assert_non_null(s);
        random_string(ID_ALPHABET_UNMISTAKABLE, N, s);
        for (size_t i = 0; i < N; i++)
                counts[(unsigned char) s[i]]++;
        for (const char *c = ID_ALPHABET_UNMISTAKABLE; *c; c++) {
                assert_in_range(counts[(unsigned char) *c], PER_CHAR - 400, PER_CHAR + 400);
                counts[(unsigned char) *c] = 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(counts); i++)
                assert_int_equal(counts[i], 0);
}

static void test_random_ids_differ(void **state) {
        char a[23], b[23];

        random_string(ID_ALPHABET_UNMISTAKABLE, 22, a);
        random_string(ID_ALPHABET_UNMISTAKABLE, 22, b);
        assert_string_not_equal(a, b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_random_init_twice),
                cmocka_unit_test(test_random_bytes),
                cmocka_unit_test(test_random_u64),
                cmocka_unit_test(test_random_string_shape),
                cmocka_unit_test(test_random_string_uniform),
                cmocka_unit_test(test_random_ids_differ),
        };

        return cmocka_run_group_tests(tests, setup, NULL);
}
