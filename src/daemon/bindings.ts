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
import type { InstantiateOptions } from '../nwfilter/instantiate.js';
import type { FilterSource } from '../nwfilter/source.js';
import { portFilterFor } from '../learning/port-filter.js';
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
    const macFilter = this.macFilters.has(portdev) || undefined;
    if (!binding && this.blocked.has(portdev))
      return dropAllPolicy(portdev, this.macFilters.get(portdev) ?? UNKNOWN_MAC);
    if (!binding) return { portdev, mac: this.macFilters.get(portdev)!, filter: '', instances: [], macFilter };
    if (this.learning) {
      // the port's filter needs addresses: learning them starts with the filter that waits for them
      let plan = this.learning.plan(binding, source);
      // a guest that moved here from another fleet host comes with its addresses: no new learning phase
      if (plan.learning && this.learning.learn(binding, plan.learning, this.bridges.get(portdev)))
        plan = this.learning.plan(binding, source);
      // not spread: its instances may be deferred (a getter)
      if (macFilter) plan.filter.macFilter = true;
      return plan.filter;
    }
    return {
      portdev,
      mac: binding.mac,
      filter: binding.filter,
      instances: instantiateBinding(binding, source, this.instantiateOptions),
      macFilter,
    };
  }

  /** The port's filter as the backend was given it, computed without starting anything (nwfilter-explain). */
  currentFilter(portdev: string, source: FilterSource): PortFilter {
    const binding = this.get(portdev);
    if (this.learning) return this.learning.plan(binding, source).filter;
    const { mac, filter } = binding;
    return { portdev, mac, filter, instances: instantiateBinding(binding, source, this.instantiateOptions) };
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

  /** Re-instantiates, in one backend apply, every port whose filter is in `filters` (a redefinition). */
  async refresh(filters: ReadonlySet<string>, source: FilterSource): Promise<string[]> {
    const ports = this.list()
      .filter((b) => filters.has(b.filter))
      .map((b) => b.portdev);
    if (ports.length) await this.backend.apply({ set: ports.map((p) => this.portFilter(p, source)), remove: [] });
    return ports;
  }

  /**
   * Checks that every binding (or `bindings`: another fleet host's) still instantiates with
   * `source` (before a filter change is accepted).
   */
  check(filters: ReadonlySet<string>, source: FilterSource, bindings: readonly FilterBindingDef[] = this.list()): void {
    for (const b of bindings) if (filters.has(b.filter)) this.instantiable(b, source);
  }

  /** Throws what instantiating the binding's filter throws (nothing is applied). */
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
