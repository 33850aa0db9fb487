// The files libvirt writes for a network's dnsmasq (networkDnsmasqConfContents): the
// configuration file, the DHCP hosts file (dhcp-hostsfile=) and the DNS hosts file (addn-hosts=).
import { VirtwallError } from '../../errors.js';
import { escapeXml } from '../../xml/writer.js';
import { printable } from '../../util/printable.js';
import { bridgeName, servesDhcp } from '../definition.js';
import { formatIp, prefixToNetmask, ptrDomain, rangeSize } from '../../util/address.js';
import type { DhcpHost, DhcpLease, DnsSrv, NetworkDef, NetworkIp } from '../../conf/network/types.js';

export const DEFAULT_STATE_DIR = '/var/lib/libvirt/dnsmasq';

/** What libvirt learns from `dnsmasq --version`; it refuses versions older than 2.67. */
export interface DnsmasqCaps {
  version: [number, number];
}

const MIN_VERSION: [number, number] = [2, 67];

export function parseDnsmasqVersion(versionOutput: string): DnsmasqCaps {
  const m = /^Dnsmasq version \D*(\d+)\.(\d+)/.exec(versionOutput);
  if (!m)
    throw new VirtwallError(
      'operation-failed',
      `cannot parse dnsmasq version number in '${versionOutput.split('\n')[0]}'`,
    );
  const version: [number, number] = [Number(m[1]), Number(m[2])];
  if (version[0] < MIN_VERSION[0] || (version[0] === MIN_VERSION[0] && version[1] < MIN_VERSION[1])) {
    throw new VirtwallError(
      'operation-failed',
      `dnsmasq version >= ${MIN_VERSION.join('.')} required but ${version.join('.')} found`,
    );
  }
  return { version };
}

export interface DnsmasqOptions {
  /** Where the hosts files live (libvirt: /var/lib/libvirt/dnsmasq). */
  stateDir?: string;
  pidFile?: string;
  caps: DnsmasqCaps;
}

export interface DnsmasqFiles {
  conf: string;
  /** dhcp-hostsfile content; undefined when no DHCP host is defined (libvirt writes it empty). */
  hostsfile?: string;
  /** addn-hosts content (the <dns><host> entries). */
  addnhosts: string;
  hostsfilePath: string;
  addnhostsPath: string;
}

const isV6 = (ip: NetworkIp) => ip.family === 'ipv6';

/** networkBuildDnsmasqLeaseTime: "infinite", or the expiry with its unit's initial. */
function leaseTime(lease: DhcpLease | undefined): string | undefined {
  if (!lease) return undefined;
  return lease.expiry === 0 ? 'infinite' : `${lease.expiry}${lease.unit[0]}`;
}

/** One dhcp-hostsfile line (hostsfileAdd): MAC/name/IP for IPv4, id/name/[IP] for IPv6. */
function dhcpHostLine(host: DhcpHost, ipv6: boolean): string {
  const ip = formatIp(host.ip!);
  let line: string;
  if (ipv6)
    line = [host.id !== undefined ? `id:${host.id}` : undefined, host.name, `[${ip}]`]
      .filter((x) => x !== undefined)
      .join(',');
  else if (host.name !== undefined && host.mac !== undefined) line = `${host.mac},${ip},${host.name}`;
  else if (host.name !== undefined) line = `${host.name},${ip}`;
  else line = `${host.mac},${ip}`;
  const lease = leaseTime(host.lease);
  return lease ? `${line},${lease}` : line;
}

/** srv-host=_service._proto[.domain][,target[,port[,priority[,weight]]]] with dnsmasq's defaults filled in. */
function srvLine(srv: DnsSrv, network: string): string {
  if (!srv.service || !srv.protocol) {
    throw new VirtwallError(
      'invalid-input',
      `Missing required 'service' attribute in SRV record of network '${network}'`,
      { element: 'srv' },
    );
  }
  let line = `srv-host=_${srv.service}._${srv.protocol}${srv.domain ? `.${srv.domain}` : ''}`;
  // an empty or "." target means "no such service here": port, priority, weight are irrelevant
  if (srv.target && srv.target !== '.') {
    line += `,${srv.target}`;
    if (srv.port || srv.priority || srv.weight) line += `,${srv.port || 1}`;
    if (srv.priority || srv.weight) line += `,${srv.priority ?? 0}`;
    if (srv.weight) line += `,${srv.weight}`;
  }
  return line;
}

