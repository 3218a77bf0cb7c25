#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# granary-grain as a grain runs it: socket-activated (systemd-socket-activate passes LISTEN_FDS, as the
# grain's socket unit does), with a small app (app.py) behind it on another loopback port. Checks what
# DESIGN.md "Grains" and sandstorm-spec.md §5.1/§6.6 promise: requests pass through unchanged, a request
# made before the app listens waits for it, READY=1 reaches NOTIFY_SOCKET, idle and SIGTERM stop the app
# and exit 0, an open connection keeps the grain alive, the app's death is the bridge's exit status, big
# bodies cross byte-exact both ways, half-closes are passed on, messages of every size around the switch
# from copying to splicing arrive intact, and the bridge is static and small, idle connections included;
# and the hand-over granaryd uses: the app's own connection passed back, with a lease that counts as open.
# Only loopback; no namespaces, mounts or privilege changes.
. "$SOURCE_ROOT/tests/lib/tap.sh"

APP=$SOURCE_ROOT/tests/grain/app.py
CLIENT=$SOURCE_ROOT/tests/grain/client.py
# Debian's interpreter when there is one: a version manager's shim may not survive the bridge's
# environment, and costs more than the test it starts.
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)
PIDS=''
PORTS=''

cleanup() {
        for pid in $PIDS; do
                kill -KILL "$pid" 2>/dev/null
        done
        wait 2>/dev/null
        if [ -n "${KEEP_TMP:-}" ]; then echo "# kept $TAP_TMP"; else rm -rf "$TAP_TMP"; fi
}
trap cleanup EXIT

# A TCP port nobody listens on at this moment, never the same twice in this script.
free_port() {
        while :; do
                p=$("$PYTHON" "$CLIENT" freeport)
                case " $PORTS " in *" $p "*) continue ;; esac
                PORTS="$PORTS $p"
                echo "$p"
                return
        done
}

# curl to loopback only, whatever proxy the environment names.
get() { curl --noproxy '*' -sS --max-time 30 "$@"; }

# Writes the shell's own signal mask and ignored set to stderr, then runs the app. Builtins only: a command
# the shell forked would read the mask the shell holds while forking.
APP_WRAPPER='while read -r key value; do
        case $key in SigBlk:|SigIgn:) echo "$key $value" >&2 ;; esac
done </proc/$$/status
exec "$@"'

# grain_start NAME IDLE_SEC [APP ARGS...]: granary-grain under systemd-socket-activate, the app being
# app.py on a port of its own, started through APP_WRAPPER. Extra "-E VAR=VALUE" options for
# systemd-socket-activate come from $GRAIN_ENV, another listening address from $GRAIN_LISTEN. Sets g_port (where clients connect), g_app_port, g_log,
# g_dir; the bridge's pid is in $g_dir/pid once it runs (the first connection starts it) and its exit
# status in $g_dir/status once it ends.
grain_start() {
        g_dir=$TAP_TMP/$1
        g_idle=$2
        g_status=''
        shift 2
        mkdir -p "$g_dir"
        g_log=$g_dir/log
        g_port=$(free_port)
        g_app_port=$(free_port)
        # shellcheck disable=SC2086 # GRAIN_ENV is a list of options
        (
                sh -c 'echo $$ >"$0/pid"; exec "$@"' "$g_dir" \
                        systemd-socket-activate -l "${GRAIN_LISTEN:-127.0.0.1:$g_port}" \
                        -E "GRANARY_GRAIN_IDLE_SEC=$g_idle" \
                        -E MANIFEST_VAR=from-manifest $GRAIN_ENV \
                        "$GRAIN" "$g_app_port" -- \
                        /bin/sh -c "$APP_WRAPPER" app \
                        "$PYTHON" "$APP" "$g_app_port" "$@" >"$g_log" 2>&1
                echo $? >"$g_dir/status"
        ) &
        wait_for 10 test -s "$g_dir/pid" && wait_for 10 grep -q '^Listening on' "$g_log"
        g_pid=$(cat "$g_dir/pid")
        PIDS="$PIDS $g_pid"
}

# grain_wait_exit SECONDS: waits for the bridge of the last grain_start to end; sets g_status.
grain_wait_exit() {
        wait_for "$1" test -s "$g_dir/status" || return 1
        g_status=$(cat "$g_dir/status")
}

