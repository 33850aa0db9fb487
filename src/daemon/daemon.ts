// The daemon's domain layer: filters, bindings, networks and ports together, with the rules
// that span them (a redefined filter re-instantiates its bindings in one apply, a filter in use
// cannot be undefined, a port creates its binding). Operations run one at a time. No HTTP here.
import type { Logger } from 'pino';
import { VirtwallError } from '../errors.js';
import { formatFilter } from '../conf/nwfilter/index.js';
import { formatFilterBinding } from '../conf/nwfilterbinding/index.js';
import { parseNetworkPort } from '../conf/networkport/parse.js';
import { formatNetwork } from '../conf/network/format.js';
import type { CommandRunner } from '../exec/runner.js';
import type { NwfilterBackend } from '../nwfilter/backend.js';
import type { InstantiateOptions } from '../nwfilter/instantiate.js';
import { NetworkDriver } from '../network/lifecycle/driver.js';
import type { Firewalld } from '../host/firewalld.js';
import { writeLeaseHookScript } from '../network/lifecycle/lease-hook.js';
import { parseDnsmasqVersion } from '../network/dnsmasq/config.js';
import type { UpdateCommand, UpdateSection } from '../conf/network/update.js';
import { join } from 'node:path';
import { BindingService } from './bindings.js';
import { PortLearning } from './learning.js';
import { servesDhcp } from '../network/definition.js';
import type { DaemonConfig } from './config.js';
import { FilterService } from './filters.js';
import { ensureLayout, type StateLayout } from './layout.js';
import { NetworkService, type UpdateScope } from './networks.js';
import { NetworkEvents } from './events.js';
import { crashPoint } from './persist.js';
import { reportCorruptStateTo } from '../util/state-file.js';
import { SerialQueue } from '../util/serial-queue.js';
import { PortService, type PortRequest } from './ports.js';
import { Telemetry } from '../observe/telemetry.js';
import type { ExplainReport, ExplainRequest } from '../explain/explain.js';
import type { Fleet } from '../fleet/sync.js';

export interface DaemonDeps {
  layout: StateLayout;
  config: DaemonConfig;
  runner: CommandRunner;
  backend: NwfilterBackend;
  log: Logger;
  /** IP learning seam (see BindingService). */
  instantiateOptions?: InstantiateOptions;
  /** firewalld on the system bus (bridges' zones); none: as if it were not running. */
  firewalld?: Firewalld;
  /** Where requests and reconciles are recorded; default: without Prometheus metrics. */
  telemetry?: Telemetry;
}

/**
 * Where definitions go before this host stores them (the fleet's etcd, src/fleet): told after the
 * local checks and before anything is stored, so its refusal leaves everything as it was.
 */
export interface DefinitionSink {
  write(kind: 'nwfilter' | 'network', name: string, xml: string | undefined): Promise<void>;
}

export interface ReconcileOptions {
  /** Re-apply every network's rules (SIGHUP). */
  force?: boolean;
  /** Put bridges back in their firewalld zones too (firewalld reloaded or restarted). */
  zones?: boolean;
  /** The tables a foreign change touched (objectKey form); none given: any may have been. */
  tables?: ReadonlySet<string>;
}

export class Daemon {
  readonly filters: FilterService;
  readonly bindings: BindingService;
  readonly networks: NetworkService;
  readonly ports: PortService;
  readonly learning: PortLearning;
  readonly networkEvents = new NetworkEvents();
  /** Requests and reconciles as they happen, for the metrics and the dashboard (src/observe). */
  readonly telemetry: Telemetry;
  private readonly queue = new SerialQueue();
  /** None: definitions are this host's alone. */
  definitionSink?: DefinitionSink;
  /** Awaited before a guest's port is bound: the fleet hands over what it learned on another host. */
  guestArriving?: (owner: string, mac: string) => Promise<void>;
  /** Called once a guest's port binding here is gone (the fleet lets what it learned expire). */
  guestLeft?: (owner: string, mac: string) => void;
  /** The fleet this host belongs to (etcd_endpoints; src/fleet), for `virtwall cluster`. */
  fleet?: Fleet;

  private constructor(
    private readonly deps: DaemonDeps,
    driver: NetworkDriver,
  ) {
    const l = deps.layout;
    this.telemetry = deps.telemetry ?? new Telemetry();
    this.filters = new FilterService(l.filters);
    this.learning = new PortLearning({
      stateFile: join(l.lib, 'ip-learning.json'),
      leaseDir: l.networkState,
      log: deps.log,
      onChange: (port) =>
        void this.serial(() => this.bindings.reapply(port, this.filters.source())).catch((err: unknown) =>
          deps.log.error({ port, err: (err as Error).message }, 're-applying a learned port failed'),
        ),
    });
    this.bindings = new BindingService(l.bindings, deps.backend, deps.instantiateOptions, this.learning);
    this.networks = new NetworkService(l.networks, l.autostart, driver);
    this.ports = new PortService(l.ports, deps.runner);
  }

