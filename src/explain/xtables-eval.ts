// Evaluates one frame against the xtables rules the ebiptables backend's layout lives in, as last
// listed from the kernel (typed rules, src/xtables): the ebtables nat table's PREROUTING, OUTPUT
// and POSTROUTING (libvirt-I-/O-PORT and their sub-chains, the mac_filter chain) and, for IPv4 and
// IPv6 frames without an 802.1Q tag, the iptables/ip6tables filter table's chains br_netfilter
// and the host's IP stack call (FORWARD -> libvirt-in/-out/-in-post -> FI-/FO-PORT, INPUT ->
// libvirt-host-in -> HI-PORT), in the order the kernel calls the hooks. Rule by rule, option by
// option, through jumps, gotos, returns and chain policies with each tool's semantics. A user
// chain ends with the policy its listing gives: ebtables' RETURN, or the ACCEPT that ebtables-nft
// 1.8.9 gives every new chain (and lists) — what the kernel does, not what libvirt meant. An
// option, target or table this file does not know ends the evaluation with an explicit "cannot
// evaluate" step and an undetermined verdict, never a guess. Pure.
import type { Family } from '../nft/objects.js';
import { parseIPv4, parseIPv6, parseMac, formatIPv4, formatIPv6, formatMac } from '../util/address.js';
import { saveLine } from '../xtables/restore.js';
import { NEGATION, commentOf, type XtOption, type XtRule, type XtTool } from '../xtables/rule.js';
import type { XtChain, XtTable } from '../xtables/save.js';
import { ETHERTYPE, type DecodedFrame } from './frame.js';
import { L4_PROTOCOLS } from './nft-eval.js';
import {
  bridgeDrop,
  bridgePorts,
  BRIDGE_DEVICE,
  decider,
  NO_DEVICE,
  NOT_TO_IP_HOOKS,
  routeOf,
  type Check,
  type EvalContext,
  type Evaluation,
  type HookName,
  type Route,
  type Step,
} from './steps.js';

/** The tables a layout lives in, as listed, each with the tool that lists it. */
export type XtablesHeld = readonly { tool: XtTool; table: XtTable }[];

const FAMILY: Record<XtTool, Family> = { ebtables: 'bridge', iptables: 'ip', ip6tables: 'ip6' };

/** Built-in chains by tool and table: the hook each is called from and its priority there. */
const BASE_CHAINS: Record<string, Record<string, { hook: HookName; priority: number }>> = {
  'ebtables nat': {
    PREROUTING: { hook: 'prerouting', priority: -300 },
    OUTPUT: { hook: 'output', priority: -100 },
    POSTROUTING: { hook: 'postrouting', priority: 300 },
  },
  'ebtables filter': {
    INPUT: { hook: 'input', priority: -200 },
    FORWARD: { hook: 'forward', priority: -200 },
    OUTPUT: { hook: 'output', priority: 200 },
  },
  ...Object.fromEntries(
    (['iptables', 'ip6tables'] as const).map((tool) => [
      `${tool} filter`,
      {
        INPUT: { hook: 'input', priority: 0 },
        FORWARD: { hook: 'forward', priority: 0 },
        OUTPUT: { hook: 'output', priority: 0 },
      },
    ]),
  ),
};

/**
 * The hooks a frame passes, in order: the bridge's, and the IP hooks br_netfilter calls from the
 * bridge path (forwarded frames; a frame to the host meets the IP input hook behind the
 * bridge). A frame the host sends leaves its IP stack's output hook, then the bridge's.
 */
const TRAVERSALS: Record<Route, readonly (readonly ['bridge' | 'ip', HookName])[]> = {
  forward: [
    ['bridge', 'prerouting'],
    ['ip', 'prerouting'],
    ['bridge', 'forward'],
    ['ip', 'forward'],
    ['bridge', 'postrouting'],
    ['ip', 'postrouting'],
  ],
  'host-in': [
    ['bridge', 'prerouting'],
    ['ip', 'prerouting'],
    ['bridge', 'input'],
    ['ip', 'input'],
  ],
  'host-out': [
    ['ip', 'output'],
    ['bridge', 'output'],
    ['bridge', 'postrouting'],
  ],
};

class CannotEvaluate extends Error {}

/** Where the packet is: the devices the hook's rules see. */
interface Where {
  tool: XtTool;
  iif: string;
  oif: string;
  /** br_netfilter's record of the bridge ports (physdev); none for a packet the host sends. */
  bridged: boolean;
  physin?: string;
  physout?: string;
}

/** What one option found: a value compared, nothing to read (no match either way), or no check made. */
type Found = { hit: boolean; actual: string } | { absent: string } | { pass: string };

type OptionEval = (o: XtOption, f: DecodedFrame, w: Where, ct: EvalContext['ct']) => Found;

// --- reading the frame --------------------------------------------------------------------------

