// Rule values as typed nft values (src/nft/expr.ts): addresses with their masks as prefixes (or
// MAC ranges), number ranges, libvirt's protocol names as numbers. A value that came from a
// variable is the variable's raw text, so it is parsed here the way the attribute's data type parses it.
import { parseAs } from '../../conf/nwfilter/datatypes.js';
import { ARP_OPCODE_NAMES, ETHERTYPE_NAMES, IP_PROTOCOL_NAMES } from '../../conf/nwfilter/values.js';
import type { ResolvedAttr, VarText } from '../../nwfilter/instantiate.js';
import { invalidInput } from '../../errors.js';
import { formatIPv4, formatIPv6, formatMac } from '../../util/address.js';
import { num, type Value } from '../../nft/expr.js';

export type ValueKind = 'mac' | 'ipv4' | 'ipv6' | 'number' | 'ethertype' | 'arp-opcode' | 'ip-protocol';

const NAMES: Partial<Record<ValueKind, ReadonlyMap<number, string>>> = {
  ethertype: ETHERTYPE_NAMES,
  'arp-opcode': ARP_OPCODE_NAMES,
  'ip-protocol': IP_PROTOCOL_NAMES,
};

/** The number a numeric attribute holds (a variable may hold a name or hex text). */
export function numberOf(attr: ResolvedAttr, kind: ValueKind): number {
  const v = attr.value;
  if (v.kind === 'number') return v.value;
  const text = v.kind === 'text' ? v.text : v.kind === 'string' ? v.value : '';
  for (const [n, name] of NAMES[kind] ?? []) if (name.toLowerCase() === text.toLowerCase()) return n;
  const n = /^0x[0-9a-f]+$/i.test(text) ? parseInt(text, 16) : /^\d+$/.test(text) ? Number(text) : NaN;
  if (Number.isNaN(n)) throw invalidInput(`value '${text}' is not a number`);
  return n;
}

/**
 * Addresses parsed from variables' texts, by kind and text, with their nft value once asked
 * for: a port's MAC and IP reach several rules, whose elements then share one value. Bounded:
 * each kind's starts over when full.
 */
const parsedAddresses: Record<'mac' | 'ipv4' | 'ipv6', Map<string, ParsedAddress>> = {
  mac: new Map(),
  ipv4: new Map(),
  ipv6: new Map(),
};
const MAX_PARSED_ADDRESSES = 256;

/** An address's bytes and text as its data type prints it (addressValue's text), and its nft value once made. */
interface ParsedAddress {
  bytes: readonly number[];
  text: string;
  value?: Value;
}

function parsedAddress(attr: ResolvedAttr, kind: 'mac' | 'ipv4' | 'ipv6'): ParsedAddress {
  const v = attr.value;
  if (v.kind === kind) return { bytes: v.bytes, text: v.text };
  const known = v.kind === 'text' ? parsedAddresses[kind].get(v.text) : undefined;
  if (known) return known;
  const parsed = v.kind === 'text' ? parseAs(kind, v.text) : undefined;
  if (!parsed || parsed.kind !== kind)
    throw invalidInput(`value '${v.kind === 'text' ? v.text : v.kind}' is not a ${kind} address`);
  const cache = parsedAddresses[kind];
  if (cache.size >= MAX_PARSED_ADDRESSES) cache.clear();
  const address = { bytes: parsed.bytes, text: parsed.text };
  cache.set((v as VarText).text, address);
  return address;
}

/** Address bytes of an address attribute. */
export function addressBytes(attr: ResolvedAttr, kind: 'mac' | 'ipv4' | 'ipv6'): number[] {
  return [...parsedAddress(attr, kind).bytes];
}

/** An address attribute without a mask as an nft value (addressValue of its bytes). */
export function exactAddress(attr: ResolvedAttr, kind: 'mac' | 'ipv4' | 'ipv6'): Value {
  const address = parsedAddress(attr, kind);
  if (!address.value) {
    const value: Value = { kind: ADDRESS_KINDS[kind], addr: address.text };
    address.value = value;
  }
  return address.value;
}

/** A mask attribute as a prefix length (a variable may hold `24` or `255.255.255.0`). */
export function prefixOf(attr: ResolvedAttr, family: 'ipv4' | 'ipv6'): number {
  const v = attr.value;
  if (v.kind === 'prefix') return v.length;
  const parsed = v.kind === 'text' ? parseAs(family === 'ipv4' ? 'ipv4-mask' : 'ipv6-mask', v.text) : undefined;
  if (parsed?.kind !== 'prefix') throw invalidInput(`value is not a ${family} mask`);
  return parsed.length;
}

/** An address as an nft value. */
export function addressValue(bytes: readonly number[], kind: 'mac' | 'ipv4' | 'ipv6'): Value {
  return {
    kind: ADDRESS_KINDS[kind],
    addr: (kind === 'mac' ? formatMac : kind === 'ipv4' ? formatIPv4 : formatIPv6)(bytes),
  };
}

/** The nft value kind of each address kind. */
const ADDRESS_KINDS = { mac: 'ether', ipv4: 'ip', ipv6: 'ip6' } as const;

/** The bytes of `bytes` under a mask of `prefix` leading one bits. */
export function maskBytes(bytes: readonly number[], prefix: number): number[] {
  return bytes.map((b, i) => {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    return b & ((0xff << (8 - bits)) & 0xff);
  });
}

/** An address with an optional prefix as nft matches it: exact, `net/len` or a MAC range. */
export function maskedAddress(
  bytes: readonly number[],
  kind: 'mac' | 'ipv4' | 'ipv6',
  prefix: number | undefined,
): Value {
  const full = bytes.length * 8;
  if (prefix === undefined || prefix >= full) return addressValue(bytes, kind);
  const lo = maskBytes(bytes, prefix);
  if (kind !== 'mac') return { kind: 'prefix', addr: addressValue(lo, kind), len: prefix };
  const hi = lo.map((b, i) => b | (~maskBytes(Array(bytes.length).fill(0xff), prefix)[i]! & 0xff));
  return { kind: 'range', from: addressValue(lo, kind), to: addressValue(hi, kind) };
}

/**
 * Bytes as one big-endian number written in hex, for raw payload matches (`@nh,112,32 0xa000001`).
 * Raw values are always written in hex without leading zeros: nft lists integer set elements as
 * plain numbers, and reading them back (listing.ts) must give the same value. Raw fields are at
 * most 48 bits wide, so the number is exact.
 */
export function hexNumber(bytes: readonly number[]): Value {
  return num(
    bytes.reduce((n, b) => n * 256 + b, 0),
    0,
  );
}

/** A number or a range of numbers, in decimal or (raw fields) hex. */
export function range(lo: number, hi: number | undefined, hex = false): Value {
  const value = (n: number) => (hex ? num(n, 0) : num(n));
  return hi === undefined || hi === lo ? value(lo) : { kind: 'range', from: value(lo), to: value(hi) };
}
