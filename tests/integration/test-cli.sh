#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The granary CLI against a real granaryd --dev on a loopback port: what an admin types, and what they see.
# Every success prints exactly what is checked here on stdout and nothing on stderr; every failure exits
# 1 with nothing on stdout and exactly one line "granary: …" on stderr. Passwords set by the CLI are
# checked by logging in over HTTP with them.
. "$SOURCE_ROOT/tests/integration/lib.sh"

unset GRANARY_CONTROL_SOCKET
state=$TAP_TMP/state
sock=$state/control.sock
port=$(free_port)
base=http://granary.localhost:$port
version=$("$GRANARY" --version | sed 's/^granary //')

gd_start "$state" "$port" || bail "granaryd --dev comes up with its control socket"
ok "granaryd --dev comes up with its control socket"

# g ARGS...: the CLI, pointed at this granaryd.
g() {
        "$GRANARY" --dev "$state" "$@"
}

# web METHOD PATH [JSON]: an API call over HTTP as a browser on the base host makes it; prints the status.
web() {
        local args=(-o "$TAP_TMP/.web" -w '%{http_code}' -X "$1" -H "Origin: $base")
        [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
        hc "${args[@]}" "$base/api/v1$2"
}

# login NAME PASSWORD: the status of POST /api/v1/session.
login() {
        web POST /session "$(python3 -c 'import json, sys; print(json.dumps({"name": sys.argv[1], "password": sys.argv[2]}))' "$1" "$2")"
}

# check_status DESC WANT GOT
check_status() {
        if [ "$3" = "$2" ]; then ok "$1"; else not_ok "$1 (HTTP $3, wanted $2)"; diag "$(cat "$TAP_TMP/.web" 2>/dev/null)"; fi
}

# ------------------------------------------------------------------------------------------------
# First start, status and the setup link

if grep -q "$base/setup?token=" "$gd_log"; then
        ok "the first start logs the setup link"
else
        not_ok "the first start logs the setup link"
        diag "$(cat "$gd_log")"
fi

# status: `granary status` with the uptime, which changes, shown as X.
status() {
        local out
        out=$(g status) || return
        printf '%s\n' "$out" | sed -E 's/^(Uptime: +)[0-9]+(s|min|h|d)( [0-9]+(s|min|h))?$/\1X/'
}
expect_ok "status before setup" "Version:       $version
Base URL:      $base
Wildcard host: *.granary.localhost:$port
Setup needed:  yes (run 'granary admin-token' for the setup link)
Users:         0
Uptime:        X" status

g admin-token >"$TAP_TMP/url" 2>"$TAP_TMP/.err"
url=$(cat "$TAP_TMP/url")
if [[ $url =~ ^$base/setup\?token=([A-Za-z0-9_-]{20,})$ ]] && [ ! -s "$TAP_TMP/.err" ]; then
        ok "admin-token prints the setup link"
        old_token=${BASH_REMATCH[1]}
else
        not_ok "admin-token prints the setup link"
        diag "$url $(cat "$TAP_TMP/.err")"
        old_token=none
fi

token=$(g admin-token -q 2>"$TAP_TMP/.err")
if [[ $token =~ ^[A-Za-z0-9_-]{20,}$ ]] && [ "$token" != "$old_token" ] && [ ! -s "$TAP_TMP/.err" ]; then
        ok "admin-token -q prints only a new token"
else
        not_ok "admin-token -q prints only a new token"
        diag "$token $(cat "$TAP_TMP/.err")"
fi

check_status "a new token replaces the old link" 403 \
        "$(web POST /setup "{\"token\":\"$old_token\",\"name\":\"admin\",\"password\":\"admin-password-1\"}")"
check_status "the new token sets the server up" 201 \
        "$(web POST /setup "{\"token\":\"$token\",\"name\":\"admin\",\"password\":\"admin-password-1\",\"displayName\":\"The Admin\"}")"

expect_ok "status after setup" "Version:       $version
Base URL:      $base
Wildcard host: *.granary.localhost:$port
Setup needed:  no
Users:         1
Uptime:        X" status
# setup_line COMMAND...: the "Setup needed" line of what COMMAND (a granary status) prints.
setup_line() {
        "$@" | grep '^Setup needed:'
}
expect_ok "GRANARY_CONTROL_SOCKET names the socket" "Setup needed:  no" \
        setup_line env GRANARY_CONTROL_SOCKET="$sock" "$GRANARY" status
expect_ok "--socket names the socket, before the environment" "Setup needed:  no" \
        setup_line env GRANARY_CONTROL_SOCKET="$TAP_TMP/nothing.sock" "$GRANARY" --socket "$sock" status
expect_ok "--dev names the socket, before the environment" "Setup needed:  no" \
        setup_line env GRANARY_CONTROL_SOCKET="$TAP_TMP/nothing.sock" "$GRANARY" --dev "$state" status
expect_ok "options may follow the command" "Setup needed:  no" setup_line "$GRANARY" status --dev "$state"

# ------------------------------------------------------------------------------------------------
# Users

expect_ok "user add with a password on stdin" "Added user 'alice'." \
        g user add alice --password-stdin <<<"alice-password-1"
check_status "alice logs in with that password (the line end is not part of it)" 201 \
        "$(login alice alice-password-1)"
expect_ok "user add --admin --display-name" "Added admin 'bob'." \
        g user add bob --admin --display-name "Bob Builder" --password-stdin < <(printf 'bob-password-1\r\n')
check_status "a password line ending in CR LF" 201 "$(login bob bob-password-1)"
expect_ok "user add --no-password" "Added user 'carol' without a password." g user add carol --no-password

# LAST-LOGIN is local time; alice has logged in, admin may have (setup starts a session).
g user list >"$TAP_TMP/list" 2>"$TAP_TMP/.err"
got=$(sed -E -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}$/DATE/' -e 's/^(admin .*)never$/\1DATE/' \
        "$TAP_TMP/list")
want="NAME   DISPLAY-NAME  ADMIN  TOTP  LAST-LOGIN
admin  The Admin     yes    no    DATE
alice  alice         no     no    DATE
bob    Bob Builder   yes    no    DATE
carol  carol         no     no    never"
if [ "$got" = "$want" ] && [ ! -s "$TAP_TMP/.err" ]; then
        ok "user list prints a table"
else
        not_ok "user list prints a table"
        diag "$(cat "$TAP_TMP/list" "$TAP_TMP/.err")"
fi

# users_json PYTHON-EXPRESSION: evaluates the expression over `users`, the parsed `user list --json`.
users_json() {
        g user list --json | python3 -c 'import json, sys; users = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}
expect_ok "user list --json prints the users as a JSON array" \
        "[('admin', True), ('alice', False), ('bob', True), ('carol', False)]" \
        users_json '[(u["name"], u["admin"]) for u in users]'
expect_ok "user list --json keeps display names and times" "Bob Builder True True" \
        users_json '" ".join([[u["displayName"] for u in users if u["name"] == "bob"][0],
                              str(all(isinstance(u["created"], int) for u in users)),
                              str([u["lastLogin"] for u in users if u["name"] == "carol"] == [None])])'

