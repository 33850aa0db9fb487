// The ebiptables technology driver behind the daemon's backend interface: libvirt's own layout
// (per-port ebtables/iptables chains, built aside and renamed into place). Not transactional
// across ports: each port is switched over on its own, as libvirt does. Ports with mac_filter
// get their MAC check in a chain of its own (mac-filter.ts), placed before their filters.
// After each change the backend reads what the kernel holds of the changed ports (listing.ts)
// and remembers it (applied.ts); a reconcile compares, restores damaged ports from that in one
// `*-restore` transaction per tool (repair.ts) and leaves intact ones alone, so repairing a
// foreign flush is fast and the reconcile its own repair triggers finds nothing to do.
import { XtablesClient } from '../../xtables/client.js';
import { applyPlan, applyPlans } from '../../exec/apply.js';
import type { CommandRunner } from '../../exec/runner.js';
import type { HeldRules, NwfilterBackend, PortChange, PortFilter, ReconcileReport } from '../../nwfilter/backend.js';
import type { XtTable } from '../../xtables/save.js';
import { AppliedPorts, rulesDigest } from './applied.js';
import { EMPTY_PART, readListing, TOOL_NAMES, TOOLS, type PortPart, type Tool, type ToolState } from './listing.js';
import { macFilterPlan, macFilterPorts } from './mac-filter.js';
import { allTeardown, instantiationPlans } from './plan.js';
import { repairScript } from './repair.js';

export class EbiptablesBackend implements NwfilterBackend {
  readonly name = 'ebiptables';
  private readonly applied: AppliedPorts;
  private readonly xt: XtablesClient;
  /** Each tool's table as listed after the last change (nwfilter-explain evaluates these). */
  private listed?: Record<Tool, XtTable | undefined>;

  /** `stateFile` keeps what was applied across restarts (else a restart rebuilds every port). */
  constructor(
    private readonly runner: CommandRunner,
    opts: { stateFile?: string } = {},
  ) {
    this.applied = new AppliedPorts(opts.stateFile);
    this.xt = new XtablesClient(runner);
  }

  async apply(change: PortChange): Promise<void> {
    try {
      await this.change(change);
    } catch (err) {
      // whatever the kernel holds of these ports now, it is not what was remembered
      for (const p of change.set) this.applied.delete(p.portdev);
      this.applied.save();
      this.listed = undefined;
      throw err;
    }
    for (const portdev of change.remove) this.applied.delete(portdev);
    const now = await this.listings(change.set.map((p) => p.portdev));
    for (const p of change.set) {
      const parts = Object.fromEntries(TOOL_NAMES.map((t) => [t, now[t].ports.get(p.portdev) ?? EMPTY_PART])) as Record<
        Tool,
        PortPart
      >;
      this.applied.set(p.portdev, { rulesDigest: rulesDigest(p), parts });
    }
    this.applied.save();
  }

  private async change(change: PortChange): Promise<void> {
    const wanted = macFilterPorts(change.set);
    // every port's plans first: a port that fails to instantiate (deferred, see PortFilter.inputsDigest) stops the change before it starts
    const plans = change.set.map((p) => instantiationPlans(p.portdev, p.instances));
    // a port's MAC check is in place before its filter changes, and goes only after it
    if (wanted.size > 0) await applyPlan(macFilterPlan(wanted, new Set(wanted.keys())), this.runner);
    for (const portdev of change.remove) await applyPlan(allTeardown(portdev), this.runner);
    for (const p of plans) await applyPlans(p, this.runner);
    const unwanted = [...change.remove, ...change.set.map((p) => p.portdev)].filter((n) => !wanted.has(n));
    if (unwanted.length > 0) await applyPlan(macFilterPlan(new Map(), new Set(unwanted)), this.runner);
  }

  /** One listing per tool, split per port (`known` also names ports that may have lost their root chains). */
  private async listings(known: readonly string[]): Promise<Record<Tool, ToolState>> {
    const ports = new Set([...known, ...this.applied.names()]);
    const out = {} as Record<Tool, ToolState>;
    const listed = {} as Record<Tool, XtTable | undefined>;
    for (const tool of TOOL_NAMES) {
      listed[tool] = await this.xt.table(tool, TOOLS[tool].table);
      out[tool] = readListing(tool, listed[tool], ports);
    }
    this.listed = listed;
    return out;
  }

  /** The tables as listed after the last change: what the kernel held then. */
  explainable(): HeldRules | undefined {
    const listed = this.listed;
    if (!listed) return undefined;
    return {
      xtables: TOOL_NAMES.flatMap((tool) => (listed[tool] ? [{ tool, table: listed[tool] }] : [])),
      layout: "libvirt's ebtables/iptables",
    };
  }

  /**
   * Ports whose kernel part differs from the remembered one are restored from it; ports
   * without a (current) memory, e.g. after a restart without a state file, are instantiated
   * again as libvirt does; ports in the kernel that are not desired are removed.
   */
  async reconcile(desired: readonly PortFilter[]): Promise<ReconcileReport> {
    const wanted = new Set(desired.map((p) => p.portdev));
    const now = await this.listings([...wanted]);
    const removed = [...new Set(TOOL_NAMES.flatMap((t) => [...now[t].ports.keys()]))]
      .filter((n) => !wanted.has(n))
      .sort();
    const forgotten = this.applied.names().filter((n) => !wanted.has(n));
    for (const n of forgotten) this.applied.delete(n);
    const kept = desired.filter((p) => this.applied.get(p.portdev)?.rulesDigest === rulesDigest(p));
    const rebuild = new Set(desired.filter((p) => !kept.includes(p)).map((p) => p.portdev));
    const restored = new Set<string>();
    for (const tool of TOOL_NAMES) {
      const repair = repairScript(
        tool,
        now[tool],
        new Map(kept.map((p) => [p.portdev, this.applied.get(p.portdev)!.parts[tool]])),
      );
      if (!repair) continue;
      // a restore the kernel refuses (someone changed things meanwhile) falls back to rebuilding
      const ok = await this.xt.restore(tool, repair.script).then(
        () => true,
        () => false,
      );
      for (const n of repair.repaired) (ok ? restored : rebuild).add(n);
    }
    const set = desired.filter((p) => rebuild.has(p.portdev));
    if (set.length + removed.length > 0) await this.apply({ set, remove: removed });
    else {
      if (forgotten.length > 0) this.applied.save();
      // what explain evaluates is what the kernel holds after the repair
      if (restored.size > 0) await this.listings([...wanted]);
    }
    return { repaired: desired.map((p) => p.portdev).filter((n) => restored.has(n) || rebuild.has(n)), removed };
  }
}
