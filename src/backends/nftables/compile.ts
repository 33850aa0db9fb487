// Filtered ports -> the nftables model. Each port's filter tree is compiled into chains with its
// per-port values abstracted: a value that came from a variable becomes an element of a set
// keyed by the port (`iifname . ether saddr`, `meta mark . ip saddr`), so ports whose trees have
// the same shape share the same chains (named by a hash of their content) and binding another
// such port only adds set and map elements. Dispatch to a port's chains is one verdict-map lookup
// per hook.
//
// Ports are identified by name in the bridge table. In the inet table a bridged packet's
// interface is the bridge, so the bridge table marks packets with the port's id (a mark for the
// port they came from, set at prerouting; one for the port they go to, set at postrouting) and
// the inet table dispatches on the mark. Hence libvirt's to-guest iptables rules run in inet
// postrouting, where nft cannot reject: a to-guest reject drops there.
import { createHash } from 'node:crypto';
import type { PortFilter } from '../../nwfilter/backend.js';
import type { ResolvedAttr, RuleInstance, VarText } from '../../nwfilter/instantiate.js';
import type { RuleDef } from '../../conf/nwfilter/types.js';
import { orderRules, type OrderedRule } from '../../nwfilter/order.js';
import { protocolSpec } from '../../conf/nwfilter/protocols.js';
import { chainUses, type ChainUse } from '../../nwfilter/chain-uses.js';
import { nftRuleText, setDeclText } from '../../nft/batch.js';
import {
  concat,
  concatValue,
  counter,
  jump,
  match,
  meta,
  num,
  payload,
  renameRefs,
  setref,
  str,
  sym,
  verdict,
  type Element,
  type Expr,
  type Statement,
  type Value,
  type Verdict,
} from '../../nft/expr.js';
import {
  elementsOf,
  objectKey,
  type Family,
  type Hook,
  type NftChain,
  type NftRule,
  type NftSet,
  type SetDecl,
  type SetMeta,
} from '../../nft/objects.js';
import { bridgeParts, inetParts, type RuleParts, type Term, type ValueSource } from './terms.js';
import { ruleComment } from './trace.js';

/** Marks carry a port id in the low 16 bits; the tag says which side of the bridge it is. */
export const MARK_FROM_PORT = 0x76760000;
export const MARK_TO_PORT = 0x76770000;
const MARK_TAG_MASK = 0xfffe0000;

/** A mark as nft writes it (eight hex digits). */
const mark = (n: number) => num(n, 8);

/** One chain a port's filter needs, before it is named. */
interface Context {
  family: 'bridge' | 'inet';
  /** Chain name suffix, e.g. `from`, `from_arp_ip`, `fwd_to`. */
  suffix: string;
  /** How a rule in this chain names the port. */
  portExpr: Expr;
}

const BRIDGE_FROM = { family: 'bridge', portExpr: meta('iifname') } as const;
const BRIDGE_TO = { family: 'bridge', portExpr: meta('oifname') } as const;

/**
 * Where libvirt's iptables rules run: in the inet table behind br_netfilter, dispatched on port
 * marks (kernels without bridge conntrack), or in the bridge table itself, where the ports are
 * known by name, when the kernel has bridge-family conntrack.
 */
export type StatefulPath = 'br_netfilter' | 'bridge-conntrack';

/** The three iptables chains of a port (libvirt's FI/FO/HI), keyed like its chain prefixes. */
function ipContext(use: ChainUse, path: StatefulPath): Context {
  const suffix = use.prefix === 'H' ? 'host' : use.toGuest ? 'fwd_to' : 'fwd_from';
  if (path === 'bridge-conntrack')
    return { family: 'bridge', suffix, portExpr: meta(use.toGuest ? 'oifname' : 'iifname') };
  return { family: 'inet', suffix, portExpr: meta('mark') };
}

interface PortValues {
  portdev: string;
  id: number;
  /** Its keys made so far, by kind (one value shared by the port's elements). */
  keys: Map<string, Value>;
}

function portKey(ctx: Context, port: PortValues): Value {
  const kind = ctx.family === 'bridge' ? 'name' : ctx.suffix === 'fwd_to' ? 'to' : 'from';
  let key = port.keys.get(kind);
  if (!key) {
    key = kind === 'name' ? str(port.portdev) : mark((kind === 'to' ? MARK_TO_PORT : MARK_FROM_PORT) | port.id);
    port.keys.set(kind, key);
  }
  return key;
}

/** A rule template with `$S` standing for the shape name, and the elements it needs. */
interface Draft {
  rules: NftRule[];
  sets: { name: string; decl: SetDecl; elements: Element[] }[];
  /** A port's own draft of a rule in sets: per set and element, the terms whose values follow the port's key. */
  elementTerms?: (readonly Term[])[][];
  /** Its rules hold values from variables (combinations written out as rules). */
  valued?: boolean;
}

/** The shape name's placeholder in the names of a port's chains and sets, before it is known. */
const SHAPE = '$S';

function statementsOf(parts: RuleParts, lookups: Statement[], dynamicSet?: string, portExpr?: Expr): Statement[] {
  const literal = parts.terms.filter((t) => !lookups.length || !t.variable || !t.settable).map(literalTerm);
  const limit: Statement[] =
    parts.connlimit && dynamicSet && portExpr
      ? [
          {
            kind: 'set add',
            set: dynamicSet,
            elem: concat([portExpr, payload(parts.connlimit.family, 'saddr')]),
            stmts: [{ kind: 'ct count', count: parts.connlimit.above, over: !parts.connlimit.negated }],
          },
        ]
      : [];
  return [...literal, ...lookups, ...parts.statements, ...limit, counter, parts.verdict];
}

/** A concatenated expression is matched against a set of one concatenated value. */
const literalTerm = (t: Term): Statement =>
  match(t.expr, t.expr.kind === 'concat' ? { kind: 'set', items: [t.value] } : t.value, t.negated);

/** Whether a value needs an interval set (a prefix or range, also as part of a concatenation). */
const isInterval = (v: Value): boolean =>
  v.kind === 'prefix' || v.kind === 'range' || (v.kind === 'concat' && v.parts.some(isInterval));

/**
 * A per-port set's declaration. Prefixes and ranges (`/`, `-`) need an interval set, which for
 * concatenated keys the kernel looks up in a structure whose cost grows with its elements;
 * exact values go to a hash. The declaration is part of the shape, so ports whose values are all
 * exact share chains with each other, not with ports holding ranges.
 */
const setDecl = (exprs: Expr, interval: boolean): SetDecl => ({
  key: { typeof: exprs },
  ...(interval ? { flags: ['interval'] } : {}),
});

const signature = (p: RuleParts) =>
  JSON.stringify(p.terms.map((t) => [t.expr, t.negated, t.variable, t.variable ? '' : t.value]));

/** Equal typed values (expressions, values, statements: plain data), mostly the same object. */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b))
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  const [x, y] = [a as Record<string, unknown>, b as Record<string, unknown>];
  const keys = Object.keys(x);
  return keys.length === Object.keys(y).length && keys.every((k) => Object.hasOwn(y, k) && same(x[k], y[k]));
}

/** A rule in sets as drafted for ports with the same rule structure at one place (see Place). */
interface Template {
  /** The rule it was drafted from: its terms without the variables' values are the structure. */
  first: RuleParts;
  posInterval: boolean;
  negInterval: readonly boolean[];
  draft: Draft;
}

