#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The shell's static files as a browser gets them: exact bytes, names and their redirects, content types,
# validators (ETag, If-None-Match, If-Modified-Since → 304), ranges (206/416, If-Range), gzip by
# Accept-Encoding with Vary, and the security headers on every answer. The shell is a copy made here, so
# that every byte is known.
. "$SOURCE_ROOT/tests/integration/lib.sh"

PORT=$(free_port)
BASE=http://granary.localhost:$PORT
S=$TAP_TMP/shell
mkdir -p "$S/sub" "$S/empty-dir"
cp "$SHELL_DIR/index.html" "$S/"
printf '<!doctype html><title>Log in</title>\n' >"$S/login.html"
printf '<!doctype html><title>Sub</title>\n' >"$S/sub/index.html"
printf '<!doctype html><title>Page</title>\n' >"$S/sub/page.html"
printf 'with a space\n' >"$S/with space.txt"
printf 'accented\n' >"$S/é.txt"
"$PYTHON" - "$S" <<'EOF'
import random, sys
top = sys.argv[1]
r = random.Random(11)
words = ["granary", "grain", "shell", "static", "file", "gzip", "range", "etag", "the", "a", "of", "\n"]
text = " ".join(r.choice(words) for _ in range(40000)).encode()[:100 * 1024]
open(top + "/big.txt", "wb").write(text)
open(top + "/app.js", "wb").write(b"export function hello() { return 'hello'; }\n" * 40)
open(top + "/style.css", "wb").write(b"body { margin: 0; padding: 0; }\n" * 40)
open(top + "/image.png", "wb").write(b"\x89PNG\r\n\x1a\n" + r.randbytes(4000))
open(top + "/data.json", "wb").write(b'{"a": 1}\n')
open(top + "/font.woff2", "wb").write(r.randbytes(500))
EOF
SIZE=$(stat -c %s "$S/big.txt")

gd_start "$TAP_TMP/state" "$PORT" --shell-dir "$S" || bail "granaryd serves a shell directory"
ok "granaryd serves a shell directory"

# get NAME PATH CURL-ARGS...: the status; the body in NAME.body, the head in NAME.head.
get() {
        local name=$1 path=$2
        shift 2
        hc -o "$name.body" -D "$name.head" -w '%{http_code}' "$@" "$BASE$path"
}
same() { # DESC FILE1 FILE2
        if cmp -s "$2" "$3"; then ok "$1"; else not_ok "$1"; diag "$(cmp "$2" "$3" 2>&1)"; fi
}

# ------------------------------------------------------------------------------------------------
# Names

is "GET /" "$(get root /)" 200
same "/ is index.html" root.body "$S/index.html"
is "GET /index.html" "$(get idx /index.html)" 200
same "/index.html is index.html" idx.body "$S/index.html"
is "GET /login (no extension: login.html)" "$(get login /login)" 200
same "/login is login.html" login.body "$S/login.html"
is "GET /login.html" "$(get login2 /login.html)" 200
is "GET /sub (a directory): 303" "$(get sub /sub)" 303
is "... to /sub/" "$(header Location sub.head)" "/sub/"
is "GET /sub?x=1: 303, the query not carried" "$(get subq '/sub?x=1')" 303
is "GET /sub/" "$(get subi /sub/)" 200
same "/sub/ is sub/index.html" subi.body "$S/sub/index.html"
is "GET /sub/page" "$(get page /sub/page)" 200
same "/sub/page is sub/page.html" page.body "$S/sub/page.html"
is "GET /empty-dir/ (no index.html): 404" "$(get empty /empty-dir/)" 404
is "GET /with%20space.txt" "$(get sp '/with%20space.txt')" 200
same "... is 'with space.txt'" sp.body "$S/with space.txt"
is "GET /%C3%A9.txt (UTF-8 name)" "$(get acc '/%C3%A9.txt')" 200
is "GET /index.html?query=1 (the query is dropped)" "$(get q '/index.html?query=1')" 200
is "GET /nothing: 404" "$(get nf /nothing)" 404
is "GET /INDEX.HTML (names are case-sensitive): 404" "$(get case /INDEX.HTML)" 404
is "POST /: 405" "$(get post / -X POST --data x)" 405
is "... Allow: GET, HEAD" "$(header Allow post.head)" "GET, HEAD"
is "DELETE /index.html: 405" "$(get del /index.html -X DELETE)" 405

