/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The view and the FUSE file system of spk dev.
 *
 * The kernel names files by inode number; the view names them by package path. Every path the kernel
 * has looked up gets a number (InodeTable) that stays for the whole run: forget() is ignored, so a
 * number never means two paths, and memory grows only with the distinct paths looked up. Nothing else
 * is kept: each lookup, getattr, open and readdir resolves its path through the source map again, and
 * reads go to the host file with pread (or splice), so a change on the host is seen at once, within
 * the kernel's TTL for attributes.
 *
 * (1) inode 1 is the root "", and table->paths[ino - 1] is the path of ino;
 * (2) the file system never touches its own mount point (that would wait on itself).
 */

#define FUSE_USE_VERSION 34

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "basic/fileio.h"
#include "basic/string-util.h"
#include "spk/devfs.h"

#define NSEC_PER_SEC INT64_C(1000000000)

/* A doubly-linked list through the members prev and next of its items. */
#define LIST_PREPEND(head, item)                                                                             \
        do {                                                                                                 \
                (item)->prev = NULL;                                                                         \
                (item)->next = (head);                                                                       \
                if (head)                                                                                    \
                        (head)->prev = (item);                                                               \
                (head) = (item);                                                                             \
        } while (0)
#define LIST_REMOVE(head, item)                                                                              \
        do {                                                                                                 \
                if ((item)->prev)                                                                            \
                        (item)->prev->next = (item)->next;                                                   \
                else                                                                                         \
                        (head) = (item)->next;                                                               \
                if ((item)->next)                                                                            \
                        (item)->next->prev = (item)->prev;                                                   \
                (item)->prev = (item)->next = NULL;                                                          \
        } while (0)

static const char *const kept_names[] = {
        "sandstorm-manifest",
        "sandstorm-http-bridge",
        "sandstorm-http-bridge-config",
        "proc/cpuinfo",
};

/* If prefix is a path-component prefix of name. */
static bool path_has_prefix(const char *name, const char *prefix) {
        size_t n = strlen(prefix);

        return strneq(name, prefix, n) && (name[n] == '\0' || name[n] == '/');
}

static int64_t timespec_ns(const struct timespec *ts) {
        return (int64_t) ts->tv_sec * NSEC_PER_SEC + ts->tv_nsec;
}

/* ---- the view ---- */

int spk_dev_view_init(SpkDevView *v, const SpkPkgdef *pkgdef, const char *bridge_path, int64_t start_time_ns) {
        _cleanup_free_ char *b = NULL;

        assert(v);
        assert(pkgdef);

        if (bridge_path) {
                b = strdup(bridge_path);
                if (!b)
                        return -ENOMEM;
        }
        *v = (SpkDevView) {
                .pkgdef = pkgdef,
                .bridge_path = TAKE_PTR(b),
                .start_time_ns = start_time_ns,
        };
        return 0;
}

void spk_dev_view_done(SpkDevView *v) {
        if (!v)
                return;
        free(v->bridge_path);
        *v = (SpkDevView) {};
}

void spk_dev_entry_done(SpkDevEntry *e) {
        if (!e)
                return;
        free(e->source);
        *e = (SpkDevEntry) {};
}

static void entry_set_dir(const SpkDevView *v, SpkDevEntry *e, bool fixed) {
        *e = (SpkDevEntry) {
                .type = SPK_DEV_ENTRY_DIRECTORY,
                .origin = SPK_ORIGIN_NONE,
                .mode = S_IFDIR | 0555,
                .mtime_ns = v->start_time_ns,
                .fixed = fixed,
        };
}

static void entry_set_generated(const SpkDevView *v, SpkDevEntry *e, SpkNodeOrigin origin, uint64_t size) {
        *e = (SpkDevEntry) {
                .type = SPK_DEV_ENTRY_FILE,
                .origin = origin,
                .mode = S_IFREG | 0444,
                .size = size,
                .mtime_ns = v->start_time_ns,
                .fixed = true,
        };
}

/* Fills e from the host entry source (not followed). */
static int entry_set_host(SpkDevEntry *e, const char *source) {
        _cleanup_free_ char *s = NULL;
        struct stat st;

        if (lstat(source, &st) < 0)
                return negative_errno();
        s = strdup(source);
        if (!s)
                return -ENOMEM;

        *e = (SpkDevEntry) { .mtime_ns = timespec_ns(&st.st_mtim) };
        if (S_ISDIR(st.st_mode)) {
                e->type = SPK_DEV_ENTRY_DIRECTORY;
                e->origin = SPK_ORIGIN_HOST;
                e->mode = S_IFDIR | 0555;
        } else if (S_ISREG(st.st_mode)) {
                e->type = SPK_DEV_ENTRY_FILE;
                e->origin = SPK_ORIGIN_HOST;
                e->mode = S_IFREG | ((st.st_mode & S_IXUSR) ? 0555 : 0444);
                e->size = (uint64_t) st.st_size;
        } else if (S_ISLNK(st.st_mode)) {
                e->type = SPK_DEV_ENTRY_SYMLINK;
                e->origin = SPK_ORIGIN_HOST;
                e->mode = S_IFLNK | 0777;
                e->size = (uint64_t) st.st_size;
        } else {
                /* A fifo, socket or device: packed as an empty file, never opened. */
                e->type = SPK_DEV_ENTRY_FILE;
                e->origin = SPK_ORIGIN_NONE;
                e->mode = S_IFREG | 0444;
        }
        e->source = TAKE_PTR(s);
        return 0;
}

