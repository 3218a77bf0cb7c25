/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * basic/fileio.h — reading and writing whole files, safely.
 *
 * Paths that come from packages, backups or requests are opened only beneath a directory fd
 * (openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS). Writes that replace a
 * file go to a temporary name in the same directory and are renamed into place, so a crash leaves
 * either the old or the new content. Never logs.
 */

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "basic/macro.h"

/* Reads all of fd (from its current position) into a new NUL-terminated buffer. -EFBIG beyond
 * max_size. ret_size may be NULL. read_full_file_at() opens with plain openat(): for trusted paths. */
int read_full_fd(int fd, size_t max_size, char **ret, size_t *ret_size);
int read_full_file_at(int dir_fd, const char *path, size_t max_size, char **ret, size_t *ret_size);
int loop_write(int fd, const void *p, size_t n);
/* Like read(2) but retries on EINTR and short reads until n bytes or EOF; returns bytes read or a
 * negative errno. loop_write() also waits out EAGAIN on a non-blocking fd; 0 once all is written. */
ssize_t loop_read(int fd, void *p, size_t n);

/* openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS); O_CLOEXEC is added. */
int openat_beneath(int dir_fd, const char *path, int flags, mode_t mode);
/* What openat_beneath() falls back to where openat2 is missing (ENOSYS): walks the path one component
 * at a time with O_NOFOLLOW, refusing symlinks (-ELOOP), ".." and absolute paths (-EXDEV). Stricter
 * than RESOLVE_BENEATH, which allows a ".." that stays inside. */
int openat_beneath_walk(int dir_fd, const char *path, int flags, mode_t mode);

typedef enum WriteAtomicFlags {
        /* Write to a named temporary file (".#<name><16 hex digits>" beside the target) rather than an
         * anonymous O_TMPFILE one. What happens anyway where O_TMPFILE is not supported or /proc is
         * missing, so a crash may leave that file behind. */
        WRITE_ATOMIC_NO_TMPFILE = 1 << 0,
} WriteAtomicFlags;

/* Writes n bytes to dir_fd/path atomically (temporary file, fsync, rename, fsync of the directory).
 * mode is the new file's mode, whatever the umask. A symlink at path is replaced, not followed. No
 * temporary file is left behind, on success or failure. */
int write_file_atomic_at(int dir_fd, const char *path, const void *p, size_t n, mode_t mode);
int write_file_atomic_at_full(int dir_fd, const char *path, const void *p, size_t n, mode_t mode,
                              WriteAtomicFlags flags);

/* mkdir -p, each component created with mode. */
int mkdir_p(const char *path, mode_t mode);
/* rm -rf of dir_fd/name, never following symlinks or crossing mount points. name is one component.
 * A missing name is success. Removes what it can; a mount point below name is left alone and makes
 * it fail with -EXDEV (name itself then stays). */
int rm_rf_at(int dir_fd, const char *name);
/* rm_rf_at() of a path: its last component, beneath its parent directory (relative to the working
 * directory when path is relative). */
int rm_rf_path(const char *path);
/* What rm_rf_at() does below name: empties the directory fd, which it takes over (and closes), never
 * descending into a directory for which is_mount_crossing_at() says true. Such a directory is left
 * alone, with what is in it, and makes it fail with -EXDEV once everything else is removed. */
int rm_rf_children(int fd, dev_t top_dev);
/* True if the directory entry dir_fd/name (not followed if a symlink) is the root of a mount, or is
 * on another device than top_dev: where a recursive removal of a tree on top_dev must stop. Also true
 * when that cannot be told (the entry cannot be looked at), so that nothing is removed blindly. Only
 * looks (statx). */
bool is_mount_crossing_at(int dir_fd, const char *name, dev_t top_dev);

/* The names of what is left to read of d, without "." and "..", those keep (when not NULL) says true of,
 * sorted by their bytes. *ret is NULL when there are none. d is left open, read to its end. */
int dir_names(DIR *d, bool (*keep)(const struct dirent *de, void *userdata), void *userdata, char ***ret);

/* Joins two path parts with exactly one '/', dropping empty parts. */
char *path_join(const char *a, const char *b);
/* The directory part of path ("" if none; trailing slashes ignored: "a/b/" gives "a"), and the text
 * after the last '/' (a pointer into path; "" when path ends with '/'). */
char *path_dirname(const char *path);
const char *path_basename(const char *path);
bool path_is_absolute(const char *p);
/* True if the file exists (faccessat with AT_SYMLINK_NOFOLLOW). */
bool file_exists(const char *path);
