/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * spk init [-o FILE|-] [-i APPID] (-p PORT | -r) [-I SRCPATH]... [-A] [-k KEYRING] [-q] -- COMMAND...
 *
 * Writes a sandstorm-pkgdef.capnp template (spec §3.1). Here -p is the app's HTTP port and -I a source
 * path, unlike the other verbs. Without -i a new key is generated and appended to the keyring. The
 * default output, sandstorm-pkgdef.capnp, is never overwritten; an explicit -o FILE is.
 */

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "basic/fileio.h"
#include "basic/hex.h"
#include "basic/log.h"
#include "basic/random-util.h"
#include "basic/string-util.h"
#include "spk/keyring.h"
#include "spk/spk-tool.h"

#define DEFAULT_OUTPUT "sandstorm-pkgdef.capnp"

static void init_help(void) {
        printf("Usage: spk init [options] -- COMMAND...\n"
               "\n"
               "Writes a package definition template for an app started by COMMAND.\n"
               "\n"
               "  -p, --port=PORT          the app serves HTTP on PORT (1024-65535); it runs behind\n"
               "                           sandstorm-http-bridge\n"
               "  -r, --raw                the app speaks Sandstorm's API itself (no bridge)\n"
               "  -I, --source-path=DIR    take the app's files from DIR (repeatable; default: the\n"
               "                           pkgdef's directory, then the whole system)\n"
               "  -A, --include-all        pack everything under the -I directories instead of a\n"
               "                           file list\n"
               "  -i, --app-id=APPID       use this app id instead of generating a new key\n"
               "  -o, --output=FILE|-      write here instead of sandstorm-pkgdef.capnp\n"
               "  -k, --keyring=FILE       keyring for the new key (default ~/.sandstorm-keyring)\n"
               "  -q, --quiet              no reminder to back up the keyring\n"
               "  -h, --help               show this help\n");
}

/* A Cap'n Proto text literal for s. */
static int append_quoted(StrBuf *b, const char *s) {
        int r;

        r = strbuf_append_char(b, '"');
        for (const unsigned char *p = (const unsigned char *) s; r >= 0 && *p; p++)
                switch (*p) {
                case '"':
                        r = strbuf_append_str(b, "\\\"");
                        break;
                case '\\':
                        r = strbuf_append_str(b, "\\\\");
                        break;
                case '\n':
                        r = strbuf_append_str(b, "\\n");
                        break;
                case '\t':
                        r = strbuf_append_str(b, "\\t");
                        break;
                default:
                        if (*p < 0x20 || *p == 0x7f)
                                r = strbuf_printf(b, "\\x%02x", *p);
                        else
                                r = strbuf_append_char(b, (char) *p);
                }
        if (r >= 0)
                r = strbuf_append_char(b, '"');
        return r;
}

static int append_quoted_list(StrBuf *b, char *const *items) {
        int r = 0;

        for (char *const *i = items; r >= 0 && *i; i++) {
                if (i != items)
                        r = strbuf_append_str(b, ", ");
                if (r >= 0)
                        r = append_quoted(b, *i);
        }
        return r;
}

typedef struct InitArgs {
        const char *app_id;
        unsigned port; /* 0: raw (-r) */
        char **source_paths;
        bool include_all;
        char **command;
} InitArgs;

