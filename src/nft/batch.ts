// A batch: the commands of one nft transaction, as values. Planning makes one, the client renders
// it (the only place nft text is written) and loads it as ONE transaction, and applyBatch says
// what a ruleset becomes under it — the executor's new kernel model, and the fake's whole job.
import { VirtwallError } from '../errors.js';
import { CowMap, type CowEdit } from '../util/cow-map.js';
import { elementJson, elementText, exprText, ruleText, statementJson, typeNames, type Element } from './expr.js';
import {
  objectKey,
  type Family,
  type Json,
  type KernelStatement,
  type NftChain,
  type NftRule,
  type Ruleset,
  type SetDecl,
  type SetMeta,
} from './objects.js';

export interface ObjectRef {
  family: Family;
  name: string;
}

export type Command =
  | { verb: 'add' | 'delete'; table: Family }
  | { verb: 'add'; chain: Omit<NftChain, 'rules'> }
  | { verb: 'flush' | 'delete'; chain: ObjectRef }
  /** `add` appends the rule to its chain, `insert` puts it at the head. */
  | { verb: 'add' | 'insert'; rule: NftRule; chain: ObjectRef }
  /** The rule of that handle (NftRule.handle of a listed rule). */
  | { verb: 'delete'; handle: number; chain: ObjectRef }
  | { verb: 'add'; set: SetMeta }
  | { verb: 'delete'; set: ObjectRef & { kind: 'set' | 'map' } }
  | {
      verb: 'add' | 'delete';
      elements: readonly Element[];
      set: ObjectRef;
      /**
       * The same elements by their text, when the planner holds them so: a set that has none
       * takes this map as it is (applyBatch), instead of a copy of 10,000 elements.
       */
      keyed?: CowMap<Element>;
    };

export type Batch = readonly Command[];

const declText = (d: SetDecl) => {
  const keyText = 'typeof' in d.key ? `typeof ${exprText(d.key.typeof)}` : `type ${d.key.type}`;
  return [
    `${keyText}${d.value ? ` : ${d.value}` : ''};`,
    ...(d.size !== undefined ? [`size ${d.size};`] : []),
    ...(d.flags?.length ? [`flags ${d.flags.join(',')};`] : []),
  ].join(' ');
};

/** One command in nft's syntax, in table `table`. */
function renderCommand(c: Command, table: string): string {
  if ('table' in c) return `${c.verb} table ${c.table} ${table}`;
  if ('rule' in c) return `${c.verb} rule ${c.chain.family} ${table} ${c.chain.name} ${nftRuleText(c.rule)}`;
  if ('handle' in c) return `delete rule ${c.chain.family} ${table} ${c.chain.name} handle ${c.handle}`;
  if ('elements' in c)
    return `${c.verb} element ${c.set.family} ${table} ${c.set.name} { ${c.elements.map(elementText).join(', ')} }`;
  if ('chain' in c) {
    const at = `${c.chain.family} ${table} ${c.chain.name}`;
    if (c.verb !== 'add' || !('hook' in c.chain) || !c.chain.hook) return `${c.verb} chain ${at}`;
    const h = c.chain.hook;
    return `add chain ${at} { type ${h.type} hook ${h.hook} priority ${h.priority}; policy ${h.policy}; }`;
  }
  if (c.verb === 'add' && 'decl' in c.set)
    return `add ${c.set.kind} ${c.set.family} ${table} ${c.set.name} { ${declText(c.set.decl)} }`;
  return `delete ${'kind' in c.set ? c.set.kind : 'set'} ${c.set.family} ${table} ${c.set.name}`;
}

/** Rules are values nothing changes, and one is rendered many times (shapes, batches, comparisons): each once. */
const ruleTexts = new WeakMap<NftRule, string>();

/** A rule as `add rule ... CHAIN` continues: statements, then the comment. */
export function nftRuleText(r: NftRule): string {
  let text = ruleTexts.get(r);
  if (text === undefined) {
    text = ruleText(r.statements, r.comment);
    ruleTexts.set(r, text);
  }
  return text;
}

/** The batch as an nft script (empty for an empty batch). */
export function renderBatch(batch: Batch, table: string): string {
  return batch.map((c) => `${renderCommand(c, table)}\n`).join('');
}

/** The declaration text of a set, as the shape of a compiled port records it. */
export const setDeclText = declText;

/** A set's declaration in nft's JSON (as `nft -j list` shows it: key types by name). */
export function setDeclJson(d: SetDecl): Record<string, Json> {
  const types = 'typeof' in d.key ? typeNames(d.key.typeof) : d.key.type.split(' . ');
  return {
    type: types.length === 1 ? types[0]! : types,
    ...(d.value ? { map: d.value } : {}),
    ...(d.flags?.length ? { flags: [...d.flags] } : {}),
    ...(d.size !== undefined ? { size: d.size } : {}),
  };
}

