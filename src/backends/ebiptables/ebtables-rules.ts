// Ethernet-layer rules (mac, vlan, stp, arp, rarp, ip, ipv6, and rules without a protocol) as
// ebtables arguments, following libvirt's ebtablesCreateRuleInstance. Each protocol is a list of
// steps in libvirt's argument order; most steps are table rows "option [!] value[sep second]".
import { invalidInput } from '../../errors.js';
import type { ResolvedRule } from '../../nwfilter/instantiate.js';
import { ArgList, printValue } from './print.js';

/** STP's bridge group address, the destination of every STP frame. */
const STP_BGA = '01:80:c2:00:00:00';

interface Item {
  attr: string;
  /** Attribute printed after the first one, joined by `sep` (a mask or a range end). */
  second?: string;
  sep?: string;
  option: string;
  /** Option used when the rule is applied in reverse (the guest-bound half of an inout rule). */
  reversed?: string;
  hex?: boolean;
}

type Step = Item | { fixed: readonly string[] } | { special: (a: ArgList, reverse: boolean) => void };

const item = (attr: string, option: string, more: Partial<Item> = {}): Item => ({ attr, option, ...more });
const range = (attr: string, option: string): Item => item(attr, option, { second: `${attr}-hi`, sep: ':' });
const masked = (attr: string, option: string): Item => item(attr, option, { second: `${attr}-mask`, sep: '/' });

const ETH_HEADER: Step[] = [
  item('srcmacaddr', '-s', { second: 'srcmacmask', sep: '/', reversed: '-d' }),
  item('dstmacaddr', '-d', { second: 'dstmacmask', sep: '/', reversed: '-s' }),
];

function ipSteps(v: '' | '6', proto: string): Step[] {
  return [
    ...ETH_HEADER,
    { fixed: ['-p', proto] },
    item('srcipaddr', `--ip${v}-source`, { second: 'srcipmask', sep: '/', reversed: `--ip${v}-destination` }),
    item('dstipaddr', `--ip${v}-destination`, { second: 'dstipmask', sep: '/', reversed: `--ip${v}-source` }),
    item('protocol', `--ip${v}-protocol`),
    item('srcportstart', `--ip${v}-source-port`, {
      second: 'srcportend',
      sep: ':',
      reversed: `--ip${v}-destination-port`,
    }),
    item('dstportstart', `--ip${v}-destination-port`, {
      second: 'dstportend',
      sep: ':',
      reversed: `--ip${v}-source-port`,
    }),
  ];
}

/** ARP addresses; libvirt reuses the last mask printed when the destination has none. */
function arpAddresses(a: ArgList, reverse: boolean): void {
  let mask: string | undefined;
  for (const [addr, own, other] of [
    ['arpsrcipaddr', 'src', 'dst'],
    ['arpdstipaddr', 'dst', 'src'],
  ] as const) {
    if (!a.has(addr)) continue;
    const m = a.attr(`arp${own}ipmask`);
    if (m) mask = printValue(m);
    a.push(`--arp-ip-${reverse ? other : own}`)
      .not(addr)
      .push(`${printValue(a.attr(addr)!)}/${mask ?? '32'}`);
  }
}

function isTrue(a: ArgList, name: string): boolean {
  const v = a.attr(name)?.value;
  if (!v) return false;
  return v.kind === 'boolean' ? v.value : v.kind === 'text' && ['true', '1', 'yes'].includes(v.text);
}

function arpSteps(ethertype: string): Step[] {
  return [
    ...ETH_HEADER,
    { fixed: ['-p', ethertype] },
    item('hwtype', '--arp-htype'),
    item('opcode', '--arp-opcode'),
    item('protocoltype', '--arp-ptype', { hex: true }),
    { special: arpAddresses },
    item('arpsrcmacaddr', '--arp-mac-src', { reversed: '--arp-mac-dst' }),
    item('arpdstmacaddr', '--arp-mac-dst', { reversed: '--arp-mac-src' }),
    {
      special: (a) => {
        if (isTrue(a, 'gratuitous')) a.not('gratuitous').push('--arp-gratuitous');
      },
    },
  ];
}

/** ICMPv6 type/code ranges; a missing end repeats the start, a missing start means 0:255. */
function icmpv6Types(a: ArgList): void {
  if (!['type', 'typeend', 'code', 'codeend'].some((n) => a.has(n))) return;
  const rangeOf = (start: string, end: string) => {
    const lo = a.attr(start);
    const from = lo ? printValue(lo) : '0';
    const hi = a.attr(end);
    return `${from}:${hi ? printValue(hi) : lo ? from : '255'}`;
  };
  a.push('--ip6-icmp-type')
    .not('type')
    .push(`${rangeOf('type', 'typeend')}/${rangeOf('code', 'codeend')}`);
}

const STEPS: Record<string, Step[]> = {
  none: [],
  mac: [...ETH_HEADER, item('protocolid', '-p', { hex: true })],
  vlan: [
    ...ETH_HEADER,
    { fixed: ['-p', '0x8100'] },
    item('vlanid', '--vlan-id'),
    item('encap-protocol', '--vlan-encap'),
  ],
  stp: [
    ...ETH_HEADER,
    { fixed: ['-d', STP_BGA] },
    item('type', '--stp-type'),
    item('flags', '--stp-flags'),
    range('root-priority', '--stp-root-pri'),
    masked('root-address', '--stp-root-addr'),
    range('root-cost', '--stp-root-cost'),
    range('sender-priority', '--stp-sender-prio'),
    masked('sender-address', '--stp-sender-addr'),
    range('port', '--stp-port'),
    range('age', '--stp-msg-age'),
    range('max-age', '--stp-max-age'),
    range('hello-time', '--stp-hello-time'),
    range('forward-delay', '--stp-forward-delay'),
  ],
  arp: arpSteps('0x806'),
  rarp: arpSteps('0x8035'),
  ip: [...ipSteps('', 'ipv4'), item('dscp', '--ip-tos', { hex: true })],
  ipv6: [...ipSteps('6', 'ipv6'), { special: icmpv6Types }],
};

/** libvirt's jump target for an action; ebtables cannot REJECT, so reject drops. */
function ebtablesTarget(rule: ResolvedRule): string {
  return rule.action === 'reject' ? 'DROP' : rule.action.toUpperCase();
}

/**
 * Arguments after `-A CHAIN` for one resolved rule. `reverse` swaps source and destination:
 * libvirt applies the guest-to-host chain of an inout rule that way.
 */
export function ebtablesRuleArgs(rule: ResolvedRule, reverse: boolean): string[] {
  const protocol = rule.protocol ?? 'none';
  if (protocol === 'stp' && reverse && rule.attrs['srcmacaddr']) {
    throw invalidInput('STP filtering in inout direction with source MAC address set is not supported');
  }
  const a = new ArgList(rule);
  for (const step of STEPS[protocol]!) {
    if ('fixed' in step) a.push(...step.fixed);
    else if ('special' in step) step.special(a, reverse);
    else if (a.has(step.attr)) {
      a.push(reverse && step.reversed ? step.reversed : step.option)
        .not(step.attr)
        .push(
          step.second
            ? a.joined(step.attr, step.second, step.sep!, step.hex)
            : printValue(a.attr(step.attr)!, step.hex),
        );
    }
  }
  return a.push('-j', ebtablesTarget(rule)).args;
}
