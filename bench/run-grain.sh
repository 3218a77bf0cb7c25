#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Grains with the direct backend, through granaryd (see bench/README.md, "grain"):
#
#   wake      a stopped hello grain: first byte of the response, median and p90 over the wakes, minus the
#             hello binary's own start (exec to accepting on its port, median, measured apart)
#   req/s     wrk through granaryd's session host to the hello grain, against the same hello binary run
#             directly on a loopback port, and against nginx reverse-proxying to that one (keep-alive
#             upstream); p50 and p99 latency, and the p50 each proxy adds; the servers in turns, 5 rounds,
#             the median round of each
#   RSS       a running granary-grain's VmRSS; granaryd's VmRSS with 1,000 grains created and 100 running
#
# usage: bench/run-grain.sh [--quick] [--connections N] [--workdir DIR] [--keep] [BUILD_DIR]
#   BUILD_DIR defaults to build-bench, a release build:
#     meson setup build-bench --buildtype=release -Dtests=false && ninja -C build-bench
#   --quick        2 s per wrk run, 20 wakes, 100 grains of which 10 run; results in the work directory: to
#                  try the script itself
#   --connections N  wrk's connections (default 50, what the targets are for)
#   --workdir DIR  where the state, configs and logs go (default: a new directory under $TMPDIR or /tmp)
#   --keep         leave the work directory in place
#
# The servers (granaryd with its grains, hello, nginx) run pinned to CPU 0 and the clients (wrk, curl) to
# CPU 1 when there are two CPUs or more, on 127.0.0.1 only. Prints a table and writes it, with the
# machine's details, to bench/results-grain.md.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-bench
quick=0 workdir='' keep=0 connections=50
while [ $# -gt 0 ]; do
        case $1 in
        --quick) quick=1 ;;
        --workdir) workdir=$2; shift ;;
        --connections) connections=$2; shift ;;
        --keep) keep=1 ;;
        -h | --help) sed -n '3,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "run-grain.sh: unknown option $1" >&2; exit 2 ;;
        *) build=$1 ;;
        esac
        shift
done
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
granaryd=$build/src/front/granaryd
cli=$build/src/cli/granary
bridge=$build/src/grain/granary-grain
hello=$build/contrib/apps/hello/hello
hello_spk=$build/contrib/apps/hello/hello.spk
for f in "$granaryd" "$cli" "$bridge" "$hello" "$hello_spk"; do
        [ -e "$f" ] || { echo "run-grain.sh: no $f (build it: ninja -C $build)" >&2; exit 1; }
done
nginx=/usr/sbin/nginx
for t in "$nginx" wrk curl /usr/bin/python3 taskset chrt; do
        command -v "$t" >/dev/null || { echo "run-grain.sh: needs $t" >&2; exit 1; }
done
hello_app_id=$(sed -n 's/^ *id = "\([a-z0-9]*\)",$/\1/p' "$root/contrib/apps/hello/sandstorm-pkgdef.capnp")

duration=5 rounds=5 wakes=100 starts=100 n_grains=1000 n_running=100
[ $quick -eq 0 ] || { duration=2; rounds=1; wakes=20; starts=20; n_grains=100; n_running=10; }

if [ "$(nproc)" -ge 2 ]; then
        server_cpu='taskset -c 0'
        client_cpu='taskset -c 1'
        pinning="servers (granaryd and its grains, hello, nginx) on CPU 0, clients on CPU 1"
else
        server_cpu='' client_cpu=''
        pinning="one CPU: servers and clients share it"
fi

if [ -z "$workdir" ]; then
        workdir=$(mktemp -d "${TMPDIR:-/tmp}/granary-bench-grain.XXXXXX")
else
        mkdir -p "$workdir"
fi
workdir=$(cd "$workdir" && pwd)
cd "$workdir"
mkdir -p logs tmp

pids=''
cleanup() {
        for p in $pids; do kill "$p" 2>/dev/null || true; done
        for p in $pids; do wait "$p" 2>/dev/null || true; done
        [ $keep -eq 1 ] || rm -rf "$workdir"
}
trap cleanup EXIT
log() { printf '%s\n' "$*" >&2; }
# a failed run keeps its work directory, for the logs
die() { log "run-grain.sh: $*"; log "(logs in $workdir)"; keep=1; exit 1; }

