// The desired model as a value: the ports bound, each contributing its shape's chains and sets
// (counted, so a shape stays while a port uses it) and its elements. `with(change)` returns a
// NEW ledger and the delta from this one to it, and changes nothing of this one: its maps are
// CowMaps (util/cow-map.ts), so the new ledger shares everything the change's ports do not touch,
// and the cost of a change hardly depends on how many other ports there are. A change that
// does not compile, or whose batch the kernel refuses, so leaves nothing to undo: the backend
// still holds the old ledger. compileModel folds a whole list of ports the same way: it is the
// reference the incremental result is tested against.
import { CowMap, type CowEdit } from '../../util/cow-map.js';
import type { PortChange, PortFilter } from '../../nwfilter/backend.js';
import {
  compilePort,
  dispatchElements,
  dispatchMaps,
  dispatchName,
  isMainEntry,
  isMainSet,
  LAYOUTS,
  needsOf,
  portElements,
  traceEntries,
  type CompiledPort,
  type Layout,
  type MainShape,
  type Needs,
  type StatefulPath,
  type TracePhase,
} from './compile.js';
import { elementText, sameElements, type Element } from '../../nft/expr.js';
import { objectKey, type NftChain, type SetMeta } from '../../nft/objects.js';
import { emptyDelta, snapshot, type DesiredModel, type DesiredSet, type ModelDelta, type NftModel } from './model.js';

interface PortEntry {
  readonly port: PortFilter;
  readonly compiled: CompiledPort;
  readonly needs: Needs;
  /**
   * Whether its bridge entries are in the main shape's sets (else in the dispatch maps): what
   * it put in is portElements() and dispatchElements() of its entry, computed again when it is
   * taken out (not kept: ten arrays and keys per port).
   */
  readonly inMain: boolean;
  /** Its trace phase when it is traced, and the keys of the trace chains it uses then. */
  readonly trace?: TracePhase;
  readonly traceChains: readonly string[];
}

/** A trace chain, and how many traced ports use it. */
interface TraceChain {
  readonly users: number;
  readonly chain: NftChain;
}

interface Shape {
  readonly users: number;
  readonly chains: readonly NftChain[];
  readonly sets: readonly SetMeta[];
  /** Entries of its ports (CompiledPort.entries). */
  readonly entries: readonly string[];
}

/**
 * The main shape stays until another has at least twice as many ports and MAIN_MARGIN more: a
 * new main shape takes a transaction that loads every dispatch object anew (plan.ts), which
 * ports coming and going around a tie must not cause at every change.
 */
const MAIN_MARGIN = 16;

/** What a ledger holds; a Draft holds the same in mutable form while it works a change in. */
interface LedgerState {
  readonly path: StatefulPath;
  readonly generation: number;
  /** The main shape (compile.ts MainShape), while there are ports. */
  readonly main: MainShape | undefined;
  readonly model: DesiredModel;
  readonly entries: CowMap<PortEntry>;
  readonly shapes: CowMap<Shape>;
  /** How many shapes hold each of their sets (shapes holding the same rule share its sets: compile.ts nameSets). */
  readonly setUsers: CowMap<number>;
  readonly ids: CowMap<number>;
  /** Ids given back by removed ports, the last given back first. */
  readonly freeIds: FreeIds;
  readonly nextId: number;
  /** How many ports need each part of the layout (see Needs). */
  readonly users: Readonly<Record<keyof Needs, number>>;
  /** Compiled ports by PortFilter.inputsDigest, used instead of compiling a port with that digest and the same id. */
  readonly known: ReadonlyMap<string, CompiledPort>;
  /** Trace phases by port name (compile.ts TracePhase); kept for a port while it is not bound. */
  readonly traced: ReadonlyMap<string, TracePhase>;
  readonly traceChains: CowMap<TraceChain>;
}

/** A stack as a value: the last id given back, then the ones before. */
type FreeIds = { readonly id: number; readonly rest: FreeIds } | undefined;

