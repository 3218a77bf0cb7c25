# Reconstruction of Sandstorm's util.capnp for granary's compatibility tests: the declarations a
# pkgdef can reach, with Sandstorm's ordinals, types, declaration order and layouts (spec §3.3).
@0xecd50d792c3d9992;

using DateInNs = Int64;
using DurationInNs = UInt64;

struct KeyValue {
  key @0 :Text;
  value @1 :Text;
}

struct LocalizedText {
  defaultText @0 :Text;
  localizations @1 :List(Localization);

  struct Localization {
    locale @0 :Text;  # BCP 47
    text @1 :Text;
  }
}

interface StaticAsset @0xfabb5e621fa9a23f {
  enum Protocol {
    https @0;
    http @1;
  }
}
