/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * spk/pack.h — writing .spk files (spec §1.1, §1.2, §1.5, §1.7): the archive tree a pkgdef asks for,
 * its Cap'n Proto encoding, the signature, and the xz-compressed file.
 *
 * Owns: the fixed root entries (dev/, tmp/, var/, proc/cpuinfo, sandstorm-manifest,
 * sandstorm-http-bridge-config, sandstorm-http-bridge), the archive layout, signing and compression,
 * and placing the output file. Does not own pkgdef evaluation (spk/pkgdef.h), path resolution
 * (spk/sourcemap.h), keyrings (spk/keyring.h) or reading packages (spk/package.h).
 *
 * Never logs. Failures return a negative errno and an allocated one-line message in *ret_error;
 * warnings and progress go to the callbacks in SpkPackOptions.
 *
 * Layout of the archive message (two segments, so memory stays small whatever the tree size):
 *   segment 0: the Archive root, every File struct, list and name, symlink targets, and the
 *              generated manifest and bridge config;
 *   segment 1: for each file with content, in depth-first sorted order: a landing-pad word (a byte
 *              list pointer with offset 0) followed by the content, zero-padded to a word. The File's
 *              Data pointer is a far pointer to that landing pad.
 * File contents are streamed twice: once into SHA-512 for the signature, once into the compressor.
 * A file whose size or content differs between the two passes fails the pack.
 *
 * Reproducibility: the output depends only on the tree (names, contents, types, mtimes), the pkgdef,
 * the key, SpkPackOptions.pack_time_ns and the constants below. The xz stream is made by liblzma's
 * multithreaded encoder with a fixed block size, whose output does not depend on the thread count.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/macro.h"
#include "spk/pkgdef.h"
#include "spk/sourcemap.h"

/* The uncompressed archive message may be at most 1 GiB (spec §1.5). */
#define SPK_ARCHIVE_MAX_SIZE (UINT64_C(1) << 30)
/* xz settings: `xz -6`, blocks of three dictionaries (liblzma's own default for preset 6). */
#define SPK_PACK_XZ_PRESET 6u
#define SPK_PACK_XZ_BLOCK_SIZE (UINT64_C(24) << 20)

typedef struct SpkPackOptions {
        int64_t pack_time_ns;    /* mtime of synthesized directories (the clock or SOURCE_DATE_EPOCH) */
        const char *bridge_path; /* the packer's sandstorm-http-bridge; NULL if there is none */
        uint32_t threads;        /* compression threads; 0: the online CPUs */
        /* Called as the compressor consumes the archive (bytes done of total); may be NULL. */
        void (*progress)(void *userdata, uint64_t done, uint64_t total);
        /* Called once per warning, e.g. a fifo packed as an empty file; may be NULL. */
        void (*warning)(void *userdata, const char *message);
        void *userdata;
} SpkPackOptions;

/*
 * The tree pkgdef asks for (spec §1.7): the fixed entries, the root recursively if alwaysInclude
 * has "" or "." (then also the manifest, and the bridge and its config when the app uses the bridge),
 * every alwaysInclude entry recursively, every fileList line non-recursively. -ENOENT if the bridge
 * is needed but opts->bridge_path is NULL or missing; -ENOENT if the package would have no
 * sandstorm-manifest; the errors of spk_tree_include(). Warnings are left in ret->warnings.
 */
int spk_pack_build_tree(const SpkPkgdef *pkgdef, const SpkPackOptions *opts, SpkTree *ret, char **ret_error);

/*
 * Encodes tree as the archive message, signs it with secret_key (64 bytes, libsodium form) and writes
 * magic + xz(signature message + archive message) to fd, from its current position. -EFBIG if the
 * archive exceeds SPK_ARCHIVE_MAX_SIZE; -ESTALE if a file changed while being packed; I/O errors.
 */
int spk_pack_write(const SpkTree *tree, const SpkPkgdef *pkgdef, const uint8_t public_key[32],
                   const uint8_t secret_key[64], int fd, const SpkPackOptions *opts, char **ret_error);

/*
 * All of it: builds the tree, writes the package to a temporary file beside output and links it into
 * place only when complete. -EEXIST (and nothing written) if output exists; on any failure nothing is
 * left behind. Warnings of the tree go to opts->warning.
 */
int spk_pack(const SpkPkgdef *pkgdef, const uint8_t public_key[32], const uint8_t secret_key[64],
             const char *output, const SpkPackOptions *opts, char **ret_error);
