#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The system test: granary installed into a Debian 12 root and booted under a real systemd in a container.
#
#   1. root.sh makes sure the cached root exists (debootstrap, once; rebuilt when its package list changes
#      or it is broken) and run.sh copies it to a throwaway directory beside it (cp --reflink=auto);
#   2. a build of the tree without sanitizers, made here ($BUILD_ROOT/tests/system/build, or
#      $GRANARY_SYSTEM_BUILD), is installed into the copy with `meson install --destdir`, then set up as a
#      distribution's package would: systemd-sysusers, systemd-tmpfiles --create, `systemctl enable
#      granary.socket`, a granary.conf for the test;
#   3. the copy boots with `systemd-nspawn -b` in its own network namespace; granary-scenario.service runs
#      scenario.sh (which runs scenario-grains.sh) and powers the container off; the whole boot is killed
#      after $GRANARY_SYSTEM_TIMEOUT seconds (600);
#   4. the scenario's TAP, written to a directory bound in from outside, becomes this script's TAP.
#
# It owns the throwaway copy, the build it installs and the results; the cached root is root.sh's, what runs
# inside is scenario.sh's. Never runs systemd on this host: systemd only runs as the container's PID 1, and
# the offline tools used here (systemctl --root=, systemd-sysusers --root=, systemd-tmpfiles --root=) only
# write files into the copy. Says "1..0 # SKIP" when not
# root, without debootstrap or systemd-nspawn, or when the root must be made and the Debian mirror does not
# answer. KEEP_TMP=1 keeps the booted copy and the results.
. "$SOURCE_ROOT/tests/lib/tap.sh"
. "$SOURCE_ROOT/tests/system/lib.sh"

HERE=$SOURCE_ROOT/tests/system
CACHE_ROOT=${GRANARY_SYSTEM_ROOT:-/var/cache/granary-tests/bookworm-root}
TIMEOUT=${GRANARY_SYSTEM_TIMEOUT:-600}
# Inside the copy: the tests and their data, and where the results go (bound to $RESULTS).
T_LIB=/usr/local/lib/granary-tests
T_SHARE=/usr/local/share/granary-tests

skip_all() {
        echo "1..0 # SKIP $*"
        exit 0
}

[ "$(id -u)" -eq 0 ] || skip_all "needs root (debootstrap, systemd-nspawn)"
for p in debootstrap systemd-nspawn; do
        command -v "$p" >/dev/null || skip_all "$p is not installed (tools/install-deps installs it)"
done

copy=''
cleanup() {
        if [ -n "${KEEP_TMP:-}" ]; then
                echo "# kept $TAP_TMP and the booted root $copy"
                return
        fi
        [ -z "$copy" ] || rm -rf --one-file-system "$copy"
        rm -rf "$TAP_TMP"
}
trap cleanup EXIT
# meson's timeout sends SIGTERM: the copy is removed then too.
trap 'exit 143' TERM INT

bail() {
        not_ok "$1"
        done_testing
        exit 1
}

# t_ms: milliseconds since the epoch, for the timings printed as comments.
t_ms() { date +%s%3N; }

# 1. The root.
t0=$(t_ms)
rc=0
"$HERE/root.sh" "$CACHE_ROOT" >"$TAP_TMP/root.out" 2>"$TAP_TMP/root.err" || rc=$?
if [ "$rc" -eq 77 ]; then
        skip_all "the Debian mirror does not answer, and the root must be made: $(tail -1 "$TAP_TMP/root.err")"
elif [ "$rc" -ne 0 ]; then
        diag "$(cat "$TAP_TMP/root.err")"
        bail "the cached Debian 12 root is ready"
fi
ok "the cached Debian 12 root is ready"
diag "root ready in $(($(t_ms) - t0)) ms$(grep -q debootstrap "$TAP_TMP/root.err" && echo ' (made by debootstrap)')"

# 2. The build, installed into a copy.
build=${GRANARY_SYSTEM_BUILD:-$BUILD_ROOT/tests/system/build}
t0=$(t_ms)
if [ ! -f "$build/build.ninja" ]; then
        if ! meson setup "$build" "$SOURCE_ROOT" --buildtype=debugoptimized -Dtests=false \
                --prefix=/usr --sysconfdir=/etc --localstatedir=/var >"$TAP_TMP/build.log" 2>&1; then
                diag "$(tail -30 "$TAP_TMP/build.log")"
                bail "a build without sanitizers is set up"
        fi
fi
if ! ninja -C "$build" >"$TAP_TMP/build.log" 2>&1; then
        diag "$(tail -30 "$TAP_TMP/build.log")"
        bail "a build without sanitizers builds"
fi
diag "build in $(($(t_ms) - t0)) ms"

