// libvirt's nftables backend for virtual networks (network_nftables.c): its own `libvirt_network`
// table per family with a forward hook chain jumping to guest_output/guest_input/guest_cross and
// a nat postrouting chain. Host services need no rules (the table's policy is accept), and the
// DHCP checksum fix is a tc filter on the bridge.
import type { ListedTable } from '../../nft/listing.js';
import {
  counter,
  ct,
  jump,
  match,
  meta,
  payload,
  str,
  sym,
  verdict,
  type Statement,
  type Value,
} from '../../nft/expr.js';
import { objectKey, type Hook, type Json, type KernelStatement, type NftRule } from '../../nft/objects.js';
import { command, type FirewallCommand } from '../../plan/command.js';
import type { IpFamily } from '../../util/address.js';
import type { NetworkDef } from '../../conf/network/types.js';
import { bridgeName } from '../definition.js';
import type { PlannedCommand } from '../../plan/transaction.js';
import type { FirewallTransaction, NetworkFirewallPlan } from './plan.js';
import { networkRules, optionArgs, type FirewallRule, type Masquerade, type RuleKind } from './rules.js';

export const NFT_TABLE = 'libvirt_network';
export const NFT_FAMILY: Record<IpFamily, 'ip' | 'ip6'> = { ipv4: 'ip', ipv6: 'ip6' };

/** libvirt's chains in its table, in creation order: the chain it is jumped to from, its hook. */
export const SKELETON_CHAINS: readonly { name: string; parent?: string; hook?: Hook }[] = [
  { name: 'forward', hook: { type: 'filter', hook: 'forward', priority: 0, policy: 'accept' } },
  { name: 'guest_output', parent: 'forward' },
  { name: 'guest_input', parent: 'forward' },
  { name: 'guest_cross', parent: 'forward' },
  { name: 'guest_nat', hook: { type: 'nat', hook: 'postrouting', priority: 100, policy: 'accept' } },
];

/** The jump of libvirt's skeleton to `chain`: `counter jump CHAIN`. */
export function isSkeletonJump(body: readonly KernelStatement[], chain?: string): boolean {
  const statements = body.filter((s) => !('counter' in s));
  const target =
    statements.length === 1 ? (statements[0]!['jump'] as { target?: Json } | undefined)?.target : undefined;
  return (
    target !== undefined &&
    (chain === undefined ? SKELETON_CHAINS.some((c) => c.parent && c.name === target) : target === chain)
  );
}

/** What a table (undefined: absent) lacks of libvirt's skeleton: the table, chains, jumps. */
export function missingSkeleton(
  table: ListedTable | undefined,
  family: 'ip' | 'ip6',
): { table: boolean; chains: typeof SKELETON_CHAINS; jumps: typeof SKELETON_CHAINS } {
  const chain = (name: string) => table?.chains.get(objectKey(family, name));
  return {
    table: table === undefined,
    chains: SKELETON_CHAINS.filter((c) => !chain(c.name)),
    jumps: SKELETON_CHAINS.filter(
      (c) => c.parent && !(chain(c.parent)?.rules ?? []).some((r) => isSkeletonJump(r.body ?? [], c.name)),
    ),
  };
}

const nft = (args: readonly string[], ignoreErrors = false): FirewallCommand => command(['nft', ...args], ignoreErrors);

const hookSpec = (h: Hook) => `{ type ${h.type} hook ${h.hook} priority ${h.priority}; policy ${h.policy}; }`;

/** libvirt's commands creating what `present` lacks of the skeleton. */
function missingCommands(fam: 'ip' | 'ip6', present: ListedTable | undefined): PlannedCommand[] {
  const missing = missingSkeleton(present, fam);
  const cmds = missing.table ? [nft(['add', 'table', fam, NFT_TABLE])] : [];
  for (const c of SKELETON_CHAINS) {
    if (missing.chains.includes(c))
      cmds.push(nft(['add', 'chain', fam, NFT_TABLE, c.name, ...(c.hook ? [hookSpec(c.hook)] : [])]));
    if (missing.jumps.includes(c))
      cmds.push(nft(['insert', 'rule', fam, NFT_TABLE, c.parent!, 'counter', 'jump', c.name]));
  }
  return cmds;
}

/**
 * libvirt's global table setup for one family (nftablesSetupPrivateChains) as libvirt runs it:
 * list the table, then add whatever is missing from `present` (the table as listed; undefined:
 * absent, as on the dry-run host of libvirt's tests).
 */
