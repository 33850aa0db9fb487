// Accept rules for a network's forwarded traffic in other tables' forward base chains whose
// policy is drop (Docker's `iptables -P FORWARD DROP` is the common case): an accept in our own
// table does not override a drop in another table's base chain, so libvirt's iptables layout,
// which puts its accepts in `filter FORWARD` itself, works there and a separate table would not.
// The rules are narrow (the network's bridge and subnets, as libvirt's FWO/FWI/FWX chains), carry
// the comment `virtwall-forward:BRIDGE`, go in through iptables for iptables' own tables (native
// nft rules would make them unreadable for iptables-nft) and through nft elsewhere, as typed rules
// through the xtables and nft clients; what is present is read from their typed listings.
import type { CommandRunner } from '../exec/runner.js';
import { NftCli } from '../nft/client.js';
import type { Command } from '../nft/batch.js';
import { counter, ct, match, meta, payload, str, verdict, type Statement } from '../nft/expr.js';
import { objectKey, type Family as NftFamily, type NftRule } from '../nft/objects.js';
import { XtablesClient } from '../xtables/client.js';
import type { RestoreLine } from '../xtables/restore.js';
import { commentOf, opt, sameRule, type XtMatch, type XtRule, type XtTool } from '../xtables/rule.js';
import { rulesIn } from '../xtables/save.js';
import { xtablesRule } from '../network/firewall/xtables.js';
import type { NetworkDef } from '../conf/network/types.js';
import { formatIp } from '../util/address.js';
import { NFT_TABLE } from '../network/firewall/nftables.js';
import { TABLE as NWFILTER_TABLE } from '../backends/nftables/model.js';
import type { FirewallBackendName } from '../network/firewall/plan.js';

/** A forward base chain of another table. */
export interface ForwardChain {
  family: string;
  table: string;
  name: string;
  policy: string;
}

type Family = 'ipv4' | 'ipv6';

/** One accept, as libvirt's iptables chains have it: direction and whether only replies pass. */
interface Pass {
  /** out: from the bridge and subnet; in: to them; cross: bridge to bridge. */
  dir: 'out' | 'in' | 'cross';
  replies?: boolean;
}

/** libvirt's FWO / FWI / FWX accepts per forward mode (isolated and open networks forward nothing of theirs). */
const PASSES: Partial<Record<NetworkDef['forward']['mode'], readonly Pass[]>> = {
  nat: [{ dir: 'out' }, { dir: 'in', replies: true }, { dir: 'cross' }],
  route: [{ dir: 'out' }, { dir: 'in' }, { dir: 'cross' }],
};

/** Tables whose chains carry our own rules. */
const OWN_TABLES = new Set([NFT_TABLE, NWFILTER_TABLE]);
/** iptables' tables (as iptables-nft creates them): rules there go in through iptables. */
const IPTABLES_TABLES = new Set(['filter', 'mangle', 'raw', 'security']);
const IPTABLES_TOOL: Record<string, XtTool> = { ip: 'iptables', ip6: 'ip6tables' };

const passComment = (bridge: string) => `virtwall-forward:${bridge}`;

const familiesOf = (chain: ForwardChain): Family[] =>
  chain.family === 'ip'
    ? ['ipv4']
    : chain.family === 'ip6'
      ? ['ipv6']
      : chain.family === 'inet'
        ? ['ipv4', 'ipv6']
        : [];

const isIptables = (chain: ForwardChain) => chain.family in IPTABLES_TOOL && IPTABLES_TABLES.has(chain.table);

/** Base chains of the forward hook in tables other than ours (`dropping`: only those with policy drop). */
export async function foreignForwardChains(runner: CommandRunner, dropping: boolean): Promise<ForwardChain[]> {
  const r = await runner.run(['nft', '-j', 'list', 'chains']);
  if (r.status !== 0) return [];
  const items = (
    JSON.parse(r.stdout || '{"nftables":[]}') as { nftables: { chain?: ForwardChain & { hook?: string } }[] }
  ).nftables;
  return items
    .flatMap((i) => (i.chain && i.chain.hook === 'forward' ? [i.chain] : []))
    .filter((c) => !OWN_TABLES.has(c.table) && familiesOf(c).length > 0 && (!dropping || c.policy === 'drop'))
    .map(({ family, table, name, policy }) => ({ family, table, name, policy }));
}