# app_gone PID: no such process any more (or only a zombie nobody reaped yet).
app_gone() {
        ! [ -e "/proc/$1" ] || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

log_has() { grep -qF -- "$2" "$1"; }

command -v systemd-socket-activate >/dev/null || {
        skip "systemd-socket-activate is not installed (package systemd)"
        done_testing
        exit
}

# ------------------------------------------------------------------------------------------------
# The binary

out=$(ldd "$GRAIN" 2>&1)
case "$out" in
*"not a dynamic executable"*) ok "statically linked: ldd says 'not a dynamic executable'" ;;
*) not_ok "statically linked: ldd says 'not a dynamic executable'"; diag "$out" ;;
esac

out=$("$GRAIN" --help)
[ $? -eq 0 ] && echo "$out" | grep -q '^Usage: granary-grain <port> -- <command>' &&
        ok "--help prints the usage and exits 0" || { not_ok "--help prints the usage and exits 0"; diag "$out"; }

"$GRAIN" 8000 "$PYTHON" >out.txt 2>err.txt
st=$?
[ $st -eq 2 ] && [ "$(grep -c '' err.txt)" -eq 1 ] && grep -q '^\*\* granary-grain: .*Usage:' err.txt &&
        ok "no '--': exit 2 and one usage line" || { not_ok "no '--': exit 2 and one usage line ($st)"; diag "$(cat err.txt)"; }
"$GRAIN" 0 -- true >out.txt 2>err.txt
st=$?
[ $st -eq 2 ] && grep -q 'Invalid port' err.txt && ok "port 0: exit 2" || { not_ok "port 0: exit 2 ($st)"; diag "$(cat err.txt)"; }

"$GRAIN" 8000 -- true >out.txt 2>err.txt
st=$?
[ $st -eq 1 ] && grep -qx '\*\* granary-grain: No listening socket passed (LISTEN_FDS); .*' err.txt &&
        ok "without LISTEN_FDS: exit 1 and says why" || { not_ok "without LISTEN_FDS: exit 1 ($st)"; diag "$(cat err.txt)"; }

# --granary-exec, as the systemd backend's unit starts it (front/grains-systemd.h): the command of
# $GRANARY_GRAIN_ARGV in the environment $GRANARY_GRAIN_ENV lists, with socket activation's variables and
# nothing else of the service manager's. No seccomp here.
env -i PATH=/usr/bin:/bin KEPT=1 USER=grain LISTEN_PID=7 LISTEN_FDS=1 LISTEN_FDNAMES=x NOTIFY_SOCKET=/run/n \
        GRANARY_GRAIN_ARGV='/usr/bin/env' \
        GRANARY_GRAIN_ENV='HOME=/var A=x\x20y\x3d\x5cz EMPTY= GRANARY_GRAIN_SECCOMP=1 GRANARY_GRAIN_ARGV=/bin/sh KEPT=2' \
        "$GRAIN" --granary-exec >out.txt 2>err.txt
st=$?
sort out.txt >env.txt
printf '%s\n' 'A=x y=\z' EMPTY= HOME=/var KEPT=2 LISTEN_FDS=1 LISTEN_PID=7 NOTIFY_SOCKET=/run/n >want.txt
[ $st -eq 0 ] && cmp -s env.txt want.txt &&
        ok "--granary-exec: the command's environment is \$GRANARY_GRAIN_ENV's and socket activation's" ||
        { not_ok "--granary-exec: the command's environment is \$GRANARY_GRAIN_ENV's ($st)"; diag "$(cat env.txt err.txt)"; }
env -i PATH=/usr/bin:/bin GRANARY_GRAIN_ARGV='/usr/bin/env' GRANARY_GRAIN_ENV='' "$GRAIN" --granary-exec \
        >out.txt 2>err.txt
st=$?
[ $st -eq 0 ] && [ ! -s out.txt ] && ok "--granary-exec with an empty \$GRANARY_GRAIN_ENV: an empty environment" ||
        { not_ok "--granary-exec with an empty \$GRANARY_GRAIN_ENV ($st)"; diag "$(cat out.txt err.txt)"; }
env -i PATH=/usr/bin:/bin A=1 GRANARY_GRAIN_ARGV='/usr/bin/env' "$GRAIN" --granary-exec >out.txt 2>err.txt
st=$?
[ $st -eq 0 ] && [ "$(sort out.txt | tr '\n' ' ')" = "A=1 PATH=/usr/bin:/bin " ] &&
        ok "--granary-exec without \$GRANARY_GRAIN_ENV (an older environment file): the environment as it is" ||
        { not_ok "--granary-exec without \$GRANARY_GRAIN_ENV ($st)"; diag "$(cat out.txt err.txt)"; }
