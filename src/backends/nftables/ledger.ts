// The desired model, kept port by port: each port contributes its shape's chains and sets
// (counted, so a shape stays while a port uses it) and its elements; setting or removing a port
// touches only what that port contributes, and the ledger records it as a delta. So the cost of
// a change does not depend on how many other ports there are. compileModel folds a whole list
// of ports the same way: it is the reference the incremental result is tested against.
import type { PortFilter } from '../../nwfilter/backend.js';
import {
  compilePort,
  dispatchMaps,
  dispatchName,
  LAYOUTS,
  needsOf,
  portElements,
  type CompiledPort,
  type Layout,
  type Needs,
  type StatefulPath,
} from './compile.js';
import { elementText, type Element } from '../../nft/expr.js';
import { objectKey, type NftChain, type SetMeta } from '../../nft/objects.js';
import { emptyDelta, LiveModel, type ModelDelta, type NftModel } from './model.js';

interface PortEntry {
  port: PortFilter;
  compiled: CompiledPort;
  needs: Needs;
  elements: Map<string, Element[]>;
}

const NEEDS = ['ip', 'macFilter'] as const;

export class PortLedger {
  readonly model = new LiveModel();
  private readonly layout: Layout;
  private readonly entries = new Map<string, PortEntry>();
  private readonly shapes = new Map<string, { users: number; chains: NftChain[]; sets: SetMeta[] }>();
  private readonly ids = new Map<string, number>();
  /** How many ports need each part of the layout (see Needs). */
  private readonly users: Record<keyof Needs, number> = { ip: 0, macFilter: 0 };
  private readonly freeIds: number[] = [];
  private nextId = 1;
  private delta = emptyDelta();
  /** Ports compiled here rather than found compiled (in the ledger or in `known`). */
  compiledCount = 0;

  /**
   * `ids`: port ids to keep (those the kernel already uses). `known`: compiled ports by
   * PortFilter.inputsDigest, used instead of compiling a port with that digest and the same id.
   */
  constructor(
    readonly path: StatefulPath,
    private gen: number,
    ids: ReadonlyMap<string, number> = new Map(),
    private readonly known: ReadonlyMap<string, CompiledPort> = new Map(),
  ) {
    this.layout = LAYOUTS[path];
    for (const [n, id] of ids) this.ids.set(n, id);
    this.nextId = Math.max(0, ...ids.values()) + 1;
  }

  get generation(): number {
    return this.gen;
  }

  get size(): number {
    return this.entries.size;
  }

  ports(): PortFilter[] {
    return [...this.entries.values()].map((e) => e.port);
  }

  port(portdev: string): PortFilter | undefined {
    return this.entries.get(portdev)?.port;
  }

  /** Shape of a port (the hash its chains are named by), if it is in the ledger. */
  shapeOf(portdev: string): string | undefined {
    return this.entries.get(portdev)?.compiled.shape;
  }

  idOf(portdev: string): number | undefined {
    return this.ids.get(portdev);
  }

  /** Keys of the sets of the shapes in use (the ones holding ports' values). */
  shapeSets(): Set<string> {
    return new Set([...this.shapes.values()].flatMap((s) => s.sets.map((x) => objectKey(x.family, x.name))));
  }

  /** Ports whose shape has the chain keyed `k` (none for a chain of the layout). */
  portsOfChain(k: string): string[] {
    return [...this.entries.values()]
      .filter((e) => e.compiled.chains.some((c) => objectKey(c.family, c.name) === k))
      .map((e) => e.port.portdev);
  }

