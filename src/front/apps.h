/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * front/apps.h — installing, describing and removing apps (DESIGN.md "Packages", spec §1.3–1.8): a
 * package is verified, unpacked into packages/<package-id>/ and recorded in the store with its app; a
 * package with a known app id and a higher appVersion becomes that app's latest (grains move to it at
 * their next start).
 *
 * Owns the packages directory and what is in it:
 *   <package-id>/      a complete tree, put there by one rename (spk/package.h builds it, this module
 *                      moves it)
 *   .install-<random>/ an install in progress (apps_job_run()); stale ones are removed by apps_purge()
 *   .removed-<random>/ a tree on its way out, moved aside in one rename; deleted by apps_purge()
 * so that packages/<package-id>/ is always either absent or whole, whatever crashes. Does not own the
 * package format (spk/package.h), the rows (store/store.h), grain storage, workers or HTTP. Never logs:
 * failures are negative errnos and, where a person should read why, a message in *ret_error (allocated;
 * valid UTF-8 without control characters, whatever the package held).
 *
 * An install runs in two halves, so that the slow and risky one never runs on granaryd's event loop:
 *
 *   apps_job_init() --(parent)--> apps_job_run() --(a forked child, worker.h: verify, unpack, rename)-->
 *   apps_job_finish() --(parent: manifest, store)--> recorded
 *
 * apps_install_fd() runs all three in the calling process. The child hands back the package's ids, manifest
 * and bridge config as one serialized result; a manifest too large for a worker's result is read back from
 * the tree instead.
 *
 * Recovery: a package already unpacked on disk but not in the store (a crash between the rename and the
 * record) is verified again and its tree reused; a package in the store whose tree is missing is unpacked
 * again. Removal deletes the rows first, then moves each tree aside, then deletes it.
 *
 * Errors: those of spk/package.h for a bad package (apps_error_is_package()), -EEXIST a package installed
 * already, -ENOENT no such app, -EBUSY grains use the app, and errnos from the system and the store.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/hex.h"
#include "basic/macro.h"
#include "store/store.h"

/* The largest package an upload may carry: the archive cap of spk/package.h (after decompression, so a
 * compressed package is practically never larger) and the magic number. */
#define APPS_UPLOAD_MAX ((UINT64_C(1) << 30) + 8)

#define APPS_INSTALL_PREFIX ".install-"
#define APPS_REMOVED_PREFIX ".removed-"
/* ".install-" or ".removed-", 16 hex digits, NUL */
#define APPS_HIDDEN_NAME_SIZE 32u

/* True for the errnos spk/package.h gives for a package that is malformed, tampered with, revoked or
 * beyond a limit, and this module for a manifest it cannot record: a client's mistake (400), not the
 * server's. */
bool apps_error_is_package(int error) _const_;

/* ---- manifests ---- */

typedef struct AppsManifest {
        char *title;             /* appTitle.defaultText; NULL when the package has none */
        char *marketing_version; /* appMarketingVersion.defaultText; "" when none */
        uint32_t app_version;
        size_t n_actions;
} AppsManifest;

void apps_manifest_done(AppsManifest *m);

/* Reads what the store and the API show of a sandstorm-manifest message (spec §1.7, §3.3), within
 * Manifest.sizeLimitInWords. -EBADMSG with *ret_error for a message that does not parse, or texts that are
 * not UTF-8, hold a NUL or exceed STORE_TEXT_MAX. Pure. */
int apps_manifest_parse(const void *buf, size_t size, AppsManifest *ret, char **ret_error);

/* ---- apps as the API shows them ---- */

typedef struct AppsApp {
        char *id;                /* spec §1.3 */
        char *title;             /* the latest package's appTitle, else the one recorded at first install */
        char *package_id;        /* the latest package; NULL: none */
        uint32_t version;        /* its appVersion */
        char *marketing_version; /* its appMarketingVersion; NULL: no package */
        uint64_t installed;      /* when it was recorded (µs); 0: no package */
        uint64_t created;        /* when the app was first installed (µs) */
        bool dev;                /* a registration of spk dev (front/devapps.h): package_id is its
                                  * development package, installed when it registered */
} AppsApp;

