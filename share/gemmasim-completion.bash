# bash completion for gemmasim: commands, then the flags of the command from its own --help.
_gemmasim() {
  local cur cmd
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [[ ${COMP_CWORD} -eq 1 ]]; then
    COMPREPLY=($(compgen -W "advise report fit estimate matrix place serve-sim serve-run trace-gen calibrate run synth probe validate bench models hw quants import-config --help --version" -- "$cur"))
    return
  fi
  cmd="${COMP_WORDS[1]}"
  if [[ "$cur" == -* ]]; then
    local flags
    flags=$("${COMP_WORDS[0]}" "$cmd" --help 2>/dev/null | grep -oE -- '--[a-z0-9][a-z0-9-]*' | sort -u)
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    return
  fi
  case "${COMP_WORDS[COMP_CWORD-1]}" in
    --model) COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" models --json 2>/dev/null | grep -oE '"id": *"[^"]+"' | sed 's/.*"\([^"]*\)"$/\1/')" -- "$cur")) ;;
    --hw) COMPREPLY=($(compgen -W "$(ls "$("${COMP_WORDS[0]}" --data-dir 2>/dev/null)"/hwdb/{devices,systems} 2>/dev/null | sed -n 's/\.json$//p')" -- "$cur")) ;;
    *) COMPREPLY=($(compgen -f -- "$cur")) ;;
  esac
}
complete -F _gemmasim gemmasim