const NEEDS = ['ip', 'macFilter'] as const;
/** The trace chains of a port not traced (one list for all of them). */
const NO_TRACE_CHAINS: readonly string[] = Object.freeze([]);

/** What a change makes of a ledger. */
export interface LedgerChange {
  ledger: PortLedger;
  /** What differs from the ledger the change was made on. */
  delta: ModelDelta;
  /** Ports compiled for it rather than found compiled (in the ledger or among the known ones). */
  compiled: number;
}

export class PortLedger {
  private shapeIndex: Map<string, string> | undefined;

  private constructor(private readonly s: LedgerState) {}

  /**
   * A ledger without ports. `ids`: port ids to keep (those the kernel already uses). `known`:
   * compiled ports by PortFilter.inputsDigest (see LedgerState.known). `main`: the main shape
   * the kernel has (mainIn()), kept when the ports put in leave it the main one.
   */
  static empty(
    path: StatefulPath,
    generation: number,
    ids: ReadonlyMap<string, number> = new Map(),
    known: ReadonlyMap<string, CompiledPort> = new Map(),
    traced: ReadonlyMap<string, TracePhase> = new Map(),
    main?: string,
  ): PortLedger {
    return new PortLedger({
      path,
      generation,
      // its entries are known once ports of it are put in (Draft.settleMain)
      main: main === undefined ? undefined : { shape: main, entries: [] },
      model: { chains: CowMap.empty(), sets: CowMap.empty() },
      entries: CowMap.empty(),
      shapes: CowMap.empty(),
      setUsers: CowMap.empty(),
      ids: CowMap.of(ids),
      freeIds: undefined,
      nextId: Math.max(0, ...ids.values()) + 1,
      users: { ip: 0, macFilter: 0 },
      known,
      traced,
      traceChains: CowMap.empty(),
    });
  }

  get path(): StatefulPath {
    return this.s.path;
  }

  get generation(): number {
    return this.s.generation;
  }

  /** The main shape (compile.ts MainShape), if there are ports. */
  get main(): string | undefined {
    return this.s.main?.shape;
  }

  /** The desired model (a value: maps that no one changes). */
  get model(): DesiredModel {
    return this.s.model;
  }

  get size(): number {
    return this.s.entries.size;
  }

  ports(): PortFilter[] {
    return [...this.s.entries.values()].map((e) => e.port);
  }

  port(portdev: string): PortFilter | undefined {
    return this.s.entries.get(portdev)?.port;
  }

  /** Trace phases by port name. */
  get traced(): ReadonlyMap<string, TracePhase> {
    return this.s.traced;
  }

  /** Shape of a port (the hash its chains are named by), if it is in the ledger. */
  shapeOf(portdev: string): string | undefined {
    return this.s.entries.get(portdev)?.compiled.shape;
  }

  /** Every port's shape, by port (made once per ledger: a ledger does not change). */
  shapes(): ReadonlyMap<string, string> {
    this.shapeIndex ??= new Map([...this.s.entries.values()].map((e) => [e.port.portdev, e.compiled.shape]));
    return this.shapeIndex;
  }

  idOf(portdev: string): number | undefined {
    return this.s.ids.get(portdev);
  }

  /** Keys of the sets of the shapes in use (the ones holding ports' values). */
  shapeSets(): ReadonlySet<string> {
    return new Set(this.s.setUsers.keys());
  }

  /** Ports whose shape has one of the chains keyed `keys` (none for chains of the layout). */
  portsOfChains(keys: ReadonlySet<string>): string[] {
    const shapes = new Set<string>();
    for (const [name, s] of this.s.shapes)
      if (s.chains.some((c) => keys.has(objectKey(c.family, c.name)))) shapes.add(name);
    const out: string[] = [];
    if (shapes.size > 0)
      for (const e of this.s.entries.values()) if (shapes.has(e.compiled.shape)) out.push(e.port.portdev);
    return out;
  }

