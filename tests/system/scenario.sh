#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The system test scenario, run as root inside the booted container by granary-scenario.service, after the
# boot (run.sh installs everything and reads the TAP this prints). It shows granary under a real systemd
# as a sysadmin runs it:
#   - nothing runs until the first connection to granary.socket; then granary.service is up, as granary;
#   - systemd-sysusers and systemd-tmpfiles applied (the user, the directories and their modes);
#   - the first admin made with the setup token, a second user, a sign-in, an app installed;
#   - `systemctl restart granary.service` under a stream of requests, none refused;
#   - `kill -9` of granaryd: systemd restarts it, the sockets kept answering, nothing lost;
#   - `systemd-analyze security granary.service` at most 2.0;
#   - then scenario-grains.sh (the systemd backend's grains), its TAP folded into this one.
#
# What scenario-grains.sh finds when it starts (its contract with this script): granary.socket enabled and
# granaryd running, granary.conf with BASE_URL=http://granary.localhost and WILDCARD_HOST=
# *.granary.localhost (port 80 of granary.socket, on the container's loopback); the admin "alice" (password
# in $ADMIN_PASSWORD_FILE) and the app Hello installed; $GRANARY_TESTS_DIR holding apps/*.spk (the example
# apps), probe.spk and testapp-v1.spk, testapp-v2.spk when the build has them; tap.sh and lib.sh in
# $GRANARY_TESTS_LIB. It prints TAP of its own and runs as root.
GRANARY_TESTS_LIB=/usr/local/lib/granary-tests
GRANARY_TESTS_DIR=/usr/local/share/granary-tests
. "$GRANARY_TESTS_LIB/tap.sh"
. "$GRANARY_TESTS_LIB/lib.sh"
export GRANARY_TESTS_LIB GRANARY_TESTS_DIR

BASE=http://granary.localhost
ORIGIN=$BASE
ADMIN_PASSWORD_FILE=$TAP_TMP/alice.pass
export BASE ADMIN_PASSWORD_FILE

# prop UNIT PROPERTY: one property of a unit, as systemctl show gives it.
prop() { systemctl show -p "$2" --value "$1"; }

# status URL [CURL ARGS...]: the HTTP status of one request ("000" when none came), body in .body.
status() {
        local url=$1
        shift
        curl -sS --max-time 30 -o "$TAP_TMP/.body" -D "$TAP_TMP/.headers" -w '%{http_code}' "$@" "$url" \
                2>"$TAP_TMP/.curl.err"
}

# json FILE EXPR: a Python expression over the JSON in FILE (as j), printed.
json() {
        python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>&1
}

# ------------------------------------------------------------------------------------------------
# Socket activation: nothing runs until the first connection

is "granary.socket, granary-https.socket and granary-control.socket listen after boot" \
        "$(systemctl is-active granary.socket granary-https.socket granary-control.socket | tr '\n' ' ')" \
        "active active active "
like "granary.socket listens on port 80" "$(prop granary.socket Listen)" '(^|\s)\[::\]:80 \(Stream\)'
is "granary.service is not running before the first connection" \
        "$(prop granary.service ActiveState)/$(prop granary.service MainPID)" "inactive/0"
is "the first request is answered" "$(status "$BASE/")" 200 || diag "$(cat "$TAP_TMP/.curl.err")"
is "the first connection started granary.service" "$(prop granary.service ActiveState)" active
pid=$(prop granary.service MainPID)
is "granaryd runs as the user granary" "$(ps -o user= -p "$pid" 2>&1 | tr -d ' ')" granary
names=$(tr '\0' '\n' <"/proc/$pid/environ" 2>&1 | sed -n 's/^LISTEN_FDNAMES=//p' | tr ':' '\n' | sort | tr '\n' ' ')
is "granaryd got its three sockets from systemd, by name" "$names" "control http https "

# ------------------------------------------------------------------------------------------------
# sysusers and tmpfiles

IFS=: read -r _ _ uid gid _ home shell <<<"$(getent passwd granary)"
is "systemd-sysusers made the system user granary" "$home $shell $([ "${uid:-0}" -gt 0 ] && [ "$uid" -lt 1000 ] && echo system)" \
        "/var/lib/granary /usr/sbin/nologin system"
is "its group granary" "$(getent group granary | cut -d: -f3)" "$gid"
# Every directory tmpfiles.d/granary.conf names, with its mode and owners.
tmpfiles=$(ls /usr/lib/tmpfiles.d/granary.conf /lib/tmpfiles.d/granary.conf 2>/dev/null | head -1)
bad=''
n=0
while read -r type path mode user group _; do
        case $type in d | D) ;; *) continue ;; esac
        n=$((n + 1))
        [ "$user" != - ] || user=root
        [ "$group" != - ] || group=root
        got=$(stat -c '%a %U %G' "$path" 2>&1)
        [ "$got" = "${mode#0} $user $group" ] || bad="$bad $path: $got (wanted ${mode#0} $user $group);"
