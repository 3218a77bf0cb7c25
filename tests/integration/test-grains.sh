#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Grains on a real granaryd --dev with the direct backend: the test app (testapp/) installed with the CLI,
# grains made, listed, opened, renamed, stopped, deleted with `granary grain`, and requests through their
# session hosts with curl. What the app sees (exactly the identity headers, never a forged one), /var
# across a grain restart and a granaryd restart, the idle stop and the wake-up, a crash (502) and the
# recovery, the console, and what deleting a grain and removing its app leave behind.
. "$SOURCE_ROOT/tests/integration/lib.sh"

grains_skip_unless_possible

unset GRANARY_CONTROL_SOCKET
state=$TAP_TMP/state
port=$(free_port)
HOME=$TAP_TMP
export HOME
grains_conf "$TAP_TMP/granary.conf" "GRAIN_IDLE_SEC=1"
# Nothing here reads the test's own input: a command that would ask gets nothing.
exec </dev/null

# field NAME: the value of NAME in the head the app echoed (/headers) in $TAP_TMP/.sbody; every
# occurrence, one per line.
field() {
        tr -d '\r' <"$TAP_TMP/.sbody" | awk -v n="$1" '{ i = index($0, ":"); if (i && tolower(substr($0, 1, i - 1)) == tolower(n)) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v); print v } }'
}

PORT=$port
gd_start "$state" "$port" -c "$TAP_TMP/granary.conf" || bail "granaryd --dev comes up with GRAIN_IDLE_SEC=1"
ok "granaryd --dev comes up with GRAIN_IDLE_SEC=1"

g user add alice --admin --display-name "Alice Ö. Liddell" --password-stdin <<<"alice-password-1" >/dev/null ||
        bail "alice is added"
g user add bob --password-stdin <<<"bob-password-1" >/dev/null || bail "bob is added"

# ------------------------------------------------------------------------------------------------
# Install and create

expect_ok "granary app install: the test app" "Installed 'Test App' 1.0.0 (app $TESTAPP_ID)." \
        g app install "$TESTAPP_DIR/testapp-v1.spk"
expect_fail "grain new for an unknown app" "granary: No such app." \
        g grain new 07nwwgkeg6t63hqefg48ggq1hmvg5un8n6kgw4dusa7mwm0uyxn1
expect_fail "grain new with an action the app does not have" "granary: The app has no action 2." \
        g grain new "$TESTAPP_ID" --action 2
expect_fail "grain new for a user that does not exist" "granary: No such user 'carol'." \
        g grain new "$TESTAPP_ID" --user carol
id=$(g grain new "$TESTAPP_ID" --title "First grain" -q)
like "grain new -q prints the new grain's id and only that" "$id" '^[A-Za-z0-9]{22}$'
[ -n "$id" ] || bail "a grain exists"
g grain new "$TESTAPP_ID" --user bob --action 1 >"$TAP_TMP/.out"
like "grain new without -q says what it made" "$(cat "$TAP_TMP/.out")" "^Created grain [A-Za-z0-9]{22} \('Test App'\)\.$"
bob_id=$(sed -n "s/^Created grain \([A-Za-z0-9]*\) .*/\1/p" "$TAP_TMP/.out")
[ -d "$state/grains/$id/var" ] && ok "the grain has its storage, grains/ID/var" || not_ok "the grain has its storage"

g grain list >"$TAP_TMP/list"
is "grain list: the header" "$(head -1 "$TAP_TMP/list" | tr -s ' ')" "ID TITLE APP OWNER STATE MEMORY CPU"
is "grain list: alice's grain, stopped, no memory" \
        "$(grep "^$id " "$TAP_TMP/list" | tr -s ' ')" "$id First grain Test App alice stopped - -"
is "grain list: bob's grain too (the control socket sees everyone's)" \
        "$(grep "^$bob_id " "$TAP_TMP/list" | tr -s ' ')" "$bob_id Test App Test App bob stopped - -"
g grain list --json >"$TAP_TMP/list.json"
is "grain list --json: the grain object" \
        "$(jq_file "$TAP_TMP/list.json" '[(x["title"], x["appId"], x["appTitle"], x["appVersion"], x["owner"], x["state"], x["memory"], len(x["packageId"]), sorted(x)) for x in j if x["id"] == "'"$id"'"][0]')" \
        "('First grain', '$TESTAPP_ID', 'Test App', 1, 'alice', 'stopped', None, 32, ['appId', 'appTitle', 'appVersion', 'cpuMs', 'created', 'id', 'lastUsed', 'memory', 'owner', 'packageId', 'state', 'title'])"

# ------------------------------------------------------------------------------------------------
# A session, and what the app sees