/** The chains the network's traffic must be let through; with the iptables backend its own accepts sit in iptables' filter FORWARD already. */
function chainsFor(chains: readonly ForwardChain[], backend: FirewallBackendName): ForwardChain[] {
  return chains.filter((c) => !(backend === 'iptables' && isIptables(c) && c.table === 'filter'));
}

/** One accept the network needs in a chain: a typed iptables rule or nft rule. */
export type Accept = { xt: XtRule } | { nft: NftRule };

/** The accepts the network needs in `chain`, in the order they stand at its head. */
export function passRules(def: NetworkDef, bridge: string, chain: ForwardChain): Accept[] {
  const passes = PASSES[def.forward.mode] ?? [];
  const families = familiesOf(chain);
  const subnets = def.ips
    .filter((ip) => families.includes(ip.family as Family))
    .map((ip) => ({ family: ip.family as Family, addr: formatIp(ip.address), len: ip.prefix }));
  const comment = passComment(bridge);
  const out: Accept[] = [];
  for (const pass of passes) {
    const targets = pass.dir === 'cross' ? (subnets.length > 0 ? [undefined] : []) : subnets;
    for (const subnet of targets) {
      const cidr = subnet && `${subnet.addr}/${subnet.len}`;
      if (isIptables(chain)) {
        const base =
          pass.dir === 'out'
            ? { '-s': cidr, '-i': bridge }
            : pass.dir === 'in'
              ? { '-d': cidr, '-o': bridge }
              : { '-i': bridge, '-o': bridge };
        const ct: XtMatch[] = pass.replies
          ? [{ module: 'conntrack', options: [opt('--ctstate', 'RELATED,ESTABLISHED')] }]
          : [];
        out.push({
          xt: xtablesRule(
            chain.name,
            base,
            [...ct, { module: 'comment', options: [opt('--comment', comment)] }],
            'ACCEPT',
          ),
        });
      } else {
        const ip = (field: string): Statement =>
          match(payload(subnet!.family === 'ipv6' ? 'ip6' : 'ip', field), {
            kind: 'prefix',
            addr: { kind: subnet!.family === 'ipv6' ? 'ip6' : 'ip', addr: subnet!.addr },
            len: subnet!.len,
          });
        const on =
          pass.dir === 'out'
            ? [match(meta('iifname'), str(bridge)), ip('saddr')]
            : pass.dir === 'in'
              ? [match(meta('oifname'), str(bridge)), ip('daddr')]
              : [match(meta('iifname'), str(bridge)), match(meta('oifname'), str(bridge))];
        const ctState: Statement[] = pass.replies
          ? [match(ct('state'), { kind: 'flags', names: ['related', 'established'] })]
          : [];
        out.push({ nft: { statements: [...on, ...ctState, counter, verdict('accept')], comment } });
      }
    }
  }
  return out;
}

/** The bridge's accepts present in `chain`, as they are listed (typed), with each nft rule's handle. */
async function presentPasses(
  runner: CommandRunner,
  chain: ForwardChain,
  bridge: string,
): Promise<{ xt: XtRule[]; handles: number[] }> {
  const comment = passComment(bridge);
  if (isIptables(chain)) {
    const table = await new XtablesClient(runner)
      .table(IPTABLES_TOOL[chain.family]!, chain.table)
      .catch(() => undefined);
    return { xt: rulesIn(table, chain.name).filter((r) => commentOf(r) === comment), handles: [] };
  }
  const table = await new NftCli(runner).list(chain.family as NftFamily, chain.table);
  const rules = table?.chains.get(objectKey(chain.family as NftFamily, chain.name))?.rules ?? [];
  return { xt: [], handles: rules.flatMap((r) => (r.comment === comment && r.handle !== undefined ? [r.handle] : [])) };
}

