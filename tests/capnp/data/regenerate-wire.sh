#!/bin/sh
# Regenerates the binary messages that tests/capnp/test-capnp-wire.c reads, with Debian's capnp.
set -eu
cd "$(dirname "$0")"
for c in full numberChoice empty archive signature; do
        capnp eval -obinary wire-test.capnp "$c" > "wire-$c.bin"
done
