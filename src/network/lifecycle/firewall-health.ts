// Which parts of a running network's firewall are still in the kernel, by value: the record holds
// every rule as the kernel held it once applied (parts.ts), and one listing per iptables tool
// (`*-save`) and per nft table (`nft -j`) is read into typed rules and compared with it — iptables
// rules field by field, nft rules by chain, body and comment, so a foreign edit of a rule's body
// shows as a missing part. tc filters live on the bridge, out of reach of firewall tools, and
// count as present.
import type { CommandRunner } from '../../exec/runner.js';
import { NftCli, type NftClient } from '../../nft/client.js';
import type { ListedTable } from '../../nft/listing.js';
import { XtablesClient } from '../../xtables/client.js';
import { sameRule } from '../../xtables/rule.js';
import type { XtRuleset } from '../../xtables/save.js';
import { NFT_TABLE } from '../firewall/nftables.js';
import {
  isNftPart,
  isTcPart,
  isXtablesPart,
  locate,
  type FirewallPart,
  type NftPart,
  type XtablesPart,
} from '../firewall/parts.js';
import type { IptablesTool } from '../firewall/xtables.js';
import { isDeepStrictEqual } from 'node:util';

/** The clients a network firewall talks to the kernel through (FakeNft in unit tests). */
export interface FirewallIo {
  runner: CommandRunner;
  nft: NftClient;
  xt: XtablesClient;
}

/** The clients running through `io` when it is a runner. */
export const firewallIo = (io: CommandRunner | FirewallIo): FirewallIo =>
  'nft' in io ? io : { runner: io, nft: new NftCli(io), xt: new XtablesClient(io) };

export const IPTABLES_TOOLS: readonly IptablesTool[] = ['iptables', 'ip6tables'];
const NFT_FAMILIES = ['ip', 'ip6'] as const;

export const sameXt = (p: XtablesPart, l: { table: string; rule: XtablesPart['rule'] }) =>
  p.table === l.table && sameRule(p.rule, l.rule);
export const sameNft = (p: NftPart, l: { chain: string; comment: string; body: NftPart['body'] }) =>
  p.chain === l.chain && p.comment === l.comment && isDeepStrictEqual(p.body, l.body);

/** Every rule of a tool's listing, with its table. */
export const xtRules = (tables: XtRuleset) =>
  [...tables.values()].flatMap((t) => t.rules.map((rule) => ({ table: t.name, rule })));

/** Every rule of an nft table listing, with its chain and handle. */
export const nftRules = (t: ListedTable | undefined) =>
  [...(t?.chains.values() ?? [])].flatMap((c) =>
    c.rules.map((r) => ({ chain: c.name, comment: r.comment, body: r.body ?? [], handle: r.handle })),
  );

export interface FirewallParts {
  /** Parts still in the kernel. */
  present: FirewallPart[];
  /** Parts that are gone (or changed). */
  missing: FirewallPart[];
}

/** Which parts are in the kernel, with the handle of each nft rule found. */
export async function locateParts(
  parts: readonly FirewallPart[],
  io: CommandRunner | FirewallIo,
): Promise<FirewallParts & { handles: Map<NftPart, number> }> {
  const found = new Set<FirewallPart>(parts.filter(isTcPart));
  const handles = new Map<NftPart, number>();
  const { xt, nft } = firewallIo(io);
  for (const tool of IPTABLES_TOOLS) {
    const mine = parts.filter((p): p is XtablesPart => isXtablesPart(p) && p.tool === tool);
    if (mine.length > 0)
      for (const [i, at] of locate(mine, xtRules(await xt.save(tool)), sameXt).entries())
        if (at >= 0) found.add(mine[i]!);
  }
  for (const family of NFT_FAMILIES) {
    const mine = parts.filter((p): p is NftPart => isNftPart(p) && p.family === family);
    if (mine.length === 0) continue;
    const rules = nftRules(await nft.list(family, NFT_TABLE));
    locate(mine, rules, sameNft).forEach((at, i) => {
      if (at < 0 || rules[at]!.handle === undefined) return;
      found.add(mine[i]!);
      handles.set(mine[i]!, rules[at]!.handle!);
    });
  }
  return { present: parts.filter((p) => found.has(p)), missing: parts.filter((p) => !found.has(p)), handles };
}

export async function firewallParts(
  parts: readonly FirewallPart[],
  io: CommandRunner | FirewallIo,
): Promise<FirewallParts> {
  const { present, missing } = await locateParts(parts, io);
  return { present, missing };
}
