@0xd5a1f1e2b3c4d5e6;
const pkgdef :List(List(Float32)) = [[1.5, -inf, nan, 0x10, -7], [], [1e300]];
