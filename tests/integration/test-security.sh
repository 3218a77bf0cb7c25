#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# SECURITY.md, "The front server": one or more cases for every row that applies to a server without grains,
# each asserting the exact status and, where the row says so, that the connection was closed. Three
# servers: A with the defaults (plain port), B with HTTPS (TLS rows), C with small limits and timeouts
# (slowloris, slow body, a client that never reads, connection caps, body size).
#
# Not here, because they need a grain or belong elsewhere: stripping of client-sent identity headers and
# trailers never reaching a grain (no grain to see them; the parser's unit tests and fuzz seeds cover
# the dropping), archive rows (the spk tests), the sandbox rows, cookies and CSRF (test-accounts.sh).
. "$SOURCE_ROOT/tests/integration/lib.sh"

PORT=$(free_port)
BASE=granary.localhost:$PORT
H="Host: $BASE\r\n"

# The shell of server A: things a traversal could reach if it worked.
mkdir -p shell/sub
cp "$SHELL_DIR/index.html" shell/
printf 'inner\n' >shell/sub/inner.txt
printf 'secret\n' >shell/.hidden
printf 'outside\n' >outside.txt
ln -s /etc/passwd shell/passwd
ln -s ../outside.txt shell/outside.txt

write_conf a.conf DRAIN_TIMEOUT_SEC=3 # the defaults otherwise; a shorter wait at the end
gd_start "$TAP_TMP/state-a" "$PORT" -c "$TAP_TMP/a.conf" --shell-dir "$TAP_TMP/shell" || bail "server A (defaults) starts"
ok "server A (defaults) starts"
A_PID=$gd_pid

# ------------------------------------------------------------------------------------------------
# Content-Length and Transfer-Encoding together; malformed Content-Length

queue_h1 "Content-Length and Transfer-Encoding together: 400, closed" 400 yes \
        "POST /api/v1/session HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
queue_h1 "Transfer-Encoding then Content-Length: 400, closed" 400 yes \
        "POST /api/v1/session HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"
for cl in "5\r\nContent-Length: 5" "5\r\nContent-Length: 6" "5, 5" "+5" "-5" "0x5" "5 5" " " "5a" \
        "18446744073709551616" "99999999999999999999999999"; do
        queue_h1 "Content-Length '$cl': 400, closed" 400 yes \
                "POST /api/v1/session HTTP/1.1\r\n${H}Content-Length: $cl\r\n\r\nhello"
done

# ------------------------------------------------------------------------------------------------
# Transfer-Encoding other than exactly "chunked"

for te in gzip identity "gzip, chunked" "chunked, gzip" "chunked, chunked" "chunked," xchunked; do
        queue_h1 "Transfer-Encoding '$te': 501, closed" 501 yes \
                "POST /api/v1/session HTTP/1.1\r\n${H}Transfer-Encoding: $te\r\n\r\n0\r\n\r\n"
done
for te in '"chunked"' "chunked;q=1" "chunked\r\nTransfer-Encoding: chunked"; do
        queue_h1 "Transfer-Encoding '$te': 400, closed" 400 yes \
                "POST /api/v1/session HTTP/1.1\r\n${H}Transfer-Encoding: $te\r\n\r\n0\r\n\r\n"
done
queue_h1 "Transfer-Encoding on HTTP/1.0: 400, closed" 400 yes \
        "POST /api/v1/session HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"

# ------------------------------------------------------------------------------------------------
# Malformed chunked framing (on the API, which reads the body before it answers)

POST="POST /api/v1/session HTTP/1.1\r\n${H}Origin: http://$BASE\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
LOGIN='{"name":"x","password":"y"}' # 0x1b bytes
queue_h1 "chunked: a well-formed body is read (control: 401 for a bad login)" 401 no \
        "${POST}1b\r\n$LOGIN\r\n0\r\n\r\n"
queue_h1 "chunked: size not hex: 400, closed" 400 yes "${POST}zz\r\n{}\r\n0\r\n\r\n"
queue_h1 "chunked: no size: 400, closed" 400 yes "${POST}\r\n{}\r\n0\r\n\r\n"
queue_h1 "chunked: space after the size: 400, closed" 400 yes "${POST}2 \r\n{}\r\n0\r\n\r\n"
queue_h1 "chunked: size with a 0x prefix: 400, closed" 400 yes "${POST}0x2\r\n{}\r\n0\r\n\r\n"
queue_h1 "chunked: 17 hex digits: 400, closed" 400 yes "${POST}00000000000000002\r\n{}\r\n0\r\n\r\n"
queue_h1 "chunked: bare LF after the size: 400, closed" 400 yes "${POST}2\n{}\r\n0\r\n\r\n"
queue_h1 "chunked: data longer than its size: 400, closed" 400 yes "${POST}1\r\n{}\r\n0\r\n\r\n"
queue_h1 "chunked: no CRLF after the data: 400, closed" 400 yes "${POST}2\r\n{}0\r\n\r\n"
queue_h1 "chunked: extensions of 300 bytes: 400, closed" 400 yes "${POST}2;" "@repeat=300:a" "\r\n{}\r\n0\r\n\r\n"
queue_h1 "chunked: a well-formed extension is fine" 401 no "${POST}1b;name=\"value\"\r\n$LOGIN\r\n0\r\n\r\n"
queue_h1 "chunked: a malformed extension: 400, closed" 400 yes "${POST}2;=x\r\n{}\r\n0\r\n\r\n"
queue_h1 "trailer naming Content-Length: 400, closed" 400 yes "${POST}2\r\n{}\r\n0\r\nContent-Length: 5\r\n\r\n"
queue_h1 "trailer naming Transfer-Encoding: 400, closed" 400 yes \
        "${POST}2\r\n{}\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"
