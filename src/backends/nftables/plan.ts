// Planning: one change = one nft batch (one kernel transaction), with no window in which a packet sees part of the old
// state and part of the new one in a way that lets it pass unfiltered. Kernel facts this rests
// on (net/netfilter/nf_tables_api.c, nf_tables_core.c):
//
// - The commit builds every changed chain's next-generation rule blob, then flips the generation
//   bit. nft_do_chain reads that bit ONCE per hook traversal and takes every chain it jumps to
//   in that generation; a chain created in the transaction has an EMPTY blob in the old one.
// - Set and map lookups test an element's generation mask at lookup time. So a packet that
//   entered before the flip can, after it, find an element added by the transaction.
// - Deleting a map deactivates its elements for the next generation (nft_delset ->
//   nft_map_deactivate -> nft_mapelem_deactivate), and a chain cannot go while an element jumps
//   to it.
//
// Hence a port's existing dispatch entry is never pointed at a chain whose rules the same
// transaction writes (an old-generation packet would find the entry and run the chain empty):
// the change loads complete dispatch maps of the next generation instead and points the hooked
// chains (whose rules switch with the generation) at them. Old-generation packets keep the old
// maps, chains and sets, so those stay until the NEXT change deletes them ("garbage"; the
// backend makes an empty change for it a second later, backend.ts GARBAGE_DELAY_MS), as do
// the elements a port leaves behind in the sets of a shape it moved away from (shapes holding
// the same rule share its sets, compile.ts nameSets: where its new shape puts values of its own
// in such a set, the old ones go at once, as with any change of values); chains going out
// of use are flushed at once, which empties only their next-generation rules. Entries of new
// ports may point at new chains (before the transaction those ports had no filter), and entries
// moving to chains that exist unchanged are switched in place: an old-generation packet that
// finds the new entry runs a complete chain. A change that only edits elements (parameters,
// ports joining or leaving a shape) stays a small element edit; a packet may then see some
// sets before and some after the flip, as with any nft element update.
//
// Ports of the main shape (compile.ts MainShape) are elements of its set, which a rule after
// the map looks up; the map's entries `goto`, so a port found there never reaches that rule.
// A port moving from the map into the main set is deleted from the one and added to the other:
// a packet looks in the map first, so either it finds the old entry, or it finds the map
// without it and then the set with it. One moving out of the main set into the map keeps its
// element in the set until the next change (the map's new entry comes first for packets that
// see it). A port moving into a main set the kernel does not hold yet (a new main shape: the
// hooked chain's rule for it exists only in the next generation) switches the generation.
//
// Everything here is a value: planBatch(kernel model, desired ledger, delta) -> Plan (the batch,
// the garbage it leaves, and the desired ledger as the batch loads it, its dispatch maps renamed
// when the batch switches generation); afterBatch says what the kernel model becomes once the
// batch is loaded. Nothing is changed in place, so a batch that is never loaded leaves nothing
// to undo.
import { applyBatch, type Batch, type Command } from '../../nft/batch.js';
import { CowMap } from '../../util/cow-map.js';
import { renameRefs, valueText, type Element } from '../../nft/expr.js';
import { hasFamily, objectKey, type Family, type KernelStatement, type Ruleset } from '../../nft/objects.js';
import { dispatchTarget, generationOf, isMainSet } from './compile.js';
import type { PortLedger } from './ledger.js';
import { FAMILIES, type ModelDelta, type RuleBodies } from './model.js';

/** What the kernel still holds only for packets of the previous generation. */
export interface Garbage {
  sets: ReadonlySet<string>;
  chains: ReadonlySet<string>;
  elements: ReadonlyMap<string, ReadonlyMap<string, Element>>;
}

export const noGarbage = (): Garbage => ({ sets: new Set(), chains: new Set(), elements: new Map() });

/**
 * What the kernel holds of our tables, as a value: its ruleset, and what of it is kept only for
 * packets of the previous generation (deleted by the next batch). The executor makes a new one
 * for every batch loaded (afterBatch).
 */
export interface KernelModel {
  ruleset: Ruleset;
  garbage: Garbage;
}

