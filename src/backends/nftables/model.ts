// The nftables state virtwall owns, as data: two tables (`bridge virtwall_nwf` for what libvirt
// puts in ebtables, `inet virtwall_nwf` for what it puts in iptables), their chains, sets and
// maps. Both sides are values: the desired model is a DesiredModel (the ledger's, in CowMaps),
// what the kernel holds a Ruleset (src/nft). A ModelDelta is what differs between them,
// which plan.ts turns into ONE nft batch.

import { nftRuleText, type Batch } from '../../nft/batch.js';
import type { Element } from '../../nft/expr.js';
import { kernelBody } from '../../nft/kernel-body.js';
import { sameBody } from '../../nft/listing.js';
import { CowMap } from '../../util/cow-map.js';
import type { Family, KernelStatement, NftChain, NftRule, NftSet, Ruleset, SetMeta } from '../../nft/objects.js';

export const TABLE = 'virtwall_nwf';
export const FAMILIES: readonly Family[] = ['bridge', 'inet'];

/** A model as plain values (sorted elements): what tests compare and reports count. */
export interface NftModel {
  chains: ReadonlyMap<string, NftChain>;
  sets: ReadonlyMap<string, NftSet>;
}

/** A set of the desired model: its elements by their text (as in a Ruleset). */
export type DesiredSet = SetMeta & { readonly elements: CowMap<Element> };

/**
 * The desired model: a Ruleset in CowMaps (util/cow-map.ts), so that a change makes a new model
 * sharing everything it does not touch with the old one (ledger.ts).
 */
export interface DesiredModel extends Ruleset {
  readonly chains: CowMap<NftChain>;
  readonly sets: CowMap<DesiredSet>;
}

/** A ruleset as plain values: sorted elements, rules as we load them (without the kernel's bodies). */
export function snapshot(r: Ruleset): NftModel {
  const chains = new Map<string, NftChain>();
  for (const [k, c] of r.chains)
    chains.set(k, { ...c, rules: c.rules.map(({ statements, comment }) => ({ statements, comment })) });
  const sets = new Map<string, NftSet>();
  for (const [k, s] of r.sets)
    sets.set(k, { ...s, elements: [...s.elements].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e) });
  return { chains, sets };
}

/** What turns one model into another; element lists hold only real changes. */
export interface ModelDelta {
  addedSets: Set<string>;
  removedSets: Set<string>;
  addedChains: Set<string>;
  removedChains: Set<string>;
  /** Chains in both models whose rules differ (by comment and body, see RuleBodies). */
  changedChains: Set<string>;
  /** Elements by set key, each by its text (of a set new as a whole, possibly the set's own map). */
  addedElements: Map<string, ReadonlyMap<string, Element>>;
  removedElements: Map<string, ReadonlyMap<string, Element>>;
}

/** A delta being built element by element (ledger.ts), its element maps its own. */
export interface DeltaDraft extends ModelDelta {
  addedElements: Map<string, Map<string, Element>>;
  removedElements: Map<string, Map<string, Element>>;
}

export const emptyDelta = (): DeltaDraft => ({
  addedSets: new Set(),
  removedSets: new Set(),
  addedChains: new Set(),
  removedChains: new Set(),
  changedChains: new Set(),
  addedElements: new Map(),
  removedElements: new Map(),
});

/**
 * The kernel's form of the rules we load, by the rule's text (nft lists a rule in its own normal
 * form, not as we wrote it): read back when a rule is loaded, kept with the compiled
 * ports across restarts. A kernel rule is ours as long as it has our rule's comment AND its body.
 * A value: what a loaded batch teaches makes new RuleBodies (`learnt`).
 */
export class RuleBodies {
  private readonly byText: CowMap<readonly KernelStatement[]>;

  constructor(known: Iterable<readonly [string, readonly KernelStatement[]]> = []) {
    this.byText = known instanceof CowMap ? known : CowMap.of(known);
  }

