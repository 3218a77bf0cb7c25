#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What spk pack does with bad input: every failure exits non-zero with exactly one line on stderr that
# says what is wrong, and leaves nothing behind.
. "$SOURCE_ROOT/tests/lib/tap.sh"

HOME=$TAP_TMP
export HOME
unset SOURCE_DATE_EPOCH
umask 022

id=$("$SPK" keygen -k keyring -q) || { not_ok "keygen"; done_testing; exit 1; }
mkdir app out
printf 'x\n' >app/file
printf '#!/bin/sh\n' >bridge && chmod 755 bridge
SPK_BRIDGE_PATH=$TAP_TMP/bridge
export SPK_BRIDGE_PATH

# pkgdef FILE ID [FIELDS...]: a package definition with the given extra fields.
pkgdef() {
        file=$1 appid=$2; shift 2
        {
                echo '@0xe2a3b0c1d2e3f406;'
                echo 'using Spk = import "/sandstorm/package.capnp";'
                echo 'const pkgdef :Spk.PackageDefinition = ('
                echo "  id = \"$appid\","
                echo '  manifest = (appTitle = (defaultText = "T"), appMarketingVersion = (defaultText = "1"),'
                echo '              continueCommand = (argv = ["/bin/app"])),'
                echo '  sourceMap = (searchPath = [ (sourcePath = "app") ]),'
                for f in "$@"; do echo "  $f,"; done
                echo ');'
        } >"$file"
}

