#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# spk pack (sandstorm-spec.md §1, §3.2, §3.5): what goes into a package and how, reproducibility, and
# that spk's own verify and unpack, xz and Debian's capnp read the result.
. "$SOURCE_ROOT/tests/lib/tap.sh"

SCHEMA_DIR=$SOURCE_ROOT/tests/compat/schema
HOME=$TAP_TMP
export HOME
unset SOURCE_DATE_EPOCH
umask 022

# mtime in seconds, following no symlink.
mtime() { stat -c %Y -- "$1"; }
# The sorted list of paths below a directory.
tree() { (cd "$1" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort | tr '\n' ' '); }
# Sets a file's mtime to the given epoch seconds.
touch_at() { touch -h -d "@$1" -- "$2"; }

id=$("$SPK" keygen -k keyring -q) || { not_ok "keygen"; done_testing; exit 1; }

mkdir -p app/bin app/static app/secret app/var
printf '#!/bin/sh\necho hello\n' >app/bin/server && chmod 755 app/bin/server
printf 'not executable\n' >app/bin/tool && chmod 644 app/bin/tool
printf 'group-executable only\n' >app/bin/gx && chmod 654 app/bin/gx
printf '<h1>hi</h1>\n' >app/static/index.html
printf 'hidden\n' >app/secret/key
printf 'the sandbox mounts over /var\n' >app/var/junk
printf 'never from disk\n' >app/sandstorm-manifest
ln -s bin/server app/link
touch_at 978307200 app/bin/server
touch_at 978307201 app/bin/tool
touch_at 978307202 app/link
touch_at 978307203 app/bin
printf '#!/bin/sh\n# a stand-in bridge\n' >bridge && chmod 755 bridge
SPK_BRIDGE_PATH=$TAP_TMP/bridge
export SPK_BRIDGE_PATH

cat >sandstorm-pkgdef.capnp <<EOF
@0xe2a3b0c1d2e3f405;
using Spk = import "/sandstorm/package.capnp";
const pkgdef :Spk.PackageDefinition = (
  id = "$id",
  manifest = (
    appTitle = (defaultText = "Pack Test"),
    appVersion = 3,
    appMarketingVersion = (defaultText = "3.0"),
    actions = [ ( nounPhrase = (defaultText = "thing"), command = .cmd ) ],
    continueCommand = .cmd,
  ),
  sourceMap = ( searchPath = [ ( sourcePath = "app", hidePaths = [ "secret" ] ) ] ),
  alwaysInclude = [ "." ],
);
const cmd :Spk.Manifest.Command = (
  argv = ["/sandstorm-http-bridge", "8000", "--", "/bin/server"],
  environ = [ (key = "PATH", value = "/bin") ],
);
EOF

# ------------------------------------------------------------------------------------------------
# A whole-tree package

if out=$("$SPK" pack -k keyring a.spk 2>err.txt) && [ "$out" = "$id" ] && [ ! -s err.txt ]; then
        ok "pack prints the signing app id, nothing on stderr"
else
        not_ok "pack prints the signing app id, nothing on stderr"; diag "out: $out"; diag "$(cat err.txt)"
fi
magic=$(head -c 8 a.spk | od -An -tx1 | tr -d ' \n')
[ "$magic" = 8fc6cdef451aea96 ] && ok "magic number" || { not_ok "magic number"; diag "$magic"; }
if command -v xz >/dev/null; then
        tail -c +9 a.spk | xz -t 2>/dev/null && ok "xz accepts the payload" || not_ok "xz accepts the payload"
else
        skip "xz is missing"
fi
[ -z "$(ls -A | grep -v -e '^a.spk$' -e '^app$' -e '^bridge$' -e '^keyring$' -e '^sandstorm-pkgdef.capnp$' -e '^err.txt$')" ] &&
        ok "no temporary files left" || { not_ok "no temporary files left"; diag "$(ls -A)"; }

check "verify accepts it" "$SPK" verify a.spk
"$SPK" verify a.spk 2>/dev/null | grep -q "$id" && ok "verify names the app id" || not_ok "verify names the app id"

