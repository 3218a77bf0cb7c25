# Reconstruction of Sandstorm's identity.capnp for granary's compatibility tests (see util.capnp).
@0xc822108a5c3d7d25;

using Util = import "util.capnp";

using PermissionSet = List(Bool);

interface Identity @0xc084987aa951dd18 {
  struct PowerboxTag {
    permissions @0 :PermissionSet;
  }
}

struct Profile @0xd3d0c34d7201fcef {
  displayName @0 :Util.LocalizedText;
  preferredHandle @1 :Text;
  picture @2 :Util.StaticAsset;

  enum Pronouns {
    neutral @0;
    male @1;
    female @2;
    robot @3;
  }
  pronouns @3 :Pronouns;
}
