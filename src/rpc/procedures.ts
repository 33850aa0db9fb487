// The REMOTE program's procedures virtwall answers, one row each: libvirt's number and name,
// argument and reply structures, which connection it needs, the public API libvirt refuses on a
// read-only connection, and what it does — always through the Daemon's services (the same calls
// the JSON API makes), with libvirt's flag checks and lookup semantics on top.
import type { NetworkDef } from '../conf/network/types.js';
import type { FilterDef } from '../conf/nwfilter/index.js';
import { UPDATE_COMMANDS_BY_NUMBER, UPDATE_SECTIONS_BY_NUMBER } from './update-enums.js';
import { CODE, DOMAIN, libvirtError } from './errors.js';
import { T } from './remote-types.js';
import { DRIVER_DOMAIN, type Driver, type Session } from './session.js';
import type { XdrType } from './xdr.js';
import { watchNetworkEvents, unwatchNetworkEvents } from './events.js';
import { netRef, uuidBytes, uuidText } from './uuid.js';

/** A call's decoded arguments: their shape is the XDR type of its row. */
// biome-ignore lint/suspicious/noExplicitAny: the decoder checks each call against its row's XDR type at run time; no static type is derived from the tables (yet)
type Args = Record<string, any>;

export interface Procedure {
  name: string;
  args: XdrType;
  ret: XdrType;
  /** 'none': also before CONNECT_OPEN; 'open': any opened connection; a driver: a connection to it. */
  needs: 'none' | 'open' | Driver;
  /** The public API libvirt refuses on a read-only connection (virCheckReadOnlyGoto); mutations run serialised. */
  write?: string;
  run(s: Session, a: Args): unknown;
}

/** libvirt's VIR_DRV_FEATURE_* this server supports (PROGRAM_KEEPALIVE, REMOTE_EVENT_CALLBACK, REMOTE_CLOSE_CALLBACK, NETWORK_UPDATE_HAS_CORRECT_ORDER). */
const FEATURES: Record<Driver, readonly number[]> = { network: [9, 10, 14, 15, 16], nwfilter: [9, 10, 14, 15] };
const FEATURE_KEEPALIVE = 10;
/** The libvirt version whose protocol this is (virConnectGetLibVersion). */
export const LIB_VERSION = 9000000n;
/** CONNECT_SET_IDENTITY parameters worth logging (virIdentity's VIR_CONNECT_IDENTITY_*). */
const IDENTITY_FIELDS = ['user-name', 'unix-user-id', 'group-name', 'unix-group-id', 'process-id'];
/** VIR_CONNECT_RO */
const CONNECT_RO = 1;

// --- flags (libvirt's virCheckFlags, named after the driver function that checks them) ---
function checkFlags(s: Session, flags: number, supported: number, fn: string): void {
  const extra = flags & ~supported;
  if (extra)
    throw libvirtError(
      CODE.invalidArg,
      DRIVER_DOMAIN[s.driver],
      `unsupported flags (0x${(extra >>> 0).toString(16)}) in function ${fn}`,
    );
}

/**
 * A call's XML, checked first against libvirt's schema for its root element when its VALIDATE
 * flag (`validate`) is set; errors name the schema (nwfilter, network, ...) as the file. The
 * RelaxNG validator (libxml2's wasm, some 40 ms) is loaded at the first call asking for it, not at
 * every start.
 */
async function xmlArg(
  s: Session,
  a: Args,
  fn: string,
  root: 'network' | 'filter' | 'filterbinding' | 'networkport',
  validate = 1,
  supported = validate,
): Promise<string> {
  checkFlags(s, a['flags'], supported, fn);
  if (a['flags'] & validate) {
    const { assertSchemaValid, SCHEMA_FOR_ROOT } = await import('../schema/relaxng.js');
    assertSchemaValid(a['xml'], root, SCHEMA_FOR_ROOT[root]!.replace(/\.rng$/, ''));
  }
  return a['xml'];
}

// --- object references as libvirt sends them ---
const filterRef = (def: FilterDef) => ({ name: def.name, uuid: uuidBytes(def.uuid) });
const bindingRef = (b: { portdev: string; filter: string }) => ({ portdev: b.portdev, filtername: b.filter });
const portRef = (net: NetworkDef, uuid: string) => ({ net: netRef(net), uuid: uuidBytes(uuid) });

