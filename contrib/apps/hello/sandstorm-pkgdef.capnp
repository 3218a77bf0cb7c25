@0xd1e054b7b90eae39;

# Package definition for the example app `hello`, in the shape `spk init -p 8000 -- /hello 8000`
# writes, filled in.
#
# The build packs it (contrib/apps/hello/meson.build): meson puts the static binary `hello` next to
# copies of this file and icon.svg in build/contrib/apps/hello/ and runs there, with granary-grain as
# the bridge to include:
#
#   cd build/contrib/apps/hello && SPK_BRIDGE_PATH=../../../src/grain/granary-grain \
#           spk pack -k ../../../../contrib/apps/hello/example.keyring hello.spk
#
# example.keyring holds the key of the app ID below. It is a published example key (its seed is
# SHA-256 of "granary example app: hello"), good for demos and tests only: never sign a real
# app with it.

using Spk = import "/sandstorm/package.capnp";
# This imports:
#   $SANDSTORM_HOME/latest/usr/include/sandstorm/package.capnp
# Check out that file to see the full, documented package definition format.

const pkgdef :Spk.PackageDefinition = (
  # The package definition. Note that the spk tool looks specifically for the
  # "pkgdef" constant.

  id = "rvujewnttafdtynzyzqkyay7v5jpja13mun170d36ugda02ef080",
  # Your app ID is actually its public key. The private key was placed in
  # your keyring. All updates must be signed with the same key.

  manifest = (
    # This manifest is included in your app package to tell Sandstorm
    # about your app.

    appTitle = (defaultText = "Hello"),

    appVersion = 1,  # Increment this for every release.

    appMarketingVersion = (defaultText = "1.0.0"),
    # Human-readable representation of appVersion. Should match the way you
    # identify versions of your app in documentation and marketing.

    actions = [
      # Define your "new document" handlers here.
      ( nounPhrase = (defaultText = "greeting"),
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
        #marketBig = (svg = embed "path/to/market-big-300x300.svg"),
      ),

      # website and codeUrl are left out: the example has no home page of its own yet.
      #website = "http://example.com",
      #codeUrl = "http://example.com",

      license = (openSource = lgpl2),
      # The license this package is distributed under (granary's own, LGPL-2.1-or-later).

      categories = [developerTools],

      author = (
        contactEmail = "granary@example.org",
        upstreamAuthor = "granary developers",
      ),

      #description = (defaultText = embed "path/to/description.md"),

      shortDescription = (defaultText = "Hello, world"),
      # A very short (one-to-three words) description of what the app does.

      screenshots = [],
    ),
  ),

  sourceMap = (
    # The package holds only the static binary: `hello` in this directory (the build tree) becomes
    # `/hello` in the package. Nothing is taken from the host's root, because nothing else is
    # needed.
    searchPath = [
      ( packagePath = "hello", sourcePath = "hello" ),
    ]
  ),

  # No fileList: everything the package needs is listed here. The root is not included as a whole
  # ("."), so what spk would otherwise add by itself is named: the manifest, and the bridge and its
  # configuration, which the command below runs. spk adds dev/, tmp/, var/ and proc/cpuinfo itself.
  alwaysInclude = [
    "hello",
    "sandstorm-manifest",
    "sandstorm-http-bridge",
    "sandstorm-http-bridge-config",
  ],

  # No bridgeConfig: hello needs no permissions or roles.
);

const myCommand :Spk.Manifest.Command = (
  # Here we define the command used to start up your server. The bridge listens for the platform and
  # forwards each request to the app on 127.0.0.1:8000.
  argv = ["/sandstorm-http-bridge", "8000", "--", "/hello", "8000"],
  environ = [
    # Note that this defines the *entire* environment seen by your app.
    (key = "PATH", value = "/usr/local/bin:/usr/bin:/bin"),
    (key = "SANDSTORM", value = "1"),
  ]
);