for bad in '=x' 'NOEQUALS' 'A=\x00' 'A=\xg1' 'A=1  B=2'; do
        env -i GRANARY_GRAIN_ARGV='/usr/bin/env' GRANARY_GRAIN_ENV="$bad" "$GRAIN" --granary-exec >out.txt 2>err.txt
        st=$?
        [ $st -eq 2 ] && [ ! -s out.txt ] && grep -q 'invalid \$GRANARY_GRAIN_ENV' err.txt &&
                ok "--granary-exec with \$GRANARY_GRAIN_ENV '$bad': exit 2, nothing run" ||
                { not_ok "--granary-exec with \$GRANARY_GRAIN_ENV '$bad': exit 2 ($st)"; diag "$(cat out.txt err.txt)"; }
done

# ------------------------------------------------------------------------------------------------
# A grain whose app listens only after 1.5 s, with READY=1 going to a notify socket (a path)

head -c 10485760 /dev/urandom >big
big_sha=$(sha256sum <big | cut -d' ' -f1)

"$PYTHON" "$CLIENT" notify "$TAP_TMP/notify" "$TAP_TMP/notify.txt" 30 &
notify_pid=$!
PIDS="$PIDS $notify_pid"
wait_for 10 test -e "$TAP_TMP/notify.txt.bound"

GRAIN_ENV="-E NOTIFY_SOCKET=$TAP_TMP/notify"
grain_start main 0 --delay 1.5 --file "$TAP_TMP/big"
main_pid=$g_pid
main_port=$g_port
main_log=$g_log

# The first connection starts the bridge, which starts the app; the request waits until the app listens.
out=$(get -w '\n%{http_code} %{time_total}' "http://127.0.0.1:$main_port/hello")
body=$(echo "$out" | head -n 1)
code=$(echo "$out" | tail -n 1 | cut -d' ' -f1)
secs=$(echo "$out" | tail -n 1 | cut -d' ' -f2)
if [ "$body" = hello ] && [ "$code" = 200 ] && awk -v s="$secs" 'BEGIN { exit !(s >= 1.4) }'; then
        ok "a request made before the app listens waits for it (${secs}s) and succeeds"
else
        not_ok "a request made before the app listens waits for it and succeeds"; diag "$out"; diag "$(cat "$main_log")"
fi

if wait $notify_pid; then
        ok "READY=1 reaches NOTIFY_SOCKET (a path)"
else
        not_ok "READY=1 reaches NOTIFY_SOCKET (a path)"; diag "$(cat notify.txt 2>/dev/null)"
fi
grep -qx "STATUS=App is listening on 127.0.0.1:$g_app_port" notify.txt &&
        ok "with STATUS= naming the app's port" || { not_ok "with STATUS= naming the app's port"; diag "$(cat notify.txt)"; }

# Requests pass through unchanged: status, headers, body.
get -D headers.txt -o body.txt "http://127.0.0.1:$main_port/hello"
tr -d '\r' <headers.txt >h.txt
[ "$(head -n 1 h.txt)" = "HTTP/1.1 200 OK" ] && grep -qx 'X-App: granary-test' h.txt &&
        grep -qx 'Content-Length: 6' h.txt && [ "$(cat body.txt)" = hello ] &&
        ok "a request passes through: status line, the app's headers and body" ||
        { not_ok "a request passes through"; diag "$(cat h.txt body.txt)"; }
code=$(get -o body.txt -w '%{http_code}' "http://127.0.0.1:$main_port/nothing")
[ "$code" = 404 ] && [ "$(cat body.txt)" = "no such thing" ] && ok "the app's 404 passes through" ||
        { not_ok "the app's 404 passes through ($code)"; diag "$(cat body.txt)"; }

# Many at once.
for i in $(seq 40); do
        get -o "par-$i.txt" "http://127.0.0.1:$main_port/hello" &
done
wait_for 30 sh -c '[ "$(cat par-*.txt 2>/dev/null | grep -cx hello)" -eq 40 ]' &&
        ok "40 requests at once all succeed" || { not_ok "40 requests at once all succeed"; diag "$(cat par-*.txt | sort | uniq -c)"; }

