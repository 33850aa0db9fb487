// libvirt creates its global chains (iptables) or tables (nftables) with the first network and
// never removes them. virtwall removes them with the last network that used them, but only
// while they hold nothing but libvirt's own skeleton: rules another libvirt or an operator
// added keep them in place. Read from typed listings (`nft -j`, `*-save`), removed in one
// transaction per tool.
import type { CommandRunner } from '../../exec/runner.js';
import { NftCli } from '../../nft/client.js';
import type { ListedTable } from '../../nft/listing.js';
import type { Family } from '../../nft/objects.js';
import { XtablesClient } from '../../xtables/client.js';
import type { RestoreTable } from '../../xtables/restore.js';
import { hasChain, rulesIn } from '../../xtables/save.js';
import type { FirewallBackendName } from '../firewall/plan.js';
import { GLOBAL_CHAINS as IPT_CHAINS } from '../firewall/iptables.js';
import { isSkeletonJump, NFT_TABLE } from '../firewall/nftables.js';
import { IPTABLES_TOOLS } from './firewall-health.js';

const NFT_FAMILIES = ['ip', 'ip6'] as const;
/** The base chains iptables-nft creates in a table. */
const XTABLES_BASE_CHAINS = ['INPUT', 'OUTPUT', 'FORWARD', 'PREROUTING', 'POSTROUTING'];

/** True when the table holds no rule other than the forward chain's (counted) jumps. */
export function nftTableIsSkeleton(table: ListedTable): boolean {
  return [...table.chains.values()].every((c) => c.rules.every((r) => isSkeletonJump(r.body ?? [])));
}

/** A table holding iptables-nft's base chains only (policy accept), no rule and no other chain. */
function isEmptyBaseTable(table: ListedTable): boolean {
  return (
    [...table.chains.values()].every(
      (c) => XTABLES_BASE_CHAINS.includes(c.name) && c.hook?.policy === 'accept' && c.rules.length === 0,
    ) && table.sets.size === 0
  );
}

/**
 * Removes libvirt's global chains or tables when nothing but their skeleton is left; with
 * iptables, also the empty nf_tables tables (`createdTables`) that applying them had created.
 */
export async function removeUnusedGlobalFirewall(
  backend: FirewallBackendName,
  runner: CommandRunner,
  createdTables: readonly string[] = [],
): Promise<void> {
  const nft = new NftCli(runner);
  if (backend === 'nftables') {
    for (const fam of NFT_FAMILIES) {
      const table = await nft.list(fam, NFT_TABLE);
      if (table && nftTableIsSkeleton(table))
        await nft.apply([{ verb: 'delete', table: fam }], NFT_TABLE).catch(() => undefined);
    }
    return;
  }
  const xt = new XtablesClient(runner);
  for (const tool of IPTABLES_TOOLS) {
    const tables = await xt.save(tool);
    const present = IPT_CHAINS.filter(([t, , c]) => hasChain(tables.get(t), c));
    if (present.length === 0 || present.some(([t, , c]) => rulesIn(tables.get(t), c).length > 0)) continue;
    const script: RestoreTable[] = [...new Set(present.map(([t]) => t))].map((table) => ({
      table,
      lines: present
        .filter(([t]) => t === table)
        .flatMap(([, parent, chain]) => [
          ...rulesIn(tables.get(table), parent)
            .filter((r) => r.target?.name === chain)
            .map((rule) => ({ delete: rule })),
          { deleteChain: chain },
        ]),
    }));
    await xt.restore(tool, script).catch(() => undefined);
  }
  for (const created of createdTables) {
    const [family, name] = created.split(' ') as [Family, string];
    const table = await nft.list(family, name);
    if (table && isEmptyBaseTable(table))
      await nft.apply([{ verb: 'delete', table: family }], name).catch(() => undefined);
  }
}
