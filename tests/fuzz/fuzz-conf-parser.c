/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Fuzzes conf_parse_text() and checks, beyond "no crash":
 * (1) success or -EINVAL (or -ENOMEM); on -EINVAL the message starts with "fuzz.conf:<line>: " and
 *     an existing Conf is left exactly as it was;
 * (2) every key is non-empty and holds no '=', '#', newline or NUL and no surrounding whitespace;
 *     every value holds no '#', newline or NUL and no surrounding whitespace; keys are unique;
 * (3) each entry comes from the line it names: that line, comment cut and trimmed, is the key,
 *     optional whitespace, '=', optional whitespace and the value; and no later line sets the key;
 * (4) the parse is deterministic, and writing the result out as KEY=VALUE lines and parsing that
 *     gives the same keys and values.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "basic/conf-parser.h"
#include "basic/string-util.h"
#include "fuzz.h"

#define NAME "fuzz.conf"

static bool is_space(char c) {
        return strchr(" \t\n\r\v\f", c) && c != '\0';
}

static void check_text(const char *s, bool is_key) {
        size_t n = strlen(s);

        if (is_key && (n == 0 || strchr(s, '=')))
                abort();
        if (strchr(s, '#') || strchr(s, '\n'))
                abort();
        if (n > 0 && (is_space(s[0]) || is_space(s[n - 1])))
                abort();
}

/* Line number line (1-based) of data, as pointer and length. */
static bool find_line(const char *data, size_t size, unsigned line, const char **ret, size_t *ret_n) {
        const char *p = data, *end = data + size;

        for (unsigned i = 1; p < end || (p == end && i == line); i++) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                const char *eol = nl ?: end;

                if (i == line) {
                        *ret = p;
                        *ret_n = (size_t) (eol - p);
                        return true;
                }
                if (!nl)
                        break;
                p = nl + 1;
        }
        return false;
}

/* The key a line sets, or NULL; mirrors the format's definition, not the parser's code. */
static bool line_sets_key(const char *p, size_t n, const char *key) {
        const char *hash = memchr(p, '#', n), *eq;
        size_t kn;

        if (hash)
                n = (size_t) (hash - p);
        eq = memchr(p, '=', n);
        if (!eq)
                return false;
        kn = (size_t) (eq - p);
        strip_span(&p, &kn);
        return kn == strlen(key) && memcmp(p, key, kn) == 0;
}

static void check_origin(const char *data, size_t size, const ConfEntry *e) {
        const char *p, *q;
        size_t n, kl = strlen(e->key), vl = strlen(e->value);

        if (!streq(e->file, NAME))
                abort();
        if (!find_line(data, size, e->line, &p, &n))
                abort();
        q = memchr(p, '#', n);
        if (q)
                n = (size_t) (q - p);
        strip_span(&p, &n);

        /* key, whitespace, '=', whitespace, value */
        if (n < kl + 1 + vl || memcmp(p, e->key, kl) != 0 || memcmp(p + n - vl, e->value, vl) != 0)
                abort();
        q = p + kl;
        while (q < p + n - vl && is_space(*q))
                q++;
        if (*q != '=')
                abort();
        q++;
        while (q < p + n - vl && is_space(*q))
                q++;
        if (q != p + n - vl)
                abort();

        /* The last word: no later line sets the same key. */
        for (unsigned l = e->line + 1; find_line(data, size, l, &p, &n); l++)
                if (line_sets_key(p, n, e->key))
                        abort();
}

static bool conf_equal(const Conf *a, const Conf *b, bool with_origin) {
        if (a->n_entries != b->n_entries)
                return false;
        for (size_t i = 0; i < a->n_entries; i++) {
                const ConfEntry *x = &a->entries[i], *y = &b->entries[i];

                if (!streq(x->key, y->key) || !streq(x->value, y->value))
                        return false;
                if (with_origin && (!streq(x->file, y->file) || x->line != y->line))
                        return false;
        }
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(conf_done) Conf c = {}, again = {}, roundtrip = {}, seeded = {}, seeded_before = {};
        _cleanup_free_ char *err = NULL, *err2 = NULL, *err3 = NULL;
        _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
        const char *text = (const char *) data;
        int r, k;

        if (size > 64 * 1024)
                return 0;

        r = conf_parse_text(&c, NAME, text, size, &err);
        if (r == -ENOMEM)
                return 0;

        /* (1) and (4): the same answer twice, also into a Conf that is not empty. */
        k = conf_parse_text(&again, NAME, text, size, &err2);
        if (k != r)
                abort();
        if (conf_parse_text(&seeded, "seed", "SEED=1\nX = y\n", 13, NULL) < 0 ||
            conf_parse_text(&seeded_before, "seed", "SEED=1\nX = y\n", 13, NULL) < 0)
                return 0;
        k = conf_parse_text(&seeded, NAME, text, size, &err3);
        if (k != r)
                abort();

        if (r < 0) {
                unsigned line;
                int consumed = 0;

                if (r != -EINVAL || !err || !err2 || !streq(err, err2) || !err3 || !streq(err, err3))
                        abort();
                if (sscanf(err, NAME ":%u: %n", &line, &consumed) != 1 || consumed == 0 || line == 0)
                        abort();
                if (c.n_entries != 0 || !conf_equal(&seeded, &seeded_before, true))
                        abort();
                return 0;
        }
        if (r != 0 || err || err2 || err3)
                abort();
        if (!conf_equal(&c, &again, true))
                abort();

        /* (2), (3) */
        for (size_t i = 0; i < c.n_entries; i++) {
                const ConfEntry *e = &c.entries[i];

                check_text(e->key, true);
                check_text(e->value, false);
                for (size_t j = 0; j < i; j++)
                        if (streq(c.entries[j].key, e->key))
                                abort();
                if (conf_get(&c, e->key) != e->value)
                        abort();
                if (conf_get_bool(&c, e->key, false) != (streq(e->value, "true") || streq(e->value, "yes")))
                        abort();
                check_origin(text, size, e);

                /* The seeded Conf has it too, with the same value. */
                const char *v = conf_get(&seeded, e->key);
                if (!v || !streq(v, e->value))
                        abort();
        }

        /* (4) Written out and read back. */
        for (size_t i = 0; i < c.n_entries; i++)
                if (strbuf_printf(&out, "%s=%s\n", c.entries[i].key, c.entries[i].value) < 0)
                        return 0;
        r = conf_parse_text(&roundtrip, NAME, out.data ?: "", out.len, NULL);
        if (r == -ENOMEM)
                return 0;
        if (r != 0 || !conf_equal(&c, &roundtrip, false))
                abort();

        return 0;
}
