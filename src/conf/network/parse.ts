// <network> XML -> NetworkDef, following virNetworkDefParseXML (src/conf/network_conf.c): the
// same defaults, the same checks in the same order, and libvirt's messages, each located at the
// offending element/attribute.
import { parseXml, childElements, firstChild, textContent, type XmlElement } from '../../xml/dom.js';
import { formatIp, formatMac, maskToNetwork, parseMac, type IpAddress } from '../../util/address.js';
import { parseUInt } from '../../util/strtol.js';
import { generateUuid, parseUuid } from '../uuid.js';
import {
  badInput,
  childText,
  parseDocument,
  parseULongLong,
  prop,
  tristateProp,
  uintProp,
  xpathProp,
} from '../xmlprops.js';
import { checkRange, effectivePrefix, parseSocketAddr, sameAddress } from '../sockaddr.js';
import { parseBandwidth } from '../netdev/bandwidth.js';
import { parseVlan } from '../netdev/vlan.js';
import { parseVirtualPort } from '../netdev/vport.js';
import { parsePciAddress, pciAddressText, samePciAddress } from '../pci.js';
import { parseHostdevDriver } from '../hostdev-driver.js';
import { sanitizeMetadata } from './metadata.js';
import { scopeAt } from '../../xml/namespaces.js';
import { parseDnsmasqOptions } from './dnsmasq-namespace.js';
import { checkDnsmasqFields } from './dnsmasq-fields.js';
import type {
  DhcpHost,
  DhcpLease,
  DhcpRange,
  DnsHost,
  DnsSrv,
  DnsTxt,
  ForwardInterface,
  ForwardMode,
  NatOptions,
  NetworkDef,
  NetworkDns,
  NetworkForward,
  NetworkIp,
  NetworkRoute,
  PortGroup,
} from './types.js';

export const FORWARD_MODES: readonly ForwardMode[] = [
  'none',
  'nat',
  'route',
  'open',
  'bridge',
  'private',
  'vepa',
  'passthrough',
  'hostdev',
];
const LEASE_UNITS = ['seconds', 'minutes', 'hours'] as const;

/** Parses a <network> document; `file` names it in error locations. */
export function parseNetwork(text: string, file?: string): NetworkDef {
  return parseNetworkElement(parseXml(text, file));
}

export function parseNetworkElement(root: XmlElement): NetworkDef {
  return parseDocument(root, parseRoot);
}

/** virMacAddrParse + multicast check; returns libvirt's lower-case text. */
function parseUnicastMac(el: XmlElement, attr: string, text: string, invalid: string, multicast: string): string {
  const bytes = parseMac(text);
  if (!bytes) throw badInput(el, invalid, attr);
  if (bytes[0]! & 1) throw badInput(el, multicast, attr);
  return formatMac(bytes);
}

