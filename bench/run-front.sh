#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The front server against nginx serving the same files (see bench/README.md, "front"):
#
#   HTTP/1.1 keep-alive (wrk)          requests/s and p99, the shell's index.html and a 100 KiB file
#   h2c with prior knowledge (h2load) requests/s, mean and max time per request
#   h2 over TLS (h2load)               the same
#   TLS handshakes (openssl s_time)    new connections per second, TLS 1.3, one client
#   10,000 idle keep-alive connections  VmRSS growth of the server process, KiB per connection, and how
#                                       soon it answers again after they all close at once
#
# usage: bench/run-front.sh [--quick] [--workdir DIR] [--keep] [--no-granaryd] [GRANARYD]
#   GRANARYD defaults to build-release/src/front/granaryd, built with
#     meson setup build-release --buildtype=release -Dtests=false && ninja -C build-release src/front/granaryd
#   --quick        2 s per measurement and 1,000 idle connections, results in the work directory: to try
#                  the script itself
#   --no-granaryd  measure nginx only (the granaryd column reads "-")
#   --workdir DIR  where the files, configs and logs go (default: a new directory under $TMPDIR or /tmp)
#   --keep         leave the work directory in place
#
# Both servers run one process (nginx: worker_processes 1) pinned to CPU 0, the load generators to CPU 1
# (when there are two CPUs or more), on 127.0.0.1 only, with the same self-signed ECDSA P-256 certificate
# and no access log. Prints a table and writes it, with the machine's details, to bench/results-front.md.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
granaryd=$root/build-release/src/front/granaryd
quick=0 workdir='' keep=0 with_granaryd=1
while [ $# -gt 0 ]; do
        case $1 in
        --quick) quick=1 ;;
        --workdir) workdir=$2; shift ;;
        --keep) keep=1 ;;
        --no-granaryd) with_granaryd=0 ;;
        -h | --help) sed -n '3,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "run-front.sh: unknown option $1" >&2; exit 2 ;;
        *) granaryd=$1 ;;
        esac
        shift
