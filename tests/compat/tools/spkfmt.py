#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Independent helpers for the Sandstorm package compatibility tests.

Written from sandstorm-spec.md with nothing but the Python standard library, so that a test built
on it shares no code with granary's C implementation:

  appid HEX32                     app ID text (§1.3) of a 32-byte key given in hex
  selftest-appid                  check the base32 encoder against the spec's vectors
  msgsize FILE [OFFSET]           length in bytes of the unpacked Cap'n Proto message at OFFSET
  split STREAM SIG ARCHIVE        cut a decompressed SPK payload after its first message
  flip FILE OFFSET                invert one byte of a file in place
  multiseg IN OUT [--root-far] [--external BYTES] [--segments N] [--seed N]
                                  rewrite a message into many segments with far pointers
  pointer-stats FILE              count segments, near, far and double-far pointers of a message
  dump DIR                        list a tree: path, kind, mode, mtime (ns), content hash or target
  gen-foreign OPTIONS             write the text form of a test archive and the tree it unpacks to
  check-archive JSON SRCDIR OPTIONS
                                  compare a `capnp convert binary:json` archive with a source tree
  ed25519-der seed|public HEX OUT write a raw Ed25519 key as DER (PKCS#8 or SubjectPublicKeyInfo)
"""

import hashlib
import json
import os
import random
import stat
import struct
import sys

# ------------------------------------------------------------------------------------------------
# App IDs (§1.3)

ALPHABET = "0123456789acdefghjkmnpqrstuvwxyz"


def appid_encode(key):
    """Base32, most significant bit first, last group padded with zero bits on the right."""
    out = []
    acc = 0
    nbits = 0
    for byte in key:
        acc = (acc << 8) | byte
        nbits += 8
        while nbits >= 5:
            nbits -= 5
            out.append(ALPHABET[(acc >> nbits) & 31])
        acc &= (1 << nbits) - 1
    if nbits:
        out.append(ALPHABET[(acc << (5 - nbits)) & 31])
    return "".join(out)


APPID_VECTORS = [
    (bytes(32), "0000000000000000000000000000000000000000000000000000"),
    (bytes(range(32)), "000h40s40n30f209185hs38f1w8124hm2hajd5ss34e1q70x3sgh"),
    (b"\xff" * 32, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzh"),
    (bytes.fromhex("dc76d9357060d28750390ca8163d949a9b2b593194763fe1fff4d64fa423bb5c"),
     "vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0"),
]


def cmd_selftest_appid(args):
    bad = 0
    for key, want in APPID_VECTORS:
        got = appid_encode(key)
        if got != want:
            print(f"appid({key.hex()}) = {got}, want {want}", file=sys.stderr)
            bad += 1
    return 1 if bad else 0


def cmd_appid(args):
    key = bytes.fromhex(args[0])
    if len(key) != 32:
        raise SystemExit("appid: need 32 bytes")
    print(appid_encode(key))
    return 0


# ------------------------------------------------------------------------------------------------
# Ed25519 keys as DER, so that openssl can use raw keys (RFC 8410)

PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def cmd_ed25519_der(args):
    kind, hexkey, out = args
    key = bytes.fromhex(hexkey)
    if len(key) != 32:
        raise SystemExit("ed25519-der: need 32 bytes")
    prefix = PKCS8_PREFIX if kind == "seed" else SPKI_PREFIX
    with open(out, "wb") as f:
        f.write(prefix + key)
    return 0


# ------------------------------------------------------------------------------------------------
# Cap'n Proto stream framing and pointers (§4.2, §4.3)


def message_size(buf, off=0):
    """Bytes taken by the unpacked stream message starting at off."""
    if len(buf) - off < 8:
        raise ValueError("truncated segment table")
    count = struct.unpack_from("<I", buf, off)[0] + 1
    if count > 512:
        raise ValueError(f"{count} segments")
    header = 4 * (1 + count)
    header += header % 8
    if len(buf) - off < header:
        raise ValueError("truncated segment table")
    sizes = struct.unpack_from(f"<{count}I", buf, off + 4)
    total = header + 8 * sum(sizes)
    if len(buf) - off < total:
        raise ValueError("truncated message")
    return total


def parse_message(buf):
    count = struct.unpack_from("<I", buf, 0)[0] + 1
    sizes = struct.unpack_from(f"<{count}I", buf, 4)
    pos = 4 * (1 + count)
    pos += pos % 8
    segs = []
    for n in sizes:
        segs.append(buf[pos:pos + 8 * n])
        pos += 8 * n
    return segs


def frame_message(segs):
    out = bytearray(struct.pack("<I", len(segs) - 1))
    for s in segs:
        assert len(s) % 8 == 0
        out += struct.pack("<I", len(s) // 8)
    if len(out) % 8:
        out += bytes(4)
    for s in segs:
        out += s
    return bytes(out)


def word(seg, i):
    return struct.unpack_from("<Q", seg, 8 * i)[0]


def signed30(v):
    v &= 0x3FFFFFFF
    return v - (1 << 30) if v & (1 << 29) else v


class Obj:
    """A struct or list body: its words as found, and which of them are pointers."""

    def __init__(self, kind, words, ptr_slots, tag):
        self.kind = kind          # "struct" or "list"
        self.words = words        # bytes, a multiple of 8
        self.ptr_slots = ptr_slots  # word indexes inside words that hold pointers
        self.tag = tag            # the pointer word with offset 0, to be filled in when written
        self.children = {}        # slot -> Obj (None for null)


class Reader:
    """Walks a message (any number of segments, far pointers included) into a tree of Obj."""

    def __init__(self, segs):
        self.segs = segs
        self.stats = {"near": 0, "far": 0, "doublefar": 0, "segments": len(segs)}

    def resolve(self, seg, pos):
        """The pointer at segs[seg] word pos, following far pointers: (seg, target word, tag)."""
        p = word(self.segs[seg], pos)
        kind = p & 3
        if kind == 2:
            double = (p >> 2) & 1
            pad = (p >> 3) & 0x1FFFFFFF
            tseg = p >> 32
            if not double:
                self.stats["far"] += 1
                lp = word(self.segs[tseg], pad)
                if lp & 3 == 2:
                    raise ValueError("far pointer to far pointer")
                return tseg, pad + 1 + signed30(lp >> 2), lp & ~(0x3FFFFFFF << 2) & 0xFFFFFFFFFFFFFFFF
            self.stats["doublefar"] += 1
            far2 = word(self.segs[tseg], pad)
            tag = word(self.segs[tseg], pad + 1)
            if far2 & 7 != 2:
                raise ValueError("bad double-far landing pad")
            return far2 >> 32, (far2 >> 3) & 0x1FFFFFFF, tag
        self.stats["near"] += 1
        return seg, pos + 1 + signed30(p >> 2), p & ~(0x3FFFFFFF << 2) & 0xFFFFFFFFFFFFFFFF

    def read(self, seg, pos, depth=0):
        if depth > 1000:
            raise ValueError("too deep")
        p = word(self.segs[seg], pos)
        if p == 0:
            return None
        if p & 3 == 3:
            raise ValueError("capability pointer")
        tseg, start, tag = self.resolve(seg, pos)
        s = self.segs[tseg]
        if tag & 3 == 0:
            dw = (tag >> 32) & 0xFFFF
            pw = tag >> 48
            obj = Obj("struct", s[8 * start:8 * (start + dw + pw)], list(range(dw, dw + pw)), tag)
        elif tag & 3 == 1:
            size = (tag >> 32) & 7
            count = tag >> 35
            if size == 7:
                etag = word(s, start)
                n = signed30(etag >> 2)
                dw = (etag >> 32) & 0xFFFF
                pw = etag >> 48
                nwords = 1 + count
                slots = [1 + i * (dw + pw) + dw + j for i in range(n) for j in range(pw)]
            else:
                bits = [0, 1, 8, 16, 32, 64, 64][size]
                nwords = (count * bits + 63) // 64
                slots = list(range(count)) if size == 6 else []
            obj = Obj("list", s[8 * start:8 * (start + nwords)], slots, tag)
        else:
            raise ValueError("unknown pointer kind")
        if len(obj.words) % 8 or 8 * start + len(obj.words) > len(s) or start < 0:
            raise ValueError("pointer out of bounds")
        for slot in obj.ptr_slots:
            obj.children[slot] = self.read(tseg, start + slot, depth + 1)
        return obj


def read_tree(buf):
    segs = parse_message(buf)
    r = Reader(segs)
    root = r.read(0, 0)
    return root, r.stats


def is_blob(obj):
    return obj.kind == "list" and (obj.tag >> 32) & 7 == 2


class Writer:
    """Lays the tree out again over many segments.

    Policy, fixed by a seed so that every run writes the same bytes:
      * byte lists of at least `external` bytes get a segment of their own holding nothing else,
        reached by a double-far pointer whose landing pad sits in another segment (the shape of
        the official writer's external segments);
      * other objects go round-robin into `nseg` ordinary segments; a pointer that crosses
        segments is a far pointer to a landing pad just before its target, or (one in three) a
        double-far pointer with its pad in the pointer's own segment;
      * with root_far the root struct does not live in segment 0, so the root pointer is far.
    """

    def __init__(self, nseg, external, root_far, seed):
        self.rng = random.Random(seed)
        self.nseg = nseg
        self.external = external
        self.root_far = root_far
        self.segs = [bytearray() for _ in range(nseg)]
        self.next = 0

    def alloc(self, seg, nwords):
        pos = len(self.segs[seg]) // 8
        self.segs[seg] += bytes(8 * nwords)
        return pos

    def put(self, seg, pos, value):
        struct.pack_into("<Q", self.segs[seg], 8 * pos, value)

    def new_segment(self):
        self.segs.append(bytearray())
        return len(self.segs) - 1

    def place(self, obj, from_seg, ptr_pos):
        """Write obj somewhere and the pointer to it at (from_seg, ptr_pos)."""
        if obj is None:
            return
        nwords = len(obj.words) // 8
        tag = obj.tag
        if nwords == 0:
            # Nothing to move. An empty struct keeps offset -1 so that its pointer is not null.
            off = -1 if tag & 3 == 0 else 0
            self.put(from_seg, ptr_pos, tag | ((off & 0x3FFFFFFF) << 2))
            return
        if is_blob(obj) and len(obj.words) >= self.external:
            seg = self.new_segment()
            start = self.alloc(seg, nwords)
            self.segs[seg][8 * start:8 * (start + nwords)] = obj.words
            pad = self.alloc(from_seg, 2)
            self.put(from_seg, pad, 2 | (start << 3) | (seg << 32))
            self.put(from_seg, pad + 1, tag)
            self.put(from_seg, ptr_pos, 2 | 4 | (pad << 3) | (from_seg << 32))
            return
        seg = self.next % self.nseg
        self.next += 1
        if seg == from_seg:
            start = self.alloc(seg, nwords)
            self.put(seg, ptr_pos, tag | (((start - ptr_pos - 1) & 0x3FFFFFFF) << 2))
        elif self.rng.randrange(3) == 0:
            start = self.alloc(seg, nwords)
            pad = self.alloc(from_seg, 2)
            self.put(from_seg, pad, 2 | (start << 3) | (seg << 32))
            self.put(from_seg, pad + 1, tag)
            self.put(from_seg, ptr_pos, 2 | 4 | (pad << 3) | (from_seg << 32))
        else:
            pad = self.alloc(seg, 1)
            start = self.alloc(seg, nwords)
            self.put(seg, pad, tag)  # offset 0: the body follows the pad
            self.put(from_seg, ptr_pos, 2 | (pad << 3) | (seg << 32))
        self.segs[seg][8 * start:8 * (start + nwords)] = obj.words
        for slot in obj.ptr_slots:
            self.put(seg, start + slot, 0)
        for slot in obj.ptr_slots:
            self.place(obj.children[slot], seg, start + slot)

    def write(self, root):
        self.alloc(0, 1)
        if root is not None:
            self.next = 1 if self.root_far else 0
            self.place(root, 0, 0)
        # A segment left empty still has to be present (ids are positions); give it a word so
        # that no reader trips over a zero-length segment it is not used to.
        return frame_message([bytes(s) if s else bytes(8) for s in self.segs])


def cmd_multiseg(args):
    opts = {"--external": "1024", "--segments": "3", "--seed": "1"}
    root_far = False
    pos = []
    i = 0
    while i < len(args):
        if args[i] == "--root-far":
            root_far = True
        elif args[i] in opts:
            opts[args[i]] = args[i + 1]
            i += 1
        else:
            pos.append(args[i])
        i += 1
    src, dst = pos
    with open(src, "rb") as f:
        buf = f.read()
    if message_size(buf) != len(buf):
        raise SystemExit("multiseg: input is not exactly one message")
    root, _ = read_tree(buf)
    w = Writer(int(opts["--segments"]), int(opts["--external"]), root_far, int(opts["--seed"]))
    out = w.write(root)
    with open(dst, "wb") as f:
        f.write(out)
    return 0


def cmd_pointer_stats(args):
    with open(args[0], "rb") as f:
        buf = f.read()
    _, stats = read_tree(buf[:message_size(buf)])
    print(" ".join(f"{k}={v}" for k, v in sorted(stats.items())))
    return 0


def cmd_msgsize(args):
    with open(args[0], "rb") as f:
        buf = f.read()
    print(message_size(buf, int(args[1]) if len(args) > 1 else 0))
    return 0


def cmd_flip(args):
    """flip FILE OFFSET: invert every bit of one byte in place."""
    with open(args[0], "r+b") as f:
        f.seek(int(args[1]))
        b = f.read(1)
        f.seek(int(args[1]))
        f.write(bytes([b[0] ^ 0xFF]))
    return 0


def cmd_split(args):
    src, sig, arc = args
    with open(src, "rb") as f:
        buf = f.read()
    n = message_size(buf)
    with open(sig, "wb") as f:
        f.write(buf[:n])
    with open(arc, "wb") as f:
        f.write(buf[n:])
    return 0


# ------------------------------------------------------------------------------------------------
# Trees on disk


def esc(b):
    """Printable ASCII as is, everything else (and backslash) as \\xNN: one token per path."""
    return "".join(chr(c) if 0x21 <= c < 0x7F and c != 0x5C else f"\\x{c:02x}" for c in b)


def dump_tree(root):
    lines = []
    rootb = os.fsencode(root)

    def walk(rel):
        full = os.path.join(rootb, rel) if rel else rootb
        for name in sorted(os.listdir(full)):
            path = os.path.join(rel, name) if rel else name
            st = os.lstat(os.path.join(rootb, path))
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                lines.append(f"{esc(path)} symlink - {st.st_mtime_ns} {esc(os.readlink(os.path.join(rootb, path)))}")
            elif stat.S_ISDIR(st.st_mode):
                walk(path)
                lines.append(f"{esc(path)} dir {mode:04o} {st.st_mtime_ns} -")
            elif stat.S_ISREG(st.st_mode):
                with open(os.path.join(rootb, path), "rb") as f:
                    h = hashlib.sha256(f.read()).hexdigest()
                lines.append(f"{esc(path)} file {mode:04o} {st.st_mtime_ns} {st.st_size}:{h}")
            else:
                lines.append(f"{esc(path)} other {mode:04o} {st.st_mtime_ns} -")

    walk(b"")
    return sorted(lines)


def cmd_dump(args):
    for line in dump_tree(args[0]):
        print(line)
    return 0


# ------------------------------------------------------------------------------------------------
# The foreign archive: a tree described here, written as a Cap'n Proto text value for
# `capnp encode`, with the listing `dump` must print after it is unpacked.

def capnp_text(b):
    return '"' + "".join(chr(c) if 0x20 <= c < 0x7F and c not in (0x22, 0x5C) else f"\\x{c:02x}"
                         for c in b) + '"'


def capnp_data(b):
    # 0x"" is refused by capnp 0.9's parser; an empty string literal is the same empty Data.
    return '0x"' + b.hex() + '"' if b else '""'


def text_like(rng, n):
    words = [b"sandstorm", b"grain", b"package", b"archive", b"the", b"of", b"and", b"capability",
             b"server", b"app", b"spk", b"signature", b"key", b"file", b"directory", b"\n"]
    out = bytearray()
    while len(out) < n:
        out += rng.choice(words) + b" "
    return bytes(out[:n])


def foreign_tree(variant, manifest):
    """Entries: (name, mtime_ns, kind, payload); kind is regular, executable, symlink or dir."""
    rng = random.Random(20240601)
    virt = [
        ("dev", 0, "dir", []),
        ("tmp", 0, "dir", []),
        ("var", 0, "dir", []),
        ("proc", 0, "dir", [("cpuinfo", 0, "regular", b"")]),
        ("sandstorm-manifest", 0, "regular", manifest),
    ]
    if variant == "deep":
        # 50 nested directories: nesting of about 100 pointers, past the default limit of 64
        # and within the 128 that npm trees need (§1.5).
        node = [("leaf", 1_000_000_000, "regular", b"bottom\n")]
        for i in range(50):
            node = [("d", 1_000_000_000 + i, "dir", node)]
        return list(reversed(virt + node))
    tree = [
        ("bin", 1_500_000_000_123_456_789, "dir", [
            ("app", 1_500_000_001_000_000_001, "executable", b"#!/bin/sh\necho hello from app\n"),
            ("empty-exec", 1_500_000_002_999_999_999, "executable", b""),
            ("sh", 1_500_000_003_000_000_000, "symlink", b"app"),
        ]),
        ("share", 1_400_000_000_000_000_000, "dir", [
            ("doc", 1_300_000_000_000_000_000, "dir", [
                ("README", -86_400_123_456_789, "regular", text_like(rng, 5000)),
                ("LICENSE", -1, "regular", b"Public domain.\n"),
            ]),
            ("data.bin", 1_600_000_000_500_000_000, "regular", rng.randbytes(300_000)),
            ("words.txt", 1_600_000_000_000_000_007, "regular", text_like(rng, 200_000)),
        ]),
        ("links", 1_700_000_000_000_000_000, "dir", [
            ("absolute", 1_700_000_001_000_000_000, "symlink", b"/usr/bin/env"),
            ("dangling", 1_700_000_002_000_000_000, "symlink", b"../does/not/exist"),
            ("up", 1_700_000_003_000_000_000, "symlink", b"../share/doc/README"),
            ("odd", 1_700_000_004_000_000_000, "symlink", "sp ace\nnew line ü".encode()),
            ("dir", 1_700_000_005_000_000_000, "symlink", b"../bin/"),
        ]),
        ("empty", 0, "regular", b""),
        ("emptydir", 42, "dir", []),
        ("with space", 7, "regular", b"space\n"),
        ("ünïcödé", 8, "regular", "ü\n".encode()),
        ("-dash", 9, "regular", b"dash\n"),
    ]
    # Reverse order on purpose: a reader must not depend on the writer's sorting.
    return list(reversed(virt + tree))


def archive_text(entries):
    def files(entries):
        parts = []
        for name, mtime, kind, payload in entries:
            head = f"(name = {capnp_text(name.encode())}, lastModificationTimeNs = {mtime}, "
            if kind == "dir":
                parts.append(head + f"directory = {files(payload)})")
            elif kind == "symlink":
                parts.append(head + f"symlink = {capnp_text(payload)})")
            else:
                parts.append(head + f"{kind} = {capnp_data(payload)})")
        return "[" + ", ".join(parts) + "]"
    return f"(files = {files(entries)})\n"


def expected_listing(entries, umask):
    lines = []

    def walk(prefix, entries):
        for name, mtime, kind, payload in entries:
            path = prefix + name.encode()
            if kind == "dir":
                lines.append(f"{esc(path)} dir {0o777 & ~umask:04o} {mtime} -")
                walk(path + b"/", payload)
            elif kind == "symlink":
                lines.append(f"{esc(path)} symlink - {mtime} {esc(payload)}")
            else:
                mode = (0o777 if kind == "executable" else 0o666) & ~umask
                lines.append(f"{esc(path)} file {mode:04o} {mtime} "
                             f"{len(payload)}:{hashlib.sha256(payload).hexdigest()}")

    walk(b"", entries)
    return sorted(lines)


def cmd_gen_foreign(args):
    """gen-foreign --variant main|deep --manifest FILE --text OUT [--expected UMASK:OUT]..."""
    variant = "main"
    manifest = None
    text_out = None
    expected = []
    i = 0
    while i < len(args):
        a, v = args[i], args[i + 1]
        if a == "--variant":
            variant = v
        elif a == "--manifest":
            with open(v, "rb") as f:
                manifest = f.read()
        elif a == "--text":
            text_out = v
        elif a == "--expected":
            um, out = v.split(":", 1)
            expected.append((int(um, 8), out))
        else:
            raise SystemExit(f"gen-foreign: unknown option {a}")
        i += 2
    entries = foreign_tree(variant, manifest)
    with open(text_out, "w") as f:
        f.write(archive_text(entries))
    for um, out in expected:
        with open(out, "w") as f:
            f.write("\n".join(expected_listing(entries, um)) + "\n")
    return 0


# ------------------------------------------------------------------------------------------------
# Our archive, decoded by capnp, against the tree it was packed from


def cmd_check_archive(args):
    """check-archive ARCHIVE.json SRCDIR MANIFEST_OUT [--parent-mtime LO:HI]

    Compares the archive with SRCDIR (every file, its kind by the owner-exec bit, its bytes, its
    symlink target and its st_mtim in ns), plus the entries spk adds (§1.5, §1.7). Writes the
    sandstorm-manifest bytes to MANIFEST_OUT. Prints one line per difference; exit 1 if any.
    """
    src, srcdir, manifest_out = args[:3]
    with open(src) as f:
        arc = json.load(f)
    errors = []

    def decode(entries, path):
        out = {}
        for e in entries:
            name = e.get("name")
            if name is None or name in ("", ".", "..") or "/" in name or "\0" in name:
                errors.append(f"{path}: bad name {name!r}")
                continue
            if name in out:
                errors.append(f"{path}/{name}: duplicate")
            out[name] = e
        return out

    def compare_dir(entries, rel):
        have = decode(entries, rel or ".")
        full = os.path.join(srcdir, rel)
        names = set(os.listdir(full))
        if not rel:
            names |= {"dev", "tmp", "var", "proc", "sandstorm-manifest"}
        for name in sorted(names - set(have)):
            errors.append(f"{os.path.join(rel, name)}: missing from the archive")
        for name in sorted(set(have) - names):
            errors.append(f"{os.path.join(rel, name)}: in the archive, not in the tree")
        for name in sorted(names & set(have)):
            e = have[name]
            path = os.path.join(rel, name)
            mtime = int(e.get("lastModificationTimeNs", "0"))
            if not rel and name in ("dev", "tmp", "var"):
                if e.get("directory", []) != [] or "directory" not in e:
                    errors.append(f"{path}: not an empty directory: {e}")
                continue
            if not rel and name == "proc":
                kids = decode(e.get("directory", []), path)
                cpu = kids.get("cpuinfo")
                if set(kids) != {"cpuinfo"} or cpu is None or "regular" not in cpu \
                        or cpu["regular"] != [] or int(cpu.get("lastModificationTimeNs", "0")) != 0:
                    errors.append(f"{path}: want exactly an empty cpuinfo with mtime 0: {e}")
                continue
            if not rel and name == "sandstorm-manifest":
                if "regular" not in e or mtime != 0:
                    errors.append(f"{path}: want a regular file with mtime 0")
                with open(manifest_out, "wb") as f:
                    f.write(bytes(e.get("regular", [])))
                continue
            st = os.lstat(os.path.join(srcdir, path))
            if mtime != st.st_mtime_ns:
                errors.append(f"{path}: mtime {mtime}, source has {st.st_mtime_ns}")
            if stat.S_ISLNK(st.st_mode):
                want = os.readlink(os.path.join(srcdir, path))
                if e.get("symlink") != want:
                    errors.append(f"{path}: want symlink to {want!r}: {sorted(e)}")
            elif stat.S_ISDIR(st.st_mode):
                if "directory" not in e:
                    errors.append(f"{path}: want a directory: {sorted(e)}")
                else:
                    compare_dir(e["directory"], path)
            else:
                kind = "executable" if st.st_mode & stat.S_IXUSR else "regular"
                if kind not in e:
                    errors.append(f"{path}: want {kind}: {sorted(e)}")
                    continue
                with open(os.path.join(srcdir, path), "rb") as f:
                    data = f.read()
                got = bytes(e[kind])
                if got != data:
                    errors.append(f"{path}: content differs ({len(got)} bytes, want {len(data)})")

    compare_dir(arc.get("files", []), "")
    for err in errors:
        print(err)
    return 1 if errors else 0


COMMANDS = {
    "appid": cmd_appid,
    "selftest-appid": cmd_selftest_appid,
    "ed25519-der": cmd_ed25519_der,
    "msgsize": cmd_msgsize,
    "split": cmd_split,
    "flip": cmd_flip,
    "multiseg": cmd_multiseg,
    "pointer-stats": cmd_pointer_stats,
    "dump": cmd_dump,
    "gen-foreign": cmd_gen_foreign,
    "check-archive": cmd_check_archive,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
