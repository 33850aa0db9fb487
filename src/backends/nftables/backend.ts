// The nftables nwfilter backend: holds two values, the desired model (a PortLedger, kept port by
// port) and a model of what our tables hold, and moves the kernel with ONE `nft -f` (one kernel
// transaction) per change, planned by plan.ts so that no packet slips through while it commits.
// A change: ledger.with(change) gives the next ledger and the delta (a port that does not compile
// throws here), planBatch plans the batch against (kernel model, next ledger), the client loads
// it, and only then does the backend take the plan's ledger, the kernel model afterBatch gives
// and the rule bodies nft echoed. A change that fails anywhere leaves the old values in place:
// there is nothing to undo.
//
// Table ownership: the daemon drives this backend through the owning client where the kernel
// keeps owned tables (table-ownership.ts): our tables are then owned by its long-lived netlink
// socket, untouchable by other processes, and persist while it is down. Elsewhere (nft
// processes) they are ours by name, and the daemon heals what others do to them; either way we
// never read or change any other table.
//
// Connection tracking: where the start-up probe finds bridge-family conntrack, libvirt's
// iptables rules run in the bridge table itself; otherwise in the inet table through
// br_netfilter (which needs net.bridge.bridge-nf-call-ip(6)tables=1, as libvirt does), with
// ports identified by marks (compile.ts).
import { existsSync } from 'node:fs';
import type { CommandRunner } from '../../exec/runner.js';
import { NftCli, type NftClient } from '../../nft/client.js';
import { emptyRuleset, objectKey, type Ruleset } from '../../nft/objects.js';
import type { NwfilterBackend, PortChange, PortFilter, ReconcileReport } from '../../nwfilter/backend.js';
import {
  dispatchTarget,
  isPortDispatch,
  mainIn,
  MARK_FROM_PORT,
  MARK_TO_PORT,
  traceTarget,
  type CompiledPort,
  type StatefulPath,
  type TracePhase,
} from './compile.js';
import { probeCapabilities, readRuleset, type NftCapabilities } from './kernel.js';
import { loadCompiledPorts, saveCompiledPorts } from './compiled-store.js';
import { bootId, byPortName, modelDigest, portsDigest, writeKernelStamp, type KernelStamp } from './kernel-stamp.js';
import { hasFamily } from '../../nft/objects.js';
import { PortLedger } from './ledger.js';
import { emptyDelta, FAMILIES, modelDelta, RuleBodies, TABLE, type DesiredModel, type ModelDelta } from './model.js';
import { afterBatch, generationIn, kernelModel, planBatch, portKeyOf, type KernelModel } from './plan.js';
import { num, str, valueText } from '../../nft/expr.js';
import { QueuedTask } from '../../util/queued-task.js';
import { SerialQueue } from '../../util/serial-queue.js';

/**
 * Ports a model names: marked ports, ports in the live bridge dispatch maps and main sets,
 * mac_filter ports; and the traced ones (their dispatch entries go to trace chains).
 */
function portsIn(
  m: Ruleset,
  generation: number,
): { names: Set<string>; ids: Map<string, number>; traced: Set<string> } {
  const names = new Set<string>();
  const ids = new Map<string, number>();
  const traced = new Set<string>();
  const named = (set: string) =>
    set === 'port_mark_from' || set === 'mac_filter_ports' || isPortDispatch(set, generation);
  for (const s of m.sets.values()) {
    if (s.family !== 'bridge' || !named(s.name)) continue;
    for (const e of s.elements.values()) {
      if (e.key.kind !== 'string') continue;
      names.add(e.key.text);
      const target = dispatchTarget(s.name, e);
      if (target && traceTarget(target)) traced.add(e.key.text);
      if (s.name === 'port_mark_from' && e.value?.kind === 'number')
        ids.set(e.key.text, Number(e.value.value) & 0xffff);
    }
  }
  return { names, ids, traced };
}

