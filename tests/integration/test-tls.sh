#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# granaryd --dev with --https-port: the self-signed certificate made on first start (and kept after), HTTPS
# as the primary port with the plain port redirecting to it, TLS 1.2+ with AEAD suites only, no
# renegotiation, ALPN, SNI against Host, and the handshake deadline. (TLS 1.0/1.1 refusal is in
# test-security.sh.)
. "$SOURCE_ROOT/tests/integration/lib.sh"

HPORT=$(free_port)
TPORT=$(free_port)
TBASE=granary.localhost:$TPORT
STATE=$TAP_TMP/state
CA=$STATE/tls/cert.pem
write_conf granary.conf HEADER_TIMEOUT_SEC=2

gd_start "$STATE" "$HPORT" --https-port "$TPORT" -c "$TAP_TMP/granary.conf" || bail "granaryd --https-port starts"
ok "granaryd --https-port starts"

# ------------------------------------------------------------------------------------------------
# The certificate

grep -q "Made a self-signed certificate for 'granary.localhost' and '\*.granary.localhost'" "$gd_log" &&
        ok "the first start says it made a certificate" || { not_ok "the first start says it made a certificate"; diag "$(cat "$gd_log")"; }
is "cert.pem is 0644" "$(stat -c %a "$STATE/tls/cert.pem" 2>&1)" 644
is "key.pem is 0600" "$(stat -c %a "$STATE/tls/key.pem" 2>&1)" 600
is "the certificate names the base host and the wildcard" \
        "$(openssl x509 -in "$CA" -noout -ext subjectAltName 2>&1 | sed -n 2p | tr -d ' ')" \
        "DNS:granary.localhost,DNS:*.granary.localhost"
openssl x509 -in "$CA" -noout -text >cert.txt 2>&1
grep -q 'ASN1 OID: prime256v1' cert.txt && ok "the key is ECDSA P-256" || { not_ok "the key is ECDSA P-256"; diag "$(cat cert.txt)"; }
grep -q 'TLS Web Server Authentication' cert.txt && ok "the certificate is for serverAuth" || not_ok "the certificate is for serverAuth"
fingerprint=$(openssl x509 -in "$CA" -noout -fingerprint -sha256)

# ------------------------------------------------------------------------------------------------
# HTTPS is primary

expect_status "https://granary.localhost: 200, the certificate verifies" 200 --cacert "$CA" "https://$TBASE/"
expect_status "the wildcard name verifies too (self-test host)" 200 --cacert "$CA" \
        "https://selftest-x.granary.localhost:$TPORT/"
is "self-test body" "$(cat "$TAP_TMP/.body")" "Self-test OK."
expect_status "/api/v1/status over HTTPS" 200 --cacert "$CA" "https://$TBASE/api/v1/status"
is "the base URL is https" \
        "$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["baseUrl"])' "$TAP_TMP/.body" 2>&1)" \
        "https://$TBASE"
grep -q "https://$TBASE/setup?token=" "$gd_log" && ok "the setup link is https" || not_ok "the setup link is https"

expect_status "the plain port redirects the base host: 308" 308 "http://granary.localhost:$HPORT/a/b?c=d&e"
is "... to the same path on the HTTPS port" "$(header Location)" "https://$TBASE/a/b?c=d&e"
expect_status "... a wildcard name too" 308 "http://selftest-x.granary.localhost:$HPORT/"
is "... to its own name" "$(header Location)" "https://selftest-x.granary.localhost:$TPORT/"
expect_status "... and the API" 308 -X POST "http://granary.localhost:$HPORT/api/v1/session"
is "... to the API on HTTPS" "$(header Location)" "https://$TBASE/api/v1/session"
expect_status "a foreign host on the plain port: 421, no redirect" 421 -H "Host: example.com" "http://granary.localhost:$HPORT/"
expect_status "curl -L ends on HTTPS" 200 -L --cacert "$CA" "http://granary.localhost:$HPORT/"

# ------------------------------------------------------------------------------------------------
# Protocol rules

sclient() { # ARGS...: openssl s_client to the HTTPS port with SNI granary.localhost; output in tls.out
        openssl s_client -connect "127.0.0.1:$TPORT" -servername granary.localhost "$@" </dev/null >tls.out 2>&1
}
sclient -tls1_2
like "TLS 1.2 works, with ECDHE-ECDSA and an AEAD" "$(grep -m1 'Cipher is' tls.out)" \
        'TLSv1\.2, Cipher is ECDHE-ECDSA-(AES128-GCM-SHA256|AES256-GCM-SHA384|CHACHA20-POLY1305)$'
sclient -tls1_3
like "TLS 1.3 works" "$(grep -m1 'Cipher is' tls.out)" 'TLSv1\.3, Cipher is TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)$'
for c in ECDHE-ECDSA-AES128-SHA ECDHE-ECDSA-AES256-SHA384 ECDHE-ECDSA-AES128-SHA256; do
        if sclient -tls1_2 -cipher "$c"; then
                not_ok "TLS 1.2 with the CBC suite $c is refused"
                diag "$(cat tls.out)"
        else
                grep -q 'alert handshake failure' tls.out && ok "TLS 1.2 with the CBC suite $c is refused" ||
                        { not_ok "TLS 1.2 with the CBC suite $c is refused (with a handshake failure alert)"; diag "$(cat tls.out)"; }
        fi
