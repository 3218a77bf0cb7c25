/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "basic/fileio.h"
#include "basic/hex.h"
#include "basic/string-util.h"
#include "spk/keyring.h"

typedef struct Fixture {
        char dir[64];
        char path[96];
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        if (!f)
                return -1;
        strcpy(f->dir, "/tmp/test-spk-keyring-XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        snprintf(f->path, sizeof(f->path), "%s/keyring", f->dir);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        (void) rm_rf_path(f->dir);
        free(f);
        return 0;
}

static void key_from_seed(uint8_t byte, SpkKey *ret) {
        uint8_t seed[32];

        memset(seed, byte, sizeof(seed));
        assert_int_equal(sodium_init() >= 0, 1);
        assert_int_equal(crypto_sign_seed_keypair(ret->public_key, ret->secret_key, seed), 0);
}

static void test_format_exact(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *buf = NULL;
        SpkKey key;
        size_t size;
        struct stat st;
        static const uint8_t header[32] = {
                0x00,
                0x00,
                0x00,
                0x00,
                0x0f,
                0x00,
                0x00,
                0x00,
                0x00,
                0x00,
                0x00,
                0x00,
                0x00,
                0x00,
                0x02,
                0x00,
                0x05,
                0x00,
                0x00,
                0x00,
                0x02,
                0x01,
                0x00,
                0x00,
                0x11,
                0x00,
                0x00,
                0x00,
                0x02,
                0x02,
                0x00,
                0x00,
        };

        key_from_seed(0x11, &key);
        assert_int_equal(spk_keyring_append(f->path, &key), 0);
        assert_int_equal(read_full_file_at(AT_FDCWD, f->path, 4096, &buf, &size), 0);
        assert_int_equal(size, 128);
        assert_memory_equal(buf, header, 32);
        assert_memory_equal(buf + 32, key.public_key, 32);
        assert_memory_equal(buf + 64, key.secret_key, 64);
        /* libsodium's secret key is seed ‖ public key. */
        assert_memory_equal(buf + 96, key.public_key, 32);

        assert_int_equal(stat(f->path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_round_trip(void **state) {
        Fixture *f = *state;
        _cleanup_spk_keyring_ SpkKeyring k = {};
        SpkKey a, b, c;

        assert_int_equal(spk_keyring_load(f->path, &k), -ENOENT);

        assert_int_equal(spk_key_generate(&a), 0);
        key_from_seed(0x22, &b);
        assert_int_equal(spk_keyring_append(f->path, &a), 0);
        assert_int_equal(spk_keyring_append(f->path, &b), 0);
        assert_int_equal(spk_keyring_append(f->path, &a), 0);

        assert_int_equal(spk_keyring_load(f->path, &k), 0);
        assert_int_equal(k.n_keys, 3);
        assert_memory_equal(&k.keys[0], &a, sizeof(SpkKey));
        assert_memory_equal(&k.keys[1], &b, sizeof(SpkKey));
        assert_ptr_equal(spk_keyring_find(&k, a.public_key), &k.keys[0]);
        assert_ptr_equal(spk_keyring_find(&k, b.public_key), &k.keys[1]);
        key_from_seed(0x33, &c);
        assert_null(spk_keyring_find(&k, c.public_key));

        /* A generated key signs and verifies. */
        {
                uint8_t sm[64 + 3];
                unsigned long long len;
                uint8_t m[3];

                assert_int_equal(crypto_sign(sm, &len, (const uint8_t *) "abc", 3, a.secret_key), 0);
                assert_int_equal(crypto_sign_open(m, &len, sm, sizeof(sm), a.public_key), 0);
        }

        spk_keyring_done(&k);
        assert_null(k.keys);
        assert_int_equal(k.n_keys, 0);
        spk_keyring_done(&k);
        spk_keyring_done(NULL);
}

static void test_first_occurrence_wins(void **state) {
        _cleanup_spk_keyring_ SpkKeyring k = {};
        uint8_t buf[2 * SPK_KEYFILE_MESSAGE_SIZE];
        SpkKey a, a2;

        /* Same public key twice with different secret halves: the first is the one found. */
        key_from_seed(0x44, &a);
        a2 = a;
        memset(a2.secret_key, 0x99, 32);
        spk_key_to_message(&a, buf);
        spk_key_to_message(&a2, buf + SPK_KEYFILE_MESSAGE_SIZE);
        assert_int_equal(spk_keyring_parse(buf, sizeof(buf), &k), 0);
        assert_int_equal(k.n_keys, 2);
        assert_memory_equal(spk_keyring_find(&k, a.public_key)->secret_key, a.secret_key, 64);
}

static void test_invalid(void **state) {
        Fixture *f = *state;
        _cleanup_spk_keyring_ SpkKeyring k = {};
        uint8_t buf[SPK_KEYFILE_MESSAGE_SIZE + 8];
        SpkKey a;

        key_from_seed(0x55, &a);
        spk_key_to_message(&a, buf);

        /* Empty: an empty keyring. */
        assert_int_equal(spk_keyring_parse(buf, 0, &k), 0);
        assert_int_equal(k.n_keys, 0);

        /* Truncated. */
        assert_int_equal(spk_keyring_parse(buf, SPK_KEYFILE_MESSAGE_SIZE - 1, &k), -EBADMSG);
        assert_int_equal(spk_keyring_parse(buf, 4, &k), -EBADMSG);
        /* Trailing bytes that are no message. */
        memset(buf + SPK_KEYFILE_MESSAGE_SIZE, 0, 8);
        assert_int_equal(spk_keyring_parse(buf, sizeof(buf), &k), -EBADMSG);
        /* Public key of 31 bytes (the list count in p0 is 31). */
        buf[20] = 0xfa;
        buf[21] = 0x00;
        assert_int_equal(spk_keyring_parse(buf, SPK_KEYFILE_MESSAGE_SIZE, &k), -EBADMSG);
        buf[20] = 0x02;
        buf[21] = 0x01;
        assert_int_equal(spk_keyring_parse(buf, SPK_KEYFILE_MESSAGE_SIZE, &k), 0);
        spk_keyring_done(&k);
        /* Secret key of 63 bytes. */
        buf[28] = 0xfa;
        buf[29] = 0x01;
        assert_int_equal(spk_keyring_parse(buf, SPK_KEYFILE_MESSAGE_SIZE, &k), -EBADMSG);
        assert_null(k.keys);

        /* A directory. */
        assert_int_equal(spk_keyring_load(f->dir, &k), -EISDIR);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_format_exact, setup, teardown),
                cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
                cmocka_unit_test(test_first_occurrence_wins),
                cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
