#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# spk keygen, listkeys and getkey (sandstorm-spec.md §1.9, §2), and the keys init and pack use.
. "$SOURCE_ROOT/tests/lib/tap.sh"

HOME=$TAP_TMP
export HOME
umask 022

hexof() { od -An -v -tx1 "$1" | tr -d ' \n'; }

# ------------------------------------------------------------------------------------------------
# keygen

id1=$("$SPK" keygen -k keyring 2>err.txt)
if [ $? -eq 0 ] && echo "$id1" | grep -Eqx '[0-9ac-hjkmnp-z]{52}'; then
        ok "keygen prints a 52-character app id"
else
        not_ok "keygen prints a 52-character app id"; diag "$id1"; diag "$(cat err.txt)"
fi
grep -q "keyring" err.txt && ok "keygen reminds to back the keyring up" || not_ok "keygen reminds to back the keyring up"
id2=$("$SPK" keygen -k keyring -q 2>err.txt)
[ ! -s err.txt ] && ok "keygen -q is quiet" || { not_ok "keygen -q is quiet"; diag "$(cat err.txt)"; }
[ "$id1" != "$id2" ] && ok "every key is new" || not_ok "every key is new"
[ "$(stat -c %a keyring)" = 600 ] && ok "keyring mode 0600" || not_ok "keyring mode 0600"
[ "$(wc -c <keyring)" -eq 256 ] && ok "two KeyFile messages of 128 bytes" || not_ok "two KeyFile messages of 128 bytes"
# Each message: one segment of 15 words, root (0 data, 2 ptrs), 32 + 64 bytes of key (§2).
head -c 24 keyring >first
[ "$(hexof first)" = 000000000f00000000000000000002000500000002010000 ] &&
        ok "KeyFile framing and root" || { not_ok "KeyFile framing and root"; diag "$(hexof first)"; }

# The default keyring is ~/.sandstorm-keyring.
id3=$("$SPK" keygen -q)
[ -s "$HOME/.sandstorm-keyring" ] && ok "default keyring in \$HOME" || not_ok "default keyring in \$HOME"

# ------------------------------------------------------------------------------------------------
# listkeys

out=$("$SPK" listkeys -k keyring)
[ "$out" = "$(printf '%s\n%s' "$id1" "$id2")" ] && ok "listkeys: every key, in file order" ||
        { not_ok "listkeys: every key, in file order"; diag "$out"; }
[ "$("$SPK" listkeys)" = "$id3" ] && ok "listkeys reads the default keyring" || not_ok "listkeys reads the default keyring"
cat keyring "$HOME/.sandstorm-keyring" >merged
[ "$("$SPK" listkeys -k merged | tr '\n' ' ')" = "$id1 $id2 $id3 " ] &&
        ok "keyrings merge with cat" || not_ok "keyrings merge with cat"
check_fails "listkeys of a missing keyring" "does not exist" "$SPK" listkeys -k nothere
head -c 100 keyring >broken
check_fails "listkeys of a truncated keyring" "Invalid key in keyring" "$SPK" listkeys -k broken

# ------------------------------------------------------------------------------------------------
# getkey

"$SPK" getkey -k keyring "$id2" >one 2>err.txt
if [ $? -eq 0 ] && [ "$(wc -c <one)" -eq 128 ] && [ "$("$SPK" listkeys -k one)" = "$id2" ]; then
        ok "getkey writes a keyring with that key"
else
        not_ok "getkey writes a keyring with that key"; diag "$(cat err.txt)"
fi
tail -c 128 keyring >second
cmp -s one second && ok "getkey: the exact KeyFile bytes" || not_ok "getkey: the exact KeyFile bytes"
upper=$(echo "$id1" | tr 'a-z' 'A-Z')
"$SPK" getkey -k keyring "$upper" "$id2" >two 2>/dev/null
[ "$("$SPK" listkeys -k two | tr '\n' ' ')" = "$id1 $id2 " ] && ok "getkey: several ids, either case" ||
        not_ok "getkey: several ids, either case"
check_fails "getkey of an unknown id" "is not in keyring" "$SPK" getkey -k keyring "$id3"
check_fails "getkey of an invalid id" "Invalid app ID 'abc'" "$SPK" getkey -k keyring abc
check_fails "getkey without ids" "Expected at least one app ID" "$SPK" getkey -k keyring

# ------------------------------------------------------------------------------------------------
# The keys init makes and pack uses

mkdir app && printf 'x\n' >app/file
"$SPK" init -q -k keyring -r -I app -A -- /bin/app >/dev/null 2>&1
new=$(sed -n 's/^  id = "\(.*\)",$/\1/p' sandstorm-pkgdef.capnp)
"$SPK" listkeys -k keyring | grep -qx "$new" && ok "init appends its key to the keyring" ||
        not_ok "init appends its key to the keyring"
"$SPK" getkey -k keyring "$new" >only-new 2>/dev/null
out=$("$SPK" pack -k only-new app.spk 2>err.txt)
[ "$out" = "$new" ] && ok "pack signs with a key extracted by getkey" || { not_ok "pack signs with a key extracted by getkey"; diag "$(cat err.txt)"; }

done_testing