queue_h1 "trailer naming Host: 400, closed" 400 yes "${POST}2\r\n{}\r\n0\r\nHost: example.com\r\n\r\n"
queue_h1 "a harmless trailer is dropped, the body read" 401 no "${POST}1b\r\n$LOGIN\r\n0\r\nX-Trailer: yes\r\n\r\n"
queue_h1 "obs-fold in a trailer: 400, closed" 400 yes "${POST}2\r\n{}\r\n0\r\nX-T: a\r\n b\r\n\r\n"

# ------------------------------------------------------------------------------------------------
# obs-fold, whitespace before ':', bare CR/LF, NUL/CTL, bad request lines, Host

queue_h1 "obs-fold: 400, closed" 400 yes "GET / HTTP/1.1\r\n${H}X-A: b\r\n c\r\n\r\n"
queue_h1 "obs-fold with a tab: 400, closed" 400 yes "GET / HTTP/1.1\r\n${H}X-A: b\r\n\tc\r\n\r\n"
queue_h1 "whitespace before ':': 400, closed" 400 yes "GET / HTTP/1.1\r\n${H}X-A : b\r\n\r\n"
queue_h1 "whitespace before ':' in Host: 400, closed" 400 yes "GET / HTTP/1.1\r\nHost : $BASE\r\n\r\n"
queue_h1 "whitespace at the start of the first field: 400, closed" 400 yes "GET / HTTP/1.1\r\n ${H}\r\n"
queue_h1 "bare LF line ends: 400, closed" 400 yes "GET / HTTP/1.1\nHost: $BASE\n\n"
queue_h1 "bare LF in a field value: 400, closed" 400 yes "GET / HTTP/1.1\r\n${H}X-A: a\nb\r\n\r\n"
queue_h1 "bare CR in a field value: 400, closed" 400 yes "GET / HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n"
queue_h1 "bare CR ending the request line: 400, closed" 400 yes "GET / HTTP/1.1\r${H}\r\n"
queue_h1 "NUL in a field value: 400, closed" 400 yes "GET / HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n"
queue_h1 "CTL (0x01) in a field value: 400, closed" 400 yes "GET / HTTP/1.1\r\n${H}X-A: a\x01b\r\n\r\n"
queue_h1 "DEL in a field value: 400, closed" 400 yes "GET / HTTP/1.1\r\n${H}X-A: a\x7fb\r\n\r\n"
queue_h1 "NUL in a field name: 400, closed" 400 yes "GET / HTTP/1.1\r\n${H}X\0A: b\r\n\r\n"
queue_h1 "a field without ':': 400, closed" 400 yes "GET / HTTP/1.1\r\n${H}X-A b\r\n\r\n"
queue_h1 "two spaces in the request line: 400, closed" 400 yes "GET  / HTTP/1.1\r\n$H\r\n"
queue_h1 "a tab in the request line: 400, closed" 400 yes "GET\t/ HTTP/1.1\r\n$H\r\n"
queue_h1 "trailing space after the version: 400, closed" 400 yes "GET / HTTP/1.1 \r\n$H\r\n"
queue_h1 "no version: 400, closed" 400 yes "GET /\r\n$H\r\n"
queue_h1 "lowercase version: 400, closed" 400 yes "GET / http/1.1\r\n$H\r\n"
queue_h1 "version HTTP/1.10: 400, closed" 400 yes "GET / HTTP/1.10\r\n$H\r\n"
queue_h1 "version HTTP/2.0: 505, closed" 505 yes "GET / HTTP/2.0\r\n$H\r\n"
queue_h1 "version HTTP/1.2: 505, closed" 505 yes "GET / HTTP/1.2\r\n$H\r\n"
queue_h1 "unknown method: 501, closed" 501 yes "BREW / HTTP/1.1\r\n$H\r\n"
queue_h1 "CONNECT: 501, closed" 501 yes "CONNECT $BASE HTTP/1.1\r\n$H\r\n"
queue_h1 "a target with a fragment: 400, closed" 400 yes "GET /#x HTTP/1.1\r\n$H\r\n"
queue_h1 "a target with a space-like byte (0x7f): 400, closed" 400 yes "GET /\x7f HTTP/1.1\r\n$H\r\n"
queue_h1 "a target with a UTF-8 byte: 400, closed" 400 yes "GET /\xc3\xa9 HTTP/1.1\r\n$H\r\n"
queue_h1 "asterisk-form on GET: 400, closed" 400 yes "GET * HTTP/1.1\r\n$H\r\n"
queue_h1 "absolute-form with userinfo: 400, closed" 400 yes "GET http://u@$BASE/ HTTP/1.1\r\n$H\r\n"
queue_h1 "no Host on HTTP/1.1: 400, closed" 400 yes "GET / HTTP/1.1\r\n\r\n"
queue_h1 "empty Host on HTTP/1.1: 400, closed" 400 yes "GET / HTTP/1.1\r\nHost:\r\n\r\n"
queue_h1 "two Host fields: 400, closed" 400 yes "GET / HTTP/1.1\r\n${H}${H}\r\n"
queue_h1 "a Host that is no host: 400, closed" 400 yes "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"
queue_h1 "a Host with a path: 400, closed" 400 yes "GET / HTTP/1.1\r\nHost: $BASE/x\r\n\r\n"
queue_h1 "absolute-form disagreeing with Host: 400, closed" 400 yes \
        "GET http://selftest-x.granary.localhost:$PORT/ HTTP/1.1\r\n$H\r\n"

