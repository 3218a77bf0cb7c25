#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# spk init (sandstorm-spec.md §1.9, §3.1): the template, its options, and that what it writes is a
# package definition both our evaluator and Debian's capnp (with the reconstructed Sandstorm schemas)
# accept.
. "$SOURCE_ROOT/tests/lib/tap.sh"

SCHEMA_DIR=$SOURCE_ROOT/tests/compat/schema
HOME=$TAP_TMP
export HOME
umask 022

# ------------------------------------------------------------------------------------------------
# The default template

mkdir a && cd a || exit 1
if "$SPK" init -k ../keyring -p 8000 -- /opt/app/bin/server --listen 127.0.0.1 >out.txt 2>err.txt; then
        ok "init -p writes a template"
else
        not_ok "init -p writes a template"; diag "$(cat err.txt)"
fi
[ -s sandstorm-pkgdef.capnp ] && ok "sandstorm-pkgdef.capnp exists" || not_ok "sandstorm-pkgdef.capnp exists"
[ ! -s out.txt ] && ok "nothing on stdout" || { not_ok "nothing on stdout"; diag "$(cat out.txt)"; }
if [ "$(grep -c '' err.txt)" -eq 1 ] && grep -q "keyring '../keyring'" err.txt; then
        ok "one reminder on stderr to back the keyring up"
else
        not_ok "one reminder on stderr to back the keyring up"; diag "$(cat err.txt)"
fi

head -n1 sandstorm-pkgdef.capnp | grep -Eqx '@0x[89a-f][0-9a-f]{15};' &&
        ok "file id: 64 random bits, top bit set" || { not_ok "file id"; diag "$(head -n1 sandstorm-pkgdef.capnp)"; }
id=$("$SPK" listkeys -k ../keyring)
grep -q "^  id = \"$id\",\$" sandstorm-pkgdef.capnp &&
        ok "id is the new key's app id" || { not_ok "id is the new key's app id"; diag "listkeys: $id"; }
[ "$(stat -c %a ../keyring)" = 600 ] && ok "new keyring has mode 0600" || not_ok "new keyring has mode 0600"

# Every field of §3.1, the commented-out ones commented out.
for line in \
        'using Spk = import "/sandstorm/package.capnp";' \
        'const pkgdef :Spk.PackageDefinition = (' \
        '    appTitle = (defaultText = "Example App"),' \
        '    appMarketingVersion = (defaultText = "0.0.0"),' \
        '      ( nounPhrase = (defaultText = "instance"),' \
        '        command = .myCommand' \
        '    continueCommand = .myCommand,' \
        '        #appGrid = (svg = embed "path/to/appgrid-128x128.svg"),' \
        '        #grain = (svg = embed "path/to/grain-24x24.svg"),' \
        '        #market = (svg = embed "path/to/market-150x150.svg"),' \
        '        #marketBig = (svg = embed "path/to/market-big-300x300.svg"),' \
        '      website = "http://example.com",' \
        '      codeUrl = "http://example.com",' \
        '      license = (none = void),' \
        '      categories = [],' \
        '        contactEmail = "youremail@example.com",' \
        '        #pgpSignature = embed "path/to/pgp-signature",' \
        '        upstreamAuthor = "Example App Team",' \
        '      #pgpKeyring = embed "path/to/pgp-keyring",' \
        '      #description = (defaultText = embed "path/to/description.md"),' \
        '      shortDescription = (defaultText = "one-to-three words"),' \
        '        #(width = 746, height = 795, jpeg = embed "path/to/screenshot-1.jpeg"),' \
        '        #(width = 640, height = 480, png = embed "path/to/screenshot-2.png"),' \
        '      #changeLog = (defaultText = embed "path/to/sandstorm-specific/changelog.md"),' \
        '      ( sourcePath = "." ),  # the app'"'"'s own files, beside this file' \
        '        hidePaths = [ "home", "proc", "sys",' \
        '                      "etc/passwd", "etc/hosts", "etc/host.conf",' \
        '                      "etc/nsswitch.conf", "etc/resolv.conf" ]' \
        '  fileList = "sandstorm-files.list",' \
        '  alwaysInclude = [],' \
        '  #bridgeConfig = (' \
        '  #    permissions = [' \
        '  #      ( name = "editor",' \
        '  #  #apiPath = "/api/",' \
        'const myCommand :Spk.Manifest.Command = (' \
        '  argv = ["/sandstorm-http-bridge", "8000", "--", "/opt/app/bin/server", "--listen", "127.0.0.1"],' \
        '    (key = "PATH", value = "/usr/local/bin:/usr/bin:/bin"),' \
        '    (key = "SANDSTORM", value = "1"),'; do
        if grep -qxF -- "$line" sandstorm-pkgdef.capnp; then
                ok "template has: $line"
        else
                not_ok "template has: $line"
        fi
