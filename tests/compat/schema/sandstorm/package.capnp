# Reconstruction of Sandstorm's package.capnp for granary's compatibility tests: every declaration
# a pkgdef or an .spk uses, with Sandstorm's ordinals, types, unions, groups, enums, declaration order
# and therefore layouts (spec §3.3, §1.2, §1.5, §1.8, §2).
@0xdf9bc20172856a3a;

using Util = import "util.capnp";
using Powerbox = import "powerbox.capnp";
using Grain = import "grain.capnp";
using ApiSession = import "api-session.capnp".ApiSession;
using Identity = import "identity.capnp";

struct PackageDefinition {
  id @0 :Text;
  manifest @1 :Manifest;
  sourceMap @2 :SourceMap;
  fileList @3 :Text;
  alwaysInclude @4 :List(Text);
  bridgeConfig @5 :BridgeConfig;
}

struct Manifest {
  const sizeLimitInWords :UInt64 = 1048576;

  appTitle @7 :Util.LocalizedText;
  appVersion @4 :UInt32;
  minUpgradableAppVersion @5 :UInt32;
  appMarketingVersion @6 :Util.LocalizedText;
  minApiVersion @0 :UInt32;
  maxApiVersion @1 :UInt32;
  metadata @8 :Metadata;

  struct Command {
    argv @1 :List(Text);
    environ @2 :List(Util.KeyValue);
    deprecatedExecutablePath @0 :Text;
  }

  struct Action {
    input :union {
      none @0 :Void;
      capability @1 :List(Powerbox.PowerboxDescriptor);
    }
    command @2 :Command;
    title @3 :Util.LocalizedText;  # obsolete
    nounPhrase @5 :Util.LocalizedText;
    description @4 :Util.LocalizedText;
  }

  actions @2 :List(Action);
  continueCommand @3 :Command;
}

struct SourceMap {
  searchPath @0 :List(Mapping);

  struct Mapping {
    packagePath @0 :Text;
    sourcePath @1 :Text;
    hidePaths @2 :List(Text);
  }
}

struct BridgeConfig {
  viewInfo @0 :Grain.UiView.ViewInfo;
  apiPath @1 :Text;
  saveIdentityCaps @2 :Bool;
  expectAppHooks @4 :Bool;
  powerboxApis @3 :List(PowerboxApi);

  struct PowerboxApi {
    name @0 :Text;
    displayInfo @1 :Powerbox.PowerboxDisplayInfo;
    path @2 :Text;
    tag @3 :ApiSession.PowerboxTag;
    permissions @4 :Identity.PermissionSet;
  }
}

struct Metadata {
  icons :group {
    appGrid @0 :Icon;     # 128x128
    grain @1 :Icon;       # 24x24
    market @2 :Icon;      # 150x150
    marketBig @18 :Icon;  # 300x300
  }

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

  website @3 :Text;
  codeUrl @4 :Text;

  license :group {
    union {
      none @5 :Void;
      openSource @6 :OpenSourceLicense;
      proprietary @7 :Util.LocalizedText;
      publicDomain @8 :Util.LocalizedText;
    }
    notices @9 :Util.LocalizedText;
  }

  categories @10 :List(Category);

  author :group {
    upstreamAuthor @19 :Text;
    contactEmail @11 :Text;
    pgpSignature @12 :Data;
  }

  pgpKeyring @13 :Data;
  description @14 :Util.LocalizedText;
  shortDescription @15 :Util.LocalizedText;
  screenshots @16 :List(Screenshot);

  struct Screenshot {
    width @0 :UInt32;
    height @1 :UInt32;
    union {
      unknown @2 :Void;
      png @3 :Data;
      jpeg @4 :Data;
    }
  }

  changeLog @17 :Util.LocalizedText;
}

struct OsiLicenseInfo {
  id @0 :Text;
  title @1 :Text;
  requireSource @2 :Bool = false;
}

annotation osiInfo @0x9476412d0315d869 (enumerant) :OsiLicenseInfo;

enum OpenSourceLicense {
  invalid @0;
  mit @1 $osiInfo(id = "MIT", title = "MIT License");
  apache2 @2 $osiInfo(id = "Apache-2.0", title = "Apache License v2");
  gpl3 @3 $osiInfo(id = "GPL-3.0", title = "GNU GPL v3", requireSource = true);
  agpl3 @4 $osiInfo(id = "AGPL-3.0", title = "GNU AGPL v3", requireSource = true);
  bsd3Clause @5 $osiInfo(id = "BSD-3-Clause", title = "BSD 3-Clause");
  bsd2Clause @6 $osiInfo(id = "BSD-2-Clause", title = "BSD 2-Clause");
  gpl2 @7 $osiInfo(id = "GPL-2.0", title = "GNU GPL v2", requireSource = true);
  lgpl2 @8 $osiInfo(id = "LGPL-2.1", title = "GNU LGPL v2.1", requireSource = true);
  lgpl3 @9 $osiInfo(id = "LGPL-3.0", title = "GNU LGPL v3", requireSource = true);
  isc @10 $osiInfo(id = "ISC", title = "ISC License");
  artistic2 @11 $osiInfo(id = "Artistic-2.0", title = "Artistic License v2");
  python2 @12 $osiInfo(id = "Python-2.0", title = "Python License v2");
  php3 @13 $osiInfo(id = "PHP-3.0", title = "PHP License v3");
  mpl2 @14 $osiInfo(id = "MPL-2.0", title = "Mozilla Public License v2", requireSource = true);
  cddl @15 $osiInfo(id = "CDDL-1.0", title = "CDDL", requireSource = true);
  epl @16 $osiInfo(id = "EPL-1.0", title = "Eclipse Public License", requireSource = true);
  cpal @17 $osiInfo(id = "CPAL-1.0", title = "Common Public Attribution License", requireSource = true);
  zlib @18 $osiInfo(id = "Zlib", title = "Zlib/libpng License");
}

struct AppId {
  id0 @0 :UInt64;
  id1 @1 :UInt64;
  id2 @2 :UInt64;
  id3 @3 :UInt64;
}

struct PackageId {
  id0 @0 :UInt64;
  id1 @1 :UInt64;
}

struct VerifiedInfo {
  appId @0 :AppId;
  packageId @1 :PackageId;
  title @2 :Util.LocalizedText;
  version @3 :UInt32;
  marketingVersion @4 :Util.LocalizedText;
  authorPgpKeyFingerprint @5 :Text;
  metadata @6 :Metadata;
}

struct CategoryInfo {
  title @0 :Text;
}

annotation categoryInfo @0x8d51dd236606d205 (enumerant) :CategoryInfo;

enum Category {
  productivity @1 $categoryInfo(title = "Productivity");
  communications @2 $categoryInfo(title = "Communications");
  social @3 $categoryInfo(title = "Social");
  webPublishing @4 $categoryInfo(title = "Web Publishing");
  office @5 $categoryInfo(title = "Office");
  developerTools @6 $categoryInfo(title = "DevTools");
  science @7 $categoryInfo(title = "Science");
  graphics @10 $categoryInfo(title = "Graphics");
  media @8 $categoryInfo(title = "Media");
  games @9 $categoryInfo(title = "Games");
  other @0 $categoryInfo(title = "Other");
}

struct KeyFile {
  publicKey @0 :Data;   # 32 bytes
  privateKey @1 :Data;  # 64 bytes: seed and public key
}

const magicNumber :Data = "\x8f\xc6\xcd\xef\x45\x1a\xea\x96";

struct Signature {
  publicKey @0 :Data;
  signature @1 :Data;
}

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
