# bash completion for granary, the admin CLI of granaryd.
# User names, app ids and grain ids are completed from `granary user list`, `granary app list` and
# `granary grain list`, through the same socket as the command line names.
_granary() {
        local cur prev i word cmd="" sub="" socket=()
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD-1]}

        # The command, its subcommand, and the socket options given so far.
        for ((i = 1; i < COMP_CWORD; i++)); do
                word=${COMP_WORDS[i]}
                case $word in
                        --socket|--dev) socket+=("$word" "${COMP_WORDS[i+1]}"); i=$((i + 1)) ;;
                        --socket=*|--dev=*) socket+=("$word") ;;
                        -*) ;;
                        *) if [ -z "$cmd" ]; then cmd=$word; elif [ -z "$sub" ]; then sub=$word; fi ;;
                esac
        done

        case $prev in
                --socket) COMPREPLY=($(compgen -f -- "$cur")); return ;;
                --dev) COMPREPLY=($(compgen -d -- "$cur")); return ;;
                --display-name|--title|--action|--path|--bytes) return ;;
                --user) COMPREPLY=($(compgen -W "$(granary "${socket[@]}" user list 2>/dev/null |
                        awk 'NR > 1 { print $1 }')" -- "$cur")); return ;;
        esac

        if [ -z "$cmd" ]; then
                COMPREPLY=($(compgen -W "status admin-token user app grain help --socket --dev --help --version" -- "$cur"))
                return
        fi

        case $cmd in
                status) COMPREPLY=($(compgen -W "--socket --dev --help" -- "$cur")) ;;
                admin-token) COMPREPLY=($(compgen -W "-q --quiet --socket --dev --help" -- "$cur")) ;;
                app)
                        if [ -z "$sub" ]; then
                                COMPREPLY=($(compgen -W "install list remove help --help" -- "$cur"))
                        elif [ "$sub" = install ] && [[ $cur != -* ]]; then
                                COMPREPLY=($(compgen -f -X '!*.spk' -- "$cur") $(compgen -d -- "$cur"))
                        else
                                case $sub in
                                        list) COMPREPLY=($(compgen -W "--json --socket --dev --help" -- "$cur")) ;;
                                        remove) COMPREPLY=($(compgen -W "--force --socket --dev --help" -- "$cur")) ;;
                                        *) COMPREPLY=($(compgen -W "--socket --dev --help" -- "$cur")) ;;
                                esac
                        fi
                        ;;
                grain)
                        if [ -z "$sub" ]; then
                                COMPREPLY=($(compgen -W "new list open rename stop log delete help --help" -- "$cur"))
                                return
                        fi
                        local opts="--socket --dev --help"
                        case $sub in
                                new) opts="--title --action --user -q --quiet $opts" ;;
                                list) opts="--all --json $opts" ;;
                                open) opts="--user --path $opts" ;;
                                log) opts="--bytes $opts" ;;
                                delete) opts="--yes $opts" ;;
                        esac
                        if [[ $cur == -* ]]; then
                                COMPREPLY=($(compgen -W "$opts" -- "$cur"))
                                return
                        fi
                        local n=0
                        for ((i = 1; i < COMP_CWORD; i++)); do
                                word=${COMP_WORDS[i]}
                                case $word in
                                        --socket|--dev|--title|--action|--user|--path|--bytes) i=$((i + 1)) ;;
                                        -*) ;;
                                        *) n=$((n + 1)) ;;
                                esac
                        done
                        # n counts "grain" and the subcommand too: the first argument is an app id for
                        # new, a grain id for the others.
                        case $sub:$n in
                                new:2)
                                        COMPREPLY=($(compgen -W "$(granary "${socket[@]}" app list 2>/dev/null |
                                                awk 'NR > 1 { print $1 }')" -- "$cur")) ;;
                                open:2|rename:2|stop:2|log:2|delete:2)
                                        COMPREPLY=($(compgen -W "$(granary "${socket[@]}" grain list 2>/dev/null |
                                                awk 'NR > 1 { print $1 }')" -- "$cur")) ;;
                        esac
                        ;;
                user)
                        if [ -z "$sub" ]; then
                                COMPREPLY=($(compgen -W "list add passwd admin delete help --help" -- "$cur"))
                                return
                        fi
                        local opts="--socket --dev --help"
                        case $sub in
                                list) opts="--json $opts" ;;
                                add) opts="--admin --display-name --password-stdin --no-password $opts" ;;
                                passwd) opts="--password-stdin $opts" ;;
                        esac
                        if [[ $cur == -* ]]; then
                                COMPREPLY=($(compgen -W "$opts" -- "$cur"))
                                return
                        fi
                        # The positional arguments: NAME (an existing one, except for add), then yes|no.
                        local n=0
                        for ((i = 1; i < COMP_CWORD; i++)); do
                                word=${COMP_WORDS[i]}
                                case $word in
                                        --socket|--dev|--display-name) i=$((i + 1)) ;;
                                        -*) ;;
                                        *) n=$((n + 1)) ;;
                                esac
                        done
                        # n counts "user" and the subcommand too.
                        case $sub:$n in
                                passwd:2|admin:2|delete:2)
                                        COMPREPLY=($(compgen -W "$(granary "${socket[@]}" user list 2>/dev/null |
                                                awk 'NR > 1 { print $1 }')" -- "$cur")) ;;
                                admin:3) COMPREPLY=($(compgen -W "yes no" -- "$cur")) ;;
                        esac
                        ;;
        esac
}
complete -F _granary granary