/** Whether the kernel holds something only for packets of the previous generation. */
const hasGarbage = (k: KernelModel) => k.garbage.chains.size + k.garbage.sets.size + k.garbage.elements.size > 0;

/** What a kernel stamp says of our tables, but in which namespace and at which generation. */
type StampedModel = Omit<KernelStamp, 'boot' | 'netns' | 'generation'>;

/** Ports a deferred ledger is built by between turns of the event loop (about 25 ms of work). */
const PORTS_PER_STEP = 500;

/** How long after a change the compiled ports are written out (one write for a burst of changes). */
const SAVE_DELAY_MS = 1000;

/**
 * How long after a change what it kept for packets of the previous generation (plan.ts Garbage)
 * is deleted, unless a change deletes it first. Those packets are gone within microseconds; the
 * garbage holds the stamp back (a kill -9 meanwhile costs the next start a listing).
 */
const GARBAGE_DELAY_MS = 1000;

export interface NftablesBackendOptions {
  /** Where compiled ports are kept across restarts (compiled-store.ts); none: not kept. */
  stateFile?: string;
  /**
   * Where the kernel is stamped (kernel-stamp.ts), only while the daemon owns our tables: the
   * stamp file, the owning client's namespace and ruleset generation, and the stamp the tables
   * were adopted at this start (the first resync then lists no table when the model is the one
   * stamped).
   */
  stamp?: {
    file: string;
    clock: { readonly netns: bigint; generation(): Promise<number> };
    adopted?: KernelStamp;
  };
}

export class NftablesBackend implements NwfilterBackend {
  readonly name = 'nftables';
  readonly kernelTables = FAMILIES.map((f) => objectKey(f, TABLE));
  /** The desired model; undefined until the first change or reconcile. */
  private ledger: PortLedger | undefined;
  /** What our tables hold; undefined when it must be read from the kernel first. */
  private kernel: KernelModel | undefined;
  /** The kernel's form of the rules we load (see RuleBodies). */
  private bodies = new RuleBodies();
  /** Changes run one after the other: each plans against the state the previous one left. */
  private readonly queue = new SerialQueue();

  private readonly path: StatefulPath;
  /** Our tables as read by prepare(), for the next resync. */
  private prepared: Promise<Ruleset | undefined> | undefined;
  /** Compiled ports of the last run, read at the first resync. */
  private stored: Map<string, CompiledPort> | undefined;
  /** The stamp our tables were adopted at, until the first resync takes it. */
  private adopted: KernelStamp | undefined;
  /** The ledger the kernel model was last found equal to, with what a stamp says of it (see stamp). */
  private verified: { ledger: PortLedger; stamp: StampedModel } | undefined;
  /** The last stamp written (as written): one that would say the same is not written again. */
  private lastStamp: string | undefined;
  /**
   * Ports a start found the tables to hold by the stamp they were adopted at (their ports are
   * the stamped ones): the ledger is built for them when first needed (settle).
   */
  private deferred: { desired: readonly PortFilter[]; stamp: KernelStamp } | undefined;

  constructor(
    private readonly nft: NftClient,
    readonly capabilities?: NftCapabilities,
    private readonly opts: NftablesBackendOptions = {},
  ) {
    this.path = capabilities?.bridgeConntrack ? 'bridge-conntrack' : 'br_netfilter';
    this.adopted = opts.stamp?.adopted;
  }

  /** A backend with the kernel's capabilities probed, on `nft` (default: nft processes through `runner`). */
  static async create(
    runner: CommandRunner,
    opts: NftablesBackendOptions = {},
    nft: NftClient = new NftCli(runner),
  ): Promise<NftablesBackend> {
    return new NftablesBackend(nft, await probeCapabilities(nft), opts);
  }

  /** What the backend holds the kernel to, garbage of the last change included (for tests). */
  model(): Ruleset | undefined {
    this.settle();
    return this.kernel?.ruleset;
  }

