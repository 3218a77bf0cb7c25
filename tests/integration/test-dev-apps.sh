#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Development apps (spk dev's side of granaryd, issue 6) on a real granaryd --dev with the direct backend:
# a copy of the test app's unpacked package stands in for spk dev's FUSE mount, and curl holds the
# registration (POST /api/v1/dev-apps on the control socket) for as long as it runs. The app listed as a
# dev app, a grain of it made and opened, the tree read live at each start, the console streamed to curl,
# and, once curl is killed, the app gone from the list, the grain stopped and answering 503 "not
# installed" until the app is installed; then the override of an installed app, and the refusals.
. "$SOURCE_ROOT/tests/integration/lib.sh"

grains_skip_unless_possible
if [ ! -x "$TESTAPP_DIR/testapp-v1" ] || [ ! -x "$TESTAPP_DIR/testapp-v2" ]; then
        skip "the test app's binaries are not built"
        done_testing
        exit 0
fi

unset GRANARY_CONTROL_SOCKET
state=$TAP_TMP/state
port=$(free_port)
HOME=$TAP_TMP
export HOME
grains_conf "$TAP_TMP/granary.conf"
TESTAPP_ID=07nwwgkeg6t63hqefg48ggq1hmvg5un8n6kgw4dusa7mwm0uyxn0
SPK=${SPK:-$(dirname "$GRANARY")/../spk/spk}

PORT=$port
gd_start "$state" "$port" -c "$TAP_TMP/granary.conf" || bail "granaryd --dev comes up"
ok "granaryd --dev comes up"
g user add alice --admin --password-stdin <<<"alice-password-1" >/dev/null || bail "alice is added"

# The tree spk dev would mount: the v1 package, unpacked.
tree=$TAP_TMP/tree
"$SPK" unpack "$TESTAPP_DIR/testapp-v1.spk" "$tree" >/dev/null 2>&1 || bail "spk unpack of the test app"
chmod -R u+w "$tree"
[ -f "$tree/sandstorm-manifest" ] || bail "the unpacked tree has its manifest"

# body FILE APP ROOT [MANIFEST]: a registration body.
body() {
        "$PYTHON" - "$@" <<'EOF'
import base64, json, sys
out, app, root = sys.argv[1:4]
manifest = open(sys.argv[4] if len(sys.argv) > 4 else root + "/sandstorm-manifest", "rb").read()
b = {"appId": app, "root": root, "manifest": base64.b64encode(manifest).decode()}
try:
        b["bridgeConfig"] = base64.b64encode(open(root + "/sandstorm-http-bridge-config", "rb").read()).decode()
except OSError:
        pass
json.dump(b, open(out, "w"))
EOF
}

# dev_start BODYFILE: curl holds a registration; its output goes to $TAP_TMP/stream. Waits for the first line.
dev_start() {
        : >"$TAP_TMP/stream"
        curl -sSN --unix-socket "$state/control.sock" -D "$TAP_TMP/stream.head" -H 'Content-Type: application/json' \
                --data-binary @"$1" http://localhost/api/v1/dev-apps >"$TAP_TMP/stream" 2>"$TAP_TMP/stream.err" &
        dev_pid=$!
        LIB_PIDS="$LIB_PIDS $dev_pid"
        for i in $(seq 100); do
                [ -s "$TAP_TMP/stream" ] && return 0
                kill -0 "$dev_pid" 2>/dev/null || return 1
                sleep 0.05
        done
        return 1
}

dev_stop() {
        kill -KILL "$dev_pid" 2>/dev/null
        wait "$dev_pid" 2>/dev/null
        lib_forget "$dev_pid"
}

# post BODYFILE: a registration that is refused; prints the status, the answer in $TAP_TMP/.post
post() {
        curl -sS --max-time 5 --unix-socket "$state/control.sock" -o "$TAP_TMP/.post" -w '%{http_code}' \
                --data-binary @"$1" http://localhost/api/v1/dev-apps
}

apps_json() {
        curl -sS --unix-socket "$state/control.sock" http://localhost/api/v1/apps >"$TAP_TMP/apps.json"
        jq_file "$TAP_TMP/apps.json" "$1"
}

# wait_stream TEXT: a line of the stream is exactly TEXT, within 5 s.
wait_stream() {
        for i in $(seq 100); do
                grep -qxF -- "$1" "$TAP_TMP/stream" && return 0
                sleep 0.05
        done
        return 1
}

# ------------------------------------------------------------------------------------------------
# An app that is not installed, in development

