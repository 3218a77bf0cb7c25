@0xf4ca2e17d43bf0d8;

# Package definition for the example app `headers`, in the shape
# `spk init -p 8000 -- /headers 8000` writes, filled in.
#
# The build packs it (contrib/apps/headers/meson.build): meson puts the static binary `headers` next to
# copies of this file and icon.svg in build/contrib/apps/headers/ and runs there, with granary-grain as
# the bridge to include:
#
#   cd build/contrib/apps/headers && SPK_BRIDGE_PATH=../../../src/grain/granary-grain \
#           spk pack -k ../../../../contrib/apps/headers/example.keyring headers.spk
#
# example.keyring holds the key of the app ID below. It is a published example key, good for demos
# and tests only: never sign a real app with it.

using Spk = import "/sandstorm/package.capnp";
# This imports:
#   $SANDSTORM_HOME/latest/usr/include/sandstorm/package.capnp
# Check out that file to see the full, documented package definition format.

const pkgdef :Spk.PackageDefinition = (
  # The package definition. Note that the spk tool looks specifically for the
  # "pkgdef" constant.

  id = "v7gdmr5mu7sd15svgpye9ks98e7h698s3x6ewzmsqfwaat1e2de0",
  # Your app ID is actually its public key. The private key was placed in
  # your keyring. All updates must be signed with the same key.

  manifest = (
    # This manifest is included in your app package to tell Sandstorm
    # about your app.

    appTitle = (defaultText = "Headers"),

    appVersion = 1,  # Increment this for every release.

    appMarketingVersion = (defaultText = "1.0.0"),
    # Human-readable representation of appVersion. Should match the way you
    # identify versions of your app in documentation and marketing.

    actions = [
      # Define your "new document" handlers here.
      ( nounPhrase = (defaultText = "inspector"),
        command = .myCommand
        # The command to run when starting for the first time. (".myCommand"
        # is just a constant defined at the bottom of the file.)
      )
    ],

    continueCommand = .myCommand,
    # This is the command called to start your app back up after it has been
    # shut down for inactivity. Here we're using the same command as for
    # starting a new instance, but you could use different commands for each
    # case.

    metadata = (
      # Data which is not needed specifically to execute the app, but is useful
      # for purposes like marketing and display.
      icons = (
        appGrid = (svg = embed "icon.svg"),
        grain = (svg = embed "icon.svg"),
        market = (svg = embed "icon.svg"),
      ),

      # website and codeUrl are left out: the example has no home page of its own yet.

      license = (openSource = lgpl2),
      # The license this package is distributed under (granary's own, LGPL-2.1-or-later).

      categories = [developerTools],

      author = (
        contactEmail = "granary@example.org",
        upstreamAuthor = "granary developers",
      ),

      shortDescription = (defaultText = "Request inspector"),
      # A very short (one-to-three words) description of what the app does.

      screenshots = [],
    ),
  ),

  sourceMap = (
    # The package holds the static binary: `headers` in this directory (the build tree) becomes
    # `/headers` in the package. Nothing is taken from the host's root: nothing else is needed.
    searchPath = [
      ( packagePath = "headers", sourcePath = "headers" ),
    ]
  ),

  # No fileList: everything the package needs is listed here. The root is not included as a whole
  # ("."), so what spk would otherwise add by itself is named: the manifest, and the bridge and its
  # configuration, which the command below runs. spk adds dev/, tmp/, var/ and proc/cpuinfo itself.
  alwaysInclude = [
    "headers",
    "sandstorm-manifest",
    "sandstorm-http-bridge",
    "sandstorm-http-bridge-config",
  ],

  bridgeConfig = (
    # Two permissions and two roles, so that X-Sandstorm-Permissions has something to show: the owner
    # holds both ("read,write"), an editor both, a viewer "read" only.
    viewInfo = (
      permissions = [
        ( name = "read",
          title = (defaultText = "read"),
          description = (defaultText = "grants ability to see the requests") ),
        ( name = "write",
          title = (defaultText = "write"),
          description = (defaultText = "grants ability to change things") ),
      ],
      roles = [
        ( title = (defaultText = "editor"),
          permissions = [true, true],
          verbPhrase = (defaultText = "can see and change"),
          description = (defaultText = "editors hold both permissions."),
          default = true ),
        ( title = (defaultText = "viewer"),
          permissions = [true, false],
          verbPhrase = (defaultText = "can see"),
          description = (defaultText = "viewers may only read.") ),
      ],
    ),

    # HTTP APIs reach the app under /api/ (it must end with "/": the request path is appended as it
    # is), so a test can tell an API request from a browser's by its path.
    apiPath = "/api/",
  ),
);

const myCommand :Spk.Manifest.Command = (
  # Here we define the command used to start up your server. The bridge listens for the platform and
  # forwards each request to the app on 127.0.0.1:8000.
  argv = ["/sandstorm-http-bridge", "8000", "--", "/headers", "8000"],
  environ = [
    # Note that this defines the *entire* environment seen by your app.
    (key = "PATH", value = "/usr/local/bin:/usr/bin:/bin"),
    (key = "SANDSTORM", value = "1"),
  ]
);
