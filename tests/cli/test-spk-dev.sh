#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# spk dev (sandstorm-spec.md §3.5, §3.6) without granaryd: the FUSE view mounted with -m, what it records
# and the file list it writes, the lock, a stale mount left by SIGKILL, and the registration protocol
# against a small stand-in server on a Unix socket (tests/cli/test-spk-dev-granary.sh runs the real one).
# Mounting FUSE is what spk dev does itself; every mount is under this test's temporary directory and
# is detached on exit.
. "$SOURCE_ROOT/tests/lib/tap.sh"

PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=python3
HOME=$TAP_TMP
XDG_RUNTIME_DIR=$TAP_TMP/rt
export HOME XDG_RUNTIME_DIR
unset SPK_BRIDGE_PATH GRANARY_CONTROL_SOCKET
umask 022

if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
        skip "FUSE is not available here (/dev/fuse, fusermount3)"
        done_testing
        exit 0
fi

PIDS=''
# Every spk dev and stand-in server is killed, and every mount below $TAP_TMP detached, on exit.
cleanup() {
        local p m
        for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done
        for p in $PIDS; do wait "$p" 2>/dev/null; done
        for m in $(awk -v t="$TAP_TMP" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo); do
                umount -l "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null
        done
        rm -rf "$TAP_TMP"
}
trap cleanup EXIT

# mounted PATH: an spk dev file system is mounted at PATH.
mounted() { awk -v p="$1" '$5 == p && / - fuse\.spk-dev / { f = 1 } END { exit !f }' /proc/self/mountinfo; }
# any_mounts: the mount points below $TAP_TMP.
any_mounts() { awk -v t="$TAP_TMP" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo; }
# wait_exit PID: up to 10 s for PID to exit; sets status (or "running").
wait_exit() {
        local i
        for i in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$1" 2>/dev/null; then status=running; kill -KILL "$1"; wait "$1" 2>/dev/null; return; fi
        wait "$1"
        status=$?
}

id=$("$SPK" keygen -k keyring -q) || { not_ok "keygen"; done_testing; exit 1; }

mkdir -p src/bin src/data src/secret
printf '#!/bin/sh\necho hi\n' >src/bin/run && chmod 755 src/bin/run
printf 'hello\n' >src/data/read.txt
: >src/data/empty.conf
printf 'never opened\n' >src/data/untouched.txt
printf 'listed only\n' >src/data/listed.txt
ln -s read.txt src/data/link
printf 'hidden\n' >src/secret/key
mkdir -p src/sub/dir && printf 'x\n' >src/sub/dir/file

cat >sandstorm-pkgdef.capnp <<EOF
@0xe2a3b0c1d2e3f407;
using Spk = import "/sandstorm/package.capnp";
const pkgdef :Spk.PackageDefinition = (
  id = "$id",
  manifest = (
    appTitle = (defaultText = "Dev Test"),
    appVersion = 1,
    appMarketingVersion = (defaultText = "1.0"),
    actions = [ ( nounPhrase = (defaultText = "thing"), command = .cmd ) ],
    continueCommand = .cmd,
  ),
  sourceMap = ( searchPath = [ ( sourcePath = "src", hidePaths = [ "secret" ] ) ] ),
  fileList = "sandstorm-files.list",
);
const cmd :Spk.Manifest.Command = (
  argv = ["/bin/run"],
  environ = [ (key = "PATH", value = "/bin") ],
);
EOF
SPK_DEV=("$SPK" dev -I "$SOURCE_ROOT/tests/compat/schema")
HEADER=$(cat <<'EOF'
# *** WARNING: GENERATED FILE ***
# This file is automatically updated and rewritten in sorted order every time
# the app runs in dev mode. You may manually add or remove files, but don't
# expect comments or ordering to be retained.
EOF
)

# ------------------------------------------------------------------------------------------------
# --help