body "$TAP_TMP/dev.json" "$TESTAPP_ID" "$tree"
dev_start "$TAP_TMP/dev.json" || bail "the registration answers ($(cat "$TAP_TMP/stream.err" "$TAP_TMP/stream"))"
is "the answer: 200, text/plain, chunked" \
        "$(tr -d '\r' <"$TAP_TMP/stream.head" | grep -iE '^(HTTP/|content-type:|transfer-encoding:)' | sort | tr '\n' '|')" \
        "Content-Type: text/plain; charset=utf-8|HTTP/1.1 200 OK|Transfer-Encoding: chunked|"
first=$(head -1 "$TAP_TMP/stream")
like "its first line: dev <appId> <devPackageId> <title>" "$first" "^dev $TESTAPP_ID dev-[0-9a-f]{16} Test App$"
pkg=$(echo "$first" | awk '{ print $3 }')

is "app list --json: the app, dev, with its development package" \
        "$(apps_json '[(a["title"], a["dev"], a["packageId"], a["version"], a["marketingVersion"]) for a in j["apps"]]')" \
        "[('Test App', True, '$pkg', 1, '1.0.0')]"
g app list >"$TAP_TMP/list" 2>&1
grep -q "^$TESTAPP_ID .* dev " "$TAP_TMP/list" && ok "granary app list shows it, marked dev" || { not_ok "granary app list shows it, marked dev"; diag "$(cat "$TAP_TMP/list")"; }

is "a second registration of the same app: 409" "$(post "$TAP_TMP/dev.json")" "409"
is "  with the reason" "$(jq_file "$TAP_TMP/.post" 'j["error"]')" \
        "app $TESTAPP_ID is already in development (another spk dev is running)"

id=$(g grain new "$TESTAPP_ID" --title "Dev grain" -q) || bail "grain new of the dev app"
like "grain new of the dev app makes a grain" "$id" '^[A-Za-z0-9]{22}$'
session_open "$id" /version || bail "grain open"
is "the grain runs from the dev tree: /version answers 1" "$s_status|$(cat "$TAP_TMP/.sbody")" "200|1"
is "its row names the development package" \
        "$(sqlite3 "$state/granary.sqlite" "SELECT package_id FROM grains WHERE id = '$id'")" "$pkg"

is "GET /say: 204" "$(sreq '/say?text=to-spk-dev')" "204"
wait_stream "[$id] testapp says: to-spk-dev" && ok "the console line reaches the stream as [<grainId>] <line>" ||
        { not_ok "the console line reaches the stream"; diag "$(cat "$TAP_TMP/stream")"; }
grep -qx 'testapp says: to-spk-dev' <(g grain log "$id") && ok "  and the grain's log" || not_ok "  and the grain's log"

# A change to the tree is what the next start runs.
cp "$TESTAPP_DIR/testapp-v2" "$tree/testapp.new" && mv "$tree/testapp.new" "$tree/testapp"
g grain stop "$id" >/dev/null
wait_grain_state "$id" stopped 5 || not_ok "the grain stops"
is "after a change of the tree, the next start runs it: /version answers 2" "$(sreq /version)|$(cat "$TAP_TMP/.sbody")" "200|2"

# ------------------------------------------------------------------------------------------------
# The registration ends with its connection

is "the grain runs before curl goes" "$(grain_state "$id")" "running"
dev_stop
for i in $(seq 50); do [ "$(apps_json 'len(j["apps"])')" = 0 ] && break; sleep 0.1; done
is "once curl is killed, the app is no longer listed" "$(apps_json 'j["apps"]')" "[]"
wait_grain_state "$id" stopped 5 && ok "  and its grain is stopped" || not_ok "  and its grain is stopped ($(grain_state "$id"))"
is "  the grain's next open: 503 (the app is not installed)" "$(sreq /version)|$(cat "$TAP_TMP/.sbody")" \
        "503|503 Service Unavailable: the app of this grain is not installed"
is "  a new session of it: refused, 'app <id> is not installed'" "$(g grain open "$id" 2>&1 >/dev/null; echo "status $?")" \
        "granary: app $TESTAPP_ID is not installed"$'\n'"status 1"
grep -q "Grain $id cannot start: app $TESTAPP_ID is not installed." "$gd_log" &&
        ok "  and granaryd's log says why" || not_ok "  and granaryd's log says why"
is "the development package stays while the grain uses it" \
        "$(sqlite3 "$state/granary.sqlite" "SELECT count(*) FROM packages WHERE id = '$pkg'")" "1"

g app install "$TESTAPP_DIR/testapp-v1.spk" >/dev/null || bail "the app is installed"
is "once the app is installed, the grain moves to it: /version answers 1" "$(sreq /version)|$(cat "$TAP_TMP/.sbody")" "200|1"
is "  its row names the installed package" \
        "$(sqlite3 "$state/granary.sqlite" "SELECT length(package_id) FROM grains WHERE id = '$id'")" "32"
