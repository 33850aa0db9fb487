// nwfilter-explain's PACKET: a microflow (`eth.src=...,eth.dst=...,ip4.src=...,tcp.dst=22`, as
// ovn-trace takes one) checked field by field against ONE table, then written as the frame it
// describes (checksums included), so the evaluator reads a microflow, a `--frame HEX` and a
// `--pcap` frame the same way: as bytes. The conntrack state is not in a frame: it is an
// assumption the microflow states (`ct.state=established`, default new). Pure.
import { invalidInput } from '../errors.js';
import { parseIPv4, parseIPv6, parseMac } from '../util/address.js';
import { ETHERTYPE } from './frame.js';

export type Layer = 'eth' | 'vlan' | 'arp' | 'rarp' | 'ip4' | 'ip6' | 'tcp' | 'udp' | 'icmp' | 'icmp6' | 'ct';

/** Conntrack's view of the packet, which the kernel would know and a frame does not carry. */
export interface ConntrackAssumption {
  state: 'new' | 'established' | 'related' | 'invalid' | 'untracked';
  direction: 'original' | 'reply';
}

type Parsed = number | number[] | string;

interface FieldSpec {
  layer: Layer;
  what: string;
  parse: (text: string) => Parsed | undefined;
}

const int = (max: number) => (text: string) => {
  if (!/^(0x[0-9a-fA-F]{1,8}|\d{1,10})$/.test(text)) return undefined;
  const n = Number(text);
  return n <= max ? n : undefined;
};
const named =
  (names: Record<string, number>, max: number) =>
  (text: string): number | undefined =>
    names[text] ?? int(max)(text);
const mac = (text: string) => (/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(text) ? parseMac(text) : undefined);
const ipv4 = (text: string) => (/^\d{1,3}(\.\d{1,3}){3}$/.test(text) ? parseIPv4(text) : undefined);
const ipv6 = (text: string) => (/^[0-9a-fA-F:.]{2,45}$/.test(text) ? parseIPv6(text) : undefined);
const oneOf = (names: readonly string[]) => (text: string) => (names.includes(text) ? text : undefined);

const TCP_FLAGS: Record<string, number> = { fin: 1, syn: 2, rst: 4, psh: 8, ack: 16, urg: 32, ece: 64, cwr: 128 };
/** `syn|ack` (a comma separates fields) or a number. */
function tcpFlags(text: string): number | undefined {
  const n = int(255)(text);
  if (n !== undefined) return n;
  let bits = 0;
  for (const name of text.split('|')) {
    const bit = TCP_FLAGS[name];
    if (bit === undefined) return undefined;
    bits |= bit;
  }
  return bits;
}

const ETHERTYPE_NAMES: Record<string, number> = { ...ETHERTYPE };
const ARP_OPS = { request: 1, reply: 2, 'request-reverse': 3, 'reply-reverse': 4 };
const arpFields = (layer: 'arp' | 'rarp'): Record<string, FieldSpec> => ({
  [`${layer}.op`]: {
    layer,
    what: 'opcode: request, reply, request-reverse, reply-reverse or 1-65535',
    parse: named(ARP_OPS, 0xffff),
  },
  [`${layer}.sha`]: { layer, what: "sender's MAC", parse: mac },
  [`${layer}.spa`]: { layer, what: "sender's IPv4 address", parse: ipv4 },
  [`${layer}.tha`]: { layer, what: "target's MAC", parse: mac },
  [`${layer}.tpa`]: { layer, what: "target's IPv4 address", parse: ipv4 },
});
const port = (layer: Layer, side: string): FieldSpec => ({ layer, what: `${side} port, 0-65535`, parse: int(0xffff) });

