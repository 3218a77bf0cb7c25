#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The example apps (contrib/apps/hello, notes, headers, wsecho), each built binary started directly on a
# free loopback port: hello answers every request with its page over one kept-alive connection; notes
# adds, lists and shows notes, keeps them across a restart and greets the user; headers dumps exactly
# what it received; wsecho completes RFC 6455's sample handshake and echoes masked frames. Then each
# .spk the build made must pass spk verify and hold what its command needs.
. "$SOURCE_ROOT/tests/lib/tap.sh"

PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=python3
PIDS=''

cleanup() {
        for pid in $PIDS; do
                kill -KILL "$pid" 2>/dev/null
        done
        rm -rf "$TAP_TMP"
}
trap cleanup EXIT

free_port() {
        "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start LOG BINARY PORT: runs the app in the background and waits (10 s at most) until the port accepts
# connections; sets app_pid.
start() {
        "$2" "$3" >"$1" 2>&1 &
        app_pid=$!
        PIDS="$PIDS $app_pid"
        "$PYTHON" - "$3" <<'EOF'
import socket, sys, time
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
}

# stop PID: SIGTERM, then the exit status (the apps exit 0 when asked to stop).
stop() {
        kill -TERM "$1"
        wait "$1"
}

# get NAME [CURL ARGS...]: the response of a request in NAME.h (headers, CR removed) and NAME.b (body);
# prints the status code.
get() {
        name=$1
        shift
        curl -sS --max-time 10 -D "$name.h0" -o "$name.b" -w '%{http_code}' "$@"
        tr -d '\r' <"$name.h0" >"$name.h"
}

# header NAME FIELD: the value of a response header (the first one, name case-insensitive).
header() {
        sed -n "s/^$2: //Ip" "$1.h" | head -n 1
}

# expect DESC WANT GOT
expect() {
        if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; diag "want '$2'"; diag "got  '$3'"; fi
}

# has DESC FILE TEXT: the file contains the text (fixed string).
has() {
        if grep -qF -- "$3" "$2"; then
                ok "$1"
        else
                not_ok "$1"; diag "no '$3' in:"; diag "$(head -c 2000 "$2")"
        fi
}

# lacks DESC FILE TEXT: the file does not contain the text.
lacks() {
        if grep -qF -- "$3" "$2"; then not_ok "$1"; diag "'$3' in $2"; else ok "$1"; fi
}

# started DESC LOG BINARY PORT: start, as a test case.
started() {
        if start "$2" "$3" "$4"; then ok "$1"; else not_ok "$1"; diag "$(cat "$2")"; fi
}

# The raw-socket client for what curl cannot say or show exactly.
cat >raw.py <<'EOF'
import json, os, socket, struct, sys

port = int(sys.argv[1])
what = sys.argv[2]


def connect():
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.settimeout(5)
    return s


def read_all(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def read_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def read_head(s):
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        b = s.recv(1)
        if not b:
            raise EOFError("connection closed in the response head: %r" % head)
        head += b
    return head


def check(cond, msg):
    if not cond:
        print(msg)
        sys.exit(1)


def response(status, ctype, body, close=False):
    return (b"HTTP/1.1 " + status + b"\r\nContent-Type: " + ctype + b"\r\nContent-Length: " +
            str(len(body)).encode() + b"\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n" +
            (b"Connection: close\r\n" if close else b"") + b"\r\n" + body)


# ---- hello ----

if what == "hello-keepalive":
    # Many requests on one connection, some pipelined: each gets the same page, in order, and the
    # connection stays open until the client says close. A body is read and dropped.
    s = connect()
    s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    head = read_head(s)
    check(head.startswith(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"), "head %r" % head)
    check(b"Connection: close" not in head, "the first answer closes: %r" % head)
    n = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    page = read_exact(s, n)
    check(page.startswith(b"<!DOCTYPE html>") and b"<h1>Hello from granary!</h1>" in page, "page %r" % page)
    one = response(b"200 OK", b"text/html; charset=utf-8", page)
    for i in range(50):
        s.sendall(b"GET /%d HTTP/1.1\r\nHost: h\r\n\r\n" % i)
        got = read_exact(s, len(one))
        check(got == one, "request %d on the same connection: %r" % (i + 2, got))
    s.sendall(b"POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
              b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n"
              b"GET /last HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    got = read_all(s)
    want = one + one[:-len(page)] + response(b"200 OK", b"text/html; charset=utf-8", page, close=True)
    check(got == want, "pipelined POST, HEAD, close:\nwant %r\ngot  %r" % (want, got))

elif what == "hello-http10":
    # HTTP/1.0 without keep-alive gets its answer and the connection closed.
    s = connect()
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    got = read_all(s)
    check(got.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nConnection: close\r\n" in got and
          got.endswith(b"</html>\n"), "got %r" % got)

# ---- notes ----

elif what == "notes-head":
    s = connect()
    s.sendall(b"HEAD /notes/1.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    got = read_all(s)
    want = response(b"200 OK", b"text/plain; charset=utf-8", b"hello world!", close=True)[:-12]
    check(got == want, "want %r\ngot  %r" % (want, got))

# ---- headers ----

elif what == "headers-exact":
    # Order, case, repeats, an empty value and surrounding whitespace, answered byte for byte.
    s = connect()
    s.sendall(b"GET /a/b?c=d HTTP/1.1\r\nHost: h\r\nx-lower: 1\r\nX-Dup: a\r\nX-Dup: b\r\nX-Empty:\r\n"
              b"X-Space:   padded value \t\r\nConnection: close\r\n\r\n")
    got = read_all(s)
    body = (b"GET /a/b?c=d HTTP/1.1\nHost: h\nx-lower: 1\nX-Dup: a\nX-Dup: b\nX-Empty: \n"
            b"X-Space: padded value\nConnection: close\n")
    want = response(b"200 OK", b"text/plain; charset=utf-8", body, close=True)
    check(got == want, "want %r\ngot  %r" % (want, got))

elif what == "headers-json":
    s = connect()
    s.sendall(b"PUT /x/y?json&z=1 HTTP/1.1\r\nHost: h\r\nX-Sandstorm-Username: Kurt%20G%C3%B6del\r\n"
              b"X-Utf8: G\xc3\xb6del\r\nX-Bytes: a\xffb\"\\\r\nContent-Length: 3\r\nConnection: close\r\n"
              b"\r\nabc")
    got = read_all(s)
    head, _, body = got.partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"), "head %r" % head)
    check(b"\r\nContent-Length: %d\r\n" % len(body) in head + b"\r\n", "length %r" % head)
    doc = json.loads(body)
    want = {"method": "PUT", "target": "/x/y?json&z=1", "path": "/x/y", "query": "json&z=1",
            "version": "HTTP/1.1",
            "headers": [["Host", "h"], ["X-Sandstorm-Username", "Kurt%20G%C3%B6del"],
                        ["X-Utf8", "G\u00f6del"], ["X-Bytes", "a\u00ffb\"\\"], ["Content-Length", "3"],
                        ["Connection", "close"]]}
    check(doc == want, "want %r\ngot  %r" % (want, doc))

elif what == "headers-keepalive":
    # Two pipelined requests, the first with a body and the second chunked, on one connection.
    s = connect()
    s.sendall(b"POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
              b"POST /2 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
              b"HEAD /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    got = read_all(s)
    b1 = b"POST /1 HTTP/1.1\nHost: h\nContent-Length: 5\n"
    b2 = b"POST /2 HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n"
    b3 = b"HEAD /3 HTTP/1.1\nHost: h\nConnection: close\n"
    want = (response(b"200 OK", b"text/plain; charset=utf-8", b1) +
            response(b"200 OK", b"text/plain; charset=utf-8", b2) +
            response(b"200 OK", b"text/plain; charset=utf-8", b3, close=True)[:-len(b3)])
    check(got == want, "want %r\ngot  %r" % (want, got))

elif what == "bad-request":
    # Strict parsing: each of these is refused with 400 (or 501/505) and the connection closed.
    cases = [
        (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", b"400 Bad Request"),
        (b"GET / HTTP/1.1\r\n\r\n", b"400 Bad Request"),
        (b"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", b"400 Bad Request"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", b"400 Bad Request"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
         b"400 Bad Request"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", b"501 Not Implemented"),
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", b"505 HTTP Version Not Supported"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"400 Bad Request"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: \x00\r\n\r\n", b"400 Bad Request"),
    ]
    for req, status in cases:
        s = connect()
        s.sendall(req)
        got = read_all(s)
        body = status + b"\n"
        want = response(status, b"text/plain; charset=utf-8", body, close=True)
        check(got == want, "for %r\nwant %r\ngot  %r" % (req, want, got))

elif what == "too-big":
    s = connect()
    s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X-Pad: " + b"a" * 20000 + b"\r\n\r\n")
    got = read_all(s)
    check(got.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), "got %r" % got[:200])
    s = connect()
    s.sendall(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\n")
    got = read_all(s)
    check(got.startswith(b"HTTP/1.1 413 Content Too Large\r\n"), "got %r" % got[:200])

# ---- wsecho ----

elif what.startswith("ws-"):
    MASK = b"\x37\xfa\x21\x3d"

    def frame(op, payload, fin=True, masked=True, rsv=0):
        b0 = (0x80 if fin else 0) | rsv | op
        n = len(payload)
        if n <= 125:
            h = bytes([b0, n])
        elif n <= 0xFFFF:
            h = bytes([b0, 126]) + struct.pack(">H", n)
        else:
            h = bytes([b0, 127]) + struct.pack(">Q", n)
        if not masked:
            return h + payload
        h = bytes([h[0], h[1] | 0x80]) + h[2:]
        return h + MASK + bytes(c ^ MASK[i % 4] for i, c in enumerate(payload))

    def read_frame(s):
        b0, b1 = read_exact(s, 2)
        check(not b1 & 0x80, "the server masked a frame")
        n = b1 & 0x7F
        raw = bytes([b0, b1])
        if n == 126:
            ext = read_exact(s, 2)
            n = struct.unpack(">H", ext)[0]
            raw += ext
        elif n == 127:
            ext = read_exact(s, 8)
            n = struct.unpack(">Q", ext)[0]
            raw += ext
        payload = read_exact(s, n)
        return b0, payload, raw + payload

    def handshake(key=b"dGhlIHNhbXBsZSBub25jZQ==", version=b"13"):
        s = connect()
        s.sendall(b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\nOrigin: http://example.com\r\n"
                  b"Sec-WebSocket-Version: " + version + b"\r\n\r\n")
        return s, read_head(s)

    def expect_close(s, code):
        b0, payload, _ = read_frame(s)
        check(b0 == 0x88 and payload == struct.pack(">H", code),
              "want close %d, got opcode byte %#x payload %r" % (code, b0, payload))
        check(s.recv(16) == b"", "the connection stayed open after the close")

    if what == "ws-handshake":
        # RFC 6455 §1.3's sample: key dGhlIHNhbXBsZSBub25jZQ== gives s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
        s, head = handshake()
        want = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
        check(head == want, "want %r\ngot  %r" % (want, head))

    elif what == "ws-echo":
        s, _ = handshake()
        s.sendall(frame(0x1, b"Hello"))
        _, _, raw = read_frame(s)
        check(raw == b"\x81\x05Hello", "got %r" % raw)

    elif what == "ws-fragments":
        # A text message in three fragments with a ping between them: the pong comes first, then the
        # whole message as one frame.
        s, _ = handshake()
        s.sendall(frame(0x1, b"Hel", fin=False) + frame(0x9, b"ping!") + frame(0x0, b"l", fin=False) +
                  frame(0x0, "o, w\u00f6rld".encode(), fin=True))
        _, _, raw = read_frame(s)
        check(raw == b"\x8a\x05ping!", "pong: got %r" % raw)
        _, _, raw = read_frame(s)
        want = b"\x81\x0d" + "Hello, w\u00f6rld".encode()
        check(raw == want, "want %r\ngot  %r" % (want, raw))

    elif what == "ws-lengths":
        # 16-bit and 64-bit payload lengths both ways.
        s, _ = handshake()
        for n in (126, 65535, 65536, 300000):
            data = os.urandom(n)
            s.sendall(frame(0x2, data))
            b0, payload, raw = read_frame(s)
            check(b0 == 0x82 and payload == data, "binary message of %d bytes not echoed" % n)
            check(raw[1] == (126 if n <= 0xFFFF else 127), "length form for %d: %d" % (n, raw[1]))

    elif what == "ws-close":
        # The close handshake: the same code comes back, then the server ends the connection.
        s, _ = handshake()
        s.sendall(frame(0x1, b"last") + frame(0x8, struct.pack(">H", 1000) + b"bye"))
        _, _, raw = read_frame(s)
        check(raw == b"\x81\x04last", "got %r" % raw)
        expect_close(s, 1000)
        s, _ = handshake()
        s.sendall(frame(0x8, b""))
        _, _, raw = read_frame(s)
        check(raw == b"\x88\x00", "an empty close gets an empty close: %r" % raw)

    elif what == "ws-errors":
        for data, code, why in [
            (frame(0x1, b"x", masked=False), 1002, "unmasked"),
            (frame(0x1, b"x", rsv=0x40), 1002, "reserved bit"),
            (frame(0x3, b""), 1002, "reserved opcode"),
            (frame(0x0, b"x"), 1002, "continuation without a message"),
            (frame(0x1, b"a", fin=False) + frame(0x1, b"b"), 1002, "new message inside one"),
            (frame(0x9, b"x", fin=False), 1002, "fragmented ping"),
            (frame(0x9, b"x" * 126), 1002, "long ping"),
            (frame(0x8, b"\x03"), 1002, "close with one byte"),
            (frame(0x8, struct.pack(">H", 1005)), 1002, "close code 1005"),
            (frame(0x1, b"\xc3\x28"), 1007, "invalid UTF-8"),
            (frame(0x8, struct.pack(">H", 1000) + b"\xff"), 1007, "invalid UTF-8 close reason"),
            (bytes([0x82, 0xFF]) + struct.pack(">Q", 1 << 63) + MASK, 1002, "64-bit length, top bit set"),
            (bytes([0x82, 0xFF]) + struct.pack(">Q", 2 << 20) + MASK, 1009, "message above the limit"),
        ]:
            s, _ = handshake()
            s.sendall(data)
            try:
                expect_close(s, code)
            except (EOFError, OSError) as e:
                check(False, "%s: %s" % (why, e))

    elif what == "ws-refused":
        s, head = handshake(version=b"8")
        check(head.startswith(b"HTTP/1.1 426 Upgrade Required\r\n") and
              b"\r\nSec-WebSocket-Version: 13\r\n" in head, "version 8: %r" % head)
        s, head = handshake(key=b"c2hvcnQ=")
        check(head.startswith(b"HTTP/1.1 400 Bad Request\r\n"), "short key: %r" % head)

else:
    print("unknown check " + what)
    sys.exit(2)
EOF

for app in hello notes headers wsecho; do
        if [ ! -x "$APPS_BUILD_DIR/$app/$app" ]; then
                not_ok "$app is built"; diag "no $APPS_BUILD_DIR/$app/$app: run ninja before meson test"
                done_testing
                exit 1
        fi
done

# ---- hello ----

port=$(free_port)
url=http://127.0.0.1:$port
started "hello starts" hello.log "$APPS_BUILD_DIR/hello/hello" "$port"
pid=$app_pid
expect "hello: 200" 200 "$(get h1 "$url/any/path?x")"
expect "hello's page is HTML" "text/html; charset=utf-8" "$(header h1 Content-Type)"
has "hello's page greets" h1.b "<h1>Hello from granary!</h1>"
expect "its length is the page's" "$(wc -c <h1.b | tr -d ' ')" "$(header h1 Content-Length)"
check "keep-alive: 50 requests on one connection, pipelining, a body, HEAD, close" \
        "$PYTHON" raw.py "$port" hello-keepalive
check "HTTP/1.0 is answered and closed" "$PYTHON" raw.py "$port" hello-http10
expect "a request without Host: 400" 400 "$(get h2 -H 'Host:' "$url/")"
expect "still serving after all that" 200 "$(get h3 "$url/")"
expect "hello logs where it listens" "hello: listening on 127.0.0.1:$port" "$(head -n 1 hello.log)"
if stop "$pid"; then ok "hello exits 0 on SIGTERM"; else not_ok "hello exit status"; fi
expect "and says so" "hello: stopping" "$(tail -n 1 hello.log)"

# ---- notes ----

NOTES="$APPS_BUILD_DIR/notes/notes"
NOTES_DIR=$TAP_TMP/var/notes
export NOTES_DIR
mkdir -p "$TAP_TMP/var"
port=$(free_port)
url=http://127.0.0.1:$port
started "notes starts" notes.log "$NOTES" "$port"
pid=$app_pid
[ -d "$NOTES_DIR" ] && ok "notes creates its directory from NOTES_DIR" || not_ok "notes directory"

expect "index with no notes: 200" 200 "$(get n0 "$url/")"
expect "index is HTML" "text/html; charset=utf-8" "$(header n0 Content-Type)"
has "index says there are no notes" n0.b "<p>No notes yet.</p>"
has "index has the form" n0.b '<form method="post" action="/notes">'
lacks "no greeting without X-Sandstorm-Username" n0.b "Hello,"

expect "add a note: 303" 303 "$(get a1 -d 'text=hello+world%21' "$url/notes")"
expect "the first note is /notes/1" /notes/1 "$(header a1 Location)"
expect "add a second note: 303" 303 \
        "$(get a2 --data-urlencode "$(printf 'text=<b>second</b> & more\r\nline 2')" "$url/notes")"
expect "the second note is /notes/2" /notes/2 "$(header a2 Location)"
printf 'hello world!' >want1
cmp -s want1 "$NOTES_DIR/1" && ok "note 1 is stored as a file with its exact text" || not_ok "note 1 on disk"
printf '<b>second</b> & more\nline 2' >want2
expect "note 2 as text: 200" 200 "$(get t2 "$url/notes/2.txt")"
cmp -s want2 t2.b && ok "note 2 comes back byte for byte, CRLF stored as LF" ||
        { not_ok "note 2 text"; diag "$(od -c t2.b)"; }
expect "note 2 as text is text/plain" "text/plain; charset=utf-8" "$(header t2 Content-Type)"
expect "note 2 as a page: 200" 200 "$(get p2 "$url/notes/2")"
tr '\n' '~' <p2.b >p2.flat
has "the page shows the note escaped" p2.flat '<pre>&lt;b&gt;second&lt;/b&gt; &amp; more~line 2</pre>'
expect "index with two notes: 200" 200 "$(get n1 "$url/")"
has "index links note 2 with its first line" n1.b \
        '<li><a href="/notes/2">&lt;b&gt;second&lt;/b&gt; &amp; more…</a></li>'
has "index links note 1" n1.b '<li><a href="/notes/1">hello world!</a></li>'
expect "newest first" "/notes/2 /notes/1" "$(grep -o '/notes/[0-9]*' n1.b | tr '\n' ' ' | sed 's/ $//')"

get g1 -H 'X-Sandstorm-Username: Kurt%20Friedrich%20G%C3%B6del' "$url/" >/dev/null
has "greets the user by the percent-decoded X-Sandstorm-Username" g1.b \
        '<p class="greeting">Hello, Kurt Friedrich Gödel</p>'
get g2 -H 'X-Sandstorm-Username: %3Cscript%3E%zz' "$url/notes/1" >/dev/null
has "the name is escaped, a broken escape kept" g2.b '<p class="greeting">Hello, &lt;script&gt;%zz</p>'
expect "an empty X-Sandstorm-Username: 200" 200 "$(get g3 -H 'X-Sandstorm-Username;' "$url/")"
has "an empty name greets nobody in particular" g3.b '<p class="greeting">Hello, </p>'

expect "unknown note: 404" 404 "$(get e1 "$url/notes/3")"
expect "non-canonical id: 404" 404 "$(get e2 "$url/notes/01")"
expect "unknown path: 404" 404 "$(get e3 "$url/nope")"
expect "POST /: 405" 405 "$(get e4 -d 'text=x' "$url/")"
expect "405 says what is allowed" "GET, HEAD" "$(header e4 Allow)"
expect "GET /notes: 405" 405 "$(get e5 "$url/notes")"
expect "a form of another type: 415" 415 "$(get e6 -H 'Content-Type: text/plain' -d 'text=x' "$url/notes")"
expect "an empty note: 400" 400 "$(get e7 -d 'text=' "$url/notes")"
expect "no text field: 400" 400 "$(get e8 -d 'other=x' "$url/notes")"
expect "a broken escape: 400" 400 "$(get e9 -d 'text=%zz' "$url/notes")"
expect "text that is not UTF-8: 400" 400 "$(get e10 -d 'text=%ff' "$url/notes")"
head -c 20000 /dev/zero | tr '\0' a | sed 's/^/text=/' >big
expect "a note above 16 KiB: 413" 413 "$(get e11 --data-binary @big "$url/notes")"
expect "a chunked form is accepted: 303" 303 \
        "$(get a3 -H 'Transfer-Encoding: chunked' -d 'text=chunked' "$url/notes")"
expect "it is note 3" /notes/3 "$(header a3 Location)"
check "HEAD of a note gives its length and no body" "$PYTHON" raw.py "$port" notes-head
expect "only the notes are in the directory" "1 2 3" "$(ls -A "$NOTES_DIR" | tr '\n' ' ' | sed 's/ $//')"

if stop "$pid"; then ok "notes exits 0 on SIGTERM"; else not_ok "notes exit status"; fi
: >"$NOTES_DIR/.tmp-1-0"
started "notes starts again on the same directory" notes2.log "$NOTES" "$port"
pid=$app_pid
expect "index after a restart: 200" 200 "$(get n2 "$url/")"
expect "the notes survived the restart" "/notes/3 /notes/2 /notes/1" \
        "$(grep -o '/notes/[0-9]*' n2.b | tr '\n' ' ' | sed 's/ $//')"
get t1 "$url/notes/1.txt" >/dev/null
cmp -s want1 t1.b && ok "note 1 is intact after the restart" || not_ok "note 1 after restart"
get a4 -d 'text=after' "$url/notes" >/dev/null
expect "ids go on after a restart" /notes/4 "$(header a4 Location)"
[ ! -e "$NOTES_DIR/.tmp-1-0" ] && ok "a leftover temporary file is removed at start" || not_ok "temporary file"
stop "$pid"

# ---- headers ----

port=$(free_port)
url=http://127.0.0.1:$port
started "headers starts" headers.log "$APPS_BUILD_DIR/headers/headers" "$port"
pid=$app_pid
expect "headers: 200" 200 "$(get d1 -H 'User-Agent:' -H 'Accept:' -H 'X-Sandstorm-Username: Alice%20B' \
        -H 'X-Sandstorm-Permissions: read,write' "$url/some/path?x=1")"
printf 'GET /some/path?x=1 HTTP/1.1\nHost: 127.0.0.1:%s\nX-Sandstorm-Username: Alice%%20B\n%s\n' \
        "$port" 'X-Sandstorm-Permissions: read,write' >want-d1
cmp -s want-d1 d1.b && ok "the dump is the request line and every header" ||
        { not_ok "the dump"; diag "$(cat d1.b)"; }
expect "the dump is plain text" "text/plain; charset=utf-8" "$(header d1 Content-Type)"
check "order, case, repeats and whitespace, byte for byte" "$PYTHON" raw.py "$port" headers-exact
check "?json gives the same as JSON, non-UTF-8 bytes as \\u00XX" "$PYTHON" raw.py "$port" headers-json
check "keep-alive, pipelining, bodies by length and chunked, HEAD" "$PYTHON" raw.py "$port" headers-keepalive
check "malformed requests get 400, 501 or 505 and a close" "$PYTHON" raw.py "$port" bad-request
check "an oversized head gets 431, an oversized body 413" "$PYTHON" raw.py "$port" too-big
expect "still serving after all that" 200 "$(get d2 "$url/")"
if stop "$pid"; then ok "headers exits 0 on SIGTERM"; else not_ok "headers exit status"; fi

# ---- wsecho ----

port=$(free_port)
url=http://127.0.0.1:$port
started "wsecho starts" wsecho.log "$APPS_BUILD_DIR/wsecho/wsecho" "$port"
pid=$app_pid
expect "the page: 200" 200 "$(get w1 "$url/")"
expect "the page is HTML" "text/html; charset=utf-8" "$(header w1 Content-Type)"
has "the page's script connects back to /" w1.b "new WebSocket(scheme + location.host + '/')"
check "the handshake answers RFC 6455's sample key exactly" "$PYTHON" raw.py "$port" ws-handshake
check "a masked text frame comes back unmasked" "$PYTHON" raw.py "$port" ws-echo
check "fragments are joined, a ping between them gets its pong" "$PYTHON" raw.py "$port" ws-fragments
check "16- and 64-bit lengths" "$PYTHON" raw.py "$port" ws-lengths
check "the close handshake" "$PYTHON" raw.py "$port" ws-close
check "protocol errors close with 1002, 1007 or 1009" "$PYTHON" raw.py "$port" ws-errors
check "a wrong version gets 426, a bad key 400" "$PYTHON" raw.py "$port" ws-refused
expect "still serving after all that" 200 "$(get w2 "$url/")"
if stop "$pid"; then ok "wsecho exits 0 on SIGTERM"; else not_ok "wsecho exit status"; fi

# ---- the packages ----

for app in hello notes headers wsecho; do
        bin=$APPS_BUILD_DIR/$app/$app
        if LC_ALL=C readelf -lW "$bin" 2>/dev/null | grep -q 'INTERP'; then
                not_ok "$app is linked statically"
        else
                ok "$app is linked statically"
        fi

        spk=$APPS_BUILD_DIR/$app/$app.spk
        if [ "$APPS_PACKED" != 1 ]; then
                skip "$app.spk: this build has no granary-grain to pack as the bridge, so it makes no .spk"
                continue
        fi
        appid=$(sed -n 's/^ *id = "\([a-z0-9]*\)",$/\1/p' "$APPS_SOURCE_DIR/$app/sandstorm-pkgdef.capnp")
        if out=$("$SPK" verify "$spk" 2>&1); then
                ok "$app.spk verifies"
        else
                not_ok "$app.spk verifies"; diag "$out"
        fi
        echo "$out" | grep -qF "\"appId\": \"$appid\"" && ok "$app.spk is signed by the key of its pkgdef's id" ||
                { not_ok "$app.spk app id"; diag "$out"; }
        "$SPK" listkeys -k "$APPS_SOURCE_DIR/$app/example.keyring" >keys 2>/dev/null
        expect "$app's example.keyring holds exactly that key" "$appid" "$(cat keys)"
        rm -rf "unpacked-$app"
        "$SPK" unpack "$spk" "unpacked-$app" >/dev/null 2>&1
        if [ -x "unpacked-$app/$app" ] && [ -x "unpacked-$app/sandstorm-http-bridge" ] &&
           [ -f "unpacked-$app/sandstorm-http-bridge-config" ] && cmp -s "$bin" "unpacked-$app/$app"; then
                ok "$app.spk holds the app and the bridge its command runs"
        else
                not_ok "$app.spk contents"; diag "$(cd "unpacked-$app" 2>/dev/null && find . | sort)"
        fi
done

done_testing
