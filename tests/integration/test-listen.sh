#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Where granaryd listens: run by hand it binds what it is told (a free port, BIND_IP, several PORTs, the
# HTTPS port) and its control socket; under socket activation (systemd-socket-activate standing in for
# granary.socket) it takes the sockets named http/https and binds no TCP socket of its own.
. "$SOURCE_ROOT/tests/integration/lib.sh"

# listeners PID: the TCP sockets PID listens on, "addr:port" sorted, one per line.
listeners() {
        ss -Hltnp 2>/dev/null | grep "pid=$1," | awk '{ print $4 }' | sort
}

# ------------------------------------------------------------------------------------------------
# Bound by itself

PORT=$(free_port)
BASE=granary.localhost:$PORT
gd_start "$TAP_TMP/state" "$PORT" || bail "granaryd --dev --port binds a free port"
ok "granaryd --dev --port binds a free port"
is "it listens on 127.0.0.1:$PORT and on no other TCP socket" "$(listeners "$gd_pid")" "127.0.0.1:$PORT"
grep -q "Listening on HTTP port $PORT\." "$gd_log" && ok "the log says where it listens" || { not_ok "the log says where it listens"; diag "$(cat "$gd_log")"; }
expect_status "it serves the base host" 200 "http://$BASE/"

sock=$TAP_TMP/state/control.sock
[ -S "$sock" ] && ok "the control socket exists" || not_ok "the control socket exists"
like "the control socket is the owner's alone in --dev" "$(stat -c %a "$sock" 2>&1)" '^[67]00$'
got=$(curl -sS --max-time 5 --unix-socket "$sock" -o body -w '%{http_code}' http://localhost/api/v1/status)
is "the control socket answers the API" "$got" 200
like "... with the status" "$(cat body)" '"baseUrl":"http://granary.localhost:'"$PORT"'"'
got=$(curl -sS --max-time 5 --unix-socket "$sock" -o /dev/null -w '%{http_code}' http://localhost/)
is "the control socket serves nothing but the API" "$got" 404

lib_spawn second.log "$GRANARYD" --dev "$TAP_TMP/state2" --port "$PORT" --shell-dir "$SHELL_DIR"
second=$spawned_pid
for _ in $(seq 100); do kill -0 "$second" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$second" 2>/dev/null; then
        not_ok "a second granaryd on the same port fails"
        kill "$second"
else
        wait "$second"
        is "a second granaryd on the same port exits 1" "$?" 1
        grep -q "Failed to listen on 127.0.0.1 port $PORT" second.log && ok "... and says why" ||
                { not_ok "... and says why"; diag "$(cat second.log)"; }
fi
lib_forget "$second"
expect_status "the first one still serves" 200 "http://$BASE/"
gd_stop TERM
is "SIGTERM: exits 0" "$gd_status" 0
port_open "$PORT" && not_ok "the port is free again" || ok "the port is free again"

# ------------------------------------------------------------------------------------------------
# Several plain ports (PORT=a,b): the first is primary, the others redirect to it

P1=$(free_port)
P2=$(free_port)
write_conf ports.conf "PORT=$P1,$P2"
gd_start "$TAP_TMP/state-ports" "$P1" -c "$TAP_TMP/ports.conf" || bail "PORT=$P1,$P2"
is "PORT=a,b: both bound" "$(listeners "$gd_pid")" "$(printf '127.0.0.1:%s\n' "$P1" "$P2" | sort)"
expect_status "the first port serves" 200 "http://granary.localhost:$P1/"
expect_status "the second redirects our names to the first" 308 "http://granary.localhost:$P2/x?y"
is "... Location" "$(header Location)" "http://granary.localhost:$P1/x?y"
gd_stop TERM

# ------------------------------------------------------------------------------------------------
# BIND_IP=::1

if "$PYTHON" -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
        P6=$(free_port)
        lib_spawn v6.log "$GRANARYD" --dev "$TAP_TMP/state-v6" --port "$P6" --bind-ip ::1 --shell-dir "$SHELL_DIR"
        gd_pid=$spawned_pid
        gd_log=$TAP_TMP/v6.log
        for _ in $(seq 300); do [ -S "$TAP_TMP/state-v6/control.sock" ] && break; sleep 0.1; done
        is "--bind-ip ::1: bound to [::1]" "$(listeners "$gd_pid")" "[::1]:$P6"
        got=$(curl -sS --max-time 5 -g -o /dev/null -w '%{http_code}' -H "Host: granary.localhost:$P6" "http://[::1]:$P6/")
        is "... and serves" "$got" 200
        gd_stop TERM
else
        skip "no IPv6 loopback"
        skip "no IPv6 loopback"
fi

# ------------------------------------------------------------------------------------------------
# Socket activation

# activate LOG STATE LISTEN-ARGS -- GRANARYD-ARGS: systemd-socket-activate holding the sockets, granaryd
# exec'd in its place at the first connection (it stays the same process). Sets gd_pid, gd_log.
activate() {
        local log=$1 state=$2 i
        shift 2
        local sa=()
        while [ "$1" != -- ]; do sa+=("$1"); shift; done
        shift
        gd_log=$TAP_TMP/$log
        lib_spawn "$gd_log" systemd-socket-activate "${sa[@]}" "$GRANARYD" --dev "$state" --shell-dir "$SHELL_DIR" "$@"
        gd_pid=$spawned_pid
        for i in $(seq 50); do grep -q '^Listening on' "$gd_log" && break; sleep 0.1; done
}
wait_control() { # STATE
        local i
        for i in $(seq 300); do
                [ -S "$1/control.sock" ] && return 0
                kill -0 "$gd_pid" 2>/dev/null || break
                sleep 0.1
        done
        diag "$(cat "$gd_log")"
        return 1
}

if command -v systemd-socket-activate >/dev/null; then
        SA=$(free_port)
        activate sa1.log "$TAP_TMP/state-sa1" -l "127.0.0.1:$SA" --fdname=http -- --port "$SA"
        port_open "$SA" # the first connection starts granaryd
        if wait_control "$TAP_TMP/state-sa1"; then
                ok "socket-activated (http): granaryd started"
                is "it holds only the socket it was given" "$(listeners "$gd_pid")" "127.0.0.1:$SA"
                expect_status "... and serves on it" 200 "http://granary.localhost:$SA/"
                grep -q 'Failed to listen' "$gd_log" && not_ok "it never tried to bind" || ok "it never tried to bind"
                [ -S "$TAP_TMP/state-sa1/control.sock" ] && ok "it binds its control socket itself" ||
                        not_ok "it binds its control socket itself"
                gd_stop TERM
                is "SIGTERM: exits 0" "$gd_status" 0
        else
                not_ok "socket-activated (http): granaryd started"
        fi

        SH=$(free_port)
        ST=$(free_port)
        activate sa2.log "$TAP_TMP/state-sa2" -l "127.0.0.1:$SH" -l "127.0.0.1:$ST" --fdname=http:https -- \
                --port "$SH" --https-port "$ST"
        port_open "$ST"
        if wait_control "$TAP_TMP/state-sa2"; then
                ok "socket-activated (http, https): granaryd started"
                is "it holds exactly the two sockets" "$(listeners "$gd_pid")" \
                        "$(printf '127.0.0.1:%s\n' "$SH" "$ST" | sort)"
                expect_status "HTTPS on the socket named https" 200 --cacert "$TAP_TMP/state-sa2/tls/cert.pem" \
                        "https://granary.localhost:$ST/"
                expect_status "the socket named http redirects to it" 308 "http://granary.localhost:$SH/"
                is "... Location" "$(header Location)" "https://granary.localhost:$ST/"
                gd_stop TERM
                is "SIGTERM: exits 0" "$gd_status" 0
        else
                not_ok "socket-activated (http, https): granaryd started"
        fi

        SX=$(free_port)
        SY=$(free_port)
        activate sa3.log "$TAP_TMP/state-sa3" -l "127.0.0.1:$SX" -l "127.0.0.1:$SY" --fdname=http:metrics -- --port "$SX"
        port_open "$SX"
        if wait_control "$TAP_TMP/state-sa3"; then
                ok "socket-activated with a socket of an unknown name: granaryd started"
                grep -q "Ignoring the socket named 'metrics'" "$gd_log" && ok "... it says it ignores it" ||
                        { not_ok "... it says it ignores it"; diag "$(cat "$gd_log")"; }
                is "... and closes it" "$(listeners "$gd_pid")" "127.0.0.1:$SX"
                gd_stop TERM
        else
                not_ok "socket-activated with a socket of an unknown name: granaryd started"
        fi
else
        skip "systemd-socket-activate is not installed"
fi
no_sanitizer_reports

done_testing