# ------------------------------------------------------------------------------------------------
# Oversized request line, headers, header count (414/431); the defaults: 8192, 65536, 100, 16384

target_for() { # a target making the request line "GET <target> HTTP/1.1" exactly $1 bytes long
        printf '/%*s' $(($1 - 14)) '' | tr ' ' a
}
queue_h1 "a request line of exactly 8192 bytes is read (404: no such file)" 404 no \
        "GET $(target_for 8192) HTTP/1.1\r\n$H\r\n"
queue_h1 "a request line of 8193 bytes: 414, closed" 414 yes "GET $(target_for 8193) HTTP/1.1\r\n$H\r\n"
queue_h1 "a request line of 100 KiB: 414, closed" 414 yes "GET /" "@repeat=102400:a" " HTTP/1.1\r\n$H\r\n"
queue_h1 "100 fields are read" 200 no "GET / HTTP/1.1\r\n$H" "@repeat=99:X-A: b\r\n" "\r\n"
queue_h1 "101 fields: 431, closed" 431 yes "GET / HTTP/1.1\r\n$H" "@repeat=100:X-A: b\r\n" "\r\n"
queue_h1 "a field value of 16384 bytes is read" 200 no "GET / HTTP/1.1\r\n${H}X-A: " "@repeat=16384:v" "\r\n\r\n"
queue_h1 "a field value of 16385 bytes: 431, closed" 431 yes "GET / HTTP/1.1\r\n${H}X-A: " "@repeat=16385:v" "\r\n\r\n"
queue_h1 "65 KiB of fields: 431, closed" 431 yes "GET / HTTP/1.1\r\n$H" \
        "@repeat=5:X-A: $(printf '%*s' 14000 '' | tr ' ' v)\r\n" "\r\n"
queue_h1 "a field name of 70 KiB: 431, closed" 431 yes "GET / HTTP/1.1\r\n${H}X" "@repeat=71680:a" ": b\r\n\r\n"

# ------------------------------------------------------------------------------------------------
# Oversized bodies: 413 before the body is read

queue_flush
raw --port "$PORT" --timeout 3 h1 "POST /api/v1/session HTTP/1.1\r\n${H}Content-Length: 1073741825\r\n\r\n" >/dev/null
expect_raw "Content-Length past MAX_BODY_BYTES (1 GiB): 413, closed" 413 yes
raw --port "$PORT" --timeout 3 h1 "POST /api/v1/session HTTP/1.1\r\n${H}Origin: http://$BASE\r\nContent-Length: 10485760\r\n\r\n" >/dev/null
expect_raw "Content-Length past what the API reads (64 KiB): 413 at once, closed" 413 yes
if within "$(val elapsed)" 0 1; then ok "the 413 came without waiting for the body"; else not_ok "the 413 came without waiting for the body"; diag "$(cat "$TAP_TMP/.raw")"; fi
queue_h1 "a chunk past what the API reads: 413, closed" 413 yes "${POST}11800\r\n" "@repeat=71680:x" "\r\n0\r\n\r\n"
queue_h1 "a chunk size past MAX_BODY_BYTES: 413, closed" 413 yes "${POST}40000001\r\n"

