// virsh net-update: libvirt's virNetworkDefUpdateSection. An XML fragment for one section of a
// network is added (first/last), modified or deleted, with libvirt's matching rules and errors.
// The definition is not changed in place: the updated copy is returned.
import { parseXml, type XmlElement } from '../../xml/dom.js';
import { VirtwallError, type ErrorKind } from '../../errors.js';
import { formatIp, parseMac } from '../../util/address.js';
import { sameAddress } from '../sockaddr.js';
import { badInput, prop } from '../xmlprops.js';
import { checkDnsmasqFields } from './dnsmasq-fields.js';
import { parseDhcpHost, parseDhcpRange, parseDnsHost, parseDnsSrv, parseDnsTxt, parsePortGroup } from './parse.js';
import type { DhcpHost, DnsHost, NetworkDef, NetworkIp } from './types.js';
import type { UpdateCommand, UpdateSection } from './update-words.js';

export { UPDATE_COMMANDS, UPDATE_SECTIONS, type UpdateCommand, type UpdateSection } from './update-words.js';

type Handler = (def: NetworkDef, command: UpdateCommand, parentIndex: number, el: XmlElement) => void;

/**
 * What a running network needs after a live update of a section (libvirt's networkUpdate):
 * dnsmasq restarted with a new configuration file, dnsmasq told to re-read its hosts files
 * (SIGHUP), the firewall rules replaced, or nothing.
 */
export type LiveEffect = 'dnsmasq-restart' | 'dnsmasq-reload' | 'firewall' | 'none';

/**
 * Each section: the element its fragment must be and where it sits in <network>, what applies it
 * (none: unsupported), its live effect.
 */
const SECTIONS = {
  bridge: { element: undefined, apply: undefined, live: 'none' },
  domain: { element: undefined, apply: undefined, live: 'none' },
  ip: { element: undefined, apply: undefined, live: 'none' },
  'ip-dhcp-host': { element: 'host', parent: 'network/ip/dhcp', apply: updateDhcpHost, live: 'dnsmasq-reload' },
  'ip-dhcp-range': { element: 'range', parent: 'network/ip/dhcp', apply: updateDhcpRange, live: 'dnsmasq-restart' },
  forward: { element: undefined, apply: undefined, live: 'none' },
  'forward-interface': {
    element: 'interface',
    parent: 'network/forward',
    apply: updateForwardInterface,
    live: 'firewall',
  },
  'forward-pf': { element: undefined, apply: undefined, label: 'forward pf', live: 'none' },
  portgroup: { element: 'portgroup', parent: 'network', apply: updatePortGroup, live: 'none' },
  'dns-host': { element: 'host', parent: 'network/dns', apply: updateDnsHost, live: 'dnsmasq-reload' },
  'dns-txt': { element: 'txt', parent: 'network/dns', apply: updateDnsTxt, live: 'dnsmasq-restart' },
  'dns-srv': { element: 'srv', parent: 'network/dns', apply: updateDnsSrv, live: 'dnsmasq-restart' },
} satisfies Record<
  UpdateSection,
  { element: string | undefined; parent?: string; apply: Handler | undefined; label?: string; live: LiveEffect }
>;

export const liveEffectOf = (section: UpdateSection): LiveEffect => SECTIONS[section].live;

/** Where a section's fragment sits in <network>, e.g. 'network/dns/txt'; undefined when it cannot be updated. */
export function sectionPath(section: UpdateSection): string | undefined {
  const spec: { element: string | undefined; parent?: string } = SECTIONS[section];
  return spec.element && spec.parent ? `${spec.parent}/${spec.element}` : undefined;
}

function fail(kind: ErrorKind, detail: string, el?: XmlElement): VirtwallError {
  return new VirtwallError(kind, detail, el ? { file: el.file, line: el.line, col: el.col, element: el.name } : {});
}

/**
 * Applies one update. `parentIndex` picks the <ip> for the dhcp sections (-1: the one with DHCP,
 * else the first IPv4, else the first IPv6). `file` names the fragment in error locations.
 */
