#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Waking a grain under systemd (see bench/README.md, "grain under systemd"): granary installed into the
# system test's Debian 12 root and booted with systemd-nspawn by tests/system/run.sh, which runs
# tests/system/bench-wake.sh inside in place of the system test's scenario. Inside the container:
#
#   wake      a stopped hello grain (`systemctl stop` of its service, until inactive): the first byte of one
#             request on a new connection, median and p90 over the wakes, minus the hello binary's own
#             start (exec to accepting on its port, median, measured apart in the same container)
#   systemd   `systemd-run --wait --quiet true`, median: what starting any unit costs there
#
# usage: bench/run-grain-systemd.sh [--quick] [--workdir DIR] [--keep] [BUILD_DIR]
#   BUILD_DIR defaults to build-bench-systemd, a release build installed with the prefixes a distribution
#     uses; made here when it does not exist (run.sh builds it with ninja before installing it):
#     meson setup build-bench-systemd --buildtype=release -Dtests=false --prefix=/usr --sysconfdir=/etc \
#             --localstatedir=/var
#   --quick        20 wakes, 20 starts, 5 systemd-runs; results in the work directory: to try the script
#   --workdir DIR  where run.sh's output and the raw figures go (default: a new directory under $TMPDIR or
#                  /tmp)
#   --keep         leave the work directory in place
#
# Runs as root on the host (run.sh needs it for systemd-nspawn); never starts systemd here, only as the
# container's PID 1. Prints a table and writes it, with the machine's details, to
# bench/results-grain-systemd.md.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-bench-systemd
quick=0 workdir='' keep=0
while [ $# -gt 0 ]; do
        case $1 in
        --quick) quick=1 ;;
        --workdir) workdir=$2; shift ;;
        --keep) keep=1 ;;
        -h | --help) sed -n '3,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "run-grain-systemd.sh: unknown option $1" >&2; exit 2 ;;
        *) build=$1 ;;
        esac
        shift
done
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
[ "$(id -u)" -eq 0 ] || { echo "run-grain-systemd.sh: needs root (systemd-nspawn)" >&2; exit 1; }
for t in systemd-nspawn debootstrap meson ninja; do
        command -v "$t" >/dev/null || { echo "run-grain-systemd.sh: needs $t (tools/install-deps)" >&2; exit 1; }
done

wakes=100 starts=100 runs=20
[ $quick -eq 0 ] || { wakes=20; starts=20; runs=5; }

if [ -z "$workdir" ]; then
        workdir=$(mktemp -d "${TMPDIR:-/tmp}/granary-bench-grain-systemd.XXXXXX")
else
        mkdir -p "$workdir"
fi
workdir=$(cd "$workdir" && pwd)
cleanup() { [ $keep -eq 1 ] || rm -rf "$workdir"; }
trap cleanup EXIT
log() { printf '%s\n' "$*" >&2; }
# a failed run keeps its work directory, for run.sh's output
die() { log "run-grain-systemd.sh: $*"; log "(run.sh's output and the figures in $workdir)"; keep=1; exit 1; }

if [ ! -f "$build/build.ninja" ]; then
        log "setting up $build"
        meson setup "$build" "$root" --buildtype=release -Dtests=false --prefix=/usr --sysconfdir=/etc \
                --localstatedir=/var >"$workdir/setup.log" 2>&1 || die "meson setup failed: $(tail -n 5 "$workdir/setup.log")"
fi

# The parameters go in through the bound directory, the figures come out through it.
results=$workdir/results
mkdir -p "$results"
printf 'WAKES=%s\nSTARTS=%s\nRUNS=%s\n' "$wakes" "$starts" "$runs" >"$results/params"

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "work directory: $workdir"
log "booting the test container: $wakes wakes, $starts starts of hello, $runs systemd-runs"
rc=0
SOURCE_ROOT=$root BUILD_ROOT=$build GRANARY_SYSTEM_BUILD=$build GRANARY_SYSTEM_RESULTS=$results \
        GRANARY_SYSTEM_SCENARIO=$root/tests/system/bench-wake.sh \
        bash "$root/tests/system/run.sh" >"$workdir/run.tap" 2>"$workdir/run.err" || rc=$?
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
if grep -q '^1\.\.0 # SKIP' "$workdir/run.tap"; then
        die "run.sh skipped: $(grep '^1\.\.0' "$workdir/run.tap")"
