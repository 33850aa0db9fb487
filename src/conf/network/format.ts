// NetworkDef -> <network> XML, byte for byte as virNetworkDefFormatBuf writes it.
import { XmlWriter } from '../../xml/writer.js';
import { formatIp, type IpAddress } from '../../util/address.js';
import { yesNo } from '../xmlprops.js';
import { formatBandwidth } from '../netdev/bandwidth.js';
import { formatVlan } from '../netdev/vlan.js';
import { formatVirtualPort } from '../netdev/vport.js';
import { formatPciAddress } from '../pci.js';
import { formatHostdevDriver } from '../hostdev-driver.js';
import { dumpMetadata } from './metadata.js';
import { dnsmasqNamespaceAttr, formatDnsmasqOptions } from './dnsmasq-namespace.js';
import type { DhcpLease, NetworkDef, NetworkDns, NetworkForward, NetworkIp, NetworkRoute, PortGroup } from './types.js';

export interface FormatOptions {
  /** VIR_NETWORK_XML_INACTIVE: the persistent definition, without live state (connections). */
  inactive?: boolean;
}

const addr = (a: IpAddress | undefined) => (a ? formatIp(a) : undefined);
const tristate = (v: boolean | undefined) => (v === undefined ? undefined : yesNo(v));

export function formatNetwork(def: NetworkDef, options: FormatOptions = {}): string {
  const inactive = options.inactive ?? false;
  const w = new XmlWriter();
  w.element(
    'network',
    [
      dnsmasqNamespaceAttr(def.dnsmasqOptions),
      ['connections', !inactive && def.connections ? def.connections : undefined],
      ['ipv6', def.ipv6NoGateway ? 'yes' : undefined],
      ['trustGuestRxFilters', tristate(def.trustGuestRxFilters)],
    ],
    (n) => {
      n.text('name', def.name);
      n.text('uuid', def.uuid);
      n.text('title', def.title);
      n.text('description', def.description);
      if (def.metadata) n.raw(dumpMetadata(def.metadata));
      formatForward(n, def.forward, inactive);
      formatBridge(n, def);
      if (def.mtu) n.empty('mtu', [['size', def.mtu]]);
      if (def.mac) n.empty('mac', [['address', def.mac]]);
      if (def.domain?.name !== undefined) {
        n.empty('domain', [
          ['name', def.domain.name],
          ['localOnly', tristate(def.domain.localOnly)],
          ['register', tristate(def.domain.register)],
        ]);
      }
      formatDns(n, def.dns);
      formatVlan(n, def.vlan);
      formatBandwidth(n, def.bandwidth);
      if (def.isolatedPort !== undefined) n.empty('port', [['isolated', yesNo(def.isolatedPort)]]);
      for (const ip of def.ips) formatIpElement(n, ip);
      for (const route of def.routes) formatRoute(n, route);
      formatVirtualPort(n, def.virtualPort);
      for (const pg of def.portGroups) formatPortGroup(n, pg);
      formatDnsmasqOptions(n, def.dnsmasqOptions);
    },
  );
  return w.toString();
}

function formatForward(w: XmlWriter, fwd: NetworkForward, inactive: boolean): void {
  if (fwd.mode === 'none') return;
  const first = fwd.interfaces[0];
  const dev = !fwd.pfs.length && first?.type === 'netdev' ? first.dev : undefined;
  w.element(
    'forward',
    [
      ['dev', dev],
      ['mode', fwd.mode],
      ['managed', fwd.mode === 'hostdev' ? yesNo(fwd.managed) : undefined],
    ],
    (f) => {
      formatHostdevDriver(f, fwd.driver);
      if (fwd.mode === 'nat' && fwd.nat) formatNat(f, fwd.nat);
      if (fwd.pfs[0]) f.empty('pf', [['dev', fwd.pfs[0].dev]]);
      if (fwd.pfs.length && inactive) return;
      for (const iface of fwd.interfaces) {
        if (iface.type === 'netdev')
          f.empty('interface', [
            ['dev', iface.dev],
            ['connections', !inactive && iface.connections ? iface.connections : undefined],
          ]);
        else formatPciAddress(f, iface.address, true);
      }
    },
  );
}

function formatNat(w: XmlWriter, nat: NonNullable<NetworkForward['nat']>): void {
  const port = nat.port && (nat.port.start || nat.port.end) ? nat.port : undefined;
  if (!nat.address && !port && nat.ipv6 === undefined) return;
  w.element('nat', [['ipv6', tristate(nat.ipv6)]], (n) => {
    if (nat.address)
      n.empty('address', [
        ['start', addr(nat.address.start)],
        ['end', addr(nat.address.end)],
      ]);
    if (port)
      n.empty('port', [
        ['start', port.start],
        ['end', port.end || undefined],
      ]);
  });
}

