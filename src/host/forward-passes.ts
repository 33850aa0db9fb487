// Accept rules for a network's forwarded traffic in other tables' forward base chains whose
// policy is drop (Docker's `iptables -P FORWARD DROP` is the common case): an accept in our own
// table does not override a drop in another table's base chain, so libvirt's iptables layout,
// which puts its accepts in `filter FORWARD` itself, works there and a separate table would not.
// The rules are narrow (the network's bridge and subnets, as libvirt's FWO/FWI/FWX chains), carry
// the comment `virtwall-forward:BRIDGE`, go in through iptables for iptables' own tables (native
// nft rules would make them unreadable for iptables-nft) and through nft elsewhere.
import type { CommandRunner } from '../exec/runner.js';
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
const IPTABLES_TOOL: Record<string, string> = { ip: 'iptables', ip6: 'ip6tables' };

const commentOf = (bridge: string) => `virtwall-forward:${bridge}`;

const familiesOf = (chain: ForwardChain): Family[] => (chain.family === 'ip' ? ['ipv4'] : chain.family === 'ip6' ? ['ipv6'] : chain.family === 'inet' ? ['ipv4', 'ipv6'] : []);

const isIptables = (chain: ForwardChain) => chain.family in IPTABLES_TOOL && IPTABLES_TABLES.has(chain.table);

/** Base chains of the forward hook in tables other than ours (`dropping`: only those with policy drop). */
export async function foreignForwardChains(runner: CommandRunner, dropping: boolean): Promise<ForwardChain[]> {
  const r = await runner.run(['nft', '-j', 'list', 'chains']);
  if (r.status !== 0) return [];
  const items = (JSON.parse(r.stdout || '{"nftables":[]}') as { nftables: { chain?: ForwardChain & { hook?: string } }[] }).nftables;
  return items
    .flatMap((i) => (i.chain && i.chain.hook === 'forward' ? [i.chain] : []))
    .filter((c) => !OWN_TABLES.has(c.table) && familiesOf(c).length > 0 && (!dropping || c.policy === 'drop'))
    .map(({ family, table, name, policy }) => ({ family, table, name, policy }));
}

/** The chains the network's traffic must be let through; with the iptables backend its own accepts sit in iptables' filter FORWARD already. */
function chainsFor(chains: readonly ForwardChain[], backend: FirewallBackendName): ForwardChain[] {
  return chains.filter((c) => !(backend === 'iptables' && isIptables(c) && c.table === 'filter'));
}

/** The argv of each accept the network needs in `chain` (insert order). */
export function passCommands(def: NetworkDef, bridge: string, chain: ForwardChain): string[][] {
  const passes = PASSES[def.forward.mode] ?? [];
  const families = familiesOf(chain);
  const subnets = def.ips.filter((ip) => families.includes(ip.family as Family)).map((ip) => ({ family: ip.family as Family, cidr: `${formatIp(ip.address)}/${ip.prefix}` }));
  const comment = commentOf(bridge);
  const out: string[][] = [];
  for (const pass of passes) {
    const targets = pass.dir === 'cross' ? (subnets.length > 0 ? [undefined] : []) : subnets;
    for (const subnet of targets) {
      if (isIptables(chain)) {
        const match =
          pass.dir === 'out' ? ['-i', bridge, '-s', subnet!.cidr] : pass.dir === 'in' ? ['-o', bridge, '-d', subnet!.cidr] : ['-i', bridge, '-o', bridge];
        const ct = pass.replies ? ['-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED'] : [];
        out.push([IPTABLES_TOOL[chain.family]!, '-w', '-t', chain.table, '-I', chain.name, ...match, ...ct, '-m', 'comment', '--comment', comment, '-j', 'ACCEPT']);
      } else {
        const ipKw = subnet?.family === 'ipv6' ? 'ip6' : 'ip';
        const match =
          pass.dir === 'out' ? ['iifname', bridge, ipKw, 'saddr', subnet!.cidr] : pass.dir === 'in' ? ['oifname', bridge, ipKw, 'daddr', subnet!.cidr] : ['iifname', bridge, 'oifname', bridge];
        const ct = pass.replies ? ['ct', 'state', 'related,established'] : [];
        out.push(['nft', 'insert', 'rule', chain.family, chain.table, chain.name, ...match, ...ct, 'counter', 'accept', 'comment', `"${comment}"`]);
      }
    }
  }
  return out;
}