  /** The compiled form of every digested port, by its inputs digest (for the next ledger, and to keep across restarts). */
  compiledPorts(): Map<string, CompiledPort> {
    const out = new Map<string, CompiledPort>();
    for (const e of this.s.entries.values())
      if (e.port.inputsDigest !== undefined) out.set(e.port.inputsDigest, e.compiled);
    return out;
  }

  /**
   * The ledger with `change` made (removals first, then the ports set), and the delta to it.
   * Throws what compiling a port throws; this ledger stays as it is either way.
   */
  with(change: PortChange): LedgerChange {
    const draft = new Draft(this.s, true);
    for (const name of change.remove) draft.remove(name);
    for (const p of change.set) draft.set(p);
    return { ledger: new PortLedger(draft.done()), delta: draft.delta, compiled: draft.compiled };
  }

  /**
   * The ledger with `ports` put in, without the delta: what a start or resync builds to compare
   * with the kernel as a whole (modelDelta), where listing every element added only to drop the
   * list was ~8% of building the ledger of 10,000 ports. Ports it holds already, or named twice, take
   * `with`'s way: replacing one needs the delta to tell an element put back from one left.
   */
  adding(ports: readonly PortFilter[]): Omit<LedgerChange, 'delta'> {
    const names = new Set<string>();
    for (const p of ports) {
      if (names.has(p.portdev) || this.s.entries.has(p.portdev)) return this.with({ set: ports, remove: [] });
      names.add(p.portdev);
    }
    const draft = new Draft(this.s, false);
    for (const p of ports) draft.set(p);
    return { ledger: new PortLedger(draft.done()), compiled: draft.compiled };
  }

  /** The ledger with the ports of `phases` traced in their phase and no other port traced, and the delta to it. */
  withTrace(phases: ReadonlyMap<string, TracePhase>): LedgerChange {
    const draft = new Draft(this.s, true);
    for (const name of new Set([...this.s.traced.keys(), ...phases.keys()])) draft.retrace(name, phases.get(name));
    return { ledger: new PortLedger(draft.done()), delta: draft.delta, compiled: 0 };
  }

  /**
   * The same ledger with its dispatch objects under another generation (once the kernel holds
   * them there): new names, the same entries, the hooked chains naming the new ones. A port's
   * elements in them do not name the generation: a later change finds them under the new names.
   */
  renamed(generation: number): PortLedger {
    if (generation === this.s.generation) return this;
    const layout = LAYOUTS[this.s.path];
    const needs = needsNow(this.s.entries.size, this.s.users)!;
    const main = this.s.main;
    const sets = this.s.model.sets.edit();
    const now = dispatchMaps(layout, generation, needs, main);
    dispatchMaps(layout, this.s.generation, needs, main).forEach((d, i) => {
      const from = sets.get(objectKey(d.family, d.name))!;
      sets.delete(objectKey(d.family, d.name));
      sets.set(objectKey(d.family, now[i]!.name), { ...from, name: now[i]!.name });
    });
    const chains = this.s.model.chains.edit();
    for (const c of layout.chains((base) => dispatchName(base, generation), needs, main))
      chains.set(objectKey(c.family, c.name), c);
    return new PortLedger({ ...this.s, generation, model: { chains: chains.done(), sets: sets.done() } });
  }
}

/** What the layout needs; undefined without ports (then there is no layout at all). */
function needsNow(ports: number, users: Readonly<Record<keyof Needs, number>>): Needs | undefined {
  return ports === 0 ? undefined : { ip: users.ip > 0, macFilter: users.macFilter > 0 };
}

const sameMain = (a: MainShape | undefined, b: MainShape | undefined) =>
  a?.shape === b?.shape && a?.entries.length === b?.entries.length && !!a?.entries.every((e, i) => e === b!.entries[i]);

/**
 * A ledger being changed: edits of its maps (each copies only the buckets it writes to; the
 * ledger's stay as they are), and the delta so far. `done` gives the new ledger's state.
 */