# fails DESC TEXT PKGDEF [ARGS...]: spk pack -p PKGDEF ARGS... out/x.spk fails with TEXT, leaving out/ empty.
fails() {
        desc=$1 text=$2 def=$3; shift 3
        check_fails "$desc" "$text" "$SPK" pack -k keyring -p "$def" "$@" out/x.spk
        [ -z "$(ls -A out)" ] || { not_ok "$desc: nothing left behind"; diag "$(ls -A out)"; rm -rf out/* out/.[!.]*; }
}

# ------------------------------------------------------------------------------------------------
# The package definition

printf '@0xe2a3b0c1d2e3f407;\nusing Spk = import "/sandstorm/package.capnp";\nconst pkgdef :Spk.PackageDefinition = (\n  id = 5,\n);\n' >type.capnp
fails "a type error names FILE:LINE:COLUMN" "type.capnp:4:8: " type.capnp
printf '@0xe2a3b0c1d2e3f408;\nusing Spk = import "/sandstorm/package.capnp";\nconst pkgdef :Spk.PackageDefinition = (\n  id "x",\n);\n' >syntax.capnp
fails "a syntax error names FILE:LINE" "syntax.capnp:4:" syntax.capnp
printf '@0xe2a3b0c1d2e3f409;\nusing Spk = import "/sandstorm/package.capnp";\nconst pkgdef :Spk.Manifest.Command = (argv = ["a"]);\n' >wrong.capnp
fails "a constant of another type" "wrong.capnp: 'pkgdef' is a Manifest.Command, not a PackageDefinition" wrong.capnp
fails "a missing constant" "'nope'" wrong.capnp:nope
fails "a missing pkgdef file" "missing.capnp" missing.capnp

pkgdef notitle.capnp "$id" 'alwaysInclude = ["."]'
sed -i 's/appTitle = (defaultText = "T"), //' notitle.capnp
fails "no appTitle" "notitle.capnp: manifest.appTitle is missing" notitle.capnp
pkgdef api.capnp "$id" 'alwaysInclude = ["."]'
sed -i 's/appMarketingVersion/maxApiVersion = 1, appMarketingVersion/' api.capnp
fails "an API version this spk does not know" "api.capnp: the manifest asks for API version 1" api.capnp
pkgdef badid.capnp "not-an-app-id" 'alwaysInclude = ["."]'
fails "an invalid app id" "badid.capnp: pkgdef.id 'not-an-app-id' is not a valid app id" badid.capnp

# ------------------------------------------------------------------------------------------------
# Keys

pkgdef good.capnp "$id" 'alwaysInclude = ["."]'
other=$("$SPK" keygen -k otherkeyring -q)
pkgdef otherid.capnp "$other" 'alwaysInclude = ["."]'
fails "no key for the app id" "No key for app id $other in keyring 'keyring'" otherid.capnp
check_fails "a missing keyring" "keyring 'nokeyring' does not exist" \
        "$SPK" pack -k nokeyring -p good.capnp out/x.spk
# Sandstorm's example entry: packages for the original app id are signed with the replacement key.
pkgdef replaced.capnp vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0 'alwaysInclude = ["."]'
fails "the replacement key is the one needed" \
        "No key for app id wq95qmutckc0yfmecv0ky96cqxgp156up8sv81yxvmery58q87jh (the replacement key of vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0)" \
        replaced.capnp

# ------------------------------------------------------------------------------------------------
# Files

pkgdef list.capnp "$id" 'fileList = "files.list"'
printf 'sandstorm-manifest\nfile\nnothere/file\n' >files.list
fails "a file-list entry that maps to nothing" "No file found to satisfy requirement: nothere/file" list.capnp
printf 'sandstorm-manifest\n/file\n' >files.list
fails "a file-list entry with a leading /" "files.list:2: package paths must not start with '/': '/file'" list.capnp
printf 'sandstorm-manifest\n\nfile/../file\n' >files.list
fails "a file-list entry with .." "files.list:3: invalid package path 'file/../file'" list.capnp
printf 'file\n' >files.list
fails "no sandstorm-manifest anywhere" "would have no sandstorm-manifest" list.capnp
rm files.list
fails "a missing file list" "Failed to read file list 'files.list'" list.capnp
pkgdef badinc.capnp "$id" 'alwaysInclude = ["../etc"]'
fails "an alwaysInclude path with .." "badinc.capnp: invalid alwaysInclude path '../etc'" badinc.capnp

truncate -s 512M app/huge
fails "a file of 512 MiB" "files must be smaller than 512 MiB" good.capnp
rm app/huge

# The bridge.
pkgdef bridged.capnp "$id" 'alwaysInclude = ["."]' 'bridgeConfig = (apiPath = "/api/")'
SPK_BRIDGE_PATH=$TAP_TMP/nowhere/bridge
fails "the bridge is needed but missing" \
        "The package needs sandstorm-http-bridge, but '$TAP_TMP/nowhere/bridge' cannot be used" bridged.capnp
SPK_BRIDGE_PATH=$TAP_TMP/bridge

# ------------------------------------------------------------------------------------------------
# The command line and the output

printf 'precious\n' >out/x.spk
check_fails "an existing output file" "Output file 'out/x.spk' already exists" \
        "$SPK" pack -k keyring -p good.capnp out/x.spk
[ "$(cat out/x.spk)" = precious ] && [ "$(ls -A out)" = x.spk ] && ok "the existing file is untouched" ||
        not_ok "the existing file is untouched"
rm out/x.spk
check_fails "no output file named" "expected exactly one output file" "$SPK" pack -k keyring -p good.capnp
check_fails "two output files" "expected exactly one output file" "$SPK" pack -k keyring -p good.capnp a.spk b.spk
SOURCE_DATE_EPOCH=yesterday
export SOURCE_DATE_EPOCH
fails "a bad SOURCE_DATE_EPOCH" "Invalid SOURCE_DATE_EPOCH 'yesterday'" good.capnp
unset SOURCE_DATE_EPOCH
check_fails "an output directory that does not exist" "nodir/x.spk" \
        "$SPK" pack -k keyring -p good.capnp nodir/x.spk
check_fails "an unknown option" "pack: unknown option '--bogus'" "$SPK" pack --bogus out/x.spk
check_fails "an option without its argument" "pack: option '-k' needs an argument" "$SPK" pack -k
check_fails "an unknown command" "Unknown command 'pakc'" "$SPK" pakc
check_fails "no command" "Missing command" "$SPK"

# And a good one, to show the setup above was sound.
check "the good pkgdef packs" "$SPK" pack -k keyring -p good.capnp out/x.spk

done_testing