/** Whether a rule drafted from `first` would be `t`'s: the same rule without the variables' values, the same declarations. */
function sameStructure(t: Template, first: RuleParts, posInterval: boolean, negInterval: readonly boolean[]): boolean {
  const [a, b] = [t.first, first];
  return (
    t.posInterval === posInterval &&
    t.negInterval.length === negInterval.length &&
    t.negInterval.every((x, i) => x === negInterval[i]) &&
    a.terms.length === b.terms.length &&
    a.terms.every((x, i) => {
      const y = b.terms[i]!;
      return (
        x.negated === y.negated &&
        x.variable === y.variable &&
        same(x.expr, y.expr) &&
        (x.variable || same(x.value, y.value))
      );
    }) &&
    same(a.statements, b.statements) &&
    same(a.connlimit, b.connlimit) &&
    same(a.verdict, b.verdict)
  );
}

/**
 * A rule's own text, for the names of the sets its values go to: what it reads from which
 * variables (not where it was written: a redefinition that moves it keeps its sets).
 */
const ruleDefTexts = new WeakMap<RuleDef, string>();
function ruleDefText(rule: RuleDef): string {
  let text = ruleDefTexts.get(rule);
  if (text === undefined) {
    const { action, direction, priority, stateMatch, protocol, attrs } = rule;
    text = JSON.stringify([action, direction, priority, stateMatch, protocol, attrs]);
    ruleDefTexts.set(rule, text);
  }
  return text;
}

/** A set's name in a rule template, until it has its own (`$V` and its role: p, n<i>, c). */
const SET = '$V';

/**
 * The names of a template's sets. A name is a hash of all a port's elements in it depend on
 * besides the port's values: the chain, the rule definition (which variables feed which term),
 * its place in the filter tree (the comment; `occurrence`: the how-manieth time the port reaches
 * the rule by that path) and the template's text and declarations; not the shape. Shapes that
 * hold the same rule share its sets, so a port moving between them (a redefinition of its
 * filter) keeps its elements where they are and only its dispatch moves.
 */
function nameSets(
  ctx: Context,
  rule: RuleDef,
  comment: string,
  occurrence: number,
  rules: readonly NftRule[],
  sets: Draft['sets'],
): Draft {
  const again = occurrence > 0 ? [`#${occurrence}`] : [];
  const text = [ctx.family, ctx.suffix, ruleDefText(rule), comment, ...again, ...rules.map(nftRuleText)].join('\n');
  const names = new Map(
    sets.map((s) => {
      const hash = createHash('sha256')
        .update(`${text}\n${s.name} ${setDeclText(s.decl)}`)
        .digest('hex');
      return [s.name, `${ctx.suffix}_v${hash.slice(0, 10)}${s.name.slice(SET.length)}`];
    }),
  );
  const rename = (n: string) => names.get(n) ?? n;
  return {
    rules: rules.map((r) => ({ statements: renameRefs(r.statements, rename), comment: r.comment })),
    sets: sets.map((s) => ({ ...s, name: rename(s.name) })),
  };
}

/**
 * One rule instance in one chain of one port. Values from variables go to sets keyed by port
 * when that keeps libvirt's meaning: libvirt runs one rule per combination of values, so the
 * rule matches when ANY combination matches, which a set lookup expresses exactly for positive
 * matches, and for negated ones when there is a single combination. Otherwise (or for untyped
 * raw fields) the combinations are written out as literal rules, and only ports with the same
 * values share them.
 *
 * A rule in sets is the same for every port with the same rule structure at the same place
 * (`templates`: the templates drafted there before): its rule and set declarations come from a
 * template, and only the port's elements are made for it.
 */
function draftRule(
  ctx: Context,
  port: PortValues,
  instance: RuleInstance,
  comment: string,
  parts: readonly RuleParts[],
  templates?: Template[],
  occurrence = 0,
): Draft {
  const first = parts[0]!;
  const varTerms = first.terms.filter((t) => t.variable);
  const firstSignature = parts.length > 1 ? signature(first) : '';
  const uniform = parts.every((p) => p === first || signature(p) === firstSignature);
  const setMode =
    varTerms.length > 0 &&
    uniform &&
    varTerms.every((t) => t.settable) &&
    (parts.length === 1 || varTerms.every((t) => !t.negated));
  const dynamic = first.connlimit ? `${SET}c` : undefined;
  if (!setMode) {
    const rules = parts.map((p): NftRule => ({ statements: statementsOf(p, [], dynamic, ctx.portExpr), comment }));
    const named = nameSets(
      ctx,
      instance.rule,
      comment,
      occurrence,
      [...new Map(rules.map((r) => [nftRuleText(r), r])).values()],
      dynamic ? [dynamicSet(ctx, dynamic, first)] : [],
    );
    return { ...named, valued: varTerms.length > 0 };
  }
  const pk = portKey(ctx, port);
  const posIdx = first.terms.map((t, i) => (t.variable && !t.negated ? i : -1)).filter((i) => i >= 0);
  const negIdx = first.terms.map((t, i) => (t.variable && t.negated ? i : -1)).filter((i) => i >= 0);
  const posInterval = parts.some((p) => posIdx.some((i) => isInterval(p.terms[i]!.value)));
  const negInterval = negIdx.map((i) => isInterval(first.terms[i]!.value));
  let template = templates?.find((t) => sameStructure(t, first, posInterval, negInterval))?.draft;
  if (!template) {
    const lookups: Statement[] = [];
    const sets: Draft['sets'] = dynamic ? [dynamicSet(ctx, dynamic, first)] : [];
    if (posIdx.length > 0) {
      const name = `${SET}p`;
      const exprs = concat([ctx.portExpr, ...posIdx.map((i) => first.terms[i]!.expr)]);
      lookups.push(match(exprs, setref(name)));
      sets.push({ name, decl: setDecl(exprs, posInterval), elements: [] });
    }
    negIdx.forEach((i, n) => {
      const name = `${SET}n${i}`;
      const exprs = concat([ctx.portExpr, first.terms[i]!.expr]);
      lookups.push(match(exprs, setref(name), true));
      sets.push({ name, decl: setDecl(exprs, negInterval[n]!), elements: [] });
    });
    const rules = [{ statements: statementsOf(first, lookups, dynamic, ctx.portExpr), comment }];
    template = nameSets(ctx, instance.rule, comment, occurrence, rules, sets);
    templates?.push({ first, posInterval, negInterval, draft: share(template) });
  }
  const elementTerms: (readonly Term[])[][] = dynamic ? [[]] : [];
  if (posIdx.length > 0) elementTerms.push(parts.map((p) => posIdx.map((i) => p.terms[i]!)));
  for (const i of negIdx) elementTerms.push([[first.terms[i]!]]);
  return {
    rules: template.rules,
    sets: template.sets.map((s, i) => ({
      ...s,
      elements: elementTerms[i]!.map((terms) => ({ key: concatValue([pk, ...terms.map((t) => t.value)]) })),
    })),
    elementTerms,
  };
}

/** The set a connlimit rule counts connections in, by port and source address. */
const dynamicSet = (ctx: Context, name: string, first: RuleParts): Draft['sets'][number] => ({
  name,
  decl: {
    key: { typeof: concat([ctx.portExpr, payload(first.connlimit!.family, 'saddr')]) },
    size: 65535,
    flags: ['dynamic'],
  },
  elements: [],
});

/** Rules without a protocol element are Ethernet-layer (they match every frame). */
const isBridgeRule = (r: RuleInstance) => !r.rule.protocol || protocolSpec(r.rule.protocol).layer === 'ethernet';

