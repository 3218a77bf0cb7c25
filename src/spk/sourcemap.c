/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/string-util.h"
#include "spk/sourcemap.h"

/*
 * Building the tree. spk_tree_include() is called once per requirement; it maps the path, creates the
 * node (and synthesized parents) and, for a recursive requirement of a directory, walks the union of
 * the matching host directories plus the virtual children, mapping every child again. A node's
 * children stay sorted; because a recursive walk visits children in sorted order and a file list is
 * usually sorted, insertion is nearly always an append.
 */

static const char *display(const char *name) {
        return isempty(name) ? "." : name;
}

/* If prefix is a path-component prefix of name, the rest of name after it (without the separating
 * '/'), else NULL. The empty prefix matches everything. */
static const char *path_component_prefix(const char *prefix, const char *name) {
        size_t n;

        if (isempty(prefix))
                return name;
        n = strlen(prefix);
        if (!strneq(name, prefix, n))
                return NULL;
        if (name[n] == '\0')
                return name + n;
        if (name[n] == '/')
                return name + n + 1;
        return NULL;
}

void spk_source_map_done(SpkSourceMap *m) {
        if (!m)
                return;
        for (size_t i = 0; i < m->n_mappings; i++) {
                free(m->mappings[i].package_path);
                free(m->mappings[i].source_path);
                strv_free(m->mappings[i].hide_paths);
        }
        free(m->mappings);
        free(m->source_dir);
        *m = (SpkSourceMap) {};
}

static char *strip_slashes(const char *s) {
        size_t n;

        s += strspn(s, "/");
        n = strlen(s);
        while (n > 0 && s[n - 1] == '/')
                n--;
        return strndup_safe(s, n);
}

int spk_source_map_add(SpkSourceMap *m, const char *package_path, const char *source_path,
                       char *const *hide_paths) {
        _cleanup_free_ char *pp = NULL, *sp = NULL;
        _cleanup_strv_free_ char **hide = NULL;
        SpkMapping *n;
        int r;

        assert(m);

        /* packagePath is canonical by definition (no leading '/'); slashes around it are forgiven. */
        pp = strip_slashes(package_path ?: "");
        if (!pp)
                return -ENOMEM;
        if (!isempty(pp)) {
                char *c;

                r = spk_package_path_canonicalize(pp, strlen(pp), &c);
                if (r < 0)
                        return r;
                free(pp);
                pp = c;
        }
        sp = strdup(source_path ?: "");
        if (!sp)
                return -ENOMEM;
        STRV_FOREACH(h, hide_paths) {
                char *c = strip_slashes(*h);

                if (!c)
                        return -ENOMEM;
                /* An empty hide path would hide nothing in Sandstorm (sub is never empty there). */
                if (isempty(c)) {
                        free(c);
                        continue;
                }
                r = strv_consume(&hide, c);
                if (r < 0)
                        return r;
        }

        n = reallocarray(m->mappings, m->n_mappings + 1, sizeof(SpkMapping));
        if (!n)
                return -ENOMEM;
        m->mappings = n;
        m->mappings[m->n_mappings++] = (SpkMapping) {
                .package_path = TAKE_PTR(pp),
                .source_path = TAKE_PTR(sp),
                .hide_paths = TAKE_PTR(hide),
        };
        return 0;
}

void spk_resolution_done(SpkResolution *r) {
        if (!r)
                return;
        r->matches = strv_free(r->matches);
        r->virtual_children = strv_free(r->virtual_children);
}

static char *mapping_candidate(const SpkSourceMap *m, const SpkMapping *mapping, const char *sub) {
        _cleanup_free_ char *inner = NULL;
        char *p;

        inner = path_join(mapping->source_path, sub);
        if (!inner)
                return NULL;
        if (path_is_absolute(mapping->source_path))
                p = TAKE_PTR(inner);
        else
                p = path_join(m->source_dir, inner);
        if (p && isempty(p)) {
                free(p);
                p = strdup(".");
        }
        return p;
}

