@0xa9c8e7d6b5f40312;

# Every Metadata field: icons as SVG and as a PNG group, embedded text and binary files, a license
# from the enum, categories, author, screenshots of each union member, localized text.
# eval: pkgdef shotPng shotUnknown proprietary publicDomain

using Spk = import "/sandstorm/package.capnp";

const pkgdef :Spk.PackageDefinition = (
  id = "nfqhx83vvzm80edpgkpax8mhqp176qj2vwg67rgq5e3kjc5r4cyh",
  manifest = (
    appTitle = (
      defaultText = "Metadata Example",
      localizations = [
        (locale = "de", text = "Metadaten-Beispiel"),
        (locale = "ja", text = "メタデータの例"),
        (locale = "fr-CA", text = "Exemple de métadonnées"),
      ],
    ),
    appVersion = 12,
    minUpgradableAppVersion = 3,
    appMarketingVersion = (defaultText = "1.2.3-beta+build.7"),
    continueCommand = (argv = ["/bin/server"]),
    metadata = (
      icons = (
        appGrid = (svg = embed "assets/appgrid.svg"),
        grain = (svg = embed "assets/grain.svg"),
        market = (png = (dpi1x = embed "assets/icon-1x.png", dpi2x = embed "assets/icon-2x.png")),
        marketBig = (png = (dpi1x = embed "assets/icon-2x.png")),
      ),
      website = "https://example.org/app",
      codeUrl = "https://git.example.org/app.git",
      license = (openSource = agpl3, notices = (defaultText = "Includes code under the MIT license.")),
      categories = [productivity, office, developerTools, other, graphics],
      author = (
        contactEmail = "maintainer@example.org",
        pgpSignature = embed "assets/pgp-signature",
        upstreamAuthor = "The Example Authors",
      ),
      pgpKeyring = 0x"99 01 0d 04 5b 1c 3a 00 01 08 00 c0 ff ee",
      description = (defaultText = embed "assets/description.md"),
      shortDescription = (defaultText = "Metadata demo", localizations = [(locale = "de", text = "Demo")]),
      screenshots = [
        (width = 746, height = 795, jpeg = embed "assets/screenshot.jpeg"),
        (width = 640, height = 480, png = embed "assets/icon-1x.png"),
        (width = 1, height = 4294967295),
      ],
      changeLog = (defaultText = embed "assets/changelog.md"),
    ),
  ),
);

const shotPng :Spk.Metadata.Screenshot = (png = embed "assets/icon-2x.png", width = 4, height = 4);
const shotUnknown :Spk.Metadata.Screenshot = (unknown = void);

const proprietary :Spk.Metadata = (license = (proprietary = (defaultText = "All rights reserved.")));
const publicDomain :Spk.Metadata = (
  license = (publicDomain = (defaultText = "CC0")),
  icons = (appGrid = (unknown = void), grain = ()),
);
