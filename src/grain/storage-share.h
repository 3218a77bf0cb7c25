/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * grain/storage-share.h — after a grain's run under the systemd backend, what its app made in its storage
 * is shared with the storage's group, so that its next run reaches all of it whatever uid it gets.
 *
 * Why: each run is a user of its own, grain-<id> (DynamicUser=), and systemd gives that name the same uid
 * again only while no other running unit holds it; else the run gets another uid. The app's files stay
 * owned by the uid that made them, often with no group access (SQLite makes its files 0644, the notes app
 * 0600, and the umask takes the rest), so a run under another uid could not open them. Every run has the
 * storage's group (granary-grain) too, and the storage's directories are setgid to it: giving that group
 * what the owner has makes the uid not matter. granaryd, a member of that group, can then read everything
 * the app wrote, as a backup of the grain needs.
 *
 * Run by systemd as root, from the unit's ExecStopPost= (units/granary-grain@.service.in), once the grain's
 * processes are all gone (KillMode=control-group), so nothing changes the tree while it is walked. The tree
 * is the app's: nothing in it is followed or trusted. Symbolic links are left as they are and never
 * followed, the walk stays on the storage's file system, and entries owned by root (mount points systemd
 * made) are left alone.
 *
 * Uses libc only: granary-grain is linked statically (see bridge.c).
 */

#include <stddef.h>

typedef struct StorageShareStats {
        size_t seen;     /* entries looked at, the top directory excluded */
        size_t changed;  /* entries whose group or mode changed */
        size_t failed;   /* entries that could not be changed, or not looked at */
        int first_error; /* the first failure's negative errno, 0 if none */
} StorageShareStats;

/* For every entry below dir (not dir itself, which granaryd owns): the group of dir, the group permission
 * bits equal to the owner's, and the setgid bit on directories. 0, or a negative errno when dir itself
 * cannot be used; entries that fail are counted in ret->failed and the walk goes on. */
int storage_share(const char *dir, StorageShareStats *ret);
