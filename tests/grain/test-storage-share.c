/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * storage_share() (grain/storage-share.h) on a tree like one an app leaves behind: entries of other uids
 * and groups with no group access, a link out of the tree, a root-owned mount point, a FIFO. Needs root (it
 * makes files of other owners); skipped otherwise.
 */

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "basic/fileio.h"
#include "basic/macro.h"
#include "grain/storage-share.h"

#define GROUP 4242    /* the storage's group (granary-grain on a real system) */
#define OLD_UID 61999 /* a dynamic uid of an earlier run */

typedef struct Fixture {
        char dir[64];     /* the temporary directory */
        char storage[96]; /* dir/var: what is shared */
} Fixture;

static void make(const Fixture *f, const char *name, mode_t mode, uid_t uid, gid_t gid) {
        char p[256];
        int fd;

        snprintf(p, sizeof(p), "%s/%s", f->storage, name);
        if (S_ISDIR(mode))
                assert_int_equal(mkdir(p, 0), 0);
        else if (S_ISFIFO(mode))
                assert_int_equal(mkfifo(p, 0), 0);
        else {
                fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
                assert_true(fd >= 0);
                close(fd);
        }
        assert_int_equal(chown(p, uid, gid), 0);
        assert_int_equal(chmod(p, mode & 07777), 0);
}

static struct stat stat_of(const Fixture *f, const char *name) {
        struct stat st;
        char p[256];

        snprintf(p, sizeof(p), "%s/%s", f->storage, name);
        assert_int_equal(lstat(p, &st), 0);
        return st;
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        if (!f)
                return -1;
        strcpy(f->dir, "/tmp/test-storage-share-XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        snprintf(f->storage, sizeof(f->storage), "%s/var", f->dir);
        if (mkdir(f->storage, 02770) < 0 || chown(f->storage, 0, GROUP) < 0 || chmod(f->storage, 02770) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        int r = rm_rf_path(f->dir);

        free(f);
        return r < 0 ? -1 : 0;
}

static void test_share(void **state) {
        Fixture *f = *state;
        StorageShareStats s = {};
        char outside[128], link[256];
        struct stat st;

        if (geteuid() != 0) {
                skip();
                return;
        }
        /* what an app leaves: a private directory and file (the notes app), SQLite's 0644, a program */
        make(f, "notes", S_IFDIR | 0700, OLD_UID, GROUP);
        make(f, "notes/1", S_IFREG | 0600, OLD_UID, GROUP);
        make(f, "db.sqlite", S_IFREG | 0644, OLD_UID + 1, GROUP);
        make(f, "run.sh", S_IFREG | 0755, OLD_UID, GROUP);
        make(f, "pipe", S_IFIFO | 0600, OLD_UID, GROUP);
        /* another group (made before the setgid directory, or chgrp'ed by the app) */
        make(f, "other-group", S_IFREG | 0640, OLD_UID, 4243);
        /* what is already shared */
        make(f, "shared", S_IFREG | 0660, OLD_UID, GROUP);
        /* systemd's mount point, root's */
        make(f, "tmp", S_IFDIR | 0755, 0, 0);
        /* a link out of the storage, to a private file: neither changes */
        snprintf(outside, sizeof(outside), "%s/outside", f->dir);
        assert_int_equal(write_file_atomic_at(AT_FDCWD, outside, "secret", 6, 0600), 0);
        snprintf(link, sizeof(link), "%s/link", f->storage);
        assert_int_equal(symlink(outside, link), 0);
        assert_int_equal(lchown(link, OLD_UID, GROUP), 0);

        assert_int_equal(storage_share(f->storage, &s), 0);
        assert_int_equal(s.seen, 9);
        assert_int_equal(s.changed, 6);
        assert_int_equal(s.failed, 0);

        st = stat_of(f, "notes");
        assert_int_equal(st.st_mode & 07777, 02770);
        assert_int_equal(st.st_uid, OLD_UID); /* the owner stays */
        assert_int_equal(stat_of(f, "notes/1").st_mode & 07777, 0660);
        assert_int_equal(stat_of(f, "db.sqlite").st_mode & 07777, 0664);
        assert_int_equal(stat_of(f, "run.sh").st_mode & 07777, 0775);
        assert_int_equal(stat_of(f, "pipe").st_mode & 07777, 0660);
        st = stat_of(f, "other-group");
        assert_int_equal(st.st_gid, GROUP);
        assert_int_equal(st.st_mode & 07777, 0660);
        assert_int_equal(stat_of(f, "shared").st_mode & 07777, 0660);
        st = stat_of(f, "tmp");
        assert_int_equal(st.st_mode & 07777, 0755);
        assert_int_equal(st.st_gid, 0);
        assert_int_equal(lstat(outside, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(st.st_gid, 0);
        /* the storage itself is granaryd's */
        assert_int_equal(lstat(f->storage, &st), 0);
        assert_int_equal(st.st_uid, 0);
        assert_int_equal(st.st_mode & 07777, 02770);

        /* once shared, nothing more to do */
        assert_int_equal(storage_share(f->storage, &s), 0);
        assert_int_equal(s.seen, 9);
        assert_int_equal(s.changed, 0);
        assert_int_equal(s.failed, 0);
}

/* A tree deeper than a path can name: what a path reaches is shared, the rest is counted, nothing breaks. */
static void test_deep(void **state) {
        Fixture *f = *state;
        StorageShareStats s = {};
        int fd, next;

        if (geteuid() != 0) {
                skip();
                return;
        }
        fd = open(f->storage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        for (int i = 0; i < 3000; i++) {
                assert_int_equal(mkdirat(fd, "d", 0700), 0);
                assert_int_equal(fchownat(fd, "d", OLD_UID, GROUP, AT_SYMLINK_NOFOLLOW), 0);
                next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                assert_true(next >= 0);
                close(fd);
                fd = next;
        }
        close(fd);

        assert_int_equal(storage_share(f->storage, &s), 0);
        assert_true(s.changed >= 2000); /* every level a path of PATH_MAX reaches */
        assert_true(s.changed < 3000);
        assert_true(s.failed > 0);
        assert_true(s.first_error < 0);
        assert_int_equal(stat_of(f, "d").st_mode & 07777, 02770);
}

static void test_refuses(void **state) {
        Fixture *f = *state;
        StorageShareStats s = {};
        char file[128];

        assert_int_equal(storage_share("relative/var", &s), -EINVAL);
        assert_int_equal(storage_share(NULL, &s), -EINVAL);
        snprintf(file, sizeof(file), "%s/file", f->dir);
        assert_int_equal(write_file_atomic_at(AT_FDCWD, file, "x", 1, 0600), 0);
        assert_int_equal(storage_share(file, &s), -ENOTDIR);
        snprintf(file, sizeof(file), "%s/missing", f->dir);
        assert_int_equal(storage_share(file, &s), -ENOENT);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_share, setup, teardown),
                cmocka_unit_test_setup_teardown(test_deep, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refuses, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