  /** The kernel's form of `rule`, if it was read back before. */
  known(rule: NftRule): readonly KernelStatement[] | undefined {
    return this.byText.get(nftRuleText(rule));
  }

  /** The body the kernel holds `rule` with: the one read back when it was loaded, or else the one nft is known to list for it (kernel-body.ts). */
  expected(rule: NftRule): readonly KernelStatement[] | undefined {
    return this.known(rule) ?? kernelBody(rule.statements);
  }

  /**
   * These bodies and the kernel's forms `echoed` of the rules `batch` added (in its order, as the
   * client reads them back); these very bodies when the batch taught nothing new.
   */
  learnt(batch: Batch, echoed: readonly (readonly KernelStatement[] | undefined)[]): RuleBodies {
    const added = batch.flatMap((c) => ('rule' in c ? [c.rule] : []));
    const fresh = added.flatMap((rule, i) => {
      const body = echoed[i];
      if (!body) return [];
      const text = nftRuleText(rule);
      const known = this.byText.get(text);
      return known && (known === body || sameBody(known, body)) ? [] : [[text, body] as const];
    });
    if (fresh.length === 0) return this;
    const bodies = this.byText.edit();
    for (const [text, body] of fresh) bodies.set(text, body);
    return new RuleBodies(bodies.done());
  }

  /** The bodies of the rules of `m` (what is worth keeping). */
  entriesFor(m: Ruleset): [string, readonly KernelStatement[]][] {
    const texts = new Set([...m.chains.values()].flatMap((c) => c.rules.map(nftRuleText)));
    return [...this.byText].filter(([t]) => texts.has(t));
  }

  /** Whether kernel rules `held` are `wanted`, by comment and expected body. */
  same(held: readonly NftRule[], wanted: readonly NftRule[]): boolean {
    return (
      held.length === wanted.length &&
      held.every((r, i) => {
        const want = this.expected(wanted[i]!);
        return r.comment === wanted[i]!.comment && r.body !== undefined && want !== undefined && sameBody(r.body, want);
      })
    );
  }
}

/** The whole difference between two models (linear in their size; a change uses its own delta). */
export function modelDelta(from: Ruleset, to: Ruleset, bodies: RuleBodies): ModelDelta {
  const d: ModelDelta = emptyDelta();
  for (const [k, c] of to.chains) {
    const old = from.chains.get(k);
    if (!old) d.addedChains.add(k);
    else if (!bodies.same(old.rules, c.rules)) d.changedChains.add(k);
  }
  for (const k of from.chains.keys()) if (!to.chains.has(k)) d.removedChains.add(k);
  for (const [k, s] of to.sets) {
    const old = from.sets.get(k);
    if (!old) d.addedSets.add(k);
    // a set the kernel lacks lacks all its elements: no copy of them (10,000 per set at a start)
    const added = old ? missingFrom(s.elements, old.elements) : s.elements.size > 0 ? s.elements : undefined;
    if (added) d.addedElements.set(k, added);
    const removed = old && missingFrom(old.elements, s.elements);
    if (removed) d.removedElements.set(k, removed);
  }
  for (const k of from.sets.keys()) if (!to.sets.has(k)) d.removedSets.add(k);
  return d;
}

/** The elements of `a` that `b` lacks; none (at a restart, most sets): no map made. */
function missingFrom(
  a: Iterable<[string, Element]>,
  b: { has(text: string): boolean } | undefined,
): Map<string, Element> | undefined {
  let out: Map<string, Element> | undefined;
  for (const [text, e] of a) {
    if (b?.has(text)) continue;
    out ??= new Map();
    out.set(text, e);
  }
  return out;
}

/** Counts for tests and reports: rules, chains, set elements. */
export function modelSize(m: NftModel | Ruleset): { rules: number; chains: number; elements: number } {
  let rules = 0;
  for (const c of m.chains.values()) rules += c.rules.length;
  let elements = 0;
  for (const s of m.sets.values()) elements += 'size' in s.elements ? s.elements.size : s.elements.length;
  return { rules, chains: m.chains.size, elements };
}
