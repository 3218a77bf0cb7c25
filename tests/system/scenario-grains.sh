#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The systemd grain backend under a real systemd (issue 5): run as root inside the booted test container,
# with granary installed, granary.socket enabled and GRAIN_BACKEND=auto (or systemd) in granary.conf. Prints
# TAP. What it shows:
#   - a grain request starts granary-grain@<id>.socket and .service (template instances), and the app sees its identity headers
#   - journalctl -u shows the grain's console, and `granary grain log` reads the same journal
#   - the bridge's idle exit stops the service, the socket keeps listening, the next request wakes it
#   - systemctl stop by hand, then the next request wakes it
#   - a run under another uid than the one before reaches the notes the earlier run made: after each run
#     the app's files are shared with the storage's group
#   - the sandbox probe passes its checks as under the direct backend
#   - systemd-analyze security of the live service is at most 0.5
#   - deleting the grain removes both units
#   - spk dev: a grain of the app in development runs from the FUSE view under this backend, its console
#     (from the journal) reaches spk dev, and Ctrl+C leaves the file list, no mount and no dev app
#
# Environment: HEADERS_SPK, NOTES_SPK and PROBE_SPK (the packed `headers` and `notes` example apps and
# tests/grain/probe.spk; default: beside this script), NOTES_BIN and SCHEMA_DIR (the notes app's binary and the directory holding
# sandstorm/package.capnp, for spk dev; default: beside this script), IDLE_SEC (granary.conf's
# GRAIN_IDLE_SEC: keep it small, e.g. 3; default 3).
set -u

here=$(cd "$(dirname "$0")" && pwd)
# TAP, and the work directory $TAP_TMP (installed beside this script)
. "$here/tap.sh"
HEADERS_SPK=${HEADERS_SPK:-$here/headers.spk}
PROBE_SPK=${PROBE_SPK:-$here/probe.spk}
NOTES_SPK=${NOTES_SPK:-$here/notes.spk}
NOTES_BIN=${NOTES_BIN:-$here/notes}
NOTES_PKGDEF=${NOTES_PKGDEF:-$here/dev-notes.capnp}
SCHEMA_DIR=${SCHEMA_DIR:-$here/schema}
IDLE_SEC=${IDLE_SEC:-3}
work=$TAP_TMP
dev_pid=''
# spk dev is stopped, and whatever it mounted is detached, however this ends.
cleanup() {
        [ -z "$dev_pid" ] || kill -INT "$dev_pid" 2>/dev/null
        [ -z "$dev_pid" ] || wait "$dev_pid" 2>/dev/null
        awk '$5 ~ "^/run/granary-spk-dev/" { print $5 }' /proc/self/mountinfo | xargs -r -n1 umount -l 2>/dev/null
        rm -rf "$work"
}
trap cleanup EXIT

bail() { echo "Bail out! $*"; exit 1; }

unit_state() { systemctl show -P ActiveState "$1" 2>/dev/null; }
service_is() { [ "$(unit_state "granary-grain@$1.service")" = "$2" ]; }

# open_session ID: a session (cookie jar $work/jar-ID) through the grain's session URL.
open_session() {
        local url
        url=$(granary grain open "$1" 2>/dev/null) || return 1
        curl -sS -L -c "$work/jar-$1" -b "$work/jar-$1" -o "$work/body-$1" -w '%{http_code} %{url_effective}' \
                "$url" >"$work/open-$1" 2>/dev/null
}

# get ID PATH: the status of PATH on the grain's session host; the body in $work/body-ID.
get() {
        local base
        base=$(sed -n 's/^[0-9]* \(https\?:\/\/[^/]*\).*/\1/p' "$work/open-$1")
        curl -sS -b "$work/jar-$1" -o "$work/body-$1" -w '%{http_code}' "$base$2" 2>/dev/null
}

# install_grain SPK TITLE: installs the package SPK, makes a grain of it titled TITLE, waits for its socket
# and opens a session; sets $new_app and $new_id (empty when either could not be made).
install_grain() {
        local out
        out=$(granary app install "$1" 2>&1)
        new_app=$(echo "$out" | sed -n 's/.*(app \([0-9a-z]*\)).*/\1/p')
        new_id=$(granary grain new "$new_app" --user scenario --title "$2" -q 2>/dev/null)
        [ -n "$new_id" ] || return 1
        wait_for 10 socket_is "$new_id" active
        open_session "$new_id"
}