# The app's environment: what the bridge got, plus Sandstorm's proxy variables, minus the activation's.
get -o env.txt "http://127.0.0.1:$main_port/env"
grep -qx 'http_proxy=http://127.0.0.1:15239/' env.txt && grep -qx 'HTTP_PROXY=http://127.0.0.1:15239/' env.txt &&
        grep -qx 'no_proxy=localhost,127.0.0.1' env.txt &&
        ok "the app gets http_proxy, HTTP_PROXY and no_proxy" || { not_ok "the app gets the proxy variables"; diag "$(cat env.txt)"; }
grep -qx 'MANIFEST_VAR=from-manifest' env.txt && ok "the app gets the bridge's environment" ||
        { not_ok "the app gets the bridge's environment"; diag "$(cat env.txt)"; }
! grep -Eq '^(LISTEN_FDS|LISTEN_PID|LISTEN_FDNAMES|NOTIFY_SOCKET|GRANARY_GRAIN_IDLE_SEC)=' env.txt &&
        ok "LISTEN_*, NOTIFY_SOCKET and GRANARY_GRAIN_IDLE_SEC are not passed to the app" ||
        { not_ok "LISTEN_*, NOTIFY_SOCKET and GRANARY_GRAIN_IDLE_SEC are not passed on"; diag "$(cat env.txt)"; }

# How the app was started: fd 3 closed, no blocked signals, SIGPIPE not ignored.
log_has "$main_log" "app: fd 3 is closed" && ok "the app does not inherit the listening socket (fd 3)" ||
        { not_ok "the app does not inherit the listening socket"; diag "$(cat "$main_log")"; }
blk=$(sed -n 's/^SigBlk:[[:space:]]*//p' "$main_log" | head -n 1)
ign=$(sed -n 's/^SigIgn:[[:space:]]*//p' "$main_log" | head -n 1)
[ -n "$blk" ] && [ $((0x$blk)) -eq 0 ] && ok "the app starts with an empty signal mask" ||
        { not_ok "the app starts with an empty signal mask"; diag "SigBlk: $blk"; }
[ -n "$ign" ] && [ $((0x$ign & (1 << 12))) -eq 0 ] && ok "the app starts with SIGPIPE not ignored" ||
        { not_ok "the app starts with SIGPIPE not ignored"; diag "SigIgn: $ign"; }
log_has "$main_log" "app: starting on stdout" && log_has "$main_log" "app: listening on stderr" &&
        ok "the app's stdout and stderr go to the grain's log" || { not_ok "the app's output goes to the log"; diag "$(cat "$main_log")"; }

# Big bodies, byte-exact, both ways and both at once.
sha=$(get "http://127.0.0.1:$main_port/file" | sha256sum | cut -d' ' -f1)
[ "$sha" = "$big_sha" ] && ok "a 10 MiB download is byte-exact" || not_ok "a 10 MiB download is byte-exact"
sha=$(get --data-binary @big -H 'Content-Type: application/octet-stream' "http://127.0.0.1:$main_port/sha256")
[ "$sha" = "$big_sha" ] && ok "a 10 MiB upload is byte-exact" || { not_ok "a 10 MiB upload is byte-exact"; diag "$sha"; }
sha=$(get --data-binary @big -H 'Content-Type: application/octet-stream' "http://127.0.0.1:$main_port/echo" |
        sha256sum | cut -d' ' -f1)
[ "$sha" = "$big_sha" ] && ok "10 MiB echoed while uploading is byte-exact" || not_ok "10 MiB echoed while uploading is byte-exact"
# A client that reads slowly: back-pressure reaches the app, and nothing is lost.
sha=$(get --limit-rate 4M "http://127.0.0.1:$main_port/file" | sha256sum | cut -d' ' -f1)
[ "$sha" = "$big_sha" ] && ok "a 10 MiB download read slowly is byte-exact" || not_ok "a 10 MiB download read slowly is byte-exact"

# Half-close: the app sees the client's EOF, and its answer still comes back.
out=$("$PYTHON" "$CLIENT" half "$main_port" 1048576 2>&1) && ok "a half-close reaches the app and the answer comes back" ||
        { not_ok "a half-close reaches the app and the answer comes back"; diag "$out"; }