  /** The desired model (what each change loads), with the layout it is laid out in. */
  explainable(): { model: Ruleset; layout: StatefulPath } | undefined {
    this.settle();
    return this.ledger ? { model: this.ledger.model, layout: this.path } : undefined;
  }

  /** Port -> the shape whose chains filter it, as loaded (metrics and the dashboard name counters by port with it). */
  portShapes(): ReadonlyMap<string, string> {
    this.settle();
    return this.ledger?.shapes() ?? new Map();
  }

  /** The desired model the backend holds the kernel to (for tests). */
  desired(): DesiredModel | undefined {
    this.settle();
    return this.ledger?.model;
  }

  apply(change: PortChange): Promise<void> {
    return this.serial(() => this.applyNow(change));
  }

  prepare(): void {
    // adopted at a stamp: the first resync may need no listing
    if (this.kernel || this.prepared || this.adopted) return;
    this.prepared = readRuleset(this.nft);
    // a failure is the resync's to report, whenever it takes the reading
    this.prepared.catch(() => undefined);
  }

  reconcile(desired: readonly PortFilter[]): Promise<ReconcileReport> {
    return this.serial(() => this.reconcileNow(desired));
  }

  /**
   * Traces exactly `ports` (`virtwall nwfilter-trace`; compile.ts TracePhase), in steps none of
   * which leaves a packet unfiltered: ports starting get their trace chains, ports stopping are
   * put back in mac_filter_ports; then the entries of the first are switched to their trace
   * chains and those of the others back (their trace chains flushed); then the flushed chains
   * are deleted. Other ports' entries and the hooked chains are not touched.
   */
  trace(ports: readonly string[]): Promise<void> {
    return this.serial(() => this.traceNow(new Set(ports)));
  }

  private async traceNow(want: ReadonlySet<string>): Promise<void> {
    this.settle();
    if (!this.ledger) {
      if (want.size === 0) return;
      throw new Error('no port is filtered');
    }
    if (!this.kernel) await this.resync(this.ledger.ports());
    const now = this.ledger.traced;
    const first = new Map<string, TracePhase>();
    for (const p of want) first.set(p, now.get(p) === 'on' || now.get(p) === 'leaving' ? 'on' : 'armed');
    for (const [p, phase] of now) if (!want.has(p) && phase !== 'armed') first.set(p, 'leaving');
    await this.retrace(first);
    await this.retrace(new Map([...want].map((p) => [p, 'on'])));
    if (hasGarbage(this.kernel!)) await this.commit(this.kernel!, this.ledger, emptyDelta());
  }

  /** Moves the traced ports to `phases` in one transaction (none when they are there). */
  private async retrace(phases: ReadonlyMap<string, TracePhase>): Promise<void> {
    const now = this.ledger!.traced;
    if (now.size === phases.size && [...phases].every(([p, phase]) => now.get(p) === phase)) return;
    const { ledger, delta } = this.ledger!.withTrace(phases);
    await this.commit(this.kernel!, ledger, delta);
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    return this.queue.run(work);
  }

  private async applyNow(change: PortChange): Promise<void> {
    this.settle();
    if (!this.kernel || !this.ledger) {
      const ports = this.ledger?.ports() ?? [];
      await this.resync(
        ports
          .filter((p) => !change.remove.includes(p.portdev) && !change.set.some((s) => s.portdev === p.portdev))
          .concat(change.set),
      );
      return;
    }
    // a port the compiler refuses (a match nft cannot express) throws here, before any kernel change
    const { ledger, delta } = this.ledger.with(change);
    await this.commit(this.kernel, ledger, delta);
  }