/** Ethernet matches of libvirt's sub-chain kinds (chain `ipv4-x` gets frames of type 0x0800). */
const etherType = (v: Value) => [match(payload('ether', 'type'), v)];
const SUBCHAIN_MATCH: readonly (readonly [string, Statement[]])[] = [
  ['ipv4', etherType(sym('ip'))],
  ['ipv6', etherType(sym('ip6'))],
  ['arp', etherType(sym('arp'))],
  ['rarp', etherType(num(0x8035, 4))],
  ['mac', []],
  ['vlan', etherType(sym('vlan'))],
  ['stp', [match(payload('ether', 'daddr'), { kind: 'ether', addr: '01:80:c2:00:00:00' })]],
];

const chainId = (name: string) => name.replace(/[^A-Za-z0-9_]/g, '_');

/**
 * Where a rule definition's instance goes in a port's chains (chain, index, comment, and what
 * else its parts depend on), and what is drafted for every port that has it there: a rule whose
 * values are all literal is the same for all of them, so it is drafted once (most of a stock
 * filter's rules; this is what makes compiling a thousand ports after a restart cheap); a rule
 * in sets has a template per rule structure (draftRule).
 */
interface Place {
  variant: string;
  ctx: Context;
  index: number;
  comment: string;
  literal?: Draft;
  templates: Template[];
}
const places = new WeakMap<RuleDef, Place[]>();

function placeOf(rule: RuleDef, variant: string, ctx: Context, index: number, comment: string): Place {
  let known = places.get(rule);
  if (!known) {
    known = [];
    places.set(rule, known);
  }
  let place = known.find(
    (p) =>
      p.index === index &&
      p.ctx.suffix === ctx.suffix &&
      p.ctx.family === ctx.family &&
      p.comment === comment &&
      p.variant === variant,
  );
  if (!place) {
    place = { variant, ctx, index, comment, templates: [] };
    known.push(place);
  }
  return place;
}
/** Whether an instance's values are all literal: its rule reads no variable (each expansion has a variable's value as text). */
const literalRules = new WeakMap<RuleDef, boolean>();
function isLiteral(i: RuleInstance): boolean {
  let literal = literalRules.get(i.rule);
  if (literal === undefined) {
    literal = Object.values(i.rule.attrs).every((a) => a!.value.kind !== 'var');
    literalRules.set(i.rule, literal);
  }
  return literal;
}

/** A rule's comment, kept with its rule definition for the next port that reaches it by the same filter path. */
const comments = new WeakMap<RuleDef, { path: readonly string[]; comment: string }>();
function commentOf(instance: RuleInstance): string {
  const known = comments.get(instance.rule);
  const { path } = instance;
  if (known && known.path.length === path.length && known.path.every((f, i) => f === path[i])) return known.comment;
  const comment = ruleComment(path, instance.priority);
  comments.set(instance.rule, { path, comment });
  return comment;
}

/** All chains of one port (by suffix), with `$S` in place of the shape name. */
class PortDraft {
  readonly chains = new Map<string, { ctx: Context; rules: NftRule[] }>();
  /** Each set with its elements and, per element, its context and the terms its values are (see Recipe). */
  readonly sets = new Map<
    string,
    { family: Family; decl: SetDecl; elements: Element[]; made: { ctx: Context; terms: readonly Term[] }[] }
  >();
  /** Some rule holds values from variables (see Draft). */
  valued = false;
  /** How often each rule was added by the same path to the same chain (see add). */
  private readonly occurrences = new Map<string, number>();

  constructor(private readonly port: PortValues) {}

  chain(ctx: Context): NftRule[] {
    let c = this.chains.get(ctx.suffix);
    if (!c) {
      c = { ctx, rules: [] };
      this.chains.set(ctx.suffix, c);
    }
    return c.rules;
  }

  /** Adds an instance's rules to one chain; `variant` names what else `parts` depends on. */
  add(ctx: Context, instance: RuleInstance, parts: () => readonly RuleParts[], variant = ''): void {
    const rules = this.chain(ctx);
    const comment = commentOf(instance);
    // the same rule reached again by the same path (a filter referenced twice, each time with
    // other parameters) is another rule: a place and sets of its own (nameSets)
    const again = `${objectId(instance.rule)} ${ctx.suffix} ${variant} ${comment}`;
    const occurrence = this.occurrences.get(again) ?? 0;
    this.occurrences.set(again, occurrence + 1);
    const at = occurrence === 0 ? variant : `${variant}#${occurrence}`;
    const place = placeOf(instance.rule, at, ctx, rules.length, comment);
    if (isLiteral(instance))
      place.literal ??= share(draftRule(ctx, this.port, instance, comment, parts(), undefined, occurrence));
    const d = place.literal ?? draftRule(ctx, this.port, instance, comment, parts(), place.templates, occurrence);
    rules.push(...d.rules);
    if (d.valued) this.valued = true;
    d.sets.forEach((s, i) => {
      const made = (d.elementTerms?.[i] ?? []).map((terms) => ({ ctx, terms }));
      const known = this.sets.get(s.name);
      if (known) {
        known.elements.push(...s.elements);
        known.made.push(...made);
      } else this.sets.set(s.name, { family: ctx.family, decl: s.decl, elements: [...s.elements], made });
    });
  }

  jump(ctx: Context, { sub, rule }: { sub: Context; rule: NftRule }): void {
    this.chain(sub);
    this.chain(ctx).push(rule);
  }
}

/** The context of a bridge chain (`root` or a sub-chain's name) in one direction: one object per chain. */
const bridgeContexts = new Map<string, Context>();
function bridgeContext(dir: 'from' | 'to', chain: string): Context {
  const k = `${dir} ${chain}`;
  let ctx = bridgeContexts.get(k);
  if (!ctx) {
    const base = dir === 'from' ? BRIDGE_FROM : BRIDGE_TO;
    ctx = { ...base, suffix: chain === 'root' ? dir : `${dir}_${chainId(chain)}` };
    bridgeContexts.set(k, ctx);
  }
  return ctx;
}

/** libvirt's ebtables layout: root chain per direction, sub-chains entered at their priority. */
function bridgeChains(d: PortDraft, ordered: readonly OrderedRule[]): void {
  for (const dir of ['from', 'to'] as const) {
    const root = bridgeContext(dir, 'root');
    const rules = ordered.filter((o) =>
      dir === 'from' ? o.instance.rule.direction !== 'in' : o.instance.rule.direction !== 'out',
    );
    const subs = new Map<string, number>();
    for (const { instance } of rules) if (instance.chain !== 'root') subs.set(instance.chain, instance.chainPriority);
    const pending = [...subs]
      .filter(([name]) => SUBCHAIN_MATCH.some(([p]) => name.startsWith(p)))
      .sort((a, b) => a[1] - b[1]);
    let next = 0;
    for (const o of rules) {
      for (; next < pending.length && pending[next]![1] <= o.effectivePriority; next++)
        d.jump(root, subchainJump(dir, ...pending[next]!));
      const ctx = bridgeContext(dir, o.instance.chain);
      const reverse = dir === 'from' && o.instance.rule.direction === 'inout';
      d.add(ctx, o.instance, () => o.instance.expansions.map((r) => bridgeParts(r, reverse)), reverse ? 'reverse' : '');
    }
    for (; next < pending.length; next++) d.jump(root, subchainJump(dir, ...pending[next]!));
  }
}

/**
 * A sub-chain of a root chain (`from`/`to`) entered at `priority`, and the rule jumping into it:
 * the same for every port, so one rule object is shared (its text rendered once, nftRuleText).
 */
const subchainJumps = new Map<string, { sub: Context; rule: NftRule }>();

