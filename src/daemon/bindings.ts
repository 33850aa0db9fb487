// The filtered ports: nwfilter bindings (libvirt's nwfilter-binding objects, one XML record per
// port device in DIR/run/virtwall/nwfilter-binding) and the ports that only ask for MAC
// filtering. It turns them into the backend's PortFilters; every kernel change goes through
// NwfilterBackend.apply, one call per operation.
import { invalidInput, VirtwallError } from '../errors.js';
import { childElements, locationOf, parseXml } from '../xml/dom.js';
import { isValidVarValue } from '../nwfilter/vars.js';
import { formatFilterBinding, parseFilterBinding, type FilterBindingDef } from '../conf/nwfilterbinding/index.js';
import type { NwfilterBackend, PortFilter, ReconcileReport } from '../nwfilter/backend.js';
import { instantiateBinding } from '../nwfilter/binding.js';
import type { InstantiateOptions, RuleInstance } from '../nwfilter/instantiate.js';
import type { FilterSource } from '../nwfilter/source.js';
import { portFilterFor, type PortPlan } from '../learning/port-filter.js';
import type { PortLearning } from './learning.js';
import { dropAllPolicy } from '../learning/policy.js';
import { checkDeviceName, isDeviceName } from '../util/device-name.js';
import { removeRecord, writeRecord } from './persist.js';
import { readRecords } from '../util/state-file.js';
import { loadParsedBindings, recordKey, saveParsedBindings } from './parsed-bindings.js';

const SUFFIX = '.xml';
/** How long after a start the records' parsed definitions are written, when they changed. */
const PARSED_SAVE_DELAY_MS = 1000;
/** The MAC of a blocked port whose record is lost (a drop-all filter matches no MAC). */
const UNKNOWN_MAC = '00:00:00:00:00:00';

/** A bound port's filter made for a filter change before it is stored (BindingService.prepare). */
interface PreparedPort {
  /** The binding it was made for: a port bound again meanwhile is planned again. */
  binding: FilterBindingDef;
  /** PortLearning.planInputs when it was made. */
  inputs: string | undefined;
  plan: PortPlan;
  /** Held until the change is applied: the plan's filter may hold them weakly only (deferredPortFilter). */
  instances: readonly RuleInstance[];
}

/** A filter change's new port filters, made and instantiated before the change is stored. */
export interface PreparedRefresh {
  /** The filters whose bound ports the change reaches. */
  readonly filters: ReadonlySet<string>;
  /** The digest of the definitions they were made with (FilterSource.digest). */
  readonly digest: string | undefined;
  readonly ports: Map<string, PreparedPort>;
}

export class BindingService {
  private readonly bindings = new Map<string, FilterBindingDef>();
  /** Ports with libvirt's mac_filter: port device -> guest MAC. */
  private readonly macFilters = new Map<string, string>();

  /**
   * Ports whose binding record was corrupt (set aside at load): they drop all traffic, as a port
   * whose learning failed, until they are bound again or unbound; never left open.
   */
  private readonly blocked = new Set<string>();

  /** Bridge of the virtwall network a bound port sits on (its dnsmasq leases teach its address). */
  private readonly bridges = new Map<string, string>();

  constructor(
    private readonly dir: string,
    private readonly backend: NwfilterBackend,
    private readonly instantiateOptions: InstantiateOptions = {},
    /** IP learning for bindings whose filter references $IP/$IPV6 without a value. */
    private readonly learning?: PortLearning,
  ) {}

  setBridge(portdev: string, bridge: string): void {
    this.bridges.set(portdev, bridge);
  }

  load(): void {
    // records parsed at an earlier start come from the kept definitions (parsed-bindings.ts)
    const kept = loadParsedBindings(this.parsedFile);
    const parsed = new Map<string, FilterBindingDef>();
    const read = (text: string, file: string) => {
      const key = recordKey(file, text);
      const def = kept.get(key) ?? parseFilterBinding(text, file);
      checkDeviceName(def.portdev, 'port device', def.source);
      parsed.set(key, def);
      return def;
    };
    const setAside = (portdev: string) => isDeviceName(portdev) && this.blocked.add(portdev);
    for (const [, def] of readRecords(this.dir, SUFFIX, read, { onSetAside: setAside }))
      this.bindings.set(def.portdev, def);
    if (parsed.size !== kept.size || [...parsed.keys()].some((k) => !kept.has(k)))
      // after the start's work: the file only spares the next start the parsing
      setTimeout(() => {
        try {
          saveParsedBindings(this.parsedFile, parsed);
        } catch {
          // the next start parses the records again
        }
      }, PARSED_SAVE_DELAY_MS).unref();
  }

