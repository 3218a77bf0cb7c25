#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Apps on a real granaryd --dev: packages made here with spk, installed, upgraded, listed and removed with
# `granary app` over the control socket and with POST /api/v1/apps as a browser sends it (session cookie,
# Origin, X-CSRF-Token). Who may upload, what a refusal leaves behind (nothing), and that a too large
# Content-Length is refused before the body is read.
. "$SOURCE_ROOT/tests/integration/lib.sh"

SPK=${SPK:-$BUILD_ROOT/src/spk/spk}
if [ ! -x "$SPK" ]; then
        skip "spk is not built ($SPK)"
        done_testing
        exit 0
fi

unset GRANARY_CONTROL_SOCKET
state=$TAP_TMP/state
port=$(free_port)
base=http://granary.localhost:$port
HOME=$TAP_TMP
export HOME
umask 022

# g ARGS...: the CLI, pointed at this granaryd.
g() {
        "$GRANARY" --dev "$state" "$@"
}

# json FILE EXPR: a Python expression over the JSON in FILE (as j), printed.
json() {
        "$PYTHON" -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>&1
}

# packages: what is in the packages directory, sorted, on one line (hidden entries included).
packages() {
        ls -A "$state/packages" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'
}

# wait_packages WANT: packages says WANT within 10 s (trees moved aside are deleted by a worker).
wait_packages() {
        local i
        for i in $(seq 100); do
                [ "$(packages)" = "$1" ] && return 0
                sleep 0.1
        done
        return 1
}

# ------------------------------------------------------------------------------------------------
# Packages

app_id=$("$SPK" keygen -k keyring -q) || bail "spk keygen"
mkdir -p app
# make_package OUT VERSION MARKETING TITLE CONTENT
make_package() {
        printf '%s\n' "$5" >app/hello.txt
        cat >sandstorm-pkgdef.capnp <<EOF
@0xe2a3b0c1d2e3f405;
using Spk = import "/sandstorm/package.capnp";
const pkgdef :Spk.PackageDefinition = (
  id = "$app_id",
  manifest = (
    appTitle = (defaultText = "$4"),
    appVersion = $2,
    appMarketingVersion = (defaultText = "$3"),
    actions = [ ( nounPhrase = (defaultText = "note"), command = .cmd ) ],
    continueCommand = .cmd,
  ),
  sourceMap = ( searchPath = [ ( sourcePath = "app" ) ] ),
  alwaysInclude = [ "." ],
);
const cmd :Spk.Manifest.Command = ( argv = ["/hello.txt"] );
EOF
        rm -f "$1"
        "$SPK" pack -k keyring "$1" >/dev/null
}
make_package v1.spk 1 1.0 "Hello" "hello one" || bail "spk pack v1"
make_package v2.spk 2 2.0 "Hello" "hello two" || bail "spk pack v2"
make_package v1b.spk 1 1.1 "Hello" "hello one, rebuilt" || bail "spk pack v1b"
make_package v3.spk 3 3.0 "Hello" "hello three" || bail "spk pack v3"
make_package v4.spk 4 4.0 "Hello, again" "hello four" || bail "spk pack v4"
pkg_id() { sha256sum "$1" | head -c 32; }
id1=$(pkg_id v1.spk)
id2=$(pkg_id v2.spk)
id1b=$(pkg_id v1b.spk)
id3=$(pkg_id v3.spk)
ok "packages made with spk"

# The server's own body limit above APPS_UPLOAD_MAX, so that the upload's limit is the one that answers.
write_conf "$TAP_TMP/granary.conf" "MAX_BODY_BYTES=4294967296"
PORT=$port
gd_start "$state" "$port" -c "$TAP_TMP/granary.conf" || bail "granaryd --dev comes up"
ok "granaryd --dev comes up"

# ------------------------------------------------------------------------------------------------
# An admin session on the web, and an ordinary user's

token=$(g admin-token -q)
hc -D "$TAP_TMP/setup.h" -o "$TAP_TMP/setup.json" -H "Origin: $base" -H 'Content-Type: application/json' \
        --data-binary "{\"token\":\"$token\",\"name\":\"admin\",\"password\":\"admin-password-1\"}" "$base/api/v1/setup"