# ------------------------------------------------------------------------------------------------
# Path traversal on the shell's files: decoded once, never outside, 404

queue_h1 "control: /sub/inner.txt is served" 200 no "GET /sub/inner.txt HTTP/1.1\r\n$H\r\n"
for path in "/../index.html" "/%2e%2e/index.html" "/%2E%2E/index.html" "/.%2e/index.html" "/%2e./index.html" \
        "/sub/../index.html" "/sub/%2e%2e/index.html" "/sub%2finner.txt" "/sub%2Finner.txt" "/..%2findex.html" \
        "/%2e%2e%2findex.html" "/sub/..%2f..%2foutside.txt" "/../outside.txt" "/../../../../../etc/passwd" \
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd" "/%252e%252e/index.html" "/%c0%ae%c0%ae/index.html" \
        "/%c0%afindex.html" "/sub%c0%afinner.txt" "/%e0%80%afindex.html" "/index.html%00" "/index.html%00.txt" \
        "/%00" "/..\\\\index.html" "/sub\\\\inner.txt" "/%5c..%5cindex.html" "/sub%5cinner.txt" "/./index.html" \
        "/sub/./inner.txt" "//index.html" "/sub//inner.txt" "/index.html/" "/%2fetc%2fpasswd" "/.hidden" \
        "/%2ehidden" "/passwd" "/outside.txt" "/sub/inner.txt%" "/sub/inner.txt%2" "/%zz" "/%ff"; do
        queue_h1 "traversal '$path': 404" 404 no "GET $path HTTP/1.1\r\n$H\r\n"
done
queue_h1 "traversal in absolute-form: 404" 404 no "GET http://$BASE/%2e%2e/outside.txt HTTP/1.1\r\n$H\r\n"

# ------------------------------------------------------------------------------------------------
# CR/LF never emitted: what the client sent reaches no header raw

queue_flush
expect_h1 "a directory redirect for a name with escapes stays one header" 303 no \
        "GET /sub?%0d%0aSet-Cookie:%20a=b HTTP/1.1\r\n$H\r\n"
is "303 Location" "$(val h.location)" "/sub/"
is "no Set-Cookie from the request" "$(val h.set-cookie)" ""

# ------------------------------------------------------------------------------------------------
# HTTP/2: malformed requests are stream errors; the connection goes on (h2c with prior knowledge)

h2_stream_error() { # DESC FIELDS-JSON: stream 1 reset with PROTOCOL_ERROR, stream 3 answered (queued)
        queue_raw h2err "h2: $1: RST_STREAM PROTOCOL_ERROR, the next stream answered" - - --port "$PORT" --timeout 3 \
                h2 "[\"headers\", 1, \"END_STREAM|END_HEADERS\", $2]" '["get", "/", "'"$BASE"'"]'
}
queue_check_h2err() {
        if [ "$(val s1.rst)" = PROTOCOL_ERROR ] && [ "$(val s1.status)" = none ] && [ "$(val s3.status)" = 200 ] &&
                [ "$(val goaway)" = none ]; then
                ok "$1"
        else
                not_ok "$1"
                diag "rawhttp.py $4"
                diag "$(cat "$TAP_TMP/.raw")"
        fi
}
REQ='[":method", "GET"], [":scheme", "http"], [":authority", "'"$BASE"'"], [":path", "/"]'
raw --port "$PORT" h2 '["get", "/", "'"$BASE"'"]' >/dev/null
is "h2c control: a valid GET is 200" "$(val s1.status)" 200
h2_stream_error "connection: keep-alive" "[$REQ, [\"connection\", \"keep-alive\"]]"
h2_stream_error "keep-alive" "[$REQ, [\"keep-alive\", \"timeout=5\"]]"
h2_stream_error "proxy-connection" "[$REQ, [\"proxy-connection\", \"keep-alive\"]]"
h2_stream_error "transfer-encoding: chunked" "[$REQ, [\"transfer-encoding\", \"chunked\"]]"
h2_stream_error "upgrade: websocket" "[$REQ, [\"upgrade\", \"websocket\"]]"
h2_stream_error "te: gzip" "[$REQ, [\"te\", \"gzip\"]]"
h2_stream_error "an uppercase name" "[$REQ, [\"X-Upper\", \"a\"]]"
h2_stream_error "a name with a space" "[$REQ, [\"x a\", \"a\"]]"
h2_stream_error "a value with CR LF" "[$REQ, [\"x-a\", \"a\\r\\nx-b: c\"]]"
h2_stream_error "a value with NUL" "[$REQ, [\"x-a\", \"a\\u0000b\"]]"
h2_stream_error "no :path" '[[":method", "GET"], [":scheme", "http"], [":authority", "'"$BASE"'"]]'
h2_stream_error "an empty :path" '[[":method", "GET"], [":scheme", "http"], [":authority", "'"$BASE"'"], [":path", ""]]'
h2_stream_error "no :method" '[[":scheme", "http"], [":authority", "'"$BASE"'"], [":path", "/"]]'
h2_stream_error "two :path" "[$REQ, [\":path\", \"/x\"]]"
h2_stream_error "an unknown pseudo-header" "[$REQ, [\":foo\", \"bar\"]]"
h2_stream_error "a response pseudo-header" "[$REQ, [\":status\", \"200\"]]"
h2_stream_error "a pseudo-header after a regular field" \
        '[[":method", "GET"], [":scheme", "http"], ["x-a", "b"], [":authority", "'"$BASE"'"], [":path", "/"]]'
