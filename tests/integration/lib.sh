# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Helpers shared by the integration scripts that drive a real granaryd on loopback: free ports, starting
# and stopping servers under a trap that never leaves one behind, the raw client (rawhttp.py) and curl
# pointed at loopback whatever the host name, and assertions that print TAP through tests/lib/tap.sh.
# Source this file instead of tap.sh. It expects GRANARYD, SHELL_DIR and SOURCE_ROOT in the environment,
# as tests/integration/meson.build sets them.
. "$SOURCE_ROOT/tests/lib/tap.sh"

RAWHTTP=$SOURCE_ROOT/tests/integration/rawhttp.py
# Debian's interpreter, when there is one: a version manager's shim costs more than the test it starts.
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=python3
LIB_PIDS=''
LIB_PORTS=''

# Every server and helper started through lib_spawn is stopped on exit: SIGTERM, then SIGKILL after 3 s.
lib_cleanup() {
        local pid i
        for pid in $LIB_PIDS; do
                kill -TERM "$pid" 2>/dev/null
        done
        for pid in $LIB_PIDS; do
                for i in $(seq 30); do
                        kill -0 "$pid" 2>/dev/null || break
                        sleep 0.1
                done
                kill -KILL "$pid" 2>/dev/null
                wait "$pid" 2>/dev/null
        done
        if [ -n "${KEEP_TMP:-}" ]; then
                echo "# kept $TAP_TMP"
        else
                rm -rf "$TAP_TMP"
        fi
}
trap lib_cleanup EXIT

# lib_spawn LOG COMMAND...: runs COMMAND in the background, stdout and stderr to LOG; sets spawned_pid.
lib_spawn() {
        local log=$1
        shift
        "$@" >"$log" 2>&1 &
        spawned_pid=$!
        LIB_PIDS="$LIB_PIDS $spawned_pid"
}

# lib_forget PID: a process that was waited for already.
lib_forget() {
        LIB_PIDS=$(echo "$LIB_PIDS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
}

# free_port: a TCP port nobody listens on at this moment, never the same twice in one script.
free_port() {
        local p
        while :; do
                p=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
                case " $LIB_PORTS " in *" $p "*) continue ;; esac
                LIB_PORTS="$LIB_PORTS $p"
                echo "$p"
                return
        done
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
        "$PYTHON" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" \
                2>/dev/null
}

# gd_start STATE PORT [ARGS...]: granaryd --dev STATE --port PORT --shell-dir SHELL_DIR ARGS, its output in
# $TAP_TMP/granaryd-N.log (gd_log). Waits until the control socket exists and PORT (and the --https-port,
# if given) accepts connections. Sets gd_pid; returns 1 (with the log as diagnostics) when it does not
# come up within 30 s.
GD_N=0
gd_start() {
        local state=$1 port=$2 https='' a prev='' i
        shift 2
        for a in "$@"; do
                [ "$prev" = --https-port ] && https=$a
                case $a in --https-port=*) https=${a#--https-port=} ;; esac
                prev=$a
        done
        GD_N=$((GD_N + 1))
        gd_log=$TAP_TMP/granaryd-$GD_N.log
        lib_spawn "$gd_log" "$GRANARYD" --dev "$state" --port "$port" --shell-dir "${GD_SHELL_DIR:-$SHELL_DIR}" "$@"
        gd_pid=$spawned_pid
        for i in $(seq 300); do
                if [ -S "$state/control.sock" ] && port_open "$port" && { [ -z "$https" ] || port_open "$https"; }; then
                        return 0
                fi
                kill -0 "$gd_pid" 2>/dev/null || break
                sleep 0.1
        done
        diag "granaryd did not come up; its log:"
        diag "$(cat "$gd_log")"
        return 1
}

# gd_stop [SIGNAL [SECONDS]]: sends SIGNAL (TERM) to gd_pid and waits up to SECONDS (10) for it to exit.
# Sets gd_status to its exit status, or "running" if it did not exit (it is then killed).
gd_stop() {
        local sig=${1:-TERM} secs=${2:-10} i
        kill -"$sig" "$gd_pid" 2>/dev/null
        for i in $(seq $((secs * 10))); do
                kill -0 "$gd_pid" 2>/dev/null || break
                sleep 0.1
        done
        if kill -0 "$gd_pid" 2>/dev/null; then
                gd_status=running
                kill -KILL "$gd_pid" 2>/dev/null
                wait "$gd_pid" 2>/dev/null
        else
                wait "$gd_pid" 2>/dev/null
                gd_status=$?
        fi
        lib_forget "$gd_pid"
}

