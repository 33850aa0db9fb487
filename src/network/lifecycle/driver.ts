// Starting and stopping virtual networks on a real host (or inside one network namespace, when
// the runner is bound to it), as libvirt's networkStartNetworkVirtual / networkShutdownNetwork-
// Virtual do: bridge, IPv6 sysctls, firewall, addresses, routes, IP forwarding, dnsmasq. Every
// step records its undo; a failing step undoes the steps before it. The record of what a running
// network added is persisted, so stop works after a restart or a firewall backend switch.
import { chmodSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as z from '../../util/zod.js';
import { VirtwallError, type Diagnostics } from '../../errors.js';
import { jsonState, readRecords, readState, writeFileAtomic, type ReadOptions } from '../../util/state-file.js';
import { isDeviceName } from '../../util/device-name.js';
import { deepFreeze } from '../../util/deep-freeze.js';
import type { CommandRunner } from '../../exec/runner.js';
import type { NetworkDef } from '../../conf/network/types.js';
import { renderCommandLine } from '../../plan/command.js';
import { bridgeName, forwardDev, hasFirewall, servesDhcp } from '../definition.js';
import { dnsmasqFiles, type DnsmasqCaps } from '../dnsmasq/config.js';
import type { FirewallBackendName } from '../firewall/plan.js';
import { FIREWALL_PART, type FirewallPart } from '../firewall/parts.js';
import { formatIp, networkCidr, parseIp, sameNetwork } from '../../util/address.js';
import type { LiveEffect } from '../../conf/network/update.js';
import {
  applyNetworkFirewall,
  applyNetworkFirewalls,
  reapplyNetworkFirewalls,
  removeNetworkFirewall,
} from './apply-firewall.js';
import { firewallParts } from './firewall-health.js';
import {
  checkDhcpInSubnet,
  checkRouteCollision,
  checkRunnable,
  checkSubnetOverlap,
  type RouteEntry,
} from './checks.js';
import { isNetworkSysctl, networkKernel, type NetworkKernel } from './kernel.js';
import { removeUnusedGlobalFirewall } from './global-firewall.js';
import { RetiredBridgeReaper } from './retired-bridges.js';
import { leaseFile } from './lease-hook.js';
import type { Firewalld } from '../../host/firewalld.js';
import { checkZoneRequest, restoreBridgeZones, setBridgeZone, unsetBridgeZone } from '../../host/bridge-zone.js';
import { ensureForwardPasses, foreignForwardChains, removeForwardPasses } from '../../host/forward-passes.js';
import { networkLeases, readLeases, type NetworkLease } from './leases.js';
import { closedPathText, closedToOthers } from '../dnsmasq/reach.js';
import { processIs, processRuns, processTree } from '../../util/process.js';

/** What a running network added, enough to remove it exactly (libvirt's status XML role). */
export interface NetworkStatus {
  name: string;
  uuid: string;
  bridge: string;
  /** The definition it was started with (formatted by the caller where needed). */
  def: NetworkDef;
  firewallBackend: FirewallBackendName;
  /** The firewalld zone the bridge was put in (taken out again at stop). */
  zone?: string;
  /** The network's firewall rules as the kernel holds them (removed at stop, checked by heals). */
  firewallRemoval: FirewallPart[];
  /** Empty nf_tables tables iptables-nft created for the firewall (removed with the last network). */
  createdTables: string[];
  dnsmasqPid?: number;
  /** Global sysctls this network turned on, with the values they had (restored by the last stop). */
  sysctlsChanged: { key: string; previous: string }[];
  files: string[];
  /** When it started (ms since the epoch): repairs re-insert networks' rules in start order. */
  startedAt: number;
}

export interface NetworkDriverOptions {
  runner: CommandRunner;
  /** dnsmasq configuration, hosts files, lease records and network status live here. */
  stateDir: string;
  firewallBackend: FirewallBackendName;
  /** Executable dnsmasq calls on lease changes (see leaseHookScript); none: leases not recorded. */
  leaseHook?: string;
  /**
   * What the host's dnsmasq can do, asked when a network first needs dnsmasq (the daemon runs
   * `dnsmasq --version` then, not at every start of its own).
   */
  dnsmasqCaps: () => Promise<DnsmasqCaps>;
  diag: Diagnostics;
  /** firewalld on the system bus (none: as if firewalld were not running). */
  firewalld?: Firewalld;
  /** Let networks' traffic through other tables' forward chains with policy drop (host/forward-passes.ts). */
  foreignForwardAccept?: boolean;
  /** Seconds since the epoch (injectable for tests of lease expiry). */
  now?: () => number;
}

/** What a firewall check found gone and restored: one network's rules, or libvirt's global chains. */
export interface FirewallRepair {
  /** The network, or `global <backend>` for libvirt's shared chains and tables. */
  target: string;
  /** Parts that were gone (removal commands of the network's record, or creating commands). */
  missing: number;
  /** Parts still present, replaced in the same batch. */
  kept: number;
  /** Why the repair failed (the next check finds the network damaged and tries again). */
  error?: string;
}

type Undo = () => Promise<void>;

const STATUS_SUFFIX = '.status.json';

/**
 * A status record as read back. Its undo commands are run as root at stop: only firewall
 * tools and tc; its files are removed: only inside the state directory. The definition is taken as
 * the daemon wrote it (its fields are not checked one by one); fields added later pass.
 */
const STATUS = z.looseObject({
  name: z.string(),
  uuid: z.string(),
  bridge: z.string().check(z.refine(isDeviceName, 'not a device name')),
  def: z.looseObject({ name: z.string() }),
  firewallBackend: z.enum(['nftables', 'iptables']),
  firewallRemoval: z.array(FIREWALL_PART),
  createdTables: z.array(z.string()),
  dnsmasqPid: z.optional(z.int().check(z.positive())),
  sysctlsChanged: z.array(
    z.looseObject({ key: z.string().check(z.refine(isNetworkSysctl, 'not a network sysctl')), previous: z.string() }),
  ),
  files: z.array(z.string()),
  startedAt: z.number(),
});
const statusReader =
  (stateDir: string) =>
  (text: string): NetworkStatus => {
    const s = jsonState(STATUS)(text);
    if (s.files.some((f) => !f.startsWith(`${stateDir}/`) || f.split('/').includes('..')))
      throw new Error(`field 'files': a file outside ${stateDir}`);
    return s as unknown as NetworkStatus;
  };

/** Networks recorded as running in a state directory (a corrupt record is set aside, or with `readOnly` skipped). */
export function activeNetworks(stateDir: string, opts: ReadOptions = {}): NetworkStatus[] {
  return readRecords(stateDir, STATUS_SUFFIX, statusReader(stateDir), opts).map(([, s]) => s);
}

export class NetworkDriver {
  private readonly opts: NetworkDriverOptions;
  private caps: Promise<DnsmasqCaps> | undefined;
  /** Links, addresses, routes, sysctls: where the runner acts. */
  private readonly kernel: NetworkKernel;
  /** Deletes stopped networks' bridges after their stops returned. */
  private readonly reaper: RetiredBridgeReaper;
  /**
   * Status records by file, with the text each was parsed from: a start reads every running
   * network's record several times (lookups, bridge and subnet checks), and parsing and
   * validating (or even copying) them grew with the number of networks. A file is still read
   * every time; an unchanged text gives the record parsed before, shared and frozen: code that
   * changes a record to save it changes a copy (structuredClone).
   */
  private readonly parsed = new Map<string, { text: string; status: NetworkStatus }>();
  private readonly parseStatus = (text: string, file: string): NetworkStatus => {
    const hit = this.parsed.get(file);
    if (hit?.text === text) return hit.status;
    const status = deepFreeze(statusReader(this.opts.stateDir)(text));
    this.parsed.set(file, { text, status });
    return status;
  };

  constructor(opts: NetworkDriverOptions) {
    this.opts = opts;
    this.kernel = networkKernel(opts.runner);
    this.reaper = new RetiredBridgeReaper(this.kernel, (m) => opts.diag.warn(m));
    mkdirSync(opts.stateDir, { recursive: true });
    // dnsmasq reads its hosts files after dropping root privileges
    chmodSync(opts.stateDir, 0o755);
  }

  private statusFile(name: string): string {
    return join(this.opts.stateDir, name + STATUS_SUFFIX);
  }

  /** Networks recorded as running in the state directory (a corrupt record is set aside); frozen. */
  active(): NetworkStatus[] {
    return readRecords(this.opts.stateDir, STATUS_SUFFIX, this.parseStatus).map(([, s]) => s);
  }

  status(name: string): NetworkStatus | undefined {
    return readState(this.statusFile(name), this.parseStatus);
  }

  private saveStatus(status: NetworkStatus): void {
    writeFileAtomic(this.statusFile(status.name), `${JSON.stringify(status, null, 2)}\n`);
  }

  private async run(argv: readonly string[], env?: Readonly<Record<string, string>>): Promise<string> {
    const r = await this.opts.runner.run(argv, undefined, env);
    if (r.status !== 0) {
      throw new VirtwallError(
        'operation-failed',
        `'${renderCommandLine(argv)}' failed (${r.status}): ${r.stderr.trim()}`,
      );
    }
    return r.stdout;
  }

  /** A network device of that name exists (where the runner runs). */
  async deviceExists(dev: string): Promise<boolean> {
    return this.kernel.linkExists(dev);
  }

  /** The routes `def`'s subnets could collide with, with their devices (checkRouteCollision). */
  private async routes(def: NetworkDef): Promise<RouteEntry[]> {
    // only a route to one of its subnets can collide: only those need their device's name
    const subnets = new Set(def.ips.map((ip) => networkCidr(ip.address, ip.prefix)));
    return this.kernel.routes((dst) => {
      const [addr, prefix] = dst.split('/');
      const a = parseIp(addr ?? '');
      return a !== undefined && subnets.has(networkCidr(a, Number(prefix ?? (a.family === 'ipv4' ? 32 : 128))));
    });
  }

  /** Everything refused before anything is created. */
  private async preflight(def: NetworkDef, bridge: string): Promise<void> {
    if (this.status(def.name))
      throw new VirtwallError('conflict', 'Requested operation is not valid: network is already active');
    checkDhcpInSubnet(def);
    checkSubnetOverlap(
      def,
      this.active().map((s) => s.def),
    );
    if (await this.deviceExists(bridge)) {
      throw new VirtwallError('conflict', `bridge name '${bridge}' already in use.`, {
        element: 'bridge',
        attribute: 'name',
      });
    }
    checkRouteCollision(def, await this.routes(def));
    const dev = forwardDev(def);
    if (
      dev !== undefined &&
      (def.forward.mode === 'nat' || def.forward.mode === 'route') &&
      !(await this.deviceExists(dev))
    ) {
      throw new VirtwallError('invalid-input', `forward device '${dev}' of network '${def.name}' does not exist`, {
        element: 'forward',
        attribute: 'dev',
      });
    }
  }

  async start(def: NetworkDef): Promise<NetworkStatus> {
    checkRunnable(def);
    this.checkHostsReach(def);
    await checkZoneRequest(def, this.opts.firewalld);
    const bridge = bridgeName(def);
    await this.preflight(def, bridge);
    const undo: Undo[] = [];
    const status: NetworkStatus = {
      name: def.name,
      uuid: def.uuid,
      bridge,
      def,
      firewallBackend: this.opts.firewallBackend,
      firewallRemoval: [],
      createdTables: [],
      sysctlsChanged: [],
      files: [],
      startedAt: Date.now(),
    };
    try {
      await this.createBridge(def, bridge, undo);
      status.zone = await setBridgeZone(def, bridge, this.opts.firewalld);
      if (status.zone !== undefined) undo.push(() => unsetBridgeZone(bridge, this.opts.firewalld!));
      if (hasFirewall(def)) {
        const applied = await applyNetworkFirewall(this.opts.firewallBackend, def, this.opts.runner, this.opts.diag);
        status.firewallRemoval = applied.parts;
        status.createdTables = applied.createdTables;
        undo.push(() => removeNetworkFirewall(applied.parts, this.opts.runner));
        if (this.opts.foreignForwardAccept) {
          undo.push(() => removeForwardPasses(this.opts.runner, bridge));
          for (const r of await ensureForwardPasses(this.opts.runner, def, bridge, this.opts.firewallBackend)) {
            this.opts.diag.warn(
              `network '${def.name}': ${r.chain} has policy drop: ${r.error ?? `accept rules for ${bridge} inserted (comment virtwall-forward:${bridge})`}`,
            );
          }
        }
      }
      for (const ip of def.ips) await this.kernel.addAddress(bridge, ip.address, ip.prefix);
      await this.kernel.setUp(bridge);
      for (const r of def.routes) {
        const prefix = r.prefix ?? 0;
        // libvirt ignores a failing static route (the network still starts)
        const failure = await this.kernel.addRoute({
          dst: r.address,
          prefix,
          gateway: r.gateway,
          dev: bridge,
          metric: r.metric,
        });
        if (failure !== undefined)
          this.opts.diag.warn(`static route ${formatIp(r.address)}/${prefix} not added: ${failure}`);
      }
      if (def.forward.mode !== 'none') await this.enableForwarding(def, status);
      // no wait for IPv6 duplicate address detection (libvirt 11 has none either): a bridge
      // with STP or a set MAC has no carrier until a port forwards, and DAD waits for carrier;
      // dnsmasq's bind-dynamic binds each address when it stops being tentative
      await this.startDnsmasq(def, status, undo);
      this.saveStatus(status);
      return status;
    } catch (err) {
      for (const u of undo.reverse()) await u().catch(() => undefined);
      if (!this.active().some((s) => s.firewallBackend === status.firewallBackend && s.firewallRemoval.length > 0)) {
        await removeUnusedGlobalFirewall(status.firewallBackend, this.opts.runner, status.createdTables);
      }
      await this.restoreSysctls(status);
      for (const f of status.files) rmSync(f, { force: true });
      throw err;
    }
  }

  private async createBridge(def: NetworkDef, bridge: string, undo: Undo[]): Promise<void> {
    await this.kernel.addBridge({ name: bridge, mac: def.mac, delay: def.bridge.delay, stp: def.bridge.stp });
    undo.push(() => this.kernel.deleteLink(bridge));
    if (def.mtu !== undefined) await this.kernel.setMtu(bridge, def.mtu);
    // networkSetIPv6Sysctls: IPv6 only where the network has IPv6; never accept RAs from guests
    const v6 = def.ips.some((ip) => ip.family === 'ipv6');
    await this.kernel.writeSysctl(`net/ipv6/conf/${bridge}/disable_ipv6`, v6 ? '0' : '1');
    await this.kernel.writeSysctl(`net/ipv6/conf/${bridge}/accept_ra`, '0');
    await this.kernel.writeSysctl(`net/ipv6/conf/${bridge}/autoconf`, '0');
  }

  private async enableForwarding(def: NetworkDef, status: NetworkStatus): Promise<void> {
    const keys = [
      ...(def.ips.some((ip) => ip.family === 'ipv4') ? ['net/ipv4/ip_forward'] : []),
      ...(def.ips.some((ip) => ip.family === 'ipv6') ? ['net/ipv6/conf/all/forwarding'] : []),
    ];
    for (const key of keys) {
      const previous = await this.kernel.readSysctl(key);
      if (previous === '1') continue;
      await this.kernel.writeSysctl(key, '1');
      status.sysctlsChanged.push({ key, previous });
    }
  }

  /** Refuses hosts dnsmasq could not read (reach.ts): they would be ignored without a word. */
  private checkHostsReach(def: NetworkDef): void {
    const hosts = def.dns.hosts.length > 0 || def.ips.some((ip) => ip.hosts.length > 0);
    if (!hosts || !this.needsDnsmasq(def)) return;
    const closed = closedToOthers(join(this.opts.stateDir, `${def.name}.hostsfile`));
    if (!closed) return;
    const { problem, fix } = closedPathText(closed);
    throw new VirtwallError('operation-failed', `network '${def.name}': ${problem}; ${fix}`);
  }

  private needsDnsmasq(def: NetworkDef): boolean {
    if (def.ips.length === 0) return false;
    return def.dns.enable !== false || def.ips.some((ip) => servesDhcp(ip) || ip.tftpRoot !== undefined);
  }

  private dnsmasqFiles(name: string): { pidFile: string; confFile: string } {
    return { pidFile: join(this.opts.stateDir, `${name}.pid`), confFile: join(this.opts.stateDir, `${name}.conf`) };
  }

  /** The dnsmasq capabilities, asked once (again after a failure: dnsmasq may be installed since). */
  private dnsmasqCaps(): Promise<DnsmasqCaps> {
    this.caps ??= this.opts.dnsmasqCaps().catch((err: unknown) => {
      this.caps = undefined;
      throw err;
    });
    return this.caps;
  }

  /** Writes dnsmasq's configuration and hosts files for `def`; returns their paths. */
  private async writeDnsmasqFiles(def: NetworkDef): Promise<string[]> {
    const { pidFile, confFile } = this.dnsmasqFiles(def.name);
    const caps = await this.dnsmasqCaps();
    const files = dnsmasqFiles(def, { stateDir: this.opts.stateDir, pidFile, caps });
    writeFileAtomic(confFile, files.conf);
    writeFileAtomic(files.hostsfilePath, files.hostsfile ?? '');
    writeFileAtomic(files.addnhostsPath, files.addnhosts);
    return [confFile, files.hostsfilePath, files.addnhostsPath, pidFile];
  }

  /** Starts dnsmasq on the files written for the network; returns its pid. */
  private async launchDnsmasq(name: string, bridge: string): Promise<number> {
    const { pidFile, confFile } = this.dnsmasqFiles(name);
    const hook = this.opts.leaseHook ? [`--dhcp-script=${this.opts.leaseHook}`] : [];
    rmSync(pidFile, { force: true });
    // the lease hook's bridge, as libvirt sets it
    await this.run(['dnsmasq', `--conf-file=${confFile}`, '--leasefile-ro', ...hook], { VIR_BRIDGE_NAME: bridge });
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0)
      throw new VirtwallError('operation-failed', `dnsmasq wrote no pid to ${pidFile}`);
    return pid;
  }

  private async startDnsmasq(def: NetworkDef, status: NetworkStatus, undo: Undo[]): Promise<void> {
    if (!this.needsDnsmasq(def)) return;
    status.files.push(...(await this.writeDnsmasqFiles(def)));
    const pid = await this.launchDnsmasq(def.name, status.bridge);
    status.dnsmasqPid = pid;
    undo.push(() => killProcess(pid));
  }

  private async restoreSysctls(status: NetworkStatus): Promise<void> {
    const othersNeed = this.active().filter((s) => s.name !== status.name);
    for (const { key, previous } of status.sysctlsChanged) {
      if (othersNeed.some((s) => s.sysctlsChanged.some((c) => c.key === key))) continue;
      await this.kernel.writeSysctl(key, previous).catch(() => undefined);
    }
  }

  /** Removes everything the network added; tolerant of parts already gone. */
  async stop(name: string): Promise<void> {
    const status = this.status(name);
    if (!status)
      throw new VirtwallError('not-found', `Requested operation is not valid: network '${name}' is not active`);
    if (status.dnsmasqPid !== undefined) await killProcess(status.dnsmasqPid);
    await removeNetworkFirewall(status.firewallRemoval, this.opts.runner);
    await removeForwardPasses(this.opts.runner, status.bridge);
    if (status.zone !== undefined && this.opts.firewalld) await unsetBridgeZone(status.bridge, this.opts.firewalld);
    await this.retireBridge(status);
    // the sysctls and global chains go only with the last network that needed them
    const others = this.active().filter((s) => s.name !== name);
    const found = others.find((s) => s.def.forward.mode !== 'none');
    const heir = found && structuredClone(found);
    if (heir && status.sysctlsChanged.length) {
      heir.sysctlsChanged.push(...status.sysctlsChanged);
      this.saveStatus(heir);
    } else {
      for (const { key, previous } of status.sysctlsChanged)
        await this.kernel
          .writeSysctl(key, previous)
          .catch((err: unknown) => this.opts.diag.warn((err as Error).message));
    }
    const firewallHeirFound = others.find(
      (s) => s.firewallBackend === status.firewallBackend && s.firewallRemoval.length > 0,
    );
    if (firewallHeirFound) {
      // the heir of the sysctls above may be the same network: its saved record
      const firewallHeir = structuredClone(this.status(firewallHeirFound.name)!);
      const inherited = (status.createdTables ?? []).filter((t) => !firewallHeir.createdTables.includes(t));
      // written only when it inherits something: most stops leave the heir's record as it is
      if (inherited.length > 0) {
        firewallHeir.createdTables = [...firewallHeir.createdTables, ...inherited];
        this.saveStatus(firewallHeir);
      }
    } else {
      await removeUnusedGlobalFirewall(status.firewallBackend, this.opts.runner, status.createdTables ?? []);
    }
    for (const f of status.files) rmSync(f, { force: true });
    rmSync(leaseFile(this.opts.stateDir, status.bridge), { force: true });
    rmSync(this.statusFile(name), { force: true });
    this.parsed.delete(this.statusFile(name));
  }

  /**
   * Takes the bridge out of use as net-destroy promises (its name free, its addresses and routes
   * gone, no frame forwarded) and leaves its deletion to the reaper; ports still attached (a
   * running guest's TAP) stay on the retired bridge, which is down, until it is deleted.
   */
  private async retireBridge(status: NetworkStatus): Promise<void> {
    const addresses = status.def.ips.map((ip) => ({ address: ip.address, prefix: ip.prefix }));
    try {
      if (await this.kernel.retireBridge(status.bridge, addresses)) this.reaper.retired();
    } catch (err) {
      this.opts.diag.warn((err as Error).message);
      await this.kernel.deleteLink(status.bridge).catch((e: unknown) => this.opts.diag.warn((e as Error).message));
    }
  }

  /** Deletes retired bridges now: those of stops not yet deleted, and those a daemon that ended left. */
  reapRetiredBridges(): Promise<void> {
    return this.reaper.reap();
  }

  /** Resolves once the bridges of stopped networks are deleted (the daemon's shutdown, tests). */
  settle(): Promise<void> {
    return this.reaper.settle();
  }

  /**
   * Swaps each network's firewall for its `def`'s, replacing the `present` parts of its record,
   * all networks (of one firewall backend) in one batch per tool; records the new removals.
   */
  private async replaceFirewalls(
    backend: FirewallBackendName,
    networks: { status: NetworkStatus; def: NetworkDef; present: FirewallPart[] }[],
  ): Promise<void> {
    const items = networks.map(({ status, def, present }) => ({ def, previous: status.firewallRemoval, present }));
    const applied = await reapplyNetworkFirewalls(backend, items, this.opts.runner, this.opts.diag);
    networks.forEach(({ status }, i) => {
      status.firewallRemoval = applied.removals[i]!;
      status.createdTables = [...new Set([...status.createdTables, ...(i === 0 ? applied.createdTables : [])])];
    });
  }

  /**
   * Brings the kernel back to the firewall of every running network: when a network lacks any
   * part of its rules, every network of its firewall backend gets all of its rules again (with
   * `force`, always), replacing what is left of them, in one batch per tool and in start order,
   * with libvirt's global chains or tables; else only global chains found gone are recreated.
   * Records stay true: net-destroy removes exactly what is there afterwards. Nothing missing:
   * nothing is changed. If the batch fails, each of its networks is reported with the error.
   */
  async healFirewall(force = false): Promise<FirewallRepair[]> {
    const repairs: FirewallRepair[] = [];
    // rules go in at the head of their chains: the last started network's rules stay on top
    const running = this.active()
      .filter((s) => hasFirewall(s.def))
      .map((s) => structuredClone(s))
      .sort((a, b) => (a.startedAt ?? 0) - (b.startedAt ?? 0));
    // every network is checked before any is repaired: a table recreated by a repair numbers
    // its rules from 1 again, and must not pass for another network's recorded handles
    const checked = await Promise.all(
      running.map(async (status) => ({ status, parts: await firewallParts(status.firewallRemoval, this.opts.runner) })),
    );
    for (const backend of new Set(running.map((s) => s.firewallBackend))) {
      // if one network of a backend lacks a rule, all of them get theirs again in one batch, in
      // start order: repairs at different times would leave the networks' rules in another order
      const ofBackend = checked.filter(({ status }) => status.firewallBackend === backend);
      const damaged = force || ofBackend.some(({ parts }) => parts.missing.length > 0) ? ofBackend : [];
      if (damaged.length > 0) {
        let error: string | undefined;
        try {
          await this.replaceFirewalls(
            backend,
            damaged.map(({ status, parts }) => ({ status, def: status.def, present: parts.present })),
          );
          for (const { status } of damaged) this.saveStatus(status);
        } catch (err) {
          error = (err as Error).message;
        }
        for (const { status, parts } of damaged)
          repairs.push({
            target: status.name,
            missing: parts.missing.length,
            kept: parts.present.length,
            ...(error !== undefined ? { error } : {}),
          });
        continue;
      }
      // no network lacks a rule, but the global chains may be gone (jumps flushed from the built-in chains)
      const applied = await applyNetworkFirewalls(backend, [], [], this.opts.runner, this.opts.diag);
      if (applied.created === 0) continue;
      // tables iptables-nft had to create go with the last network of that backend
      const heir = structuredClone(this.status(running.find((s) => s.firewallBackend === backend)!.name)!);
      heir.createdTables = [...new Set([...heir.createdTables, ...applied.createdTables])];
      this.saveStatus(heir);
      repairs.push({ target: `global ${backend}`, missing: applied.created, kept: 0 });
    }
    if (this.opts.foreignForwardAccept && running.length > 0) {
      const dropping = await foreignForwardChains(this.opts.runner, true);
      for (const status of running) {
        for (const r of await ensureForwardPasses(
          this.opts.runner,
          status.def,
          status.bridge,
          status.firewallBackend,
          dropping,
        )) {
          repairs.push({
            target: `${status.name} (accepts in ${r.chain})`,
            missing: r.missing,
            kept: 0,
            ...(r.error !== undefined ? { error: r.error } : {}),
          });
        }
      }
    }
    return repairs;
  }

  /** Puts running networks' bridges back in their firewalld zones (after firewalld reloaded or restarted). */
  async healZones(): Promise<{ bridge: string; zone: string; error?: string }[]> {
    if (!this.opts.firewalld) return [];
    const zoned = this.active().flatMap((s) => (s.zone !== undefined ? [{ bridge: s.bridge, zone: s.zone }] : []));
    return restoreBridgeZones(zoned, this.opts.firewalld);
  }

  /** Starts dnsmasq again for running networks whose dnsmasq is gone; returns those networks (and why one could not start). */
  async healDnsmasq(): Promise<{ network: string; error?: string }[]> {
    const restarted: { network: string; error?: string }[] = [];
    for (const running of this.active()) {
      if (running.dnsmasqPid === undefined || isDnsmasq(running.dnsmasqPid)) continue;
      const status = structuredClone(running);
      try {
        status.dnsmasqPid = await this.launchDnsmasq(status.name, status.bridge);
        this.saveStatus(status);
        restarted.push({ network: status.name });
      } catch (err) {
        restarted.push({ network: status.name, error: (err as Error).message });
      }
    }
    return restarted;
  }

  /**
   * The live half of net-update: puts `def` (the running definition with one section changed)
   * into effect as libvirt's networkUpdate does, then records it as the running definition.
   * If a step fails, the record keeps the previous definition.
   */
  async update(name: string, def: NetworkDef, effect: LiveEffect): Promise<void> {
    const running = this.status(name);
    if (!running)
      throw new VirtwallError('operation-failed', 'Requested operation is not valid: network is not running');
    const status = structuredClone(running);
    if (effect === 'firewall' && hasFirewall(def)) {
      const parts = await firewallParts(status.firewallRemoval, this.opts.runner);
      await this.replaceFirewalls(status.firewallBackend, [{ status, def, present: parts.present }]);
    }
    if (effect === 'dnsmasq-reload' || effect === 'dnsmasq-restart') {
      this.checkHostsReach(def);
      // turning DHCP on or off changes dnsmasq's command line, not only its hosts files
      const dhcpChanged = status.def.ips.some(servesDhcp) !== def.ips.some(servesDhcp);
      try {
        await this.refreshDnsmasq(status, def, effect === 'dnsmasq-restart' || dhcpChanged);
      } catch (err) {
        await this.refreshDnsmasq(status, status.def, true).catch(() => undefined);
        this.saveStatus(status);
        throw err;
      }
    }
    status.def = def;
    this.saveStatus(status);
  }

  /** networkRefreshDhcpDaemon / networkRestartDhcpDaemon: new files, then SIGHUP or a new dnsmasq. */
  private async refreshDnsmasq(status: NetworkStatus, def: NetworkDef, restart: boolean): Promise<void> {
    const running = status.dnsmasqPid !== undefined && isDnsmasq(status.dnsmasqPid);
    if (!this.needsDnsmasq(def)) {
      if (running) await killProcess(status.dnsmasqPid!);
      delete status.dnsmasqPid;
      return;
    }
    status.files = [...new Set([...status.files, ...(await this.writeDnsmasqFiles(def))])];
    if (running && !restart) {
      process.kill(status.dnsmasqPid!, 'SIGHUP');
      return;
    }
    if (running) await killProcess(status.dnsmasqPid!);
    status.dnsmasqPid = await this.launchDnsmasq(def.name, status.bridge);
  }

  /** `virsh net-dhcp-leases`: the running network's live leases. */
  leases(name: string): NetworkLease[] {
    const status = this.status(name);
    if (!status)
      throw new VirtwallError('not-found', `Requested operation is not valid: network '${name}' is not active`);
    const records = readLeases(leaseFile(this.opts.stateDir, status.bridge));
    const now = this.opts.now?.() ?? Math.floor(Date.now() / 1000);
    return networkLeases(records, (ip) => prefixFor(status.def, ip), now);
  }
}