static bool is_reserved_dir(const char *name) {
        return streq(name, "dev") || streq(name, "tmp") || streq(name, "var");
}

int spk_dev_view_lookup(const SpkDevView *v, const char *name, SpkDevEntry *ret) {
        _cleanup_(spk_resolution_done) SpkResolution res = {};
        SpkDevEntry e = {};
        int r;

        assert(v);
        assert(name);
        assert(ret);

        if (streq(name, "sandstorm-manifest")) {
                entry_set_generated(v, ret, SPK_ORIGIN_MANIFEST, v->pkgdef->manifest_size);
                return 0;
        }
        if (streq(name, "sandstorm-http-bridge-config")) {
                entry_set_generated(v, ret, SPK_ORIGIN_BRIDGE_CONFIG, v->pkgdef->bridge_config_size);
                return 0;
        }
        if (streq(name, "proc/cpuinfo")) {
                entry_set_generated(v, ret, SPK_ORIGIN_NONE, 0);
                return 0;
        }
        if (streq(name, "sandstorm-http-bridge")) {
                struct stat st;
                char *s;

                if (!v->bridge_path)
                        return -ENOENT;
                if (stat(v->bridge_path, &st) < 0)
                        return negative_errno();
                if (!S_ISREG(st.st_mode))
                        return -ENOENT;
                s = strdup(v->bridge_path);
                if (!s)
                        return -ENOMEM;
                *ret = (SpkDevEntry) {
                        .type = SPK_DEV_ENTRY_FILE,
                        .origin = SPK_ORIGIN_BRIDGE,
                        .source = s,
                        .mode = S_IFREG | 0555,
                        .size = (uint64_t) st.st_size,
                        .mtime_ns = timespec_ns(&st.st_mtim),
                        .fixed = true,
                };
                return 0;
        }
        if (is_reserved_dir(name)) {
                entry_set_dir(v, ret, true);
                return 0;
        }
        if (spk_path_is_reserved(name))
                return -ENOENT; /* beneath dev, tmp or var */

        r = spk_source_map_resolve(&v->pkgdef->source_map, name, &res);
        if (r < 0)
                return r;

        if (res.matches) {
                r = entry_set_host(&e, res.matches[0]);
                if (r == -ENOENT && !isempty(name))
                        return -ENOENT;
                if (r < 0 && r != -ENOENT)
                        return r;
                if (r >= 0) {
                        if (isempty(name) && e.type != SPK_DEV_ENTRY_DIRECTORY) {
                                /* spk pack refuses such a root; the view shows it empty. */
                                spk_dev_entry_done(&e);
                                entry_set_dir(v, ret, false);
                                return 0;
                        }
                        *ret = e;
                        return 0;
                }
        }
        /* Only virtual children, or the root, or proc (which holds cpuinfo): a synthesized directory. */
        if (res.virtual_children || isempty(name) || streq(name, "proc")) {
                entry_set_dir(v, ret, false);
                return 0;
        }
        return -ENOENT;
}

/* A growable string vector (strv_consume() is linear per append). */
typedef struct Names {
        char **v;
        size_t n, allocated;
} Names;

static void names_done(Names *l) {
        l->v = strv_free(l->v);
        l->n = l->allocated = 0;
}

static int names_add(Names *l, const char *s) {
        char *c;

        if (l->n + 2 > l->allocated) {
                size_t na = MAX(l->allocated * 2, (size_t) 16);
                char **nv = reallocarray(l->v, na, sizeof(char *));

                if (!nv)
                        return -ENOMEM;
                l->v = nv;
                l->allocated = na;
        }
        c = strdup(s);
        if (!c)
                return -ENOMEM;
        l->v[l->n++] = c;
        l->v[l->n] = NULL;
        return 0;
}

static int names_finish(Names *l, char ***ret) {
        size_t k = 0;

        if (!l->v) {
                l->v = calloc(1, sizeof(char *));
                if (!l->v)
                        return -ENOMEM;
        }
        strv_sort(l->v);
        for (size_t i = 0; i < l->n; i++) {
                if (k > 0 && streq(l->v[i], l->v[k - 1])) {
                        free(l->v[i]);
                        continue;
                }
                l->v[k++] = l->v[i];
        }
        l->v[k] = NULL;
        *ret = TAKE_PTR(l->v);
        l->n = l->allocated = 0;
        return 0;
}

static int dir_add_names(const char *path, Names *l) {
        DIR *d;
        int r = 0;

        d = opendir(path);
        if (!d)
                return errno == ENOENT || errno == ENOTDIR ? 0 : negative_errno();
        for (;;) {
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        r = errno != 0 ? negative_errno() : 0;
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                r = names_add(l, de->d_name);
                if (r < 0)
                        break;
        }
        closedir(d);
        return r;
}