int spk_source_map_resolve(const SpkSourceMap *m, const char *name, SpkResolution *ret) {
        _cleanup_strv_free_ char **matches = NULL, **children = NULL;
        int r;

        assert(m);
        assert(name);
        assert(ret);

        for (size_t i = 0; i < m->n_mappings; i++) {
                const SpkMapping *mapping = &m->mappings[i];
                const char *sub, *rest;

                sub = path_component_prefix(mapping->package_path, name);
                if (sub) {
                        _cleanup_free_ char *candidate = NULL;
                        bool hidden = false;

                        if (!isempty(sub))
                                STRV_FOREACH(h, mapping->hide_paths)
                                        if (path_component_prefix(*h, sub)) {
                                                hidden = true;
                                                break;
                                        }
                        if (hidden)
                                continue;

                        candidate = mapping_candidate(m, mapping, sub);
                        if (!candidate)
                                return -ENOMEM;
                        if (faccessat(AT_FDCWD, candidate, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
                                continue;

                        if (isempty(name)) {
                                struct stat st;

                                /* The root is a directory even when the mapping names it through a
                                 * symlink. */
                                if (lstat(candidate, &st) >= 0 && S_ISLNK(st.st_mode)) {
                                        char *real = realpath(candidate, NULL);

                                        if (!real) {
                                                if (errno == ENOMEM)
                                                        return -ENOMEM;
                                                continue; /* dangling: nothing there */
                                        }
                                        free(candidate);
                                        candidate = real;
                                }
                        }
                        r = strv_consume(&matches, TAKE_PTR(candidate));
                        if (r < 0)
                                return r;
                        continue;
                }

                rest = path_component_prefix(name, mapping->package_path);
                if (rest && !isempty(rest)) {
                        size_t n = strcspn(rest, "/");
                        _cleanup_free_ char *child = strndup_safe(rest, n);

                        if (!child)
                                return -ENOMEM;
                        if (strv_contains(children, child))
                                continue;
                        r = strv_consume(&children, TAKE_PTR(child));
                        if (r < 0)
                                return r;
                }
        }

        strv_sort(children);
        *ret = (SpkResolution) {
                .matches = TAKE_PTR(matches),
                .virtual_children = TAKE_PTR(children),
        };
        return 0;
}

int spk_package_path_canonicalize(const char *path, size_t len, char **ret) {
        const char *p, *end;
        char *c;

        assert(path || len == 0);
        assert(ret);

        if (len > 0 && memchr(path, '\0', len))
                return -EINVAL;
        if (len > 0 && path[0] == '/')
                return -EINVAL;
        while (len > 0 && path[len - 1] == '/')
                len--;
        if (len == 0 || (len == 1 && path[0] == '.')) {
                c = strdup("");
                if (!c)
                        return -ENOMEM;
                *ret = c;
                return 0;
        }

        for (p = path, end = path + len; p < end;) {
                const char *slash = memchr(p, '/', (size_t) (end - p));
                size_t n = slash ? (size_t) (slash - p) : (size_t) (end - p);

                if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return -EINVAL;
                p += n + (slash ? 1 : 0);
        }

        c = strndup_safe(path, len);
        if (!c)
                return -ENOMEM;
        *ret = c;
        return 0;
}

static SpkNode *node_free(SpkNode *n, bool self) {
        if (!n)
                return NULL;
        for (size_t i = 0; i < n->n_children; i++)
                node_free(n->children[i], true);
        free(n->children);
        free(n->name);
        free(n->source);
        free(n->link_target);
        if (self)
                free(n);
        return NULL;
}

void spk_tree_init(SpkTree *t, int64_t pack_time_ns) {
        assert(t);
        *t = (SpkTree) {
                .root = {
                        .type = SPK_NODE_DIRECTORY,
                        .mtime_ns = pack_time_ns,
                        .mapped = true,
                },
                .pack_time_ns = pack_time_ns,
        };
}

void spk_tree_done(SpkTree *t) {
        if (!t)
                return;
        node_free(&t->root, false);
        strv_free(t->warnings);
        *t = (SpkTree) {};
}

/* Orders a NUL-terminated name against name[0..len) (which holds no NUL) as strcmp would. */
static int name_cmp(const char *a, const char *b, size_t len) {
        int c = strncmp(a, b, len);

        if (c != 0)
                return c;
        return a[len] != '\0' ? 1 : 0;
}

/* Binary search among n's sorted children: the child named name[0..len), or NULL with *ret_pos the
 * index where it would go. */
static SpkNode *node_child(const SpkNode *n, const char *name, size_t len, size_t *ret_pos) {
        size_t lo = 0, hi = n->n_children;

        /* The usual case: appending in sorted order. */
        if (hi > 0 && name_cmp(n->children[hi - 1]->name, name, len) < 0) {
                if (ret_pos)
                        *ret_pos = hi;
                return NULL;
        }

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = name_cmp(n->children[mid]->name, name, len);

                if (c == 0)
                        return n->children[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (ret_pos)
                *ret_pos = lo;
        return NULL;
}

static int node_insert(SpkNode *parent, size_t pos, const char *name, size_t len, SpkNode **ret) {
        _cleanup_free_ SpkNode *child = NULL;

        assert(parent->type == SPK_NODE_DIRECTORY);

        if (parent->n_children == parent->allocated_children) {
                size_t na = MAX(parent->allocated_children * 2, (size_t) 8);
                SpkNode **c = reallocarray(parent->children, na, sizeof(SpkNode *));

                if (!c)
                        return -ENOMEM;
                parent->children = c;
                parent->allocated_children = na;
        }

        child = calloc(1, sizeof(SpkNode));
        if (!child)
                return -ENOMEM;
        child->name = strndup_safe(name, len);
        if (!child->name)
                return -ENOMEM;

        memmove(parent->children + pos + 1, parent->children + pos,
                (parent->n_children - pos) * sizeof(SpkNode *));
        parent->children[pos] = child;
        parent->n_children++;
        *ret = TAKE_PTR(child);
        return 0;
}

/* A growable, NULL-terminated string vector; strv_consume() is linear per append, too slow for
 * directories and file lists of 100k names. */
typedef struct NameVec {
        char **v;
        size_t n;
        size_t allocated;
} NameVec;

static void name_vec_done(NameVec *nv) {
        nv->v = strv_free(nv->v);
        nv->n = nv->allocated = 0;
}

static int name_vec_consume(NameVec *nv, char *s) {
        if (!s)
                return -ENOMEM;
        if (nv->n + 2 > nv->allocated) {
                size_t na = MAX(nv->allocated * 2, (size_t) 16);
                char **v = reallocarray(nv->v, na, sizeof(char *));

                if (!v) {
                        free(s);
                        return -ENOMEM;
                }
                nv->v = v;
                nv->allocated = na;
        }
        nv->v[nv->n++] = s;
        nv->v[nv->n] = NULL;
        return 0;
}

SpkNode *spk_tree_find(SpkTree *t, const char *path) {
        SpkNode *n = &t->root;
        const char *p = path;

        assert(t);
        assert(path);

        while (*p) {
                size_t len = strcspn(p, "/");

                if (n->type != SPK_NODE_DIRECTORY)
                        return NULL;
                n = node_child(n, p, len, NULL);
                if (!n)
                        return NULL;
                p += len;
                if (*p == '/')
                        p++;
        }
        return n;
}

static const char *node_type_to_string(SpkNodeType t) {
        switch (t) {
        case SPK_NODE_DIRECTORY:
                return "directory";
        case SPK_NODE_REGULAR:
                return "file";
        case SPK_NODE_EXECUTABLE:
                return "executable";
        case SPK_NODE_SYMLINK:
                return "symlink";
        default:
                return "entry";
        }
}

static unsigned path_depth(const char *path) {
        unsigned d;

        if (isempty(path))
                return 0;
        d = 1;
        for (const char *p = path; *p; p++)
                if (*p == '/')
                        d++;
        return d;
}

/* The directory node that holds path's last component, synthesizing missing parents with the pack
 * time; *ret_base points into path at that last component. */
static int tree_parent(SpkTree *t, const char *path, SpkNode **ret_parent, const char **ret_base,
                       char **ret_error) {
        SpkNode *n = &t->root;
        const char *p = path;
        int r;

        if (path_depth(path) > SPK_TREE_MAX_DEPTH)
                return error_set(ret_error, -ELOOP, "Cannot pack '%s': more than %u directory levels", path,
                            SPK_TREE_MAX_DEPTH);

        for (;;) {
                size_t len = strcspn(p, "/"), pos;
                SpkNode *c;

                if (p[len] == '\0')
                        break;
                c = node_child(n, p, len, &pos);
                if (!c) {
                        r = node_insert(n, pos, p, len, &c);
                        if (r < 0)
                                return r;
                        c->type = SPK_NODE_DIRECTORY;
                        c->mtime_ns = t->pack_time_ns;
                } else if (c->type != SPK_NODE_DIRECTORY)
                        return error_set(ret_error, -ENOTDIR,
                                    "Cannot pack '%s': '%.*s' is a %s in the package, not a directory", path,
                                    (int) (p + len - path), path, node_type_to_string(c->type));
                n = c;
                p += len + 1;
        }

        *ret_parent = n;
        *ret_base = p;
        return 0;
}

int spk_tree_add_fixed(SpkTree *t, const char *path, SpkNodeType type, SpkNodeOrigin origin, SpkNode **ret) {
        SpkNode *parent, *n;
        const char *base;
        size_t pos;
        int r;

        assert(t);
        assert(!isempty(path));

        r = tree_parent(t, path, &parent, &base, NULL);
        if (r < 0)
                return r;
        n = node_child(parent, base, strlen(base), &pos);
        if (n) {
                if (!n->fixed || n->type != type || n->origin != origin)
                        return -EEXIST;
        } else {
                r = node_insert(parent, pos, base, strlen(base), &n);
                if (r < 0)
                        return r;
                n->type = type;
                n->origin = origin;
                n->fixed = true;
                n->mapped = true;
                n->mtime_ns = type == SPK_NODE_DIRECTORY ? t->pack_time_ns : 0;
        }
        if (ret)
                *ret = n;
        return 0;
}

static const char *const reserved_files[] = {
        "sandstorm-manifest",
        "sandstorm-http-bridge-config",
        "sandstorm-http-bridge",
        "proc/cpuinfo",
};
static const char *const reserved_dirs[] = { "dev", "tmp", "var" };

static bool path_is_under_reserved_dir(const char *path) {
        for (size_t i = 0; i < ELEMENTSOF(reserved_dirs); i++)
                if (path_component_prefix(reserved_dirs[i], path))
                        return true;
        return false;
}

bool spk_path_is_reserved(const char *path) {
        assert(path);

        for (size_t i = 0; i < ELEMENTSOF(reserved_files); i++)
                if (streq(path, reserved_files[i]))
                        return true;
        return path_is_under_reserved_dir(path);
}

static int readlink_alloc(const char *path, size_t hint, char **ret) {
        size_t size = MAX(hint + 1, (size_t) 64);

        for (;;) {
                _cleanup_free_ char *buf = malloc(size);
                ssize_t n;

                if (!buf)
                        return -ENOMEM;
                n = readlink(path, buf, size);
                if (n < 0)
                        return negative_errno();
                if ((size_t) n < size) {
                        buf[n] = '\0';
                        *ret = TAKE_PTR(buf);
                        return 0;
                }
                if (size > PATH_MAX * 4)
                        return -ENAMETOOLONG;
                size *= 2;
        }
}

static int64_t timespec_to_ns(const struct timespec *ts) {
        return (int64_t) ts->tv_sec * INT64_C(1000000000) + ts->tv_nsec;
}

/* Fills the new node n for path name from the non-directory host file source. */
static int node_set_from_host(SpkTree *t, SpkNode *n, const char *name, const char *source,
                              const struct stat *st, char **ret_error) {
        int r;

        n->mtime_ns = timespec_to_ns(&st->st_mtim);
        n->mapped = true;

        if (S_ISREG(st->st_mode)) {
                if ((uint64_t) st->st_size >= SPK_FILE_MAX_SIZE)
                        return error_set(ret_error, -EFBIG,
                                    "Cannot pack '%s' ('%s'): it is %" PRIu64
                                    " bytes, and files must be smaller than 512 MiB",
                                    name, source, (uint64_t) st->st_size);
                n->type = (st->st_mode & S_IXUSR) ? SPK_NODE_EXECUTABLE : SPK_NODE_REGULAR;
                n->origin = SPK_ORIGIN_HOST;
                n->size = (uint64_t) st->st_size;
                n->source = strdup(source);
                return n->source ? 0 : -ENOMEM;
        }

        if (S_ISLNK(st->st_mode)) {
                n->type = SPK_NODE_SYMLINK;
                r = readlink_alloc(source, (size_t) st->st_size, &n->link_target);
                if (r < 0)
                        return error_set(ret_error, r, "Failed to read symlink '%s': %s", source, strerror(-r));
                return 0;
        }

        n->type = SPK_NODE_REGULAR;
        n->origin = SPK_ORIGIN_NONE;
        return strv_extendf(&t->warnings,
                            "'%s' ('%s') is not a regular file, directory or symlink; packing it as an empty file",
                            name, source);
}

static int dir_read_names(const char *path, NameVec *names, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        DIR *d;
        int r = 0;

        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                r = negative_errno();
                return error_set(ret_error, r, "Failed to open directory '%s': %s", path, strerror(-r));
        }
        d = fdopendir(fd);
        if (!d)
                return -ENOMEM;
        TAKE_FD(fd);

        for (;;) {
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0) {
                                r = negative_errno();
                                (void) error_set(ret_error, r, "Failed to read directory '%s': %s", path,
                                            strerror(-r));
                        }
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                r = name_vec_consume(names, strdup(de->d_name));
                if (r < 0)
                        break;
        }
        closedir(d);
        return r;
}

static int include_at(SpkTree *t, const SpkSourceMap *m, SpkNode *parent, const char *name, const char *base,
                      bool recursive, bool required, unsigned depth, char **ret_error);

/* A recursive requirement: the union of the matching directories and the virtual children, each
 * child mapped on its own (so hide rules and precedence apply per child). */
static int include_children(SpkTree *t, const SpkSourceMap *m, SpkNode *n, const char *name,
                            const SpkResolution *res, unsigned depth, char **ret_error) {
        _cleanup_(name_vec_done) NameVec names = {};
        int r;

        STRV_FOREACH(match, res->matches) {
                struct stat st;

                if (lstat(*match, &st) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                r = dir_read_names(*match, &names, ret_error);
                if (r < 0)
                        return r;
        }
        STRV_FOREACH(c, res->virtual_children) {
                r = name_vec_consume(&names, strdup(*c));
                if (r < 0)
                        return r;
        }
        strv_sort(names.v);

        for (size_t i = 0; i < names.n; i++) {
                _cleanup_free_ char *child = NULL;

                if (i > 0 && streq(names.v[i], names.v[i - 1]))
                        continue;
                child = isempty(name) ? strdup(names.v[i]) : strjoin(name, "/", names.v[i]);
                if (!child)
                        return -ENOMEM;
                if (spk_path_is_reserved(child))
                        continue;
                r = include_at(t, m, n, child, path_basename(child), true, false, depth + 1, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int include_at(SpkTree *t, const SpkSourceMap *m, SpkNode *parent, const char *name, const char *base,
                      bool recursive, bool required, unsigned depth, char **ret_error) {
        _cleanup_(spk_resolution_done) SpkResolution res = {};
        struct stat st = {};
        bool is_dir;
        SpkNode *n;
        size_t pos;
        int r;

        if (depth > SPK_TREE_MAX_DEPTH)
                return error_set(ret_error, -ELOOP, "Cannot pack '%s': more than %u directory levels", name,
                            SPK_TREE_MAX_DEPTH);

        r = spk_source_map_resolve(m, name, &res);
        if (r < 0)
                return r;
        if (!res.matches && !res.virtual_children) {
                if (!required)
                        return 0;
                return error_set(ret_error, -ENOENT, "No file found to satisfy requirement: %s", display(name));
        }

        if (res.matches) {
                if (lstat(res.matches[0], &st) < 0) {
                        r = negative_errno();
                        if (r == -ENOENT && !required)
                                return 0; /* vanished since the directory was read */
                        return error_set(ret_error, r, "Failed to stat '%s': %s", res.matches[0], strerror(-r));
                }
                is_dir = S_ISDIR(st.st_mode);
        } else
                is_dir = true;

        if (!parent) {
                /* The root. */
                if (!is_dir)
                        return error_set(ret_error, -ENOTDIR, "The package root maps to '%s', which is not a directory",
                                    res.matches[0]);
                return recursive ? include_children(t, m, &t->root, name, &res, depth, ret_error) : 0;
        }

        n = node_child(parent, base, strlen(base), &pos);
        if (n) {
                if (n->fixed)
                        return 0;
                if (n->mapped && n->type != SPK_NODE_DIRECTORY)
                        return 0; /* the same requirement again */
                if (!is_dir)
                        /* A synthesized parent (it has children) that the source has as a file. */
                        return error_set(ret_error, -ENOTDIR,
                                    "Cannot pack '%s': '%s' is not a directory, but the package needs it as one",
                                    name, res.matches[0]);
        } else {
                r = node_insert(parent, pos, base, strlen(base), &n);
                if (r < 0)
                        return r;
                if (!is_dir)
                        return node_set_from_host(t, n, name, res.matches[0], &st, ret_error);
                n->type = SPK_NODE_DIRECTORY;
        }

        if (!n->mapped) {
                n->mapped = true;
                n->mtime_ns = res.matches ? timespec_to_ns(&st.st_mtim) : t->pack_time_ns;
        }
        return recursive ? include_children(t, m, n, name, &res, depth, ret_error) : 0;
}

int spk_tree_include(SpkTree *t, const SpkSourceMap *m, const char *name, bool recursive, char **ret_error) {
        SpkNode *parent;
        const char *base;
        int r;

        assert(t);
        assert(m);
        assert(name);

        if (spk_path_is_reserved(name)) {
                if (path_is_under_reserved_dir(name) || spk_tree_find(t, name))
                        return 0;
                return error_set(ret_error, -ENOENT, "No file found to satisfy requirement: %s", name);
        }
        if (isempty(name))
                return include_at(t, m, NULL, "", "", recursive, true, 0, ret_error);

        r = tree_parent(t, name, &parent, &base, ret_error);
        if (r < 0)
                return r;
        return include_at(t, m, parent, name, base, recursive, true, path_depth(name), ret_error);
}

int spk_file_list_parse(const char *name, const char *text, size_t size, char ***ret, char **ret_error) {
        _cleanup_(name_vec_done) NameVec paths = {};
        const char *p = text, *end = text + size;
        unsigned line = 0;
        int r;

        assert(name);
        assert(text || size == 0);
        assert(ret);

        while (p < end) {
                const char *eol = memchr(p, '\n', (size_t) (end - p)), *l = p, *hash;
                size_t n = eol ? (size_t) (eol - p) : (size_t) (end - p);
                char *c;

                line++;
                p += n + (eol ? 1 : 0);

                hash = memchr(l, '#', n);
                if (hash)
                        n = (size_t) (hash - l);
                strip_span(&l, &n);
                if (n == 0)
                        continue;
                if (l[0] == '/')
                        return error_set(ret_error, -EINVAL, "%s:%u: package paths must not start with '/': '%.*s'",
                                    name, line, (int) n, l);
                r = spk_package_path_canonicalize(l, n, &c);
                if (r == -EINVAL)
                        return error_set(ret_error, r, "%s:%u: invalid package path '%.*s'", name, line, (int) n, l);
                if (r < 0)
                        return r;
                r = name_vec_consume(&paths, c);
                if (r < 0)
                        return r;
        }

        if (!paths.v) {
                paths.v = calloc(1, sizeof(char *));
                if (!paths.v)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(paths.v);
        return 0;
}

int spk_file_list_read(const char *path, char ***ret, char **ret_error) {
        _cleanup_free_ char *buf = NULL;
        size_t size;
        int r;

        assert(path);
        assert(ret);

        r = read_full_file_at(AT_FDCWD, path, SPK_FILE_LIST_MAX_SIZE, &buf, &size);
        if (r == -EFBIG)
                return error_set(ret_error, r, "File list '%s' is larger than %u MiB", path,
                            SPK_FILE_LIST_MAX_SIZE >> 20);
        if (r < 0)
                return error_set(ret_error, r, "Failed to read file list '%s': %s", path, strerror(-r));
        return spk_file_list_parse(path, buf, size, ret, ret_error);
}