# Messages of every size on one connection, around the point (GRAIN_BUFFER_SIZE, 16 KiB) where the bridge
# stops copying through its buffer and splices through a pipe, and back: each comes back byte-exact.
out=$("$PYTHON" "$CLIENT" sizes "$main_port" 1 100 16379 16383 16384 16385 16386 65536 65537 1 200001 5 \
        16384 2 2>&1) &&
        ok "messages of 1 B to 200 kB, around 16 KiB, alternating on one connection, are byte-exact" ||
        { not_ok "messages of 1 B to 200 kB alternating on one connection are byte-exact"; diag "$out"; }

# 64 idle keep-alive connections: two descriptors each (a pipe only comes with a big body), little memory,
# and all still work afterwards.
fd_count() { ls "/proc/$1/fd" | grep -c ''; }
# Until the connections before have all been closed: the count holds still.
wait_for 5 sh -c 'a=$(ls /proc/$0/fd | grep -c ""); sleep 0.2; [ "$a" -eq "$(ls /proc/$0/fd | grep -c "")" ]' \
        "$main_pid"
fds0=$(fd_count "$main_pid")
mkfifo idle.fifo
"$PYTHON" "$CLIENT" idle "$main_port" 64 "$TAP_TMP/idle.ready" <idle.fifo >idle.out 2>&1 &
idle_pid=$!
exec 7>idle.fifo
wait_for 20 test -e "$TAP_TMP/idle.ready"
fds=$(fd_count "$main_pid")
rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$main_pid/status")
[ "$fds" -eq $((fds0 + 128)) ] &&
        ok "64 idle keep-alive connections hold two descriptors each ($fds0 + 128)" ||
        not_ok "64 idle keep-alive connections hold two descriptors each: $fds0 then $fds"
[ -n "$rss" ] && [ "$rss" -le 1024 ] && ok "VmRSS with 64 idle keep-alive connections: $rss kB <= 1 MiB" ||
        not_ok "VmRSS with 64 idle keep-alive connections: $rss kB <= 1 MiB"
exec 7>&-
wait $idle_pid && ok "and all 64 still pass bytes afterwards" ||
        { not_ok "the 64 idle connections still work"; diag "$(cat idle.out)"; }

# Memory while serving: four slow downloads and a held connection.
for i in 1 2 3 4; do
        get --limit-rate 5M -o "slow-$i.bin" "http://127.0.0.1:$main_port/file" &
done
"$PYTHON" "$CLIENT" hold "$main_port" 2 >/dev/null 2>&1 &
max=0
for i in $(seq 20); do
        rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$main_pid/status")
        [ -n "$rss" ] && [ "$rss" -gt "$max" ] && max=$rss
        sleep 0.1
done
wait_for 30 sh -c '[ "$(cat slow-*.bin 2>/dev/null | wc -c)" -eq $((4 * 10485760)) ]'
[ "$max" -gt 0 ] && [ "$max" -le 1024 ] && ok "VmRSS while serving five connections: $max kB <= 1 MiB" ||
        not_ok "VmRSS while serving five connections: $max kB <= 1 MiB"
for i in 1 2 3 4; do
        [ "$(sha256sum <"slow-$i.bin" | cut -d' ' -f1)" = "$big_sha" ] || { not_ok "slow download $i is byte-exact"; break; }
done

# SIGTERM: the app is stopped, the bridge exits 0.
app_pid=$(get "http://127.0.0.1:$main_port/pid")
kill -TERM "$main_pid"
if grain_wait_exit 10 && [ "$g_status" = 0 ] && log_has "$main_log" "** granary-grain: Received SIGTERM; stopping the app." &&
        app_gone "$app_pid"; then
        ok "SIGTERM stops the app and exits 0"
else
        not_ok "SIGTERM stops the app and exits 0 (${g_status:-running})"; diag "$(cat "$main_log")"
fi
GRAIN_ENV=''

# ------------------------------------------------------------------------------------------------
# More connections before the app listens than the bridge queues: the rest wait in the kernel's backlog.

grain_start queue 0 --delay 1
for i in $(seq 80); do
        get -o "queue-$i.txt" "http://127.0.0.1:$g_port/hello" &
done
wait_for 30 sh -c '[ "$(cat queue-*.txt 2>/dev/null | grep -cx hello)" -eq 80 ]' &&
        ok "80 requests made before the app listens all succeed once it does" ||
        { not_ok "80 requests made before the app listens"; diag "$(cat queue-*.txt | sort | uniq -c)"; }
kill -TERM "$g_pid"
grain_wait_exit 10