queue_flush
raw --port "$PORT" --timeout 3 h2 \
        '["headers", 1, "END_HEADERS", [[":method", "POST"], [":scheme", "http"], [":authority", "'"$BASE"'"], [":path", "/api/v1/session"], ["origin", "http://'"$BASE"'"], ["content-length", "2"]]]' \
        '["data", 1, "", "{}"]' '["data", 1, "END_STREAM", "{}"]' '["get", "/", "'"$BASE"'"]' >/dev/null
if [ "$(val s1.rst)" = PROTOCOL_ERROR ] && [ "$(val s1.status)" = none ] && [ "$(val s3.status)" = 200 ]; then
        ok "h2: DATA beyond content-length: RST_STREAM PROTOCOL_ERROR, the next stream answered"
else
        not_ok "h2: DATA beyond content-length: RST_STREAM PROTOCOL_ERROR, the next stream answered"
        diag "$(cat "$TAP_TMP/.raw")"
fi
raw --port "$PORT" --timeout 3 h2 \
        '["headers", 1, "END_HEADERS", [[":method", "POST"], [":scheme", "http"], [":authority", "'"$BASE"'"], [":path", "/api/v1/session"], ["origin", "http://'"$BASE"'"], ["content-length", "5"]]]' \
        '["data", 1, "END_STREAM", "{}"]' '["get", "/", "'"$BASE"'"]' >/dev/null
if [ "$(val s1.rst)" = PROTOCOL_ERROR ] && [ "$(val s1.status)" = none ] && [ "$(val s3.status)" = 200 ]; then
        ok "h2: DATA short of content-length: RST_STREAM PROTOCOL_ERROR, the next stream answered"
else
        not_ok "h2: DATA short of content-length: RST_STREAM PROTOCOL_ERROR, the next stream answered"
        diag "$(cat "$TAP_TMP/.raw")"
fi

# Floods and bombs: GOAWAY ENHANCE_YOUR_CALM, then the connection closes.
h2_calm() { # DESC STEP...: GOAWAY ENHANCE_YOUR_CALM and close (queued)
        local desc=$1
        shift
        queue_raw calm "h2: $desc: GOAWAY ENHANCE_YOUR_CALM, closed" - - --port "$PORT" --timeout 5 h2 "$@"
}
queue_check_calm() {
        if [ "$(val goaway)" = ENHANCE_YOUR_CALM ] && [ "$(val closed)" = yes ]; then
                ok "$1"
        else
                not_ok "$1"
                diag "$(grep -v '^s[0-9]*\.' "$TAP_TMP/.raw" | head -20)"
        fi
}
h2_calm "rapid reset (300 streams opened and cancelled)" '["rapid_reset", 300, "'"$BASE"'"]'
queue_flush
raw --port "$PORT" --timeout 3 h2 --responses 1 '["rapid_reset", 20, "'"$BASE"'"]' '["get", "/", "'"$BASE"'"]' >/dev/null
if [ "$(val goaway)" = none ] && [ "$(val s41.status)" = 200 ]; then
        ok "h2: 20 cancelled streams are within the budget"
else
        not_ok "h2: 20 cancelled streams are within the budget"
        diag "$(grep -v '^s[0-9]*\.' "$TAP_TMP/.raw")"
fi
h2_calm "CONTINUATION flood (20 after one HEADERS)" '["continuation_flood", 20, "'"$BASE"'"]'
h2_calm "HPACK bomb (40 references to a 4000-byte field)" '["hpack_bomb", 4000, 40, "'"$BASE"'"]'
h2_calm "SETTINGS with 33 entries" "[\"settings\", [$(for i in $(seq 33); do printf '[4, %d],' $((65535 + i)); done | sed 's/,$//')]]"
h2_calm "PING flood (2000 in one write)" '["ping", 2000]'
h2_calm "SETTINGS flood (2000 in one write)" '["settings_flood", 2000]'
# Flow control errors are connection errors (RFC 9113 §6.9): GOAWAY with the code, then close.
h2_goaway() { # DESC CODE STEP...
        local desc=$1 code=$2
        shift 2
        queue_raw goaway "h2: $desc: GOAWAY $code, closed" "$code" - --port "$PORT" --timeout 3 h2 "$@"
}
queue_check_goaway() {
        if [ "$(val goaway)" = "$2" ] && [ "$(val closed)" = yes ]; then
                ok "$1"
        else
                not_ok "$1"
                diag "rawhttp.py $4"
                diag "$(grep -v '^s[0-9]*\.' "$TAP_TMP/.raw")"
        fi
}
h2_goaway "a connection window past 2^31-1" FLOW_CONTROL_ERROR '["window_update", 0, 2147483647]'
h2_goaway "a WINDOW_UPDATE of 0 for the connection" PROTOCOL_ERROR '["window_update", 0, 0]'
h2_goaway "a frame on stream 2 (even: server-initiated)" PROTOCOL_ERROR \
        '["headers", 2, "END_STREAM|END_HEADERS", [[":method", "GET"], [":scheme", "http"], [":authority", "'"$BASE"'"], [":path", "/"]]]'
