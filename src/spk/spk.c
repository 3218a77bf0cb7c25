/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * spk — Sandstorm's packaging tool: `spk <verb> [options]`. This file only dispatches; each verb lives
 * in its own spk-*.c and returns the exit status.
 */

#include <stdio.h>
#include <string.h>

#include "basic/log.h"
#include "basic/random-util.h"
#include "spk/spk-tool.h"

typedef struct Verb {
        const char *name;
        int (*run)(int argc, char *argv[]);
        const char *synopsis;
} Verb;

static const Verb verbs[] = {
        { "init", verb_init, "init [-o FILE|-] [-i APPID] (-p PORT | -r) [-I SRCPATH]... [-A] -- COMMAND..." },
        { "dev", verb_dev, "dev [-I DIR]... [-p FILE[:CONST]] [-s PATH | --dev STATE_DIR | -m DIR] [-c]" },
        { "pack", verb_pack, "pack [-I DIR]... [-p FILE[:CONST]] [-k KEYRING] OUTPUT.spk" },
        { "verify", verb_verify, "verify [-d] SPKFILE|-" },
        { "unpack", verb_unpack, "unpack SPKFILE|- [OUTDIR]" },
        { "eval", verb_eval, "eval [-I DIR]... [-p FILE[:CONST]] [-o json|binary] [CONST]" },
        { "keygen", verb_keygen, "keygen [-k KEYRING] [-q]" },
        { "listkeys", verb_listkeys, "listkeys [-k KEYRING]" },
        { "getkey", verb_getkey, "getkey [-k KEYRING] APPID..." },
};

/* Sandstorm's verbs that this spk does not have. */
static const char *const unsupported[] = { "publish" };

static void help(void) {
        printf("Usage: spk <command> [options]\n"
               "\n"
               "Creates, signs, checks and unpacks Sandstorm packages (.spk).\n"
               "\n"
               "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                printf("  spk %s\n", verbs[i].synopsis);
        printf("\n"
               "Options for every command:\n"
               "  -h, --help     show the command's help\n"
               "\n"
               "spk --version prints the version.\n");
}

int main(int argc, char *argv[]) {
        const char *verb;

        log_set_program("spk");
        if (random_init() < 0) {
                log_error("Failed to initialize the random number generator.");
                return 1;
        }

        if (argc < 2) {
                log_error("Missing command; see 'spk --help'.");
                return 1;
        }
        verb = argv[1];

        if (streq(verb, "--help") || streq(verb, "-h") || streq(verb, "help")) {
                help();
                return 0;
        }
        if (streq(verb, "--version")) {
                printf("spk %s\n", PACKAGE_VERSION);
                return 0;
        }

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verb, verbs[i].name))
                        return verbs[i].run(argc - 1, argv + 1);

        for (size_t i = 0; i < ELEMENTSOF(unsupported); i++)
                if (streq(verb, unsupported[i])) {
                        log_error("'spk %s' is not supported by this spk.", verb);
                        return 1;
                }

        log_error("Unknown command '%s'; see 'spk --help'.", verb);
        return 1;
}