int spk_dev_view_list(const SpkDevView *v, const char *name, char ***ret) {
        _cleanup_(spk_resolution_done) SpkResolution res = {};
        _cleanup_(names_done) Names candidates = {}, out = {};
        _cleanup_(spk_dev_entry_done) SpkDevEntry self = {};
        int r;

        assert(v);
        assert(name);
        assert(ret);

        r = spk_dev_view_lookup(v, name, &self);
        if (r < 0)
                return r;
        if (self.type != SPK_DEV_ENTRY_DIRECTORY)
                return -ENOTDIR;

        if (isempty(name)) {
                static const char *const root_names[] = {
                        "sandstorm-manifest", "sandstorm-http-bridge-config", "dev", "tmp", "var", "proc",
                };
                for (size_t i = 0; i < ELEMENTSOF(root_names); i++) {
                        r = names_add(&out, root_names[i]);
                        if (r < 0)
                                return r;
                }
                if (v->bridge_path && file_exists(v->bridge_path)) {
                        r = names_add(&out, "sandstorm-http-bridge");
                        if (r < 0)
                                return r;
                }
        } else if (is_reserved_dir(name))
                return names_finish(&out, ret);
        else if (streq(name, "proc")) {
                r = names_add(&out, "cpuinfo");
                if (r < 0)
                        return r;
        }

        r = spk_source_map_resolve(&v->pkgdef->source_map, name, &res);
        if (r < 0)
                return r;
        STRV_FOREACH(m, res.matches) {
                r = dir_add_names(*m, &candidates);
                if (r < 0)
                        return r;
        }
        STRV_FOREACH(c, res.virtual_children) {
                r = names_add(&candidates, *c);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < candidates.n; i++) {
                _cleanup_(spk_resolution_done) SpkResolution child_res = {};
                _cleanup_free_ char *child = NULL;

                child = isempty(name) ? strdup(candidates.v[i]) : strjoin(name, "/", candidates.v[i]);
                if (!child)
                        return -ENOMEM;
                if (spk_path_is_reserved(child))
                        continue; /* the generated entries, added above */
                /* Each child is mapped again: a name a hidePath hides in its own mapping may still
                 * come from another one, or from nowhere. */
                r = spk_source_map_resolve(&v->pkgdef->source_map, child, &child_res);
                if (r < 0)
                        return r;
                if (!child_res.matches && !child_res.virtual_children)
                        continue;
                r = names_add(&out, candidates.v[i]);
                if (r < 0)
                        return r;
        }
        return names_finish(&out, ret);
}

const void *spk_dev_view_generated(const SpkDevView *v, const SpkDevEntry *e, size_t *ret_size) {
        static const char empty[1] = "";

        assert(v);
        assert(e);
        assert(ret_size);

        switch (e->origin) {
        case SPK_ORIGIN_MANIFEST:
                *ret_size = v->pkgdef->manifest_size;
                return v->pkgdef->manifest;
        case SPK_ORIGIN_BRIDGE_CONFIG:
                *ret_size = v->pkgdef->bridge_config_size;
                return v->pkgdef->bridge_config;
        case SPK_ORIGIN_NONE:
                if (e->type != SPK_DEV_ENTRY_FILE)
                        return NULL;
                *ret_size = 0;
                return empty;
        default:
                return NULL;
        }
}

/* ---- what was used ---- */

bool spk_dev_access_records(const SpkDevEntry *e, SpkDevAccess access) {
        assert(e);

        switch (access) {
        case SPK_DEV_ACCESS_LOOKUP:
                return e->type == SPK_DEV_ENTRY_FILE && e->size == 0;
        case SPK_DEV_ACCESS_OPEN:
                return e->type == SPK_DEV_ENTRY_FILE;
        case SPK_DEV_ACCESS_OPENDIR:
                return e->type == SPK_DEV_ENTRY_DIRECTORY;
        case SPK_DEV_ACCESS_READLINK:
                return e->type == SPK_DEV_ENTRY_SYMLINK;
        default:
                return false;
        }
}

bool spk_dev_path_recordable(const char *name) {
        assert(name);

        if (isempty(name))
                return false;
        if (streq(name, "proc/cpuinfo"))
                return true;
        return !path_has_prefix(name, "home") && !path_has_prefix(name, "proc") && !path_has_prefix(name, "sys");
}

/* FNV-1a. */
static uint64_t hash_string(const char *s) {
        uint64_t h = UINT64_C(14695981039346656037);

        for (; *s; s++) {
                h ^= (uint8_t) *s;
                h *= UINT64_C(1099511628211);
        }
        return h;
}

void spk_dev_used_done(SpkDevUsed *u) {
        if (!u)
                return;
        for (size_t i = 0; i < u->n_slots; i++)
                free(u->slots[i]);
        free(u->slots);
        *u = (SpkDevUsed) {};
}

static size_t used_slot(char *const *slots, size_t n_slots, const char *name) {
        size_t i = (size_t) hash_string(name) & (n_slots - 1);

        while (slots[i] && !streq(slots[i], name))
                i = (i + 1) & (n_slots - 1);
        return i;
}

bool spk_dev_used_contains(const SpkDevUsed *u, const char *name) {
        assert(u);
        assert(name);

        if (u->n_slots == 0)
                return false;
        return u->slots[used_slot(u->slots, u->n_slots, name)] != NULL;
}

