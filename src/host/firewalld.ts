// firewalld on the D-Bus system bus (libvirt's virfirewalld.c), in-process through dbus-next: is
// it registered, its zones and policies, an interface's zone, its permanent configuration, and
// the signals that say its runtime state was rebuilt (Reloaded, a new owner of its name). The
// bus is DBUS_SYSTEM_BUS_ADDRESS or the standard socket; no bus at all means no firewalld.
// dbus-next (some 30 ms of a daemon's start) is loaded at the first connection, not at all
// while the bus's socket file does not exist.
import { existsSync, readlinkSync } from 'node:fs';
import type dbus from 'dbus-next';
import { VirtwallError } from '../errors.js';

const FIREWALLD = 'org.fedoraproject.FirewallD1';
const FIREWALLD_PATH = '/org/fedoraproject/FirewallD1';
const CONFIG_PATH = '/org/fedoraproject/FirewallD1/config';
const BUS = { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus' };
/** A bus that does not answer is treated as absent (dbus-next never settles a call on a dead socket). */
const CONNECT_TIMEOUT_MS = 2000;
const CALL_TIMEOUT_MS = 10_000;

/** Why firewalld's runtime state was rebuilt (our zones and its flushes of foreign rules). */
export type FirewalldEvent = 'Reloaded' | 'NameOwnerChanged';

/** A zone's or policy's settings: string ones and string-list ones. */
export type Settings = Record<string, string | string[]>;

export class Firewalld {
  private bus: dbus.MessageBus | undefined;
  private connecting: Promise<dbus.MessageBus | undefined> | undefined;
  /** dbus-next, once a connection loaded it. */
  private dbus: typeof dbus | undefined;
  private readonly listeners: ((event: FirewalldEvent) => void)[] = [];
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  private wasLost = false;

  /** The system bus, connected on first use and again after it was lost. */
  private connect(): Promise<dbus.MessageBus | undefined> {
    if (this.bus) return Promise.resolve(this.bus);
    this.connecting ??= openBus().then(async (opened) => {
      this.connecting = undefined;
      this.dbus ??= opened?.dbus;
      const bus = opened?.bus;
      if (this.closed) {
        bus?.disconnect();
        return undefined;
      }
      if (!bus) {
        this.scheduleRetry();
        return undefined;
      }
      bus.on('error', () => this.lost(bus));
      this.bus = bus;
      if (this.listeners.length > 0) {
        await this.subscribe(bus).catch(() => this.lost(bus));
        // firewalld may have restarted while the bus was gone: its signals were missed
        if (this.wasLost && this.bus === bus) for (const l of this.listeners) l('NameOwnerChanged');
      }
      return this.bus;
    });
    return this.connecting;
  }

  /** A watcher keeps trying to reach the bus (every second) until it is there. */
  private scheduleRetry(): void {
    if (this.listeners.length === 0 || this.closed || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.connect();
    }, 1000);
  }

  private lost(bus: dbus.MessageBus): void {
    if (this.bus !== bus) return;
    this.bus = undefined;
    try {
      bus.disconnect();
    } catch {
      // already closed
    }
    this.wasLost = true;
    this.scheduleRetry();
  }

  private async call(msg: {
    destination: string;
    path: string;
    interface: string;
    member: string;
    signature?: string;
    body?: unknown[];
  }): Promise<unknown[]> {
    const bus = await this.connect();
    if (!bus) throw new VirtwallError('operation-failed', 'the D-Bus system bus is not reachable');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>(
      (_, reject) =>
        (timer = setTimeout(
          () =>
            reject(
              new VirtwallError(
                'operation-failed',
                `no answer to ${msg.interface}.${msg.member} within ${CALL_TIMEOUT_MS / 1000} s`,
              ),
            ),
          CALL_TIMEOUT_MS,
        )),
    );
    try {
      const reply = await Promise.race([bus.call(new this.dbus!.Message(msg)), timeout]);
      return (reply?.body ?? []) as unknown[];
    } catch (err) {
      // libvirt's virDBus wording: `error from service: GDBus.Error:NAME: TEXT`
      if (err instanceof this.dbus!.DBusError)
        throw new VirtwallError('operation-failed', `error from service: GDBus.Error:${err.type}: ${err.text}`);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private firewalld(
    iface: string,
    member: string,
    signature?: string,
    body?: unknown[],
    path = FIREWALLD_PATH,
  ): Promise<unknown[]> {
    return this.call({
      destination: FIREWALLD,
      path,
      interface: iface === '' ? FIREWALLD : `${FIREWALLD}.${iface}`,
      member,
      ...(signature ? { signature, body } : {}),
    });
  }

  /**
   * virFirewallDIsRegistered: firewalld owns its name on the system bus, and it is the firewalld
   * of our network namespace (a daemon run in a namespace must not reach, and reload, the firewalld
   * of the host it shares the bus with: its zones rule other interfaces).
   */
  async registered(): Promise<boolean> {
    if (!(await this.connect())) return false;
    const [owned] = await this.call({ ...BUS, member: 'NameHasOwner', signature: 's', body: [FIREWALLD] });
    if (owned !== true) return false;
    const [pid] = await this.call({ ...BUS, member: 'GetConnectionUnixProcessID', signature: 's', body: [FIREWALLD] });
    return sameNetworkNamespace(Number(pid));
  }

  async zones(): Promise<string[]> {
    return (await this.firewalld('zone', 'getZones'))[0] as string[];
  }

  async policies(): Promise<string[]> {
    return (await this.firewalld('policy', 'getPolicies'))[0] as string[];
  }

  /** The interface's runtime zone ('' when it is in none). */
  async zoneOf(iface: string): Promise<string> {
    return (await this.firewalld('zone', 'getZoneOfInterface', 's', [iface]))[0] as string;
  }

  /** virFirewallDInterfaceSetZone: changeZoneOfInterface (adds or moves the interface). */
  async setZone(iface: string, zone: string): Promise<void> {
    await this.firewalld('zone', 'changeZoneOfInterface', 'ss', [zone, iface]);
  }

  /** virFirewallDInterfaceUnsetZone: removeInterface from whichever zone has it. */
  async unsetZone(iface: string): Promise<void> {
    await this.firewalld('zone', 'removeInterface', 'ss', ['', iface]);
  }

  /** Adds a zone (settings as firewalld's addZone2 takes them) to the permanent configuration. */
  async addPermanentZone(name: string, settings: Settings): Promise<void> {
    await this.firewalld('config', 'addZone2', 'sa{sv}', [name, await this.variants(settings)], CONFIG_PATH);
  }

  async addPermanentPolicy(name: string, settings: Settings): Promise<void> {
    await this.firewalld('config', 'addPolicy', 'sa{sv}', [name, await this.variants(settings)], CONFIG_PATH);
  }

  /** Settings as the variants of an a{sv}: strings 's', lists 'as'. */
  private async variants(settings: Settings): Promise<Record<string, dbus.Variant>> {
    if (!(await this.connect())) throw new VirtwallError('operation-failed', 'the D-Bus system bus is not reachable');
    const { Variant } = this.dbus!;
    return Object.fromEntries(
      Object.entries(settings).map(([k, v]) => [k, new Variant(typeof v === 'string' ? 's' : 'as', v)]),
    );
  }

  /** Loads the permanent configuration into the runtime (emits Reloaded). */
  async reload(): Promise<void> {
    await this.firewalld('', 'reload');
  }

  /** Calls `listener` whenever firewalld reloads or (re)starts; the bus is watched from now on. */
  async watch(listener: (event: FirewalldEvent) => void): Promise<void> {
    this.listeners.push(listener);
    if (this.listeners.length > 1) return;
    const bus = this.bus;
    // a bus connected before there was a listener is subscribed here, a new one by connect()
    if (bus) await this.subscribe(bus).catch(() => this.lost(bus));
    else await this.connect();
  }

  private async subscribe(bus: dbus.MessageBus): Promise<void> {
    bus.on('message', (msg: dbus.Message) => {
      if (msg.type !== this.dbus!.MessageType.SIGNAL) return;
      let event: FirewalldEvent | undefined;
      if (msg.interface === FIREWALLD && msg.member === 'Reloaded') event = 'Reloaded';
      // a new owner: firewalld (re)started; an empty one is it going away
      else if (
        msg.interface === BUS.interface &&
        msg.member === 'NameOwnerChanged' &&
        msg.body[0] === FIREWALLD &&
        msg.body[2] !== ''
      )
        event = 'NameOwnerChanged';
      if (event) for (const l of this.listeners) l(event);
    });
    for (const rule of [
      `type='signal',interface='${FIREWALLD}',member='Reloaded'`,
      `type='signal',sender='${BUS.destination}',interface='${BUS.interface}',member='NameOwnerChanged',arg0='${FIREWALLD}'`,
    ]) {
      await this.call({ ...BUS, member: 'AddMatch', signature: 's', body: [rule] });
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    this.bus?.disconnect();
    this.bus = undefined;
  }
}

/** The process runs in our network namespace (unknown, as from another pid namespace: assumed so, as libvirt does). */
function sameNetworkNamespace(pid: number): boolean {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`) === readlinkSync('/proc/self/ns/net');
  } catch {
    return true;
  }
}

/** The system bus's address: DBUS_SYSTEM_BUS_ADDRESS or the standard socket (dbus-next's index.js). */
const systemBusAddress = () => process.env.DBUS_SYSTEM_BUS_ADDRESS || 'unix:path=/var/run/dbus/system_bus_socket';

/**
 * The bus is a socket file that does not exist: dbus-next connects to the first address only, and
 * to a unix one's `path` when it has neither `socket` nor `abstract` (lib/connection.js).
 */
function busSocketMissing(address: string): boolean {
  const first = address.split(';')[0]!;
  const colon = first.indexOf(':');
  if (first.slice(0, colon).toLowerCase() !== 'unix') return false;
  const params = new Map(
    first
      .slice(colon + 1)
      .split(',')
      .map((p): [string, string] => {
        const eq = p.indexOf('=');
        return eq < 0 ? [p, ''] : [p.slice(0, eq), p.slice(eq + 1)];
      }),
  );
  const path = params.get('path');
  return !params.has('socket') && !params.has('abstract') && path !== undefined && !existsSync(path);
}

/** Connects to the system bus, or resolves undefined when there is none (or it does not answer). */
async function openBus(): Promise<{ bus: dbus.MessageBus; dbus: typeof dbus } | undefined> {
  if (busSocketMissing(systemBusAddress())) return undefined;
  const dbusNext = (await import('dbus-next')).default;
  const bus = dbusNext.systemBus();
  return new Promise((resolve) => {
    const fail = () => {
      clearTimeout(timer);
      try {
        bus.disconnect();
      } catch {
        // never connected
      }
      resolve(undefined);
    };
    const timer = setTimeout(fail, CONNECT_TIMEOUT_MS);
    bus.once('connect', () => {
      clearTimeout(timer);
      bus.removeListener('error', fail);
      resolve({ bus, dbus: dbusNext });
    });
    bus.once('error', fail);
  });
}
