#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The direct backend's sandbox, started through sandbox_spawn() (sandbox-run, the code path granaryd
# uses), with the probe (probe.c) inside: each line the probe prints is one case here. Then: two grains do
# not see each other's storage, a failing setup step is named and fails, and the bridge as PID 1 serves the
# probe through a socket passed by LISTEN_FDS. The sandbox makes its own namespaces; this script changes
# nothing on the host outside its temporary directory.
. "$SOURCE_ROOT/tests/lib/tap.sh"

PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)
PIDS=''

cleanup() {
        for pid in $PIDS; do
                kill -KILL "$pid" 2>/dev/null
        done
        wait 2>/dev/null
        if [ -n "${KEEP_TMP:-}" ]; then echo "# kept $TAP_TMP"; else rm -rf "$TAP_TMP"; fi
}
trap cleanup EXIT

# The package root, as spk unpack leaves it but without var/, tmp/ and dev/ (the sandbox makes its own
# mount points), with a sys/ the app must not get as /sys, and a setuid-root copy of the probe.
PKG=$TAP_TMP/package
mkdir -p "$PKG/sys" "$TAP_TMP/a/var" "$TAP_TMP/b/var"
cp "$PROBE" "$PKG/probe"
: >"$PKG/sandstorm-http-bridge"
chmod 755 "$PKG" "$PKG/probe" "$PKG/sandstorm-http-bridge"
if [ "$(id -u)" = 0 ]; then
        cp "$PROBE" "$PKG/suid-probe"
        chmod 4755 "$PKG/suid-probe"
        # What the sandbox maps uid 1000 to when run by root (sandbox_default_ids()).
        chown 65534:65534 "$TAP_TMP/a/var" "$TAP_TMP/b/var"
fi
chmod 755 "$TAP_TMP"
echo secret-a >"$TAP_TMP/a/var/secret-a"
echo secret-b >"$TAP_TMP/b/var/secret-b"
chmod 644 "$TAP_TMP/a/var/secret-a" "$TAP_TMP/b/var/secret-b"
: >"$TAP_TMP/host-tmp-marker"

run() {
        "$SANDBOX_RUN" --package "$PKG" --var "$TAP_TMP/a/var" --bridge "$GRAIN" "$@"
}

# Can this machine make the namespaces at all?
if ! out=$(run -- /probe euid 2>&1); then
        case $out in
        *"Failed to create the sandbox's namespaces"*|*"Failed to map uid"*)
                echo "1..0 # SKIP no user namespaces here: $out"
                exit 0 ;;
        esac
fi

# A TCP port listening on the host's loopback, which the sandbox must not reach.
"$PYTHON" -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
time.sleep(300)' >"$TAP_TMP/port" &
PIDS="$PIDS $!"
for _ in $(seq 50); do [ -s "$TAP_TMP/port" ] && break; sleep 0.1; done
HOST_PORT=$(cat "$TAP_TMP/port")

ABSENT="$TAP_TMP:$TAP_TMP/b/var/secret-b:$TAP_TMP/host-tmp-marker:$SOURCE_ROOT:$BUILD_ROOT"

# 1. The probe alone, as PID 1, with limits.
run --tasks 64 --memory $((256 * 1024 * 1024)) --timing \
        --env PROBE_HOST_PORT="$HOST_PORT" --env PROBE_ABSENT="$ABSENT" -- /probe \
        >"$TAP_TMP/probe.out" 2>"$TAP_TMP/probe.err"
status=$?
while IFS= read -r line; do
        case $line in
        "ok "*" # SKIP "*) name=${line#ok }; skip "probe: ${name%% # SKIP *} (${name#* # SKIP })" ;;
        "ok "*) ok "probe: ${line#ok }" ;;
        "not ok "*) not_ok "probe: ${line#not ok }" ;;
        *) diag "probe said: $line" ;;
        esac
done <"$TAP_TMP/probe.out"
n=$(grep -c '^ok \|^not ok ' "$TAP_TMP/probe.out")
if [ "$n" -ge 100 ]; then ok "the probe ran $n checks"; else not_ok "the probe ran $n checks, want >= 100"; fi
if grep -q '^not ok ' "$TAP_TMP/probe.out"; then want=1; else want=0; fi
if [ "$status" = "$want" ]; then ok "the probe's status is $want"; else not_ok "the probe's status is $status, want $want"; diag "$(cat "$TAP_TMP/probe.err")"; fi
us=$(sed -n 's/^# spawn: \([0-9]*\) us$/\1/p' "$TAP_TMP/probe.err")
diag "sandbox_spawn took ${us:-?} us until the exec"
if [ -n "$us" ] && [ "$us" -lt 200000 ]; then ok "sandbox_spawn returns within 200 ms (sanitizers, shared machine)"; else not_ok "sandbox_spawn took ${us:-?} us"; fi