/** Bridge-based modes always show stp/delay; the others show <bridge> only when it says something. */
function formatBridge(w: XmlWriter, def: NetworkDef): void {
  const hasBridge = ['none', 'nat', 'route', 'open'].includes(def.forward.mode);
  const b = def.bridge;
  if (!hasBridge && b.name === undefined && !b.macTableManager) return;
  w.empty('bridge', [
    ['name', b.name],
    ['zone', b.zone],
    ['stp', hasBridge ? (b.stp ? 'on' : 'off') : undefined],
    ['delay', hasBridge ? b.delay : undefined],
    ['macTableManager', b.macTableManager],
  ]);
}

function formatDns(w: XmlWriter, dns: NetworkDns): void {
  const hasRecords = dns.forwarders.length || dns.txts.length || dns.srvs.length || dns.hosts.length;
  if (dns.enable === undefined && dns.forwardPlainNames === undefined && !hasRecords) return;
  w.element(
    'dns',
    [
      ['enable', tristate(dns.enable)],
      ['forwardPlainNames', tristate(dns.forwardPlainNames)],
    ],
    (d) => {
      for (const f of dns.forwarders)
        d.empty('forwarder', [
          ['domain', f.domain],
          ['addr', addr(f.addr)],
        ]);
      for (const t of dns.txts)
        d.empty('txt', [
          ['name', t.name],
          ['value', t.value],
        ]);
      for (const s of dns.srvs) {
        if (s.service === undefined || s.protocol === undefined) continue;
        d.empty('srv', [
          ['service', s.service],
          ['protocol', s.protocol],
          ['domain', s.domain],
          ['target', s.target],
          ['port', s.port || undefined],
          ['priority', s.priority || undefined],
          ['weight', s.weight || undefined],
        ]);
      }
      for (const h of dns.hosts) {
        d.element('host', [['ip', addr(h.ip)]], (hw) => {
          for (const name of h.hostnames) hw.text('hostname', name);
        });
      }
    },
  );
}

function formatLeaseParent(
  w: XmlWriter,
  name: string,
  attrs: [string, string | undefined][],
  lease: DhcpLease | undefined,
): void {
  w.element(name, attrs, (e) => {
    if (lease)
      e.empty('lease', [
        ['expiry', lease.expiry],
        ['unit', lease.expiry ? lease.unit : undefined],
      ]);
  });
}

/** <ip> is never self-closed: libvirt always writes the open and close tags. */
function formatIpElement(w: XmlWriter, ip: NetworkIp): void {
  const attrs = [
    ['family', ip.familyWritten ? ip.family : undefined],
    ['address', addr(ip.address)],
    ['netmask', ip.maskForm === 'netmask' ? addr(ip.netmask) : undefined],
    ['prefix', ip.maskForm === 'prefix' ? ip.prefix : undefined],
    ['localPtr', tristate(ip.localPtr)],
  ] as const;
  w.block('ip', attrs, (body) => {
    if (ip.tftpRoot !== undefined) body.empty('tftp', [['root', ip.tftpRoot]]);
    if (!ip.ranges.length && !ip.hosts.length) return;
    body.element('dhcp', [], (d) => {
      for (const r of ip.ranges)
        formatLeaseParent(
          d,
          'range',
          [
            ['start', addr(r.start)],
            ['end', addr(r.end)],
          ],
          r.lease,
        );
      for (const h of ip.hosts)
        formatLeaseParent(
          d,
          'host',
          [
            ['mac', h.mac],
            ['id', h.id],
            ['name', h.name],
            ['ip', addr(h.ip)],
          ],
          h.lease,
        );
      if (ip.bootFile !== undefined)
        d.empty('bootp', [
          ['file', ip.bootFile],
          ['server', addr(ip.bootServer)],
        ]);
    });
  });
}

function formatRoute(w: XmlWriter, r: NetworkRoute): void {
  w.empty('route', [
    ['family', r.family],
    ['address', addr(r.address)],
    ['netmask', addr(r.netmask)],
    ['prefix', r.prefix],
    ['gateway', addr(r.gateway)],
    ['metric', r.metric || undefined],
  ]);
}

export function formatPortGroup(w: XmlWriter, pg: PortGroup): void {
  const attrs = [
    ['name', pg.name],
    ['default', pg.isDefault ? 'yes' : undefined],
    ['trustGuestRxFilters', tristate(pg.trustGuestRxFilters)],
  ] as const;
  w.block('portgroup', attrs, (body) => {
    formatVlan(body, pg.vlan);
    formatVirtualPort(body, pg.virtualPort);
    formatBandwidth(body, pg.bandwidth);
  });
}