export const kernelModel = (ruleset: Ruleset): KernelModel => ({ ruleset, garbage: noGarbage() });

/** A plan: a value, computed from the kernel's state and the desired one, changing neither. */
export interface Plan {
  batch: Batch;
  /** What the kernel holds only for the previous generation once the batch is loaded. */
  garbage: Garbage;
  /**
   * The desired model the batch loads: the ledger planned for, with its dispatch maps under
   * the generation the batch loads them in (the next one, or the ledger's own).
   */
  desired: PortLedger;
}

/** A set element's port: its key's first part (`"vnet0"`, or a port mark in the inet table), as text. */
export const portKeyOf = (e: Element) => valueText(e.key.kind === 'concat' ? e.key.parts[0]! : e.key);

/** The family and name of the object keyed `k` in the first of `models` that has it. */
function refIn(k: string, ...models: Ruleset[]): { family: Family; name: string } {
  for (const m of models) {
    const x = m.chains.get(k) ?? m.sets.get(k);
    if (x) return { family: x.family, name: x.name };
  }
  throw new Error(`no object ${k} in the models planned from`);
}

/**
 * The batch that moves the kernel (`model`, with the garbage of the previous change) to the
 * ledger's model, given what changed (`delta`: the ledger's own, or modelDelta of the whole
 * models after a restart). It may load the dispatch maps under the next generation
 * (Plan.desired). Changes none of its arguments.
 */