class Draft {
  readonly delta = emptyDelta();
  compiled = 0;
  private readonly layout: Layout;
  private readonly gen: number;
  private readonly chains: CowEdit<NftChain>;
  private readonly sets: CowEdit<DesiredSet>;
  /** Edits of the sets' elements, by set key (put into their sets by `done`). */
  private readonly elements = new Map<string, CowEdit<Element>>();
  /**
   * Elements of ports that left, in the sets of their shape, by set key: removed by `done` from
   * the sets still there. A set whose shape the change emptied goes as a whole (a redefinition
   * of a filter 10,000 ports use empties its shape), so its elements are not removed one by one
   * and the delta lists them only through the set's removal.
   */
  private readonly leaving = new Map<string, (readonly Element[])[]>();
  /** Keys of each shape's own sets (the same for all its ports), as removeElements needs them. */
  private readonly shapeSetKeys = new Map<string, Set<string>>();
  private readonly entries: CowEdit<PortEntry>;
  private readonly shapes: CowEdit<Shape>;
  private readonly setUsers: CowEdit<number>;
  private readonly ids: CowEdit<number>;
  private freeIds: FreeIds;
  private nextId: number;
  private readonly users: Record<keyof Needs, number>;
  private readonly traced: Map<string, TracePhase>;
  private readonly traceChains: CowEdit<TraceChain>;
  private main: MainShape | undefined;
  /** Whether the main shape may have to change (see settleMain). */
  private mainInDoubt = false;
  /** Ports set or retraced whose dispatch entries `done` adds, once the main shape is settled. */
  private readonly pending = new Set<string>();
  /** Elements of main sets the delta lists as removed, taken out of those still there by `done` (see removeLater). */
  private readonly removedLater: [string, string][] = [];
  /** Ports this draft set: their elements in their shape's sets are this draft's own. */
  private readonly setHere = new Set<string>();

  /**
   * @param elementDelta whether the delta lists elements added and removed (without it, no
   *   port may leave or be replaced: see PortLedger.adding).
   */
  constructor(
    private readonly from: LedgerState,
    private readonly elementDelta: boolean,
  ) {
    this.layout = LAYOUTS[from.path];
    this.gen = from.generation;
    this.chains = from.model.chains.edit();
    this.sets = from.model.sets.edit();
    this.entries = from.entries.edit();
    this.shapes = from.shapes.edit();
    this.setUsers = from.setUsers.edit();
    this.ids = from.ids.edit();
    this.freeIds = from.freeIds;
    this.nextId = from.nextId;
    this.users = { ...from.users };
    this.traced = new Map(from.traced);
    this.traceChains = from.traceChains.edit();
    this.main = from.main;
  }

  done(): LedgerState {
    this.settleMain();
    for (const name of this.pending) {
      const entry = this.entries.get(name);
      if (!entry) continue;
      const inMain = this.belongsInMain(entry);
      for (const [k, es] of this.dispatchOf(entry, inMain)) for (const e of es) this.addElement(k, e);
      if (inMain !== entry.inMain) this.entries.set(name, { ...entry, inMain });
    }
    for (const [k, lists] of this.leaving) {
      if (!this.sets.has(k)) continue;
      for (const es of lists) for (const e of es) this.removeLeft(k, e);
    }
    for (const [k, text] of this.removedLater)
      if (this.sets.has(k) && this.delta.removedElements.get(k)?.has(text)) this.elementsOf(k).delete(text);
    for (const [k, es] of this.elements) this.sets.set(k, { ...this.sets.get(k)!, elements: es.done() });
    return {
      ...this.from,
      model: { chains: this.chains.done(), sets: this.sets.done() },
      entries: this.entries.done(),
      shapes: this.shapes.done(),
      setUsers: this.setUsers.done(),
      ids: this.ids.done(),
      freeIds: this.freeIds,
      nextId: this.nextId,
      users: this.users,
      traced: this.traced,
      traceChains: this.traceChains.done(),
      main: this.main,
    };
  }

