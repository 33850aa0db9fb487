// The structures of libvirt's remote protocol (src/remote/remote_protocol.x) and of its error
// (src/rpc/virnetprotocol.x) that the network and nwfilter procedures use, as XDR type data.
// Field names and limits are libvirt's; procedures 1-443 and these structures are the same from
// libvirt 9.0 to 11.3.
import { xdr, type XdrType } from './xdr.js';

const REMOTE_STRING_MAX = 4194304;
const LIST_MAX = 16384;
const REMOTE_NETWORK_DHCP_LEASES_MAX = 65536;
const REMOTE_AUTH_TYPE_LIST_MAX = 20;
const REMOTE_CONNECT_IDENTITY_PARAMS_MAX = 20;

export const str = xdr.string(REMOTE_STRING_MAX);
export const ostr = xdr.optional(str);
export const uuid = xdr.fixed(16);

export const network = xdr.struct(['name', str], ['uuid', uuid]);
export const networkPort = xdr.struct(['net', network], ['uuid', uuid]);
export const nwfilter = xdr.struct(['name', str], ['uuid', uuid]);
export const nwfilterBinding = xdr.struct(['portdev', str], ['filtername', str]);

/** virTypedParameterType: INT 1, UINT 2, LLONG 3, ULLONG 4, DOUBLE 5, BOOLEAN 6, STRING 7. */
export const typedParam = xdr.struct(
  ['field', str],
  ['value', xdr.union({ 1: xdr.int, 2: xdr.uint, 3: xdr.hyper, 4: xdr.uhyper, 5: xdr.double, 6: xdr.int, 7: str })],
);

export const dhcpLease = xdr.struct(
  ['iface', str],
  ['expirytime', xdr.hyper],
  ['type', xdr.int],
  ['mac', ostr],
  ['iaid', ostr],
  ['ipaddr', str],
  ['prefix', xdr.uint],
  ['hostname', ostr],
  ['clientid', ostr],
);

/** Shorthands for the argument and reply structures. */
const s = xdr.struct;
const flags: [string, XdrType] = ['flags', xdr.uint];
const list = (name: string, of: XdrType, max = LIST_MAX) => s([name, xdr.array(of, max)], ['ret', xdr.uint]);

export const T = {
  void: xdr.void,
  int: (name: string) => s([name, xdr.int]),
  uhyper: (name: string) => s([name, xdr.uhyper]),
  str: (name: string) => s([name, str]),
  flags: s(flags),
  connectOpenArgs: s(['name', ostr], flags),
  authListRet: s(['types', xdr.array(xdr.int, REMOTE_AUTH_TYPE_LIST_MAX)]),
  setIdentityArgs: s(['params', xdr.array(typedParam, REMOTE_CONNECT_IDENTITY_PARAMS_MAX)], flags),
  listAllArgs: s(['need_results', xdr.int], flags),
  byUuid: s(['uuid', uuid]),
  xml: s(['xml', str]),
  xmlFlags: s(['xml', str], flags),
  net: s(['net', network]),
  netFlags: s(['net', network], flags),
  netAutostart: s(['net', network], ['autostart', xdr.int]),
  netUpdate: s(
    ['net', network],
    ['command', xdr.uint],
    ['section', xdr.uint],
    ['parentIndex', xdr.int],
    ['xml', str],
    flags,
  ),
  netList: list('nets', network),
  names: s(['names', xdr.array(str, LIST_MAX)]),
  leasesArgs: s(['net', network], ['mac', ostr], ['need_results', xdr.int], flags),
  leasesRet: list('leases', dhcpLease, REMOTE_NETWORK_DHCP_LEASES_MAX),
  eventRegisterArgs: s(['eventID', xdr.int], ['net', xdr.optional(network)]),
  eventLifecycleMsg: s(['callbackID', xdr.int], ['net', network], ['event', xdr.int], ['detail', xdr.int]),
  port: s(['port', networkPort]),
  portFlags: s(['port', networkPort], flags),
  portLookupArgs: s(['network', network], ['uuid', uuid]),
  portCreateArgs: s(['network', network], ['xml', str], flags),
  portListArgs: s(['network', network], ['need_results', xdr.int], flags),
  portList: list('ports', networkPort),
  nwfilter: s(['nwfilter', nwfilter]),
  nwfilterFlags: s(['nwfilter', nwfilter], flags),
  nwfilterList: list('filters', nwfilter),
  binding: s(['nwfilter', nwfilterBinding]),
  bindingFlags: s(['nwfilter', nwfilterBinding], flags),
  bindingList: list('bindings', nwfilterBinding),
};

/** virNetMessageError: what an ERROR reply carries. */
export const messageError = xdr.struct(
  ['code', xdr.int],
  ['domain', xdr.int],
  ['message', ostr],
  ['level', xdr.int],
  ['dom', xdr.optional(xdr.struct(['name', str], ['uuid', uuid], ['id', xdr.int]))],
  ['str1', ostr],
  ['str2', ostr],
  ['str3', ostr],
  ['int1', xdr.int],
  ['int2', xdr.int],
  ['net', xdr.optional(network)],
);