done < <(grep -v '^\s*#' "${tmpfiles:-/dev/null}")
if [ "$n" -gt 0 ] && [ -z "$bad" ]; then
        ok "systemd-tmpfiles made the $n directories of tmpfiles.d/granary.conf, modes and owners as written"
else
        not_ok "systemd-tmpfiles made the directories of tmpfiles.d/granary.conf, modes and owners as written"
        diag "${tmpfiles:-no tmpfiles.d/granary.conf}:$bad"
fi
is "/var/lib/granary is granary's alone" "$(stat -c '%a %U' /var/lib/granary)" "700 granary"
is "the control socket: the group granary may use it, nobody else" \
        "$(stat -c '%F %a %U %G' /run/granary/control.sock)" "socket 660 granary granary"

# ------------------------------------------------------------------------------------------------
# The first admin, users, an app

is "GET /api/v1/status: setup is needed" "$(status "$BASE/api/v1/status")/$(json "$TAP_TMP/.body" 'j["needsSetup"]')" \
        200/True
token=$(granary admin-token -q 2>&1)
like "granary admin-token -q prints a setup token" "$token" '^[A-Za-z0-9_-]{16,}$'
is "its setup page opens" "$(status "$BASE/setup?token=$token")" 200
head -c 18 /dev/urandom | base64 | tr '+/' 'xy' >"$ADMIN_PASSWORD_FILE"
body=$(printf '{"token":"%s","name":"alice","password":"%s","displayName":"Alice Admin"}' \
        "$token" "$(cat "$ADMIN_PASSWORD_FILE")")
is "POST /api/v1/setup with the token makes the first admin, alice" \
        "$(status "$BASE/api/v1/setup" -H 'Content-Type: application/json' -H "Origin: $ORIGIN" --data "$body")" 201 ||
        diag "$(cat "$TAP_TMP/.body")"
is "the token works once" \
        "$(status "$BASE/api/v1/setup" -H 'Content-Type: application/json' -H "Origin: $ORIGIN" --data "$body")" 403 ||
        diag "$(cat "$TAP_TMP/.body")"
echo 'bob-password-1' >"$TAP_TMP/bob.pass"
check "granary user add bob --password-stdin" granary user add bob --display-name "Bob B" --password-stdin \
        <"$TAP_TMP/bob.pass"
is "bob signs in (POST /api/v1/session)" \
        "$(status "$BASE/api/v1/session" -H 'Content-Type: application/json' -H "Origin: $ORIGIN" \
                --data '{"name":"bob","password":"bob-password-1"}')" 201 || diag "$(cat "$TAP_TMP/.body")"
users() { granary user list --json >"$TAP_TMP/users.json" 2>&1 && json "$TAP_TMP/users.json" \
        '" ".join("%s:%s" % (u["name"], u["admin"]) for u in sorted(j, key=lambda u: u["name"]))'; }
is "granary user list: alice (admin) and bob" "$(users)" "alice:True bob:False"

out=$(granary app install "$GRANARY_TESTS_DIR/apps/hello.spk" 2>&1)
like "granary app install hello.spk" "$out" "^Installed 'Hello' 1\.0\.0 \(app [0-9a-z]+\)"
apps() { granary app list --json >"$TAP_TMP/apps.json" 2>&1 && json "$TAP_TMP/apps.json" \
        '" ".join(a["title"] for a in j)'; }
is "granary app list: Hello" "$(apps)" "Hello"
is "its package is unpacked under /var/lib/granary/packages, granary's" \
        "$(stat -c '%U' /var/lib/granary/packages/*/ 2>&1 | sort -u)" granary

# ------------------------------------------------------------------------------------------------
# Restart under load: the sockets stay in systemd, so no request is refused

stream() { # OUT: "STATUS CURL-EXIT CURL-ERROR" per request, one after another, until $TAP_TMP/stop exists
        while [ ! -e "$TAP_TMP/stop" ]; do
                curl -s --max-time 30 -o /dev/null -w '%{http_code} %{exitcode} %{errormsg}\n' "$BASE/" >>"$1"
        done
}
rm -f "$TAP_TMP/stop"
streams=''
for i in 1 2 3 4; do
        : >"$TAP_TMP/s$i"
        stream "$TAP_TMP/s$i" &
        streams="$streams $!"
done
# Three restarts, each while four streams run: each is a race between the old granaryd's last accept and
# its SIGTERM, which a single restart may not lose.
pids=$(prop granary.service MainPID)
failed=''
for i in 1 2 3; do
        sleep 0.5
        systemctl restart granary.service 2>>"$TAP_TMP/restart.err" || failed="$failed $i"
        pids="$pids $(prop granary.service MainPID)"
