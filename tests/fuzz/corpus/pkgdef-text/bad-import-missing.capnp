@0xe1e2e3e4e5e6e7e8;
using Spk = import "/sandstorm/package.capnp";
using Other = import "no-such-file.capnp";
const pkgdef :Spk.PackageDefinition = (manifest = (continueCommand = Other.cmd));