static int template_build(const InitArgs *a, uint64_t file_id, StrBuf *b) {
        int r;

        r = strbuf_printf(b,
                "@0x%016" PRIx64 ";\n"
                "\n"
                "using Spk = import \"/sandstorm/package.capnp\";\n"
                "# The schema of this file: PackageDefinition and everything it contains, documented\n"
                "# field by field, is in sandstorm/package.capnp.\n"
                "\n"
                "const pkgdef :Spk.PackageDefinition = (\n"
                "  # spk reads the constant named \"pkgdef\" (spk pack -p FILE:NAME picks another).\n"
                "\n"
                "  id = \"%s\",\n"
                "  # The app id is the public half of the key that signs the app's packages. The secret half\n"
                "  # is in your keyring (spk listkeys); every update of the app must be signed with it, so\n"
                "  # keep a copy of the keyring somewhere safe.\n"
                "\n"
                "  manifest = (\n"
                "    # What the server needs to know to run the app.\n"
                "\n"
                "    appTitle = (defaultText = \"Example App\"),\n"
                "    # The app's name as users see it.\n"
                "\n"
                "    appVersion = 0,  # Raise this with every release; upgrades only ever go up.\n"
                "\n"
                "    appMarketingVersion = (defaultText = \"0.0.0\"),\n"
                "    # The version shown to people, in any format you like.\n"
                "\n"
                "    actions = [\n"
                "      # How new grains (instances of the app) are created.\n"
                "      ( nounPhrase = (defaultText = \"instance\"),\n"
                "        command = .myCommand\n"
                "        # The command run the first time a grain starts.\n"
                "      )\n"
                "    ],\n"
                "\n"
                "    continueCommand = .myCommand,\n"
                "    # The command run whenever an existing grain starts again.\n"
                "\n"
                "    metadata = (\n"
                "      # Shown in the app market and the app index; none of it affects how the app runs.\n"
                "      icons = (\n"
                "        # SVG is preferred; PNG works too (png = (dpi1x = embed \"...\", dpi2x = embed \"...\")).\n"
                "        #appGrid = (svg = embed \"path/to/appgrid-128x128.svg\"),\n"
                "        #grain = (svg = embed \"path/to/grain-24x24.svg\"),\n"
                "        #market = (svg = embed \"path/to/market-150x150.svg\"),\n"
                "        #marketBig = (svg = embed \"path/to/market-big-300x300.svg\"),\n"
                "      ),\n"
                "\n"
                "      website = \"http://example.com\",\n"
                "      # The app's home page.\n"
                "\n"
                "      codeUrl = \"http://example.com\",\n"
                "      # Where its source code is.\n"
                "\n"
                "      license = (none = void),\n"
                "      # For example (openSource = apache2), or (proprietary = (defaultText = embed \"LICENSE\")).\n"
                "\n"
                "      categories = [],\n"
                "      # For example [productivity, office].\n"
                "\n"
                "      author = (\n"
                "        contactEmail = \"youremail@example.com\",\n"
                "        # Where to write about problems with the package.\n"
                "\n"
                "        #pgpSignature = embed \"path/to/pgp-signature\",\n"
                "        # A PGP signature of \"I am the author of the Sandstorm.io app with the following ID: <id>\",\n"
                "        # with the key in pgpKeyring below, to prove who stands behind the app id.\n"
                "\n"
                "        upstreamAuthor = \"Example App Team\",\n"
                "        # Who wrote the app, if you only packaged it.\n"
                "      ),\n"
                "\n"
                "      #pgpKeyring = embed \"path/to/pgp-keyring\",\n"
                "      # The public PGP key(s) that go with pgpSignature.\n"
                "\n"
                "      #description = (defaultText = embed \"path/to/description.md\"),\n"
                "      # A longer description, in Markdown.\n"
                "\n"
                "      shortDescription = (defaultText = \"one-to-three words\"),\n"
                "      # What kind of app this is, in a few words (\"document editor\").\n"
                "\n"
                "      screenshots = [\n"
                "        #(width = 746, height = 795, jpeg = embed \"path/to/screenshot-1.jpeg\"),\n"
                "        #(width = 640, height = 480, png = embed \"path/to/screenshot-2.png\"),\n"
                "      ],\n"
                "\n"
                "      #changeLog = (defaultText = embed \"path/to/sandstorm-specific/changelog.md\"),\n"
                "      # What changed in each release, in Markdown.\n"
                "    ),\n"
                "  ),\n"
                "\n"
                "  sourceMap = (\n"
                "    # Where the package's files come from. Each mapping puts a directory of this machine\n"
                "    # (sourcePath, relative to this file's directory unless absolute) at packagePath in the\n"
                "    # package (default: the root). For a path found in several mappings, the first wins;\n"
                "    # directories are merged. hidePaths leaves things out. /dev, /tmp and /var are empty in\n"
                "    # every package: the sandbox mounts over them.\n"
                "    searchPath = [\n",
                file_id, a->app_id);
        if (r < 0)
                return r;

        if (a->source_paths)
                for (char **s = a->source_paths; r >= 0 && *s; s++) {
                        r = strbuf_append_str(b, "      ( sourcePath = ");
                        if (r >= 0)
                                r = append_quoted(b, *s);
                        if (r >= 0)
                                r = strbuf_append_str(b, s[1] ? " ),\n" : " )\n");
                }
        else
                r = strbuf_append_str(b,
                        "      ( sourcePath = \".\" ),  # the app's own files, beside this file\n"
                        "      ( sourcePath = \"/\",    # then the rest of this system\n"
                        "        hidePaths = [ \"home\", \"proc\", \"sys\",\n"
                        "                      \"etc/passwd\", \"etc/hosts\", \"etc/host.conf\",\n"
                        "                      \"etc/nsswitch.conf\", \"etc/resolv.conf\" ]\n"
                        "        # Files that would be wrong inside the sandbox, or private.\n"
                        "      )\n");
        if (r < 0)
                return r;

        r = strbuf_append_str(b,
                "    ]\n"
                "  ),\n"
                "\n");
        if (r < 0)
                return r;

        if (a->include_all)
                r = strbuf_append_str(b,
                        "  alwaysInclude = [ \".\" ],\n"
                        "  # Everything the source map finds goes into the package.\n");
        else
                r = strbuf_append_str(b,
                        "  fileList = \"sandstorm-files.list\",\n"
                        "  # The files to pack, one per line, relative to the package root. `spk dev` writes\n"
                        "  # this list as it watches the app run. The path is relative to the directory spk\n"
                        "  # runs in.\n"
                        "\n"
                        "  alwaysInclude = [],\n"
                        "  # Paths packed in full (with everything beneath them) whether listed or not.\n"
                        "\n"
                        "  #bridgeConfig = (\n"
                        "  #  # Settings of sandstorm-http-bridge, which the app runs behind when it serves HTTP.\n"
                        "  #  viewInfo = (\n"
                        "  #    # Permissions and roles the app offers when a grain is shared. The user's\n"
                        "  #    # permissions reach the app in the X-Sandstorm-Permissions header.\n"
                        "  #    permissions = [\n"
                        "  #      ( name = \"editor\",\n"
                        "  #        title = (defaultText = \"editor\"),\n"
                        "  #        description = (defaultText = \"grants ability to modify data\"),\n"
                        "  #      ),\n"
                        "  #    ],\n"
                        "  #    roles = [\n"
                        "  #      ( title = (defaultText = \"editor\"),\n"
                        "  #        permissions = [true],\n"
                        "  #        verbPhrase = (defaultText = \"can make changes to the document\"),\n"
                        "  #        description = (defaultText = \"editors may view all site data and change settings.\"),\n"
                        "  #      ),\n"
                        "  #      ( title = (defaultText = \"viewer\"),\n"
                        "  #        permissions = [false],\n"
                        "  #        verbPhrase = (defaultText = \"can view the document\"),\n"
                        "  #        description = (defaultText = \"viewers may view what other users have written.\"),\n"
                        "  #      ),\n"
                        "  #    ],\n"
                        "  #  ),\n"
                        "  #  #apiPath = \"/api/\",\n"
                        "  #  # Where requests made with API tokens go; it must end with '/'.\n"
                        "  #),\n");
        if (r < 0)
                return r;

        r = strbuf_append_str(b,
                ");\n"
                "\n"
                "const myCommand :Spk.Manifest.Command = (\n"
                "  # The command that runs the app. There is no PATH search: argv[0] must be absolute.\n"
                "  argv = [");
        if (r < 0)
                return r;
        if (a->port > 0) {
                r = strbuf_printf(b, "\"/sandstorm-http-bridge\", \"%u\", \"--\"%s", a->port,
                                  a->command[0] ? ", " : "");
                if (r < 0)
                        return r;
        }
        r = append_quoted_list(b, a->command);
        if (r < 0)
                return r;
        return strbuf_append_str(b,
                "],\n"
                "  environ = [\n"
                "    # The app's whole environment; nothing else is set for it.\n"
                "    (key = \"PATH\", value = \"/usr/local/bin:/usr/bin:/bin\"),\n"
                "    (key = \"SANDSTORM\", value = \"1\"),\n"
                "  ]\n"
                ");\n");
}

