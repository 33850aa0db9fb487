// The desired model, kept port by port: each port contributes its shape's chains and sets
// (counted, so a shape stays while a port uses it) and its elements; setting or removing a port
// touches only what that port contributes, and the ledger records it as a delta. So the cost of
// a change does not depend on how many other ports there are. compileModel folds a whole list
// of ports the same way: it is the reference the incremental result is tested against.
import type { PortFilter } from '../../nwfilter/backend.js';
import {
  compilePort, dispatchMaps, dispatchName, LAYOUTS, portElements, type CompiledPort, type Layout, type StatefulPath,
} from './compile.js';
import { emptyDelta, key, LiveModel, type ModelDelta, type NftChain, type NftModel, type SetMeta } from './model.js';

interface PortEntry {
  port: PortFilter;
  compiled: CompiledPort;
  elements: Map<string, string[]>;
}

export class PortLedger {
  readonly model = new LiveModel();
  private readonly layout: Layout;
  private readonly entries = new Map<string, PortEntry>();
  private readonly shapes = new Map<string, { users: number; chains: NftChain[]; sets: SetMeta[] }>();
  private readonly ids = new Map<string, number>();
  private readonly freeIds: number[] = [];
  private nextId = 1;
  private delta = emptyDelta();

  /** `ids`: port ids to keep (those the kernel already uses). */
  constructor(readonly path: StatefulPath, private gen: number, ids: ReadonlyMap<string, number> = new Map()) {
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

  port(ifname: string): PortFilter | undefined {
    return this.entries.get(ifname)?.port;
  }

  /** Shape of a port (the hash its chains are named by), if it is in the ledger. */
  shapeOf(ifname: string): string | undefined {
    return this.entries.get(ifname)?.compiled.shape;
  }

  idOf(ifname: string): number | undefined {
    return this.ids.get(ifname);
  }

  /** Ports sharing a shape. */
  portsOfShape(shape: string): string[] {
    return [...this.entries.values()].filter((e) => e.compiled.shape === shape).map((e) => e.port.ifname);
  }

  set(port: PortFilter): void {
    if (this.entries.has(port.ifname)) this.drop(port.ifname, false);
    if (this.entries.size === 0 && this.model.empty) this.addLayout();
    let id = this.ids.get(port.ifname);
    if (id === undefined) {
      id = this.freeIds.pop() ?? this.nextId++;
      if (id > 0xffff) throw new Error('more than 65535 filtered ports');
      this.ids.set(port.ifname, id);
    }
    const compiled = compilePort(port, id, this.path);
    const shape = this.shapes.get(compiled.shape);
    if (shape) shape.users++;
    else {
      const sets = compiled.sets.map(({ elements: _e, ...meta }) => meta);
      this.shapes.set(compiled.shape, { users: 1, chains: compiled.chains, sets });
      for (const c of compiled.chains) this.addChain(c);
      for (const s of sets) this.addSet(s);
    }
    const elements = portElements(this.layout, port, compiled, this.gen);
    for (const [k, es] of elements) for (const e of es) this.addElement(k, e);
    this.entries.set(port.ifname, { port, compiled, elements });
  }

  remove(ifname: string): void {
    if (this.entries.has(ifname)) this.drop(ifname, true);
    if (this.entries.size === 0) this.removeLayout();
  }

  /** What changed since the last call. */
  takeDelta(): ModelDelta {
    const d = this.delta;
    this.delta = emptyDelta();
    return d;
  }

  /**
   * Moves the dispatch maps to another generation: new names, the same entries, the hooked
   * chains naming the new maps. Not recorded as a delta: transaction.ts loads the new maps whole.
   */
  renameDispatch(generation: number): void {
    for (const m of dispatchMaps(this.layout, this.gen)) {
      const k = key(m.family, m.name);
      const old = this.model.sets.get(k)!;
      this.model.sets.delete(k);
      const name = dispatchName(m.base, generation);
      this.model.sets.set(key(m.family, name), { ...old, name });
    }
    for (const e of this.entries.values()) {
      for (const m of dispatchMaps(this.layout, this.gen)) {
        const es = e.elements.get(key(m.family, m.name));
        if (!es) continue;
        e.elements.delete(key(m.family, m.name));
        e.elements.set(key(m.family, dispatchName(m.base, generation)), es);
      }
    }
    this.gen = generation;
    for (const c of this.layout.chains((base) => dispatchName(base, generation))) this.model.chains.set(key(c.family, c.name), c);
  }

  private drop(ifname: string, forget: boolean): void {
    const entry = this.entries.get(ifname)!;
    for (const [k, es] of entry.elements) for (const e of es) this.removeElement(k, e);
    this.entries.delete(ifname);
    const shape = this.shapes.get(entry.compiled.shape)!;
    if (--shape.users === 0) {
      this.shapes.delete(entry.compiled.shape);
      for (const c of shape.chains) this.removeChain(key(c.family, c.name));
      for (const s of shape.sets) this.removeSet(key(s.family, s.name));
    }
    if (forget) {
      this.freeIds.push(this.ids.get(ifname)!);
      this.ids.delete(ifname);
    }
  }

  private addLayout(): void {
    for (const s of this.layout.sets) this.addSet(s);
    for (const { base: _b, ...s } of dispatchMaps(this.layout, this.gen)) this.addSet(s);
    for (const c of this.layout.chains((base) => dispatchName(base, this.gen))) this.addChain(c);
  }

  private removeLayout(): void {
    for (const k of [...this.model.chains.keys()]) this.removeChain(k);
    for (const k of [...this.model.sets.keys()]) this.removeSet(k);
  }

  private addChain(c: NftChain): void {
    const k = key(c.family, c.name);
    this.model.chains.set(k, c);
    if (!this.delta.removedChains.delete(k)) this.delta.addedChains.add(k);
  }

  private removeChain(k: string): void {
    this.model.chains.delete(k);
    if (!this.delta.addedChains.delete(k)) this.delta.removedChains.add(k);
  }

  private addSet(s: SetMeta): void {
    const k = key(s.family, s.name);
    this.model.sets.set(k, { ...s, elements: new Set() });
    if (!this.delta.removedSets.delete(k)) this.delta.addedSets.add(k);
  }

  private removeSet(k: string): void {
    this.model.sets.delete(k);
    if (!this.delta.addedSets.delete(k)) this.delta.removedSets.add(k);
  }

  private addElement(k: string, e: string): void {
    this.model.sets.get(k)!.elements.add(e);
    if (!this.delta.removedElements.get(k)?.delete(e)) note(this.delta.addedElements, k, e);
  }

  private removeElement(k: string, e: string): void {
    this.model.sets.get(k)!.elements.delete(e);
    if (!this.delta.addedElements.get(k)?.delete(e)) note(this.delta.removedElements, k, e);
  }
}

function note(m: Map<string, Set<string>>, k: string, e: string): void {
  if (!m.has(k)) m.set(k, new Set());
  m.get(k)!.add(e);
}

/** The complete model for `ports` with port ids from `ids` (see assignPortIds). */
export function compileModel(ports: readonly PortFilter[], ids: ReadonlyMap<string, number>, path: StatefulPath = 'br_netfilter', generation = 1): NftModel {
  const ledger = new PortLedger(path, generation, ids);
  for (const p of ports) ledger.set(p);
  return ledger.model.snapshot();
}
