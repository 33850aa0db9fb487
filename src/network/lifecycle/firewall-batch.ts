// libvirt runs a network's firewall as one process per rule. virtwall runs the same commands as
// one kernel transaction per tool: nft commands become one `nft -f` script, iptables and
// ip6tables commands one `*-restore --noflush` input each. Pure translation, tested by value.
import { VirtwallError } from '../../errors.js';
import type { FirewallCommand } from '../../plan/command.js';

export type BatchTool = 'nft' | 'iptables' | 'ip6tables' | 'tc';

export function toolOf(cmd: FirewallCommand): BatchTool {
  const tool = cmd.argv[0];
  if (tool === 'nft' || tool === 'iptables' || tool === 'ip6tables' || tool === 'tc') return tool;
  throw new VirtwallError('internal', `no batch form for command '${cmd.argv.join(' ')}'`);
}

/** One `nft` command as a line of an nft script: the options (-a, -e, -ae) are dropped. */
export function nftScriptLine(argv: readonly string[]): string {
  const words = argv.slice(1).filter((a, i, all) => !(a.startsWith('-') && all.slice(0, i).every((b) => b.startsWith('-'))));
  return words.map(nftWord).join(' ');
}

/** Interface names must be quoted in nft scripts only when they are not plain identifiers. */
function nftWord(word: string): string {
  return /^[A-Za-z0-9_./:,!={}();\-]+$/.test(word) || word.startsWith('{') ? word : JSON.stringify(word);
}

export function nftScript(cmds: readonly FirewallCommand[]): string {
  return cmds.map((c) => nftScriptLine(c.argv) + '\n').join('');
}

/**
 * `iptables -w --table T ARGS...` as restore input: ARGS under `*T`, tables in first-use order,
 * each closed by COMMIT. `-N`/`--new-chain` lines are valid restore input as they are.
 */
export function restoreScript(cmds: readonly FirewallCommand[]): string {
  const tables = new Map<string, string[]>();
  for (const c of cmds) {
    const args = c.argv.slice(1).filter((a) => a !== '-w' && a !== '--wait');
    let table = 'filter';
    const t = args.findIndex((a) => a === '--table' || a === '-t');
    if (t >= 0) {
      table = args[t + 1] ?? table;
      args.splice(t, 2);
    }
    if (!tables.has(table)) tables.set(table, []);
    tables.get(table)!.push(args.map(restoreWord).join(' '));
  }
  return [...tables].map(([table, lines]) => `*${table}\n${lines.join('\n')}\nCOMMIT\n`).join('');
}

function restoreWord(word: string): string {
  return /^[A-Za-z0-9_.:/,!@+=-]+$/.test(word) ? word : `"${word.replace(/(["\\])/g, '\\$1')}"`;
}