/** DHCP service lines of one address; adds its hosts to `hosts` and its pool sizes to the lease count. */
function dhcpLines(ip: NetworkIp, bridge: string, hosts: string[]): { lines: string[]; leases: number } {
  const lines: string[] = [];
  let leases = 0;
  for (const range of ip.ranges) {
    const size = rangeSize(range.start, range.end);
    if (size === undefined) {
      throw new VirtwallError(
        'invalid-input',
        `invalid DHCP range ${formatIp(range.start)} - ${formatIp(range.end)} on bridge '${bridge}'`,
        { element: 'range' },
      );
    }
    const mask = isV6(ip) ? String(ip.prefix) : formatIp(prefixToNetmask(ip.prefix));
    const lease = leaseTime(range.lease);
    lines.push(`dhcp-range=${formatIp(range.start)},${formatIp(range.end)},${mask}${lease ? `,${lease}` : ''}`);
    leases += size;
  }
  // static-only DHCP (hosts, no range) still needs a dhcp-range to enable the service
  if (ip.ranges.length === 0 && ip.hosts.length > 0) {
    lines.push(`dhcp-range=${formatIp(ip.address)},static${isV6(ip) ? `,${ip.prefix}` : ''}`);
  }
  hosts.push(...ip.hosts.filter((h) => h.ip !== undefined).map((h) => dhcpHostLine(h, isV6(ip))));
  if (!isV6(ip)) {
    if (servesDhcp(ip)) lines.push('dhcp-no-override', 'dhcp-authoritative');
    if (ip.bootFile !== undefined) {
      lines.push(`dhcp-boot=${ip.bootFile}${ip.bootServer ? `,,${formatIp(ip.bootServer)}` : ''}`);
    }
  }
  return { lines, leases };
}

/** The one IPv4 and one IPv6 address dnsmasq serves DHCP on (libvirt allows one of each). */
function dhcpAddress(net: NetworkDef, ipv6: boolean): NetworkIp | undefined {
  const served = net.ips.filter((ip) => isV6(ip) === ipv6 && servesDhcp(ip));
  if (served.length > 1) {
    throw new VirtwallError(
      'invalid-input',
      `For ${ipv6 ? 'IPv6' : 'IPv4'}, multiple DHCP definitions cannot be specified.`,
      { element: 'dhcp' },
    );
  }
  return served[0];
}

/** addn-hosts: one line per address, its names tab-separated (addnhostsWrite). */
function addnhostsContent(net: NetworkDef): string {
  const byIp = new Map<string, string[]>();
  for (const host of net.dns.hosts) {
    const key = formatIp(host.ip);
    byIp.set(key, [...(byIp.get(key) ?? []), ...host.hostnames]);
  }
  return [...byIp].map(([ip, names]) => `${ip}\t${names.map((n) => `${n}\t`).join('')}\n`).join('');
}

/** dnsmasq reads 1023 bytes per line: the rest, like anything after a line feed, would be an option of its own. */
const MAX_LINE_BYTES = 1023;

/**
 * The file text, one option per line. The definition's values were checked against their rules
 * (conf/network/dnsmasq-fields.ts); this holds the line structure whatever the values.
 */
function dnsmasqLines(lines: readonly string[]): string {
  for (const line of lines) {
    if (/\p{Cc}/u.test(line) || Buffer.byteLength(line) > MAX_LINE_BYTES) {
      throw new VirtwallError(
        'internal',
        `refusing to write a dnsmasq line that dnsmasq would not read as one option: '${printable(line)}'`,
      );
    }
  }
  return lines.map((l) => `${l}\n`).join('');
}