done
case $granaryd in /*) ;; *) granaryd=$(pwd)/$granaryd ;; esac
if [ $with_granaryd -eq 1 ] && [ ! -x "$granaryd" ]; then
        echo "run-front.sh: no granaryd at $granaryd (or use --no-granaryd)" >&2
        exit 1
fi
nginx=/usr/sbin/nginx
for t in "$nginx" wrk h2load openssl /usr/bin/python3 taskset ss; do
        command -v "$t" >/dev/null || { echo "run-front.sh: needs $t" >&2; exit 1; }
done

duration=10 idle_count=10000
[ $quick -eq 0 ] || { duration=2; idle_count=1000; }
# 10,000 connections need 10,000 descriptors on each side, and some to spare.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((idle_count + 1000)) ]; then
        echo "run-front.sh: ulimit -n is $(ulimit -n), too low for $idle_count connections" >&2
        exit 1
fi

if [ "$(nproc)" -ge 2 ]; then
        server_cpu='taskset -c 0'
        client_cpu='taskset -c 1'
        pinning="servers on CPU 0, load generators on CPU 1"
else
        server_cpu='' client_cpu=''
        pinning="one CPU: servers and load generators share it"
fi

if [ -z "$workdir" ]; then
        workdir=$(mktemp -d "${TMPDIR:-/tmp}/granary-bench-front.XXXXXX")
else
        mkdir -p "$workdir"
fi
workdir=$(cd "$workdir" && pwd)
cd "$workdir"

pids=''
cleanup() {
        for p in $pids; do kill "$p" 2>/dev/null || true; done
        for p in $pids; do wait "$p" 2>/dev/null || true; done
        [ $keep -eq 1 ] || rm -rf "$workdir"
}
trap cleanup EXIT
log() { printf '%s\n' "$*" >&2; }

free_port() {
        /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() { # PORT
        for _ in $(seq 100); do
                /usr/bin/python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' \
                        "$1" 2>/dev/null && return 0
                sleep 0.1
        done
        echo "run-front.sh: nothing listens on port $1" >&2
        return 1
}

# ------------------------------------------------------------------------------------------------
# The files, the certificate, the configs

mkdir -p shell logs tmp
cp "$root/src/shell/index.html" shell/
/usr/bin/python3 - <<'EOF'
import random
r = random.Random(100)
words = ["granary", "grain", "shell", "static", "file", "the", "a", "of", "and", "to", "\n"]
open("shell/100k.txt", "wb").write(" ".join(r.choice(words) for _ in range(40000)).encode()[:100 * 1024])
EOF
index_bytes=$(stat -c %s shell/index.html)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=granary.localhost \
        -addext 'subjectAltName=DNS:granary.localhost,DNS:*.granary.localhost' -keyout key.pem -out cert.pem \
        >/dev/null 2>&1

np1=$(free_port) np2=$(free_port) nps=$(free_port)
# Run as root, nginx's worker would be "nobody", which cannot read this directory: keep our own user.
nginx_user=''
[ "$(id -u)" -ne 0 ] || nginx_user="user $(id -un) $(id -gn);"
cat >nginx.conf <<EOF
$nginx_user
worker_processes 1;
worker_rlimit_nofile $((idle_count + 10000));
error_log $workdir/logs/nginx-error.log;
pid $workdir/nginx.pid;
events { worker_connections $((idle_count + 5000)); }
http {
        access_log off;
        sendfile on;
        tcp_nopush on;
        keepalive_timeout 75s;
        keepalive_requests 10000000;
        client_body_temp_path $workdir/tmp;
        proxy_temp_path $workdir/tmp;
        fastcgi_temp_path $workdir/tmp;
        uwsgi_temp_path $workdir/tmp;
        scgi_temp_path $workdir/tmp;
        types { text/html html; text/plain txt; }
        root $workdir/shell;
        index index.html;
        server { listen 127.0.0.1:$np1; server_name granary.localhost; }
        server { listen 127.0.0.1:$np2 http2; server_name granary.localhost; }
        server {
                listen 127.0.0.1:$nps ssl http2;
                server_name granary.localhost;
                ssl_certificate $workdir/cert.pem;
                ssl_certificate_key $workdir/key.pem;
                ssl_protocols TLSv1.2 TLSv1.3;
        }
}
EOF

# granaryd runs twice: with its plain port primary (HTTP/1.1 and h2c; with HTTPS configured the plain
# port only redirects), then with HTTPS.
gp=$(free_port) gps=$(free_port) gpr=$(free_port)
cat >granary.conf <<EOF
MAX_CONNECTIONS=$((idle_count + 5000))
MAX_CONNECTIONS_PER_ADDRESS=20000
TLS_CERT_FILE=$workdir/cert.pem
TLS_KEY_FILE=$workdir/key.pem
LOG_LEVEL=warning
EOF

start_nginx() {
        $server_cpu "$nginx" -c "$workdir/nginx.conf" -p "$workdir" -g 'daemon off;' >logs/nginx.out 2>&1 &
        server_pid=$!
        pids="$pids $server_pid"
        wait_port "$np1" && wait_port "$np2" && wait_port "$nps"
        # the worker is the process that serves
        for _ in $(seq 50); do
                worker_pid=$(pgrep -P "$server_pid" | head -n1 || true)
                [ -n "$worker_pid" ] && break
                sleep 0.1
        done
}
start_granaryd() { # tls|plain
        local args=(--dev "$workdir/state-$1" -c "$workdir/granary.conf" --shell-dir "$workdir/shell")
        if [ "$1" = tls ]; then
                args+=(--port "$gpr" --https-port "$gps")
        else
                args+=(--port "$gp")
        fi
        $server_cpu "$granaryd" "${args[@]}" >"logs/granaryd-$1.out" 2>&1 &
        server_pid=$!
        worker_pid=$server_pid
        pids="$pids $server_pid"
        if [ "$1" = tls ]; then wait_port "$gps"; else wait_port "$gp"; fi
}
stop_server() {
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
}

# ------------------------------------------------------------------------------------------------
# Measurements. Each prints "VALUE1 VALUE2" (the second may be "-").

# wrk_run URL HOST: requests/s and p99 latency in ms (HTTP/1.1, 50 keep-alive connections, one thread).
wrk_run() {
        local out
        out=$($client_cpu wrk -t1 -c50 -d"${duration}s" --latency -H "Host: $2" "$1" 2>&1)
        echo "$out" >>logs/wrk.log
        if ! echo "$out" | grep -q '^ *Non-2xx' && echo "$out" | grep -q 'Requests/sec'; then
                echo "$out" | awk '
                        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
                        /Requests\/sec/ { r = $2 }
                        $1 == "99%" { p = ms($2) }
                        END { printf "%.0f %.2f\n", r, p }'
        else
                echo "failed -"
        fi
}

# h2load_run URL AUTHORITY: requests/s, then mean and max time per request in ms (100 streams on each of
# 10 connections).
h2load_run() {
        local out
        out=$($client_cpu h2load -t1 -c10 -m100 -D "$duration" --warm-up-time=1 -H ":authority: $2" "$1" 2>&1)
        echo "$out" >>logs/h2load.log
        if echo "$out" | grep -q 'status codes: [1-9][0-9]* 2xx, 0 3xx, 0 4xx, 0 5xx'; then
                echo "$out" | awk '
                        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
                        /^finished in/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^req\/s/) r = $i }
                        /^time for request:/ { max = ms($5); mean = ms($6) }
                        END { printf "%.0f %.2f %.2f\n", r, mean, max }'
        else
                echo "failed - -"
        fi
}

# handshakes PORT: new TLS 1.3 connections per second, one client after another (openssl s_time), by the
# wall clock (s_time's own "real seconds" are whole seconds).
handshakes() {
        local out t0 t1
        t0=$(date +%s.%N)
        out=$($client_cpu openssl s_time -connect "127.0.0.1:$1" -new -time "$duration" 2>&1)
        t1=$(date +%s.%N)
        echo "$out" >>logs/s_time.log
        echo "$out" | awk -v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" '
                /connections in [0-9]+ real seconds/ { c = $1 }
                END { if (c && t > 0) printf "%.0f\n", c / t; else print "failed" }'
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# idle PORT HOST PID: VmRSS growth of PID per idle keep-alive connection, in KiB, with idle_count
# connections that each had one request answered, then PID's RSS with them, then how long after they all
# closed at once (the client exits) a new request is answered, in seconds.
idle() {
        local before after out
        before=$(rss_kib "$3")
        rm -f idle.ready idle.stop
        $client_cpu /usr/bin/python3 "$root/tests/integration/rawhttp.py" --port "$1" --timeout 60 --host-header "$2" \
                idle --count "$idle_count" --ready-file idle.ready --stop-file idle.stop >idle.out 2>&1 &
        local client=$!
        for _ in $(seq 900); do [ -e idle.ready ] && break; kill -0 "$client" 2>/dev/null || break; sleep 0.1; done
        sleep 1
        after=$(rss_kib "$3")
        touch idle.stop
        wait "$client" || true
        local t0 t1 code=''
        t0=$(date +%s.%N)
        for _ in $(seq 120); do
                code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 -H "Host: $2" "http://127.0.0.1:$1/" || true)
                [ "$code" = 200 ] && break
        done
        t1=$(date +%s.%N)
        cat idle.out >>logs/idle.log
        out=$(awk -F= '$1 == "answered" { print $2 }' idle.out)
        if [ "$out" = "$idle_count" ]; then
                awk -v a="$after" -v b="$before" -v n="$idle_count" -v t0="$t0" -v t1="$t1" -v c="$code" \
                        'BEGIN { printf "%.2f %d %s\n", (a - b) / n, a, c == "200" ? sprintf("%.2f", t1 - t0) : "never" }'
        else
                echo "failed($out) - -"
        fi
}

declare -A G N
measure() { # g|n: fills G or N
        local -n R=$1
        local plain_port h2c_port tls_port
        if [ "$1" = N ]; then
                start_nginx
                plain_port=$np1 h2c_port=$np2 tls_port=$nps
        else
                start_granaryd plain
                plain_port=$gp h2c_port=$gp tls_port=''
        fi
        log "  HTTP/1.1, index.html"
        read -r 'R[h1_rps]' 'R[h1_p99]' <<<"$(wrk_run "http://127.0.0.1:$plain_port/" "granary.localhost:$plain_port")"
        log "  HTTP/1.1, 100 KiB"
        read -r 'R[h1b_rps]' 'R[h1b_p99]' <<<"$(wrk_run "http://127.0.0.1:$plain_port/100k.txt" "granary.localhost:$plain_port")"
        log "  h2c, index.html"
        read -r 'R[h2c_rps]' 'R[h2c_mean]' 'R[h2c_max]' <<<"$(h2load_run "http://127.0.0.1:$h2c_port/" "granary.localhost:$h2c_port")"
        log "  h2c, 100 KiB"
        read -r 'R[h2cb_rps]' 'R[h2cb_mean]' 'R[h2cb_max]' <<<"$(h2load_run "http://127.0.0.1:$h2c_port/100k.txt" "granary.localhost:$h2c_port")"
        if [ "$1" = G ]; then
                stop_server
                start_granaryd tls
                tls_port=$gps
        fi
        log "  h2 over TLS, index.html"
        read -r 'R[h2_rps]' 'R[h2_mean]' 'R[h2_max]' <<<"$(h2load_run "https://127.0.0.1:$tls_port/" "granary.localhost:$tls_port")"
        log "  TLS handshakes"
        R[hs]=$(handshakes "$tls_port")
        stop_server

        # on a fresh process, which has served nothing: what it needs to start, then per connection
        if [ "$1" = N ]; then start_nginx; else start_granaryd plain; fi
        log "  $idle_count idle connections"
        R[idle_rss_before]=$(rss_kib "$worker_pid")
        read -r 'R[idle_kib]' 'R[idle_rss_after]' 'R[idle_recover]' \
                <<<"$(idle "$plain_port" "granary.localhost:$plain_port" "$worker_pid")"
        stop_server
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "work directory: $workdir"
log "nginx"
measure N
if [ $with_granaryd -eq 1 ]; then
        log "granaryd: $granaryd"
        measure G
fi

# ------------------------------------------------------------------------------------------------
# The table

ratio() { # granaryd nginx [lower-is-better]
        awk -v g="$1" -v n="$2" 'BEGIN { if (g + 0 > 0 && n + 0 > 0 && g ~ /^[0-9.]+$/ && n ~ /^[0-9.]+$/) printf "%.2f", g / n; else print "-" }'
}
rows=''
row() { # METRIC KEY UNIT
        local g=${G[$2]:--} n=${N[$2]:--}
        rows="$rows
| $1 | $g$3 | $n$3 | $(ratio "$g" "$n") |"
        printf '%-46s %14s %14s %7s\n' "$1" "$g$3" "$n$3" "$(ratio "$g" "$n")"
}
printf '%-46s %14s %14s %7s\n' metric granaryd nginx ratio
row "HTTP/1.1 index.html ($index_bytes B), req/s" h1_rps ""
row "HTTP/1.1 index.html, p99 latency" h1_p99 " ms"
row "HTTP/1.1 100 KiB, req/s" h1b_rps ""
row "HTTP/1.1 100 KiB, p99 latency" h1b_p99 " ms"
row "h2c index.html, req/s" h2c_rps ""
row "h2c index.html, mean time per request" h2c_mean " ms"
row "h2c index.html, max time per request" h2c_max " ms"
row "h2c 100 KiB, req/s" h2cb_rps ""
row "h2c 100 KiB, mean time per request" h2cb_mean " ms"
row "h2 over TLS index.html, req/s" h2_rps ""
row "h2 over TLS index.html, mean time per request" h2_mean " ms"
row "h2 over TLS index.html, max time per request" h2_max " ms"
row "TLS 1.3 handshakes/s (one client)" hs ""
row "idle keep-alive connection, RSS per connection" idle_kib " KiB"
row "RSS at start" idle_rss_before " KiB"
row "RSS with $idle_count idle connections" idle_rss_after " KiB"
row "answering again after they all close at once" idle_recover " s"

results=$root/bench/results-front.md
[ $quick -eq 0 ] || results=$workdir/results-front.md
cat >"$results" <<EOF
# Front server benchmark results

Written by \`bench/run-front.sh\`$([ $quick -eq 0 ] || echo ' --quick') on $(date -u '+%Y-%m-%d %H:%M UTC'). See README.md for what is measured and why. Ratios are granaryd / nginx: above 1 is better for granaryd in req/s and handshakes, worse in times and memory.

| metric | granaryd | nginx | ratio |
|---|---|---|---|$rows

- Machine: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(uname -sr); $pinning.
- Load average (1, 5, 15 min) at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg).
- granaryd: \`$([ $with_granaryd -eq 1 ] && echo "$granaryd" || echo 'not measured')\`; $("$nginx" -v 2>&1 | sed 's/^nginx version: //'), one worker; $(wrk -v 2>&1 | head -n1 | awk '{ print $1, $2 }'); $(h2load --version | head -n1); $(openssl version | awk '{ print $1, $2 }').
- HTTP/1.1: \`wrk -t1 -c50 -d${duration}s --latency\`. h2c and h2: \`h2load -t1 -c10 -m100 -D $duration --warm-up-time=1\` (h2load reports no percentiles: mean and max of its "time for request"). Handshakes: \`openssl s_time -new -time $duration\` (TLS 1.3, no SNI, no request). Idle: $idle_count connections from one Python process, each sends \`GET /\` and reads the answer, then stays open; VmRSS of the serving process (nginx's worker), freshly started, before and one second after the last answer; then the client exits, closing them all at once, and \`curl --max-time 1\` is repeated until one answer comes.
- The same ECDSA P-256 certificate on both; nginx with \`sendfile\`, \`keepalive_requests 10000000\` and no access log; granaryd with \`MAX_CONNECTIONS_PER_ADDRESS=20000\`, \`LOG_LEVEL=warning\`, and its security headers on every answer (nginx sends none).
EOF
log "wrote $results"
