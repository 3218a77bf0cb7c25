# Reconstruction of Sandstorm's grain.capnp for granary's compatibility tests (see util.capnp).
@0xc8d91463cfc4fb4a;

using Util = import "util.capnp";
using Powerbox = import "powerbox.capnp";
using Activity = import "activity.capnp";
using Identity = import "identity.capnp";

interface UiView @0xdbb4d798ea67e2e7 {
  struct ViewInfo {
    permissions @0 :List(PermissionDef);
    roles @1 :List(RoleDef);
    deniedPermissions @2 :Identity.PermissionSet;
    matchRequests @3 :List(Powerbox.PowerboxDescriptor);
    matchOffers @4 :List(Powerbox.PowerboxDescriptor);
    appTitle @5 :Util.LocalizedText;
    grainIcon @6 :Util.StaticAsset;
    eventTypes @7 :List(Activity.ActivityTypeDef);
  }

  struct PowerboxTag {
    title @0 :Text;
  }
}

struct PermissionDef {
  name @3 :Text;
  title @0 :Util.LocalizedText;
  description @1 :Util.LocalizedText;
  obsolete @2 :Bool = false;
}

struct RoleDef {
  title @0 :Util.LocalizedText;
  verbPhrase @1 :Util.LocalizedText;
  description @2 :Util.LocalizedText;
  permissions @3 :Identity.PermissionSet;
  obsolete @4 :Bool = false;
  default @5 :Bool = false;
}

struct GrainInfo {
  appId @0 :Text;
  appVersion @1 :UInt32;
  title @2 :Text;
  ownerIdentityId @3 :Text;
  users @4 :List(User);

  struct User {
    identityId @0 :Text;
    credentialIds @1 :List(Text);
    profile @2 :Identity.Profile;
  }

  originalGrainId @5 :Text;
}