export function planBatch(model: KernelModel, ledger: PortLedger, delta: ModelDelta, bodies: RuleBodies): Plan {
  const { ruleset: kernel, garbage } = model;
  const batch: Command[] = [];
  const current = ledger.model;

  if (current.chains.size === 0 && current.sets.size === 0) {
    for (const fam of FAMILIES) if (hasFamily(kernel, fam)) batch.push({ verb: 'delete', table: fam });
    return { batch, garbage: noGarbage(), desired: ledger };
  }

  // dispatch objects of a generation, by key: the maps, and the main shape's sets (compile.ts
  // MainShape); by name, as a main set this change takes out of use is no longer in the ledger's model
  const isDispatch = (gen: number) => (k: string) => generationOf(k.slice(k.indexOf(' ') + 1)) === gen;
  // Chains whose rules this transaction writes: new ones, and existing ones whose rules differ
  // (a repair, or a shape coming back whose chains were flushed when it went out of use).
  const created = [...delta.addedChains].filter((k) => !kernel.chains.has(k));
  const rewritten = [...new Set([...delta.addedChains, ...delta.changedChains])].filter(
    (k) =>
      kernel.chains.has(k) &&
      current.chains.has(k) &&
      !bodies.same(kernel.chains.get(k)!.rules, current.chains.get(k)!.rules),
  );
  const written = new Set([...created, ...rewritten]);
  // Ports whose existing entry moves (to another chain, or between a map and a main set), and
  // whether one moves to a chain this transaction writes or into a set the kernel lacks (a new
  // main shape's, whose rule the hooked chain has only in the next generation).
  const dispatchNow = isDispatch(ledger.generation);
  const left = new Set<string>();
  for (const [k, removed] of delta.removedElements)
    if (dispatchNow(k)) for (const e of removed.values()) left.add(portKeyOf(e));
  const moved = new Set<string>();
  let swap = false;
  for (const [k, added] of delta.addedElements) {
    if (left.size === 0 || !dispatchNow(k)) continue;
    const s = current.sets.get(k)!;
    for (const e of added.values()) {
      if (!left.has(portKeyOf(e))) continue;
      moved.add(portKeyOf(e));
      if (!kernel.sets.has(k) || written.has(objectKey(s.family, dispatchTarget(s.name, e)!))) swap = true;
    }
  }
  const generation = swap ? ledger.generation + 1 : ledger.generation;
  const target = ledger.renamed(generation);
  const desired = target.model;
  const refOf = (k: string) => refIn(k, desired, kernel);
  const kept = {
    sets: new Set<string>(),
    chains: new Set<string>(),
    elements: new Map<string, Map<string, Element>>(),
  };
  const shapeSets = ledger.shapeSets();
  const oldMaps = swap ? [...current.sets.keys()].filter(dispatchNow) : [];
  for (const k of oldMaps) kept.sets.add(k);
  const newMaps = swap ? [...desired.sets.keys()].filter(isDispatch(generation)) : [];
  const skipElements = (k: string) => oldMaps.includes(k);

  for (const fam of FAMILIES)
    if (hasFamily(desired, fam) && !hasFamily(kernel, fam)) batch.push({ verb: 'add', table: fam });
  // objects go in by key, so a change and a whole resync (whose deltas list them in other orders)
  // leave the same table behind: nft lists a table's sets and chains in the order they were added
  for (const k of [...new Set([...delta.addedSets, ...newMaps])].sort()) {
    const s = desired.sets.get(k);
    if (!s || kernel.sets.has(k)) continue;
    batch.push({ verb: 'add', set: { family: s.family, name: s.name, kind: s.kind, decl: s.decl } });
  }
  const refill = rewritten;
  // (a hooked chain this batch creates, as the first port with IP rules brings the inet hooks, is filled once)
  if (swap)
    for (const [k, c] of desired.chains) if (c.hook && kernel.chains.has(k) && !refill.includes(k)) refill.push(k);
  created.sort();
  for (const k of created) {
    const { rules: _r, ...c } = desired.chains.get(k)!;
    batch.push({ verb: 'add', chain: c });
  }
  // The sets and chains the rules written refer to that the kernel holds already (the sets a new
  // shape shares with others) are declared again, which changes nothing: the client reads the
  // rules' kernel form back from a scratch table holding the batch's objects alone (client.ts).
  const referred = new Set<string>();
  for (const k of [...created, ...refill]) {
    const c = desired.chains.get(k)!;
    // (renameRefs visits every name a rule refers to)
    for (const r of c.rules)
      renameRefs(r.statements, (name) => {
        referred.add(objectKey(c.family, name));
        return name;
      });
  }
  for (const k of [...referred].sort()) {
    // (what the kernel lacks, the batch has added above)
    if (!kernel.sets.has(k) && !kernel.chains.has(k)) continue;
    const s = desired.sets.get(k);
    if (s) batch.push({ verb: 'add', set: { family: s.family, name: s.name, kind: s.kind, decl: s.decl } });
    else if (desired.chains.has(k)) batch.push({ verb: 'add', chain: refOf(k) });
  }
  for (const k of refill) batch.push({ verb: 'flush', chain: refOf(k) });
  for (const k of [...created, ...refill]) {
    const c = desired.chains.get(k)!;
    for (const rule of c.rules) batch.push({ verb: 'add', chain: refOf(k), rule });
  }

  // Elements: removals first (an entry switched in place is deleted, then added). A moving port
  // keeps its values in the sets of the shape it leaves (unless its new shape puts values of its
  // own there: in a set both shapes hold, those would count for the new one too), and its entry in the main set it leaves
  // (the map's entry, which packets of the next generation find first, goes to its new chains),
  // for packets of the previous generation.
  const removals = new Map<string, Map<string, Element>>();
  const additions = new Map<string, ReadonlyMap<string, Element>>();
  const push = (m: Map<string, Map<string, Element>>, k: string, text: string, e: Element) =>
    (m.get(k) ?? m.set(k, new Map()).get(k)!).set(text, e);
  for (const [k, es] of delta.removedElements) {
    if (!desired.sets.has(k) || skipElements(k)) continue;
    // ports with values in the set now (built only for a set a moving port left values in)
    let holding: Set<string> | undefined;
    const keeps = (port: string) => {
      if (isMainSet(desired.sets.get(k)!.name)) return true;
      if (!shapeSets.has(k)) return false;
      holding ??= new Set([...desired.sets.get(k)!.elements.values()].map(portKeyOf));
      return !holding.has(port);
    };
    for (const [text, e] of es) {
      if (!kernel.sets.get(k)?.elements.has(text)) continue;
      const port = portKeyOf(e);
      if (moved.has(port) && keeps(port)) push(kept.elements, k, text, e);
      else push(removals, k, text, e);
    }
  }
  for (const [k, es] of delta.addedElements) {
    if (skipElements(k) || !desired.sets.has(k)) continue;
    const held = kernel.sets.get(k)?.elements;
    // a set the kernel does not hold yet gets every element the change added (a new shape's 10,000)
    if (!held) additions.set(k, es);
    else {
      const fresh = new Map([...es].filter(([text]) => !held.has(text)));
      if (fresh.size > 0) additions.set(k, fresh);
    }
  }
  for (const k of newMaps) additions.set(k, desired.sets.get(k)!.elements);
  // Garbage of the previous change: elements nobody wants again, and revived sets' stale ones.
  for (const [k, es] of garbage.elements) {
    const want = desired.sets.get(k);
    if (!want) continue;
    for (const [text, e] of es)
      if (!want.elements.has(text) && kernel.sets.get(k)?.elements.has(text)) push(removals, k, text, e);
  }
  for (const k of garbage.sets) {
    const want = desired.sets.get(k);
    if (want)
      for (const [text, e] of kernel.sets.get(k)?.elements ?? [])
        if (!want.elements.has(text)) push(removals, k, text, e);
  }
  const elements = (verb: 'add' | 'delete', m: ReadonlyMap<string, ReadonlyMap<string, Element>>) => {
    for (const [k, es] of m)
      if (es.size > 0)
        batch.push({ verb, set: refOf(k), elements: [...es.values()], ...(es instanceof CowMap && { keyed: es }) });
  };
  elements('delete', removals);
  elements('add', additions);

  // What the previous generation no longer needs: maps (they hold the jumps), chains, sets.
  const goneSets = [...garbage.sets].filter((k) => !desired.sets.has(k) && kernel.sets.has(k));
  const goneChains = [...garbage.chains].filter((k) => !desired.chains.has(k) && kernel.chains.has(k));
  const deleteSets = (kind: 'map' | 'set') => {
    for (const k of goneSets.filter((x) => kernel.sets.get(x)!.kind === kind))
      batch.push({ verb: 'delete', set: { ...refOf(k), kind } });
  };
  deleteSets('map');
  for (const k of goneChains)
    if (kernel.chains.get(k)!.rules.length > 0) batch.push({ verb: 'flush', chain: refOf(k) });
  for (const k of goneChains) batch.push({ verb: 'delete', chain: refOf(k) });
  deleteSets('set');
  // A table left with nothing the model wants goes once its last garbage does.
  const going = new Set([...goneSets, ...goneChains]);
  for (const fam of FAMILIES) {
    if (hasFamily(desired, fam) || !hasFamily(kernel, fam)) continue;
    if ([...kernel.chains, ...kernel.sets].every(([k, x]) => x.family !== fam || going.has(k)))
      batch.push({ verb: 'delete', table: fam });
  }

  // What this change takes out of use stays for the previous generation until the next change;
  // chains are flushed now, which only empties their next-generation rules.
  for (const k of delta.removedChains) {
    if (!kernel.chains.has(k) || desired.chains.has(k)) continue;
    if (kernel.chains.get(k)!.rules.length > 0) batch.push({ verb: 'flush', chain: refOf(k) });
    kept.chains.add(k);
  }
  for (const k of delta.removedSets) if (kernel.sets.has(k) && !desired.sets.has(k)) kept.sets.add(k);
  return { batch, garbage: kept, desired: target };
}

/** The kernel's model once the plan's batch is loaded, the rules it added with the kernel's forms `echoed`. */
export function afterBatch(
  model: KernelModel,
  plan: Plan,
  echoed: readonly (readonly KernelStatement[])[],
): KernelModel {
  return { ruleset: applyBatch(model.ruleset, plan.batch, echoed), garbage: plan.garbage };
}

/** The generation of the newest dispatch objects in a ruleset (1 when there are none). */
export function generationIn(r: Ruleset): number {
  let gen = 1;
  for (const s of r.sets.values()) gen = Math.max(gen, generationOf(s.name) ?? 1);
  return gen;
}
