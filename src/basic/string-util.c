/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "basic/string-util.h"

/* Never hand out less than this, so that a run of small appends does not reallocate each time. */
#define STRBUF_MIN_ALLOC 64

void strbuf_done(StrBuf *b) {
        if (!b)
                return;
        free(b->data);
        *b = STRBUF_INIT;
}

int strbuf_reserve(StrBuf *b, size_t extra) {
        size_t need, size;
        char *p;

        assert(b);

        /* need counts the terminating NUL. */
        if (!ADD_SAFE(&need, b->len, extra) || !ADD_SAFE(&need, need, (size_t) 1))
                return -ENOMEM;
        if (b->data && need <= b->allocated)
                return 0;

        /* Grow by half again, so appending n bytes one at a time costs O(n) overall. */
        size = MAX(need, (size_t) STRBUF_MIN_ALLOC);
        if (b->allocated > 0) {
                size_t grown;

                if (ADD_SAFE(&grown, b->allocated, b->allocated / 2) && grown > size)
                        size = grown;
        }

        p = realloc(b->data, size);
        if (!p)
                return -ENOMEM;
        if (!b->data)
                p[0] = '\0';
        b->data = p;
        b->allocated = size;
        return 0;
}

int strbuf_append(StrBuf *b, const void *p, size_t n) {
        int r;

        assert(b);
        assert(p || n == 0);

        r = strbuf_reserve(b, n);
        if (r < 0)
                return r;
        if (n > 0)
                memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
}

int strbuf_append_str(StrBuf *b, const char *s) {
        assert(s);
        return strbuf_append(b, s, strlen(s));
}

int strbuf_append_char(StrBuf *b, char c) {
        return strbuf_append(b, &c, 1);
}

int strbuf_vprintf(StrBuf *b, const char *fmt, va_list ap) {
        size_t avail;
        va_list aq;
        int k, r;

        assert(b);
        assert(fmt);

        /* Try to format into what is already free; only when that is too small, grow and format again. */
        r = strbuf_reserve(b, 0);
        if (r < 0)
                return r;
        avail = b->allocated - b->len;

        va_copy(aq, ap);
        k = vsnprintf(b->data + b->len, avail, fmt, aq);
        va_end(aq);
        if (k < 0) {
                b->data[b->len] = '\0';
                return -EINVAL;
        }
        if ((size_t) k >= avail) {
                r = strbuf_reserve(b, (size_t) k);
                if (r < 0) {
                        b->data[b->len] = '\0';
                        return r;
                }
                va_copy(aq, ap);
                k = vsnprintf(b->data + b->len, (size_t) k + 1, fmt, aq);
                va_end(aq);
                if (k < 0) {
                        b->data[b->len] = '\0';
                        return -EINVAL;
                }
        }

        b->len += (size_t) k;
        return 0;
}

int strbuf_printf(StrBuf *b, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = strbuf_vprintf(b, fmt, ap);
        va_end(ap);
        return r;
}

char *strbuf_steal(StrBuf *b, size_t *ret_len) {
        char *p;
        size_t len;

        assert(b);

        if (b->data) {
                p = b->data;
                len = b->len;
        } else {
                p = strdup("");
                if (!p)
                        return NULL;
                len = 0;
        }

        *b = STRBUF_INIT;
        if (ret_len)
                *ret_len = len;
        return p;
}

void strbuf_truncate(StrBuf *b, size_t len) {
        assert(b);

        if (len >= b->len)
                return;
        b->len = len;
        b->data[len] = '\0';
}

const char *startswith(const char *s, const char *prefix) {
        size_t l;

        assert(s);
        assert(prefix);

        l = strlen(prefix);
        if (strncmp(s, prefix, l) != 0)
                return NULL;
        return s + l;
}

const char *endswith(const char *s, const char *suffix) {
        size_t ls, lx;

        assert(s);
        assert(suffix);

        ls = strlen(s);
        lx = strlen(suffix);
        if (lx > ls)
                return NULL;
        if (memcmp(s + ls - lx, suffix, lx) != 0)
                return NULL;
        return s + ls - lx;
}

static bool is_ascii_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

void strip_span(const char **p, size_t *n) {
        const char *s;
        size_t l;

        assert(p);
        assert(n);

        s = *p;
        l = *n;
        while (l > 0 && is_ascii_space(s[0])) {
                s++;
                l--;
        }
        while (l > 0 && is_ascii_space(s[l - 1]))
                l--;
        *p = s;
        *n = l;
}

char *strndup_safe(const char *s, size_t n) {
        size_t l;
        char *p;

        assert(s || n == 0);

        l = s ? strnlen(s, n) : 0;
        if (l == SIZE_MAX)
                return NULL;
        p = malloc(l + 1);
        if (!p)
                return NULL;
        if (l > 0)
                memcpy(p, s, l);
        p[l] = '\0';
        return p;
}