function subchainJump(dir: 'from' | 'to', name: string, priority: number): { sub: Context; rule: NftRule } {
  const k = `${dir} ${priority} ${name}`;
  let j = subchainJumps.get(k);
  if (!j) {
    const matches = SUBCHAIN_MATCH.find(([p]) => name.startsWith(p))![1];
    const sub = { ...(dir === 'from' ? BRIDGE_FROM : BRIDGE_TO), suffix: `${dir}_${chainId(name)}` };
    const rule = {
      statements: [...matches, counter, jump(`${SHAPE}_${sub.suffix}`)],
      comment: ruleComment([name], priority),
    };
    j = { sub, rule };
    share({ rules: [rule], sets: [] });
    subchainJumps.set(k, j);
  }
  return j;
}

/** The chains chainUses() places a rule's expansions in, with the rule as each one has it. */
function ipUses(instance: RuleInstance, path: StatefulPath): { ctx: Context; parts: RuleParts[] }[] {
  const byUse = new Map<string, { ctx: Context; parts: RuleParts[] }>();
  for (const rule of instance.expansions) {
    for (const use of chainUses(rule)) {
      const ctx = ipContext(use, path);
      const parts = inetParts(rule, use, ctx.family);
      if (!parts) continue;
      if (!byUse.has(ctx.suffix)) byUse.set(ctx.suffix, { ctx, parts: [] });
      byUse.get(ctx.suffix)!.parts.push(parts);
    }
  }
  return [...byUse.values()];
}

/** libvirt's iptables layout: each rule in the chains chainUses() places it in. */
function ipChains(d: PortDraft, ordered: readonly OrderedRule[], path: StatefulPath): void {
  for (const { instance } of ordered) {
    // Which chains a literal rule goes to is known once its draft is: its parts are not needed.
    const uses = isLiteral(instance) ? literalUses(instance, path) : ipUses(instance, path);
    for (const { ctx, parts } of uses) d.add(ctx, instance, () => parts, path);
  }
}

const literalContexts = new WeakMap<RuleDef, Map<StatefulPath, { ctx: Context; parts: RuleParts[] }[]>>();

function literalUses(instance: RuleInstance, path: StatefulPath): { ctx: Context; parts: RuleParts[] }[] {
  let byPath = literalContexts.get(instance.rule);
  if (!byPath) {
    byPath = new Map();
    literalContexts.set(instance.rule, byPath);
  }
  if (!byPath.has(path)) byPath.set(path, ipUses(instance, path));
  return byPath.get(path)!;
}

export interface CompiledPort {
  portdev: string;
  id: number;
  /** Shape name: a hash of the port's chains; ports with equal shapes share chains. */
  shape: string;
  chains: NftChain[];
  /** Sets of the shape, with this port's elements. */
  sets: NftSet[];
  /** Chain suffixes (`from`, `to`, `fwd_from`, `fwd_to`, `host`) the port dispatches to. */
  entries: string[];
}

/** Compiled ports by filter object, path and id: a change recompiles only the ports it brings. */
const compiled = new WeakMap<PortFilter, Map<string, CompiledPort>>();

export function compilePort(port: PortFilter, id: number, path: StatefulPath = 'br_netfilter'): CompiledPort {
  const k = `${path} ${id}`;
  const known = compiled.get(port)?.get(k);
  if (known) return known;
  const result = compileStructured(port, id, path);
  if (!compiled.has(port)) compiled.set(port, new Map());
  compiled.get(port)!.set(k, result);
  return result;
}

/**
 * Rules and set declarations drafted once and shared by every port that has them (drafts of
 * literal rules, templates of rules in sets, sub-chain jumps), each with a number: a port made
 * of shared objects only has the shape its objects had before, known without rendering them.
 */
const sharedIds = new WeakMap<object, number>();
let nextShared = 0;
function share(d: Draft): Draft {
  for (const o of [...d.rules, ...d.sets.map((s) => s.decl)]) if (!sharedIds.has(o)) sharedIds.set(o, nextShared++);
  return d;
}

/** Shapes by the shared objects they were drafted from (see shapeKey). */
const shapesByKey = new Map<string, string>();
/** Enough for every shape in use and those a redefinition leaves behind; the map starts over beyond. */
const MAX_SHAPE_KEYS = 10_000;

/** A port's chains and set declarations by the numbers of their shared objects; undefined when one is not shared. */
function shapeKey(d: PortDraft): string | undefined {
  const words: (string | number)[] = [];
  for (const [suffix, c] of d.chains) {
    words.push(c.ctx.family, suffix);
    for (const r of c.rules) {
      const id = sharedIds.get(r);
      if (id === undefined) return undefined;
      words.push(id);
    }
  }
  for (const [n, set] of d.sets) {
    const id = sharedIds.get(set.decl);
    if (id === undefined) return undefined;
    words.push(n, id);
  }
  return words.join(' ');
}

/**
 * The shape name: a hash of the text of the port's chains and set declarations (port keys are
 * the only per-port text in a set-mode rule; they live in elements, not rules). A port drafted
 * from the same shared objects as one before has its shape.
 */
function shapeOf(d: PortDraft): string {
  const key = shapeKey(d);
  const known = key === undefined ? undefined : shapesByKey.get(key);
  if (known) return known;
  const text =
    [...d.chains]
      .map(([suffix, c]) => `${c.ctx.family} ${SHAPE}_${suffix}\n${c.rules.map(nftRuleText).join('\n')}`)
      .join('\n') + [...d.sets].map(([n, s]) => `\n${n} ${setDeclText(s.decl)}`).join('');
  const shape = `s${createHash('sha256').update(text).digest('hex').slice(0, 10)}`;
  if (key !== undefined) {
    if (shapesByKey.size >= MAX_SHAPE_KEYS) shapesByKey.clear();
    shapesByKey.set(key, shape);
  }
  return shape;
}

/** Entries of each shape (the same for all its ports), one list for all of them. Bounded: starts over when full. */
const entriesByShape = new Map<string, string[]>();
function shapeEntries(shape: string, entries: string[]): string[] {
  const known = entriesByShape.get(shape);
  if (known) return known;
  if (entriesByShape.size >= MAX_SHAPE_KEYS) entriesByShape.clear();
  entriesByShape.set(shape, entries);
  return entries;
}

/** Names of shapes' sets, one string each for all the ports that name them. Bounded: starts over when full. */
const setNames = new Map<string, string>();
function setName(n: string): string {
  const known = setNames.get(n);
  if (known) return known;
  if (setNames.size >= MAX_SHAPE_KEYS) setNames.clear();
  setNames.set(n, n);
  return n;
}

function compileUncached(port: PortFilter, id: number, path: StatefulPath): { port: CompiledPort; draft: PortDraft } {
  const ordered = orderRules(port.instances);
  const d = new PortDraft({ portdev: port.portdev, id, keys: new Map() });
  bridgeChains(
    d,
    ordered.filter((o) => isBridgeRule(o.instance)),
  );
  ipChains(
    d,
    ordered.filter((o) => !isBridgeRule(o.instance)),
    path,
  );

  const shape = shapeOf(d);
  // a port's chains are drafted under the placeholder; its sets have their own names (nameSets)
  const name = (n: string) => (n.startsWith(SHAPE) ? shape + n.slice(SHAPE.length) : n);
  const chains = chainsOf(shape, () =>
    [...d.chains].map(
      ([suffix, c]): NftChain => ({
        family: c.ctx.family,
        name: name(`${SHAPE}_${suffix}`),
        rules: c.rules.map((r) => ({ statements: renameRefs(r.statements, name), comment: r.comment })),
      }),
    ),
  );
  const sets = [...d.sets].map(
    ([n, s]): NftSet => ({ family: s.family, name: setName(n), kind: 'set', decl: s.decl, elements: s.elements }),
  );
  const entries = shapeEntries(
    shape,
    [...d.chains.values()].map((c) => c.ctx.suffix).filter((suffix) => ENTRY_SUFFIXES.includes(suffix)),
  );
  return { port: { portdev: port.portdev, id, shape, chains, sets, entries }, draft: d };
}

