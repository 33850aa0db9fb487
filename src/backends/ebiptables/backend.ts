// The ebiptables technology driver behind the daemon's backend interface: libvirt's own layout
// (per-port ebtables/iptables chains, built aside and renamed into place). Not transactional
// across ports: each port is switched over on its own, as libvirt does. Ports with mac_filter
// get their MAC check in a chain of its own (mac-filter.ts), placed before their filters.
import { applyPlan, applyPlans } from '../../exec/apply.js';
import type { CommandRunner } from '../../exec/runner.js';
import type { NwfilterBackend, PortChange, PortFilter, ReconcileReport } from '../../nwfilter/backend.js';
import { macFilterPlan, macFilterPorts } from './mac-filter.js';
import { allTeardown, instantiationPlans } from './plan.js';

/** Ports that have libvirt ebtables root chains in the kernel (`libvirt-I-vnet0` -> vnet0). */
async function portsInKernel(runner: CommandRunner): Promise<Set<string>> {
  const r = await runner.run(['ebtables', '--concurrent', '-t', 'nat', '-L']);
  const ports = new Set<string>();
  for (const m of r.stdout.matchAll(/^Bridge chain: libvirt-[IOJP]-([^,\s]+),/gm)) ports.add(m[1]!);
  return ports;
}

export class EbiptablesBackend implements NwfilterBackend {
  readonly name = 'ebiptables';

  constructor(private readonly runner: CommandRunner) {}

  async apply(change: PortChange): Promise<void> {
    const wanted = macFilterPorts(change.set);
    // a port's MAC check is in place before its filter changes, and goes only after it
    if (wanted.size > 0) await applyPlan(macFilterPlan(wanted, new Set(wanted.keys())), this.runner);
    for (const ifname of change.remove) await applyPlan(allTeardown(ifname), this.runner);
    for (const p of change.set) await this.instantiate(p);
    const unwanted = [...change.remove, ...change.set.map((p) => p.ifname)].filter((n) => !wanted.has(n));
    if (unwanted.length > 0) await applyPlan(macFilterPlan(new Map(), new Set(unwanted)), this.runner);
  }

  private async instantiate(p: PortFilter): Promise<void> {
    await applyPlans(instantiationPlans(p.ifname, p.instances), this.runner);
  }

  /** Like libvirt after a restart: every desired port is instantiated again, strays removed. */
  async reconcile(desired: readonly PortFilter[]): Promise<ReconcileReport> {
    const wanted = new Set(desired.map((p) => p.ifname));
    const macChanged: string[] = [];
    await applyPlan(macFilterPlan(macFilterPorts(desired), undefined, (ports) => macChanged.push(...ports)), this.runner);
    const removed = [...(await portsInKernel(this.runner))].filter((n) => !wanted.has(n));
    for (const ifname of removed) await applyPlan(allTeardown(ifname), this.runner);
    for (const p of desired) await this.instantiate(p);
    const strays = macChanged.filter((n) => !wanted.has(n) && !removed.includes(n));
    return { repaired: desired.map((p) => p.ifname), removed: [...removed, ...strays] };
  }
}
