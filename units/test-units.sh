#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What `meson install` lays out for systemd, sysusers, tmpfiles and polkit, checked without running systemd
# or polkitd: the build is installed into a throwaway root, then systemd's own tools read it there
# (`systemd-analyze verify` and `security --offline`, `systemd-sysusers --root`, `systemd-tmpfiles --root`),
# and the polkit rule is run by node against the requests systemd 252 makes. Booting these units for real
# is the system tests' part (tests/system/).
#
# Environment (units/meson.build sets it): MESON, BUILD_ROOT, SOURCE_ROOT, UNITDIR, SYSUSERSDIR,
# TMPFILESDIR, POLKITRULESDIR, LIBEXECDIR (absolute install paths of this build).
. "$SOURCE_ROOT/tests/lib/tap.sh"

R=$TAP_TMP/root
UNITS="granary.socket granary-https.socket granary-control.socket granary.service granary-grains.slice"

if "$MESON" install -C "$BUILD_ROOT" --no-rebuild --quiet --destdir "$R" >"$TAP_TMP/install.log" 2>&1; then
        ok "meson install --destdir"
else
        not_ok "meson install --destdir"
        diag "$(tail -20 "$TAP_TMP/install.log")"
        done_testing
        exit 1
fi

# 1. Everything where systemd, polkit and the sysadmin look for it.
missing=''
for f in $UNITS; do
        [ -f "$R$UNITDIR/$f" ] || missing="$missing $UNITDIR/$f"
done
for f in "$SYSUSERSDIR/granary.conf" "$TMPFILESDIR/granary.conf" "$POLKITRULESDIR/granary.rules"; do
        [ -f "$R$f" ] || missing="$missing $f"
done
for f in "$LIBEXECDIR/granaryd" "$LIBEXECDIR/granary-grain"; do
        [ -x "$R$f" ] || missing="$missing $f"
done
if [ -z "$missing" ]; then ok "units, sysusers, tmpfiles, polkit rule and programs installed"; else
        not_ok "installed files missing:$missing"; fi

# A grain's /sys: inaccessible, in place of the kernel's sysfs that MountAPIVFS= would mount.
sys=$(grep -c '^InaccessiblePaths=+/sys$' "$R$UNITDIR/granary-grain@.service")
if [ "$sys" = 1 ] && ! grep -q '^BindReadOnlyPaths=.*:/sys$' "$R$UNITDIR/granary-grain@.service"; then
        ok "granary-grain@.service makes /sys inaccessible"
else
        not_ok "granary-grain@.service has $sys InaccessiblePaths=+/sys lines, or binds something at /sys"
fi

exec_start=$(sed -n 's/^ExecStart=//p' "$R$UNITDIR/granary.service")
if [ "$exec_start" = "$LIBEXECDIR/granaryd" ] && [ -x "$R$exec_start" ]; then
        ok "granary.service starts the installed granaryd ($exec_start)"
else
        not_ok "granary.service ExecStart='$exec_start', granaryd installed at $LIBEXECDIR/granaryd"
fi

# 2. granaryd takes its sockets by name; one name per socket unit, all feeding granary.service.
names=''
for u in granary.socket granary-https.socket granary-control.socket; do
        svc=$(sed -n 's/^Service=//p' "$R$UNITDIR/$u")
        names="$names $(sed -n 's/^FileDescriptorName=//p' "$R$UNITDIR/$u")/$svc"
done
if [ "$names" = " http/granary.service https/granary.service control/granary.service" ]; then
        ok "socket units name their descriptors http, https, control for granary.service"
else
        not_ok "socket names and services:$names"
fi
wants=$(sed -n 's/^Wants=//p' "$R$UNITDIR/granary.socket")
if [ "$wants" = "granary-https.socket granary-control.socket" ]; then
        ok "starting granary.socket brings the HTTPS and control sockets"
else
        not_ok "granary.socket Wants='$wants'"
fi

if ! command -v systemd-analyze >/dev/null || ! command -v systemd-sysusers >/dev/null ||
        ! command -v systemd-tmpfiles >/dev/null; then
        skip "systemd-analyze, systemd-sysusers or systemd-tmpfiles is not installed: units not checked"
        done_testing
        exit