  private dispatchOf(entry: PortEntry, inMain: boolean): Map<string, Element[]> {
    return dispatchElements(this.layout, entry.port, entry.compiled, this.gen, entry.trace, inMain);
  }

  private belongsInMain(entry: PortEntry, main = this.main): boolean {
    return entry.compiled.shape === main?.shape && entry.trace !== 'on' && entry.trace !== 'leaving';
  }

  /**
   * Settles the main shape (see MAIN_MARGIN) and moves the entries of the ports of the old and
   * the new one between the maps and the main sets. Scans the shapes only when a change may have
   * made another one the main one.
   */
  private settleMain(): void {
    // (a main shape taken from the kernel has no entries until ports of it are put in)
    if (!this.mainInDoubt && (this.main === undefined ? this.entries.size === 0 : this.main.entries.length > 0)) return;
    let best: [string, Shape] | undefined;
    if (this.entries.size > 0)
      for (const [name, s] of this.shapes.entries())
        if (
          s.entries.some(isMainEntry) &&
          (!best || s.users > best[1].users || (s.users === best[1].users && name < best[0]))
        )
          best = [name, s];
    const current = this.main && this.shapes.get(this.main.shape);
    const keep = current?.entries.some(isMainEntry) && (!best || best[1].users < 2 * current.users + MAIN_MARGIN);
    const [name, shape] = keep ? [this.main!.shape, current!] : (best ?? []);
    const next = name === undefined ? undefined : { shape: name, entries: shape!.entries.filter(isMainEntry) };
    if (sameMain(next, this.main)) return;
    const [old, needs] = [this.main, needsNow(this.entries.size, this.users)];
    // ports moving between the maps and the main sets leave the old main set while it is there
    const moving: [string, PortEntry, Map<string, Element[]>, Map<string, Element[]>][] = [];
    if (old?.shape !== next?.shape)
      for (const [portdev, entry] of this.entries.entries()) {
        if (this.pending.has(portdev) || (!entry.inMain && entry.compiled.shape !== next?.shape)) continue;
        const inMain = this.belongsInMain(entry, next);
        if (inMain === entry.inMain) continue;
        // entries in the maps for the other entries (IP) stay where they are
        const [was, now] = [this.dispatchOf(entry, entry.inMain), this.dispatchOf(entry, inMain)];
        for (const [k, es] of was) if (!now.has(k)) for (const e of es) this.removeElement(k, e);
        moving.push([portdev, { ...entry, inMain }, was, now]);
      }
    this.main = next;
    this.relayout(needs, old);
    for (const [portdev, entry, was, now] of moving) {
      for (const [k, es] of now) if (!was.has(k)) for (const e of es) this.addElement(k, e);
      this.entries.set(portdev, entry);
    }
  }

  /** Puts a port in (or replaces it). */
  set(port: PortFilter): void {
    const known = this.ids.get(port.portdev);
    const id = known ?? this.freeIds?.id ?? this.nextId;
    if (id > 0xffff) throw new Error('more than 65535 filtered ports');
    const compiled = this.compiledFor(port, id);
    if (known === undefined) {
      if (this.freeIds?.id === id) this.freeIds = this.freeIds.rest;
      else this.nextId++;
      this.ids.set(port.portdev, id);
    }
    // the new shape is held before the old one is let go: the sets both hold (compile.ts
    // nameSets) stay, and with them the port's elements that did not change
    const shape = this.shapes.get(compiled.shape);
    if (shape) this.shapes.set(compiled.shape, { ...shape, users: shape.users + 1 });
    else {
      const sets = compiled.sets.map(({ elements: _e, ...meta }) => meta);
      this.shapes.set(compiled.shape, { users: 1, chains: compiled.chains, sets, entries: compiled.entries });
      for (const c of compiled.chains) this.addChain(c);
      for (const s of sets) this.useSet(s);
    }
    const trace = this.traced.get(port.portdev);
    const elements = portElements(this.layout, port, compiled, trace);
    const unchanged = this.entries.has(port.portdev) ? this.drop(port.portdev, false, elements) : undefined;
    const users = this.shapes.get(compiled.shape)!.users;
    const mainUsers = this.main ? (this.shapes.get(this.main.shape)?.users ?? 0) : 0;
    if (compiled.shape !== this.main?.shape && users >= 2 * mainUsers + MAIN_MARGIN) this.mainInDoubt = true;
    const needs = needsOf(port, compiled);
    const before = needsNow(this.entries.size, this.users);
    for (const n of NEEDS) if (needs[n]) this.users[n]++;
    const traceChains = trace ? this.useTraceChains(port, compiled) : NO_TRACE_CHAINS;
    this.entries.set(port.portdev, { port, compiled, needs, inMain: false, trace, traceChains });
    this.pending.add(port.portdev);
    this.setHere.add(port.portdev);
    this.relayout(before, this.main);
    for (const [k, es] of elements) if (!unchanged?.has(k)) for (const e of es) this.addElement(k, e);
  }

