#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The wake benchmark under systemd (bench/run-grain-systemd.sh, issue 5): run as root inside the booted test
# container in place of scenario.sh (run.sh with GRANARY_SYSTEM_SCENARIO), with granary installed and
# granary.socket enabled. It owns the measurements taken inside; it does not make, boot or judge anything
# (run.sh boots, the host script computes the figures and compares them with the target). Prints TAP for
# run.sh, and writes its raw figures, TAP-free, to the bound directory /srv/granary-tests:
#
#   bench-wake.txt   KEY=VALUE lines: the grain's unit, the container's systemd, CPUs, what was run
#   wakes.txt        one line per wake: the first byte of a request to a stopped grain, in ms
#   starts.txt       one line per start: the hello binary, exec to accepting on its port, in ms
#   systemd-run.txt  one line per run: `systemd-run --wait --quiet true`, in ms
#   wakes-bare.txt   the same wakes with a bare sandbox (a drop-in turns the hardening off), for reference
#
# A wake: `systemctl stop` of the grain's service (its name found at run time in `systemctl list-units`, so
# both granary-grain@<id>.service and granary-grain-<id>.service work), a wait until systemd says it is
# inactive, then one curl on a new connection to the grain's session host; its time_starttransfer.
#
# Parameters, from /srv/granary-tests/params (KEY=VALUE, written by the host script; these defaults
# otherwise): WAKES=100, STARTS=100, RUNS=20.
GRANARY_TESTS_LIB=/usr/local/lib/granary-tests
GRANARY_TESTS_DIR=/usr/local/share/granary-tests
OUT=/srv/granary-tests
. "$GRANARY_TESTS_LIB/tap.sh"

WAKES=100 STARTS=100 RUNS=20
if [ -f "$OUT/params" ]; then
        WAKES=$(sed -n 's/^WAKES=\([0-9]*\)$/\1/p' "$OUT/params" | tail -1)
        STARTS=$(sed -n 's/^STARTS=\([0-9]*\)$/\1/p' "$OUT/params" | tail -1)
        RUNS=$(sed -n 's/^RUNS=\([0-9]*\)$/\1/p' "$OUT/params" | tail -1)
        WAKES=${WAKES:-100} STARTS=${STARTS:-100} RUNS=${RUNS:-20}
fi
BASE=http://granary.localhost
HELLO_APP_ID=rvujewnttafdtynzyzqkyay7v5jpja13mun170d36ugda02ef080

# The servers (granaryd, the grains, hello) are not pinned: systemd starts them. The clients (curl, the
# probe of hello's port) run on CPU 1 when there are two CPUs, as in bench/run-grain.sh.
client_cpu=''
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
        client_cpu='taskset -c 1'
fi

finish() {
        done_testing
        exit $?
}
bail() {
        not_ok "$1"
        [ -z "${2:-}" ] || diag "$2"
        finish
}

unit_state() { systemctl show -P ActiveState "$1" 2>/dev/null; }
is_inactive() { [ "$(unit_state "$1")" = inactive ]; }

rm -f "$OUT/bench-wake.txt" "$OUT/wakes.txt" "$OUT/starts.txt" "$OUT/systemd-run.txt"
{
        echo "WAKES=$WAKES"
        echo "STARTS=$STARTS"
        echo "RUNS=$RUNS"
        echo "NPROC=$(nproc)"
        echo "SYSTEMD=$(systemctl --version | head -n 1)"
        echo "CURL=$(curl --version | head -n 1 | awk '{ print $1, $2 }')"
        echo "CLIENT_CPU=${client_cpu:-none}"
        echo "CGROUP=$(stat -f -c %T /sys/fs/cgroup)"
} >"$OUT/bench-wake.txt"

# ------------------------------------------------------------------------------------------------
# granary: no timer stops the grain while it is measured (GRAIN_IDLE_SEC=0: never), an admin, Hello

conf=/etc/granary/granary.conf
[ ! -f /etc/granary/granary.conf.d/50-system-test.conf ] || conf=/etc/granary/granary.conf.d/50-system-test.conf
sed -i 's/^GRAIN_IDLE_SEC=.*/GRAIN_IDLE_SEC=0/' "$conf"
# granary.service starts with the first connection: it reads the edited file.
if [ "$(systemctl show -P ActiveState granary.service)" = active ]; then
        systemctl restart granary.service
fi
status=$(curl -s --max-time 30 -o /dev/null -w '%{http_code}' "$BASE/")
[ "$status" = 200 ] || bail "granary answers its first request" "status $status"
ok "granary answers its first request"