char *strjoin_internal(const char *first, ...) {
        va_list ap;
        size_t total = 0;
        char *r, *q;

        va_start(ap, first);
        for (const char *s = first; s; s = va_arg(ap, const char *))
                if (!ADD_SAFE(&total, total, strlen(s))) {
                        va_end(ap);
                        return NULL;
                }
        va_end(ap);

        if (total == SIZE_MAX)
                return NULL;
        r = malloc(total + 1);
        if (!r)
                return NULL;

        q = r;
        va_start(ap, first);
        for (const char *s = first; s; s = va_arg(ap, const char *))
                q = stpcpy(q, s);
        va_end(ap);
        *q = '\0';
        return r;
}

bool string_is_printable(const char *p, size_t n) {
        assert(p || n == 0);

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) p[i];

                if (c < 0x20 && c != '\t')
                        return false;
        }
        return true;
}

bool utf8_is_valid(const char *p, size_t n) {
        const unsigned char *s = (const unsigned char *) p;
        size_t i = 0;

        assert(p || n == 0);

        /* Strict RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. */
        while (i < n) {
                unsigned char c = s[i];
                unsigned char lo = 0x80, hi = 0xBF;
                size_t k;

                if (c < 0x80) {
                        i++;
                        continue;
                }
                if (c >= 0xC2 && c <= 0xDF)
                        k = 1;
                else if (c >= 0xE0 && c <= 0xEF) {
                        k = 2;
                        if (c == 0xE0)
                                lo = 0xA0; /* overlong */
                        else if (c == 0xED)
                                hi = 0x9F; /* UTF-16 surrogates */
                } else if (c >= 0xF0 && c <= 0xF4) {
                        k = 3;
                        if (c == 0xF0)
                                lo = 0x90; /* overlong */
                        else if (c == 0xF4)
                                hi = 0x8F; /* above U+10FFFF */
                } else
                        return false;

                if (n - i - 1 < k)
                        return false;
                if (s[i + 1] < lo || s[i + 1] > hi)
                        return false;
                for (size_t j = 2; j <= k; j++)
                        if ((s[i + j] & 0xC0) != 0x80)
                                return false;
                i += k + 1;
        }
        return true;
}

char **strv_free(char **l) {
        STRV_FOREACH(s, l)
                free(*s);
        free(l);
        return NULL;
}

size_t strv_length(char *const *l) {
        size_t n = 0;

        STRV_FOREACH(s, l)
                n++;
        return n;
}

int strv_consume(char ***l, char *s) {
        size_t n;
        char **c;

        assert(l);

        if (!s)
                return -ENOMEM;

        n = strv_length(*l);
        if (n > SIZE_MAX / sizeof(char *) - 2) {
                free(s);
                return -ENOMEM;
        }
        c = reallocarray(*l, n + 2, sizeof(char *));
        if (!c) {
                free(s);
                return -ENOMEM;
        }
        c[n] = s;
        c[n + 1] = NULL;
        *l = c;
        return 0;
}

int strv_extend(char ***l, const char *s) {
        assert(s);
        return strv_consume(l, strdup(s));
}

int strv_extendf(char ***l, const char *fmt, ...) {
        va_list ap;
        char *s;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&s, fmt, ap);
        va_end(ap);
        return strv_consume(l, k < 0 ? NULL : s);
}

bool strv_contains(char *const *l, const char *s) {
        assert(s);

        STRV_FOREACH(i, l)
                if (streq(*i, s))
                        return true;
        return false;
}

static int strv_compare(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

void strv_sort(char **l) {
        size_t n = strv_length(l);

        if (n > 1)
                qsort(l, n, sizeof(char *), strv_compare);
}

int error_set(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;
        char *m = NULL;

        assert(r < 0);

        if (!ret_error)
                return r;
        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        *ret_error = m;
        return r;
}

size_t format_uint64(char buf[static 20], uint64_t v) {
        char tmp[20];
        size_t i = sizeof tmp;

        do {
                tmp[--i] = (char) ('0' + v % 10);
                v /= 10;
        } while (v > 0);
        memcpy(buf, tmp + i, sizeof tmp - i);
        return sizeof tmp - i;
}

int parse_uint64(const char *s, uint64_t max, uint64_t *ret) {
        uint64_t v = 0;

        if (!s || !*s)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                if (!MUL_SAFE(&v, v, 10) || !ADD_SAFE(&v, v, (uint64_t) (*s - '0')) || v > max)
                        return -ERANGE;
        }
        *ret = v;
        return 0;
}
