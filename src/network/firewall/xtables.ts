// libvirt's iptables layout for virtual networks as typed xtables rules (src/xtables): the same
// rules iptables.ts renders as libvirt's command lines, in the form `*-save` lists them (base
// options in iptables' order, the protocol's match module, REJECT's default reply), so what we
// load and what the kernel lists compare by value.
import type { IpFamily } from '../../util/address.js';
import type { NetworkDef } from '../../conf/network/types.js';
import { bridgeName } from '../definition.js';
import { not, opt, type XtMatch, type XtOption, type XtRule } from '../../xtables/rule.js';
import { needsDhcpChecksumFix, networkRules, type FirewallRule, type RuleKind } from './rules.js';

export type IptablesTool = 'iptables' | 'ip6tables';
export const IPTABLES_TOOL: Record<IpFamily, IptablesTool> = { ipv4: 'iptables', ipv6: 'ip6tables' };

/** A rule in one of iptables' tables. */
export interface TableRule {
  tool: IptablesTool;
  table: string;
  rule: XtRule;
}

/** The order iptables lists the base match's options in. */
const BASE_ORDER = ['-s', '-d', '-i', '-o', '-p'];
const REJECT_WITH: Record<IptablesTool, string> = {
  iptables: 'icmp-port-unreachable',
  ip6tables: 'icmp6-port-unreachable',
};

type Base = Partial<Record<'-s' | '-d' | '-i' | '-o' | '-p', string | XtOption>>;

/** A rule from its base options (any order; undefined values left out), extra matches and target. */
export function xtablesRule(
  chain: string,
  base: Base,
  extra: readonly XtMatch[],
  target: string,
  ...targetOptions: XtOption[]
): XtRule {
  const options = BASE_ORDER.flatMap((name) => {
    const v = base[name as keyof Base];
    return v === undefined || v === '' ? [] : [typeof v === 'string' ? opt(name, v) : v];
  });
  return {
    chain,
    matches: [...(options.length > 0 ? [{ options }] : []), ...extra],
    target: { name: target, options: targetOptions },
  };
}

/** A destination port: iptables lists it under its protocol's match module. */
const dport = (protocol: string, port: number): XtMatch => ({
  module: protocol,
  options: [opt('--dport', String(port))],
});

type Renderer<K extends RuleKind> = (
  r: Extract<FirewallRule, { kind: K }>,
  br: string,
  tool: IptablesTool,
) => TableRule['rule'];

const RULES: { [K in RuleKind]: { table: string; render: Renderer<K> } } = {
  hostAccept: {
    table: 'filter',
    render: (r, br) =>
      xtablesRule(
        r.direction === 'input' ? 'LIBVIRT_INP' : 'LIBVIRT_OUT',
        { [r.direction === 'input' ? '-i' : '-o']: br, '-p': r.protocol },
        [dport(r.protocol, r.port)],
        'ACCEPT',
      ),
  },
  rejectOut: {
    table: 'filter',
    render: (_r, br, tool) =>
      xtablesRule('LIBVIRT_FWO', { '-i': br }, [], 'REJECT', opt('--reject-with', REJECT_WITH[tool])),
  },
  rejectIn: {
    table: 'filter',
    render: (_r, br, tool) =>
      xtablesRule('LIBVIRT_FWI', { '-o': br }, [], 'REJECT', opt('--reject-with', REJECT_WITH[tool])),
  },
  allowCross: { table: 'filter', render: (_r, br) => xtablesRule('LIBVIRT_FWX', { '-i': br, '-o': br }, [], 'ACCEPT') },
  allowOut: {
    table: 'filter',
    render: (r, br) => xtablesRule('LIBVIRT_FWO', { '-s': r.network, '-i': br, '-o': r.physdev }, [], 'ACCEPT'),
  },
  allowRelatedIn: {
    table: 'filter',
    render: (r, br) =>
      xtablesRule(
        'LIBVIRT_FWI',
        { '-d': r.network, '-i': r.physdev, '-o': br },
        [{ module: 'conntrack', options: [opt('--ctstate', 'RELATED,ESTABLISHED')] }],
        'ACCEPT',
      ),
  },
  allowIn: {
    table: 'filter',
    render: (r, br) => xtablesRule('LIBVIRT_FWI', { '-d': r.network, '-i': r.physdev, '-o': br }, [], 'ACCEPT'),
  },
  masquerade: {
    table: 'nat',
    render: (r) => {
      const ports = r.ports ? `${r.ports.start}-${r.ports.end}` : undefined;
      const base = { '-s': r.network, '-d': not(opt('-d', r.network)), '-o': r.physdev, '-p': r.protocol };
      if (!r.address)
        return xtablesRule('LIBVIRT_PRT', base, [], 'MASQUERADE', ...(ports ? [opt('--to-ports', ports)] : []));
      const to = `${r.address.start}${r.address.end ? `-${r.address.end}` : ''}${ports ? `:${ports}` : ''}`;
      return xtablesRule('LIBVIRT_PRT', base, [], 'SNAT', opt('--to-source', to));
    },
  },
  dontMasquerade: {
    table: 'nat',
    render: (r) => xtablesRule('LIBVIRT_PRT', { '-s': r.network, '-d': r.destination, '-o': r.physdev }, [], 'RETURN'),
  },
};

export function tableRule(r: FirewallRule, bridge: string): TableRule {
  const tool = IPTABLES_TOOL[r.family];
  const spec = RULES[r.kind] as { table: string; render: Renderer<RuleKind> };
  return { tool, table: spec.table, rule: spec.render(r as never, bridge, tool) };
}

/**
 * A network's rules in the order libvirt inserts them (each at the head of its chain), the
 * DHCP checksum fix last (iptablesAddFirewallRules).
 */
export function networkTableRules(net: NetworkDef): TableRule[] {
  const br = bridgeName(net);
  const checksum: TableRule[] = needsDhcpChecksumFix(net)
    ? [
        {
          tool: 'iptables',
          table: 'mangle',
          rule: xtablesRule(
            'LIBVIRT_PRT',
            { '-o': br, '-p': 'udp' },
            [dport('udp', 68)],
            'CHECKSUM',
            opt('--checksum-fill'),
          ),
        },
      ]
    : [];
  return [...networkRules(net).map((r) => tableRule(r, br)), ...checksum];
}
