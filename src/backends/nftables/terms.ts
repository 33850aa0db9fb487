// One resolved nwfilter rule as nft matches ("terms") and a verdict, for the bridge table (the
// rules libvirt puts in ebtables) and the inet table (the ones it puts in iptables/ip6tables).
// The bridge side is one table of fields per protocol; the inet side follows libvirt's iptables
// chain placement (chainUses) so both backends decide the same packets the same way.
import { invalidInput } from '../../errors.js';
import type { ResolvedAttr, ResolvedRule } from '../../nwfilter/instantiate.js';
import type { ChainUse } from '../../nwfilter/chain-uses.js';
import { prefixLength } from '../../util/address.js';
import {
  concat,
  concatValue,
  ct,
  match,
  meta,
  num,
  payload,
  raw,
  sym,
  type Expr,
  type Statement,
  type Value,
  type Verdict,
} from '../../nft/expr.js';
import {
  addressBytes,
  addressValue,
  exactAddress,
  hexNumber,
  maskedAddress,
  numberOf,
  prefixOf,
  range,
  type ValueKind,
} from './values.js';

/** One match of a rule: `expr value` or `expr != value`. */
export interface Term {
  /** The nft expression, e.g. `ether saddr`, `icmp type . icmp code`. */
  expr: Expr;
  negated: boolean;
  value: Value;
  /** The value came from a variable, so ports sharing the rule may differ in it. */
  variable: boolean;
  /** The expression is typed, so its values can be elements of a set keyed by port. */
  settable: boolean;
  /** Set when the value is read from one variable's text alone, and that text is read nowhere else (see ValueSource). */
  source?: ValueSource;
}

/**
 * Where a variable term's value comes from: `read(attr)`. Only exact address matches have one:
 * an address field's own attribute is read nowhere but here, so a rule whose other texts are the
 * same has the same terms with `read` of its own attribute as this term's value (compile.ts
 * builds the elements of ports of a known structure from it).
 */
export interface ValueSource {
  attr: ResolvedAttr;
  read: (attr: ResolvedAttr) => Value;
}

type AddressKind = 'mac' | 'ipv4' | 'ipv6';
const readers = (read: (a: ResolvedAttr, kind: AddressKind) => Value) =>
  Object.fromEntries((['mac', 'ipv4', 'ipv6'] as const).map((k) => [k, (a: ResolvedAttr) => read(a, k)])) as Record<
    AddressKind,
    (a: ResolvedAttr) => Value
  >;
/** Exact addresses, and exact addresses at a raw offset (a number: all the field's bits). */
const EXACT_READERS = readers(exactAddress);
const RAW_READERS = readers((a, kind) => hexNumber(addressBytes(a, kind)));

export interface RuleParts {
  terms: Term[];
  /** Statements between the matches and the verdict (state matches). */
  statements: Statement[];
  /** iptables connlimit: more than `above` connections from this source drops. */
  connlimit?: { family: 'ip' | 'ip6'; above: number; negated: boolean };
  /** A verdict, or a reject. */
  verdict: Verdict | { kind: 'reject' };
}

const fixed = (expr: Expr, value: Value): Term => ({ expr, value, negated: false, variable: false, settable: true });

// --- bridge table (ebtables semantics) ---------------------------------------------------------

interface Field {
  attr: string;
  expr: Expr;
  /** Expression in the reversed (guest-bound half of an inout) rule. */
  reversed?: Expr;
  kind: ValueKind;
  /** A mask (addresses) or range end (numbers). */
  second?: string;
  /** libvirt's ARP quirk: a missing destination mask reuses the source mask. */
  fallbackSecond?: string;
  /** A raw payload offset (`@nh,112,32`): values print as numbers. */
  raw?: boolean;
}

type Step = Field | Term | ((rule: ResolvedRule) => Term[]);

const f = (attr: string, expr: Expr, kind: ValueKind, more: Partial<Field> = {}): Field => ({
  attr,
  expr,
  kind,
  ...more,
});

const ether = (field: 'saddr' | 'daddr' | 'type') => payload('ether', field);