session_open "$id" /headers || bail "grain open prints a URL"
like "grain open: the URL is /_sandstorm-init on a ui- host of the wildcard" "$s_url" \
        "^http://ui-[0-9a-f]{32}\.granary\.localhost:$port/_sandstorm-init\?sessionid=[0-9a-f]{64}&path=%2Fheaders$"
is "the URL works with curl -L and a cookie jar: 303, then the app's answer" "$s_init_status $s_status" "303 200"
is "the app sees the request line" "$(head -1 "$TAP_TMP/.sbody" | tr -d '\r')" "GET /headers HTTP/1.1"
sid=${s_url##*sessionid=}
sid=${sid%%&*}
tab=$(printf 'tab:%s' "$sid" | sha256sum | head -c 32)
identity=$(sqlite3 "$state/granary.sqlite" \
        "SELECT identity_id FROM identities WHERE grain_id = '$id' AND user_id = (SELECT id FROM users WHERE name = 'alice')")
is "X-Sandstorm-Username: the display name, percent-encoded" "$(field X-Sandstorm-Username)" "Alice%20%C3%96.%20Liddell"
is "X-Sandstorm-User-Id: the first 32 hex digits of alice's identity in this grain" \
        "$(field X-Sandstorm-User-Id)" "${identity:0:32}"
like "  (an identity id of 64 hex digits)" "$identity" '^[0-9a-f]{64}$'
is "X-Sandstorm-Preferred-Handle: the user name" "$(field X-Sandstorm-Preferred-Handle)" "alice"
is "X-Sandstorm-Permissions: the owner holds all of the package's" "$(field X-Sandstorm-Permissions)" "read,write"
is "X-Sandstorm-Tab-Id: sha256(\"tab:\" + session id), 32 hex digits" "$(field X-Sandstorm-Tab-Id)" "$tab"
is "X-Sandstorm-Session-Type: normal" "$(field X-Sandstorm-Session-Type)" "normal"
is "X-Sandstorm-Base-Path: the session's origin" "$(field X-Sandstorm-Base-Path)" "$s_origin"
is "Host: the session's host" "$(field Host)" "$s_host"
is "X-Forwarded-Proto: http" "$(field X-Forwarded-Proto)" "http"

sreq /headers -H 'X-Sandstorm-User-Id: 0123456789abcdef0123456789abcdef' -H 'X-Sandstorm-Permissions: admin' \
        -H 'x-sandstorm-username: mallory' -H 'X-SANDSTORM-SESSION-TYPE: offer' -H 'X_Sandstorm_Username: mallory' \
        -H 'X-Forwarded-For: 203.0.113.9' -H 'X-Forwarded-Host: evil.example' -H 'X-Forwarded-Proto: https' \
        -H 'Forwarded: for=203.0.113.9' -H 'X-Real-IP: 203.0.113.9' -H 'X-Sandstorm-App-Note: kept' >/dev/null
is "forged identity headers are replaced: one User-Id, the real one" "$(field X-Sandstorm-User-Id)" "${identity:0:32}"
is "  one Permissions, the real ones" "$(field X-Sandstorm-Permissions)" "read,write"
is "  one Username, the real one" "$(field X-Sandstorm-Username)" "Alice%20%C3%96.%20Liddell"
is "  one Session-Type" "$(field X-Sandstorm-Session-Type)" "normal"
is "forwarding headers never reach the app (X-Forwarded-For, -Host, Forwarded, X-Real-IP)" \
        "$(field X-Forwarded-For)|$(field X-Forwarded-Host)|$(field Forwarded)|$(field X-Real-IP)" "|||"
is "  X-Forwarded-Proto is the server's own" "$(field X-Forwarded-Proto)" "http"
if grep -qi 'mallory\|203\.0\.113\|evil\.example\|_sandstorm' "$TAP_TMP/.sbody"; then
        not_ok "no byte of a forged header reaches the app"
        diag "$(cat "$TAP_TMP/.sbody")"
else
        ok "no byte of a forged header reaches the app"
fi

# ------------------------------------------------------------------------------------------------
# /var, restarts, idleness, crashes

is "PUT /var/note: 204" "$(sreq /var/note -X PUT --data-binary 'remember me')" "204"
is "GET /var/note: what was written" "$(sreq /var/note)|$(cat "$TAP_TMP/.sbody")" "200|remember me"
is "the grain runs after a request" "$(grain_state "$id")" "running"
expect_ok "grain stop" "Stopped grain $id." g grain stop "$id"
wait_grain_state "$id" stopped 5 && ok "the grain is stopped" || not_ok "the grain is stopped ($(grain_state "$id"))"
is "/var survives a grain restart" "$(sreq /var/note)|$(cat "$TAP_TMP/.sbody")" "200|remember me"

if wait_grain_state "$id" stopped 8; then
        ok "with GRAIN_IDLE_SEC=1 the grain stops by itself"
else
        not_ok "with GRAIN_IDLE_SEC=1 the grain stops by itself ($(grain_state "$id"))"
fi
grep "^$id " <(g grain list) | grep -q ' stopped ' && ok "  grain list says stopped" || not_ok "  grain list says stopped"
is "the next request wakes it" "$(sreq /version)|$(cat "$TAP_TMP/.sbody")" "200|1"

is "GET /crash: the app dies without an answer: 502" "$(sreq /crash)" "502"
is "the next request works" "$(sreq /version)|$(cat "$TAP_TMP/.sbody")" "200|1"
is "POST /echo streams the body back" "$(sreq /echo -H 'Content-Type: text/x-test' --data-binary @"$TESTAPP_DIR/sandstorm-pkgdef-v1.capnp")" "200"
cmp -s "$TAP_TMP/.sbody" "$TESTAPP_DIR/sandstorm-pkgdef-v1.capnp" && ok "  the same bytes" || not_ok "  the same bytes"

is "GET /say prints to the console" "$(sreq '/say?text=hello-console')" "204"
g grain log "$id" >"$TAP_TMP/log" 2>"$TAP_TMP/.err"
grep -qx 'testapp says: hello-console' "$TAP_TMP/log" && ok "grain log shows the app's output" ||
        { not_ok "grain log shows the app's output"; diag "$(tail -20 "$TAP_TMP/log") $(cat "$TAP_TMP/.err")"; }
grep -q 'testapp: crashing on purpose' "$TAP_TMP/log" && ok "  and its stderr" || not_ok "  and its stderr"
is "grain log --bytes 10: the last 10 bytes" "$(g grain log "$id" --bytes 10 | wc -c)" "10"
expect_fail "grain log --bytes 0 is refused" "granary: Invalid --bytes '0': a number from 1 to 1048576." \
        g grain log "$id" --bytes 0

gd_stop TERM 20
is "granaryd stops its grains and exits 0 on SIGTERM" "$gd_status" "0"
gd_start "$state" "$port" -c "$TAP_TMP/granary.conf" || bail "granaryd comes up again"
is "the old session is gone with the server's memory: 403 or 404" \
        "$(sreq /var/note | sed 's/403/gone/; s/404/gone/')" "gone"
session_open "$id" /var/note || bail "a new session"
is "/var survives a granaryd restart" "$s_status|$(cat "$TAP_TMP/.sbody")" "200|remember me"

# ------------------------------------------------------------------------------------------------
# Rename, delete, app removal

expect_ok "grain rename" "Renamed grain $id to 'Second name'." g grain rename "$id" "Second name"
is "grain list shows the new title" "$(grep "^$id " <(g grain list) | awk '{ print $2, $3 }')" "Second name"
expect_fail "grain rename to nothing is refused" "granary: The title is empty." g grain rename "$id" ""
expect_fail "grain rename of an unknown grain" "granary: No such grain." g grain rename nosuchgrain0000000000a x

expect_fail "app remove is refused while grains use the app" \
        "granary: Grains use this app: delete them first, or force the removal." g app remove "$TESTAPP_ID"
expect_fail "grain delete asks for --yes when standard input is not a terminal" \
        "granary: Deleting a grain destroys its data: say --yes (standard input is not a terminal to ask)." \
        g grain delete "$id"
expect_ok "grain delete --yes" "Deleted grain $id." g grain delete "$id" --yes
is "its session host answers as an unknown one afterwards: 403" "$(sreq /version)" "403"
is "  and its /_sandstorm-init URL: 404" "$(hc -o /dev/null -w '%{http_code}' "$s_url")" "404"
for i in $(seq 50); do [ -e "$state/grains/$id" ] || break; sleep 0.1; done
[ ! -e "$state/grains/$id" ] && ok "its storage is removed" || not_ok "its storage is removed"
expect_fail "grain stop of a deleted grain" "granary: No such grain." g grain stop "$id"

session_open "$bob_id" /var/x --user bob >/dev/null
sreq /var/x -X PUT --data-binary x >/dev/null
expect_ok "app remove --force removes the grains with it" \
        "Removed 'Test App' (app $TESTAPP_ID) and the 1 grain that used it." g app remove "$TESTAPP_ID" --force
for i in $(seq 50); do [ -e "$state/grains/$bob_id" ] || break; sleep 0.1; done
[ ! -e "$state/grains/$bob_id" ] && ok "  and their storage" || not_ok "  and their storage"
is "  and their sessions" "$(sreq /var/x)" "403"
is "grain list: none left" "$(g grain list)" "No grains."

gd_stop TERM 20
is "granaryd exits 0" "$gd_status" "0"
no_sanitizer_reports
done_testing
