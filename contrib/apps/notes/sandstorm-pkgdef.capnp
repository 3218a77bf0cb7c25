@0xee063d6053795a8d;

# Package definition for the example app `notes`, in the shape
# `spk init -p 8000 -- /notes 8000` writes, filled in.
#
# The build packs it (contrib/apps/notes/meson.build): meson puts the static binary `notes` next to
# copies of this file and icon.svg in build/contrib/apps/notes/ and runs there, with granary-grain as
# the bridge to include:
#
#   cd build/contrib/apps/notes && SPK_BRIDGE_PATH=../../../src/grain/granary-grain \
#           spk pack -k ../../../../contrib/apps/notes/example.keyring notes.spk
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

  id = "dzh2krnstxg6w947fmr667nvgj6umua9rvcz95e7a9k8vp41xt90",
  # Your app ID is actually its public key. The private key was placed in
  # your keyring. All updates must be signed with the same key.

  manifest = (
    # This manifest is included in your app package to tell Sandstorm
    # about your app.

    appTitle = (defaultText = "Notes"),

    appVersion = 1,  # Increment this for every release.

    appMarketingVersion = (defaultText = "1.0.0"),
    # Human-readable representation of appVersion. Should match the way you
    # identify versions of your app in documentation and marketing.

    actions = [
      # Define your "new document" handlers here.
      ( nounPhrase = (defaultText = "notebook"),
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

      categories = [productivity],

      author = (
        contactEmail = "granary@example.org",
        upstreamAuthor = "granary developers",
      ),

      shortDescription = (defaultText = "Short notes"),
      # A very short (one-to-three words) description of what the app does.

      screenshots = [],
    ),
  ),

  sourceMap = (
    # The package holds the static binary: `notes` in this directory (the build tree) becomes
    # `/notes` in the package. Nothing is taken from the host's root: nothing else is needed.
    searchPath = [
      ( packagePath = "notes", sourcePath = "notes" ),
    ]
  ),

  # No fileList: everything the package needs is listed here. The root is not included as a whole
  # ("."), so what spk would otherwise add by itself is named: the manifest, and the bridge and its
  # configuration, which the command below runs. spk adds dev/, tmp/, var/ and proc/cpuinfo itself.
  alwaysInclude = [
    "notes",
    "sandstorm-manifest",
    "sandstorm-http-bridge",
    "sandstorm-http-bridge-config",
  ],

  # No bridgeConfig: every user of a grain may read and add notes.
);

const myCommand :Spk.Manifest.Command = (
  # Here we define the command used to start up your server. The bridge listens for the platform and
  # forwards each request to the app on 127.0.0.1:8000. Notes go under /var/notes, the grain's storage.
  argv = ["/sandstorm-http-bridge", "8000", "--", "/notes", "8000"],
  environ = [
    # Note that this defines the *entire* environment seen by your app.
    (key = "PATH", value = "/usr/local/bin:/usr/bin:/bin"),
    (key = "SANDSTORM", value = "1"),
  ]
);
