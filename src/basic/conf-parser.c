/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/conf-parser.h"
#include "basic/fileio.h"
#include "basic/string-util.h"

static void conf_entry_done(ConfEntry *e) {
        free(e->key);
        free(e->value);
        free(e->file);
}

void conf_done(Conf *c) {
        if (!c)
                return;
        for (size_t i = 0; i < c->n_entries; i++)
                conf_entry_done(&c->entries[i]);
        free(c->entries);
        *c = (Conf){};
}

static ConfEntry *conf_find(const Conf *c, const char *key) {
        for (size_t i = 0; i < c->n_entries; i++)
                if (streq(c->entries[i].key, key))
                        return &c->entries[i];
        return NULL;
}

/* Moves e into c (a new key goes at the end; a known key keeps its place and takes the new value). Takes
 * e's strings also on failure. */
static int conf_put(Conf *c, ConfEntry *e) {
        ConfEntry *old, *l;

        old = conf_find(c, e->key);
        if (old) {
                conf_entry_done(old);
                *old = *e;
                *e = (ConfEntry){};
                return 0;
        }

        l = reallocarray(c->entries, c->n_entries + 1, sizeof(ConfEntry));
        if (!l) {
                conf_entry_done(e);
                *e = (ConfEntry){};
                return -ENOMEM;
        }
        c->entries = l;
        c->entries[c->n_entries++] = *e;
        *e = (ConfEntry){};
        return 0;
}

/* Moves every entry of from into to, in order; from is left empty. */
static int conf_merge(Conf *to, Conf *from) {
        int r = 0;

        for (size_t i = 0; i < from->n_entries; i++) {
                int k = conf_put(to, &from->entries[i]);

                if (k < 0 && r == 0)
                        r = k;
        }
        conf_done(from);
        return r;
}

_printf_(4, 5) static int conf_error(char **ret_error, const char *name, unsigned line, const char *fmt,
                                     ...) {
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;
        va_list ap;
        int r;

        if (!ret_error)
                return -EINVAL;

        r = line > 0 ? strbuf_printf(&b, "%s:%u: ", name, line) : strbuf_printf(&b, "%s: ", name);
        if (r < 0)
                return r;
        va_start(ap, fmt);
        r = strbuf_vprintf(&b, fmt, ap);
        va_end(ap);
        if (r < 0)
                return r;

        *ret_error = strbuf_steal(&b, NULL);
        return *ret_error ? -EINVAL : -ENOMEM;
}

static int conf_parse_line(Conf *c, const char *name, unsigned line, const char *p, size_t n,
                           char **ret_error) {
        const char *hash, *eq, *k, *v;
        size_t kn, vn;

        if (memchr(p, '\0', n))
                return conf_error(ret_error, name, line, "Invalid config line: contains a NUL byte");

        /* '#' starts a comment anywhere, even after a value: values cannot hold '#'. */
        hash = memchr(p, '#', n);
        if (hash)
                n = (size_t) (hash - p);
        strip_span(&p, &n);
        if (n == 0)
                return 0;

        eq = memchr(p, '=', n);
        if (!eq)
                return conf_error(ret_error, name, line, "Invalid config line: missing '='");

        k = p;
        kn = (size_t) (eq - p);
        strip_span(&k, &kn);
        if (kn == 0)
                return conf_error(ret_error, name, line, "Invalid config line: empty key");
        v = eq + 1;
        vn = (size_t) (p + n - v);
        strip_span(&v, &vn);

        ConfEntry e = {
                .key = strndup_safe(k, kn),
                .value = strndup_safe(v, vn),
                .file = strdup(name),
                .line = line,
        };
        if (!e.key || !e.value || !e.file) {
                conf_entry_done(&e);
                return -ENOMEM;
        }
        return conf_put(c, &e);
}