const u8 = (f: DecodedFrame, at: number) => f.bytes[at];
const u16 = (f: DecodedFrame, at: number) =>
  at + 2 <= f.bytes.length ? (f.bytes[at]! << 8) | f.bytes[at + 1]! : undefined;
const slice = (f: DecodedFrame, at: number, len: number) =>
  at + len <= f.bytes.length ? [...f.bytes.slice(at, at + len)] : undefined;

const isIPv4 = (f: DecodedFrame) => f.etherType === ETHERTYPE.ipv4;
const isIPv6 = (f: DecodedFrame) => f.etherType === ETHERTYPE.ipv6;

/** An address with its mask, as bytes: `10.0.0.0/24`, `10.0.0.0/255.255.0.0`, `fd00::/8`, `MAC/MASK`. */
function addressMask(text: string, family: 'ipv4' | 'ipv6' | 'mac'): { addr: number[]; mask: number[] } {
  const [a, m] = text.split('/') as [string, string | undefined];
  const parse = family === 'ipv4' ? parseIPv4 : family === 'ipv6' ? parseIPv6 : parseMac;
  const addr = parse(a);
  if (!addr) throw new CannotEvaluate(`the address ${text}`);
  let mask: number[] | undefined = addr.map(() => 0xff);
  if (m !== undefined)
    mask = /^\d+$/.test(m)
      ? addr.map((_, i) => {
          const bits = Math.max(0, Math.min(8, Number(m) - 8 * i));
          return (0xff << (8 - bits)) & 0xff;
        })
      : parse(m);
  if (!mask) throw new CannotEvaluate(`the mask of ${text}`);
  return { addr, mask };
}

function inMask(actual: readonly number[], text: string, family: 'ipv4' | 'ipv6' | 'mac'): boolean {
  const { addr, mask } = addressMask(text, family);
  return actual.every((b, i) => (b & mask[i]!) === (addr[i]! & mask[i]!));
}

const SHOW = { ipv4: formatIPv4, ipv6: formatIPv6, mac: formatMac };

/** An address field of the frame compared with the option's address/mask. */
function address(bytes: number[] | undefined, family: 'ipv4' | 'ipv6' | 'mac', o: XtOption, why: string): Found {
  if (!bytes) return { absent: why };
  return { hit: inMask(bytes, o.values[0]!, family), actual: SHOW[family](bytes) };
}

/** ebtables' names of MAC address classes. */
const MAC_CLASSES: Record<string, string> = {
  Unicast: '00:00:00:00:00:00/01:00:00:00:00:00',
  Multicast: '01:00:00:00:00:00/01:00:00:00:00:00',
  Broadcast: 'ff:ff:ff:ff:ff:ff/ff:ff:ff:ff:ff:ff',
  BGA: '01:80:c2:00:00:00/ff:ff:ff:ff:ff:ff',
};

function macOption(at: number): OptionEval {
  return (o, f) => {
    const text = MAC_CLASSES[o.values[0]!] ?? o.values[0]!;
    return address(slice(f, at, 6), 'mac', { ...o, values: [text] }, 'the frame is too short');
  };
}

/** ebtables' names of Ethernet types (its /etc/ethertypes). */
const ETHER_NAMES: Record<string, number> = {
  IPv4: 0x0800,
  ARP: 0x0806,
  RARP: 0x8035,
  '802_1Q': 0x8100,
  IPv6: 0x86dd,
  IPX: 0x8137,
  PPP: 0x880b,
  PPP_DISC: 0x8863,
  PPP_SES: 0x8864,
  ATALK: 0x809b,
  AARP: 0x80f3,
  LOOP: 0x9000,
};

/** A number in hex or one of `names` (the tools take names in any case: `ipv4`, `IPv4`). */
const hexOrName = (text: string, names: Record<string, number>, what: string): number => {
  const known = Object.entries(names).find(([name]) => name.toLowerCase() === text.toLowerCase())?.[1];
  if (known !== undefined) return known;
  if (/^(0x)?[0-9a-fA-F]+$/.test(text)) return parseInt(text, 16);
  throw new CannotEvaluate(`the ${what} ${text}`);
};

const etherType: OptionEval = (o, f) => {
  const shown = `0x${f.etherType.toString(16).padStart(4, '0')}`;
  // 802.3 frames carry a length, not a type (ebtables takes LENGTH, ebtables-nft lists Length)
  if (o.values[0]!.toUpperCase() === 'LENGTH') return { hit: f.etherType < 0x0600, actual: shown };
  return { hit: f.etherType === hexOrName(o.values[0]!, ETHER_NAMES, 'Ethernet type'), actual: shown };
};

function l4number(text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : L4_PROTOCOLS[text.toLowerCase()];
  if (n === undefined) throw new CannotEvaluate(`the IP protocol ${text}`);
  return Number(n);
}