head -c 18 /dev/urandom | base64 | tr '+/' 'xy' >"$TAP_TMP/bench.pass"
granary user add bench --admin --password-stdin <"$TAP_TMP/bench.pass" >"$TAP_TMP/out" 2>&1 ||
        bail "granary user add bench --admin" "$(cat "$TAP_TMP/out")"
ok "granary user add bench --admin"
granary app install "$GRANARY_TESTS_DIR/apps/hello.spk" >"$TAP_TMP/out" 2>&1 ||
        bail "granary app install hello.spk" "$(cat "$TAP_TMP/out")"
ok "granary app install hello.spk"

# ------------------------------------------------------------------------------------------------
# hello's own start: the binary the grain runs, posix_spawn to the first connection accepted, as
# bench/run-grain.sh measures it (the child on CPU 0, the probe on CPU 1)

hello=$(find /var/lib/granary/packages -mindepth 2 -maxdepth 2 -name hello -type f | head -n 1)
if [ -n "$hello" ] && python3 "$GRANARY_TESTS_LIB/app-start.py" "$hello" "$STARTS" >"$TAP_TMP/starts.txt" \
        2>"$TAP_TMP/out"
then
        ok "hello started directly $STARTS times ($hello)"
        cp "$TAP_TMP/starts.txt" "$OUT/starts.txt"
else
        not_ok "hello started directly $STARTS times"
        diag "${hello:-no hello under /var/lib/granary/packages}: $(cat "$TAP_TMP/out")"
fi

# ------------------------------------------------------------------------------------------------
# systemd-run alone: a transient service that runs true, started and waited for

if python3 - "$RUNS" >"$TAP_TMP/systemd-run.txt" 2>"$TAP_TMP/out" <<'EOF'
import subprocess, sys, time
for _ in range(int(sys.argv[1])):
    t0 = time.perf_counter()
    subprocess.run(["systemd-run", "--wait", "--quiet", "--collect", "true"], check=True)
    print("%.3f" % ((time.perf_counter() - t0) * 1000))
EOF
then
        ok "systemd-run --wait true, $RUNS times"
        cp "$TAP_TMP/systemd-run.txt" "$OUT/systemd-run.txt"
else
        not_ok "systemd-run --wait true, $RUNS times"
        diag "$(cat "$TAP_TMP/out")"
fi

# ------------------------------------------------------------------------------------------------
# The grain

id=$(granary grain new "$HELLO_APP_ID" --user bench --title bench -q 2>"$TAP_TMP/out")
[ -n "$id" ] || bail "granary grain new (Hello)" "$(cat "$TAP_TMP/out")"
ok "granary grain new (Hello): $id"

# Template units exist from the grain's creation on, asked for asynchronously: the first request waits
# until the grain's socket listens. (Transient units are made by the first request: none appears.)
grain_socket_active() {
        systemctl list-units --no-legend --plain 'granary-grain*' |
                awk -v id="$id" '($1 == "granary-grain@" id ".socket" || $1 == "granary-grain-" id ".socket") &&
                        $3 == "active" { f = 1 } END { exit !f }'
}
wait_for 10 grain_socket_active || diag "no socket unit of the grain before its first request"

# A session as a browser opens it: the URL `granary grain open` prints, redirects followed, the cookie kept.
url=$(granary grain open "$id" --user bench 2>"$TAP_TMP/out") || bail "granary grain open" "$(cat "$TAP_TMP/out")"
jar=$TAP_TMP/jar
open_session() {
        read -r status effective <<<"$(curl -s -L --max-time 30 -c "$jar" -b "$jar" -o /dev/null \
                -w '%{http_code} %{url_effective}' "$url")"
}
open_session
if [ "$status" != 200 ]; then
        # said in the results: the first start of a new grain should never fail
        echo "FIRST_START_FAILED=$status" >>"$OUT/bench-wake.txt"
        diag "the grain's first request answered $status; once more after 1 s"
        for _ in 1 2 3; do
                sleep 1
                wait_for 10 grain_socket_active
                open_session
                [ "$status" != 200 ] || break
        done
fi
[ "$status" = 200 ] || bail "the session opens: the grain's first request answers 200" \
        "status $status from $url; $(journalctl -b --no-pager -o cat -u granary.service | tail -n 5)"
ok "the session opens: the grain's first request answers 200"
host_url=$(printf '%s\n' "$effective" | sed -n 's|^\(https\{0,1\}://[^/]*\).*|\1|p')

# The grain's service, as systemd names it.
unit=$(systemctl list-units --all --no-legend --plain 'granary-grain*' | awk '{ print $1 }' |
        grep -E "^granary-grain[-@]$id\.service$" | head -n 1)
