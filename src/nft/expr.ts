// nft rules as typed values: expressions, values and statements after nft's JSON schema
// (libnftables-json(5)), and the two renderers every rule and set element goes through — nft's
// text (what `nft -f` reads, nft 1.0.6) and nft's JSON. Nothing else writes a rule: the compiler
// builds these trees, batch.ts renders them, and the listing reads the kernel's JSON back into them.
import type { Json } from './objects.js';

// --- expressions: what a rule matches on, a set is keyed by, a statement sets -------------------

export type Expr =
  /** A header field by name: `ether saddr`, `ip6 daddr`, `arp saddr ip`, `th dport`, `vlan id`. */
  | { kind: 'payload'; protocol: string; field: string }
  /** A raw header slice, offsets and lengths in bits: `@nh,112,32`. */
  | { kind: 'raw'; base: 'll' | 'nh' | 'th'; offset: number; len: number }
  /** Packet metadata: `iifname`, `meta mark`, `meta l4proto`. */
  | { kind: 'meta'; key: string }
  /** Connection tracking: `ct state`, `ct direction`. */
  | { kind: 'ct'; key: string; dir?: 'original' | 'reply' }
  /** Presence of a TCP option, by kind number (`tcp option 5`). */
  | { kind: 'tcp option'; option: number }
  /** Several expressions as one key: `iifname . ip saddr`. */
  | { kind: 'concat'; parts: readonly Expr[] }
  /** A masked expression: `tcp flags & 0x12`. */
  | { kind: 'and'; expr: Expr; mask: Value };

// --- values: right-hand sides, set elements, map data ------------------------------------------

export type Verdict = { kind: 'accept' | 'drop' | 'return' | 'continue' } | { kind: 'jump' | 'goto'; target: string };

export type Value =
  /** A quoted string: interface names. */
  | { kind: 'string'; text: string }
  /** A constant nft knows by name: `ip`, `arp`, `ipv4`, `original`. */
  | { kind: 'symbol'; name: string }
  /** An integer; `hex`: written in hex, padded to that many digits (0: not padded). */
  | { kind: 'number'; value: number | bigint; hex?: number }
  | { kind: 'ether'; addr: string }
  | { kind: 'ip'; addr: string }
  | { kind: 'ip6'; addr: string }
  | { kind: 'prefix'; addr: Value; len: number }
  | { kind: 'range'; from: Value; to: Value }
  | { kind: 'concat'; parts: readonly Value[] }
  /** Bits of a flag type, any of which matches: `new,established`. */
  | { kind: 'flags'; names: readonly string[] }
  /** An anonymous set: `{ 1 . 2, 3 . 4 }`. */
  | { kind: 'set'; items: readonly Value[] }
  /** A named set or map of the table: `@name`. */
  | { kind: 'setref'; name: string }
  /** Map data of a verdict map: `jump CHAIN`. */
  | { kind: 'verdict'; verdict: Verdict }
  /** `exists` / `missing` (TCP options). */
  | { kind: 'boolean'; value: boolean }
  /** A map lookup's result: `iifname map @port_mark_from`. */
  | { kind: 'lookup'; key: Expr; map: string };

// --- statements ---------------------------------------------------------------------------------

export type Statement =
  /** `left right` (an implicit `==`: equality, or any bit for flags) or `left != right`. */
  | { kind: 'match'; op: '==' | '!='; left: Expr; right: Value }
  | { kind: 'counter' }
  | Verdict
  /** `KEY set VALUE`: `meta mark set 0`. */
  | { kind: 'mangle'; key: Expr; value: Value }
  /** `KEY vmap @MAP`. */
  | { kind: 'vmap'; key: Expr; map: string }
  /** `add @SET { ELEM STATEMENTS }` (a dynamic set, e.g. with `ct count`). */
  | { kind: 'set add'; set: string; elem: Expr; stmts: readonly Statement[] }
  /** `ct count [over] N`: more (with over: at most N) connections than N match. */
  | { kind: 'ct count'; count: number; over: boolean }
  | {
      kind: 'log';
      prefix?: string;
      level?: 'emerg' | 'alert' | 'crit' | 'err' | 'warn' | 'notice' | 'info' | 'debug';
      group?: number;
    }
  | { kind: 'limit'; rate: number; per: 'second' | 'minute' | 'hour' | 'day'; burst?: number; over?: boolean }
  /** Default: ICMP port unreachable (the host's family) or TCP reset, as nft chooses. */
  | { kind: 'reject'; with?: { type: 'icmp' | 'icmpv6' | 'icmpx'; code: string } | { type: 'tcp reset' } }
  /** Source NAT to the outgoing interface's address, optionally to a port range. */
  | { kind: 'masquerade'; ports?: readonly [number, number] }
  /** Source NAT to an address (or range), optionally a port range; `family` in inet tables. */
  | { kind: 'snat'; family?: 'ip' | 'ip6'; addr: Value; ports?: readonly [number, number] }
  | { kind: 'notrack' };