/** The transport protocol (IPv6: after the extension headers, as ip6tables and ebtables find it). */
const l4proto = (need: (f: DecodedFrame) => boolean, why: string): OptionEval => {
  return (o, f) => {
    if (!need(f) || f.l4proto === undefined) return { absent: why };
    const want = o.values[0] === 'all' ? undefined : l4number(o.values[0]!);
    return { hit: want === undefined || f.l4proto === want, actual: String(f.l4proto) };
  };
};

/** A port or range `a`, `a:b`, `:b`, `a:`. */
function inPortRange(port: number, text: string): boolean {
  const [lo, hi] = text.includes(':') ? text.split(':') : [text, text];
  return port >= (lo ? Number(lo) : 0) && port <= (hi ? Number(hi) : 65535);
}

/** A transport port: `offset` 0 the source, 2 the destination; only where the header is there. */
function port(offset: 0 | 2, protocols: readonly number[], why: string): OptionEval {
  return (o, f) => {
    if (f.l4proto === undefined || !protocols.includes(f.l4proto) || f.th === undefined) return { absent: why };
    const p = u16(f, f.th + offset);
    if (p === undefined) return { absent: 'the frame ends inside the transport header' };
    return { hit: inPortRange(p, o.values[0]!), actual: String(p) };
  };
}

const PORTED = [6, 17, 33, 132, 136];

const TCP_FLAGS: Record<string, number> = { FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16, URG: 32, ECE: 64, CWR: 128 };
function flagSet(text: string): number {
  if (text === 'ALL') return 0xff;
  if (text === 'NONE') return 0;
  return text.split(',').reduce((acc, name) => {
    const bit = TCP_FLAGS[name];
    if (bit === undefined) throw new CannotEvaluate(`the TCP flag ${name}`);
    return acc | bit;
  }, 0);
}

const tcpFlags = (mask: number, set: number): OptionEval => {
  return (_o, f) => {
    if (f.l4proto !== 6 || f.th === undefined) return { absent: 'not TCP' };
    const flags = u8(f, f.th + 13);
    if (flags === undefined) return { absent: 'the frame ends inside the TCP header' };
    return { hit: (flags & mask) === set, actual: `0x${flags.toString(16).padStart(2, '0')}` };
  };
};

const tcpOption: OptionEval = (o, f) => {
  if (f.l4proto !== 6 || f.th === undefined || f.bytes.length < f.th + 20) return { absent: 'not TCP' };
  const end = Math.min(f.bytes.length, f.th + (f.bytes[f.th + 12]! >> 4) * 4);
  const kinds: number[] = [];
  for (let at = f.th + 20; at < end; ) {
    const kind = f.bytes[at]!;
    kinds.push(kind);
    if (kind === 0) break;
    at += kind === 1 ? 1 : Math.max(2, f.bytes[at + 1] ?? 2);
  }
  return { hit: kinds.includes(Number(o.values[0])), actual: `options [${kinds.join(',')}]` };
};

/** `type[:type]/code[:code]`, `type/code`, `type` (any code); ICMP(v6) types by name where listed. */
function icmpType(l4: number, names: Record<string, string>): OptionEval {
  return (o, f) => {
    if (f.l4proto !== l4 || f.th === undefined) return { absent: l4 === 1 ? 'not ICMP' : 'not ICMPv6' };
    const type = u8(f, f.th);
    const code = u8(f, f.th + 1);
    if (type === undefined || code === undefined) return { absent: 'the frame ends inside the ICMP header' };
    const text = names[o.values[0]!] ?? o.values[0]!;
    if (text === 'any') return { hit: true, actual: `type ${type} code ${code}` };
    const m = /^(\d+)(?::(\d+))?(?:\/(\d+)(?::(\d+))?)?$/.exec(text);
    if (!m) throw new CannotEvaluate(`the ICMP type ${o.values[0]}`);
    const [, t1, t2, c1, c2] = m;
    const hit =
      type >= Number(t1) &&
      type <= Number(t2 ?? t1) &&
      (c1 === undefined || (code >= Number(c1) && code <= Number(c2 ?? c1)));
    return { hit, actual: `type ${type} code ${code}` };
  };
}

/** ICMPv6 types ebtables lists by name (each with every code). */
const ICMPV6_NAMES: Record<string, string> = {
  'destination-unreachable': '1/0:255',
  'packet-too-big': '2/0:255',
  'time-exceeded': '3/0:255',
  'parameter-problem': '4/0:255',
  'echo-request': '128/0:255',
  'echo-reply': '129/0:255',
  'router-solicitation': '133/0:255',
  'router-advertisement': '134/0:255',
  'neighbour-solicitation': '135/0:255',
  'neighbour-advertisement': '136/0:255',
  redirect: '137/0:255',
};