  /**
   * Plans the batch moving the kernel (`kernel`) to `ledger` by `delta`, loads it, and then takes
   * the plan's ledger and the kernel's new model. When loading fails the ledger stays the one
   * before; the kernel is read again before the next change, since the client may have failed
   * after nft committed (reading back the rules it loaded).
   */
  private async commit(kernel: KernelModel, ledger: PortLedger, delta: ModelDelta): Promise<void> {
    const plan = planBatch(kernel, ledger, delta, this.bodies);
    let echoed: Awaited<ReturnType<NftClient['apply']>>;
    try {
      echoed = await this.nft.apply(plan.batch, TABLE, (r) => this.bodies.known(r));
    } catch (e) {
      this.kernel = undefined;
      throw e;
    }
    this.kernel = afterBatch(kernel, plan, echoed);
    this.ledger = plan.desired;
    if (hasGarbage(this.kernel)) this.collecting.soon(GARBAGE_DELAY_MS);
    const bodies = this.bodies.learnt(plan.batch, echoed);
    // new rule bodies are kept at once: a restart that found them unknown would rewrite the chains
    this.saveSoon(bodies !== this.bodies ? 0 : SAVE_DELAY_MS);
    this.bodies = bodies;
  }

  /**
   * Writes the compiled ports `delay` ms from now, or earlier when a write is due earlier already.
   * The write waits for the change in flight, if any: in its middle (while nft loads the batch)
   * it would hold the change up to write the ledger the change is replacing.
   */
  private saveSoon(delay = SAVE_DELAY_MS): void {
    if (this.opts.stateFile !== undefined) this.saving.soon(delay);
  }

  private readonly saving = new QueuedTask(this.queue, () => {
    const file = this.opts.stateFile;
    try {
      if (file !== undefined && this.ledger)
        saveCompiledPorts(file, this.path, this.ledger.compiledPorts(), this.bodies.entriesFor(this.ledger.model));
    } catch {
      // the file only saves compile time at the next start; the old one (or none) stays
      return;
    }
    this.stampSoon(0);
  });

  /** Deletes the garbage of the last change GARBAGE_DELAY_MS from now, if no change has by then. */
  private readonly collecting = new QueuedTask(this.queue, async () => {
    const { kernel, ledger } = this;
    // a failure leaves the kernel to be read again before the next change (commit)
    if (kernel && ledger && hasGarbage(kernel)) await this.commit(kernel, ledger, emptyDelta());
  });

  /** Stamps the kernel `delay` ms from now, or earlier when a stamp is due earlier already (see stamp). */
  private stampSoon(delay: number): void {
    if (this.opts.stamp) this.stamping.soon(delay);
  }

  // a stamp not written only costs the next start a listing
  private readonly stamping = new QueuedTask(this.queue, () => this.stamp());

  /** The ruleset may have moved on (any transaction, on any table): the kernel is stamped again soon. */
  restamp(): void {
    this.stampSoon(SAVE_DELAY_MS);
  }

  /**
   * Stamps the kernel (kernel-stamp.ts): at the ruleset's generation now, our tables hold the
   * ledger's model. Only in the serial queue (no change of ours in flight), only for a kernel
   * model with nothing of a previous generation and no traced port, found equal to the ledger's
   * model. A stamp not written leaves the last one, which the changes since made stale (each
   * moved the generation on).
   */
  private async stamp(): Promise<void> {
    const at = this.opts.stamp;
    const held = at && this.stampable();
    if (!at || !held) return;
    const generation = await at.clock.generation();
    const stamp: KernelStamp = { ...held, boot: bootId(), netns: String(at.clock.netns), generation };
    const text = JSON.stringify(stamp);
    if (text === this.lastStamp) return;
    writeKernelStamp(at.file, stamp);
    this.lastStamp = text;
  }

