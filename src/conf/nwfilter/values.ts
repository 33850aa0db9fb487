// Attribute-specific value rules: libvirt's validators and formatters in nwfilter_conf.c
// (checkMacProtocolID, arpOpcodeValidator, stateValidator, tcpFlagsValidator, ...). A rule turns
// the value its data type parsed into the value libvirt stores, or rejects it; some also print
// the stored value their own way (names for well-known protocol numbers).
import { formatLiteral } from './datatypes.js';
import { CONN_STATES, TCP_FLAG_BITS, type AttrDataType, type AttrLiteral, type ConnState } from './types.js';

/** Ethernet protocol names libvirt knows (macProtoMap), for mac protocolid / vlan encap-protocol. */
export const ETHERTYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [0x0806, 'arp'],
  [0x8035, 'rarp'],
  [0x0800, 'ipv4'],
  [0x86dd, 'ipv6'],
  [0x8100, 'vlan'],
]);

/** ARP opcode names (arpOpcodeMap, as `ebtables -h arp` names them). */
export const ARP_OPCODE_NAMES: ReadonlyMap<number, string> = new Map([
  [1, 'Request'],
  [2, 'Reply'],
  [3, 'Request_Reverse'],
  [4, 'Reply_Reverse'],
  [5, 'DRARP_Request'],
  [6, 'DRARP_Reply'],
  [7, 'DRARP_Error'],
  [8, 'InARP_Request'],
  [9, 'ARP_NAK'],
]);

/** IP protocol names (ipProtoMap), for the ip/ipv6 `protocol` attribute. */
export const IP_PROTOCOL_NAMES: ReadonlyMap<number, string> = new Map([
  [6, 'tcp'],
  [17, 'udp'],
  [136, 'udplite'],
  [50, 'esp'],
  [51, 'ah'],
  [1, 'icmp'],
  [2, 'igmp'],
  [132, 'sctp'],
  [58, 'icmpv6'],
]);

/** libvirt's MAX_IPSET_NAME_LENGTH includes the terminating NUL. */
const MAX_IPSET_NAME = 31;
const VALID_IPSET_NAME = /^[A-Za-z0-9_.:\-+ ]*$/;

export interface ValueRule {
  /** The value to store, or undefined when libvirt rejects it. `type` is the type that parsed. */
  check(v: AttrLiteral, type: AttrDataType): AttrLiteral | undefined;
  /** Printing, when it differs from formatLiteral. */
  format?(v: AttrLiteral): string;
}

function nameToNumber(names: ReadonlyMap<number, string>, text: string): number | undefined {
  const lower = text.toLowerCase();
  for (const [value, name] of names) if (name.toLowerCase() === lower) return value;
  return undefined;
}

/**
 * A numeric field that also takes a well-known name. A name is stored as a number with
 * `hexWhenNamed` (libvirt records the data type UINT16 for Ethernet names, UINT8_HEX for IP
 * protocol names); a number must be at least `min`.
 */
function namedNumber(
  names: ReadonlyMap<number, string>,
  hexWhenNamed: boolean,
  min: number,
  decimalOnly = false,
): ValueRule {
  return {
    check(v) {
      if (v.kind === 'string') {
        const value = nameToNumber(names, v.value);
        return value === undefined ? undefined : { kind: 'number', value, hex: hexWhenNamed };
      }
      return v.kind === 'number' && v.value >= min ? v : undefined;
    },
    format(v) {
      if (v.kind !== 'number') return formatLiteral(v);
      return names.get(v.value) ?? (decimalOnly ? String(v.value) : formatLiteral(v));
    },
  };
}

/** g_ascii_isspace. */
const ASCII_SPACE = ' \t\n\f\r';

/**
 * libvirt's parseStringItems: keywords matched case-insensitively as prefixes of the remaining
 * text, separated by any run of white space and `sep`; undefined when something else is found.
 */
export function parseKeywords<K extends string>(text: string, keywords: readonly K[], sep: string): K[] | undefined {
  const found: K[] = [];
  let i = 0;
  for (;;) {
    while (i < text.length && (ASCII_SPACE.includes(text[i]!) || text[i] === sep)) i++;
    if (i >= text.length) return found;
    const rest = text.slice(i).toLowerCase();
    const k = keywords.find((kw) => rest.startsWith(kw.toLowerCase()));
    if (k === undefined) return undefined;
    found.push(k);
    i += k.length;
  }
}

const TCP_FLAG_KEYWORDS = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ALL', 'NONE'] as const;
const TCP_FLAG_VALUE: Record<(typeof TCP_FLAG_KEYWORDS)[number], number> = { ...TCP_FLAG_BITS, ALL: 0x3f, NONE: 0 };

function parseTcpFlagSet(text: string): number | undefined {
  const words = parseKeywords(text, TCP_FLAG_KEYWORDS, ',');
  return words?.reduce((bits, w) => bits | TCP_FLAG_VALUE[w], 0);
}

export type ValueRuleName =
  | 'mac-protocol'
  | 'vlan-id'
  | 'vlan-encap'
  | 'arp-opcode'
  | 'ip-protocol'
  | 'dscp'
  | 'state'
  | 'tcp-flags'
  | 'ipset-name'
  | 'ipset-flags';

export const VALUE_RULES: Record<ValueRuleName, ValueRule> = {
  // Ethernet protocol ids below 0x600 are frame lengths, not types.
  'mac-protocol': namedNumber(ETHERTYPE_NAMES, false, 0x600),
  'vlan-id': { check: (v) => (v.kind === 'number' && v.value <= 4095 ? v : undefined) },
  'vlan-encap': namedNumber(ETHERTYPE_NAMES, false, 0x3c),
  'arp-opcode': namedNumber(ARP_OPCODE_NAMES, false, 0, true),
  'ip-protocol': namedNumber(IP_PROTOCOL_NAMES, true, 0),
  dscp: { check: (v) => (v.kind === 'number' && v.value <= 63 ? v : undefined) },
  state: {
    check(v) {
      if (v.kind !== 'string') return undefined;
      const words = parseKeywords(v.value, CONN_STATES, ',');
      if (!words) return undefined;
      // NONE overrides every other state.
      const states: ConnState[] = words.includes('NONE') ? ['NONE'] : CONN_STATES.filter((s) => words.includes(s));
      return { kind: 'state', states };
    },
  },
  'tcp-flags': {
    check(v) {
      if (v.kind !== 'string') return undefined;
      const slash = v.value.indexOf('/');
      if (slash < 0) return undefined;
      const mask = parseTcpFlagSet(v.value.slice(0, slash));
      const set = parseTcpFlagSet(v.value.slice(slash + 1));
      return mask === undefined || set === undefined
        ? undefined
        : { kind: 'tcp-flags', mask: mask & 0x3f, set: set & 0x3f };
    },
  },
  'ipset-name': {
    check: (v) =>
      v.kind === 'string' && Buffer.byteLength(v.value) <= MAX_IPSET_NAME && VALID_IPSET_NAME.test(v.value)
        ? v
        : undefined,
  },
  'ipset-flags': {
    // Up to six comma-separated src/dst, nothing else.
    check(v) {
      if (v.kind !== 'string') return undefined;
      const m = /^((?:src|dst)(?:,(?:src|dst)){0,5}),?$/i.exec(v.value);
      if (!m || (v.value.endsWith(',') && m[1]!.split(',').length < 6)) return undefined;
      return { kind: 'ipset-flags', dirs: m[1]!.split(',').map((d) => (d.toLowerCase() === 'src' ? 'src' : 'dst')) };
    },
  },
};
