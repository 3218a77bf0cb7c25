#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Runs a browser test of the web shell: the script named by $1, test-shell.mjs by default (see
# lib.mjs for what they share). First installs playwright-core as
# package-lock.json pins it, with `npm ci`, when node_modules is missing or older than the lockfile.
# npm's output is shown as TAP diagnostics only when it fails; the test then says SKIP with the
# reason. Expects GRANARYD, GRANARY and SHELL_DIR in the environment, as meson.build sets them.
set -u
cd "$(dirname "$0")" || exit 1

if ! command -v node >/dev/null 2>&1; then
        echo '1..0 # SKIP node not found (apt-get install nodejs npm)'
        exit 0
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
        if ! command -v npm >/dev/null 2>&1; then
                echo '# npm not found (apt-get install npm): playwright-core cannot be installed'
        else
                log=$(mktemp "${TMPDIR:-/tmp}/granary-npm.XXXXXX") || exit 1
                if ! npm ci --prefer-offline --no-audit --no-fund >"$log" 2>&1; then
                        echo '# npm ci failed:'
                        sed 's/^/# /' "$log"
                fi
                rm -f "$log"
        fi
fi

script=${1:-test-shell.mjs}
case $script in
*/* | '') echo "Bail out! $script: a script beside test-shell.sh, by its name"; exit 1 ;;
esac
exec node "$script"