/**
 * Ports of one structure: the same rule instances (the same rule definitions reached by the
 * same paths, with as many expansions) whose variables' texts differ only where a term reads
 * its value from them alone (ValueSource, terms.ts). Such ports have the same shape, chains and
 * set declarations, and elements made the same way from their own texts: a port of a known
 * structure is compiled by making its elements from the recipe its first port left (no rule
 * drafted, no term built), the port key and those texts being all that differs.
 */
interface Recipe {
  shape: string;
  entries: string[];
  /** The port's values: each read from its text at `slot` (once, however many elements hold it). */
  reads: { slot: number; read: ValueSource['read'] }[];
  sets: {
    family: Family;
    name: string;
    decl: SetDecl;
    /** Per element: the port key's context, then its values (indices into `reads`). */
    elements: { ctx: Context; parts: number[] }[];
  }[];
}

/**
 * Structures known, as a trie: a port's steps from the root are the words of its structure
 * (skeleton()), each word the same string for every port (its hash computed once).
 */
interface Structure {
  next: Map<string | number, Structure>;
  /** Which texts are values only, and the recipes by the other texts; null when its ports cannot have one. */
  known?: { values: readonly boolean[]; recipes: Map<string, Recipe> } | null;
}
let structures: Structure = { next: new Map() };
/** Steps and recipes in `structures`: bounded, it starts over when full. */
let structureSize = 0;

function step(s: Structure, word: string | number): Structure {
  let next = s.next.get(word);
  if (!next) {
    next = { next: new Map() };
    s.next.set(word, next);
    structureSize++;
  }
  return next;
}

/** Numbers for objects in a structure's key (rule definitions, filter paths, shared instances), as text. */
const objectIds = new WeakMap<object, string>();
let nextObjectId = 0;
function objectId(o: object): string {
  let n = objectIds.get(o);
  if (n === undefined) {
    n = String(nextObjectId++);
    objectIds.set(o, n);
  }
  return n;
}

/** The key words of a rule's instances by its definition, for the next port reaching it the same way. */
const ruleWords = new WeakMap<RuleDef, { instance: RuleInstance; words: string }>();
function ruleWordsOf(i: RuleInstance): string {
  const known = ruleWords.get(i.rule);
  const k = known?.instance;
  if (
    k &&
    k.path === i.path &&
    k.chain === i.chain &&
    k.chainKind === i.chainKind &&
    k.chainPriority === i.chainPriority &&
    k.priority === i.priority
  )
    return known.words;
  const words = [objectId(i.rule), objectId(i.path), i.chain, i.chainKind, i.chainPriority, i.priority].join('\0');
  ruleWords.set(i.rule, { instance: i, words });
  return words;
}

/**
 * A port's structure without its variables' texts, and the attributes holding those texts
 * (`slots`, in order): every input of compileUncached but the port and the texts. A rule without
 * variables has one instance shared by all ports (instantiate.ts): its number says it all.
 */
function skeleton(instances: readonly RuleInstance[], path: StatefulPath, slots: ResolvedAttr[]): Structure {
  if (structureSize >= MAX_SHAPE_KEYS) {
    structures = { next: new Map() };
    structureSize = 0;
  }
  let s = step(structures, path);
  for (const i of instances) {
    if (i.rule.variables.length === 0) {
      s = step(s, objectId(i));
      continue;
    }
    s = step(step(s, ruleWordsOf(i)), i.expansions.length);
    for (const e of i.expansions)
      for (const name in e.attrs) {
        const attr = e.attrs[name]!;
        if (attr.value.kind === 'text') slots.push(attr);
      }
  }
  return s;
}

/** The texts at the slots that are not values only (those the structure depends on). */
function structureTexts(values: readonly boolean[], slots: readonly ResolvedAttr[]): string {
  const texts: string[] = [];
  slots.forEach((a, i) => {
    if (!values[i]) texts.push((a.value as VarText).text);
  });
  return texts.join('\0');
}

function compileStructured(port: PortFilter, id: number, path: StatefulPath): CompiledPort {
  const slots: ResolvedAttr[] = [];
  const structure = skeleton(port.instances, path, slots);
  const known = structure.known;
  if (known === null) return compileUncached(port, id, path).port;
  const recipe = known?.recipes.get(structureTexts(known.values, slots));
  const made = recipe && fromRecipe(recipe, port.portdev, id, slots);
  if (made) return made;
  const { port: c, draft } = compileUncached(port, id, path);
  const learnt = recipeOf(draft, c, slots);
  if (!learnt) {
    structure.known ??= null;
    return c;
  }
  if (!structure.known) {
    const values = slots.map(() => false);
    for (const { slot } of learnt.reads) values[slot] = true;
    structure.known = { values, recipes: new Map() };
  }
  structure.known.recipes.set(structureTexts(structure.known.values, slots), learnt);
  structureSize++;
  return c;
}

/**
 * Elements beyond which a port leaves no recipe: recipes pay for the many ports of one structure,
 * and checking one costs what compiling its port again does (a port with 20,000 values, which
 * the daemon compiles while it answers reads, took 0.16 s without its recipe, 0.5 s with).
 */
const RECIPE_MAX_ELEMENTS = 1024;

/** The recipe of a port just compiled, if its elements are all made from its port key and texts that are values only. */
function recipeOf(d: PortDraft, c: CompiledPort, slots: readonly ResolvedAttr[]): Recipe | undefined {
  if (d.valued) return undefined;
  let elements = 0;
  for (const s of d.sets.values()) elements += s.elements.length;
  if (elements > RECIPE_MAX_ELEMENTS) return undefined;
  const slotOf = new Map(slots.map((a, i) => [a, i]));
  const reads: Recipe['reads'] = [];
  // each read's index, by slot and reader (a port with 20,000 values has as many reads)
  const readIndex = new Map<number, Map<Recipe['reads'][number]['read'], number>>();
  const sets: Recipe['sets'] = [];
  let n = 0;
  for (const s of d.sets.values()) {
    const { family, name, decl } = c.sets[n++]!;
    if (s.made.length !== s.elements.length) return undefined;
    const elements: Recipe['sets'][number]['elements'] = [];
    for (const { ctx, terms } of s.made) {
      const parts: number[] = [];
      for (const t of terms) {
        const slot = t.source && slotOf.get(t.source.attr);
        if (slot === undefined) return undefined;
        const read = t.source!.read;
        const bySlot = readIndex.get(slot) ?? readIndex.set(slot, new Map()).get(slot)!;
        let i = bySlot.get(read);
        if (i === undefined) {
          i = reads.push({ slot, read }) - 1;
          bySlot.set(read, i);
        }
        parts.push(i);
      }
      elements.push({ ctx, parts });
    }
    sets.push({ family, name, decl, elements });
  }
  const recipe: Recipe = { shape: c.shape, entries: c.entries, reads, sets };
  // what the recipe makes of this port is what compiling it made, or it is no recipe
  return same(fromRecipe(recipe, c.portdev, c.id, slots), c) ? recipe : undefined;
}