fi
if [ "$rc" -ne 0 ] || grep -q '^not ok' "$workdir/run.tap"; then
        log "$(grep -E '^(not ok|# )' "$workdir/run.tap" | grep -v '^# $' | head -n 60)"
        log "run-grain-systemd.sh: some of run.sh's cases failed (exit status $rc); the figures measured follow"
fi
for f in bench-wake.txt starts.txt; do
        [ -s "$results/$f" ] || die "the container wrote no $f"
done
# Without the wakes, --quick still shows the rest (to try the script); a full run writes no results.
n_wakes=$(cat "$results/wakes.txt" 2>/dev/null | wc -l)
[ "$n_wakes" -eq "$wakes" ] || [ $quick -eq 1 ] || die "$n_wakes wakes measured, not $wakes"

# kv KEY: a value from bench-wake.txt
kv() { sed -n "s/^$1=//p" "$results/bench-wake.txt" | tail -n 1; }
# stats: median and p90 (nearest rank) of the numbers on stdin, one a line, with 2 decimals
stats() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "- -"; exit }
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        p = int(NR * 0.9 + 0.999999); printf "%.2f %.2f\n", m, v[p] }'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/) printf "%.2f", a - b; else print "-" }'; }

declare -A R
read -r 'R[start_p50]' 'R[start_p90]' <<<"$(stats <"$results/starts.txt")"
touch "$results/wakes.txt"
read -r 'R[wake_p50]' 'R[wake_p90]' <<<"$(stats <"$results/wakes.txt")"
R[wake_min]=$(sort -g "$results/wakes.txt" | head -n 1)
R[wake_min]=${R[wake_min]:--}
R[wake_max]=$(sort -g "$results/wakes.txt" | tail -n 1)
R[wake_max]=${R[wake_max]:--}
if [ -s "$results/systemd-run.txt" ]; then
        read -r 'R[run_p50]' 'R[run_p90]' <<<"$(stats <"$results/systemd-run.txt")"
        n_runs=$(wc -l <"$results/systemd-run.txt")
else
        R[run_p50]=- R[run_p90]=- n_runs=0
fi
if [ -s "$results/wakes-bare.txt" ]; then
        read -r 'R[bare_p50]' 'R[bare_p90]' <<<"$(stats <"$results/wakes-bare.txt")"
else
        R[bare_p50]=- R[bare_p90]=-
fi
R[bare_net_p50]=$(minus "${R[bare_p50]}" "${R[start_p50]}")
R[wake_net_p50]=$(minus "${R[wake_p50]}" "${R[start_p50]}")
R[wake_net_p90]=$(minus "${R[wake_p90]}" "${R[start_p50]}")
n_starts=$(wc -l <"$results/starts.txt")
# Where a wake's time goes (phases.txt: µs of CLOCK_MONOTONIC per wake: start begun, forked, the app's
# "listening on" line, READY=1), medians in ms.
phase() { # FROM TO: the median of column TO minus column FROM, where both are known
        awk -v a="$1" -v b="$2" '$a > 0 && $b > 0 { printf "%.3f\n", ($b - $a) / 1000 }' "$results/phases.txt" 2>/dev/null |
                stats | cut -d' ' -f1
}
R[ph_fork]=$(phase 1 2)
R[ph_setup]=$(phase 2 3)
R[ph_ready]=$(phase 3 4)

