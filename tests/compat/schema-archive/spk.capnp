# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Sandstorm package formats, written down from sandstorm-spec.md (§1.2, §1.5, §2, §3.3) for the
# compatibility tests. The tests encode and decode messages with Debian's `capnp` tool and this
# schema, so they do not depend on granary's own Cap'n Proto code.
#
# Only the layout matters on the wire. Every struct here must keep exactly the data and pointer
# sections the spec gives; `capnp compile -ocapnp spk.capnp` prints them (see
# tests/compat/tools/check-schema-layout.sh). Types the tests never look inside are still spelled out
# where they decide a field's slot.

@0x9da8c318e21b13ad;

# §1.5: (0 words, 1 ptr).
struct Archive {
  files @0 :List(File);

  # (2 words, 2 ptrs): name p0, union tag d[0,16), body p1, mtime d[64,128).
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

# §1.2: (0 words, 2 ptrs). signature is libsodium's combined form: sig(64) ‖ SHA-512(archive)(64).
struct Signature {
  publicKey @0 :Data;
  signature @1 :Data;
}

# §2: one message per key in a keyring. privateKey is seed(32) ‖ publicKey(32).
struct KeyFile {
  publicKey @0 :Data;
  privateKey @1 :Data;
}

# §3.3: the root of the `sandstorm-manifest` file. (2 words, 5 ptrs)
struct Manifest {
  minApiVersion @0 :UInt32;
  maxApiVersion @1 :UInt32;
  actions @2 :List(Action);
  continueCommand @3 :Command;
  appVersion @4 :UInt32;
  minUpgradableAppVersion @5 :UInt32;
  appMarketingVersion @6 :LocalizedText;
  appTitle @7 :LocalizedText;
  metadata @8 :Metadata;

  # (0 words, 3 ptrs)
  struct Command {
    deprecatedExecutablePath @0 :Text;
    argv @1 :List(Text);
    environ @2 :List(KeyValue);
  }

  # (1 word, 5 ptrs)
  struct Action {
    input :union {
      none @0 :Void;
      capability @1 :List(PowerboxDescriptor);
    }
    command @2 :Command;
    title @3 :LocalizedText;
    description @4 :LocalizedText;
    nounPhrase @5 :LocalizedText;
  }
}

# §3.3: (1 word, 17 ptrs)
struct Metadata {
  icons :group {
    appGrid @0 :Icon;
    grain @1 :Icon;
    market @2 :Icon;
    marketBig @18 :Icon;
  }
  website @3 :Text;
  codeUrl @4 :Text;
  license :group {
    union {
      none @5 :Void;
      openSource @6 :OpenSourceLicense;
      proprietary @7 :LocalizedText;
      publicDomain @8 :LocalizedText;
    }
    notices @9 :LocalizedText;
  }
  categories @10 :List(Category);
  author :group {
    contactEmail @11 :Text;
    pgpSignature @12 :Data;
    upstreamAuthor @19 :Text;
  }
  pgpKeyring @13 :Data;
  description @14 :LocalizedText;
  shortDescription @15 :LocalizedText;
  screenshots @16 :List(Screenshot);
  changeLog @17 :LocalizedText;

  # (1 word, 2 ptrs)
  struct Icon {
    union {
      unknown @0 :Void;
      svg @1 :Text;
      png :group {
        dpi1x @2 :Data;
        dpi2x @3 :Data;
      }
    }
  }

  # (2 words, 1 ptr)
  struct Screenshot {
    width @0 :UInt32;
    height @1 :UInt32;
    union {
      unknown @2 :Void;
      png @3 :Data;
      jpeg @4 :Data;
    }
  }
}

enum OpenSourceLicense {
  invalid @0;
  mit @1;
  apache2 @2;
  gpl3 @3;
  agpl3 @4;
  bsd3Clause @5;
  bsd2Clause @6;
  gpl2 @7;
  lgpl2 @8;
  lgpl3 @9;
  isc @10;
  artistic2 @11;
  python2 @12;
  php3 @13;
  mpl2 @14;
  cddl @15;
  epl @16;
  cpal @17;
  zlib @18;
}

enum Category {
  other @0;
  productivity @1;
  communications @2;
  social @3;
  webPublishing @4;
  office @5;
  developerTools @6;
  science @7;
  media @8;
  games @9;
  graphics @10;
}

# util.capnp (0 words, 2 ptrs each)
struct KeyValue {
  key @0 :Text;
  value @1 :Text;
}

struct LocalizedText {
  defaultText @0 :Text;
  localizations @1 :List(Localization);

  struct Localization {
    locale @0 :Text;
    text @1 :Text;
  }
}

# powerbox.capnp (1 word, 1 ptr)
struct PowerboxDescriptor {
  tags @0 :List(Tag);
  quality @1 :MatchQuality;

  struct Tag {
    id @0 :UInt64;
    value @1 :AnyPointer;
  }

  enum MatchQuality {
    acceptable @0;
    preferred @1;
    unacceptable @2;
  }
}
