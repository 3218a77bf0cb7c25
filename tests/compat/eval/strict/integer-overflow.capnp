@0xe1e2e3e4e5e6e7e9;
using Spk = import "/sandstorm/package.capnp";
using Powerbox = import "/sandstorm/powerbox.capnp";
const pkgdef :Spk.PackageDefinition = (bridgeConfig = (viewInfo = (matchOffers = [(tags = [(id = 18446744073709551616)])])));