free_port() {
        /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() { # PORT
        for _ in $(seq 100); do
                /usr/bin/python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' \
                        "$1" 2>/dev/null && return 0
                sleep 0.1
        done
        die "nothing listens on port $1"
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
ppid() { awk '/^PPid:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# bridges: the pid of every running granary-grain under granaryd: the parent of each hello it started
bridges() {
        local p pp a
        for p in $(pgrep -x hello || true); do
                pp=$(ppid "$p")
                a=$pp
                while [ -n "$a" ] && [ "$a" -gt 1 ] && [ "$a" != "$gd_pid" ]; do a=$(ppid "$a"); done
                [ "$a" = "$gd_pid" ] && echo "$pp"
        done
}
# stats: median and p90 (nearest rank) of the numbers on stdin, one a line, with 2 decimals
stats() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "- -"; exit }
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        p = int(NR * 0.9 + 0.999999); printf "%.2f %.2f\n", m, v[p] }'; }

# ------------------------------------------------------------------------------------------------
# granaryd, its state and its CLI

# The grain must not stop by itself while it is measured; the wakes stop it with `granary grain stop`.
cat >granary.conf <<EOF
MAX_CONNECTIONS_PER_ADDRESS=20000
GRAIN_IDLE_SEC=0
LOG_LEVEL=warning
EOF

state='' gd_pid='' gp=''
granary() { "$cli" --dev "$state" "$@"; }
start_granaryd() { # NAME
        state=$workdir/state-$1
        rm -rf "$state"
        gp=$(free_port)
        GRANARY_GRAIN_PATH=$bridge $server_cpu "$granaryd" --dev "$state" -c "$workdir/granary.conf" --port "$gp" \
                --shell-dir "$root/src/shell" >"logs/granaryd-$1.out" 2>&1 &
        gd_pid=$!
        pids="$pids $gd_pid"
        for _ in $(seq 300); do
                granary status >/dev/null 2>&1 && break
                kill -0 "$gd_pid" 2>/dev/null || die "granaryd exited: $(tail -n 5 "logs/granaryd-$1.out")"
                sleep 0.1
        done
        head -c 24 /dev/urandom | base64 >"$workdir/password"
        granary user add bench --admin --password-stdin <"$workdir/password" >/dev/null
        granary app install "$hello_spk" >>logs/cli.log 2>&1 || die "granary app install: $(tail -n 1 logs/cli.log)"
}
stop_granaryd() {
        kill "$gd_pid" 2>/dev/null || true
        wait "$gd_pid" 2>/dev/null || true
}

# grain_state ID: "running", "stopped", "stopping" (from granary grain list --json)
grain_state() {
        granary grain list --json | /usr/bin/python3 -c '
import json, sys
doc = json.load(sys.stdin)
if isinstance(doc, dict):
    doc = doc.get("grains", [])
print(next((g["state"] for g in doc if g["id"] == sys.argv[1]), "none"))' "$1"
}
wait_state() { # ID STATE
        for _ in $(seq 500); do
                [ "$(grain_state "$1")" = "$2" ] && return 0
                sleep 0.01
        done
        die "grain $1 is not $2 after 5 s"
}

# session ID: sets host and sid, the session's Host and its sandstorm-sid cookie, by opening the URL that
# `granary grain open` prints as a browser does (/_sandstorm-init sets the cookie).
host='' sid=''
session() {
        local url
        url=$(granary grain open "$1") || die "granary grain open $1 failed"
        host=$(printf '%s\n' "$url" | sed -n 's|^https\{0,1\}://\([^/]*\)/.*|\1|p')
        rm -f jar
        curl -s -o /dev/null -c jar --connect-to "::127.0.0.1:$gp" "$url" || die "opening $url failed"
        sid=$(awk '$6 == "sandstorm-sid" { print $7 }' jar)
        [ -n "$host" ] && [ -n "$sid" ] || die "no session from $url"
}
# get: one request to the session, on a new connection; prints the status and the time to the first
# byte of the response in ms
get() {
        $client_cpu curl -s -o /dev/null -w '%{http_code} %{time_starttransfer}\n' -H "Host: $host" \
                -H "Cookie: sandstorm-sid=$sid" "http://127.0.0.1:$gp/" | awk '{ printf "%s %.3f\n", $1, $2 * 1000 }'
}

# cpu_ns PID...: the nanoseconds each process has spent on a CPU, space-separated
cpu_ns() { local p; for p in "$@"; do awk '{ printf "%s ", $1 }' "/proc/$p/schedstat"; done; }

# wrk_run URL [HEADER...]: requests/s, p50 and p99 latency in ms ($connections keep-alive connections, one
# thread),
# then the CPU time per request of each process in $cpu_pids, in µs, joined by "+"
cpu_pids=''
wrk_run() {
        local url=$1 out before after
        shift
        local hdr=()
        for h in "$@"; do hdr+=(-H "$h"); done
        # shellcheck disable=SC2086
        before=$(cpu_ns $cpu_pids)
        out=$($client_cpu wrk -t1 -c"$connections" -d"${duration}s" --latency "${hdr[@]}" "$url" 2>&1)
        # shellcheck disable=SC2086
        after=$(cpu_ns $cpu_pids)
        echo "$out" >>logs/wrk.log
        if ! echo "$out" | grep -q '^ *Non-2xx' && echo "$out" | grep -q 'Requests/sec'; then
                echo "$out" | awk -v before="$before" -v after="$after" '
                        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
                        /Requests\/sec/ { r = $2 }
                        / requests in / { n = $1 }
                        $1 == "50%" { m = ms($2) }
                        $1 == "99%" { p = ms($2) }
                        END {
                                k = split(before, b, " "); split(after, a, " "); c = ""
                                for (i = 1; i <= k; i++) c = c (i > 1 ? "+" : "") sprintf("%.1f", (a[i] - b[i]) / 1000 / n)
                                printf "%.0f %.3f %.2f %s\n", r, m, p, c == "" ? "-" : c }'
        else
                echo "failed - - -"
        fi
}

declare -A R
first_start_failed=''

# ------------------------------------------------------------------------------------------------
# The hello binary's own start: posix_spawn to the first accepted connection, pinned like a grain's app

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "work directory: $workdir"
log "hello started directly, $starts times"
/usr/bin/python3 "$root/bench/app-start.py" "$hello" "$starts" >starts.txt
read -r 'R[start_p50]' 'R[start_p90]' <<<"$(stats <starts.txt)"

# ------------------------------------------------------------------------------------------------
# Wakes, then req/s through granaryd

log "granaryd: $granaryd"
start_granaryd main
gid=$(granary grain new "$hello_app_id" --title bench -q) || die "granary grain new failed"
session "$gid"
read -r code _ <<<"$(get)"
if [ "$code" != 200 ]; then
        # said in the results: the first start of a new grain should never fail
        first_start_failed=$code
        log "  the grain's first start answered $code; once more"
        read -r code _ <<<"$(get)"
fi
[ "$code" = 200 ] || die "the hello grain answered $code"
bridge_pid=$(bridges | head -n 1)
R[bridge_rss]=$([ -n "$bridge_pid" ] && rss_kib "$bridge_pid" || echo -)

log "  $wakes wakes"
: >wakes.txt
for _ in $(seq "$wakes"); do
        granary grain stop "$gid" >/dev/null
        wait_state "$gid" stopped
        read -r code ms <<<"$(get)"
        [ "$code" = 200 ] || die "a wake answered $code"
        echo "$ms" >>wakes.txt
done
read -r 'R[wake_p50]' 'R[wake_p90]' <<<"$(stats <wakes.txt)"
R[wake_net_p50]=$(awk -v a="${R[wake_p50]}" -v b="${R[start_p50]}" 'BEGIN { printf "%.2f", a - b }')
R[wake_net_p90]=$(awk -v a="${R[wake_p90]}" -v b="${R[start_p50]}" 'BEGIN { printf "%.2f", a - b }')

# The three are measured in turns, round after round, and each one's median round is taken: on a shared
# machine the speed of a minute varies more than the servers differ, and turns spread that over all three.
log "  wrk through granaryd, directly and through nginx: $rounds rounds of ${duration} s each"
get >/dev/null
bridge_pid=$(bridges | head -n 1)
g_pids="$gd_pid $bridge_pid $(pgrep -P "$bridge_pid" -x hello)"

hp=$(free_port)
$server_cpu "$hello" "$hp" 2>logs/hello.out &
hello_pid=$!
pids="$pids $hello_pid"
wait_port "$hp"

np=$(free_port)
nginx_user=''
[ "$(id -u)" -ne 0 ] || nginx_user="user $(id -un) $(id -gn);"
cat >nginx.conf <<EOF
$nginx_user
worker_processes 1;
error_log $workdir/logs/nginx-error.log;
pid $workdir/nginx.pid;
events { worker_connections 4096; }
http {
        access_log off;
        keepalive_timeout 75s;
        keepalive_requests 10000000;
        client_body_temp_path $workdir/tmp;
        proxy_temp_path $workdir/tmp;
        fastcgi_temp_path $workdir/tmp;
        uwsgi_temp_path $workdir/tmp;
        scgi_temp_path $workdir/tmp;
        upstream hello {
                server 127.0.0.1:$hp;
                keepalive 64;
                keepalive_requests 10000000;
        }
        server {
                listen 127.0.0.1:$np;
                location / {
                        proxy_pass http://hello;
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                }
        }
}
EOF
$server_cpu "$nginx" -c "$workdir/nginx.conf" -p "$workdir" -g 'daemon off;' >logs/nginx.out 2>&1 &
nginx_pid=$!
pids="$pids $nginx_pid"
wait_port "$np"
nginx_worker=''
for _ in $(seq 50); do
        nginx_worker=$(pgrep -P "$nginx_pid" | head -n 1 || true)
        [ -n "$nginx_worker" ] && break
        sleep 0.1
done

: >rounds.txt
for round in $(seq "$rounds"); do
        cpu_pids=$g_pids
        echo "g $round $(wrk_run "http://127.0.0.1:$gp/" "Host: $host" "Cookie: sandstorm-sid=$sid")" >>rounds.txt
        cpu_pids=$hello_pid
        echo "d $round $(wrk_run "http://127.0.0.1:$hp/")" >>rounds.txt
        cpu_pids="$nginx_worker $hello_pid"
        echo "n $round $(wrk_run "http://127.0.0.1:$np/")" >>rounds.txt
        # the same, with hello scheduled as batch work as a grain's processes are (src/grain/sandbox.c)
        chrt -b -p 0 "$hello_pid" >/dev/null
        echo "b $round $(wrk_run "http://127.0.0.1:$np/")" >>rounds.txt
        chrt -o -p 0 "$hello_pid" >/dev/null
done
# median_round KIND: the figures of KIND's round with the median req/s (the lower middle one of an even
# count)
median_round() {
        awk -v k="$1" '$1 == k && $3 != "failed" { print $3, $4, $5, $6 }' rounds.txt | sort -n |
                awk '{ l[NR] = $0 } END { if (NR == 0) print "failed - - -"; else print l[int((NR + 1) / 2)] }'
}
read -r 'R[g_rps]' 'R[g_p50]' 'R[g_p99]' 'R[g_cpu]' <<<"$(median_round g)"
read -r 'R[d_rps]' 'R[d_p50]' 'R[d_p99]' 'R[d_cpu]' <<<"$(median_round d)"
read -r 'R[n_rps]' 'R[n_p50]' 'R[n_p99]' 'R[n_cpu]' <<<"$(median_round n)"
read -r 'R[b_rps]' 'R[b_p50]' 'R[b_p99]' 'R[b_cpu]' <<<"$(median_round b)"
kill "$nginx_pid" "$hello_pid" 2>/dev/null || true
wait "$nginx_pid" "$hello_pid" 2>/dev/null || true
stop_granaryd

added() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/) printf "%.3f", a - b; else print "-" }'; }
R[g_added]=$(added "${R[g_p50]}" "${R[d_p50]}")
R[n_added]=$(added "${R[n_p50]}" "${R[d_p50]}")