# post ID PATH DATA: the status of a form POST of DATA to PATH on the grain's session host.
post() {
        local base
        base=$(sed -n 's/^[0-9]* \(https\?:\/\/[^/]*\).*/\1/p' "$work/open-$1")
        curl -sS -b "$work/jar-$1" -o "$work/body-$1" -w '%{http_code}' -d "$3" "$base$2" 2>/dev/null
}

echo "TAP version 13"
[ "$(id -u)" = 0 ] || bail "run as root inside the container"
[ -f "$HEADERS_SPK" ] || bail "no headers app at $HEADERS_SPK"

granary user add scenario --admin --password-stdin <<<"scenario-password-1" >/dev/null 2>&1 ||
        diag "the user 'scenario' exists already"
out=$(granary app install "$HEADERS_SPK" 2>&1)
app=$(echo "$out" | sed -n 's/.*(app \([0-9a-z]*\)).*/\1/p')
check "the headers app installs" [ -n "$app" ]
id=$(granary grain new "$app" --user scenario --title "Scenario" -q 2>/dev/null)
check "a grain is created" test -n "$id"
[ -n "$id" ] || bail "no grain"

# The units exist from the grain's creation on (asked for asynchronously): the socket listens.
socket_is() { [ "$(unit_state "granary-grain@$1.socket")" = "$2" ]; }
check "granary-grain@$id.socket listens soon after the grain is created" wait_for 10 socket_is "$id" active
check "the socket file is /run/granary/grains/$id.sock" test -S "/run/granary/grains/$id.sock"

open_session "$id"
is "the first request through the session answers 200" "$(cut -d' ' -f1 "$work/open-$id")" 200
check "the app saw X-Sandstorm-Username" grep -qi '^x-sandstorm-username: ' "$work/body-$id"
check "the app saw X-Sandstorm-User-Id" grep -qi '^x-sandstorm-user-id: [0-9a-f]\{32\}' "$work/body-$id"
check "the app saw X-Sandstorm-Permissions" grep -qi '^x-sandstorm-permissions:' "$work/body-$id"
check "the app saw X-Sandstorm-Session-Id" grep -qi '^x-sandstorm-session-id: ' "$work/body-$id"
units=$(systemctl list-units --all --no-legend --plain 'granary-grain@*' | awk '{print $1}')
check "systemctl list-units shows the socket" grep -qx "granary-grain@$id.socket" <<<"$units"
check "systemctl list-units shows the service" grep -qx "granary-grain@$id.service" <<<"$units"
is "the service is active" "$(unit_state "granary-grain@$id.service")" active
is "the service is Type=notify (the bridge said READY=1)" \
        "$(systemctl show -P Type "granary-grain@$id.service")" notify
is "the service runs in granary-grains.slice" "$(systemctl show -P Slice "granary-grain@$id.service")" \
        granary-grains.slice
is "the service is RootDirectory= the grain's root" \
        "$(systemctl show -P RootDirectory "granary-grain@$id.service")" "/var/lib/granary/grains/$id/root"
check "the package link points at a package" \
        grep -q '^/var/lib/granary/packages/' <<<"$(readlink "/var/lib/granary/grains/$id/package")"
is "the root links to the package's manifest" \
        "$(readlink "/var/lib/granary/grains/$id/root/sandstorm-manifest")" ".granary-package/sandstorm-manifest"
is "the environment file is 0600, granary's" "$(stat -c '%a %U' "/var/lib/granary/grains/$id/environment")" \
        "600 granary"
# The package's variables are one word list (GRANARY_GRAIN_ENV) that only the bridge's --granary-exec
# unpacks: every command of the unit gets the file's lines, ExecStopPost='s root one too.
is "the environment file sets only GRANARY_GRAIN_SECCOMP, GRANARY_GRAIN_ENV and GRANARY_GRAIN_ARGV" \
        "$(grep -v '^#' "/var/lib/granary/grains/$id/environment" | cut -d= -f1 | tr '\n' ' ')" \
        "GRANARY_GRAIN_SECCOMP GRANARY_GRAIN_ENV GRANARY_GRAIN_ARGV "