# ------------------------------------------------------------------------------------------------
# Types and security headers

type_of() { get t "$1" >/dev/null; header Content-Type t.head; }
like "text/html" "$(type_of /index.html)" '^text/html; charset=utf-8$'
like "JavaScript" "$(type_of /app.js)" '^text/javascript(; charset=utf-8)?$'
like "CSS" "$(type_of /style.css)" '^text/css(; charset=utf-8)?$'
is "PNG" "$(type_of /image.png)" image/png
like "JSON" "$(type_of /data.json)" '^application/json'
is "woff2" "$(type_of /font.woff2)" font/woff2
like "text" "$(type_of /big.txt)" '^text/plain; charset=utf-8$'

for f in root nf post; do
        is "$f: X-Content-Type-Options" "$(header X-Content-Type-Options $f.head)" nosniff
        is "$f: Referrer-Policy" "$(header Referrer-Policy $f.head)" no-referrer
        like "$f: Content-Security-Policy forbids framing" "$(header Content-Security-Policy $f.head)" "frame-ancestors 'none'"
done
is "X-Frame-Options on the shell" "$(header X-Frame-Options root.head)" DENY
like "the shell's CSP allows only itself for scripts" "$(header Content-Security-Policy root.head)" "script-src 'self'"
like "the shell's CSP lets it frame the wildcard hosts" "$(header Content-Security-Policy root.head)" \
        "frame-src http://\\*\\.granary\\.localhost:$PORT"
like "Date on every answer" "$(header Date nf.head)" 'GMT$'
is "no Server header" "$(header Server root.head)" ""

# ------------------------------------------------------------------------------------------------
# Validators

is "GET /big.txt" "$(get big /big.txt)" 200
same "100 KiB arrive intact" big.body "$S/big.txt"
etag=$(header ETag big.head)
lastmod=$(header Last-Modified big.head)
like "an ETag" "$etag" '^(W/)?"[^"]+"$'
like "a Last-Modified" "$lastmod" 'GMT$'
is "If-None-Match with the ETag: 304" "$(get inm /big.txt -H "If-None-Match: $etag")" 304
is "... with no body" "$(wc -c <inm.body 2>/dev/null || echo 0)" 0
is "... and the same ETag" "$(header ETag inm.head)" "$etag"
is "If-None-Match, weak comparison: 304" "$(get inmw /big.txt -H "If-None-Match: W/${etag#W/}")" 304
is "If-None-Match in a list: 304" "$(get inml /big.txt -H "If-None-Match: \"nope\", $etag")" 304
is "If-None-Match: *: 304" "$(get inms /big.txt -H 'If-None-Match: *')" 304
is "If-None-Match another tag: 200" "$(get inmo /big.txt -H 'If-None-Match: "other"')" 200
is "If-Modified-Since Last-Modified: 304" "$(get ims /big.txt -H "If-Modified-Since: $lastmod")" 304
is "If-Modified-Since long ago: 200" "$(get ims2 /big.txt -H 'If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT')" 200
is "If-None-Match wins over If-Modified-Since" \
        "$(get both /big.txt -H 'If-None-Match: "other"' -H "If-Modified-Since: $lastmod")" 200

# ------------------------------------------------------------------------------------------------
# Ranges

is "Range: bytes=0-9: 206" "$(get r1 /big.txt -H 'Range: bytes=0-9')" 206
is "... Content-Range" "$(header Content-Range r1.head)" "bytes 0-9/$SIZE"
same "... the first 10 bytes" r1.body <(head -c 10 "$S/big.txt")
is "Range: bytes=-5: 206" "$(get r2 /big.txt -H 'Range: bytes=-5')" 206
is "... Content-Range" "$(header Content-Range r2.head)" "bytes $((SIZE - 5))-$((SIZE - 1))/$SIZE"
same "... the last 5 bytes" r2.body <(tail -c 5 "$S/big.txt")
is "Range: bytes=100-: 206" "$(get r3 /big.txt -H 'Range: bytes=100-')" 206
same "... from byte 100" r3.body <(tail -c +101 "$S/big.txt")
is "Range past the end: 416" "$(get r4 /big.txt -H "Range: bytes=$SIZE-")" 416
is "... Content-Range: bytes */size" "$(header Content-Range r4.head)" "bytes */$SIZE"
is "Range: bytes=5-1 (malformed) is ignored: 200" "$(get r5 /big.txt -H 'Range: bytes=5-1')" 200
is "Range: items=0-1 is ignored: 200" "$(get r6 /big.txt -H 'Range: items=0-1')" 200
is "several ranges are ignored: 200" "$(get r7 /big.txt -H 'Range: bytes=0-1,5-6')" 200
same "... the whole file" r7.body "$S/big.txt"
is "If-Range with the ETag: 206" "$(get r8 /big.txt -H 'Range: bytes=0-9' -H "If-Range: $etag")" 206
is "If-Range with another ETag: 200" "$(get r9 /big.txt -H 'Range: bytes=0-9' -H 'If-Range: "other"')" 200
is "Accept-Ranges: bytes" "$(header Accept-Ranges big.head)" bytes
is "a range with Accept-Encoding: gzip is from the plain bytes" \
        "$(get r10 /big.txt -H 'Range: bytes=0-9' -H 'Accept-Encoding: gzip') $(header Content-Encoding r10.head)" "206 "