h2_goaway "HEADERS without END_HEADERS, then another stream's HEADERS" PROTOCOL_ERROR \
        '["headers", 1, "END_STREAM", [[":method", "GET"], [":scheme", "http"]]]' \
        '["headers", 3, "END_STREAM|END_HEADERS", [[":method", "GET"], [":scheme", "http"], [":authority", "'"$BASE"'"], [":path", "/"]]]'
queue_flush

# ------------------------------------------------------------------------------------------------
# Server B: HTTPS. Host/SNI mismatch, TLS 1.0/1.1, h2 over TLS.

TPORT=$(free_port)
HPORT=$(free_port)
TBASE=granary.localhost:$TPORT
if gd_start "$TAP_TMP/state-b" "$HPORT" --https-port "$TPORT"; then
        ok "server B (HTTPS) starts"
        expect_raw "TLS control: SNI and Host agree: 200" 200 no --port "$TPORT" --tls --sni granary.localhost \
                --timeout 3 h1 --responses 1 "GET / HTTP/1.1\r\nHost: $TBASE\r\n\r\n"
        expect_raw "SNI naming another host of ours than Host: 421" 421 - --port "$TPORT" --tls \
                --sni selftest-x.granary.localhost --timeout 3 h1 --responses 1 "GET / HTTP/1.1\r\nHost: $TBASE\r\n\r\n"
        expect_raw "SNI of a foreign host: 421" 421 - --port "$TPORT" --tls --sni example.com --timeout 3 h1 \
                --responses 1 "GET / HTTP/1.1\r\nHost: $TBASE\r\n\r\n"
        expect_raw "SNI of our host, Host of the self-test host: 421" 421 - --port "$TPORT" --tls \
                --sni granary.localhost --timeout 3 h1 --responses 1 \
                "GET / HTTP/1.1\r\nHost: selftest-x.granary.localhost:$TPORT\r\n\r\n"
        raw --port "$TPORT" --tls --sni selftest-x.granary.localhost --timeout 3 h2 '["get", "/", "'"$TBASE"'"]' >/dev/null
        is "h2: :authority other than SNI: 421" "$(val s1.status)" 421
        raw --port "$TPORT" --tls --sni granary.localhost --timeout 3 h2 \
                '["headers", 1, "END_STREAM|END_HEADERS", [[":method", "GET"], [":scheme", "https"], [":authority", "'"$TBASE"'"], [":path", "/"], ["connection", "close"]]]' \
                '["get", "/", "'"$TBASE"'"]' >/dev/null
        if [ "$(val s1.rst)" = PROTOCOL_ERROR ] && [ "$(val s3.status)" = 200 ] && [ "$(val alpn)" = h2 ]; then
                ok "h2 over TLS: a connection-specific field is a stream error"
        else
                not_ok "h2 over TLS: a connection-specific field is a stream error"
                diag "$(cat "$TAP_TMP/.raw")"
        fi

        # The client must be able to speak TLS 1.0/1.1 at all for the refusal to mean anything: an
        # openssl s_server that allows them is the control.
        CPORT=$(free_port)
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=control -days 1 \
                -keyout control.key -out control.crt >/dev/null 2>&1
        lib_spawn s_server.log openssl s_server -accept "127.0.0.1:$CPORT" -cert control.crt -key control.key \
                -cipher 'DEFAULT:@SECLEVEL=0' -tls1_1 -www -quiet
        s_server_pid=$spawned_pid
        for _ in $(seq 50); do port_open "$CPORT" && break; sleep 0.1; done
        old_tls() { # VERSION-FLAG PORT
                openssl s_client -connect "127.0.0.1:$2" "$1" -cipher 'DEFAULT:@SECLEVEL=0' \
                        -servername granary.localhost </dev/null >tls.out 2>&1
        }
        if old_tls -tls1_1 "$CPORT" && grep -q 'Protocol *: TLSv1.1' tls.out; then
                for v in 1 1_1; do
                        if old_tls "-tls$v" "$TPORT"; then
                                not_ok "TLS ${v/_/.} is refused"
                                diag "$(cat tls.out)"
                        elif grep -q 'alert protocol version\|wrong version number\|unsupported protocol' tls.out; then
                                ok "TLS ${v/_/.} is refused"
                        else
                                not_ok "TLS ${v/_/.} is refused (for the right reason)"
                                diag "$(cat tls.out)"
                        fi
                done
        else
                skip "TLS 1.0 is refused: this openssl cannot speak TLS 1.1 even to itself"
                skip "TLS 1.1 is refused: this openssl cannot speak TLS 1.1 even to itself"
        fi
        kill "$s_server_pid" 2>/dev/null

        # What a client sent reaches the redirect target encoded, never as a line of its own.
        expect_raw "a redirect to HTTPS keeps escaped CR LF escaped" 308 - --port "$HPORT" --timeout 3 h1 --responses 1 \
                "GET /%0d%0aSet-Cookie:%20a=b?q=%0D%0AX:%20y HTTP/1.1\r\nHost: granary.localhost:$HPORT\r\n\r\n"
        is "308 Location" "$(val h.location)" "https://$TBASE/%0d%0aSet-Cookie:%20a=b?q=%0D%0AX:%20y"
        is "no Set-Cookie from the request" "$(val h.set-cookie)" ""
        is "no field X from the request" "$(val h.x)" ""
        gd_stop TERM
