// The nftables nwfilter backend: keeps the filtered ports, compiles them into one model and
// moves the kernel to it with `nft -f`: the chains a change needs are loaded first, unreachable,
// then one transaction switches every affected port at once (see preparedModel for why).
//
// Table ownership: the `owner` flag ties a table to the netlink socket that created it, and
// every change here is a separate `nft` process, so an owned table would vanish as soon as the
// first change was loaded; only with `persist` (not known to nft 1.0.6) would an owned table
// outlive its creator. Our filters must stay while the daemon is down, so the tables are not
// owned: they are ours by name, and we never read or change any other table.
//
// Connection tracking: where the start-up probe finds bridge-family conntrack, libvirt's
// iptables rules run in the bridge table itself; otherwise in the inet table through
// br_netfilter (which needs net.bridge.bridge-nf-call-ip(6)tables=1, as libvirt does), with
// ports identified by marks (compile.ts).
import type { CommandRunner } from '../../exec/runner.js';
import type { NwfilterBackend, PortChange, PortFilter, ReconcileReport } from '../../nwfilter/backend.js';
import { assignPortIds, compileModel, MARK_FROM_PORT, MARK_TO_PORT, type StatefulPath } from './compile.js';
import { applyScript, probeCapabilities, readModel, type NftCapabilities } from './kernel.js';
import { diffScript, key, preparedModel, type NftModel } from './model.js';

/** Port ids as recorded in a model's port -> mark map. */
function idsOf(model: NftModel | undefined): Map<string, number> {
  const ids = new Map<string, number>();
  for (const e of model?.sets.get(key('bridge', 'port_mark_from'))?.elements ?? []) {
    const m = /^"([^"]+)" : 0x([0-9a-f]+)$/.exec(e);
    if (m) ids.set(m[1]!, parseInt(m[2]!, 16) & 0xffff);
  }
  return ids;
}

/** Everything in `model` that belongs to one port: its elements and its chains' rules. */
function portState(model: NftModel | undefined, ifname: string, id: number): string {
  if (!model) return '';
  const keys = [`"${ifname}"`, ...[MARK_FROM_PORT, MARK_TO_PORT].map((tag) => `0x${(tag | id).toString(16)}`)];
  const elements = [...model.sets.values()].flatMap((s) => s.elements.filter((e) => keys.some((k) => e.startsWith(k))).map((e) => `${s.name} ${e}`));
  const shapes = new Set(elements.map((e) => /jump (s[0-9a-f]+)_/.exec(e)?.[1]).filter(Boolean));
  const rules = [...model.chains.values()].filter((c) => shapes.has(c.name.split('_')[0])).map((c) => `${c.family} ${c.name} ${c.rules.map((r) => r.comment).join('|')}`);
  return [...elements.sort(), ...rules.sort()].join('\n');
}

export class NftablesBackend implements NwfilterBackend {
  readonly name = 'nftables';
  private ports = new Map<string, PortFilter>();
  private ids = new Map<string, number>();
  /** What we last put in the kernel; undefined until we have read or written it. */
  private kernel: NftModel | undefined;
  private known = false;
  /** Changes run one after the other: each diffs against the state the previous one left. */
  private queue: Promise<unknown> = Promise.resolve();

  private readonly path: StatefulPath;

  constructor(private readonly runner: CommandRunner, readonly capabilities?: NftCapabilities) {
    this.path = capabilities?.bridgeConntrack ? 'bridge-conntrack' : 'br_netfilter';
  }

  /** A backend with the kernel's capabilities probed. */
  static async create(runner: CommandRunner): Promise<NftablesBackend> {
    return new NftablesBackend(runner, await probeCapabilities(runner));
  }

  /** The model the backend holds the kernel to (for tests and `nwfilter-compile`). */
  model(): NftModel | undefined {
    return this.kernel;
  }

  apply(change: PortChange): Promise<void> {
    return this.serial(() => this.applyNow(change));
  }

  reconcile(desired: readonly PortFilter[]): Promise<ReconcileReport> {
    return this.serial(() => this.reconcileNow(desired));
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async applyNow(change: PortChange): Promise<void> {
    const next = new Map(this.ports);
    for (const name of change.remove) next.delete(name);
    for (const p of change.set) next.set(p.ifname, p);
    if (!this.known) {
      this.kernel = await readModel(this.runner);
      this.ids = idsOf(this.kernel);
      this.known = true;
    }
    const ids = assignPortIds([...next.keys()], this.ids);
    const model = compileModel([...next.values()], ids, this.path);
    await this.moveTo(model);
    this.ports = next;
    this.ids = ids;
  }

  /** New chains first (unreachable, see preparedModel), then the switch: two transactions. */
  private async moveTo(model: NftModel): Promise<void> {
    const prepared = preparedModel(this.kernel, model);
    await applyScript(this.runner, diffScript(this.kernel, prepared));
    this.kernel = prepared;
    await applyScript(this.runner, diffScript(prepared, model));
    this.kernel = model;
  }

  private async reconcileNow(desired: readonly PortFilter[]): Promise<ReconcileReport> {
    const observed = await readModel(this.runner);
    const oldIds = idsOf(observed);
    const ids = assignPortIds(desired.map((p) => p.ifname), oldIds);
    const model = compileModel(desired, ids, this.path);
    const repaired = desired
      .filter((p) => portState(observed, p.ifname, oldIds.get(p.ifname) ?? -1) !== portState(model, p.ifname, ids.get(p.ifname)!))
      .map((p) => p.ifname);
    const removed = [...oldIds.keys()].filter((n) => !ids.has(n));
    this.kernel = observed;
    this.known = true;
    await this.moveTo(model);
    this.ports = new Map(desired.map((p) => [p.ifname, p]));
    this.ids = ids;
    return { repaired, removed };
  }
}
