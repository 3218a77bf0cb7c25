#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Benchmarks of the spk tool against the plain tools doing the same work (see bench/README.md):
#
#   verify, unpack  vs  tail -c +9 PKG | xz -dc | sha512sum      target: ≤ 1.2×
#   pack            vs  tar cf - TREE | xz -T0 >/dev/null        target: ≤ 1.2×
#   peak RSS of verify and unpack, ~100 MB and ~400 MB packages  target: ≤ 64 MiB, and flat
#
# usage: bench/run-spk.sh [--no-big] [--quick] [--runs N] [--pack-runs N] [--workdir DIR] [--keep]
#                         [--reuse] [--rm-between] [SPK]
#   SPK defaults to build-release/src/spk/spk, built with
#     meson setup build-release --buildtype=release -Dtests=false && ninja -C build-release src/spk/spk
#   --no-big   skip the ~400 MB package (it takes several minutes to pack)
#   --quick    trees 20 times smaller, results in the work directory: to try the script itself
#   --runs N   timed runs per command for verify and unpack (default 5)
#   --pack-runs N  timed runs of pack and of its baseline (default 1: each takes minutes)
#   --workdir  where trees and packages go (default: a new directory under $TMPDIR or /tmp)
#   --keep     leave the work directory in place
#   --reuse    take the tree and package from a work directory an earlier --keep run left, rather
#              than generating and packing them again (the pack rows are that run's figures)
#   --rm-between  remove the previous output right before each unpack and untar run, as this script
#              did until 2026-11-22, instead of unpacking into a fresh directory each time (README.md)
#
# Prints a table and writes it, with the machine's details, to bench/results.md.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
spk=$root/build-release/src/spk/spk
big=1 runs=5 pack_runs=1 workdir='' keep=0 scale=1 rm_between=0 reuse=0
while [ $# -gt 0 ]; do
        case $1 in
        --no-big) big=0 ;;
        --quick) scale=20 ;;
        --runs) runs=$2; shift ;;
        --pack-runs) pack_runs=$2; shift ;;
        --workdir) workdir=$2; shift ;;
        --keep) keep=1 ;;
        --rm-between) rm_between=1 ;;
        --reuse) reuse=1 ;;
        -h | --help) sed -n '3,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "run-spk.sh: unknown option $1" >&2; exit 2 ;;
        *) spk=$1 ;;
        esac
        shift