int spk_dev_used_add(SpkDevUsed *u, const char *name) {
        size_t i;
        char *c;

        assert(u);
        assert(name);

        if (spk_dev_used_contains(u, name))
                return 0;

        /* At most half full. */
        if ((u->n + 1) * 2 > u->n_slots) {
                size_t ns = MAX(u->n_slots * 2, (size_t) 64);
                char **slots = calloc(ns, sizeof(char *));

                if (!slots)
                        return -ENOMEM;
                for (size_t k = 0; k < u->n_slots; k++)
                        if (u->slots[k])
                                slots[used_slot(slots, ns, u->slots[k])] = u->slots[k];
                free(u->slots);
                u->slots = slots;
                u->n_slots = ns;
        }

        c = strdup(name);
        if (!c)
                return -ENOMEM;
        i = used_slot(u->slots, u->n_slots, name);
        u->slots[i] = c;
        u->n++;
        return 1;
}

int spk_dev_used_note(SpkDevUsed *u, const char *name, const SpkDevEntry *e, SpkDevAccess access) {
        assert(u);
        assert(name);
        assert(e);

        if (!spk_dev_access_records(e, access) || !spk_dev_path_recordable(name))
                return 0;
        return spk_dev_used_add(u, name);
}

int spk_dev_used_list(const SpkDevUsed *u, char ***ret) {
        _cleanup_(names_done) Names l = {};
        int r;

        assert(u);
        assert(ret);

        for (size_t i = 0; i < u->n_slots; i++)
                if (u->slots[i]) {
                        r = names_add(&l, u->slots[i]);
                        if (r < 0)
                                return r;
                }
        return names_finish(&l, ret);
}

static bool strv_has(char *const *l, const char *s) {
        return l && strv_contains(l, s);
}

