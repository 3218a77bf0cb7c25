#!/bin/sh
# spk verify, as a packager or an admin runs it: details of a good package, refusal of bad ones.
. "$SOURCE_ROOT/tests/lib/tap.sh"

export HOME="$TAP_TMP" SPK_BRIDGE_PATH=/bin/true SOURCE_DATE_EPOCH=1700000000
mkdir app && cd app
echo '<p>hi</p>' > index.html
appid=$("$SPK" keygen -q)
"$SPK" init -q -i "$appid" -p 8000 -A -I . -- /index.html >/dev/null 2>&1
"$SPK" pack ../good.spk >/dev/null 2>&1
cd ..
pkgid=$(sha256sum good.spk | head -c 32)

out=$("$SPK" verify good.spk 2>err)
if [ $? -eq 0 ] && [ ! -s err ]; then ok "verify succeeds silently on stderr"; else not_ok "verify succeeds"; diag "$(cat err)"; fi
echo "$out" | grep -qF "\"appId\": \"$appid\"" && ok "appId is the signing key's id" || { not_ok "appId"; diag "$out"; }
echo "$out" | grep -qF "\"packageId\": \"$pkgid\"" && ok "packageId is sha256 of the file, 32 hex" || { not_ok "packageId"; diag "$out"; }
echo "$out" | grep -qF '"title": {"defaultText": "Example App"}' && ok "title from the manifest" || not_ok "title"
echo "$out" | grep -qF '"marketingVersion": {"defaultText": "0.0.0"}' && ok "marketing version" || not_ok "marketing version"
[ "$("$SPK" verify -d good.spk)" = "$out" ] && ok "-d is accepted and changes nothing" || not_ok "-d"
[ "$("$SPK" verify --details good.spk)" = "$out" ] && ok "--details likewise" || not_ok "--details"
[ "$("$SPK" verify - < good.spk)" = "$out" ] && ok "reads the package from stdin with -" || not_ok "stdin"
cat good.spk | "$SPK" verify - | grep -qF "\"packageId\": \"$pkgid\"" && ok "package id from a pipe" || not_ok "pipe"
"$SPK" verify --help | grep -q "verify" && ok "--help" || not_ok "--help"

printf 'XXXXXXXXjunk' > magic.spk
check_fails "bad magic" "bad magic number" "$SPK" verify magic.spk
head -c 200 good.spk > trunc.spk
check_fails "truncated xz" "truncated" "$SPK" verify trunc.spk
cp good.spk flip.spk
printf '\000' | dd of=flip.spk bs=1 seek=300 conv=notrunc 2>/dev/null
check_fails "corrupt xz" "corrupt" "$SPK" verify flip.spk
: > empty.spk
check_fails "empty file" "" "$SPK" verify empty.spk
check_fails "missing file" "missing.spk" "$SPK" verify missing.spk
check_fails "directory instead of file" "" "$SPK" verify app
check_fails "no argument" "" "$SPK" verify

# A package whose signature is valid but whose archive was changed: re-sign nothing, only recompress
# a modified payload.
tail -c +9 good.spk | xz -dc > payload
python3 - payload <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[-1] ^= 0xff
open(p, 'wb').write(bytes(b))
PY
{ printf '\217\306\315\357\105\032\352\226'; xz -c payload; } > tampered.spk
check_fails "archive changed after signing" "Signature didn't match package contents." "$SPK" verify tampered.spk

# Trailing bytes after the archive are hashed too, so appending them breaks the signature.
tail -c +9 good.spk | xz -dc > payload2
printf 'extra' >> payload2
{ printf '\217\306\315\357\105\032\352\226'; xz -c payload2; } > trailing.spk
check_fails "bytes appended inside the stream" "Signature didn't match package contents." "$SPK" verify trailing.spk

done_testing