  /** Loads every record, brings the kernel's filters back to them, starts autostart networks. */
  static async open(deps: DaemonDeps): Promise<Daemon> {
    reportCorruptStateTo((c) => deps.log.warn(c, 'corrupt state file set aside'));
    ensureLayout(deps.layout);
    // the kernel lists our rules while the records below are read
    deps.backend.prepare?.();
    const driver = new NetworkDriver({
      runner: deps.runner,
      stateDir: deps.layout.networkState,
      firewallBackend: deps.config.networkFirewallBackend,
      leaseHook: writeLeaseHookScript(deps.layout.networkState),
      dnsmasqCaps: async () => parseDnsmasqVersion((await deps.runner.run(['dnsmasq', '--version'])).stdout),
      diag: { warn: (detail) => deps.log.warn(detail) },
      firewalld: deps.firewalld,
      foreignForwardAccept: deps.config.foreignForwardAccept,
    });
    // bridges retired by stops of a daemon that ended before deleting them
    await driver.reapRetiredBridges();
    const d = new Daemon(deps, driver);
    d.filters.load(deps.layout.lib);
    d.bindings.load();
    d.networks.load();
    for (const p of d.ports.load()) {
      if (p.tap === undefined) continue;
      if (p.macFilter) d.bindings.restoreMacFilter(p.tap, parseNetworkPort(p.xml).mac);
      if (p.filter !== undefined && d.networks.lookup(p.network).ips.some(servesDhcp))
        d.bindings.setBridge(p.tap, d.networks.bridgeOf(p.network));
    }
    await d.reconcile('start-up', { zones: true });
    d.learning.start();
    const started = await d.networks.autostart((name, err) =>
      deps.log.error({ network: name, err: (err as Error).message }, 'autostart failed'),
    );
    for (const name of started) deps.log.info({ network: name }, 'autostarted network');
    deps.backend.restamp?.();
    return d;
  }

  /** Runs operations one at a time (the records and the backend are not re-entrant). */
  serial<T>(op: () => Promise<T> | T): Promise<T> {
    // what an operation committed (a network's rules, a heal) moves the ruleset's generation on
    return this.queue.run(op).finally(() => this.deps.backend.restamp?.());
  }

  /**
   * Makes the kernel's nwfilter state match the bindings and restores running networks'
   * firewall rules and dnsmasq, logging what had to be repaired. `force` re-applies every
   * network's rules (SIGHUP); `zones` also puts bridges back in their firewalld zones (firewalld
   * reloaded or restarted). A failure of one half does not stop the other.
   */
  async reconcile(reason: string, { force = false, zones = false, tables }: ReconcileOptions = {}): Promise<void> {
    // a foreign change names its tables: the nwfilter half only for the backend's own, the
    // network half for any other (networks' rules live in tables of their own and others')
    const own = this.deps.backend.kernelTables;
    const filters = !tables || !own || [...tables].some((t) => own.includes(t));
    const networks = !tables || !own || [...tables].some((t) => !own.includes(t));
    const halves = [
      ...(filters ? [() => this.reconcileFilters(reason)] : []),
      ...(networks ? [() => this.healNetworks(reason, force, zones)] : []),
    ];
    let failure: unknown;
    for (const half of halves) await half().catch((err: unknown) => (failure ??= err));
    if (failure) throw failure;
  }

  private async reconcileFilters(reason: string): Promise<void> {
    const report = await this.telemetry.reconcile(
      'nwfilter',
      reason,
      () => this.bindings.reconcile(this.filters.source()),
      (r) => ({ nwfilter_port: r.repaired.length + r.removed.length }),
    );
    const changed = report.repaired.length + report.removed.length > 0;
    this.deps.log[changed ? 'warn' : 'info'](
      {
        reason,
        repaired: report.repaired,
        removed: report.removed,
        compiled: report.compiled,
        stamped: report.stamped,
      },
      'nwfilter reconcile',
    );
  }

