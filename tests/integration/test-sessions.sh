#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Grain sessions (sandstorm-spec.md §5.10) on a real granaryd --dev with the direct backend: the
# /_sandstorm-init bootstrap (303 and its cookie), what a session host answers without that cookie, with a
# foreign Origin, for an unknown host, and who may open a session on a grain (its owner only, for now).
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
g user add bob --password-stdin <<<"bob-password-1" >/dev/null || bail "bob is added"
g app install "$TESTAPP_DIR/testapp-v1.spk" >/dev/null || bail "the test app is installed"
id=$(g grain new "$TESTAPP_ID" --user alice -q) || bail "alice has a grain"

# login NAME PASSWORD: a browser session on the base host; sets cookie and csrf.
login() {
        hc -D "$TAP_TMP/login.h" -o "$TAP_TMP/login.json" -H "Origin: $base" -H 'Content-Type: application/json' \
                --data-binary "{\"name\":\"$1\",\"password\":\"$2\"}" "$base/api/v1/session"
        cookie=$(header Set-Cookie "$TAP_TMP/login.h" | sed 's/;.*//')
        csrf=$(jq_file "$TAP_TMP/login.json" 'j["csrfToken"]')
}

# web METHOD PATH [JSON]: an API call from the last browser that logged in; prints the status.
web() {
        local args=(-o "$TAP_TMP/.web" -w '%{http_code}' -X "$1" -H "Origin: $base" -H "Cookie: $cookie" -H "X-CSRF-Token: $csrf")
        [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
        hc "${args[@]}" "$base/api/v1$2"
}

# ------------------------------------------------------------------------------------------------
# The bootstrap

url=$(g grain open "$id" --path '/var/a?b=1')
origin=${url%%/_sandstorm-init*}
sid=${url##*sessionid=}
sid=${sid%%&*}
status=$(hc -o /dev/null -D "$TAP_TMP/init.h" -w '%{http_code}' "$url")
is "/_sandstorm-init answers 303" "$status" "303"
is "  to the path" "$(header Location "$TAP_TMP/init.h")" "/var/a?b=1"
is "  with the session's cookie, HttpOnly" "$(header Set-Cookie "$TAP_TMP/init.h")" \
        "sandstorm-sid=$sid; Path=/; HttpOnly; SameSite=Lax"
host_id=$(printf '%s' "$sid" | sha256sum | head -c 32)
is "the session's host is ui-<sha256(session id)[0:32]>" "$origin" "http://ui-$host_id.granary.localhost:$port"

expect_status "without the cookie: 403" 403 "$origin/version"
grep -q 'Unauthorized due to missing cookie' "$TAP_TMP/.body" && ok "  saying why" || not_ok "  saying why"
expect_status "with another session's cookie: 403" 403 -H "Cookie: sandstorm-sid=$(printf '%064d' 0)" "$origin/version"
expect_status "with the cookie: 200" 200 -H "Cookie: sandstorm-sid=$sid" "$origin/version"
expect_status "a foreign Origin: 403" 403 -H "Cookie: sandstorm-sid=$sid" -H 'Origin: http://evil.example' \
        -X PUT --data-binary x "$origin/var/a"
grep -q 'CSRF not allowed' "$TAP_TMP/.body" && ok "  saying why" || not_ok "  saying why"
expect_status "the shell's Origin is foreign too: 403" 403 -H "Cookie: sandstorm-sid=$sid" -H "Origin: $base" \
        -X PUT --data-binary x "$origin/var/a"
expect_status "the session's own Origin: 204" 204 -H "Cookie: sandstorm-sid=$sid" -H "Origin: $origin" \
        -X PUT --data-binary x "$origin/var/a"
expect_status "Origin: null: 200" 200 -H "Cookie: sandstorm-sid=$sid" -H 'Origin: null' "$origin/var/a"
expect_status "an unknown ui- host: /_sandstorm-init 404" 404 \
        "http://ui-$(printf '%032d' 0).granary.localhost:$port/_sandstorm-init?sessionid=$sid&path=%2F"
expect_status "  anything else there: 403" 403 -H "Cookie: sandstorm-sid=$sid" \
        "http://ui-$(printf '%032d' 0).granary.localhost:$port/version"
expect_status "the session id of one host on another's init: 404" 404 \
        "http://ui-$(printf '%032d' 1).granary.localhost:$port/_sandstorm-init?sessionid=$sid&path=%2F"

# ------------------------------------------------------------------------------------------------
# Who may open a session

login bob bob-password-1
[ -n "$cookie" ] || bail "bob logs in"
is "bob cannot see alice's grain: 404" "$(web GET "/grains/$id")" "404"
is "  nor open a session on it: 404" "$(web POST "/grains/$id/session" '{}')" "404"
is "  and his list is empty" "$(web GET /grains)|$(cat "$TAP_TMP/.web")" '200|{"grains":[]}'
is "  ?all=1 is for admins: 403" "$(web GET '/grains?all=1')" "403"
is "an admin on the control socket cannot open it for bob: 403" \
        "$(g grain open "$id" --user bob 2>&1)" "granary: Only the grain's owner may open it."

login alice alice-password-1
[ -n "$cookie" ] || bail "alice logs in"
is "alice opens her grain on the web: 201" "$(web POST "/grains/$id/session" '{"path":"/version"}')" "201"
is "  {url, host, origin}" "$(jq_file "$TAP_TMP/.web" 'sorted(j)')" "['host', 'origin', 'url']"
web_url=$(jq_file "$TAP_TMP/.web" 'j["url"]')
web_host=$(jq_file "$TAP_TMP/.web" 'j["host"]')
is "  host and origin agree with the url" "$(jq_file "$TAP_TMP/.web" 'j["url"].startswith(j["origin"] + "/_sandstorm-init?") and j["origin"] == "http://" + j["host"]')" "True"
status=$(hc -L -c "$TAP_TMP/jar" -b "$TAP_TMP/jar" -A 'Browser/1.0' -o "$TAP_TMP/.body" -w '%{http_code}' "$web_url")
is "  it works" "$status|$(cat "$TAP_TMP/.body")" "200|1"
is "a session needs the CSRF token: 403" \
        "$(hc -o /dev/null -w '%{http_code}' -X POST -H "Origin: $base" -H "Cookie: $cookie" "$base/api/v1/grains/$id/session")" "403"
is "a bad path is refused: 400" "$(web POST "/grains/$id/session" '{"path":"no-slash"}')" "400"
is "'user' is for the control socket: 400" "$(web POST "/grains/$id/session" '{"user":"alice"}')" "400"
is "a session of an unknown grain: 404" "$(web POST "/grains/nosuchgrain0000000000a/session" '{}')" "404"
is "an admin sees everyone's grains with ?all=1" "$(web GET '/grains?all=1')|$(jq_file "$TAP_TMP/.web" 'len(j["grains"])')" "200|1"

# The user goes, their sessions with them.
gid=$(g grain new "$TESTAPP_ID" --user bob -q)
url=$(g grain open "$gid" --user bob --path /version)
is "bob's session works" "$(hc -L -c "$TAP_TMP/jar2" -b "$TAP_TMP/jar2" -o /dev/null -w '%{http_code}' "$url")" "200"
g grain delete "$gid" --yes >/dev/null
g user delete bob >/dev/null
is "once bob and his grain are gone, so is his session: 403" \
        "$(hc -b "$TAP_TMP/jar2" -o /dev/null -w '%{http_code}' "${url%%/_sandstorm-init*}/version")" "403"

gd_stop TERM 20
is "granaryd exits 0" "$gd_status" "0"
no_sanitizer_reports
done_testing