# The app's environment is its manifest's (PATH, SANDSTORM) and the bridge's proxy variables, as under the
# direct backend (sandstorm-spec.md §5.1): nothing of systemd's (USER, LANG, INVOCATION_ID, …).
main=$(systemctl show -P MainPID "granary-grain@$id.service")
env_names() { tr '\0' '\n' <"/proc/$1/environ" | cut -d= -f1 | sort | tr '\n' ' '; }
is "the bridge's environment: the manifest's, its idle time, socket activation's" "$(env_names "$main")" \
        "GRANARY_GRAIN_IDLE_SEC LISTEN_FDS LISTEN_PID NOTIFY_SOCKET PATH SANDSTORM "
app=$(pgrep -P "$main" | head -n 1)
is "the app's environment: the manifest's and the proxy's" "$(env_names "$app")" \
        "HTTP_PROXY PATH SANDSTORM http_proxy no_proxy "
check "the service comes from the template" \
        grep -q '/granary-grain@\.service$' <<<"$(systemctl show -P FragmentPath "granary-grain@$id.service")"
# The build lists only the calls systemd's libseccomp knows: loading the template warns about nothing.
warnings=$(journalctl -b -q -o cat | grep 'granary-grain@\.service:[0-9]*: ')
is "systemd loads the template without a warning" "$warnings" ""

# The console.
check "journalctl -u shows the app's output" \
        wait_for 5 sh -c "journalctl -q -u granary-grain@$id.service | grep -q 'headers: listening on'"
check "journal entries carry GRANARY_GRAIN=$id" \
        sh -c "journalctl -q GRANARY_GRAIN=$id | grep -q ."
out=$(granary grain log "$id" 2>&1)
check "granary grain log reads the journal" grep -q 'headers: listening on' <<<"$out"
check "granary grain list says running" sh -c "granary grain list | grep '^$id' | grep -q running"

