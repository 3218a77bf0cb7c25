# Schemas and values for tests/capnp/test-capnp-wire.c. The .bin files beside this one were made with
#   capnp eval -obinary wire-test.capnp <const> > <const>.bin
# (Debian's capnp 0.9.2); see tests/capnp/data/regenerate-wire.sh.
@0xd3b1c0a5e4f2a901;

enum Color {
  red @0;
  green @1;
  blue @2;
}

struct Inner {
  id @0 :UInt32;
  name @1 :Text;
}

struct All {
  u8 @0 :UInt8;
  i16 @1 :Int16;
  u32 @2 :UInt32;
  i64 @3 :Int64;
  flag @4 :Bool;
  f32 @5 :Float32;
  f64 @6 :Float64;
  text @7 :Text;
  data @8 :Data;
  inner @9 :Inner;
  bools @10 :List(Bool);
  bytes @11 :List(UInt8);
  shorts @12 :List(UInt16);
  ints @13 :List(Int32);
  longs @14 :List(UInt64);
  texts @15 :List(Text);
  datas @16 :List(Data);
  nested @17 :List(List(UInt16));
  structs @18 :List(Inner);
  voids @19 :List(Void);
  color @20 :Color;
  choice :union {
    none @21 :Void;
    number @22 :UInt32;
    word @23 :Text;
  }
  emptyText @24 :Text;
  deep @25 :List(List(Inner));
}

# Sandstorm's Signature (spec §1.2).
struct Signature {
  publicKey @0 :Data;
  signature @1 :Data;
}

# The layout of Sandstorm's Archive (spec §1.5).
struct Archive {
  files @0 :List(File);
  struct File {
    name @0 :Text;
    lastModificationTimeNs @5 :Int64;
    union {
      regular @1 :Data;
      executable @2 :Data;
      symlink @3 :Text;
      directory @4 :List(File);
    }
  }
}

const full :All = (
  u8 = 200, i16 = -2, u32 = 0xdeadbeef, i64 = -1234567890123, flag = true, f32 = 1.5, f64 = -0.25,
  text = "hello, world", data = 0x"00 01 fe ff", inner = (id = 7, name = "inner"),
  bools = [true, false, true, true, false, false, false, false, true, false, true],
  bytes = [1, 2, 3, 255], shorts = [1, 65535, 4660], ints = [-1, 0, 2147483647],
  longs = [0, 18446744073709551615, 81985529216486895],
  texts = ["a", "", "three"], datas = ["", 0x"aa bb"],
  nested = [[1, 2], [], [3]],
  structs = [(id = 1, name = "one"), (id = 2), (id = 3, name = "three")],
  voids = [void, void, void, void, void],
  color = blue, choice = (word = "chosen"), emptyText = "",
  deep = [[(id = 10)], [], [(id = 20, name = "x"), (id = 21)]]);

const numberChoice :All = (choice = (number = 42));

const empty :All = ();

const archive :Archive = (files = [
  (name = "bin", lastModificationTimeNs = 1700000000000000000, directory = [
    (name = "run", executable = 0x"23 21 2f 62 69 6e 2f 73 68 0a"),
    (name = "link", symlink = "run")]),
  (name = "dev", directory = []),
  (name = "empty", regular = ""),
  (name = "readme", lastModificationTimeNs = -5, regular = 0x"72 65 61 64 20 6d 65 0a")]);

const signature :Signature = (publicKey = 0x"1111111111111111111111111111111111111111111111111111111111111111", signature = 0x"2222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222");
