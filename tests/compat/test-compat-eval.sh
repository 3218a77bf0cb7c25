#!/bin/sh
# spk eval against Debian's capnp: the same pkgdef files, evaluated by both, must give byte-identical
# `capnp eval -ojson` output and equal values (compared in canonical binary form); files with errors
# must fail in both, ours with one stderr line "spk: FILE:LINE:COLUMN: …" on the line capnp reports.
# The Sandstorm schemas capnp reads are our reconstructions in schema/sandstorm/, whose layouts must
# stay those the spec lists (a committed `capnp compile -ocapnp` listing, which test-capnp-schema also
# checks our compiled-in tables against).
#
# Files: eval/*.capnp evaluated constants are named on a line "# eval: NAME…" (default pkgdef); a
# "# binary: NAME…" line names constants that only compare in binary (AnyPointer, which capnp's JSON
# cannot print). eval/bad/ fail in both; eval/strict/ fail in ours only, where we are stricter.
. "$SOURCE_ROOT/tests/lib/tap.sh"

COMPAT="$SOURCE_ROOT/tests/compat"
SCHEMA="$COMPAT/schema"
OUT="$TAP_TMP"

if ! command -v capnp >/dev/null 2>&1; then
        skip "capnp is not installed (Debian package capnproto)"
        done_testing
        exit
fi

# The reconstructed schemas compile to the layouts of spec §3.3.
cd "$SCHEMA" || exit 1
if capnp compile -ocapnp sandstorm/package.capnp sandstorm/util.capnp sandstorm/grain.capnp \
        sandstorm/powerbox.capnp sandstorm/api-session.capnp sandstorm/identity.capnp \
        sandstorm/activity.capnp >"$OUT/layout.txt" 2>&1 &&
        cmp -s "$OUT/layout.txt" "$SOURCE_ROOT/tests/capnp/data/schema-layout.txt"; then
        ok "schema reconstructions compile to the committed layouts"
else
        not_ok "schema reconstructions compile to the committed layouts"
        diag "$(diff "$SOURCE_ROOT/tests/capnp/data/schema-layout.txt" "$OUT/layout.txt" | head -40)"
fi

cd "$COMPAT/eval" || exit 1

consts() { # consts FILE KEY DEFAULT
        line=$(sed -n "s/^# $2: *//p" "$1" | tr -d "\r" | head -n 1)
        echo "${line:-$3}"
}

compare_json() { # compare_json FILE CONST
        if ! capnp eval -ojson -I "$SCHEMA" "$1" "$2" >"$OUT/capnp.json" 2>"$OUT/capnp.err"; then
                not_ok "$1:$2: capnp eval fails"
                diag "$(head -5 "$OUT/capnp.err")"
                return
        fi
        if ! "$SPK" eval -I "$SCHEMA" -p "$1:$2" >"$OUT/spk.json" 2>"$OUT/spk.err"; then
                not_ok "$1:$2: spk eval fails"
                diag "$(cat "$OUT/spk.err")"
                return
        fi
        if cmp -s "$OUT/capnp.json" "$OUT/spk.json"; then
                ok "$1:$2: JSON identical to capnp eval -ojson"
        else
                not_ok "$1:$2: JSON identical to capnp eval -ojson"
                diag "$(diff "$OUT/capnp.json" "$OUT/spk.json" | head -20)"
        fi
}

compare_binary() { # compare_binary FILE CONST
        if capnp eval -obinary -I "$SCHEMA" "$1" "$2" 2>"$OUT/capnp.err" |
                capnp convert binary:canonical >"$OUT/capnp.bin" 2>>"$OUT/capnp.err" &&
                "$SPK" eval -I "$SCHEMA" -o binary -p "$1:$2" 2>"$OUT/spk.err" |
                capnp convert binary:canonical >"$OUT/spk.bin" 2>>"$OUT/spk.err" &&
                [ -s "$OUT/spk.bin" ] && cmp -s "$OUT/capnp.bin" "$OUT/spk.bin"; then
                ok "$1:$2: same value as capnp eval -obinary (canonical form)"
        else
                not_ok "$1:$2: same value as capnp eval -obinary (canonical form)"
                diag "$(cat "$OUT/capnp.err" "$OUT/spk.err" | head -10)"
        fi
}