# ------------------------------------------------------------------------------------------------
# granaryd with many grains: n_grains created, n_running of them woken with one request each

log "granaryd with $n_grains grains, $n_running running"
start_granaryd many
R[many_rss_start]=$(rss_kib "$gd_pid")
first=$(granary grain new "$hello_app_id" --title "grain 1" -q) || die "granary grain new failed"
# the rest through the API on the control socket, one curl keeping its connection for all of them
urls=()
for _ in $(seq 2 "$n_grains"); do urls+=(-o /dev/null "http://localhost/api/v1/grains"); done
t0=$(date +%s.%N)
curl -s --unix-socket "$state/control.sock" -H 'Content-Type: application/json' \
        -d "{\"appId\":\"$hello_app_id\",\"title\":\"bench\"}" -w '%{http_code}\n' "${urls[@]}" >created.txt
t1=$(date +%s.%N)
[ "$(grep -c '^201$' created.txt)" -eq $((n_grains - 1)) ] || die "creating grains: $(sort created.txt | uniq -c | tr '\n' ' ')"
R[create_ms]=$(awk -v a="$t0" -v b="$t1" -v n=$((n_grains - 1)) 'BEGIN { printf "%.2f", (b - a) * 1000 / n }')
mapfile -t ids < <(granary grain list --json | /usr/bin/python3 -c '
import json, sys
doc = json.load(sys.stdin)
if isinstance(doc, dict):
    doc = doc.get("grains", [])
for g in doc:
    print(g["id"])')
[ "${#ids[@]}" -eq "$n_grains" ] || die "granary grain list shows ${#ids[@]} grains, not $n_grains"
R[many_rss_created]=$(rss_kib "$gd_pid")
for gid in "${ids[@]:0:$n_running}"; do
        session "$gid"
        read -r code _ <<<"$(get)"
        [ "$code" = 200 ] || die "grain $gid answered $code"
done
running=$(granary grain list --json | grep -o '"state": *"running"' | wc -l)
[ "$running" -eq "$n_running" ] || die "$running grains run, not $n_running"
sleep 1
R[many_rss]=$(rss_kib "$gd_pid")
# every running bridge's VmRSS
: >bridges.txt
for p in $(bridges); do rss_kib "$p" >>bridges.txt; done
read -r 'R[bridges_p50]' 'R[bridges_p90]' <<<"$(stats <bridges.txt)"
R[n_bridges]=$(wc -l <bridges.txt)
stop_granaryd

# ------------------------------------------------------------------------------------------------
# The table

mib() { awk -v k="$1" 'BEGIN { if (k ~ /^[0-9.]+$/) printf "%.2f MiB", k / 1024; else print "-" }'; }
verdict() { # VALUE OP TARGET
        awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { if (v !~ /^-?[0-9.]+$/ || t !~ /^-?[0-9.]+$/) { print "-"; exit }
                ok = op == "<=" ? v + 0 <= t + 0 : v + 0 >= t + 0; print ok ? "yes" : "**no**" }'
}
rows=''
row() { # METRIC VALUE TARGET MET
        rows="$rows
| $1 | $2 | $3 | $4 |"
        printf '%-58s %16s %22s %6s\n' "$1" "$2" "$3" "$4"
}
ratio_gd=$(awk -v g="${R[g_rps]}" -v d="${R[d_rps]}" 'BEGIN { if (g + 0 > 0 && d + 0 > 0) printf "%.2f", g / d; else print "-" }')
ratio_gn=$(awk -v g="${R[g_rps]}" -v n="${R[n_rps]}" 'BEGIN { if (g + 0 > 0 && n + 0 > 0) printf "%.2f", g / n; else print "-" }')
printf '%-58s %16s %22s %6s\n' metric value target met
row "hello's own start (exec to accepting), median of $starts" "${R[start_p50]} ms" "" ""
row "wake: first byte, median of $wakes (p90)" "${R[wake_p50]} ms (${R[wake_p90]})" "" ""
row "wake minus hello's start, median (p90)" "${R[wake_net_p50]} ms (${R[wake_net_p90]})" "≤ 10 ms" \
        "$(verdict "${R[wake_net_p50]}" '<=' 10)"
row "req/s through granaryd (p50, p99)" "${R[g_rps]} (${R[g_p50]}, ${R[g_p99]} ms)" "" ""
row "req/s directly (p50, p99)" "${R[d_rps]} (${R[d_p50]}, ${R[d_p99]} ms)" "" ""
row "req/s through nginx (p50, p99)" "${R[n_rps]} (${R[n_p50]}, ${R[n_p99]} ms)" "" ""
row "CPU per request through granaryd: granaryd+bridge+hello" "${R[g_cpu]} µs" "" ""
row "CPU per request directly: hello" "${R[d_cpu]} µs" "" ""
row "CPU per request through nginx: nginx+hello" "${R[n_cpu]} µs" "" ""
row "req/s through nginx, hello as batch work (p50)" "${R[b_rps]} (${R[b_p50]} ms)" "" ""
row "CPU per request, nginx to hello as batch work" "${R[b_cpu]} µs" "" ""
row "granaryd / direct" "$ratio_gd" "≥ 0.8" "$(verdict "$ratio_gd" '>=' 0.8)"
row "granaryd / nginx" "$ratio_gn" "≥ 1" "$(verdict "$ratio_gn" '>=' 1)"
row "p50 added by granaryd" "${R[g_added]} ms" "≤ nginx's: ${R[n_added]} ms" \
        "$(verdict "${R[g_added]}" '<=' "${R[n_added]}")"
row "granary-grain VmRSS, the benchmarked grain" "$(mib "${R[bridge_rss]}")" "≤ 1 MiB" \
        "$(verdict "${R[bridge_rss]}" '<=' 1024)"
row "granary-grain VmRSS, median (p90) of ${R[n_bridges]} running" \
        "$(mib "${R[bridges_p50]}") ($(mib "${R[bridges_p90]}"))" "≤ 1 MiB" "$(verdict "${R[bridges_p50]}" '<=' 1024)"
row "granaryd VmRSS at start" "$(mib "${R[many_rss_start]}")" "" ""
row "granaryd VmRSS, $n_grains grains created" "$(mib "${R[many_rss_created]}")" "" ""
row "granaryd VmRSS, $n_grains grains, $n_running running" "$(mib "${R[many_rss]}")" "≤ 64 MiB" \
        "$(verdict "${R[many_rss]}" '<=' 65536)"
row "creating a grain through the API, mean" "${R[create_ms]} ms" "" ""

results=$root/bench/results-grain.md
[ $quick -eq 0 ] || results=$workdir/results-grain.md
cat >"$results" <<EOF
# Grain benchmark results

Written by \`bench/run-grain.sh\`$([ $quick -eq 0 ] || echo ' --quick') on $(date -u '+%Y-%m-%d %H:%M UTC'). See README.md for what is measured and why.

| metric | value | target | met |
|---|---|---|---|$rows

- Machine: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(uname -sr); $pinning.
- Load average (1, 5, 15 min) at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg).
- Build: \`$build\`; $("$nginx" -v 2>&1 | sed 's/^nginx version: //'), one worker; $(wrk -v 2>&1 | head -n1 | awk '{ print $1, $2 }'); $(curl --version | head -n1 | awk '{ print $1, $2 }').
- Wake: \`granary grain stop\`, wait until \`granary grain list\` says stopped, then one \`curl\` on a new connection to the session host; its \`time_starttransfer\`. hello's start: \`posix_spawn\` of the binary to the first connection it accepts, probed from the other CPU.
- req/s: \`wrk -t1 -c$connections -d${duration}s --latency\`, $rounds rounds, each round running granaryd, hello directly, nginx, and nginx with hello as batch work in turn; each figure is from that server's round with the median req/s (all rounds below). Through granaryd with the session's Host and \`sandstorm-sid\` cookie (granaryd → hello, on the connections granary-grain handed over; the bridge's own CPU is counted too); nginx with \`proxy_http_version 1.1\`, an upstream \`keepalive 64\` and no access log. The p50 added is the proxy's p50 minus the direct p50.
- CPU per request: each process's time on a CPU (\`/proc/PID/schedstat\`) during the wrk run, divided by the requests wrk completed; unlike req/s, it hardly depends on what else the machine runs.
- A grain's processes are scheduled as batch work (\`SCHED_BATCH\`, under both backends), so that a grain woken by a request does not preempt granaryd; hello run directly and behind nginx is an ordinary process. The row "nginx, hello as batch work" shows nginx with the same policy for its hello, for comparison.
- Rounds (server, round, req/s, p50 ms, p99 ms, CPU µs per request; g granaryd, d direct, n nginx, b nginx to a batch hello):
$(awk '{ printf "  - %s\n", $0 }' rounds.txt)
$([ -z "$first_start_failed" ] || echo "- **The grain's first request was answered $first_start_failed**; the second 200.")
- RSS: VmRSS from \`/proc/PID/status\`; the grains made through \`POST /api/v1/grains\` on the control socket by one curl (the mean includes making each grain's directory), woken through a session with one request each, \`GRAIN_IDLE_SEC=0\` so that none stops meanwhile.
EOF
log "wrote $results"
