// libvirt's nftables backend for virtual networks (network_nftables.c): its own `libvirt_network`
// table per family with a forward hook chain jumping to guest_output/guest_input/guest_cross and
// a nat postrouting chain. Host services need no rules (the table's policy is accept), and the
// DHCP checksum fix is a tc filter on the bridge.
import { VirtwallError } from '../../errors.js';
import { command, type FirewallCommand } from '../../plan/command.js';
import type { IpFamily } from '../../util/address.js';
import type { NetworkDef } from '../../conf/network/types.js';
import { bridgeName } from '../definition.js';
import type { PlannedCommand } from '../../plan/transaction.js';
import type { BackendRollback, FirewallTransaction, NetworkFirewallPlan } from './plan.js';
import { networkRules, optionArgs, type FirewallRule, type Masquerade, type RuleKind } from './rules.js';

export const NFT_TABLE = 'libvirt_network';
const NFT_FAMILY: Record<IpFamily, string> = { ipv4: 'ip', ipv6: 'ip6' };

/** libvirt's chains in its table: [chain, parent chain it is jumped to from, base-chain spec]. */
const GLOBAL_CHAINS: readonly (readonly [string, string | undefined, string | undefined])[] = [
  ['forward', undefined, '{ type filter hook forward priority 0; policy accept; }'],
  ['guest_output', 'forward', undefined],
  ['guest_input', 'forward', undefined],
  ['guest_cross', 'forward', undefined],
  ['guest_nat', undefined, '{ type nat hook postrouting priority 100; policy accept; }'],
];

const nft = (args: readonly string[], ignoreErrors = false): FirewallCommand => command(['nft', ...args], ignoreErrors);

/** What the table lacks of libvirt's chains and jumps, from `nft list table` output. */
function missingChains(fam: string, listing: string): PlannedCommand[] {
  const chains = new Set<string>();
  const parentOf = new Map<string, string>();
  let tableExists = false;
  let chain: string | undefined;
  for (const raw of listing.split('\n')) {
    const line = raw.trim();
    if (line === `table ${fam} ${NFT_TABLE} {`) tableExists = true;
    const chainMatch = /^chain (\S+) /.exec(line);
    const jump = /jump (\S+)/.exec(line);
    if (chainMatch) {
      chain = chainMatch[1]!;
      chains.add(chain);
    } else if (jump && chain) {
      parentOf.set(jump[1]!, chain);
    }
  }
  const cmds = tableExists ? [] : [nft(['add', 'table', fam, NFT_TABLE])];
  for (const [child, parent, spec] of GLOBAL_CHAINS) {
    if (!(tableExists && chains.has(child))) cmds.push(nft(['add', 'chain', fam, NFT_TABLE, child, ...(spec ? [spec] : [])]));
    if (parent && parentOf.get(child) !== parent) {
      cmds.push(nft(['insert', 'rule', fam, NFT_TABLE, parent, 'counter', 'jump', child]));
    }
  }
  return cmds;
}

/**
 * libvirt's global table setup for one family (nftablesSetupPrivateChains): list the table,
 * then add whatever is missing. (nft fails listing a table that does not exist; libvirt's nft
 * runner reads that failure as an empty listing.)
 */
export function nftablesGlobalSetup(family: IpFamily): FirewallTransaction[] {
  const fam = NFT_FAMILY[family];
  const list = { ...nft(['list', 'table', fam, NFT_TABLE]), followUp: (out: string) => missingChains(fam, out) };
  return [{ ignoreErrors: false, commands: [list], rollback: [], autoRollback: false }];
}

function masqueradeArgs(r: Masquerade, fam: string): string[] {
  const ports = r.ports ? `:${r.ports.start}-${r.ports.end}` : '';
  const target = r.address
    ? ['snat', 'to', `${r.address.start}${r.address.end ? `-${r.address.end}` : ''}${ports}`]
    : ['masquerade', ...optionArgs('to', ports)];
  return [
    'guest_nat', ...(r.protocol ? ['meta', 'l4proto', r.protocol] : []),
    fam, 'saddr', r.network, fam, 'daddr', '!=', r.network,
    ...optionArgs('oifname', r.physdev), 'counter', ...target,
  ];
}

type Renderer<K extends RuleKind> = (rule: Extract<FirewallRule, { kind: K }>, bridge: string, fam: string) => string[] | undefined;

