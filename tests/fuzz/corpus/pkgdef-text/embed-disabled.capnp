@0xd5a1f1e2b3c4d5e6;
using Spk = import "/sandstorm/package.capnp";
const pkgdef :Spk.Manifest = (appTitle = (defaultText = embed "x.md"));
