#!/bin/sh
. "$SOURCE_ROOT/tests/lib/tap.sh"
skip "not written yet"
done_testing