/** Each rule kind as the chain and match of an `nft insert rule`; undefined: not in nftables. */
const RENDER: { [K in RuleKind]: Renderer<K> } = {
  hostAccept: () => undefined,
  rejectOut: (_r, br) => ['guest_output', 'iif', br, 'counter', 'reject'],
  rejectIn: (_r, br) => ['guest_input', 'oif', br, 'counter', 'reject'],
  allowCross: (_r, br) => ['guest_cross', 'iif', br, 'oif', br, 'counter', 'accept'],
  allowOut: (r, br, fam) => ['guest_output', fam, 'saddr', r.network, 'iif', br, ...optionArgs('oifname', r.physdev), 'counter', 'accept'],
  allowRelatedIn: (r, br, fam) => [
    'guest_input', ...optionArgs('iifname', r.physdev), 'oif', br, fam, 'daddr', r.network,
    'ct', 'state', 'related,established', 'counter', 'accept',
  ],
  allowIn: (r, br, fam) => ['guest_input', fam, 'daddr', r.network, ...optionArgs('iifname', r.physdev), 'oif', br, 'counter', 'accept'],
  masquerade: (r, _br, fam) => masqueradeArgs(r, fam),
  dontMasquerade: (r, _br, fam) => [
    'guest_nat', ...optionArgs('oifname', r.physdev), fam, 'saddr', r.network, fam, 'daddr', r.destination, 'counter', 'return',
  ],
};

/** The rule as libvirt runs it in an auto-rollback transaction (-ae: echo the new rule's handle). */
export function nftablesRule(rule: FirewallRule, bridge: string): FirewallCommand | undefined {
  const fam = NFT_FAMILY[rule.family];
  const render = RENDER[rule.kind] as Renderer<RuleKind>;
  const match = render(rule as never, bridge, fam);
  return match && nft(['-ae', 'insert', 'rule', fam, NFT_TABLE, ...match]);
}

/** The tc filter recomputing DHCP reply checksums, as added ('add') and removed ('del'). */
function checksumFilter(bridge: string, verb: 'add' | 'del'): FirewallCommand {
  return command(
    ['tc', 'filter', verb, 'dev', bridge, 'prio', '2', 'protocol', 'ip', 'parent', '1:',
      'u32', 'match', 'ip', 'dport', '68', 'ffff', 'action', 'csum', 'ip', 'and', 'udp'],
    verb === 'del',
  );
}

/**
 * nftablesAddFirewallRules: the qdisc the tc filter needs is created (if absent) outside the
 * transaction; the kernel drops qdisc and filter with the bridge, libvirt still deletes the filter.
 */
export function nftablesNetworkPlan(net: NetworkDef): NetworkFirewallPlan {
  const br = bridgeName(net);
  const rules = networkRules(net).flatMap((r) => nftablesRule(r, br) ?? []);
  // virNetDevBandWidthAddTxFilterParentQdisc: add the root qdisc unless `show` finds one
  const qdisc = {
    ...command(['tc', 'qdisc', 'show', 'dev', br, 'handle', '1:']),
    followUp: (out: string) =>
      out.trim() === '' ? [command(['tc', 'qdisc', 'add', 'dev', br, 'root', 'handle', '1:', 'htb', 'default', '2'])] : [],
  };
  return {
    backend: 'nftables',
    groups: [
      { ignoreErrors: false, commands: [qdisc], rollback: [], autoRollback: false },
      { ignoreErrors: false, commands: [checksumFilter(br, 'add'), ...rules], rollback: [checksumFilter(br, 'del')], autoRollback: true },
    ],
  };
}

const CREATES = new Set(['insert', 'add', 'create']);
const UNDOABLE = new Set(['rule', 'chain', 'table']);

/**
 * An nft object is deleted by its handle, which `nft -ae` printed ("# handle N") when it was
 * created: delete <type> <family> [<table> [<chain>]] handle N.
 */
export const nftablesRollback: BackendRollback = {
  rollbackOf(cmd, output) {
    if (cmd.argv[0] !== 'nft') return undefined;
    const args = cmd.argv.slice(1);
    const verb = args.findIndex((a) => !a.startsWith('-'));
    const type = args[verb + 1];
    if (verb < 0 || !CREATES.has(args[verb]!) || type === undefined || !UNDOABLE.has(type)) return undefined;
    const handle = /# handle (\d+)/.exec(output)?.[1];
    if (handle === undefined) {
      throw new VirtwallError('operation-failed', `couldn't register rollback command - command '${cmd.argv.join(' ')}' had no valid handle in output ('${output}')`);
    }
    const scope = args.slice(verb + 2, verb + 2 + (type === 'rule' ? 3 : type === 'chain' ? 2 : 1));
    return nft(['delete', type, ...scope, 'handle', handle], true);
  },
};