  remove(portdev: string): void {
    if (this.entries.has(portdev)) this.drop(portdev, true);
  }

  /** A port's compiled form: known for its inputs digest (in the ledger or from `known`), or compiled now. */
  private compiledFor(port: PortFilter, id: number): CompiledPort {
    const digest = port.inputsDigest;
    if (digest !== undefined) {
      const own = this.entries.get(port.portdev);
      const known = own?.port.inputsDigest === digest ? own.compiled : this.from.known.get(digest);
      if (known && known.id === id && known.portdev === port.portdev) return known;
    }
    this.compiled++;
    return compilePort(port, id, this.from.path);
  }

  /** Moves a port to trace phase `phase` (none: not traced); a port not bound keeps it for when it is. */
  retrace(portdev: string, phase: TracePhase | undefined): void {
    if (phase) this.traced.set(portdev, phase);
    else this.traced.delete(portdev);
    const entry = this.entries.get(portdev);
    if (!entry || entry.trace === phase) return;
    this.removeElements(entry);
    const traceChains = phase ? this.useTraceChains(entry.port, entry.compiled) : NO_TRACE_CHAINS;
    this.releaseTraceChains(entry.traceChains);
    const elements = portElements(this.layout, entry.port, entry.compiled, phase);
    for (const [k, es] of elements) for (const e of es) this.addElement(k, e);
    this.entries.set(portdev, { ...entry, inMain: false, trace: phase, traceChains });
    this.pending.add(portdev);
  }

  /** Takes a traced port's trace chains into use (creating those no port used); returns their keys. */
  private useTraceChains(port: PortFilter, compiled: CompiledPort): string[] {
    return traceEntries(this.layout, port, compiled).map(({ chain }) => {
      const k = objectKey(chain.family, chain.name);
      const known = this.traceChains.get(k);
      this.traceChains.set(k, { chain, users: (known?.users ?? 0) + 1 });
      if (!known) this.addChain(chain);
      return k;
    });
  }

  private releaseTraceChains(keys: readonly string[]): void {
    for (const k of keys) {
      const known = this.traceChains.get(k)!;
      if (known.users > 1) this.traceChains.set(k, { ...known, users: known.users - 1 });
      else {
        this.traceChains.delete(k);
        this.removeChain(k);
      }
    }
  }

