// Shell completion. `virtwall complete -- WORD...` answers for the command line being typed (as
// `virsh complete` does): command names, a command's options, and for its arguments the names
// the daemon of --root has (networks, filters, binding port devices, port UUIDs) or net-update's
// command and section words. `virtwall completion bash|zsh` prints the small shell glue that
// asks it; with no candidates the shell completes file names.
import type { Command, Option } from 'commander';
import { invalidInput } from '../../errors.js';
import { UPDATE_COMMANDS, UPDATE_SECTIONS } from '../../conf/network/update-words.js';
import { DaemonClient, seg } from '../client.js';

type Source = (client: DaemonClient, args: string[]) => Promise<string[]>;

const names = async <T>(client: DaemonClient, path: string, pick: (row: T) => string): Promise<string[]> =>
  (await client.call<T[]>('GET', path)).map(pick);

/** Where the candidates of an argument (by its name in the command's usage) come from. */
const ARGUMENT_SOURCES: Record<string, Source> = {
  network: (c) => names<{ name: string }>(c, '/networks', (n) => n.name),
  nwfilter: (c) => names<{ name: string }>(c, '/nwfilters', (f) => f.name),
  binding: (c) => names<{ portdev: string }>(c, '/bindings', (b) => b.portdev),
  // a port of the network named before it
  port: (c, [network]) =>
    network ? names<{ uuid: string }>(c, `/networks/${seg(network)}/ports`, (p) => p.uuid) : Promise.resolve([]),
  command: async () => [...UPDATE_COMMANDS, 'add'],
  section: async () => [...UPDATE_SECTIONS],
};

/** Options whose value is an object name. */
const OPTION_SOURCES: Record<string, Source> = {
  '--filter': ARGUMENT_SOURCES['nwfilter']!,
};

const visible = (program: Command) => program.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);
const takesValue = (o: Option | undefined) => o !== undefined && (o.required || o.optional);
const optionsOf = (cmd: Command) => [
  ...cmd.options.map((o) => o.long).filter((l): l is string => l !== undefined),
  '--help',
];

/** The candidates for the last of `words` (the command line after `virtwall`). */
export async function candidates(program: Command, words: readonly string[]): Promise<string[]> {
  const current = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  let root = '/';
  let i = 0;
  // global options before the command
  for (; i < before.length && before[i]!.startsWith('-'); i++) {
    if (before[i] === '--root') root = before[++i] ?? root;
  }
  const match = (list: readonly string[]) => list.filter((w) => w.startsWith(current));
  if (i >= before.length) {
    return match(current.startsWith('-') ? optionsOf(program) : visible(program).map((c) => c.name()));
  }
  const cmd = visible(program).find((c) => c.name() === before[i]);
  if (!cmd) return [];
  const positional: string[] = [];
  let pendingOption: string | undefined;
  for (const w of before.slice(i + 1)) {
    if (pendingOption !== undefined) pendingOption = undefined;
    else if (w.startsWith('-'))
      pendingOption = takesValue(cmd.options.find((o) => o.long === w || o.short === w)) ? w : undefined;
    else positional.push(w);
  }
  const client = DaemonClient.forRoot(root);
  const ask = async (source: Source | undefined) =>
    source ? match(await source(client, positional).catch(() => [])) : [];
  if (pendingOption !== undefined) return ask(OPTION_SOURCES[pendingOption]);
  if (current.startsWith('-')) return match(optionsOf(cmd));
  return ask(ARGUMENT_SOURCES[cmd.registeredArguments[positional.length]?.name() ?? '']);
}

const SCRIPTS: Record<string, string> = {
  bash: `# bash completion for virtwall: source <(virtwall completion bash)
_virtwall() {
  local IFS=$'\\n'
  COMPREPLY=($(compgen -W "$("\${COMP_WORDS[0]}" complete -- "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)" -- "\${COMP_WORDS[COMP_CWORD]}"))
}
complete -o default -F _virtwall virtwall
`,
  zsh: `#compdef virtwall
# zsh completion for virtwall: source <(virtwall completion zsh), or save as _virtwall in $fpath
_virtwall() {
  local -a found
  found=("\${(@f)$("\${words[1]}" complete -- "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  found=(\${found:#})
  if (( \${#found} )); then
    compadd -a found
  else
    _files
  fi
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _virtwall "$@"; else compdef _virtwall virtwall; fi
`,
};

export function completionScript(shell: string): string {
  const script = SCRIPTS[shell];
  if (script === undefined) throw invalidInput(`unsupported shell '${shell}' (${Object.keys(SCRIPTS).join(', ')})`);
  return script;
}

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description(`print a shell completion script (${Object.keys(SCRIPTS).join(', ')})`)
    .argument('<shell>', Object.keys(SCRIPTS).join(' or '))
    .action((shell: string) => void process.stdout.write(completionScript(shell)));
  program
    .command('complete', { hidden: true })
    .description('the completions of a command line (used by the completion scripts)')
    .argument('[words...]', 'the words after `virtwall`, the last one being completed')
    .action(async (words: string[]) => {
      const found = await candidates(program, words.length ? words : ['']);
      process.stdout.write(found.map((w) => `${w}\n`).join(''));
    });
}