  /** What a stamp says of our tables but where and when; undefined when they cannot be stamped (see stamp). */
  private stampable(): StampedModel | undefined {
    // the tables hold what they held at the stamp they were adopted at
    if (this.deferred) return this.deferred.stamp;
    const { ledger, kernel } = this;
    if (!ledger || !kernel || hasGarbage(kernel) || ledger.traced.size > 0) return undefined;
    if (this.verified?.ledger === ledger) return this.verified.stamp;
    const d = modelDelta(kernel.ruleset, ledger.model, this.bodies);
    const differs =
      d.addedSets.size + d.removedSets.size + d.addedChains.size + d.removedChains.size + d.changedChains.size > 0 ||
      d.addedElements.size + d.removedElements.size > 0;
    const digest = differs ? undefined : modelDigest(ledger.model, this.bodies);
    const ports = byPortName(ledger.ports());
    const inputs = portsDigest(this.path, ports);
    if (digest === undefined || inputs === undefined) return undefined;
    const stamp = {
      tables: FAMILIES.filter((f) => hasFamily(ledger.model, f)),
      digest,
      dispatch: ledger.generation,
      ...(ledger.main !== undefined && { main: ledger.main }),
      ports: inputs,
      ids: ports.map((p) => ledger.idOf(p.portdev)!),
    };
    this.verified = { ledger, stamp };
    return stamp;
  }

  /**
   * The empty ledger the deferred ports are built on: their stamped ids, the stamp's dispatch
   * generation, the kept compiled ports.
   */
  private deferredBase(d: NonNullable<NftablesBackend['deferred']>): PortLedger {
    this.loadKept();
    const ids = d.stamp.ids;
    const keep = new Map(byPortName(d.desired).map((p, i) => [p.portdev, ids[i]!]));
    return PortLedger.empty(this.path, d.stamp.dispatch, keep, this.stored ?? new Map(), new Map(), d.stamp.main);
  }

  /**
   * Builds the deferred ledger (see deferred) a step of ports at a time, the event loop serving
   * between steps (run in the serial queue: no change is planned meanwhile), then settles with it.
   */
  private async settleInSteps(): Promise<void> {
    const d = this.deferred;
    if (!d) return;
    let ledger = this.deferredBase(d);
    for (let i = 0; i < d.desired.length; i += PORTS_PER_STEP) {
      await new Promise((r) => setImmediate(r));
      // settled meanwhile (a reader needed the ledger at once)
      if (this.deferred !== d) return;
      ledger = ledger.adding(d.desired.slice(i, i + PORTS_PER_STEP)).ledger;
    }
    this.settle(ledger);
  }

  /**
   * Takes the ledger of the ports a start found the tables to hold by their stamp (see
   * deferred), `built` or built now. Its model should be the stamped one; one that is not (its
   * digest differs) is not what the tables hold: they are listed and moved to it (in the serial
   * queue, before any other change is planned).
   */
  private settle(built?: PortLedger): void {
    const d = this.deferred;
    if (!d) return;
    this.deferred = undefined;
    const ledger = built ?? this.deferredBase(d).adding(d.desired).ledger;
    this.stored = undefined;
    this.ledger = ledger;
    if (modelDigest(ledger.model, this.bodies) === d.stamp.digest) {
      this.kernel = this.kernelOf(ledger);
      this.verified = { ledger, stamp: d.stamp };
      return;
    }
    this.kernel = undefined;
    void this.serial(async () => {
      if (!this.kernel) await this.resync(ledger.ports());
    }).catch(() => undefined);
  }

  /** The kernel model of tables found to hold `ledger`'s model: its rules with their kernel forms. */
  private kernelOf(ledger: PortLedger): KernelModel {
    const chains = new Map(
      [...ledger.model.chains].map(([k, c]) => [
        k,
        { ...c, rules: c.rules.map((r) => ({ ...r, body: this.bodies.expected(r) })) },
      ]),
    );
    return kernelModel({ chains, sets: ledger.model.sets });
  }

  /** The compiled ports and rule bodies the last run kept, read once (at the first resync). */
  private loadKept(): void {
    if (this.ledger || this.stored !== undefined || !this.opts.stateFile) return;
    const kept = loadCompiledPorts(this.opts.stateFile, this.path);
    this.stored = kept.ports;
    this.bodies = new RuleBodies(kept.bodies);
  }