# Reproducible: same tree, pkgdef, key and SOURCE_DATE_EPOCH give the same bytes.
SOURCE_DATE_EPOCH=1700000000 "$SPK" pack -k keyring r1.spk >/dev/null 2>&1
SOURCE_DATE_EPOCH=1700000000 "$SPK" pack -k keyring r2.spk >/dev/null 2>&1
if [ -s r1.spk ] && cmp -s r1.spk r2.spk; then ok "SOURCE_DATE_EPOCH: byte-identical packages"; else
        not_ok "SOURCE_DATE_EPOCH: byte-identical packages"; fi
SOURCE_DATE_EPOCH=1700000001 "$SPK" pack -k keyring r3.spk >/dev/null 2>&1
cmp -s r1.spk r3.spk && not_ok "another SOURCE_DATE_EPOCH, other bytes" || ok "another SOURCE_DATE_EPOCH, other bytes"

check "unpack" "$SPK" unpack r1.spk un
want="bin bin/gx bin/server bin/tool dev link proc proc/cpuinfo sandstorm-http-bridge sandstorm-http-bridge-config sandstorm-manifest static static/index.html tmp var "
got=$(tree un)
[ "$got" = "$want" ] && ok "exactly the expected entries (hidden, /var contents and on-disk manifest left out)" ||
        { not_ok "exactly the expected entries"; diag "got:  $got"; diag "want: $want"; }
[ -x un/bin/server ] && [ ! -x un/bin/tool ] && [ ! -x un/bin/gx ] &&
        ok "executable = the owner-exec bit" || not_ok "executable = the owner-exec bit"
[ -L un/link ] && [ "$(readlink un/link)" = bin/server ] && ok "symlink kept" || not_ok "symlink kept"
cmp -s un/bin/server app/bin/server && cmp -s un/static/index.html app/static/index.html &&
        ok "contents kept" || not_ok "contents kept"
cmp -s un/sandstorm-http-bridge bridge && [ -x un/sandstorm-http-bridge ] &&
        ok "the bridge is copied in, executable" || not_ok "the bridge is copied in, executable"
[ "$(mtime un/bin/server)" = 978307200 ] && [ "$(mtime un/bin/tool)" = 978307201 ] &&
        [ "$(mtime un/link)" = 978307202 ] && [ "$(mtime un/bin)" = 978307203 ] &&
        ok "mtimes kept (files, symlinks, directories)" ||
        { not_ok "mtimes kept"; diag "$(stat -c '%n %Y' un/bin/server un/bin/tool un/link un/bin)"; }
[ "$(mtime un/dev)" = 1700000000 ] && [ "$(mtime un/tmp)" = 1700000000 ] && [ "$(mtime un/var)" = 1700000000 ] &&
        ok "dev, tmp, var: the pack time" || { not_ok "dev, tmp, var: the pack time"; diag "$(stat -c '%n %Y' un/dev)"; }
[ "$(mtime un/proc/cpuinfo)" = 0 ] && [ "$(mtime un/sandstorm-manifest)" = 0 ] &&
        [ "$(mtime un/sandstorm-http-bridge-config)" = 0 ] && [ ! -s un/proc/cpuinfo ] &&
        ok "generated files: mtime 0" || not_ok "generated files: mtime 0"
[ -z "$(ls -A un/var)$(ls -A un/tmp)$(ls -A un/dev)" ] && ok "dev, tmp, var are empty" || not_ok "dev, tmp, var are empty"

# The manifest in the package is pkgdef.manifest, as Debian's capnp sees both.
if command -v capnp >/dev/null && [ -f "$SCHEMA_DIR/sandstorm/package.capnp" ]; then
        a=$(capnp decode -I "$SCHEMA_DIR" "$SCHEMA_DIR/sandstorm/package.capnp" Manifest <un/sandstorm-manifest 2>&1)
        b=$(capnp eval -I "$SCHEMA_DIR" sandstorm-pkgdef.capnp pkgdef.manifest 2>&1)
        [ -n "$a" ] && [ "$a" = "$b" ] && ok "capnp: sandstorm-manifest = pkgdef.manifest" ||
                { not_ok "capnp: sandstorm-manifest = pkgdef.manifest"; diag "$a"; diag "$b"; }
        a=$(capnp decode -I "$SCHEMA_DIR" "$SCHEMA_DIR/sandstorm/package.capnp" BridgeConfig \
                <un/sandstorm-http-bridge-config 2>&1)
        [ "$a" = "(saveIdentityCaps = false, expectAppHooks = false)" ] &&
                ok "capnp: an empty BridgeConfig" || { not_ok "capnp: an empty BridgeConfig"; diag "$a"; }
