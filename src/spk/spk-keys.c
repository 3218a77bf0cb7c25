/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * spk keygen, listkeys and getkey (spec §1.9, §2): keyring handling for packagers, over spk/keyring.h.
 */

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/hex.h"
#include "basic/log.h"
#include "basic/string-util.h"
#include "spk/keyring.h"
#include "spk/spk-tool.h"

/* Parses the options every key verb shares (-k, and -q where allowed); returns 1 after --help. */
static int parse_key_options(int argc, char *argv[], bool allow_quiet, void (*help)(void),
                             char **ret_keyring, bool *ret_quiet) {
        static const struct option options[] = {
                { "keyring", required_argument, NULL, 'k' },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *keyring = NULL;
        bool quiet = false;
        int c;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, allow_quiet ? "+:k:qh" : "+:k:h", options, NULL)) >= 0)
                switch (c) {
                case 'k':
                        keyring = optarg;
                        break;
                case 'q':
                        if (!allow_quiet) {
                                /* --quiet, which this verb does not take: getopt did not set optopt. */
                                optopt = 0;
                                (void) spk_option_error('?', argv);
                                return -EINVAL;
                        }
                        quiet = true;
                        break;
                case 'h':
                        help();
                        return 1;
                default:
                        (void) spk_option_error(c, argv);
                        return -EINVAL;
                }

        *ret_keyring = spk_keyring_path(keyring);
        if (!*ret_keyring)
                return log_oom();
        if (ret_quiet)
                *ret_quiet = quiet;
        return 0;
}

static int load_keyring(const char *path, SpkKeyring *ret) {
        int r;

        r = spk_keyring_load(path, ret);
        if (r == -ENOENT)
                return log_error_errno(r, "Keyring '%s' does not exist.", path);
        if (r == -EBADMSG)
                return log_error_errno(r, "Invalid key in keyring.");
        if (r < 0)
                return log_error_errno(r, "Failed to read keyring '%s': %m", path);
        return 0;
}

static void keygen_help(void) {
        printf("Usage: spk keygen [-k KEYRING] [-q]\n"
               "\n"
               "Generates a new app key, appends it to the keyring and prints its app ID.\n"
               "\n"
               "  -k, --keyring=FILE  keyring to append to (default ~/.sandstorm-keyring)\n"
               "  -q, --quiet         no reminder to back the keyring up\n"
               "  -h, --help          show this help\n");
}

int verb_keygen(int argc, char *argv[]) {
        _cleanup_free_ char *keyring = NULL;
        char text[APP_ID_TEXT_SIZE + 1];
        SpkKey key;
        bool quiet = false;
        int r;

        r = parse_key_options(argc, argv, true, keygen_help, &keyring, &quiet);
        if (r != 0)
                return r > 0 ? 0 : 1;
        if (optind < argc) {
                log_error("Unexpected argument '%s'; see 'spk keygen --help'.", argv[optind]);
                return 1;
        }

        r = spk_key_generate(&key);
        if (r < 0)
                return log_error_errno(r, "Failed to generate a key: %m"), 1;
        r = spk_keyring_append(keyring, &key);
        app_id_to_string(key.public_key, text);
        explicit_bzero_safe(&key, sizeof(key));
        if (r < 0)
                return log_error_errno(r, "Failed to write keyring '%s': %m", keyring), 1;

        printf("%s\n", text);
        if (fflush(stdout) != 0)
                return 1;
        if (!quiet)
                fprintf(stderr,
                        "The new key was added to '%s'. Back this file up now: without it you can never\n"
                        "publish an update to your app.\n",
                        keyring);
        return 0;
}

static void listkeys_help(void) {
        printf("Usage: spk listkeys [-k KEYRING]\n"
               "\n"
               "Prints the app ID of every key in the keyring, in file order.\n"
               "\n"
               "  -k, --keyring=FILE  keyring to read (default ~/.sandstorm-keyring)\n"
               "  -h, --help          show this help\n");
}

int verb_listkeys(int argc, char *argv[]) {
        _cleanup_free_ char *keyring = NULL;
        _cleanup_spk_keyring_ SpkKeyring k = {};
        int r;

        r = parse_key_options(argc, argv, false, listkeys_help, &keyring, NULL);
        if (r != 0)
                return r > 0 ? 0 : 1;
        if (optind < argc) {
                log_error("Unexpected argument '%s'; see 'spk listkeys --help'.", argv[optind]);
                return 1;
        }
        if (load_keyring(keyring, &k) < 0)
                return 1;

        for (size_t i = 0; i < k.n_keys; i++) {
                char text[APP_ID_TEXT_SIZE + 1];

                /* Keys are known by app ID and the first occurrence wins: a repeat is the same key. */
                if (spk_keyring_find(&k, k.keys[i].public_key) != &k.keys[i])
                        continue;
                printf("%s\n", app_id_to_string(k.keys[i].public_key, text));
        }
        return fflush(stdout) == 0 ? 0 : 1;
}

static void getkey_help(void) {
        printf("Usage: spk getkey [-k KEYRING] APPID... > FILE\n"
               "\n"
               "Writes the keys of the given app IDs to standard output, as a keyring.\n"
               "\n"
               "  -k, --keyring=FILE  keyring to read (default ~/.sandstorm-keyring)\n"
               "  -h, --help          show this help\n");
}

int verb_getkey(int argc, char *argv[]) {
        _cleanup_free_ char *keyring = NULL;
        _cleanup_free_ uint8_t *out = NULL;
        _cleanup_spk_keyring_ SpkKeyring k = {};
        size_t n;
        int r;

        r = parse_key_options(argc, argv, false, getkey_help, &keyring, NULL);
        if (r != 0)
                return r > 0 ? 0 : 1;
        if (optind >= argc) {
                log_error("Expected at least one app ID; see 'spk getkey --help'.");
                return 1;
        }
        if (isatty(STDOUT_FILENO)) {
                log_error("Refusing to write key data to a terminal; redirect standard output to a file.");
                return 1;
        }
        if (load_keyring(keyring, &k) < 0)
                return 1;

        n = (size_t) (argc - optind);
        out = malloc(n * SPK_KEYFILE_MESSAGE_SIZE);
        if (!out)
                return log_oom(), 1;

        /* All keys are found before anything is written, so a failure writes nothing. */
        for (size_t i = 0; i < n; i++) {
                const char *arg = argv[optind + (int) i];
                uint8_t id[APP_ID_SIZE];
                const SpkKey *key;

                if (app_id_from_string(arg, strlen(arg), id) < 0) {
                        explicit_bzero_safe(out, n * SPK_KEYFILE_MESSAGE_SIZE);
                        log_error("Invalid app ID '%s'.", arg);
                        return 1;
                }
                key = spk_keyring_find(&k, id);
                if (!key) {
                        explicit_bzero_safe(out, n * SPK_KEYFILE_MESSAGE_SIZE);
                        log_error("App ID '%s' is not in keyring '%s'.", arg, keyring);
                        return 1;
                }
                spk_key_to_message(key, out + i * SPK_KEYFILE_MESSAGE_SIZE);
        }

        r = loop_write(STDOUT_FILENO, out, n * SPK_KEYFILE_MESSAGE_SIZE);
        explicit_bzero_safe(out, n * SPK_KEYFILE_MESSAGE_SIZE);
        if (r < 0)
                return log_error_errno(r, "Failed to write to standard output: %m"), 1;
        return 0;
}
