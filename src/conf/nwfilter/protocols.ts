// The protocol tables (libvirt's virXMLAttr2Struct tables and virNWFilterRuleDefFixup): for
// each protocol element, its attributes in libvirt's order with their data types and value
// rules, and what libvirt adjusts after parsing. Parsing, validation, formatting and rule
// generation all read these tables.
import { PROTOCOLS, type AttrDataType, type ProtocolName } from './types.js';
import type { ValueRuleName } from './values.js';

export interface AttrSpec {
  name: string;
  /** Accepted data types (tried in DATATYPE_ORDER). */
  types: readonly AttrDataType[];
  /** libvirt's validator/formatter for this attribute, if any. */
  rule?: ValueRuleName;
}

export type ProtocolLayer = 'ethernet' | 'ipv4' | 'ipv6';

export interface ProtocolSpec {
  name: ProtocolName;
  layer: ProtocolLayer;
  /** In libvirt's order: the order attributes are parsed, registered and printed. */
  attrs: readonly AttrSpec[];
  /**
   * [target, source]: after parsing, target's negation becomes source's (libvirt's
   * COPY_NEG_SIGN), whether or not source is present.
   */
  negationFrom: readonly (readonly [string, string])[];
  /**
   * libvirt's ipset fixup: an ipset without ipsetflags gets ipsetflags='src'; otherwise both
   * attributes are dropped (even when both were given).
   */
  ipsetFixup: boolean;
  /** Port attributes require protocol tcp/udp/dccp/sctp (virNWFilterRuleValidate). */
  portsNeedProtocol: boolean;
}

const U8: AttrDataType[] = ['uint8', 'uint8-hex'];
const U16: AttrDataType[] = ['uint16', 'uint16-hex'];
const U32: AttrDataType[] = ['uint32', 'uint32-hex'];

const attr = (name: string, types: readonly AttrDataType[], rule?: ValueRuleName): AttrSpec => ({ name, types, rule });

const COMMENT = attr('comment', ['comment']);

const MAC_ADDRS: AttrSpec[] = [
  attr('srcmacaddr', ['mac']),
  attr('srcmacmask', ['mac-mask']),
  attr('dstmacaddr', ['mac']),
  attr('dstmacmask', ['mac-mask']),
];

const PORTS: AttrSpec[] = ['srcportstart', 'srcportend', 'dstportstart', 'dstportend'].map((n) => attr(n, U16));

/** Source and destination address with their masks. */
function addressAttrs(family: 'ipv4' | 'ipv6'): AttrSpec[] {
  const mask: AttrDataType = family === 'ipv4' ? 'ipv4-mask' : 'ipv6-mask';
  return [
    attr('srcipaddr', [family]),
    attr('srcipmask', [mask]),
    attr('dstipaddr', [family]),
    attr('dstipmask', [mask]),
  ];
}

/** COMMON_IP_PROPS. libvirt declares dstipto as IPv4 even for the IPv6 protocols. */
function ipProps(family: 'ipv4' | 'ipv6'): AttrSpec[] {
  return [
    attr('srcmacaddr', ['mac']),
    ...addressAttrs(family),
    attr('srcipfrom', [family]),
    attr('srcipto', [family]),
    attr('dstipfrom', [family]),
    attr('dstipto', ['ipv4']),
    attr('dscp', U8, 'dscp'),
    attr('connlimit-above', ['uint16']),
    attr('state', ['string'], 'state'),
    attr('ipset', ['ipset-name'], 'ipset-name'),
    attr('ipsetflags', ['ipset-flags'], 'ipset-flags'),
  ];
}

/** The Ethernet-layer ip/ipv6 elements: MACs, addresses, protocol, ports, then `extra`. */
function ipHeader(family: 'ipv4' | 'ipv6', extra: AttrSpec[], negation: [string, string][]): Shape {
  return {
    attrs: [
      ...MAC_ADDRS,
      ...addressAttrs(family),
      attr('protocol', ['string', ...U8], 'ip-protocol'),
      ...PORTS,
      ...extra,
      COMMENT,
    ],
    negationFrom: [...ADDR_NEGATION, ...negation],
    ipsetFixup: true,
    portsNeedProtocol: true,
  };
}

const ADDR_NEGATION: [string, string][] = [
  ['srcipmask', 'srcipaddr'],
  ['dstipmask', 'dstipaddr'],
];
const RANGE_NEGATION: [string, string][] = [...ADDR_NEGATION, ['srcipto', 'srcipfrom'], ['dstipto', 'dstipfrom']];
const PORT_NEGATION: [string, string][] = [
  ['srcportend', 'srcportstart'],
  ['dstportstart', 'srcportstart'],
  ['dstportend', 'srcportstart'],
];
const MAC_NEGATION: [string, string][] = [
  ['srcmacmask', 'srcmacaddr'],
  ['dstmacmask', 'dstmacaddr'],
];

const ARP_ATTRS: AttrSpec[] = [
  ...MAC_ADDRS,
  attr('hwtype', U16),
  attr('protocoltype', U16),
  attr('opcode', [...U16, 'string'], 'arp-opcode'),
  attr('arpsrcmacaddr', ['mac']),
  attr('arpdstmacaddr', ['mac']),
  attr('arpsrcipaddr', ['ipv4']),
  attr('arpsrcipmask', ['ipv4-mask']),
  attr('arpdstipaddr', ['ipv4']),
  attr('arpdstipmask', ['ipv4-mask']),
  attr('gratuitous', ['boolean']),
  COMMENT,
];