# no_sanitizer_reports: none of the logs of this script ($TAP_TMP/*.log: every granaryd's) holds an ASan,
# LSan or UBSan report.
no_sanitizer_reports() {
        local pat='ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:'
        if grep -q "$pat" "$TAP_TMP"/*.log; then
                not_ok "no sanitizer reports"
                diag "$(grep -h -A24 "$pat" "$TAP_TMP"/*.log | head -80)"
        else
                ok "no sanitizer reports"
        fi
}

# bail DESC: not_ok, the end of the plan, and exit: for a server that never came up.
bail() {
        not_ok "$1"
        done_testing
        exit 1
}

# write_conf FILE KEY=VALUE...: a granary.conf.
write_conf() {
        local f=$1
        shift
        printf '%s\n' "$@" >"$f"
}

# ------------------------------------------------------------------------------------------------
# Clients

# hc ARGS...: curl, silent but for errors, every host name connected to 127.0.0.1 on the URL's port.
hc() {
        curl -sS --max-time 10 --connect-to ::127.0.0.1: "$@"
}

# raw ARGS...: rawhttp.py ARGS, its report in $TAP_TMP/.raw (also on stdout).
raw() {
        "$PYTHON" "$RAWHTTP" "$@" >"$TAP_TMP/.raw" 2>"$TAP_TMP/.raw.err"
        local rc=$?
        cat "$TAP_TMP/.raw.err" >>"$TAP_TMP/.raw"
        cat "$TAP_TMP/.raw"
        return $rc
}

# val KEY [FILE]: the value of KEY in a rawhttp.py report (the last one by default); "" when absent.
val() {
        awk -F= -v k="$1" '$1 == k { sub(/^[^=]*=/, ""); printf "%s", $0; exit }' "${2:-$TAP_TMP/.raw}"
}

# ------------------------------------------------------------------------------------------------
# Assertions

# within VALUE LOW HIGH: LOW <= VALUE <= HIGH, as decimal numbers.
within() {
        awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v != "" && v != "none" && v + 0 >= lo && v + 0 <= hi) }'
}

# expect_ok DESC STDOUT COMMAND...: exits 0, prints exactly STDOUT, nothing on stderr.
expect_ok() {
        local desc=$1 want=$2 rc got
        shift 2
        "$@" >"$TAP_TMP/.out" 2>"$TAP_TMP/.err"
        rc=$?
        got=$(cat "$TAP_TMP/.out")
        if [ "$rc" -eq 0 ] && [ "$got" = "$want" ] && [ ! -s "$TAP_TMP/.err" ]; then
                ok "$desc"
        else
                not_ok "$desc"
                diag "exit status $rc; stdout:"$'\n'"$got"$'\n'"stderr:"$'\n'"$(cat "$TAP_TMP/.err")"
                diag "wanted:"$'\n'"$want"
        fi
}

# expect_fail DESC STDERR COMMAND...: exits 1, prints nothing on stdout and exactly the one line STDERR on
# stderr.
expect_fail() {
        local desc=$1 want=$2 rc
        shift 2
        "$@" >"$TAP_TMP/.out" 2>"$TAP_TMP/.err"
        rc=$?
        if [ "$rc" -eq 1 ] && [ ! -s "$TAP_TMP/.out" ] && [ "$(cat "$TAP_TMP/.err")" = "$want" ] &&
                [ "$(grep -c '' "$TAP_TMP/.err")" -eq 1 ]; then
                ok "$desc"
        else
                not_ok "$desc"
                diag "exit status $rc; stdout:"$'\n'"$(cat "$TAP_TMP/.out")"$'\n'"stderr:"$'\n'"$(cat "$TAP_TMP/.err")"
                diag "wanted: $want"
        fi
}

# expect_raw DESC STATUS CLOSED [RAWHTTP ARGS...]: the report of the last raw call (or of this one, when
# ARGS are given) says status STATUS, closed CLOSED ("yes"/"no", or "-" for either) and a clean head.
expect_raw() {
        local desc=$1 status=$2 closed=$3
        shift 3
        [ $# -eq 0 ] || raw "$@" >/dev/null
        if [ "$(val status)" = "$status" ] && { [ "$closed" = - ] || [ "$(val closed)" = "$closed" ]; } &&
                { [ "$(val status)" = none ] || [ "$(val head_clean)" = yes ]; }; then
                ok "$desc"
        else
                not_ok "$desc"
                diag "wanted status $status, closed $closed; rawhttp.py $*"
                diag "$(cat "$TAP_TMP/.raw")"
        fi
}

# expect_h1 DESC STATUS CLOSED DATA...: sends DATA to the plain port $PORT as one HTTP/1.1 connection.
expect_h1() {
        local desc=$1 status=$2 closed=$3 more=''
        shift 3
        # an answer that leaves the connection open is awaited, not the timeout
        [ "$closed" = no ] && more='--responses=1'
        expect_raw "$desc" "$status" "$closed" --port "$PORT" --timeout 2 h1 $more "$@"
}

# queue_h1 DESC STATUS CLOSED DATA...: expect_h1, run later together with the other queued cases (all at
# once, in one rawhttp.py); queue_flush runs them and reports each, in the order queued. For long lists
# of cases that each wait a little.
Q_N=0
queue_h1() {
        local desc=$1 status=$2 closed=$3 more=''
        shift 3
        [ "$closed" = no ] && more='--responses=1'
        queue_raw status "$desc" "$status" "$closed" --port "$PORT" --timeout 2 h1 $more "$@"
}

# queue_raw CHECK DESC A B RAWHTTP-ARGS...: queues a rawhttp.py run; at queue_flush, with its report in
# $TAP_TMP/.raw, queue_check_CHECK DESC A B ARGS runs.
queue_raw() {
        local check=$1 desc=$2 a=$3 b=$4
        shift 4
        mkdir -p "$TAP_TMP/q"
        printf '%s\0' "$@" >"$TAP_TMP/q/$Q_N.args"
        printf '%s\n' "$check" "$desc" "$a" "$b" "$*" >"$TAP_TMP/q/$Q_N.what"
        Q_N=$((Q_N + 1))
        [ "$Q_N" -lt 64 ] || queue_flush
}

queue_flush() {
        local i what
        [ "$Q_N" -gt 0 ] || return 0
        "$PYTHON" "$RAWHTTP" --port 0 batch --dir "$TAP_TMP/q" "$Q_N"
        for ((i = 0; i < Q_N; i++)); do
                cp "$TAP_TMP/q/$i" "$TAP_TMP/.raw"
                mapfile -t what <"$TAP_TMP/q/$i.what"
                "queue_check_${what[0]}" "${what[1]}" "${what[2]}" "${what[3]}" "${what[4]}"
        done
        rm -f "$TAP_TMP"/q/*
        Q_N=0
}

queue_check_status() { # DESC STATUS CLOSED ARGS
        if [ "$(val status)" = "$2" ] && { [ "$3" = - ] || [ "$(val closed)" = "$3" ]; } &&
                { [ "$(val status)" = none ] || [ "$(val head_clean)" = yes ]; }; then
                ok "$1"
        else
                not_ok "$1"
                diag "wanted status $2, closed $3; rawhttp.py $4"
                diag "$(cat "$TAP_TMP/.raw")"
        fi
}

# expect_status DESC WANT CURL-ARGS...: the HTTP status curl reports.
expect_status() {
        local desc=$1 want=$2 got
        shift 2
        got=$(hc -o "$TAP_TMP/.body" -D "$TAP_TMP/.headers" -w '%{http_code}' "$@" 2>"$TAP_TMP/.curl.err")
        if [ "$got" = "$want" ]; then
                ok "$desc"
        else
                not_ok "$desc"
                diag "curl $*: status $got, wanted $want"
                diag "$(cat "$TAP_TMP/.curl.err" "$TAP_TMP/.headers" 2>/dev/null)"
        fi
}

# header NAME [FILE]: the value of the response field NAME in a curl -D dump (the last response in it).
header() {
        tr -d '\r' <"${2:-$TAP_TMP/.headers}" | awk -v n="$1" '
                /^HTTP\// { v = "" }
                { i = index($0, ":"); if (i && tolower(substr($0, 1, i - 1)) == tolower(n)) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v) } }
                END { printf "%s", v }'
}

# ------------------------------------------------------------------------------------------------
# Grains: the test app (testapp/) installed and run as grains, reached through session hosts

# The app id of testapp/testapp.keyring.
TESTAPP_ID=07nwwgkeg6t63hqefg48ggq1hmvg5un8n6kgw4dusa7mwm0uyxn0

# grains_skip_unless_possible: skips the whole script (plan and exit 0) when grains cannot run here: no
# bridge, no packed test app, or no user namespaces for the direct backend's sandbox.
grains_skip_unless_possible() {
        local why=''
        if [ -z "${GRANARY_GRAIN_PATH:-}" ] || [ ! -x "$GRANARY_GRAIN_PATH" ]; then
                why="granary-grain is not built (GRANARY_GRAIN_PATH)"
        elif [ ! -f "${TESTAPP_DIR:-}/testapp-v1.spk" ] || [ ! -f "$TESTAPP_DIR/testapp-v2.spk" ]; then
                why="the test app is not packed (TESTAPP_DIR)"
        elif [ "$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || echo 0)" -eq 0 ]; then
                why="user namespaces are not available for the direct backend's sandbox"
        fi
        if [ -n "$why" ]; then
                skip "$why"
                done_testing
                exit 0
        fi
}

# grains_conf FILE KEY=VALUE...: a granary.conf for grain tests (the default limits, unless given).
grains_conf() {
        local f=$1
        shift
        write_conf "$f" "$@"
}

# g ARGS...: the granary CLI, pointed at the granaryd of $state.
g() {
        "$GRANARY" --dev "$state" "$@"
}

# jq_file FILE EXPR: a Python expression over the JSON in FILE (as j), printed.
jq_file() {
        "$PYTHON" -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>&1
}

# session_open GRAIN_ID [PATH [GRANARY ARGS...]]: `granary grain open`, then the URL it printed fetched
# with curl -L and a cookie jar, as a person's browser would. Sets s_url, s_host (ui-….localhost:PORT),
# s_origin, s_jar, s_init_status (of the /_sandstorm-init answer) and s_status (of where it led); the
# answer's body is in $TAP_TMP/.sbody. Returns 1 when no URL was printed.
S_N=0
session_open() {
        local id=$1 path=${2:-/}
        shift 2 2>/dev/null || shift $#
        S_N=$((S_N + 1))
        s_jar=$TAP_TMP/jar-$S_N
        s_url=$(g grain open "$id" --path "$path" "$@") || return 1
        s_origin=${s_url%%/_sandstorm-init*}
        s_host=${s_origin#*://}
        s_status=$(hc -L -c "$s_jar" -b "$s_jar" -o "$TAP_TMP/.sbody" -D "$TAP_TMP/.sheaders" -w '%{http_code}' "$s_url")
        s_init_status=$(head -1 "$TAP_TMP/.sheaders" | awk '{ print $2 }')
}

# sreq PATH [CURL ARGS...]: a request in the last session (its cookie jar) to PATH on its host; prints the
# status; the body in $TAP_TMP/.sbody, the head in $TAP_TMP/.sheaders.
sreq() {
        local path=$1
        shift
        hc -b "$s_jar" -o "$TAP_TMP/.sbody" -D "$TAP_TMP/.sheaders" -w '%{http_code}' "$@" "$s_origin$path"
}

# grain_state ID: the grain's "state" as the API gives it.
grain_state() {
        curl -sS --unix-socket "$state/control.sock" "http://localhost/api/v1/grains/$1" >"$TAP_TMP/.gstate" &&
                jq_file "$TAP_TMP/.gstate" 'j["grain"]["state"]'
}

# wait_grain_state ID STATE [SECONDS]: the grain reaches STATE within SECONDS (10).
wait_grain_state() {
        local i
        for i in $(seq $((${3:-10} * 10))); do
                [ "$(grain_state "$1")" = "$2" ] && return 0
                sleep 0.1
        done
        return 1
}