export function updateNetwork(
  def: NetworkDef,
  command: UpdateCommand,
  section: UpdateSection,
  parentIndex: number,
  xml: string,
  file?: string,
): NetworkDef {
  const el = parseXml(xml, file);
  const spec: { element: string | undefined; apply: Handler | undefined; label?: string } = SECTIONS[section];
  const path = sectionPath(section);
  if (!spec.apply || !spec.element || !path) {
    throw fail('invalid-input', `can't update '${spec.label ?? section}' section of network '${def.name}'`);
  }
  checkElement(def, el, spec.element);
  checkDnsmasqFields(el, path);
  const copy = structuredClone(def);
  spec.apply(copy, command, parentIndex, el);
  return copy;
}

function checkElement(def: NetworkDef, el: XmlElement, expected: string): void {
  if (el.name !== expected) {
    throw fail(
      'invalid-input',
      `unexpected element <${el.name}>, expecting <${expected}>, while updating network '${def.name}'`,
      el,
    );
  }
}

const isAdd = (command: UpdateCommand) => command === 'add-first' || command === 'add-last';

function insert<T>(list: T[], command: UpdateCommand, item: T): void {
  if (command === 'add-first') list.unshift(item);
  else list.push(item);
}

/** virNetworkIPDefByIndex. */
function ipByIndex(def: NetworkDef, parentIndex: number): NetworkIp {
  if (parentIndex >= 0) {
    const ip = def.ips[parentIndex];
    if (!ip)
      throw fail(
        'not-found',
        `couldn't update dhcp host entry - no <ip> element found at index ${parentIndex} in network '${def.name}'`,
      );
    return ip;
  }
  const ip =
    def.ips.find((i) => i.ranges.length || i.hosts.length) ??
    def.ips.find((i) => i.family === 'ipv4') ??
    def.ips.find((i) => i.family === 'ipv6');
  if (!ip) throw fail('not-found', `couldn't update dhcp host entry - no <ip> element found in network '${def.name}'`);
  return ip;
}

/** libvirt serves DHCP on one address per family only. */
function checkSingleDhcp(def: NetworkDef, ip: NetworkIp): void {
  if (
    def.ips.some((other) => other !== ip && other.family === ip.family && (other.ranges.length || other.hosts.length))
  ) {
    throw fail(
      'conflict',
      `dhcp is supported only for a single ${ip.family === 'ipv4' ? 'IPv4' : 'IPv6'} address on each network`,
    );
  }
}

function sameMac(a: string | undefined, b: string | undefined): boolean {
  const x = a === undefined ? undefined : parseMac(a);
  const y = b === undefined ? undefined : parseMac(b);
  return !!x && !!y && x.every((v, i) => v === y[i]);
}

/** The mac/name/ip attributes of a host as libvirt quotes them in messages. */
function hostAttrs(host: DhcpHost): string[] {
  return [
    `mac='${host.mac ?? 'unknown'}'`,
    `name='${host.name ?? '(null)'}'`,
    `ip='${host.ip ? formatIp(host.ip) : 'unknown'}'`,
  ];
}

