/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * spk pack [-I DIR]... [-p FILE[:CONST]] [-k KEYRING] [-q] OUTPUT.spk
 *
 * Every -I counts, wherever it stands relative to -p (Sandstorm counted only those before -p, an
 * accident of its option parser). The package is signed with the key for the pkgdef's app id after
 * the replacement table (spec §1.6 item 4), which must be in the keyring; the signing app id is
 * printed on stdout. SOURCE_DATE_EPOCH, when set, replaces the clock.
 */

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "basic/fileio.h"
#include "basic/hex.h"
#include "basic/log.h"
#include "basic/string-util.h"
#include "spk/keyring.h"
#include "spk/pack.h"
#include "spk/pkgdef.h"
#include "spk/replacements.h"
#include "spk/spk-tool.h"

#define NSEC_PER_SEC INT64_C(1000000000)

static void pack_help(void) {
        printf("Usage: spk pack [options] OUTPUT.spk\n"
               "\n"
               "Builds, signs and compresses a package from a package definition.\n"
               "\n"
               "  -I, --import-path=DIR    search DIR for absolute imports and embeds (repeatable)\n"
               "  -p, --pkg-def=FILE[:CONST]\n"
               "                           the package definition (default sandstorm-pkgdef.capnp:pkgdef)\n"
               "  -k, --keyring=FILE       keyring holding the signing key (default ~/.sandstorm-keyring)\n"
               "  -q, --quiet              no progress display\n"
               "  -h, --help               show this help\n"
               "\n"
               "Environment: SPK_BRIDGE_PATH (the sandstorm-http-bridge to include),\n"
               "SOURCE_DATE_EPOCH (the time to use instead of the clock).\n");
}

static void pack_warning(void *userdata, const char *message) {
        log_warning("%s", message);
}

/* The time stamps spk takes from the clock: SOURCE_DATE_EPOCH (seconds) when set. */
static int pack_time(int64_t *ret) {
        const char *e = getenv("SOURCE_DATE_EPOCH");
        struct timespec ts;

        if (e) {
                char *end;
                long long v;

                errno = 0;
                v = strtoll(e, &end, 10);
                if (errno != 0 || end == e || *end != '\0' || v < 0 || v > INT64_MAX / NSEC_PER_SEC)
                        return -EINVAL;
                *ret = (int64_t) v * NSEC_PER_SEC;
                return 0;
        }
        if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
                return negative_errno();
        *ret = (int64_t) ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
        return 0;
}

int verb_pack(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "import-path", required_argument, NULL, 'I' },
                { "pkg-def", required_argument, NULL, 'p' },
                { "keyring", required_argument, NULL, 'k' },
                { "quiet", no_argument, NULL, 'q' },
                {}
        };
        _cleanup_strv_free_ char **import_path = NULL;
        _cleanup_free_ char *keyring_path = NULL, *bridge = NULL,
                            *error = NULL;
        _cleanup_(spk_pkgdef_donep) SpkPkgdef pkgdef = {};
        _cleanup_spk_keyring_ SpkKeyring keyring = {};
        const char *pkgdef_arg = NULL, *keyring_arg = NULL, *output;
        char signer_text[APP_ID_TEXT_SIZE + 1], id_text[APP_ID_TEXT_SIZE + 1];
        uint8_t signer[APP_ID_SIZE];
        const SpkKey *key;
        SpkProgress progress;
        SpkPackOptions opts = {};
        bool quiet = false;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":hI:p:k:q", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        pack_help();
                        return 0;
                case 'I':
                        if (strv_extend(&import_path, optarg) < 0)
                                { (void) log_oom(); return 1; }
                        break;
                case 'p':
                        pkgdef_arg = optarg;
                        break;
                case 'k':
                        keyring_arg = optarg;
                        break;
                case 'q':
                        quiet = true;
                        break;
                default:
                        return spk_option_error(c, argv);
                }

        if (argc - optind != 1) {
                log_error("pack: expected exactly one output file; see 'spk pack --help'");
                return 1;
        }
        output = argv[optind];
        if (faccessat(AT_FDCWD, output, F_OK, AT_SYMLINK_NOFOLLOW) >= 0) {
                log_error("Output file '%s' already exists", output);
                return 1;
        }

        if (spk_pkgdef_arg_load(pkgdef_arg, &import_path, &pkgdef) < 0)
                return 1;

        spk_appid_signing_key(pkgdef.app_id, signer);
        app_id_to_string(signer, signer_text);
        app_id_to_string(pkgdef.app_id, id_text);

        keyring_path = spk_keyring_path(keyring_arg);
        if (!keyring_path)
                { (void) log_oom(); return 1; }
        r = spk_keyring_load(keyring_path, &keyring);
        if (r == -ENOENT) {
                log_error("No key for app id %s: keyring '%s' does not exist", signer_text, keyring_path);
                return 1;
        }
        if (r == -EBADMSG) {
                log_error("Invalid key in keyring '%s'", keyring_path);
                return 1;
        }
        if (r < 0) {
                log_error_errno(r, "Failed to read keyring '%s': %m", keyring_path);
                return 1;
        }
        key = spk_keyring_find(&keyring, signer);
        if (!key) {
                if (memcmp(signer, pkgdef.app_id, APP_ID_SIZE) != 0)
                        log_error("No key for app id %s (the replacement key of %s) in keyring '%s'", signer_text,
                                  id_text, keyring_path);
                else
                        log_error("No key for app id %s in keyring '%s'", signer_text, keyring_path);
                return 1;
        }

        r = pack_time(&opts.pack_time_ns);
        if (r == -EINVAL) {
                log_error("Invalid SOURCE_DATE_EPOCH '%s': expected seconds since the epoch",
                          getenv("SOURCE_DATE_EPOCH"));
                return 1;
        }
        if (r < 0) {
                log_error_errno(r, "Failed to read the clock: %m");
                return 1;
        }

        bridge = spk_find_bridge();
        spk_progress_init(&progress, "Packing", 0, quiet);
        opts.bridge_path = bridge;
        opts.progress = spk_progress_callback;
        opts.warning = pack_warning;
        opts.userdata = &progress;

        r = spk_pack(&pkgdef, key->public_key, key->secret_key, output, &opts, &error);
        spk_progress_finish(&progress);
        if (r < 0) {
                if (error)
                        log_error("%s", error);
                else
                        log_error_errno(r, "Failed to pack '%s': %m", output);
                return 1;
        }

        printf("%s\n", signer_text);
        return 0;
}