done
sleep 0.5
touch "$TAP_TMP/stop"
# shellcheck disable=SC2086 # one pid each
wait $streams
is "systemctl restart granary.service, three times while requests stream" "$failed" "" ||
        diag "$(cat "$TAP_TMP/restart.err")"
# shellcheck disable=SC2086 # one pid each
is "each restart started a new granaryd" "$(printf '%s\n' $pids | grep -vx 0 | sort -u | wc -l)" 4 ||
        diag "MainPID before and after each restart: $pids"
total=$(cat "$TAP_TMP"/s[1-4] | wc -l)
refused=$(cat "$TAP_TMP"/s[1-4] | grep -vc '^200 0 $')
diag "$total requests during the restarts"
if [ "$total" -ge 20 ] && [ "$refused" -eq 0 ]; then
        ok "every one of $total requests across the restarts was answered 200"
else
        not_ok "every request across the restarts was answered 200 ($refused of $total were not)"
        diag "$(cat "$TAP_TMP"/s[1-4] | sort | uniq -c)"
        diag "granaryd's journal around the restarts:"
        diag "$(journalctl -b --no-pager -o short-monotonic -u granary.service | tail -20)"
fi

# ------------------------------------------------------------------------------------------------
# kill -9: systemd restarts granaryd, the sockets keep answering, the state survives

pid=$(prop granary.service MainPID)
restarts=$(prop granary.service NRestarts)
kill -KILL "$pid"
is "a request right after kill -9 of granaryd is answered" "$(status "$BASE/")" 200 ||
        diag "$(cat "$TAP_TMP/.curl.err")"
newpid=$(prop granary.service MainPID)
is "systemd restarted granaryd (Restart=on-failure)" \
        "$(prop granary.service ActiveState) $(($(prop granary.service NRestarts) - restarts)) $([ "$newpid" != "$pid" ] && echo new)" \
        "active 1 new"
is "after kill -9: alice (admin) and bob are still there" "$(users)" "alice:True bob:False"
is "after kill -9: Hello is still installed" "$(apps)" "Hello"
is "after kill -9: bob still signs in" \
        "$(status "$BASE/api/v1/session" -H 'Content-Type: application/json' -H "Origin: $ORIGIN" \
                --data '{"name":"bob","password":"bob-password-1"}')" 201 || diag "$(cat "$TAP_TMP/.body")"

# ------------------------------------------------------------------------------------------------
# The service's hardening, as systemd scores it

systemd-analyze security --no-pager granary.service >"$TAP_TMP/security.txt" 2>&1
level=$(sed -n 's/.*Overall exposure level for granary\.service: \([0-9.]*\).*/\1/p' "$TAP_TMP/security.txt")
if [ -n "$level" ] && awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }'; then
        ok "systemd-analyze security granary.service: $level, at most 2.0"
else
        not_ok "systemd-analyze security granary.service: ${level:-no level}, at most 2.0"
        diag "$(grep '✗' "$TAP_TMP/security.txt" | head -40)"
        [ -n "$level" ] || diag "$(tail -5 "$TAP_TMP/security.txt")"
fi

# ------------------------------------------------------------------------------------------------
# The grains under the systemd backend

# Its environment: the packages it installs, and GRAIN_IDLE_SEC as granary.conf (run.sh's) sets it.
if [ -f "$GRANARY_TESTS_LIB/scenario-grains.sh" ]; then
        idle=$(cat /etc/granary/granary.conf /etc/granary/granary.conf.d/*.conf 2>/dev/null |
                sed -n 's/^GRAIN_IDLE_SEC=\([0-9]*\).*/\1/p' | tail -1)
        (cd / && HEADERS_SPK=$GRANARY_TESTS_DIR/apps/headers.spk PROBE_SPK=$GRANARY_TESTS_DIR/probe.spk \
                NOTES_SPK=$GRANARY_TESTS_DIR/apps/notes.spk \
                NOTES_BIN=$GRANARY_TESTS_DIR/notes NOTES_PKGDEF=$GRANARY_TESTS_DIR/dev-notes.capnp \
                SCHEMA_DIR=$GRANARY_TESTS_DIR/schema \
                IDLE_SEC=${idle:-120} bash "$GRANARY_TESTS_LIB/scenario-grains.sh") \
                >"$TAP_TMP/grains.tap" 2>"$TAP_TMP/grains.err"
        tap_include grains "$TAP_TMP/grains.tap" || diag "$(tail -30 "$TAP_TMP/grains.err")"
else
        skip "grains: scenario-grains.sh is not there yet"
fi

done_testing