  /**
   * Takes a port's elements out of the sets (those of its shape's own sets when `done`: see
   * `leaving`), and its dispatch entries unless they are still to be put in (`pending`). Those
   * equal to what `next` puts in the same set stay: returns the keys of those sets.
   */
  private removeElements(entry: PortEntry, next?: ReadonlyMap<string, readonly Element[]>): Set<string> {
    const unchanged = new Set<string>();
    if (!this.pending.delete(entry.port.portdev))
      for (const [k, es] of this.dispatchOf(entry, entry.inMain))
        for (const e of es)
          if (entry.inMain && isMainSet(k.slice(k.indexOf(' ') + 1))) this.removeLater(k, e);
          else this.removeElement(k, e);
    const { shape, sets } = entry.compiled;
    let own = this.shapeSetKeys.get(shape);
    if (!own) {
      own = new Set(sets.map((s) => objectKey(s.family, s.name)));
      this.shapeSetKeys.set(shape, own);
    }
    // a port set earlier in this change (set twice) takes out what it put in: `leaving` is for
    // the elements of ports there before, which the change may put back
    const before = !this.setHere.has(entry.port.portdev);
    for (const [k, es] of portElements(this.layout, entry.port, entry.compiled, entry.trace)) {
      // (only in shapes' sets: the layout's may go and come back as the port is replaced)
      const now = next?.get(k);
      if (now && this.setUsers.has(k) && sameElements(es, now)) unchanged.add(k);
      else if (own.has(k) && before) (this.leaving.get(k) ?? this.leaving.set(k, []).get(k)!).push(es);
      else for (const e of es) this.removeElement(k, e);
    }
    return unchanged;
  }

  /** Takes a port out; `next`: what it is replaced with (see removeElements), whose unchanged sets it returns. */
  private drop(portdev: string, forget: boolean, next?: ReadonlyMap<string, readonly Element[]>): Set<string> {
    const entry = this.entries.get(portdev)!;
    const unchanged = this.removeElements(entry, next);
    const before = needsNow(this.entries.size, this.users);
    for (const n of NEEDS) if (entry.needs[n]) this.users[n]--;
    this.entries.delete(portdev);
    this.relayout(before, this.main);
    this.releaseTraceChains(entry.traceChains);
    const shape = this.shapes.get(entry.compiled.shape)!;
    // fewer ports of the main shape: another may have twice as many now
    if (entry.compiled.shape === this.main?.shape || this.entries.size === 0) this.mainInDoubt = true;
    if (shape.users > 1) this.shapes.set(entry.compiled.shape, { ...shape, users: shape.users - 1 });
    else {
      this.shapes.delete(entry.compiled.shape);
      for (const c of shape.chains) this.removeChain(objectKey(c.family, c.name));
      for (const s of shape.sets) this.releaseSet(objectKey(s.family, s.name));
    }
    if (forget) {
      this.freeIds = { id: this.ids.get(portdev)!, rest: this.freeIds };
      this.ids.delete(portdev);
    }
    return unchanged;
  }

  /**
   * Moves the layout's sets and chains from what `before` needed with main shape `beforeMain`
   * to what is needed now with the main shape now.
   */
  private relayout(before: Needs | undefined, beforeMain: MainShape | undefined): void {
    const after = needsNow(this.entries.size, this.users);
    if (before?.ip === after?.ip && before?.macFilter === after?.macFilter && sameMain(beforeMain, this.main)) return;
    const items = (needs: Needs | undefined, main: MainShape | undefined) => {
      if (!needs) return { sets: [], chains: [] };
      const map = (base: string) => dispatchName(base, this.gen);
      const dispatch = dispatchMaps(this.layout, this.gen, needs, main);
      return { sets: [...this.layout.sets(needs), ...dispatch], chains: this.layout.chains(map, needs, main) };
    };
    const [old, now] = [items(before, beforeMain), items(after, this.main)];
    const keys = (xs: readonly { family: NftChain['family']; name: string }[]) =>
      new Set(xs.map((x) => objectKey(x.family, x.name)));
    const [oldSets, newSets, oldChains] = [keys(old.sets), keys(now.sets), keys(old.chains)];
    for (const s of now.sets) if (!oldSets.has(objectKey(s.family, s.name))) this.addSet(s);
    for (const c of now.chains) {
      const k = objectKey(c.family, c.name);
      if (!oldChains.has(k)) this.addChain(c);
      else {
        this.chains.set(k, c);
        if (!this.delta.addedChains.has(k)) this.delta.changedChains.add(k);
      }
    }
    const newChains = keys(now.chains);
    for (const k of oldChains) if (!newChains.has(k)) this.removeChain(k);
    for (const k of oldSets) if (!newSets.has(k)) this.removeSet(k);
  }

