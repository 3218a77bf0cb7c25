/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <string.h>

#include <sodium.h>

#include "basic/macro.h"
#include "basic/random-util.h"

int random_init(void) {
        /* 0: initialised now, 1: already was, -1: no usable entropy source. */
        if (sodium_init() < 0)
                return -EIO;
        return 0;
}

void random_bytes(void *p, size_t n) {
        assert(p || n == 0);

        if (n > 0)
                randombytes_buf(p, n);
}

uint64_t random_u64(void) {
        uint64_t v;

        randombytes_buf(&v, sizeof(v));
        return v;
}

void random_string(const char *alphabet, size_t n, char *out) {
        size_t l;

        assert(alphabet);
        assert(out);

        l = strlen(alphabet);
        assert(l > 0 && l <= UINT32_MAX);

        /* randombytes_uniform() rejects the values that would make some characters likelier than others. */
        for (size_t i = 0; i < n; i++)
                out[i] = alphabet[randombytes_uniform((uint32_t) l)];
        out[n] = '\0';
}