  /** Where the records' parsed definitions are kept (beside the records). */
  private get parsedFile(): string {
    return `${this.dir}.parsed.json`;
  }

  list(): FilterBindingDef[] {
    return [...this.bindings.values()].sort((a, b) => a.portdev.localeCompare(b.portdev));
  }

  get(portdev: string): FilterBindingDef {
    const def = this.bindings.get(portdev);
    if (!def)
      throw new VirtwallError(
        'not-found',
        `Network filter binding not found: no nwfilter binding for port dev '${portdev}'`,
      );
    return def;
  }

  /** Filter names bound directly by some port. */
  boundFilters(): Set<string> {
    return new Set([...this.bindings.values()].map((b) => b.filter));
  }

  private portFilter(portdev: string, source: FilterSource, binding = this.bindings.get(portdev)): PortFilter {
    if (!binding && this.blocked.has(portdev))
      return dropAllPolicy(portdev, this.macFilters.get(portdev) ?? UNKNOWN_MAC);
    if (!binding)
      return {
        portdev,
        mac: this.macFilters.get(portdev)!,
        filter: '',
        instances: [],
        macFilter: this.macFilters.has(portdev) || undefined,
      };
    return this.started(binding, this.plan(binding, source), source);
  }

  /** The bound port's plan (a query): its filter for what is learned, and what it still has to learn. */
  private plan(binding: FilterBindingDef, source: FilterSource): PortPlan {
    if (this.learning) return this.learning.plan(binding, source);
    const { portdev, mac, filter } = binding;
    return {
      filter: { portdev, mac, filter, instances: instantiateBinding(binding, source, this.instantiateOptions) },
    };
  }

  /** The plan's filter, its learning started (a command) and with the port's mac_filter. */
  private started(binding: FilterBindingDef, plan: PortPlan, source: FilterSource): PortFilter {
    // the port's filter needs addresses: learning them starts with the filter that waits for them;
    // a guest that moved here from another fleet host comes with its addresses: no new learning phase
    if (plan.learning && this.learning?.learn(binding, plan.learning, this.bridges.get(binding.portdev)))
      plan = this.learning.plan(binding, source);
    // not spread: its instances may be deferred (a getter)
    if (this.macFilters.has(binding.portdev)) plan.filter.macFilter = true;
    return plan.filter;
  }

  /** The port's filter as the backend was given it, computed without starting anything (nwfilter-explain). */
  currentFilter(portdev: string, source: FilterSource): PortFilter {
    return this.plan(this.get(portdev), source).filter;
  }

  /** Re-applies one port (its learned addresses changed). */
  async reapply(portdev: string, source: FilterSource): Promise<void> {
    if (this.bindings.has(portdev)) await this.backend.apply({ set: [this.portFilter(portdev, source)], remove: [] });
  }

  /** Every filtered port as the kernel should hold it. */
  desired(source: FilterSource): PortFilter[] {
    const devs = new Set([...this.bindings.keys(), ...this.macFilters.keys(), ...this.blocked]);
    return [...devs].sort().map((d) => this.portFilter(d, source));
  }

  async reconcile(source: FilterSource): Promise<ReconcileReport> {
    return this.backend.reconcile(this.desired(source));
  }

  parse(xml: string, file: string): FilterBindingDef {
    const def = parseFilterBinding(xml, file);
    // libvirt's parser skips a <parameter> it cannot use; a daemon refuses it, or a bad $IP
    // would silently turn into an address to learn
    for (const ref of childElements(parseXml(xml, file), 'filterref')) {
      for (const p of childElements(ref, 'parameter')) {
        if (!isValidVarValue(p.attrs.value ?? '')) {
          throw invalidInput(
            `parameter '${p.attrs.name ?? ''}' has an invalid value (letters, digits, '_', '.' and ':' only)`,
            locationOf(p, 'value'),
          );
        }
      }
    }
    checkDeviceName(def.portdev, 'port device', def.source);
    if (def.linkdev !== undefined) checkDeviceName(def.linkdev, 'link device', def.source);
    return def;
  }

  async create(def: FilterBindingDef, source: FilterSource, bridge?: string): Promise<void> {
    if (this.bindings.has(def.portdev))
      throw new VirtwallError('conflict', `filter binding for port dev '${def.portdev}' already exists`);
    if (bridge !== undefined) this.bridges.set(def.portdev, bridge);
    try {
      let filter: PortFilter;
      try {
        filter = this.portFilter(def.portdev, source, def);
        // instantiated here, once (a deferred port keeps its rules for the backend)
        void filter.instances;
      } catch (err) {
        // what the filters refuse (a loop, a missing filter, an unresolvable variable) is an
        // error of this binding: named at its own <filterref>, not in a filter's file
        if (err instanceof VirtwallError)
          throw new VirtwallError(err.kind, err.detail, def.refSource ?? def.source ?? {});
        throw err;
      }
      await this.backend.apply({ set: [filter], remove: [] });
    } catch (err) {
      this.bridges.delete(def.portdev);
      this.learning?.forget(def.portdev);
      throw err;
    }
    writeRecord('binding', this.dir, def.portdev + SUFFIX, formatFilterBinding(def));
    this.bindings.set(def.portdev, def);
    this.blocked.delete(def.portdev);
  }

