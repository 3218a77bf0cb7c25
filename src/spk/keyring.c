/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "basic/fileio.h"
#include "capnp/capnp.h"
#include "spk/keyring.h"

/* KeyFile (0 data words, 2 ptrs): publicKey @0 p0, privateKey @1 p1. */
#define KEYFILE_PUBLIC_KEY 0
#define KEYFILE_PRIVATE_KEY 1

void spk_keyring_done(SpkKeyring *k) {
        if (!k)
                return;
        if (k->keys) {
                explicit_bzero_safe(k->keys, k->n_keys * sizeof(SpkKey));
                free(k->keys);
        }
        *k = (SpkKeyring) {};
}

int spk_keyring_parse(const void *buf, size_t size, SpkKeyring *ret) {
        _cleanup_spk_keyring_ SpkKeyring k = {};
        const uint8_t *p = buf;
        size_t allocated = 0;

        assert(buf || size == 0);
        assert(ret);

        if (size > SPK_KEYRING_MAX_BYTES)
                return -EFBIG;

        while (size > 0) {
                CapnpMessage msg = {};
                CapnpStruct root;
                const uint8_t *pk, *sk;
                size_t pk_len, sk_len, used;
                int r;

                r = capnp_message_parse(&msg, p, size, NULL, &used);
                if (r != 0) {
                        capnp_message_done(&msg);
                        return -EBADMSG; /* malformed, or truncated (r > 0) */
                }
                r = capnp_message_root(&msg, &root);
                if (r >= 0)
                        r = capnp_struct_get_data(&root, KEYFILE_PUBLIC_KEY, &pk, &pk_len);
                if (r >= 0)
                        r = capnp_struct_get_data(&root, KEYFILE_PRIVATE_KEY, &sk, &sk_len);
                if (r < 0 || pk_len != 32 || sk_len != 64) {
                        capnp_message_done(&msg);
                        return -EBADMSG;
                }

                if (k.n_keys >= allocated) {
                        /* Grow by hand so that no copy of a secret is left behind in freed memory. */
                        size_t n = allocated ? allocated * 2 : 4;
                        SpkKey *keys = calloc(n, sizeof(SpkKey));
                        if (!keys) {
                                capnp_message_done(&msg);
                                return -ENOMEM;
                        }
                        if (k.keys) {
                                memcpy(keys, k.keys, k.n_keys * sizeof(SpkKey));
                                explicit_bzero_safe(k.keys, k.n_keys * sizeof(SpkKey));
                                free(k.keys);
                        }
                        k.keys = keys;
                        allocated = n;
                }
                memcpy(k.keys[k.n_keys].public_key, pk, 32);
                memcpy(k.keys[k.n_keys].secret_key, sk, 64);
                k.n_keys++;

                capnp_message_done(&msg);
                assert(used > 0 && used <= size);
                p += used;
                size -= used;
        }

        *ret = k;
        k = (SpkKeyring) {};
        return 0;
}

int spk_keyring_load(const char *path, SpkKeyring *ret) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        void *map;
        int r;

        assert(path);
        assert(ret);

        fd = RET_NERRNO(open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY));
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        if ((uint64_t) st.st_size > SPK_KEYRING_MAX_BYTES)
                return -EFBIG;
        if (st.st_size == 0) {
                *ret = (SpkKeyring) {};
                return 0;
        }

        /* Mapped rather than read, so that no heap buffer holds the secrets. */
        map = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED)
                return negative_errno();
        r = spk_keyring_parse(map, (size_t) st.st_size, ret);
        (void) munmap(map, (size_t) st.st_size);
        return r;
}

const SpkKey *spk_keyring_find(const SpkKeyring *k, const uint8_t public_key[32]) {
        assert(k);
        assert(public_key);

        for (size_t i = 0; i < k->n_keys; i++)
                if (memcmp(k->keys[i].public_key, public_key, 32) == 0)
                        return &k->keys[i];
        return NULL;
}

int spk_key_generate(SpkKey *ret) {
        SpkKey key;

        assert(ret);

        if (sodium_init() < 0)
                return -EIO;
        if (crypto_sign_keypair(key.public_key, key.secret_key) != 0) {
                explicit_bzero_safe(&key, sizeof(key));
                return -EIO;
        }
        *ret = key;
        explicit_bzero_safe(&key, sizeof(key));
        return 0;
}

void spk_key_to_message(const SpkKey *key, uint8_t ret[SPK_KEYFILE_MESSAGE_SIZE]) {
        static const uint8_t header[32] = {
                0x00, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x00, /* 1 segment of 15 words */
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, /* root: struct, 0 data, 2 ptrs */
                0x05, 0x00, 0x00, 0x00, 0x02, 0x01, 0x00, 0x00, /* p0: +1 word, 32 bytes */
                0x11, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, /* p1: +4 words, 64 bytes */
        };

        assert(key);
        assert(ret);

        memcpy(ret, header, sizeof(header));
        memcpy(ret + 32, key->public_key, 32);
        memcpy(ret + 64, key->secret_key, 64);
}

int spk_keyring_append(const char *path, const SpkKey *key) {
        _cleanup_close_ int fd = -EBADF;
        uint8_t msg[SPK_KEYFILE_MESSAGE_SIZE];
        ssize_t n;

        assert(path);
        assert(key);

        fd = RET_NERRNO(open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600));
        if (fd < 0)
                return fd;

        spk_key_to_message(key, msg);
        /* One write(): with O_APPEND the message lands whole at the end, even beside another writer. */
        n = write(fd, msg, sizeof(msg));
        explicit_bzero_safe(msg, sizeof(msg));
        if (n < 0)
                return negative_errno();
        if ((size_t) n != sizeof(msg))
                return -EIO;
        if (fsync(fd) < 0)
                return negative_errno();
        return 0;
}