verdict() { # VALUE OP TARGET
        awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { if (v !~ /^-?[0-9.]+$/ || t !~ /^-?[0-9.]+$/) { print "-"; exit }
                ok = op == "<=" ? v + 0 <= t + 0 : v + 0 >= t + 0; print ok ? "yes" : "**no**" }'
}
rows=''
row() { # METRIC VALUE TARGET MET
        rows="$rows
| $1 | $2 | $3 | $4 |"
        printf '%-52s %20s %10s %6s\n' "$1" "$2" "$3" "$4"
}
printf '%-52s %20s %10s %6s\n' metric value target met
row "hello's own start (exec to accepting), median of $n_starts" "${R[start_p50]} ms (${R[start_p90]})" "" ""
row "wake: first byte, median of $n_wakes (p90)" "${R[wake_p50]} ms (${R[wake_p90]})" "" ""
row "wake: first byte, fastest and slowest" "${R[wake_min]} ms, ${R[wake_max]} ms" "" ""
row "wake minus hello's start, median (p90)" "${R[wake_net_p50]} ms (${R[wake_net_p90]})" "≤ 40 ms" \
        "$(verdict "${R[wake_net_p50]}" '<=' 40)"
row "  start begun to fork (systemd), median" "${R[ph_fork]} ms" "" ""
row "  fork to the app listening (sandbox setup, bridge, app)" "${R[ph_setup]} ms" "" ""
row "  the app listening to READY=1 (the bridge's probe)" "${R[ph_ready]} ms" "" ""
row "systemd-run --wait true, median of $n_runs (p90)" "${R[run_p50]} ms (${R[run_p90]})" "" ""
row "reference: wake with a bare sandbox, median (p90)" "${R[bare_p50]} ms (${R[bare_p90]})" "" ""
row "reference: the same minus hello's start" "${R[bare_net_p50]} ms" "" ""

out=$root/bench/results-grain-systemd.md
[ $quick -eq 0 ] || out=$workdir/results-grain-systemd.md
cat >"$out" <<EOF
# Grain wake under systemd: results

Written by \`bench/run-grain-systemd.sh$([ $quick -eq 0 ] || echo ' --quick')\` on $(date -u '+%Y-%m-%d %H:%M UTC'). See README.md for what is measured and why.

| metric | value | target | met |
|---|---|---|---|$rows

- Machine: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(uname -sr).
- Load average (1, 5, 15 min) at the start: $load_start; at the end: $load_end.
- Build: \`$build\` ($(python3 -c 'import json, sys; print(next(o["value"] for o in json.load(open(sys.argv[1])) if o["name"] == "buildtype"))' "$build/meson-info/intro-buildoptions.json" 2>/dev/null)), installed by \`tests/system/run.sh\` into a copy of its Debian 12 root booted with \`systemd-nspawn -b\` ($(kv SYSTEMD | awk '{ print $1, $2 }'), /sys/fs/cgroup: $(kv CGROUP); $(kv CURL)); the grain's service: \`$(kv UNIT)\`.
- Wake: \`systemctl stop\` of the grain's service, wait until \`systemctl show -P ActiveState\` says inactive, then one \`curl\` on a new connection to the session host (\`granary grain open\`'s URL followed with a cookie jar); its \`time_starttransfer\`. The clients run on CPU 1 ($(kv CLIENT_CPU)); granaryd and the grain run where systemd puts them. \`GRAIN_IDLE_SEC=0\`, so the grain stops only when told.
- hello's start: \`posix_spawn\` of the hello binary from the installed package to the first connection it accepts, the child on CPU 0 and the probe on CPU 1, as \`bench/run-grain.sh\` measures it; inside the same container.
$([ -z "$(kv FIRST_START_FAILED)" ] || echo "- **The grain's first request was answered $(kv FIRST_START_FAILED)**; the second 200.")
- systemd-run: \`systemd-run --wait --quiet --collect true\` inside the container, wall time; for comparison, what starting and finishing any transient unit costs there.
- Bare sandbox (reference only): the same wakes after a drop-in turns off the template's ProtectSystem=, ProtectHome=, ProtectKernelTunables=, ProtectKernelModules=, ProtectKernelLogs=, ProtectControlGroups=, ProtectProc=, ProcSubset=, PrivateDevices=, PrivateTmp=, PrivateIPC=, NoNewPrivileges=, ProtectClock= and ProtectHostname=; the root, the binds, the dynamic user, the private network and users, and the syscall filter stay: what systemd costs on this machine before the sandbox adds its mounts.
EOF
log "wrote $out"
