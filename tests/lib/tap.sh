# Shell tests speak TAP. Source this file, call `ok`/`not_ok`/`check`/`skip` per case, and `done_testing`
# at the end. Each test runs in a fresh temporary directory that is removed on exit.
set -u

TAP_N=0
TAP_FAILED=0
TAP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/granary-test.XXXXXX")
trap 'rm -rf "$TAP_TMP"' EXIT
cd "$TAP_TMP" || exit 1

ok() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $*"; }
not_ok() { TAP_N=$((TAP_N + 1)); TAP_FAILED=$((TAP_FAILED + 1)); echo "not ok $TAP_N - $*"; }
skip() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - # SKIP $*"; }
diag() { echo "# $*" | sed '2,$s/^/# /'; }

# check "description" command args...: passes when the command exits 0.
check() {
        desc=$1; shift
        if out=$("$@" 2>&1); then ok "$desc"; else not_ok "$desc"; diag "$out"; fi
}

# check_fails "description" "expected stderr substring" command args...: passes when the command exits
# non-zero and prints exactly one line on stderr containing the expected text.
check_fails() {
        desc=$1; want=$2; shift 2
        if "$@" >"$TAP_TMP/.out" 2>"$TAP_TMP/.err"; then
                not_ok "$desc (exited 0)"; diag "$(cat "$TAP_TMP/.err")"; return
        fi
        lines=$(grep -c '' "$TAP_TMP/.err")
        if [ "$lines" -ne 1 ]; then
                not_ok "$desc (stderr has $lines lines)"; diag "$(cat "$TAP_TMP/.err")"; return
        fi
        if ! grep -qF -- "$want" "$TAP_TMP/.err"; then
                not_ok "$desc (stderr lacks '$want')"; diag "$(cat "$TAP_TMP/.err")"; return
        fi
        ok "$desc"
}

# is DESC GOT WANT: GOT equals WANT. Returns 1 when not, for "is … || diag …".
is() {
        if [ "$2" = "$3" ]; then
                ok "$1"
        else
                not_ok "$1"
                diag "got:    '$2'"
                diag "wanted: '$3'"
                return 1
        fi
}

# like DESC GOT REGEX: GOT matches the extended regular expression REGEX (bash only).
like() {
        if [[ $2 =~ $3 ]]; then
                ok "$1"
        else
                not_ok "$1"
                diag "got:    '$2'"
                diag "wanted: /$3/"
                return 1
        fi
}

# wait_for SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds; 1 when it has not within SECONDS.
wait_for() {
        local left=$(($1 * 10))

        shift
        until "$@"; do
                left=$((left - 1))
                [ "$left" -gt 0 ] || return 1
                sleep 0.1
        done
}

done_testing() {
        echo "1..$TAP_N"
        [ "$TAP_FAILED" -eq 0 ]
}
