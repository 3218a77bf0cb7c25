@0xc3c8f1a2b4d5e6f7;
# A package definition using most of what pkgdef files use in practice (spec §3.4); loaded by
# tests/spk/test-spk-pkgdef.c.

using Spk = import "/sandstorm/package.capnp";

const pkgdef :Spk.PackageDefinition = (
  id = "vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0",
  manifest = (
    appTitle = (defaultText = "Full App"),
    appVersion = 7,
    appMarketingVersion = (defaultText = "1.2.3"),
    actions = [ ( nounPhrase = (defaultText = "note"), command = .myCommand ) ],
    continueCommand = .myCommand,
    metadata = (
      website = "https://example.org",
      license = (openSource = apache2),
      categories = [productivity, office],
      description = (defaultText = embed "pkgdef-description.md"),
    ),
  ),
  sourceMap = (
    searchPath = [
      ( packagePath = "opt/app", sourcePath = "app" ),
      ( sourcePath = "/", hidePaths = [ "home", "etc/passwd/" ] ),
    ]
  ),
  fileList = "sandstorm-files.list",
  alwaysInclude = [ "opt/app/static/", ".", "sandstorm-manifest" ],
  bridgeConfig = (
    viewInfo = (
      permissions = [ (name = "editor", title = (defaultText = "editor")) ],
    ),
    apiPath = "/api/",
  ),
);

const myCommand :Spk.Manifest.Command = (
  argv = ["/opt/app/bin/server", "--port", "8000"],
  environ = [ (key = "PATH", value = "/usr/bin:/bin") ],
);
