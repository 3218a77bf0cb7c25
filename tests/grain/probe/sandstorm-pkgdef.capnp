@0xc4a3b0d54e9f7a21;

# Package definition of the sandbox probe (tests/grain/probe.c) as a grain: the bridge listens for the
# platform and forwards to the probe's HTTP server on 127.0.0.1:8000, whose GET / runs every check of the
# sandbox and answers with one line per check.
#
# The build packs it (tests/grain/meson.build) in build/tests/grain/, where the static binary `probe` is,
# with granary-grain as the bridge and probe.keyring beside this file, a key made for this test only.

using Spk = import "/sandstorm/package.capnp";

const pkgdef :Spk.PackageDefinition = (
  id = "jn7z6ycxh2spydc9fnq8ahrmf2503gq9jtgxvqg6m76pjwd4gz1h",

  manifest = (
    appTitle = (defaultText = "Sandbox probe"),
    appVersion = 1,
    appMarketingVersion = (defaultText = "1.0.0"),

    actions = [
      ( nounPhrase = (defaultText = "probe"),
        command = .probeCommand
      )
    ],

    continueCommand = .probeCommand,
  ),

  sourceMap = (
    searchPath = [
      ( packagePath = "probe", sourcePath = "probe" ),
    ]
  ),

  alwaysInclude = [
    "probe",
    "sandstorm-manifest",
    "sandstorm-http-bridge",
    "sandstorm-http-bridge-config",
  ],
);

const probeCommand :Spk.Manifest.Command = (
  argv = ["/sandstorm-http-bridge", "8000", "--", "/probe", "serve", "8000"],
  environ = [
    (key = "PATH", value = "/usr/bin:/bin"),
    (key = "SANDSTORM", value = "1"),
  ]
);
