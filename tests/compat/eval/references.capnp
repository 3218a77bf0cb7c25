@0xd3c2b1a0f9e8d7c6;

# References: file-scope constants with a leading dot, constants of another user file through a
# `using` alias and through an inline import, constants of the built-in schemas, type aliases,
# enum-typed and list-typed constants, and chains of constants.
# eval: pkgdef aliasCommand chain3

using Spk = import "/sandstorm/package.capnp";
using Common = import "common/shared.capnp";
using Command = Spk.Manifest.Command;
using LocalizedText = import "/sandstorm/util.capnp".LocalizedText;

const pkgdef :Spk.PackageDefinition = (
  id = .appId,
  manifest = (
    appTitle = .title,
    appVersion = .version,
    appMarketingVersion = (defaultText = "3.1"),
    actions = [(nounPhrase = .title, command = Common.command)],
    continueCommand = import "common/shared.capnp".command,
    metadata = Common.metadata,
  ),
  sourceMap = (searchPath = .searchPath),
  alwaysInclude = .always,
  bridgeConfig = (
    viewInfo = (
      appTitle = .chain3,
      matchRequests = [(tags = [(id = Spk.Manifest.sizeLimitInWords)])],
    ),
  ),
);

const appId :Text = "a3w50h1435gsxczugm16q0amwkqm9f4crykzea53sv61pt7phk8h";
const title :LocalizedText = (defaultText = "References");
const version :UInt32 = 7;
const always :List(Text) = [".", "sandstorm-manifest"];
const searchPath :List(Spk.SourceMap.Mapping) = [
  (packagePath = "usr/share/app", sourcePath = "build", hidePaths = ["tmp"]),
  (sourcePath = "."),
];

const aliasCommand :Command = (argv = ["/bin/true"], environ = Common.environment);

const chain1 :LocalizedText = (defaultText = "end of the chain");
const chain2 :LocalizedText = .chain1;
const chain3 :LocalizedText = .chain2;