/** The network a reference names: by UUID, as libvirt's networkObjFromNetwork. */
const network = (s: Session, ref: Args): NetworkDef => s.daemon.networks.lookupUuid(uuidText(ref['uuid']), ref['name']);
const filter = (s: Session, ref: Args): FilterDef => s.daemon.filters.getUuid(uuidText(ref['uuid']));
function port(s: Session, ref: Args): { net: NetworkDef; uuid: string } {
  const net = network(s, ref['net']);
  return { net, uuid: s.daemon.ports.get(uuidText(ref['uuid']), net.name).uuid };
}

/** need_results = 0 asks for the count only. */
const listReply = <T>(key: string, items: T[], needResults: number) => ({
  [key]: needResults ? items : [],
  ret: items.length,
});

/** virNetworkObjMatch: each pair of filter flags keeps objects with either property. */
const NETWORK_FILTERS: readonly [
  number,
  number,
  (n: { active: boolean; persistent: boolean; autostart: boolean }) => boolean,
][] = [
  [1, 2, (n) => n.active], // INACTIVE, ACTIVE
  [8, 4, (n) => n.persistent], // TRANSIENT, PERSISTENT
  [32, 16, (n) => n.autostart], // NO_AUTOSTART, AUTOSTART
];

/** VIR_IP_ADDR_TYPE_IPV4 / IPV6 */
const ADDR_TYPE = { ipv4: 0, ipv6: 1 } as const;

function supportsFeature(s: Session, feature: number): { supported: number } {
  if (feature === FEATURE_KEEPALIVE) {
    s.startKeepalive();
    return { supported: 1 };
  }
  if (!s.open) throw libvirtError(CODE.internal, DOMAIN.rpc, 'hypervisor connection not open');
  return { supported: FEATURES[s.driver].includes(feature) ? 1 : 0 };
}