/** The DSCP (the top six bits of the IPv4 TOS or IPv6 traffic class). */
const dscp: OptionEval = (o, f) => {
  const tos = isIPv4(f) ? u8(f, f.nh + 1) : isIPv6(f) ? ((u16(f, f.nh) ?? 0) >> 4) & 0xff : undefined;
  if (tos === undefined) return { absent: 'not an IP frame' };
  return { hit: tos >> 2 === Number(o.values[0]), actual: `0x${(tos >> 2).toString(16).padStart(2, '0')}` };
};

/** iprange: an address between two (`a-b`), in the source (12, IPv6 8) or destination (16, IPv6 24). */
function ipRange(v4offset: number, v6offset: number): OptionEval {
  return (o, f, w) => {
    const v6 = w.tool === 'ip6tables';
    const bytes = slice(f, f.nh + (v6 ? v6offset : v4offset), v6 ? 16 : 4);
    if (!bytes) return { absent: 'the frame ends inside the IP header' };
    const [lo, hi] = o.values[0]!.split('-').map((a) => (v6 ? parseIPv6(a) : parseIPv4(a)));
    if (!lo || !hi) throw new CannotEvaluate(`the range ${o.values[0]}`);
    const le = (a: number[], b: number[]) => {
      const at = a.findIndex((x, i) => x !== b[i]);
      return at < 0 || a[at]! < b[at]!;
    };
    return { hit: le(lo, bytes) && le(bytes, hi), actual: (v6 ? formatIPv6 : formatIPv4)(bytes) };
  };
}

/** An interface name, `+` at the end matching every name that starts with the rest. */
function ifname(actual: string | undefined, o: XtOption): Found {
  if (actual === undefined || actual === NO_DEVICE) return { hit: false, actual: 'no device' };
  if (actual === BRIDGE_DEVICE)
    throw new CannotEvaluate(`${o.name} ${o.values[0]}: the name of the bridge is not known to explain`);
  const want = o.values[0]!;
  const hit = want.endsWith('+') ? actual.startsWith(want.slice(0, -1)) : actual === want;
  return { hit, actual: JSON.stringify(actual) };
}

/** xt_physdev: what it checks depends on whether the packet went through a bridge port. */
const PHYSDEV: Record<string, (w: Where, o: XtOption) => Found> = {
  '--physdev-in': (w, o) =>
    !w.bridged
      ? { absent: 'not bridged' }
      : w.physin === undefined
        ? { pass: 'no bridge port in: xt_physdev does not check it' }
        : ifname(w.physin, o),
  '--physdev-out': (w, o) =>
    !w.bridged || w.physout === undefined ? { absent: 'no bridge port out (yet)' } : ifname(w.physout, o),
  '--physdev-is-bridged': (w) => ({
    hit: w.bridged && w.physout !== undefined,
    actual: w.bridged && w.physout !== undefined ? 'bridged' : 'not bridged (yet)',
  }),
  '--physdev-is-in': (w) => ({ hit: w.bridged && w.physin !== undefined, actual: w.physin ?? 'none' }),
  '--physdev-is-out': (w) => ({ hit: w.bridged && w.physout !== undefined, actual: w.physout ?? 'none' }),
};

const CT_STATES = new Set(['NEW', 'ESTABLISHED', 'RELATED', 'INVALID', 'UNTRACKED']);
const ctState: OptionEval = (o, _f, _w, ct) => {
  const wanted = o.values[0]!.split(',');
  const unknown = wanted.find((s) => !CT_STATES.has(s));
  if (unknown) throw new CannotEvaluate(`the conntrack state ${unknown} (a PACKET assumes only ${[...CT_STATES]})`);
  return { hit: wanted.includes(ct.state.toUpperCase()), actual: `${ct.state} (assumed)` };
};

// --- ebtables options -------------------------------------------------------------------------

const ipv4Header = (offset: number, what: 'addr' | 'byte'): OptionEval => {
  return (o, f) => {
    if (!isIPv4(f)) return { absent: 'not an IPv4 frame' };
    if (what === 'addr') return address(slice(f, f.nh + offset, 4), 'ipv4', o, 'the frame ends inside the IP header');
    const b = u8(f, f.nh + offset);
    return b === undefined
      ? { absent: 'the frame ends inside the IP header' }
      : { hit: b === parseInt(o.values[0]!, 16), actual: `0x${b.toString(16).padStart(2, '0')}` };
  };
};
const ipv6Address = (offset: number): OptionEval => {
  return (o, f) =>
    isIPv6(f)
      ? address(slice(f, f.nh + offset, 16), 'ipv6', o, 'the frame ends inside the IPv6 header')
      : { absent: 'not an IPv6 frame' };
};

const isArp = (f: DecodedFrame) => f.etherType === ETHERTYPE.arp || f.etherType === ETHERTYPE.rarp;

