// nftables objects as values: the chains (with their hooks), rules, sets and maps of one table,
// keyed by family and name. What we load and what the kernel lists are both held in these types,
// so a plan compares values, and text exists only where a batch is rendered (batch.ts).
import { elementText, type Element, type Expr, type Statement as RuleStatement } from './expr.js';

export type Family = 'bridge' | 'inet' | 'ip' | 'ip6' | 'arp' | 'netdev';

/** JSON as nft reads and writes it (`nft -j`). */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json };

/**
 * One statement of a rule as the kernel holds it, in nft's JSON schema: an object with one key
 * naming the statement (`{"match": {...}}`, `{"counter": {...}}`, `{"jump": {...}}`).
 */
export type KernelStatement = { readonly [kind: string]: Json };
/** The name the network firewall's code (global-firewall.ts) imports KernelStatement by. */
export type Statement = KernelStatement;

export interface Hook {
  type: 'filter' | 'nat';
  hook: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
  priority: number;
  policy: 'accept' | 'drop';
}

export interface NftRule {
  /** The rule's statements (what the compiler builds); none for a rule read from the kernel. */
  statements: readonly RuleStatement[];
  comment: string;
  /**
   * The rule as the kernel holds it (counters zeroed): known for rules listed from the kernel
   * or read back after loading them; what rules compare by, with the comment.
   */
  body?: readonly KernelStatement[];
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
  key: { typeof: Expr } | { type: string };
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
  elements: readonly Element[];
}

/** A set's elements by their text (elementText): the text is the key, the typed value the element. */
export type Elements = ReadonlyMap<string, Element>;

export type RulesetSet = SetMeta & { elements: Elements };

/** Elements keyed as a ruleset keeps them. */
export function elementsOf(es: Iterable<Element>): Map<string, Element> {
  const out = new Map<string, Element>();
  for (const e of es) out.set(elementText(e), e);
  return out;
}

/**
 * The objects of our tables (one name, several families), keyed by objectKey(). A value: the executor
 * and the fake make a new one for every batch (batch.ts), and nothing changes one in place.
 */
export interface Ruleset {
  chains: ReadonlyMap<string, NftChain>;
  sets: ReadonlyMap<string, RulesetSet>;
}

/** How a ruleset keys its objects. */
export const objectKey = (family: Family, name: string) => `${family} ${name}`;

export const emptyRuleset = (): Ruleset => ({ chains: new Map(), sets: new Map() });

export const hasFamily = (r: Ruleset, family: Family) =>
  [...r.chains.values(), ...r.sets.values()].some((x) => x.family === family);