export function dnsmasqFiles(net: NetworkDef, opts: DnsmasqOptions): DnsmasqFiles {
  const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
  const base = `${stateDir}${escapeXml(`/${net.name}`)}`;
  const hostsfilePath = `${base}.hostsfile`;
  const addnhostsPath = `${base}.addnhosts`;
  const wantDns = net.dns.enable !== false;
  const bridge = bridgeName(net);
  const out: string[] = [
    '##WARNING:  THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE',
    '##OVERWRITTEN AND LOST.  Changes to this configuration should be made using:',
    `##    virsh net-edit ${net.name}`,
    '## or other application using the libvirt API.',
    '##',
    '## dnsmasq conf file created by libvirt',
    // resolve with multiple name servers in resolv.conf order, as glibc does
    'strict-order',
  ];
  if (!wantDns) out.push('port=0');
  if (wantDns && net.dns.forwarders.length > 0) {
    for (const fwd of net.dns.forwarders) {
      out.push(`server=${fwd.domain !== undefined ? `/${fwd.domain}/` : ''}${fwd.addr ? formatIp(fwd.addr) : '#'}`);
    }
    // a forwarder for all unqualified requests replaces the host's resolv.conf
    if (net.dns.forwarders.some((f) => f.addr && f.domain === undefined)) out.push('no-resolv');
  }
  const domain = net.domain?.name;
  if (domain !== undefined) {
    if (net.domain?.localOnly === true) out.push(`local=/${domain}/`);
    out.push(`domain=${domain}`, 'expand-hosts');
  }
  if (wantDns) {
    for (const ip of net.ips.filter((i) => i.localPtr === true)) {
      const zone = ptrDomain(ip.address, ip.prefix);
      if (zone === undefined) {
        throw new VirtwallError(
          'invalid-input',
          `PTR domain for ${isV6(ip) ? 'IPv6' : 'IPv4'} network with prefix ${ip.prefix} cannot be automatically created`,
          { element: 'ip', attribute: 'localPtr' },
        );
      }
      out.push(`local=/${zone}/`);
    }
    if (net.dns.forwardPlainNames === false) out.push('domain-needed', 'local=//');
  }
  if (opts.pidFile !== undefined) out.push(`pid-file=${opts.pidFile}`);
  // answer only on the bridge, never on loopback or other interfaces (CVE-2012-3411)
  out.push('except-interface=lo', 'bind-dynamic', `interface=${bridge}`);
  if (net.forward.mode === 'none') {
    // isolated: no default route for guests (DHCP option 3, RA lifetime 0) and no upstream DNS
    out.push('dhcp-option=3', 'no-resolv', 'ra-param=*,0,0');
  }
  if (wantDns) {
    out.push(...net.dns.txts.map((t) => `txt-record=${t.name},${t.value ?? ''}`));
    out.push(...net.dns.srvs.map((s) => srvLine(s, net.name)));
  }
  let enableTftp = false;
  for (const ip of net.ips.filter((i) => !isV6(i) && i.tftpRoot !== undefined)) {
    if (!enableTftp) out.push('enable-tftp');
    enableTftp = true;
    out.push(`tftp-root=${ip.tftpRoot}`);
  }
  const ipv4 = dhcpAddress(net, false);
  const ipv6 = dhcpAddress(net, true);
  const hosts: string[] = [];
  let leases = 0;
  for (const ip of [ipv4, ipv6]) {
    if (!ip) continue;
    const dhcp = dhcpLines(ip, bridge, hosts);
    out.push(...dhcp.lines);
    leases += dhcp.leases;
  }
  if (leases > 0) out.push(`dhcp-lease-max=${leases}`);
  if (ipv4 || ipv6) out.push(`dhcp-hostsfile=${hostsfilePath}`);
  if (wantDns) out.push(`addn-hosts=${addnhostsPath}`);
  if (net.mtu !== undefined && net.mtu > 0) out.push(`dhcp-option=option:mtu,${net.mtu}`);
  if (ipv6) {
    out.push('enable-ra');
  } else {
    // addresses without DHCPv6 get router advertisements only (SLAAC)
    out.push(...net.ips.filter(isV6).map((ip) => `dhcp-range=${formatIp(ip.address)},ra-only`));
  }
  out.push(...net.dnsmasqOptions);
  return {
    conf: dnsmasqLines(out),
    ...(hosts.length > 0 ? { hostsfile: dnsmasqLines(hosts) } : {}),
    addnhosts: addnhostsContent(net),
    hostsfilePath,
    addnhostsPath,
  };
}
