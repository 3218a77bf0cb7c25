#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What `spk keygen` and `spk pack` write, taken apart without any of granary's code: the keyring
# and both messages decoded by Debian's capnp with the test schema, the signature checked by
# OpenSSL's Ed25519 over OpenSSL's SHA-512, the app ID computed in Python (sandstorm-spec.md §1, §2).
. "$SOURCE_ROOT/tests/lib/tap.sh"

TOOLS=$SOURCE_ROOT/tests/compat/tools
SCHEMA=$SOURCE_ROOT/tests/compat/schema-archive/spk.capnp
PY=/usr/bin/python3
spkfmt() { "$PY" "$TOOLS/spkfmt.py" "$@"; }
hexof() { od -An -v -tx1 "$1" | tr -d ' \n'; }

for tool in capnp xz openssl "$PY"; do
        if ! command -v "$tool" >/dev/null; then
                skip "needs $tool"
                done_testing
                exit 0
        fi
done
umask 022

# Runs Python over a JSON file; the script's exit status decides, its output is the diagnostic.
pycheck() { # desc script args...
        desc=$1 script=$2; shift 2
        if out=$("$PY" -c "$script" "$@" 2>&1); then ok "$desc"; else not_ok "$desc"; diag "$out"; fi
}

# ------------------------------------------------------------------------------------------------
# Keyring