/** A port of the recipe's structure with its own key and texts; undefined once the shape's chains are gone. */
function fromRecipe(r: Recipe, portdev: string, id: number, slots: readonly ResolvedAttr[]): CompiledPort | undefined {
  const chains = shapeChains.get(r.shape)?.deref();
  if (!chains) return undefined;
  const port: PortValues = { portdev, id, keys: new Map() };
  const values = r.reads.map(({ slot, read }) => read(slots[slot]!));
  const sets = r.sets.map(
    ({ family, name, decl, elements }): NftSet => ({
      family,
      name,
      kind: 'set',
      decl,
      elements: elements.map(({ ctx, parts }) => ({
        key: concatValue([portKey(ctx, port), ...parts.map((i) => values[i]!)]),
      })),
    }),
  );
  return { portdev, id, shape: r.shape, chains, sets, entries: r.entries };
}

/**
 * The chains of each shape in use, by shape name: equal names are equal chains (the name is a
 * hash of their text), so the ports of a shape share one set of rule trees, built and rendered
 * once. A shape's entry goes when no compiled port holds its chains any more.
 */
const shapeChains = new Map<string, WeakRef<NftChain[]>>();
const shapeGone = new FinalizationRegistry<string>((shape) => {
  if (!shapeChains.get(shape)?.deref()) shapeChains.delete(shape);
});

function chainsOf(shape: string, build: () => NftChain[]): NftChain[] {
  const known = shapeChains.get(shape)?.deref();
  if (known) return known;
  const chains = build();
  shapeChains.set(shape, new WeakRef(chains));
  shapeGone.register(chains, shape);
  return chains;
}

// --- the layout around the ports ----------------------------------------------------------

/** Chains a port's dispatch maps jump to (the root chains of its filter). */
const ENTRY_SUFFIXES = ['from', 'to', 'fwd_from', 'fwd_to', 'host'];

const rule = (statements: Statement[], comment: string): NftRule => ({ statements, comment });

/**
 * Dispatch maps (port -> jump to the port's chains) carry a generation in their name: a change
 * that would point an existing port's entry at a chain created in the same transaction loads
 * complete maps of the next generation instead (plan.ts explains why).
 */
export const dispatchName = (base: string, generation: number) => `${base}_g${generation}`;

/**
 * The main shape's port set of a bridge entry (see MAIN_ENTRIES): `from_port_s0123456789_g2`.
 * The shape is in the name, so a new main shape is a new set (which plan.ts loads under a new
 * generation when ports already dispatched move into it).
 */
export const mainSetName = (base: string, shape: string, generation: number) =>
  dispatchName(mainSetBase(base, shape), generation);
const mainSetBase = (base: string, shape: string) => `${base}_${shape}`;

/** What a shape's name is (shapeOf). */
export const SHAPE_NAME = /^s[0-9a-f]{10}$/;

/** What a dispatch object's name says: its base (`from_port`), main shape if it is a main set, generation. */
export function dispatchParts(name: string): { base: string; shape?: string; generation: number } | undefined {
  const g = name.lastIndexOf('_g');
  const generation = Number(name.slice(g + 2));
  if (g < 0 || !Number.isSafeInteger(generation) || dispatchName(name.slice(0, g), generation) !== name)
    return undefined;
  const base = name.slice(0, g);
  if (DISPATCH_BASES.includes(base)) return { base, generation };
  const cut = base.lastIndexOf('_');
  const [entryBase, shape] = [base.slice(0, cut), base.slice(cut + 1)];
  return MAIN_BASES.includes(entryBase) && SHAPE_NAME.test(shape) ? { base: entryBase, shape, generation } : undefined;
}

/** The generation of a dispatch object's name (a map, or a main set), if it is one. */
export const generationOf = (name: string): number | undefined => dispatchParts(name)?.generation;

/** The chain a dispatch element of set `name` sends its port to: its verdict's, or the main shape's entry chain. */
export function dispatchTarget(name: string, e: Element): string | undefined {
  if (e.value?.kind === 'verdict') {
    const v = e.value.verdict;
    return v.kind === 'jump' || v.kind === 'goto' ? v.target : undefined;
  }
  const parts = dispatchParts(name);
  const entry = parts?.shape && MAIN_ENTRIES.find((x) => BRIDGE_ENTRY_MAPS[x] === parts.base);
  return entry ? `${parts.shape}_${entry}` : undefined;
}

/** Whether set `name` is a main shape's set of bridge entries (MainShape). */
export const isMainSet = (name: string): boolean => dispatchParts(name)?.shape !== undefined;

/** Whether set `name` is a bridge dispatch object of `generation` keyed by port name: a map, or a main set. */
export function isPortDispatch(name: string, generation: number): boolean {
  const parts = dispatchParts(name);
  return parts?.generation === generation && MAIN_BASES.includes(parts.base);
}

/** The main shape of a ruleset's dispatch objects of `generation`, if it has one. */
export function mainIn(sets: Iterable<{ family: Family; name: string }>, generation: number): string | undefined {
  for (const s of sets) {
    const parts = s.family === 'bridge' ? dispatchParts(s.name) : undefined;
    if (parts?.shape && parts.generation === generation) return parts.shape;
  }
  return undefined;
}

/**
 * What the layout needs from the ports bound: hooks, maps and rules for IP-level filtering
 * (marks and the inet table, or the bridge forward/input hooks) only while some port has IP
 * rules, the mac_filter rule only while some port asks for it. Every packet crossing the bridge
 * passes the hooks we register, so we register none that no port needs: with filters like
 * clean-traffic (Ethernet-level only) bridged IP traffic never enters an inet hook of ours.
 */
export interface Needs {
  ip: boolean;
  macFilter: boolean;
}

/** Entry chains of IP-level rules (libvirt's iptables chains). */
const IP_ENTRIES = ['fwd_from', 'fwd_to', 'host'];
/** The four values of Needs, one object each (a ledger keeps a port's). */
const NEEDS_OF = [false, true].map((ip) => [false, true].map((macFilter): Needs => Object.freeze({ ip, macFilter })));
export const needsOf = (port: PortFilter, c: CompiledPort): Needs =>
  NEEDS_OF[Number(c.entries.some((e) => IP_ENTRIES.includes(e)))]![Number(!!port.macFilter)]!;

/**
 * The main shape: the shape most ports have (kept until another has twice as many, see
 * ledger.ts). Its ports' `from` and `to` entries are not elements of the dispatch maps but of
 * a plain set per entry, which a rule after the map's looks up (`iifname @from_port_<shape>_g1
 * jump <shape>_from`). Adding a verdict-map element that jumps makes the kernel validate every
 * element of every verdict map of the table (nf_tables_api.c, nft_table_validate: ~1.1 ms at
 * 10,000 ports); adding a plain set element does not. So binding a port of the main shape costs
 * the kernel the same at 10,000 ports as at 10, at the price of one set lookup more for the
 * other ports' packets. The entries of IP rules (inet hooks, or the bridge forward and input
 * hooks) stay in maps: their hooked chains have rules after the dispatch.
 *
 * The maps of these entries go to a port's chains with `goto`, so a port found in the map never
 * reaches the main set's rule (the rule is last in its hooked chain): a port moving from the
 * main set to the map can stay in the set for the previous generation's packets (plan.ts).
 */
export interface MainShape {
  shape: string;
  /** Its entries among MAIN_ENTRIES. */
  entries: readonly string[];
}

