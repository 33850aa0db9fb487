// libvirt's iptables backend for virtual networks (network_iptables.c): rules go into libvirt's
// own LIBVIRT_* chains, hooked once into the built-in chains of the filter, nat and mangle tables.
import { command, type FirewallCommand } from '../../plan/command.js';
import type { IpFamily } from '../../util/address.js';
import type { NetworkDef } from '../../conf/network/types.js';
import { bridgeName } from '../definition.js';
import type { PlannedCommand } from '../../plan/transaction.js';
import type { FirewallTransaction, NetworkFirewallPlan } from './plan.js';
import type { XtRule } from '../../xtables/rule.js';
import { hasChain, rulesIn, type XtRuleset } from '../../xtables/save.js';
import {
  needsDhcpChecksumFix,
  networkRules,
  optionArgs,
  type FirewallRule,
  type Masquerade,
  type RuleKind,
} from './rules.js';

const BINARY: Record<IpFamily, string> = { ipv4: 'iptables', ipv6: 'ip6tables' };

/** libvirt's private chains: [table, built-in parent, child], in creation order. */
export const GLOBAL_CHAINS = [
  ['filter', 'INPUT', 'LIBVIRT_INP'],
  ['filter', 'OUTPUT', 'LIBVIRT_OUT'],
  ['filter', 'FORWARD', 'LIBVIRT_FWO'],
  ['filter', 'FORWARD', 'LIBVIRT_FWI'],
  ['filter', 'FORWARD', 'LIBVIRT_FWX'],
  ['nat', 'POSTROUTING', 'LIBVIRT_PRT'],
  ['mangle', 'POSTROUTING', 'LIBVIRT_PRT'],
] as const;
const TABLES = ['filter', 'nat', 'mangle'] as const;
type Table = (typeof TABLES)[number];

function iptables(family: IpFamily, args: readonly string[]): FirewallCommand {
  return command([BINARY[family], '-w', ...args]);
}

/** The jump of a built-in chain to one of libvirt's: `-A PARENT -j CHILD`. */
const isJumpTo = (r: XtRule, child: string) =>
  r.matches.length === 0 && r.target?.name === child && !r.target.goto && r.target.options.length === 0;

/** What a tool's tables (as listed; undefined: none) lack of libvirt's chains and jumps, in creation order. */
export function missingSkeleton(
  present: XtRuleset | undefined,
): { table: Table; parent: string; child: string; chain: boolean; jump: boolean; jumpRule: XtRule }[] {
  return GLOBAL_CHAINS.flatMap(([table, parent, child]) => {
    const t = present?.get(table);
    const chain = !hasChain(t, child);
    const jump = !rulesIn(t, parent).some((r) => isJumpTo(r, child));
    const jumpRule: XtRule = { chain: parent, matches: [], target: { name: child, options: [] } };
    return chain || jump ? [{ table, parent, child, chain, jump, jumpRule }] : [];
  });
}

/**
 * libvirt's global chain setup for one address family (iptablesSetupPrivateChains) as libvirt
 * runs it: list each table; what `present` (the tool's tables as listed; undefined: none, as on
 * the dry-run host of libvirt's tests) lacks is created after the listings, in the same group.
 */
export function iptablesGlobalSetup(family: IpFamily, present?: XtRuleset): FirewallTransaction[] {
  const commands = TABLES.map((table) => ({
    ...iptables(family, ['--table', table, '--list-rules']),
    followUp: (): PlannedCommand[] =>
      missingSkeleton(present)
        .filter((m) => m.table === table)
        .flatMap((m) => [
          ...(m.chain ? [iptables(family, ['--table', table, '--new-chain', m.child])] : []),
          ...(m.jump ? [iptables(family, ['--table', table, '--insert', m.parent, '--jump', m.child])] : []),
        ]),
  }));
  return [{ ignoreErrors: false, commands, rollback: [], autoRollback: false }];
}