  /**
   * The first resync after adopting our tables at a stamp: the ledger built from the kept ports
   * (each under its kept id, the dispatch maps of the stamp's generation) is what the tables
   * hold when its model has the stamp's digest; then the kernel model is that model, and no
   * table is listed. Undefined (the caller lists the tables) when the model differs.
   */
  private stamped(
    desired: readonly PortFilter[],
    stamp: KernelStamp,
  ): { delta: ModelDelta; observed: Set<string>; compiled: number; stamped: true } | undefined {
    this.loadKept();
    const known = this.stored ?? new Map<string, CompiledPort>();
    const keep = new Map<string, number>();
    const used = new Set<number>();
    for (const p of desired) {
      const c = p.inputsDigest === undefined ? undefined : known.get(p.inputsDigest);
      if (!c || c.portdev !== p.portdev || used.has(c.id)) continue;
      keep.set(p.portdev, c.id);
      used.add(c.id);
    }
    const { ledger, compiled } = PortLedger.empty(this.path, stamp.dispatch, keep, known, new Map(), stamp.main).adding(
      desired,
    );
    if (modelDigest(ledger.model, this.bodies) !== stamp.digest) return undefined;
    this.stored = undefined;
    this.ledger = ledger;
    this.kernel = this.kernelOf(ledger);
    return { delta: emptyDelta(), observed: new Set(desired.map((p) => p.portdev)), compiled, stamped: true };
  }

  /** Reads our tables and moves them to `desired` as a whole; returns the delta it applied and the ports it compiled. */
  private async resync(
    desired: readonly PortFilter[],
  ): Promise<{ delta: ModelDelta; observed: Set<string>; compiled: number; stamped?: true }> {
    const stamp = this.adopted;
    this.adopted = undefined;
    // Converged: the ledger is built a moment later, off the start's path (or by the first
    // change); only where compiled ports were kept: building it then holds the daemon up for
    // about half a second at 10,000 ports, not for the seconds compiling every port takes.
    if (
      stamp &&
      !this.ledger &&
      this.opts.stateFile &&
      existsSync(this.opts.stateFile) &&
      portsDigest(this.path, desired) === stamp.ports
    ) {
      this.deferred = { desired, stamp };
      this.stampSoon(0);
      setTimeout(() => void this.serial(() => this.settleInSteps()).catch(() => undefined), SAVE_DELAY_MS).unref();
      return { delta: emptyDelta(), observed: new Set(desired.map((p) => p.portdev)), compiled: 0, stamped: true };
    }
    this.settle();
    const proven = stamp && !this.ledger ? this.stamped(desired, stamp) : undefined;
    if (proven) {
      // the adoption moved the generation on: stamped again at once (the model's digest is known)
      if (proven.compiled > 0) this.saveSoon(0);
      else this.stampSoon(0);
      return proven;
    }
    // nft lists the tables (on libnftables' thread, or in its process) while the kept ports are read
    const listing = this.prepared ?? readRuleset(this.nft);
    this.prepared = undefined;
    // what is compiled already: the last ledger's ports, or at start the ones the last run kept
    this.loadKept();
    const kernel = (await listing) ?? emptyRuleset();
    const generation = generationIn(kernel);
    const { names, ids, traced } = portsIn(kernel, generation);
    const wanted = new Set(desired.map((p) => p.portdev));
    const known = this.ledger?.compiledPorts() ?? this.stored ?? new Map<string, CompiledPort>();
    this.stored = undefined;
    const keep = new Map([...ids].filter(([n]) => wanted.has(n)));
    // Ports the kernel knows no id of (they have no IP rules, so no marks) keep their known
    // one when it is free, so what was compiled for it still fits.
    const used = new Set(keep.values());
    for (const p of desired) {
      const c = p.inputsDigest === undefined || keep.has(p.portdev) ? undefined : known.get(p.inputsDigest);
      if (!c || c.portdev !== p.portdev || used.has(c.id)) continue;
      keep.set(p.portdev, c.id);
      used.add(c.id);
    }
    // Ports traced here stay so; ports the kernel has traced and nobody here (a daemon before this
    // one was killed while tracing) are stopped in steps like any trace (traceNow, below).
    const phases = new Map(this.ledger?.traced);
    for (const p of traced) if (!phases.has(p)) phases.set(p, 'leaving');
    const { ledger, compiled } =
      (phases.size === (this.ledger?.traced.size ?? 0) ? this.heldFor(desired, keep, generation) : undefined) ??
      PortLedger.empty(this.path, generation, keep, known, phases, mainIn(kernel.sets.values(), generation)).adding(
        desired,
      );
    const delta = modelDelta(kernel, ledger.model, this.bodies);
    // The ports to move the kernel to, also when this fails: the next change starts from them.
    this.ledger = ledger;
    // Whatever the last run left for its previous generation is long unreachable now.
    await this.commit(kernelModel(kernel), ledger, delta);
    // a start (or heal) that had to compile writes at once: the next start should not have to
    if (compiled > 0) this.saveSoon(0);
    else this.stampSoon(SAVE_DELAY_MS);
    if ([...phases.values()].some((phase) => phase !== 'on'))
      await this.traceNow(new Set([...phases].filter(([, phase]) => phase !== 'leaving').map(([p]) => p)));
    return { delta, observed: names, compiled };
  }