/** Every field a microflow may set: what it is, and what a value must look like. */
const FIELDS: Readonly<Record<string, FieldSpec>> = {
  'eth.src': { layer: 'eth', what: 'source MAC (six two-digit hex groups)', parse: mac },
  'eth.dst': { layer: 'eth', what: 'destination MAC', parse: mac },
  'eth.type': {
    layer: 'eth',
    what: 'Ethernet type of a frame without a network layer: 0-0xffff or ipv4, ipv6, arp, rarp',
    parse: named(ETHERTYPE_NAMES, 0xffff),
  },
  'vlan.id': { layer: 'vlan', what: '802.1Q VLAN id, 0-4095', parse: int(4095) },
  'vlan.pcp': { layer: 'vlan', what: '802.1Q priority, 0-7', parse: int(7) },
  ...arpFields('arp'),
  ...arpFields('rarp'),
  'ip4.src': { layer: 'ip4', what: 'IPv4 source address', parse: ipv4 },
  'ip4.dst': { layer: 'ip4', what: 'IPv4 destination address', parse: ipv4 },
  'ip4.proto': { layer: 'ip4', what: 'IPv4 protocol number without a tcp/udp/icmp layer, 0-255', parse: int(255) },
  'ip4.dscp': { layer: 'ip4', what: 'DSCP, 0-63', parse: int(63) },
  'ip4.ttl': { layer: 'ip4', what: 'TTL, 0-255', parse: int(255) },
  'ip6.src': { layer: 'ip6', what: 'IPv6 source address', parse: ipv6 },
  'ip6.dst': { layer: 'ip6', what: 'IPv6 destination address', parse: ipv6 },
  'ip6.nexthdr': { layer: 'ip6', what: 'IPv6 next header without a tcp/udp/icmp6 layer, 0-255', parse: int(255) },
  'ip6.dscp': { layer: 'ip6', what: 'DSCP, 0-63', parse: int(63) },
  'ip6.hlim': { layer: 'ip6', what: 'hop limit, 0-255', parse: int(255) },
  'tcp.src': port('tcp', 'source'),
  'tcp.dst': port('tcp', 'destination'),
  'tcp.flags': {
    layer: 'tcp',
    what: 'flags joined by | (fin, syn, rst, psh, ack, urg, ece, cwr) or 0-255',
    parse: tcpFlags,
  },
  'udp.src': port('udp', 'source'),
  'udp.dst': port('udp', 'destination'),
  'icmp.type': { layer: 'icmp', what: 'ICMP type, 0-255', parse: int(255) },
  'icmp.code': { layer: 'icmp', what: 'ICMP code, 0-255', parse: int(255) },
  'icmp6.type': { layer: 'icmp6', what: 'ICMPv6 type, 0-255', parse: int(255) },
  'icmp6.code': { layer: 'icmp6', what: 'ICMPv6 code, 0-255', parse: int(255) },
  'ct.state': {
    layer: 'ct',
    what: 'assumed conntrack state: new, established, related, invalid, untracked',
    parse: oneOf(['new', 'established', 'related', 'invalid', 'untracked']),
  },
  'ct.direction': {
    layer: 'ct',
    what: 'assumed conntrack direction: original, reply',
    parse: oneOf(['original', 'reply']),
  },
};

/** Layers a bare word names (`tcp`: a TCP header with default ports). */
const BARE = new Set<Layer>(['vlan', 'arp', 'rarp', 'ip4', 'ip6', 'tcp', 'udp', 'icmp', 'icmp6']);
/** The network layer each transport layer needs. */
const TRANSPORT_NEEDS: Partial<Record<Layer, readonly Layer[]>> = {
  tcp: ['ip4', 'ip6'],
  udp: ['ip4', 'ip6'],
  icmp: ['ip4'],
  icmp6: ['ip6'],
};
const NETWORK: readonly Layer[] = ['arp', 'rarp', 'ip4', 'ip6'];
const TRANSPORT: readonly Layer[] = ['tcp', 'udp', 'icmp', 'icmp6'];
const PROTOCOL_NUMBER: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmp6: 58 };

export const MAX_MICROFLOW = 2048;
/** Frames one request may carry (a --pcap's first ones). */
export const MAX_FRAMES = 1000;

