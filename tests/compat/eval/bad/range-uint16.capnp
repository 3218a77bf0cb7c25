@0xe1e2e3e4e5e6e7e8;
using Spk = import "/sandstorm/package.capnp";
using Grain = import "/sandstorm/grain.capnp";
const pkgdef :Spk.PackageDefinition = (bridgeConfig = (viewInfo = (eventTypes = [(requiredPermission = (permissionIndex = 65536))])));
