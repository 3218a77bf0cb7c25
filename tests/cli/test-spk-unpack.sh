#!/bin/sh
# spk unpack: the tree comes back exactly, atomically, and nothing is left after a failure.
. "$SOURCE_ROOT/tests/lib/tap.sh"

export HOME="$TAP_TMP" SPK_BRIDGE_PATH=/bin/true SOURCE_DATE_EPOCH=1700000000
umask 022
mkdir -p src/sub/deeper && cd src
echo '<p>hi</p>' > index.html
printf '#!/bin/sh\necho run\n' > run.sh && chmod 755 run.sh
printf 'x%.0s' $(seq 1 300000) > sub/big.txt
echo deep > sub/deeper/file
ln -s sub/deeper/file link
ln -s /etc/passwd abs-link
touch -h -d '2001-02-03 04:05:06.789' sub/deeper/file
appid=$("$SPK" keygen -q)
"$SPK" init -q -i "$appid" -p 8000 -A -I . -- /run.sh >/dev/null 2>&1
"$SPK" pack ../app.spk >/dev/null 2>&1
cd ..

out=$("$SPK" unpack app.spk 2>err)
[ $? -eq 0 ] && ok "unpack succeeds" || { not_ok "unpack"; diag "$(cat err)"; }
[ "$out" = "$appid" ] && ok "prints the app id" || { not_ok "prints the app id"; diag "$out"; }
[ -f app/index.html ] && ok "default output directory is the name without .spk" || not_ok "default outdir"

"$SPK" unpack app.spk out >/dev/null 2>&1 && ok "unpack into a named directory" || not_ok "named outdir"
for f in index.html run.sh sub/big.txt sub/deeper/file; do
        cmp -s "out/$f" "src/$f" && ok "$f comes back byte for byte" || not_ok "$f content"
done
[ "$(stat -c %s out/sub/big.txt)" = 300000 ] && ok "a 300 kB file (stored beyond the tree segment)" || not_ok "big file"
[ "$(stat -c %a out/run.sh)" = 755 ] && ok "executable: 0777 minus umask" || not_ok "exec mode $(stat -c %a out/run.sh)"
[ "$(stat -c %a out/index.html)" = 644 ] && ok "regular: 0666 minus umask" || not_ok "regular mode"
[ "$(stat -c %a out/sub)" = 755 ] && ok "directory: 0777 minus umask" || not_ok "dir mode"
[ "$(readlink out/link)" = sub/deeper/file ] && ok "relative symlink stored verbatim" || not_ok "symlink"
[ "$(readlink out/abs-link)" = /etc/passwd ] && ok "absolute symlink stored verbatim, not followed" || not_ok "abs symlink"
[ "$(stat -c %y out/sub/deeper/file)" = "2001-02-03 04:05:06.789000000 +0000" ] && ok "mtime with nanoseconds" \
        || not_ok "mtime $(stat -c %y out/sub/deeper/file)"
[ "$(stat -c %Y out/sandstorm-manifest)" = 0 ] && ok "generated manifest has mtime 0" || not_ok "manifest mtime"
for d in dev tmp var; do
        [ -d "out/$d" ] && [ -z "$(ls -A "out/$d")" ] && ok "empty $d/" || not_ok "empty $d/"
done
[ -f out/proc/cpuinfo ] && [ ! -s out/proc/cpuinfo ] && ok "empty proc/cpuinfo" || not_ok "proc/cpuinfo"

mkdir existing && echo keep > existing/file
check_fails "existing output directory is refused" "already exists" "$SPK" unpack app.spk existing
[ "$(cat existing/file)" = keep ] && ok "existing directory untouched" || not_ok "existing untouched"

"$SPK" unpack - piped < app.spk >/dev/null 2>&1 && [ -f piped/index.html ] && ok "unpack from stdin" || not_ok "stdin"

cp app.spk flip.spk
size=$(stat -c %s flip.spk)
printf '\000\000\000\000' | dd of=flip.spk bs=1 seek=$((size - 40)) conv=notrunc 2>/dev/null
before=$(ls -A | sort)
"$SPK" unpack flip.spk bad >/dev/null 2>&1
rc=$?
after=$(ls -A | sort)
[ $rc -ne 0 ] && ok "corrupt package refused" || not_ok "corrupt package refused"
[ "$before" = "$after" ] && ok "nothing left behind after a failed unpack" || { not_ok "left behind"; diag "$after"; }

done_testing