  async delete(portdev: string, source: FilterSource): Promise<void> {
    if (this.blocked.has(portdev) && !this.bindings.has(portdev)) {
      this.blocked.delete(portdev);
      await this.backend.apply(
        this.macFilters.has(portdev)
          ? { set: [this.portFilter(portdev, source)], remove: [] }
          : { set: [], remove: [portdev] },
      );
      return;
    }
    this.get(portdev);
    this.bindings.delete(portdev);
    this.bridges.delete(portdev);
    this.learning?.forget(portdev);
    const remains = this.macFilters.has(portdev);
    await this.backend.apply(
      remains ? { set: [this.portFilter(portdev, source)], remove: [] } : { set: [], remove: [portdev] },
    );
    removeRecord('binding', this.dir, portdev + SUFFIX);
  }

  /**
   * A change of `filters` (a redefinition tried with `source`, not yet stored): the new filter of
   * every bound port it reaches, instantiated here, once. Throws what instantiating throws, for the
   * port's learned addresses as they are: nothing is applied, started or stored.
   */
  prepare(filters: ReadonlySet<string>, source: FilterSource): PreparedRefresh {
    const ports = new Map<string, PreparedPort>();
    for (const binding of this.bindings.values()) {
      if (!filters.has(binding.filter)) continue;
      const plan = this.plan(binding, source);
      // a port whose learning failed drops all, until a restart plans its filter afresh: that must
      // still instantiate (as for a port that learns)
      if (this.learning?.hasFailed(binding.portdev)) this.instantiable(binding, source);
      ports.set(binding.portdev, {
        binding,
        inputs: this.learning?.planInputs(binding.portdev),
        plan,
        instances: plan.filter.instances,
      });
    }
    return { filters, digest: source.digest, ports };
  }

  /**
   * Applies a prepared change once it is stored (`source`: the stored filters), in one backend
   * apply: every port whose filter it reaches. A port takes its prepared filter while nothing it
   * was made from changed (the same binding, definitions of the same digest, the same learned
   * addresses); else it is planned again.
   */
  async refresh(prepared: PreparedRefresh, source: FilterSource): Promise<string[]> {
    const current = prepared.digest !== undefined && prepared.digest === source.digest;
    const bindings = this.list().filter((b) => prepared.filters.has(b.filter));
    const set = bindings.map((b) => {
      const made = current ? prepared.ports.get(b.portdev) : undefined;
      return made && made.binding === b && made.inputs === this.learning?.planInputs(b.portdev)
        ? this.started(b, made.plan, source)
        : this.portFilter(b.portdev, source);
    });
    try {
      if (set.length) await this.backend.apply({ set, remove: [] });
    } finally {
      // spent: its instances were held (deferred ports hold theirs weakly) until the backend took them
      prepared.ports.clear();
    }
    return bindings.map((b) => b.portdev);
  }

  /**
   * Checks that the bindings of another fleet host still instantiate with `source` (before a
   * filter change is accepted); what they learned there is not known here.
   */
  check(filters: ReadonlySet<string>, source: FilterSource, bindings: readonly FilterBindingDef[]): void {
    for (const b of bindings) if (filters.has(b.filter)) this.instantiable(b, source);
  }

  /** Throws what instantiating the binding's filter throws (nothing is applied), addresses to learn not yet learned. */
  private instantiable(b: FilterBindingDef, source: FilterSource): void {
    if (this.learning) void portFilterFor(b, source, { ipv4: [], ipv6: [] }).filter.instances;
    else instantiateBinding(b, source, this.instantiateOptions);
  }

  /** Registers a MAC-filtered port (restored from a port record) without touching the kernel. */
  restoreMacFilter(portdev: string, mac: string): void {
    this.macFilters.set(portdev, mac);
  }

  async setMacFilter(portdev: string, mac: string | undefined, source: FilterSource): Promise<void> {
    if (mac === undefined) this.macFilters.delete(portdev);
    else this.macFilters.set(portdev, mac);
    const remains = this.bindings.has(portdev) || mac !== undefined;
    await this.backend.apply(
      remains ? { set: [this.portFilter(portdev, source)], remove: [] } : { set: [], remove: [portdev] },
    );
  }
}