[ -n "$unit" ] || bail "the grain's service is in systemctl list-units" \
        "$(systemctl list-units --all --no-legend --plain 'granary-grain*')"
is_active=$(unit_state "$unit")
[ "$is_active" = active ] || bail "$unit is active after the first request" "ActiveState=$is_active"
ok "$unit is active after the first request"
echo "UNIT=$unit" >>"$OUT/bench-wake.txt"

# ------------------------------------------------------------------------------------------------
# The wakes

# get: one request to the grain on a new connection; its status and the first byte in ms
get() {
        $client_cpu curl -s --max-time 30 -o /dev/null -b "$jar" -w '%{http_code} %{time_starttransfer}\n' \
                "$host_url/" | awk '{ printf "%s %.3f\n", $1, $2 * 1000 }'
}

# phases: where one wake's time went, from systemd's timestamps and the journal (CLOCK_MONOTONIC, µs):
# the service's start begun, its main process forked, the app's "listening on" line (after the sandbox's
# setup, the bridge's exec and the app's start), and READY=1 (the bridge found the port).
phases() {
        local t
        t=$(systemctl show -P InactiveExitTimestampMonotonic,ExecMainStartTimestampMonotonic,ActiveEnterTimestampMonotonic "$unit" | tr '\n' ' ')
        set -- $t
        local listen
        listen=$(journalctl -q -u "$unit" -o json -n 20 --no-pager |
                python3 -c 'import json, sys
m = [int(e["__MONOTONIC_TIMESTAMP"]) for e in map(json.loads, sys.stdin) if "listening on" in str(e.get("MESSAGE", ""))]
print(m[-1] if m else 0)')
        echo "$1 $2 $listen $3"
}

# wakes NAME [PHASES]: $WAKES wakes, their first bytes into $TAP_TMP/NAME.txt (and their phases into
# $TAP_TMP/PHASES.txt); sets bad to what went wrong, or to nothing.
wakes() {
        : >"$TAP_TMP/$1.txt"
        [ -z "${2:-}" ] || : >"$TAP_TMP/$2.txt"
        bad=''
        for i in $(seq "$WAKES"); do
                systemctl stop "$unit"
                if ! wait_for 10 is_inactive "$unit"; then
                        bad="wake $i: $unit is $(unit_state "$unit") 10 s after systemctl stop"
                        break
                fi
                read -r status ms <<<"$(get)"
                if [ "$status" != 200 ]; then
                        bad="wake $i answered $status"
                        break
                fi
                echo "$ms" >>"$TAP_TMP/$1.txt"
                [ -z "${2:-}" ] || phases >>"$TAP_TMP/$2.txt"
        done
        systemctl stop "$unit"
}

wakes wakes phases
if [ -z "$bad" ]; then
        ok "$WAKES wakes after systemctl stop, each answered 200"
        cp "$TAP_TMP/wakes.txt" "$OUT/wakes.txt"
        cp "$TAP_TMP/phases.txt" "$OUT/phases.txt"
else
        not_ok "$WAKES wakes after systemctl stop, each answered 200"
        diag "$bad"
        diag "$(journalctl -b --no-pager -o short-monotonic -u "$unit" | tail -20)"
fi

# ------------------------------------------------------------------------------------------------
# For reference only, what the same wakes cost with a bare sandbox: a drop-in turns off every option of
# the template that builds a mount or a namespace beyond what the app needs to run at all (its root and
# binds, its user, its network and the syscall filter stay). It tells systemd's floor on this machine from
# what the sandbox adds; grains never run so outside this benchmark.

bare=/run/systemd/system/granary-grain@.service.d/50-bench-bare.conf
mkdir -p "$(dirname "$bare")"
printf '%s\n' '[Service]' ProtectSystem=no ProtectHome=no ProtectKernelTunables=no ProtectKernelModules=no \
        ProtectKernelLogs=no ProtectControlGroups=no ProtectProc=default ProcSubset=all PrivateDevices=no \
        PrivateTmp=no PrivateIPC=no NoNewPrivileges=no ProtectClock=no ProtectHostname=no >"$bare"
systemctl daemon-reload
wakes wakes-bare
rm -f "$bare"
systemctl daemon-reload
if [ -z "$bad" ]; then
        ok "$WAKES wakes with a bare sandbox (reference), each answered 200"
        cp "$TAP_TMP/wakes-bare.txt" "$OUT/wakes-bare.txt"
else
        not_ok "$WAKES wakes with a bare sandbox (reference), each answered 200"
        diag "$bad"
fi

finish
