const pkgdef :Text = "no file id";