if out=$("$SPK" dev --help) && echo "$out" | grep -q -- '--mount' && echo "$out" | grep -q -- '--socket' &&
        echo "$out" | grep -q -- '--dev=STATE_DIR' && echo "$out" | grep -q -- '--cache-forever'; then
        ok "spk dev --help documents -m, --socket, --dev and -c"
else
        not_ok "spk dev --help documents -m, --socket, --dev and -c"; diag "$out"
fi

# ------------------------------------------------------------------------------------------------
# -m: the view, what is recorded, the list, spk pack afterwards

mkdir mnt
"${SPK_DEV[@]}" -m mnt >m.out 2>m.err &
pid=$!; PIDS="$PIDS $pid"
if wait_for 10 mounted "$TAP_TMP/mnt"; then
        ok "spk dev -m mounts the view"
        [ "$(cat mnt/data/read.txt)" = hello ] && ok "a file reads through the mount" ||
                not_ok "a file reads through the mount"
        [ "$(stat -c '%s %a %F' mnt/data/empty.conf)" = "0 444 regular empty file" ] &&
                ok "a zero-length file stats as one, read-only" || not_ok "a zero-length file stats as one"
        [ "$(readlink mnt/data/link)" = read.txt ] && ok "a symlink reads" || not_ok "a symlink reads"
        [ "$(ls mnt/sub | tr '\n' ' ')" = "dir " ] && ok "a directory lists" || not_ok "a directory lists"
        [ "$(stat -c '%s %a' mnt/data/listed.txt)" = "12 444" ] && ok "stat of a non-empty file" ||
                not_ok "stat of a non-empty file"
        [ "$(stat -c '%a' mnt/bin/run)" = 555 ] && ok "an executable is 0555" || not_ok "an executable is 0555"
        [ ! -e mnt/secret ] && [ ! -e mnt/secret/key ] && ok "a hidden path is not in the view" ||
                not_ok "a hidden path is not in the view"
        [ "$(ls mnt | tr '\n' ' ')" = "bin data dev proc sandstorm-http-bridge-config sandstorm-manifest sub tmp var " ] &&
                ok "the root holds the generated entries" || { not_ok "the root holds the generated entries"; diag "$(ls mnt)"; }
        if touch mnt/data/new 2>/dev/null || sh -c 'echo x >>mnt/data/read.txt' 2>/dev/null; then
                not_ok "the view is read-only"
        else
                ok "the view is read-only"
        fi
        # A change on the host is seen at once through an open of the file.
        printf 'changed\n' >src/data/read.txt
        [ "$(cat mnt/data/read.txt)" = changed ] && ok "a change to a source file is seen at once" ||
                not_ok "a change to a source file is seen at once"
        printf 'HELLO\n' >src/data/read.txt
        [ "$(cat mnt/data/read.txt)" = HELLO ] && ok "a change that keeps the size is seen at once too" ||
                not_ok "a change that keeps the size is seen at once too"
        printf 'hello\n' >src/data/read.txt
else
        not_ok "spk dev -m mounts the view"; diag "$(cat m.err)"
fi
kill -INT "$pid"
wait_exit "$pid"
[ "$status" = 0 ] && ok "SIGINT ends spk dev -m with status 0" || { not_ok "SIGINT ends spk dev -m ($status)"; diag "$(cat m.err)"; }
[ -z "$(any_mounts)" ] && ok "nothing is mounted afterwards" || { not_ok "nothing is mounted afterwards"; diag "$(any_mounts)"; }
want="$HEADER
data/empty.conf
data/link
data/read.txt
sandstorm-manifest
sub"
[ "$(cat sandstorm-files.list 2>/dev/null)" = "$want" ] && ok "the list has exactly what was used" ||
        { not_ok "the list has exactly what was used"; diag "$(cat sandstorm-files.list)"; }
grep -q "4 files used; wrote sandstorm-files.list" m.err && ok "a summary on stderr" ||
        { not_ok "a summary on stderr"; diag "$(cat m.err)"; }