# ------------------------------------------------------------------------------------------------
# A Unix listening socket, as the direct backend may pass

GRAIN_LISTEN=$TAP_TMP/grain.sock
grain_start unix 0 --file "$TAP_TMP/big"
out=$(get --unix-socket "$GRAIN_LISTEN" "http://grain/hello")
[ "$out" = hello ] && ok "a Unix listening socket: a request passes through" || { not_ok "a Unix listening socket"; diag "$out"; }
sha=$(get --unix-socket "$GRAIN_LISTEN" "http://grain/file" | sha256sum | cut -d' ' -f1)
[ "$sha" = "$big_sha" ] && ok "a Unix listening socket: a 10 MiB download is byte-exact" ||
        not_ok "a Unix listening socket: a 10 MiB download is byte-exact"
sha=$(get --unix-socket "$GRAIN_LISTEN" --data-binary @big -H 'Content-Type: application/octet-stream' \
        "http://grain/echo" | sha256sum | cut -d' ' -f1)
[ "$sha" = "$big_sha" ] && ok "a Unix listening socket: 10 MiB echoed while uploading is byte-exact" ||
        not_ok "a Unix listening socket: 10 MiB echoed while uploading is byte-exact"

# The hand-over, as granaryd asks for it: a NUL byte first, and the app's own connection comes back.
out=$("$PYTHON" "$CLIENT" handover-get "$GRAIN_LISTEN" "$g_app_port" /hello 2>&1)
[ "$out" = hello ] &&
        ok "a hand-over: one NUL byte with a TCP socket connected to 127.0.0.1:<port>, and the app answers on it" ||
        { not_ok "a hand-over gives the app's connection"; diag "$out"; diag "$(cat "$g_log")"; }
out=$("$PYTHON" "$CLIENT" handover-get "$GRAIN_LISTEN" "$g_app_port" /peer 2>&1)
case $out in
"127.0.0.1 "*) ok "the app sees a handed-over connection come from 127.0.0.1" ;;
*) not_ok "the app sees a handed-over connection come from 127.0.0.1"; diag "$out" ;;
esac
kill -TERM "$g_pid"
grain_wait_exit 10

# A hand-over asked for before the app listens waits for it, like any connection.
grain_start unix-late 0 --delay 1
out=$("$PYTHON" "$CLIENT" handover-get "$GRAIN_LISTEN" "$g_app_port" /hello 2>&1)
[ "$out" = hello ] && ok "a hand-over asked for before the app listens comes once it does" ||
        { not_ok "a hand-over asked for before the app listens"; diag "$out"; diag "$(cat "$g_log")"; }
kill -TERM "$g_pid"
grain_wait_exit 10

# A lease keeps the grain running past its idle time, as an open connection does; then it stops.
grain_start unix-lease 1
out=$("$PYTHON" "$CLIENT" handover-hold "$GRAIN_LISTEN" "$g_app_port" 3 2>&1)
held=$?
if [ $held -eq 0 ] && ! [ -s "$g_dir/status" ]; then
        ok "a lease keeps the grain alive for 3 s past an idle time of 1 s, its socket passing bytes"
else
        not_ok "a lease keeps the grain alive"; diag "$out"; diag "$(cat "$g_log")"
fi
grain_wait_exit 10 && [ "$g_status" = 0 ] && log_has "$g_log" "Grain no longer in use" &&
        ok "and the grain stops once the lease is closed" || { not_ok "the grain stops once the lease closes"; diag "$(cat "$g_log")"; }
GRAIN_LISTEN=''

# ------------------------------------------------------------------------------------------------
# Idle

grain_start idle 1
get -o /dev/null "http://127.0.0.1:$g_port/hello"
app_pid=$(get "http://127.0.0.1:$g_port/pid")
if grain_wait_exit 10 && [ "$g_status" = 0 ] && log_has "$g_log" "** granary-grain: Grain no longer in use; shutting down." &&
        app_gone "$app_pid"; then
        ok "idle for GRANARY_GRAIN_IDLE_SEC=1: the app is stopped, exit 0 and the log says so"
else
        not_ok "idle exit (${g_status:-still running})"; diag "$(cat "$g_log")"
fi