done

check_fails "an existing sandstorm-pkgdef.capnp is kept" "sandstorm-pkgdef.capnp already exists" \
        "$SPK" init -k ../keyring -p 8000 -- /bin/true
cp sandstorm-pkgdef.capnp keep
[ "$(wc -c <../keyring)" -eq 128 ] && ok "refused init added no key" || not_ok "refused init added no key"

# -o elsewhere works beside it, and -o - writes to stdout only.
check "-o writes elsewhere" "$SPK" init -q -k ../keyring -o other.capnp -r -- /bin/app
[ -s other.capnp ] && ok "other.capnp written" || not_ok "other.capnp written"
cmp -s keep sandstorm-pkgdef.capnp && ok "the existing pkgdef is untouched" || not_ok "the existing pkgdef is untouched"
"$SPK" init -q -i "$id" -o - -p 1024 -- /bin/app >stdout.capnp 2>err.txt
if [ $? -eq 0 ] && [ ! -s err.txt ] && head -n1 stdout.capnp | grep -q '^@0x'; then
        ok "-o - writes the template to stdout"
else
        not_ok "-o - writes the template to stdout"; diag "$(cat err.txt)"
fi
[ "$(wc -c <../keyring)" -eq 256 ] && ok "-i generates no key" || not_ok "-i generates no key"
cd .. || exit 1

# ------------------------------------------------------------------------------------------------
# Variants: -i, -r, -I, -A

mkdir b && cd b || exit 1
upper=$(echo "vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0" | tr 'a-z' 'A-Z')
check "init -i -r -I -I" "$SPK" init -i "$upper" -r -I app -I '/we"ird\path' -- /app/run "a b" 'q"x'
[ ! -e "$HOME/.sandstorm-keyring" ] && ok "no keyring written with -i" ||
        not_ok "no keyring written with -i"
grep -qxF '  id = "vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0",' sandstorm-pkgdef.capnp &&
        ok "-i id written in canonical form" || not_ok "-i id written in canonical form"
grep -qxF '  argv = ["/app/run", "a b", "q\"x"],' sandstorm-pkgdef.capnp &&
        ok "-r: the command alone, quoted" || { not_ok "-r: the command alone, quoted"; diag "$(grep argv sandstorm-pkgdef.capnp)"; }
grep -qxF '      ( sourcePath = "app" ),' sandstorm-pkgdef.capnp &&
        grep -qxF '      ( sourcePath = "/we\"ird\\path" )' sandstorm-pkgdef.capnp &&
        ok "-I: one mapping each, quoted" || { not_ok "-I: one mapping each, quoted"; diag "$(grep sourcePath sandstorm-pkgdef.capnp)"; }
grep -q 'hidePaths = ' sandstorm-pkgdef.capnp && not_ok "-I drops the default mappings" || ok "-I drops the default mappings"
grep -qxF '  fileList = "sandstorm-files.list",' sandstorm-pkgdef.capnp && ok "without -A: a file list" ||
        not_ok "without -A: a file list"
cd .. || exit 1

mkdir c && cd c || exit 1
check "init -A" "$SPK" init -q -k ../keyring -p 65535 -I . -A -- /bin/app
grep -qxF '  alwaysInclude = [ "." ],' sandstorm-pkgdef.capnp && ok "-A: alwaysInclude = [\".\"]" ||
        not_ok "-A: alwaysInclude = [\".\"]"