id1=$("$SPK" keygen -k keyring -q 2>err1.txt)
rc1=$?
id2=$("$SPK" keygen -k keyring -q 2>err2.txt)
rc2=$?
if [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && echo "$id1" | grep -Eqx '[0-9ac-hjkmnp-z]{52}' &&
   echo "$id2" | grep -Eqx '[0-9ac-hjkmnp-z]{52}' && [ "$id1" != "$id2" ]; then
        ok "keygen prints a new app ID each time"
else
        not_ok "keygen prints a new app ID each time"; diag "$rc1 '$id1' $rc2 '$id2'"; diag "$(cat err1.txt err2.txt)"
fi

mode=$(stat -c %a keyring 2>/dev/null)
if [ "$mode" = 600 ]; then ok "keyring is mode 0600"; else not_ok "keyring is mode 0600"; diag "mode $mode"; fi

# The keyring is two unpacked single-segment messages back to back and nothing else (§2).
pycheck "keyring is two single-segment messages, nothing after them" '
import struct, sys
sys.path.insert(0, sys.argv[2])
import spkfmt
buf = open(sys.argv[1], "rb").read()
off, n = 0, 0
while off < len(buf):
    size = spkfmt.message_size(buf, off)
    assert struct.unpack_from("<I", buf, off)[0] == 0, f"message {n} has several segments"
    off += size
    n += 1
assert off == len(buf) and n == 2, f"{n} messages, {off} of {len(buf)} bytes"
' keyring "$TOOLS"

capnp convert --short binary:json "$SCHEMA" KeyFile <keyring >keyring.json 2>keyring.err
pycheck "keyring decodes as KeyFile messages: 32-byte public, 64-byte secret ending in the public key" '
import json, sys
keys = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ids = sys.argv[2:4]
assert len(keys) == 2, f"{len(keys)} keys"
sys.path.insert(0, sys.argv[4])
import spkfmt
for k, want in zip(keys, ids):
    pub, sec = bytes(k["publicKey"]), bytes(k["privateKey"])
    assert len(pub) == 32 and len(sec) == 64, (len(pub), len(sec))
    assert sec[32:] == pub, "secret key does not end with the public key"
    assert spkfmt.appid_encode(pub) == want, f"{spkfmt.appid_encode(pub)} != {want}"
' keyring.json "$id1" "$id2" "$TOOLS"

# The secret key's seed must give the public key under OpenSSL's Ed25519.
bad=
n=0
while IFS= read -r line; do
        n=$((n + 1))
        seed=$(echo "$line" | "$PY" -c 'import json,sys; print(bytes(json.loads(sys.stdin.read())["privateKey"][:32]).hex())')
        pub=$(echo "$line" | "$PY" -c 'import json,sys; print(bytes(json.loads(sys.stdin.read())["publicKey"]).hex())')
        spkfmt ed25519-der seed "$seed" "seed$n.der"
        got=$(openssl pkey -inform DER -in "seed$n.der" -pubout -outform DER | tail -c 32 | od -An -v -tx1 | tr -d ' \n')
        [ "$got" = "$pub" ] || bad="$bad key $n: openssl derives $got, keyring has $pub;"
done <keyring.json
if [ -z "$bad" ] && [ $n -eq 2 ]; then ok "keyring seeds derive their public keys (OpenSSL)"; else not_ok "keyring seeds derive their public keys (OpenSSL)"; diag "$n keys;$bad"; fi

out=$("$SPK" listkeys -k keyring 2>&1)
if [ "$out" = "$id1
$id2" ]; then ok "listkeys prints both app IDs in file order"; else not_ok "listkeys prints both app IDs in file order"; diag "$out"; fi

"$SPK" getkey -k keyring "$id2" >got.keyring 2>getkey.err
capnp convert --short binary:json "$SCHEMA" KeyFile <got.keyring >got.json 2>&1
pycheck "getkey writes the one matching KeyFile message" '
import json, sys
got = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
all = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
assert got == [all[1]], got
' got.json keyring.json

# ------------------------------------------------------------------------------------------------
# A package

mkdir -p tree/bin tree/data/emptydir tree/data/sub
printf '#!/bin/sh\necho hello\n' >tree/bin/hello
chmod 0755 tree/bin/hello
printf 'owner may run this\n' >tree/bin/owner-only
chmod 0700 tree/bin/owner-only
printf 'others may run this, the owner may not\n' >tree/bin/not-owner
chmod 0645 tree/bin/not-owner
"$PY" -c '
import random, sys
rng = random.Random(99)
open(sys.argv[1], "wb").write(rng.randbytes(600_000))
words = ["grain", "spk", "archive", "the", "and", "sandstorm", "\n"]
open(sys.argv[2], "w").write(" ".join(rng.choice(words) for _ in range(40_000)))
' tree/data/big.bin tree/data/text.txt
: >tree/data/empty
printf 'nested\n' >tree/data/sub/file
printf 'space\n' >"tree/name with space"
ln -s bin/hello tree/link-relative
ln -s /etc/hostname tree/link-absolute
ln -s does/not/exist tree/link-dangling
touch -h -d @1234567890.123456789 tree/bin/hello tree/link-relative
touch -h -d @1500000000.000000001 tree/bin/owner-only tree/link-absolute
touch -h -d @-100.25 tree/data/text.txt tree/link-dangling
touch -d @1 tree/data/empty
touch -d @1600000000.999999999 tree/data/sub tree/data/emptydir tree/bin tree/data

cat >sandstorm-pkgdef.capnp <<EOF
@0xc8a5d1e0b7f3e4a1;

using Spk = import "/sandstorm/package.capnp";

const pkgdef :Spk.PackageDefinition = (
  id = "$id2",
  manifest = (
    appTitle = (defaultText = "Our App"),
    appVersion = 3,
    appMarketingVersion = (defaultText = "0.3.0"),
    actions = [
      ( nounPhrase = (defaultText = "instance"),
        command = .myCommand
      )
    ],
    continueCommand = .myCommand,
    metadata = (
      website = "https://example.org/",
      codeUrl = "https://example.org/code",
      license = (openSource = apache2),
      categories = [productivity, developerTools],
      author = (contactEmail = "dev@example.org", upstreamAuthor = "Example Team"),
      shortDescription = (defaultText = "compat test"),
    ),
  ),
  sourceMap = (
    searchPath = [ ( sourcePath = "tree" ) ]
  ),
  alwaysInclude = [ "." ],
);

const myCommand :Spk.Manifest.Command = (
  argv = ["/bin/hello", "--flag"],
  environ = [
    (key = "PATH", value = "/usr/local/bin:/usr/bin:/bin"),
    (key = "SANDSTORM", value = "1"),
  ]
);
EOF

out=$("$SPK" pack -k keyring our.spk 2>pack.err)
rc=$?
if [ $rc -eq 0 ] && [ "$out" = "$id2" ]; then
        ok "pack signs with the pkgdef's key and prints its app ID"
else
        not_ok "pack signs with the pkgdef's key and prints its app ID"; diag "exit $rc, stdout '$out'"; diag "$(cat pack.err)"
fi
if [ ! -f our.spk ]; then
        skip "no package to take apart"
        done_testing
        exit
fi

if [ "$(head -c 8 our.spk | od -An -tx1 | tr -d ' \n')" = 8fc6cdef451aea96 ]; then ok "starts with the magic"; else not_ok "starts with the magic"; fi

tail -c +9 our.spk >payload.xz
if xz -t payload.xz 2>xz.err && xz -dc payload.xz >stream.bin 2>>xz.err; then
        ok "the rest is an xz stream (xz -t, xz -dc)"
else
        not_ok "the rest is an xz stream (xz -t, xz -dc)"; diag "$(cat xz.err)"
fi

spkfmt split stream.bin sig.bin archive.bin 2>split.err
arcsize=$(spkfmt msgsize archive.bin 2>>split.err)
if [ -s sig.bin ] && [ "$arcsize" = "$(wc -c <archive.bin)" ]; then
        ok "two unpacked messages, the archive runs exactly to the end ($(wc -c <sig.bin) + $arcsize bytes)"
else
        not_ok "two unpacked messages, the archive runs exactly to the end"; diag "archive message $arcsize of $(wc -c <archive.bin) bytes"; diag "$(cat split.err)"
fi

capnp convert --short binary:json "$SCHEMA" Signature <sig.bin >sig.json 2>sig.err
"$PY" -c '
import json, sys
s = json.load(open(sys.argv[1]))
open("sm.bin", "wb").write(bytes(s.get("signature", [])))
open("pk.bin", "wb").write(bytes(s.get("publicKey", [])))
' sig.json 2>>sig.err
pk=$(hexof pk.bin)
if [ "$(wc -c <pk.bin)" -eq 32 ] && [ "$(wc -c <sm.bin)" -eq 128 ]; then
        ok "Signature decodes: 32-byte publicKey, 128-byte signature"
else
        not_ok "Signature decodes: 32-byte publicKey, 128-byte signature"; diag "$(cat sig.json sig.err)"
fi

pycheck "publicKey is the second key of the keyring; base32 gives the app ID" '
import json, sys
sys.path.insert(0, sys.argv[4])
import spkfmt
pk = open(sys.argv[1], "rb").read()
keys = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
assert pk == bytes(keys[1]["publicKey"]), "not the second key"
assert spkfmt.appid_encode(pk) == sys.argv[3], spkfmt.appid_encode(pk)
' pk.bin keyring.json "$id2" "$TOOLS"

openssl dgst -sha512 -binary <archive.bin >digest.bin
tail -c 64 sm.bin >sm-digest.bin
head -c 64 sm.bin >sm-sig.bin
if cmp -s digest.bin sm-digest.bin; then
        ok "signature is sig ‖ SHA-512(archive message bytes)"
else
        not_ok "signature is sig ‖ SHA-512(archive message bytes)"; diag "sha512 $(hexof digest.bin)"; diag "stored $(hexof sm-digest.bin)"
fi

spkfmt ed25519-der public "$pk" pub.der
if out=$(openssl pkeyutl -verify -rawin -pubin -keyform DER -inkey pub.der -in digest.bin -sigfile sm-sig.bin 2>&1); then
        ok "Ed25519 signature over the digest verifies (OpenSSL)"
else
        not_ok "Ed25519 signature over the digest verifies (OpenSSL)"; diag "$out"
fi

capnp convert --short binary:json "$SCHEMA" Archive <archive.bin >archive.json 2>archive.err
if out=$(spkfmt check-archive archive.json tree manifest.bin 2>&1); then
        ok "archive holds exactly the tree: names, kinds by owner-exec bit, bytes, targets, mtimes; dev tmp var proc/cpuinfo manifest"
else
        not_ok "archive holds exactly the tree"; diag "$out"; diag "$(head -c 2000 archive.err)"
fi
diag "archive pointers: $(spkfmt pointer-stats archive.bin 2>&1)"

msize=$(spkfmt msgsize manifest.bin 2>&1)
if [ "$msize" = "$(wc -c <manifest.bin)" ]; then ok "sandstorm-manifest is one unpacked message"; else not_ok "sandstorm-manifest is one unpacked message"; diag "$msize of $(wc -c <manifest.bin)"; fi

capnp convert --short binary:json "$SCHEMA" Manifest <manifest.bin >manifest.json 2>manifest.err
capnp encode "$SCHEMA" Manifest >want-manifest.bin <<'EOF'
(appTitle = (defaultText = "Our App"), appVersion = 3, appMarketingVersion = (defaultText = "0.3.0"),
 actions = [(input = (none = void), nounPhrase = (defaultText = "instance"),
             command = (argv = ["/bin/hello", "--flag"],
                        environ = [(key = "PATH", value = "/usr/local/bin:/usr/bin:/bin"), (key = "SANDSTORM", value = "1")]))],
 continueCommand = (argv = ["/bin/hello", "--flag"],
                    environ = [(key = "PATH", value = "/usr/local/bin:/usr/bin:/bin"), (key = "SANDSTORM", value = "1")]),
 metadata = (website = "https://example.org/", codeUrl = "https://example.org/code", license = (openSource = apache2),
             categories = [productivity, developerTools],
             author = (contactEmail = "dev@example.org", upstreamAuthor = "Example Team"),
             shortDescription = (defaultText = "compat test")))
EOF
capnp convert --short binary:json "$SCHEMA" Manifest <want-manifest.bin >want-manifest.json
pycheck "sandstorm-manifest decodes to the pkgdef's manifest" '
import json, sys
got, want = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert got == want, json.dumps(got, indent=1)
' manifest.json want-manifest.json

pid=$(sha256sum our.spk | head -c 32)
out=$("$SPK" verify our.spk 2>&1)
if echo "$out" | grep -Eq "\"appId\" *: *\"$id2\"" && echo "$out" | grep -Eq "\"packageId\" *: *\"$pid\""; then
        ok "verify reports the app ID and sha256(file)[0:16] as package ID"
else
        not_ok "verify reports the app ID and sha256(file)[0:16] as package ID"; diag "want $id2 $pid"; diag "$out"
fi

# The keyring lacks the key a pkgdef names: pack refuses and writes nothing.
sed "s/$id2/$(spkfmt appid "$(printf '%064x' 7)")/" sandstorm-pkgdef.capnp >other.capnp
check_fails "pack refuses a pkgdef whose key is not in the keyring" "" "$SPK" pack -p other.capnp:pkgdef -k keyring other.spk
if [ -e other.spk ]; then not_ok "no package is left behind"; else ok "no package is left behind"; fi

done_testing
