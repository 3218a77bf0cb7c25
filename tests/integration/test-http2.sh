#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# HTTP/2: h2c with prior knowledge on the plain port and h2 by ALPN over TLS, with curl, nghttp and
# rawhttp.py (many streams on one connection, the SETTINGS we announce, flow control over a body larger
# than the initial window, the stream budget). A cleartext "Upgrade: h2c" is not taken up: the answer
# is HTTP/1.1.
. "$SOURCE_ROOT/tests/integration/lib.sh"

PORT=$(free_port)
TPORT=$(free_port)
BASE=granary.localhost:$PORT
TBASE=granary.localhost:$TPORT
mkdir shell
cp "$SHELL_DIR/index.html" shell/
"$PYTHON" -c 'import random, sys; r = random.Random(7); sys.stdout.buffer.write(r.randbytes(300 * 1024))' >shell/big.bin

# Two servers: one plain (the plain port is primary, so it serves), one with HTTPS (its plain port
# redirects).
gd_start "$TAP_TMP/state" "$PORT" --shell-dir "$TAP_TMP/shell" || bail "granaryd serves h2c"
ok "granaryd serves h2c"
P_PID=$gd_pid
gd_start "$TAP_TMP/state-tls" "$(free_port)" --https-port "$TPORT" --shell-dir "$TAP_TMP/shell" ||
        bail "granaryd serves h2 over TLS"
ok "granaryd serves h2 over TLS"
T_PID=$gd_pid
CA=$TAP_TMP/state-tls/tls/cert.pem

# ------------------------------------------------------------------------------------------------
# curl

got=$(hc --http2-prior-knowledge -o body -w '%{http_code} %{http_version}' "http://$BASE/")
is "curl --http2-prior-knowledge: 200 over HTTP/2" "$got" "200 2"
cmp -s body shell/index.html && ok "h2c: the body is index.html" || not_ok "h2c: the body is index.html"

got=$(hc --http2 --cacert "$CA" -o body -w '%{http_code} %{http_version}' "https://$TBASE/")
is "curl --http2 over TLS: ALPN h2, 200" "$got" "200 2"
cmp -s body shell/index.html && ok "h2: the body is index.html" || not_ok "h2: the body is index.html"

got=$(hc --http1.1 --cacert "$CA" -o /dev/null -w '%{http_code} %{http_version}' "https://$TBASE/")
is "curl --http1.1 over TLS: ALPN http/1.1, 200" "$got" "200 1.1"

got=$(hc --http2-prior-knowledge -o body -w '%{http_code} %{size_download}' "http://$BASE/big.bin")
is "h2c: 300 KiB, past every initial window" "$got" "200 $((300 * 1024))"
cmp -s body shell/big.bin && ok "h2c: 300 KiB arrive intact" || not_ok "h2c: 300 KiB arrive intact"
got=$(hc --http2 --cacert "$CA" -o body -w '%{http_code} %{size_download}' "https://$TBASE/big.bin")
is "h2: 300 KiB over TLS" "$got" "200 $((300 * 1024))"
cmp -s body shell/big.bin && ok "h2: 300 KiB arrive intact" || not_ok "h2: 300 KiB arrive intact"

got=$(hc --http2-prior-knowledge -I -o /dev/null -w '%{http_code}' "http://$BASE/big.bin")
is "h2c: HEAD" "$got" 200
got=$(hc --http2-prior-knowledge -o /dev/null -w '%{http_code}' "http://selftest-x.granary.localhost:$PORT/")
is "h2c: the self-test host" "$got" 200
got=$(hc --http2-prior-knowledge -o /dev/null -w '%{http_code}' "http://nothing.granary.localhost:$PORT/")
is "h2c: another wildcard name is 404" "$got" 404
got=$(hc --http2-prior-knowledge -o /dev/null -w '%{http_code}' -H "Host: example.com" "http://$BASE/")
is "h2c: a foreign :authority is 421" "$got" 421
got=$(hc --http2-prior-knowledge -o body -w '%{http_code} %{content_type}' "http://$BASE/api/v1/status")
is "h2c: /api/v1/status" "$got" "200 application/json"

# Several transfers in one curl share one connection. (Over TLS: curl 7.88 cannot reuse an h2c
# connection with prior knowledge, whatever the server; nghttp and rawhttp.py below do that.)
got=$(hc --http2 --cacert "$CA" -o /dev/null -o /dev/null -o /dev/null -w '%{http_code} %{num_connects} ' \
        "https://$TBASE/" "https://$TBASE/big.bin" "https://$TBASE/nothing")
is "h2: three requests on one connection" "$got" "200 1 200 0 404 0 "

# A request body (the API reads it): a wrong login is 401 over HTTP/2 too.
got=$(hc --http2-prior-knowledge -o /dev/null -w '%{http_code}' -H "Origin: http://$BASE" \
        -H 'Content-Type: application/json' --data-binary '{"name":"nobody","password":"wrong-password"}' \
        "http://$BASE/api/v1/session")
is "h2c: POST with a body" "$got" 401
got=$(hc --http2-prior-knowledge -o /dev/null -w '%{http_code}' -H "Origin: http://$BASE" \
        -H 'Content-Type: application/json' --data-binary "@shell/big.bin" "http://$BASE/api/v1/session")
is "h2c: a body past what the API reads is 413" "$got" 413

# ------------------------------------------------------------------------------------------------
# No cleartext upgrade