else
        skip "capnp or the reconstructed schemas are missing"
        skip "capnp or the reconstructed schemas are missing"
fi

# ------------------------------------------------------------------------------------------------
# A file list (relative to the current directory) plus alwaysInclude

mkdir def && sed -e 's|alwaysInclude = \[ "." \],|fileList = "files.list", alwaysInclude = [ "static" ],|' \
        -e 's|sourcePath = "app"|sourcePath = "../app"|' -e 's|const pkgdef |const other |' \
        sandstorm-pkgdef.capnp >def/pkg.capnp
cat >files.list <<'EOF'
# *** WARNING: GENERATED FILE ***
sandstorm-manifest
sandstorm-http-bridge
   sandstorm-http-bridge-config   # the bridge reads it
bin/server#no space before the comment
.
var/lib/ignored
EOF
if out=$(SOURCE_DATE_EPOCH=1600000000 "$SPK" pack -k keyring -p def/pkg.capnp:other l.spk 2>err.txt) &&
   [ "$out" = "$id" ]; then
        ok "pack -p FILE:CONST with a file list"
else
        not_ok "pack -p FILE:CONST with a file list"; diag "$(cat err.txt)"
fi
"$SPK" unpack l.spk lun >/dev/null 2>&1
want="bin bin/server dev proc proc/cpuinfo sandstorm-http-bridge sandstorm-http-bridge-config sandstorm-manifest static static/index.html tmp var "
got=$(tree lun)
[ "$got" = "$want" ] && ok "listed files non-recursively, alwaysInclude recursively" ||
        { not_ok "listed files non-recursively, alwaysInclude recursively"; diag "got:  $got"; diag "want: $want"; }
[ "$(mtime lun/bin)" = 1600000000 ] && ok "a synthesized parent gets the pack time" ||
        { not_ok "a synthesized parent gets the pack time"; diag "$(mtime lun/bin)"; }
[ "$(mtime lun/static)" = "$(mtime app/static)" ] && ok "an included directory keeps its mtime" ||
        not_ok "an included directory keeps its mtime"

# ------------------------------------------------------------------------------------------------
# Oddities: a fifo is packed as an empty file with one warning; -I serves absolute embeds

mkdir odd && mkfifo odd/pipe && printf 'x\n' >odd/file
sed -e 's|sourcePath = "app"|sourcePath = "odd"|' -e 's|"/sandstorm-http-bridge", ||' sandstorm-pkgdef.capnp >odd.capnp
"$SPK" pack -k keyring -p odd.capnp odd.spk >/dev/null 2>err.txt
if [ $? -eq 0 ] && [ "$(grep -c '' err.txt)" -eq 1 ] && grep -q "'pipe' (.*) is not a regular file, directory or symlink; packing it as an empty file" err.txt; then
        ok "a fifo: one warning"
else
        not_ok "a fifo: one warning"; diag "$(cat err.txt)"
fi
"$SPK" unpack odd.spk oddun >/dev/null 2>&1
[ -f oddun/pipe ] && [ ! -s oddun/pipe ] && ok "a fifo becomes an empty regular file" ||
        not_ok "a fifo becomes an empty regular file"
[ ! -e oddun/sandstorm-http-bridge ] && [ ! -e oddun/sandstorm-http-bridge-config ] &&
        ok "no bridge for an app that does not run it" || not_ok "no bridge for an app that does not run it"

mkdir inc && printf 'from the import path\n' >inc/desc.md
sed -e 's|continueCommand = .cmd,|continueCommand = .cmd, metadata = (description = (defaultText = embed "/desc.md")),|' \
        odd.capnp >embed.capnp
check "pack -I DIR resolves an absolute embed" "$SPK" pack -k keyring -I inc -p embed.capnp embed.spk

done_testing
