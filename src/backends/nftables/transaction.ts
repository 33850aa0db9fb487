// One change = one nft transaction, with no window in which a packet sees part of the old
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
// maps, chains and sets, so those stay until the NEXT change deletes them ("garbage"), as do
// the elements a port leaves behind in the sets of a shape it moved away from; chains going out
// of use are flushed at once, which empties only their next-generation rules. Entries of new
// ports may point at new chains (before the transaction those ports had no filter), and entries
// moving to chains that exist unchanged are switched in place: an old-generation packet that
// finds the new entry runs a complete chain. A change that only edits elements (parameters,
// ports joining or leaving a shape) stays a small element edit; a packet may then see some
// sets before and some after the flip, as with any nft element update.
import { generationOf } from './compile.js';
import type { PortLedger } from './ledger.js';
import { FAMILIES, key, sameRules, TABLE, type LiveModel, type ModelDelta, type NftChain } from './model.js';

/** What the kernel still holds only for packets of the previous generation. */
export interface Garbage {
  sets: Set<string>;
  chains: Set<string>;
  elements: Map<string, Set<string>>;
}

export const noGarbage = (): Garbage => ({ sets: new Set(), chains: new Set(), elements: new Map() });

export interface Transaction {
  /** The nft script (empty when nothing changes). */
  script: string;
  /** What the kernel holds only for the previous generation once the script is applied. */
  garbage: Garbage;
  /** Brings the kernel mirror to what the applied script left. */
  commit(kernel: LiveModel): void;
}

/** A set element's port: its first part (`"vnet0"`, or a port mark in the inet table). */
const portKeyOf = (element: string) => element.slice(0, element.indexOf(' ') >>> 0);
const isShapeSet = (setKey: string) => /^\S+ s[0-9a-f]+_/.test(setKey);
const familyOf = (k: string) => k.slice(0, k.indexOf(' ')) as NftChain['family'];
const nameOf = (k: string) => k.slice(k.indexOf(' ') + 1);
const jumpTarget = (element: string) => / : jump (\S+)$/.exec(element)?.[1];

/**
 * The transaction that moves the kernel (`kernel`, still holding `garbage` from the previous
 * change) to the ledger's model, given what changed (`delta`: the ledger's own, or modelDelta
 * of the whole models after a restart). May move the ledger's dispatch maps to a new generation.
 */