got=$(hc --http2 -o /dev/null -w '%{http_code} %{http_version}' "http://$BASE/")
is "curl --http2 on the plain port (Upgrade: h2c) gets HTTP/1.1" "$got" "200 1.1"
expect_raw "Upgrade: h2c is answered as HTTP/1.1, not 101" 200 no --port "$PORT" h1 --responses 1 --out up.out \
        "GET / HTTP/1.1\r\nHost: $BASE\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
is "the answer is HTTP/1.1" "$(head -c 9 up.out)" "HTTP/1.1 "
is "... with no Upgrade field" "$(val h.upgrade)" ""

# ------------------------------------------------------------------------------------------------
# nghttp

if command -v nghttp >/dev/null; then
        nghttp -nv -H ":authority: $BASE" "http://127.0.0.1:$PORT/" >nghttp.out 2>&1
        if grep -q ':status: 200' nghttp.out; then ok "nghttp (h2c): 200"; else not_ok "nghttp (h2c): 200"; diag "$(cat nghttp.out)"; fi
        # an address as the host: nghttp sends no SNI, so there is nothing for :authority to disagree with
        nghttp -nv -H ":authority: $TBASE" "https://127.0.0.1:$TPORT/" >nghttp.out 2>&1
        if grep -q ':status: 200' nghttp.out && grep -q 'The negotiated protocol: h2' nghttp.out; then
                ok "nghttp (h2 over TLS): 200"
        else
                not_ok "nghttp (h2 over TLS): 200"
                diag "$(cat nghttp.out)"
        fi
        nghttp -n -m 20 -H ":authority: $BASE" -w 16 "http://127.0.0.1:$PORT/big.bin" >nghttp.out 2>&1
        is "nghttp: 20 × 300 KiB with a 64 KiB window ends well" "$?" 0
else
        skip "nghttp is not installed"
        skip "nghttp is not installed"
        skip "nghttp is not installed"
fi

# ------------------------------------------------------------------------------------------------
# rawhttp.py: exact frames

raw --port "$PORT" h2 '["get", "/", "'"$BASE"'"]' >/dev/null
is "our SETTINGS: MAX_CONCURRENT_STREAMS 100" "$(val settings.3)" 100
is "our SETTINGS: INITIAL_WINDOW_SIZE 65535" "$(val settings.4)" 65535
is "GET / on stream 1" "$(val s1.status)" 200
is "the DATA is the file" "$(val s1.data_len)" "$(stat -c %s shell/index.html)"
is "the connection stays open" "$(val closed)" no

raw --port "$PORT" h2 '["gets", 10, "/", "'"$BASE"'"]' >/dev/null
got=$(for i in $(seq 1 2 19); do val "s$i.status"; printf ' '; done)
is "ten streams at once, all answered" "$got" "200 200 200 200 200 200 200 200 200 200 "

# 101 streams opened in one write once SETTINGS are acknowledged: a client that ignores the limit it
# acknowledged is treated as broken — GOAWAY PROTOCOL_ERROR and close (nghttp2's choice; RFC 9113 §5.1.2
# allows a stream error, §5.4.1 ending the connection), and nothing it opened in that burst is handed on.
raw --port "$PORT" --timeout 5 h2 '["sleep", 0.3]' '["gets", 101, "/", "'"$BASE"'"]' >/dev/null
is "101 concurrent streams: GOAWAY PROTOCOL_ERROR" "$(val goaway)" PROTOCOL_ERROR
is "... and the connection is closed" "$(val closed)" yes
# one stream under the limit is fine: 100 at once are all answered
raw --port "$PORT" --timeout 5 h2 '["sleep", 0.3]' '["gets", 100, "/", "'"$BASE"'"]' >/dev/null
is "100 concurrent streams: all answered" "$(grep -c '^s[0-9]*\.status=200$' "$TAP_TMP/.raw")" 100

raw --port "$PORT" h2 '["get", "/api/v1/status", "'"$BASE"'"]' '["get", "/nothing", "'"$BASE"'"]' \
        '["get", "/", "selftest-x.granary.localhost:'"$PORT"'"]' '["get", "/", "example.com"]' >/dev/null
is "routing by :authority" "$(val s1.status) $(val s3.status) $(val s5.status) $(val s7.status)" "200 404 200 421"

raw --port "$TPORT" --tls --sni granary.localhost h2 '["get", "/", "'"$TBASE"'"]' >/dev/null
is "h2 over TLS by ALPN" "$(val alpn) $(val s1.status)" "h2 200"
raw --port "$TPORT" --tls --alpn http/1.1,h2 --sni granary.localhost h2 '["get", "/", "'"$TBASE"'"]' >/dev/null
is "ALPN prefers h2 whatever the client's order" "$(val alpn) $(val s1.status)" "h2 200"

# GOAWAY when the server stops (SIGTERM): the open connection is told, then closed.
gd_pid=$P_PID
"$PYTHON" "$RAWHTTP" --port "$PORT" --timeout 5 h2 '["get", "/", "'"$BASE"'"]' '["sleep", 3]' >goaway.out 2>&1 &
client=$!
sleep 1
gd_stop TERM
wait "$client"
is "SIGTERM: granaryd exits 0" "$gd_status" 0
is "SIGTERM: an idle h2 connection gets GOAWAY NO_ERROR" "$(val goaway goaway.out) $(val closed goaway.out)" "NO_ERROR yes"

gd_pid=$T_PID
gd_stop TERM
is "the TLS server exits 0 too" "$gd_status" 0
no_sanitizer_reports

done_testing
