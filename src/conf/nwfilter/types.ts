// Typed definition of a libvirt nwfilter `<filter>` document (virNWFilterDef), as parsed by
// parseFilter() and formatted by formatFilter(). Values are stored the way libvirt stores them
// after parsing (canonical MACs and addresses, masks as prefix lengths, numbers with their
// hex-ness), so rule generation never needs to look at the XML text again.
import type { SourceLocation } from '../../errors.js';

/** virNWFilterRuleAction, in libvirt's enum order. */
export const RULE_ACTIONS = ['drop', 'accept', 'reject', 'return', 'continue'] as const;
export type RuleAction = (typeof RULE_ACTIONS)[number];

/** virNWFilterRuleDirection, in libvirt's enum order. */
export const RULE_DIRECTIONS = ['in', 'out', 'inout'] as const;
export type RuleDirection = (typeof RULE_DIRECTIONS)[number];

/**
 * virNWFilterChainSuffix: the chain kinds. A filter's chain is one of these names or, except
 * for `root`, any name starting with one (e.g. `arp-xyz`, `ipv4foo`).
 */
export const CHAIN_KINDS = ['root', 'mac', 'vlan', 'stp', 'arp', 'rarp', 'ipv4', 'ipv6'] as const;
export type ChainKind = (typeof CHAIN_KINDS)[number];

/**
 * The protocol elements of a rule, in libvirt's virNWFilterRuleProtocol order: Ethernet-layer
 * protocols (mac .. ipv6), then IPv4-layer (tcp .. all), then IPv6-layer (tcp-ipv6 .. all-ipv6).
 */
export const PROTOCOLS = [
  'mac',
  'vlan',
  'stp',
  'arp',
  'rarp',
  'ip',
  'ipv6',
  'tcp',
  'icmp',
  'igmp',
  'udp',
  'udplite',
  'esp',
  'ah',
  'sctp',
  'all',
  'tcp-ipv6',
  'icmpv6',
  'udp-ipv6',
  'udplite-ipv6',
  'esp-ipv6',
  'ah-ipv6',
  'sctp-ipv6',
  'all-ipv6',
] as const;
export type ProtocolName = (typeof PROTOCOLS)[number];

/**
 * libvirt's attribute data types (DATATYPE_*). An attribute accepts one or more of them, tried
 * in libvirt's order; the one that parsed decides how the value is printed (e.g. `uint16-hex`
 * prints as `0x..`).
 */
export type AttrDataType =
  | 'uint8'
  | 'uint8-hex'
  | 'uint16'
  | 'uint16-hex'
  | 'uint32'
  | 'uint32-hex'
  | 'mac'
  | 'mac-mask'
  | 'ipv4'
  | 'ipv4-mask'
  | 'ipv6'
  | 'ipv6-mask'
  /** A keyword string handled by the attribute's own validator (state, flags, protocol names). */
  | 'string'
  /** Free text copied as is (comment), at most 256 bytes. */
  | 'comment'
  | 'boolean'
  | 'ipset-name'
  | 'ipset-flags';

/**
 * A variable reference `$NAME` (iterator 0), `$NAME[@n]` (iterator n) or `$NAME[n]` (element n).
 * Same shape as the instantiation engine's VarAccess.
 */
export type VarRef =
  | { kind: 'iterator'; name: string; iterId: number }
  | { kind: 'element'; name: string; index: number };

/** A number (uintN); `hex` when libvirt stored it as a hex datatype and prints it as `0x..`. */
export interface NumberValue {
  kind: 'number';
  value: number;
  hex: boolean;
}

/** A MAC address or MAC mask; `text` is libvirt's canonical `01:02:0a:0b:0c:0d`. */
export interface MacValue {
  kind: 'mac';
  bytes: readonly number[];
  text: string;
}

/** An IPv4 address; `text` is dotted quad as libvirt prints it. */
export interface Ipv4Value {
  kind: 'ipv4';
  bytes: readonly number[];
  text: string;
}

/** An IPv6 address; `text` as glibc's inet_ntop prints it (what libvirt outputs). */
export interface Ipv6Value {
  kind: 'ipv6';
  bytes: readonly number[];
  text: string;
}

/** An IPv4/IPv6 mask, always kept (and printed) as a prefix length. */
export interface PrefixValue {
  kind: 'prefix';
  length: number;
}