AppsApp *apps_app_free(AppsApp *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(AppsApp *, apps_app_free);
AppsApp **apps_app_list_free(AppsApp **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(AppsApp **, apps_app_list_free);

/* app_id is looked up as given (the store's ids are canonical lowercase). -ENOENT unknown. */
int apps_get(Store *s, const char *app_id, AppsApp **ret);
/* Every installed app, by title; a NULL-terminated array. ret_n may be NULL. An app whose only packages are
 * development ones (front/devapps.h) is not installed and not listed; front/api.c lists registered ones
 * itself. */
int apps_list(Store *s, AppsApp ***ret, size_t *ret_n);

/* ---- installing ---- */

typedef enum AppsInstallOutcome {
        APPS_INSTALL_NEW,      /* an app not known before */
        APPS_INSTALL_UPGRADE,  /* a higher appVersion of a known app: now its latest package */
        APPS_INSTALL_OLDER,    /* not higher than the app's latest: recorded, the latest stays */
        APPS_INSTALL_RESTORED, /* a package recorded before whose tree was missing: unpacked again */
        _APPS_INSTALL_OUTCOME_MAX,
        _APPS_INSTALL_OUTCOME_INVALID = -EINVAL,
} AppsInstallOutcome;

const char *apps_install_outcome_to_string(AppsInstallOutcome o) _const_;
AppsInstallOutcome apps_install_outcome_from_string(const char *s) _pure_;

typedef struct AppsInstallResult {
        AppsInstallOutcome outcome;
        char package_id[PACKAGE_ID_TEXT_SIZE + 1];
        uint32_t version;        /* the package's appVersion */
        char *marketing_version; /* the package's appMarketingVersion */
        AppsApp *app;            /* the app as it is now */
} AppsInstallResult;

void apps_install_result_done(AppsInstallResult *r);

/* One install. Plain data: a worker gets a copy of it as its input. */
typedef struct AppsJob {
        int packages_dir_fd; /* borrowed */
        int spk_fd;          /* borrowed: read from its current position to its end */
        char staging[APPS_HIDDEN_NAME_SIZE]; /* ".install-…" in the packages directory */
} AppsJob;

/* Picks the job's staging name. Cannot fail but for the randomness: -EIO. */
int apps_job_init(AppsJob *job, int packages_dir_fd, int spk_fd);

/*
 * The child's half, shaped as a WorkerFunc (in: an AppsJob): verifies the package and unpacks it into the
 * staging directory, syncs it, and renames it to <package-id> (or, when that exists already, keeps the tree
 * that is there and drops the new one), then removes the staging directory. Whether it worked is in the
 * result, for apps_job_finish(): a failure of the package comes back as a result, not as a return value, so
 * that its message survives the pipe. Returns < 0 only when no result can be made (-ENOMEM, -EINVAL).
 * Touches no store.
 */
int apps_job_run(const void *in, size_t in_size, void **ret, size_t *ret_size);

/*
 * The parent's half: reads the child's result (error: what the worker said, e.g. -ETIMEDOUT, -ECHILD),
 * reads the manifest, and records the app and the package. now: µs since the epoch. Does not look at the
 * staging directory: a child that did not finish leaves it, so call apps_job_abandon() afterwards.
 */
int apps_job_finish(Store *s, const AppsJob *job, int error, const void *result, size_t size, uint64_t now,
                    AppsInstallResult *ret, char **ret_error);

/* After a job whose child was killed (cancelled, timed out): moves its staging directory aside. 1 when
 * there was one (apps_purge() then has work), 0 when not. */
int apps_job_abandon(const AppsJob *job);

/* The whole install in the calling process: apps_job_init(), apps_job_run(), apps_job_finish(). */
int apps_install_fd(Store *s, int packages_dir_fd, int spk_fd, uint64_t now, AppsInstallResult *ret,
                    char **ret_error);

/* ---- removing ---- */

typedef enum AppsRemoveFlags {
        /* Also when grains use the app: their rows go too (identities and tokens with them; their storage
         * is not this module's and stays). Without it: -EBUSY. */
        APPS_REMOVE_FORCE = 1 << 0,
        /* Leave the trees moved aside for apps_purge() instead of deleting them now (which takes as long as
         * the trees are big). */
        APPS_REMOVE_DEFER = 1 << 1,
} AppsRemoveFlags;

/* Removes app_id: its rows and its packages' rows in one transaction, then every package tree (moved aside
 * in one rename each, then deleted unless APPS_REMOVE_DEFER). -ENOENT unknown app, -EBUSY grains use one of
 * its packages (without APPS_REMOVE_FORCE). *ret_grains (may be NULL) gets the ids of the grains whose rows
 * went (an empty strv when none). */
int apps_remove(Store *s, int packages_dir_fd, const char *app_id, AppsRemoveFlags flags,
                char ***ret_grains);

/* Deletes every tree moved aside (".removed-…") and, with installs, every staging directory (".install-…":
 * only when no install runs, e.g. at start). Goes on past failures and returns the first. */
int apps_purge(int packages_dir_fd, bool installs);
/* apps_purge(fd, false) shaped as a WorkerFunc, in: the packages directory's fd (an int). */
int apps_purge_job(const void *in, size_t in_size, void **ret, size_t *ret_size);