# 1b. The same with a cgroup v2 directory for the limits, when the machine offers one to delegate
# (GRANARY_TEST_CGROUP: a writable cgroup with the memory and pids controllers enabled for its children).
if [ -n "${GRANARY_TEST_CGROUP:-}" ] && [ -w "$GRANARY_TEST_CGROUP/cgroup.procs" ]; then
        run --cgroup "$GRANARY_TEST_CGROUP" --tasks 64 --memory $((256 * 1024 * 1024)) \
                --env PROBE_HOST_PORT="$HOST_PORT" --env PROBE_ABSENT="$ABSENT" -- /probe >"$TAP_TMP/cg.out" 2>&1
        status=$?
        bad=$(grep '^not ok ' "$TAP_TMP/cg.out")
        if [ "$status" = 0 ] && [ -z "$bad" ]; then ok "with a cgroup: every check passes"; else not_ok "with a cgroup: $status $bad"; fi
        left=$(find "$GRANARY_TEST_CGROUP" -mindepth 1 -maxdepth 1 -name 'sandbox-*' | wc -l)
        run --cgroup "$GRANARY_TEST_CGROUP" -- /probe euid >/dev/null 2>&1
        left2=$(find "$GRANARY_TEST_CGROUP" -mindepth 1 -maxdepth 1 -name 'sandbox-*' | wc -l)
        if [ "$left" = 1 ] && [ "$left2" = 1 ]; then ok "with a cgroup: the next start removes the last one's cgroup"; else not_ok "cgroups left: $left, then $left2"; fi
else
        skip "with a cgroup: no GRANARY_TEST_CGROUP to delegate"
fi

# 2. Each grain sees its own /var and nothing of the other's.
out=$(run -- /probe ls /var 2>&1)
if [ "$out" = "secret-a" ]; then ok "grain a sees its own /var"; else not_ok "grain a's /var: $out"; fi
out=$("$SANDBOX_RUN" --package "$PKG" --var "$TAP_TMP/b/var" --bridge "$GRAIN" -- /probe ls /var 2>&1)
if [ "$out" = "secret-b" ]; then ok "grain b sees only its own /var"; else not_ok "grain b's /var: $out"; fi
out=$(run -- /probe ls / 2>&1)
want=$(printf '%s\n' dev probe proc sandstorm-http-bridge tmp var)
[ "$(id -u)" = 0 ] && want=$(printf '%s\n' dev probe proc sandstorm-http-bridge suid-probe tmp var)
if [ "$out" = "$want" ]; then ok "/ holds the package, /var, /tmp, /dev and /proc, and no /sys"; else not_ok "/ holds: $(echo $out)"; fi
out=$(run -- /sandstorm-http-bridge --version 2>&1)
if [ "$out" = "$("$GRAIN" --version)" ]; then ok "/sandstorm-http-bridge is granary-grain, over the package's own"; else not_ok "/sandstorm-http-bridge says '$out'"; fi

# 3. A failing step is named, and sandbox_spawn fails instead of a child exiting 127.
check_fails "a missing package directory is named" \
        "Failed to open the package directory for the sandbox: No such file or directory" \
        "$SANDBOX_RUN" --package "$TAP_TMP/nonexistent" --var "$TAP_TMP/a/var" -- /probe
check_fails "a missing storage directory is named" \
        "Failed to open the storage directory for the sandbox: No such file or directory" \
        "$SANDBOX_RUN" --package "$PKG" --var "$TAP_TMP/nonexistent" -- /probe
check_fails "a command that is not in the package is named" \
        "Failed to execute '/nonexistent' in the sandbox: No such file or directory" \
        run -- /nonexistent
check_fails "a relative command is refused" "is not an absolute path" run -- probe
run -- /nonexistent >/dev/null 2>&1
status=$?
if [ "$status" = 125 ]; then ok "sandbox-run reports the failed spawn (125)"; else not_ok "sandbox-run exited $status, want 125"; fi

# 4. The bridge as the sandbox's PID 1: the socket comes as fd 3, the probe serves behind it.
SOCK=$TAP_TMP/grain.sock
# Not through run(): a backgrounded function is a subshell, and the signal must reach sandbox-run itself.
"$SANDBOX_RUN" --package "$PKG" --var "$TAP_TMP/a/var" --bridge "$GRAIN" --listen "$SOCK" --tasks 64 --memory $((256 * 1024 * 1024)) \
        --env PROBE_HOST_PORT="$HOST_PORT" --env PROBE_ABSENT="$ABSENT" \
        -- /sandstorm-http-bridge 8000 -- /probe serve 8000 >"$TAP_TMP/bridge.log" 2>&1 &
BRIDGE=$!
PIDS="$PIDS $BRIDGE"
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
code=$(curl --noproxy '*' -sS --max-time 60 --unix-socket "$SOCK" -o "$TAP_TMP/served.out" -w '%{http_code}' \
        http://grain/ 2>&1)
if [ "$code" = 200 ]; then ok "the probe answers 200 through the bridge"; else not_ok "through the bridge: $code"; diag "$(cat "$TAP_TMP/bridge.log")"; fi
n=$(grep -c '^ok \|^not ok ' "$TAP_TMP/served.out")
if [ "$n" -ge 100 ]; then ok "the served probe ran $n checks"; else not_ok "the served probe ran $n checks"; fi
bad=$(grep '^not ok ' "$TAP_TMP/served.out")
if [ -z "$bad" ]; then ok "every check passes behind the bridge"; else not_ok "behind the bridge: $bad"; fi
if grep -qx 'ok /proc shows only the sandbox' "$TAP_TMP/served.out"; then ok "behind the bridge, /proc shows only the sandbox"; else not_ok "behind the bridge, /proc"; fi
kill -TERM "$BRIDGE"
wait "$BRIDGE"
status=$?
if [ "$status" = 0 ]; then ok "SIGTERM stops the bridge, which exits 0"; else not_ok "the bridge exited $status"; diag "$(cat "$TAP_TMP/bridge.log")"; fi
PIDS=${PIDS% $BRIDGE}

done_testing