# The copy goes to memory when there is room (/dev/shm: well under a second, where a copy on disk takes
# 5-10 s without reflinks), else beside the cache (a reflink where the filesystem can). Copies over an hour
# old are what killed runs left (root.sh removes those beside the cache).
t0=$(t_ms)
workdir=${GRANARY_SYSTEM_WORKDIR:-}
if [ -z "$workdir" ]; then
        workdir=$(dirname "$CACHE_ROOT")
        if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
                [ "$(df -k --output=avail /dev/shm | tail -1)" -gt $((2 * 1024 * 1024)) ]; then
                workdir=/dev/shm
                find /dev/shm -mindepth 1 -maxdepth 1 -name '.run.*' -mmin +60 \
                        -exec rm -rf --one-file-system {} + 2>/dev/null
        fi
fi
copy=$(mktemp -d "$workdir/.run.XXXXXX")
chmod 755 "$copy"
if ! cp --reflink=auto -a "$CACHE_ROOT/." "$copy/"; then
        bail "a throwaway copy of the root is made"
fi
# cp gave it the cache's time: the age above counts from now.
touch "$copy"
diag "root copied to $workdir in $(($(t_ms) - t0)) ms"

t0=$(t_ms)
if ! meson install -C "$build" --destdir "$copy" --no-rebuild >"$TAP_TMP/install.log" 2>&1; then
        diag "$(tail -30 "$TAP_TMP/install.log")"
        bail "meson install --destdir puts the build into the root"
fi
ok "meson install --destdir puts the build into the root"

# What systemd reads, where a distribution puts it. A file meson did not install is taken from the source
# tree (a failing case says so), so that the rest of the scenario still runs.
missing=''
find_in_root() { # NAME DIR...: the first DIR (inside the copy) holding NAME
        local name=$1 d
        shift
        for d in "$@"; do
                if [ -e "$copy$d/$name" ]; then
                        echo "$d/$name"
                        return 0
                fi
        done
        return 1
}
unitdirs="/usr/lib/systemd/system /lib/systemd/system /etc/systemd/system"
for u in granary.socket granary-https.socket granary-control.socket granary.service granary-grains.slice; do
        # shellcheck disable=SC2086 # the list splits into its directories
        find_in_root "$u" $unitdirs >/dev/null && continue
        missing="$missing $u"
        if [ -f "$SOURCE_ROOT/units/$u" ]; then
                install -Dm644 "$SOURCE_ROOT/units/$u" "$copy/usr/lib/systemd/system/$u"
        elif [ -f "$SOURCE_ROOT/units/$u.in" ]; then
                sed -e 's|@libexecdir@|/usr/libexec/granary|g' -e 's|@polkitrulesdir@|/usr/share/polkit-1/rules.d|g' \
                        -e 's|@bindir@|/usr/bin|g' "$SOURCE_ROOT/units/$u.in" >"$copy/usr/lib/systemd/system/$u"
        fi
done
for f in sysusers.d/granary.conf tmpfiles.d/granary.conf; do
        find_in_root "$(basename "$f")" "/usr/lib/$(dirname "$f")" "/lib/$(dirname "$f")" >/dev/null && continue
        missing="$missing $f"
        [ ! -f "$SOURCE_ROOT/${f%%.d/*}/granary.conf" ] ||
                install -Dm644 "$SOURCE_ROOT/${f%%.d/*}/granary.conf" "$copy/usr/lib/$f"
done
if ! find_in_root granary.rules /usr/share/polkit-1/rules.d /etc/polkit-1/rules.d >/dev/null; then
        missing="$missing polkit-1/rules.d/granary.rules"
        [ ! -f "$SOURCE_ROOT/polkit/granary.rules" ] ||
                install -Dm644 "$SOURCE_ROOT/polkit/granary.rules" "$copy/usr/share/polkit-1/rules.d/granary.rules"
fi
if [ -z "$missing" ]; then
        ok "meson install lays the units, sysusers, tmpfiles and polkit files where systemd reads them"
else
        not_ok "meson install lays the units, sysusers, tmpfiles and polkit files where systemd reads them"
        diag "not installed (taken from the source tree where it has them):$missing"
fi

