@0xe1e2e3e4e5e6e7e9;
using Spk = import "/sandstorm/package.capnp";
const pkgdef :Spk.PackageDefinition = (
  id = "first",
  id = "second",
);