static int parse_port(const char *s, unsigned *ret) {
        uint64_t v;

        if (parse_uint64(s, 65535, &v) < 0 || v < 1024)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

int verb_init(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "output", required_argument, NULL, 'o' },
                { "app-id", required_argument, NULL, 'i' },
                { "port", required_argument, NULL, 'p' },
                { "raw", no_argument, NULL, 'r' },
                { "source-path", required_argument, NULL, 'I' },
                { "include-all", no_argument, NULL, 'A' },
                { "keyring", required_argument, NULL, 'k' },
                { "quiet", no_argument, NULL, 'q' },
                {}
        };
        _cleanup_strv_free_ char **source_paths = NULL;
        _cleanup_free_ char *keyring_path = NULL;
        _cleanup_strbuf_ StrBuf text = STRBUF_INIT;
        const char *output = NULL, *app_id_arg = NULL, *keyring_arg = NULL, *dest;
        char app_id_text[APP_ID_TEXT_SIZE + 1];
        bool raw = false, have_port = false, include_all = false, quiet = false;
        unsigned port = 0;
        SpkKey key = {};
        InitArgs a = {};
        int c, r;

        optind = 0;
        opterr = 0;
        /* '+': options end at the command, so it may have options of its own even without "--". */
        while ((c = getopt_long(argc, argv, "+:ho:i:p:rI:Ak:q", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        init_help();
                        return 0;
                case 'o':
                        output = optarg;
                        break;
                case 'i':
                        app_id_arg = optarg;
                        break;
                case 'p':
                        if (parse_port(optarg, &port) < 0) {
                                log_error("init: invalid port '%s': expected a number from 1024 to 65535", optarg);
                                return 1;
                        }
                        have_port = true;
                        break;
                case 'r':
                        raw = true;
                        break;
                case 'I':
                        if (strv_extend(&source_paths, optarg) < 0) {
                                (void) log_oom();
                                return 1;
                        }
                        break;
                case 'A':
                        include_all = true;
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

        if (have_port && raw) {
                log_error("init: -p and -r cannot be combined");
                return 1;
        }
        if (!have_port && !raw) {
                log_error("init: one of -p PORT or -r is required");
                return 1;
        }
        if (include_all && !source_paths) {
                log_error("init: -A needs at least one -I");
                return 1;
        }
        if (optind >= argc) {
                log_error("init: missing the command that runs the app, after '--'");
                return 1;
        }

        dest = output ?: DEFAULT_OUTPUT;
        if (!output && faccessat(AT_FDCWD, dest, F_OK, AT_SYMLINK_NOFOLLOW) >= 0) {
                log_error("%s already exists; use -o to write elsewhere", dest);
                return 1;
        }

        if (app_id_arg) {
                uint8_t id[APP_ID_SIZE];

                if (app_id_from_string(app_id_arg, strlen(app_id_arg), id) < 0) {
                        log_error("init: invalid app id '%s'", app_id_arg);
                        return 1;
                }
                app_id_to_string(id, app_id_text);
        } else {
                r = spk_key_generate(&key);
                if (r < 0) {
                        log_error_errno(r, "Failed to generate a key: %m");
                        return 1;
                }
                app_id_to_string(key.public_key, app_id_text);
        }

        a = (InitArgs) {
                .app_id = app_id_text,
                .port = have_port ? port : 0,
                .source_paths = source_paths,
                .include_all = include_all,
                .command = argv + optind,
        };
        r = template_build(&a, random_u64() | (UINT64_C(1) << 63), &text);
        if (r < 0) {
                explicit_bzero_safe(&key, sizeof(key));
                (void) log_oom();
                return 1;
        }

        if (!app_id_arg) {
                keyring_path = spk_keyring_path(keyring_arg);
                r = keyring_path ? spk_keyring_append(keyring_path, &key) : -ENOMEM;
                explicit_bzero_safe(&key, sizeof(key));
                if (r < 0) {
                        log_error_errno(r, "Failed to add the new key to keyring '%s': %m",
                                        keyring_path ?: "?");
                        return 1;
                }
        }

        if (streq(dest, "-"))
                r = loop_write(STDOUT_FILENO, text.data, text.len);
        else
                r = write_file_atomic_at(AT_FDCWD, dest, text.data, text.len, 0644);
        if (r < 0) {
                log_error_errno(r, "Failed to write '%s': %m", dest);
                return 1;
        }

        if (!app_id_arg && !quiet)
                log_notice("The app's key was added to keyring '%s'. Back that file up: every update of "
                           "the app must be signed with this key.", keyring_path);
        return 0;
}