function parseRoot(root: XmlElement): NetworkDef {
  if (root.name !== 'network') throw badInput(root, `unexpected root element <${root.name}>, expecting <network>`);
  // before any value is read: nothing dnsmasq would misread gets into a definition
  checkDnsmasqFields(root, 'network');
  const name = childText(root, 'name');
  if (name === undefined) throw badInput(root, 'missing name information in network');
  if (name.includes('/')) throw badInput(firstChild(root, 'name')!, `name ${name} cannot contain '/'`);

  const uuidText = childText(root, 'uuid');
  let uuid: string;
  if (uuidText === undefined) {
    uuid = generateUuid();
  } else {
    const parsed = parseUuid(uuidText);
    if (!parsed) throw badInput(firstChild(root, 'uuid')!, 'malformed uuid element');
    uuid = parsed;
  }

  const title = childText(root, 'title');
  if (title?.includes('\n')) throw badInput(firstChild(root, 'title')!, "Network title can't contain newlines");
  const description = childText(root, 'description');

  const ipv6Text = xpathProp(root, 'ipv6');
  if (ipv6Text !== undefined && ipv6Text !== 'yes' && ipv6Text !== 'no') {
    throw badInput(root, `Invalid ipv6 setting '${ipv6Text}' in network '${name}'`, 'ipv6');
  }

  const def: NetworkDef = {
    name,
    uuid,
    uuidSpecified: uuidText !== undefined,
    title,
    description,
    ipv6NoGateway: ipv6Text === 'yes',
    trustGuestRxFilters: tristateProp(root, 'trustGuestRxFilters'),
    forward: { mode: 'none', managed: false, pfs: [], interfaces: [] },
    bridge: { stp: true, delay: 0 },
    dns: { forwarders: [], txts: [], hosts: [], srvs: [] },
    ips: [],
    routes: [],
    portGroups: [],
    dnsmasqOptions: [],
  };

  const domainEl = firstChild(root, 'domain');
  if (domainEl) {
    def.domain = {
      name: prop(domainEl, 'name'),
      localOnly: tristateProp(domainEl, 'localOnly'),
      register: tristateProp(domainEl, 'register'),
    };
  }

  const bandwidthEl = firstChild(root, 'bandwidth');
  if (bandwidthEl) def.bandwidth = parseBandwidth(bandwidthEl, false).bandwidth;
  const vlanEl = firstChild(root, 'vlan');
  if (vlanEl) def.vlan = parseVlan(vlanEl);
  def.isolatedPort = tristateProp(firstChild(root, 'port'), 'isolated');

  const bridgeEl = firstChild(root, 'bridge');
  const stpText = xpathProp(bridgeEl, 'stp');
  if (bridgeEl) {
    def.bridge.name = xpathProp(bridgeEl, 'name');
    def.bridge.zone = xpathProp(bridgeEl, 'zone');
    def.bridge.stp = stpText !== 'off';
    const delay = xpathProp(bridgeEl, 'delay');
    if (delay !== undefined) {
      const v = parseULongLong(delay);
      if (v === undefined) throw badInput(bridgeEl, `Invalid delay value in network '${name}'`, 'delay');
      def.bridge.delay = v;
    }
    const mtm = xpathProp(bridgeEl, 'macTableManager');
    if (mtm !== undefined) {
      if (mtm !== 'kernel' && mtm !== 'libvirt')
        throw badInput(bridgeEl, `Invalid macTableManager setting '${mtm}' in network '${name}'`, 'macTableManager');
      def.bridge.macTableManager = mtm;
    }
  }

  const macEl = firstChild(root, 'mac');
  const macText = xpathProp(macEl, 'address');
  if (macEl && macText !== undefined) {
    def.mac = parseUnicastMac(
      macEl,
      'address',
      macText,
      `Invalid bridge mac address '${macText}' in network '${name}'`,
      `Invalid multicast bridge mac address '${macText}' in network '${name}'`,
    );
  }

  const mtuEl = firstChild(root, 'mtu');
  const mtuText = xpathProp(mtuEl, 'size');
  if (mtuEl && mtuText !== undefined) {
    const mtu = parseUInt(mtuText);
    if (mtu === undefined) throw badInput(mtuEl, `Invalid mtu size '${mtuText}' in network '${name}'`, 'size');
    if (mtu > 0) def.mtu = mtu;
  }

  const dnsEl = firstChild(root, 'dns');
  if (dnsEl) def.dns = parseDns(name, dnsEl);

  const vportEl = firstChild(root, 'virtualport');
  if (vportEl) def.virtualPort = parseVirtualPort(vportEl, true);

  def.portGroups = childElements(root, 'portgroup').map(parsePortGroup);
  def.ips = childElements(root, 'ip').map((el) => parseIp(name, el));
  def.routes = childElements(root, 'route').map((el) => parseRoute(name, el));
  for (const [i, route] of def.routes.entries())
    checkGatewayReachable(name, childElements(root, 'route')[i]!, route, def.ips);

  const forwardEl = firstChild(root, 'forward');
  if (forwardEl) def.forward = parseForward(name, forwardEl);
  checkForwardMode(root, def, stpText !== undefined);

  const metadataEl = firstChild(root, 'metadata');
  if (metadataEl) def.metadata = sanitizeMetadata(metadataEl, scopeAt(root, metadataEl) ?? {});
  def.dnsmasqOptions = parseDnsmasqOptions(root);
  return def;
}