/** The prefix of the network subnet an address belongs to. */
function prefixFor(def: NetworkDef, ip: string): number | undefined {
  const addr = parseIp(ip);
  return addr && def.ips.find((n) => sameNetwork(n.address, addr, n.prefix))?.prefix;
}

/**
 * The process `pid` runs and is a dnsmasq (not a later process that reused its pid, nor the
 * zombie a killed daemonised dnsmasq leaves when nothing reaps it).
 */
const isDnsmasq = (pid: number): boolean => processIs(pid, 'dnsmasq');

/**
 * Ends dnsmasq with its helper process and any lease script it is running: SIGTERM to the
 * whole tree (frozen first), then SIGKILL to what is left after 2 s. dnsmasq is not our child (no exit event
 * reaches us): its end is looked for after 1 ms, then at doubling intervals up to 50 ms. Ended
 * means a zombie at least: its sockets and files are closed, and when init reaps it is init's
 * business (some reap only now and then: waiting for it made every stop take seconds).
 */
async function killProcess(pid: number): Promise<void> {
  if (!processRuns(pid)) return;
  const signal = (ps: readonly number[], sig: NodeJS.Signals) => {
    for (const p of ps) {
      try {
        process.kill(p, sig);
      } catch {
        // already gone
      }
    }
  };
  // stopped before they are told to end, so none forks a lease script the tree would miss
  // (reparented to init, it would outlive the network); a child forked meanwhile is stopped next
  let tree = [pid];
  for (;;) {
    signal(tree, 'SIGSTOP');
    const now = processTree(pid);
    if (now.every((p) => tree.includes(p))) break;
    tree = now;
  }
  signal(tree, 'SIGTERM');
  signal(tree, 'SIGCONT');
  for (const sig of [undefined, 'SIGKILL'] as const) {
    if (sig) signal(tree, sig);
    const end = Date.now() + 2000;
    for (let wait = 1; tree.some(processRuns) && Date.now() < end; wait = Math.min(wait * 2, 50))
      await new Promise((r) => setTimeout(r, wait));
    if (!tree.some(processRuns)) return;
  }
}
