// What the firewall compilers need to know about a network: a narrow view of the network
// definition (see fromNetworkDef in adapter.ts), so rule generation is testable by value.
import type { IpAddress } from '../inet.js';

/** libvirt's forward modes; only none (isolated), nat and route networks get firewall rules. */
export type ForwardMode = 'none' | 'nat' | 'route' | 'open' | 'bridge' | 'private' | 'vepa' | 'passthrough' | 'hostdev';

export interface FirewallIp {
  address: IpAddress;
  prefix: number;
  /** <dhcp> has at least one <range> or <host>: dnsmasq serves DHCP on this address. */
  dhcp: boolean;
  tftpRoot?: string;
}

export interface NatOptions {
  /** <nat><address start end/>: SNAT to these instead of masquerading. */
  address?: { start: IpAddress; end?: IpAddress };
  /** <nat><port start end/>; libvirt's default is 1024-65535. */
  port?: { start: number; end: number };
  /** <nat ipv6='yes'>: masquerade IPv6 too instead of routing it. */
  ipv6: boolean;
}

export interface FirewallNetwork {
  bridge: string;
  forward: ForwardMode;
  /** The first forward interface (<forward dev=> or its first <interface dev=>). */
  forwardDev?: string;
  nat: NatOptions;
  ips: FirewallIp[];
  /** <network ipv6='yes'>: IPv6 between guests even without an IPv6 address. */
  ipv6WithoutGateway: boolean;
}

/** Networks whose traffic libvirt filters (networkStartNetworkVirtual skips 'open'). */
export function hasFirewall(net: FirewallNetwork): boolean {
  return net.forward === 'none' || net.forward === 'nat' || net.forward === 'route';
}
