#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# spk dev's FUSE view against a plain directory holding the same tree (issue 6):
#
#   start   the example app hello (a static binary) exec'd from the view mounted by `spk dev -m` and from
#           the plain directory: time from exec to its port accepting a connection, median of N runs each
#           (20). Measured by running the binary directly (it needs nothing but its port), so the figure is
#           the app starting from the tree: exec, page-ins, no sandbox or granaryd in the way. Each run
#           starts a new process; the view answers every open, lookup and read itself.
#   read    a 100 MB file read whole with 1 MiB reads, through the view and from the plain directory,
#           twice each without dropping caches; the second read is reported (the first through the view
#           too, for what an unchanged file costs at its first open).
#
# usage: bench/run-spk-dev.sh [--runs N] [--workdir DIR] [--keep] [BUILD_DIR]
#   BUILD_DIR defaults to build-bench, a release build:
#     meson setup build-bench --buildtype=release -Dtests=false && ninja -C build-bench
# Targets: start ≤ 2× the plain directory's; read ≥ 50% of the plain directory's speed. Prints a table and
# writes it, with the machine's details, to bench/results-spk-dev.md. Needs /dev/fuse and fusermount3.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-bench
runs=20 workdir='' keep=0
while [ $# -gt 0 ]; do
        case $1 in
        --runs) runs=$2; shift ;;
        --workdir) workdir=$2; shift ;;
        --keep) keep=1 ;;
        -h | --help) sed -n '3,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "run-spk-dev.sh: unknown option $1" >&2; exit 2 ;;
        *) build=$1 ;;
        esac
        shift
