#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Signals: SIGHUP reloads the config's limits, the shell's files and the certificate without dropping a
# connection (and keeps the old config when the new one is bad); SIGTERM drains: requests in flight are
# answered (with "Connection: close") and the process exits 0 after them, or after DRAIN_TIMEOUT_SEC
# when they do not finish; idle connections are closed at once.
. "$SOURCE_ROOT/tests/integration/lib.sh"

PORT=$(free_port)
BASE=granary.localhost:$PORT
mkdir shell
cp "$SHELL_DIR/index.html" shell/
printf 'version one\n' >shell/file.txt
write_conf granary.conf DRAIN_TIMEOUT_SEC=2
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

gd_start "$TAP_TMP/state" "$PORT" -c "$TAP_TMP/granary.conf" --shell-dir "$TAP_TMP/shell" || bail "granaryd starts"
ok "granaryd starts"

# ------------------------------------------------------------------------------------------------
# SIGHUP: shell files, with a keep-alive connection open across the reload

req="GET /file.txt HTTP/1.1\r\nHost: $BASE\r\n\r\n"
"$PYTHON" "$RAWHTTP" --port "$PORT" --timeout 5 h1 --responses 2 --out ka.bytes "$req" @sleep=2 "$req" >ka.out 2>&1 &
client=$!
sleep 0.7
printf 'version two!\n' >shell/file.txt
kill -HUP "$gd_pid"
wait "$client"
is "a keep-alive connection open across SIGHUP: both requests answered" "$(val statuses ka.out)" "200 200"
is "... on the same connection, still open" "$(val closed ka.out)" no
is "... the first from the old shell, the second from the new" \
        "$(grep -a -o 'version [a-z!]*' ka.bytes | tr '\n' ' ')" "version one version two! "
grep -q 'Reloaded the configuration\.' "$gd_log" && ok "the log says it reloaded" || { not_ok "the log says it reloaded"; diag "$(cat "$gd_log")"; }
is "a new connection gets the new file" "$(hc "http://$BASE/file.txt")" "version two!"
kill -0 "$gd_pid" 2>/dev/null && ok "SIGHUP did not stop it" || not_ok "SIGHUP did not stop it"

# ------------------------------------------------------------------------------------------------
# SIGHUP: limits

fields="GET / HTTP/1.1\r\nHost: $BASE\r\n"
expect_raw "15 fields are fine with the default MAX_HEADER_COUNT" 200 no --port "$PORT" h1 --responses 1 \
        "$fields" "@repeat=14:X-A: b\r\n" "\r\n"
write_conf granary.conf DRAIN_TIMEOUT_SEC=2 MAX_HEADER_COUNT=10
kill -HUP "$gd_pid"
sleep 0.5
expect_raw "after SIGHUP with MAX_HEADER_COUNT=10: 431" 431 yes --port "$PORT" h1 "$fields" "@repeat=14:X-A: b\r\n" "\r\n"
write_conf granary.conf DRAIN_TIMEOUT_SEC=2 MAX_HEADER_COUNT=ten
kill -HUP "$gd_pid"
sleep 0.5
grep -q 'Failed to reload the configuration, keeping the old one' "$gd_log" && ok "a bad config is refused, and the log says so" ||
        { not_ok "a bad config is refused, and the log says so"; diag "$(cat "$gd_log")"; }
expect_raw "... the old limits stay" 431 yes --port "$PORT" h1 "$fields" "@repeat=14:X-A: b\r\n" "\r\n"
expect_status "... and it still serves" 200 "http://$BASE/file.txt"
write_conf granary.conf DRAIN_TIMEOUT_SEC=2

# ------------------------------------------------------------------------------------------------
# SIGTERM: an upload in flight is answered, then the process exits 0

login='{"name":"nobody","password":"wrong-password"}'
head="POST /api/v1/session HTTP/1.1\r\nHost: $BASE\r\nOrigin: http://$BASE\r\nContent-Type: application/json\r\nContent-Length: ${#login}\r\n\r\n"
"$PYTHON" "$RAWHTTP" --port "$PORT" --timeout 5 h1 "$head${login:0:10}" @sleep=1.5 "${login:10}" >upload.out 2>&1 &
client=$!
sleep 0.5
t0=$(now)
kill -TERM "$gd_pid"
wait "$client"
gd_stop 0 10
is "SIGTERM during a slow upload: the upload is answered" "$(val status upload.out)" 401
is "... with Connection: close" "$(val h.connection upload.out)" close
is "... then closed" "$(val closed upload.out)" yes
is "... and granaryd exits 0" "$gd_status" 0
elapsed=$(since "$t0")
within "$elapsed" 0.8 1.9 && ok "... right after the answer (${elapsed} s after SIGTERM)" ||
        not_ok "... right after the answer (${elapsed} s after SIGTERM, the upload ended 1 s after it)"