function updateDhcpHost(def: NetworkDef, command: UpdateCommand, parentIndex: number, el: XmlElement): void {
  const ip = ipByIndex(def, parentIndex);
  const host = parseDhcpHost(def.name, ip, el, command === 'delete');
  if (command !== 'delete' && host.ip?.family !== ip.family) {
    throw fail(
      'invalid-input',
      "the address family of a host entry IP must match the address family of the dhcp element's parent",
      el,
    );
  }
  if (command === 'modify') {
    // the entry with this mac, ip or name gets the new ip + mac/name
    const i = ip.hosts.findIndex(
      (h) =>
        sameMac(host.mac, h.mac) || sameAddress(host.ip, h.ip) || (host.name !== undefined && host.name === h.name),
    );
    if (i < 0)
      throw fail(
        'not-found',
        `couldn't locate an existing dhcp host entry with ${hostAttrs(host)
          .map((a) => `"${a}"`)
          .join(' ')} in network '${def.name}'`,
        el,
      );
    ip.hosts[i] = host;
  } else if (isAdd(command)) {
    checkSingleDhcp(def, ip);
    if (
      ip.hosts.some(
        (h) =>
          sameMac(host.mac, h.mac) || (host.name !== undefined && host.name === h.name) || sameAddress(host.ip, h.ip),
      )
    ) {
      throw fail(
        'conflict',
        `there is an existing dhcp host entry in network '${def.name}' that matches "<host ${hostAttrs(host).join(' ')}/>"`,
        el,
      );
    }
    insert(ip.hosts, command, host);
  } else {
    // every attribute given must match
    const i = ip.hosts.findIndex(
      (h) =>
        (host.mac === undefined || h.mac === undefined || sameMac(host.mac, h.mac)) &&
        (host.name === undefined || host.name === h.name) &&
        (host.ip === undefined || sameAddress(host.ip, h.ip)),
    );
    if (i < 0) throw fail('not-found', `couldn't locate a matching dhcp host entry in network '${def.name}'`, el);
    ip.hosts.splice(i, 1);
  }
}

function updateDhcpRange(def: NetworkDef, command: UpdateCommand, parentIndex: number, el: XmlElement): void {
  const ip = ipByIndex(def, parentIndex);
  if (command === 'modify') throw fail('invalid-input', 'dhcp ranges cannot be modified, only added or deleted', el);
  const range = parseDhcpRange(def.name, ip, el);
  if (range.start.family !== ip.family) {
    throw fail(
      'invalid-input',
      "the address family of a dhcp range must match the address family of the dhcp element's parent",
      el,
    );
  }
  const i = ip.ranges.findIndex((r) => sameAddress(r.start, range.start) && sameAddress(r.end, range.end));
  if (isAdd(command)) {
    checkSingleDhcp(def, ip);
    if (i >= 0) {
      throw fail(
        'conflict',
        `there is an existing dhcp range entry in network '${def.name}' that matches "<range start='${formatIp(range.start)}' end='${formatIp(range.end)}'/>"`,
        el,
      );
    }
    insert(ip.ranges, command, range);
  } else {
    if (i < 0) throw fail('not-found', `couldn't locate a matching dhcp range entry in network '${def.name}'`, el);
    ip.ranges.splice(i, 1);
  }
}

function updateForwardInterface(def: NetworkDef, command: UpdateCommand, _parentIndex: number, el: XmlElement): void {
  if (command === 'modify')
    throw fail('invalid-input', 'forward interface entries cannot be modified, only added or deleted', el);
  const dev = prop(el, 'dev');
  if (dev === undefined) throw badInput(el, 'missing dev attribute in <interface> element', 'dev');
  const list = def.forward.interfaces;
  const i = list.findIndex((f) => f.type === 'netdev' && f.dev === dev);
  if (isAdd(command)) {
    if (i >= 0)
      throw fail(
        'conflict',
        `there is an existing interface entry in network '${def.name}' that matches "<interface dev='${dev}'>"`,
        el,
      );
    insert(list, command, { type: 'netdev', dev });
  } else {
    if (i < 0)
      throw fail(
        'not-found',
        `couldn't find an interface entry in network '${def.name}' matching <interface dev='${dev}'>`,
        el,
      );
    const connections = list[i]!.connections ?? 0;
    if (connections > 0) {
      throw fail(
        'conflict',
        `unable to delete interface '${dev}' in network '${def.name}'. It is currently being used by ${connections} domains.`,
        el,
      );
    }
    list.splice(i, 1);
  }
}

