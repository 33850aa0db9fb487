// The kernel operations a virtual network's start and stop make besides its firewall and
// dnsmasq: links, addresses, routes (rtnetlink, in this process, as libvirt's virNetDev* calls
// do) and /proc/sys/net values (written directly, as libvirt's virNetDevSetIPv6 and
// networkEnableIPForwarding do). Where the runner acts in a network namespace, so do they.
// A runner that does not act on this host's kernel (a fake of unit tests) gets the same
// operations as `ip` and `sysctl` commands through it.
import { readFileSync, writeFileSync } from 'node:fs';
import { VirtwallError } from '../../errors.js';
import { isDeviceName, isRetiredBridgeName, RETIRED_BRIDGE_GROUP, retiredBridgeName } from '../../util/device-name.js';
import type { CommandRunner } from '../../exec/runner.js';
import { renderCommandLine } from '../../plan/command.js';
import { parseMac } from '../../util/address.js';
import { formatIp, type IpAddress } from '../../util/address.js';
import * as rt from '../../netlink/rtnetlink.js';
import type { Message } from '../../netlink/message.js';
import { inNetns, NETLINK_ROUTE, NetlinkError, NetlinkSocket } from '../../netlink/socket.js';
import type { RouteEntry } from './checks.js';

export interface BridgeSpec {
  name: string;
  mac?: string;
  /** Forwarding delay in seconds. */
  delay: number;
  stp: boolean;
}

export interface StaticRoute {
  dst: IpAddress;
  prefix: number;
  gateway: IpAddress;
  dev: string;
  metric?: number;
}

export interface Address {
  address: IpAddress;
  prefix: number;
}

export interface NetworkKernel {
  linkExists(name: string): Promise<boolean>;
  /** The main table's routes of both families, each with its device's name where `wanted` holds. */
  routes(wanted: (dst: string) => boolean): Promise<RouteEntry[]>;
  addBridge(b: BridgeSpec): Promise<void>;
  setMtu(dev: string, mtu: number): Promise<void>;
  setUp(dev: string): Promise<void>;
  /** Removes a link; one already gone is not an error. */
  deleteLink(dev: string): Promise<void>;
  /**
   * Takes bridge `dev` out of use without waiting for the kernel to delete it: its `addresses`
   * removed (with them their routes), down (no frame passes its ports, routes through it are
   * gone), renamed to its retired name and moved into the retired group, which frees its name.
   * False when there is no such link.
   */
  retireBridge(dev: string, addresses: readonly Address[]): Promise<boolean>;
  /**
   * Deletes every retired bridge, in one unregistration where the retired group holds only
   * retired bridges (each on its own otherwise); returns how many there were. The kernel takes
   * long (RCU grace periods, ~17 ms a bridge in a batch): this process goes on meanwhile.
   */
  deleteRetiredBridges(): Promise<number>;
  addAddress(dev: string, address: IpAddress, prefix: number): Promise<void>;
  /** Adds a route; returns why it failed instead of throwing (libvirt starts the network anyway). */
  addRoute(r: StaticRoute): Promise<string | undefined>;
  readSysctl(key: string): Promise<string>;
  writeSysctl(key: string, value: string): Promise<void>;
}

/**
 * The /proc/sys/net keys a network changes (slash-separated, as `sysctl` also takes them), and
 * nothing else: the keys and values of a status record come back from disk and are written as root.
 */
const SYSCTL_KEY =
  /^net\/(?:ipv4\/ip_forward|ipv6\/conf\/all\/forwarding|ipv6\/conf\/([^/]+)\/(?:disable_ipv6|accept_ra|autoconf))$/;
const SYSCTL_VALUE = /^-?\d{1,10}$/;
const ENODEV = 19;
const EADDRNOTAVAIL = 99;

export function isNetworkSysctl(key: string): boolean {
  const m = SYSCTL_KEY.exec(key);
  return m !== null && (m[1] === undefined || isDeviceName(m[1]));
}

function checkSysctl(key: string, value?: string): void {
  if (!isNetworkSysctl(key))
    throw new VirtwallError('operation-failed', `refusing to change sysctl '${key}': not one a network sets`);
  if (value !== undefined && !SYSCTL_VALUE.test(value))
    throw new VirtwallError('operation-failed', `refusing to write '${value}' to sysctl '${key}'`);
}

