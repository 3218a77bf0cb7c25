# SPDX-License-Identifier: LGPL-2.1-or-later
#
# TAP helpers the system tests share, outside the container (run.sh) and inside it (scenario.sh): folding
# the TAP of another program into this one's, renumbered. Source after tests/lib/tap.sh.

# tap_include PREFIX FILE: the cases of the TAP stream in FILE become cases of this script, numbered on
# from here, their descriptions prefixed with "PREFIX: ". Comments pass through. "1..0 # SKIP why" (the
# whole program skipped) becomes one skipped case. A stream without its plan, or whose plan does not
# match the cases it printed, adds a failing case: the program stopped before the end.
tap_include() {
        local prefix=$1 file=$2 line n=0 plan='' rest
        while IFS= read -r line || [ -n "$line" ]; do
                case $line in
                "ok "* | "not ok "*)
                        n=$((n + 1))
                        rest=${line#ok }
                        rest=${rest#not ok }
                        rest=${rest#"${rest%%[!0-9]*}"}
                        rest=${rest# }
                        rest=${rest#- }
                        case $rest in
                        "# SKIP"* | "# skip"*)
                                rest=${rest#??SKIP}
                                rest=${rest#??skip}
                                skip "$prefix:${rest}"
                                ;;
                        *)
                                if [ "${line#ok }" != "$line" ]; then
                                        ok "$prefix: $rest"
                                else
                                        not_ok "$prefix: $rest"
                                fi
                                ;;
                        esac
                        ;;
                1..*)
                        plan=${line#1..}
                        case $plan in
                        "0 "*"SKIP"* | "0 "*"skip"*)
                                skip "$prefix: ${plan#*[Ss][Kk][Ii][Pp] }"
                                plan=skipped
                                ;;
                        *)
                                plan=${plan%% *}
                                ;;
                        esac
                        ;;
                "#"*)
                        echo "$line"
                        ;;
                "")
                        ;;
                *)
                        echo "# $line"
                        ;;
                esac
        done <"$file"
        if [ "$plan" = skipped ]; then
                return 0
        elif [ -z "$plan" ]; then
                not_ok "$prefix: ran to the end (no plan after $n cases)"
                return 1
        elif [ "$plan" != "$n" ]; then
                not_ok "$prefix: ran to the end (plan $plan, $n cases)"
                return 1
        fi
        return 0
}