grep -q 'fileList\|bridgeConfig' sandstorm-pkgdef.capnp && not_ok "-A: no fileList, no bridgeConfig" ||
        ok "-A: no fileList, no bridgeConfig"
cd .. || exit 1

# ------------------------------------------------------------------------------------------------
# Usage errors: one line, exit 1, nothing written

mkdir d && cd d || exit 1
check_fails "-p and -r together" "-p and -r cannot be combined" "$SPK" init -k ../keyring -p 8000 -r -- /bin/app
check_fails "neither -p nor -r" "one of -p PORT or -r is required" "$SPK" init -k ../keyring -- /bin/app
check_fails "port below 1024" "invalid port '1023'" "$SPK" init -k ../keyring -p 1023 -- /bin/app
check_fails "port above 65535" "invalid port '65536'" "$SPK" init -k ../keyring -p 65536 -- /bin/app
check_fails "port not a number" "invalid port '80x'" "$SPK" init -k ../keyring -p 80x -- /bin/app
check_fails "-A without -I" "-A needs at least one -I" "$SPK" init -k ../keyring -p 8000 -A -- /bin/app
check_fails "no command" "missing the command" "$SPK" init -k ../keyring -p 8000 --
check_fails "bad -i" "invalid app id 'xyz'" "$SPK" init -i xyz -p 8000 -- /bin/app
[ -z "$(ls -A)" ] && ok "usage errors write nothing" || { not_ok "usage errors write nothing"; diag "$(ls -A)"; }
[ "$(wc -c <../keyring)" -eq 384 ] && ok "usage errors add no key" || not_ok "usage errors add no key"
cd .. || exit 1

# ------------------------------------------------------------------------------------------------
# The templates evaluate: with our spk (by packing them) and with Debian's capnp.

mkdir e && cd e || exit 1
mkdir app && printf 'hello\n' >app/index.html
"$SPK" init -q -k ../keyring -r -I app -A -- /bin/app >/dev/null 2>&1
if "$SPK" pack -k ../keyring e.spk >out.txt 2>err.txt && [ -s e.spk ]; then
        ok "an -A template packs as written"
else
        not_ok "an -A template packs as written"; diag "$(cat err.txt)"
fi
cd .. || exit 1

if command -v capnp >/dev/null && [ -f "$SCHEMA_DIR/sandstorm/package.capnp" ]; then
        for f in a/sandstorm-pkgdef.capnp a/other.capnp a/stdout.capnp b/sandstorm-pkgdef.capnp c/sandstorm-pkgdef.capnp; do
                if out=$(capnp eval -I "$SCHEMA_DIR" "$f" pkgdef 2>&1); then ok "capnp eval $f"; else
                        not_ok "capnp eval $f"; diag "$out"; fi
        done
        argv=$(capnp eval -I "$SCHEMA_DIR" a/sandstorm-pkgdef.capnp myCommand.argv 2>&1)
        [ "$argv" = '["/sandstorm-http-bridge", "8000", "--", "/opt/app/bin/server", "--listen", "127.0.0.1"]' ] &&
                ok "capnp sees the bridge command" || { not_ok "capnp sees the bridge command"; diag "$argv"; }
        argv=$(capnp eval -I "$SCHEMA_DIR" b/sandstorm-pkgdef.capnp myCommand.argv 2>&1)
        [ "$argv" = '["/app/run", "a b", "q\"x"]' ] && ok "capnp reads the quoted command back" ||
                { not_ok "capnp reads the quoted command back"; diag "$argv"; }

        # The commented-out bridgeConfig is valid once uncommented, for capnp and for spk.
        sed -e '/^  #bridgeConfig = (/,/^  #),/ s/^  #/  /' a/sandstorm-pkgdef.capnp >a/bridged.capnp
        if out=$(capnp eval -I "$SCHEMA_DIR" a/bridged.capnp pkgdef.bridgeConfig.viewInfo.roles 2>&1) &&
           echo "$out" | grep -q 'can make changes to the document'; then
                ok "uncommented bridgeConfig evaluates"
        else
                not_ok "uncommented bridgeConfig evaluates"; diag "$out"
        fi
else
        skip "capnp or the reconstructed schemas are missing"
fi

done_testing