expect_ok "user admin NAME yes" "'alice' is now an admin." g user admin alice yes
expect_ok "alice is an admin" "True" users_json '[u["admin"] for u in users if u["name"] == "alice"][0]'
expect_ok "user admin NAME no" "'alice' is no longer an admin." g user admin alice no
expect_ok "alice is no admin" "False" users_json '[u["admin"] for u in users if u["name"] == "alice"][0]'

expect_ok "user passwd with a password on stdin" "Changed the password of 'alice'." \
        g user passwd alice --password-stdin <<<"alice-password-2"
check_status "the old password no longer works" 401 "$(login alice alice-password-1)"
check_status "the new one does" 201 "$(login alice alice-password-2)"
expect_ok "user passwd gives a password to an account without one" "Changed the password of 'carol'." \
        g user passwd carol --password-stdin <<<"carol-password-1"
check_status "carol logs in" 201 "$(login carol carol-password-1)"

expect_ok "user delete" "Deleted user 'carol'." g user delete carol
expect_ok "carol is gone" "['admin', 'alice', 'bob']" users_json '[u["name"] for u in users]'

# ------------------------------------------------------------------------------------------------
# Passwords on the terminal: asked twice, never echoed

cat >"$TAP_TMP/terminal.py" <<'EOF'
# terminal.py ANSWER1 ANSWER2 COMMAND...: runs COMMAND on a new terminal, types each answer after a prompt that
# ends in ": ", and prints what the terminal showed (without CRs); exits with the command's status.
import os, pty, select, sys, time
answers, argv = sys.argv[1:3], sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
shown, sent, deadline = b"", 0, time.time() + 60
while time.time() < deadline:
    if not select.select([fd], [], [], 1)[0]:
        continue
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    shown += data
    if sent < len(answers) and shown.endswith(b": "):
        os.write(fd, answers[sent].encode() + b"\n")
        sent += 1