/** One command in nft's JSON, in table `table`. */
function commandJson(c: Command, table: string): Json {
  if ('table' in c) return { [c.verb]: { table: { family: c.table, name: table } } };
  if ('rule' in c) {
    const comment: Record<string, Json> = c.rule.comment ? { comment: c.rule.comment } : {};
    return {
      [c.verb]: {
        rule: {
          family: c.chain.family,
          table,
          chain: c.chain.name,
          expr: c.rule.statements.map(statementJson),
          ...comment,
        },
      },
    };
  }
  if ('handle' in c)
    return { delete: { rule: { family: c.chain.family, table, chain: c.chain.name, handle: c.handle } } };
  if ('elements' in c)
    return {
      [c.verb]: { element: { family: c.set.family, table, name: c.set.name, elem: c.elements.map(elementJson) } },
    };
  if ('chain' in c) {
    const h = c.verb === 'add' && 'hook' in c.chain ? c.chain.hook : undefined;
    const hook: Record<string, Json> = h ? { type: h.type, hook: h.hook, prio: h.priority, policy: h.policy } : {};
    return { [c.verb]: { chain: { family: c.chain.family, table, name: c.chain.name, ...hook } } };
  }
  const kind = 'kind' in c.set ? c.set.kind : 'set';
  const decl = c.verb === 'add' && 'decl' in c.set ? setDeclJson(c.set.decl) : {};
  return { [c.verb]: { [kind]: { family: c.set.family, table, name: c.set.name, ...decl } } };
}

/**
 * The batch in nft's JSON, from the same typed commands as its text. nft 1.0.6 cannot create a
 * set keyed by a raw payload from JSON (its JSON has no `typeof`), so batches are loaded as text;
 * this form is what golden files and the comparison with the kernel's listing hold.
 */
export function renderBatchJson(batch: Batch, table: string): Json {
  return { nftables: batch.map((c) => commandJson(c, table)) };
}

/**
 * The ruleset `r` becomes when nft commits `batch`; `bodies` are the kernel's forms of the rules
 * the batch adds, in order (read back by the client), where known. Throws where nft would refuse the
 * batch (an object added twice, a missing one changed), so a plan that nft would refuse fails
 * against the fake too. `r` is not changed: the new ruleset is in CowMaps that share with `r`'s
 * (when they are CowMaps already) all the batch does not touch, so a small batch costs little
 * however large the sets.
 */
export function applyBatch(
  r: Ruleset,
  batch: Batch,
  bodies: readonly (readonly KernelStatement[] | undefined)[] = [],
): Ruleset {
  const chains = cow(r.chains).edit();
  const sets = cow(r.sets).edit();
  /** Edits of the elements of the sets the batch changes, by set key. */
  const edited = new Map<string, CowEdit<Element>>();
  const refuse = (what: string): never => {
    throw new VirtwallError('operation-failed', `nft would refuse the batch: ${what}`);
  };
  const elementsOf = (ref: ObjectRef) => {
    const k = objectKey(ref.family, ref.name);
    const s = sets.get(k) ?? refuse(`no set ${k}`);
    return edited.get(k) ?? edited.set(k, cow(s.elements).edit()).get(k)!;
  };
  const dropSet = (k: string) => {
    edited.delete(k);
    return sets.delete(k);
  };
  let rule = 0;
  for (const c of batch) {
    if ('table' in c) {
      if (c.verb === 'delete') {
        for (const [k, x] of [...chains.entries(), ...sets.entries()])
          if (x.family === c.table) chains.delete(k) || dropSet(k);
      }
    } else if ('rule' in c) {
      const k = objectKey(c.chain.family, c.chain.name);
      const chain = chains.get(k) ?? refuse(`no chain ${k}`);
      const body = bodies[rule++];
      const added = body ? { ...c.rule, body } : c.rule;
      chains.set(k, { ...chain, rules: c.verb === 'insert' ? [added, ...chain.rules] : [...chain.rules, added] });
    } else if ('elements' in c) {
      const k = objectKey(c.set.family, c.set.name);
      if (c.verb === 'add' && c.keyed && !edited.has(k) && (sets.get(k) ?? refuse(`no set ${k}`)).elements.size === 0) {
        edited.set(k, c.keyed.edit());
        continue;
      }
      const es = elementsOf(c.set);
      for (const e of c.elements) {
        const text = elementText(e);
        if (c.verb === 'add') es.set(text, e);
        else if (!es.delete(text)) refuse(`no element ${text} in ${objectKey(c.set.family, c.set.name)}`);
      }
    } else if ('handle' in c) {
      const k = objectKey(c.chain.family, c.chain.name);
      const chain = chains.get(k) ?? refuse(`no chain ${k}`);
      if (!chain.rules.some((x) => x.handle === c.handle)) refuse(`no rule with handle ${c.handle} in ${k}`);
      chains.set(k, { ...chain, rules: chain.rules.filter((x) => x.handle !== c.handle) });
    } else if ('chain' in c) {
      const k = objectKey(c.chain.family, c.chain.name);
      const chain = chains.get(k);
      if (c.verb === 'add') {
        if (!chain) chains.set(k, { ...c.chain, rules: [] });
      } else if (!chain) refuse(`no chain ${k}`);
      else if (c.verb === 'flush') chains.set(k, { ...chain, rules: [] });
      else if (chain.rules.length > 0) refuse(`chain ${k} is not empty`);
      else chains.delete(k);
    } else {
      const k = objectKey(c.set.family, c.set.name);
      if (c.verb === 'add') {
        if (!sets.has(k)) sets.set(k, { ...(c.set as SetMeta), elements: CowMap.empty() });
      } else if (!dropSet(k)) refuse(`no set ${k}`);
    }
  }
  for (const [k, es] of edited) sets.set(k, { ...sets.get(k)!, elements: es.done() });
  return { chains: chains.done(), sets: sets.done() };
}

/** `m` as a CowMap: itself, or a copy of it (once: what applyBatch returns is one already). */
const cow = <V>(m: ReadonlyMap<string, V>): CowMap<V> => (m instanceof CowMap ? m : CowMap.of(m));
