#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `spk verify` and `spk unpack` on packages built without any of granary's code: the Archive is a
# Cap'n Proto text value encoded by Debian's capnp, signed with OpenSSL's Ed25519 and compressed
# by xz, the way Sandstorm's own tools do it (sandstorm-spec.md §1). Variants cover what official
# packages contain (many segments, far and double-far pointers, multi-block and concatenated xz
# streams, deep trees); tampered copies must fail with one line on stderr and leave nothing behind.
. "$SOURCE_ROOT/tests/lib/tap.sh"

TOOLS=$SOURCE_ROOT/tests/compat/tools
SCHEMA=$SOURCE_ROOT/tests/compat/schema-archive/spk.capnp
PY=/usr/bin/python3
spkfmt() { "$PY" "$TOOLS/spkfmt.py" "$@"; }

# Keys from fixed seeds, so the app IDs are known in advance.
APPID1=9kuurxpeg7xzcaxwtcyd4ufscm96a7qnr22vc1nz4hefvw55r8nh
APPID2=fhjcm23pm038wdq48k5996qv546hymjpr7h1q3r5y6hyd07y4tu0

for tool in capnp xz openssl "$PY"; do
        if ! command -v "$tool" >/dev/null; then
                skip "needs $tool"
                done_testing
                exit 0
        fi
done

hexof() { od -An -v -tx1 "$1" | tr -d ' \n'; }
pkgid() { sha256sum "$1" | head -c 32; }

# ------------------------------------------------------------------------------------------------
# The tools themselves, checked against the spec

# Every struct's data and pointer sections and every field's slot, as sandstorm-spec.md gives them.
capnp compile -ocapnp "$SCHEMA" >layout.txt 2>&1
missing=
while IFS= read -r want; do
        grep -qF -- "$want" layout.txt || missing="$missing