export function nftablesGlobalSetup(family: IpFamily, present?: ListedTable): FirewallTransaction[] {
  const fam = NFT_FAMILY[family];
  const list = { ...nft(['list', 'table', fam, NFT_TABLE]), followUp: () => missingCommands(fam, present) };
  return [{ ignoreErrors: false, commands: [list], rollback: [], autoRollback: false }];
}

function masqueradeArgs(r: Masquerade, fam: string): string[] {
  const ports = r.ports ? `:${r.ports.start}-${r.ports.end}` : '';
  const target = r.address
    ? ['snat', 'to', `${r.address.start}${r.address.end ? `-${r.address.end}` : ''}${ports}`]
    : ['masquerade', ...optionArgs('to', ports)];
  return [
    'guest_nat',
    ...(r.protocol ? ['meta', 'l4proto', r.protocol] : []),
    fam,
    'saddr',
    r.network,
    fam,
    'daddr',
    '!=',
    r.network,
    ...optionArgs('oifname', r.physdev),
    'counter',
    ...target,
  ];
}

type Renderer<K extends RuleKind> = (
  rule: Extract<FirewallRule, { kind: K }>,
  bridge: string,
  fam: string,
) => string[] | undefined;

/** Each rule kind as the chain and match of an `nft insert rule`; undefined: not in nftables. */
const RENDER: { [K in RuleKind]: Renderer<K> } = {
  hostAccept: () => undefined,
  rejectOut: (_r, br) => ['guest_output', 'iif', br, 'counter', 'reject'],
  rejectIn: (_r, br) => ['guest_input', 'oif', br, 'counter', 'reject'],
  allowCross: (_r, br) => ['guest_cross', 'iif', br, 'oif', br, 'counter', 'accept'],
  allowOut: (r, br, fam) => [
    'guest_output',
    fam,
    'saddr',
    r.network,
    'iif',
    br,
    ...optionArgs('oifname', r.physdev),
    'counter',
    'accept',
  ],
  allowRelatedIn: (r, br, fam) => [
    'guest_input',
    ...optionArgs('iifname', r.physdev),
    'oif',
    br,
    fam,
    'daddr',
    r.network,
    'ct',
    'state',
    'related,established',
    'counter',
    'accept',
  ],
  allowIn: (r, br, fam) => [
    'guest_input',
    fam,
    'daddr',
    r.network,
    ...optionArgs('iifname', r.physdev),
    'oif',
    br,
    'counter',
    'accept',
  ],
  masquerade: (r, _br, fam) => masqueradeArgs(r, fam),
  dontMasquerade: (r, _br, fam) => [
    'guest_nat',
    ...optionArgs('oifname', r.physdev),
    fam,
    'saddr',
    r.network,
    fam,
    'daddr',
    r.destination,
    'counter',
    'return',
  ],
};

/** The rule's chain and words as libvirt gives them to `nft insert rule`; undefined: not in nftables. */
export function nftablesRuleWords(rule: FirewallRule, bridge: string): string[] | undefined {
  const render = RENDER[rule.kind] as Renderer<RuleKind>;
  return render(rule as never, bridge, NFT_FAMILY[rule.family]);
}

/** The rule as libvirt runs it in an auto-rollback transaction (-ae: echo the new rule's handle). */
export function nftablesRule(rule: FirewallRule, bridge: string): FirewallCommand | undefined {
  const match = nftablesRuleWords(rule, bridge);
  return match && nft(['-ae', 'insert', 'rule', NFT_FAMILY[rule.family], NFT_TABLE, ...match]);
}

/** A network rule in libvirt's table: its chain and family, as a typed rule (src/nft/expr.ts). */
export interface ChainRule {
  family: 'ip' | 'ip6';
  chain: string;
  rule: NftRule;
}

const ADDRESS: Record<IpFamily, 'ip' | 'ip6'> = { ipv4: 'ip', ipv6: 'ip6' };

/** A subnet (`10.0.0.0/24`) or address range (`a-b`) of the rule's family as an nft value. */
function addressValue(family: IpFamily, text: string): Value {
  const [addr, len] = text.split('/');
  const ip = (a: string): Value => ({ kind: ADDRESS[family], addr: a });
  return len !== undefined ? { kind: 'prefix', addr: ip(addr!), len: Number(len) } : ip(addr!);
}

const ifname = (key: string, name: string | undefined): Statement[] =>
  name !== undefined && name !== '' ? [match(meta(key), str(name))] : [];

type Statements<K extends RuleKind> = (
  rule: Extract<FirewallRule, { kind: K }>,
  bridge: string,
) => [chain: string, statements: Statement[]] | undefined;

