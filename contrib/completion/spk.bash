# bash completion for spk, the Sandstorm-compatible packaging tool of granary.
_spk() {
        local cur prev verb
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD-1]}
        verb=${COMP_WORDS[1]}

        if [ "$COMP_CWORD" -eq 1 ]; then
                COMPREPLY=($(compgen -W "keygen listkeys getkey init pack dev verify unpack eval --help --version" -- "$cur"))
                return
        fi
        case $prev in
                -k|--keyring|-o|--output|-I|--import-path|--socket) COMPREPLY=($(compgen -f -- "$cur")); return ;;
                -m|--dev) COMPREPLY=($(compgen -d -- "$cur")); return ;;
                -p|--pkg-def) [ "$verb" = init ] || COMPREPLY=($(compgen -f -X '!*.capnp' -- "$cur")); return ;;
        esac
        case $verb in
                verify|unpack) COMPREPLY=($(compgen -f -X '!*.spk' -- "$cur") $(compgen -d -- "$cur")) ;;
                pack) COMPREPLY=($(compgen -W "-I -p -k --help" -- "$cur") $(compgen -f -- "$cur")) ;;
                dev) COMPREPLY=($(compgen -W "-I -p -s --socket --dev -m -c --help" -- "$cur")) ;;
                init) COMPREPLY=($(compgen -W "-o -i -p -r -I -A -k -q --help" -- "$cur")) ;;
                getkey) COMPREPLY=($(compgen -W "$(spk listkeys 2>/dev/null)" -- "$cur")) ;;
                *) COMPREPLY=($(compgen -W "-k -q --help" -- "$cur")) ;;
        esac
}
complete -F _spk spk