  private async healNetworks(reason: string, force: boolean, zones: boolean): Promise<void> {
    const ok = (list: readonly { error?: string }[]) => list.filter((x) => x.error === undefined).length;
    const healed = await this.telemetry.reconcile(
      'network',
      reason,
      () => this.networks.heal(force, zones),
      (h) => ({ firewalld_zone: ok(h.zones), network_firewall: ok(h.firewall), dnsmasq: ok(h.dnsmasq) }),
    );
    const log = this.deps.log;
    for (const { bridge, zone, error } of healed.zones) {
      if (error !== undefined) log.error({ reason, bridge, zone, err: error }, 'firewalld zone not restored');
      else log.warn({ reason, bridge, zone }, 'firewalld zone restored');
    }
    for (const r of healed.firewall) {
      const fields = { reason, network: r.target, missing: r.missing, kept: r.kept };
      if (r.error !== undefined) log.error({ ...fields, err: r.error }, 'network firewall repair failed');
      else log.warn(fields, r.missing > 0 ? 'network firewall restored' : 'network firewall re-applied');
    }
    for (const { network, error } of healed.dnsmasq) {
      if (error !== undefined) log.error({ reason, network, err: error }, 'dnsmasq was gone and did not start again');
      else log.warn({ reason, network }, 'dnsmasq was gone: restarted');
    }
    if (healed.zones.length + healed.firewall.length + healed.dnsmasq.length === 0)
      log.debug({ reason }, 'networks intact');
  }

  // --- nwfilter ---
  async defineFilter(xml: string, file = 'nwfilter'): Promise<{ name: string; reinstantiated: string[] }> {
    const def = this.filters.parse(xml, file);
    const affected = this.filters.affectedBy(def.name);
    const source = this.filters.source(def);
    // every binding it reaches is instantiated before the definition is accepted (loops, bad refs,
    // values that do not fit), and what is applied once it is stored is that instantiation
    const prepared = this.bindings.prepare(affected, source);
    await this.definitionSink?.write('nwfilter', def.name, formatFilter(def));
    this.filters.store(def);
    crashPoint('nwfilter:stored');
    const reinstantiated = await this.bindings.refresh(prepared, this.filters.source());
    return { name: def.name, reinstantiated };
  }

  async undefineFilter(nameOrUuid: string): Promise<string> {
    const def = this.filters.get(nameOrUuid);
    const users = [...this.bindings.boundFilters()].filter((f) => this.filters.affectedBy(def.name).has(f));
    const referrers = this.filters.referrers(def.name);
    if (users.length || referrers.length)
      throw new VirtwallError('conflict', 'Requested operation is not valid: nwfilter is in use');
    await this.definitionSink?.write('nwfilter', def.name, undefined);
    this.filters.remove(def.name);
    return def.name;
  }

  filterXml(nameOrUuid: string): string {
    return formatFilter(this.filters.get(nameOrUuid));
  }

  // --- bindings ---
  async createBinding(xml: string, file = 'nwfilterbinding'): Promise<string> {
    const def = this.bindings.parse(xml, file);
    await this.guestArriving?.(def.owner.uuid, def.mac);
    await this.bindings.create(def, this.filters.source());
    return def.portdev;
  }

  async deleteBinding(portdev: string): Promise<void> {
    if (this.ports.list().some((p) => p.tap === portdev && p.filter !== undefined)) {
      throw new VirtwallError('conflict', `filter binding on '${portdev}' belongs to a network port; delete the port`);
    }
    await this.unbind(portdev);
  }

  private async unbind(portdev: string): Promise<void> {
    const { owner, mac } = this.bindings.get(portdev);
    await this.bindings.delete(portdev, this.filters.source());
    this.guestLeft?.(owner.uuid, mac);
  }

  /**
   * The binding's XML as libvirt shows it once instantiated: the standard variables filled in
   * (virNWFilterInstantiateFilterUpdate adds MAC, and IP once learned, unless given).
   */
  bindingXml(portdev: string): string {
    const def = this.bindings.get(portdev);
    const params = new Map(def.params);
    if (!params.has('MAC')) params.set('MAC', [def.mac]);
    const learned =
      this.learning
        .json(portdev)
        ?.addresses.filter((a) => a.family === 'ipv4')
        .map((a) => a.address) ?? [];
    if (!params.has('IP') && learned.length) params.set('IP', learned);
    return formatFilterBinding({ ...def, params });
  }

  /** nwfilter-explain: packets through the rules the backend holds for a bound port (offline: nothing is sent). */
  async explainPacket(portdev: string, req: ExplainRequest): Promise<ExplainReport> {
    const port = this.bindings.currentFilter(portdev, this.filters.source());
    const held = this.deps.backend.explainable?.();
    if (!held)
      throw new VirtwallError(
        'operation-failed',
        `nwfilter-explain: the ${this.deps.backend.name} backend holds no rules to explain yet`,
      );
    // loaded at the first request: a daemon start does not pay for the evaluators
    const { explainPort } = await import('../explain/explain.js');
    return explainPort({ port, ...held }, req);
  }