/** A set element: a key, and for a map its data. */
export interface Element {
  key: Value;
  value?: Value;
}

/** Whether two values are equal (what their texts would say, without rendering them). */
export function sameValue(a: Value, b: Value): boolean {
  if (a === b) return true;
  switch (a.kind) {
    case 'string':
      return b.kind === 'string' && a.text === b.text;
    case 'ether':
    case 'ip':
    case 'ip6':
      return b.kind === a.kind && a.addr === b.addr;
    case 'number':
      return b.kind === 'number' && a.value === b.value && a.hex === b.hex;
    case 'concat':
      return (
        b.kind === 'concat' && a.parts.length === b.parts.length && a.parts.every((p, i) => sameValue(p, b.parts[i]!))
      );
    case 'prefix':
      return b.kind === 'prefix' && a.len === b.len && sameValue(a.addr, b.addr);
    case 'range':
      return b.kind === 'range' && sameValue(a.from, b.from) && sameValue(a.to, b.to);
    default:
      return valueText(a) === valueText(b);
  }
}

/** Whether two lists of elements are the same, in the same order. */
export const sameElements = (a: readonly Element[], b: readonly Element[]): boolean =>
  a.length === b.length &&
  a.every((e, i) => {
    const f = b[i]!;
    return (
      sameValue(e.key, f.key) &&
      (e.value === undefined ? f.value === undefined : f.value !== undefined && sameValue(e.value, f.value))
    );
  });

// --- constructors (what the compiler writes) ----------------------------------------------------

export const payload = (protocol: string, field: string): Expr => ({ kind: 'payload', protocol, field });
export const raw = (base: 'll' | 'nh' | 'th', offset: number, len: number): Expr => ({
  kind: 'raw',
  base,
  offset,
  len,
});
export const meta = (key: string): Expr => ({ kind: 'meta', key });
export const ct = (key: string): Expr => ({ kind: 'ct', key });
/** Expressions as one key; a concatenation inside is spliced in (nft has no nested ones). */
export function concat(parts: readonly Expr[]): Expr {
  const flat = parts.flatMap((p) => (p.kind === 'concat' ? p.parts : [p]));
  return flat.length === 1 ? flat[0]! : { kind: 'concat', parts: flat };
}

export const str = (text: string): Value => ({ kind: 'string', text });
export const sym = (name: string): Value => ({ kind: 'symbol', name });
export const num = (value: number | bigint, hex?: number): Value =>
  hex === undefined ? { kind: 'number', value } : { kind: 'number', value, hex };
export const setref = (name: string): Value => ({ kind: 'setref', name });
export function concatValue(parts: readonly Value[]): Value {
  // most parts are not concatenations themselves: copy them without a list per part
  const flat = parts.some((p) => p.kind === 'concat')
    ? parts.flatMap((p) => (p.kind === 'concat' ? p.parts : [p]))
    : [...parts];
  return flat.length === 1 ? flat[0]! : { kind: 'concat', parts: flat };
}

export const match = (left: Expr, right: Value, negated = false): Statement => ({
  kind: 'match',
  op: negated ? '!=' : '==',
  left,
  right,
});
export const counter: Statement = { kind: 'counter' };
export const verdict = (kind: 'accept' | 'drop' | 'return' | 'continue'): Verdict => ({ kind });
export const jump = (target: string): Verdict => ({ kind: 'jump', target });

