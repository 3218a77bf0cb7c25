/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * spk/pkgdef.h — a loaded and validated sandstorm-pkgdef.capnp (spec §3.2, §3.3).
 *
 * Owns: evaluating the PackageDefinition constant (through capnp/text.h), the validation spk applies
 * before packing, and what the packer needs from it in plain C form: the app id, the manifest and
 * bridge-config messages as they go into the package (§1.7), whether the app runs the HTTP bridge,
 * the source map, fileList and alwaysInclude. Does not own the text format or the file tree.
 *
 * Never logs: failures return a negative errno and an allocated one-line message in *ret_error,
 * "FILE:LINE:COLUMN: …" for errors inside the file.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/hex.h"
#include "basic/macro.h"
#include "spk/sourcemap.h"

/* Manifest.sizeLimitInWords: readers parse the manifest with this traversal limit. */
#define SPK_MANIFEST_MAX_WORDS 1048576u
/* The newest Sandstorm API version a manifest may ask for (MAX_DEFINED_APIVERSION). */
#define SPK_MAX_API_VERSION 0u

typedef struct SpkPkgdef {
        char *path;        /* the pkgdef file as given */
        char *const_name;  /* usually "pkgdef" */
        char *id_text;     /* pkgdef.id as written */
        uint8_t app_id[APP_ID_SIZE];

        uint8_t *manifest; /* Manifest as its own unpacked stream message (segment table included) */
        size_t manifest_size;
        uint8_t *bridge_config; /* BridgeConfig message, an empty (1 word, 3 ptrs) struct if absent */
        size_t bridge_config_size;
        bool has_bridge_config;
        bool uses_http_bridge; /* bridgeConfig set, or continueCommand runs sandstorm-http-bridge */

        SpkSourceMap source_map; /* source_dir = the pkgdef's directory */
        char *file_list;         /* NULL if none; relative to the current directory */
        char **always_include;   /* canonical paths ("" = root), NULL-terminated, may be NULL */
} SpkPkgdef;

/*
 * Evaluates const_name (NULL: "pkgdef") of the file path and validates it: the constant must be a
 * PackageDefinition; id a valid app id; manifest.appTitle and appMarketingVersion present;
 * minApiVersion and maxApiVersion ≤ SPK_MAX_API_VERSION and min ≤ max; the manifest at most
 * SPK_MANIFEST_MAX_WORDS; alwaysInclude entries valid package paths. import_path as for
 * capnp_text_eval(). Errors: those of capnp_text_eval(); -EMEDIUMTYPE wrong type; -EINVAL a
 * validation failure; -EFBIG manifest too big.
 */
int spk_pkgdef_load(const char *path, const char *const_name, char *const *import_path, SpkPkgdef *ret,
                    char **ret_error);
/* The same from an already evaluated PackageDefinition message (msg, size), as if read from path. */
int spk_pkgdef_from_message(const char *path, const char *const_name, const void *msg, size_t size,
                            SpkPkgdef *ret, char **ret_error);
void spk_pkgdef_done(SpkPkgdef *p);
static inline void spk_pkgdef_donep(SpkPkgdef *p) {
        spk_pkgdef_done(p);
}
#define _cleanup_spk_pkgdef_ _cleanup_(spk_pkgdef_donep)

/* True when a command's argv[0] starts Sandstorm's HTTP bridge (spec §1.7). */
bool spk_argv0_is_http_bridge(const char *argv0, size_t len);
