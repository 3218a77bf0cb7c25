/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * spk/sourcemap.h — from a pkgdef's sourceMap and file lists to the tree of files a package holds
 * (spec §3.5, §1.5, §1.7).
 *
 * Owns: resolving a package path through the searchPath (spk_source_map_resolve(), Sandstorm's
 * mapFile), the in-memory tree of entries to pack (SpkTree) with recursive (alwaysInclude) and
 * non-recursive (fileList) inclusion, the reserved root entries, and reading sandstorm-files.list.
 * Does not own the archive encoding or signing (spk/pack.h) or pkgdef evaluation (spk/pkgdef.h).
 *
 * Reads the host file system (lstat, readdir, readlink); never opens file contents. Never logs:
 * failures return a negative errno and an allocated one-line message in *ret_error; things worth a
 * warning (a fifo packed as an empty file) are collected in SpkTree.warnings.
 *
 * Reserved names. The package root always has empty directories dev, tmp and var and an empty file
 * proc/cpuinfo: the sandbox mounts over them, so nothing from the source tree is packed beneath
 * dev, tmp or var, and a requirement for such a path is satisfied without looking. The root names
 * sandstorm-manifest, sandstorm-http-bridge-config and sandstorm-http-bridge are never taken from
 * the source tree: they are generated from the pkgdef or copied from the packer's installation, and
 * exist in the package when requested (or added by spk/pack.c when the root is included recursively,
 * spec §1.7).
 *
 * Path names (package paths, file-list lines, alwaysInclude entries) are canonical: no leading or
 * trailing '/', no empty, "." or ".." components; "" is the root. spk_package_path_canonicalize()
 * turns a file-list line into that form.
 *
 * Invariants of SpkTree:
 * (1) every directory's children have distinct names and are kept sorted byte-wise (strcmp);
 * (2) a node that has children is a directory;
 * (3) the depth of any node is at most SPK_TREE_MAX_DEPTH;
 * (4) a regular or executable node with a source path had size < SPK_FILE_MAX_SIZE when it was
 *     lstat'ed.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/macro.h"

/* Cap'n Proto list counts are 29 bits: a file must be smaller than 512 MiB (spec §1.5). */
#define SPK_FILE_MAX_SIZE (UINT64_C(1) << 29)
/* Directory nesting of a package. Sandstorm's reader stops at a pointer nesting of 128 (spec §1.5),
 * and each directory level costs two (the List(File) and its File element), after the root struct
 * and the top-level list: a tree deeper than 63 levels would not install on Sandstorm. */
#define SPK_TREE_MAX_DEPTH 63u
/* A file list is read whole. */
#define SPK_FILE_LIST_MAX_SIZE (64u << 20)

typedef struct SpkMapping {
        char *package_path; /* canonical, "" = the package root */
        char *source_path;  /* relative to the source dir unless absolute */
        char **hide_paths;  /* NULL-terminated, may be NULL */
} SpkMapping;

typedef struct SpkSourceMap {
        char *source_dir; /* the pkgdef's directory, "" for the current one */
        SpkMapping *mappings;
        size_t n_mappings;
} SpkSourceMap;

void spk_source_map_done(SpkSourceMap *m);
/* Adds a mapping (copies the strings). package_path is canonicalized; -EINVAL if it cannot be. */
int spk_source_map_add(SpkSourceMap *m, const char *package_path, const char *source_path,
                       char *const *hide_paths);

/* What a package path maps to: the existing host paths in searchPath order, and the names of the
 * virtual children (next components of longer packagePaths), sorted and distinct. */
typedef struct SpkResolution {
        char **matches;
        char **virtual_children;
} SpkResolution;

void spk_resolution_done(SpkResolution *r);
/* Sandstorm's mapFile (spec §3.5) for the canonical package path name. Only -ENOMEM fails. */
int spk_source_map_resolve(const SpkSourceMap *m, const char *name, SpkResolution *ret);

/* Canonical form of a package path as written in a file list or alwaysInclude: "." and "" are the
 * root, trailing '/' are dropped; a leading '/', an empty, "." or ".." component, or a NUL is
 * -EINVAL. */
int spk_package_path_canonicalize(const char *path, size_t len, char **ret);