  /** Puts a port in (or replaces it); a port that does not compile changes nothing. */
  set(port: PortFilter): void {
    let id = this.ids.get(port.portdev);
    if (id === undefined) {
      id = this.freeIds.at(-1) ?? this.nextId;
      if (id > 0xffff) throw new Error('more than 65535 filtered ports');
    }
    const compiled = this.compiled(port, id);
    if (!this.ids.has(port.portdev)) {
      if (this.freeIds.at(-1) === id) this.freeIds.pop();
      else this.nextId++;
      this.ids.set(port.portdev, id);
    }
    if (this.entries.has(port.portdev)) this.drop(port.portdev, false);
    const shape = this.shapes.get(compiled.shape);
    if (shape) shape.users++;
    else {
      const sets = compiled.sets.map(({ elements: _e, ...meta }) => meta);
      this.shapes.set(compiled.shape, { users: 1, chains: compiled.chains, sets });
      for (const c of compiled.chains) this.addChain(c);
      for (const s of sets) this.addSet(s);
    }
    const needs = needsOf(port, compiled);
    const before = this.needs();
    for (const n of NEEDS) if (needs[n]) this.users[n]++;
    this.entries.set(port.portdev, { port, compiled, needs, elements: new Map() });
    this.relayout(before);
    const elements = portElements(this.layout, port, compiled, this.gen);
    for (const [k, es] of elements) for (const e of es) this.addElement(k, e);
    this.entries.get(port.portdev)!.elements = elements;
  }

  /** A port's compiled form: known for its inputs digest (here or from `known`), or compiled now. */
  private compiled(port: PortFilter, id: number): CompiledPort {
    const digest = port.inputsDigest;
    if (digest !== undefined) {
      const own = this.entries.get(port.portdev);
      const known = own?.port.inputsDigest === digest ? own.compiled : this.known.get(digest);
      if (known && known.id === id && known.portdev === port.portdev) return known;
    }
    this.compiledCount++;
    return compilePort(port, id, this.path);
  }

  /** The compiled form of every digested port, by its inputs digest (for the next ledger, and to keep across restarts). */
  compiledPorts(): Map<string, CompiledPort> {
    const out = new Map<string, CompiledPort>();
    for (const e of this.entries.values())
      if (e.port.inputsDigest !== undefined) out.set(e.port.inputsDigest, e.compiled);
    return out;
  }

  remove(portdev: string): void {
    if (this.entries.has(portdev)) this.drop(portdev, true);
  }

  /** What changed since the last call. */
  takeDelta(): ModelDelta {
    const d = this.delta;
    this.delta = emptyDelta();
    return d;
  }

  /**
   * The dispatch maps under another generation, without moving them: each map's key now and its
   * name then, and the hooked chains naming the maps of that generation.
   */
  dispatchIn(generation: number): { maps: [string, string][]; chains: NftChain[] } {
    const needs = this.needs()!;
    const maps = dispatchMaps(this.layout, this.gen, needs).map((m): [string, string] => [
      objectKey(m.family, m.name),
      dispatchName(m.base, generation),
    ]);
    return { maps, chains: this.layout.chains((base) => dispatchName(base, generation), needs) };
  }

  /**
   * Moves the dispatch maps to another generation (once the kernel holds them there): new names,
   * the same entries, the hooked chains naming the new maps. Not recorded as a delta.
   */
  renameDispatch(generation: number): void {
    const { maps, chains } = this.dispatchIn(generation);
    const renamed = new Map<string, string>();
    for (const [from, to] of maps) {
      const old = this.model.sets.get(from)!;
      this.model.sets.delete(from);
      this.model.sets.set(objectKey(old.family, to), { ...old, name: to });
      renamed.set(from, objectKey(old.family, to));
    }
    for (const e of this.entries.values()) {
      for (const [from, es] of [...e.elements]) {
        const to = renamed.get(from);
        if (!to) continue;
        e.elements.delete(from);
        e.elements.set(to, es);
      }
    }
    this.gen = generation;
    for (const c of chains) this.model.chains.set(objectKey(c.family, c.name), c);
  }

  private drop(portdev: string, forget: boolean): void {
    const entry = this.entries.get(portdev)!;
    for (const [k, es] of entry.elements) for (const e of es) this.removeElement(k, e);
    const before = this.needs();
    for (const n of NEEDS) if (entry.needs[n]) this.users[n]--;
    this.entries.delete(portdev);
    this.relayout(before);
    const shape = this.shapes.get(entry.compiled.shape)!;
    if (--shape.users === 0) {
      this.shapes.delete(entry.compiled.shape);
      for (const c of shape.chains) this.removeChain(objectKey(c.family, c.name));
      for (const s of shape.sets) this.removeSet(objectKey(s.family, s.name));
    }
    if (forget) {
      this.freeIds.push(this.ids.get(portdev)!);
      this.ids.delete(portdev);
    }
  }

