@0xe1e2e3e4e5e6e7e8;
using Spk = import "/sandstorm/package.capnp";
const pkgdef :Spk.PackageDefinition = (manifest = (continueCommand=.cmd));
const cmd :Spk.Manifest.Command = ();