function macBytes(mac: string): number[] {
  const b = parseMac(mac);
  if (!b)
    throw new VirtwallError('invalid-input', `invalid MAC address '${mac}'`, { element: 'mac', attribute: 'address' });
  return b;
}

/** The operations for where `runner` acts: in-process when it acts on this host's kernel, else commands through it. */
export function networkKernel(runner: CommandRunner): NetworkKernel {
  return runner.netns !== undefined ? new NetlinkKernel(runner.netns || undefined) : new CommandKernel(runner);
}

/**
 * rtnetlink on one socket opened in the runner's namespace, /proc/sys entered there. Every
 * request is sent off the event loop (NetlinkSocket.requestInBackground), one at a time per
 * socket: a link change waits for the kernel's rtnl lock, which the reaper's deletion of retired
 * bridges holds ~17 ms a bridge, and the daemon serves everything else meanwhile.
 */
class NetlinkKernel implements NetworkKernel {
  private socket: NetlinkSocket | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** Deletions run on their own socket: answers to this process's other requests must not interleave. */
  private deleting: NetlinkSocket | undefined;

  constructor(private readonly netns: string | undefined) {}

  /** `build`'s request after those before it, its answers or the kernel's error as it came. */
  private send(build: (seq: number) => Buffer): Promise<Message[]> {
    const next = this.queue.then(() => {
      this.socket ??= NetlinkSocket.open(NETLINK_ROUTE, this.netns);
      return this.socket.requestInBackground(build);
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** `build`'s request; the kernel's error `tolerated` means nothing is left to do (no answers). */
  private async request(build: (seq: number) => Buffer, what: () => string, tolerated?: number): Promise<Message[]> {
    try {
      return await this.send(build);
    } catch (err) {
      if (err instanceof NetlinkError && err.errno === tolerated) return [];
      throw new VirtwallError('operation-failed', `${what()} failed: ${(err as Error).message}`);
    }
  }

  /** The index of link `dev`; undefined when there is none. */
  private async lookup(dev: string): Promise<number | undefined> {
    try {
      return rt.parseLink((await this.send((q) => rt.getLink(q, { name: dev })))[0]!).index;
    } catch (err) {
      if (err instanceof NetlinkError && err.errno === ENODEV) return undefined;
      throw new VirtwallError('operation-failed', `finding link ${dev} failed: ${(err as Error).message}`);
    }
  }

  private async index(dev: string): Promise<number> {
    const index = await this.lookup(dev);
    if (index === undefined) throw new VirtwallError('operation-failed', `Cannot find device "${dev}"`);
    return index;
  }

  async linkExists(name: string): Promise<boolean> {
    return (await this.lookup(name)) !== undefined;
  }

  async routes(wanted: (dst: string) => boolean): Promise<RouteEntry[]> {
    const names = new Map<number, string | undefined>();
    const name = async (index: number) => {
      if (!names.has(index)) {
        const [link] = await this.request(
          (q) => rt.getLink(q, { index }),
          () => `finding link ${index}`,
        );
        names.set(index, rt.parseLink(link!).name);
      }
      return names.get(index);
    };
    const out: RouteEntry[] = [];
    for (const family of ['ipv4', 'ipv6'] as const) {
      for (const m of await this.request(
        (q) => rt.dumpRoutes(q, family),
        () => `listing ${family} routes`,
      )) {
        const r = rt.parseRoute(m);
        if (r === undefined || r.table !== rt.MAIN_TABLE) continue;
        const dev = r.oif !== undefined && wanted(r.dst) ? await name(r.oif) : undefined;
        out.push(dev !== undefined ? { dst: r.dst, dev } : { dst: r.dst });
      }
    }
    return out;
  }

  async addBridge(b: BridgeSpec): Promise<void> {
    const mac = b.mac !== undefined ? macBytes(b.mac) : undefined;
    await this.request(
      (q) => rt.newBridge(q, { name: b.name, mac, forwardDelay: b.delay * 100, stp: b.stp }),
      () => `creating bridge ${b.name}`,
    );
  }

  // each operation on a named link looks its index up first, as `ip` does

  async setMtu(dev: string, mtu: number): Promise<void> {
    const index = await this.index(dev);
    await this.request(
      (q) => rt.setMtu(q, index, mtu),
      () => `setting the MTU of ${dev} to ${mtu}`,
    );
  }

  async setUp(dev: string): Promise<void> {
    const index = await this.index(dev);
    await this.request(
      (q) => rt.setUp(q, index),
      () => `bringing ${dev} up`,
    );
  }

  async deleteLink(dev: string): Promise<void> {
    const index = await this.lookup(dev);
    if (index !== undefined)
      await this.request(
        (q) => rt.delLink(q, index),
        () => `deleting ${dev}`,
      );
  }

  async retireBridge(dev: string, addresses: readonly Address[]): Promise<boolean> {
    const index = await this.lookup(dev);
    if (index === undefined) return false;
    for (const { address, prefix } of addresses)
      await this.request(
        (q) => rt.delAddress(q, index, address, prefix),
        () => `removing ${formatIp(address)}/${prefix} from ${dev}`,
        // an address gone already (a secondary address goes with its primary)
        EADDRNOTAVAIL,
      );
    await this.request(
      (q) => rt.setDown(q, index),
      () => `bringing ${dev} down`,
    );
    await this.request(
      (q) => rt.renameIntoGroup(q, index, retiredBridgeName(index), RETIRED_BRIDGE_GROUP),
      () => `retiring ${dev}`,
    );
    return true;
  }

  async deleteRetiredBridges(): Promise<number> {
    // the reaper's own socket: a stop's retirement may be under way on the other one
    this.deleting ??= NetlinkSocket.open(NETLINK_ROUTE, this.netns);
    const socket = this.deleting;
    const links = await socket
      .requestInBackground((q) => rt.dumpLinks(q))
      .then(
        (ms) => ms.map(rt.parseLink),
        (err: unknown) => {
          throw new VirtwallError('operation-failed', `listing links failed: ${(err as Error).message}`);
        },
      );
    const group = links.filter((l) => l.group === RETIRED_BRIDGE_GROUP);
    const retired = group.filter((l) => l.name !== undefined && isRetiredBridgeName(l.name));
    if (retired.length === 0) return 0;
    const del = async (build: (q: number) => Buffer) => {
      try {
        await socket.requestInBackground(build);
      } catch (err) {
        if (!(err instanceof NetlinkError && err.errno === ENODEV))
          throw new VirtwallError('operation-failed', `deleting retired bridges failed: ${(err as Error).message}`);
      }
    };
    // someone else's link in the group: ours one by one, theirs left alone
    if (retired.length === group.length) await del((q) => rt.delGroup(q, RETIRED_BRIDGE_GROUP));
    else for (const { index } of retired) await del((q) => rt.delLink(q, index));
    return retired.length;
  }

  async addAddress(dev: string, address: IpAddress, prefix: number): Promise<void> {
    const index = await this.index(dev);
    await this.request(
      (q) => rt.newAddress(q, index, address, prefix),
      () => `adding ${formatIp(address)}/${prefix} to ${dev}`,
    );
  }

  async addRoute(r: StaticRoute): Promise<string | undefined> {
    try {
      const index = await this.index(r.dev);
      await this.send((q) =>
        rt.newRoute(q, { dst: r.dst, prefix: r.prefix, gateway: r.gateway, index, metric: r.metric }),
      );
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  async readSysctl(key: string): Promise<string> {
    checkSysctl(key);
    return inNetns(this.netns, () => readFileSync(`/proc/sys/${key}`, 'utf8')).trim();
  }

  async writeSysctl(key: string, value: string): Promise<void> {
    checkSysctl(key, value);
    try {
      inNetns(this.netns, () => writeFileSync(`/proc/sys/${key}`, value));
    } catch (err) {
      throw new VirtwallError(
        'operation-failed',
        `setting sysctl ${key} to ${value} failed: ${(err as Error).message}`,
      );
    }
  }
}

/** The same operations as `ip` and `sysctl` commands through a runner. */
class CommandKernel implements NetworkKernel {
  constructor(private readonly runner: CommandRunner) {}

  private async run(argv: readonly string[]): Promise<string> {
    const r = await this.runner.run(argv);
    if (r.status !== 0)
      throw new VirtwallError(
        'operation-failed',
        `'${renderCommandLine(argv)}' failed (${r.status}): ${r.stderr.trim()}`,
      );
    return r.stdout;
  }

  async linkExists(name: string): Promise<boolean> {
    return (await this.runner.run(['ip', 'link', 'show', 'dev', name])).status === 0;
  }

  async routes(): Promise<RouteEntry[]> {
    const out: RouteEntry[] = [];
    for (const fam of ['-4', '-6'])
      out.push(...(JSON.parse((await this.run(['ip', '-j', fam, 'route', 'show'])) || '[]') as RouteEntry[]));
    return out;
  }

  async addBridge(b: BridgeSpec): Promise<void> {
    if (b.mac !== undefined) macBytes(b.mac);
    await this.run([
      'ip',
      'link',
      'add',
      'name',
      b.name,
      ...(b.mac !== undefined ? ['address', b.mac] : []),
      'type',
      'bridge',
    ]);
    try {
      // the delay before STP, as libvirt sets them (the kernel raises it to its minimum once STP runs)
      await this.run(['ip', 'link', 'set', 'dev', b.name, 'type', 'bridge', 'forward_delay', String(b.delay * 100)]);
      await this.run(['ip', 'link', 'set', 'dev', b.name, 'type', 'bridge', 'stp_state', b.stp ? '1' : '0']);
    } catch (err) {
      await this.deleteLink(b.name);
      throw err;
    }
  }

  async setMtu(dev: string, mtu: number): Promise<void> {
    await this.run(['ip', 'link', 'set', 'dev', dev, 'mtu', String(mtu)]);
  }

  async setUp(dev: string): Promise<void> {
    await this.run(['ip', 'link', 'set', 'dev', dev, 'up']);
  }

  async deleteLink(dev: string): Promise<void> {
    await this.runner.run(['ip', 'link', 'del', 'dev', dev]);
  }

  /** The links `ip -j link show ...` lists for `selector` (none when it fails). */
  private async links(selector: readonly string[]): Promise<{ ifindex: number; ifname: string }[]> {
    const r = await this.runner.run(['ip', '-j', 'link', 'show', ...selector]);
    if (r.status !== 0) return [];
    // iproute2 6.1 prints `{}` for each link a selector leaves out
    return (JSON.parse(r.stdout || '[]') as { ifindex?: number; ifname?: string }[]).filter(
      (l): l is { ifindex: number; ifname: string } => l.ifname !== undefined,
    );
  }

  async retireBridge(dev: string, addresses: readonly Address[]): Promise<boolean> {
    const [link] = await this.links(['dev', dev]);
    if (link === undefined) return false;
    for (const { address, prefix } of addresses)
      await this.runner.run(['ip', 'addr', 'del', `${formatIp(address)}/${prefix}`, 'dev', dev]);
    await this.run(['ip', 'link', 'set', 'dev', dev, 'down']);
    const name = retiredBridgeName(link.ifindex);
    await this.run(['ip', 'link', 'set', 'dev', dev, 'name', name, 'group', String(RETIRED_BRIDGE_GROUP)]);
    return true;
  }

  async deleteRetiredBridges(): Promise<number> {
    const group = await this.links(['group', String(RETIRED_BRIDGE_GROUP)]);
    const retired = group.filter((l) => isRetiredBridgeName(l.ifname));
    if (retired.length === 0) return 0;
    if (retired.length === group.length)
      await this.runner.run(['ip', 'link', 'del', 'group', String(RETIRED_BRIDGE_GROUP)]);
    else for (const l of retired) await this.runner.run(['ip', 'link', 'del', 'dev', l.ifname]);
    return retired.length;
  }

  async addAddress(dev: string, address: IpAddress, prefix: number): Promise<void> {
    await this.run(['ip', 'addr', 'add', `${formatIp(address)}/${prefix}`, 'dev', dev]);
  }

  async addRoute(r: StaticRoute): Promise<string | undefined> {
    const metric = r.metric !== undefined ? ['metric', String(r.metric)] : [];
    const res = await this.runner.run([
      'ip',
      'route',
      'add',
      `${formatIp(r.dst)}/${r.prefix}`,
      'via',
      formatIp(r.gateway),
      'dev',
      r.dev,
      ...metric,
    ]);
    return res.status === 0 ? undefined : res.stderr.trim();
  }

  async readSysctl(key: string): Promise<string> {
    checkSysctl(key);
    return (await this.run(['sysctl', '-n', key])).trim();
  }

  async writeSysctl(key: string, value: string): Promise<void> {
    checkSysctl(key, value);
    await this.run(['sysctl', '-q', '-w', `${key}=${value}`]);
  }
}