admin_cookie=$(header Set-Cookie "$TAP_TMP/setup.h" | sed 's/;.*//')
admin_csrf=$(json "$TAP_TMP/setup.json" 'j["csrfToken"]')
[ -n "$admin_cookie" ] && [ ${#admin_csrf} -eq 43 ] || bail "the admin is set up"
g user add bob --password-stdin <<<"bob-password-1" >/dev/null || bail "bob is added"
hc -D "$TAP_TMP/login.h" -o "$TAP_TMP/login.json" -H "Origin: $base" -H 'Content-Type: application/json' \
        --data-binary '{"name":"bob","password":"bob-password-1"}' "$base/api/v1/session"
bob_cookie=$(header Set-Cookie "$TAP_TMP/login.h" | sed 's/;.*//')
bob_csrf=$(json "$TAP_TMP/login.json" 'j["csrfToken"]')
[ -n "$bob_cookie" ] && [ ${#bob_csrf} -eq 43 ] || bail "bob logs in"
ok "an admin and a user with sessions"

# upload AS FILE [CURL ARGS...]: POST /api/v1/apps with FILE as the body, as the browser of AS (admin, bob,
# nobody) sends it; prints the status, the answer in $TAP_TMP/.body and its head in $TAP_TMP/.headers.
upload() {
        local as=$1 file=$2 cookie csrf
        shift 2
        case $as in
        admin) cookie=$admin_cookie csrf=$admin_csrf ;;
        bob) cookie=$bob_cookie csrf=$bob_csrf ;;
        *) cookie='' csrf='' ;;
        esac
        hc -o "$TAP_TMP/.body" -D "$TAP_TMP/.headers" -w '%{http_code}' -X POST -H "Origin: $base" \
                ${cookie:+-H "Cookie: $cookie"} ${csrf:+-H "X-CSRF-Token: $csrf"} \
                -H 'Content-Type: application/x-sandstorm-package' --data-binary "@$file" "$@" "$base/api/v1/apps"
}

# web AS METHOD PATH: an API call without a body as AS; prints the status, the answer in $TAP_TMP/.body.
web() {
        local cookie csrf
        case $1 in
        admin) cookie=$admin_cookie csrf=$admin_csrf ;;
        bob) cookie=$bob_cookie csrf=$bob_csrf ;;
        esac
        hc -o "$TAP_TMP/.body" -w '%{http_code}' -X "$2" -H "Origin: $base" ${cookie:+-H "Cookie: $cookie"} \
                ${csrf:+-H "X-CSRF-Token: $csrf"} "$base/api/v1$3"
}

# ------------------------------------------------------------------------------------------------
# granary app install, list

expect_ok "no apps at first" "No apps are installed." g app list
expect_ok "app install" "Installed 'Hello' 1.0 (app $app_id)." g app install v1.spk
is "the package is unpacked under its id" "$(cat "$state/packages/$id1/hello.txt" 2>&1)" "hello one"
is "nothing else in the packages directory" "$(packages)" "$id1"
is "nothing left in the upload directory" "$(ls -A "$state/tmp")" ""

g app list >"$TAP_TMP/list" 2>&1
is "app list" "$(sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}$/DATE/' "$TAP_TMP/list")" \
        "APP-ID$(printf '%48s')TITLE  VERSION  INSTALLED
$app_id  Hello  1.0 (1)  DATE"
g app list --json >"$TAP_TMP/list.json"
is "app list --json" "$(json "$TAP_TMP/list.json" '[(a["id"], a["title"], a["version"], a["marketingVersion"], a["packageId"], type(a["installed"]).__name__) for a in j]')" \
        "[('$app_id', 'Hello', 1, '1.0', '$id1', 'int')]"

expect_fail "the same package again" "granary: This package is installed already." g app install v1.spk
is "the tree is still the one there was" "$(packages)" "$id1"
expect_fail "a file that is missing" "granary: Failed to open 'nothing.spk': No such file or directory" \
        g app install nothing.spk

# ------------------------------------------------------------------------------------------------
# Uploads through HTTP

