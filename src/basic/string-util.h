/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * basic/string-util.h — strings and growable byte buffers.
 *
 * Owns StrBuf, a growable byte buffer that is always NUL-terminated (so it can be used as a C
 * string when the content has no NUL), and small string helpers over pointer+length. Never logs.
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/macro.h"

typedef struct StrBuf {
        char *data; /* NULL until the first append; else NUL-terminated at data[len] */
        size_t len;
        size_t allocated;
} StrBuf;

#define STRBUF_INIT ((StrBuf){})

void strbuf_done(StrBuf *b);
/* Makes room for at least extra more bytes (plus the NUL). -ENOMEM on overflow or OOM. */
int strbuf_reserve(StrBuf *b, size_t extra);
int strbuf_append(StrBuf *b, const void *p, size_t n);
int strbuf_append_str(StrBuf *b, const char *s);
int strbuf_append_char(StrBuf *b, char c);
int strbuf_printf(StrBuf *b, const char *fmt, ...) _printf_(2, 3);
int strbuf_vprintf(StrBuf *b, const char *fmt, va_list ap) _printf_(2, 0);
/* Hands out the buffer (never NULL on success: an empty buffer gives ""), leaving b empty. */
char *strbuf_steal(StrBuf *b, size_t *ret_len);
void strbuf_truncate(StrBuf *b, size_t len);
static inline void strbuf_donep(StrBuf *b) {
        strbuf_done(b);
}
#define _cleanup_strbuf_ _cleanup_(strbuf_donep)

/* Returns a pointer just after prefix if s starts with it, else NULL. */
const char *startswith(const char *s, const char *prefix) _pure_;
/* Returns a pointer to where suffix starts in s if s ends with it, else NULL. */
const char *endswith(const char *s, const char *suffix) _pure_;
/* Trims ASCII whitespace (space, \t, \n, \r, \v, \f) from both ends of [*p, *p + *n). */
void strip_span(const char **p, size_t *n);
/* strndup that fails with NULL only on OOM: copies up to n bytes, stopping at a NUL; s may be NULL
 * when n is 0. */
char *strndup_safe(const char *s, size_t n);
/* Concatenates NULL-terminated arguments into a new string (NULL on OOM). */
char *strjoin_internal(const char *first, ...);
#define strjoin(first, ...) strjoin_internal(first, __VA_ARGS__, NULL)
/* For library functions that explain a failure: sets *ret_error (when ret_error is not NULL) to the
 * formatted message (overwriting, not freeing, what was there), which the caller frees, and returns r (a negative errno). If formatting fails for
 * lack of memory the message is left NULL and r is still returned. */
int error_set(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);

/* True when the n bytes hold no NUL and no byte < 0x20 other than \t. */
bool string_is_printable(const char *p, size_t n) _pure_;
/* Strict UTF-8 (RFC 3629): no overlong forms, surrogates or code points above U+10FFFF. */
bool utf8_is_valid(const char *p, size_t n) _pure_;

/* s as a decimal number: ASCII digits only (no sign, space or prefix), at most max. -EINVAL when it is
 * not one, -ERANGE beyond max; *ret is written only on success. */
int parse_uint64(const char *s, uint64_t max, uint64_t *ret);
/* v in decimal at buf, which has room for 20 bytes (UINT64_MAX's digits), without a NUL: the number of
 * digits. For hot paths that build heads without printf. */
size_t format_uint64(char buf[static 20], uint64_t v);

/* NULL-terminated string vectors. */
char **strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)
size_t strv_length(char *const *l) _pure_;
/* Appends a copy of s. */
int strv_extend(char ***l, const char *s);
/* Appends s itself (ownership taken, also on failure); a NULL s gives -ENOMEM, so that
 * strv_consume(&l, strdup(x)) needs no check of its own. */
int strv_consume(char ***l, char *s);
/* Appends the formatted text. */
int strv_extendf(char ***l, const char *fmt, ...) _printf_(2, 3);
bool strv_contains(char *const *l, const char *s) _pure_;
void strv_sort(char **l);
#define STRV_FOREACH(s, l) for (char *const *s = (l); s && *s; s++)
