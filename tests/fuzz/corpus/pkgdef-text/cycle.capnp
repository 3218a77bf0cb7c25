@0xd5a1f1e2b3c4d5e6;
const pkgdef :Text = .a;
const a :Text = .pkgdef;
