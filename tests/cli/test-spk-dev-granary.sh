#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# spk dev with a real granaryd (issue 6): the example app notes, served from its source tree through
# spk dev's FUSE view with a fileList, registered over the control socket; a grain of the dev app made
# and used through its session; then SIGINT, and the list, the app list, the mounts and a package
# packed from the list afterwards. Mounting FUSE is what spk dev does itself; every mount is under this
# test's temporary directory and is detached on exit.
. "$SOURCE_ROOT/tests/integration/lib.sh"

HOME=$TAP_TMP
XDG_RUNTIME_DIR=$TAP_TMP/rt
export HOME XDG_RUNTIME_DIR
unset GRANARY_CONTROL_SOCKET
umask 022

if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
        skip "FUSE is not available here (/dev/fuse, fusermount3)"
        done_testing
        exit 0
fi
if [ -z "${GRANARY_GRAIN_PATH:-}" ] || [ ! -x "$APPS_BUILD_DIR/notes/notes" ]; then
        skip "this build has no granary-grain or no notes app"
        done_testing
        exit 0
fi

# Detach whatever spk dev left below $TAP_TMP, before lib.sh's trap removes the directory.
detach_all() {
        local m
        for m in $(awk -v t="$TAP_TMP" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo); do
                umount -l "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null
        done
}
trap 'detach_all; lib_cleanup' EXIT

any_mounts() { awk -v t="$TAP_TMP" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo; }

STATE=$TAP_TMP/state
PORT=$(free_port)
gd_start "$STATE" "$PORT" || bail "granaryd starts"
g() { "$GRANARY" --dev "$STATE" "$@"; }
g user add dev --admin --password-stdin <<<"dev-password-123" >/dev/null || bail "an admin is added"

# The dev server answers POST /api/v1/dev-apps only once the server side of issue 6 is in.
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$STATE/control.sock" -X POST \
        -H 'Content-Type: application/json' --data '{}' http://localhost/api/v1/dev-apps)
if [ "$code" = 404 ]; then
        skip "this granaryd does not know development apps yet"
        done_testing
        exit 0
fi

# notes from its build, as a source tree with a file list; one file the app never touches.
APP_ID=dzh2krnstxg6w947fmr667nvgj6umua9rvcz95e7a9k8vp41xt90 # the id in tests/cli/dev-notes.capnp
mkdir -p work/src/share
cp "$APPS_BUILD_DIR/notes/notes" work/src/notes
printf 'never used\n' >work/src/share/untouched.txt
cp "$SOURCE_ROOT/tests/cli/dev-notes.capnp" work/sandstorm-pkgdef.capnp
SPK_BRIDGE_PATH=$GRANARY_GRAIN_PATH
export SPK_BRIDGE_PATH
cd work || bail "work dir"

"$SPK" dev -I "$SOURCE_ROOT/tests/compat/schema" --dev "$STATE" >dev.out 2>dev.err &
dev_pid=$!
LIB_PIDS="$LIB_PIDS $dev_pid"
if wait_for 10 grep -q "Press Ctrl+C to stop." dev.err; then
        ok "spk dev registers notes with granaryd"
else
        bail "spk dev registers notes with granaryd: $(cat dev.err)"
fi
grep -q "App 'Notes' is in development on granary at http://granary.localhost:$PORT" dev.err &&
        ok "it says where" || { not_ok "it says where"; diag "$(cat dev.err)"; }

g app list --json >apps.json
if "$PYTHON" - "$APP_ID" <<'EOF'
import json, sys
apps = [a for a in json.load(open("apps.json")) if a["id"] == sys.argv[1]]
assert len(apps) == 1 and apps[0].get("dev") is True and apps[0]["title"] == "Notes", apps
EOF
then ok "granary app list shows the dev app, dev: true"; else not_ok "granary app list shows the dev app"; diag "$(cat apps.json)"; fi

gid=$(g grain new "$APP_ID" -q) && ok "a grain of the dev app is made" || bail "a grain of the dev app is made"
url=$(g grain open "$gid")
status=$(hc -L -c jar -b jar -o page.html -w '%{http_code}' "$url")
is "the grain answers through its session (from the FUSE root)" "$status" 200
grep -q "\[$gid\]" dev.out && ok "its console reaches spk dev's stdout" || skip "the app wrote nothing to its console"

kill -INT "$dev_pid"
for i in $(seq 100); do kill -0 "$dev_pid" 2>/dev/null || break; sleep 0.1; done
wait "$dev_pid"
is "SIGINT: spk dev exits 0" "$?" 0
lib_forget "$dev_pid"

