@0x8f7e6d5c4b3a2918;

# Literals: integers in decimal, hex and octal up to the limits of their types, UInt64 beyond
# 2^53, Bool, Void, enums, every string escape, adjacent strings, Data from a string, from hex and
# from escapes, empty text and data, unicode.
# eval: pkgdef command

using Spk = import "/sandstorm/package.capnp";
using Powerbox = import "/sandstorm/powerbox.capnp";

const pkgdef :Spk.PackageDefinition = (
  id = "",
  manifest = (
    minApiVersion = 0,
    maxApiVersion = 0x0,
    appVersion = 4294967295,
    minUpgradableAppVersion = 017,
    appTitle = (defaultText = "Escapes: \a\b\f\n\r\t\v \\ \" \' \? \x41\x7e\x7F \101\60\0z \x00 done"),
    appMarketingVersion = (defaultText = "adjacent " "strings " "concatenate"),
    continueCommand = .command,
    metadata = (
      pgpKeyring = 0x"00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 7f 80 fe ff",
      author = (pgpSignature = "text as data\n\x00\xff\xfe", contactEmail = ""),
      website = "ünïcödé ✓ 𝄞",
      screenshots = [(width = 0xffffffff, height = 0), (width = 00, height = 01234567)],
      description = (defaultText = "", localizations = []),
    ),
  ),
  alwaysInclude = ["", "a", "\t"],
  bridgeConfig = (
    saveIdentityCaps = false,
    expectAppHooks = true,
    viewInfo = (
      deniedPermissions = [true, false, true, true, false, false, false, false, false, true, true],
      eventTypes = [(requiredPermission = (permissionIndex = 65535)), (requiredPermission = (permissionIndex = 0x0))],
      matchRequests = .tags,
    ),
  ),
);

const tags :List(Powerbox.PowerboxDescriptor) = [
  (tags = [(id = 18446744073709551615), (id = 9007199254740993), (id = 0), (id = 0xFFFFFFFFFFFFFFFF)]),
  (tags = [], quality = unacceptable),
];

const command :Spk.Manifest.Command = (
  argv = [],
  environ = [(key = "", value = "")],
  deprecatedExecutablePath = "",
);