/** Each rule kind as the statements libvirt's `nft insert rule` words mean (RENDER above); undefined: not in nftables. */
const STATEMENTS: { [K in RuleKind]: Statements<K> } = {
  hostAccept: () => undefined,
  rejectOut: (_r, br) => ['guest_output', [...ifname('iif', br), counter, { kind: 'reject' }]],
  rejectIn: (_r, br) => ['guest_input', [...ifname('oif', br), counter, { kind: 'reject' }]],
  allowCross: (_r, br) => ['guest_cross', [...ifname('iif', br), ...ifname('oif', br), counter, verdict('accept')]],
  allowOut: (r, br) => [
    'guest_output',
    [
      match(payload(ADDRESS[r.family], 'saddr'), addressValue(r.family, r.network)),
      ...ifname('iif', br),
      ...ifname('oifname', r.physdev),
      counter,
      verdict('accept'),
    ],
  ],
  allowRelatedIn: (r, br) => [
    'guest_input',
    [
      ...ifname('iifname', r.physdev),
      ...ifname('oif', br),
      match(payload(ADDRESS[r.family], 'daddr'), addressValue(r.family, r.network)),
      match(ct('state'), { kind: 'flags', names: ['related', 'established'] }),
      counter,
      verdict('accept'),
    ],
  ],
  allowIn: (r, br) => [
    'guest_input',
    [
      match(payload(ADDRESS[r.family], 'daddr'), addressValue(r.family, r.network)),
      ...ifname('iifname', r.physdev),
      ...ifname('oif', br),
      counter,
      verdict('accept'),
    ],
  ],
  masquerade: (r) => {
    const ports = r.ports ? ([r.ports.start, r.ports.end] as const) : undefined;
    const to: Statement = r.address
      ? {
          kind: 'snat',
          addr: r.address.end
            ? {
                kind: 'range',
                from: addressValue(r.family, r.address.start),
                to: addressValue(r.family, r.address.end),
              }
            : addressValue(r.family, r.address.start),
          ...(ports ? { ports } : {}),
        }
      : { kind: 'masquerade', ...(ports ? { ports } : {}) };
    const fam = ADDRESS[r.family];
    return [
      'guest_nat',
      [
        ...(r.protocol ? [match(meta('l4proto'), sym(r.protocol))] : []),
        match(payload(fam, 'saddr'), addressValue(r.family, r.network)),
        match(payload(fam, 'daddr'), addressValue(r.family, r.network), true),
        ...ifname('oifname', r.physdev),
        counter,
        to,
      ],
    ];
  },
  dontMasquerade: (r) => [
    'guest_nat',
    [
      ...ifname('oifname', r.physdev),
      match(payload(ADDRESS[r.family], 'saddr'), addressValue(r.family, r.network)),
      match(payload(ADDRESS[r.family], 'daddr'), addressValue(r.family, r.destination)),
      counter,
      verdict('return'),
    ],
  ],
};

/** A network's rules in libvirt's table as typed rules, in the order libvirt inserts them (each at the head of its chain). */
export function networkChainRules(net: NetworkDef): ChainRule[] {
  const br = bridgeName(net);
  return networkRules(net).flatMap((r) => {
    const typed = (STATEMENTS[r.kind] as Statements<RuleKind>)(r as never, br);
    return typed
      ? [{ family: NFT_FAMILY[r.family], chain: typed[0], rule: { statements: typed[1], comment: '' } }]
      : [];
  });
}

/** libvirt's jump to one of its chains: `counter jump CHAIN`. */
export const skeletonJump = (chain: string): NftRule => ({ statements: [counter, jump(chain)], comment: '' });

/** The tc filter recomputing DHCP reply checksums, as added ('add') and removed ('del'). */
export function checksumFilter(bridge: string, verb: 'add' | 'del'): FirewallCommand {
  return command(
    [
      'tc',
      'filter',
      verb,
      'dev',
      bridge,
      'prio',
      '2',
      'protocol',
      'ip',
      'parent',
      '1:',
      'u32',
      'match',
      'ip',
      'dport',
      '68',
      'ffff',
      'action',
      'csum',
      'ip',
      'and',
      'udp',
    ],
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
      out.trim() === ''
        ? [command(['tc', 'qdisc', 'add', 'dev', br, 'root', 'handle', '1:', 'htb', 'default', '2'])]
        : [],
  };
  return {
    backend: 'nftables',
    groups: [
      { ignoreErrors: false, commands: [qdisc], rollback: [], autoRollback: false },
      {
        ignoreErrors: false,
        commands: [checksumFilter(br, 'add'), ...rules],
        rollback: [checksumFilter(br, 'del')],
        autoRollback: true,
      },
    ],
  };
}