int conf_parse_text(Conf *c, const char *name, const char *text, size_t n, char **ret_error) {
        _cleanup_(conf_done) Conf parsed = {};
        const char *p = text, *end = text + n;
        unsigned line = 0;
        int r;

        assert(c);
        assert(name);
        assert(text || n == 0);

        /* Into a scratch Conf first, so that a bad file changes nothing. */
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                const char *eol = nl ?: end;

                if (line == UINT_MAX)
                        return conf_error(ret_error, name, 0, "Too many lines");
                line++;
                r = conf_parse_line(&parsed, name, line, p, (size_t) (eol - p), ret_error);
                if (r < 0)
                        return r;
                p = nl ? nl + 1 : end;
        }

        return conf_merge(c, &parsed);
}

static int conf_parse_file_at(Conf *c, int dir_fd, const char *path, const char *name, bool optional,
                              char **ret_error) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = read_full_file_at(dir_fd, path, CONF_FILE_SIZE_MAX, &text, &size);
        if (r == -ENOENT && optional)
                return 0;
        if (r < 0) {
                if (ret_error) {
                        errno = -r;
                        if (asprintf(ret_error, "%s: Failed to read: %m", name) < 0) {
                                *ret_error = NULL;
                                return -ENOMEM;
                        }
                }
                return r;
        }
        return conf_parse_text(c, name, text, size, ret_error);
}

static bool dropin_name_ok(const char *name) {
        const char *e = endswith(name, ".conf");

        /* Hidden files (editor and package manager debris) are skipped; so is a bare ".conf". */
        return e && name[0] != '.';
}

/* A drop-in's name, on what may be a file (a directory or a dangling link is weeded out when opened). */
static bool dropin_entry_ok(const struct dirent *de, void *userdata) {
        return dropin_name_ok(de->d_name) &&
               (de->d_type == DT_REG || de->d_type == DT_LNK || de->d_type == DT_UNKNOWN);
}

static int conf_load_dropins(Conf *c, const char *path, char **ret_error) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ char *dir = NULL;
        DIR *d;
        int r;

        dir = strjoin(path, ".d");
        if (!dir)
                return -ENOMEM;

        d = opendir(dir);
        if (!d)
                return errno == ENOENT || errno == ENOTDIR ? 0 : negative_errno();

        /* In the lexical order of the bytes, whatever the locale. */
        r = dir_names(d, dropin_entry_ok, NULL, &names);
        if (r >= 0) {
                STRV_FOREACH(n, names) {
                        _cleanup_free_ char *full = path_join(dir, *n);
                        struct stat st;

                        if (!full) {
                                r = -ENOMEM;
                                break;
                        }
                        /* A directory or a dangling symlink named *.conf is not a drop-in. */
                        if (fstatat(dirfd(d), *n, &st, 0) < 0 || !S_ISREG(st.st_mode))
                                continue;
                        r = conf_parse_file_at(c, dirfd(d), *n, full, true, ret_error);
                        if (r < 0)
                                break;
                }
        }

        closedir(d);
        if (r < 0 && ret_error && !*ret_error) {
                errno = -r;
                if (asprintf(ret_error, "%s: Failed to read drop-ins: %m", dir) < 0)
                        *ret_error = NULL;
        }
        return r;
}

int conf_load(Conf *c, const char *path, bool optional, char **ret_error) {
        _cleanup_(conf_done) Conf parsed = {};
        _cleanup_free_ char *err = NULL;
        int r;

        assert(c);
        assert(path);

        r = conf_parse_file_at(&parsed, AT_FDCWD, path, path, optional, &err);
        if (r >= 0)
                r = conf_load_dropins(&parsed, path, &err);
        if (r < 0) {
                if (ret_error)
                        *ret_error = TAKE_PTR(err);
                return r;
        }
        return conf_merge(c, &parsed);
}

const char *conf_get(const Conf *c, const char *key) {
        const ConfEntry *e;

        assert(c);
        assert(key);

        e = conf_find(c, key);
        return e ? e->value : NULL;
}

bool conf_get_bool(const Conf *c, const char *key, bool def) {
        const char *v = conf_get(c, key);

        if (!v)
                return def;
        return streq(v, "true") || streq(v, "yes");
}
