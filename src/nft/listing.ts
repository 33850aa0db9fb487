// Reading nft's JSON (`nft -j list table`) into the typed objects, field by
// field. Rule bodies stay the kernel's expression trees (counters zeroed: they are state, not
// rule); set elements become typed values (expr.ts), given the set's key and data types.
import { isDeepStrictEqual } from 'node:util';
import { num, str, sym, type Element, type Value } from './expr.js';
import {
  elementsOf,
  objectKey,
  type Family,
  type Hook,
  type Json,
  type KernelStatement,
  type NftChain,
  type NftRule,
  type RulesetSet,
} from './objects.js';

type JsonObject = { readonly [k: string]: Json };

const isObject = (v: Json | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const field = (o: Json | undefined, name: string): Json | undefined => (isObject(o) ? o[name] : undefined);

/** A rule's statements without their counters' values. */
export function ruleBody(expr: Json | undefined): KernelStatement[] {
  if (!Array.isArray(expr)) return [];
  return (expr as Json[]).filter(isObject).map((s) => ('counter' in s ? { counter: { packets: 0, bytes: 0 } } : s));
}

/** Whether two bodies are the same rule (statement by statement, field by field). */
export function sameBody(a: readonly KernelStatement[], b: readonly KernelStatement[]): boolean {
  return isDeepStrictEqual(a, b);
}

/** How listed numbers and strings of one type become values (nft's carry no type of their own). */
interface TypeReader {
  number: (n: number) => Value;
  string: (t: string) => Value;
}

/** Values by the type nft lists them with. */
const BY_TYPE: Record<string, TypeReader> = {
  ifname: { number: (n) => num(n), string: str },
  mark: { number: (n) => num(n, 8), string: sym },
  integer: { number: (n) => num(n, 0), string: sym },
  ether_addr: { number: (n) => num(n), string: (addr) => ({ kind: 'ether', addr }) },
  ipv4_addr: { number: (n) => num(n), string: (addr) => ({ kind: 'ip', addr }) },
  ipv6_addr: { number: (n) => num(n), string: (addr) => ({ kind: 'ip6', addr }) },
};
const OTHER_TYPE: TypeReader = { number: (n: number) => num(n), string: sym };
const readerOf = (type: string | undefined): TypeReader => BY_TYPE[type ?? ''] ?? OTHER_TYPE;

/** One listed value (an element's part or a map's data), read as its type. */
function value(v: Json | undefined, by: TypeReader): Value {
  if (typeof v === 'string') return by.string(v);
  if (typeof v === 'number') return by.number(v);
  const prefix = field(v, 'prefix');
  if (prefix !== undefined)
    return { kind: 'prefix', addr: value(field(prefix, 'addr'), by), len: Number(field(prefix, 'len')) };
  const range = field(v, 'range');
  if (Array.isArray(range)) return { kind: 'range', from: value(range[0], by), to: value(range[1], by) };
  for (const kind of ['jump', 'goto'] as const) {
    const target = field(field(v, kind), 'target');
    if (typeof target === 'string') return { kind: 'verdict', verdict: { kind, target } };
  }
  for (const kind of ['accept', 'drop', 'return', 'continue'] as const)
    if (isObject(v) && kind in v) return { kind: 'verdict', verdict: { kind } };
  const elem = field(v, 'elem');
  if (elem !== undefined) return value(field(elem, 'val'), by);
  throw new Error(`unexpected value in nft's listing: ${JSON.stringify(v)}`);
}

/**
 * Reads the elements of a set whose key has `types` (a map's data `mapType`): the readers are
 * looked up once per set, not per value (a 1000-port table lists some 20,000 values).
 */
function elementReader(types: readonly string[], mapType: string | undefined): (e: Json) => Element {
  const parts = types.map(readerOf);
  const data = readerOf(mapType);
  return (e) => {
    // a map's element is [key, data]
    const k = Array.isArray(e) ? (e as Json[])[0] : e;
    const d = Array.isArray(e) ? (e as Json[])[1] : undefined;
    const concat = field(k, 'concat');
    const key: Value = Array.isArray(concat)
      ? { kind: 'concat', parts: (concat as Json[]).map((x, i) => value(x, parts[i] ?? OTHER_TYPE)) }
      : value(k, parts[0]!);
    return d === undefined ? { key } : { key, value: value(d, data) };
  };
}

const HOOKS: readonly Hook['hook'][] = ['prerouting', 'input', 'forward', 'output', 'postrouting'];

function hookOf(c: JsonObject): Hook | undefined {
  const hook = HOOKS.find((h) => h === c['hook']);
  if (!hook) return undefined;
  return {
    type: c['type'] === 'nat' ? 'nat' : 'filter',
    hook,
    priority: Number(c['prio']),
    policy: c['policy'] === 'drop' ? 'drop' : 'accept',
  };
}

export interface ListedTable {
  chains: Map<string, NftChain & { rules: NftRule[] }>;
  sets: Map<string, RulesetSet>;
  /** `:N` for every object's handle N, and `CHAIN:N` for a rule's (what `delete ... handle N` names). */
  handles: Set<string>;
}

/** The objects of `nft -j list table FAMILY NAME` output, keyed by objectKey(). */
export function parseTableListing(text: string, family: Family): ListedTable {
  const items = field(JSON.parse(text) as Json, 'nftables');
  const out: ListedTable = { chains: new Map(), sets: new Map(), handles: new Set() };
  for (const item of Array.isArray(items) ? (items as Json[]) : []) {
    const object = isObject(item) ? Object.values(item)[0] : undefined;
    const handle = field(object, 'handle');
    if (typeof handle === 'number') {
      out.handles.add(`:${handle}`);
      const inChain = field(field(item, 'rule'), 'chain');
      if (typeof inChain === 'string') out.handles.add(`${inChain}:${handle}`);
    }
    const chain = field(item, 'chain');
    const rule = field(item, 'rule');
    const set = field(item, 'set') ?? field(item, 'map');
    if (isObject(chain)) {
      const name = String(chain['name']);
      out.chains.set(objectKey(family, name), { family, name, hook: hookOf(chain), rules: [] });
    } else if (isObject(rule)) {
      const comment = typeof rule['comment'] === 'string' ? rule['comment'] : '';
      const handle = typeof rule['handle'] === 'number' ? { handle: rule['handle'] } : {};
      out.chains
        .get(objectKey(family, String(rule['chain'])))
        ?.rules.push({ statements: [], comment, body: ruleBody(rule['expr']), ...handle });
    } else if (isObject(set)) {
      const name = String(set['name']);
      const type = set['type'];
      const types = Array.isArray(type) ? (type as Json[]).map(String) : [String(type)];
      const map = typeof set['map'] === 'string' ? set['map'] : undefined;
      const elem = set['elem'];
      const elements = elementsOf((Array.isArray(elem) ? (elem as Json[]) : []).map(elementReader(types, map)));
      const decl = { key: { type: types.join(' . ') }, ...(map ? { value: map } : {}) };
      out.sets.set(objectKey(family, name), { family, name, kind: field(item, 'map') ? 'map' : 'set', decl, elements });
    }
  }
  return out;
}

/**
 * The chains of table `table` in `nft -j list chains FAMILY` output (every table's chains, no
 * rules): each listed with no rules.
 */
export function parseChainsListing(text: string, family: Family, table: string): ListedTable {
  const items = field(JSON.parse(text) as Json, 'nftables');
  const out: ListedTable = { chains: new Map(), sets: new Map(), handles: new Set() };
  for (const item of Array.isArray(items) ? (items as Json[]) : []) {
    const chain = field(item, 'chain');
    if (!isObject(chain) || chain['table'] !== table) continue;
    const name = String(chain['name']);
    out.chains.set(objectKey(family, name), { family, name, hook: hookOf(chain), rules: [] });
    if (typeof chain['handle'] === 'number') out.handles.add(`:${chain['handle']}`);
  }
  return out;
}

/**
 * The handle of table `table` in `nft -j list tables FAMILY` output, undefined when it is not
 * listed. The kernel numbers tables per namespace and never reuses a number: a table deleted and
 * created again has another handle (and numbers its rules from 1 again).
 */
export function parseTableHandle(text: string, table: string): number | undefined {
  const items = field(JSON.parse(text) as Json, 'nftables');
  for (const item of Array.isArray(items) ? (items as Json[]) : []) {
    const t = field(item, 'table');
    if (isObject(t) && t['name'] === table && typeof t['handle'] === 'number') return t['handle'];
  }
  return undefined;
}