/** Entries whose dispatch rule is the last of its hooked chain in every layout, keyed by port name. */
export const MAIN_ENTRIES = ['from', 'to'] as const;
const BRIDGE_ENTRY_MAPS: Record<(typeof MAIN_ENTRIES)[number], string> = { from: 'from_port', to: 'to_port' };
const MAIN_BASES = Object.values(BRIDGE_ENTRY_MAPS);
export const isMainEntry = (entry: string): boolean => (MAIN_ENTRIES as readonly string[]).includes(entry);

/** What does not depend on the ports: hooks, dispatch maps, and the key of each port in them. */
export interface Layout {
  /** Sets and maps that are not dispatch maps. */
  sets: (needs: Needs) => SetMeta[];
  /** The hooked chains, naming the dispatch maps of one generation through `map`. */
  chains: (map: (base: string) => string, needs: Needs, main?: MainShape) => NftChain[];
  /** Dispatch map of each entry chain (base name, without generation), and the port's key there. */
  entries: Record<string, { family: Family; map: string; decl: SetDecl; key: (p: CompiledPort) => Value }>;
  /** Whether ports with IP rules are marked for the inet table. */
  marks: boolean;
}

const byName = (p: CompiledPort) => str(p.portdev);
const set = (family: Family, name: string, type: string): SetMeta => ({
  family,
  name,
  kind: 'set',
  decl: { key: { type } },
});
const mapDecl = (type: string, value: string): SetDecl => ({ key: { type }, value });
const MAC_FILTER = [set('bridge', 'mac_filter_ports', 'ifname'), set('bridge', 'mac_filter', 'ifname . ether_addr')];
/** The MAC check of mac_filter: a frame from the port with a source MAC not its own. */
const MAC_CHECK: Statement[] = [
  match(concat([meta('iifname'), payload('ether', 'saddr')]), setref('mac_filter'), true),
  counter,
  verdict('drop'),
];
const macFilterRule = (needs: Needs) =>
  needs.macFilter ? [rule([match(meta('iifname'), setref('mac_filter_ports')), ...MAC_CHECK], 'mac_filter')] : [];
const hook = (name: Hook['hook'], priority: number): Hook => ({
  type: 'filter',
  hook: name,
  priority,
  policy: 'accept',
});
const BRIDGE_HOOK = { prerouting: hook('prerouting', -300), postrouting: hook('postrouting', 300) };
const CLEAR_MARK = rule(
  [
    match({ kind: 'and', expr: meta('mark'), mask: mark(MARK_TAG_MASK) }, mark(MARK_FROM_PORT)),
    { kind: 'mangle', key: meta('mark'), value: num(0) },
  ],
  'clear port mark',
);
/** Marks a packet with the id of the port it comes from (`iifname`) or goes to (`oifname`). */
const markPort = (port: 'iifname' | 'oifname', side: 'from' | 'to') =>
  rule(
    [{ kind: 'mangle', key: meta('mark'), value: { kind: 'lookup', key: meta(port), map: `port_mark_${side}` } }],
    `mark ${side} port`,
  );

/** The dispatch rule; its comment names the map, so a listed chain shows which generation it uses. */
const dispatch = (key: string, map: string, what: string) =>
  rule([{ kind: 'vmap', key: meta(key), map }], `${what} ${map}`);

/** A bridge entry's dispatch: the map, then the main shape's set (see MainShape). */
function bridgeDispatch(
  entry: (typeof MAIN_ENTRIES)[number],
  map: (base: string) => string,
  main: MainShape | undefined,
): NftRule[] {
  const [key, what, base] = [entry === 'from' ? 'iifname' : 'oifname', `${entry} port`, BRIDGE_ENTRY_MAPS[entry]];
  const rules = [dispatch(key, map(base), what)];
  if (main?.entries.includes(entry)) {
    const set = map(mainSetBase(base, main.shape));
    rules.push(rule([match(meta(key), setref(set)), jump(`${main.shape}_${entry}`)], `${what} ${set}`));
  }
  return rules;
}

/** An inet hook dispatching on the port mark; the mark is ours only up to here, so it is cleared. */
function inetHook(name: 'forward' | 'input' | 'postrouting', map: string, what: string): NftChain {
  return { family: 'inet', name, hook: hook(name, 0), rules: [dispatch('mark', map, what), CLEAR_MARK] };
}

/**
 * The hooks, at libvirt's places: ebtables nat PREROUTING (-300) and POSTROUTING (300) for the
 * Ethernet-layer rules; filter FORWARD/INPUT (0) for the IP rules, with the guest-bound ones in
 * POSTROUTING where the mark of the port a packet goes to is known.
 */
const BR_NETFILTER: Layout = {
  sets: (needs) => [
    ...(needs.ip
      ? ([
          { family: 'bridge', name: 'port_mark_from', kind: 'map', decl: mapDecl('ifname', 'mark') },
          { family: 'bridge', name: 'port_mark_to', kind: 'map', decl: mapDecl('ifname', 'mark') },
        ] as const)
      : []),
    ...(needs.macFilter ? MAC_FILTER : []),
  ],
  chains: (map, needs, main) => [
    {
      family: 'bridge',
      name: 'prerouting',
      hook: BRIDGE_HOOK.prerouting,
      rules: [
        ...macFilterRule(needs),
        ...(needs.ip ? [markPort('iifname', 'from')] : []),
        ...bridgeDispatch('from', map, main),
      ],
    },
    {
      family: 'bridge',
      name: 'postrouting',
      hook: BRIDGE_HOOK.postrouting,
      rules: [...(needs.ip ? [CLEAR_MARK, markPort('oifname', 'to')] : []), ...bridgeDispatch('to', map, main)],
    },
    ...(needs.ip
      ? [
          inetHook('forward', map('fwd_from_port'), 'forward from port'),
          inetHook('input', map('host_from_port'), 'host from port'),
          inetHook('postrouting', map('fwd_to_port'), 'forward to port'),
        ]
      : []),
  ],
  entries: {
    from: { family: 'bridge', map: 'from_port', decl: mapDecl('ifname', 'verdict'), key: byName },
    to: { family: 'bridge', map: 'to_port', decl: mapDecl('ifname', 'verdict'), key: byName },
    fwd_from: {
      family: 'inet',
      map: 'fwd_from_port',
      decl: mapDecl('mark', 'verdict'),
      key: (p) => mark(MARK_FROM_PORT | p.id),
    },
    host: {
      family: 'inet',
      map: 'host_from_port',
      decl: mapDecl('mark', 'verdict'),
      key: (p) => mark(MARK_FROM_PORT | p.id),
    },
    fwd_to: {
      family: 'inet',
      map: 'fwd_to_port',
      decl: mapDecl('mark', 'verdict'),
      key: (p) => mark(MARK_TO_PORT | p.id),
    },
  },
  marks: true,
};

/**
 * With bridge conntrack everything stays in the bridge table: libvirt's FORWARD chains in the
 * bridge forward hook (from the port, then to the port), its INPUT chain in the input hook.
 */
