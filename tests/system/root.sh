#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The cached Debian 12 root the system tests boot: made with debootstrap, never booted itself (each run
# boots a throwaway copy of it). It owns that one directory and its lock; it does not copy, install into
# or boot anything (run.sh does).
#
#   tests/system/root.sh [ROOT]     makes sure ROOT (default $GRANARY_SYSTEM_ROOT, or
#                                   /var/cache/granary-tests/bookworm-root) is a complete root made from
#                                   the package list below; prints its path on stdout, its progress on
#                                   stderr.
#
# Exits 0 when the root is ready, 77 when it must be (re)built but the Debian mirror does not answer (the
# caller skips), 1 on any other failure. Needs root.
#
# The root is keyed by a hash of this recipe (packages, suite, mirror-independent steps): a change of the
# list rebuilds it. It is built in a temporary directory beside ROOT and renamed into place once complete,
# so ROOT is never half-built; a flock on ROOT.lock keeps two runs from building at once. A root whose
# stamp is missing, whose key differs, or whose programs are gone is "broken" and rebuilt.
set -euo pipefail

ROOT=${1:-${GRANARY_SYSTEM_ROOT:-/var/cache/granary-tests/bookworm-root}}
MIRROR=${GRANARY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm

# What granary links (ldd of granaryd, granary, spk: fuse3 brings libfuse3), what the scenario runs (bash,
# curl, python3 for JSON),
# and systemd with its bus. polkitd comes after debootstrap (its postinst fails under --include).
INCLUDE=systemd,systemd-sysv,dbus,libnss-systemd,libsystemd0,libsodium23,libjansson4,libnghttp2-14
INCLUDE=$INCLUDE,libsqlite3-0,libhttp-parser2.9,libseccomp2,libcap2,libcurl4,libssl3,zlib1g,liblzma5
INCLUDE=$INCLUDE,curl,python3,procps,fuse3
LATER="polkitd"
# Bump when the steps below change in a way the package lists do not show.
RECIPE=2

KEY=$(printf '%s\n' "$SUITE" "$INCLUDE" "$LATER" "$RECIPE" | sha256sum | cut -c1-16)
STAMP=.granary-system-root

log() { echo "root.sh: $*" >&2; }

root_ok() {
        [ -f "$1/$STAMP" ] && [ "$(cat "$1/$STAMP")" = "$KEY" ] && [ "$(stat -c %a "$1")" = 755 ] &&
                [ -x "$1/usr/lib/systemd/systemd" ] && [ -x "$1/usr/bin/curl" ] &&
                [ -x "$1/usr/bin/systemctl" ] && [ -x "$1/usr/lib/polkit-1/polkitd" ]
}

if [ "$(id -u)" -ne 0 ]; then
        log "needs root"
        exit 1
fi

parent=$(dirname "$ROOT")
mkdir -p "$parent"
exec 9>"$ROOT.lock"
flock 9

# What a killed run left: a half-made root (nobody else builds while we hold the lock), and booted copies
# older than any run can last (run.sh's own copies are removed when it exits).
rm -rf --one-file-system "$parent/.$(basename "$ROOT").new."* 2>/dev/null || true
find "$parent" -mindepth 1 -maxdepth 1 -name '.run.*' -mmin +60 -exec rm -rf --one-file-system {} + 2>/dev/null || true

if root_ok "$ROOT"; then
        echo "$ROOT"
        exit 0
fi

if ! curl -sfI --max-time 15 "$MIRROR/dists/$SUITE/Release" >/dev/null; then
        log "the Debian mirror $MIRROR does not answer"
        exit 77
fi

tmp=$(mktemp -d "$parent/.$(basename "$ROOT").new.XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf --one-file-system "$tmp"' EXIT
log "debootstrap $SUITE into $tmp (key $KEY)"
start=$SECONDS
if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$tmp" "$MIRROR" >"$tmp.log" 2>&1; then
        tail -30 "$tmp.log" >&2
        rm -f "$tmp.log"
        exit 1
fi
rm -f "$tmp.log"

# Nothing may start a service while packages are installed into the root.
printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
chmod 755 "$tmp/usr/sbin/policy-rc.d"
if ! DEBIAN_FRONTEND=noninteractive chroot "$tmp" sh -c \
        "apt-get update -qq && apt-get install -y -qq --no-install-recommends $LATER" >"$tmp.log" 2>&1; then
        tail -30 "$tmp.log" >&2
        rm -f "$tmp.log"
        exit 1
fi
rm -f "$tmp.log" "$tmp/usr/sbin/policy-rc.d"
chroot "$tmp" apt-get clean
rm -rf "$tmp"/var/lib/apt/lists/* "$tmp"/var/cache/apt/*.bin
# Each run copies the root: what nothing reads goes (a quarter of it).
rm -rf "$tmp"/usr/share/doc/* "$tmp"/usr/share/man/* "$tmp"/usr/share/locale/* "$tmp"/usr/share/info/*

echo "$KEY" >"$tmp/$STAMP"
if ! root_ok "$tmp"; then
        log "the new root lacks systemd, curl or polkitd"
        exit 1
fi

# Out with the old (kept only until the new one is in place), in with the new.
if [ -e "$ROOT" ]; then
        mv -T "$ROOT" "$tmp.old"
        mv -T "$tmp" "$ROOT"
        rm -rf --one-file-system "$tmp.old"
else
        mv -T "$tmp" "$ROOT"
fi
trap - EXIT
log "ready in $((SECONDS - start)) s: $ROOT"
echo "$ROOT"
