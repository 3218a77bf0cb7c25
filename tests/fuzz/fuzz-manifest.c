/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Fuzzes the readers of a package's stored messages (front/manifest.h): the sandstorm-manifest's commands
 * and actions, and the sandstorm-http-bridge-config. Both come from the package, so from anyone. The first
 * byte is the action asked for (0…7); the rest is the message, given to all four readers.
 *
 * Invariants checked, beyond "no crash, no leak, no read past the input":
 * (1) a command read has an argv of at least one element, argv and environ NULL-terminated, at most
 *     MANIFEST_COMMAND_ITEMS_MAX entries and MANIFEST_COMMAND_BYTES_MAX bytes (NULs included) together,
 *     and each environ entry is KEY=VALUE with a non-empty KEY;
 * (2) an error is one of those the header names;
 * (3) the action asked for is read exactly when it is below the number of actions the list reader gives
 *     (or that reader fails too);
 * (4) action texts are valid UTF-8 without control characters, at most 4096 bytes;
 * (5) permissions are at most MANIFEST_PERMISSIONS_MAX identifiers (an ASCII letter, then letters and
 *     digits) of at most MANIFEST_PERMISSION_NAME_MAX bytes; apiPath is visible ASCII, at most
 *     MANIFEST_API_PATH_MAX bytes;
 * (6) reading twice gives the same answer.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/string-util.h"
#include "front/manifest.h"
#include "fuzz.h"

static bool error_is_named(int r) {
        return r == -EBADMSG || r == -ENOEXEC || r == -E2BIG || r == -ERANGE || r == -ENOMEM;
}

static bool strv_equal_or_both_null(char **a, char **b) {
        for (; a && b && *a && *b; a++, b++)
                if (strcmp(*a, *b) != 0)
                        return false;
        return (!a || !*a) && (!b || !*b);
}

/* (1) */
static void check_command(const ManifestCommand *c) {
        size_t items = 0, bytes = 0;

        CHECK(c->argv && c->argv[0]);
        CHECK(c->environ);
        for (char **a = c->argv; *a; a++) {
                items++;
                bytes += strlen(*a) + 1;
        }
        for (char **e = c->environ; *e; e++) {
                const char *eq = strchr(*e, '=');

                CHECK(eq && eq > *e);
                items++;
                bytes += strlen(*e) + 1;
        }
        CHECK(items <= MANIFEST_COMMAND_ITEMS_MAX);
        CHECK(bytes <= MANIFEST_COMMAND_BYTES_MAX);
}

static int read_command(const uint8_t *data, size_t size, bool action, size_t index) {
        ManifestCommand a = {}, b = {};
        int r, r2;

        r = action ? manifest_action_command(data, size, index, &a)
                   : manifest_continue_command(data, size, &a);
        r2 = action ? manifest_action_command(data, size, index, &b)
                    : manifest_continue_command(data, size, &b);
        CHECK(r == r2); /* (6) */
        if (r < 0)
                CHECK(error_is_named(r)); /* (2) */
        else {
                check_command(&a);
                CHECK(strv_equal_or_both_null(a.argv, b.argv) &&
                        strv_equal_or_both_null(a.environ, b.environ));
        }
        manifest_command_done(&a);
        manifest_command_done(&b);
        return r;
}

static bool is_letter(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* (4) */
static void check_text(const char *t) {
        if (!t)
                return;
        CHECK(strlen(t) <= 4096);
        CHECK(utf8_is_valid(t, strlen(t)));
        CHECK(string_is_printable(t, strlen(t)));
}

static void check_bridge_config(const uint8_t *data, size_t size) {
        ManifestBridgeConfig c = {};
        int r = manifest_bridge_config_parse(data, size, &c);
        size_t n = 0;

        if (r < 0) {
                CHECK(error_is_named(r)); /* (2) */
                return;
        }
        /* (5) */
        CHECK(c.permissions);
        for (char **p = c.permissions; *p; p++, n++) {
                size_t len = strlen(*p);

                CHECK(len >= 1 && len <= MANIFEST_PERMISSION_NAME_MAX);
                CHECK(is_letter((*p)[0]));
                for (size_t i = 0; i < len; i++)
                        CHECK(is_letter((*p)[i]) || ((*p)[i] >= '0' && (*p)[i] <= '9'));
        }
        CHECK(n <= MANIFEST_PERMISSIONS_MAX);
        if (c.api_path) {
                size_t len = strlen(c.api_path);

                CHECK(len <= MANIFEST_API_PATH_MAX);
                for (size_t i = 0; i < len; i++)
                        CHECK(c.api_path[i] >= 0x21 && c.api_path[i] <= 0x7e);
        }
        manifest_bridge_config_done(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ManifestAction *actions = NULL;
        size_t n_actions = 0, index;
        int r, ra;

        if (size < 1 || size > 1 << 20)
                return 0;
        index = data[0] & 7;
        data++, size--;

        (void) read_command(data, size, false, 0);
        r = read_command(data, size, true, index);

        ra = manifest_actions(data, size, &actions, &n_actions);
        if (ra < 0)
                CHECK(error_is_named(ra));
        else {
                for (size_t i = 0; i < n_actions; i++) {
                        check_text(actions[i].title);
                        check_text(actions[i].noun_phrase);
                }
                /* (3): an action past the list is -ERANGE; one in it is read or refused for its contents */
                if (index >= n_actions)
                        CHECK(r == -ERANGE);
                else
                        CHECK(r != -ERANGE);
        }
        manifest_actions_free(actions, n_actions);

        check_bridge_config(data, size);
        return 0;
}