/** ARP fields (the Ethernet/IPv4 layout: other address lengths are not evaluated). */
function arpField(read: (f: DecodedFrame, o: XtOption) => Found): OptionEval {
  return (o, f) => {
    if (!isArp(f)) return { absent: 'not an ARP or RARP frame' };
    if (u8(f, f.nh + 4) !== 6 || u8(f, f.nh + 5) !== 4)
      throw new CannotEvaluate(`${o.name} on ARP with address lengths other than 6 and 4`);
    return read(f, o);
  };
}

const ARP_OPS: Record<string, number> = {
  Request: 1,
  Reply: 2,
  Request_Reverse: 3,
  Reply_Reverse: 4,
  DRARP_Request: 5,
  DRARP_Reply: 6,
  DRARP_Error: 7,
  InARP_Request: 8,
  ARP_NAK: 9,
};

const arpNumber = (offset: number, names: Record<string, number>, hex: boolean): OptionEval =>
  arpField((f, o) => {
    const v = u16(f, f.nh + offset)!;
    const text = o.values[0]!;
    const want = names[text] ?? (hex ? hexOrName(text, ETHER_NAMES, 'protocol type') : Number(text));
    return { hit: v === want, actual: hex ? `0x${v.toString(16)}` : String(v) };
  });

const vlanTag = (read: (tci: number, encap: number) => number, parse: (t: string) => number): OptionEval => {
  return (o, f) => {
    if (f.etherType !== ETHERTYPE.vlan) return { absent: 'no 802.1Q tag' };
    const tci = u16(f, 14);
    const encap = u16(f, 16);
    if (tci === undefined || encap === undefined) return { absent: 'the frame ends inside the tag' };
    const v = read(tci, encap);
    return { hit: v === parse(o.values[0]!), actual: String(v) };
  };
};

/** The long names ebtables takes on its command line for what it lists by the short ones. */
const EBTABLES_LONG: Record<string, string> = {
  '--ip-source': '--ip-src',
  '--ip-destination': '--ip-dst',
  '--ip-protocol': '--ip-proto',
  '--ip-source-port': '--ip-sport',
  '--ip-destination-port': '--ip-dport',
  '--ip6-source': '--ip6-src',
  '--ip6-destination': '--ip6-dst',
  '--ip6-protocol': '--ip6-proto',
  '--ip6-source-port': '--ip6-sport',
  '--ip6-destination-port': '--ip6-dport',
  '--arp-opcode': '--arp-op',
};

const EBTABLES: Record<string, OptionEval> = {
  '-p': etherType,
  '--protocol': etherType,
  '-s': macOption(6),
  '--source': macOption(6),
  '-d': macOption(0),
  '--destination': macOption(0),
  '-i': (o, _f, w) => ifname(w.iif, o),
  '--in-interface': (o, _f, w) => ifname(w.iif, o),
  '-o': (o, _f, w) => ifname(w.oif, o),
  '--out-interface': (o, _f, w) => ifname(w.oif, o),
  '--logical-in': (o) => ifname(BRIDGE_DEVICE, o),
  '--logical-out': (o) => ifname(BRIDGE_DEVICE, o),
  '--ip-src': ipv4Header(12, 'addr'),
  '--ip-dst': ipv4Header(16, 'addr'),
  '--ip-tos': ipv4Header(1, 'byte'),
  '--ip-proto': l4proto(isIPv4, 'not an IPv4 frame'),
  '--ip-sport': port(0, PORTED, 'no TCP, UDP, SCTP or DCCP header'),
  '--ip-dport': port(2, PORTED, 'no TCP, UDP, SCTP or DCCP header'),
  '--ip6-src': ipv6Address(8),
  '--ip6-dst': ipv6Address(24),
  '--ip6-proto': l4proto(isIPv6, 'not an IPv6 frame'),
  '--ip6-sport': port(0, PORTED, 'no TCP, UDP, SCTP or DCCP header'),
  '--ip6-dport': port(2, PORTED, 'no TCP, UDP, SCTP or DCCP header'),
  '--ip6-icmp-type': icmpType(58, ICMPV6_NAMES),
  '--arp-op': arpNumber(6, ARP_OPS, false),
  '--arp-htype': arpNumber(0, { Ethernet: 1 }, false),
  '--arp-ptype': arpNumber(2, {}, true),
  '--arp-mac-src': arpField((f, o) => address(slice(f, f.nh + 8, 6), 'mac', o, 'the frame ends inside ARP')),
  '--arp-ip-src': arpField((f, o) => address(slice(f, f.nh + 14, 4), 'ipv4', o, 'the frame ends inside ARP')),
  '--arp-mac-dst': arpField((f, o) => address(slice(f, f.nh + 18, 6), 'mac', o, 'the frame ends inside ARP')),
  '--arp-ip-dst': arpField((f, o) => address(slice(f, f.nh + 24, 4), 'ipv4', o, 'the frame ends inside ARP')),
  '--arp-gratuitous': arpField((f) => {
    const spa = slice(f, f.nh + 14, 4);
    const tpa = slice(f, f.nh + 24, 4);
    if (!spa || !tpa) return { absent: 'the frame ends inside ARP' };
    return { hit: formatIPv4(spa) === formatIPv4(tpa), actual: `${formatIPv4(spa)} asks for ${formatIPv4(tpa)}` };
  }),
  '--vlan-id': vlanTag((tci) => tci & 0xfff, Number),
  '--vlan-prio': vlanTag((tci) => tci >> 13, Number),
  '--vlan-encap': vlanTag(
    (_t, encap) => encap,
    (t) => hexOrName(t, ETHER_NAMES, 'Ethernet type'),
  ),
};

