@0xb7a6c5d4e3f20110;

# A file another pkgdef imports with a relative path: its constants, and the files it embeds,
# are found relative to this directory.

using Spk = import "/sandstorm/package.capnp";
using Local = import "local.capnp";

const command :Spk.Manifest.Command = (
  argv = ["/sandstorm-http-bridge", "8080", "--", "/usr/bin/python3", "app.py"],
  environ = .environment,
);

const environment :List(import "/sandstorm/util.capnp".KeyValue) = [
  (key = "PATH", value = "/usr/local/bin:/usr/bin:/bin"),
  (key = "SANDSTORM", value = "1"),
  (key = "GREETING", value = Local.greeting),
];

const metadata :Spk.Metadata = (
  description = (defaultText = embed "notes.md"),
  categories = [media, games],
  license = (openSource = mpl2),
  author = (contactEmail = "shared@example.org"),
);