/**
 * Commands deleting the bridge's accepts in `chain`, one per rule: by handle for nft rules; by
 * number (last first) for iptables', whose comments nft does not show.
 */
async function passRemovals(runner: CommandRunner, chain: ForwardChain, bridge: string): Promise<string[][]> {
  if (isIptables(chain)) {
    const tool = IPTABLES_TOOL[chain.family]!;
    const r = await runner.run([tool, '-w', '-t', chain.table, '-S', chain.name]);
    if (r.status !== 0) return [];
    const marker = `--comment "${commentOf(bridge)}"`;
    return r.stdout
      .split('\n')
      .filter((l) => l.startsWith('-A '))
      .flatMap((l, i) => (l.includes(marker) ? [i + 1] : []))
      .reverse()
      .map((n) => [tool, '-w', '-t', chain.table, '-D', chain.name, String(n)]);
  }
  const r = await runner.run(['nft', '-a', 'list', 'chain', chain.family, chain.table, chain.name]);
  if (r.status !== 0) return [];
  const marker = `comment "${commentOf(bridge)}"`;
  return r.stdout
    .split('\n')
    .filter((l) => l.includes(marker))
    .flatMap((l) => /# handle (\d+)/.exec(l)?.slice(1) ?? [])
    .map((h) => ['nft', 'delete', 'rule', chain.family, chain.table, chain.name, 'handle', h]);
}

async function runAll(runner: CommandRunner, commands: readonly string[][]): Promise<void> {
  for (const argv of commands) await runner.run(argv);
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
export async function incompleteForwardPasses(runner: CommandRunner, def: NetworkDef, bridge: string, backend: FirewallBackendName, dropping?: readonly ForwardChain[]): Promise<{ chain: ForwardChain; wanted: string[][]; present: string[][] }[]> {
  if (!PASSES[def.forward.mode]) return [];
  const out: { chain: ForwardChain; wanted: string[][]; present: string[][] }[] = [];
  for (const chain of chainsFor(dropping ?? (await foreignForwardChains(runner, true)), backend)) {
    const wanted = passCommands(def, bridge, chain);
    const present = await passRemovals(runner, chain, bridge);
    if (present.length !== wanted.length) out.push({ chain, wanted, present });
  }
  return out;
}

/**
 * Makes the network's accepts complete in every foreign forward chain with policy drop (those
 * of a chain are replaced together when any is missing); returns the chains changed.
 * `dropping`: those chains, when the caller has listed them already.
 */
export async function ensureForwardPasses(runner: CommandRunner, def: NetworkDef, bridge: string, backend: FirewallBackendName, dropping?: readonly ForwardChain[]): Promise<ForwardPassRepair[]> {
  const repairs: ForwardPassRepair[] = [];
  for (const { chain, wanted, present } of await incompleteForwardPasses(runner, def, bridge, backend, dropping)) {
    await runAll(runner, present);
    let error: string | undefined;
    for (const argv of wanted.slice().reverse()) {
      const r = await runner.run(argv);
      if (r.status !== 0) error ??= `'${argv.join(' ')}' failed: ${r.stderr.trim()}`;
    }
    repairs.push({ chain: chainLabel(chain), missing: Math.max(1, wanted.length - present.length), ...(error !== undefined ? { error } : {}) });
  }
  return repairs;
}

/** Removes the network's accepts from every foreign forward chain (whatever its policy is now). */
export async function removeForwardPasses(runner: CommandRunner, bridge: string): Promise<void> {
  for (const chain of await foreignForwardChains(runner, false)) await runAll(runner, await passRemovals(runner, chain, bridge));
}
