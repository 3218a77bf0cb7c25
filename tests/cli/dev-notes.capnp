@0xee063d6053795a8e;
# The notes example app as a source tree for `spk dev`: the tests copy this into a directory holding
# src/notes (the built binary) and src/share/untouched.txt (a file the app never reads). Used by
# tests/cli/test-spk-dev-granary.sh and, in the system test's container, tests/system/scenario-grains.sh.
using Spk = import "/sandstorm/package.capnp";
const pkgdef :Spk.PackageDefinition = (
  id = "dzh2krnstxg6w947fmr667nvgj6umua9rvcz95e7a9k8vp41xt90",
  manifest = (
    appTitle = (defaultText = "Notes"),
    appVersion = 2,
    appMarketingVersion = (defaultText = "2.0.0"),
    actions = [ ( nounPhrase = (defaultText = "notebook"), command = .cmd ) ],
    continueCommand = .cmd,
  ),
  sourceMap = ( searchPath = [ ( sourcePath = "src" ) ] ),
  fileList = "sandstorm-files.list",
);
const cmd :Spk.Manifest.Command = (
  argv = ["/sandstorm-http-bridge", "8000", "--", "/notes", "8000"],
  environ = [ (key = "PATH", value = "/usr/local/bin:/usr/bin:/bin"), (key = "SANDSTORM", value = "1") ],
);