const ETH: Step[] = [
  f('srcmacaddr', ether('saddr'), 'mac', { second: 'srcmacmask', reversed: ether('daddr') }),
  f('dstmacaddr', ether('daddr'), 'mac', { second: 'dstmacmask', reversed: ether('saddr') }),
];

/** ARP (native nft `arp` expressions) and RARP (same layout, raw offsets after the header). */
function arpFields(native: boolean): Step[] {
  const at = (field: string, off: number, len: number) =>
    native ? { expr: payload('arp', field) } : { expr: raw('nh', off, len), raw: true };
  const src = at('saddr ip', 112, 32);
  const dst = at('daddr ip', 192, 32);
  const sha = at('saddr ether', 64, 48);
  const tha = at('daddr ether', 144, 48);
  return [
    ...ETH,
    fixed(ether('type'), native ? sym('arp') : num(0x8035, 4)),
    f('hwtype', at('htype', 0, 16).expr, 'number', at('htype', 0, 16)),
    f('opcode', at('operation', 48, 16).expr, 'arp-opcode', at('operation', 48, 16)),
    f('protocoltype', at('ptype', 16, 16).expr, 'number', at('ptype', 16, 16)),
    f('arpsrcipaddr', src.expr, 'ipv4', { ...src, second: 'arpsrcipmask', reversed: dst.expr }),
    f('arpdstipaddr', dst.expr, 'ipv4', {
      ...dst,
      second: 'arpdstipmask',
      fallbackSecond: 'arpsrcipmask',
      reversed: src.expr,
    }),
    f('arpsrcmacaddr', sha.expr, 'mac', { ...sha, reversed: tha.expr }),
    f('arpdstmacaddr', tha.expr, 'mac', { ...tha, reversed: sha.expr }),
    (rule) => {
      const g = rule.attrs['gratuitous'];
      const on =
        g &&
        (g.value.kind === 'boolean'
          ? g.value.value
          : g.value.kind === 'text' && ['true', '1', 'yes'].includes(g.value.text));
      if (on) throw invalidInput('ARP gratuitous matching is not supported by the nftables backend');
      return [];
    },
  ];
}

function ipFields(v: 'ip' | 'ip6'): Step[] {
  return [
    ...ETH,
    fixed(ether('type'), sym(v)),
    f('srcipaddr', payload(v, 'saddr'), v === 'ip' ? 'ipv4' : 'ipv6', {
      second: 'srcipmask',
      reversed: payload(v, 'daddr'),
    }),
    f('dstipaddr', payload(v, 'daddr'), v === 'ip' ? 'ipv4' : 'ipv6', {
      second: 'dstipmask',
      reversed: payload(v, 'saddr'),
    }),
    // ebtables' --ip6-protocol skips extension headers, as meta l4proto does.
    f('protocol', v === 'ip' ? payload('ip', 'protocol') : meta('l4proto'), 'ip-protocol'),
    f('srcportstart', payload('th', 'sport'), 'number', { second: 'srcportend', reversed: payload('th', 'dport') }),
    f('dstportstart', payload('th', 'dport'), 'number', { second: 'dstportend', reversed: payload('th', 'sport') }),
  ];
}

/** ebtables' ICMPv6 type/code ranges: a missing end repeats the start, a missing start is 0-255. */
function icmpv6Types(rule: ResolvedRule): Term[] {
  const a = rule.attrs;
  if (!a['type'] && !a['typeend'] && !a['code'] && !a['codeend']) return [];
  const span = (start: string, end: string) => {
    const lo = a[start] ? numberOf(a[start]!, 'number') : undefined;
    const hi = a[end] ? numberOf(a[end]!, 'number') : lo;
    return lo === undefined ? range(0, 255) : range(lo, hi);
  };
  const variable = ['type', 'typeend', 'code', 'codeend'].some((n) => a[n]?.value.kind === 'text');
  const expr = concat([payload('icmpv6', 'type'), payload('icmpv6', 'code')]);
  return [
    {
      expr,
      value: concatValue([span('type', 'typeend'), span('code', 'codeend')]),
      negated: !!a['type']?.negated,
      variable,
      settable: true,
    },
  ];
}

