/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "basic/hex.h"

static void test_hex_encode(void **state) {
        static const uint8_t in[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
        char out[2 * sizeof(in) + 1];

        memset(out, 'X', sizeof(out));
        assert_ptr_equal(hex_encode(in, sizeof(in), out), out);
        assert_string_equal(out, "00017f80abff");

        assert_string_equal(hex_encode(NULL, 0, out), "");
}

static void test_hex_decode(void **state) {
        uint8_t out[4];

        assert_int_equal(hex_decode("deadBEEF", 8, out, 4), 0);
        assert_memory_equal(out, ((uint8_t[]){ 0xde, 0xad, 0xbe, 0xef }), 4);

        assert_int_equal(hex_decode("", 0, out, 0), 0);
}

static void test_hex_decode_rejects(void **state) {
        uint8_t out[4] = { 1, 2, 3, 4 };

        /* Wrong lengths, in both directions and odd. */
        assert_int_equal(hex_decode("deadbe", 6, out, 4), -EINVAL);
        assert_int_equal(hex_decode("deadbeef00", 10, out, 4), -EINVAL);
        assert_int_equal(hex_decode("deadbee", 7, out, 4), -EINVAL);
        /* Bad digits, including at the very end, and a NUL inside the given length. */
        assert_int_equal(hex_decode("deadbeeg", 8, out, 4), -EINVAL);
        assert_int_equal(hex_decode("dead beef", 8, out, 4), -EINVAL);
        assert_int_equal(hex_decode("dea\0beef", 8, out, 4), -EINVAL);
        assert_int_equal(hex_decode("+1deadbe", 8, out, 4), -EINVAL);
        /* Nothing written on failure. */
        assert_memory_equal(out, ((uint8_t[]){ 1, 2, 3, 4 }), 4);
}

static void test_hex_decode_not_nul_terminated(void **state) {
        /* Only len bytes are read: the digits after them must not matter. */
        const char s[] = { '0', '1', 'z' };
        uint8_t out[1];

        assert_int_equal(hex_decode(s, 2, out, 1), 0);
        assert_int_equal(out[0], 0x01);
}

static void test_hex_roundtrip(void **state) {
        uint8_t in[256], back[256];
        char text[2 * sizeof(in) + 1];

        for (size_t i = 0; i < sizeof(in); i++)
                in[i] = (uint8_t) i;
        hex_encode(in, sizeof(in), text);
        assert_int_equal(strlen(text), 512);
        assert_int_equal(hex_decode(text, strlen(text), back, sizeof(back)), 0);
        assert_memory_equal(in, back, sizeof(in));
}

/* The vectors of spec §1.3. */
#define ID_ZERO "0000000000000000000000000000000000000000000000000000"
#define ID_COUNT "000h40s40n30f209185hs38f1w8124hm2hajd5ss34e1q70x3sgh"
#define ID_FF "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzh"
#define ID_DC76 "vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0"
#define ID_MIXED "WQ95QMUTCKCOYFMECV0KY96CQXGPi56UP8SV8LYXVMERY5bQB7JH"
#define ID_MIXED_CANONICAL "wq95qmutckc0yfmecv0ky96cqxgp156up8sv81yxvmery58q87jh"
#define ALPHABET "0123456789acdefghjkmnpqrstuvwxyz"

static const uint8_t key_dc76[32] = {
        0xdc, 0x76, 0xd9, 0x35, 0x70, 0x60, 0xd2, 0x87, 0x50, 0x39, 0x0c, 0xa8, 0x16, 0x3d, 0x94, 0x9a,
        0x9b, 0x2b, 0x59, 0x31, 0x94, 0x76, 0x3f, 0xe1, 0xff, 0xf4, 0xd6, 0x4f, 0xa4, 0x23, 0xbb, 0x5c,
};

static void test_base32_spec_vectors(void **state) {
        uint8_t in[32], out[32];
        char text[APP_ID_TEXT_SIZE + 1];

        assert_int_equal(BASE32_ENCODED_SIZE(32), 52);

        memset(in, 0, sizeof(in));
        assert_ptr_equal(base32_encode(in, 32, text), text);
        assert_string_equal(text, ID_ZERO);
        assert_int_equal(base32_decode(text, 52, out, 32), 0);
        assert_memory_equal(out, in, 32);

        for (size_t i = 0; i < 32; i++)
                in[i] = (uint8_t) i;
        assert_string_equal(base32_encode(in, 32, text), ID_COUNT);
        assert_int_equal(base32_decode(text, 52, out, 32), 0);
        assert_memory_equal(out, in, 32);

        memset(in, 0xff, sizeof(in));
        assert_string_equal(base32_encode(in, 32, text), ID_FF);
        assert_int_equal(base32_decode(text, 52, out, 32), 0);
        assert_memory_equal(out, in, 32);

        assert_string_equal(base32_encode(key_dc76, 32, text), ID_DC76);
        assert_int_equal(base32_decode(ID_DC76, 52, out, 32), 0);
        assert_memory_equal(out, key_dc76, 32);
}

static void test_base32_aliases_and_case(void **state) {
        uint8_t a[32], b[32];

        /* Upper case plus O, i, L and b read as 0, 1, 1 and 8 (spec §1.3). */
        assert_int_equal(base32_decode(ID_MIXED, 52, a, 32), 0);
        assert_int_equal(base32_decode(ID_MIXED_CANONICAL, 52, b, 32), 0);
        assert_memory_equal(a, b, 32);

        /* Each alias on its own, in both cases. */
        assert_int_equal(base32_decode("o0", 2, a, 1), 0);
        assert_int_equal(a[0], 0x00);
        assert_int_equal(base32_decode("O0", 2, a, 1), 0);
        assert_int_equal(a[0], 0x00);
        assert_int_equal(base32_decode("i0", 2, a, 1), 0);
        assert_int_equal(a[0], 0x08); /* 00001 000 */
        assert_int_equal(base32_decode("L0", 2, a, 1), 0);
        assert_int_equal(a[0], 0x08);
        assert_int_equal(base32_decode("B0", 2, a, 1), 0);
        assert_int_equal(a[0], 0x40); /* 01000 000 */
        /* 'u' is a digit of its own (26), unlike in Crockford's alphabet. */
        assert_int_equal(base32_decode("u0", 2, a, 1), 0);
        assert_int_equal(a[0], 0xd0); /* 11010 000 */
}

static void test_base32_rejects(void **state) {
        uint8_t out[32];
        char text[53];

        memset(out, 0x5a, sizeof(out));

        /* Leftover bits: the last character of a 52-character id carries 1 bit and 4 zero bits. */
        strcpy(text, ID_FF);
        assert_int_equal(base32_decode(text, 52, out, 32), 0);
        for (int v = 0; v < 32; v++) {
                text[51] = ALPHABET[v];
                assert_int_equal(base32_decode(text, 52, out, 32), (v & 15) ? -EINVAL : 0);
        }
        text[51] = 'j'; /* 10001 */
        memset(out, 0x5a, sizeof(out));
        assert_int_equal(base32_decode(text, 52, out, 32), -EINVAL);
        for (size_t i = 0; i < 32; i++)
                assert_int_equal(out[i], 0x5a);

        /* Leftover bits that reach into the character before the last: 3 characters for 1 byte leave 7
         * bits. */
        assert_int_equal(base32_decode("000", 3, out, 1), 0);
        assert_int_equal(out[0], 0);
        assert_int_equal(base32_decode("010", 3, out, 1), -EINVAL);
        assert_int_equal(base32_decode("001", 3, out, 1), -EINVAL);

        /* Lengths: len*5/8 must equal n. */
        assert_int_equal(base32_decode(ID_ZERO, 51, out, 32), -EINVAL);
        assert_int_equal(base32_decode(ID_ZERO "0", 53, out, 32), -EINVAL);
        assert_int_equal(base32_decode("0", 1, out, 0), 0); /* 5 bits: no byte, zero leftover */
        assert_int_equal(base32_decode("1", 1, out, 0), -EINVAL);
        assert_int_equal(base32_decode("", 0, out, 0), 0);

        /* Characters outside the alphabet. */
        assert_int_equal(base32_decode("0=", 2, out, 1), -EINVAL);
        assert_int_equal(base32_decode("0 ", 2, out, 1), -EINVAL);
        assert_int_equal(base32_decode("0\0", 2, out, 1), -EINVAL);
        assert_int_equal(base32_decode("\xc3\xa9", 2, out, 1), -EINVAL);
}

static void test_base32_roundtrip_lengths(void **state) {
        uint8_t in[40], out[40];
        char text[BASE32_ENCODED_SIZE(40) + 1];

        for (size_t i = 0; i < sizeof(in); i++)
                in[i] = (uint8_t) (i * 37 + 11);

        for (size_t n = 0; n <= sizeof(in); n++) {
                base32_encode(in, n, text);
                assert_int_equal(strlen(text), BASE32_ENCODED_SIZE(n));
                memset(out, 0, sizeof(out));
                assert_int_equal(base32_decode(text, strlen(text), out, n), 0);
                assert_memory_equal(out, in, n);
        }

        /* Short inputs, bit by bit: 1 byte 0x01 is 00000 001(00). */
        base32_encode((const uint8_t[]){ 0x01 }, 1, text);
        assert_string_equal(text, "04");
        base32_encode((const uint8_t[]){ 0xa5, 0x5a }, 2, text);
        assert_string_equal(text, "npe0"); /* 10100 10101 01101 0(0000) = 20 21 13 0 */
}

static void test_app_id(void **state) {
        uint8_t id[APP_ID_SIZE];
        char text[APP_ID_TEXT_SIZE + 1];

        assert_int_equal(app_id_from_string(ID_DC76, 52, id), 0);
        assert_memory_equal(id, key_dc76, 32);
        assert_string_equal(app_id_to_string(id, text), ID_DC76);

        /* Upper case is accepted; the text form is always lower case. */
        static const char upper[] = "VJVEKECHD398FN1T1KN1DGDNMAEKQQ9JKJV3ZSGZYMC4Z913REF0";
        assert_int_equal(app_id_from_string(upper, 52, id), 0);
        assert_memory_equal(id, key_dc76, 32);

        /* Only 52 characters, given by length (no NUL needed). */
        memset(id, 7, sizeof(id));
        assert_int_equal(app_id_from_string(ID_DC76, 51, id), -EINVAL);
        assert_int_equal(app_id_from_string(ID_DC76 "0", 53, id), -EINVAL);
        assert_int_equal(app_id_from_string("vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref1", 52, id),
                         -EINVAL); /* leftover bit */
        assert_int_equal(app_id_from_string("", 0, id), -EINVAL);
        for (size_t i = 0; i < sizeof(id); i++)
                assert_int_equal(id[i], 7);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hex_encode),
                cmocka_unit_test(test_hex_decode),
                cmocka_unit_test(test_hex_decode_rejects),
                cmocka_unit_test(test_hex_decode_not_nul_terminated),
                cmocka_unit_test(test_hex_roundtrip),
                cmocka_unit_test(test_base32_spec_vectors),
                cmocka_unit_test(test_base32_aliases_and_case),
                cmocka_unit_test(test_base32_rejects),
                cmocka_unit_test(test_base32_roundtrip_lengths),
                cmocka_unit_test(test_app_id),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