/** Statements with the names of the sets, maps and chains they refer to passed through `rename`. */
export function renameRefs(statements: readonly Statement[], rename: (name: string) => string): Statement[] {
  const value = (v: Value): Value =>
    v.kind === 'setref' ? setref(rename(v.name)) : v.kind === 'lookup' ? { ...v, map: rename(v.map) } : v;
  return statements.map((s): Statement => {
    switch (s.kind) {
      case 'match':
        return { ...s, right: value(s.right) };
      case 'mangle':
        return { ...s, value: value(s.value) };
      case 'vmap':
        return { ...s, map: rename(s.map) };
      case 'set add':
        return { ...s, set: rename(s.set), stmts: renameRefs(s.stmts, rename) };
      case 'jump':
      case 'goto':
        return { ...s, target: rename(s.target) };
      default:
        return s;
    }
  });
}

// --- nft text -----------------------------------------------------------------------------------

/** Meta keys nft writes without `meta` (and reads either way). */
const BARE_META = new Set(['iif', 'oif', 'iifname', 'oifname', 'iiftype', 'oiftype']);

/** A string nft can read between double quotes: no quote, backslash or control character. */
function quoted(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: nft's quoted strings cannot hold control characters; this finds them to refuse them
  if (/["\\\x00-\x1f\x7f]/.test(text)) throw new Error(`nft cannot quote ${JSON.stringify(text)}`);
  return `"${text}"`;
}

export function exprText(e: Expr): string {
  switch (e.kind) {
    case 'payload':
      return `${e.protocol} ${e.field}`;
    case 'raw':
      return `@${e.base},${e.offset},${e.len}`;
    case 'meta':
      return BARE_META.has(e.key) ? e.key : `meta ${e.key}`;
    case 'ct':
      return e.dir ? `ct ${e.dir} ${e.key}` : `ct ${e.key}`;
    case 'tcp option':
      return `tcp option ${e.option}`;
    case 'concat':
      return e.parts.map(exprText).join(' . ');
    case 'and':
      return `${exprText(e.expr)} & ${valueText(e.mask)}`;
  }
}

const verdictText = (v: Verdict) => ('target' in v ? `${v.kind} ${v.target}` : v.kind);

export function valueText(v: Value): string {
  switch (v.kind) {
    case 'string':
      return quoted(v.text);
    case 'symbol':
      return v.name;
    case 'number':
      return v.hex === undefined ? v.value.toString() : `0x${v.value.toString(16).padStart(v.hex, '0')}`;
    case 'ether':
    case 'ip':
    case 'ip6':
      return v.addr;
    case 'prefix':
      return `${valueText(v.addr)}/${v.len}`;
    case 'range':
      return `${valueText(v.from)}-${valueText(v.to)}`;
    case 'concat':
      return v.parts.map(valueText).join(' . ');
    case 'flags':
      return v.names.join(',');
    case 'set':
      return `{ ${v.items.map(valueText).join(', ')} }`;
    case 'setref':
      return `@${v.name}`;
    case 'verdict':
      return verdictText(v.verdict);
    case 'boolean':
      return v.value ? 'exists' : 'missing';
    case 'lookup':
      return `${exprText(v.key)} map @${v.map}`;
  }
}

const portsText = (p: readonly [number, number] | undefined) => (p ? `:${p[0]}-${p[1]}` : '');

export function statementText(s: Statement): string {
  switch (s.kind) {
    case 'match':
      return `${exprText(s.left)} ${s.op === '!=' ? '!= ' : ''}${valueText(s.right)}`;
    case 'counter':
      return 'counter';
    case 'accept':
    case 'drop':
    case 'return':
    case 'continue':
    case 'jump':
    case 'goto':
      return verdictText(s);
    case 'mangle':
      return `${exprText(s.key)} set ${valueText(s.value)}`;
    case 'vmap':
      return `${exprText(s.key)} vmap @${s.map}`;
    case 'set add':
      return `add @${s.set} { ${[exprText(s.elem), ...s.stmts.map(statementText)].join(' ')} }`;
    case 'ct count':
      return `ct count ${s.over ? 'over ' : ''}${s.count}`;
    case 'log':
      return [
        'log',
        ...(s.prefix !== undefined ? [`prefix ${quoted(s.prefix)}`] : []),
        ...(s.level ? [`level ${s.level}`] : []),
        ...(s.group !== undefined ? [`group ${s.group}`] : []),
      ].join(' ');
    case 'limit':
      return `limit rate ${s.over ? 'over ' : ''}${s.rate}/${s.per}${s.burst !== undefined ? ` burst ${s.burst} packets` : ''}`;
    case 'reject':
      return !s.with
        ? 'reject'
        : s.with.type === 'tcp reset'
          ? 'reject with tcp reset'
          : `reject with ${s.with.type} ${s.with.code}`;
    case 'masquerade':
      return s.ports ? `masquerade to ${portsText(s.ports)}` : 'masquerade';
    case 'snat':
      return `snat ${s.family ? `${s.family} ` : ''}to ${valueText(s.addr)}${portsText(s.ports)}`;
    case 'notrack':
      return 'notrack';
  }
}

/** A rule's text as `add rule ... CHAIN` continues: its statements, then its comment if any. */
export function ruleText(statements: readonly Statement[], comment: string): string {
  return [...statements.map(statementText), ...(comment ? [`comment ${quoted(comment)}`] : [])].join(' ');
}

/** Elements are values nothing changes, and one is rendered several times (ledger, batch, model): each once. */
const elementTexts = new WeakMap<Element, string>();

export function elementText(e: Element): string {
  let text = elementTexts.get(e);
  if (text === undefined) {
    text = e.value ? `${valueText(e.key)} : ${valueText(e.value)}` : valueText(e.key);
    elementTexts.set(e, text);
  }
  return text;
}

// --- type names (what nft lists a `typeof` set's key as) -----------------------------------------

const META_TYPES: Record<string, string> = {
  iifname: 'ifname',
  oifname: 'ifname',
  iif: 'iface_index',
  oif: 'iface_index',
  mark: 'mark',
  l4proto: 'inet_proto',
  nfproto: 'nf_proto',
};
const PAYLOAD_TYPES: Record<string, Record<string, string>> = {
  ether: { saddr: 'ether_addr', daddr: 'ether_addr', type: 'ether_type' },
  ip: { saddr: 'ipv4_addr', daddr: 'ipv4_addr', protocol: 'inet_proto', dscp: 'dscp' },
  ip6: { saddr: 'ipv6_addr', daddr: 'ipv6_addr', nexthdr: 'inet_proto', dscp: 'dscp' },
  arp: { 'saddr ip': 'ipv4_addr', 'daddr ip': 'ipv4_addr', 'saddr ether': 'ether_addr', 'daddr ether': 'ether_addr' },
  th: { sport: 'inet_service', dport: 'inet_service' },
  tcp: { sport: 'inet_service', dport: 'inet_service' },
  udp: { sport: 'inet_service', dport: 'inet_service' },
  icmp: { type: 'icmp_type', code: 'icmp_code' },
  icmpv6: { type: 'icmpv6_type', code: 'icmpv6_code' },
};

/** The type names of a key expression, one per concatenated part. */
export function typeNames(e: Expr): string[] {
  if (e.kind === 'concat') return e.parts.flatMap(typeNames);
  const name =
    e.kind === 'meta'
      ? META_TYPES[e.key]
      : e.kind === 'payload'
        ? PAYLOAD_TYPES[e.protocol]?.[e.field]
        : e.kind === 'raw'
          ? 'integer'
          : undefined;
  if (!name) throw new Error(`no nft type name known for ${exprText(e)}`);
  return [name];
}

// --- nft JSON -----------------------------------------------------------------------------------

/** TCP option kinds nft's JSON names (it has no numeric form). */
const TCP_OPTION_NAMES: Record<number, string> = {
  0: 'eol',
  1: 'nop',
  2: 'maxseg',
  3: 'window',
  4: 'sack-perm',
  5: 'sack',
  8: 'timestamp',
};

export function exprJson(e: Expr): Json {
  switch (e.kind) {
    case 'payload':
      return { payload: { protocol: e.protocol, field: e.field } };
    case 'raw':
      return { payload: { base: e.base, offset: e.offset, len: e.len } };
    case 'meta':
      return { meta: { key: e.key } };
    case 'ct':
      return { ct: e.dir ? { key: e.key, dir: e.dir } : { key: e.key } };
    case 'tcp option': {
      const name = TCP_OPTION_NAMES[e.option];
      if (!name) throw new Error(`nft's JSON has no name for TCP option ${e.option}`);
      return { 'tcp option': { name } };
    }
    case 'concat':
      return { concat: e.parts.map(exprJson) };
    case 'and':
      return { '&': [exprJson(e.expr), valueJson(e.mask)] };
  }
}

const verdictJson = (v: Verdict): Json => ({ [v.kind]: 'target' in v ? { target: v.target } : null });

export function valueJson(v: Value): Json {
  switch (v.kind) {
    case 'string':
      return v.text;
    case 'symbol':
      return v.name;
    case 'number':
      return Number.isSafeInteger(Number(v.value)) ? Number(v.value) : `0x${v.value.toString(16)}`;
    case 'ether':
    case 'ip':
    case 'ip6':
      return v.addr;
    case 'prefix':
      return { prefix: { addr: valueJson(v.addr), len: v.len } };
    case 'range':
      return { range: [valueJson(v.from), valueJson(v.to)] };
    case 'concat':
      return { concat: v.parts.map(valueJson) };
    case 'flags':
      return [...v.names];
    case 'set':
      return { set: v.items.map(valueJson) };
    case 'setref':
      return `@${v.name}`;
    case 'verdict':
      return verdictJson(v.verdict);
    case 'boolean':
      return v.value;
    case 'lookup':
      return { map: { key: exprJson(v.key), data: `@${v.map}` } };
  }
}

const portsJson = (p: readonly [number, number] | undefined): Record<string, Json> =>
  p ? { port: { range: [p[0], p[1]] } } : {};

export function statementJson(s: Statement): Json {
  switch (s.kind) {
    // nft reads an implicit match on flags as "in" (any of the bits), as it lists it
    case 'match':
      return {
        match: {
          op: s.right.kind === 'flags' && s.op === '==' ? 'in' : s.op,
          left: exprJson(s.left),
          right: valueJson(s.right),
        },
      };
    case 'counter':
      return { counter: { packets: 0, bytes: 0 } };
    case 'accept':
    case 'drop':
    case 'return':
    case 'continue':
    case 'jump':
    case 'goto':
      return verdictJson(s);
    case 'mangle':
      return { mangle: { key: exprJson(s.key), value: valueJson(s.value) } };
    case 'vmap':
      return { vmap: { key: exprJson(s.key), data: `@${s.map}` } };
    case 'set add':
      return { set: { op: 'add', elem: exprJson(s.elem), set: `@${s.set}`, stmt: s.stmts.map(statementJson) } };
    case 'ct count':
      return { 'ct count': { val: s.count, ...(s.over ? { inv: true } : {}) } };
    case 'log':
      return {
        log: {
          ...(s.prefix !== undefined ? { prefix: s.prefix } : {}),
          ...(s.level ? { level: s.level } : {}),
          ...(s.group !== undefined ? { group: s.group } : {}),
        },
      };
    case 'limit':
      return {
        limit: {
          rate: s.rate,
          per: s.per,
          ...(s.burst !== undefined ? { burst: s.burst } : {}),
          ...(s.over ? { inv: true } : {}),
        },
      };
    case 'reject':
      return {
        reject: !s.with
          ? null
          : s.with.type === 'tcp reset'
            ? { type: 'tcp reset' }
            : { type: s.with.type, expr: s.with.code },
      };
    case 'masquerade':
      return { masquerade: s.ports ? portsJson(s.ports) : null };
    case 'snat':
      return { snat: { addr: valueJson(s.addr), ...(s.family ? { family: s.family } : {}), ...portsJson(s.ports) } };
    case 'notrack':
      return { notrack: null };
  }
}

/** A set element as nft's JSON lists it: the key, or `[key, data]` for a map. */
export const elementJson = (e: Element): Json => (e.value ? [valueJson(e.key), valueJson(e.value)] : valueJson(e.key));