else
        not_ok "server B (HTTPS) starts"
fi

# ------------------------------------------------------------------------------------------------
# Server C: small limits. HEADER_TIMEOUT_SEC=2 (slowloris), BODY_TIMEOUT_SEC=2 (slow body),
# WRITE_TIMEOUT_SEC=2 (a client that never reads), 4 connections per address and 6 in all,
# MAX_BODY_BYTES=4096.

CPORT=$(free_port)
CBASE=granary.localhost:$CPORT
mkdir shell-c
head -c $((4 << 20)) /dev/urandom >shell-c/big.bin
printf 'small\n' >shell-c/small.txt
write_conf c.conf HEADER_TIMEOUT_SEC=2 BODY_TIMEOUT_SEC=2 WRITE_TIMEOUT_SEC=2 MAX_CONNECTIONS_PER_ADDRESS=4 \
        MAX_CONNECTIONS=6 MAX_BODY_BYTES=4096
gd_start "$TAP_TMP/state-c" "$CPORT" -c "$TAP_TMP/c.conf" --shell-dir "$TAP_TMP/shell-c" ||
        bail "server C (small limits) starts"
ok "server C (small limits) starts"

# The cases that wait for a deadline run side by side, each from its own address (the cap is 4):
# - slowloris: a head trickled one byte every 0.2 s is cut at the 2 s header deadline, however steady;
# - a connection that sends nothing is cut at the same deadline;
# - slow body: a body that stops is cut BODY_TIMEOUT_SEC after its last byte;
# - a client that never reads: four pipelined requests for 4 MiB, a receive buffer of 4 KiB, nothing read
#   for 5 s. The server gives up after WRITE_TIMEOUT_SEC; the client then finds a truncated answer, and EOF.
# Meanwhile others are served at once.
"$PYTHON" "$RAWHTTP" --port "$CPORT" --timeout 6 h1 --trickle 0.2 \
        "GET / HTTP/1.1\r\nHost: $CBASE\r\nX-Slow: $(printf '%*s' 200 '' | tr ' ' a)" >slowloris.out 2>&1 &
p1=$!
"$PYTHON" "$RAWHTTP" --port "$CPORT" --source 127.0.0.2 --timeout 6 h1 >silent.out 2>&1 &
p2=$!
"$PYTHON" "$RAWHTTP" --port "$CPORT" --source 127.0.0.3 --timeout 6 h1 \
        "POST /api/v1/session HTTP/1.1\r\nHost: $CBASE\r\nOrigin: http://$CBASE\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":" \
        >slowbody.out 2>&1 &
p3=$!
"$PYTHON" "$RAWHTTP" --port "$CPORT" --source 127.0.0.4 --rcvbuf 4096 --timeout 10 h1 --no-read 5 \
        "@repeat=4:GET /big.bin HTTP/1.1\r\nHost: $CBASE\r\n\r\n" >noread.out 2>&1 &
p4=$!
sleep 0.5
t0=$(date +%s.%N)
expect_status "while those wait, others are served" 200 --interface 127.0.0.5 "http://$CBASE/small.txt"
t1=$(date +%s.%N)
if within "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" 0 1; then ok "... at once"; else not_ok "... at once"; fi
wait $p1 $p2 $p3 $p4