const BRIDGE_CONNTRACK: Layout = {
  sets: (needs) => (needs.macFilter ? MAC_FILTER : []),
  chains: (map, needs, main) => [
    {
      family: 'bridge',
      name: 'prerouting',
      hook: BRIDGE_HOOK.prerouting,
      rules: [...macFilterRule(needs), ...bridgeDispatch('from', map, main)],
    },
    ...(needs.ip
      ? ([
          {
            family: 'bridge',
            name: 'forward',
            hook: hook('forward', 0),
            rules: [
              dispatch('iifname', map('fwd_from_port'), 'forward from port'),
              dispatch('oifname', map('fwd_to_port'), 'forward to port'),
            ],
          },
          {
            family: 'bridge',
            name: 'input',
            hook: hook('input', 0),
            rules: [dispatch('iifname', map('host_from_port'), 'host from port')],
          },
        ] as NftChain[])
      : []),
    {
      family: 'bridge',
      name: 'postrouting',
      hook: BRIDGE_HOOK.postrouting,
      rules: bridgeDispatch('to', map, main),
    },
  ],
  entries: Object.fromEntries(
    [
      ['from', 'from_port'],
      ['to', 'to_port'],
      ['fwd_from', 'fwd_from_port'],
      ['host', 'host_from_port'],
      ['fwd_to', 'fwd_to_port'],
    ].map(([entry, m]) => [
      entry!,
      { family: 'bridge' as const, map: m!, decl: mapDecl('ifname', 'verdict'), key: byName },
    ]),
  ),
  marks: false,
};

export const LAYOUTS: Record<StatefulPath, Layout> = {
  br_netfilter: BR_NETFILTER,
  'bridge-conntrack': BRIDGE_CONNTRACK,
};

/** Base names of the dispatch maps of every layout. */
const DISPATCH_BASES = [...new Set(Object.values(LAYOUTS).flatMap((l) => Object.values(l.entries).map((e) => e.map)))];

/** The dispatch maps, and the main shape's sets, of a layout in one generation. */
export function dispatchMaps(layout: Layout, generation: number, needs: Needs, main?: MainShape): SetMeta[] {
  const seen = new Map<string, SetMeta>();
  for (const [entry, e] of Object.entries(layout.entries)) {
    if (!needs.ip && IP_ENTRIES.includes(entry)) continue;
    seen.set(e.map, { family: e.family, name: dispatchName(e.map, generation), kind: 'map', decl: e.decl });
  }
  for (const entry of main?.entries ?? []) {
    const name = mainSetName(layout.entries[entry]!.map, main!.shape, generation);
    seen.set(name, { family: 'bridge', name, kind: 'set', decl: { key: { type: 'ifname' } } });
  }
  return [...seen.values()];
}

// --- tracing a port (`virtwall nwfilter-trace`) ------------------------------------------

/**
 * A traced port's dispatch entries jump to trace chains instead of its own chains: a trace chain
 * sets nftrace and goes to the chain the entry would jump to, so only the traced port's packets
 * run one rule more, and every other port's packets the same rules as without tracing. The flag
 * stays on the packet: later hooks are traced too. A frame's MAC is checked by mac_filter in the
 * hooked prerouting chain before the dispatch, so while a port is traced it is out of
 * mac_filter_ports and its from-trace chain makes the same check after setting the flag.
 *
 * The phases are the steps of a start and a stop without a moment in which a packet is not
 * filtered (backend.ts trace()): `armed`: the trace chains exist, nothing jumps to them (an
 * entry must never be pointed at a chain the same transaction creates: plan.ts); `on`: the
 * entries jump to them and the from-trace chain checks the MAC; `leaving`: the entries still
 * jump to them and the port is back in mac_filter_ports (both check it), so switching the
 * entries back leaves no frame unchecked.
 */
export type TracePhase = 'armed' | 'on' | 'leaving';

/** Entries a traced port has in any case: bridge-family events name the port (iif/oif) and the MAC check runs. */
const TRACED_ENTRIES = ['from', 'to'];
const TRACE = '_trace';
const TRACE_MAC = '_trace_mac';
const SET_NFTRACE = rule([{ kind: 'mangle', key: meta('nftrace'), value: num(1) }], 'nwfilter-trace');

/**
 * The chain a trace chain goes to (a port chain, or `from`/`to` for a port without one there),
 * if `name` is a trace chain's.
 */
export function traceTarget(name: string): string | undefined {
  for (const suffix of [TRACE_MAC, TRACE]) if (name.endsWith(suffix)) return name.slice(0, -suffix.length);
  return undefined;
}

/** A traced port's entries (every entry it has, and `from`/`to`), each with the trace chain it jumps to. */
export function traceEntries(layout: Layout, port: PortFilter, c: CompiledPort): { entry: string; chain: NftChain }[] {
  return [...new Set([...TRACED_ENTRIES, ...c.entries])].map((entry) => {
    const target = c.entries.includes(entry) ? `${c.shape}_${entry}` : undefined;
    const mac = entry === 'from' && !!port.macFilter;
    return {
      entry,
      chain: {
        family: layout.entries[entry]!.family,
        name: (target ?? entry) + (mac ? TRACE_MAC : TRACE),
        rules: [
          SET_NFTRACE,
          ...(mac ? [rule(MAC_CHECK, 'mac_filter')] : []),
          ...(target ? [rule([{ kind: 'goto', target }], 'nwfilter-trace')] : []),
        ],
      },
    };
  });
}

/**
 * A port's entries in the dispatch objects of `generation`, by set key (see objectKey()):
 * elements of the main shape's sets when `inMain` (for its entries there), of the maps
 * otherwise; `trace`: its phase if traced (a traced port is never in the main sets).
 */
export function dispatchElements(
  layout: Layout,
  port: PortFilter,
  c: CompiledPort,
  generation: number,
  trace: TracePhase | undefined,
  inMain: boolean,
): Map<string, Element[]> {
  const out = new Map<string, Element[]>();
  const traced = trace === 'on' || trace === 'leaving';
  const targets = traced
    ? traceEntries(layout, port, c).map(({ entry, chain }) => [entry, chain.name] as const)
    : c.entries.map((entry) => [entry, `${c.shape}_${entry}`] as const);
  for (const [entry, target] of targets) {
    const m = layout.entries[entry]!;
    const main = inMain && !traced && isMainEntry(entry);
    const name = main ? mainSetName(m.map, c.shape, generation) : dispatchName(m.map, generation);
    const verdict: Verdict = isMainEntry(entry) ? { kind: 'goto', target } : jump(target);
    out.set(objectKey(m.family, name), [
      main ? { key: m.key(c) } : { key: m.key(c), value: { kind: 'verdict', verdict } },
    ]);
  }
  return out;
}

/**
 * What one port puts into the model besides its dispatch entries (dispatchElements): its
 * values in its shape's sets, its marks, its MAC; as elements by set key (see objectKey()).
 */
export function portElements(
  layout: Layout,
  port: PortFilter,
  c: CompiledPort,
  trace?: TracePhase,
): Map<string, Element[]> {
  const out = new Map<string, Element[]>();
  const add = (family: Family, name: string, e: readonly Element[]) => {
    const k = objectKey(family, name);
    if (!out.has(k)) out.set(k, []);
    out.get(k)!.push(...e);
  };
  for (const s of c.sets) add(s.family, s.name, s.elements);
  if (layout.marks && needsOf(port, c).ip) {
    add('bridge', 'port_mark_from', [{ key: str(port.portdev), value: mark(MARK_FROM_PORT | c.id) }]);
    add('bridge', 'port_mark_to', [{ key: str(port.portdev), value: mark(MARK_TO_PORT | c.id) }]);
  }
  if (port.macFilter) {
    if (trace !== 'on') add('bridge', 'mac_filter_ports', [{ key: str(port.portdev) }]);
    add('bridge', 'mac_filter', [
      { key: concatValue([str(port.portdev), { kind: 'ether', addr: port.mac.toLowerCase() }]) },
    ]);
  }
  // most of a port's sets hold one element: only the others can hold one twice
  for (const [k, e] of out) if (e.length > 1) out.set(k, [...elementsOf(e).values()]);
  return out;
}