/** comment text, or an ipset name. */
export interface StringValue {
  kind: 'string';
  value: string;
}

export interface BooleanValue {
  kind: 'boolean';
  value: boolean;
}

/** Connection-tracking states, in libvirt's printing order. */
export const CONN_STATES = ['NEW', 'ESTABLISHED', 'RELATED', 'INVALID', 'NONE'] as const;
export type ConnState = (typeof CONN_STATES)[number];

/** `state='NEW,ESTABLISHED'`; NONE excludes all others. May be empty (`state=''`). */
export interface StateValue {
  kind: 'state';
  states: readonly ConnState[];
}

/** TCP flag bits as libvirt numbers them (FIN=0x01 .. URG=0x20; ALL=0x3f). */
export const TCP_FLAG_BITS = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20 } as const;

/** tcp `flags='MASK/SET'`, e.g. `SYN,ACK/SYN`: which flags to examine and which must be set. */
export interface TcpFlagsValue {
  kind: 'tcp-flags';
  mask: number;
  set: number;
}

/** `ipsetflags='src,dst'`: one direction per ipset dimension (at most 6). */
export interface IpsetFlagsValue {
  kind: 'ipset-flags';
  dirs: readonly ('src' | 'dst')[];
}

export type AttrLiteral =
  | NumberValue
  | MacValue
  | Ipv4Value
  | Ipv6Value
  | PrefixValue
  | StringValue
  | BooleanValue
  | StateValue
  | TcpFlagsValue
  | IpsetFlagsValue;

export interface VarValueRef {
  kind: 'var';
  ref: VarRef;
}

export type AttrValue = AttrLiteral | VarValueRef;

/** One attribute of a rule's protocol element. */
export interface RuleAttr {
  value: AttrValue;
  /**
   * match='no' applies to this attribute. Set from the element that carried the attribute,
   * then adjusted as libvirt does after parsing (virNWFilterRuleDefFixup): masks take the
   * negation of their address, `*-hi`/`*end`/range-end attributes of their start, and the
   * other port attributes of srcportstart.
   */
  negated: boolean;
}

/**
 * Attributes of a rule keyed by their XML name (e.g. `srcipaddr`, `dstportstart`, `comment`).
 * Which names a protocol has, and their data types, is in PROTOCOL_TABLES (protocols.ts).
 */
export type RuleAttrs = Partial<Record<string, RuleAttr>>;

export interface RuleDef {
  kind: 'rule';
  action: RuleAction;
  direction: RuleDirection;
  /** -1000..1000; 500 when absent or out of range (libvirt ignores a bad value silently). */
  priority: number;
  /** false for statematch='false' / '0' (RULE_FLAG_NO_STATEMATCH). */
  stateMatch: boolean;
  /** The rule's protocol element; undefined for a rule without one (`<rule .../>`). */
  protocol?: ProtocolName;
  attrs: RuleAttrs;
  /**
   * Distinct variable references of the rule, in the order libvirt registers them
   * (element by element, attributes in table order). This is the order the instantiation
   * engine iterates them in.
   */
  variables: readonly VarRef[];
  source?: SourceLocation;
}

/** Filter parameters: name -> values (a list when the parameter repeats), in document order. */
export type FilterParams = ReadonlyMap<string, readonly string[]>;

/** `<filterref filter='NAME'>` with `<parameter name value>` children. */
export interface FilterRefDef {
  kind: 'filterref';
  filter: string;
  params: FilterParams;
  source?: SourceLocation;
}

export type FilterEntry = RuleDef | FilterRefDef;

export interface FilterDef {
  name: string;
  /** Lowercase 8-4-4-4-12 form. Generated (random) when the document has none. */
  uuid: string;
  uuidSpecified: boolean;
  /** The chain name as written (`root` when absent), e.g. `ipv4`, `arp-xyz`. */
  chain: string;
  /** The chain kind the name belongs to (its prefix). */
  chainKind: ChainKind;
  /**
   * Chain priority, -1000..1000. When not given: the kind's default (root 0, mac -800,
   * vlan -750, ipv4 -700, ipv6 -600, arp -500, rarp -400; stp has none and gets 0).
   * Also 0 when the filter has no chain attribute, even if priority was given (libvirt).
   */
  priority: number;
  entries: readonly FilterEntry[];
  source?: SourceLocation;
}