/** The checks that tie bridge, mtu and interfaces to the forward mode. */
function checkForwardMode(root: XmlElement, def: NetworkDef, stpWritten: boolean): void {
  const mode = def.forward.mode;
  const fwdEl = firstChild(root, 'forward') ?? root;
  const bridgeEl = firstChild(root, 'bridge') ?? root;
  const net = def.name;
  switch (mode) {
    case 'none':
      break;
    case 'route':
    case 'nat':
    case 'open':
      if (def.ips.length === 0)
        throw badInput(fwdEl, `${mode} forwarding requested, but no IP address provided for network '${net}'`);
      if (def.forward.interfaces.length > 1)
        throw badInput(fwdEl, `multiple forwarding interfaces specified for network '${net}', only one is supported`);
      if (mode === 'open' && def.forward.interfaces.length)
        throw badInput(fwdEl, `forward dev not allowed for network '${net}' with forward mode='${mode}'`);
      break;
    case 'private':
    case 'vepa':
    case 'passthrough':
    case 'hostdev':
    case 'bridge':
      if (mode !== 'bridge') {
        if (def.bridge.name !== undefined)
          throw badInput(bridgeEl, `bridge name not allowed in ${mode} mode (network '${net}')`, 'name');
        if (def.bridge.zone !== undefined)
          throw badInput(bridgeEl, `bridge zone not allowed in ${mode} mode (network '${net}')`, 'zone');
        if (def.bridge.macTableManager)
          throw badInput(
            bridgeEl,
            `bridge macTableManager setting not allowed in ${mode} mode (network '${net}')`,
            'macTableManager',
          );
      }
      if (def.bridge.delay || stpWritten || def.bridge.zone !== undefined) {
        throw badInput(
          bridgeEl,
          `bridge delay/stp/zone options only allowed in route, nat, and isolated mode, not in ${mode} (network '${net}')`,
        );
      }
      if (def.bridge.name !== undefined && (def.forward.interfaces.length || def.forward.pfs.length)) {
        throw badInput(
          fwdEl,
          `A network with forward mode='${mode}' can specify a bridge name or a forward dev, but not both (network '${net}')`,
        );
      }
      break;
  }
  if (def.mtu && !['none', 'nat', 'route', 'open'].includes(mode)) {
    throw badInput(
      firstChild(root, 'mtu') ?? root,
      `mtu size only allowed in open, route, nat, and isolated mode, not in ${mode} (network '${net}')`,
    );
  }
}

function parseLease(el: XmlElement | undefined): DhcpLease | undefined {
  if (!el) return undefined;
  const expiryText = prop(el, 'expiry');
  if (expiryText === undefined) return undefined;
  const expiry = parseCUIntLong(expiryText);
  if (expiry === undefined)
    throw badInput(
      el,
      `Invalid value for attribute 'expiry' in element 'lease': '${expiryText}'. Expected non-negative integer value`,
      'expiry',
    );
  const unitText = prop(el, 'unit');
  let unit: DhcpLease['unit'] = 'minutes';
  if (unitText !== undefined) {
    if (!(LEASE_UNITS as readonly string[]).includes(unitText))
      throw badInput(el, `Invalid value for attribute 'unit' in element 'lease': '${unitText}'`, 'unit');
    unit = unitText as DhcpLease['unit'];
  }
  if (expiry > 0 && ((unit === 'seconds' && expiry < 120) || (unit === 'minutes' && expiry < 2))) {
    throw badInput(el, 'The minimum lease time should be greater than 2 minutes', 'expiry');
  }
  return { expiry, unit };
}

/** virXMLPropULongLong with base 0. */
function parseCUIntLong(text: string): number | undefined {
  const t = text.replace(/^[ \t\n\v\f\r]*\+?/, '');
  if (/^-/.test(t)) return undefined;
  if (/^0[xX][0-9a-fA-F]+$/.test(t)) return Number(BigInt(t));
  if (/^0[0-7]*$/.test(t)) return parseInt(t, 8);
  if (/^[1-9][0-9]*$/.test(t)) {
    const v = BigInt(t);
    return v > 0xffffffffffffffffn ? undefined : Number(v);
  }
  return undefined;
}

/** virNetworkDHCPRangeDefParseXML. */
export function parseDhcpRange(net: string, ip: NetworkIp, el: XmlElement): DhcpRange {
  const read = (attr: 'start' | 'end'): IpAddress => {
    const text = prop(el, attr);
    if (text === undefined) throw badInput(el, `Missing '${attr}' attribute in dhcp range for network '${net}'`, attr);
    const addr = parseSocketAddr(text);
    if (!addr) throw badInput(el, `Cannot parse address '${text}'`, attr);
    return addr;
  };
  const start = read('start');
  const end = read('end');
  checkRange(start, end, { address: ip.address, prefix: ip.prefix }, (d) => badInput(el, d));
  return { start, end, lease: parseLease(firstChild(el, 'lease')) };
}