if "$SPK" pack -k keyring dev.spk >/dev/null 2>pack.err && "$SPK" verify dev.spk >/dev/null 2>&1; then
        ok "spk pack makes a package from the list that spk verify accepts"
        if "$SPK" unpack dev.spk unpacked >/dev/null 2>&1 && [ -f unpacked/data/read.txt ] &&
                [ -L unpacked/data/link ] && [ ! -e unpacked/data/untouched.txt ] && [ -d unpacked/sub ] &&
                [ ! -e unpacked/sub/dir ]; then
                ok "the package holds the used files and not the untouched one"
        else
                not_ok "the package holds the used files and not the untouched one"; diag "$(cd unpacked 2>/dev/null && find .)"
        fi
else
        not_ok "spk pack makes a package from the list that spk verify accepts"; diag "$(cat pack.err)"
fi

# A second run merges: kept lines stay, a stale one goes with a warning, hidden ones never appear.
printf '%s\ndata/gone\nsecret/key\n' "$(cat sandstorm-files.list)" >sandstorm-files.list
"${SPK_DEV[@]}" -m mnt >m2.out 2>m2.err &
pid=$!; PIDS="$PIDS $pid"
wait_for 10 mounted "$TAP_TMP/mnt" && cat mnt/bin/run >/dev/null
kill -INT "$pid"; wait_exit "$pid"
want="$HEADER
bin/run
data/empty.conf
data/link
data/read.txt
sandstorm-manifest
sub"
[ "$(cat sandstorm-files.list)" = "$want" ] && ok "a second run merges into the list" ||
        { not_ok "a second run merges into the list"; diag "$(cat sandstorm-files.list)"; }
grep -q "dropped 'data/gone': it no longer maps to anything" m2.err &&
        grep -q "dropped 'secret/key': it no longer maps to anything" m2.err &&
        ok "stale and hidden lines are dropped with a warning" || { not_ok "stale lines are dropped with a warning"; diag "$(cat m2.err)"; }

# ------------------------------------------------------------------------------------------------
# The lock: a second spk dev of the same app refuses before touching anything

"${SPK_DEV[@]}" -m mnt >/dev/null 2>m3.err &
pid=$!; PIDS="$PIDS $pid"
wait_for 10 mounted "$TAP_TMP/mnt"
mkdir mnt2
check_fails "a second spk dev of the same app exits 1" "Another spk dev of app $id is running already" \
        "${SPK_DEV[@]}" -m mnt2
mounted "$TAP_TMP/mnt2" && not_ok "the second one mounted nothing" || ok "the second one mounted nothing"

# ------------------------------------------------------------------------------------------------
# SIGKILL leaves a stale mount; the next run detaches it and works

kill -KILL "$pid"; wait "$pid" 2>/dev/null
mounted "$TAP_TMP/mnt" && ok "SIGKILL leaves the mount behind" || not_ok "SIGKILL leaves the mount behind"
"${SPK_DEV[@]}" -m mnt >/dev/null 2>m4.err &
pid=$!; PIDS="$PIDS $pid"
if wait_for 10 grep -q "is mounted at" m4.err && [ "$(cat mnt/data/read.txt 2>/dev/null)" = hello ]; then
        ok "the next run mounts again and serves"
else
        not_ok "the next run mounts again and serves"; diag "$(cat m4.err)"
fi
grep -q "Detached a stale mount at '$TAP_TMP/mnt' left by an earlier spk dev." m4.err &&
        ok "it says it detached the stale mount" || { not_ok "it says it detached the stale mount"; diag "$(cat m4.err)"; }
kill -INT "$pid"; wait_exit "$pid"
[ "$status" = 0 ] && [ -z "$(any_mounts)" ] && ok "and ends cleanly" || { not_ok "and ends cleanly ($status)"; diag "$(any_mounts)"; }

# ------------------------------------------------------------------------------------------------
# Registration, against a stand-in for granaryd's control socket