// --- iptables / ip6tables options ---------------------------------------------------------------

const ipAddress = (v4offset: number, v6offset: number): OptionEval => {
  return (o, f, w) => {
    if (w.tool === 'iptables') return address(slice(f, f.nh + v4offset, 4), 'ipv4', o, 'the IP header is cut');
    return address(slice(f, f.nh + v6offset, 16), 'ipv6', o, 'the IPv6 header is cut');
  };
};

const transport = (l4: number[], why: string) => ({
  '--sport': port(0, l4, why),
  '--source-port': port(0, l4, why),
  '--dport': port(2, l4, why),
  '--destination-port': port(2, l4, why),
});

/** iptables options by `-m` module ('' for the base match). */
const IPTABLES: Record<string, Record<string, OptionEval>> = {
  '': {
    '-s': ipAddress(12, 8),
    '--source': ipAddress(12, 8),
    '-d': ipAddress(16, 24),
    '--destination': ipAddress(16, 24),
    '-p': l4proto(() => true, 'no transport protocol'),
    '--protocol': l4proto(() => true, 'no transport protocol'),
    '-i': (o, _f, w) => ifname(w.iif, o),
    '--in-interface': (o, _f, w) => ifname(w.iif, o),
    '-o': (o, _f, w) => ifname(w.oif, o),
    '--out-interface': (o, _f, w) => ifname(w.oif, o),
  },
  physdev: Object.fromEntries(
    Object.entries(PHYSDEV).map(([name, check]) => [name, (o: XtOption, _f: DecodedFrame, w: Where) => check(w, o)]),
  ),
  mac: { '--mac-source': macOption(6) },
  iprange: { '--src-range': ipRange(12, 8), '--dst-range': ipRange(16, 24) },
  dscp: { '--dscp': dscp },
  tcp: {
    ...transport([6], 'not TCP'),
    '--tcp-flags': (o, f, w, ct) => tcpFlags(flagSet(o.values[0]!), flagSet(o.values[1]!))(o, f, w, ct),
    '--syn': tcpFlags(0x17, 0x02),
    '--tcp-option': tcpOption,
  },
  udp: transport([17], 'not UDP'),
  sctp: transport([132], 'not SCTP'),
  icmp: { '--icmp-type': icmpType(1, {}) },
  icmp6: { '--icmpv6-type': icmpType(58, {}) },
  conntrack: {
    '--ctstate': ctState,
    '--ctdir': (o, _f, _w, ct) => ({
      hit: o.values[0]!.toLowerCase() === ct.direction,
      actual: `${ct.direction} (assumed)`,
    }),
  },
  state: { '--state': ctState },
  comment: { '--comment': () => ({ pass: 'a comment' }) },
};

function optionText(o: XtOption, tool: XtTool): string {
  const bang = o.negated ? ['!'] : [];
  const words = NEGATION[tool] === 'before' ? [...bang, o.name, ...o.values] : [o.name, ...bang, ...o.values];
  return words.join(' ');
}

function checkOption(o: XtOption, module: string | undefined, f: DecodedFrame, w: Where, ct: EvalContext['ct']): Check {
  const evaluate = w.tool === 'ebtables' ? EBTABLES[EBTABLES_LONG[o.name] ?? o.name] : IPTABLES[module ?? '']?.[o.name];
  if (!evaluate)
    throw new CannotEvaluate(
      `the ${w.tool} option ${o.name}${module ? ` of -m ${module}` : ''} (${optionText(o, w.tool)})`,
    );
  const found = evaluate(o, f, w, ct);
  const statement = `${module ? `-m ${module} ` : ''}${optionText(o, w.tool)}`;
  if ('absent' in found) return { statement, ok: false, detail: `${o.name}: ${found.absent}` };
  if ('pass' in found) return { statement, ok: true, detail: `${o.name}: ${found.pass}` };
  const ok = found.hit !== (o.negated === true);
  const relation = o.negated
    ? found.hit
      ? 'matches (the rule wants not)'
      : 'does not match, as wanted'
    : found.hit
      ? 'matches'
      : 'does not match';
  return { statement, ok, detail: `${o.name} is ${found.actual}: ${relation} ${o.values.join(' ')}`.trimEnd() };
}