export function planTransaction(kernel: LiveModel, garbage: Garbage, ledger: PortLedger, delta: ModelDelta): Transaction {
  const lines: string[] = [];
  const effects: ((k: LiveModel) => void)[] = [];
  const emit = (line: string, effect: (k: LiveModel) => void) => {
    lines.push(line);
    effects.push(effect);
  };
  const finish = (next: Garbage): Transaction => ({
    script: lines.length > 0 ? lines.join('\n') + '\n' : '',
    garbage: next,
    commit: (k) => effects.forEach((f) => f(k)),
  });
  const desired = ledger.model;

  if (desired.empty) {
    for (const fam of FAMILIES) if (kernel.has(fam)) emit(`delete table ${fam} ${TABLE}`, (k) => clearFamily(k, fam));
    return finish(noGarbage());
  }

  const isDispatch = (k: string) => desired.sets.get(k)?.kind === 'map' && generationOf(nameOf(k)) === ledger.generation;
  // Chains whose rules this transaction writes: new ones, and existing ones whose rules differ
  // (a repair, or a shape coming back whose chains were flushed when it went out of use).
  const created = [...delta.addedChains].filter((k) => !kernel.chains.has(k));
  const rewritten = [...new Set([...delta.addedChains, ...delta.changedChains])]
    .filter((k) => kernel.chains.has(k) && desired.chains.has(k) && !sameRules(kernel.chains.get(k)!.rules, desired.chains.get(k)!.rules));
  const written = new Set([...created, ...rewritten]);
  // Ports whose existing entry moves to another chain, and whether one moves to a new chain.
  const moved = new Set<string>();
  let swap = false;
  for (const [k, added] of delta.addedElements) {
    const removed = delta.removedElements.get(k);
    if (!removed || !isDispatch(k)) continue;
    const before = new Set([...removed].map(portKeyOf));
    for (const e of added) {
      if (!before.has(portKeyOf(e))) continue;
      moved.add(portKeyOf(e));
      if (written.has(key(familyOf(k), jumpTarget(e)!))) swap = true;
    }
  }
  const next = noGarbage();
  const oldMaps = swap ? [...desired.sets.keys()].filter(isDispatch) : [];
  if (swap) {
    ledger.renameDispatch(ledger.generation + 1);
    for (const k of oldMaps) next.sets.add(k);
  }
  const newMaps = swap ? [...desired.sets.keys()].filter(isDispatch) : [];
  const skipElements = (k: string) => oldMaps.includes(k);

  for (const fam of FAMILIES) if (desired.has(fam) && !kernel.has(fam)) emit(`add table ${fam} ${TABLE}`, () => undefined);
  for (const k of [...delta.addedSets, ...newMaps]) {
    const s = desired.sets.get(k);
    if (!s || kernel.sets.has(k)) continue;
    emit(`add ${s.kind} ${s.family} ${TABLE} ${s.name} { ${s.decl} }`, (m) => m.sets.set(k, { ...s, elements: new Set() }));
  }
  const refill = rewritten;
  if (swap) for (const [k, c] of desired.chains) if (c.hook && !refill.includes(k)) refill.push(k);
  for (const k of created) {
    const c = desired.chains.get(k)!;
    emit(`add chain ${c.family} ${TABLE} ${c.name}${c.hook ? ` { ${c.hook} }` : ''}`, (m) => m.chains.set(k, { ...c, rules: [] }));
  }
  for (const k of refill) emit(`flush chain ${familyOf(k)} ${TABLE} ${nameOf(k)}`, (m) => m.chains.set(k, { ...m.chains.get(k)!, rules: [] }));
  for (const k of [...created, ...refill]) {
    const c = desired.chains.get(k)!;
    for (const r of c.rules) lines.push(`add rule ${c.family} ${TABLE} ${c.name} ${r.text}`);
    effects.push((m) => m.chains.set(k, c));
  }

  // Elements: removals first (an entry switched in place is deleted, then added).
  const removals = new Map<string, string[]>();
  const additions = new Map<string, string[]>();
  const push = (m: Map<string, string[]>, k: string, e: string) => (m.get(k) ?? m.set(k, []).get(k)!).push(e);
  for (const [k, es] of delta.removedElements) {
    if (!desired.sets.has(k) || skipElements(k)) continue;
    for (const e of es) {
      if (!kernel.sets.get(k)?.elements.has(e)) continue;
      if (isShapeSet(k) && moved.has(portKeyOf(e))) (next.elements.get(k) ?? next.elements.set(k, new Set()).get(k)!).add(e);
      else push(removals, k, e);
    }
  }
  for (const [k, es] of delta.addedElements) {
    if (skipElements(k)) continue;
    for (const e of es) if (!kernel.sets.get(k)?.elements.has(e)) push(additions, k, e);
  }
  for (const k of newMaps) additions.set(k, [...desired.sets.get(k)!.elements]);
  // Garbage of the previous change: elements nobody wants again, and revived sets' stale ones.
  for (const [k, es] of garbage.elements) {
    const want = desired.sets.get(k);
    if (!want) continue;
    for (const e of es) if (!want.elements.has(e) && kernel.sets.get(k)?.elements.has(e)) push(removals, k, e);
  }
  for (const k of garbage.sets) {
    const want = desired.sets.get(k);
    if (want) for (const e of kernel.sets.get(k)?.elements ?? []) if (!want.elements.has(e)) push(removals, k, e);
  }
  const elementLines = (verb: 'add' | 'delete', m: Map<string, string[]>) => {
    for (const [k, es] of m) {
      if (es.length === 0) continue;
      emit(`${verb} element ${familyOf(k)} ${TABLE} ${nameOf(k)} { ${[...new Set(es)].join(', ')} }`, (model) => {
        const s = model.sets.get(k)!;
        for (const e of es) if (verb === 'add') s.elements.add(e);
        else s.elements.delete(e);
      });
    }
  };
  elementLines('delete', removals);
  elementLines('add', additions);

  // What the previous generation no longer needs: maps (they hold the jumps), chains, sets.
  const goneSets = [...garbage.sets].filter((k) => !desired.sets.has(k) && kernel.sets.has(k));
  const goneChains = [...garbage.chains].filter((k) => !desired.chains.has(k) && kernel.chains.has(k));
  const deleteSets = (kind: 'map' | 'set') => {
    for (const k of goneSets.filter((x) => kernel.sets.get(x)!.kind === kind)) emit(`delete ${kind} ${familyOf(k)} ${TABLE} ${nameOf(k)}`, (m) => m.sets.delete(k));
  };
  deleteSets('map');
  for (const k of goneChains) if (kernel.chains.get(k)!.rules.length > 0) emit(`flush chain ${familyOf(k)} ${TABLE} ${nameOf(k)}`, () => undefined);
  for (const k of goneChains) emit(`delete chain ${familyOf(k)} ${TABLE} ${nameOf(k)}`, (m) => m.chains.delete(k));
  deleteSets('set');
  // A table left with nothing the model wants goes once its last garbage does.
  const going = new Set([...goneSets, ...goneChains]);
  for (const fam of FAMILIES) {
    if (desired.has(fam) || !kernel.has(fam)) continue;
    if ([...kernel.chains, ...kernel.sets].every(([k, x]) => x.family !== fam || going.has(k))) emit(`delete table ${fam} ${TABLE}`, (m) => clearFamily(m, fam));
  }

  // What this change takes out of use stays for the previous generation until the next change;
  // chains are flushed now, which only empties their next-generation rules.
  for (const k of delta.removedChains) {
    if (!kernel.chains.has(k) || desired.chains.has(k)) continue;
    if (kernel.chains.get(k)!.rules.length > 0) emit(`flush chain ${familyOf(k)} ${TABLE} ${nameOf(k)}`, (m) => m.chains.set(k, { ...m.chains.get(k)!, rules: [] }));
    next.chains.add(k);
  }
  for (const k of delta.removedSets) if (kernel.sets.has(k) && !desired.sets.has(k)) next.sets.add(k);
  return finish(next);
}

function clearFamily(m: LiveModel, fam: string): void {
  for (const [k, x] of [...m.chains, ...m.sets]) if (x.family === fam) {
    m.chains.delete(k);
    m.sets.delete(k);
  }
}

/** The generation of the newest dispatch maps in a model (1 when there are none). */
export function generationIn(m: LiveModel): number {
  let gen = 1;
  for (const s of m.sets.values()) if (s.kind === 'map') gen = Math.max(gen, generationOf(s.name) ?? 1);
  return gen;
}
