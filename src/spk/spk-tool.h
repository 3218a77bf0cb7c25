/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * spk/spk-tool.h — what the verbs of the spk program share: the verb entry points, the keyring and
 * pkgdef locations, and progress display. Program code: it logs, to stderr.
 *
 * Each verb gets argc/argv with argv[0] the verb's name, parses its own options (getopt_long), and
 * returns an exit status. Messages follow Sandstorm's where it has one (spec §1.8, §1.9).
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "basic/macro.h"
#include "spk/pkgdef.h"

int verb_keygen(int argc, char *argv[]);
int verb_listkeys(int argc, char *argv[]);
int verb_getkey(int argc, char *argv[]);
int verb_init(int argc, char *argv[]);
int verb_pack(int argc, char *argv[]);
int verb_verify(int argc, char *argv[]);
int verb_unpack(int argc, char *argv[]);
int verb_eval(int argc, char *argv[]);
int verb_dev(int argc, char *argv[]);

/* Reports getopt_long's complaint (opt is what it returned: ':' for a missing argument, '?' for an
 * unknown option) as one line naming the verb, and returns the exit status 1. */
int spk_option_error(int opt, char *const argv[]);

/* The sandstorm-http-bridge to put into packages (spec §1.7) — ours, granary-grain: $SPK_BRIDGE_PATH,
 * or the one installed beside this spk (relative to the executable, then the configured libexec dir).
 * NULL if there is none (or out of memory). */
char *spk_find_bridge(void);

/* -k argument, or $HOME/.sandstorm-keyring. */
char *spk_keyring_path(const char *arg);

/* The -p FILE[:CONST] argument split in two, with Sandstorm's defaults
 * (sandstorm-pkgdef.capnp, pkgdef). */
int spk_pkgdef_arg_parse(const char *arg, char **ret_file, char **ret_const);
/* The pkgdef named by a -p argument (as spk_pkgdef_arg_parse()), evaluated with the -I directories in
 * *import_path and then the system's (appended to it). Logs what went wrong: -ENOMEM, -EINVAL for a bad
 * argument, or spk_pkgdef_load()'s error. */
int spk_pkgdef_arg_load(const char *arg, char ***import_path, SpkPkgdef *ret);

/*
 * Progress for long work, drawn on stderr only when it is a terminal and not --quiet: a single line
 * "label  37% 123.4 MiB / 333.0 MiB", redrawn at most ten times a second, cleared when done.
 */
typedef struct SpkProgress {
        const char *label;
        uint64_t total; /* 0: unknown, show bytes only */
        uint64_t done;
        uint64_t last_draw_usec;
        bool enabled;
        bool drawn;
} SpkProgress;

void spk_progress_init(SpkProgress *p, const char *label, uint64_t total, bool quiet);
void spk_progress_update(SpkProgress *p, uint64_t done);
void spk_progress_finish(SpkProgress *p);
/* A callback form for library code: userdata is the SpkProgress. */
void spk_progress_callback(void *userdata, uint64_t done, uint64_t total);