fi

# 3. systemd's own parser accepts every unit, with the root's files (granaryd's path) resolved. The root holds
#    only what this build installs; the one program the units take from the OS is kill (ExecReload=, Debian's
#    procps), so it stands in.
mkdir -p "$R/bin"
[ -e "$R/bin/kill" ] || printf '#!/bin/sh\n' >"$R/bin/kill"
chmod 755 "$R/bin/kill"
args=()
for u in $UNITS; do
        args+=("$R$UNITDIR/$u")
done
if out=$(SYSTEMD_LOG_LEVEL=warning timeout 60 systemd-analyze verify --man=no --recursive-errors=no \
        --root="$R" "${args[@]}" 2>&1) && [ -z "$out" ]; then
        ok "systemd-analyze verify: no warning"
else
        not_ok "systemd-analyze verify"
        diag "$out"
fi

# 4. The exposure score SECURITY.md sets for granary.service: 2.0 at most.
out=$(cd "$R$UNITDIR" && timeout 60 systemd-analyze security --no-pager --offline=yes --root="$R" \
        --threshold=20 granary.service 2>&1)
rc=$?
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for granary.service: \([0-9.]*\).*/\1/p')
if [ "$rc" -eq 0 ] && [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
        ok "systemd-analyze security granary.service: $score (at most 2.0)"
else
        not_ok "systemd-analyze security granary.service: '${score:-none}', exit $rc"
        diag "$(printf '%s\n' "$out" | grep '✗')"
fi

# 5. sysusers makes the user and group, tmpfiles the directories with their modes.
mkdir -p "$R/etc"
if out=$(systemd-sysusers --root="$R" 2>&1); then
        line=$(grep '^granary:' "$R/etc/passwd")
        uid=$(echo "$line" | cut -d: -f3)
        gid=$(echo "$line" | cut -d: -f4)
        group=$(grep '^granary:' "$R/etc/group" | cut -d: -f3)
        if [ "$(echo "$line" | cut -d: -f5-)" = "granary personal server:/var/lib/granary:/usr/sbin/nologin" ] &&
                [ -n "$uid" ] && [ "$uid" -gt 0 ] && [ "$uid" -lt 1000 ] && [ "$gid" = "$group" ]; then
                ok "sysusers: system user granary ($uid:$gid), home /var/lib/granary, nologin"
        else
                not_ok "sysusers: passwd '$line', group gid '$group'"
        fi
else
        not_ok "systemd-sysusers --root"
        diag "$out"
        uid=x gid=x
fi

if [ "$(id -u)" -ne 0 ]; then
        skip "tmpfiles: giving the directories to granary needs root"
elif out=$(systemd-tmpfiles --root="$R" --create 2>&1); then
        want="700 $uid:$gid /var/lib/granary
700 $uid:$gid /var/lib/granary/packages
700 $uid:$gid /var/lib/granary/grains
700 $uid:$gid /var/lib/granary/backups
700 $uid:$gid /var/lib/granary/tmp
755 $uid:$gid /run/granary
700 $uid:$gid /run/granary/grains"
        got=$(for d in /var/lib/granary /var/lib/granary/packages /var/lib/granary/grains /var/lib/granary/backups \
                /var/lib/granary/tmp /run/granary /run/granary/grains; do
                stat -c "%a %u:%g $d" "$R$d" 2>&1 | sed "s|$R||"
        done)
        if [ "$got" = "$want" ]; then ok "tmpfiles: state, package, grain, backup and runtime directories, owner and mode"
        else not_ok "tmpfiles: directories differ"; diag "$got"; fi
else
        not_ok "systemd-tmpfiles --root --create"
        diag "$out"
fi

# 6. The polkit rule: systemd 252 names "unit" and "verb" for the calls on one unit, nothing for
#    StartTransientUnit or the manager-wide calls. Run by node (polkitd runs rules as ES5 too).
if ! command -v node >/dev/null; then
        skip "polkit rule: node is not installed"
else
        cat >"$TAP_TMP/rule.js" <<'EOF'
"use strict";
const fs = require("fs");
const rules = [];
const polkit = {
        Result: { NO: "no", YES: "yes", AUTH_SELF: "auth_self", AUTH_ADMIN: "auth_admin", NOT_HANDLED: null },
        addRule(f) { rules.push(f); },
        log() {},
};
new Function("polkit", fs.readFileSync(process.argv[2], "utf8"))(polkit);
function ask(user, id, details) {
        const action = { id, lookup: (k) => details[k] };
        for (const r of rules) {
                const v = r(action, { user, groups: [user] });
                if (v !== null && v !== undefined)
                        return v;
        }
        return "default";
}
const M = "org.freedesktop.systemd1.manage-units";
const cases = [
        ["granary", M, { unit: "granary-grain@Yb2kq7Xc9.service", verb: "start" }, "yes"],
        ["granary", M, { unit: "granary-grain@Yb2kq7Xc9.socket", verb: "start" }, "yes"],
        ["granary", M, { unit: "granary-grain@Yb2kq7Xc9.service", verb: "stop" }, "yes"],
        ["granary", M, { unit: "granary-grain@Yb2kq7Xc9.socket", verb: "stop" }, "yes"],
        ["granary", M, { unit: "granary-grain@Yb2kq7Xc9.socket", verb: "reset-failed" }, "yes"],
        ["granary", M, { unit: "granary-grain@Yb2kq7Xc9.service", verb: "reset-failed" }, "yes"],
        /* StartTransientUnit, ResetFailed, ClearJobs, CancelJob: no details at all */
        ["granary", M, {}, "default"],
        ["granary", M, { unit: "granary.service", verb: "stop" }, "default"],
        ["granary", M, { unit: "ssh.service", verb: "stop" }, "default"],
        ["granary", M, { unit: "granary-grains.slice", verb: "stop" }, "default"],
        /* the template itself, an empty instance, other names and the old transient names */
        ["granary", M, { unit: "granary-grain@.service", verb: "start" }, "default"],
        ["granary", M, { unit: "granary-grain@a-b.service", verb: "start" }, "default"],
        ["granary", M, { unit: "granary-grain@a\\x2fb.service", verb: "start" }, "default"],
        ["granary", M, { unit: "granary-grain@ab.timer", verb: "start" }, "default"],
        ["granary", M, { unit: "granary-grain@ab.servicex", verb: "start" }, "default"],
        ["granary", M, { unit: "xgranary-grain@ab.service", verb: "start" }, "default"],
        ["granary", M, { unit: "granary-grain@ab.service\nssh.service", verb: "start" }, "default"],
        ["granary", M, { unit: "granary-grain-ab.service", verb: "start" }, "default"],
        /* verbs granaryd does not use */
        ["granary", M, { unit: "granary-grain@ab.service", verb: "restart" }, "default"],
        ["granary", M, { unit: "granary-grain@ab.service", verb: "kill" }, "default"],
        ["granary", M, { unit: "granary-grain@ab.service", verb: "set-property" }, "default"],
        ["granary", M, { unit: "granary-grain@ab.service", verb: "clean" }, "default"],
        ["granary", M, { unit: "granary-grain@ab.service", verb: "freeze" }, "default"],
        ["granary", M, { unit: "granary-grain@ab.service" }, "default"],
        ["alice", M, { unit: "granary-grain@ab.service", verb: "start" }, "default"],
        ["granary", "org.freedesktop.systemd1.manage-unit-files", { unit: "granary-grain@ab.service", verb: "start" }, "default"],
        ["granary", "org.freedesktop.systemd1.reload-daemon", {}, "default"],
];
let bad = 0;
for (const [user, id, details, want] of cases) {
        const got = ask(user, id, details);
        if (got !== want) {
                bad++;
                console.log(`# ${user} ${id} ${JSON.stringify(details)}: ${got}, expected ${want}`);
        }
}
console.log(`# ${cases.length - bad} of ${cases.length} requests answered as expected`);
process.exit(bad ? 1 : 0);
EOF
        if out=$(node "$TAP_TMP/rule.js" "$R$POLKITRULESDIR/granary.rules" 2>&1); then
                ok "polkit rule: granary may start, stop and reset its grains' template instances, nothing else"
                diag "$out" | sed 's/^# # /# /'
        else
                not_ok "polkit rule"
                diag "$out"
        fi
fi

done_testing
