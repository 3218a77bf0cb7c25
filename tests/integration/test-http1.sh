#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# HTTP/1.1 on the plain port, as clients that follow the rules use it: curl for the ordinary paths,
# rawhttp.py for exact bytes (HTTP/1.0, pipelining, bodies that nobody reads, connection reuse and close,
# the idle timeout). Routing by Host: the base host, the self-test host, other names under the wildcard,
# and hosts that are not ours.
. "$SOURCE_ROOT/tests/integration/lib.sh"

PORT=$(free_port)
BASE=granary.localhost:$PORT
mkdir shell
cp "$SHELL_DIR/index.html" shell/
printf 'small file\n' >shell/small.txt
write_conf granary.conf "IDLE_TIMEOUT_SEC=2"

gd_start "$TAP_TMP/state" "$PORT" -c "$TAP_TMP/granary.conf" --shell-dir "$TAP_TMP/shell" ||
        bail "granaryd --dev serves HTTP on a free port"
ok "granaryd --dev serves HTTP on a free port"

# ------------------------------------------------------------------------------------------------
# curl: the shell and the API

expect_status "GET / on the base host" 200 "http://$BASE/"
if cmp -s "$TAP_TMP/.body" shell/index.html; then ok "GET / is index.html, byte for byte"; else not_ok "GET / is index.html, byte for byte"; fi
like "GET / is text/html" "$(header Content-Type)" '^text/html'
like "every answer has a Date" "$(header Date)" '^[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$'
is "Content-Length is the file's size" "$(header Content-Length)" "$(stat -c %s shell/index.html)"

expect_status "GET /api/v1/status without a session" 200 "http://$BASE/api/v1/status"
like "the status is JSON" "$(header Content-Type)" '^application/json'
is "the status names the base URL" \
        "$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["baseUrl"])' "$TAP_TMP/.body" 2>&1)" \
        "http://$BASE"

expect_status "the Host name is case-insensitive" 200 -H "Host: GRANARY.LOCALHOST:$PORT" "http://$BASE/small.txt"
expect_status "self-test host" 200 "http://selftest-x.granary.localhost:$PORT/"
is "self-test body" "$(cat "$TAP_TMP/.body")" "Self-test OK."
expect_status "another name under the wildcard is 404" 404 "http://nothing-here.granary.localhost:$PORT/"
expect_status "a name two labels below the wildcard is 421" 421 "http://a.b.granary.localhost:$PORT/"
expect_status "a host that is not ours is 421" 421 -H "Host: example.com" "http://$BASE/"
expect_status "our name with a port we do not serve is 421" 421 -H "Host: granary.localhost:1" "http://$BASE/"
expect_status "an IP address as Host is 421" 421 -H "Host: 127.0.0.1:$PORT" "http://$BASE/"

