/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "basic/fileio.h"
#include "basic/string-util.h"

typedef int (*OpenBeneathFn)(int dir_fd, const char *path, int flags, mode_t mode);

/* Each test gets a fresh directory, removed afterwards. */
typedef struct Fixture {
        char path[64];
        int fd;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        if (!f)
                return -1;
        strcpy(f->path, "/tmp/test-basic-fileio-XXXXXX");
        if (!mkdtemp(f->path))
                return -1;
        f->fd = open(f->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (f->fd < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        int r;

        r = rm_rf_path(f->path);
        safe_close(f->fd);
        free(f);
        return r < 0 ? -1 : 0;
}

static void write_at(int dir_fd, const char *name, const char *content) {
        int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(loop_write(fd, content, strlen(content)), 0);
        safe_close(fd);
}

static char *read_at(int dir_fd, const char *name) {
        char *s = NULL;

        assert_int_equal(read_full_file_at(dir_fd, name, SIZE_MAX, &s, NULL), 0);
        return s;
}

/* The names in a directory, sorted and joined with spaces: what the test expects to find on disk. */
static char *list_dir(int dir_fd) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;
        DIR *d = fdopendir(openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));

        assert_non_null(d);
        for (struct dirent *de; (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        assert_int_equal(strv_extend(&names, de->d_name), 0);
        closedir(d);
        strv_sort(names);
        assert_int_equal(strbuf_append_str(&b, ""), 0);
        STRV_FOREACH(n, names)
                assert_int_equal(strbuf_printf(&b, "%s%s", b.len > 0 ? " " : "", *n), 0);
        return strbuf_steal(&b, NULL);
}

/* Watches the fixture directory for what happens to the names in it. */
static int watch_dir(Fixture *f) {
        int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

        assert_true(fd >= 0);
        assert_true(inotify_add_watch(fd, f->path, IN_CREATE | IN_MODIFY | IN_MOVED_FROM) >= 0);
        return fd;
}

/* The events seen since the last call on temporary names for base (".#<base>" and 16 hex digits),
 * or-ed together. */
static uint32_t tmp_name_events(int inotify_fd, const char *base) {
        _Alignas(struct inotify_event) char buf[65536];
        size_t prefix = STRLEN(".#") + strlen(base);
        uint32_t mask = 0;

        for (;;) {
                ssize_t k = read(inotify_fd, buf, sizeof(buf));

                if (k < 0) {
                        assert_int_equal(errno, EAGAIN);
                        return mask;
                }
                for (char *p = buf; p < buf + k;) {
                        const struct inotify_event *e = (const struct inotify_event *) p;

                        assert_int_equal(e->mask & IN_Q_OVERFLOW, 0);
                        if (e->len > 0 && strneq(e->name, ".#", 2) &&
                            strneq(e->name + 2, base, strlen(base)) && strlen(e->name) == prefix + 16 &&
                            strspn(e->name + prefix, "0123456789abcdef") == 16)
                                mask |= e->mask;
                        p += sizeof(struct inotify_event) + e->len;
                }
        }
}

static void test_read_full_regular(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *s = NULL, *t = NULL, *e = NULL;
        size_t n = 0;

        write_at(f->fd, "a", "hello\nworld\n");
        assert_int_equal(read_full_file_at(f->fd, "a", 100, &s, &n), 0);
        assert_int_equal(n, 12);
        assert_memory_equal(s, "hello\nworld\n", 13); /* NUL-terminated */

        /* Exactly max_size is fine; one byte less is -EFBIG. */
        assert_int_equal(read_full_file_at(f->fd, "a", 12, &t, &n), 0);
        assert_int_equal(n, 12);
        assert_int_equal(read_full_file_at(f->fd, "a", 11, &e, &n), -EFBIG);
        assert_null(e);

        free(s);
        s = NULL;
        write_at(f->fd, "empty", "");
        assert_int_equal(read_full_file_at(f->fd, "empty", 0, &s, &n), 0);
        assert_int_equal(n, 0);
        assert_string_equal(s, "");

        assert_int_equal(read_full_file_at(f->fd, "missing", 10, &e, &n), -ENOENT);
        assert_int_equal(read_full_file_at(f->fd, ".", 10, &e, &n), -EISDIR);
}

static void test_read_full_from_position(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *s = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n;

        write_at(f->fd, "a", "0123456789");
        fd = openat(f->fd, "a", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(lseek(fd, 4, SEEK_SET), 4);
        assert_int_equal(read_full_fd(fd, 100, &s, &n), 0);
        assert_string_equal(s, "456789");
        assert_int_equal(n, 6);
}

static void test_read_full_pipe(void **state) {
        _cleanup_free_ char *s = NULL, *e = NULL;
        char big[200000];
        int p[2];
        pid_t pid;
        size_t n;

        /* A pipe has no size: read_full_fd() grows as it goes. A child writes more than a pipe holds. */
        for (size_t i = 0; i < sizeof(big); i++)
                big[i] = (char) (i * 7);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                safe_close(p[0]);
                _exit(loop_write(p[1], big, sizeof(big)) < 0 ? 1 : 0);
        }
        safe_close(p[1]);
        assert_int_equal(read_full_fd(p[0], SIZE_MAX, &s, &n), 0);
        safe_close(p[0]);
        assert_int_equal(n, sizeof(big));
        assert_memory_equal(s, big, sizeof(big));
        assert_int_equal(s[n], '\0');
        assert_int_equal(waitpid(pid, NULL, 0), pid);

        /* Over the limit. */
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_int_equal(loop_write(p[1], "abcdef", 6), 0);
        safe_close(p[1]);
        assert_int_equal(read_full_fd(p[0], 5, &e, &n), -EFBIG);
        safe_close(p[0]);
        assert_null(e);
}

static void test_loop_read_write(void **state) {
        char buf[16];
        int p[2];

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_int_equal(loop_write(p[1], "abc", 3), 0);
        assert_int_equal(loop_write(p[1], "", 0), 0);
        assert_int_equal(loop_write(p[1], "defg", 4), 0);
        safe_close(p[1]);

        /* Short read at EOF gives what there was, then 0. */
        assert_int_equal(loop_read(p[0], buf, 2), 2);
        assert_memory_equal(buf, "ab", 2);
        assert_int_equal(loop_read(p[0], buf, sizeof(buf)), 5);
        assert_memory_equal(buf, "cdefg", 5);
        assert_int_equal(loop_read(p[0], buf, sizeof(buf)), 0);
        safe_close(p[0]);

        assert_int_equal(loop_read(p[0], buf, 1), -EBADF);
        assert_int_equal(loop_write(p[1], "x", 1), -EBADF);
}

static void test_loop_write_nonblocking(void **state) {
        static char big[300000];
        _cleanup_free_ char *s = NULL;
        int p[2];
        pid_t pid;
        size_t n;

        /* More than a pipe buffer into a non-blocking pipe: loop_write() must wait for the reader. */
        memset(big, 'z', sizeof(big));
        assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                safe_close(p[0]);
                _exit(loop_write(p[1], big, sizeof(big)) < 0 ? 1 : 0);
        }
        safe_close(p[1]);
        assert_int_equal(fcntl(p[0], F_SETFL, 0), 0);
        assert_int_equal(read_full_fd(p[0], SIZE_MAX, &s, &n), 0);
        safe_close(p[0]);
        assert_int_equal(n, sizeof(big));

        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

static void check_openat_beneath(Fixture *f, OpenBeneathFn fn) {
        _cleanup_free_ char *s = NULL;
        struct stat st;
        int fd;

        assert_int_equal(mkdirat(f->fd, "sub", 0755), 0);
        assert_int_equal(mkdirat(f->fd, "sub/deeper", 0755), 0);
        write_at(f->fd, "sub/deeper/file", "inside");
        write_at(f->fd, "top", "top");
        assert_int_equal(symlinkat("deeper/file", f->fd, "sub/link-file"), 0);
        assert_int_equal(symlinkat("deeper", f->fd, "sub/link-dir"), 0);
        assert_int_equal(symlinkat("/etc/passwd", f->fd, "sub/abs-link"), 0);

        /* Plain opens beneath, close-on-exec added. */
        fd = fn(f->fd, "sub/deeper/file", O_RDONLY, 0);
        assert_true(fd >= 0);
        assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        assert_int_equal(read_full_fd(fd, 100, &s, NULL), 0);
        assert_string_equal(s, "inside");
        safe_close(fd);
        fd = fn(f->fd, "sub//deeper/", O_RDONLY | O_DIRECTORY, 0);
        assert_true(fd >= 0);
        safe_close(fd);

        /* Escapes. */
        assert_int_equal(fn(f->fd, "/etc/passwd", O_RDONLY, 0), -EXDEV);
        assert_int_equal(fn(f->fd, "..", O_RDONLY, 0), -EXDEV);
        assert_int_equal(fn(f->fd, "../x", O_RDONLY, 0), -EXDEV);
        assert_int_equal(fn(f->fd, "sub/../../x", O_RDONLY, 0), -EXDEV);

        /* No symlink is followed, wherever it is in the path. */
        assert_int_equal(fn(f->fd, "sub/link-file", O_RDONLY, 0), -ELOOP);
        assert_int_equal(fn(f->fd, "sub/link-dir/file", O_RDONLY, 0), -ELOOP);
        assert_int_equal(fn(f->fd, "sub/abs-link", O_RDONLY, 0), -ELOOP);
        assert_int_equal(fn(f->fd, "sub/link-dir", O_RDONLY | O_DIRECTORY, 0), -ELOOP);
        assert_int_equal(fn(f->fd, "sub/link-dir", O_PATH, 0), -ELOOP);
        /* ... and none is created through. */
        assert_int_equal(fn(f->fd, "sub/abs-link", O_WRONLY | O_CREAT, 0600), -ELOOP);

        /* Ordinary errors stay what they are. */
        assert_int_equal(fn(f->fd, "", O_RDONLY, 0), -ENOENT);
        assert_int_equal(fn(f->fd, "sub/missing", O_RDONLY, 0), -ENOENT);
        assert_int_equal(fn(f->fd, "top/x", O_RDONLY, 0), -ENOTDIR);

        /* Creating, with the mode given (umask 0 here). */
        mode_t old = umask(0);
        fd = fn(f->fd, "sub/new", O_WRONLY | O_CREAT | O_EXCL, 0640);
        umask(old);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
        safe_close(fd);
        assert_int_equal(fn(f->fd, "sub/new", O_WRONLY | O_CREAT | O_EXCL, 0640), -EEXIST);
}

static void test_openat_beneath(void **state) {
        check_openat_beneath(*state, openat_beneath);
}

static void test_openat_beneath_walk(void **state) {
        check_openat_beneath(*state, openat_beneath_walk);
}

static void test_openat_beneath_magic_links(void **state) {
        _cleanup_close_ int proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (proc < 0)
                skip();
        /* /proc/self is a symlink, /proc/<pid>/exe a magic link: neither may be crossed. */
        char pid[32];
        snprintf(pid, sizeof(pid), "%i/exe", (int) getpid());
        assert_int_equal(openat_beneath(proc, "self/exe", O_RDONLY, 0), -ELOOP);
        assert_int_equal(openat_beneath(proc, pid, O_RDONLY, 0), -ELOOP);
        assert_int_equal(openat_beneath_walk(proc, pid, O_RDONLY, 0), -ELOOP);
}

static void test_write_file_atomic(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *s = NULL, *t = NULL, *names = NULL, *names2 = NULL, *u = NULL, *names3 = NULL;
        _cleanup_close_ int inotify_fd = watch_dir(f), probe = -EBADF;
        struct stat st;
        mode_t old;

        /* The mode given, whatever the umask. */
        old = umask(077);
        assert_int_equal(write_file_atomic_at(f->fd, "conf", "one\n", 4, 0644), 0);
        umask(old);
        s = read_at(f->fd, "conf");
        assert_string_equal(s, "one\n");
        assert_int_equal(fstatat(f->fd, "conf", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0644);

        /* Where O_TMPFILE and /proc are there, the content is written before the file has a name: the
         * temporary name only ever holds the complete file. */
        probe = openat(f->fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
        if (probe >= 0 && access("/proc/self/fd", F_OK) >= 0) {
                uint32_t mask = tmp_name_events(inotify_fd, "conf");

                assert_int_equal(mask & (IN_CREATE | IN_MOVED_FROM), IN_CREATE | IN_MOVED_FROM);
                assert_int_equal(mask & IN_MODIFY, 0);
        }

        /* Replacing: new content and mode, and no temporary file left beside it. */
        assert_int_equal(write_file_atomic_at(f->fd, "conf", "two", 3, 0600), 0);
        t = read_at(f->fd, "conf");
        assert_string_equal(t, "two");
        assert_int_equal(fstatat(f->fd, "conf", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(st.st_size, 3);
        names = list_dir(f->fd);
        assert_string_equal(names, "conf");

        /* Empty content, and a path with a directory part. */
        assert_int_equal(mkdirat(f->fd, "d", 0755), 0);
        assert_int_equal(write_file_atomic_at(f->fd, "d/empty", NULL, 0, 0600), 0);
        assert_int_equal(fstatat(f->fd, "d/empty", &st, 0), 0);
        assert_int_equal(st.st_size, 0);

        /* A symlink at the target is replaced, never written through. */
        write_at(f->fd, "victim", "untouched");
        assert_int_equal(symlinkat("victim", f->fd, "link"), 0);
        assert_int_equal(write_file_atomic_at(f->fd, "link", "new", 3, 0644), 0);
        assert_int_equal(fstatat(f->fd, "link", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISREG(st.st_mode));
        u = read_at(f->fd, "victim");
        assert_string_equal(u, "untouched");

        names2 = list_dir(f->fd);
        assert_string_equal(names2, "conf d link victim");

        assert_int_equal(write_file_atomic_at(f->fd, "nodir/x", "x", 1, 0644), -ENOENT);
        assert_int_equal(write_file_atomic_at(f->fd, "d/", "x", 1, 0644), -EINVAL);
        assert_int_equal(write_file_atomic_at(f->fd, "", "x", 1, 0644), -EINVAL);
        assert_int_equal(write_file_atomic_at(f->fd, "d/..", "x", 1, 0644), -EINVAL);

        /* A failed rename (a non-empty directory in the way) leaves no temporary file behind. */
        assert_int_equal(write_file_atomic_at(f->fd, "d", "x", 1, 0644), -EISDIR);
        names3 = list_dir(f->fd);
        assert_string_equal(names3, "conf d link victim");
}

static void test_write_file_atomic_absolute(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *path = path_join(f->path, "abs"), *s = NULL;

        assert_int_equal(write_file_atomic_at(AT_FDCWD, path, "abs", 3, 0644), 0);
        s = read_at(f->fd, "abs");
        assert_string_equal(s, "abs");
}

static void test_write_file_atomic_named(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *s = NULL, *t = NULL, *u = NULL, *names = NULL, *names2 = NULL;
        _cleanup_close_ int inotify_fd = watch_dir(f);
        uint32_t mask;
        struct stat st;
        mode_t old;

        /* What write_file_atomic_at() falls back to without O_TMPFILE or /proc: a named temporary file
         * beside the target, renamed over it. */
        write_at(f->fd, "conf", "old");
        old = umask(077);
        assert_int_equal(write_file_atomic_at_full(f->fd, "conf", "new content", 11, 0604,
                                                   WRITE_ATOMIC_NO_TMPFILE),
                         0);
        umask(old);
        s = read_at(f->fd, "conf");
        assert_string_equal(s, "new content");
        assert_int_equal(fstatat(f->fd, "conf", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0604);
        assert_int_equal(st.st_size, 11);
        names = list_dir(f->fd);
        assert_string_equal(names, "conf");

        /* It really was written under a temporary name, which then went away by the rename. */
        mask = tmp_name_events(inotify_fd, "conf");
        assert_int_equal(mask & (IN_CREATE | IN_MODIFY | IN_MOVED_FROM),
                         IN_CREATE | IN_MODIFY | IN_MOVED_FROM);

        /* A symlink at the target is replaced, never written through. */
        write_at(f->fd, "victim", "untouched");
        assert_int_equal(symlinkat("victim", f->fd, "link"), 0);
        assert_int_equal(write_file_atomic_at_full(f->fd, "link", "new", 3, 0640, WRITE_ATOMIC_NO_TMPFILE),
                         0);
        assert_int_equal(fstatat(f->fd, "link", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0640);
        t = read_at(f->fd, "link");
        assert_string_equal(t, "new");
        u = read_at(f->fd, "victim");
        assert_string_equal(u, "untouched");

        /* Empty content, a path with a directory part, and a failed rename, which leaves nothing behind. */
        assert_int_equal(mkdirat(f->fd, "d", 0755), 0);
        assert_int_equal(write_file_atomic_at_full(f->fd, "d/empty", NULL, 0, 0600, WRITE_ATOMIC_NO_TMPFILE),
                         0);
        assert_int_equal(fstatat(f->fd, "d/empty", &st, 0), 0);
        assert_int_equal(st.st_size, 0);
        assert_int_equal(write_file_atomic_at_full(f->fd, "d", "x", 1, 0644, WRITE_ATOMIC_NO_TMPFILE),
                         -EISDIR);
        assert_int_equal(tmp_name_events(inotify_fd, "d") & IN_CREATE, IN_CREATE);

        names2 = list_dir(f->fd);
        assert_string_equal(names2, "conf d link victim");
}

static void test_mkdir_p(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *p = path_join(f->path, "a/b//c/"), *q = path_join(f->path, "file/x");
        struct stat st;
        mode_t old;

        old = umask(0);
        assert_int_equal(mkdir_p(p, 0710), 0);
        umask(old);
        assert_int_equal(fstatat(f->fd, "a/b/c", &st, 0), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0710);
        assert_int_equal(fstatat(f->fd, "a", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0710);

        /* Existing directories are fine, a file in the way is not. */
        assert_int_equal(mkdir_p(p, 0755), 0);
        write_at(f->fd, "file", "");
        assert_int_equal(mkdir_p(q, 0755), -ENOTDIR);
        assert_int_equal(mkdir_p("", 0755), -EINVAL);
        assert_int_equal(mkdir_p("/", 0755), 0);
}

static void test_rm_rf(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *s = NULL, *names = NULL;
        _cleanup_free_ char *outside_abs = path_join(f->path, "outside");
        struct stat st;

        /* A tree with files, empty and non-empty directories, an unreadable directory and symlinks
         * pointing outside, which must not be followed. */
        assert_int_equal(mkdirat(f->fd, "outside", 0755), 0);
        write_at(f->fd, "outside/keep", "keep");
        assert_int_equal(mkdirat(f->fd, "t", 0755), 0);
        assert_int_equal(mkdirat(f->fd, "t/empty", 0755), 0);
        assert_int_equal(mkdirat(f->fd, "t/d", 0755), 0);
        assert_int_equal(mkdirat(f->fd, "t/d/e", 0755), 0);
        write_at(f->fd, "t/d/e/f", "f");
        write_at(f->fd, "t/.hidden", "h");
        assert_int_equal(symlinkat(outside_abs, f->fd, "t/abs-link"), 0);
        assert_int_equal(symlinkat("../outside", f->fd, "t/d/rel-link"), 0);
        assert_int_equal(mkfifoat(f->fd, "t/fifo", 0600), 0);

        assert_int_equal(rm_rf_at(f->fd, "t"), 0);
        assert_int_equal(fstatat(f->fd, "t", &st, AT_SYMLINK_NOFOLLOW), -1);
        assert_int_equal(errno, ENOENT);
        s = read_at(f->fd, "outside/keep");
        assert_string_equal(s, "keep");

        /* A symlink to a directory is removed as a link. */
        assert_int_equal(symlinkat("outside", f->fd, "dirlink"), 0);
        assert_int_equal(rm_rf_at(f->fd, "dirlink"), 0);
        names = list_dir(f->fd);
        assert_string_equal(names, "outside");

        /* A plain file, a missing name, and names that are not one component. */
        write_at(f->fd, "plain", "x");
        assert_int_equal(rm_rf_at(f->fd, "plain"), 0);
        assert_int_equal(rm_rf_at(f->fd, "plain"), 0);
        assert_int_equal(rm_rf_at(f->fd, "outside/keep"), -EINVAL);
        assert_int_equal(rm_rf_at(f->fd, ".."), -EINVAL);
        assert_int_equal(rm_rf_at(f->fd, "."), -EINVAL);
        assert_int_equal(rm_rf_at(f->fd, ""), -EINVAL);
}

/* The device of dir_fd itself. */
static dev_t dev_of(int dir_fd) {
        struct stat st;

        assert_int_equal(fstat(dir_fd, &st), 0);
        return st.st_dev;
}

static void test_is_mount_crossing(void **state) {
        Fixture *f = *state;
        _cleanup_close_ int root = -EBADF;
        struct statx proc;
        dev_t dev = dev_of(f->fd), proc_dev;

        /* Within the tree: a directory on the same device is no boundary; a symlink to another mount is
         * looked at, not followed; what cannot be looked at counts as a boundary. */
        assert_int_equal(mkdirat(f->fd, "sub", 0755), 0);
        assert_int_equal(symlinkat("/proc", f->fd, "proc-link"), 0);
        assert_false(is_mount_crossing_at(f->fd, "sub", dev));
        assert_false(is_mount_crossing_at(f->fd, "proc-link", dev));
        assert_true(is_mount_crossing_at(f->fd, "missing", dev));
        /* Seen from another device, the same directory is one. */
        assert_true(is_mount_crossing_at(f->fd, "sub", makedev(major(dev), minor(dev) + 1)));

        /* /proc is a mount of its own; only looked at here, nothing is removed. */
        root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(root >= 0);
        if (access("/proc/self", F_OK) < 0) {
                print_message("# /proc is not mounted, cannot check a real mount point\n");
                skip();
        }
        assert_true(is_mount_crossing_at(root, "proc", dev_of(root)));
        /* Even on the device given, as with a bind mount from the same file system, a mount root is a
         * boundary (where the kernel says which directories are mount roots). */
        assert_int_equal(statx(root, "proc", AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &proc), 0);
        proc_dev = makedev(proc.stx_dev_major, proc.stx_dev_minor);
        if (proc.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
                assert_true(is_mount_crossing_at(root, "proc", proc_dev));
}

static void test_rm_rf_path(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *abs = path_join(f->path, "a"), *names = NULL, *cwd = get_current_dir_name();
        struct stat st;

        assert_int_equal(mkdirat(f->fd, "a", 0755), 0);
        assert_int_equal(mkdirat(f->fd, "a/b", 0755), 0);
        write_at(f->fd, "a/b/c", "c");
        write_at(f->fd, "sibling", "s");

        /* An absolute path: the tree goes, its sibling stays. */
        assert_int_equal(rm_rf_path(abs), 0);
        names = list_dir(f->fd);
        assert_string_equal(names, "sibling");

        /* A relative path resolves against the working directory; a bare name too. */
        assert_int_equal(mkdirat(f->fd, "r", 0755), 0);
        assert_int_equal(mkdirat(f->fd, "r/s", 0755), 0);
        assert_non_null(cwd);
        assert_int_equal(chdir(f->path), 0);
        assert_int_equal(rm_rf_path("r/s"), 0);
        assert_int_equal(fstatat(f->fd, "r/s", &st, AT_SYMLINK_NOFOLLOW), -1);
        assert_int_equal(rm_rf_path("r"), 0);
        assert_int_equal(fstatat(f->fd, "r", &st, AT_SYMLINK_NOFOLLOW), -1);
        assert_int_equal(chdir(cwd), 0);

        /* A missing name is success; a missing parent is not. */
        assert_int_equal(rm_rf_path(abs), 0);
        _cleanup_free_ char *deep = path_join(abs, "x");
        assert_int_equal(rm_rf_path(deep), -ENOENT);
}

static void test_rm_rf_children_stops_at_mounts(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *s = NULL, *names = NULL, *names2 = NULL;
        _cleanup_close_ int t = -EBADF;
        dev_t dev = dev_of(f->fd);
        struct stat st;
        int fd;

        /* Told that the tree's top is on another device, every directory below looks like a mount
         * point: each is left alone with what is in it, the rest goes, and the result says so. */
        assert_int_equal(mkdirat(f->fd, "t", 0755), 0);
        assert_int_equal(mkdirat(f->fd, "t/mnt", 0755), 0);
        assert_int_equal(mkdirat(f->fd, "t/mnt/deeper", 0755), 0);
        write_at(f->fd, "t/mnt/deeper/inside", "inside");
        assert_int_equal(mkdirat(f->fd, "t/empty-mnt", 0755), 0);
        write_at(f->fd, "t/before", "x");
        assert_int_equal(symlinkat("mnt", f->fd, "t/link"), 0);

        fd = openat(f->fd, "t", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(rm_rf_children(fd, makedev(major(dev), minor(dev) + 1)), -EXDEV);
        names = list_dir(f->fd);
        assert_string_equal(names, "t");
        t = openat(f->fd, "t", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(t >= 0);
        names2 = list_dir(t);
        assert_string_equal(names2, "empty-mnt mnt");
        s = read_at(f->fd, "t/mnt/deeper/inside");
        assert_string_equal(s, "inside");

        /* On its own device it empties the directory, which itself stays. */
        fd = openat(f->fd, "t", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(rm_rf_children(fd, dev), 0);
        assert_int_equal(fstatat(f->fd, "t", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(fstatat(f->fd, "t/mnt", &st, AT_SYMLINK_NOFOLLOW), -1);
        assert_int_equal(errno, ENOENT);
}

static void test_path_join(void **state) {
        static const struct {
                const char *a, *b, *want;
        } cases[] = {
                { "a", "b", "a/b" },       { "a/", "b", "a/b" },     { "a//", "//b", "a/b" },
                { "/", "b", "/b" },        { "//", "/b/", "/b/" },   { "", "b", "b" },
                { NULL, "b", "b" },        { "a", "", "a" },         { "a/", NULL, "a" },
                { "", "", "" },            { "/", "", "/" },         { "/a", "b/c", "/a/b/c" },
                { "a", "/", "a" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *p = path_join(cases[i].a, cases[i].b);

                assert_non_null(p);
                assert_string_equal(p, cases[i].want);
        }
}

static void test_path_dirname_basename(void **state) {
        static const struct {
                const char *path, *dir, *base;
        } cases[] = {
                { "a/b", "a", "b" },       { "/a/b/c", "/a/b", "c" }, { "a", "", "a" },
                { "/a", "/", "a" },        { "/", "/", "" },          { "a/b/", "a", "" },
                { "a//b", "a", "b" },      { "", "", "" },            { "//a", "/", "a" },
                { ".#x", "", ".#x" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *d = path_dirname(cases[i].path);

                assert_non_null(d);
                assert_string_equal(d, cases[i].dir);
                assert_string_equal(path_basename(cases[i].path), cases[i].base);
        }

        assert_true(path_is_absolute("/x"));
        assert_false(path_is_absolute("x/"));
        assert_false(path_is_absolute(""));
        assert_false(path_is_absolute(NULL));
}

static void test_file_exists(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *file = path_join(f->path, "file"), *dangling = path_join(f->path, "dangling");

        assert_true(file_exists(f->path));
        assert_false(file_exists(file));
        write_at(f->fd, "file", "");
        assert_true(file_exists(file));
        /* The link itself counts, not its target. */
        assert_int_equal(symlinkat("nowhere", f->fd, "dangling"), 0);
        assert_true(file_exists(dangling));
}

static bool not_hidden(const struct dirent *de, void *userdata) {
        unsigned *calls = userdata;

        (*calls)++;
        return de->d_name[0] != '.';
}

static void test_dir_names(void **state) {
        Fixture *f = *state;
        _cleanup_strv_free_ char **all = NULL, **kept = NULL, **none = NULL;
        unsigned calls = 0;
        DIR *d;

        write_at(f->fd, "b", "");
        write_at(f->fd, "a", "");
        write_at(f->fd, ".hidden", "");
        write_at(f->fd, "B", "");
        assert_int_equal(mkdirat(f->fd, "sub", 0755), 0);

        /* every name but "." and "..", in byte order */
        d = opendir(f->path);
        assert_non_null(d);
        assert_int_equal(dir_names(d, NULL, NULL, &all), 0);
        closedir(d);
        assert_int_equal(strv_length(all), 5);
        assert_string_equal(all[0], ".hidden");
        assert_string_equal(all[1], "B");
        assert_string_equal(all[2], "a");
        assert_string_equal(all[3], "b");
        assert_string_equal(all[4], "sub");

        /* keep sees every entry but "." and "..", with its userdata */
        d = opendir(f->path);
        assert_non_null(d);
        assert_int_equal(dir_names(d, not_hidden, &calls, &kept), 0);
        assert_int_equal(calls, 5);
        assert_int_equal(strv_length(kept), 4);
        assert_false(strv_contains(kept, ".hidden"));
        /* read to its end: nothing is left */
        assert_int_equal(dir_names(d, NULL, NULL, &none), 0);
        assert_null(none);
        closedir(d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_read_full_regular, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dir_names, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_full_from_position, setup, teardown),
                cmocka_unit_test(test_read_full_pipe),
                cmocka_unit_test(test_loop_read_write),
                cmocka_unit_test(test_loop_write_nonblocking),
                cmocka_unit_test_setup_teardown(test_openat_beneath, setup, teardown),
                cmocka_unit_test_setup_teardown(test_openat_beneath_walk, setup, teardown),
                cmocka_unit_test(test_openat_beneath_magic_links),
                cmocka_unit_test_setup_teardown(test_write_file_atomic, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_file_atomic_absolute, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_file_atomic_named, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rm_rf, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rm_rf_path, setup, teardown),
                cmocka_unit_test_setup_teardown(test_is_mount_crossing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rm_rf_children_stops_at_mounts, setup, teardown),
                cmocka_unit_test(test_path_join),
                cmocka_unit_test(test_path_dirname_basename),
                cmocka_unit_test_setup_teardown(test_file_exists, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
