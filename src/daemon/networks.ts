// Virtual networks of the daemon: persistent definitions (DIR/etc/virtwall/networks/NAME.xml),
// autostart links, and the running networks the NetworkDriver records. Mirrors libvirt's
// network driver object rules: transient networks exist only while active, undefining an active
// network makes it transient, a definition's UUID and name pair is fixed once defined.
import { existsSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { VirtwallError, type SourceLocation } from '../errors.js';
import { generateMac } from '../util/address.js';
import { isVirtual } from '../network/definition.js';
import { formatNetwork } from '../conf/network/format.js';
import { parseNetwork } from '../conf/network/parse.js';
import type { NetworkDef } from '../conf/network/types.js';
import { liveEffectOf, updateNetwork, type UpdateCommand, type UpdateSection } from '../conf/network/update.js';
import type { FirewallRepair, NetworkDriver } from '../network/lifecycle/driver.js';
import type { NetworkLease } from '../network/lifecycle/leases.js';
import { checkObjectName, checkZoneName } from './names.js';
import { checkDeviceName } from '../util/device-name.js';
import { crashPoint, removeRecord, writeRecord } from './persist.js';
import { readRecords } from '../util/state-file.js';

const SUFFIX = '.xml';
/** libvirt's MAX_BRIDGE_ID: virbr0 .. virbr256. */
const MAX_BRIDGE_ID = 256;

/** Which definitions net-update changes (virsh --live / --config; neither: --current). */
export interface UpdateScope {
  live: boolean;
  config: boolean;
}

export interface NetworkSummary {
  name: string;
  uuid: string;
  active: boolean;
  persistent: boolean;
  autostart: boolean;
  bridge?: string;
}

export class NetworkService {
  private readonly defs = new Map<string, NetworkDef>();

  constructor(
    private readonly dir: string,
    private readonly autostartDir: string,
    private readonly driver: NetworkDriver,
  ) {}

  /**
   * Reads the definitions. A virtual network without a bridge MAC (written by hand, or by an
   * older virtwall) gets one, saved at once so it keeps it (libvirt's virNetworkLoadConfig).
   */
  load(): void {
    for (const [name, def] of readRecords(this.dir, SUFFIX, parseNetwork)) {
      if (isVirtual(def) && def.mac === undefined) this.define({ ...def, mac: generateMac() });
      else this.defs.set(name, def);
    }
  }

  /** Defined and running networks (`running`: the driver's records, when the caller has read them). */
  private all(running = this.driver.active()): Map<string, NetworkDef> {
    const out = new Map(this.defs);
    for (const s of running) if (!out.has(s.name)) out.set(s.name, s.def);
    return out;
  }

  /** The network called `nameOrUuid` (name first, then UUID, as virsh looks networks up). */
  lookup(nameOrUuid: string): NetworkDef {
    const all = this.all();
    const def = all.get(nameOrUuid) ?? [...all.values()].find((d) => d.uuid === nameOrUuid.toLowerCase());
    if (!def) throw new VirtwallError('not-found', `Network not found: no network with matching name '${nameOrUuid}'`);
    return def;
  }

  /** The network with this UUID (libvirt's lookups by UUID; `name`: the caller's name for it, shown in the error). */
  lookupUuid(uuid: string, name?: string): NetworkDef {
    const want = uuid.toLowerCase();
    // persistent definitions are in memory; only a transient network needs the driver's records
    const def =
      [...this.defs.values()].find((d) => d.uuid === want) ??
      this.driver.active().find((s) => s.def.uuid === want)?.def;
    if (!def)
      throw new VirtwallError(
        'not-found',
        `Network not found: no network with matching uuid '${uuid}'${name === undefined ? '' : ` (${name})`}`,
      );
    return def;
  }

  summary(def: NetworkDef): NetworkSummary {
    const status = this.driver.status(def.name);
    return {
      name: def.name,
      uuid: def.uuid,
      active: status !== undefined,
      persistent: this.defs.has(def.name),
      autostart: this.autostartOf(def.name),
      bridge: status?.bridge ?? this.defs.get(def.name)?.bridge.name,
    };
  }

  list(): NetworkSummary[] {
    return [...this.all().values()].map((d) => this.summary(d)).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The definition as `net-dumpxml` shows it: the running one (with its `connections`) unless `inactive`. */
  xml(nameOrUuid: string, inactive: boolean, connections = 0): string {
    const def = this.lookup(nameOrUuid);
    const running = this.driver.status(def.name);
    return formatNetwork(!inactive && running ? { ...running.def, connections } : (this.defs.get(def.name) ?? def), {
      inactive,
    });
  }

  /**
   * Parses and completes a definition as libvirt's networkValidate does (at define and
   * create): a virtual network gets a bridge name no other network uses (refused if it names
   * one in use) and a bridge MAC when it has none.
   */
  async parse(xml: string, file: string): Promise<NetworkDef> {
    const def = parseNetwork(xml, file);
    checkObjectName(def.name, 'network', { file, element: 'name' });
    // the running networks' records, read once (reading them grows with their number)
    const running = this.driver.active();
    const all = this.all(running);
    const clash = [...all.values()].find((d) => d.uuid === def.uuid && d.name !== def.name);
    if (clash) throw new VirtwallError('conflict', `network '${clash.name}' is already defined with uuid ${def.uuid}`);
    const same = all.get(def.name);
    if (same && def.uuidSpecified && same.uuid !== def.uuid) {
      throw new VirtwallError('conflict', `network '${def.name}' is already defined with uuid ${same.uuid}`);
    }
    checkForwardDevices(def, file);
    if (def.bridge.zone !== undefined) checkZoneName(def.bridge.zone, { file, element: 'bridge', attribute: 'zone' });
    const uuid = same && !def.uuidSpecified ? same.uuid : def.uuid;
    if (!isVirtual(def)) return { ...def, uuid };
    const where = { file, element: 'bridge', attribute: 'name' };
    const inUse = bridgesInUse([...all.values(), ...running.map((s) => s.def)], def.name);
    const bridge = await this.chooseBridge(def, same, where, inUse);
    checkDeviceName(bridge, 'bridge name', where);
    return { ...def, uuid, bridge: { ...def.bridge, name: bridge }, mac: def.mac ?? generateMac() };
  }

  /**
   * libvirt's networkBridgeNameValidate: a given name must not be another network's; without
   * one (or with a `%d` template), the first virbrN that is neither another network's nor an
   * existing device.
   */
  private async chooseBridge(
    def: NetworkDef,
    same: NetworkDef | undefined,
    where: SourceLocation,
    used: Set<string | undefined>,
  ): Promise<string> {
    const given = def.bridge.name;
    if (given !== undefined && !given.includes('%d')) {
      if (used.has(given)) throw new VirtwallError('conflict', `bridge name '${given}' already in use.`, where);
      return given;
    }
    if (same?.bridge.name !== undefined && !same.bridge.name.includes('%d')) return same.bridge.name;
    const template = given ?? 'virbr%d';
    for (let id = 0; id <= MAX_BRIDGE_ID; id++) {
      const name = template.replace('%d', String(id));
      if (!used.has(name) && !(await this.driver.deviceExists(name))) return name;
    }
    throw new VirtwallError('operation-failed', `Bridge generation exceeded max id ${MAX_BRIDGE_ID}`, where);
  }

  define(def: NetworkDef): void {
    writeRecord('network', this.dir, def.name + SUFFIX, formatNetwork(def, { inactive: true }));
    this.defs.set(def.name, def);
  }

  undefine(nameOrUuid: string): string {
    const def = this.lookup(nameOrUuid);
    if (!this.defs.has(def.name))
      throw new VirtwallError('invalid-input', "Requested operation is not valid: can't undefine transient network");
    this.setAutostart(def.name, false);
    removeRecord('network', this.dir, def.name + SUFFIX);
    this.defs.delete(def.name);
    return def.name;
  }

  async start(nameOrUuid: string): Promise<NetworkDef> {
    const def = this.lookup(nameOrUuid);
    await this.driver.start(this.defs.get(def.name) ?? def);
    crashPoint('network:started');
    return def;
  }

  /** `net-create`: a transient network, started without being defined. */
  async create(def: NetworkDef): Promise<void> {
    if (this.driver.status(def.name))
      throw new VirtwallError(
        'conflict',
        `Requested operation is not valid: network is already active as '${def.name}'`,
      );
    if (this.defs.has(def.name)) throw new VirtwallError('conflict', `network '${def.name}' already exists`);
    await this.driver.start(def);
  }

  async destroy(nameOrUuid: string): Promise<NetworkDef> {
    const def = this.lookup(nameOrUuid);
    await this.driver.stop(def.name);
    return def;
  }

  bridgeOf(nameOrUuid: string): string {
    const def = this.lookup(nameOrUuid);
    const status = this.driver.status(def.name);
    if (!status)
      throw new VirtwallError(
        'operation-failed',
        `Requested operation is not valid: network '${def.name}' is not active`,
      );
    return status.bridge;
  }

  isActive(name: string): boolean {
    return this.driver.status(name) !== undefined;
  }

  isPersistent(name: string): boolean {
    return this.defs.has(name);
  }

  autostartOf(name: string): boolean {
    return existsSync(join(this.autostartDir, name + SUFFIX));
  }

  setAutostart(nameOrUuid: string, enable: boolean): string {
    const def = this.lookup(nameOrUuid);
    if (!this.defs.has(def.name))
      throw new VirtwallError(
        'invalid-input',
        'Requested operation is not valid: cannot set autostart for transient network',
      );
    const link = join(this.autostartDir, def.name + SUFFIX);
    if (enable && !this.autostartOf(def.name)) symlinkSync(join('..', def.name + SUFFIX), link);
    if (!enable) rmSync(link, { force: true });
    return def.name;
  }

  /** Starts every autostart network not yet running; failures are reported, not fatal. */
  async autostart(onError: (name: string, err: unknown) => void): Promise<string[]> {
    const started: string[] = [];
    for (const def of this.defs.values()) {
      if (!this.autostartOf(def.name) || this.driver.status(def.name)) continue;
      try {
        await this.driver.start(def);
        started.push(def.name);
      } catch (err) {
        onError(def.name, err);
      }
    }
    return started;
  }

  /**
   * `net-update` (libvirt's networkUpdate): `--current` means the running network if active,
   * else the persistent definition. The live change is put into effect (dnsmasq files and
   * SIGHUP or restart, firewall) before anything is recorded; each definition is updated on
   * its own, so a live-only change leaves the persistent definition as it was.
   */
  async update(
    nameOrUuid: string,
    command: UpdateCommand,
    section: UpdateSection,
    parentIndex: number,
    xml: string,
    scope: UpdateScope,
    /** Told the new persistent definition before it is stored (Daemon.definitionSink). */
    beforeDefine?: (def: NetworkDef) => Promise<void> | undefined,
  ): Promise<{ name: string } & UpdateScope> {
    const def = this.lookup(nameOrUuid);
    const running = this.driver.status(def.name);
    const persistent = this.defs.get(def.name);
    const live = scope.live || (!scope.config && running !== undefined);
    const config = scope.config || (!scope.live && running === undefined);
    if (live && !running)
      throw new VirtwallError('conflict', 'Requested operation is not valid: network is not running');
    if (config && !persistent)
      throw new VirtwallError(
        'conflict',
        'Requested operation is not valid: cannot change persistent config of a transient network',
      );
    const updated = (from: NetworkDef) => {
      const next = updateNetwork(from, command, section, parentIndex, xml, 'update');
      checkForwardDevices(next, 'update');
      return next;
    };
    const liveDef = live ? updated(running!.def) : undefined;
    const configDef = config ? updated(persistent!) : undefined;
    if (liveDef) await this.driver.update(def.name, liveDef, liveEffectOf(section));
    if (configDef) {
      await beforeDefine?.(configDef);
      this.define(configDef);
    }
    return { name: def.name, live, config };
  }

  /** Restores bridges' firewalld zones (`zones`), running networks' firewall rules (`force`: re-applies them all) and dead dnsmasqs. */
  async heal(
    force: boolean,
    zones = false,
  ): Promise<{
    zones: { bridge: string; zone: string; error?: string }[];
    firewall: FirewallRepair[];
    dnsmasq: { network: string; error?: string }[];
  }> {
    return {
      zones: zones ? await this.driver.healZones() : [],
      firewall: await this.driver.healFirewall(force),
      dnsmasq: await this.driver.healDnsmasq(),
    };
  }

  leases(nameOrUuid: string): NetworkLease[] {
    return this.driver.leases(this.lookup(nameOrUuid).name);
  }

  /** Resolves once stopped networks' bridges are deleted (their deletion follows the stops). */
  settle(): Promise<void> {
    return this.driver.settle();
  }
}

/** Forward devices end up in firewall rules: they must be plain device names. */
function checkForwardDevices(def: NetworkDef, file: string): void {
  for (const iface of def.forward.interfaces)
    if (iface.type === 'netdev')
      checkDeviceName(iface.dev, 'forward device', { file, element: 'forward', attribute: 'dev' });
}

/** Bridge names of the networks other than `skip`, defined and running (virNetworkObjBridgeInUse). */
function bridgesInUse(networks: readonly NetworkDef[], skip: string): Set<string | undefined> {
  return new Set(networks.filter((d) => d.name !== skip).map((d) => d.bridge.name));
}
