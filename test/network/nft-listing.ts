// libvirt's `libvirt_network` table as `nft -j list table FAMILY libvirt_network` answers, read
// back by our listing parser: tests name the chains and rules, the kernel's framing (table,
// handles in order, the base chains' hooks) is written here once.
import { parseTableListing } from '../../src/nft/listing.js';

const TABLE = 'libvirt_network';

/** The hooks of libvirt's base chains; other chains are regular. */
const BASE_CHAINS: Record<string, object> = {
  forward: { type: 'filter', hook: 'forward', prio: 0, policy: 'accept' },
  guest_nat: { type: 'nat', hook: 'postrouting', prio: 100, policy: 'accept' },
};

export interface ListedRule {
  chain: string;
  /** nft JSON statements. */
  expr: object[];
}

/** forward's `counter jump TARGET`, with counters as traffic left them. */
export const forwardJump = (target: string, packets = 1): ListedRule => ({
  chain: 'forward',
  expr: [{ counter: { packets, bytes: 60 * packets } }, { jump: { target } }],
});

export function libvirtNetworkListing(family: 'ip' | 'ip6', chains: readonly string[], rules: readonly ListedRule[]) {
  let handle = 1;
  const nftables = [
    { table: { family, name: TABLE, handle: handle++ } },
    ...chains.map((name) => ({ chain: { family, table: TABLE, name, handle: handle++, ...BASE_CHAINS[name] } })),
    ...rules.map(({ chain, expr }) => ({ rule: { family, table: TABLE, chain, handle: handle++, expr } })),
  ];
  return parseTableListing(JSON.stringify({ nftables }), family);
}