# ------------------------------------------------------------------------------------------------
# SIGTERM: an upload that never ends is cut after DRAIN_TIMEOUT_SEC (2); idle connections at once; a
# connection accepted but not yet asked on (a restart under systemd: its request is on the way) is answered

gd_start "$TAP_TMP/state" "$PORT" -c "$TAP_TMP/granary.conf" --shell-dir "$TAP_TMP/shell" || bail "granaryd starts again"
"$PYTHON" "$RAWHTTP" --port "$PORT" --timeout 8 h1 "$head${login:0:10}" >stalled.out 2>&1 &
stalled=$!
"$PYTHON" "$RAWHTTP" --port "$PORT" --timeout 8 h1 "$req" >idle.out 2>&1 &
idle=$!
"$PYTHON" "$RAWHTTP" --port "$PORT" --timeout 8 h1 @sleep=1.2 "$req" >fresh.out 2>&1 &
fresh=$!
sleep 0.7
t0=$(now)
kill -TERM "$gd_pid"
wait "$idle"
idle_closed=$(since "$t0")
wait "$fresh"
wait "$stalled"
gd_stop 0 10
elapsed=$(since "$t0")
is "SIGTERM with an idle keep-alive connection: it is closed" "$(val statuses idle.out) $(val closed idle.out)" "200 yes"
within "$idle_closed" 0 1 && ok "... at once" || not_ok "... at once (after $idle_closed s)"
is "SIGTERM with a connection opened before it and asked on after it: answered" \
        "$(val statuses fresh.out) $(val h.connection fresh.out) $(val closed fresh.out)" "200 close yes"
is "SIGTERM with a stalled upload: exits 0" "$gd_status" 0
within "$elapsed" 1.8 3.5 && ok "... after DRAIN_TIMEOUT_SEC ($elapsed s)" || not_ok "... after DRAIN_TIMEOUT_SEC (took $elapsed s)"
is "... the upload's connection closed" "$(val closed stalled.out)" yes

# SIGINT drains the same way.
gd_start "$TAP_TMP/state" "$PORT" -c "$TAP_TMP/granary.conf" --shell-dir "$TAP_TMP/shell" || bail "granaryd starts a third time"
gd_stop INT 5
is "SIGINT: exits 0" "$gd_status" 0

# ------------------------------------------------------------------------------------------------
# SIGHUP: a new certificate, with a TLS connection open across the reload

HPORT=$(free_port)
TPORT=$(free_port)
TBASE=granary.localhost:$TPORT
TSTATE=$TAP_TMP/state-tls
gd_start "$TSTATE" "$HPORT" --https-port "$TPORT" -c "$TAP_TMP/granary.conf" --shell-dir "$TAP_TMP/shell" ||
        bail "granaryd starts with HTTPS"
fp() { # the SHA-256 fingerprint of the certificate the HTTPS port presents now
        openssl s_client -connect "127.0.0.1:$TPORT" -servername granary.localhost -showcerts </dev/null 2>/dev/null |
                sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p' | openssl x509 -noout -fingerprint -sha256
}
old=$(fp)
is "it presents the certificate it made" "$old" "$(openssl x509 -in "$TSTATE/tls/cert.pem" -noout -fingerprint -sha256)"
treq="GET /file.txt HTTP/1.1\r\nHost: $TBASE\r\n\r\n"
"$PYTHON" "$RAWHTTP" --port "$TPORT" --tls --sni granary.localhost --timeout 5 h1 --responses 2 "$treq" @sleep=2 "$treq" \
        >tls-ka.out 2>&1 &
client=$!
sleep 0.5
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=granary.localhost \
        -addext 'subjectAltName=DNS:granary.localhost,DNS:*.granary.localhost' \
        -keyout "$TSTATE/tls/key.new" -out "$TSTATE/tls/cert.new" >/dev/null 2>&1
mv "$TSTATE/tls/key.new" "$TSTATE/tls/key.pem"
mv "$TSTATE/tls/cert.new" "$TSTATE/tls/cert.pem"
kill -HUP "$gd_pid"
wait "$client"
new=$(openssl x509 -in "$TSTATE/tls/cert.pem" -noout -fingerprint -sha256)
is "after SIGHUP new connections get the new certificate" "$(fp)" "$new"
is "a TLS connection open across the reload goes on" "$(val statuses tls-ka.out) $(val closed tls-ka.out)" "200 200 no"
expect_status "the new certificate verifies" 200 --cacert "$TSTATE/tls/cert.pem" "https://$TBASE/file.txt"
gd_stop TERM
is "SIGTERM: exits 0" "$gd_status" 0
no_sanitizer_reports

done_testing