done
case $build in /*) ;; *) build=$PWD/$build ;; esac

ninja -C "$build" src/spk/spk contrib/apps/hello/hello >/dev/null
spk=$build/src/spk/spk
hello=$build/contrib/apps/hello/hello
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=python3

[ -n "$workdir" ] || workdir=$(mktemp -d "${TMPDIR:-/tmp}/granary-bench-spk-dev.XXXXXX")
mkdir -p "$workdir"
cd "$workdir"
dev_pid=''
cleanup() {
        [ -z "$dev_pid" ] || { kill -INT "$dev_pid" 2>/dev/null; wait "$dev_pid" 2>/dev/null || true; }
        if awk -v p="$workdir/mnt" '$5 == p { f = 1 } END { exit !f }' /proc/self/mountinfo; then
                umount -l "$workdir/mnt" 2>/dev/null || fusermount3 -u -z "$workdir/mnt" 2>/dev/null || true
        fi
        cd /
        [ "$keep" = 1 ] || rm -rf "$workdir"
}
trap cleanup EXIT

export HOME=$workdir XDG_RUNTIME_DIR=$workdir/rt
id=$("$spk" keygen -k keyring -q)
mkdir -p tree mnt
cp "$hello" tree/hello
head -c 100000000 /dev/urandom >tree/big.bin
cat >sandstorm-pkgdef.capnp <<EOF
@0xe2a3b0c1d2e3f409;
using Spk = import "/sandstorm/package.capnp";
const pkgdef :Spk.PackageDefinition = (
  id = "$id",
  manifest = (
    appTitle = (defaultText = "Bench"),
    appVersion = 1,
    appMarketingVersion = (defaultText = "1"),
    actions = [ ( nounPhrase = (defaultText = "x"), command = .cmd ) ],
    continueCommand = .cmd,
  ),
  sourceMap = ( searchPath = [ ( sourcePath = "tree" ) ] ),
  fileList = "sandstorm-files.list",
);
const cmd :Spk.Manifest.Command = ( argv = ["/hello", "8000"] );
EOF

"$spk" dev -I "$root/tests/compat/schema" -m mnt 2>dev.log &
dev_pid=$!
for i in $(seq 100); do [ -x mnt/hello ] && break; sleep 0.1; done
[ -x mnt/hello ] || { echo "spk dev did not mount:" >&2; cat dev.log >&2; exit 1; }

"$PYTHON" - "$runs" "$workdir" >figures.txt <<'EOF'
import os, socket, statistics, subprocess, sys, time
runs, work = int(sys.argv[1]), sys.argv[2]

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def start_once(binary):
    port = free_port()
    t0 = time.monotonic()
    p = subprocess.Popen([binary, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            break
        except OSError:
            if p.poll() is not None:
                raise SystemExit("%s exited" % binary)
            time.sleep(0.0002)
    t1 = time.monotonic()
    p.kill(); p.wait()
    return (t1 - t0) * 1000.0

def start(binary):
    start_once(binary)  # one unmeasured run each: both trees warm
    return statistics.median(start_once(binary) for _ in range(runs))

def read_mbps(path):
    buf = bytearray(1 << 20)
    t0 = time.monotonic()
    n = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            k = f.readinto(buf)
            if not k:
                break
            n += k
    return n / (time.monotonic() - t0) / 1e6

plain_ms = start(work + "/tree/hello")
fuse_ms = start(work + "/mnt/hello")
plain_1 = read_mbps(work + "/tree/big.bin"); plain_2 = read_mbps(work + "/tree/big.bin")
fuse_1 = read_mbps(work + "/mnt/big.bin"); fuse_2 = read_mbps(work + "/mnt/big.bin")
print("start_plain_ms=%.2f" % plain_ms)
print("start_fuse_ms=%.2f" % fuse_ms)
print("read_plain_mbps=%.0f" % plain_2)
print("read_fuse_first_mbps=%.0f" % fuse_1)
print("read_fuse_mbps=%.0f" % fuse_2)
EOF
kill -INT "$dev_pid"; wait "$dev_pid" || true; dev_pid=''

get() { sed -n "s/^$1=//p" figures.txt; }
sp=$(get start_plain_ms) sf=$(get start_fuse_ms) rp=$(get read_plain_mbps) rf1=$(get read_fuse_first_mbps) rf=$(get read_fuse_mbps)
ratio=$(awk -v a="$sf" -v b="$sp" 'BEGIN { printf "%.2f", a / b }')
share=$(awk -v a="$rf" -v b="$rp" 'BEGIN { printf "%.0f", 100 * a / b }')
share1=$(awk -v a="$rf1" -v b="$rp" 'BEGIN { printf "%.0f", 100 * a / b }')
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { print ((op == "le" ? v <= t : v >= t) ? "met" : "MISSED") }'; }

table="| measure | plain directory | spk dev view | ratio | target |
|---|---|---|---|---|
| hello: exec to port accepting, median of $runs | ${sp} ms | ${sf} ms | ${ratio}× | ≤ 2× ($(verdict "$ratio" 2 le)) |
| 100 MB read, 1 MiB reads, second read | ${rp} MB/s | ${rf} MB/s | ${share}% | ≥ 50% ($(verdict "$share" 50 ge)) |
| the same, first read through the view (host file cached) | ${rp} MB/s | ${rf1} MB/s | ${share1}% | — |"
echo "$table"

cat >"$root/bench/results-spk-dev.md" <<EOF
# spk dev: the FUSE view against a plain directory

Command: \`bench/run-spk-dev.sh\` (release build in \`build-bench\`), $(date -u +%Y-%m-%d).
Machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r).

$table

How: \`spk dev -m\` mounts the view of a tree holding the static binary \`hello\` and a 100 MB file of
random bytes; the same tree is the plain directory. *Start* runs the binary directly from each (it needs
only its port argument), timing exec to the first accepted TCP connection, $runs runs each after one
unmeasured run. *Read* reads the file whole with 1 MiB \`read\`s, twice, caches not dropped; the second
read is reported. The view answers reads by splice from the host file (max_read 1 MiB), and lets the
kernel keep a file's pages across opens only while the host file is unchanged (same inode, size, mtime
and ctime at open), so the first read through the view after a change goes to the host file.
EOF
echo "wrote bench/results-spk-dev.md"