# curl reuses one connection for both transfers: one connect, then none.
got=$(hc -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' "http://$BASE/" "http://$BASE/small.txt" | tr '\n' ' ')
is "keep-alive: curl reuses the connection" "$got" "200 1 200 0 "

# ------------------------------------------------------------------------------------------------
# Exact bytes

req="GET /small.txt HTTP/1.1\r\nHost: $BASE\r\n\r\n"
expect_raw "one request: 200, the connection stays open" 200 no --port "$PORT" h1 --responses 1 "$req"
is "the body is the file" "$(val body_len)" 11
expect_raw "three pipelined requests in one write are answered in order" 200 no --port "$PORT" h1 --responses 3 \
        "${req}GET /nothing HTTP/1.1\r\nHost: $BASE\r\n\r\n$req"
is "pipelined statuses" "$(val statuses)" "200 404 200"

expect_raw "Connection: close is answered, then the connection closes" 200 yes --port "$PORT" h1 \
        "GET /small.txt HTTP/1.1\r\nHost: $BASE\r\nConnection: close\r\n\r\n"
is "Connection: close is echoed" "$(val h.connection)" close
expect_raw "a request pipelined after Connection: close is not answered" 200 yes --port "$PORT" h1 \
        "GET /small.txt HTTP/1.1\r\nHost: $BASE\r\nConnection: close\r\n\r\n$req"
is "only the first was answered" "$(val statuses)" "200"

expect_raw "HTTP/1.0 without keep-alive: answered, then closed" 200 yes --port "$PORT" h1 --out "$TAP_TMP/out" \
        "GET /small.txt HTTP/1.0\r\nHost: $BASE\r\n\r\n"
is "the answer to HTTP/1.0 says HTTP/1.1" "$(head -c 9 "$TAP_TMP/out")" "HTTP/1.1 "
expect_raw "HTTP/1.0 with Connection: keep-alive stays open" 200 no --port "$PORT" h1 --responses 2 \
        "GET /small.txt HTTP/1.0\r\nHost: $BASE\r\nConnection: keep-alive\r\n\r\nGET /small.txt HTTP/1.0\r\nHost: $BASE\r\nConnection: keep-alive\r\n\r\n"
is "both HTTP/1.0 keep-alive requests answered" "$(val statuses)" "200 200"
expect_raw "HTTP/1.0 without Host reaches no host of ours: 400, closed" 400 yes --port "$PORT" h1 \
        "GET /small.txt HTTP/1.0\r\n\r\n"

expect_raw "absolute-form target with the same Host" 200 no --port "$PORT" h1 --responses 1 \
        "GET http://$BASE/small.txt HTTP/1.1\r\nHost: $BASE\r\n\r\n"
expect_raw "one empty line before a request is allowed" 200 no --port "$PORT" h1 --responses 1 "\r\n$req"
expect_raw "HEAD: the head only" 200 no --port "$PORT" h1 --no-body --responses 1 \
        "HEAD /small.txt HTTP/1.1\r\nHost: $BASE\r\n\r\n"
is "HEAD says the length of the body it does not send" "$(val h.content-length)" 11
is "HEAD sends no body" "$(val leftover)" 0

# Bodies nobody reads are skipped, and the connection goes on with the next request.
expect_raw "POST with a Content-Length body on a static file: 405, then the next request" 405 no --port "$PORT" h1 \
        --responses 2 "POST /small.txt HTTP/1.1\r\nHost: $BASE\r\nContent-Length: 5\r\n\r\nhello$req"
is "405 then 200" "$(val statuses)" "405 200"
is "405 says what is allowed" "$(val h.allow)" "GET, HEAD"
# Skipping is bounded (64 KiB): a chunked body, whose length nobody knows, or a longer one, ends the
# connection instead, and the answer says so.
expect_raw "POST with a chunked body nobody reads: 405, then closed" 405 yes --port "$PORT" h1 \
        "POST /small.txt HTTP/1.1\r\nHost: $BASE\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n$req"
is "405 says Connection: close (chunked)" "$(val h.connection)" close
is "the request after it is not answered" "$(val statuses)" "405"
expect_raw "POST with 100 KiB nobody reads: 405, then closed" 405 yes --port "$PORT" h1 \
        "POST /small.txt HTTP/1.1\r\nHost: $BASE\r\nContent-Length: 102400\r\n\r\n" "@repeat=102400:x" "$req"
is "405 says Connection: close (100 KiB)" "$(val h.connection)" close

# The API reads bodies: a chunked login with a wrong password is a 401, and the connection goes on.
login="{\"name\":\"nobody\",\"password\":\"wrong-password\"}"
expect_raw "chunked POST /api/v1/session is read whole" 401 no --port "$PORT" h1 --responses 2 \
        "POST /api/v1/session HTTP/1.1\r\nHost: $BASE\r\nOrigin: http://$BASE\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n$(printf '%x' ${#login})\r\n$login\r\n0\r\n\r\n$req"
is "401 then 200" "$(val statuses)" "401 200"
expect_status "the same login with curl and Content-Length" 401 -H "Origin: http://$BASE" \
        -H 'Content-Type: application/json' --data-binary "$login" "http://$BASE/api/v1/session"

# ------------------------------------------------------------------------------------------------
# Idle keep-alive connections close after IDLE_TIMEOUT_SEC (2 here).

raw --port "$PORT" --timeout 5 h1 "$req" >/dev/null
if [ "$(val status)" = 200 ] && [ "$(val closed)" = yes ] && within "$(val elapsed)" 1.8 3.5; then
        ok "an idle keep-alive connection is closed after IDLE_TIMEOUT_SEC"
else
        not_ok "an idle keep-alive connection is closed after IDLE_TIMEOUT_SEC"
        diag "$(cat "$TAP_TMP/.raw")"
fi

gd_stop TERM
is "SIGTERM: granaryd exits 0" "$gd_status" 0

done_testing
