// Which parts of a running network's firewall are still in the kernel. The status record holds
// one removal command per part libvirt created (nft: delete by the handle the batch echoed;
// iptables: the insert with --delete), so each removal command names one part: an nft part is
// present while its chain still lists that handle, an iptables part while `--check` finds it.
// tc filters live on the bridge, out of reach of firewall tools, and count as present.
import type { CommandRunner } from '../../exec/runner.js';
import { NftCli } from '../../nft/client.js';
import type { Family } from '../../nft/objects.js';
import type { FirewallCommand } from '../../plan/command.js';
import { toolOf } from './firewall-batch.js';

export interface FirewallParts {
  /** Removal commands of parts still in the kernel. */
  present: FirewallCommand[];
  /** Removal commands of parts that are gone. */
  missing: FirewallCommand[];
}

/** `nft delete TYPE FAMILY TABLE [CHAIN] handle N` -> [family, table, key in the table's handles]. */
function nftTarget(argv: readonly string[]): [string, string, string] | undefined {
  const [, verb, type, family, table, ...rest] = argv;
  const handle = rest.at(-1);
  if (verb !== 'delete' || !family || !table || handle === undefined) return undefined;
  return [family, table, type === 'rule' ? `${rest[0]}:${handle}` : `:${handle}`];
}

/** iptables' own test for an exact rule: the removal command with --check for --delete. */
const checkOf = (cmd: FirewallCommand): string[] => cmd.argv.map((a) => (a === '--delete' || a === '-D' ? '--check' : a));

export async function firewallParts(removal: readonly FirewallCommand[], runner: CommandRunner): Promise<FirewallParts> {
  // one listing per table
  const nft = new NftCli(runner);
  const listings = new Map<string, Promise<Set<string>>>();
  const handlesOf = (family: string, table: string): Promise<Set<string>> => {
    const key = `${family} ${table}`;
    if (!listings.has(key)) listings.set(key, nft.list(family as Family, table).then((t) => t?.handles ?? new Set<string>()));
    return listings.get(key)!;
  };
  // the checks only read: run them side by side
  const present = await Promise.all(
    removal.map(async (cmd) => {
      const tool = toolOf(cmd);
      if (tool === 'tc') return true;
      if (tool !== 'nft') return (await runner.run(checkOf(cmd))).status === 0;
      const target = nftTarget(cmd.argv);
      return target !== undefined && (await handlesOf(target[0], target[1])).has(target[2]);
    }),
  );
  return { present: removal.filter((_, i) => present[i]), missing: removal.filter((_, i) => !present[i]) };
}