# ------------------------------------------------------------------------------------------------
# gzip

is "Accept-Encoding: gzip: 200" "$(get gz /big.txt -H 'Accept-Encoding: gzip')" 200
is "... Content-Encoding: gzip" "$(header Content-Encoding gz.head)" gzip
is "... Vary: Accept-Encoding" "$(header Vary gz.head)" Accept-Encoding
same "... it gunzips to the file" <(gzip -dc gz.body) "$S/big.txt"
if [ "$(stat -c %s gz.body)" -lt $((SIZE / 2)) ]; then ok "... and is smaller"; else not_ok "... and is smaller"; fi
is "... Content-Length is the compressed size" "$(header Content-Length gz.head)" "$(stat -c %s gz.body)"
etag_gz=$(header ETag gz.head)
if [ "$etag_gz" != "$etag" ]; then ok "the gzip copy has its own ETag"; else not_ok "the gzip copy has its own ETag"; fi
is "If-None-Match with the gzip ETag, asking for gzip: 304" \
        "$(get gz304 /big.txt -H 'Accept-Encoding: gzip' -H "If-None-Match: $etag_gz")" 304
is "without Accept-Encoding: identity" "$(header Content-Encoding big.head)" ""
is "... still Vary: Accept-Encoding" "$(header Vary big.head)" Accept-Encoding
is "gzip;q=0 refuses gzip" "$(get gz0 /big.txt -H 'Accept-Encoding: gzip;q=0') $(header Content-Encoding gz0.head)" "200 "
is "*;q=1 allows gzip" "$(get gz1 /big.txt -H 'Accept-Encoding: *') $(header Content-Encoding gz1.head)" "200 gzip"
is "br alone: identity" "$(get gz2 /big.txt -H 'Accept-Encoding: br') $(header Content-Encoding gz2.head)" "200 "
is "random bytes have no gzip copy" "$(get gzr /image.png -H 'Accept-Encoding: gzip') $(header Content-Encoding gzr.head)" "200 "
same "... and come as they are" gzr.body "$S/image.png"
is "a tiny file has no gzip copy" "$(get gzt /data.json -H 'Accept-Encoding: gzip') $(header Content-Encoding gzt.head)" "200 "
raw --port "$PORT" h1 --no-body --responses 1 \
        "HEAD /big.txt HTTP/1.1\r\nHost: granary.localhost:$PORT\r\nAccept-Encoding: gzip\r\n\r\n" >/dev/null
is "HEAD with gzip: the gzip length, no body" "$(val status) $(val h.content-length) $(val leftover)" \
        "200 $(stat -c %s gz.body) 0"
is "curl --compressed gets the file" "$(get gzc /big.txt --compressed)" 200
same "... intact" gzc.body "$S/big.txt"

# ------------------------------------------------------------------------------------------------
# HTTP/2 serves the same bytes

got=$(hc --http2-prior-knowledge -o h2.body -w '%{http_code} %{http_version}' "$BASE/big.txt")
is "h2c: /big.txt" "$got" "200 2"
same "h2c: 100 KiB intact" h2.body "$S/big.txt"
got=$(hc --http2-prior-knowledge -o h2r.body -w '%{http_code}' -H 'Range: bytes=0-9' "$BASE/big.txt")
is "h2c: a range" "$got" 206
same "h2c: the range's bytes" h2r.body <(head -c 10 "$S/big.txt")

gd_stop TERM
is "SIGTERM: exits 0" "$gd_status" 0
no_sanitizer_reports

done_testing
