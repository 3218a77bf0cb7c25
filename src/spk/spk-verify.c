/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * spk verify and spk unpack (spec §1.8, §1.9): thin programs over spk/package.h. Each failure is one
 * line on stderr and exit status 1; unpack leaves nothing behind.
 */

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/string-util.h"
#include "capnp/capnp.h"
#include "capnp/json.h"
#include "spk/package.h"
#include "spk/spk-tool.h"

/* The input: a file, or stdin for "-". *ret_fd is to be closed only when it is not stdin. */
static int open_input(const char *arg, int *ret_fd) {
        int fd;

        if (streq(arg, "-")) {
                *ret_fd = STDIN_FILENO;
                return 0;
        }
        fd = open(arg, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(negative_errno(), "Failed to open '%s': %m", arg);
        *ret_fd = fd;
        return 0;
}

static int print_verified_info(const SpkPackageInfo *info) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
        CapnpMessage msg = {};
        CapnpStruct root;
        size_t size, used;
        int r;

        r = spk_verified_info_build(info, &buf, &size);
        if (r < 0)
                return log_error_errno(r, "Failed to build the package description: %m");

        r = capnp_message_parse(&msg, buf, size, NULL, &used);
        if (r != 0)
                return log_error_errno(r < 0 ? r : -EBADMSG, "Failed to read the package description: %m");
        r = capnp_message_root(&msg, &root);
        if (r >= 0)
                r = capnp_json_write_struct(&out, &root, "VerifiedInfo", CAPNP_JSON_VERIFY);
        capnp_message_done(&msg);
        if (r < 0)
                return log_error_errno(r, "Failed to format the package description: %m");

        if (strbuf_append_char(&out, '\n') < 0)
                return log_oom();
        r = loop_write(STDOUT_FILENO, out.data, out.len);
        if (r < 0)
                return log_error_errno(r, "Failed to write to standard output: %m");
        return 0;
}

static void verify_help(void) {
        printf("Usage: spk verify [-d] SPKFILE|-\n"
               "\n"
               "Checks a package's signature and contents and prints what it says about itself.\n"
               "\n"
               "  -d, --details  accepted for compatibility; details are always checked\n"
               "  -q, --quiet    no progress display\n"
               "  -h, --help     show this help\n");
}

int verb_verify(int argc, char *argv[]) {
        static const struct option options[] = {
                { "details", no_argument, NULL, 'd' },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_spk_package_info_ SpkPackageInfo info = {};
        SpkError error = {};
        SpkProgress progress;
        bool quiet = false;
        int c, fd = -EBADF, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:dqh", options, NULL)) >= 0)
                switch (c) {
                case 'd':
                        break;
                case 'q':
                        quiet = true;
                        break;
                case 'h':
                        verify_help();
                        return 0;
                default:
                        return spk_option_error(c, argv);
                }
        if (argc - optind != 1) {
                log_error("Expected one package file, or '-' for standard input; see 'spk verify --help'.");
                return 1;
        }

        if (open_input(argv[optind], &fd) < 0)
                return 1;

        spk_progress_init(&progress, "Verifying", 0, quiet);
        r = spk_package_verify_fd(fd, &(SpkVerifyOptions) {
                                          .progress = spk_progress_callback,
                                          .userdata = &progress,
                                          .check_pgp = true,
                                  },
                                  &info, &error);
        spk_progress_finish(&progress);
        if (fd != STDIN_FILENO)
                safe_close(fd);
        if (r < 0) {
                log_error("%s", error.message[0] ? error.message : strerror(-r));
                return 1;
        }

        return print_verified_info(&info) < 0 ? 1 : 0;
}

static void unpack_help(void) {
        printf("Usage: spk unpack SPKFILE|- [OUTDIR]\n"
               "\n"
               "Verifies a package, then unpacks it into OUTDIR, which must not exist. OUTDIR defaults to\n"
               "SPKFILE without its .spk suffix. Prints the app ID.\n"
               "\n"
               "  -q, --quiet    no progress display\n"
               "  -h, --help     show this help\n");
}

int verb_unpack(int argc, char *argv[]) {
        static const struct option options[] = {
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_spk_package_info_ SpkPackageInfo info = {};
        _cleanup_free_ char *outdir = NULL, *parent = NULL, *name = NULL;
        _cleanup_close_ int parent_fd = -EBADF;
        SpkError error = {};
        SpkProgress progress;
        const char *input;
        bool quiet = false;
        size_t len;
        int c, fd = -EBADF, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:qh", options, NULL)) >= 0)
                switch (c) {
                case 'q':
                        quiet = true;
                        break;
                case 'h':
                        unpack_help();
                        return 0;
                default:
                        return spk_option_error(c, argv);
                }
        if (argc - optind < 1 || argc - optind > 2) {
                log_error("Expected a package file (or '-') and optionally an output directory; "
                          "see 'spk unpack --help'.");
                return 1;
        }
        input = argv[optind];

        if (argc - optind == 2)
                outdir = strdup(argv[optind + 1]);
        else if (streq(input, "-")) {
                log_error("An output directory is needed when reading from standard input.");
                return 1;
        } else if (endswith(input, ".spk") && strlen(input) > STRLEN(".spk"))
                outdir = strndup_safe(input, strlen(input) - STRLEN(".spk"));
        else {
                log_error("Package file name '%s' does not end in '.spk'; give an output directory.", input);
                return 1;
        }
        if (!outdir)
                return log_oom(), 1;

        /* OUTDIR split into the directory it goes in and its own name. */
        len = strlen(outdir);
        while (len > 1 && outdir[len - 1] == '/')
                outdir[--len] = 0;
        parent = path_dirname(outdir);
        name = strdup(path_basename(outdir));
        if (!parent || !name)
                return log_oom(), 1;
        if (isempty(name) || streq(name, ".") || streq(name, "..") || strchr(name, '/')) {
                log_error("Invalid output directory '%s'.", outdir);
                return 1;
        }
        parent_fd = open(isempty(parent) ? "." : parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (parent_fd < 0) {
                log_error_errno(negative_errno(), "Failed to open directory '%s': %m",
                        isempty(parent) ? "." : parent);
                return 1;
        }
        if (faccessat(parent_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) >= 0) {
                log_error("Output directory '%s' already exists.", outdir);
                return 1;
        }

        if (open_input(input, &fd) < 0)
                return 1;

        spk_progress_init(&progress, "Unpacking", 0, quiet);
        /* Unpack checks what verify checks, the author's PGP signature included. */
        r = spk_package_unpack_fd(fd, parent_fd, name, &(SpkVerifyOptions) {
                                          .progress = spk_progress_callback,
                                          .userdata = &progress,
                                          .check_pgp = true,
                                  },
                                  &info, &error);
        spk_progress_finish(&progress);
        if (fd != STDIN_FILENO)
                safe_close(fd);
        if (r < 0) {
                log_error("%s", error.message[0] ? error.message : strerror(-r));
                return 1;
        }

        printf("%s\n", info.app_id_text);
        return fflush(stdout) == 0 ? 0 : 1;
}
