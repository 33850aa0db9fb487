// Network ports (libvirt's virNetworkPort): a guest's TAP device attached to a running
// network's bridge, with the nwfilter binding of its <filterref> and, if asked, libvirt's QEMU
// mac_filter. A port without a TAP is libvirt's own kind: a reservation whose `<plug>` tells the
// client (libvirt's QEMU driver) which bridge to plug its device into, filters bound by the
// client through the nwfilter daemon. Records live in DIR/run/virtwall/ports/UUID.json.
import { VirtwallError, invalidInput } from '../errors.js';
import { formatNetworkPort } from '../conf/networkport/format.js';
import { parseNetworkPort } from '../conf/networkport/parse.js';
import type { NetworkPortDef } from '../conf/networkport/types.js';
import type { FilterBindingDef } from '../conf/nwfilterbinding/types.js';
import type { CommandRunner } from '../exec/runner.js';
import { renderCommandLine } from '../plan/command.js';
import * as z from '../util/zod.js';
import { checkDeviceName, isDeviceName } from '../util/device-name.js';
import { removeRecord, writeRecord } from './persist.js';
import { jsonState, readRecords } from '../util/state-file.js';

const SUFFIX = '.json';
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** What the client adds to the <networkport> document. */
export interface PortRequest {
  network: string;
  xml: string;
  /** The TAP (or veth) device to attach, existing already; none: the client plugs its device. */
  tap?: string;
  /** The <filterref> of the guest interface. */
  filter?: { name: string; params: Record<string, string[]> };
  macFilter?: boolean;
  /** libvirt's VIR_NETWORK_PORT_CREATE_RECLAIM: the port exists already (its XML has its <plug>). */
  reclaim?: boolean;
}

/** A port record as stored; its TAP goes into `ip` commands, so it is checked like a request's. */
const PORT_RECORD = z.strictObject({
  uuid: z.guid(),
  network: z.string(),
  /** None: libvirt's kind of port, whose client plugs its own device. */
  tap: z.optional(z.string().check(z.refine(isDeviceName, 'not a device name'))),
  macFilter: z.boolean(),
  /** The binding this port created (its portdev is `tap`). */
  filter: z.optional(z.string()),
  xml: z.string(),
});

export type PortRecord = z.output<typeof PORT_RECORD>;

export class PortService {
  private readonly ports = new Map<string, PortRecord>();

  constructor(
    private readonly dir: string,
    private readonly runner: CommandRunner,
  ) {}

  load(): PortRecord[] {
    for (const [uuid, record] of readRecords(this.dir, SUFFIX, jsonState(PORT_RECORD))) this.ports.set(uuid, record);
    return this.list();
  }

  list(network?: string): PortRecord[] {
    return [...this.ports.values()]
      .filter((p) => network === undefined || p.network === network)
      .sort((a, b) => a.uuid.localeCompare(b.uuid));
  }

  /** The port with this UUID (on `network`, if given). */
  get(uuid: string, network?: string): PortRecord {
    const p = this.ports.get(uuid.toLowerCase());
    if (!p || (network !== undefined && p.network !== network))
      throw new VirtwallError(
        'not-found',
        `network port not found: Network port with UUID ${uuid.toLowerCase()} does not exist`,
      );
    return p;
  }

  /** Checks a request and gives the port definition (plugged into `bridge`) and the binding it needs. */
  prepare(req: PortRequest, bridge: string): { port: NetworkPortDef; binding?: FilterBindingDef } {
    const parsed = parseNetworkPort(req.xml, 'port');
    // libvirt's networkPortCreateXML: a <plug> comes with RECLAIM and only then
    if (req.reclaim && parsed.plug.type === 'none')
      throw invalidInput('invalid argument: Port reclaim requested but plug type is none');
    if (!req.reclaim && parsed.plug.type !== 'none')
      throw invalidInput('invalid argument: Port reclaim not requested but plug type is not none');
    if (this.ports.has(parsed.uuid)) throw new VirtwallError('conflict', `network port ${parsed.uuid} already exists`);
    const port: NetworkPortDef = { ...parsed, plug: req.reclaim ? parsed.plug : { type: 'network', bridge } };
    if (req.tap === undefined) {
      if (req.filter || req.macFilter) throw invalidInput('a filter or MAC filter needs the TAP device of the port');
      return { port };
    }
    checkDeviceName(req.tap, 'TAP device');
    const clash = [...this.ports.values()].find((p) => p.tap === req.tap);
    if (clash) throw new VirtwallError('conflict', `device '${req.tap}' is already attached by port ${clash.uuid}`);
    if (!req.filter) return { port };
    for (const name of Object.keys(req.filter.params))
      if (!PARAM_NAME.test(name)) throw invalidInput(`invalid filter parameter name '${name}'`);
    const binding: FilterBindingDef = {
      owner: port.owner,
      portdev: req.tap,
      mac: port.mac,
      filter: req.filter.name,
      params: new Map(Object.entries(req.filter.params)),
    };
    return { port, binding };
  }

  private async ip(argv: string[]): Promise<void> {
    const r = await this.runner.run(['ip', ...argv]);
    if (r.status !== 0)
      throw new VirtwallError('operation-failed', `'${renderCommandLine(['ip', ...argv])}' failed: ${r.stderr.trim()}`);
  }

  /** Attaches the device (if the port has one) to the bridge and records the port. */
  async attach(port: NetworkPortDef, req: PortRequest, networkName: string, bridge: string): Promise<PortRecord> {
    if (req.tap !== undefined) {
      await this.ip(['link', 'set', 'dev', req.tap, 'master', bridge]);
      await this.ip(['link', 'set', 'dev', req.tap, 'up']);
    }
    const record: PortRecord = {
      uuid: port.uuid,
      network: networkName,
      tap: req.tap,
      macFilter: req.macFilter ?? false,
      filter: req.filter?.name,
      xml: formatNetworkPort(port),
    };
    writeRecord('port', this.dir, port.uuid + SUFFIX, `${JSON.stringify(record, null, 2)}\n`);
    this.ports.set(port.uuid, record);
    return record;
  }

  /** Detaches the device (if it still exists) and forgets the port. */
  async detach(uuid: string): Promise<PortRecord> {
    const record = this.get(uuid);
    if (record.tap !== undefined) await this.runner.run(['ip', 'link', 'set', 'dev', record.tap, 'nomaster']);
    removeRecord('port', this.dir, record.uuid + SUFFIX);
    this.ports.delete(record.uuid);
    return record;
  }
}
