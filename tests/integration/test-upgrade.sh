#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# An app upgrade moves its grains at their next start: a grain of testapp v1 keeps running v1 until it
# stops, then runs v2 (uploaded through the API as a browser sends it), with its /var as it was.
. "$SOURCE_ROOT/tests/integration/lib.sh"

grains_skip_unless_possible

unset GRANARY_CONTROL_SOCKET
state=$TAP_TMP/state
port=$(free_port)
base=http://granary.localhost:$port
grains_conf "$TAP_TMP/granary.conf"

PORT=$port
gd_start "$state" "$port" -c "$TAP_TMP/granary.conf" || bail "granaryd --dev comes up"
ok "granaryd --dev comes up"
g user add alice --admin --password-stdin <<<"alice-password-1" >/dev/null || bail "alice is added"
g app install "$TESTAPP_DIR/testapp-v1.spk" >/dev/null || bail "v1 is installed"
id=$(g grain new "$TESTAPP_ID" -q) || bail "a grain of v1"
ok "a grain of v1 (the only admin owns it)"

session_open "$id" /version || bail "a session"
is "the grain runs v1" "$s_status|$(cat "$TAP_TMP/.sbody")" "200|1"
is "it stores something" "$(sreq /var/data -X PUT --data-binary 'from v1')" "204"
g grain list --json >"$TAP_TMP/g.json"
is "the API says appVersion 1" "$(jq_file "$TAP_TMP/g.json" 'j[0]["appVersion"]')" "1"

hc -D "$TAP_TMP/login.h" -o "$TAP_TMP/login.json" -H "Origin: $base" -H 'Content-Type: application/json' \
        --data-binary '{"name":"alice","password":"alice-password-1"}' "$base/api/v1/session"
cookie=$(header Set-Cookie "$TAP_TMP/login.h" | sed 's/;.*//')
csrf=$(jq_file "$TAP_TMP/login.json" 'j["csrfToken"]')
status=$(hc -o "$TAP_TMP/up.json" -w '%{http_code}' -H "Origin: $base" -H "Cookie: $cookie" -H "X-CSRF-Token: $csrf" \
        -H 'Content-Type: application/x-sandstorm-package' --data-binary @"$TESTAPP_DIR/testapp-v2.spk" \
        "$base/api/v1/apps")
is "v2 uploaded through the API: 201, an upgrade" "$status|$(jq_file "$TAP_TMP/up.json" 'j["outcome"]')" "201|upgrade"

is "the running grain goes on with v1" "$(sreq /version)|$(cat "$TAP_TMP/.sbody")" "200|1"
g grain stop "$id" >/dev/null
wait_grain_state "$id" stopped 10 && ok "the grain stops" || not_ok "the grain stops"
is "its next start serves v2" "$(sreq /version)|$(cat "$TAP_TMP/.sbody")" "200|2"
is "  with /var kept" "$(sreq /var/data)|$(cat "$TAP_TMP/.sbody")" "200|from v1"
g grain list --json >"$TAP_TMP/g.json"
is "the API says appVersion 2 and the new package" \
        "$(jq_file "$TAP_TMP/g.json" '(j[0]["appVersion"], j[0]["packageId"])')" "(2, '$(sha256sum "$TESTAPP_DIR/testapp-v2.spk" | head -c 32)')"
grep -q '^testapp v2: GET /version' <(g grain log "$id") && ok "the console shows v2 answering" ||
        not_ok "the console shows v2 answering"

gd_stop TERM 20
is "granaryd exits 0" "$gd_status" "0"
no_sanitizer_reports
done_testing
