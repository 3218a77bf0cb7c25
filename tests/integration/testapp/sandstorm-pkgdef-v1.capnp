@0xc6d3a1f1e2b3c4d1;

# The integration tests' app, version 1 (testapp.c). The build packs it with testapp.keyring, a key made
# for these tests only (tests/integration/testapp/meson.build).

using Spk = import "/sandstorm/package.capnp";

const pkgdef :Spk.PackageDefinition = (
  id = "07nwwgkeg6t63hqefg48ggq1hmvg5un8n6kgw4dusa7mwm0uyxn0",
  manifest = (
    appTitle = (defaultText = "Test App"),
    appVersion = 1,
    appMarketingVersion = (defaultText = "1.0.0"),
    actions = [
      ( nounPhrase = (defaultText = "test"), command = .myCommand ),
      ( nounPhrase = (defaultText = "second"), command = .myCommand ),
    ],
    continueCommand = .myCommand,
  ),
  sourceMap = (
    searchPath = [ ( packagePath = "testapp", sourcePath = "testapp-v1" ) ]
  ),
  alwaysInclude = [
    "testapp",
    "sandstorm-manifest",
    "sandstorm-http-bridge",
    "sandstorm-http-bridge-config",
  ],
  bridgeConfig = (
    viewInfo = (
      permissions = [
        ( name = "read", title = (defaultText = "read") ),
        ( name = "write", title = (defaultText = "write") ),
      ],
      roles = [
        ( title = (defaultText = "editor"), permissions = [true, true], default = true ),
        ( title = (defaultText = "viewer"), permissions = [true, false] ),
      ],
    ),
  ),
);

const myCommand :Spk.Manifest.Command = (
  argv = ["/sandstorm-http-bridge", "8000", "--", "/testapp", "8000"],
  environ = [
    (key = "PATH", value = "/usr/local/bin:/usr/bin:/bin"),
    (key = "SANDSTORM", value = "1"),
    (key = "HOME", value = "/var"),
  ]
);
