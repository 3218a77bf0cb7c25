/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <string.h>

#include "basic/macro.h"

void explicit_bzero_safe(void *p, size_t n) {
        /* explicit_bzero() must not be handed NULL, even with n == 0. */
        if (n == 0)
                return;
        assert(p);
        explicit_bzero(p, n);
}
