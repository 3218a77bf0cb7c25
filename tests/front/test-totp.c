/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* TOTP against the RFCs' own vectors, the ±1 step window, base32 and the otpauth:// URI. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "basic/random-util.h"
#include "front/totp.h"

#define SEC(n) ((uint64_t) (n) * UINT64_C(1000000))

/* RFC 4226 appendix D and RFC 6238 appendix B: the SHA-1 seed. */
static const char seed[] = "12345678901234567890";

static void test_hotp_rfc4226(void **state) {
        static const uint32_t expected[] = {
                755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        };
        uint32_t v;

        for (uint64_t c = 0; c < ELEMENTSOF(expected); c++) {
                assert_int_equal(totp_hotp(seed, 20, c, 6, &v), 0);
                assert_int_equal(v, expected[c]);
        }
        assert_int_equal(totp_hotp(seed, 20, 0, 0, &v), -EINVAL);
        assert_int_equal(totp_hotp(seed, 20, 0, 10, &v), -EINVAL);
        assert_int_equal(totp_hotp(seed, 0, 0, 6, &v), -EINVAL);
}

static void test_totp_rfc6238(void **state) {
        static const struct {
                uint64_t t;
                uint32_t code8;
        } vectors[] = {
                { 59, 94287082 },         { 1111111109, 7081804 },  { 1111111111, 14050471 },
                { 1234567890, 89005924 }, { 2000000000, 69279037 }, { 20000000000, 65353130 },
        };

        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                char code[TOTP_DIGITS + 1], six[TOTP_DIGITS + 1];
                uint32_t v;

                /* The appendix's 8-digit codes... */
                assert_int_equal(totp_generate(seed, 20, SEC(vectors[i].t), 8, &v), 0);
                assert_int_equal(v, vectors[i].code8);
                /* ...and the 6 digits an authenticator app shows: the same number modulo 10^6, zero-padded. */
                assert_int_equal(totp_code(seed, 20, SEC(vectors[i].t), code), 0);
                (void) snprintf(six, sizeof(six), "%06u", (unsigned) (vectors[i].code8 % 1000000));
                assert_string_equal(code, six);
        }

        /* A step is 30 s: the code changes at multiples of 30 and not in between. */
        {
                char a[TOTP_DIGITS + 1], b[TOTP_DIGITS + 1], c[TOTP_DIGITS + 1];

                assert_int_equal(totp_code(seed, 20, SEC(60), a), 0);
                assert_int_equal(totp_code(seed, 20, SEC(89) + 999999, b), 0);
                assert_int_equal(totp_code(seed, 20, SEC(90), c), 0);
                assert_string_equal(a, b);
                assert_string_equal(a, "359152"); /* HOTP counter 2 */
                assert_string_equal(c, "969429"); /* HOTP counter 3 */
        }
}

static void test_check_window(void **state) {
        const uint64_t t = SEC(1111111109); /* step 37037036 */
        uint64_t counter = 0;

        /* "081804": the leading zero counts. */
        assert_int_equal(totp_check(seed, 20, "081804", 6, t, &counter), 0);
        assert_int_equal(counter, 37037036);
        /* One step late or early is still accepted, and says which step it was. */
        counter = 0;
        assert_int_equal(totp_check(seed, 20, "081804", 6, t + SEC(30), &counter), 0);
        assert_int_equal(counter, 37037036);
        counter = 0;
        assert_int_equal(totp_check(seed, 20, "081804", 6, t - SEC(30), &counter), 0);
        assert_int_equal(counter, 37037036);
        /* Two steps away is not. */
        counter = 0;
        assert_int_equal(totp_check(seed, 20, "081804", 6, t + SEC(60), &counter), -EACCES);
        assert_int_equal(totp_check(seed, 20, "081804", 6, t - SEC(60), &counter), -EACCES);
        assert_int_equal(counter, 0);

        /* Wrong codes, and anything that is not exactly six digits. */
        assert_int_equal(totp_check(seed, 20, "081805", 6, t, &counter), -EACCES);
        assert_int_equal(totp_check(seed, 20, "81804", 5, t, &counter), -EACCES);
        assert_int_equal(totp_check(seed, 20, "0818040", 7, t, &counter), -EACCES);
        assert_int_equal(totp_check(seed, 20, "08180a", 6, t, &counter), -EACCES);
        assert_int_equal(totp_check(seed, 20, " 81804", 6, t, &counter), -EACCES);
        assert_int_equal(totp_check(seed, 20, "081804", 0, t, &counter), -EACCES);
        /* The length is what counts, not a NUL. */
        assert_int_equal(totp_check(seed, 20, "0818049", 6, t, &counter), 0);
        assert_int_equal(counter, 37037036);

        /* At the epoch there is no step before the first. */
        assert_int_equal(totp_check(seed, 20, "755224", 6, SEC(0), &counter), 0);
        assert_int_equal(counter, 0);
        assert_int_equal(totp_check(seed, 20, "287082", 6, SEC(0), &counter), 0);
        assert_int_equal(counter, 1);
}