done
case $spk in /*) ;; *) spk=$(pwd)/$spk ;; esac
[ -x "$spk" ] || { echo "run-spk.sh: no spk binary at $spk" >&2; exit 1; }
for t in xz tar sha512sum /usr/bin/time /usr/bin/python3; do
        command -v "$t" >/dev/null || { echo "run-spk.sh: needs $t" >&2; exit 1; }
done
have_hyperfine=0
command -v hyperfine >/dev/null && have_hyperfine=1

if [ -z "$workdir" ]; then
        workdir=$(mktemp -d "${TMPDIR:-/tmp}/granary-bench.XXXXXX")
else
        mkdir -p "$workdir"
fi
workdir=$(cd "$workdir" && pwd)
[ $keep -eq 1 ] || trap 'rm -rf "$workdir"' EXIT
cd "$workdir"

log() { printf '%s\n' "$*" >&2; }

# ------------------------------------------------------------------------------------------------
# Trees. Deterministic (fixed seeds): text made of words from a fixed vocabulary (compresses about
# 3.7× with xz -6, like prose and source code), random bytes (like images and archives), and
# binaries that mix code-like noise, zero runs and string tables. A few executables and symlinks.

gen_tree() { # dir kind
        /usr/bin/python3 - "$1" "$2" "$scale" <<'EOF'
import os, random, sys

top, kind, scale = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(4242 if kind == "mixed" else 4343)
syl = ["ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zi", "pa", "do", "gre", "ist", "ion", "er",
       "an", "ed", "ing", "th", "qu"]
vocab = ["".join(rng.choices(syl, k=rng.randint(1, 4))) for _ in range(6000)]
vocab += ["\n"] * 300 + ["the", "of", "a", "to", "{", "}", "(", ")", ";", "="] * 50

def text(n):
    out = " ".join(rng.choices(vocab, k=n // 6 + 16)).encode()
    return out[:n]

def binary(n):
    out = bytearray()
    while len(out) < n:
        r = rng.random()
        k = rng.randrange(256, 8192)
        if r < 0.45:
            out += rng.randbytes(k)
        elif r < 0.75:
            out += bytes(k)
        else:
            out += text(k)
    return bytes(out[:n])

def put(path, data, mode=0o644):
    path = os.path.join(top, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)

total = 0
if kind == "mixed":
    # ~100 MB: 60 MB of text in 2000 files, 15 MB random, 15 MB binaries, one 10 MB text file.
    for i in range(2000 // scale):
        n = int(rng.lognormvariate(9.6, 1.0)) + 100
        n = min(n, 400_000)
        put(f"src/d{i % 40:02d}/f{i:04d}.txt", text(n))
        total += n
    while total < 60_000_000 // scale:
        put(f"src/extra/f{total}.txt", text(100_000))
        total += 100_000
    for i in range(max(1, 30 // scale)):
        put(f"assets/a{i:02d}.bin", rng.randbytes(500_000))
    for i in range(max(1, 15 // scale)):
        put(f"lib/lib{i:02d}.so", binary(1_000_000), 0o755)
    put("bin/tool", binary(200_000), 0o755)
    put("big/large.txt", text(10_000_000 // scale))
    os.symlink("../lib/lib00.so", os.path.join(top, "bin/lib"))
    os.symlink("large.txt", os.path.join(top, "big/link"))
else:
    # ~400 MB of mostly compressible data, 40 files of 10 MB: 64 kB blocks, nine in ten a run of
    # one byte value (like sparse or preallocated files), the rest cut from a 1.2 MB body of text.
    # Only memory is measured on it, and xz gets through runs quickly.
    base = text(1_200_000)
    for i in range(max(1, 40 // scale)):
        out = bytearray()
        while len(out) < 10_000_000:
            if rng.random() < 0.9:
                out += bytes([rng.randrange(256)]) * 65536
            else:
                j = rng.randrange(len(base) - 65536)
                out += base[j:j + 65536]
        put(f"data/part{i:02d}.bin", bytes(out[:10_000_000]))
EOF
}

write_pkgdef() { # file appid tree
        cat >"$1" <<EOF
@0xe5c3a1f0b2d4c6e8;
using Spk = import "/sandstorm/package.capnp";
const pkgdef :Spk.PackageDefinition = (
  id = "$2",
  manifest = (
    appTitle = (defaultText = "Benchmark"),
    appVersion = 1,
    appMarketingVersion = (defaultText = "1"),
    actions = [ ( nounPhrase = (defaultText = "thing"), command = .cmd ) ],
    continueCommand = .cmd,
  ),
  sourceMap = ( searchPath = [ ( sourcePath = "$3" ) ] ),
  alwaysInclude = [ "." ],
);
const cmd :Spk.Manifest.Command = ( argv = ["/bin/tool"] );
EOF
}

# ------------------------------------------------------------------------------------------------
# Measurements

# mean_seconds NAME PREPARE WARMUP RUNS COMMAND: mean wall time of COMMAND (a shell command line)
# over RUNS runs after WARMUP untimed ones, with PREPARE (untimed) before each.
mean_seconds() {
        name=$1 prepare=$2 warmup=$3 n=$4 cmd=$5
        if [ $have_hyperfine -eq 1 ]; then
                hyperfine --style none --warmup "$warmup" --runs "$n" --prepare "$prepare" \
                        --export-json "$name.json" "$cmd" >"$name.log" 2>&1 ||
                        { cat "$name.log" >&2; exit 1; }
                /usr/bin/python3 -c 'import json,sys; print("%.3f" % json.load(open(sys.argv[1]))["results"][0]["mean"])' "$name.json"
        else
                i=0
                while [ $i -lt "$warmup" ]; do
                        sh -c "$prepare"; sh -c "$cmd" >/dev/null
                        i=$((i + 1))
                done
                i=0
                : >"$name.times"
                while [ $i -lt "$n" ]; do
                        sh -c "$prepare"
                        /usr/bin/time -f %e -a -o "$name.times" sh -c "$cmd" >/dev/null
                        i=$((i + 1))
                done
                awk '{ s += $1 } END { printf "%.3f\n", s / NR }' "$name.times"
        fi
}

# peak_rss_mib PREPARE COMMAND ARGS...: the command's "Maximum resident set size", in MiB.
peak_rss_mib() {
        sh -c "$1"
        shift
        /usr/bin/time -v -o rss.txt "$@" >/dev/null 2>rss.err || { cat rss.err rss.txt >&2; exit 1; }
        awk -F': ' '/Maximum resident set size/ { printf "%.1f\n", $2 / 1024 }' rss.txt
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
meets() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t) ? "yes" : "NO" }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

rows=""
row() { rows="$rows
| $1 | $2 | $3 | $4 | $5 | $6 |"; printf '%-34s %12s %12s %8s %10s %4s\n' "$1" "$2" "$3" "$4" "$5" "$6"; }

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "spk: $spk"
log "work directory: $workdir"
if [ $reuse -eq 1 ]; then
        for f in appid keyring mixed.spk tree tree.tar.xz pack.times pack-base.times; do
                [ -e "$f" ] || { echo "run-spk.sh: --reuse: no $f in $workdir (run with --keep first)" >&2; exit 1; }
        done
        pack_runs=$(wc -l <pack.times)
        log "reusing the tree and package in $workdir (not packed again)"
else
        rm -rf tree keyring
        "$spk" keygen -q -k keyring >appid
        appid=$(cat appid)

        log "generating the ~100 MB tree"
        gen_tree tree mixed
        write_pkgdef mixed.capnp "$appid" tree

        log "packing it (timed: spk pack vs tar | xz -T0)"
        # Minutes per run, so /usr/bin/time's 10 ms resolution is plenty; it gives the peak RSS too.
        : >pack.times
        : >pack-base.times
        i=0
        while [ $i -lt "$pack_runs" ]; do
                rm -f mixed.spk
                /usr/bin/time -f '%e %M' -a -o pack.times "$spk" pack -p mixed.capnp -k keyring mixed.spk >/dev/null
                /usr/bin/time -f '%e %M' -a -o pack-base.times sh -c 'tar cf - tree | xz -T0 >tree.tar.xz'
                i=$((i + 1))
        done
fi
appid=$(cat appid)
tree_bytes=$(du -sb tree | cut -f1)
t_pack=$(awk '{ s += $1 } END { printf "%.3f", s / NR }' pack.times)
rss_pack=$(awk '$2 > m { m = $2 } END { printf "%.1f", m / 1024 }' pack.times)
t_pack_base=$(awk '{ s += $1 } END { printf "%.3f", s / NR }' pack-base.times)
rss_pack_base=$(awk '$2 > m { m = $2 } END { printf "%.1f", m / 1024 }' pack-base.times)
spk_bytes=$(wc -c <mixed.spk)

log "verify and unpack (timed: against xz -dc | sha512sum)"
t_base=$(mean_seconds xz-base "true" 1 "$runs" "tail -c +9 mixed.spk | xz -dc | sha512sum >/dev/null")
t_verify=$(mean_seconds verify "true" 1 "$runs" "'$spk' verify mixed.spk >/dev/null")
# Each unpack and untar run writes a new directory, outs/N, N counted by the untimed preparation;
# the outputs are removed after the last of them. Removing the previous output right before a run
# (--rm-between) makes that run pay for it on some file systems (README.md).
rm -rf outs && mkdir outs && echo 0 >outs/n
if [ $rm_between -eq 1 ]; then
        next="rm -rf outs/\$(cat outs/n) && echo \$((\$(cat outs/n) + 1)) >outs/n"
else
        next="echo \$((\$(cat outs/n) + 1)) >outs/n"
fi
t_unpack=$(mean_seconds unpack "$next" 1 "$runs" "'$spk' unpack mixed.spk outs/\$(cat outs/n) >/dev/null")
# Context: unpack with the tree made only after the signature check, as before 2026-11-22.
t_unpack_late=$(mean_seconds unpack-late "$next" 1 "$runs" \
        "SPK_UNPACK_EARLY_TREE=0 '$spk' unpack mixed.spk outs/\$(cat outs/n) >/dev/null")
# Context for unpack: the same tree out of a tar.xz, so that creating the files costs both sides.
t_untar=$(mean_seconds untar "$next && mkdir outs/\$(cat outs/n)" 1 "$runs" \
        "xz -dc tree.tar.xz | tar -x -C outs/\$(cat outs/n)")
rm -rf out outs
rss_verify=$(peak_rss_mib "true" "$spk" verify mixed.spk)
rss_unpack=$(peak_rss_mib "rm -rf out" "$spk" unpack mixed.spk out)
rm -rf out

printf '%-34s %12s %12s %8s %10s %4s\n' measurement spk baseline ratio target met
row "verify, $(mib "$tree_bytes") MiB tree" "${t_verify} s" "${t_base} s" "$(ratio "$t_verify" "$t_base")×" "≤ 1.2×" "$(meets "$(ratio "$t_verify" "$t_base")" 1.2)"
row "unpack, $(mib "$tree_bytes") MiB tree" "${t_unpack} s" "${t_base} s" "$(ratio "$t_unpack" "$t_base")×" "≤ 1.2×" "$(meets "$(ratio "$t_unpack" "$t_base")" 1.2)"
row "unpack, tree made after the check" "${t_unpack_late} s" "${t_base} s" "$(ratio "$t_unpack_late" "$t_base")×" "(context)" ""
row "unpack vs untar of a tar.xz" "${t_unpack} s" "${t_untar} s" "$(ratio "$t_unpack" "$t_untar")×" "(context)" ""
row "pack, $(mib "$tree_bytes") MiB tree" "${t_pack} s" "${t_pack_base} s" "$(ratio "$t_pack" "$t_pack_base")×" "≤ 1.2×" "$(meets "$(ratio "$t_pack" "$t_pack_base")" 1.2)"
row "verify peak RSS, $(mib "$tree_bytes") MiB" "$rss_verify MiB" "" "" "≤ 64 MiB" "$(meets "$rss_verify" 64)"
row "unpack peak RSS, $(mib "$tree_bytes") MiB" "$rss_unpack MiB" "" "" "≤ 64 MiB" "$(meets "$rss_unpack" 64)"
row "pack peak RSS, $(mib "$tree_bytes") MiB" "$rss_pack MiB" "$rss_pack_base MiB" "$(ratio "$rss_pack" "$rss_pack_base")×" "(context)" ""

big_note=""
if [ $big -eq 1 ]; then
        rm -rf tree
        log "generating the ~400 MB tree"
        rm -rf bigtree
        gen_tree bigtree big
        write_pkgdef big.capnp "$appid" bigtree
        big_bytes=$(du -sb bigtree | cut -f1)
        big_files=$(find bigtree -type f | wc -l)
        log "packing it (once)"
        /usr/bin/time -f '%e %M' -o bigpack.txt "$spk" pack -p big.capnp -k keyring big.spk >/dev/null
        t_bigpack=$(cut -d' ' -f1 bigpack.txt)
        rss_bigpack=$(awk '{ printf "%.1f", $2 / 1024 }' bigpack.txt)
        rm -rf bigtree
        big_spk_bytes=$(wc -c <big.spk)
        rss_bverify=$(peak_rss_mib "true" "$spk" verify big.spk)
        rss_bunpack=$(peak_rss_mib "rm -rf out" "$spk" unpack big.spk out)
        rm -rf out
        row "verify peak RSS, $(mib "$big_bytes") MiB" "$rss_bverify MiB" "" "" "≤ 64 MiB" "$(meets "$rss_bverify" 64)"
        row "unpack peak RSS, $(mib "$big_bytes") MiB" "$rss_bunpack MiB" "" "" "≤ 64 MiB" "$(meets "$rss_bunpack" 64)"
        big_note="- ~400 MB tree: $big_bytes bytes in $big_files files (mostly runs of one byte, a tenth text); package $big_spk_bytes bytes; spk pack took ${t_bigpack} s and ${rss_bigpack} MiB peak RSS (one run, not compared)."
fi

timer="hyperfine for verify and unpack (mean of $runs runs after 1 warm-up), /usr/bin/time for pack (mean of $pack_runs)"
outputs="each unpack and untar run into a new directory, all removed after the last"
pack_note=""
[ $reuse -eq 0 ] || pack_note=" The pack figures are those of the earlier run that made the package (\`--reuse\`)."
[ $rm_between -eq 0 ] || outputs="the previous output removed right before each unpack and untar run (--rm-between)"
[ $have_hyperfine -eq 1 ] || timer="/usr/bin/time (no hyperfine; mean of $runs runs for verify and unpack, $pack_runs for pack)"

results=$root/bench/results.md
[ "$scale" -eq 1 ] || results=$workdir/results.md
cat >"$results" <<EOF
# spk benchmark results

Written by \`bench/run-spk.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'). See README.md for what is measured and why.

| measurement | spk | baseline | ratio | target | met |
|---|---|---|---|---|---|$rows

- Load average (1, 5, 15 min) at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg).
- Machine: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(uname -sr).
- spk: \`$spk\`; xz $(xz --version | awk 'NR == 1 { print $4 }'); timing by $timer; $outputs.
- ~100 MB tree: $tree_bytes bytes (text, random and binary-like files, some executables and symlinks); package $spk_bytes bytes.$pack_note
$big_note
- Baselines: verify and unpack against \`tail -c +9 PKG | xz -dc | sha512sum\`; pack against \`tar cf - TREE | xz -T0 >TREE.tar.xz\` (its peak RSS is xz's); for context, unpack with \`SPK_UNPACK_EARLY_TREE=0\` (the tree made only after the signature check) and unpack against \`xz -dc TREE.tar.xz | tar -x\`, which creates the same files.
EOF
log "wrote $results"