/** STP BPDU fields after the 802.3 and LLC headers, as offsets into the frame (bits). */
const STP_OFFSETS: readonly [string, number, number, ValueKind][] = [
  ['type', 160, 8, 'number'],
  ['flags', 168, 8, 'number'],
  ['root-priority', 176, 16, 'number'],
  ['root-address', 192, 48, 'mac'],
  ['root-cost', 240, 32, 'number'],
  ['sender-priority', 272, 16, 'number'],
  ['sender-address', 288, 48, 'mac'],
  ['port', 336, 16, 'number'],
  ['age', 352, 16, 'number'],
  ['max-age', 368, 16, 'number'],
  ['hello-time', 384, 16, 'number'],
  ['forward-delay', 400, 16, 'number'],
];

const BRIDGE_STEPS: Record<string, Step[]> = {
  none: [],
  mac: [...ETH, f('protocolid', ether('type'), 'ethertype')],
  vlan: [
    ...ETH,
    fixed(ether('type'), sym('vlan')),
    f('vlanid', payload('vlan', 'id'), 'number'),
    f('encap-protocol', payload('vlan', 'type'), 'ethertype'),
  ],
  stp: [
    ...ETH,
    fixed(ether('daddr'), { kind: 'ether', addr: '01:80:c2:00:00:00' }),
    ...STP_OFFSETS.map(([attr, off, len, kind]) =>
      f(attr, raw('ll', off, len), kind, {
        raw: true,
        second: kind === 'mac' ? `${attr}-mask` : attr === 'type' || attr === 'flags' ? undefined : `${attr}-hi`,
      }),
    ),
  ],
  arp: arpFields(true),
  rarp: arpFields(false),
  ip: [...ipFields('ip'), f('dscp', raw('nh', 8, 8), 'number', { raw: true })],
  ipv6: [...ipFields('ip6'), icmpv6Types],
};

const isVar = (a: ResolvedAttr | undefined) => a?.value.kind === 'text';

function fieldTerm(rule: ResolvedRule, field: Field, reverse: boolean): Term | undefined {
  const main = rule.attrs[field.attr];
  if (!main) return undefined;
  const secondName = field.second && rule.attrs[field.second] ? field.second : field.fallbackSecond;
  const second = secondName ? rule.attrs[secondName] : undefined;
  let expr = (reverse && field.reversed) || field.expr;
  let value: Value;
  if (field.kind === 'mac' || field.kind === 'ipv4' || field.kind === 'ipv6') {
    // most address matches are exact: their value is the address's own (bytes only for masks)
    if (!second) {
      const read = (field.raw ? RAW_READERS : EXACT_READERS)[field.kind];
      const term: Term = { expr, value: read(main), negated: main.negated, variable: isVar(main), settable: true };
      if (term.variable) term.source = { attr: main, read };
      return term;
    }
    const bytes = addressBytes(main, field.kind);
    let prefix: number;
    if (field.kind === 'mac') {
      const mask = addressBytes(second, 'mac');
      const length = prefixLength(mask);
      if (length === undefined) {
        expr = { kind: 'and', expr, mask: hexOrMac(mask, field.raw) };
        value = hexOrMac(
          bytes.map((b, i) => b & mask[i]!),
          field.raw,
        );
        return { expr, value, negated: main.negated, variable: isVar(main) || isVar(second), settable: false };
      }
      prefix = length;
    } else prefix = prefixOf(second, field.kind);
    if (field.raw) {
      const mask = maskOf(bytes.length, prefix);
      if (prefix < bytes.length * 8) expr = { kind: 'and', expr, mask: hexNumber(mask) };
      value = hexNumber(bytes.map((b, i) => b & mask[i]!));
    } else value = maskedAddress(bytes, field.kind, prefix);
  } else {
    const lo = numberOf(main, field.kind);
    value = range(lo, second ? numberOf(second, field.kind) : undefined, field.raw);
    if (field.kind === 'ethertype' && !second) value = num(lo, 4);
  }
  // A masked expression (`x & mask`) cannot be a set key; prefixes and ranges are elements.
  return { expr, value, negated: main.negated, variable: isVar(main) || isVar(second), settable: expr.kind !== 'and' };
}