is "an upgrade through HTTP: 201" "$(upload admin v2.spk)" 201
is "the answer says what happened" \
        "$(json "$TAP_TMP/.body" '(j["outcome"], j["app"]["version"], j["app"]["marketingVersion"], j["app"]["packageId"], j["package"]["id"])')" \
        "('upgrade', 2, '2.0', '$id2', '$id2')"
is "Location names the app" "$(header Location)" "/api/v1/apps/$app_id"
is "the new tree beside the old one" "$(packages)" "$(printf '%s\n' "$id1" "$id2" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"

is "without a session: 401" "$(upload nobody v3.spk)" 401
is "without the CSRF token: 403" \
        "$(hc -o "$TAP_TMP/.body" -w '%{http_code}' -X POST -H "Origin: $base" -H "Cookie: $admin_cookie" \
                -H 'Content-Type: application/x-sandstorm-package' --data-binary @v3.spk "$base/api/v1/apps")" 403
is "a user who is no admin: 403" "$(upload bob v3.spk)" 403
is "... who is told why" "$(json "$TAP_TMP/.body" 'j["error"]')" "Only administrators may do that."
is "another Content-Type: 415" "$(upload admin v3.spk -H 'Content-Type: text/plain')" 415
is "none of these installed anything" "$(packages)" "$(printf '%s\n' "$id1" "$id2" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"

cp v3.spk tampered.spk
size=$(stat -c %s tampered.spk)
printf '\x00\x00\x00\x00' | dd of=tampered.spk bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
is "a tampered package: 400" "$(upload admin tampered.spk)" 400
like "... with spk's reason" "$(json "$TAP_TMP/.body" 'j["error"]')" "^(Package is corrupt|Signature didn't match|Invalid signature)"
is "... and leaves no directory" "$(packages)" "$(printf '%s\n' "$id1" "$id2" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"
printf 'not a package' >junk.spk
is "not a package: 400" "$(upload admin junk.spk)" 400
is "... says so" "$(json "$TAP_TMP/.body" 'j["error"]')" "Not a Sandstorm package (bad magic number)."

# The whole head, a Content-Length past APPS_UPLOAD_MAX, and the first bytes of a body: refused from the
# head, and the connection closed without reading on.
H="Host: granary.localhost:$port\r\nOrigin: $base\r\nContent-Type: application/x-sandstorm-package"
expect_h1 "a Content-Length past 1 GiB + 8: 413 and close" 413 yes \
        "POST /api/v1/apps HTTP/1.1\r\n$H\r\nCookie: $admin_cookie\r\nX-CSRF-Token: $admin_csrf\r\nContent-Length: 1073741833\r\n\r\n" \
        "@repeat=4096:0123456789abcdef"
is "... says why" "$(val h.content-type)" "application/json"
expect_h1 "exactly 1 GiB + 8 is not refused by its length (the body never comes: no answer)" none - \
        "POST /api/v1/apps HTTP/1.1\r\n$H\r\nCookie: $admin_cookie\r\nX-CSRF-Token: $admin_csrf\r\nContent-Length: 1073741832\r\n\r\n" \
        "@repeat=256:0123456789abcdef"
expect_h1 "who asks is checked before the length: 401" 401 - \
        "POST /api/v1/apps HTTP/1.1\r\n$H\r\nContent-Length: 1073741833\r\n\r\n"
expect_h1 "a non-admin's huge upload: 403" 403 - \
        "POST /api/v1/apps HTTP/1.1\r\n$H\r\nCookie: $bob_cookie\r\nX-CSRF-Token: $bob_csrf\r\nContent-Length: 1073741833\r\n\r\n"
is "nothing was written" "$(packages) | $(ls -A "$state/tmp")" \
        "$(printf '%s\n' "$id1" "$id2" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//') | "

# An upload cut off half way: nothing stays.
expect_h1 "an upload whose client goes away" none - \
        "POST /api/v1/apps HTTP/1.1\r\n$H\r\nCookie: $admin_cookie\r\nX-CSRF-Token: $admin_csrf\r\nContent-Length: 100000\r\n\r\n" \
        "@file=$TAP_TMP/v3.spk"
