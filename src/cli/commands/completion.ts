// `virtwall completion bash`: a bash completion script built from the registered commands and
// their options, so it never lags behind the CLI.
import type { Command } from 'commander';
import { invalidInput } from '../../errors.js';

export function bashCompletion(program: Command): string {
  const commands = program.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);
  const cases = commands
    .map((c) => `    ${c.name()}) opts="${c.options.map((o) => o.long).filter(Boolean).join(' ')} --help" ;;`)
    .join('\n');
  return `# bash completion for virtwall: source <(virtwall completion bash)
_virtwall() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd="" opts="" w prev=""
  for w in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    case "$prev:$w" in --root:*|*:-*) ;; *) cmd=$w; break ;; esac
    prev=$w
  done
  if [ -z "$cmd" ]; then
    COMPREPLY=($(compgen -W "${commands.map((c) => c.name()).join(' ')} help --root --help" -- "$cur"))
    return
  fi
  case "$cmd" in
${cases}
  esac
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  [ \${#COMPREPLY[@]} -eq 0 ] && COMPREPLY=($(compgen -f -- "$cur"))
}
complete -F _virtwall virtwall
`;
}

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script (bash)')
    .argument('<shell>', 'bash')
    .action((shell: string) => {
      if (shell !== 'bash') throw invalidInput(`unsupported shell '${shell}' (only bash)`);
      process.stdout.write(bashCompletion(program));
    });
}