// --- rules, chains, hooks -----------------------------------------------------------------------

type ChainEnd = 'accept' | 'drop' | 'reject' | 'return' | 'cannot';

/** Jumps deeper than this are not followed (the tools refuse loops; this only stops runaway input). */
const MAX_DEPTH = 32;

class Evaluator {
  readonly steps: Step[] = [];

  constructor(
    private readonly frame: DecodedFrame,
    private readonly ct: EvalContext['ct'],
  ) {}

  /** A built-in chain: its rules, then its policy when the packet falls off its end or returns. */
  runBase(table: IndexedTable, chain: XtChain, w: Where): 'accept' | 'drop' | 'reject' | 'cannot' {
    const out = this.runChain(table, chain.name, w, 1);
    if (out !== 'return') return out;
    const policy = (chain.policy ?? 'ACCEPT').toLowerCase();
    this.steps.push({ kind: 'end', family: FAMILY[w.tool], chain: chain.name, outcome: `policy ${policy}`, depth: 1 });
    if (policy === 'accept' || policy === 'drop') return policy;
    this.steps.push({ kind: 'cannot', what: `the policy ${chain.policy} of ${chain.name}`, depth: 1 });
    return 'cannot';
  }

  /** 'return' also for falling off the end of a user chain whose policy returns. */
  private runChain(table: IndexedTable, name: string, w: Where, depth: number): ChainEnd {
    const family = FAMILY[w.tool];
    for (const [i, rule] of (table.rules.get(name) ?? []).entries()) {
      const r = this.runRule(table, rule, i, w, depth);
      if (r === 'next') continue;
      if (r === 'cannot') return 'cannot';
      if (r === 'accept' || r === 'drop' || r === 'reject' || r === 'return') return r;
      const target = rule.target!;
      if (depth >= MAX_DEPTH) {
        this.steps.push({ kind: 'cannot', what: `a jump deeper than ${MAX_DEPTH} chains`, depth });
        return 'cannot';
      }
      const out = this.runChain(table, target.name, w, depth + 1);
      if (out !== 'return') return out;
      // a goto's chain returns to this chain's caller
      if (target.goto) return 'return';
    }
    if (depth === 1) return 'return';
    // a user chain ends with its policy: RETURN in ebtables and iptables, unless listed otherwise
    const policy = (table.chains.get(name)?.policy ?? 'RETURN').toLowerCase();
    const note =
      policy === 'accept' && w.tool === 'ebtables'
        ? ' (as listed: ebtables-nft 1.8.9 ends a new user chain with accept, not libvirt\u2019s return)'
        : '';
    this.steps.push({ kind: 'end', family, chain: name, outcome: `policy ${policy}${note}`, depth });
    if (policy === 'accept' || policy === 'drop' || policy === 'return') return policy;
    this.steps.push({ kind: 'cannot', what: `the policy ${policy} of ${name}`, depth });
    return 'cannot';
  }

  private runRule(
    table: IndexedTable,
    rule: XtRule,
    index: number,
    w: Where,
    depth: number,
  ): 'next' | 'jump' | ChainEnd {
    const checks: Check[] = [];
    const step = (matched: boolean, outcome?: string) =>
      this.steps.push({
        kind: 'rule',
        family: FAMILY[w.tool],
        tool: w.tool,
        chain: rule.chain,
        index: index + 1,
        text: saveLine(rule, w.tool),
        comment: commentOf(rule) ?? '',
        matched,
        checks,
        ...(outcome !== undefined ? { outcome } : {}),
        depth,
      });
    try {
      for (const m of rule.matches)
        for (const o of m.options) {
          const c = checkOption(o, m.module, this.frame, w, this.ct);
          checks.push(c);
          if (!c.ok) {
            step(false);
            return 'next';
          }
        }
    } catch (err) {
      if (!(err instanceof CannotEvaluate)) throw err;
      step(false);
      this.steps.push({ kind: 'cannot', what: `cannot evaluate ${err.message}`, depth });
      return 'cannot';
    }
    const t = rule.target;
    const verdict = t === undefined ? 'next' : table.chains.has(t.name) ? 'jump' : BUILTIN_TARGETS[w.tool][t.name];
    step(true, verdict === 'jump' ? `${t!.goto ? 'goto' : 'jump'} ${t!.name}` : (t?.name ?? 'continue'));
    if (verdict === undefined) {
      this.steps.push({ kind: 'cannot', what: `cannot evaluate the target ${t!.name}`, depth });
      return 'cannot';
    }
    return verdict;
  }
}

