// IPv4/IPv6-layer rules (tcp, udp, icmp, all, ... and their -ipv6 twins) as iptables/ip6tables
// commands, following libvirt's iptablesCreateRuleInstance. Every rule lands in up to three
// chains: F?-IF for traffic from (FJ) and to (FP) the guest through the bridge, and HJ-IF for
// traffic from the guest to the host. Which of them get the rule, with which connection-state
// match, depends on the direction, statematch and state attributes.
import { formatTcpFlagSet } from '../../conf/nwfilter/datatypes.js';
import type { ResolvedRule } from '../../nwfilter/instantiate.js';
import { iptRootChain } from './chains.js';
import { ArgList, printValue } from './print.js';
import { chainUses, type ChainUse } from '../../nwfilter/chain-uses.js';

const IP_PROTOCOL_ARG: Record<string, string> = {
  tcp: 'tcp',
  udp: 'udp',
  udplite: 'udplite',
  esp: 'esp',
  ah: 'ah',
  sctp: 'sctp',
  icmp: 'icmp',
  igmp: 'igmp',
  all: 'all',
  'tcp-ipv6': 'tcp',
  'udp-ipv6': 'udp',
  'udplite-ipv6': 'udplite',
  'esp-ipv6': 'esp',
  'ah-ipv6': 'ah',
  'sctp-ipv6': 'sctp',
  icmpv6: 'icmpv6',
  'all-ipv6': 'all',
};

const PORTED = new Set(['tcp', 'udp', 'sctp', 'tcp-ipv6', 'udp-ipv6', 'sctp-ipv6']);

/** ipsetflags as seen from the chain's side: src/dst swap for traffic towards the guest. */
function ipsetFlags(a: ArgList, directionIn: boolean): string {
  const v = a.attr('ipsetflags')!.value;
  if (v.kind === 'text') return v.text;
  const dirs = v.kind === 'ipset-flags' ? v.dirs : ['src'];
  return dirs.map((d) => ((d === 'src') !== directionIn ? 'src' : 'dst')).join(',');
}

/** `[!] OPTION value[/second]` when attribute `attr` is present. */
function negatedOption(a: ArgList, attr: string, option: string, second?: string, sep = '/'): void {
  if (!a.has(attr)) return;
  a.not(attr).push(option, second ? a.joined(attr, second, sep) : printValue(a.attr(attr)!));
}

/** The arguments of one rule in one chain, or undefined when libvirt leaves it out there. */
function ruleInChain(rule: ResolvedRule, use: ChainUse, portdev: string): string[] | undefined {
  const protocol = rule.protocol!;
  const a = new ArgList(rule).push(
    '-A',
    iptRootChain(use.prefix, use.toGuest, portdev, true),
    '-p',
    IP_PROTOCOL_ARG[protocol]!,
  );
  const base = a.args.length;
  const dirIn = use.directionIn;

  // The source MAC is only known for traffic from the guest.
  const srcMacSkipped = a.has('srcmacaddr') && dirIn;
  if (a.has('srcmacaddr') && !dirIn)
    a.push('-m', 'mac')
      .not('srcmacaddr')
      .push('--mac-source', printValue(a.attr('srcmacaddr')!));

  const [src, dst] = dirIn ? ['--destination', '--source'] : ['--source', '--destination'];
  const [srcRange, dstRange] = dirIn ? ['--dst-range', '--src-range'] : ['--src-range', '--dst-range'];
  if (a.has('srcipaddr')) negatedOption(a, 'srcipaddr', src, 'srcipmask');
  else if (a.has('srcipfrom'))
    a.push('-m', 'iprange')
      .not('srcipfrom')
      .push(srcRange, a.joined('srcipfrom', 'srcipto', '-'));
  if (a.has('dstipaddr')) negatedOption(a, 'dstipaddr', dst, 'dstipmask');
  else if (a.has('dstipfrom'))
    a.push('-m', 'iprange')
      .not('dstipfrom')
      .push(dstRange, a.joined('dstipfrom', 'dstipto', '-'));
  if (a.has('dscp'))
    a.push('-m', 'dscp')
      .not('dscp')
      .push('--dscp', printValue(a.attr('dscp')!));
  // connlimit only limits connections the guest opens.
  if (a.has('connlimit-above') && dirIn) return undefined;
  let skipMatch = a.has('connlimit-above');

  if (protocol === 'tcp' || protocol === 'tcp-ipv6') {
    const flags = a.attr('flags')?.value;
    if (flags?.kind === 'tcp-flags')
      a.not('flags').push('--tcp-flags', formatTcpFlagSet(flags.mask), formatTcpFlagSet(flags.set));
  }
  if (PORTED.has(protocol)) {
    const [sport, dport] = dirIn ? ['--dport', '--sport'] : ['--sport', '--dport'];
    negatedOption(a, 'srcportstart', sport, 'srcportend', ':');
    negatedOption(a, 'dstportstart', dport, 'dstportend', ':');
  }
  if (protocol === 'tcp' || protocol === 'tcp-ipv6') negatedOption(a, 'option', '--tcp-option');

  const hasIcmpType = (protocol === 'icmp' || protocol === 'icmpv6') && a.has('type');
  if (hasIcmpType) {
    if (use.maySkipIcmp) return undefined;
    negatedOption(a, 'type', protocol === 'icmp' ? '--icmp-type' : '--icmpv6-type', 'code');
  }

  if (srcMacSkipped && a.args.length === base) return undefined;

  let target: string = use.acceptTarget;
  if (rule.action !== 'accept') {
    target = rule.action.toUpperCase();
    skipMatch = use.defaultMatch;
  }
  if (use.match && !skipMatch) {
    a.push('-m', 'conntrack', '--ctstate', use.match);
    if (use.defaultMatch && !hasIcmpType && rule.direction !== 'inout') {
      a.push('-m', 'conntrack', '--ctdir', dirIn ? 'Reply' : 'Original');
    }
  }

  if (a.has('ipset') && a.has('ipsetflags'))
    a.push('-m', 'set', '--match-set', printValue(a.attr('ipset')!), ipsetFlags(a, dirIn));
  if (a.has('connlimit-above'))
    a.push('-m', 'connlimit')
      .not('connlimit-above')
      .push('--connlimit-above', printValue(a.attr('connlimit-above')!));
  // Comments go last: they never change what matches.
  if (a.has('comment')) a.push('-m', 'comment', '--comment', printValue(a.attr('comment')!));
  return a.push('-j', target).args;
}

/** The iptables arguments (after the binary and -w) of one resolved rule, per chain it lands in. */
export function iptablesRuleArgs(rule: ResolvedRule, portdev: string): string[][] {
  return chainUses(rule)
    .map((use) => ruleInChain(rule, use, portdev))
    .filter((args): args is string[] => args !== undefined);
}