  /** What the layout needs now; undefined without ports (then there is no layout at all). */
  private needs(): Needs | undefined {
    return this.entries.size === 0 ? undefined : { ip: this.users.ip > 0, macFilter: this.users.macFilter > 0 };
  }

  /** Moves the layout's sets and chains from what `before` needed to what is needed now. */
  private relayout(before: Needs | undefined): void {
    const after = this.needs();
    if (before?.ip === after?.ip && before?.macFilter === after?.macFilter) return;
    const items = (needs: Needs | undefined) => {
      if (!needs) return { sets: [], chains: [] };
      const map = (base: string) => dispatchName(base, this.gen);
      const dispatch = dispatchMaps(this.layout, this.gen, needs).map(({ base: _b, ...meta }) => meta);
      return { sets: [...this.layout.sets(needs), ...dispatch], chains: this.layout.chains(map, needs) };
    };
    const [old, now] = [items(before), items(after)];
    const keys = (xs: readonly { family: NftChain['family']; name: string }[]) =>
      new Set(xs.map((x) => objectKey(x.family, x.name)));
    const [oldSets, newSets, oldChains] = [keys(old.sets), keys(now.sets), keys(old.chains)];
    for (const s of now.sets) if (!oldSets.has(objectKey(s.family, s.name))) this.addSet(s);
    for (const c of now.chains) {
      const k = objectKey(c.family, c.name);
      if (!oldChains.has(k)) this.addChain(c);
      else {
        this.model.chains.set(k, c);
        if (!this.delta.addedChains.has(k)) this.delta.changedChains.add(k);
      }
    }
    const newChains = keys(now.chains);
    for (const k of oldChains) if (!newChains.has(k)) this.removeChain(k);
    for (const k of oldSets) if (!newSets.has(k)) this.removeSet(k);
  }

  private addChain(c: NftChain): void {
    const k = objectKey(c.family, c.name);
    this.model.chains.set(k, c);
    // Back after going in the same delta: its rules may differ (plan.ts compares them).
    if (this.delta.removedChains.delete(k)) this.delta.changedChains.add(k);
    else this.delta.addedChains.add(k);
  }

  private removeChain(k: string): void {
    this.model.chains.delete(k);
    this.delta.changedChains.delete(k);
    if (!this.delta.addedChains.delete(k)) this.delta.removedChains.add(k);
  }

  private addSet(s: SetMeta): void {
    const k = objectKey(s.family, s.name);
    this.model.sets.set(k, { ...s, elements: new Map() });
    if (!this.delta.removedSets.delete(k)) this.delta.addedSets.add(k);
  }

  private removeSet(k: string): void {
    this.model.sets.delete(k);
    if (!this.delta.addedSets.delete(k)) this.delta.removedSets.add(k);
  }

  private addElement(k: string, e: Element): void {
    const text = elementText(e);
    this.model.sets.get(k)!.elements.set(text, e);
    if (!this.delta.removedElements.get(k)?.delete(text)) note(this.delta.addedElements, k, text, e);
  }

  private removeElement(k: string, e: Element): void {
    const text = elementText(e);
    this.model.sets.get(k)!.elements.delete(text);
    if (!this.delta.addedElements.get(k)?.delete(text)) note(this.delta.removedElements, k, text, e);
  }
}

function note(m: Map<string, Map<string, Element>>, k: string, text: string, e: Element): void {
  if (!m.has(k)) m.set(k, new Map());
  m.get(k)!.set(text, e);
}

/** The complete model for `ports` with port ids from `ids`. */
export function compileModel(
  ports: readonly PortFilter[],
  ids: ReadonlyMap<string, number>,
  path: StatefulPath = 'br_netfilter',
  generation = 1,
): NftModel {
  const ledger = new PortLedger(path, generation, ids);
  for (const p of ports) ledger.set(p);
  return ledger.model.snapshot();
}
