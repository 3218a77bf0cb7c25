/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/hex.h"
#include "basic/string-util.h"

/* What read_full_fd() asks for when the size is not known in advance. */
#define READ_FULL_CHUNK ((size_t) 64 * 1024)

int read_full_fd(int fd, size_t max_size, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, allocated = 0;
        struct stat st;

        assert(fd >= 0);
        assert(ret);

        /* Leaves room for the extra byte that detects an oversized input and for the NUL. */
        max_size = MIN(max_size, (size_t) SSIZE_MAX - 1);

        /* For a regular file, start with its size (plus one byte, to see EOF without a second buffer). */
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISREG(st.st_mode) && st.st_size > 0) {
                if ((uint64_t) st.st_size > max_size)
                        return -EFBIG;
                allocated = (size_t) st.st_size + 1;
        }

        for (;;) {
                ssize_t k;

                if (size >= allocated) {
                        size_t want;
                        char *p;

                        /* Doubling keeps the copying linear for big inputs of unknown size. */
                        if (!ADD_SAFE(&want, size, MAX(size, READ_FULL_CHUNK)))
                                want = SIZE_MAX;
                        want = MIN(want, max_size + 1);
                        if (want <= size)
                                return -EFBIG;
                        p = realloc(buf, want + 1);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        allocated = want;
                } else if (!buf) {
                        buf = malloc(allocated + 1);
                        if (!buf)
                                return -ENOMEM;
                }

                k = read(fd, buf + size, allocated - size);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                size += (size_t) k;
                if (size > max_size)
                        return -EFBIG;
        }

        if (!buf) {
                buf = malloc(1);
                if (!buf)
                        return -ENOMEM;
        }
        buf[size] = '\0';

        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = size;
        return 0;
}

int read_full_file_at(int dir_fd, const char *path, size_t max_size, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;

        assert(dir_fd >= 0 || dir_fd == AT_FDCWD);
        assert(path);
        assert(ret);

        fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        return read_full_fd(fd, max_size, ret, ret_size);
}

int loop_write(int fd, const void *p, size_t n) {
        const uint8_t *b = p;

        assert(fd >= 0);
        assert(p || n == 0);

        while (n > 0) {
                ssize_t k = write(fd, b, MIN(n, (size_t) SSIZE_MAX));

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                /* A non-blocking descriptor: wait until it takes more. */
                                struct pollfd pfd = { .fd = fd, .events = POLLOUT };

                                if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                                        return negative_errno();
                                continue;
                        }
                        return negative_errno();
                }
                if (k == 0)
                        return -EIO;
                b += k;
                n -= (size_t) k;
        }
        return 0;
}

ssize_t loop_read(int fd, void *p, size_t n) {
        uint8_t *b = p;
        size_t done = 0;

        assert(fd >= 0);
        assert(p || n == 0);

        n = MIN(n, (size_t) SSIZE_MAX);
        while (done < n) {
                ssize_t k = read(fd, b + done, n - done);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                done += (size_t) k;
        }
        return (ssize_t) done;
}

/* O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR; openat2 would have said ELOOP. */
static int enotdir_or_eloop(int dir_fd, const char *name) {
        struct stat st;

        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISLNK(st.st_mode))
                return -ELOOP;
        return -ENOTDIR;
}