int spk_dev_file_list_merge(const SpkDevView *v, const char *list_name, const char *old_text, size_t old_size,
                            const SpkDevUsed *used, char **ret_text, size_t *ret_count, char ***ret_warnings,
                            char **ret_error) {
        _cleanup_strv_free_ char **old = NULL, **used_list = NULL, **warnings = NULL, **all = NULL;
        _cleanup_(names_done) Names l = {};
        _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
        char *const *always = v->pkgdef->always_include;
        bool root_recursive;
        size_t count = 0;
        int r;

        assert(v);
        assert(list_name);
        assert(used);
        assert(ret_text);
        assert(ret_warnings);

        if (old_text) {
                r = spk_file_list_parse(list_name, old_text, old_size, &old, ret_error);
                if (r < 0)
                        return r;
        }

        STRV_FOREACH(p, old) {
                _cleanup_(spk_dev_entry_done) SpkDevEntry e = {};
                bool kept = false;

                for (size_t i = 0; i < ELEMENTSOF(kept_names); i++)
                        if (streq(*p, kept_names[i]))
                                kept = true;
                if (!kept && !isempty(*p)) {
                        if (!spk_dev_path_recordable(*p)) {
                                r = strv_extendf(&warnings,
                                                 "%s: dropped '%s': packages never hold files from home, proc or sys",
                                                 list_name, *p);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        r = spk_dev_view_lookup(v, *p, &e);
                        if (r == -ENOENT || r == -ENOTDIR) {
                                r = strv_extendf(&warnings, "%s: dropped '%s': it no longer maps to anything",
                                                 list_name, *p);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        if (r < 0)
                                return error_set(ret_error, r, "Failed to look up '%s': %s", *p, strerror(-r));
                }
                r = names_add(&l, *p);
                if (r < 0)
                        return r;
        }

        r = spk_dev_used_list(used, &used_list);
        if (r < 0)
                return r;
        STRV_FOREACH(p, used_list) {
                r = names_add(&l, *p);
                if (r < 0)
                        return r;
        }

        root_recursive = strv_has(always, "");
        if (!root_recursive) {
                if (!strv_has(always, "sandstorm-manifest")) {
                        r = names_add(&l, "sandstorm-manifest");
                        if (r < 0)
                                return r;
                }
                if (v->pkgdef->uses_http_bridge) {
                        if (!strv_has(always, "sandstorm-http-bridge-config")) {
                                r = names_add(&l, "sandstorm-http-bridge-config");
                                if (r < 0)
                                        return r;
                        }
                        if (!strv_has(always, "sandstorm-http-bridge")) {
                                r = names_add(&l, "sandstorm-http-bridge");
                                if (r < 0)
                                        return r;
                        }
                }
        }

        r = names_finish(&l, &all);
        if (r < 0)
                return r;

        r = strbuf_append_str(&out, SPK_DEV_FILE_LIST_HEADER);
        if (r < 0)
                return r;
        STRV_FOREACH(p, all) {
                r = strbuf_append_str(&out, isempty(*p) ? "." : *p);
                if (r < 0)
                        return r;
                r = strbuf_append_char(&out, '\n');
                if (r < 0)
                        return r;
                count++;
        }

        *ret_text = strbuf_steal(&out, NULL);
        if (!*ret_text)
                return -ENOMEM;
        if (ret_count)
                *ret_count = count;
        *ret_warnings = TAKE_PTR(warnings);
        return 0;
}

/* ---- the FUSE file system ---- */

typedef struct OpenFile OpenFile;
typedef struct OpenDir OpenDir;

/* What the kernel was told about an inode, and what its page cache holds. */
typedef struct InodeInfo {
        uint64_t reported_size; /* in the last lookup or getattr answer */
        int64_t reported_mtime_ns;
        bool reported;
        /* The host file as it was at the last open: the kernel keeps the pages it read then (keep_cache)
         * only while the file is still that one, unchanged. */
        dev_t dev;
        ino_t ino;
        off_t size;
        int64_t mtime_ns, ctime_ns;
        bool opened;
} InodeInfo;

typedef struct InodeTable {
        char **paths;     /* ino - 1 → path */
        InodeInfo *info;  /* ino - 1 → what the kernel knows */
        size_t n, allocated;
        fuse_ino_t *slots; /* hash of path → ino, 0 = empty */
        size_t n_slots;
} InodeTable;

struct SpkDevFs {
        const SpkDevView *view;
        SpkDevUsed *used;
        struct fuse_session *se;
        struct fuse_buf buf;
        InodeTable inodes;
        OpenFile *files;
        OpenDir *dirs;
        double ttl;
        bool mounted;
        uint64_t requests;
};

/* An open file: a host fd, or generated bytes of the view. */
struct OpenFile {
        int fd;
        const uint8_t *data;
        size_t size;
        OpenFile *prev, *next; /* SpkDevFs.files: what is still open when the file system goes */
};

struct OpenDir {
        char **names;
        size_t n;
        fuse_ino_t *inos;
        fuse_ino_t self, parent;
        OpenDir *prev, *next;
};

static void inode_table_done(InodeTable *t) {
        for (size_t i = 0; i < t->n; i++)
                free(t->paths[i]);
        free(t->paths);
        free(t->info);
        free(t->slots);
        *t = (InodeTable) {};
}

static size_t inode_slot(const InodeTable *t, fuse_ino_t *slots, size_t n_slots, const char *path) {
        size_t i = (size_t) hash_string(path) & (n_slots - 1);

        while (slots[i] != 0 && !streq(t->paths[slots[i] - 1], path))
                i = (i + 1) & (n_slots - 1);
        return i;
}

static int inode_get(InodeTable *t, const char *path, fuse_ino_t *ret) {
        size_t i;
        char *c;

        if (t->n_slots > 0) {
                i = inode_slot(t, t->slots, t->n_slots, path);
                if (t->slots[i] != 0) {
                        *ret = t->slots[i];
                        return 0;
                }
        }

        if ((t->n + 1) * 2 > t->n_slots) {
                size_t ns = MAX(t->n_slots * 2, (size_t) 256);
                fuse_ino_t *slots = calloc(ns, sizeof(fuse_ino_t));

                if (!slots)
                        return -ENOMEM;
                for (size_t k = 0; k < t->n; k++)
                        slots[inode_slot(t, slots, ns, t->paths[k])] = (fuse_ino_t) (k + 1);
                free(t->slots);
                t->slots = slots;
                t->n_slots = ns;
        }
        if (t->n == t->allocated) {
                size_t na = MAX(t->allocated * 2, (size_t) 256);
                char **p = reallocarray(t->paths, na, sizeof(char *));
                InodeInfo *info;

                if (!p)
                        return -ENOMEM;
                t->paths = p;
                info = reallocarray(t->info, na, sizeof(InodeInfo));
                if (!info)
                        return -ENOMEM;
                t->info = info;
                t->allocated = na;
        }
        c = strdup(path);
        if (!c)
                return -ENOMEM;
        t->info[t->n] = (InodeInfo) {};
        t->paths[t->n++] = c;
        i = inode_slot(t, t->slots, t->n_slots, path);
        t->slots[i] = (fuse_ino_t) t->n;
        *ret = (fuse_ino_t) t->n;
        return 0;
}

static const char *inode_path(const InodeTable *t, fuse_ino_t ino) {
        if (ino == 0 || ino > t->n)
                return NULL;
        return t->paths[ino - 1];
}

static void entry_to_stat(const SpkDevEntry *e, fuse_ino_t ino, struct stat *st) {
        *st = (struct stat) {
                .st_ino = ino,
                .st_mode = e->mode,
                .st_nlink = e->type == SPK_DEV_ENTRY_DIRECTORY ? 2 : 1,
                .st_size = (off_t) e->size,
                .st_blksize = 65536,
                .st_blocks = (blkcnt_t) ((e->size + 511) / 512),
        };
        st->st_mtim.tv_sec = (time_t) (e->mtime_ns / NSEC_PER_SEC);
        st->st_mtim.tv_nsec = (long) (e->mtime_ns % NSEC_PER_SEC);
        st->st_ctim = st->st_mtim;
        st->st_atim = st->st_mtim;
}

/* The path of ino and its entry in the view now. */
static int fs_entry(SpkDevFs *fs, fuse_ino_t ino, const char **ret_path, SpkDevEntry *ret) {
        const char *path = inode_path(&fs->inodes, ino);

        if (!path)
                return -ESTALE;
        *ret_path = path;
        return spk_dev_view_lookup(fs->view, path, ret);
}

static void fs_reported(SpkDevFs *fs, fuse_ino_t ino, const SpkDevEntry *e) {
        InodeInfo *info = &fs->inodes.info[ino - 1];

        info->reported_size = e->size;
        info->reported_mtime_ns = e->mtime_ns;
        info->reported = true;
}

static void fs_note(SpkDevFs *fs, const char *path, const SpkDevEntry *e, SpkDevAccess access) {
        /* Out of memory loses a record; the run goes on. */
        (void) spk_dev_used_note(fs->used, path, e, access);
}

static void op_init(void *userdata, struct fuse_conn_info *conn) {
        if (conn->capable & FUSE_CAP_SPLICE_WRITE)
                conn->want |= FUSE_CAP_SPLICE_WRITE;
        if (conn->capable & FUSE_CAP_SPLICE_MOVE)
                conn->want |= FUSE_CAP_SPLICE_MOVE;
        /* Sizes and times are the host's; the kernel must not keep pages past a change. */
        if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
                conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
        conn->want &= ~(unsigned) FUSE_CAP_WRITEBACK_CACHE;
        conn->max_read = SPK_DEV_MAX_READ;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
        SpkDevFs *fs = fuse_req_userdata(req);
        _cleanup_(spk_dev_entry_done) SpkDevEntry e = {};
        _cleanup_free_ char *path = NULL;
        struct fuse_entry_param ep = {
                .attr_timeout = fs->ttl,
                .entry_timeout = fs->ttl,
        };
        const char *pp = inode_path(&fs->inodes, parent);
        int r;

        if (!pp) {
                fuse_reply_err(req, ESTALE);
                return;
        }
        if (strchr(name, '/') || streq(name, ".") || streq(name, "..")) {
                fuse_reply_err(req, ENOENT);
                return;
        }
        path = isempty(pp) ? strdup(name) : strjoin(pp, "/", name);
        if (!path) {
                fuse_reply_err(req, ENOMEM);
                return;
        }
        r = spk_dev_view_lookup(fs->view, path, &e);
        if (r == -ENOENT || r == -ENOTDIR) {
                /* Negative entry, cached for the same time as a positive one. */
                fuse_reply_entry(req, &ep);
                return;
        }
        if (r < 0) {
                fuse_reply_err(req, -r);
                return;
        }
        r = inode_get(&fs->inodes, path, &ep.ino);
        if (r < 0) {
                fuse_reply_err(req, -r);
                return;
        }
        ep.generation = 1;
        entry_to_stat(&e, ep.ino, &ep.attr);
        fs_reported(fs, ep.ino, &e);
        fs_note(fs, path, &e, SPK_DEV_ACCESS_LOOKUP);
        fuse_reply_entry(req, &ep);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        SpkDevFs *fs = fuse_req_userdata(req);
        _cleanup_(spk_dev_entry_done) SpkDevEntry e = {};
        const char *path;
        struct stat st;
        int r;

        r = fs_entry(fs, ino, &path, &e);
        if (r < 0) {
                fuse_reply_err(req, -r);
                return;
        }
        entry_to_stat(&e, ino, &st);
        fs_reported(fs, ino, &e);
        fs_note(fs, path, &e, SPK_DEV_ACCESS_LOOKUP);
        fuse_reply_attr(req, &st, fs->ttl);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino) {
        SpkDevFs *fs = fuse_req_userdata(req);
        _cleanup_(spk_dev_entry_done) SpkDevEntry e = {};
        char target[PATH_MAX + 1];
        const char *path;
        ssize_t n;
        int r;

        r = fs_entry(fs, ino, &path, &e);
        if (r < 0) {
                fuse_reply_err(req, -r);
                return;
        }
        if (e.type != SPK_DEV_ENTRY_SYMLINK) {
                fuse_reply_err(req, EINVAL);
                return;
        }
        n = readlink(e.source, target, sizeof(target) - 1);
        if (n < 0) {
                fuse_reply_err(req, errno);
                return;
        }
        target[n] = '\0';
        fs_note(fs, path, &e, SPK_DEV_ACCESS_READLINK);
        fuse_reply_readlink(req, target);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        SpkDevFs *fs = fuse_req_userdata(req);
        _cleanup_(spk_dev_entry_done) SpkDevEntry e = {};
        _cleanup_free_ OpenFile *of = NULL;
        const char *path;
        int r;

        if ((fi->flags & O_ACCMODE) != O_RDONLY) {
                fuse_reply_err(req, EROFS);
                return;
        }
        r = fs_entry(fs, ino, &path, &e);
        if (r < 0) {
                fuse_reply_err(req, -r);
                return;
        }
        if (e.type == SPK_DEV_ENTRY_DIRECTORY) {
                fuse_reply_err(req, EISDIR);
                return;
        }
        if (e.type != SPK_DEV_ENTRY_FILE) {
                fuse_reply_err(req, ELOOP);
                return;
        }

        of = calloc(1, sizeof(OpenFile));
        if (!of) {
                fuse_reply_err(req, ENOMEM);
                return;
        }
        of->fd = -EBADF;
        if (e.origin == SPK_ORIGIN_HOST || e.origin == SPK_ORIGIN_BRIDGE) {
                /* The bridge is configured by path and may be a symlink; the source tree is not
                 * followed. */
                of->fd = open(e.source, O_RDONLY | O_CLOEXEC | O_NOCTTY |
                                                (e.origin == SPK_ORIGIN_HOST ? O_NOFOLLOW : 0));
                if (of->fd < 0) {
                        fuse_reply_err(req, errno);
                        return;
                }
        } else
                of->data = spk_dev_view_generated(fs->view, &e, &of->size);

        if (of->fd >= 0) {
                InodeInfo *info = &fs->inodes.info[ino - 1];
                struct stat st;

                if (fstat(of->fd, &st) < 0) {
                        fuse_reply_err(req, errno);
                        return;
                }
                /* The pages the kernel holds stay only if the host file is the same, unchanged. */
                fi->keep_cache = info->opened && info->dev == st.st_dev && info->ino == st.st_ino &&
                                 info->size == st.st_size && info->mtime_ns == timespec_ns(&st.st_mtim) &&
                                 info->ctime_ns == timespec_ns(&st.st_ctim);
                info->dev = st.st_dev;
                info->ino = st.st_ino;
                info->size = st.st_size;
                info->mtime_ns = timespec_ns(&st.st_mtim);
                info->ctime_ns = timespec_ns(&st.st_ctim);
                info->opened = true;
                /* A change within the attribute TTL: the kernel's size is stale, and a read would stop
                 * at it. Tell it to ask again (attributes only; the pages go through keep_cache). */
                if (info->reported && ((uint64_t) st.st_size != info->reported_size ||
                                       timespec_ns(&st.st_mtim) != info->reported_mtime_ns)) {
                        (void) fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
                        info->reported = false;
                }
        } else
                fi->keep_cache = true; /* generated bytes never change during a run */

        fs_note(fs, path, &e, SPK_DEV_ACCESS_OPEN);
        fi->fh = (uint64_t) (uintptr_t) of;
        if (fuse_reply_open(req, fi) != 0) {
                safe_close(of->fd);
                return;
        }
        LIST_PREPEND(fs->files, of);
        TAKE_PTR(of);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
        OpenFile *of = (OpenFile *) (uintptr_t) fi->fh;

        if (of->fd >= 0) {
                struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);

                bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
                bv.buf[0].fd = of->fd;
                bv.buf[0].pos = off;
                fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
                return;
        }
        if (off < 0 || (uint64_t) off >= of->size) {
                fuse_reply_buf(req, NULL, 0);
                return;
        }
        fuse_reply_buf(req, (const char *) of->data + off, MIN(size, of->size - (size_t) off));
}

static void open_file_free(OpenFile *of) {
        if (!of)
                return;
        safe_close(of->fd);
        free(of);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        SpkDevFs *fs = fuse_req_userdata(req);
        OpenFile *of = (OpenFile *) (uintptr_t) fi->fh;

        if (of) {
                LIST_REMOVE(fs->files, of);
                open_file_free(of);
        }
        fuse_reply_err(req, 0);
}

static OpenDir *open_dir_free(OpenDir *d) {
        if (!d)
                return NULL;
        strv_free(d->names);
        free(d->inos);
        free(d);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(OpenDir *, open_dir_free);

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        SpkDevFs *fs = fuse_req_userdata(req);
        _cleanup_(spk_dev_entry_done) SpkDevEntry e = {};
        _cleanup_(open_dir_freep) OpenDir *d = NULL;
        _cleanup_free_ char *parent = NULL;
        const char *path;
        int r;

        r = fs_entry(fs, ino, &path, &e);
        if (r < 0) {
                fuse_reply_err(req, -r);
                return;
        }
        if (e.type != SPK_DEV_ENTRY_DIRECTORY) {
                fuse_reply_err(req, ENOTDIR);
                return;
        }
        d = calloc(1, sizeof(OpenDir));
        if (!d) {
                fuse_reply_err(req, ENOMEM);
                return;
        }
        r = spk_dev_view_list(fs->view, path, &d->names);
        if (r < 0) {
                fuse_reply_err(req, -r);
                return;
        }
        d->n = strv_length(d->names);
        d->inos = calloc(d->n + 1, sizeof(fuse_ino_t));
        if (!d->inos) {
                fuse_reply_err(req, ENOMEM);
                return;
        }
        /* Numbers for the children now, so that readdir reports the ones lookup will. The path
         * strings go into the table, which the inode numbers index. */
        path = NULL;
        for (size_t i = 0; i < d->n; i++) {
                _cleanup_free_ char *child = NULL;
                const char *self = inode_path(&fs->inodes, ino);

                child = isempty(self) ? strdup(d->names[i]) : strjoin(self, "/", d->names[i]);
                if (!child) {
                        fuse_reply_err(req, ENOMEM);
                        return;
                }
                r = inode_get(&fs->inodes, child, &d->inos[i]);
                if (r < 0) {
                        fuse_reply_err(req, -r);
                        return;
                }
        }
        path = inode_path(&fs->inodes, ino);
        d->self = ino;
        if (isempty(path))
                d->parent = FUSE_ROOT_ID;
        else {
                parent = path_dirname(path);
                if (!parent || inode_get(&fs->inodes, parent, &d->parent) < 0) {
                        fuse_reply_err(req, ENOMEM);
                        return;
                }
                path = inode_path(&fs->inodes, ino);
        }

        fs_note(fs, path, &e, SPK_DEV_ACCESS_OPENDIR);
        fi->fh = (uint64_t) (uintptr_t) d;
        fi->cache_readdir = false;
        if (fuse_reply_open(req, fi) != 0)
                return;
        LIST_PREPEND(fs->dirs, d);
        TAKE_PTR(d);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
        OpenDir *d = (OpenDir *) (uintptr_t) fi->fh;
        _cleanup_free_ char *buf = NULL;
        size_t used = 0;

        buf = malloc(size);
        if (!buf) {
                fuse_reply_err(req, ENOMEM);
                return;
        }
        /* Offsets: 0 ".", 1 "..", 2 + i the i-th name; each entry's offset is the next one's. */
        for (off_t i = off; i >= 0 && (size_t) i < d->n + 2; i++) {
                struct stat st = {};
                const char *name;
                size_t k;

                if (i == 0) {
                        name = ".";
                        st.st_ino = d->self;
                        st.st_mode = S_IFDIR;
                } else if (i == 1) {
                        name = "..";
                        st.st_ino = d->parent;
                        st.st_mode = S_IFDIR;
                } else {
                        name = d->names[i - 2];
                        st.st_ino = d->inos[i - 2];
                }
                k = fuse_add_direntry(req, buf + used, size - used, name, &st, i + 1);
                if (k > size - used)
                        break;
                used += k;
        }
        fuse_reply_buf(req, buf, used);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        SpkDevFs *fs = fuse_req_userdata(req);
        OpenDir *d = (OpenDir *) (uintptr_t) fi->fh;

        if (d) {
                LIST_REMOVE(fs->dirs, d);
                open_dir_free(d);
        }
        fuse_reply_err(req, 0);
}

static const struct fuse_lowlevel_ops devfs_ops = {
        .init = op_init,
        .lookup = op_lookup,
        .getattr = op_getattr,
        .readlink = op_readlink,
        .open = op_open,
        .read = op_read,
        .release = op_release,
        .opendir = op_opendir,
        .readdir = op_readdir,
        .releasedir = op_releasedir,
};

/* libfuse prints its own complaints to stderr; the program reports failures once, itself. */
static void devfs_log(enum fuse_log_level level, const char *fmt, va_list ap) {
}

int spk_devfs_new(const SpkDevView *v, SpkDevUsed *used, const char *mountpoint, const SpkDevFsOptions *opts,
                  SpkDevFs **ret, char **ret_error) {
        _cleanup_(spk_devfs_freep) SpkDevFs *fs = NULL;
        _cleanup_free_ char *o = NULL;
        struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
        fuse_ino_t root;
        int r;

        assert(v);
        assert(used);
        assert(mountpoint);
        assert(opts);
        assert(ret);

        fs = calloc(1, sizeof(SpkDevFs));
        if (!fs)
                return -ENOMEM;
        fs->view = v;
        fs->used = used;
        fs->ttl = opts->cache_forever ? SPK_DEV_TTL_FOREVER_SEC : SPK_DEV_TTL_SEC;
        r = inode_get(&fs->inodes, "", &root);
        if (r < 0)
                return r;
        assert(root == FUSE_ROOT_ID);

        if (asprintf(&o, "ro,nosuid,nodev,default_permissions,fsname=%s,subtype=spk-dev,max_read=%u%s",
                     opts->fsname ?: "spk-dev", SPK_DEV_MAX_READ, opts->allow_other ? ",allow_other" : "") < 0)
                return -ENOMEM;
        if (fuse_opt_add_arg(&args, "spk-dev") < 0 || fuse_opt_add_arg(&args, "-o") < 0 ||
            fuse_opt_add_arg(&args, o) < 0) {
                fuse_opt_free_args(&args);
                return -ENOMEM;
        }

        fuse_set_log_func(devfs_log);
        fs->se = fuse_session_new(&args, &devfs_ops, sizeof(devfs_ops), fs);
        fuse_opt_free_args(&args);
        if (!fs->se)
                return error_set(ret_error, -EINVAL, "Failed to set up the FUSE session");
        if (fuse_session_mount(fs->se, mountpoint) != 0)
                return error_set(ret_error, -EIO,
                            "Failed to mount the package view at '%s' (is /dev/fuse there, and fusermount3 "
                            "installed; for other users, user_allow_other in /etc/fuse.conf?)",
                            mountpoint);
        fs->mounted = true;
        r = fcntl(fuse_session_fd(fs->se), F_GETFL);
        if (r < 0 || fcntl(fuse_session_fd(fs->se), F_SETFL, r | O_NONBLOCK) < 0)
                return error_set(ret_error, negative_errno(), "Failed to set up the FUSE device");

        *ret = TAKE_PTR(fs);
        return 0;
}

int spk_devfs_fd(SpkDevFs *fs) {
        assert(fs);
        return fuse_session_fd(fs->se);
}

int spk_devfs_process(SpkDevFs *fs) {
        int r;

        assert(fs);

        if (fuse_session_exited(fs->se))
                return -ENODEV;
        r = fuse_session_receive_buf(fs->se, &fs->buf);
        if (r == -EAGAIN || r == -EINTR)
                return 0;
        if (r < 0)
                return r;
        if (fuse_session_exited(fs->se))
                return -ENODEV;
        if (r == 0)
                return 0;
        fs->requests++;
        fuse_session_process_buf(fs->se, &fs->buf);
        return 0;
}

SpkDevFs *spk_devfs_free(SpkDevFs *fs) {
        if (!fs)
                return NULL;
        if (fs->se) {
                if (fs->mounted)
                        fuse_session_unmount(fs->se);
                fuse_session_destroy(fs->se);
        }
        while (fs->files) {
                OpenFile *of = fs->files;

                LIST_REMOVE(fs->files, of);
                open_file_free(of);
        }
        while (fs->dirs) {
                OpenDir *d = fs->dirs;

                LIST_REMOVE(fs->dirs, d);
                open_dir_free(d);
        }
        free(fs->buf.mem);
        inode_table_done(&fs->inodes);
        free(fs);
        return NULL;
}

uint64_t spk_devfs_requests(const SpkDevFs *fs) {
        assert(fs);
        return fs->requests;
}