cat >fake.py <<'EOF'
# A stand-in granaryd: answers GET /api/v1/status, and POST /api/v1/dev-apps as MODE says: "ok" (200,
# the first line, one console line, then open until the client closes), "close" (the same, then the
# server closes), "refuse" (409). Writes the request body to body.json and "closed" to events when the
# client went away.
import json, os, socket, sys
path, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(4)
def read_request(c):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = c.recv(65536)
        if not chunk:
            return None, None
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    length = 0
    for l in lines[1:]:
        k, v = l.split(":", 1)
        if k.lower() == "content-length":
            length = int(v)
    while len(body) < length:
        body += c.recv(65536)
    return lines[0], body
def chunk(b):
    return b"%x\r\n%s\r\n" % (len(b), b)
while True:
    c, _ = s.accept()
    line, body = read_request(c)
    if line is None:
        c.close()
        continue
    if line.startswith("GET /api/v1/status"):
        b = json.dumps({"baseUrl": "http://fake.example:1234"}).encode()
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(b), b))
        c.close()
        continue
    with open("body.json", "wb") as f:
        f.write(body)
    req = json.loads(body)
    if mode == "refuse":
        b = json.dumps({"error": "app %s is already in development (another spk dev is running)" % req["appId"]}).encode()
        c.sendall(b"HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(b), b))
        c.close()
        continue
    # The server reads the mount while the client waits for the answer.
    with open("listing", "w") as f:
        f.write(" ".join(sorted(os.listdir(req["root"]))))
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n")
    c.sendall(chunk(b"dev %s dev-0123456789abcdef Dev Test\n" % req["appId"].encode()))
    c.sendall(chunk(b"[grain1] hello from the app\n"))
    if mode == "close":
        c.sendall(b"0\r\n\r\n")
        c.close()
        continue
    while c.recv(4096):
        pass
    with open("events", "a") as f:
        f.write("closed\n")
    c.close()
EOF

mp=$XDG_RUNTIME_DIR/granary-spk-dev/$id/root

check_fails "no server: exit 1 with one line" "Cannot reach granaryd at $TAP_TMP/none.sock" \
        "${SPK_DEV[@]}" --socket "$TAP_TMP/none.sock"
[ -z "$(any_mounts)" ] && ok "no server: nothing mounted" || not_ok "no server: nothing mounted"

"$PYTHON" fake.py "$TAP_TMP/refuse.sock" refuse &
PIDS="$PIDS $!"
wait_for 10 test -S refuse.sock
check_fails "the server refusing: exit 1 with its error" \
        "granaryd refused the development app: app $id is already in development (another spk dev is running)" \
        "${SPK_DEV[@]}" --socket "$TAP_TMP/refuse.sock"
[ -z "$(any_mounts)" ] && ok "refused: nothing left mounted" || { not_ok "refused: nothing left mounted"; diag "$(any_mounts)"; }

"$PYTHON" fake.py "$TAP_TMP/ok.sock" ok &
PIDS="$PIDS $!"
wait_for 10 test -S ok.sock
rm -f events
"${SPK_DEV[@]}" --socket "$TAP_TMP/ok.sock" >r.out 2>r.err &
pid=$!; PIDS="$PIDS $pid"
if wait_for 10 grep -q "hello from the app" r.out; then
        ok "the server's console stream reaches stdout"
else
        not_ok "the server's console stream reaches stdout"; diag "$(cat r.out r.err)"
fi
[ "$(cat r.out)" = "[grain1] hello from the app" ] && ok "stdout has the console lines only" ||
        { not_ok "stdout has the console lines only"; diag "$(cat r.out)"; }
grep -q "App 'Dev Test' is in development on granary at http://fake.example:1234" r.err &&
        grep -q "Press Ctrl+C to stop." r.err && ok "stderr says where the app is in development" ||
        { not_ok "stderr says where the app is in development"; diag "$(cat r.err)"; }
if "$PYTHON" - "$id" "$mp" <<'EOF'
import base64, json, sys
b = json.load(open("body.json"))
assert b["appId"] == sys.argv[1], b
assert b["root"] == sys.argv[2], b
assert "bridgeConfig" not in b, b
m = base64.b64decode(b["manifest"], validate=True)
assert m == open(sys.argv[2] + "/sandstorm-manifest", "rb").read()
EOF
then
        ok "the registration names the app, the mount point and the manifest spk generated"
else
        not_ok "the registration names the app, the mount point and the manifest spk generated"; diag "$(cat body.json)"
fi
[ "$(cat listing)" = "bin data dev proc sandstorm-http-bridge-config sandstorm-manifest sub tmp var" ] &&
        ok "the server can read the mount while registering" || { not_ok "the server can read the mount while registering"; diag "$(cat listing)"; }
mounted "$mp" && ok "mounted at <base>/<appId>/root" || not_ok "mounted at <base>/<appId>/root"
cat "$mp/data/listed.txt" >/dev/null
kill -INT "$pid"; wait_exit "$pid"
[ "$status" = 0 ] && ok "SIGINT: exit 0" || { not_ok "SIGINT: exit 0 ($status)"; diag "$(cat r.err)"; }
wait_for 10 test -s events && [ "$(cat events)" = closed ] && ok "the connection is closed (unregistered)" ||
        not_ok "the connection is closed (unregistered)"
[ -z "$(any_mounts)" ] && ok "nothing mounted afterwards" || { not_ok "nothing mounted afterwards"; diag "$(any_mounts)"; }
grep -qx "data/listed.txt" sandstorm-files.list && ok "what the app used while registered is listed" ||
        not_ok "what the app used while registered is listed"

# SIGKILL while registered: the server sees the connection close; the next run detaches the mount.
rm -f events
"${SPK_DEV[@]}" --socket "$TAP_TMP/ok.sock" >/dev/null 2>k.err &
pid=$!; PIDS="$PIDS $pid"
wait_for 10 mounted "$mp"
wait_for 10 grep -q "Press Ctrl+C" k.err
kill -KILL "$pid"; wait "$pid" 2>/dev/null
wait_for 10 test -s events && ok "SIGKILL: the server sees the registration end" || not_ok "SIGKILL: the server sees the registration end"
mounted "$mp" && ok "SIGKILL leaves the default mount point mounted" || not_ok "SIGKILL leaves the default mount point mounted"
"${SPK_DEV[@]}" --socket "$TAP_TMP/ok.sock" >/dev/null 2>k2.err &
pid=$!; PIDS="$PIDS $pid"
if wait_for 10 grep -q "Press Ctrl+C" k2.err && grep -q "Detached a stale mount at '$mp'" k2.err &&
        [ "$(cat "$mp/data/read.txt")" = hello ]; then
        ok "the next run detaches it, registers and serves"
else
        not_ok "the next run detaches it, registers and serves"; diag "$(cat k2.err)"
fi
kill -TERM "$pid"; wait_exit "$pid"
[ "$status" = 0 ] && [ -z "$(any_mounts)" ] && ok "SIGTERM ends it cleanly" || { not_ok "SIGTERM ends it cleanly ($status)"; diag "$(any_mounts)"; }

# The server ending the stream (granaryd stopped): unmount, write the list, exit 1 with a message.
"$PYTHON" fake.py "$TAP_TMP/close.sock" close &
PIDS="$PIDS $!"
wait_for 10 test -S close.sock
rm -f sandstorm-files.list
"${SPK_DEV[@]}" --socket "$TAP_TMP/close.sock" >c.out 2>c.err &
pid=$!
wait_exit "$pid"
[ "$status" = 1 ] && grep -q "granaryd ended the development session (did it stop?); stopping." c.err &&
        ok "the server closing the stream: exit 1 with a message" || { not_ok "the server closing the stream ($status)"; diag "$(cat c.err)"; }
[ -f sandstorm-files.list ] && [ -z "$(any_mounts)" ] && ok "the list is written and nothing is mounted" ||
        not_ok "the list is written and nothing is mounted"

done_testing