/** STP fields in libvirt's order; each is followed by its bound (see stpBound). */
const STP_FIELDS: [string, readonly AttrDataType[]][] = [
  ['root-priority', U16],
  ['root-address', ['mac']],
  ['root-cost', U32],
  ['sender-priority', U16],
  ['sender-address', ['mac']],
  ['port', U16],
  ['age', U16],
  ['max-age', U16],
  ['hello-time', U16],
  ['forward-delay', U16],
];

/** An address field's mask, or the upper end of a number field's range. */
function stpBound(name: string, types: readonly AttrDataType[]): AttrSpec {
  return types.includes('mac') ? attr(`${name}-mask`, ['mac-mask']) : attr(`${name}-hi`, types);
}

type Shape = Omit<ProtocolSpec, 'name' | 'layer' | 'portsNeedProtocol'> & { portsNeedProtocol?: boolean };

/** The IPv4/IPv6 transport protocols share their shape; only the address family differs. */
function transport(family: 'ipv4' | 'ipv6', extra: AttrSpec[], negation: [string, string][], ipsetFixup = true): Shape {
  return { attrs: [...ipProps(family), ...extra, COMMENT], negationFrom: [...RANGE_NEGATION, ...negation], ipsetFixup };
}

const ICMP_TYPE = [attr('type', U8), attr('code', U8)];

const SHAPES: Record<ProtocolName, Shape> = {
  mac: {
    attrs: [...MAC_ADDRS, attr('protocolid', [...U16, 'string'], 'mac-protocol'), COMMENT],
    negationFrom: MAC_NEGATION,
    ipsetFixup: false,
  },
  vlan: {
    attrs: [
      ...MAC_ADDRS,
      attr('vlanid', U16, 'vlan-id'),
      attr('encap-protocol', [...U16, 'string'], 'vlan-encap'),
      COMMENT,
    ],
    negationFrom: MAC_NEGATION,
    ipsetFixup: false,
  },
  stp: {
    attrs: [
      attr('srcmacaddr', ['mac']),
      attr('srcmacmask', ['mac-mask']),
      attr('type', U8),
      attr('flags', U8),
      ...STP_FIELDS.flatMap(([n, t]) => [attr(n, t), stpBound(n, t)]),
      COMMENT,
    ],
    negationFrom: [
      ['srcmacmask', 'srcmacaddr'],
      ...STP_FIELDS.map(([n, t]): [string, string] => [stpBound(n, t).name, n]),
    ],
    ipsetFixup: false,
  },
  arp: { attrs: ARP_ATTRS, negationFrom: [], ipsetFixup: false },
  rarp: { attrs: ARP_ATTRS, negationFrom: [], ipsetFixup: false },
  ip: ipHeader('ipv4', [attr('dscp', U8, 'dscp')], []),
  ipv6: ipHeader(
    'ipv6',
    ['type', 'typeend', 'code', 'codeend'].map((n) => attr(n, U8)),
    [
      ['typeend', 'type'],
      ['code', 'type'],
      ['codeend', 'type'],
    ],
  ),
  tcp: transport('ipv4', [...PORTS, attr('option', U8), attr('flags', ['string'], 'tcp-flags')], PORT_NEGATION),
  icmp: transport('ipv4', ICMP_TYPE, [['code', 'type']]),
  igmp: transport('ipv4', [], []),
  udp: transport('ipv4', PORTS, PORT_NEGATION),
  udplite: transport('ipv4', [], []),
  esp: transport('ipv4', [], []),
  ah: transport('ipv4', [], []),
  sctp: transport('ipv4', PORTS, PORT_NEGATION),
  all: transport('ipv4', [], [], false),
  'tcp-ipv6': transport('ipv6', [...PORTS, attr('option', U8)], PORT_NEGATION),
  icmpv6: transport('ipv6', ICMP_TYPE, [['code', 'type']]),
  'udp-ipv6': transport('ipv6', PORTS, PORT_NEGATION),
  'udplite-ipv6': transport('ipv6', [], []),
  'esp-ipv6': transport('ipv6', [], []),
  'ah-ipv6': transport('ipv6', [], []),
  'sctp-ipv6': transport('ipv6', PORTS, PORT_NEGATION),
  'all-ipv6': transport('ipv6', [], [], false),
};

function layerOf(name: ProtocolName): ProtocolLayer {
  if (['mac', 'vlan', 'stp', 'arp', 'rarp', 'ip', 'ipv6'].includes(name)) return 'ethernet';
  return name.endsWith('-ipv6') || name === 'icmpv6' ? 'ipv6' : 'ipv4';
}

/** Every protocol element, in libvirt's virNWFilterRuleProtocol order. */
export const PROTOCOL_TABLES: ReadonlyMap<ProtocolName, ProtocolSpec> = new Map(
  PROTOCOLS.map((name) => [
    name,
    { name, layer: layerOf(name), ...SHAPES[name], portsNeedProtocol: SHAPES[name].portsNeedProtocol ?? false },
  ]),
);

export function protocolSpec(name: ProtocolName): ProtocolSpec {
  return PROTOCOL_TABLES.get(name)!;
}

/** The table entry for one attribute of a protocol, if the protocol has it. */
export function attrSpec(protocol: ProtocolName, attrName: string): AttrSpec | undefined {
  return protocolSpec(protocol).attrs.find((a) => a.name === attrName);
}

/** IP protocol numbers whose rules may carry ports (tcp, udp, dccp, sctp). */
export const PORTED_IP_PROTOCOLS: ReadonlySet<number> = new Set([6, 17, 33, 132]);