# systemd-analyze security of the live service.
score=$(systemd-analyze security --no-pager "granary-grain@$id.service" 2>/dev/null |
        sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
diag "systemd-analyze security: $score"
check "systemd-analyze security of the live grain service is at most 0.5 (got '$score')" \
        awk -v s="$score" 'BEGIN { exit !(s != "" && s + 0 <= 0.5) }'

# Idle stop: the bridge exits, the socket stays; the next request wakes the grain.
check "the service stops when idle (GRAIN_IDLE_SEC=$IDLE_SEC)" wait_for $((IDLE_SEC + 45)) service_is "$id" inactive
is "the socket still listens" "$(unit_state "granary-grain@$id.socket")" active
is "a request after the idle stop answers 200" "$(get "$id" /)" 200
is "the service is active again" "$(unit_state "granary-grain@$id.service")" active

# systemctl stop by hand, then wake.
systemctl stop "granary-grain@$id.service"
is "systemctl stop stops the service" "$(unit_state "granary-grain@$id.service")" inactive
is "the socket still listens after systemctl stop" "$(unit_state "granary-grain@$id.socket")" active
is "a request after systemctl stop answers 200" "$(get "$id" /)" 200
is "the service is active again after systemctl stop" "$(unit_state "granary-grain@$id.service")" active

# A process the app left running outside the bridge (here one put into the grain's cgroup from outside, as
# the grain's user, making files in its storage as fast as it can) is ended by a stop before ExecStopPost=
# walks the storage as root: every file it made is shared afterwards, none made after the walk.
main=$(systemctl show -P MainPID "granary-grain@$id.service")
guid=$(stat -c %u "/proc/$main")
cg=$(systemctl show -P ControlGroup "granary-grain@$id.service")
var=/var/lib/granary/grains/$id/var
# It works in the storage as the grain sees it (its /var, through /proc/<pid>/root, held as its directory).
(cd "/proc/$main/root/var" && exec setpriv --reuid="$guid" --regid="$guid" \
        --groups="$(getent group granary-grain | cut -d: -f3)" sh -c \
        'umask 077; i=0; while :; do : >"survivor-$i"; i=$((i + 1)); done' 2>/dev/null) &
survivor=$!
for d in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
        [ -w "$d$cg/cgroup.procs" ] && echo "$survivor" >"$d$cg/cgroup.procs" 2>/dev/null
done
check "a process of the grain's user runs in its cgroup" \
        grep -qx "$survivor" <<<"$(cat "/sys/fs/cgroup/systemd$cg/cgroup.procs" \
                "/sys/fs/cgroup/unified$cg/cgroup.procs" "/sys/fs/cgroup$cg/cgroup.procs" 2>/dev/null)"
wait_for 5 sh -c "ls '$var' | grep -q '^survivor-20$'"
systemctl stop "granary-grain@$id.service"
check "systemctl stop ends it too" wait_for 5 sh -c "! kill -0 $survivor 2>/dev/null"
kill -KILL "$survivor" 2>/dev/null
wait "$survivor" 2>/dev/null
made=$(find "$var" -maxdepth 1 -name 'survivor-*' | wc -l)
unshared=$(find "$var" -maxdepth 1 -name 'survivor-*' \( ! -perm -g=rw -o ! -group granary-grain \) | wc -l)
is "each of its $made files is shared with the storage's group" "$unshared" 0
find "$var" -maxdepth 1 -name 'survivor-*' -delete
is "a request after that answers 200" "$(get "$id" /)" 200

# Another uid for the next run: systemd gives grain-<id> the uid it had only while no other running unit
# holds it. The notes app keeps its notes in a directory of mode 0700 and files of 0600, of the uid that
# made them; after each run they are the storage group's too, which every run of the grain has.
if [ -f "$NOTES_SPK" ]; then
        install_grain "$NOTES_SPK" Notes
        napp=$new_app nid=$new_id
        check "a notes grain is created" test -n "$nid"
        is "the notes grain answers its first request" "$(cut -d' ' -f1 "$work/open-$nid")" 200
        is "a note is added" "$(post "$nid" /notes 'text=first note')" 303
        var=/var/lib/granary/grains/$nid/var
        systemctl stop "granary-grain@$nid.service"
        is "after the run the app's private directory is its group's too" "$(stat -c '%a %G' "$var/notes")" \
                "2770 granary-grain"
        is "and so is its note" "$(stat -c '%a %G' "$var/notes/1")" "660 granary-grain"
        uid=$(stat -c %u "$var/notes")
        other=$((uid == 61999 ? 62000 : 61999))
        chown -R "$other" "$var/notes"
        is "a run under another uid than the one that made the notes answers" "$(get "$nid" /)" 200
        check "and shows the note" grep -q 'first note' "$work/body-$nid"
        is "and adds one" "$(post "$nid" /notes 'text=second note')" 303
        check "the run's uid is not the notes' owner" test "$(stat -c %u "$var/notes/2")" != "$other"
        granary grain delete "$nid" --yes >/dev/null 2>&1
        # spk dev below develops an app of the same id
        check "granary app remove (notes)" sh -c "granary app remove '$napp' --force >/dev/null"
else
        skip "a run under another uid # no notes app at $NOTES_SPK"
fi

# The sandbox probe, as under the direct backend.
if [ -f "$PROBE_SPK" ]; then
        install_grain "$PROBE_SPK" Probe
        pid=$new_id
        check "the probe grain is created" test -n "$pid"
        is "the probe answers its first request" "$(cut -d' ' -f1 "$work/open-$pid")" 200
        # The probe's checks for the sandbox systemd builds; its limits only where the container has the
        # cgroup controllers that enforce them.
        flags=systemd
        if ! grep -qw pids /sys/fs/cgroup/cgroup.controllers 2>/dev/null ||
                ! grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
                flags=systemd,nolimits
                diag "no pids or memory controller in this container's cgroups: the probe skips its limits"
        fi
        is "GET /$flags?absent=… answers 200" \
                "$(get "$pid" "/$flags?absent=/var/lib/granary:/run/granary:/var/lib/granary/grains/$id/var")" 200
        main=$(systemctl show -P MainPID "granary-grain@$pid.service")
        diag "the probe's root: $(ls -A "/proc/$main/root/" 2>&1 | tr '\n' ' ')"
        diag "its root on the host: $(ls -A "/var/lib/granary/grains/$pid/root/" 2>&1 | tr '\n' ' ')"
        diag "its storage: $(ls -lAn "/var/lib/granary/grains/$pid/var/" 2>&1 | tr '\n' ' ')"
        checks=0
        while IFS= read -r line; do
                checks=$((checks + 1))
                case $line in
                "ok "*) ok "probe: ${line#ok }" ;;
                "not ok "*) not_ok "probe: ${line#not ok }" ;;
                *) not_ok "probe: an unexpected line: $line" ;;
                esac
        done <"$work/body-$pid"
        check "the probe ran at least 100 checks ($checks)" test "$checks" -ge 100
        granary grain delete "$pid" --yes >/dev/null 2>&1