/** The bytes of a mask of `prefix` leading one bits, `len` bytes long (a few distinct ones: kept). */
const masks = new Map<string, readonly number[]>();
function maskOf(len: number, prefix: number): readonly number[] {
  const k = `${len}/${prefix}`;
  let mask = masks.get(k);
  if (!mask) {
    mask = Array.from({ length: len }, (_, i) => (0xff << (8 - Math.max(0, Math.min(8, prefix - i * 8)))) & 0xff);
    masks.set(k, mask);
  }
  return mask;
}

const hexOrMac = (bytes: readonly number[], rawField: boolean | undefined) =>
  rawField ? hexNumber(bytes) : addressValue(bytes, 'mac');

/** ebtables has no REJECT; libvirt drops instead. */
function bridgeVerdict(rule: ResolvedRule): Verdict {
  return { kind: rule.action === 'reject' ? 'drop' : rule.action };
}

/** A rule of the bridge table; `reverse` swaps sources and destinations as libvirt does. */
export function bridgeParts(rule: ResolvedRule, reverse: boolean): RuleParts {
  const protocol = rule.protocol ?? 'none';
  if (protocol === 'stp' && reverse && rule.attrs['srcmacaddr']) {
    throw invalidInput('STP filtering in inout direction with source MAC address set is not supported');
  }
  const terms: Term[] = [];
  for (const step of BRIDGE_STEPS[protocol]!) {
    if (typeof step === 'function') terms.push(...step(rule));
    else if ('attr' in step) {
      const t = fieldTerm(rule, step, reverse);
      if (t) terms.push(t);
    } else terms.push(step);
  }
  return { terms, statements: [], verdict: bridgeVerdict(rule) };
}

// --- inet table (iptables semantics) -----------------------------------------------------------

const L4PROTO: Record<string, string> = {
  tcp: 'tcp',
  udp: 'udp',
  udplite: 'udplite',
  esp: 'esp',
  ah: 'ah',
  sctp: 'sctp',
  icmp: 'icmp',
  igmp: 'igmp',
  'tcp-ipv6': 'tcp',
  'udp-ipv6': 'udp',
  'udplite-ipv6': 'udplite',
  'esp-ipv6': 'esp',
  'ah-ipv6': 'ah',
  'sctp-ipv6': 'sctp',
  icmpv6: 'ipv6-icmp',
};
const PORTED = new Set(['tcp', 'udp', 'sctp', 'tcp-ipv6', 'udp-ipv6', 'sctp-ipv6']);

const isIpv6 = (protocol: string) => protocol.endsWith('-ipv6') || protocol === 'icmpv6';

function simple(rule: ResolvedRule, attr: string, expr: Expr, kind: ValueKind, second?: string): Term | undefined {
  return fieldTerm(rule, f(attr, expr, kind, { second }), false);
}

/**
 * A rule as libvirt places it in one iptables chain (`use`), or undefined where libvirt leaves
 * it out of that chain; for the inet table or, with bridge conntrack, the bridge table. A reject
 * drops where nft cannot reject: towards the guest (inet postrouting) and in the bridge family.
 */