  private addChain(c: NftChain): void {
    const k = objectKey(c.family, c.name);
    this.chains.set(k, c);
    // Back after going in the same delta: its rules may differ (plan.ts compares them).
    if (this.delta.removedChains.delete(k)) this.delta.changedChains.add(k);
    else this.delta.addedChains.add(k);
  }

  private removeChain(k: string): void {
    this.chains.delete(k);
    this.delta.changedChains.delete(k);
    if (!this.delta.addedChains.delete(k)) this.delta.removedChains.add(k);
  }

  /** Takes a shape's set into use (creating it when no shape held it). */
  private useSet(s: SetMeta): void {
    const k = objectKey(s.family, s.name);
    const users = this.setUsers.get(k) ?? 0;
    this.setUsers.set(k, users + 1);
    if (users === 0) this.addSet(s);
  }

  private releaseSet(k: string): void {
    const users = this.setUsers.get(k)!;
    if (users > 1) this.setUsers.set(k, users - 1);
    else {
      this.setUsers.delete(k);
      this.removeSet(k);
    }
  }

  private addSet(s: SetMeta): void {
    const k = objectKey(s.family, s.name);
    this.sets.set(k, { ...s, elements: CowMap.empty() });
    this.elements.delete(k);
    if (!this.delta.removedSets.delete(k)) this.delta.addedSets.add(k);
  }

  private removeSet(k: string): void {
    this.sets.delete(k);
    this.elements.delete(k);
    if (!this.delta.addedSets.delete(k)) this.delta.removedSets.add(k);
  }

  /** The edit of set `k`'s elements in this draft. */
  private elementsOf(k: string): CowEdit<Element> {
    return this.elements.get(k) ?? this.elements.set(k, this.sets.get(k)!.elements.edit()).get(k)!;
  }

  private addElement(k: string, e: Element): void {
    const text = elementText(e);
    this.elementsOf(k).set(text, e);
    if (this.elementDelta && !this.delta.removedElements.get(k)?.delete(text))
      note(this.delta.addedElements, k, text, e);
  }

  /** Removes a left port's element, unless this change put the same element back (then nothing changed). */
  private removeLeft(k: string, e: Element): void {
    if (!this.delta.addedElements.get(k)?.delete(elementText(e))) this.removeElement(k, e);
  }

  /**
   * Removes a port's entry from a main set as removeElement does, but in `done`: a redefinition
   * moves every port out of the main set, which then goes whole (the plan still needs the delta
   * to list them: it tells the ports that moved).
   */
  private removeLater(k: string, e: Element): void {
    const text = elementText(e);
    if (this.delta.addedElements.get(k)?.delete(text)) this.elementsOf(k).delete(text);
    else {
      note(this.delta.removedElements, k, text, e);
      this.removedLater.push([k, text]);
    }
  }

  private removeElement(k: string, e: Element): void {
    const text = elementText(e);
    this.elementsOf(k).delete(text);
    if (!this.delta.addedElements.get(k)?.delete(text)) note(this.delta.removedElements, k, text, e);
  }
}

function note(m: Map<string, Map<string, Element>>, k: string, text: string, e: Element): void {
  if (!m.has(k)) m.set(k, new Map());
  m.get(k)!.set(text, e);
}

/** The complete model for `ports` with port ids from `ids`, and the main shape `main` if it stays the main one. */
export function compileModel(
  ports: readonly PortFilter[],
  ids: ReadonlyMap<string, number>,
  path: StatefulPath = 'br_netfilter',
  generation = 1,
  main?: string,
): NftModel {
  return snapshot(PortLedger.empty(path, generation, ids, new Map(), new Map(), main).adding(ports).ledger.model);
}
