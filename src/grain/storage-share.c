/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grain/storage-share.h"

/* Descriptors nftw() may keep open: one per level of the walk, up to this many. */
#define SHARE_OPEN_DIRS_MAX 32

/* nftw() takes no argument for its callback: the walk's state, one walk at a time. */
static struct {
        gid_t gid;
        StorageShareStats *stats;
} walk;

/* The mode an entry should have: the group's bits as the owner's, and setgid on a directory. */
static mode_t shared_mode(mode_t mode) {
        mode_t m = mode & 07777;

        m = (m & ~(mode_t) 0070) | ((m & 0700) >> 3);
        if (S_ISDIR(mode))
                m |= S_ISGID;
        return m;
}

static int failed(int error) {
        walk.stats->failed++;
        if (walk.stats->first_error == 0)
                walk.stats->first_error = -error;
        return 0; /* the walk goes on */
}

static int share_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        bool changed = false;

        if (ftw->level == 0)
                return 0; /* the storage itself: granaryd's */
        walk.stats->seen++;
        if (type == FTW_NS || type == FTW_DNR)
                return failed(errno ?: EIO);
        /* symbolic links: their own mode means nothing, and they are never followed; root's entries are
         * systemd's mount points (var/tmp) */
        if (type == FTW_SL || type == FTW_SLN || st->st_uid == 0)
                return 0;

        /* the group first: a change of group clears a file's setgid bit, which the mode then says again */
        if (st->st_gid != walk.gid) {
                if (fchownat(AT_FDCWD, path, (uid_t) -1, walk.gid, AT_SYMLINK_NOFOLLOW) < 0)
                        return failed(errno);
                changed = true;
        }
        if (changed || shared_mode(st->st_mode) != (st->st_mode & 07777)) {
                /* not a link (above), and nothing changes the tree while it is walked (the unit's
                 * KillMode=control-group ends every process of the grain before ExecStopPost=): so without
                 * AT_SYMLINK_NOFOLLOW, which glibc honours only through /proc (absent in a grain's root) */
                if (fchmodat(AT_FDCWD, path, shared_mode(st->st_mode), 0) < 0)
                        return failed(errno);
                changed = true;
        }
        if (changed)
                walk.stats->changed++;
        return 0;
}

int storage_share(const char *dir, StorageShareStats *ret) {
        StorageShareStats stats = {};
        struct stat st;

        if (!dir || dir[0] != '/' || !ret)
                return -EINVAL;
        if (lstat(dir, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;

        walk.gid = st.st_gid;
        walk.stats = &stats;
        /* FTW_PHYS: links are not followed; FTW_MOUNT: nothing mounted below (the app's /tmp, say) */
        if (nftw(dir, share_one, SHARE_OPEN_DIRS_MAX, FTW_PHYS | FTW_MOUNT) < 0)
                /* a path too long for the walk, or out of memory: what was walked is shared */
                (void) failed(errno);
        walk.stats = NULL;
        *ret = stats;
        return 0;
}
