@0xc0ffee0ddba11001;

# Powerbox tags whose AnyPointer values come from typed constants: structs of three schema files
# and a list. Cap'n Proto's JSON cannot print AnyPointer, so only the binary encodings are compared.
# binary: pkgdef

using Spk = import "/sandstorm/package.capnp";
using Grain = import "/sandstorm/grain.capnp";
using ApiSession = import "/sandstorm/api-session.capnp".ApiSession;
using Identity = import "/sandstorm/identity.capnp";

const pkgdef :Spk.PackageDefinition = (
  id = "aax9j672p6z8n7nyupzvj2nmumeqd4upa0f7mgu8gprwmy53x04h",
  manifest = (
    appTitle = (defaultText = "Powerbox"),
    actions = [(input = (capability = [(tags = [(id = 0xc879e379c625cdc7, value = .apiTag)])]),
                command = (argv = ["/run"]))],
  ),
  bridgeConfig = (
    viewInfo = (
      matchOffers = [
        (tags = [(id = 0xdbb4d798ea67e2e7, value = .uiTag), (id = 0xc084987aa951dd18, value = .identityTag)]),
        (tags = [(id = 1, value = .words), (id = 2)]),
      ],
    ),
  ),
);

const apiTag :ApiSession.PowerboxTag = (canonicalUrl = "https://api.example.org/", oauthScopes = [(name = "all")]);
const uiTag :Grain.UiView.PowerboxTag = (title = "A board");
const identityTag :Identity.Identity.PowerboxTag = (permissions = [true, false]);
const words :List(Text) = ["any", "list"];