status = os.waitpid(pid, 0)[1]
sys.stdout.write(shown.decode(errors="replace").replace("\r", ""))
sys.exit(os.waitstatus_to_exitcode(status))
EOF
out=$(python3 "$TAP_TMP/terminal.py" erin-password-1 erin-password-1 "$GRANARY" --dev "$state" user add erin)
rc=$?
want="New password for 'erin': 
Repeat the password: 
Added user 'erin'."
if [ "$rc" -eq 0 ] && [ "$out" = "$want" ]; then
        ok "user add asks twice on the terminal, without echo"
else
        not_ok "user add asks twice on the terminal, without echo"
        diag "exit status $rc:"$'\n'"$out"
fi
check_status "erin logs in" 201 "$(login erin erin-password-1)"

out=$(python3 "$TAP_TMP/terminal.py" frank-password-1 frank-password-2 "$GRANARY" --dev "$state" user add frank)
rc=$?
want="New password for 'frank': 
Repeat the password: 
granary: The passwords do not match."
if [ "$rc" -eq 1 ] && [ "$out" = "$want" ]; then
        ok "two different passwords are refused"
else
        not_ok "two different passwords are refused"
        diag "exit status $rc:"$'\n'"$out"
fi
out=$(python3 "$TAP_TMP/terminal.py" "" "" "$GRANARY" --dev "$state" user add alice)
rc=$?
if [ "$rc" -eq 1 ] && [ "$out" = "granary: The name 'alice' is taken." ]; then
        ok "a taken name is refused before the password is asked"
else
        not_ok "a taken name is refused before the password is asked"
        diag "exit status $rc:"$'\n'"$out"
fi
expect_ok "and frank was not added" "False" users_json '"frank" in [u["name"] for u in users]'

# ------------------------------------------------------------------------------------------------
# Command-line errors

expect_fail "no command" "granary: Missing command; see 'granary --help'." "$GRANARY"
expect_fail "an unknown command" "granary: Unknown command 'frobnicate'; see 'granary --help'." g frobnicate
expect_fail "an unknown option" "granary: Unknown option '--frob'; see 'granary --help'." "$GRANARY" --frob
expect_fail "--socket without its argument" "granary: Option '--socket' needs an argument." "$GRANARY" --socket
expect_fail "no user command" "granary: Missing user command; see 'granary user --help'." g user
expect_fail "an unknown user command" "granary: Unknown user command 'rename'; see 'granary user --help'." \
        g user rename alice
expect_fail "user add without a name" "granary: Missing user name; see 'granary user add --help'." \
        g user add --no-password
expect_fail "user passwd without a name" "granary: Missing user name; see 'granary user passwd --help'." \
        g user passwd
expect_fail "user delete without a name" "granary: Missing user name; see 'granary user delete --help'." \
        g user delete
expect_fail "user admin without yes or no" "granary: Missing 'yes' or 'no'; see 'granary user admin --help'." \
        g user admin alice
expect_fail "user admin with neither yes nor no" "granary: Expected 'yes' or 'no', not 'maybe'." \
        g user admin alice maybe
expect_fail "an extra argument" "granary: Unexpected argument 'bob'; see 'granary user delete --help'." \
        g user delete alice bob
expect_fail "status takes no argument" "granary: Unexpected argument 'now'; see 'granary status --help'." \
        g status now
expect_fail "an unknown option of a command" \
        "granary: user add: unknown option '--root'; see 'granary user add --help'" g user add dave --root
expect_fail "an unknown short option" \
        "granary: admin-token: unknown option '-x'; see 'granary admin-token --help'" g admin-token -x
expect_fail "an option without its argument" "granary: user add: option '--display-name' needs an argument" \
        g user add dave --display-name
expect_fail "--password-stdin with --no-password" \
        "granary: --password-stdin and --no-password exclude each other." \
        g user add dave --password-stdin --no-password