/** What the built-in targets do (a target naming a chain of the table jumps to it). */
const BUILTIN_TARGETS: Record<XtTool, Record<string, 'next' | ChainEnd>> = {
  ebtables: { ACCEPT: 'accept', DROP: 'drop', RETURN: 'return', CONTINUE: 'next' },
  iptables: { ACCEPT: 'accept', DROP: 'drop', REJECT: 'reject', RETURN: 'return' },
  ip6tables: { ACCEPT: 'accept', DROP: 'drop', REJECT: 'reject', RETURN: 'return' },
};

interface IndexedTable {
  tool: XtTool;
  name: string;
  chains: Map<string, XtChain>;
  rules: Map<string, XtRule[]>;
}

function indexed(tool: XtTool, table: XtTable): IndexedTable {
  const rules = new Map<string, XtRule[]>();
  for (const r of table.rules) rules.set(r.chain, [...(rules.get(r.chain) ?? []), r]);
  return { tool, name: table.name, chains: new Map(table.chains.map((c) => [c.name, c])), rules };
}

/** The devices a hook of `tool` sees, with br_netfilter's record of the bridge ports. */
function where(tool: XtTool, hook: HookName, ctx: EvalContext): Where {
  const ports = bridgePorts(ctx);
  if (tool === 'ebtables')
    return {
      tool,
      iif: hook === 'output' ? NO_DEVICE : ports.in,
      oif: hook === 'prerouting' || hook === 'input' ? NO_DEVICE : ports.out,
      bridged: false,
    };
  if (hook === 'output') return { tool, iif: NO_DEVICE, oif: BRIDGE_DEVICE, bridged: false };
  return {
    tool,
    iif: BRIDGE_DEVICE,
    oif: hook === 'forward' || hook === 'postrouting' ? BRIDGE_DEVICE : NO_DEVICE,
    bridged: true,
    physin: ports.in,
    ...(hook === 'forward' || hook === 'postrouting' ? { physout: ports.out } : {}),
  };
}

/** The frame through every hook it passes, as the kernel takes it with `held` loaded. */
export function evaluateXtables(held: XtablesHeld, frame: DecodedFrame, ctx: EvalContext): Evaluation {
  const route = routeOf(ctx);
  const dropped = bridgeDrop(frame, route);
  if (dropped) return dropped;
  const tables = held.map((h) => indexed(h.tool, h.table));
  const unknown = tables.find((t) => !BASE_CHAINS[`${t.tool} ${t.name}`]);
  if (unknown)
    return {
      steps: [{ kind: 'cannot', what: `the ${unknown.tool} table ${unknown.name}: its hooks are not known`, depth: 0 }],
      verdict: 'undetermined',
      reason: 'a table explain does not know',
    };
  const ev = new Evaluator(frame, ctx.ct);
  // the IP hooks see IPv4 frames through iptables, IPv6 frames through ip6tables
  const ipTool: XtTool | undefined = isIPv4(frame) ? 'iptables' : isIPv6(frame) ? 'ip6tables' : undefined;
  for (const [layer, hook] of TRAVERSALS[route]) {
    const bases = tables
      .filter((t) => (layer === 'bridge' ? t.tool === 'ebtables' : t.tool !== 'ebtables'))
      .flatMap((t) =>
        [...t.chains.values()].flatMap((c) => {
          const base = BASE_CHAINS[`${t.tool} ${t.name}`]![c.name];
          return base?.hook === hook ? [{ table: t, chain: c, priority: base.priority }] : [];
        }),
      );
    if (bases.length === 0) continue;
    // a frame the host sends passes its own IP stack's hooks whatever br_netfilter does
    if (layer === 'ip' && ipTool === undefined) {
      if (hook !== 'output') ev.steps.push({ kind: 'skip', family: 'ip', hook, why: NOT_TO_IP_HOOKS, depth: 0 });
      continue;
    }
    for (const { table, chain, priority } of bases
      .filter((b) => layer === 'bridge' || b.table.tool === ipTool)
      .sort((a, b) => a.priority - b.priority)) {
      const family = FAMILY[table.tool];
      ev.steps.push({
        kind: 'hook',
        family,
        hook,
        table: table.name,
        chain: chain.name,
        priority,
        policy: (chain.policy ?? 'ACCEPT').toLowerCase(),
        depth: 0,
      });
      const out = ev.runBase(table, chain, where(table.tool, hook, ctx));
      const at = `the ${family} ${hook} hook (${table.tool} -t ${table.name} ${chain.name})`;
      if (out === 'cannot') return { steps: ev.steps, verdict: 'undetermined', reason: `evaluation stopped in ${at}` };
      if (out === 'drop' || out === 'reject') return { steps: ev.steps, verdict: out, reason: decider(ev.steps, at) };
    }
  }
  return { steps: ev.steps, verdict: 'accept', reason: 'no hook dropped the frame' };
}