/**
 * Replaces the bridge's accepts in `chain` (`present`) by `wanted` at its head, in one
 * transaction: one `*-restore` for iptables' tables, one nft batch elsewhere.
 */
async function replacePasses(
  runner: CommandRunner,
  chain: ForwardChain,
  present: { xt: XtRule[]; handles: number[] },
  wanted: readonly Accept[],
): Promise<void> {
  const inserts = [...wanted].reverse();
  if (isIptables(chain)) {
    const lines: RestoreLine[] = [
      ...present.xt.map((r) => ({ delete: r })),
      ...inserts.flatMap((a) => ('xt' in a ? [{ insert: a.xt }] : [])),
    ];
    await new XtablesClient(runner).restore(IPTABLES_TOOL[chain.family]!, [{ table: chain.table, lines }]);
    return;
  }
  const ref = { family: chain.family as NftFamily, name: chain.name };
  const batch: Command[] = [
    ...present.handles.map((handle) => ({ verb: 'delete' as const, handle, chain: ref })),
    ...inserts.flatMap((a) => ('nft' in a ? [{ verb: 'insert' as const, rule: a.nft, chain: ref }] : [])),
  ];
  await new NftCli(runner).apply(batch, chain.table);
}

/** What was found and done in one foreign chain for one network. */
export interface ForwardPassRepair {
  chain: string;
  /** Accepts that were missing (all of them at start). */
  missing: number;
  error?: string;
}

export const chainLabel = (c: ForwardChain) => `${c.family} ${c.table} ${c.name}`;

/** The foreign chains with policy drop where the network's accepts are not all present (nothing changed). */
export async function incompleteForwardPasses(
  runner: CommandRunner,
  def: NetworkDef,
  bridge: string,
  backend: FirewallBackendName,
  dropping?: readonly ForwardChain[],
): Promise<{ chain: ForwardChain; wanted: Accept[]; present: { xt: XtRule[]; handles: number[] } }[]> {
  if (!PASSES[def.forward.mode]) return [];
  const out: { chain: ForwardChain; wanted: Accept[]; present: { xt: XtRule[]; handles: number[] } }[] = [];
  for (const chain of chainsFor(dropping ?? (await foreignForwardChains(runner, true)), backend)) {
    const wanted = passRules(def, bridge, chain);
    const present = await presentPasses(runner, chain, bridge);
    const found = isIptables(chain)
      ? wanted.filter((a) => 'xt' in a && present.xt.some((r) => sameRule(r, a.xt))).length
      : present.handles.length;
    if (found !== wanted.length || present.xt.length + present.handles.length !== wanted.length)
      out.push({ chain, wanted, present });
  }
  return out;
}

/**
 * Makes the network's accepts complete in every foreign forward chain with policy drop (those
 * of a chain are replaced together when any is missing); returns the chains changed.
 * `dropping`: those chains, when the caller has listed them already.
 */
export async function ensureForwardPasses(
  runner: CommandRunner,
  def: NetworkDef,
  bridge: string,
  backend: FirewallBackendName,
  dropping?: readonly ForwardChain[],
): Promise<ForwardPassRepair[]> {
  const repairs: ForwardPassRepair[] = [];
  for (const { chain, wanted, present } of await incompleteForwardPasses(runner, def, bridge, backend, dropping)) {
    const error = await replacePasses(runner, chain, present, wanted).then(
      () => undefined,
      (err: Error) => err.message,
    );
    repairs.push({
      chain: chainLabel(chain),
      missing: Math.max(1, wanted.length - present.xt.length - present.handles.length),
      ...(error !== undefined ? { error } : {}),
    });
  }
  return repairs;
}

/** Removes the network's accepts from every foreign forward chain (whatever its policy is now). */
export async function removeForwardPasses(runner: CommandRunner, bridge: string): Promise<void> {
  for (const chain of await foreignForwardChains(runner, false)) {
    const present = await presentPasses(runner, chain, bridge);
    if (present.xt.length + present.handles.length > 0)
      await replacePasses(runner, chain, present, []).catch(() => undefined);
  }
}
