// What the network driver reads off a network definition beyond its plain fields.
import { VirtwallError } from '../errors.js';
import type { NetworkDef, NetworkIp } from '../conf/network/types.js';

/** Networks whose traffic libvirt filters (networkStartNetworkVirtual skips 'open'). */
export function hasFirewall(net: NetworkDef): boolean {
  return net.forward.mode === 'none' || net.forward.mode === 'nat' || net.forward.mode === 'route';
}

/** The bridge device; the driver has resolved any name template before rules are built. */
export function bridgeName(net: NetworkDef): string {
  const name = net.bridge.name;
  if (name === undefined || name.includes('%d')) {
    throw new VirtwallError('invalid-input', `network '${net.name}' has no bridge device name`, { element: 'bridge', attribute: 'name' });
  }
  return name;
}

/** virNetworkDefForwardIf(def, 0): the first forward netdev (<forward dev=> lands there). */
export function forwardDev(net: NetworkDef): string | undefined {
  const first = net.forward.interfaces[0];
  return first?.type === 'netdev' ? first.dev : undefined;
}

/** <dhcp> has at least one <range> or <host>: dnsmasq serves DHCP on this address. */
export function servesDhcp(ip: NetworkIp): boolean {
  return ip.ranges.length > 0 || ip.hosts.length > 0;
}
