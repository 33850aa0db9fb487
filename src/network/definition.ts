// What the network driver reads off a network definition beyond its plain fields.
import { VirtwallError } from '../errors.js';
import type { ForwardMode, NetworkDef, NetworkIp } from '../conf/network/types.js';

/**
 * libvirt's virtual networks (networkStartNetworkVirtual): a bridge of their own, addresses,
 * dnsmasq. The only forward modes virtwall runs; the others hand guests a host bridge, a
 * macvtap device or a PCI device, which is libvirt's hypervisor side.
 */
export const VIRTUAL_FORWARD_MODES: readonly ForwardMode[] = ['none', 'nat', 'route', 'open'];

export function isVirtual(net: NetworkDef): boolean {
  return VIRTUAL_FORWARD_MODES.includes(net.forward.mode);
}

/** Networks whose traffic libvirt filters (networkStartNetworkVirtual skips 'open'). */
export function hasFirewall(net: NetworkDef): boolean {
  return net.forward.mode === 'none' || net.forward.mode === 'nat' || net.forward.mode === 'route';
}

/** The bridge device; the driver has resolved any name template before rules are built. */
export function bridgeName(net: NetworkDef): string {
  const name = net.bridge.name;
  if (name === undefined || name.includes('%d')) {
    throw new VirtwallError('invalid-input', `network '${net.name}' has no bridge device name`, {
      element: 'bridge',
      attribute: 'name',
    });
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