# The tests and their data.
install -Dm644 "$SOURCE_ROOT/tests/lib/tap.sh" "$copy$T_LIB/tap.sh"
install -Dm644 "$HERE/lib.sh" "$copy$T_LIB/lib.sh"
# GRANARY_SYSTEM_SCENARIO: another script for the unit to run in its place (bench/run-grain-systemd.sh's).
install -Dm644 "${GRANARY_SYSTEM_SCENARIO:-$HERE/scenario.sh}" "$copy$T_LIB/scenario.sh"
[ ! -f "$HERE/scenario-grains.sh" ] || install -Dm644 "$HERE/scenario-grains.sh" "$copy$T_LIB/scenario-grains.sh"
install -Dm755 "$SOURCE_ROOT/bench/app-start.py" "$copy$T_LIB/app-start.py"
mkdir -p "$copy$T_SHARE/apps"
for spk in "$build"/contrib/apps/*/*.spk; do
        [ ! -f "$spk" ] || install -m644 "$spk" "$copy$T_SHARE/apps/"
done
for spk in "${PROBE_SPK:-}" "${TESTAPP_DIR:-}"/testapp-v1.spk "${TESTAPP_DIR:-}"/testapp-v2.spk; do
        [ ! -f "$spk" ] || install -m644 "$spk" "$copy$T_SHARE/"
done
# The notes app's binary, the source tree of the scenario's spk dev.
[ ! -x "$build/contrib/apps/notes/notes" ] || install -Dm755 "$build/contrib/apps/notes/notes" "$copy$T_SHARE/notes"
install -Dm644 "$SOURCE_ROOT/tests/cli/dev-notes.capnp" "$copy$T_SHARE/dev-notes.capnp"
cp -r "$SOURCE_ROOT/tests/compat/schema" "$copy$T_SHARE/schema"

# The test's configuration: the base and wildcard hosts on the default ports of granary.socket, which
# curl inside the container reaches on loopback (every *.localhost name is loopback to curl); grains idle
# out after 3 s, so that scenario-grains.sh sees the idle stop soon.
conf=/etc/granary/granary.conf
[ ! -e "$copy$conf" ] || conf=/etc/granary/granary.conf.d/50-system-test.conf
mkdir -p "$(dirname "$copy$conf")"
printf '%s\n' '# the system test (tests/system/run.sh)' 'BASE_URL=http://granary.localhost' \
        'WILDCARD_HOST=*.granary.localhost' 'GRAIN_IDLE_SEC=3' >"$copy$conf"

# As a package's postinst would: the user, the directories, the sockets enabled.
check "systemd-sysusers creates granary's user in the root" systemd-sysusers --root="$copy"
check "systemd-tmpfiles --create makes granary's directories in the root" \
        systemd-tmpfiles --create --root="$copy" --prefix=/var/lib/granary
check "systemctl enable granary.socket" systemctl --root="$copy" enable granary.socket

# The scenario's unit.
# The unit's own limit comes first, so that its journal is still collected.
inner=$((TIMEOUT > 60 ? TIMEOUT - 30 : TIMEOUT / 2))
sed "s|@TIMEOUT@|$inner|" "$HERE/granary-scenario.service" \
        >"$copy/etc/systemd/system/granary-scenario.service"
systemctl --root="$copy" enable granary-scenario.service >/dev/null 2>&1
# GRANARY_SYSTEM_RESULTS: a directory of the caller's to bind instead, which outlives this script.
RESULTS=${GRANARY_SYSTEM_RESULTS:-$TAP_TMP/results}
mkdir -p "$RESULTS" "$copy/srv/granary-tests"
diag "root set up in $(($(t_ms) - t0)) ms"

# 3. Boot. The container has its own network namespace: services with PrivateNetwork= need it to bring up
# their loopback. The console output is only for diagnostics.
t0=$(t_ms)
rc=0
# /dev/fuse for the scenario's spk dev, when the host has it.
fuse=''
[ ! -c /dev/fuse ] || fuse=--bind=/dev/fuse
timeout --kill-after=10 "$TIMEOUT" systemd-nspawn --quiet -D "$copy" --register=no --keep-unit \
        --private-network --console=read-only --bind="$RESULTS:/srv/granary-tests" $fuse -b \
        >"$TAP_TMP/console.log" 2>&1 </dev/null || rc=$?
elapsed=$(($(t_ms) - t0))
diag "the container ran for $elapsed ms (exit status $rc)"
# The scenario's unit powers off whatever its outcome: systemd-nspawn then exits 0. 124 and 137: the
# timeout killed it; anything else: it did not boot.
if [ "$rc" -eq 0 ]; then
        ok "the container boots, runs the scenario and powers off within $TIMEOUT s"
else
        not_ok "the container boots, runs the scenario and powers off within $TIMEOUT s (exit status $rc)"
        diag "$(tail -40 "$TAP_TMP/console.log")"
fi

# 4. The scenario's results.
if [ -f "$RESULTS/scenario.tap" ]; then
        ok "the scenario wrote its results"
        tap_include scenario "$RESULTS/scenario.tap" || true
else
        not_ok "the scenario wrote its results"
        diag "$(tail -60 "$TAP_TMP/console.log")"
fi
if [ -s "$RESULTS/scenario.err" ]; then
        diag "the scenario's stderr:"
        diag "$(tail -40 "$RESULTS/scenario.err")"
fi
if [ "$TAP_FAILED" -gt 0 ] && [ -f "$RESULTS/journal.txt" ]; then
        diag "the end of the container's journal:"
        diag "$(grep -v ' kernel: ' "$RESULTS/journal.txt" | tail -150)"
fi
done_testing