  /** virtwall's own record of what a binding's port learned (not libvirt XML: its own command). */
  bindingLearning(portdev: string): { xml: string; json: unknown } {
    this.bindings.get(portdev);
    return { xml: this.learning.xml(portdev, 0), json: this.learning.json(portdev) ?? null };
  }

  portXml(uuid: string): string {
    return this.ports.get(uuid).xml;
  }

  // --- networks ---
  async networkDefine(xml: string, file = 'network'): Promise<string> {
    const def = await this.networks.parse(xml, file);
    await this.definitionSink?.write('network', def.name, formatNetwork(def, { inactive: true }));
    this.networks.define(def);
    this.networkEvents.emit({ kind: 'defined', name: def.name, uuid: def.uuid });
    return def.name;
  }

  async networkUndefine(nameOrUuid: string): Promise<string> {
    const def = this.networks.lookup(nameOrUuid);
    if (this.networks.isPersistent(def.name)) await this.definitionSink?.write('network', def.name, undefined);
    this.networks.undefine(def.name);
    this.networkEvents.emit({ kind: 'undefined', name: def.name, uuid: def.uuid });
    return def.name;
  }

  async networkCreate(xml: string, file = 'network'): Promise<string> {
    const def = await this.networks.parse(xml, file);
    await this.networks.create(def);
    this.networkEvents.emit({ kind: 'started', name: def.name, uuid: def.uuid });
    return def.name;
  }

  async networkStart(nameOrUuid: string): Promise<string> {
    const def = await this.networks.start(nameOrUuid);
    this.networkEvents.emit({ kind: 'started', name: def.name, uuid: def.uuid });
    return def.name;
  }

  async networkDestroy(nameOrUuid: string): Promise<string> {
    const def = this.networks.lookup(nameOrUuid);
    // the ports go with the network, as guest interfaces lose their link when libvirt's does
    for (const p of this.ports.list(def.name)) await this.deletePort(p.uuid);
    await this.networks.destroy(def.name);
    this.networkEvents.emit({ kind: 'stopped', name: def.name, uuid: def.uuid });
    return def.name;
  }

  networkUpdate(
    nameOrUuid: string,
    command: UpdateCommand,
    section: UpdateSection,
    parentIndex: number,
    xml: string,
    scope: UpdateScope,
  ): Promise<{ name: string } & UpdateScope> {
    return this.networks.update(nameOrUuid, command, section, parentIndex, xml, scope, (def) =>
      this.definitionSink?.write('network', def.name, formatNetwork(def, { inactive: true })),
    );
  }

  /** `net-dumpxml`: a running network shows its ports as connections, as libvirt counts them. */
  networkXml(nameOrUuid: string, inactive: boolean): string {
    const name = this.networks.lookup(nameOrUuid).name;
    return this.networks.xml(name, inactive, this.ports.list(name).length);
  }

  // --- ports ---
  async createPort(req: PortRequest): Promise<string> {
    const network = this.networks.lookup(req.network).name;
    const bridge = this.networks.bridgeOf(network);
    const { port, binding } = this.ports.prepare(req, bridge);
    const source = this.filters.source();
    // the filter goes in place before the device joins the bridge: no unfiltered moment
    const undo: (() => Promise<void>)[] = [];
    try {
      if (binding) {
        await this.guestArriving?.(binding.owner.uuid, binding.mac);
        // its network's dnsmasq teaches the guest's address when the network serves DHCP
        await this.bindings.create(
          binding,
          source,
          this.networks.lookup(network).ips.some(servesDhcp) ? bridge : undefined,
        );
        undo.push(() => this.bindings.delete(binding.portdev, source));
      }
      const tap = req.tap;
      if (req.macFilter && tap !== undefined) {
        await this.bindings.setMacFilter(tap, port.mac, source);
        undo.push(() => this.bindings.setMacFilter(tap, undefined, source));
      }
      crashPoint('port:filtered');
      await this.ports.attach(port, req, network, bridge);
    } catch (err) {
      for (const step of undo.reverse()) await step();
      throw err;
    }
    return port.uuid;
  }

  async deletePort(uuid: string): Promise<void> {
    const record = await this.ports.detach(uuid);
    const source = this.filters.source();
    if (record.tap === undefined) return;
    if (record.macFilter) await this.bindings.setMacFilter(record.tap, undefined, source);
    if (record.filter !== undefined) await this.unbind(record.tap);
  }
}