export function inetParts(
  rule: ResolvedRule,
  use: ChainUse,
  family: 'inet' | 'bridge' = 'inet',
): RuleParts | undefined {
  const protocol = rule.protocol!;
  const a = rule.attrs;
  const fam = isIpv6(protocol) ? 'ip6' : 'ip';
  const addrKind = fam === 'ip' ? 'ipv4' : 'ipv6';
  const dirIn = use.directionIn;
  const terms: Term[] = [
    family === 'inet' ? fixed(meta('nfproto'), sym(fam === 'ip' ? 'ipv4' : 'ipv6')) : fixed(ether('type'), sym(fam)),
  ];
  if (L4PROTO[protocol]) terms.push(fixed(meta('l4proto'), sym(L4PROTO[protocol]!)));
  const base = terms.length;
  const push = (t: Term | undefined) => t && terms.push(t);

  const srcMacSkipped = !!a['srcmacaddr'] && dirIn;
  if (a['srcmacaddr'] && !dirIn) push(simple(rule, 'srcmacaddr', ether('saddr'), 'mac'));
  const [src, dst] = dirIn ? ['daddr', 'saddr'] : ['saddr', 'daddr'];
  for (const [side, dir] of [
    ['src', src],
    ['dst', dst],
  ] as const) {
    if (a[`${side}ipaddr`]) push(simple(rule, `${side}ipaddr`, payload(fam, dir), addrKind, `${side}ipmask`));
    else if (a[`${side}ipfrom`]) {
      const from = a[`${side}ipfrom`]!;
      const to = a[`${side}ipto`];
      const address = (x: ResolvedAttr) => addressValue(addressBytes(x, addrKind), addrKind);
      const value: Value = to ? { kind: 'range', from: address(from), to: address(to) } : address(from);
      terms.push({
        expr: payload(fam, dir),
        value,
        negated: from.negated,
        variable: isVar(from) || isVar(to),
        settable: true,
      });
    }
  }
  push(simple(rule, 'dscp', payload(fam, 'dscp'), 'number'));
  if (a['connlimit-above'] && dirIn) return undefined;
  let skipMatch = !!a['connlimit-above'];

  const flags = a['flags']?.value;
  if ((protocol === 'tcp' || protocol === 'tcp-ipv6') && flags?.kind === 'tcp-flags') {
    const expr: Expr = { kind: 'and', expr: payload('tcp', 'flags'), mask: num(flags.mask, 0) };
    terms.push({ expr, value: num(flags.set, 0), negated: a['flags']!.negated, variable: false, settable: false });
  }
  if (PORTED.has(protocol)) {
    const [sport, dport] = dirIn
      ? [payload('th', 'dport'), payload('th', 'sport')]
      : [payload('th', 'sport'), payload('th', 'dport')];
    push(simple(rule, 'srcportstart', sport, 'number', 'srcportend'));
    const d = simple(rule, 'dstportstart', dport, 'number', 'dstportend');
    // libvirt's fixup gives every port attribute the negation of srcportstart.
    if (d && a['srcportstart']) d.negated = a['srcportstart'].negated;
    push(d);
  }
  // iptables' --tcp-option N: the option kind is present (libvirt allows no negation here)
  const option = a['option'];
  if (option) {
    terms.push({
      expr: { kind: 'tcp option', option: numberOf(option, 'number') },
      value: { kind: 'boolean', value: true },
      negated: false,
      variable: isVar(option),
      settable: false,
    });
  }

  const icmp = protocol === 'icmp' ? 'icmp' : protocol === 'icmpv6' ? 'icmpv6' : undefined;
  const hasIcmpType = !!icmp && !!a['type'];
  if (hasIcmpType) {
    if (use.maySkipIcmp) return undefined;
    const type = numberOf(a['type']!, 'number');
    const code = a['code'] ? numberOf(a['code'], 'number') : undefined;
    terms.push({
      expr: code === undefined ? payload(icmp, 'type') : concat([payload(icmp, 'type'), payload(icmp, 'code')]),
      value: code === undefined ? num(type) : concatValue([num(type), num(code)]),
      negated: a['type']!.negated,
      variable: isVar(a['type']) || isVar(a['code']),
      settable: true,
    });
  }
  if (srcMacSkipped && terms.length === base) return undefined;

  let verdict: RuleParts['verdict'] = { kind: use.acceptTarget === 'RETURN' ? 'return' : 'accept' };
  if (rule.action !== 'accept') {
    verdict = { kind: rule.action === 'reject' && (use.toGuest || family === 'bridge') ? 'drop' : rule.action };
    skipMatch = use.defaultMatch;
  }
  const statements: Statement[] = [];
  if (use.match && !skipMatch) {
    statements.push(match(ct('state'), { kind: 'flags', names: use.match.toLowerCase().split(',') }));
    if (use.defaultMatch && !hasIcmpType && rule.direction !== 'inout')
      statements.push(match(ct('direction'), sym(dirIn ? 'reply' : 'original')));
  }
  if (a['ipset']) throw invalidInput('ipset matches are not supported by the nftables backend');
  const limit = a['connlimit-above'];
  return {
    terms,
    statements,
    connlimit: limit ? { family: fam, above: numberOf(limit, 'number'), negated: limit.negated } : undefined,
    verdict,
  };
}