export interface Microflow {
  fields: ReadonlyMap<string, Parsed>;
  layers: ReadonlySet<Layer>;
  ct: ConntrackAssumption;
}

/** A microflow's text, checked: every field known, every value of its field's form, layers that fit. */
export function parseMicroflow(text: string): Microflow {
  const bad = (why: string) => invalidInput(`PACKET: ${why}`);
  if (text.length > MAX_MICROFLOW) throw bad(`longer than ${MAX_MICROFLOW} characters`);
  const fields = new Map<string, Parsed>();
  const layers = new Set<Layer>(['eth']);
  for (const item of text.split(',')) {
    const word = item.trim();
    if (word === '') throw bad('an empty field (two commas, or a comma at an end)');
    const eq = word.indexOf('=');
    if (eq < 0) {
      if (!BARE.has(word as Layer))
        throw bad(`${JSON.stringify(word.slice(0, 40))} is neither NAME=VALUE nor a layer (${[...BARE].join(', ')})`);
      layers.add(word as Layer);
      continue;
    }
    const name = word.slice(0, eq);
    const value = word.slice(eq + 1);
    const spec = Object.hasOwn(FIELDS, name) ? FIELDS[name] : undefined;
    if (!spec)
      throw bad(`unknown field ${JSON.stringify(name.slice(0, 40))}; known: ${Object.keys(FIELDS).join(', ')}`);
    if (fields.has(name)) throw bad(`${name} is given twice`);
    const parsed = spec.parse(value);
    if (parsed === undefined) throw bad(`${name}=${JSON.stringify(value.slice(0, 60))}: expected ${spec.what}`);
    fields.set(name, parsed);
    layers.add(spec.layer);
  }
  for (const required of ['eth.src', 'eth.dst']) if (!fields.has(required)) throw bad(`${required} is required`);
  const network = NETWORK.filter((l) => layers.has(l));
  const transport = TRANSPORT.filter((l) => layers.has(l));
  if (network.length > 1) throw bad(`one network layer at most, not ${network.join(' and ')}`);
  if (transport.length > 1) throw bad(`one transport layer at most, not ${transport.join(' and ')}`);
  const l4 = transport[0];
  if (l4 && !TRANSPORT_NEEDS[l4]!.includes(network[0]!))
    throw bad(`${l4} needs ${TRANSPORT_NEEDS[l4]!.join(' or ')} fields (e.g. ${TRANSPORT_NEEDS[l4]![0]}.src=...)`);
  if (network.length > 0 && fields.has('eth.type')) throw bad(`eth.type is implied by ${network[0]}`);
  if (l4 && (fields.has('ip4.proto') || fields.has('ip6.nexthdr'))) throw bad(`the protocol is implied by ${l4}`);
  return {
    fields,
    layers,
    ct: {
      state: (fields.get('ct.state') as ConntrackAssumption['state'] | undefined) ?? 'new',
      direction: (fields.get('ct.direction') as ConntrackAssumption['direction'] | undefined) ?? 'original',
    },
  };
}

// --- the frame a microflow describes ------------------------------------------------------------

const u16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const u32 = (n: number) => [...u16(Math.floor(n / 0x10000)), ...u16(n & 0xffff)];

