#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Builds an .spk the way Sandstorm's `spk pack` does (sandstorm-spec.md §1.1, §1.2), from an
# already encoded Archive message, using only Debian's capnp, openssl and xz:
#
#   SHA-512 of the archive bytes, Ed25519 signature of that digest, the 128-byte combined form
#   sig ‖ digest in a Signature message, both messages through xz, the magic in front.
#
# make-spk.sh [options] KEY.pem ARCHIVE.bin OUT.spk
#   -x MODE     how the payload is compressed (default single):
#               single   one xz stream, one block, CRC64
#               blocks   one stream, 64 KiB blocks compressed by two threads
#               concat   two streams back to back; padded: the same with stream padding after each
#               sha256, crc32, none   one stream with that integrity check
#               lzma     the legacy .lzma format, which `xz -dc` (Sandstorm's reader) also takes
#   -s FILE     append FILE to the archive before signing (signed trailing bytes)
#   -a FILE     append FILE after signing (trailing bytes the signature does not cover)
#   -f OFFSET   flip one byte of the archive after signing
#   -P FILE     store this raw 32-byte public key instead of KEY's own
#   -F combined|detached|shortkey   signature form (default combined; the others are malformed)
set -eu

here=$(dirname "$0")
schema="$here/../schema-archive/spk.capnp"
spkfmt="/usr/bin/python3 $here/spkfmt.py"

xzmode=single signed_tail='' unsigned_tail='' flip='' pubfile='' form=combined
while getopts x:s:a:f:P:F: opt; do
        case $opt in
        x) xzmode=$OPTARG ;;
        s) signed_tail=$OPTARG ;;
        a) unsigned_tail=$OPTARG ;;
        f) flip=$OPTARG ;;
        P) pubfile=$OPTARG ;;
        F) form=$OPTARG ;;
        *) exit 2 ;;
        esac
done
shift $((OPTIND - 1))
[ $# -eq 3 ] || { echo "usage: make-spk.sh [options] KEY.pem ARCHIVE.bin OUT.spk" >&2; exit 2; }
key=$1 archive=$2 out=$3

work=$(mktemp -d "${TMPDIR:-/tmp}/make-spk.XXXXXX")
trap 'rm -rf "$work"' EXIT

hex() { od -An -v -tx1 "$1" | tr -d ' \n'; }

cp "$archive" "$work/payload"
[ -z "$signed_tail" ] || cat "$signed_tail" >>"$work/payload"

openssl dgst -sha512 -binary <"$work/payload" >"$work/digest"
openssl pkeyutl -sign -rawin -inkey "$key" -in "$work/digest" -out "$work/sig"
[ "$(wc -c <"$work/sig")" -eq 64 ] || { echo "make-spk: signature is not 64 bytes" >&2; exit 1; }

if [ -n "$pubfile" ]; then
        cp "$pubfile" "$work/pub"
else
        openssl pkey -in "$key" -pubout -outform DER | tail -c 32 >"$work/pub"
fi
case $form in
combined) cat "$work/sig" "$work/digest" >"$work/sm" ;;
detached) cp "$work/sig" "$work/sm" ;;
shortkey) cat "$work/sig" "$work/digest" >"$work/sm"; head -c 31 "$work/pub" >"$work/pub31"; mv "$work/pub31" "$work/pub" ;;
*) echo "make-spk: unknown form $form" >&2; exit 2 ;;
esac

printf '(publicKey = 0x"%s", signature = 0x"%s")\n' "$(hex "$work/pub")" "$(hex "$work/sm")" |
        capnp encode "$schema" Signature >"$work/sigmsg"

[ -z "$flip" ] || $spkfmt flip "$work/payload" "$flip"
cat "$work/sigmsg" "$work/payload" >"$work/stream"
[ -z "$unsigned_tail" ] || cat "$unsigned_tail" >>"$work/stream"

size=$(wc -c <"$work/stream")
half=$((size / 2))
printf '\217\306\315\357\105\032\352\226' >"$work/spk"
case $xzmode in
single) xz -c -6 -T1 <"$work/stream" >>"$work/spk" ;;
blocks) xz -c -6 -T2 --block-size=65536 <"$work/stream" >>"$work/spk" ;;
sha256) xz -c -6 -T1 --check=sha256 <"$work/stream" >>"$work/spk" ;;
none) xz -c -6 -T1 --check=none <"$work/stream" >>"$work/spk" ;;
crc32) xz -c -6 -T1 --check=crc32 <"$work/stream" >>"$work/spk" ;;
lzma) xz -c -6 --format=lzma <"$work/stream" >>"$work/spk" ;;
concat | padded)
        head -c "$half" "$work/stream" | xz -c -T1 >>"$work/spk"
        [ "$xzmode" = concat ] || printf '\0\0\0\0' >>"$work/spk"
        tail -c +$((half + 1)) "$work/stream" | xz -c -T1 >>"$work/spk"
        [ "$xzmode" = concat ] || printf '\0\0\0\0\0\0\0\0' >>"$work/spk"
        ;;
*) echo "make-spk: unknown xz mode $xzmode" >&2; exit 2 ;;
esac
mv "$work/spk" "$out"