# An open connection (a WebSocket, say) keeps the grain running past the idle time.
grain_start held 1
get -o /dev/null "http://127.0.0.1:$g_port/hello"
out=$("$PYTHON" "$CLIENT" hold "$g_port" 3 2>&1)
held=$?
if [ $held -eq 0 ] && ! [ -s "$g_dir/status" ]; then
        ok "an open connection keeps the grain alive for 3 s past an idle time of 1 s"
else
        not_ok "an open connection keeps the grain alive"; diag "$out"; diag "$(cat "$g_log")"
fi
grain_wait_exit 10 && [ "$g_status" = 0 ] && log_has "$g_log" "Grain no longer in use" &&
        ok "and the grain stops once it closes" || { not_ok "the grain stops once the connection closes"; diag "$(cat "$g_log")"; }

# An app that ignores SIGTERM gets SIGKILL after 5 s; still exit 0.
grain_start stubborn 1 --ignore-term
get -o /dev/null "http://127.0.0.1:$g_port/hello"
if grain_wait_exit 15 && [ "$g_status" = 0 ] && log_has "$g_log" "App still running 5 s after SIGTERM; killing it." &&
        log_has "$g_log" "App killed by signal 9 (SIGKILL)"; then
        ok "an app that ignores SIGTERM is killed after 5 s, exit 0"
else
        not_ok "an app that ignores SIGTERM is killed after 5 s (${g_status:-running})"; diag "$(cat "$g_log")"
fi

# ------------------------------------------------------------------------------------------------
# The app's death is the grain's

grain_start exit 0
get -o /dev/null "http://127.0.0.1:$g_port/exit/7"
grain_wait_exit 10 && [ "$g_status" = 7 ] && log_has "$g_log" "** granary-grain: App exited with status 7" &&
        ok "the app exits with 7: the bridge exits 7 and says so" || { not_ok "app exit 7 (${g_status:-running})"; diag "$(cat "$g_log")"; }

grain_start crash 0
get -o /dev/null "http://127.0.0.1:$g_port/kill/9"
grain_wait_exit 10 && [ "$g_status" = 137 ] && log_has "$g_log" "** granary-grain: App killed by signal 9 (SIGKILL)" &&
        ok "the app is killed by SIGKILL: the bridge exits 137 and says so" ||
        { not_ok "app killed (${g_status:-running})"; diag "$(cat "$g_log")"; }

grain_start segv 0
get -o /dev/null "http://127.0.0.1:$g_port/kill/11"
grain_wait_exit 10 && [ "$g_status" = 139 ] && log_has "$g_log" "** granary-grain: App killed by signal 11 (SIGSEGV)" &&
        ok "the app crashes with SIGSEGV: the bridge exits 139 and says so" ||
        { not_ok "app crash (${g_status:-running})"; diag "$(cat "$g_log")"; }

# A command that cannot be run is an app that exited with 127.
d=$TAP_TMP/noexec
mkdir -p "$d"
port=$(free_port)
(
        systemd-socket-activate -l "127.0.0.1:$port" "$GRAIN" "$(free_port)" -- /nonexistent/app >"$d/log" 2>&1
        echo $? >"$d/status"
) &
wait_for 10 grep -q '^Listening on' "$d/log"
get -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null
wait_for 10 test -s "$d/status"
[ "$(cat "$d/status")" = 127 ] && log_has "$d/log" "** granary-grain: Failed to execute '/nonexistent/app': No such file or directory" &&
        log_has "$d/log" "App exited with status 127" && ok "a command that cannot be executed: exit 127, and the log says why" ||
        { not_ok "a command that cannot be executed"; diag "$(cat "$d/log" "$d/status")"; }

# ------------------------------------------------------------------------------------------------
# READY=1 to an abstract socket name

name="@granary-test-grain-$$"
"$PYTHON" "$CLIENT" notify "$name" "$TAP_TMP/notify2.txt" 30 &
notify_pid=$!
PIDS="$PIDS $notify_pid"
wait_for 10 test -e "$TAP_TMP/notify2.txt.bound"
GRAIN_ENV="-E NOTIFY_SOCKET=$name"
grain_start abstract 1
out=$(get "http://127.0.0.1:$g_port/hello")
if [ "$out" = hello ] && wait $notify_pid && grep -qx 'READY=1' notify2.txt; then
        ok "READY=1 reaches an abstract NOTIFY_SOCKET ('@' name)"
else
        not_ok "READY=1 reaches an abstract NOTIFY_SOCKET"; diag "$(cat notify2.txt 2>/dev/null)"
fi
grain_wait_exit 10

done_testing