/** virNetworkDHCPHostDefParseXML; `partialOk` for matching (update delete): one of mac/name/ip. */
export function parseDhcpHost(net: string, ip: NetworkIp, el: XmlElement, partialOk: boolean): DhcpHost {
  const host: DhcpHost = {};
  const mac = prop(el, 'mac');
  if (mac !== undefined) {
    if (ip.family === 'ipv6')
      throw badInput(
        el,
        `Invalid to specify MAC address '${mac}' in network '${net}' IPv6 static host definition`,
        'mac',
      );
    parseUnicastMac(
      el,
      'mac',
      mac,
      `Cannot parse MAC address '${mac}' in network '${net}'`,
      `expected unicast mac address, found multicast '${mac}' in network '${net}'`,
    );
    host.mac = mac;
  }
  const id = prop(el, 'id');
  if (id !== undefined) {
    const bad = /[^0-9a-fA-F:]/.exec(id);
    if (bad) throw badInput(el, `Invalid character '${bad[0]}' in id '${id}' of network '${net}'`, 'id');
    host.id = id;
  }
  const name = prop(el, 'name');
  if (name !== undefined) {
    if (!/^[A-Za-z0-9]/.test(name)) throw badInput(el, `Cannot use host name '${name}' in network '${net}'`, 'name');
    host.name = name;
  }
  const ipText = prop(el, 'ip');
  if (ipText !== undefined) {
    host.ip = parseSocketAddr(ipText);
    if (!host.ip) throw badInput(el, `Invalid IP address in static host definition for network '${net}'`, 'ip');
  }
  if (partialOk) {
    if (mac === undefined && name === undefined && ipText === undefined) {
      throw badInput(
        el,
        `At least one of name, mac, or ip attribute must be specified for static host definition in network '${net}'`,
      );
    }
  } else {
    if (ip.family === 'ipv6') {
      if (id === undefined && name === undefined)
        throw badInput(el, `Static host definition in IPv6 network '${net}' must have id or name attribute`);
    } else if (mac === undefined && name === undefined) {
      throw badInput(el, `Static host definition in IPv4 network '${net}' must have mac or name attribute`);
    }
    if (ipText === undefined) throw badInput(el, `Missing IP address in static host definition for network '${net}'`);
  }
  const lease = parseLease(firstChild(el, 'lease'));
  if (lease) host.lease = lease;
  return host;
}

function parseIp(net: string, el: XmlElement): NetworkIp {
  const familyText = xpathProp(el, 'family');
  const addressText = xpathProp(el, 'address');
  if (addressText === undefined)
    throw badInput(el, `Missing required address attribute in network '${net}'`, 'address');
  const address = parseSocketAddr(addressText);
  if (!address) throw badInput(el, `Invalid address '${addressText}' in network '${net}'`, 'address');
  const netmaskText = xpathProp(el, 'netmask');
  let netmask: IpAddress | undefined;
  if (netmaskText !== undefined) {
    netmask = parseSocketAddr(netmaskText);
    if (!netmask) throw badInput(el, `Invalid netmask '${netmaskText}' in network '${net}'`, 'netmask');
  }
  const prefix = uintProp(el, 'prefix') ?? 0;
  const localPtr = tristateProp(el, 'localPtr');

  if (familyText === undefined || familyText === 'ipv4') {
    if (address.family !== 'ipv4')
      throw badInput(
        el,
        `${familyText === undefined ? 'no' : 'ipv4'} family specified for non-IPv4 address '${addressText}' in network '${net}'`,
        'address',
      );
    if (netmask) {
      if (netmask.family !== 'ipv4')
        throw badInput(
          el,
          `Invalid netmask '${netmaskText}' for address '${addressText}' in network '${net}' (both must be IPv4)`,
          'netmask',
        );
      if (prefix > 0)
        throw badInput(el, `Network '${net}' IP address cannot have both a prefix and a netmask`, 'prefix');
    } else if (prefix > 32) {
      throw badInput(el, `Invalid IPv4 prefix '${prefix}' in network '${net}'`, 'prefix');
    }
  } else if (familyText === 'ipv6') {
    if (address.family !== 'ipv6')
      throw badInput(
        el,
        `Family 'ipv6' specified for non-IPv6 address '${addressText}' in network '${net}'`,
        'address',
      );
    if (netmask)
      throw badInput(el, `netmask not allowed for IPv6 address '${addressText}' in network '${net}'`, 'netmask');
    if (prefix > 128) throw badInput(el, `Invalid IPv6 prefix '${prefix}' in network '${net}'`, 'prefix');
  } else {
    throw badInput(el, `Unrecognized family '${familyText}' in network '${net}'`, 'family');
  }

  const ip: NetworkIp = {
    family: address.family,
    familyWritten: familyText !== undefined,
    address,
    prefix: effectivePrefix(address, netmask, prefix),
    maskForm: netmask ? 'netmask' : prefix > 0 ? 'prefix' : 'none',
    netmask,
    localPtr,
    ranges: [],
    hosts: [],
  };

  const dhcp = firstChild(el, 'dhcp');
  if (dhcp) {
    ip.ranges = childElements(dhcp, 'range').map((r) => parseDhcpRange(net, ip, r));
    ip.hosts = childElements(dhcp, 'host').map((h) => parseDhcpHost(net, ip, h, false));
    const bootp = firstChild(dhcp, 'bootp');
    if (bootp && ip.family === 'ipv4') {
      const file = prop(bootp, 'file');
      if (file === undefined) throw badInput(bootp, "Missing required attribute 'file' in element 'bootp'", 'file');
      ip.bootFile = file;
      const server = prop(bootp, 'server');
      if (server !== undefined) {
        ip.bootServer = parseSocketAddr(server);
        if (!ip.bootServer) throw badInput(bootp, `Cannot parse address '${server}'`, 'server');
      }
    }
  }
  const tftp = firstChild(el, 'tftp');
  if (tftp) {
    if (ip.family !== 'ipv4') throw badInput(tftp, `Unsupported <tftp> element in an IPv6 element in network '${net}'`);
    ip.tftpRoot = xpathProp(tftp, 'root');
  }
  return ip;
}

