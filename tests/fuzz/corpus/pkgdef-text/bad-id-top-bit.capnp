@0x1234567890abcdef;
const pkgdef :Text = "top bit clear";