timed() { # DESC FILE STATUS-REGEX: closed within 1.8…3.5 s, with no answer (or a 408)
        if [ "$(val closed "$2")" = yes ] && within "$(val elapsed "$2")" 1.8 3.5 && [[ $(val status "$2") =~ ^($3)$ ]]; then
                ok "$1"
        else
                not_ok "$1"
                diag "$(cat "$2")"
        fi
}
timed "slowloris: a trickled head is closed at the header deadline" slowloris.out 'none|408'
timed "a connection that sends nothing is closed at the header deadline" silent.out none
timed "slow body: a stalled body is closed after BODY_TIMEOUT_SEC" slowbody.out 'none|408'
if [ "$(val closed noread.out)" = yes ] && [ "$(val truncated noread.out)" = yes ] &&
        [ "$(val received noread.out)" -lt $((16 << 20)) ]; then
        ok "a client that never reads is dropped after WRITE_TIMEOUT_SEC"
else
        not_ok "a client that never reads is dropped after WRITE_TIMEOUT_SEC"
        diag "$(cat noread.out)"
fi
# A body that never stops but crawls: one byte every 0.3 s keeps the progress deadline happy, but falls
# below MIN_BODY_RATE (1024 bytes/s by default) once BODY_TIMEOUT_SEC (2 s) of grace are over.
crawl=()
for _ in $(seq 20); do crawl+=(@sleep=0.3 a); done
"$PYTHON" "$RAWHTTP" --port "$CPORT" --source 127.0.0.6 --timeout 8 h1 \
        "POST /api/v1/session HTTP/1.1\r\nHost: $CBASE\r\nOrigin: http://$CBASE\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{" \
        "${crawl[@]}" >crawl.out 2>&1
timed "a crawling body is closed once it falls below MIN_BODY_RATE" crawl.out 'none|408'
expect_raw "a body past MAX_BODY_BYTES (4096): 413, closed" 413 yes --port "$CPORT" --timeout 3 h1 \
        "POST /api/v1/session HTTP/1.1\r\nHost: $CBASE\r\nContent-Length: 4097\r\n\r\n"

# Per-address cap (4) and global cap (6).
hold() { # COUNT SOURCE NAME: holds COUNT answered connections from SOURCE until NAME.stop exists
        rm -f "$3.ready" "$3.stop"
        "$PYTHON" "$RAWHTTP" --port "$CPORT" --source "$2" --timeout 5 --host-header "$CBASE" idle --count "$1" \
                --ready-file "$3.ready" --stop-file "$3.stop" >"$3.out" 2>&1 &
        eval "${3}_pid=\$!"
        for _ in $(seq 100); do [ -e "$3.ready" ] && break; sleep 0.1; done
}
release() { # NAME
        touch "$1.stop"
        eval "wait \$${1}_pid"
}
hold 4 127.0.0.1 four
is "four connections from 127.0.0.1 are answered" "$(val answered four.out)" 4
expect_raw "a fifth from the same address is closed at once" none yes --port "$CPORT" --timeout 2 h1 \
        "GET /small.txt HTTP/1.1\r\nHost: $CBASE\r\n\r\n"
if within "$(val elapsed)" 0 0.5; then ok "... without waiting"; else not_ok "... without waiting"; diag "$(cat "$TAP_TMP/.raw")"; fi
expect_raw "another address is still served" 200 - --port "$CPORT" --source 127.0.0.2 --timeout 3 h1 --responses 1 \
        "GET /small.txt HTTP/1.1\r\nHost: $CBASE\r\n\r\n"
hold 2 127.0.0.2 two
is "two more from 127.0.0.2 make six in all" "$(val answered two.out)" 2
raw --port "$CPORT" --source 127.0.0.3 --timeout 1.5 h1 "GET /small.txt HTTP/1.1\r\nHost: $CBASE\r\n\r\n" >/dev/null
expect_raw "past MAX_CONNECTIONS a new connection waits (no answer, not closed)" none no
release two
expect_raw "once connections go, new ones are served again" 200 - --port "$CPORT" --source 127.0.0.3 --timeout 3 \
        h1 --responses 1 "GET /small.txt HTTP/1.1\r\nHost: $CBASE\r\n\r\n"
release four
is "the held connections were not dropped by the others" "$(val still_open four.out)" 4
expect_raw "127.0.0.1 is served again once its connections are gone" 200 - --port "$CPORT" --timeout 3 h1 \
        --responses 1 "GET /small.txt HTTP/1.1\r\nHost: $CBASE\r\n\r\n"

gd_stop TERM
is "server C exits 0 on SIGTERM" "$gd_status" 0
gd_pid=$A_PID
if kill -0 "$A_PID" 2>/dev/null; then ok "server A survived all of it"; else not_ok "server A survived all of it"; fi
gd_stop TERM
is "server A exits 0 on SIGTERM" "$gd_status" 0
no_sanitizer_reports

done_testing
