/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * basic/conf-parser.h — the KEY=VALUE format of granary.conf, which is Sandstorm's sandstorm.conf
 * syntax (spec §9.1): '#' starts a comment anywhere in a line, lines are trimmed, blank lines are
 * skipped, every other line needs '=', key and value are the trimmed text around the first '=', no
 * quoting. A drop-in directory (the files ending in .conf in granary.conf.d, in lexical order) may override keys; later
 * files win. Errors name "file:line: …" in *ret_error (allocated). Never logs.
 */

#include <stdbool.h>
#include <stddef.h>

#include "basic/macro.h"

/* Configuration files larger than this are refused (-EFBIG). */
#define CONF_FILE_SIZE_MAX ((size_t) 1024 * 1024)

typedef struct ConfEntry {
        char *key;
        char *value;
        char *file; /* where it was set, for messages */
        unsigned line;
} ConfEntry;

typedef struct Conf {
        ConfEntry *entries;
        size_t n_entries;
} Conf;

void conf_done(Conf *c);
/* Parses text (n bytes, not necessarily NUL-terminated) as if read from file name. Later keys
 * override earlier ones. -EINVAL on a line without '=' or with an empty key; *ret_error says where. */
int conf_parse_text(Conf *c, const char *name, const char *text, size_t n, char **ret_error);
/* Reads path, then the files ending in .conf in path.d, in lexical order. A missing file is not an error when optional. */
int conf_load(Conf *c, const char *path, bool optional, char **ret_error);
const char *conf_get(const Conf *c, const char *key);
/* "true"/"yes" are true; anything else false; missing gives def. */
bool conf_get_bool(const Conf *c, const char *key, bool def);
