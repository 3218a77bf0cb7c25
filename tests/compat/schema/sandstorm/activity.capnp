# Reconstruction of Sandstorm's activity.capnp for granary's compatibility tests (see util.capnp).
@0xa4e001d4cbcf33fa;

using Util = import "util.capnp";

struct ActivityTypeDef {
  name @0 :Text;
  verbPhrase @1 :Util.LocalizedText;
  description @2 :Util.LocalizedText;

  requiredPermission :union {
    everyone @3 :Void;
    permissionIndex @4 :UInt16;
    explicitList @5 :Void;
  }

  obsolete @6 :Bool = false;
  notifySubscribers @7 :Bool;
  autoSubscribeToThread @8 :Bool;
  autoSubscribeToGrain @9 :Bool;
  suppressUnread @10 :Bool;
}