is "  and the development package is gone" \
        "$(sqlite3 "$state/granary.sqlite" "SELECT count(*) FROM packages WHERE id LIKE 'dev-%'")" "0"
is "app list: the installed app, not dev" "$(apps_json '[(a["dev"], len(a["packageId"])) for a in j["apps"]]')" "[(False, 32)]"

# ------------------------------------------------------------------------------------------------
# An installed app, overridden while in development

dev_start "$TAP_TMP/dev.json" || bail "a new registration"
pkg2=$(head -1 "$TAP_TMP/stream" | awk '{ print $3 }')
is "app list: one entry, the dev one in place of the installed one" \
        "$(apps_json '[(a["dev"], a["packageId"]) for a in j["apps"]]')" "[(True, '$pkg2')]"
is "the running grain was stopped by the registration" "$(grain_state "$id")" "stopped"
is "its next request runs the dev tree (v2 binary): /version answers 2" "$(sreq /version)|$(cat "$TAP_TMP/.sbody")" "200|2"
is "app remove is refused while in development: 409" \
        "$(curl -sS --unix-socket "$state/control.sock" -o /dev/null -w '%{http_code}' -X DELETE \
                "http://localhost/api/v1/apps/$TESTAPP_ID")" "409"
dev_stop
wait_grain_state "$id" stopped 5 && ok "curl killed: the grain is stopped" || not_ok "curl killed: the grain is stopped"
is "and runs the installed package again: /version answers 1" "$(sreq /version)|$(cat "$TAP_TMP/.sbody")" "200|1"
is "the installed app is listed again, not dev" "$(apps_json '[(a["dev"], len(a["packageId"])) for a in j["apps"]]')" "[(False, 32)]"

# ------------------------------------------------------------------------------------------------
# Refusals

"$PYTHON" -c 'import json,sys; json.dump({"appId": "nope", "root": sys.argv[1], "manifest": "AAAA"}, open(sys.argv[2], "w"))' \
        "$tree" "$TAP_TMP/bad-id.json"
is "a bad app id: 400" "$(post "$TAP_TMP/bad-id.json")|$(jq_file "$TAP_TMP/.post" 'j["error"]')" "400|The app id is not valid."
body "$TAP_TMP/rel.json" "$TESTAPP_ID" "relative/tree" "$tree/sandstorm-manifest"
is "a relative root: 400" "$(post "$TAP_TMP/rel.json")|$(jq_file "$TAP_TMP/.post" 'j["error"]')" \
        "400|The root must be an absolute path."
body "$TAP_TMP/file.json" "$TESTAPP_ID" "$tree/testapp" "$tree/sandstorm-manifest"
is "a root that is a file: 400" "$(post "$TAP_TMP/file.json")|$(jq_file "$TAP_TMP/.post" 'j["error"]')" \
        "400|The root is not a directory."
printf 'not a manifest' >"$TAP_TMP/garbage"
body "$TAP_TMP/garbage.json" "$TESTAPP_ID" "$tree" "$TAP_TMP/garbage"
is "a manifest that does not parse: 400" "$(post "$TAP_TMP/garbage.json")" "400"
printf '{"appId": ' >"$TAP_TMP/broken.json"
is "malformed JSON: 400" "$(post "$TAP_TMP/broken.json")" "400"
is "nothing was registered by them" "$(apps_json '[a["dev"] for a in j["apps"]]')" "[False]"
is "the web listener does not know the endpoint: 404" \
        "$(hc -o /dev/null -w '%{http_code}' --data-binary @"$TAP_TMP/dev.json" "http://granary.localhost:$port/api/v1/dev-apps")" "404"

# granaryd's shutdown ends the stream (it never ends otherwise), so the drain does not wait for it.
dev_start "$TAP_TMP/dev.json" || bail "a registration before the shutdown"
t0=$(date +%s%N)
gd_stop TERM 20
t1=$(date +%s%N)
is "granaryd stops and exits 0 while a registration lives" "$gd_status" "0"
[ $(((t1 - t0) / 1000000)) -lt 5000 ] && ok "  without waiting for the drain deadline" ||
        not_ok "  without waiting for the drain deadline ($(((t1 - t0) / 1000000)) ms)"
for i in $(seq 50); do kill -0 "$dev_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$dev_pid" 2>/dev/null && not_ok "curl's stream ended" || ok "curl's stream ended"
wait "$dev_pid"
is "  cleanly: curl exits 0 (the chunked body ended)" "$?" "0"
lib_forget "$dev_pid"
no_sanitizer_reports
done_testing