else
        ok "the sandbox probe # SKIP no probe at $PROBE_SPK"
fi

# spk dev under this backend: the grain's root is the FUSE view, its console comes from the journal.
dev_app=dzh2krnstxg6w947fmr667nvgj6umua9rvcz95e7a9k8vp41xt90 # the id in $NOTES_PKGDEF
if [ ! -c /dev/fuse ] || ! command -v spk >/dev/null || [ ! -x "$NOTES_BIN" ] || [ ! -f "$NOTES_PKGDEF" ] ||
        [ ! -f "$SCHEMA_DIR/sandstorm/package.capnp" ]; then
        ok "spk dev under systemd # SKIP no /dev/fuse, spk, notes or schema here"
else
        mkdir -p "$work/dev/src/share"
        cp "$NOTES_BIN" "$work/dev/src/notes"
        printf 'never used\n' >"$work/dev/src/share/untouched.txt"
        cp "$NOTES_PKGDEF" "$work/dev/sandstorm-pkgdef.capnp"
        (cd "$work/dev" && exec spk dev -I "$SCHEMA_DIR" >"$work/dev.out" 2>"$work/dev.err") &
        dev_pid=$!
        check "spk dev registers the app with granaryd" wait_for 15 grep -q "Press Ctrl+C to stop." "$work/dev.err"
        grep -q "Press Ctrl+C to stop." "$work/dev.err" || diag "spk dev: $(head -c 600 "$work/dev.err")"
        did=$(granary grain new "$dev_app" --user scenario --title "Dev" -q 2>/dev/null)
        check "a grain of the dev app is created" test -n "$did"
        wait_for 10 socket_is "$did" active
        open_session "$did"
        is "the dev grain answers through its session" "$(cut -d' ' -f1 "$work/open-$did")" 200
        is "its service runs from the FUSE view (the package link)" \
                "$(readlink "/var/lib/granary/grains/$did/package")" "/run/granary-spk-dev/$dev_app/root"
        is "the root links to the view's notes" "$(readlink "/var/lib/granary/grains/$did/root/notes")" \
                ".granary-package/notes"
        check "its console, from the journal, reaches spk dev's output" \
                wait_for 10 grep -q "^\[$did\] notes: listening on 127.0.0.1:8000" "$work/dev.out"
        grep -q "^\[$did\]" "$work/dev.out" || diag "spk dev's output: $(head -c 400 "$work/dev.out")"
        kill -INT "$dev_pid"
        wait "$dev_pid"
        is "SIGINT: spk dev exits 0" "$?" 0
        dev_pid=''
        check "the file list has the app's binary" grep -qx notes "$work/dev/sandstorm-files.list"
        check "and not the file nothing used" sh -c "! grep -q untouched '$work/dev/sandstorm-files.list'"
        check "nothing is mounted afterwards" sh -c "! grep -q ' /run/granary-spk-dev/' /proc/self/mountinfo"
        check "the app list no longer shows the dev app" \
                sh -c "! granary app list --json | grep -q '$dev_app'"
        check "the dev grain's service stopped" wait_for 10 service_is "$did" inactive
        granary grain delete "$did" --yes >/dev/null 2>&1
fi

# Delete: both units go.
check "granary grain delete" sh -c "granary grain delete $id --yes >/dev/null"
check "the units are gone after the delete" \
        wait_for 15 sh -c "! systemctl list-units --all --no-legend --plain 'granary-grain@$id.*' | grep -q ."

done_testing
