/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * spk/package.h — reading Sandstorm packages (.spk, spec §1): verifying them and unpacking them.
 *
 * Every package is hostile. Verification streams the file once: the raw bytes go into SHA-256 (the
 * package id), the xz payload is decompressed, the Signature message at its start is checked, and
 * every byte after it goes into SHA-512 (for the signature) and into an unnamed temporary file. Only
 * when the signature matches is the archive in that file mapped and walked; the walk checks the whole
 * tree against the limits below, whatever Sandstorm itself checks. Unpacking then creates the tree in
 * a new directory beside the destination, with *at() calls beneath that directory only, and renames it
 * into place; on any failure nothing is left behind.
 *
 * Peak memory stays bounded whatever the package size: the archive is never read into the heap, only
 * mapped, and mapped pages are dropped as the walk goes. Never logs above debug. Errors are negative
 * errnos plus, in SpkError, one sentence for the user (Sandstorm's wording where it has one).
 *
 * Errnos: -EBADMSG malformed package (magic, xz, Cap'n Proto, names, types, manifest), -EKEYREJECTED
 * signature or hash mismatch, -EKEYREVOKED revoked key (spec §1.6), -EFBIG a size limit, -E2BIG an
 * entry-count or path-length limit, -ELOOP nesting, -EEXIST destination exists, -ENOPKG a PGP-signed
 * package when gpg is missing, other errnos from the system.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/macro.h"

#define SPK_MAGIC_SIZE 8
extern const uint8_t spk_magic[SPK_MAGIC_SIZE]; /* 8F C6 CD EF 45 1A EA 96 */

/* Limits a package is held to. Defaults below; a caller may only tighten them sensibly. */
#define SPK_MAX_ARCHIVE_BYTES (UINT64_C(1) << 30)       /* after the signature message: "App too big …" */
#define SPK_MAX_FILE_BYTES ((UINT64_C(1) << 29) - 1)    /* one file; 512 MiB is refused (spec §1.5) */
#define SPK_MAX_DEPTH 128u                              /* directory levels; root entries are level 1 (*) */
#define SPK_MAX_ENTRIES (UINT64_C(1) << 20)             /* files, directories and symlinks, in total */
#define SPK_MAX_TOTAL_PATH_BYTES (UINT64_C(256) << 20)  /* sum over entries of the length of "a/b/c" */
#define SPK_MAX_NAME_BYTES 255u                         /* NAME_MAX: no file system takes more */
#define SPK_MAX_SYMLINK_BYTES 4095u                     /* PATH_MAX - 1 */
#define SPK_MAX_SEGMENTS (UINT32_C(1) << 18)            /* archive segments: real packages have many */
#define SPK_MAX_SIGNATURE_BYTES 4096u                   /* the Signature message (192 bytes in practice) */
#define SPK_MAX_MANIFEST_WORDS UINT64_C(1048576)        /* Manifest.sizeLimitInWords */
#define SPK_MAX_MANIFEST_BYTES (SPK_MAX_MANIFEST_WORDS * 8 + 4096)
#define SPK_MAX_BRIDGE_CONFIG_BYTES SPK_MAX_MANIFEST_BYTES
#define SPK_XZ_MEMLIMIT (UINT64_C(72) << 20)            /* enough for xz -9 (64 MiB dictionary) */

/* (*) Sandstorm reads archives with a Cap'n Proto nesting limit of 128, which every directory level
 * costs at least one of (its list), besides the root: any tree it accepts is within this limit. */

typedef struct SpkLimits {
        uint64_t max_archive_bytes;
        uint64_t max_file_bytes;
        uint64_t max_entries;
        uint64_t max_total_path_bytes;
        unsigned max_depth;
} SpkLimits;

#define SPK_LIMITS_DEFAULT                                                                                   \
        ((SpkLimits) {                                                                                       \
                .max_archive_bytes = SPK_MAX_ARCHIVE_BYTES,                                                  \
                .max_file_bytes = SPK_MAX_FILE_BYTES,                                                        \
                .max_entries = SPK_MAX_ENTRIES,                                                              \
                .max_total_path_bytes = SPK_MAX_TOTAL_PATH_BYTES,                                            \
                .max_depth = SPK_MAX_DEPTH,                                                                  \
        })

/* A message for the user, filled on failure when the caller passes one. */
typedef struct SpkError {
        char message[512];
} SpkError;

typedef void (*SpkProgressFn)(void *userdata, uint64_t done, uint64_t total);

typedef struct SpkVerifyOptions {
        const SpkLimits *limits; /* NULL: SPK_LIMITS_DEFAULT */
        /* Called as input is read: bytes read so far, and the input's size (0 when unknown, e.g. a
         * pipe). Called at most about once per MiB, and once at the end with done == total. */
        SpkProgressFn progress;
        void *userdata;
        /* Where verification keeps the decompressed archive (an unnamed file): NULL means $TMPDIR,
         * else /var/tmp. Unpacking always uses the destination's directory. */
        const char *tmp_dir;
        /* 1: everything in the calling thread. 0 (the default) or more: hashing and writing the
         * temporary file run beside decompression in one helper thread that lives only during the
         * call. */
        unsigned threads;
        /* Check metadata.author.pgpSignature with gpg (spec §1.8) when present; fails with -ENOPKG
         * if gpg is missing. Off: a PGP signature is neither checked nor reported. */
        bool check_pgp;
} SpkVerifyOptions;

typedef struct SpkPackageInfo {
        uint8_t signer[32];     /* the key that signed the package */
        uint8_t app_id[32];     /* canonical app id (spec §1.6) */
        uint8_t package_id[16]; /* SHA-256 of the file as read, first 16 bytes */
        char app_id_text[53];
        char package_id_text[33];
        uint8_t *manifest; /* sandstorm-manifest's bytes: one Cap'n Proto message, ≤ 1M words */
        size_t manifest_size;
        uint8_t *bridge_config; /* sandstorm-http-bridge-config's bytes, or NULL when absent */
        size_t bridge_config_size;
        char *author_pgp_key_fingerprint; /* when check_pgp and the package has a PGP signature */
        uint64_t archive_bytes;           /* decompressed bytes after the signature message */
        uint64_t n_entries;               /* files, directories and symlinks */
        uint64_t content_bytes;           /* sum of regular and executable file sizes */
} SpkPackageInfo;

void spk_package_info_done(SpkPackageInfo *info);
static inline void spk_package_info_donep(SpkPackageInfo *info) {
        spk_package_info_done(info);
}
#define _cleanup_spk_package_info_ _cleanup_(spk_package_info_donep)

/*
 * Reads the package from fd (a file or a pipe, from its current position to EOF) and verifies it
 * completely: magic, xz, signature, size, revocation, every archive entry, and the manifest (spec
 * §1.8). opts may be NULL. On success fills *ret (free with spk_package_info_done()).
 */
int spk_package_verify_fd(int fd, const SpkVerifyOptions *opts, SpkPackageInfo *ret, SpkError *error);

/*
 * Verifies like spk_package_verify_fd(), then creates dir_fd/name holding the package's tree: regular
 * files 0666, executables and directories 0777, minus the umask; symlinks verbatim; every mtime from
 * the package. name must be one path component and must not exist (-EEXIST). The tree is built in a
 * hidden directory beside it and renamed into place when complete; on failure nothing is left. ret may
 * be NULL.
 */
int spk_package_unpack_fd(int fd, int dir_fd, const char *name, const SpkVerifyOptions *opts,
                          SpkPackageInfo *ret, SpkError *error);

/*
 * The archive checker on its own, for bytes already in memory (the decompressed stream after the
 * Signature message). Pure: no I/O. Fills the manifest, bridge-config, entry and byte counts of *ret
 * and leaves the id fields zero. Does not check the manifest's contents.
 */
int spk_archive_check(const void *buf, size_t size, const SpkLimits *limits, SpkPackageInfo *ret,
                      SpkError *error);

/* Checks a manifest message as spk verify does (spec §1.8): it parses within 1M words, and
 * metadata.website and metadata.codeUrl, if set, start with http:// or https://. Pure. */
int spk_manifest_check(const void *buf, size_t size, SpkError *error);

/* The VerifiedInfo message (spec §1.8) for a verified package, as a single-segment stream message. */
int spk_verified_info_build(const SpkPackageInfo *info, uint8_t **ret, size_t *ret_size);
