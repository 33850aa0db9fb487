// libvirt creates its global chains (iptables) or tables (nftables) with the first network and
// never removes them. virtwall removes them with the last network that used them, but only
// while they hold nothing but libvirt's own skeleton: rules another libvirt or an operator
// added keep them in place.
import type { CommandRunner } from '../../exec/runner.js';
import type { BackendName } from '../firewall/plan.js';
import { GLOBAL_CHAINS as IPT_CHAINS } from '../firewall/iptables.js';
import { NFT_TABLE } from '../firewall/nftables.js';

const NFT_FAMILIES = ['ip', 'ip6'];
const IPT_TOOLS = ['iptables', 'ip6tables'];

/** True when the nft table listing has no rule other than the forward chain's jumps. */
export function nftTableIsSkeleton(listing: string): boolean {
  return listing
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^(table|chain|type|policy|\}|flags)\b/.test(l) && !l.startsWith('}'))
    .every((l) => /^counter packets \d+ bytes \d+ jump guest_(output|input|cross)$/.test(l) || /^jump guest_(output|input|cross)$/.test(l));
}

/** Rules (`-A` lines of `iptables -S`) that sit in libvirt's chain `chain`. */
function rulesIn(listing: string, chain: string): string[] {
  return listing.split('\n').filter((l) => l.startsWith(`-A ${chain} `));
}

/** An nft table listing holding base chains only, no rule and no other chain. */
function isEmptyBaseTable(listing: string): boolean {
  return listing
    .split('\n')
    .map((l) => l.trim())
    .every((l) => l === '' || /^(table \S+ \S+ \{|chain (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) \{|type .* policy accept;|\})$/.test(l));
}

/**
 * Removes libvirt's global chains or tables when nothing but their skeleton is left; with
 * iptables, also the empty nf_tables tables (`createdTables`) that applying them had created.
 */
export async function removeUnusedGlobalFirewall(backend: BackendName, runner: CommandRunner, createdTables: readonly string[] = []): Promise<void> {
  if (backend === 'nftables') {
    for (const fam of NFT_FAMILIES) {
      const r = await runner.run(['nft', 'list', 'table', fam, NFT_TABLE]);
      if (r.status === 0 && nftTableIsSkeleton(r.stdout)) await runner.run(['nft', 'delete', 'table', fam, NFT_TABLE]);
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
  for (const name of createdTables) {
    const r = await runner.run(['nft', 'list', 'table', ...name.split(' ')]);
    if (r.status === 0 && isEmptyBaseTable(r.stdout)) await runner.run(['nft', 'delete', 'table', ...name.split(' ')]);
  }
}