static void test_base32(void **state) {
        /* RFC 4648 §10, without the padding. */
        static const struct {
                const char *plain, *encoded, *padded;
        } vectors[] = {
                { "", "", "" },
                { "f", "MY", "MY======" },
                { "fo", "MZXQ", "MZXQ====" },
                { "foo", "MZXW6", "MZXW6===" },
                { "foob", "MZXW6YQ", "MZXW6YQ=" },
                { "fooba", "MZXW6YTB", "MZXW6YTB" },
                { "foobar", "MZXW6YTBOI", "MZXW6YTBOI======" },
        };
        char out[64];
        uint8_t back[16];

        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                size_t n = strlen(vectors[i].plain);

                assert_string_equal(totp_base32_encode(vectors[i].plain, n, out), vectors[i].encoded);
                assert_int_equal(strlen(out), TOTP_BASE32_LENGTH(n));
                memset(back, 0, sizeof(back));
                assert_int_equal(totp_base32_decode(vectors[i].encoded, strlen(vectors[i].encoded), back, n), 0);
                assert_memory_equal(back, vectors[i].plain, n);
                assert_int_equal(totp_base32_decode(vectors[i].padded, strlen(vectors[i].padded), back, n), 0);
                assert_memory_equal(back, vectors[i].plain, n);
        }

        /* Lower case is what people type. */
        assert_int_equal(totp_base32_decode("mzxw6ytboi", 10, back, 6), 0);
        assert_memory_equal(back, "foobar", 6);
        /* Not base32, the wrong length, or leftover bits that are not zero. */
        assert_int_equal(totp_base32_decode("MZXW6YTBO1", 10, back, 6), -EINVAL);
        assert_int_equal(totp_base32_decode("MZXW6YTB0I", 10, back, 6), -EINVAL);
        assert_int_equal(totp_base32_decode("MZXW6YTBOI", 10, back, 5), -EINVAL);
        assert_int_equal(totp_base32_decode("MZXW6YTBOIA", 11, back, 6), -EINVAL);
        assert_int_equal(totp_base32_decode("MZ", 2, back, 1), -EINVAL);
        assert_int_equal(totp_base32_decode("MZXW 6YTBOI", 11, back, 6), -EINVAL);

        /* A secret: 20 bytes, 32 characters. */
        assert_int_equal(TOTP_SECRET_BASE32_LENGTH, 32);
        assert_string_equal(totp_base32_encode(seed, 20, out), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
}

static void test_secret_and_uri(void **state) {
        uint8_t a[TOTP_SECRET_SIZE], b[TOTP_SECRET_SIZE];
        char *uri = NULL;

        totp_secret_new(a);
        totp_secret_new(b);
        assert_memory_not_equal(a, b, TOTP_SECRET_SIZE);

        assert_int_equal(totp_uri("alice", seed, 20, &uri), 0);
        assert_string_equal(uri, "otpauth://totp/granary:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
                                 "&issuer=granary");
        free(uri);

        /* Everything but RFC 3986's unreserved characters is percent-encoded, byte by byte. */
        assert_int_equal(totp_uri("a.b_c-d~e f:g/h?i&j%k\xc3\xa9", "\x01", 1, &uri), 0);
        assert_string_equal(uri, "otpauth://totp/granary:a.b_c-d~e%20f%3Ag%2Fh%3Fi%26j%25k%C3%A9?secret=AE"
                                 "&issuer=granary");
        free(uri);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hotp_rfc4226),
                cmocka_unit_test(test_totp_rfc6238),
                cmocka_unit_test(test_check_window),
                cmocka_unit_test(test_base32),
                cmocka_unit_test(test_secret_and_uri),
        };

        if (random_init() < 0)
                return EXIT_FAILURE;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
