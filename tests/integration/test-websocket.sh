#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# WebSockets through a grain session host to the test app's echo (/ws): over HTTP/1.1 with an Upgrade (a
# raw client here: handshake, masked frames both ways, the close handshake), and over HTTP/2 with
# extended CONNECT (RFC 8441) on the plain port with prior knowledge, driven by rawhttp.py.
. "$SOURCE_ROOT/tests/integration/lib.sh"

grains_skip_unless_possible

unset GRANARY_CONTROL_SOCKET
state=$TAP_TMP/state
port=$(free_port)
grains_conf "$TAP_TMP/granary.conf" "GRAIN_IDLE_SEC=1"

PORT=$port
gd_start "$state" "$port" -c "$TAP_TMP/granary.conf" || bail "granaryd --dev comes up"
ok "granaryd --dev comes up"
g user add alice --admin --no-password >/dev/null || bail "alice is added"
g app install "$TESTAPP_DIR/testapp-v1.spk" >/dev/null || bail "the test app is installed"
id=$(g grain new "$TESTAPP_ID" -q) || bail "a grain"
session_open "$id" /version || bail "a session"
is "a session" "$s_status" "200"
sid=${s_url##*sessionid=}
sid=${sid%%&*}

# ws_h1 ORIGIN-HEADER: the handshake and an echo over HTTP/1.1; prints one line per step.
ws_h1() {
        "$PYTHON" - "$port" "$s_host" "$sid" "$1" "${2:-0}" <<'PY'
import base64, hashlib, os, socket, struct, sys, time
port, host, sid, origin, pause = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
s = socket.create_connection(("127.0.0.1", port), 5)
s.settimeout(5)
key = base64.b64encode(os.urandom(16)).decode()
head = ("GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nCookie: sandstorm-sid=%s\r\n" % (host, key, sid))
if origin:
    head += "Origin: %s\r\n" % origin
s.sendall((head + "\r\n").encode())
buf = b""
while b"\r\n\r\n" not in buf:
    d = s.recv(4096)
    if not d:
        break
    buf += d
resp, _, rest = buf.partition(b"\r\n\r\n")
lines = resp.decode("latin-1").split("\r\n")
print("status", lines[0].split(" ")[1] if lines[0] else "none")
fields = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
print("accept", "ok" if fields.get("sec-websocket-accept") == want else "bad:" + fields.get("sec-websocket-accept", ""))
if not lines[0].startswith("HTTP/1.1 101"):
    sys.exit(0)

def frame(opcode, payload):
    mask = os.urandom(4)
    n = len(payload)
    h = bytes([0x80 | opcode])
    h += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
    return h + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

def read_frame():
    global rest
    while True:
        if len(rest) >= 2:
            n = rest[1] & 0x7f
            off = 2
            if n == 126:
                if len(rest) < 4:
                    n = None
                else:
                    n = struct.unpack(">H", rest[2:4])[0]
                    off = 4
            if n is not None and len(rest) >= off + n:
                f = (rest[0] & 0x0f, rest[off:off + n])
                rest = rest[off + n:]
                return f
        d = s.recv(65536)
        if not d:
            return (None, b"")
        rest += d

for text in [b"hello", "h\u00e9llo w\u00f6rld".encode(), b"x" * 3000]:
    time.sleep(pause)
    s.sendall(frame(1, text))
    op, data = read_frame()
    print("echo", op, "same" if data == text else repr(data[:40]))
s.sendall(frame(8, struct.pack(">H", 1000)))
op, data = read_frame()
print("close", op, struct.unpack(">H", data[:2])[0] if len(data) >= 2 else "none")
PY
}

ws_h1 "" >"$TAP_TMP/ws"
is "HTTP/1.1: 101 Switching Protocols" "$(grep ^status "$TAP_TMP/ws")" "status 101"
is "  Sec-WebSocket-Accept answers the client's key" "$(grep ^accept "$TAP_TMP/ws")" "accept ok"
is "  three messages echoed, the last one of 3000 bytes" "$(grep ^echo "$TAP_TMP/ws" | tr '\n' ' ')" \
        "echo 1 same echo 1 same echo 1 same "
is "  the close handshake" "$(grep ^close "$TAP_TMP/ws")" "close 8 1000"

ws_h1 "$s_origin" >"$TAP_TMP/ws"
is "with the session's own Origin: echoed" "$(grep -c '^echo 1 same' "$TAP_TMP/ws")" "3"
ws_h1 "http://evil.example" >"$TAP_TMP/ws"
is "a cross-site WebSocket (foreign Origin): 403" "$(grep ^status "$TAP_TMP/ws")" "status 403"

ws_h1 "" 1.5 >"$TAP_TMP/ws"
is "an open WebSocket keeps the grain up past GRAIN_IDLE_SEC=1 (pauses of 1.5 s)" \
        "$(grep ^echo "$TAP_TMP/ws" | tr '\n' ' ')" "echo 1 same echo 1 same echo 1 same "

# HTTP/2: SETTINGS_ENABLE_CONNECT_PROTOCOL (8), then CONNECT with :protocol websocket and a masked text
# frame "hello" as DATA; the echo is an unmasked frame of 7 bytes.
mask_hello='\u0081\u0085\u0001\u0002\u0003\u0004igohn'
raw --port "$port" --timeout 3 --after 1 h2 \
        "[\"headers\", 1, \"END_HEADERS\", [[\":method\", \"CONNECT\"], [\":protocol\", \"websocket\"], [\":scheme\", \"http\"], [\":path\", \"/ws\"], [\":authority\", \"$s_host\"], [\"sec-websocket-version\", \"13\"], [\"cookie\", \"sandstorm-sid=$sid\"]]]" \
        "[\"data\", 1, 0, \"$mask_hello\"]" >/dev/null

is "HTTP/2: the server offers extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL=1)" "$(val settings.8)" "1"
is "  CONNECT :protocol websocket: 200" "$(val s1.status)" "200"
is "  the echo of 'hello' comes back as one 7-byte frame" "$(val s1.data_len)" "7"

gd_stop TERM 20
is "granaryd exits 0" "$gd_status" "0"
no_sanitizer_reports
done_testing