n_files=0
for f in *.capnp; do
        n_files=$((n_files + 1))
        default=pkgdef
        grep -q '^# binary:' "$f" && default=
        for c in $(consts "$f" eval "$default"); do
                compare_json "$f" "$c"
                compare_binary "$f" "$c"
        done
        for c in $(consts "$f" binary ""); do
                compare_binary "$f" "$c"
                if capnp eval -ojson -I "$SCHEMA" "$f" "$c" >/dev/null 2>&1; then
                        not_ok "$f:$c: capnp eval -ojson refuses AnyPointer"
                else
                        check_fails "$f:$c: spk eval refuses AnyPointer like capnp" \
                                "spk: $f: '$c' holds an AnyPointer" "$SPK" eval -p "$f:$c"
                fi
        done
done
diag "$n_files pkgdef files compared with capnp eval"

# What our own `spk init` writes, in its -p and -A forms.
APPID=vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0
if "$SPK" init -o "$OUT/init-p.capnp" -i "$APPID" -p 8000 -- node "main file.js" >/dev/null 2>&1 &&
        "$SPK" init -o "$OUT/init-a.capnp" -i "$APPID" -r -A -I src -I /opt/app -- /bin/sh -c 'echo "$HOME"' \
                >/dev/null 2>&1; then
        for f in init-p init-a; do
                if capnp eval -ojson -I "$SCHEMA" "$OUT/$f.capnp" pkgdef >"$OUT/capnp.json" 2>"$OUT/capnp.err" &&
                        "$SPK" eval -p "$OUT/$f.capnp" >"$OUT/spk.json" 2>"$OUT/spk.err" &&
                        cmp -s "$OUT/capnp.json" "$OUT/spk.json"; then
                        ok "spk init template ($f): JSON identical to capnp eval -ojson"
                else
                        not_ok "spk init template ($f): JSON identical to capnp eval -ojson"
                        diag "$(cat "$OUT/capnp.err" "$OUT/spk.err"; diff "$OUT/capnp.json" "$OUT/spk.json" | head)"
                fi
        done
else
        not_ok "spk init writes templates"
fi

# The Sandstorm schemas are built in: no -I needed.
if "$SPK" eval -p init-port.capnp >"$OUT/noimport.json" 2>"$OUT/spk.err" &&
        capnp eval -ojson -I "$SCHEMA" init-port.capnp pkgdef >"$OUT/capnp.json" 2>/dev/null &&
        cmp -s "$OUT/noimport.json" "$OUT/capnp.json"; then
        ok "built-in schemas need no -I"
else
        not_ok "built-in schemas need no -I"
        diag "$(cat "$OUT/spk.err")"
fi

# Errors: both fail; ours is one line naming the file, line and column capnp names (columns differ
# where capnp reports the furthest token its parser tried).
for f in bad/*.capnp; do
        if capnp eval -ojson -I "$SCHEMA" "$f" pkgdef >/dev/null 2>"$OUT/capnp.err"; then
                not_ok "$f: capnp eval fails too"
                continue
        fi
        where=$(sed -n "s|^\($f:[0-9]*\):.*error:.*|\1|p" "$OUT/capnp.err" | head -n 1)
        if [ -z "$where" ]; then
                not_ok "$f: capnp eval names a line"
                diag "$(head -3 "$OUT/capnp.err")"
                continue
        fi
        check_fails "$f: one error line at $where" "spk: $where:" "$SPK" eval -I "$SCHEMA" -p "$f"
        if ! grep -Eq "^spk: $f:[0-9]+:[0-9]+: [^ ]" "$TAP_TMP/.err"; then
                not_ok "$f: message has the form FILE:LINE:COLUMN: text"
                diag "$(cat "$TAP_TMP/.err")"
        fi
done

for f in strict/*.capnp; do
        check_fails "$f: refused (stricter than capnp)" "spk: $f:" "$SPK" eval -p "$f"
        if ! grep -Eq "^spk: $f:[0-9]+:[0-9]+: [^ ]" "$TAP_TMP/.err"; then
                not_ok "$f: message has the form FILE:LINE:COLUMN: text"
                diag "$(cat "$TAP_TMP/.err")"
        fi
done

done_testing