  /**
   * The ledger held, when it is the one building `desired` afresh would make: the same ports with
   * the same inputs (digest) and MAC filtering, each under the id `keep` gives it. So a heal (the
   * kernel lost rules, the ports are as they were) compares with what it holds instead of building
   * every port's entry again (~100 ms at 1000 ports).
   */
  private heldFor(
    desired: readonly PortFilter[],
    keep: ReadonlyMap<string, number>,
    generation: number,
  ): { ledger: PortLedger; compiled: number } | undefined {
    const held = this.ledger;
    if (!held || held.size !== desired.length) return undefined;
    for (const p of desired) {
      const h = held.port(p.portdev);
      if (p.inputsDigest === undefined || h?.inputsDigest !== p.inputsDigest) return undefined;
      if (Boolean(h.macFilter) !== Boolean(p.macFilter) || held.idOf(p.portdev) !== keep.get(p.portdev))
        return undefined;
    }
    return { ledger: held.renamed(generation), compiled: 0 };
  }

  private async reconcileNow(desired: readonly PortFilter[]): Promise<ReconcileReport> {
    const { delta, observed, compiled, stamped } = await this.resync(desired);
    if (this.deferred) return { repaired: [], removed: [], compiled, stamped: true };
    const ledger = this.ledger!;
    // Ports named by a changed element or owning a changed chain were repaired.
    const byKey = new Map<string, string>();
    for (const p of desired) {
      const id = ledger.idOf(p.portdev)!;
      for (const k of [str(p.portdev), num(MARK_FROM_PORT | id, 8), num(MARK_TO_PORT | id, 8)])
        byKey.set(valueText(k), p.portdev);
    }
    const repaired = new Set<string>();
    // a cold start changes every element: the walk ends once every port is named
    walk: for (const m of [delta.addedElements, delta.removedElements]) {
      for (const [k, es] of m) {
        if (!ledger.model.sets.has(k)) continue;
        for (const e of es.values()) {
          const port = byKey.get(portKeyOf(e));
          if (port) repaired.add(port);
          if (repaired.size === desired.length) break walk;
        }
      }
    }
    if (repaired.size < desired.length)
      for (const n of ledger.portsOfChains(new Set([...delta.addedChains, ...delta.changedChains]))) repaired.add(n);
    const removed = [...observed].filter((n) => !ledger.port(n));
    return { repaired: [...repaired], removed, compiled, ...(stamped && { stamped }) };
  }
}
