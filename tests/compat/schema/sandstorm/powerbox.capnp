# Reconstruction of Sandstorm's powerbox.capnp for granary's compatibility tests (see util.capnp).
@0xf6c200ab14cd53e4;

using Util = import "util.capnp";

struct PowerboxDescriptor {
  tags @0 :List(Tag);

  struct Tag {
    id @0 :UInt64;      # usually an interface's type id
    value @1 :AnyPointer;
  }

  quality @1 :MatchQuality = acceptable;

  enum MatchQuality {
    preferred @1;
    acceptable @0;
    unacceptable @2;
  }
}

struct PowerboxDisplayInfo {
  title @0 :Util.LocalizedText;
  verbPhrase @1 :Util.LocalizedText;
  description @2 :Util.LocalizedText;
}