function checksum(bytes: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** The frame's bytes: Ethernet, 802.1Q tag, network and transport headers, a short payload. */
export function microflowFrame(m: Microflow): Uint8Array {
  const f = <T extends Parsed>(name: string, fallback: T): T => (m.fields.get(name) as T | undefined) ?? fallback;
  const has = (l: Layer) => m.layers.has(l);
  const payload = [...Buffer.from('virtwall-explain')];
  const zeroMac = [0, 0, 0, 0, 0, 0];
  let etherType: number = f('eth.type', 0x88b5);
  let body: number[] = payload;
  const l4 = TRANSPORT.find(has);
  const transport = (src: number[], dst: number[], pseudoLen: (len: number) => number[]): number[] => {
    let seg: number[];
    if (l4 === 'tcp')
      seg = [
        ...u16(f('tcp.src', 40000)),
        ...u16(f('tcp.dst', 40001)),
        ...u32(1),
        ...u32(0),
        0x50,
        f('tcp.flags', 2),
        ...u16(65535),
        0,
        0,
        0,
        0,
        ...payload,
      ];
    else if (l4 === 'udp')
      seg = [...u16(f('udp.src', 40000)), ...u16(f('udp.dst', 40001)), ...u16(8 + payload.length), 0, 0, ...payload];
    else if (l4 === 'icmp') seg = [f('icmp.type', 8), f('icmp.code', 0), 0, 0, 0, 1, 0, 1, ...payload];
    else if (l4 === 'icmp6') seg = [f('icmp6.type', 128), f('icmp6.code', 0), 0, 0, 0, 1, 0, 1, ...payload];
    else return payload;
    const at = { tcp: 16, udp: 6, icmp: 2, icmp6: 2 }[l4];
    // ICMP's checksum covers only itself; TCP's, UDP's and ICMPv6's the pseudo-header too
    const sum = checksum(l4 === 'icmp' ? seg : [...src, ...dst, ...pseudoLen(seg.length), ...seg]);
    seg.splice(at, 2, ...u16(l4 === 'udp' && sum === 0 ? 0xffff : sum));
    return seg;
  };
  if (has('arp') || has('rarp')) {
    const l = has('arp') ? 'arp' : 'rarp';
    etherType = has('arp') ? ETHERTYPE.arp : ETHERTYPE.rarp;
    body = [
      ...u16(1),
      ...u16(ETHERTYPE.ipv4),
      6,
      4,
      ...u16(f(`${l}.op`, l === 'arp' ? 1 : 3)),
      ...f(`${l}.sha`, f<number[]>('eth.src', zeroMac)),
      ...f(`${l}.spa`, [0, 0, 0, 0]),
      ...f(`${l}.tha`, zeroMac),
      ...f(`${l}.tpa`, [0, 0, 0, 0]),
      ...payload,
    ];
  } else if (has('ip4')) {
    etherType = ETHERTYPE.ipv4;
    const src = f('ip4.src', [0, 0, 0, 0]);
    const dst = f('ip4.dst', [0, 0, 0, 0]);
    const proto = l4 ? PROTOCOL_NUMBER[l4]! : f('ip4.proto', 253);
    const seg = transport(src, dst, (len) => [0, proto, ...u16(len)]);
    const header = [
      0x45,
      f('ip4.dscp', 0) << 2,
      ...u16(20 + seg.length),
      0,
      1,
      0,
      0,
      f('ip4.ttl', 64),
      proto,
      0,
      0,
      ...src,
      ...dst,
    ];
    header.splice(10, 2, ...u16(checksum(header)));
    body = [...header, ...seg];
  } else if (has('ip6')) {
    etherType = ETHERTYPE.ipv6;
    const src = f('ip6.src', new Array<number>(16).fill(0));
    const dst = f('ip6.dst', new Array<number>(16).fill(0));
    const next = l4 ? PROTOCOL_NUMBER[l4]! : f('ip6.nexthdr', 59);
    const seg = transport(src, dst, (len) => [...u32(len), 0, 0, 0, next]);
    const dscp = f('ip6.dscp', 0);
    body = [
      0x60 | (dscp >> 2),
      (dscp & 3) << 6,
      0,
      0,
      ...u16(seg.length),
      next,
      f('ip6.hlim', 64),
      ...src,
      ...dst,
      ...seg,
    ];
  }
  const tag = has('vlan') ? [...u16(ETHERTYPE.vlan), ...u16((f('vlan.pcp', 0) << 13) | f('vlan.id', 0))] : [];
  const frame = [
    ...f<number[]>('eth.dst', zeroMac),
    ...f<number[]>('eth.src', zeroMac),
    ...tag,
    ...u16(etherType),
    ...body,
  ];
  while (frame.length < 60) frame.push(0);
  return Uint8Array.from(frame);
}
