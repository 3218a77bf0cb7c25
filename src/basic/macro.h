/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * basic/macro.h — the language-level helpers every file uses: cleanup attributes, ownership
 * transfer, errno conversion, array sizes and overflow-checked arithmetic.
 *
 * Owns nothing at run time and never logs. Uses libc only.
 */

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _unused_ __attribute__((__unused__))
#define _pure_ __attribute__((__pure__))
#define _const_ __attribute__((__const__))
#define _noreturn_ __attribute__((__noreturn__))
#define _printf_(a, b) __attribute__((__format__(printf, a, b)))
#define _warn_unused_result_ __attribute__((__warn_unused_result__))
#define _likely_(x) (__builtin_expect(!!(x), 1))
#define _unlikely_(x) (__builtin_expect(!!(x), 0))
#define _cleanup_(f) __attribute__((__cleanup__(f)))
#define _public_ __attribute__((__visibility__("default")))
#define _hidden_ __attribute__((__visibility__("hidden")))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define ALIGN8(x) (((x) + (size_t) 7) & ~(size_t) 7)
#define STRLEN(s) (sizeof(s) - 1)

/* Hands the value on and leaves NULL (or -EBADF) behind, so the cleanup attribute does nothing. */
#define TAKE_GENERIC(var, type, nullvalue)                                                                   \
        ({                                                                                                   \
                type *_pvar_ = &(var);                                                                       \
                type _var_ = *_pvar_;                                                                        \
                type _nullvalue_ = nullvalue;                                                                \
                *_pvar_ = _nullvalue_;                                                                       \
                _var_;                                                                                       \
        })
#define TAKE_PTR(ptr) TAKE_GENERIC(ptr, typeof(ptr), NULL)
#define TAKE_FD(fd) TAKE_GENERIC(fd, int, -EBADF)

/* Turns a libc "-1 and errno" result into a negative errno; the one place that reads errno after a call. */
static inline int negative_errno(void) {
        /* A libc call that failed always sets errno; guard anyway so a failure never reads as success. */
        return errno > 0 ? -errno : -EIO;
}
#define RET_NERRNO(expr)                                                                                     \
        ({                                                                                                   \
                typeof(expr) _r_ = (expr);                                                                   \
                _r_ < 0 ? (typeof(_r_)) negative_errno() : _r_;                                              \
        })

/* Returns -errno from the enclosing function when a libc call fails. */
#define ERRNO_IS_NEG(r) ((r) < 0)

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Closes a descriptor, keeping errno intact; returns -EBADF so that `fd = safe_close(fd);` works. */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -EBADF;
}
static inline void closep(int *fd) {
        safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

/* _unused_: clang warns about unused static inline functions defined in a .c file. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                              \
        _unused_ static inline void func##p(type *p) {                                                       \
                if (*p)                                                                                      \
                        func(*p);                                                                            \
        }

/* Overflow-checked arithmetic: true when the result fits. */
#define ADD_SAFE(ret, a, b) (!__builtin_add_overflow((a), (b), (ret)))
#define MUL_SAFE(ret, a, b) (!__builtin_mul_overflow((a), (b), (ret)))

/* Reading little-endian integers from unaligned, untrusted bytes. */
static inline uint16_t unaligned_read_le16(const void *p) {
        const uint8_t *b = p;
        return (uint16_t) (b[0] | (b[1] << 8));
}
static inline uint32_t unaligned_read_le32(const void *p) {
        const uint8_t *b = p;
        return (uint32_t) b[0] | ((uint32_t) b[1] << 8) | ((uint32_t) b[2] << 16) | ((uint32_t) b[3] << 24);
}
static inline uint64_t unaligned_read_le64(const void *p) {
        const uint8_t *b = p;
        return (uint64_t) unaligned_read_le32(b) | ((uint64_t) unaligned_read_le32(b + 4) << 32);
}
static inline void unaligned_write_le16(void *p, uint16_t v) {
        uint8_t *b = p;
        b[0] = (uint8_t) v;
        b[1] = (uint8_t) (v >> 8);
}
static inline void unaligned_write_le32(void *p, uint32_t v) {
        uint8_t *b = p;
        for (unsigned i = 0; i < 4; i++)
                b[i] = (uint8_t) (v >> (8 * i));
}
static inline void unaligned_write_le64(void *p, uint64_t v) {
        uint8_t *b = p;
        for (unsigned i = 0; i < 8; i++)
                b[i] = (uint8_t) (v >> (8 * i));
}

/* Zeroes memory the compiler may not optimise away (keys, passwords). */
void explicit_bzero_safe(void *p, size_t n);

#define streq(a, b) (strcmp((a), (b)) == 0)
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)
#define isempty(s) (!(s) || !(s)[0])
