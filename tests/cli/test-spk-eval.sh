#!/bin/sh
# spk eval: what a pkgdef means, as Cap'n Proto JSON (compared with Debian's capnp where present).
. "$SOURCE_ROOT/tests/lib/tap.sh"

export HOME="$TAP_TMP"
schema="$SOURCE_ROOT/tests/compat/schema"
"$SPK" init -q -p 8000 -- /app >/dev/null 2>&1

out=$("$SPK" eval 2>err)
[ $? -eq 0 ] && [ ! -s err ] && ok "eval of the default pkgdef" || { not_ok "eval"; diag "$(cat err)"; }
echo "$out" | grep -q '"appTitle": {"defaultText": "Example App"}' && ok "shows the manifest" || not_ok "manifest"
[ "$("$SPK" eval -p sandstorm-pkgdef.capnp:pkgdef)" = "$out" ] && ok "-p FILE:CONST" || not_ok "-p FILE:CONST"
"$SPK" eval -p sandstorm-pkgdef.capnp:myCommand | grep -q '"argv"' && ok "another constant" || not_ok "other const"

if command -v capnp >/dev/null; then
        want=$(capnp eval -ojson -I "$schema" sandstorm-pkgdef.capnp pkgdef)
        [ "$out" = "$want" ] && ok "identical to capnp eval -ojson" || { not_ok "differs from capnp"; diag "$want"; }
        "$SPK" eval -o binary > ours.bin
        capnp eval -obinary -I "$schema" sandstorm-pkgdef.capnp pkgdef > theirs.bin
        a=$(capnp convert binary:canonical -I "$schema" "$schema/sandstorm/package.capnp" PackageDefinition < ours.bin | od -An -tx1)
        b=$(capnp convert binary:canonical -I "$schema" "$schema/sandstorm/package.capnp" PackageDefinition < theirs.bin | od -An -tx1)
        [ -n "$a" ] && [ "$a" = "$b" ] && ok "-o binary encodes the same value as capnp" || not_ok "-o binary"
else
        skip "capnp not installed"
        skip "capnp not installed"
fi

check_fails "missing file" "nonexist.capnp" "$SPK" eval -p nonexist.capnp
printf '@0xbf5147cbbecf40c1;\nconst pkgdef :Text = 5;\n' > type.capnp
check_fails "type error names file:line:column" "type.capnp:2:22:" "$SPK" eval -p type.capnp
printf '@0xbf5147cbbecf40c1;\nconst pkgdef :Text = "unterminated;\n' > syntax.capnp
check_fails "syntax error names file:line" "syntax.capnp:2:" "$SPK" eval -p syntax.capnp
check_fails "unknown constant" "nothere" "$SPK" eval -p sandstorm-pkgdef.capnp:nothere
"$SPK" eval --help | grep -q eval && ok "--help" || not_ok "--help"

done_testing
