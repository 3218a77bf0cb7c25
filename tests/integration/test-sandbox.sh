#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The sandbox probe (tests/grain/probe.c, packed as tests/grain/probe.spk) as a real grain of a real
# granaryd --dev with the direct backend: installed with `granary app install`, made with `granary grain
# new`, opened with `granary grain open`, and asked through its session host with curl. Each line the
# probe answers is one case here (SECURITY.md "The grain sandbox", "How it is tested"). Two probe grains:
# neither reaches the other's storage, nor granaryd's port on the host's loopback (the port of the Host
# header the probe is asked through).
. "$SOURCE_ROOT/tests/integration/lib.sh"

PROBE_SPK=${TESTS_BUILD_DIR:-}/grain/probe.spk
if [ ! -f "$PROBE_SPK" ]; then
        skip "the probe is not packed ($PROBE_SPK)"
        done_testing
        exit 0
fi
grains_skip_unless_possible

unset GRANARY_CONTROL_SOCKET
state=$TAP_TMP/state
port=$(free_port)
HOME=$TAP_TMP
export HOME
# Real limits, so that the fork bomb and the memory hog meet them.
grains_conf "$TAP_TMP/granary.conf" "GRAIN_IDLE_SEC=30" "GRAIN_TASKS_MAX=64" "GRAIN_MEMORY_MAX=256M"

gd_start "$state" "$port" -c "$TAP_TMP/granary.conf" || bail "granaryd --dev comes up"
ok "granaryd --dev comes up"
g user add alice --admin --password-stdin <<<"alice-password-1" >/dev/null || bail "alice is added"

out=$(g app install "$PROBE_SPK" 2>&1)
like "granary app install: the probe" "$out" "^Installed 'Sandbox probe' 1\.0\.0 \(app [0-9a-z]{52}\)\.$"
app_id=$(echo "$out" | sed -n 's/.*(app \([0-9a-z]*\)).*/\1/p')
[ -n "$app_id" ] || bail "the probe is installed"

a=$(g grain new "$app_id" --title "Probe A" -q)
b=$(g grain new "$app_id" --title "Probe B" -q)
like "grain new: probe A" "$a" '^[A-Za-z0-9]{22}$'
like "grain new: probe B" "$b" '^[A-Za-z0-9]{22}$'
[ -n "$a" ] && [ -n "$b" ] || bail "two probe grains exist"
echo "secret of b" >"$state/grains/$b/var/secret-b" 2>/dev/null
[ "$(id -u)" = 0 ] && chown 65534:65534 "$state/grains/$b/var/secret-b"

# run_probe NAME GRAIN OTHER: opens GRAIN and asks its probe, with OTHER's storage (as the host names it)
# among the paths that must be absent; each line of the answer is a case.
run_probe() {
        local name=$1 id=$2 other=$3 status line n
        session_open "$id" / || { not_ok "$name: grain open prints a URL"; return; }
        is "$name: the session's first answer (the probe's checks)" "$s_init_status $s_status" "303 200"
        status=$(sreq "/?absent=$TAP_TMP:$state:$state/grains/$other/var:$state/grains/$other/var/secret-b")
        is "$name: GET /?absent=… answers 200" "$status" 200
        n=0
        while IFS= read -r line; do
                n=$((n + 1))
                case $line in
                "ok "*" # SKIP "*) skip "$name: ${line#ok }" ;;
                "ok "*) ok "$name: ${line#ok }" ;;
                "not ok "*) not_ok "$name: ${line#not ok }" ;;
                *) not_ok "$name: an unexpected line: $line" ;;
                esac
        done <"$TAP_TMP/.sbody"
        if [ "$n" -ge 100 ]; then ok "$name: the probe ran $n checks"; else not_ok "$name: the probe ran $n checks"; fi
        grep -qx "ok host path $state/grains/$other/var is absent" "$TAP_TMP/.sbody" &&
                ok "$name: the other grain's storage was checked" || not_ok "$name: the other grain's storage was checked"
        grep -qx "ok host loopback unreachable" "$TAP_TMP/.sbody" &&
                ok "$name: granaryd's own port was tried, and refused" || not_ok "$name: granaryd's own port was tried"
}

run_probe "probe A" "$a" "$b"
run_probe "probe B" "$b" "$a"

# After the fork bomb and the memory hog, the server and the grain still answer.
status=$(sreq /)
is "probe B still answers after its fork bomb and memory hog" "$status" 200
is "granaryd still answers" "$(hc -o /dev/null -w '%{http_code}' "http://granary.localhost:$port/")" 200

gd_stop
no_sanitizer_reports
done_testing
