// What the nftables backend asks the kernel, and only about our own tables (through the nft
// client, src/nft): their current content, and the capability probes run at start-up.
import type { NftClient } from '../../nft/client.js';
import { ct, match, verdict } from '../../nft/expr.js';
import type { Ruleset, RulesetSet, NftChain } from '../../nft/objects.js';
import { FAMILIES, TABLE } from './model.js';

/** Our tables as one ruleset (rules with the kernel's bodies); undefined when neither exists. */
export async function readRuleset(nft: NftClient): Promise<Ruleset | undefined> {
  const chains = new Map<string, NftChain>();
  const sets = new Map<string, RulesetSet>();
  let found = false;
  for (const family of FAMILIES) {
    const listed = await nft.list(family, TABLE);
    if (!listed) continue;
    found = true;
    for (const [k, c] of listed.chains) chains.set(k, c);
    for (const [k, s] of listed.sets) sets.set(k, s);
  }
  return found ? { chains, sets } : undefined;
}

export interface NftCapabilities {
  /** `ct` works in the bridge family (nf_conntrack_bridge). */
  bridgeConntrack: boolean;
}

/** Checks (`nft -c`, nothing is changed) what this kernel and nft support. */
export async function probeCapabilities(nft: NftClient): Promise<NftCapabilities> {
  const chain = { family: 'bridge', name: 'c' } as const;
  const bridgeConntrack = await nft.check(
    [
      { verb: 'add', table: 'bridge' },
      { verb: 'add', chain: { ...chain, hook: { type: 'filter', hook: 'forward', priority: 0, policy: 'accept' } } },
      {
        verb: 'add',
        chain,
        rule: {
          statements: [match(ct('state'), { kind: 'flags', names: ['established'] }), verdict('accept')],
          comment: '',
        },
      },
    ],
    'virtwall_probe',
  );
  return { bridgeConntrack };
}
