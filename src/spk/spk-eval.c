/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * spk eval [-I DIR]... [-p FILE[:CONST]] [-o json|binary] [CONST]
 *
 * Prints the value of a constant of a pkgdef file the way `capnp eval -ojson FILE CONST` does (plus a
 * newline), or its binary encoding — a single-segment stream message, as `capnp eval -obinary` — for
 * struct constants. A packager's view of what spk pack will read. The Sandstorm schemas are built in,
 * so -I is needed only for the packager's own absolute imports and embeds.
 */

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/string-util.h"
#include "capnp/text.h"
#include "spk/spk-tool.h"

static void eval_help(void) {
        printf("Usage: spk eval [options] [CONST]\n"
               "\n"
               "Evaluates a constant of a package definition file and prints it as Cap'n Proto JSON,\n"
               "exactly as 'capnp eval -ojson FILE CONST' would.\n"
               "\n"
               "  -I, --import-path=DIR    search DIR for absolute imports and embeds (repeatable)\n"
               "  -p, --pkg-def=FILE[:CONST]\n"
               "                           the file and constant (default sandstorm-pkgdef.capnp:pkgdef)\n"
               "  -o, --output=FORMAT      json (default) or binary (a Cap'n Proto message; structs only)\n"
               "  -h, --help               show this help\n"
               "\n"
               "A CONST argument overrides the constant named with -p.\n");
}

int verb_eval(int argc, char *argv[]) {
        static const struct option options[] = {
                {"import-path", required_argument, NULL, 'I'},
                {"pkg-def", required_argument, NULL, 'p'},
                {"output", required_argument, NULL, 'o'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        _cleanup_strv_free_ char **import_path = NULL;
        _cleanup_free_ char *file = NULL, *name = NULL, *error = NULL;
        const char *pkgdef = NULL;
        bool binary = false;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "I:p:o:h", options, NULL)) >= 0)
                switch (c) {
                case 'I':
                        if (strv_extend(&import_path, optarg) < 0) {
                                log_oom();
                                return 1;
                        }
                        break;
                case 'p':
                        pkgdef = optarg;
                        break;
                case 'o':
                        if (streq(optarg, "json"))
                                binary = false;
                        else if (streq(optarg, "binary"))
                                binary = true;
                        else {
                                log_error("Unknown output format '%s'; use json or binary.", optarg);
                                return 1;
                        }
                        break;
                case 'h':
                        eval_help();
                        return 0;
                default:
                        log_error("See 'spk eval --help'.");
                        return 1;
                }

        if (argc - optind > 1) {
                log_error("Too many arguments; see 'spk eval --help'.");
                return 1;
        }

        r = spk_pkgdef_arg_parse(pkgdef, &file, &name);
        if (r == -ENOMEM) {
                log_oom();
                return 1;
        }
        if (r < 0) {
                log_error("Invalid -p argument '%s'; expected FILE[:CONST].", pkgdef);
                return 1;
        }
        if (optind < argc) {
                free(name);
                name = strdup(argv[optind]);
                if (!name) {
                        log_oom();
                        return 1;
                }
        }

        const CapnpTextOptions opts = {.import_path = import_path};
        if (binary) {
                _cleanup_free_ uint8_t *msg = NULL;
                size_t size;

                if (isatty(STDOUT_FILENO)) {
                        log_error("Refusing to write a binary message to a terminal.");
                        return 1;
                }
                r = capnp_text_eval(file, name, &opts, NULL, &msg, &size, &error);
                if (r < 0) {
                        log_error("%s", error ?: strerror(-r));
                        return 1;
                }
                r = loop_write(STDOUT_FILENO, msg, size);
        } else {
                _cleanup_strbuf_ StrBuf out = STRBUF_INIT;

                r = capnp_text_eval_json(file, name, &opts, &out, &error);
                if (r < 0) {
                        log_error("%s", error ?: strerror(-r));
                        return 1;
                }
                if (strbuf_append_char(&out, '\n') < 0) {
                        log_oom();
                        return 1;
                }
                r = loop_write(STDOUT_FILENO, out.data, out.len);
        }
        if (r < 0) {
                log_error_errno(r, "Failed to write to standard output: %m");
                return 1;
        }
        return 0;
}
