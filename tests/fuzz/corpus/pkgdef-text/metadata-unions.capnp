@0xd5a1f1e2b3c4d5e6;
using Spk = import "/sandstorm/package.capnp";
const pkgdef :Spk.Metadata = (icons = (appGrid = (png = (dpi1x = 0x"89 50 4e 47", dpi2x = "\x89PNG")), grain = (svg = "<svg/>")), license = (openSource = gpl3), categories = [games, other], screenshots = [(width = 1, height = 2, jpeg = ""), ()]);