/** virNetworkDNSHostDefParseXML; `partialOk` (update delete) lets ip or hostnames be missing. */
export function parseDnsHost(
  net: string,
  el: XmlElement,
  partialOk: boolean,
): Partial<DnsHost> & { hostnames: string[] } {
  const nameEls = childElements(el, 'hostname');
  const hostnames = nameEls.map((h) => {
    const text = textContent(h);
    if (text === '') throw badInput(h, `Missing hostname in network '${net}' DNS HOST record`);
    return text;
  });
  if (nameEls.length === 0 && !partialOk) throw badInput(el, `Missing hostname in network '${net}' DNS HOST record`);
  const ipText = prop(el, 'ip');
  if (ipText !== undefined) {
    const ip = parseSocketAddr(ipText);
    if (!ip) throw badInput(el, `Invalid IP address in network '${net}' DNS HOST record`, 'ip');
    return { ip, hostnames };
  }
  if (!partialOk) throw badInput(el, `Missing IP address in network '${net}' DNS HOST record`);
  if (nameEls.length === 0) throw badInput(el, `Missing ip and hostname in network '${net}' DNS HOST record`);
  return { hostnames };
}

/** Service and protocol characters libvirt allows in SRV records ('.' separates fields). */
const SERVICE_CHARS = /^[A-Za-z0-9_\-+/*]*$/;
const PROTOCOL_CHARS = /^[A-Za-z0-9\-+/]*$/;
/** RFC 2782 record limit minus overhead. */
const SRV_SERVICE_MAX = 512 - 30;

/** virNetworkDNSSrvDefParseXML; `partialOk` (update delete) makes service/protocol optional. */
export function parseDnsSrv(net: string, el: XmlElement, partialOk: boolean): DnsSrv {
  const srv: DnsSrv = {};
  srv.service = prop(el, 'service');
  if (srv.service === undefined && !partialOk)
    throw badInput(el, `missing required service attribute in DNS SRV record of network '${net}'`, 'service');
  if (srv.service !== undefined) {
    if (Buffer.byteLength(srv.service) > SRV_SERVICE_MAX) {
      throw badInput(
        el,
        `service attribute '${srv.service}' in network '${net}' is too long, limit is ${SRV_SERVICE_MAX} bytes`,
        'service',
      );
    }
    if (!SERVICE_CHARS.test(srv.service))
      throw badInput(
        el,
        `invalid character in service attribute '${srv.service}' in DNS SRV record of network '${net}'`,
        'service',
      );
  }
  srv.protocol = prop(el, 'protocol');
  if (srv.protocol === undefined && !partialOk) {
    throw badInput(
      el,
      `missing required protocol attribute in DNS SRV record '${srv.service}' of network '${net}'`,
      'protocol',
    );
  }
  if (srv.protocol !== undefined && !PROTOCOL_CHARS.test(srv.protocol)) {
    throw badInput(
      el,
      `invalid character in protocol attribute '${srv.protocol}' in DNS SRV record of network '${net}'`,
      'protocol',
    );
  }
  srv.domain = prop(el, 'domain');
  srv.target = prop(el, 'target');
  for (const [attr, max, adjective] of [
    ['port', 65535, 'invalid'],
    ['priority', 65535, 'Invalid'],
    ['weight', 65535, 'invalid'],
  ] as const) {
    const text = xpathProp(el, attr);
    if (text === undefined) continue;
    const value = parseUInt(text);
    if (value !== undefined && srv.target === undefined) {
      throw badInput(
        el,
        `DNS SRV ${attr} attribute not permitted without target for service '${srv.service}' in network '${net}'`,
        attr,
      );
    }
    if (value === undefined || value > max || (attr === 'port' && value < 1)) {
      throw badInput(
        el,
        `${adjective} DNS SRV ${attr} attribute for service '${srv.service}' in network '${net}'`,
        attr,
      );
    }
    srv[attr] = value;
  }
  return srv;
}

/** virNetworkDNSTxtDefParseXML; `partialOk` (update delete) makes value optional. */
export function parseDnsTxt(net: string, el: XmlElement, partialOk: boolean): DnsTxt {
  const name = prop(el, 'name');
  if (name === undefined)
    throw badInput(el, `missing required name attribute in DNS TXT record of network ${net}`, 'name');
  if (/[ ,]/.test(name))
    throw badInput(el, `prohibited character in DNS TXT record name '${name}' of network ${net}`, 'name');
  const value = prop(el, 'value');
  if (value === undefined && !partialOk)
    throw badInput(el, `missing required value attribute in DNS TXT record named '${name}' of network ${net}`, 'value');
  return { name, value };
}

function parseDns(net: string, el: XmlElement): NetworkDns {
  const dns: NetworkDns = {
    enable: tristateProp(el, 'enable'),
    forwardPlainNames: tristateProp(el, 'forwardPlainNames'),
    forwarders: [],
    txts: [],
    hosts: [],
    srvs: [],
  };
  for (const fwd of childElements(el, 'forwarder')) {
    const addrText = prop(fwd, 'addr');
    const addr = addrText === undefined ? undefined : parseSocketAddr(addrText);
    if (addrText !== undefined && !addr)
      throw badInput(fwd, `Invalid forwarder IP address '${addrText}' in network '${net}'`, 'addr');
    const domain = prop(fwd, 'domain');
    if (addr === undefined && domain === undefined)
      throw badInput(fwd, 'Invalid forwarder element, must contain at least one of addr or domain');
    dns.forwarders.push({ addr, domain });
  }
  dns.hosts = childElements(el, 'host').map((h) => parseDnsHost(net, h, false) as DnsHost);
  dns.srvs = childElements(el, 'srv').map((s) => parseDnsSrv(net, s, false));
  dns.txts = childElements(el, 'txt').map((t) => parseDnsTxt(net, t, false));
  if (dns.enable === false && (dns.forwarders.length || dns.hosts.length || dns.srvs.length || dns.txts.length)) {
    throw badInput(el, `Extra data in disabled network '${net}'`);
  }
  return dns;
}

/** virNetworkPortGroupParseXML. */
export function parsePortGroup(el: XmlElement): PortGroup {
  const name = xpathProp(el, 'name');
  if (name === undefined) throw badInput(el, 'Missing required name attribute in portgroup', 'name');
  const pg: PortGroup = {
    name,
    isDefault: xpathProp(el, 'default')?.toLowerCase() === 'yes',
    trustGuestRxFilters: tristateProp(el, 'trustGuestRxFilters'),
  };
  const vport = firstChild(el, 'virtualport');
  if (vport) pg.virtualPort = parseVirtualPort(vport, false);
  const bw = firstChild(el, 'bandwidth');
  if (bw) pg.bandwidth = parseBandwidth(bw, false).bandwidth;
  const vlan = firstChild(el, 'vlan');
  if (vlan) pg.vlan = parseVlan(vlan);
  return pg;
}

/** virNetDevIPRouteParseXML / virNetDevIPRouteCreate. */
function parseRoute(net: string, el: XmlElement): NetworkRoute {
  const ctx = `network '${net}'`;
  const familyText = prop(el, 'family');
  const addressText = prop(el, 'address');
  const netmaskText = prop(el, 'netmask');
  const gatewayText = prop(el, 'gateway');
  const prefix = uintProp(el, 'prefix');
  const metric = uintProp(el, 'metric');
  if (metric === 0)
    throw badInput(
      el,
      "Invalid value for attribute 'metric' in element 'route': '0'. Expected non-zero value",
      'metric',
    );
  if (addressText === undefined)
    throw badInput(el, `${ctx}: Missing required address attribute in route definition`, 'address');
  if (gatewayText === undefined)
    throw badInput(el, `${ctx}: Missing required gateway attribute in route definition`, 'gateway');
  const address = parseSocketAddr(addressText);
  if (!address) throw badInput(el, `${ctx}: Bad network address '${addressText}' in route definition`, 'address');
  const gateway = parseSocketAddr(gatewayText);
  if (!gateway) throw badInput(el, `${ctx}: Bad gateway address '${gatewayText}' in route definition`, 'gateway');
  let netmask: IpAddress | undefined;
  if (familyText === undefined || familyText === 'ipv4') {
    const what = familyText === undefined ? 'No family' : 'IPv4 family';
    if (address.family !== 'ipv4')
      throw badInput(
        el,
        `${ctx}: ${what} specified for non-IPv4 address '${addressText}' in route definition`,
        'address',
      );
    if (gateway.family !== 'ipv4')
      throw badInput(
        el,
        `${ctx}: ${what} specified for non-IPv4 gateway '${gatewayText}' in route definition`,
        'gateway',
      );
    if (netmaskText !== undefined) {
      netmask = parseSocketAddr(netmaskText);
      if (!netmask) throw badInput(el, `${ctx}: Bad netmask address '${netmaskText}' in route definition`, 'netmask');
      if (netmask.family !== 'ipv4')
        throw badInput(
          el,
          `${ctx}: Invalid netmask '${netmaskText}' for address '${addressText}' (both must be IPv4)`,
          'netmask',
        );
      if (prefix !== undefined)
        throw badInput(el, `${ctx}: Route definition cannot have both a prefix and a netmask`, 'prefix');
    }
    if ((prefix ?? 0) > 32) throw badInput(el, `${ctx}: Invalid IPv4 prefix '${prefix}' in route definition`, 'prefix');
  } else if (familyText === 'ipv6') {
    if (address.family !== 'ipv6')
      throw badInput(
        el,
        `${ctx}: ipv6 family specified for non-IPv6 address '${addressText}' in route definition`,
        'address',
      );
    if (netmaskText !== undefined)
      throw badInput(
        el,
        `${ctx}: Specifying netmask invalid for IPv6 address '${addressText}' in route definition`,
        'netmask',
      );
    if (gateway.family !== 'ipv6')
      throw badInput(
        el,
        `${ctx}: ipv6 specified for non-IPv6 gateway address '${gatewayText}' in route definition`,
        'gateway',
      );
    if ((prefix ?? 0) > 128)
      throw badInput(el, `${ctx}: Invalid IPv6 prefix '${prefix}' in route definition`, 'prefix');
  } else {
    throw badInput(el, `${ctx}: Unrecognized family '${familyText}' in route definition`, 'family');
  }
  const routePrefix = netmask ? effectivePrefix(address, netmask, 0) : (prefix ?? 0);
  if (routePrefix < 0 || !sameAddress(address, maskToNetwork(address, routePrefix))) {
    throw badInput(el, `${ctx}: Address '${addressText}' in route definition is not a network address`, 'address');
  }
  return { family: familyText as NetworkRoute['family'], address, netmask, prefix, gateway, metric };
}

/** A static route's gateway must be on one of the network's own subnets. */
function checkGatewayReachable(net: string, el: XmlElement, route: NetworkRoute, ips: readonly NetworkIp[]): void {
  const reachable = ips.some(
    (ip) =>
      ip.family === route.gateway.family &&
      ip.prefix >= 0 &&
      sameAddress(maskToNetwork(ip.address, ip.prefix), maskToNetwork(route.gateway, ip.prefix)),
  );
  if (!reachable)
    throw badInput(
      el,
      `unreachable static route gateway '${formatIp(route.gateway)}' specified for network '${net}'`,
      'gateway',
    );
}

function parseNat(net: string, mode: ForwardMode, el: XmlElement): NatOptions {
  if (mode !== 'nat')
    throw badInput(el, `The <nat> element can only be used when <forward> 'mode' is 'nat' in network ${net}`);
  const nat: NatOptions = {};
  const ipv6 = tristateProp(el, 'ipv6');
  if (ipv6 !== undefined) nat.ipv6 = ipv6;
  const addrs = childElements(el, 'address');
  if (addrs.length > 1)
    throw badInput(addrs[1]!, `Only one <address> element is allowed in <nat> in <forward> in network ${net}`);
  const addrEl = addrs[0];
  if (addrEl) {
    const start = prop(addrEl, 'start');
    if (start === undefined)
      throw badInput(
        addrEl,
        `missing 'start' attribute in <address> element in <nat> in <forward> in network ${net}`,
        'start',
      );
    const end = prop(addrEl, 'end');
    if (end === undefined)
      throw badInput(
        addrEl,
        `missing 'end' attribute in <address> element in <nat> in <forward> in network ${net}`,
        'end',
      );
    const s = parseSocketAddr(start, 'ipv4');
    if (!s)
      throw badInput(addrEl, `Bad ipv4 start address '${start}' in <nat> in <forward> in network '${net}'`, 'start');
    const e = parseSocketAddr(end, 'ipv4');
    if (!e) throw badInput(addrEl, `Bad ipv4 end address '${end}' in <nat> in <forward> in network '${net}'`, 'end');
    checkRange(s, e, undefined, (d) => badInput(addrEl, d));
    nat.address = { start: s, end: e };
  }
  const ports = childElements(el, 'port');
  if (ports.length > 1)
    throw badInput(ports[1]!, `Only one <port> element is allowed in <nat> in <forward> in network ${net}`);
  const portEl = ports[0];
  if (portEl) {
    const read = (attr: 'start' | 'end') => {
      const text = xpathProp(portEl, attr);
      return text === undefined ? undefined : parseUInt(text);
    };
    const start = read('start');
    if (start === undefined || start > 65535) {
      throw badInput(
        portEl,
        `Missing or invalid 'start' attribute in <port> in <nat> in <forward> in network ${net}`,
        'start',
      );
    }
    const end = read('end');
    if (end === undefined || end > 65535 || end < start) {
      throw badInput(
        portEl,
        `Missing or invalid 'end' attribute in <port> in <nat> in <forward> in network ${net}`,
        'end',
      );
    }
    nat.port = { start, end };
  }
  return nat;
}

function parseForward(net: string, el: XmlElement): NetworkForward {
  const modeText = xpathProp(el, 'mode');
  let mode: ForwardMode = 'nat';
  if (modeText !== undefined) {
    if (!FORWARD_MODES.includes(modeText as ForwardMode))
      throw badInput(el, `unknown forwarding type '${modeText}'`, 'mode');
    mode = modeText as ForwardMode;
  }
  const fwd: NetworkForward = {
    mode,
    managed: xpathProp(el, 'managed')?.toLowerCase() === 'yes',
    pfs: [],
    interfaces: [],
  };
  const driverEl = firstChild(el, 'driver');
  const driver = driverEl && parseHostdevDriver(driverEl);
  if (driver) fwd.driver = driver;
  const ifEls = childElements(el, 'interface');
  const addrEls = childElements(el, 'address');
  const pfEls = childElements(el, 'pf');
  const natEls = childElements(el, 'nat');
  if (natEls.length > 1) throw badInput(natEls[1]!, `Only one <nat> element is allowed in <forward> of network ${net}`);
  if (natEls[0]) fwd.nat = parseNat(net, mode, natEls[0]);

  const dev = xpathProp(el, 'dev');
  if (dev !== undefined && (addrEls.length || pfEls.length)) {
    throw badInput(
      el,
      `the <forward> 'dev' attribute cannot be used when <address> or <pf> sub-elements are present in network ${net}`,
      'dev',
    );
  }
  if (ifEls.length || dev !== undefined) {
    const names: string[] = dev !== undefined ? [dev] : [];
    ifEls.forEach((ifEl, i) => {
      const d = prop(ifEl, 'dev');
      if (d === undefined)
        throw badInput(
          ifEl,
          `Missing required dev attribute in <forward> <interface> element of network ${net}`,
          'dev',
        );
      if (i === 0 && dev !== undefined) {
        if (d !== dev)
          throw badInput(
            ifEl,
            `<forward dev='${dev}'> must match first <interface dev='${d}'/> in network ${net}`,
            'dev',
          );
        return;
      }
      if (names.includes(d)) throw badInput(ifEl, `interface '${d}' can only be listed once in network ${net}`, 'dev');
      names.push(d);
    });
    fwd.interfaces = names.map((d): ForwardInterface => ({ type: 'netdev', dev: d }));
  } else if (addrEls.length) {
    for (const a of addrEls) {
      const type = prop(a, 'type');
      if (type === undefined) throw badInput(a, `missing address type in network ${net}`, 'type');
      if (type !== 'pci') {
        const known = type === 'none' || type === 'netdev';
        throw badInput(
          a,
          known
            ? `unsupported address type '${type}' in network ${net}`
            : `unknown address type '${type}' in network ${net}`,
          'type',
        );
      }
      const address = parsePciAddress(a);
      if (fwd.interfaces.some((i) => i.type === 'pci' && samePciAddress(i.address, address))) {
        throw badInput(a, `PCI device '${pciAddressText(address)}' can only be listed once in network ${net}`);
      }
      fwd.interfaces.push({ type: 'pci', address });
    }
  } else if (pfEls.length > 1) {
    throw badInput(pfEls[1]!, `Only one <pf> element is allowed in <forward> of network ${net}`);
  } else if (pfEls[0]) {
    const pfDev = prop(pfEls[0], 'dev');
    if (pfDev === undefined)
      throw badInput(pfEls[0], `Missing required dev attribute in <pf> element of network '${net}'`, 'dev');
    fwd.pfs = [{ dev: pfDev }];
  }
  return fwd;
}
