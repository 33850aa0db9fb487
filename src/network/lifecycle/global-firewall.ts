// libvirt creates its global chains (iptables) or tables (nftables) with the first network and
// never removes them. virtwall removes them with the last network that used them, but only
// while they hold nothing but libvirt's own skeleton: rules another libvirt or an operator
// added keep them in place.
import type { CommandRunner } from '../../exec/runner.js';
import { NftCli } from '../../nft/client.js';
import type { ListedTable } from '../../nft/listing.js';
import type { Family, Json, Statement } from '../../nft/objects.js';
import type { FirewallBackendName } from '../firewall/plan.js';
import { GLOBAL_CHAINS as IPT_CHAINS } from '../firewall/iptables.js';
import { NFT_TABLE } from '../firewall/nftables.js';

const NFT_FAMILIES = ['ip', 'ip6'] as const;
/** The jumps of libvirt's forward chain to its per-direction chains. */
const SKELETON_JUMPS: readonly Json[] = ['guest_output', 'guest_input', 'guest_cross'];
/** The base chains iptables-nft creates in a table. */
const XTABLES_BASE_CHAINS = ['INPUT', 'OUTPUT', 'FORWARD', 'PREROUTING', 'POSTROUTING'];
const IPT_TOOLS = ['iptables', 'ip6tables'];

/** True when the table holds no rule other than the forward chain's (counted) jumps. */
export function nftTableIsSkeleton(table: ListedTable): boolean {
  return [...table.chains.values()].every((c) => c.rules.every((r) => isSkeletonJump(r.body ?? [])));
}

function isSkeletonJump(body: readonly Statement[]): boolean {
  const statements = body.filter((s) => !('counter' in s));
  const target = statements.length === 1 ? (statements[0]!['jump'] as { target?: Json } | undefined)?.target : undefined;
  return target !== undefined && SKELETON_JUMPS.includes(target);
}

/** Rules (`-A` lines of `iptables -S`) that sit in libvirt's chain `chain`. */
function rulesIn(listing: string, chain: string): string[] {
  return listing.split('\n').filter((l) => l.startsWith(`-A ${chain} `));
}

/** A table holding iptables-nft's base chains only (policy accept), no rule and no other chain. */
function isEmptyBaseTable(table: ListedTable): boolean {
  return [...table.chains.values()].every((c) => XTABLES_BASE_CHAINS.includes(c.name) && c.hook?.policy === 'accept' && c.rules.length === 0) && table.sets.size === 0;
}

/**
 * Removes libvirt's global chains or tables when nothing but their skeleton is left; with
 * iptables, also the empty nf_tables tables (`createdTables`) that applying them had created.
 */
export async function removeUnusedGlobalFirewall(backend: FirewallBackendName, runner: CommandRunner, createdTables: readonly string[] = []): Promise<void> {
  const nft = new NftCli(runner);
  if (backend === 'nftables') {
    for (const fam of NFT_FAMILIES) {
      const table = await nft.list(fam, NFT_TABLE);
      if (table && nftTableIsSkeleton(table)) await nft.apply([{ verb: 'delete', table: fam }], NFT_TABLE).catch(() => undefined);
    }
    return;
  }
  for (const tool of IPT_TOOLS) {
    const listings = new Map<string, string>();
    for (const table of new Set(IPT_CHAINS.map(([t]) => t))) {
      const r = await runner.run([tool, '-w', '-t', table, '-S']);
      listings.set(table, r.status === 0 ? r.stdout : '');
    }
    const present = IPT_CHAINS.filter(([t, , c]) => listings.get(t)!.split('\n').includes(`-N ${c}`));
    if (present.length === 0 || present.some(([t, , c]) => rulesIn(listings.get(t)!, c).length > 0)) continue;
    for (const [table, parent, chain] of present) {
      await runner.run([tool, '-w', '-t', table, '-D', parent, '-j', chain]);
      await runner.run([tool, '-w', '-t', table, '-X', chain]);
    }
  }
  for (const created of createdTables) {
    const [family, name] = created.split(' ') as [Family, string];
    const table = await nft.list(family, name);
    if (table && isEmptyBaseTable(table)) await nft.apply([{ verb: 'delete', table: family }], name).catch(() => undefined);
  }
}
