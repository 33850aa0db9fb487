// nftables objects as values: the chains (with their hooks), rules, sets and maps of one table,
// keyed by family and name. What we load and what the kernel lists are both held in these types,
// so a plan compares values, and text exists only where a batch is rendered (batch.ts).

export type Family = 'bridge' | 'inet' | 'ip' | 'ip6' | 'arp' | 'netdev';

/** JSON as nft reads and writes it (`nft -j`). */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json };

/**
 * One statement of a rule as the kernel holds it, in nft's JSON schema: an object with one key
 * naming the statement (`{"match": {...}}`, `{"counter": {...}}`, `{"jump": {...}}`).
 */
export type Statement = { readonly [kind: string]: Json };

export interface Hook {
  type: 'filter' | 'nat';
  hook: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
  priority: number;
  policy: 'accept' | 'drop';
}

export interface NftRule {
  /** The rule as `add rule` takes it, comment included (what the compiler writes). */
  text: string;
  comment: string;
  /**
   * The rule as the kernel holds it (counters zeroed): known for rules listed from the kernel
   * or read back after loading them; what rules compare by, with the comment (body.ts).
   */
  body?: readonly Statement[];
  /** The kernel's handle of a listed rule (what `delete rule ... handle N` names). */
  handle?: number;
}

export interface NftChain {
  family: Family;
  name: string;
  /** Base chains only. */
  hook?: Hook;
  rules: readonly NftRule[];
}

/** A set's (or map's) declaration. */
export interface SetDecl {
  /** Key type by expression (`iifname . ip saddr`), or by type name(s) (`ifname`, `mark`). */
  key: { typeof: string } | { type: string };
  /** A map's value type (`verdict`, `mark`). */
  value?: string;
  flags?: readonly ('interval' | 'dynamic')[];
  size?: number;
}

export interface SetMeta {
  family: Family;
  name: string;
  kind: 'set' | 'map';
  decl: SetDecl;
}

export interface NftSet extends SetMeta {
  /** Elements as nft writes them (`"vnet0" . 52:54:00:00:00:0a`, `0x76760001 : jump s1_fwd`). */
  elements: readonly string[];
}

export type RulesetSet = SetMeta & { elements: ReadonlySet<string> };

/**
 * The objects of our tables (one name, several families), keyed by key(). A value: the executor
 * and the fake make a new one for every batch (batch.ts), and nothing changes one in place.
 */
export interface Ruleset {
  chains: ReadonlyMap<string, NftChain>;
  sets: ReadonlyMap<string, RulesetSet>;
}

/** How a ruleset keys its objects. */
export const key = (family: Family, name: string) => `${family} ${name}`;

export const emptyRuleset = (): Ruleset => ({ chains: new Map(), sets: new Map() });

export const hasFamily = (r: Ruleset, family: Family) => [...r.chains.values(), ...r.sets.values()].some((x) => x.family === family);