function connectOpen(s: Session, a: Args): void {
  if (s.open) throw libvirtError(CODE.internal, DOMAIN.rpc, 'connection already open');
  const uri = (a['name'] as string | null) ?? '';
  const m = /^([a-z]+):\/\/\/([^?#]*)$/.exec(uri);
  if (!m || m[1] !== s.driver) throw libvirtError(CODE.noConnect, DOMAIN.none, uri || 'the default URI');
  if (m[2] !== 'system')
    throw libvirtError(
      CODE.internal,
      DRIVER_DOMAIN[s.driver],
      `unexpected ${s.driver} URI path '/${m[2]}', try ${s.driver}:///system`,
    );
  checkFlags(s, a['flags'], CONNECT_RO, `${s.driver}ConnectOpen`);
  s.readonly ||= (a['flags'] & CONNECT_RO) !== 0;
  s.open = true;
}

/** Operations libvirt's network and nwfilter drivers do not implement (virReportUnsupportedError). */
const unsupported = (api: string) => () => {
  throw libvirtError(CODE.noSupport, DOMAIN.domain, api);
};

function networkUpdate(s: Session, a: Args) {
  checkFlags(s, a['flags'], 1 | 2, 'networkUpdate');
  const net = network(s, a['net']);
  const command = UPDATE_COMMANDS_BY_NUMBER[a['command']];
  const section = UPDATE_SECTIONS_BY_NUMBER[a['section']];
  if (!command) throw libvirtError(CODE.noSupport, DOMAIN.network, `can't update unrecognized command of network`);
  if (!section) throw libvirtError(CODE.noSupport, DOMAIN.network, `can't update unrecognized section of network`);
  return s.daemon.networkUpdate(net.name, command, section, a['parentIndex'], a['xml'], {
    live: (a['flags'] & 1) !== 0,
    config: (a['flags'] & 2) !== 0,
  });
}

function leases(s: Session, a: Args) {
  checkFlags(s, a['flags'], 0, 'networkGetDHCPLeases');
  const net = network(s, a['net']);
  const bridge = s.daemon.networks.summary(net).bridge ?? '';
  const mac = (a['mac'] as string | null)?.toLowerCase();
  const items = s.daemon.networks
    .leases(net.name)
    .filter((l) => mac === undefined || l.mac?.toLowerCase() === mac)
    .map((l) => ({
      iface: bridge,
      expirytime: BigInt(l.expiryTime),
      type: ADDR_TYPE[l.type],
      mac: l.mac ?? null,
      iaid: l.iaid ?? null,
      ipaddr: l.ipAddress,
      prefix: l.prefix,
      hostname: l.hostname ?? null,
      clientid: l.clientId ?? null,
    }));
  return listReply('leases', items, a['need_results']);
}

// --- calls whose plain and _FLAGS procedures do the same, the latter after xmlArg ---
const defineNetwork = async (s: Session, xml: string) => ({
  net: netRef(s.daemon.networks.lookup(await s.daemon.networkDefine(xml))),
});
const createNetwork = async (s: Session, xml: string) => ({
  net: netRef(s.daemon.networks.lookup(await s.daemon.networkCreate(xml))),
});
const defineFilter = async (s: Session, xml: string) => ({
  nwfilter: filterRef(s.daemon.filters.get((await s.daemon.defineFilter(xml)).name)),
});

async function portCreate(s: Session, a: Args) {
  const xml = await xmlArg(s, a, 'networkPortCreateXML', 'networkport', 2, 1 | 2);
  const net = network(s, a['network']);
  const uuid = await s.daemon.createPort({ network: net.name, xml, reclaim: (a['flags'] & 1) !== 0 });
  return { port: portRef(net, uuid) };
}

const def = (p: Procedure): Procedure => p;

export const PROCEDURES: ReadonlyMap<number, Procedure> = new Map<number, Procedure>([
  // --- connection ---
  [1, def({ name: 'CONNECT_OPEN', args: T.connectOpenArgs, ret: T.void, needs: 'none', run: connectOpen })],
  [2, def({ name: 'CONNECT_CLOSE', args: T.void, ret: T.void, needs: 'none', run: (s) => s.closeAfterReply() })],
  [
    3,
    def({
      name: 'CONNECT_GET_TYPE',
      args: T.void,
      ret: T.str('type'),
      needs: 'open',
      run: (s) => ({ type: s.driver }),
    }),
  ],
  [
    4,
    def({
      name: 'CONNECT_GET_VERSION',
      args: T.void,
      ret: T.uhyper('hv_ver'),
      needs: 'open',
      run: unsupported('virConnectGetVersion'),
    }),
  ],
  [
    59,
    def({
      name: 'CONNECT_GET_HOSTNAME',
      args: T.void,
      ret: T.str('hostname'),
      needs: 'open',
      run: unsupported('virConnectGetHostname'),
    }),
  ],
  [
    60,
    def({
      name: 'CONNECT_SUPPORTS_FEATURE',
      args: T.int('feature'),
      ret: T.int('supported'),
      needs: 'none',
      run: (s, a) => supportsFeature(s, a['feature']),
    }),
  ],
  [66, def({ name: 'AUTH_LIST', args: T.void, ret: T.authListRet, needs: 'none', run: () => ({ types: [0] }) })],
  [
    110,
    def({
      name: 'CONNECT_GET_URI',
      args: T.void,
      ret: T.str('uri'),
      needs: 'open',
      run: (s) => ({ uri: `${s.driver}:///system` }),
    }),
  ],
  [
    148,
    def({
      name: 'CONNECT_IS_ENCRYPTED',
      args: T.void,
      ret: T.int('encrypted'),
      needs: 'open',
      run: () => ({ encrypted: 0 }),
    }),
  ],
  [
    149,
    def({ name: 'CONNECT_IS_SECURE', args: T.void, ret: T.int('secure'), needs: 'open', run: () => ({ secure: 1 }) }),
  ],
  [
    157,
    def({
      name: 'CONNECT_GET_LIB_VERSION',
      args: T.void,
      ret: T.uhyper('lib_ver'),
      needs: 'open',
      run: () => ({ lib_ver: LIB_VERSION }),
    }),
  ],
  [
    360,
    def({ name: 'CONNECT_REGISTER_CLOSE_CALLBACK', args: T.void, ret: T.void, needs: 'open', run: () => undefined }),
  ],
  [
    361,
    def({ name: 'CONNECT_UNREGISTER_CLOSE_CALLBACK', args: T.void, ret: T.void, needs: 'open', run: () => undefined }),
  ],
  [
    419,
    def({
      name: 'CONNECT_SET_IDENTITY',
      args: T.setIdentityArgs,
      ret: T.void,
      needs: 'open',
      write: 'virConnectSetIdentity',
      run: (s, a) => {
        checkFlags(s, a['flags'], 0, 'virConnectSetIdentity');
        // kept for the log: who the client acts for, never its tokens (system.token) or labels
        s.identity = Object.fromEntries(
          (a['params'] as { field: string; value: { value: unknown } }[])
            .filter((p) => IDENTITY_FIELDS.includes(p.field))
            .map((p) => [p.field, String(p.value.value)]),
        );
      },
    }),
  ],

  // --- networks ---
  [
    283,
    def({
      name: 'CONNECT_LIST_ALL_NETWORKS',
      args: T.listAllArgs,
      ret: T.netList,
      needs: 'network',
      run: (s, a) => {
        const flags = a['flags'] as number;
        checkFlags(s, flags, 0x3f, 'networkConnectListAllNetworks');
        const nets = s.daemon.networks
          .list()
          .filter((n) =>
            NETWORK_FILTERS.every(
              ([no, yes, has]) => !(flags & (no | yes)) || (flags & yes && has(n)) || (flags & no && !has(n)),
            ),
          );
        return listReply('nets', nets.map(netRef), a['need_results']);
      },
    }),
  ],
  [
    52,
    def({
      name: 'CONNECT_NUM_OF_NETWORKS',
      args: T.void,
      ret: T.int('num'),
      needs: 'network',
      run: (s) => ({ num: s.daemon.networks.list().filter((n) => n.active).length }),
    }),
  ],
  [
    38,
    def({
      name: 'CONNECT_LIST_NETWORKS',
      args: T.int('maxnames'),
      ret: T.names,
      needs: 'network',
      run: (s, a) => ({
        names: s.daemon.networks
          .list()
          .filter((n) => n.active)
          .map((n) => n.name)
          .slice(0, Math.max(0, a['maxnames'])),
      }),
    }),
  ],
  [
    50,
    def({
      name: 'CONNECT_NUM_OF_DEFINED_NETWORKS',
      args: T.void,
      ret: T.int('num'),
      needs: 'network',
      run: (s) => ({ num: s.daemon.networks.list().filter((n) => !n.active).length }),
    }),
  ],
  [
    36,
    def({
      name: 'CONNECT_LIST_DEFINED_NETWORKS',
      args: T.int('maxnames'),
      ret: T.names,
      needs: 'network',
      run: (s, a) => ({
        names: s.daemon.networks
          .list()
          .filter((n) => !n.active)
          .map((n) => n.name)
          .slice(0, Math.max(0, a['maxnames'])),
      }),
    }),
  ],
  [
    46,
    def({
      name: 'NETWORK_LOOKUP_BY_NAME',
      args: T.str('name'),
      ret: T.net,
      needs: 'network',
      run: (s, a) => ({ net: netRef(s.daemon.networks.lookup(a['name'])) }),
    }),
  ],
  [
    47,
    def({
      name: 'NETWORK_LOOKUP_BY_UUID',
      args: T.byUuid,
      ret: T.net,
      needs: 'network',
      run: (s, a) => ({ net: netRef(s.daemon.networks.lookupUuid(uuidText(a['uuid']))) }),
    }),
  ],
  [
    44,
    def({
      name: 'NETWORK_GET_AUTOSTART',
      args: T.net,
      ret: T.int('autostart'),
      needs: 'network',
      run: (s, a) => ({ autostart: +s.daemon.networks.autostartOf(network(s, a['net']).name) }),
    }),
  ],
  [
    152,
    def({
      name: 'NETWORK_IS_ACTIVE',
      args: T.net,
      ret: T.int('active'),
      needs: 'network',
      run: (s, a) => ({ active: +s.daemon.networks.isActive(network(s, a['net']).name) }),
    }),
  ],
  [
    153,
    def({
      name: 'NETWORK_IS_PERSISTENT',
      args: T.net,
      ret: T.int('persistent'),
      needs: 'network',
      run: (s, a) => ({ persistent: +s.daemon.networks.isPersistent(network(s, a['net']).name) }),
    }),
  ],
  [
    45,
    def({
      name: 'NETWORK_GET_BRIDGE_NAME',
      args: T.net,
      ret: T.str('name'),
      needs: 'network',
      run: (s, a) => {
        const n = s.daemon.networks.summary(network(s, a['net']));
        if (n.bridge === undefined)
          throw libvirtError(CODE.internal, DOMAIN.network, `network '${n.name}' does not have a bridge name.`);
        return { name: n.bridge };
      },
    }),
  ],
  [
    43,
    def({
      name: 'NETWORK_GET_XML_DESC',
      args: T.netFlags,
      ret: T.str('xml'),
      needs: 'network',
      run: (s, a) => {
        checkFlags(s, a['flags'], 1, 'networkGetXMLDesc');
        return { xml: s.daemon.networkXml(network(s, a['net']).name, (a['flags'] & 1) !== 0) };
      },
    }),
  ],
  [
    41,
    def({
      name: 'NETWORK_DEFINE_XML',
      args: T.xml,
      ret: T.net,
      needs: 'network',
      write: 'virNetworkDefineXML',
      run: (s, a) => defineNetwork(s, a['xml']),
    }),
  ],
  [
    432,
    def({
      name: 'NETWORK_DEFINE_XML_FLAGS',
      args: T.xmlFlags,
      ret: T.net,
      needs: 'network',
      write: 'virNetworkDefineXMLFlags',
      run: async (s, a) => defineNetwork(s, await xmlArg(s, a, 'networkDefineXMLFlags', 'network')),
    }),
  ],
  [
    40,
    def({
      name: 'NETWORK_CREATE_XML',
      args: T.xml,
      ret: T.net,
      needs: 'network',
      write: 'virNetworkCreateXML',
      run: (s, a) => createNetwork(s, a['xml']),
    }),
  ],
  [
    437,
    def({
      name: 'NETWORK_CREATE_XML_FLAGS',
      args: T.xmlFlags,
      ret: T.net,
      needs: 'network',
      write: 'virNetworkCreateXMLFlags',
      run: async (s, a) => createNetwork(s, await xmlArg(s, a, 'networkCreateXMLFlags', 'network')),
    }),
  ],
  [
    39,
    def({
      name: 'NETWORK_CREATE',
      args: T.net,
      ret: T.void,
      needs: 'network',
      write: 'virNetworkCreate',
      run: async (s, a) => void (await s.daemon.networkStart(network(s, a['net']).name)),
    }),
  ],
  [
    42,
    def({
      name: 'NETWORK_DESTROY',
      args: T.net,
      ret: T.void,
      needs: 'network',
      write: 'virNetworkDestroy',
      run: async (s, a) => void (await s.daemon.networkDestroy(network(s, a['net']).name)),
    }),
  ],
  [
    49,
    def({
      name: 'NETWORK_UNDEFINE',
      args: T.net,
      ret: T.void,
      needs: 'network',
      write: 'virNetworkUndefine',
      run: async (s, a) => void (await s.daemon.networkUndefine(network(s, a['net']).name)),
    }),
  ],
  [
    48,
    def({
      name: 'NETWORK_SET_AUTOSTART',
      args: T.netAutostart,
      ret: T.void,
      needs: 'network',
      write: 'virNetworkSetAutostart',
      run: (s, a) => void s.daemon.networks.setAutostart(network(s, a['net']).name, a['autostart'] !== 0),
    }),
  ],
  [
    291,
    def({
      name: 'NETWORK_UPDATE',
      args: T.netUpdate,
      ret: T.void,
      needs: 'network',
      write: 'virNetworkUpdate',
      run: async (s, a) => void (await networkUpdate(s, a)),
    }),
  ],
  [341, def({ name: 'NETWORK_GET_DHCP_LEASES', args: T.leasesArgs, ret: T.leasesRet, needs: 'network', run: leases })],
  [
    313,
    def({
      name: 'CONNECT_NETWORK_EVENT_REGISTER_ANY',
      args: T.eventRegisterArgs,
      ret: T.int('callbackID'),
      needs: 'network',
      run: (s, a) => {
        const net = a['net'] ? network(s, a['net']) : undefined;
        if (a['eventID'] !== 0)
          throw libvirtError(CODE.internal, DOMAIN.rpc, `unsupported network event ID ${a['eventID']}`);
        return { callbackID: watchNetworkEvents(s, net?.uuid) };
      },
    }),
  ],
  [
    314,
    def({
      name: 'CONNECT_NETWORK_EVENT_DEREGISTER_ANY',
      args: T.int('callbackID'),
      ret: T.void,
      needs: 'network',
      run: (s, a) => unwatchNetworkEvents(s, a['callbackID']),
    }),
  ],

  // --- network ports ---
  [
    404,
    def({
      name: 'NETWORK_LIST_ALL_PORTS',
      args: T.portListArgs,
      ret: T.portList,
      needs: 'network',
      run: (s, a) => {
        checkFlags(s, a['flags'], 0, 'networkListAllPorts');
        const net = network(s, a['network']);
        return listReply(
          'ports',
          s.daemon.ports.list(net.name).map((p) => portRef(net, p.uuid)),
          a['need_results'],
        );
      },
    }),
  ],
  [
    405,
    def({
      name: 'NETWORK_PORT_LOOKUP_BY_UUID',
      args: T.portLookupArgs,
      ret: T.port,
      needs: 'network',
      run: (s, a) => {
        const { net, uuid } = port(s, { net: a['network'], uuid: a['uuid'] });
        return { port: portRef(net, uuid) };
      },
    }),
  ],
  [
    406,
    def({
      name: 'NETWORK_PORT_CREATE_XML',
      args: T.portCreateArgs,
      ret: T.port,
      needs: 'network',
      write: 'virNetworkPortCreateXML',
      run: portCreate,
    }),
  ],
  [
    409,
    def({
      name: 'NETWORK_PORT_GET_XML_DESC',
      args: T.portFlags,
      ret: T.str('xml'),
      needs: 'network',
      run: (s, a) => {
        checkFlags(s, a['flags'], 0, 'networkPortGetXMLDesc');
        return { xml: s.daemon.portXml(port(s, a['port']).uuid) };
      },
    }),
  ],
  [
    410,
    def({
      name: 'NETWORK_PORT_DELETE',
      args: T.portFlags,
      ret: T.void,
      needs: 'network',
      write: 'virNetworkPortDelete',
      run: async (s, a) => {
        checkFlags(s, a['flags'], 0, 'networkPortDelete');
        await s.daemon.deletePort(port(s, a['port']).uuid);
      },
    }),
  ],

  // --- nwfilters ---
  [
    286,
    def({
      name: 'CONNECT_LIST_ALL_NWFILTERS',
      args: T.listAllArgs,
      ret: T.nwfilterList,
      needs: 'nwfilter',
      run: (s, a) => {
        checkFlags(s, a['flags'], 0, 'nwfilterConnectListAllNWFilters');
        return listReply('filters', s.daemon.filters.list().map(filterRef), a['need_results']);
      },
    }),
  ],
  [
    178,
    def({
      name: 'CONNECT_NUM_OF_NWFILTERS',
      args: T.void,
      ret: T.int('num'),
      needs: 'nwfilter',
      run: (s) => ({ num: s.daemon.filters.list().length }),
    }),
  ],
  [
    179,
    def({
      name: 'CONNECT_LIST_NWFILTERS',
      args: T.int('maxnames'),
      ret: T.names,
      needs: 'nwfilter',
      run: (s, a) => ({
        names: s.daemon.filters
          .list()
          .map((f) => f.name)
          .slice(0, Math.max(0, a['maxnames'])),
      }),
    }),
  ],
  [
    175,
    def({
      name: 'NWFILTER_LOOKUP_BY_NAME',
      args: T.str('name'),
      ret: T.nwfilter,
      needs: 'nwfilter',
      run: (s, a) => ({ nwfilter: filterRef(s.daemon.filters.get(a['name'])) }),
    }),
  ],
  [
    176,
    def({
      name: 'NWFILTER_LOOKUP_BY_UUID',
      args: T.byUuid,
      ret: T.nwfilter,
      needs: 'nwfilter',
      run: (s, a) => ({ nwfilter: filterRef(s.daemon.filters.getUuid(uuidText(a['uuid']))) }),
    }),
  ],
  [
    177,
    def({
      name: 'NWFILTER_GET_XML_DESC',
      args: T.nwfilterFlags,
      ret: T.str('xml'),
      needs: 'nwfilter',
      run: (s, a) => {
        checkFlags(s, a['flags'], 0, 'nwfilterGetXMLDesc');
        return { xml: s.daemon.filterXml(filter(s, a['nwfilter']).name) };
      },
    }),
  ],
  [
    180,
    def({
      name: 'NWFILTER_DEFINE_XML',
      args: T.xml,
      ret: T.nwfilter,
      needs: 'nwfilter',
      write: 'virNWFilterDefineXML',
      run: (s, a) => defineFilter(s, a['xml']),
    }),
  ],
  [
    431,
    def({
      name: 'NWFILTER_DEFINE_XML_FLAGS',
      args: T.xmlFlags,
      ret: T.nwfilter,
      needs: 'nwfilter',
      write: 'virNWFilterDefineXMLFlags',
      run: async (s, a) => defineFilter(s, await xmlArg(s, a, 'nwfilterDefineXMLFlags', 'filter')),
    }),
  ],
  [
    181,
    def({
      name: 'NWFILTER_UNDEFINE',
      args: T.nwfilter,
      ret: T.void,
      needs: 'nwfilter',
      write: 'virNWFilterUndefine',
      run: async (s, a) => void (await s.daemon.undefineFilter(filter(s, a['nwfilter']).name)),
    }),
  ],

  // --- nwfilter bindings ---
  [
    401,
    def({
      name: 'CONNECT_LIST_ALL_NWFILTER_BINDINGS',
      args: T.listAllArgs,
      ret: T.bindingList,
      needs: 'nwfilter',
      run: (s, a) => {
        checkFlags(s, a['flags'], 0, 'nwfilterConnectListAllNWFilterBindings');
        return listReply('bindings', s.daemon.bindings.list().map(bindingRef), a['need_results']);
      },
    }),
  ],
  [
    397,
    def({
      name: 'NWFILTER_BINDING_LOOKUP_BY_PORT_DEV',
      args: T.str('name'),
      ret: T.binding,
      needs: 'nwfilter',
      run: (s, a) => ({ nwfilter: bindingRef(s.daemon.bindings.get(a['name'])) }),
    }),
  ],
  [
    398,
    def({
      name: 'NWFILTER_BINDING_GET_XML_DESC',
      args: T.bindingFlags,
      ret: T.str('xml'),
      needs: 'nwfilter',
      run: (s, a) => {
        checkFlags(s, a['flags'], 0, 'nwfilterBindingGetXMLDesc');
        return { xml: s.daemon.bindingXml(a['nwfilter']['portdev']) };
      },
    }),
  ],
  [
    399,
    def({
      name: 'NWFILTER_BINDING_CREATE_XML',
      args: T.xmlFlags,
      ret: T.binding,
      needs: 'nwfilter',
      write: 'virNWFilterBindingCreateXML',
      run: async (s, a) => ({
        nwfilter: bindingRef(
          s.daemon.bindings.get(
            await s.daemon.createBinding(await xmlArg(s, a, 'nwfilterBindingCreateXML', 'filterbinding')),
          ),
        ),
      }),
    }),
  ],
  [
    400,
    def({
      name: 'NWFILTER_BINDING_DELETE',
      args: T.binding,
      ret: T.void,
      needs: 'nwfilter',
      write: 'virNWFilterBindingDelete',
      run: async (s, a) => void (await s.daemon.deleteBinding(a['nwfilter']['portdev'])),
    }),
  ],
]);