int openat_beneath_walk(int dir_fd, const char *path, int flags, mode_t mode) {
        _cleanup_close_ int cur = -EBADF;
        const char *p = path;
        int fd, parent = dir_fd;

        if (path_is_absolute(path))
                return -EXDEV;
        if (*path == '\0')
                return -ENOENT;

        for (;;) {
                const char *slash;
                size_t l;

                p += strspn(p, "/");
                slash = strchr(p, '/');
                l = slash ? (size_t) (slash - p) : strlen(p);

                /* The last component: either the end of the string or followed only by slashes. */
                if (!slash || p[l + strspn(p + l, "/")] == '\0') {
                        _cleanup_free_ char *last = NULL;

                        if (l == 0) /* "" or "x/" ends on a directory already open */
                                last = strdup(".");
                        else
                                last = strndup_safe(p, l);
                        if (!last)
                                return -ENOMEM;
                        if (streq(last, ".."))
                                return -EXDEV;
                        if (slash)
                                flags |= O_DIRECTORY;
                        fd = openat(parent, last, flags | O_NOFOLLOW | O_CLOEXEC, mode);
                        if (fd < 0)
                                return errno == ENOTDIR ? enotdir_or_eloop(parent, last) : negative_errno();
                        if ((flags & (O_PATH | O_NOFOLLOW)) == O_PATH) {
                                /* O_PATH|O_NOFOLLOW opens a symlink itself; only the caller may ask
                                 * for that. */
                                struct stat st;

                                if (fstat(fd, &st) < 0 || S_ISLNK(st.st_mode)) {
                                        safe_close(fd);
                                        return -ELOOP;
                                }
                        }
                        return fd;
                }

                if (l == 2 && p[0] == '.' && p[1] == '.')
                        return -EXDEV;

                _cleanup_free_ char *component = strndup_safe(p, l);
                if (!component)
                        return -ENOMEM;
                fd = openat(parent, component, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return errno == ENOTDIR ? enotdir_or_eloop(parent, component) : negative_errno();
                safe_close(cur);
                cur = fd;
                parent = cur;
                p += l;
        }
}

int openat_beneath(int dir_fd, const char *path, int flags, mode_t mode) {
        struct open_how how = {
                .flags = (uint64_t) (unsigned) (flags | O_CLOEXEC),
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        int fd;

        assert(dir_fd >= 0 || dir_fd == AT_FDCWD);
        assert(path);

        /* openat2() insists on a zero mode unless a file may be created. */
        if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
                how.mode = mode;

        fd = (int) syscall(SYS_openat2, dir_fd, path, &how, sizeof(how));
        if (fd >= 0)
                return fd;
        if (errno != ENOSYS)
                return negative_errno();
        return openat_beneath_walk(dir_fd, path, flags, how.mode);
}

/* A name for a temporary file beside the target: ".#<base>" and 16 random hex digits. */
static int tmp_name(const char *base, char **ret) {
        uint8_t rnd[8];
        char hex[sizeof(rnd) * 2 + 1];
        char *p;

        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
                return -EIO;
        p = strjoin(".#", base, hex_encode(rnd, sizeof(rnd), hex));
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

/* Gives the anonymous O_TMPFILE file fd a temporary name in dir_fd, returned in *ret_name. */
static int link_tmpfile(int fd, int dir_fd, const char *base, char **ret_name) {
        char proc[STRLEN("/proc/self/fd/") + 12];

        (void) snprintf(proc, sizeof(proc), "/proc/self/fd/%i", fd);
        for (unsigned attempt = 0; attempt < 16; attempt++) {
                _cleanup_free_ char *name = NULL;
                int r;

                r = tmp_name(base, &name);
                if (r < 0)
                        return r;
                if (linkat(AT_FDCWD, proc, dir_fd, name, AT_SYMLINK_FOLLOW) >= 0) {
                        *ret_name = TAKE_PTR(name);
                        return 0;
                }
                if (errno != EEXIST)
                        return negative_errno();
        }
        return -EEXIST;
}

static int open_tmpfile_named(int dir_fd, const char *base, mode_t mode, char **ret_name) {
        for (unsigned attempt = 0; attempt < 16; attempt++) {
                _cleanup_free_ char *name = NULL;
                int fd, r;

                r = tmp_name(base, &name);
                if (r < 0)
                        return r;
                fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC,
                            mode);
                if (fd >= 0) {
                        *ret_name = TAKE_PTR(name);
                        return fd;
                }
                if (errno != EEXIST)
                        return negative_errno();
        }
        return -EEXIST;
}

/* Fills a new, empty file: exactly mode (not what the umask left), content, on disk. */
static int write_tmp_content(int fd, const void *p, size_t n, mode_t mode) {
        int r;

        r = RET_NERRNO(fchmod(fd, mode));
        if (r >= 0)
                r = loop_write(fd, p, n);
        if (r >= 0)
                r = RET_NERRNO(fsync(fd));
        return r;
}

/* Writes the content to a new temporary name in dir_fd, returned in *ret_name; removed again on failure. */
static int write_tmp_named(int dir_fd, const char *base, const void *p, size_t n, mode_t mode,
                           char **ret_name) {
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = open_tmpfile_named(dir_fd, base, mode, &name);
        if (fd < 0)
                return fd;
        r = write_tmp_content(fd, p, n, mode);
        if (r < 0) {
                (void) unlinkat(dir_fd, name, 0);
                return r;
        }
        *ret_name = TAKE_PTR(name);
        return 0;
}

/* Writes the content to an O_TMPFILE file, which has no name until it is complete, so a crash leaves no
 * debris behind, then gives it a temporary name in dir_fd, returned in *ret_name. Returns 1 when done,
 * 0 when O_TMPFILE or the /proc needed to name the file is missing (nothing is left behind then). */
static int write_tmp_anonymous(int dir_fd, const char *base, const void *p, size_t n, mode_t mode,
                               char **ret_name) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = openat(dir_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
        if (fd < 0)
                return 0;
        r = write_tmp_content(fd, p, n, mode);
        if (r < 0)
                return r;
        if (link_tmpfile(fd, dir_fd, base, ret_name) < 0)
                return 0;
        return 1;
}

int write_file_atomic_at_full(int dir_fd, const char *path, const void *p, size_t n, mode_t mode,
                              WriteAtomicFlags flags) {
        _cleanup_close_ int parent_fd = -EBADF;
        _cleanup_free_ char *dir = NULL, *tmp = NULL;
        const char *base;
        int r = 0;

        assert(dir_fd >= 0 || dir_fd == AT_FDCWD);
        assert(path);
        assert(p || n == 0);

        base = path_basename(path);
        if (isempty(base) || streq(base, ".") || streq(base, ".."))
                return -EINVAL;
        dir = path_dirname(path);
        if (!dir)
                return -ENOMEM;

        parent_fd = openat(dir_fd, isempty(dir) ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (parent_fd < 0)
                return negative_errno();

        if (!(flags & WRITE_ATOMIC_NO_TMPFILE)) {
                r = write_tmp_anonymous(parent_fd, base, p, n, mode, &tmp);
                if (r < 0)
                        return r;
        }
        if (r == 0) {
                r = write_tmp_named(parent_fd, base, p, n, mode, &tmp);
                if (r < 0)
                        return r;
        }

        r = RET_NERRNO(renameat(parent_fd, tmp, parent_fd, base));
        if (r < 0) {
                (void) unlinkat(parent_fd, tmp, 0);
                return r;
        }

        /* Make the rename itself durable. */
        return RET_NERRNO(fsync(parent_fd));
}

int write_file_atomic_at(int dir_fd, const char *path, const void *p, size_t n, mode_t mode) {
        return write_file_atomic_at_full(dir_fd, path, p, n, mode, 0);
}

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = NULL;
        size_t i = 0;

        assert(path);

        if (isempty(path))
                return -EINVAL;
        p = strdup(path);
        if (!p)
                return -ENOMEM;

        for (;;) {
                bool last;
                char saved;
                struct stat st;

                i += strspn(p + i, "/");
                if (p[i] == '\0')
                        return 0;
                i += strcspn(p + i, "/");
                last = p[i + strspn(p + i, "/")] == '\0';

                saved = p[i];
                p[i] = '\0';
                if (mkdir(p, mode) < 0) {
                        if (errno != EEXIST)
                                return negative_errno();
                        /* Something is already there: fine only if it is (or leads to) a directory. */
                        if (stat(p, &st) < 0)
                                return negative_errno();
                        if (!S_ISDIR(st.st_mode))
                                return -ENOTDIR;
                }
                p[i] = saved;
                if (last)
                        return 0;
        }
}

bool is_mount_crossing_at(int dir_fd, const char *name, dev_t top_dev) {
        struct statx sx;

        assert(dir_fd >= 0 || dir_fd == AT_FDCWD);
        assert(name);

        if (statx(dir_fd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS, &sx) < 0)
                return true; /* cannot tell: better not descend */
        /* A bind mount from the same file system has the same device: only the attribute tells. */
        if ((sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
                return true;
        return makedev(sx.stx_dev_major, sx.stx_dev_minor) != top_dev;
}

int rm_rf_children(int fd, dev_t top_dev) {
        DIR *d;
        int r = 0;

        assert(fd >= 0);

        d = fdopendir(fd);
        if (!d) {
                r = negative_errno();
                safe_close(fd);
                return r;
        }

        for (;;) {
                struct dirent *de;
                int k = 0;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0 && r == 0)
                                r = negative_errno();
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;

                if (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN) {
                        struct stat st;

                        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                                if (errno != ENOENT && r == 0)
                                        r = negative_errno();
                                continue;
                        }
                        if (S_ISDIR(st.st_mode)) {
                                int sub;

                                if (is_mount_crossing_at(dirfd(d), de->d_name, top_dev)) {
                                        if (r == 0)
                                                r = -EXDEV;
                                        continue;
                                }
                                sub = openat(dirfd(d), de->d_name,
                                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
                                if (sub < 0)
                                        k = negative_errno();
                                else
                                        k = rm_rf_children(sub, top_dev);
                                if (k >= 0)
                                        k = RET_NERRNO(unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR));
                                if (k < 0 && k != -ENOENT && r == 0)
                                        r = k;
                                continue;
                        }
                }

                k = RET_NERRNO(unlinkat(dirfd(d), de->d_name, 0));
                if (k < 0 && k != -ENOENT && r == 0)
                        r = k;
        }

        closedir(d);
        return r;
}

int rm_rf_at(int dir_fd, const char *name) {
        struct stat st;
        int fd, r;

        assert(dir_fd >= 0 || dir_fd == AT_FDCWD);
        assert(name);

        if (isempty(name) || streq(name, ".") || streq(name, "..") || strchr(name, '/'))
                return -EINVAL;

        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (!S_ISDIR(st.st_mode))
                return RET_NERRNO(unlinkat(dir_fd, name, 0));

        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        r = rm_rf_children(fd, st.st_dev);
        if (r < 0)
                return r;
        return RET_NERRNO(unlinkat(dir_fd, name, AT_REMOVEDIR));
}

int dir_names(DIR *d, bool (*keep)(const struct dirent *de, void *userdata), void *userdata, char ***ret) {
        _cleanup_strv_free_ char **names = NULL;
        struct dirent *de;

        assert(d);
        assert(ret);

        while ((errno = 0, de = readdir(d))) {
                int r;

                if (streq(de->d_name, ".") || streq(de->d_name, "..") || (keep && !keep(de, userdata)))
                        continue;
                r = strv_extend(&names, de->d_name);
                if (r < 0)
                        return r;
        }
        if (errno != 0)
                return negative_errno();
        strv_sort(names);
        *ret = TAKE_PTR(names);
        return 0;
}

char *path_join(const char *a, const char *b) {
        size_t la, lb;
        bool root;

        a = a ?: "";
        b = b ?: "";

        la = strlen(a);
        root = la > 0 && a[0] == '/';
        while (la > 0 && a[la - 1] == '/')
                la--;
        b += strspn(b, "/");
        lb = strlen(b);

        if (la == 0 && root)
                return strjoin("/", b);
        if (la == 0)
                return strdup(b);
        if (lb == 0)
                return strndup_safe(a, la);

        char *p = malloc(la + 1 + lb + 1);
        if (!p)
                return NULL;
        memcpy(p, a, la);
        p[la] = '/';
        memcpy(p + la + 1, b, lb + 1);
        return p;
}

char *path_dirname(const char *path) {
        size_t l;

        assert(path);

        l = strlen(path);
        while (l > 1 && path[l - 1] == '/') /* "a/b/" is "a/b" */
                l--;
        while (l > 0 && path[l - 1] != '/')
                l--;
        if (l == 0)
                return strdup("");
        while (l > 1 && path[l - 1] == '/')
                l--;
        return strndup_safe(path, l);
}

const char *path_basename(const char *path) {
        const char *slash;

        assert(path);

        slash = strrchr(path, '/');
        return slash ? slash + 1 : path;
}

bool path_is_absolute(const char *p) {
        return p && p[0] == '/';
}

bool file_exists(const char *path) {
        assert(path);
        return faccessat(AT_FDCWD, path, F_OK, AT_SYMLINK_NOFOLLOW) >= 0;
}

int rm_rf_path(const char *path) {
        _cleanup_free_ char *parent = NULL;
        _cleanup_close_ int fd = -EBADF;

        assert(path);

        parent = path_dirname(path);
        if (!parent)
                return -ENOMEM;
        fd = open(isempty(parent) ? "." : parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        return rm_rf_at(fd, path_basename(path));
}
