// The nftables state virtwall owns, as data: two tables (`bridge virtwall_nwf` for what libvirt
// puts in ebtables, `inet virtwall_nwf` for what it puts in iptables), their chains, sets and
// maps. A LiveModel changes in place (the desired model, our mirror of the kernel); a ModelDelta
// is what differs between two of them, which transaction.ts turns into ONE nft transaction.

export const TABLE = 'virtwall_nwf';
export type Family = 'bridge' | 'inet';
export const FAMILIES: readonly Family[] = ['bridge', 'inet'];

export interface NftRule {
  /** The rule as `add rule` takes it, comment included. */
  text: string;
  /** The rule's comment: how a listed kernel rule is recognised (and traced, see trace.ts). */
  comment: string;
}

export interface NftChain {
  family: Family;
  name: string;
  /** Base chain declaration (`type filter hook ... priority ...; policy accept;`), if hooked. */
  hook?: string;
  rules: readonly NftRule[];
}

export interface NftSet {
  family: Family;
  name: string;
  kind: 'set' | 'map';
  /** Declaration body, e.g. `typeof iifname . ip saddr; flags interval;`. */
  decl: string;
  /** Elements as nft writes them (`"vnet0" . 52:54:00:00:00:0a`, `0x76760001 : jump s1_fwd`). */
  elements: readonly string[];
}

/** A model as plain values (sorted elements): what tests compare and reports count. */
export interface NftModel {
  chains: ReadonlyMap<string, NftChain>;
  sets: ReadonlyMap<string, NftSet>;
}

export const key = (family: Family, name: string) => `${family} ${name}`;

export type SetMeta = Omit<NftSet, 'elements'>;
export type LiveSet = SetMeta & { elements: Set<string> };

/** A model that changes in place, element by element. */
export class LiveModel {
  readonly chains = new Map<string, NftChain>();
  readonly sets = new Map<string, LiveSet>();

  static of(m: NftModel | undefined): LiveModel {
    const live = new LiveModel();
    for (const [k, c] of m?.chains ?? []) live.chains.set(k, c);
    for (const [k, s] of m?.sets ?? []) live.sets.set(k, { ...s, elements: new Set(s.elements) });
    return live;
  }

  get empty(): boolean {
    return this.chains.size === 0 && this.sets.size === 0;
  }

  has(family: Family): boolean {
    for (const x of [...this.chains.values(), ...this.sets.values()]) if (x.family === family) return true;
    return false;
  }

  snapshot(): NftModel {
    const sets = new Map<string, NftSet>();
    for (const [k, s] of this.sets) sets.set(k, { ...s, elements: [...s.elements].sort() });
    return { chains: new Map(this.chains), sets };
  }
}

/** What turns one model into another; element lists hold only real changes. */
export interface ModelDelta {
  addedSets: Set<string>;
  removedSets: Set<string>;
  addedChains: Set<string>;
  removedChains: Set<string>;
  /** Chains in both models whose rules differ (by comment, which is all a listed rule keeps). */
  changedChains: Set<string>;
  addedElements: Map<string, Set<string>>;
  removedElements: Map<string, Set<string>>;
}

export const emptyDelta = (): ModelDelta => ({
  addedSets: new Set(), removedSets: new Set(), addedChains: new Set(), removedChains: new Set(), changedChains: new Set(),
  addedElements: new Map(), removedElements: new Map(),
});

/**
 * Rules compare by their comments: nft lists a rule in its own normal form, not in the text we
 * loaded, and in a shape's chains (named by a hash of their rules) the comments (filter path and
 * priority) tell our rules apart. A foreign edit of a rule's body that keeps its comment is not seen.
 */
export const sameRules = (a: readonly NftRule[], b: readonly NftRule[]) => a.length === b.length && a.every((r, i) => r.comment === b[i]!.comment);

/** The whole difference between two models (linear in their size; a change uses its own delta). */
export function modelDelta(from: LiveModel, to: LiveModel): ModelDelta {
  const d = emptyDelta();
  for (const [k, c] of to.chains) {
    const old = from.chains.get(k);
    if (!old) d.addedChains.add(k);
    else if (!sameRules(old.rules, c.rules)) d.changedChains.add(k);
  }
  for (const k of from.chains.keys()) if (!to.chains.has(k)) d.removedChains.add(k);
  for (const [k, s] of to.sets) {
    const old = from.sets.get(k);
    if (!old) d.addedSets.add(k);
    const added = [...s.elements].filter((e) => !old?.elements.has(e));
    if (added.length > 0) d.addedElements.set(k, new Set(added));
    const removed = old ? [...old.elements].filter((e) => !s.elements.has(e)) : [];
    if (removed.length > 0) d.removedElements.set(k, new Set(removed));
  }
  for (const k of from.sets.keys()) if (!to.sets.has(k)) d.removedSets.add(k);
  return d;
}

/** Counts for tests and reports: rules, chains, set elements. */
export function modelSize(m: NftModel | LiveModel): { rules: number; chains: number; elements: number } {
  let rules = 0;
  for (const c of m.chains.values()) rules += c.rules.length;
  let elements = 0;
  for (const s of m.sets.values()) elements += s.elements instanceof Set ? s.elements.size : s.elements.length;
  return { rules, chains: m.chains.size, elements };
}
