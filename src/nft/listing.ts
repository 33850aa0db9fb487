// Reading nft's JSON (`nft -j list table`) into the typed objects, field by
// field. Rule bodies stay the kernel's expression trees (counters zeroed: they are state, not
// rule); set elements are written in the syntax the compiler uses for them, given the set's type.
import { key, type Family, type Hook, type Json, type NftChain, type NftRule, type RulesetSet, type Statement } from './objects.js';

type JsonObject = { readonly [k: string]: Json };

const isObject = (v: Json | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const field = (o: Json | undefined, name: string): Json | undefined => (isObject(o) ? o[name] : undefined);

/** A rule's statements without their counters' values. */
export function ruleBody(expr: Json | undefined): Statement[] {
  if (!Array.isArray(expr)) return [];
  return (expr as Json[]).filter(isObject).map((s) => ('counter' in s ? { counter: { packets: 0, bytes: 0 } } : s));
}

/** Whether two bodies are the same rule (statement by statement, field by field). */
export function sameBody(a: readonly Statement[], b: readonly Statement[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

const hex8 = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

/** One element part as compile.ts writes it, given the set's key type there. */
function part(v: Json | undefined, type: string | undefined): string {
  if (typeof v === 'number') return type === 'mark' ? hex8(v) : type === 'integer' ? `0x${v.toString(16)}` : String(v);
  if (typeof v === 'string') return type === 'ifname' ? `"${v}"` : v;
  const prefix = field(v, 'prefix');
  if (prefix !== undefined) return `${String(field(prefix, 'addr'))}/${String(field(prefix, 'len'))}`;
  const range = field(v, 'range');
  if (Array.isArray(range)) return (range as Json[]).map((x) => part(x, type)).join('-');
  const jump = field(v, 'jump');
  if (jump !== undefined) return `jump ${String(field(jump, 'target'))}`;
  const elem = field(v, 'elem');
  if (elem !== undefined) return part(field(elem, 'val'), type);
  return JSON.stringify(v);
}

function element(e: Json, types: readonly string[], mapType: string | undefined): string {
  const [k, value] = Array.isArray(e) ? (e as Json[]) : [e, undefined];
  const concat = field(k, 'concat');
  const keyText = Array.isArray(concat) ? (concat as Json[]).map((x, i) => part(x, types[i])).join(' . ') : part(k, types[0]);
  return value === undefined ? keyText : `${keyText} : ${part(value, mapType)}`;
}

const HOOKS: readonly Hook['hook'][] = ['prerouting', 'input', 'forward', 'output', 'postrouting'];

function hookOf(c: JsonObject): Hook | undefined {
  const hook = HOOKS.find((h) => h === c['hook']);
  if (!hook) return undefined;
  return { type: c['type'] === 'nat' ? 'nat' : 'filter', hook, priority: Number(c['prio']), policy: c['policy'] === 'drop' ? 'drop' : 'accept' };
}

export interface ListedTable {
  chains: Map<string, NftChain & { rules: NftRule[] }>;
  sets: Map<string, RulesetSet>;
  /** `:N` for every object's handle N, and `CHAIN:N` for a rule's (what `delete ... handle N` names). */
  handles: Set<string>;
}

/** The objects of `nft -j list table FAMILY NAME` output, keyed by key(). */
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
      out.chains.set(key(family, name), { family, name, hook: hookOf(chain), rules: [] });
    } else if (isObject(rule)) {
      const comment = typeof rule['comment'] === 'string' ? rule['comment'] : '';
      const handle = typeof rule['handle'] === 'number' ? { handle: rule['handle'] } : {};
      out.chains.get(key(family, String(rule['chain'])))?.rules.push({ text: '', comment, body: ruleBody(rule['expr']), ...handle });
    } else if (isObject(set)) {
      const name = String(set['name']);
      const type = set['type'];
      const types = Array.isArray(type) ? (type as Json[]).map(String) : [String(type)];
      const map = typeof set['map'] === 'string' ? set['map'] : undefined;
      const elem = set['elem'];
      const elements = new Set((Array.isArray(elem) ? (elem as Json[]) : []).map((e) => element(e, types, map)));
      const decl = { key: { type: types.join(' . ') }, ...(map ? { value: map } : {}) };
      out.sets.set(key(family, name), { family, name, kind: field(item, 'map') ? 'map' : 'set', decl, elements });
    }
  }
  return out;
}