function updatePortGroup(def: NetworkDef, command: UpdateCommand, _parentIndex: number, el: XmlElement): void {
  const pg = parsePortGroup(el);
  const found = def.portGroups.findIndex((p) => p.name === pg.name);
  const foundDefault = def.portGroups.findIndex((p) => p.isDefault);
  if (found < 0 && (command === 'modify' || command === 'delete')) {
    throw fail(
      'not-found',
      `couldn't find a portgroup entry in network '${def.name}' matching <portgroup name='${pg.name}'>`,
      el,
    );
  }
  if (found >= 0 && isAdd(command)) {
    throw fail(
      'conflict',
      `there is an existing portgroup entry in network '${def.name}' that matches "<portgroup name='${pg.name}'>"`,
      el,
    );
  }
  if (command !== 'delete' && pg.isDefault && foundDefault >= 0 && foundDefault !== found) {
    throw fail(
      'conflict',
      `a different portgroup entry in network '${def.name}' is already set as the default. Only one default is allowed.`,
      el,
    );
  }
  if (command === 'modify') def.portGroups[found] = pg;
  else if (isAdd(command)) insert(def.portGroups, command, pg);
  else def.portGroups.splice(found, 1);
}

function updateDnsHost(def: NetworkDef, command: UpdateCommand, _parentIndex: number, el: XmlElement): void {
  const host = parseDnsHost(def.name, el, command === 'delete');
  const hosts = def.dns.hosts;
  // Adding or modifying matches on the address only (one address may carry any names);
  // deleting also matches any shared host name.
  const matches = hosts
    .map((h, i) => ({ h, i }))
    .filter(
      ({ h }) =>
        sameAddress(host.ip, h.ip) || (command === 'delete' && host.hostnames.some((n) => h.hostnames.includes(n))),
    );
  if (isAdd(command)) {
    if (matches.length)
      throw fail(
        'conflict',
        `there is already at least one DNS HOST record with a matching field in network ${def.name}`,
        el,
      );
    insert(hosts, command, host as DnsHost);
    return;
  }
  if (!matches.length) throw fail('not-found', `couldn't locate a matching DNS HOST record in network ${def.name}`, el);
  if (matches.length > 1)
    throw fail('conflict', `multiple matching DNS HOST records were found in network ${def.name}`, el);
  if (command === 'modify') hosts[matches[0]!.i] = host as DnsHost;
  else hosts.splice(matches[0]!.i, 1);
}

function updateDnsTxt(def: NetworkDef, command: UpdateCommand, _parentIndex: number, el: XmlElement): void {
  const txt = parseDnsTxt(def.name, el, command === 'delete');
  const txts = def.dns.txts;
  const i = txts.findIndex((t) => t.name === txt.name);
  if (isAdd(command)) {
    if (i >= 0)
      throw fail('conflict', `there is already a DNS TXT record with name '${txt.name}' in network ${def.name}`, el);
    insert(txts, command, txt);
    return;
  }
  if (i < 0) throw fail('not-found', `couldn't locate a matching DNS TXT record in network ${def.name}`, el);
  if (command === 'modify') txts[i] = txt;
  else txts.splice(i, 1);
}

function updateDnsSrv(def: NetworkDef, command: UpdateCommand, _parentIndex: number, el: XmlElement): void {
  if (command === 'modify')
    throw fail('invalid-input', 'DNS SRV records cannot be modified, only added or deleted', el);
  const srv = parseDnsSrv(def.name, el, command === 'delete');
  const srvs = def.dns.srvs;
  // every field the fragment gives must match
  const fields = ['domain', 'service', 'protocol', 'target'] as const;
  const matches = srvs
    .map((s, i) => ({ s, i }))
    .filter(({ s }) => fields.every((f) => srv[f] === undefined || srv[f] === s[f]));
  if (isAdd(command)) {
    if (matches.length)
      throw fail(
        'conflict',
        `there is already at least one DNS SRV record matching all specified fields in network ${def.name}`,
        el,
      );
    insert(srvs, command, srv);
    return;
  }
  if (!matches.length) throw fail('not-found', `couldn't locate a matching DNS SRV record in network ${def.name}`, el);
  if (matches.length > 1)
    throw fail(
      'conflict',
      `multiple DNS SRV records matching all specified fields were found in network ${def.name}`,
      el,
    );
  srvs.splice(matches[0]!.i, 1);
}
