/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * front/manifest.h — what starting a grain and describing it need from a package's stored messages: the
 * command lines of the sandstorm-manifest (spec §1.7, §3.3, §6.1) and the permissions and API path of the
 * sandstorm-http-bridge-config (spec §3.3, §5.4).
 *
 * Owns nothing at run time: pure functions, untrusted bytes and their length in, plain C values or a
 * negative errno out. No I/O, never logs. Does not own what the manifest means to the store and the API
 * (front/apps.h reads the title and versions) nor how a command is run (front/grains.h). Every reader uses
 * the manifest's own traversal limit (Manifest.sizeLimitInWords), so any message costs bounded work.
 *
 * Errors: -EBADMSG a message that does not parse, or a value this module refuses (a text with a NUL in it,
 * an environment key that is empty or holds '=', a permission name that is not an identifier, an API path
 * with bytes that cannot go in a request line); -ENOEXEC a command with nothing to run (no argv and no
 * deprecatedExecutablePath, e.g. a manifest without continueCommand); -E2BIG a command beyond
 * MANIFEST_COMMAND_ITEMS_MAX or MANIFEST_COMMAND_BYTES_MAX; -ERANGE no such action; -ENOMEM.
 */

#include <stddef.h>
#include <stdint.h>

#include "basic/macro.h"

/* argv and environ entries of one command, together. */
#define MANIFEST_COMMAND_ITEMS_MAX 1024u
/* Bytes of one command's argv and environ strings, NULs included: well below what execve() takes
 * (ARG_MAX, and MAX_ARG_STRLEN for one string), so a command read here never fails there for its size. */
#define MANIFEST_COMMAND_BYTES_MAX (128u * 1024u)
/* viewInfo.permissions entries (spec §10.1; real apps define a handful). */
#define MANIFEST_PERMISSIONS_MAX 1024u
/* Bytes of one permission name. */
#define MANIFEST_PERMISSION_NAME_MAX 256u
/* Bytes of apiPath. */
#define MANIFEST_API_PATH_MAX 4096u

typedef struct ManifestCommand {
        /* deprecatedExecutablePath (when set) followed by argv; at least one element; NULL-terminated. */
        char **argv;
        /* "KEY=VALUE" for each environ entry, in order; NULL-terminated (possibly empty, never NULL). This
         * is the app's whole environment (spec §6.1). */
        char **environ;
} ManifestCommand;

void manifest_command_done(ManifestCommand *c);

/* The command of actions[action] (a new grain's first start). -ERANGE when action >= the number of
 * actions. */
int manifest_action_command(const void *buf, size_t size, size_t action, ManifestCommand *ret);
/* The continueCommand (every later start). */
int manifest_continue_command(const void *buf, size_t size, ManifestCommand *ret);

typedef struct ManifestAction {
        char *title;       /* Action.title.defaultText (obsolete, still set by old apps); NULL: none */
        char *noun_phrase; /* Action.nounPhrase.defaultText, e.g. "notebook"; NULL: none */
} ManifestAction;

ManifestAction *manifest_actions_free(ManifestAction *a, size_t n);

/* Every action, in order: *ret is an array of *ret_n (NULL when 0). Texts are UTF-8 without control
 * characters (-EBADMSG otherwise), at most 4096 bytes each. */
int manifest_actions(const void *buf, size_t size, ManifestAction **ret, size_t *ret_n);

typedef struct ManifestBridgeConfig {
        /* viewInfo.permissions[i].name in definition order, obsolete ones included (spec §5.4: the index is
         * what counts); NULL-terminated, never NULL. Each is an identifier: ASCII letters and digits,
         * starting with a letter. */
        char **permissions;
        /* apiPath; NULL when the config has none. Visible ASCII only (0x21–0x7e). */
        char *api_path;
} ManifestBridgeConfig;

void manifest_bridge_config_done(ManifestBridgeConfig *c);

/* Reads a sandstorm-http-bridge-config message. buf NULL with size 0 (a package without one) gives no
 * permissions and no apiPath. */
int manifest_bridge_config_parse(const void *buf, size_t size, ManifestBridgeConfig *ret);