done
(sleep 0.5; printf 'R\n'; sleep 1) | timeout 10 openssl s_client -connect "127.0.0.1:$TPORT" -servername granary.localhost \
        -tls1_2 >tls.out 2>&1
grep -q 'no renegotiation' tls.out && ok "TLS 1.2 renegotiation is refused" || { not_ok "TLS 1.2 renegotiation is refused"; diag "$(tail -5 tls.out)"; }

# (ALPN is read from rawhttp.py: openssl s_client may quit before it prints the session when the server
# speaks first, as an h2 server does with its SETTINGS.)
raw --port "$TPORT" --tls --sni granary.localhost --alpn h2,http/1.1 h2 '["get", "/", "'"$TBASE"'"]' >/dev/null
is "ALPN: h2 when offered" "$(val alpn) $(val s1.status)" "h2 200"
expect_raw "ALPN: http/1.1 when only that is offered" 200 no --port "$TPORT" --tls --sni granary.localhost \
        --alpn http/1.1 h1 --responses 1 "GET / HTTP/1.1\r\nHost: $TBASE\r\n\r\n"
is "... it is chosen" "$(val alpn)" http/1.1
sclient -alpn foo
is "ALPN: nothing chosen from an unknown list" "$(grep -m1 -i -a 'ALPN' tls.out)" "No ALPN negotiated" || diag "$(cat -v tls.out)"
expect_raw "an unknown ALPN list speaks HTTP/1.1" 200 no --port "$TPORT" --tls --sni granary.localhost --alpn foo \
        h1 --responses 1 "GET / HTTP/1.1\r\nHost: $TBASE\r\n\r\n"
is "... with no ALPN" "$(val alpn)" none
expect_raw "no ALPN and no SNI: HTTP/1.1, 200" 200 no --port "$TPORT" --tls h1 --responses 1 \
        "GET / HTTP/1.1\r\nHost: $TBASE\r\n\r\n"
expect_raw "SNI in another case than Host: 200" 200 no --port "$TPORT" --tls --sni GRANARY.localhost h1 --responses 1 \
        "GET / HTTP/1.1\r\nHost: $TBASE\r\n\r\n"
expect_status "SNI of the base host, Host of the self-test host: 421" 421 --cacert "$CA" \
        -H "Host: selftest-x.granary.localhost:$TPORT" "https://$TBASE/"
expect_raw "TLS 1.2 by rawhttp.py, HTTP/1.1 by ALPN" 200 no --port "$TPORT" --tls --tls-max 1.2 --sni granary.localhost \
        --alpn http/1.1 h1 --responses 1 "GET / HTTP/1.1\r\nHost: $TBASE\r\n\r\n"

# Plain HTTP on the TLS port is no handshake: no HTTP answer, the connection closed.
expect_raw "plain HTTP on the HTTPS port: no answer, closed" none yes --port "$TPORT" --timeout 3 h1 \
        "GET / HTTP/1.1\r\nHost: $TBASE\r\n\r\n"
# A handshake that never starts is cut at HEADER_TIMEOUT_SEC (2).
raw --port "$TPORT" --timeout 6 h1 >/dev/null
if [ "$(val closed)" = yes ] && within "$(val elapsed)" 1.8 3.5; then
        ok "a TLS connection that sends nothing is closed at the header deadline"
else
        not_ok "a TLS connection that sends nothing is closed at the header deadline"
        diag "$(cat "$TAP_TMP/.raw")"
fi
raw --port "$TPORT" --timeout 6 h1 --trickle 0.3 "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" >/dev/null
if [ "$(val closed)" = yes ] && within "$(val elapsed)" 1.8 3.5; then
        ok "a ClientHello trickled byte by byte is cut at the header deadline"
else
        not_ok "a ClientHello trickled byte by byte is cut at the header deadline"
        diag "$(cat "$TAP_TMP/.raw")"
fi

# ------------------------------------------------------------------------------------------------
# A second start keeps the certificate

gd_stop TERM
is "SIGTERM: exits 0" "$gd_status" 0
gd_start "$STATE" "$HPORT" --https-port "$TPORT" -c "$TAP_TMP/granary.conf" || bail "granaryd starts again"
is "the second start keeps the certificate" "$(openssl x509 -in "$CA" -noout -fingerprint -sha256)" "$fingerprint"
grep -q "Made a self-signed certificate" "$gd_log" && not_ok "... and does not say it made one" || ok "... and does not say it made one"
sclient -tls1_3 -showcerts
is "... and serves it" "$(sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p' tls.out | openssl x509 -noout -fingerprint -sha256)" \
        "$fingerprint"
gd_stop TERM
is "SIGTERM: exits 0 again" "$gd_status" 0
no_sanitizer_reports

done_testing