sleep 0.3
is "... leaves nothing behind" "$(packages) | $(ls -A "$state/tmp")" \
        "$(printf '%s\n' "$id1" "$id2" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//') | "

# Chunked (no Content-Length): counted as it comes.
is "a chunked upload" "$(upload admin v3.spk -H 'Transfer-Encoding: chunked')" 201
is "... installs" "$(json "$TAP_TMP/.body" '(j["outcome"], j["app"]["version"])')" "('upgrade', 3)"

# ------------------------------------------------------------------------------------------------
# Older versions, lost trees, reading

expect_ok "an older version is kept but not used" \
        "Added 1.1 of 'Hello' (app $app_id); 3.0 stays the version in use." g app install v1b.spk
rm -rf "${state:?}/packages/$id2"
expect_ok "a package whose files went missing is unpacked again" \
        "Restored the files of 'Hello' 2.0 (app $app_id)." g app install v2.spk
is "... back in place" "$(cat "$state/packages/$id2/hello.txt" 2>&1)" "hello two"

is "a user may list the apps" "$(web bob GET /apps)" 200
is "... and sees the version in use" "$(json "$TAP_TMP/.body" '[(a["id"], a["version"], a["packageId"]) for a in j["apps"]]')" \
        "[('$app_id', 3, '$id3')]"
is "GET /apps/ID" "$(web bob GET "/apps/$app_id")" 200
is "... lists every version, the latest marked" \
        "$(json "$TAP_TMP/.body" '[(p["version"], p["marketingVersion"], p["latest"]) for p in j["app"]["packages"]]')" \
        "[(3, '3.0', True), (2, '2.0', False), (1, '1.1', False), (1, '1.0', False)]"
is "an unknown app: 404" "$(web bob GET /apps/0000000000000000000000000000000000000000000000000000)" 404
is "not an app id: 404" "$(web bob GET /apps/nonsense)" 404
is "a user may not remove an app" "$(web bob DELETE "/apps/$app_id")" 403

is "an upload over HTTP/2" "$(upload admin v4.spk --http2-prior-knowledge)" 201
is "... upgrades, and the new title shows" "$(json "$TAP_TMP/.body" '(j["outcome"], j["app"]["version"], j["app"]["title"])')" \
        "('upgrade', 4, 'Hello, again')"

# ------------------------------------------------------------------------------------------------
# Removing

expect_fail "app remove without an id" "granary: Missing app ID; see 'granary app remove --help'." g app remove
expect_ok "app remove" "Removed 'Hello, again' (app $app_id)." g app remove "$app_id"
expect_ok "... and the list is empty" "No apps are installed." g app list
if wait_packages ""; then ok "... and every tree is gone"; else not_ok "... and every tree is gone"; diag "$(packages)"; fi
expect_fail "removing it again" "granary: No such app." g app remove "$app_id"

is "installing after a removal" "$(upload admin v1.spk)" 201
is "... is a new app again" "$(json "$TAP_TMP/.body" 'j["outcome"]')" "new"
is "removing through HTTP" "$(web admin DELETE "/apps/$app_id?force=1")" 200
is "... answers with the app and no grains" "$(json "$TAP_TMP/.body" '(j["app"]["id"], j["deletedGrains"])')" \
        "('$app_id', [])"
if wait_packages ""; then ok "... and its tree is gone"; else not_ok "... and its tree is gone"; diag "$(packages)"; fi

# ------------------------------------------------------------------------------------------------
# Help

for c in "app --help" "app install --help" "app list --help" "app remove --help"; do
        # shellcheck disable=SC2086
        if g $c >"$TAP_TMP/.out" 2>"$TAP_TMP/.err" && grep -q '^Usage: granary app' "$TAP_TMP/.out" &&
                [ ! -s "$TAP_TMP/.err" ]; then
                ok "granary $c"
        else
                not_ok "granary $c"
                diag "$(cat "$TAP_TMP/.out" "$TAP_TMP/.err")"
        fi
done
expect_fail "an unknown app command" "granary: Unknown app command 'frobnicate'; see 'granary app --help'." \
        g app frobnicate

gd_stop
is "granaryd exits cleanly" "$gd_status" 0
no_sanitizer_reports
done_testing