function masqueradeArgs(r: Masquerade): string[] {
  const ports = r.ports ? `${r.ports.start}-${r.ports.end}` : undefined;
  const target = r.address
    ? [
        '--jump',
        'SNAT',
        '--to-source',
        `${r.address.start}${r.address.end ? `-${r.address.end}` : ''}${ports ? `:${ports}` : ''}`,
      ]
    : ['--jump', 'MASQUERADE', ...optionArgs('--to-ports', ports)];
  return [
    '--table',
    'nat',
    '--insert',
    'LIBVIRT_PRT',
    '--source',
    r.network,
    ...optionArgs('-p', r.protocol),
    '!',
    '--destination',
    r.network,
    ...optionArgs('--out-interface', r.physdev),
    ...target,
  ];
}

type Renderer<K extends RuleKind> = (rule: Extract<FirewallRule, { kind: K }>, bridge: string) => string[];

/** Each rule kind as iptables arguments (after the binary and -w). */
const RENDER: { [K in RuleKind]: Renderer<K> } = {
  hostAccept: (r, br) => [
    '--table',
    'filter',
    '--insert',
    r.direction === 'input' ? 'LIBVIRT_INP' : 'LIBVIRT_OUT',
    r.direction === 'input' ? '--in-interface' : '--out-interface',
    br,
    '--protocol',
    r.protocol,
    '--destination-port',
    String(r.port),
    '--jump',
    'ACCEPT',
  ],
  rejectOut: (_r, br) => ['--table', 'filter', '--insert', 'LIBVIRT_FWO', '--in-interface', br, '--jump', 'REJECT'],
  rejectIn: (_r, br) => ['--table', 'filter', '--insert', 'LIBVIRT_FWI', '--out-interface', br, '--jump', 'REJECT'],
  allowCross: (_r, br) => [
    '--table',
    'filter',
    '--insert',
    'LIBVIRT_FWX',
    '--in-interface',
    br,
    '--out-interface',
    br,
    '--jump',
    'ACCEPT',
  ],
  allowOut: (r, br) => [
    '--table',
    'filter',
    '--insert',
    'LIBVIRT_FWO',
    '--source',
    r.network,
    '--in-interface',
    br,
    ...optionArgs('--out-interface', r.physdev),
    '--jump',
    'ACCEPT',
  ],
  allowRelatedIn: (r, br) => [
    '--table',
    'filter',
    '--insert',
    'LIBVIRT_FWI',
    '--destination',
    r.network,
    ...optionArgs('--in-interface', r.physdev),
    '--out-interface',
    br,
    '--match',
    'conntrack',
    '--ctstate',
    'ESTABLISHED,RELATED',
    '--jump',
    'ACCEPT',
  ],
  allowIn: (r, br) => [
    '--table',
    'filter',
    '--insert',
    'LIBVIRT_FWI',
    '--destination',
    r.network,
    ...optionArgs('--in-interface', r.physdev),
    '--out-interface',
    br,
    '--jump',
    'ACCEPT',
  ],
  masquerade: (r) => masqueradeArgs(r),
  dontMasquerade: (r) => [
    '--table',
    'nat',
    '--insert',
    'LIBVIRT_PRT',
    ...optionArgs('--out-interface', r.physdev),
    '--source',
    r.network,
    '--destination',
    r.destination,
    '--jump',
    'RETURN',
  ],
};

export function iptablesRule(rule: FirewallRule, bridge: string): FirewallCommand {
  const render = RENDER[rule.kind] as Renderer<RuleKind>;
  return iptables(rule.family, render(rule as never, bridge));
}

/**
 * iptablesAddFirewallRules: the rules in one auto-rollback transaction, then the DHCP checksum
 * fix in a second one whose errors are ignored (not every iptables has the CHECKSUM target).
 */
export function iptablesNetworkPlan(net: NetworkDef): NetworkFirewallPlan {
  const bridge = bridgeName(net);
  const checksum = needsDhcpChecksumFix(net)
    ? [
        iptables('ipv4', [
          '--table',
          'mangle',
          '--insert',
          'LIBVIRT_PRT',
          '--out-interface',
          bridge,
          '--protocol',
          'udp',
          '--destination-port',
          '68',
          '--jump',
          'CHECKSUM',
          '--checksum-fill',
        ]),
      ]
    : [];
  return {
    backend: 'iptables',
    groups: [
      {
        ignoreErrors: false,
        commands: networkRules(net).map((r) => iptablesRule(r, bridge)),
        rollback: [],
        autoRollback: true,
      },
      { ignoreErrors: true, commands: checksum, rollback: [], autoRollback: true },
    ],
  };
}