expect_fail "an empty user name" "granary: The user name is empty." g user delete ""
expect_fail "no password on stdin" "granary: No password on standard input." \
        g user add dave --password-stdin </dev/null
expect_fail "no terminal to ask on" \
        "granary: No terminal to ask for the password on; use --password-stdin or --no-password." \
        setsid -w "$GRANARY" --dev "$state" user add dave </dev/null
expect_fail "passwd with no terminal to ask on" \
        "granary: No terminal to ask for the password on; use --password-stdin." \
        setsid -w "$GRANARY" --dev "$state" user passwd alice </dev/null
expect_ok "nothing was added by the failures" "['admin', 'alice', 'bob', 'erin']" \
        users_json '[u["name"] for u in users]'

# ------------------------------------------------------------------------------------------------
# Errors from granaryd: its own message, one line

expect_fail "a taken name" "granary: That name is taken." g user add alice --no-password
expect_fail "a taken name, in other case" "granary: That name is taken." g user add ALICE --no-password
expect_fail "an invalid name" \
        "granary: A user name has 1 to 64 letters, digits, '.', '_' or '-', and does not start with '.' or '-'." \
        g user add "no spaces" --no-password
expect_fail "a password that is too short" "granary: A password has 8 to 1024 bytes." \
        g user add dave --password-stdin <<<"short"
expect_fail "user passwd of an unknown user, before any password is asked" "granary: No such user." \
        g user passwd nobody
expect_fail "user admin of an unknown user" "granary: No such user." g user admin nobody yes
expect_fail "user delete of an unknown user" "granary: No such user." g user delete nobody
# Sent as it is ("/users/.."), never resolved to "/": whatever granaryd says, nothing is deleted.
check_fails "user delete of a name that is a path" "granary: " g user delete ..
expect_ok "bob is no longer an admin" "'bob' is no longer an admin." g user admin bob no
expect_fail "the last admin stays one" "granary: The last administrator must stay one." g user admin admin no
expect_ok "and is still an admin" "True" users_json '[u["admin"] for u in users if u["name"] == "admin"][0]'
expect_ok "the refusals changed nothing" "[('admin', True), ('alice', False), ('bob', False), ('erin', False)]" \
        users_json '[(u["name"], u["admin"]) for u in users]'

# ------------------------------------------------------------------------------------------------
# No server

expect_fail "a socket that does not exist" \
        "granary: cannot reach granaryd at $TAP_TMP/nothing.sock: is it running?" \
        "$GRANARY" --socket "$TAP_TMP/nothing.sock" status
mkdir "$TAP_TMP/empty"
expect_fail "--dev with a state directory where granaryd does not run" \
        "granary: cannot reach granaryd at $TAP_TMP/empty/control.sock: is it running?" \
        "$GRANARY" --dev "$TAP_TMP/empty" user list
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$TAP_TMP/stale.sock"
expect_fail "a socket nobody listens on" \
        "granary: cannot reach granaryd at $TAP_TMP/stale.sock: is it running?" \
        "$GRANARY" --socket "$TAP_TMP/stale.sock" admin-token
expect_fail "the environment's socket" \
        "granary: cannot reach granaryd at $TAP_TMP/nothing.sock: is it running?" \
        env GRANARY_CONTROL_SOCKET="$TAP_TMP/nothing.sock" "$GRANARY" status

gd_stop
is "granaryd stops on SIGTERM" "$gd_status" 0
expect_fail "granaryd stopped" "granary: cannot reach granaryd at $sock: is it running?" g status

# ------------------------------------------------------------------------------------------------
# Help

for cmd in "" status admin-token user "user list" "user add" "user passwd" "user admin" "user delete"; do
        # shellcheck disable=SC2086
        out=$("$GRANARY" $cmd --help 2>"$TAP_TMP/.err")
        rc=$?
        if [ "$rc" -eq 0 ] && [[ $out == "Usage: granary $cmd"* ]] && [ ! -s "$TAP_TMP/.err" ]; then
                ok "granary ${cmd:+$cmd }--help"
        else
                not_ok "granary ${cmd:+$cmd }--help"
                diag "exit status $rc:"$'\n'"$out"
        fi
done
expect_ok "granary --version" "granary $version" "$GRANARY" --version
if [[ $version =~ ^[0-9]+\.[0-9]+ ]]; then ok "the version is a version"; else not_ok "the version is '$version'"; fi

done_testing
