#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# One libFuzzer target for a while, as a test (suite libfuzzer, in builds with -Dfuzz=true): it starts from
# a copy of the committed corpus (which stays as it is) and fails on the first crash, sanitizer report,
# leak or timeout, keeping the input that caused it next to the build's test logs.
#
# usage: run-libfuzzer.sh FUZZER CORPUS_DIR
# FUZZ_SECONDS: how long (default 15).
fuzzer=$(realpath "$1") corpus=$(realpath "$2")
. "$SOURCE_ROOT/tests/lib/tap.sh"

name=$(basename "$fuzzer")
seconds=${FUZZ_SECONDS:-15}
keep=$BUILD_ROOT/meson-logs/$name-crashes

mkdir -p "$TAP_TMP/corpus" "$TAP_TMP/artifacts"
cp -r "$corpus/." "$TAP_TMP/corpus/"
rc=0
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$TAP_TMP/artifacts/" "$TAP_TMP/corpus" >"$TAP_TMP/log" 2>&1 || rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$TAP_TMP/log" | tail -n 1)
if [ "$rc" -eq 0 ] && [ -n "$runs" ] && [ "$runs" -gt 0 ]; then
        ok "$name: $runs inputs in ${seconds} s, no crash, leak or timeout"
else
        not_ok "$name: exit status $rc after ${runs:-no} inputs"
        diag "$( (grep -E 'ERROR|SUMMARY|Test unit written|==[0-9]+==' "$TAP_TMP/log" || tail -n 5 "$TAP_TMP/log") |
                head -n 20)"
        if [ -n "$(ls -A "$TAP_TMP/artifacts")" ]; then
                mkdir -p "$keep"
                cp "$TAP_TMP/artifacts/"* "$keep/"
                diag "the input that failed is kept in $keep"
        fi
fi
done_testing