typedef enum SpkNodeType {
        SPK_NODE_DIRECTORY,
        SPK_NODE_REGULAR,
        SPK_NODE_EXECUTABLE,
        SPK_NODE_SYMLINK,
        _SPK_NODE_TYPE_MAX,
        _SPK_NODE_TYPE_INVALID = -EINVAL,
} SpkNodeType;

/* Where a file's content comes from. */
typedef enum SpkNodeOrigin {
        SPK_ORIGIN_NONE,          /* synthesized directory, or an empty file */
        SPK_ORIGIN_HOST,          /* node->source on the host */
        SPK_ORIGIN_MANIFEST,      /* the generated sandstorm-manifest */
        SPK_ORIGIN_BRIDGE_CONFIG, /* the generated sandstorm-http-bridge-config */
        SPK_ORIGIN_BRIDGE,        /* the packer's sandstorm-http-bridge */
        _SPK_NODE_ORIGIN_MAX,
        _SPK_NODE_ORIGIN_INVALID = -EINVAL,
} SpkNodeOrigin;

typedef struct SpkNode SpkNode;
struct SpkNode {
        char *name;
        SpkNodeType type;
        SpkNodeOrigin origin;
        char *source;        /* host path (SPK_ORIGIN_HOST) */
        char *link_target;   /* SPK_NODE_SYMLINK */
        uint64_t size;       /* regular/executable host files: size at lstat time */
        int64_t mtime_ns;
        bool mapped;         /* came from the source map (else synthesized as a parent) */
        bool fixed;          /* reserved entry; the source tree never replaces or fills it */
        SpkNode **children;  /* sorted by name, invariant (1) */
        size_t n_children;
        size_t allocated_children;
};

typedef struct SpkTree {
        SpkNode root;          /* a directory without a name */
        int64_t pack_time_ns;  /* mtime of synthesized directories */
        char **warnings;       /* NULL-terminated, may be NULL */
} SpkTree;

void spk_tree_init(SpkTree *t, int64_t pack_time_ns);
void spk_tree_done(SpkTree *t);

/* Finds the node at canonical path (NULL if absent). */
SpkNode *spk_tree_find(SpkTree *t, const char *path);

/* Adds a reserved entry at canonical path, synthesizing its parents: a file whose content comes from
 * origin, or, with type SPK_NODE_DIRECTORY, an empty directory. Directories get the pack time, files
 * mtime 0; the caller fills in source, size and mtime where they differ, through *ret (may be NULL).
 * Idempotent for the same type and origin; -EEXIST if a different entry is already there. */
int spk_tree_add_fixed(SpkTree *t, const char *path, SpkNodeType type, SpkNodeOrigin origin, SpkNode **ret);

/* Is path reserved (see the header comment)? Then requirements for it are satisfied by the fixed
 * entries instead of the source tree. */
bool spk_path_is_reserved(const char *path);

/*
 * Includes the canonical package path name, mapped through m (spec §3.5): a file through its first
 * match; a directory as a node only, or, when recursive, merged from every matching directory plus
 * the virtual children, each child mapped again. Missing parents are synthesized with the pack time.
 * A reserved path is looked up among the fixed entries (which the caller added first).
 * Errors, each with *ret_error: -ENOENT "No file found to satisfy requirement: NAME"; -EFBIG a file
 * of 512 MiB or more; -ENOTDIR a path needs a parent that is a file or symlink; -ELOOP deeper than
 * SPK_TREE_MAX_DEPTH; errors of lstat/readdir/readlink on the host, naming the path.
 */
int spk_tree_include(SpkTree *t, const SpkSourceMap *m, const char *name, bool recursive, char **ret_error);

/*
 * Reads a sandstorm-files.list (spec §3.5): one package path per line, trimmed; '#' starts a comment
 * anywhere; blank lines are skipped; "." is the root. Returns the canonical paths in file order.
 * -EINVAL with "FILE:LINE: …" for a leading '/' or an invalid path; -ENOENT if the file is missing.
 */
int spk_file_list_read(const char *path, char ***ret, char **ret_error);
/* The same over bytes in memory; name is used in messages. */
int spk_file_list_parse(const char *name, const char *text, size_t size, char ***ret, char **ret_error);