grep -qx notes sandstorm-files.list && ok "the app's binary is in the list" || { not_ok "the app's binary is in the list"; diag "$(cat sandstorm-files.list)"; }
grep -q untouched sandstorm-files.list && not_ok "an untouched file is not in the list" || ok "an untouched file is not in the list"
grep -qx sandstorm-manifest sandstorm-files.list && grep -qx sandstorm-http-bridge sandstorm-files.list &&
        ok "the generated files the package needs are listed" || not_ok "the generated files the package needs are listed"
[ -z "$(any_mounts)" ] && ok "nothing is mounted afterwards" || { not_ok "nothing is mounted afterwards"; diag "$(any_mounts)"; }
g app list --json >apps.json
grep -q "$APP_ID" apps.json && { not_ok "the app list no longer shows the dev app"; diag "$(cat apps.json)"; } ||
        ok "the app list no longer shows the dev app"
# Its grain has no package to run now: opening it says so (the session is refused, or answers 503).
if out=$(g grain open "$gid" 2>&1); then
        code=$(hc -L -c jar -b jar -o body.txt -w '%{http_code}' "$out")
        [ "$code" = 503 ] && grep -q "app $APP_ID is not installed" body.txt &&
                ok "a grain of the app, no longer in development, says the app is not installed" ||
                { not_ok "a grain of the app, no longer in development, says the app is not installed"; diag "$code $(cat body.txt)"; }
else
        case $out in
        *"app $APP_ID is not installed"*) ok "a grain of the app, no longer in development, says the app is not installed" ;;
        *) not_ok "a grain of the app, no longer in development, says the app is not installed"; diag "$out" ;;
        esac
fi

if "$SPK" pack -I "$SOURCE_ROOT/tests/compat/schema" -k "$SOURCE_ROOT/contrib/apps/notes/example.keyring" \
        notes.spk >/dev/null 2>pack.err; then
        ok "spk pack makes a package from the list"
else
        not_ok "spk pack makes a package from the list"; diag "$(cat pack.err)"
fi
check "granary app install takes it" g app install notes.spk
url=$(g grain open "$gid")
is "the grain answers from the installed package" "$(hc -L -c jar -b jar -o /dev/null -w '%{http_code}' "$url")" 200

# The app crashing: spk dev says so (the grain's console) and goes on; Ctrl+C still leaves nothing behind.
sed -i 's|"/notes", "8000"\]|"/notes", "not-a-port"]|' sandstorm-pkgdef.capnp
"$SPK" dev -I "$SOURCE_ROOT/tests/compat/schema" --dev "$STATE" >crash.out 2>crash.err &
dev_pid=$!
LIB_PIDS="$LIB_PIDS $dev_pid"
wait_for 10 grep -q "Press Ctrl+C to stop." crash.err || bail "spk dev registers the crashing notes: $(cat crash.err)"
url=$(g grain open "$gid")
is "a request to the crashing app answers 502" "$(hc -L -c jar -b jar -o /dev/null -w '%{http_code}' "$url")" 502
if wait_for 10 grep -q "^\[$gid\] usage: /notes \[PORT\]" crash.out &&
        wait_for 10 grep -q "^\[$gid\] .*App exited with status 2" crash.out; then
        ok "spk dev shows the app's last words and its exit status"
else
        not_ok "spk dev shows the app's last words and its exit status"; diag "$(cat crash.out)"
fi
kill -0 "$dev_pid" 2>/dev/null && ok "spk dev keeps running after the app crashed" ||
        not_ok "spk dev keeps running after the app crashed"
kill -INT "$dev_pid"
wait "$dev_pid"
is "SIGINT after the crash: spk dev exits 0" "$?" 0
lib_forget "$dev_pid"
[ -z "$(any_mounts)" ] && ok "nothing is mounted after the crash run" ||
        { not_ok "nothing is mounted after the crash run"; diag "$(any_mounts)"; }
g app list --json >apps.json
if "$PYTHON" - "$APP_ID" <<'EOF'
import json, sys
apps = [a for a in json.load(open("apps.json")) if a["id"] == sys.argv[1]]
assert len(apps) == 1 and apps[0].get("dev") is False, apps
EOF
then ok "the app is listed as installed again, not dev"; else not_ok "the app is listed as installed again"; diag "$(cat apps.json)"; fi

gd_stop
no_sanitizer_reports
done_testing