$want"
done <<'EOF'
struct Archive @0x9282d4fffb67b2a4 {  # 0 bytes, 1 ptrs
  files @0 :List(File);  # ptr[0]
  struct File @0xca1c5bd0bb6bb787 {  # 16 bytes, 2 ptrs
    name @0 :Text;  # ptr[0]
    lastModificationTimeNs @5 :Int64;  # bits[64, 128)
    union {  # tag bits [0, 16)
      regular @1 :Data;  # ptr[1], union tag = 0
      executable @2 :Data;  # ptr[1], union tag = 1
      symlink @3 :Text;  # ptr[1], union tag = 2
      directory @4 :List(File);  # ptr[1], union tag = 3
struct Signature @0xa1e58fe933e34fad {  # 0 bytes, 2 ptrs
  publicKey @0 :Data;  # ptr[0]
  signature @1 :Data;  # ptr[1]
struct KeyFile @0x831cee8cc39333fe {  # 0 bytes, 2 ptrs
  publicKey @0 :Data;  # ptr[0]
  privateKey @1 :Data;  # ptr[1]
struct Manifest @0xfe89d5de8dd1a663 {  # 16 bytes, 5 ptrs
  minApiVersion @0 :UInt32;  # bits[0, 32)
  maxApiVersion @1 :UInt32;  # bits[32, 64)
  actions @2 :List(Action);  # ptr[0]
  continueCommand @3 :Command;  # ptr[1]
  appVersion @4 :UInt32;  # bits[64, 96)
  minUpgradableAppVersion @5 :UInt32;  # bits[96, 128)
  appMarketingVersion @6 :LocalizedText;  # ptr[2]
  appTitle @7 :LocalizedText;  # ptr[3]
  metadata @8 :Metadata;  # ptr[4]
  struct Command @0x87977ddb165b98a6 {  # 0 bytes, 3 ptrs
  struct Action @0xe032a8abe0f3ddf1 {  # 8 bytes, 5 ptrs
        capability @1 :List(PowerboxDescriptor);  # ptr[0], union tag = 1
    nounPhrase @5 :LocalizedText;  # ptr[4]
struct Metadata @0xd06aeacadb136730 {  # 8 bytes, 17 ptrs
    marketBig @18 :Icon;  # ptr[15]
      openSource @6 :OpenSourceLicense;  # bits[16, 32), union tag = 1
      publicDomain @8 :LocalizedText;  # ptr[5], union tag = 3
    notices @9 :LocalizedText;  # ptr[6]
    upstreamAuthor @19 :Text;  # ptr[16]
  changeLog @17 :LocalizedText;  # ptr[14]
  struct Icon @0xdcb351ff17f88ea3 {  # 8 bytes, 2 ptrs
        dpi2x @3 :Data;  # ptr[1]
  struct Screenshot @0xedb368a190e58d86 {  # 16 bytes, 1 ptrs
      jpeg @4 :Data;  # ptr[0], union tag = 2
EOF
if [ -z "$missing" ]; then ok "test schema has the spec's layouts"; else not_ok "test schema has the spec's layouts"; diag "missing:$missing"; fi

# §1.2 test vector: the Signature message capnp encodes for pk = 32×11, sig = 128×22.
printf '(publicKey = 0x"%s", signature = 0x"%s")\n' "$(printf '11%.0s' $(seq 32))" "$(printf '22%.0s' $(seq 128))" |
        capnp encode "$SCHEMA" Signature >vector.bin
want=0000000017000000000000000000020005000000020100001100000002040000
want=$want$(printf '11%.0s' $(seq 32))$(printf '22%.0s' $(seq 128))
if [ "$(hexof vector.bin)" = "$want" ]; then ok "Signature message matches the spec's test vector"; else not_ok "Signature message matches the spec's test vector"; diag "$(hexof vector.bin)"; fi

check "app ID encoder reproduces the spec's vectors" spkfmt selftest-appid

for n in 1 2; do
        spkfmt ed25519-der seed "$(printf '%064x' $n)" "key$n.der"
        openssl pkey -inform DER -in "key$n.der" -out "key$n.pem"
        openssl pkey -in "key$n.pem" -pubout -outform DER | tail -c 32 >"pub$n"
done
# Two derivations of the app ID: the spec's algorithm, and RFC 4648 base32 with its alphabet swapped.
a=$(spkfmt appid "$(hexof pub1)")
b=$("$PY" -c 'import base64,sys; print(base64.b32encode(open(sys.argv[1],"rb").read()).decode().rstrip("=").translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567","0123456789acdefghjkmnpqrstuvwxyz")))' pub1)
if [ "$a" = "$APPID1" ] && [ "$b" = "$APPID1" ] && [ "$(spkfmt appid "$(hexof pub2)")" = "$APPID2" ]; then
        ok "app IDs of the test keys"
else
        not_ok "app IDs of the test keys"; diag "spec: $a rfc4648: $b"
fi

# ------------------------------------------------------------------------------------------------
# The packages

cat >manifest.txt <<'EOF'
(appTitle = (defaultText = "Foreign App"), appVersion = 7, appMarketingVersion = (defaultText = "1.2.3"),
 actions = [(input = (none = void), command = (argv = ["/bin/app"]), nounPhrase = (defaultText = "thing"))],
 continueCommand = (argv = ["/bin/app"], environ = [(key = "PATH", value = "/bin")]),
 metadata = (website = "https://example.org/", codeUrl = "https://example.org/code",
   license = (openSource = mit), shortDescription = (defaultText = "foreign test"),
   categories = [productivity]))
EOF
capnp encode "$SCHEMA" Manifest <manifest.txt >manifest.bin
# The same manifest spread over segments, as a writer with external segments would leave it.
spkfmt multiseg manifest.bin manifest-multi.bin --root-far --external 16 --seed 3

build_archive() { # variant manifest text-out bin-out expected-prefix
        spkfmt gen-foreign --variant "$1" --manifest "$2" --text "$3" \
                --expected "022:$5-022.txt" --expected "027:$5-027.txt"
        capnp encode "$SCHEMA" Archive <"$3" >"$4"
}
build_archive main manifest.bin main.txt main.bin main
build_archive main manifest-multi.bin main-m.txt main-m-src.bin main-m
build_archive deep manifest.bin deep.txt deep.bin deep
# Many segments by our own rewriter (double-far pointers, blobs alone in their segments, a far
# root pointer), and by capnp's builder with small segments (single far pointers).
spkfmt multiseg main-m-src.bin main-m.bin --root-far --external 1024 --segments 4 --seed 7
capnp convert --segment-size=64 text:binary "$SCHEMA" Archive <main.txt >main-seg64.bin

# The rewritten archive must still be the same value, and must really use what it is meant to test.
capnp convert --quiet binary:text "$SCHEMA" Archive <main-m-src.bin >a.txt
capnp convert --quiet binary:text "$SCHEMA" Archive <main-m.bin >b.txt
capnp convert --quiet binary:text "$SCHEMA" Archive <main-seg64.bin >c.txt
capnp convert --quiet binary:text "$SCHEMA" Archive <main.bin >d.txt
stats=$(spkfmt pointer-stats main-m.bin)
stats64=$(spkfmt pointer-stats main-seg64.bin)
segs=$(echo "$stats" | sed 's/.*segments=\([0-9]*\).*/\1/')
dfar=$(echo "$stats" | sed 's/.*doublefar=\([0-9]*\).*/\1/')
far64=$(echo "$stats64" | sed 's/.*far=\([0-9]*\).*/\1/')
if cmp -s a.txt b.txt && cmp -s c.txt d.txt && [ "$segs" -ge 6 ] && [ "$dfar" -ge 4 ] && [ "$far64" -ge 4 ]; then
        ok "multi-segment archives decode to the same value ($stats; seg64: $stats64)"
else
        not_ok "multi-segment archives decode to the same value"; diag "$stats / $stats64"
fi

mk() { "$TOOLS/make-spk.sh" "$@"; }
mk -x single key1.pem main.bin single.spk
mk -x blocks key1.pem main-m.bin multi-blocks.spk
mk -x concat key1.pem main-seg64.bin seg64-concat.spk
mk -x padded key1.pem main-m.bin multi-padded.spk
mk -x sha256 key1.pem main.bin check-sha256.spk
mk -x none key1.pem main.bin check-none.spk
mk -x crc32 key1.pem main.bin check-crc32.spk
mk -x lzma key1.pem main.bin legacy-lzma.spk
mk -x single key1.pem deep.bin deep.spk
printf 'trailing bytes after the archive message, inside the signed stream\n' >tail.txt
mk -x blocks -s tail.txt key1.pem main.bin signed-tail.spk

# A package verifies: exit 0, the app and package IDs in the output, and the manifest's values.
check_verify() { # desc spk [want-title]
        if out=$("$SPK" verify "$2" 2>err.txt); then
                id=$(pkgid "$2")
                if ! echo "$out" | grep -Eq "\"appId\" *: *\"$APPID1\""; then
                        not_ok "$1 (no appId $APPID1)"; diag "$out"
                elif ! echo "$out" | grep -Eq "\"packageId\" *: *\"$id\""; then
                        not_ok "$1 (no packageId $id)"; diag "$out"
                elif [ -n "${3:-}" ] && ! { echo "$out" | grep -Eq "\"defaultText\" *: *\"$3\"" &&
                                           echo "$out" | grep -Eq '"version" *: *7'; }; then
                        not_ok "$1 (no title $3, version 7)"; diag "$out"
                else
                        ok "$1"
                fi
        else
                not_ok "$1 (exit $?)"; diag "$(cat err.txt)"
        fi
}

# A package unpacks: exit 0, the app ID on stdout, and exactly the expected tree.
check_unpack() { # desc spk outdir expected umask [stdin]
        rm -rf "$3"
        if [ "${6:-}" = stdin ]; then
                out=$(umask "$5"; "$SPK" unpack - "$3" <"$2" 2>err.txt)
        else
                out=$(umask "$5"; "$SPK" unpack "$2" "$3" 2>err.txt)
        fi
        rc=$?
        if [ $rc -ne 0 ]; then
                not_ok "$1 (exit $rc)"; diag "$(cat err.txt)"; return
        fi
        if [ "$out" != "$APPID1" ]; then
                not_ok "$1 (stdout is not the app ID)"; diag "$out"; return
        fi
        spkfmt dump "$3" >got.txt
        if diff -u "$4" got.txt >diff.txt; then ok "$1"; else not_ok "$1 (tree differs)"; diag "$(cat diff.txt)"; fi
}

for v in single multi-blocks seg64-concat multi-padded check-sha256 check-none check-crc32 legacy-lzma signed-tail; do
        case $v in multi-*) exp=main-m-022.txt ;; *) exp=main-022.txt ;; esac
        check_verify "verify $v.spk" "$v.spk" "Foreign App"
        check_unpack "unpack $v.spk: names, contents, modes, symlinks, mtimes, virtual entries" \
                "$v.spk" "out-$v" "$exp" 022
done
check_verify "verify deep.spk (50 nested directories)" deep.spk
check_unpack "unpack deep.spk (50 nested directories)" deep.spk out-deep deep-022.txt 022

check_verify "verify -d single.spk" single.spk
if out=$("$SPK" verify -d single.spk 2>&1) && echo "$out" | grep -q "$APPID1"; then ok "verify -d is accepted"; else not_ok "verify -d is accepted"; diag "$out"; fi
if out=$("$SPK" verify - <multi-blocks.spk 2>&1) && echo "$out" | grep -Eq "\"packageId\" *: *\"$(pkgid multi-blocks.spk)\""; then
        ok "verify - reads the package from stdin"
else
        not_ok "verify - reads the package from stdin"; diag "$out"
fi
check_unpack "unpack - reads the package from stdin" multi-blocks.spk out-stdin main-m-022.txt 022 stdin
check_unpack "unpack under umask 027: modes 0640, 0750" single.spk out-027 main-027.txt 027

mkdir default && cp single.spk default/pkg.spk
if out=$(cd default && umask 022 && "$SPK" unpack pkg.spk 2>&1) && [ -d default/pkg ] &&
   spkfmt dump default/pkg | diff -u main-022.txt - >diff.txt; then
        ok "unpack without OUTDIR writes the file name minus .spk"
else
        not_ok "unpack without OUTDIR writes the file name minus .spk"; diag "$out"; diag "$(cat diff.txt 2>/dev/null)"
fi

mkdir existing && echo keep >existing/file
check_fails "unpack into an existing directory fails" "" "$SPK" unpack single.spk existing
if [ "$(ls -A existing)" = file ] && [ "$(cat existing/file)" = keep ]; then
        ok "the existing directory is left alone"
else
        not_ok "the existing directory is left alone"; diag "$(ls -la existing)"
fi

# ------------------------------------------------------------------------------------------------
# Packages that must be refused

# Somewhere in the middle of the archive: inside share/data.bin's bytes.
flip_at=$(($(wc -c <main.bin) / 2))
mk -f "$flip_at" key1.pem main.bin bad-flipped.spk
mk -a tail.txt key1.pem main.bin bad-unsigned-tail.spk
mk -P pub2 key1.pem main.bin bad-wrong-key.spk
mk -F detached key1.pem main.bin bad-detached.spk
mk -F shortkey key1.pem main.bin bad-short-key.spk
size=$(wc -c <single.spk)
head -c $((size - 100)) single.spk >bad-truncated-end.spk
head -c $((size / 2)) single.spk >bad-truncated-half.spk
{ cat single.spk; printf 'not xz at all'; } >bad-after-xz.spk
{ printf '\217\306\315\357\105\032\352\227'; tail -c +9 single.spk; } >bad-magic.spk
printf '\217\306\315\357\105\032\352\226' >bad-magic-only.spk

# Correctly signed archives that Sandstorm refuses (§1.5, §1.8). Names that could escape the
# output directory, or reach through a symlink, must never be written.
mkdir victim
mhex=$(hexof manifest.bin)
bad_made=
bad_archive() { # name files...
        name=$1; shift
        list=$1; shift
        for f in "$@"; do list="$list, $f"; done
        printf '(files = [%s])\n' "$list" >"bad-$name.txt"
        # Each must be a well-formed message, or the case would pass for the wrong reason.
        if capnp encode "$SCHEMA" Archive <"bad-$name.txt" >"bad-$name.bin" 2>"bad-$name.err" &&
           [ "$(spkfmt msgsize "bad-$name.bin")" = "$(wc -c <"bad-$name.bin")" ]; then
                bad_made="$bad_made $name"
        else
                diag "could not encode bad-$name: $(cat "bad-$name.err")"
        fi
        mk key1.pem "bad-$name.bin" "bad-$name.spk"
}
man="(name = \"sandstorm-manifest\", regular = 0x\"$mhex\")"
bad_archive name-dotdot "$man" '(name = "..", directory = [(name = "escaped-dotdot", regular = "x")])'
bad_archive name-dot "$man" '(name = ".", directory = [(name = "f", regular = "x")])'
bad_archive name-slash "$man" '(name = "../escaped-slash", regular = "x")'
bad_archive name-empty "$man" '(name = "", regular = "x")'
bad_archive name-nul "$man" '(name = "a\x00b", regular = "x")'
bad_archive name-duplicate "$man" '(name = "dup", regular = "one")' '(name = "dup", regular = "two")'
bad_archive symlink-then-dir "$man" "(name = \"d\", symlink = \"$TAP_TMP/victim\")" \
        '(name = "d", directory = [(name = "pwned", regular = "x")])'
bad_archive no-manifest '(name = "app", executable = "x")'
bad_archive manifest-dir '(name = "sandstorm-manifest", directory = [])'
bad_archive manifest-garbage '(name = "sandstorm-manifest", regular = "this is not a message")'
capnp encode "$SCHEMA" Manifest >manifest-ftp.bin <<'EOF2'
(appTitle = (defaultText = "Foreign App"), appVersion = 7, appMarketingVersion = (defaultText = "1.2.3"),
 metadata = (website = "ftp://example.org/"))
EOF2
bad_archive manifest-website "(name = \"sandstorm-manifest\", regular = 0x\"$(hexof manifest-ftp.bin)\")"
if [ "$bad_made" = " name-dotdot name-dot name-slash name-empty name-nul name-duplicate symlink-then-dir no-manifest manifest-dir manifest-garbage manifest-website" ]; then
        ok "the refused archives are well-formed, signed messages"
else
        not_ok "the refused archives are well-formed, signed messages"; diag "made:$bad_made"
fi

for c in "flipped:Signature didn't match package contents." \
         "unsigned-tail:Signature didn't match package contents." \
         "wrong-key:Invalid signature." \
         "detached:Invalid signature format." \
         "short-key:Invalid public key." \
         "truncated-end:" "truncated-half:" "after-xz:" "magic:" "magic-only:" \
         "name-dotdot:" "name-dot:" "name-slash:" "name-empty:" "name-nul:" "name-duplicate:" \
         "symlink-then-dir:" "no-manifest:SPK contains no manifest file." \
         "manifest-dir:sandstorm-manifest is not a regular file" "manifest-garbage:" "manifest-website:"; do
        name=${c%%:*} want=${c#*:}
        f=bad-$name.spk
        check_fails "verify $f fails" "$want" "$SPK" verify "$f"
        check_fails "unpack $f OUTDIR fails" "$want" "$SPK" unpack "$f" "out-$name"
        if [ -e "out-$name" ]; then not_ok "unpack $f leaves no OUTDIR"; else ok "unpack $f leaves no OUTDIR"; fi
        check_fails "unpack $f fails" "$want" "$SPK" unpack "$f"
        if [ -e "bad-$name" ]; then not_ok "unpack $f leaves no bad-$name/"; else ok "unpack $f leaves no bad-$name/"; fi
done

escaped=$(find . victim -maxdepth 1 \( -name 'escaped*' -o -name pwned -o -name f \) | sort)
if [ -z "$escaped" ]; then ok "nothing was written outside the output directories"; else not_ok "nothing was written outside the output directories"; diag "$escaped"; fi

done_testing
