/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * capnp/text.h — the Cap'n Proto text format as sandstorm-pkgdef.capnp files use it (spec §3.4): a
 * lexer, a parser and an evaluator of constants.
 *
 * Owns: reading a schema file of the pkgdef subset (file id, comments, `using X = import "…"`,
 * constants, annotations that are skipped), evaluating a constant's value against the compiled-in
 * Sandstorm schemas (capnp/schema.h) or against builtin types, relative imports of other user files,
 * `embed`, references to constants. Does not own the wire format (capnp/capnp.h) or JSON
 * (capnp/json.h), which it only calls.
 *
 * Never logs. Errors come back as a negative errno plus an allocated message
 * "FILE:LINE:COLUMN: what is wrong" (or "FILE: what is wrong" when no position applies), where
 * LINE and COLUMN count from 1 and COLUMN counts bytes. Files are read with the named size limits
 * below; everything a pkgdef author controls is bounded by one of them.
 *
 * Absolute imports ("/sandstorm/package.capnp" and its siblings) always resolve to the compiled-in
 * schema files, whatever the import path says; other absolute imports and absolute `embed` paths are
 * searched in the import path. Relative imports and embeds are relative to the file containing them.
 *
 * Like capnp: constants are evaluated only when used; names follow capnp's rules (constants
 * lowerCamelCase, imports capitalized, a constant referenced as ".name"); JSON is capnp's, so
 * AnyPointer values cannot be printed (-EOPNOTSUPP). Stricter than capnp, on purpose: a field or a
 * union set twice, an integer literal beyond 64 bits and embedded Text that is not UTF-8 or holds a
 * NUL are errors. Not supported: type declarations in text files (struct, enum, … are skipped and
 * cannot be used), generics, embedding a binary message as a struct.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/string-util.h"

#define CAPNP_TEXT_MAX_FILE_SIZE (4u << 20)     /* a .capnp source file */
#define CAPNP_TEXT_MAX_EMBED_SIZE (64u << 20)   /* one embedded file */
#define CAPNP_TEXT_MAX_TOTAL_EMBED (256u << 20) /* all embedded files of one evaluation */
#define CAPNP_TEXT_MAX_STRING (1u << 20)        /* one string or Data literal (adjacent ones joined) */
#define CAPNP_TEXT_MAX_DEPTH 64u                /* nesting of ( ) and [ ], of types, of const references */
#define CAPNP_TEXT_MAX_FILES 64u                /* user files loaded through relative imports */
#define CAPNP_TEXT_MAX_TOKENS (1u << 20)        /* tokens of one file */
#define CAPNP_TEXT_MAX_MESSAGE_WORDS (128u << 20 >> 3) /* the encoded result, in words */

typedef struct CapnpTextOptions {
        char *const *import_path; /* NULL-terminated list of directories for absolute imports, may be NULL */
        bool no_files;            /* refuse embed and import of user files (fuzzing, untrusted input) */
} CapnpTextOptions;

/*
 * Evaluates the struct-typed constant const_name of file path and returns it encoded as a
 * single-segment Cap'n Proto stream message (segment table included) whose root is the constant's
 * value, plus the name of its type (e.g. "PackageDefinition", a static string). On failure returns
 * negative errno and sets *ret_error to "FILE:LINE:COLUMN: message" (or "FILE: message"; NULL only
 * when even that could not be allocated). Errors: -EINVAL syntax or type error, -ENOENT missing file or
 * name, -ERANGE integer out of range, -ELOOP cycles and nesting, -EFBIG/-E2BIG a size limit, -EPERM
 * files disabled, -EOPNOTSUPP unsupported syntax, -ENOMEM, or a file's read errno. ret_type_name may
 * be NULL.
 */
int capnp_text_eval(const char *path, const char *const_name, const CapnpTextOptions *opts,
        const char **ret_type_name, uint8_t **ret_msg, size_t *ret_size, char **ret_error);

/* Same evaluation, but writes the value as Cap'n Proto JSON exactly as `capnp eval -ojson FILE CONST`
 * prints it (works for any constant type, also non-struct). No trailing newline. */
int capnp_text_eval_json(const char *path, const char *const_name, const CapnpTextOptions *opts, StrBuf *out,
        char **ret_error);

/*
 * The in-memory forms: the file's bytes are given (untrusted, need not be NUL-terminated) and name is
 * used in messages and as the base for relative embed and import (unless opts->no_files). Exactly one
 * of (ret_msg, ret_size) and out is used: pass out = NULL to get the binary message, or
 * ret_msg = ret_size = NULL to get JSON appended to out.
 */
int capnp_text_eval_buffer(const char *name, const void *bytes, size_t size, const char *const_name,
        const CapnpTextOptions *opts, const char **ret_type_name, uint8_t **ret_msg, size_t *ret_size,
        StrBuf *out, char **ret_error);
