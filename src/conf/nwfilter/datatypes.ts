// libvirt's attribute data types (DATATYPE_* in nwfilter_conf.h): how a text parses as each
// type, the order in which an attribute's types are tried, and the default way a stored value
// prints (virNWFilterRuleDefDetailsFormat). Attribute-specific rules live in values.ts.
import { formatIPv4, formatIPv6, formatMac, parseIPv4, parseIPv6, parseMac, prefixLength } from '../../util/address.js';
import { parseUInt } from '../../util/strtol.js';
import type { AttrDataType, AttrLiteral } from './types.js';

/** libvirt tries an attribute's data types in the order of their DATATYPE_* bits. */
export const DATATYPE_ORDER: readonly AttrDataType[] = [
  'uint16',
  'uint8',
  'uint16-hex',
  'uint8-hex',
  'mac',
  'mac-mask',
  'ipv4',
  'ipv4-mask',
  'string',
  'ipv6',
  'ipv6-mask',
  'comment',
  'boolean',
  'uint32',
  'uint32-hex',
  'ipset-name',
  'ipset-flags',
];

/** libvirt's MAX_COMMENT_LENGTH, in bytes. */
export const MAX_COMMENT_BYTES = 256;

const UINT_LIMIT = { uint8: 0xff, uint16: 0xffff, uint32: 0xffffffff } as const;

function parseNumber(text: string, bits: keyof typeof UINT_LIMIT, hex: boolean): AttrLiteral | undefined {
  const value = parseUInt(text, hex ? 16 : 10);
  return value !== undefined && value <= UINT_LIMIT[bits] ? { kind: 'number', value, hex } : undefined;
}

/** A mask given as a prefix length (at most `bits`) or as an address with contiguous ones. */
function parseMask(text: string, bits: 32 | 128): AttrLiteral | undefined {
  const n = parseUInt(text, 10);
  if (n !== undefined) return n <= bits ? { kind: 'prefix', length: n } : undefined;
  const bytes = bits === 32 ? parseIPv4(text) : parseIPv6(text);
  const length = bytes && prefixLength(bytes);
  return length === undefined ? undefined : { kind: 'prefix', length };
}

function truncateUtf8(text: string, maxBytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  return buf.length <= maxBytes ? text : buf.subarray(0, maxBytes).toString('utf8');
}

const PARSERS: Record<AttrDataType, (text: string) => AttrLiteral | undefined> = {
  uint8: (t) => parseNumber(t, 'uint8', false),
  'uint8-hex': (t) => parseNumber(t, 'uint8', true),
  uint16: (t) => parseNumber(t, 'uint16', false),
  'uint16-hex': (t) => parseNumber(t, 'uint16', true),
  uint32: (t) => parseNumber(t, 'uint32', false),
  'uint32-hex': (t) => parseNumber(t, 'uint32', true),
  mac: (t) => {
    const bytes = parseMac(t);
    return bytes && { kind: 'mac', bytes, text: formatMac(bytes) };
  },
  'mac-mask': (t) => {
    const bytes = parseMac(t);
    return bytes && prefixLength(bytes) !== undefined ? { kind: 'mac', bytes, text: formatMac(bytes) } : undefined;
  },
  ipv4: (t) => {
    const bytes = parseIPv4(t);
    return bytes && { kind: 'ipv4', bytes, text: formatIPv4(bytes) };
  },
  'ipv4-mask': (t) => parseMask(t, 32),
  ipv6: (t) => {
    const bytes = parseIPv6(t);
    return bytes && { kind: 'ipv6', bytes, text: formatIPv6(bytes) };
  },
  'ipv6-mask': (t) => parseMask(t, 128),
  // Keyword types: the attribute's value rule (values.ts) interprets the text.
  string: (t) => ({ kind: 'string', value: t }),
  'ipset-name': (t) => ({ kind: 'string', value: t }),
  'ipset-flags': (t) => ({ kind: 'string', value: t }),
  comment: (t) => ({ kind: 'string', value: truncateUtf8(t, MAX_COMMENT_BYTES) }),
  // libvirt takes true/1/yes as true and anything else as false.
  boolean: (t) => ({ kind: 'boolean', value: t === 'true' || t === '1' || t === 'yes' }),
};

/** The value `text` stands for as data type `type`, or undefined when it is not one. */
export function parseAs(type: AttrDataType, text: string): AttrLiteral | undefined {
  return PARSERS[type](text);
}

/** `types` in libvirt's trial order. */
export function inTrialOrder(types: readonly AttrDataType[]): AttrDataType[] {
  return DATATYPE_ORDER.filter((t) => types.includes(t));
}

const TCP_FLAG_ORDER = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG'] as const;

export function formatTcpFlagSet(bits: number): string {
  if (bits === 0) return 'NONE';
  if (bits === 0x3f) return 'ALL';
  return TCP_FLAG_ORDER.filter((_, i) => bits & (1 << i)).join(',');
}

/** How libvirt prints a stored value when the attribute has no formatter of its own. */
export function formatLiteral(v: AttrLiteral): string {
  switch (v.kind) {
    case 'number':
      return v.hex ? `0x${v.value.toString(16)}` : String(v.value);
    case 'mac':
    case 'ipv4':
    case 'ipv6':
      return v.text;
    case 'prefix':
      return String(v.length);
    case 'string':
      return v.value;
    case 'boolean':
      return v.value ? 'true' : 'false';
    case 'state':
      return v.states.join(',');
    case 'tcp-flags':
      return `${formatTcpFlagSet(v.mask)}/${formatTcpFlagSet(v.set)}`;
    case 'ipset-flags':
      return v.dirs.join(',');
  }
}
