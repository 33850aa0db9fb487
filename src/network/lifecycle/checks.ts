// What libvirt refuses before it starts a network, checked before anything is created so a
// refused start leaves nothing behind: a subnet that collides with a route already present (or
// with another running network), a bridge name in use, DHCP ranges outside their subnet, a
// forward device that does not exist.
import { VirtwallError, invalidInput } from '../../errors.js';
import type { NetworkDef } from '../../conf/network/types.js';
import { isVirtual, VIRTUAL_FORWARD_MODES } from '../definition.js';
import { formatIp, networkCidr, parseIp, sameNetwork, type IpAddress } from '../../util/address.js';

export interface RouteEntry {
  dst: string;
  dev?: string;
}

const sameFamily = (a: IpAddress, b: IpAddress): boolean => a.family === b.family;
const contains = (net: IpAddress, prefix: number, addr: IpAddress): boolean => sameNetwork(net, addr, prefix);

/** Two subnets overlap when the shorter prefix contains the other's network address. */
export function subnetsOverlap(a: IpAddress, ap: number, b: IpAddress, bp: number): boolean {
  if (!sameFamily(a, b)) return false;
  const p = Math.min(ap, bp);
  return contains(a, p, b);
}

/**
 * What virtwall cannot run, refused at start (define accepts it, as libvirt does): forward
 * modes other than the virtual ones. (A firewalld zone is checked with firewalld: host/bridge-zone.ts.)
 */
export function checkRunnable(def: NetworkDef): void {
  if (!isVirtual(def)) {
    const modes = VIRTUAL_FORWARD_MODES.filter((m) => m !== 'none').map((m) => `'${m}'`);
    throw invalidInput(
      `unsupported configuration: forward mode='${def.forward.mode}' of network '${def.name}' is not supported (virtwall runs networks with no forward mode or mode ${modes.slice(0, -1).join(', ')} or ${modes.at(-1)})`,
      { element: 'forward', attribute: 'mode' },
    );
  }
}

/** networkCheckRouteCollision: a network's subnet may not already be routed to another device. */
export function checkRouteCollision(def: NetworkDef, routes: readonly RouteEntry[]): void {
  for (const ip of def.ips) {
    for (const r of routes) {
      if (r.dst === 'default') continue;
      const [addrText, prefixText] = r.dst.split('/');
      const addr = parseIp(addrText ?? '');
      if (!addr || !sameFamily(addr, ip.address)) continue;
      const prefix = prefixText === undefined ? (addr.family === 'ipv4' ? 32 : 128) : Number(prefixText);
      if (prefix === ip.prefix && contains(addr, prefix, ip.address) && r.dev !== def.bridge.name) {
        throw new VirtwallError('conflict', `Network is already in use by interface ${r.dev ?? '?'}`, {
          element: 'ip',
        });
      }
    }
  }
}

/** A running network's subnets must not overlap the new one's. */
export function checkSubnetOverlap(def: NetworkDef, running: readonly NetworkDef[]): void {
  for (const other of running) {
    for (const a of def.ips) {
      for (const b of other.ips) {
        if (subnetsOverlap(a.address, a.prefix, b.address, b.prefix)) {
          throw new VirtwallError(
            'conflict',
            `network '${def.name}' subnet ${networkCidr(a.address, a.prefix)} overlaps ${networkCidr(b.address, b.prefix)} of running network '${other.name}'`,
            { element: 'ip', attribute: 'address' },
          );
        }
      }
    }
  }
}

/** Every DHCP range and static host address must lie inside its <ip>'s subnet. */
export function checkDhcpInSubnet(def: NetworkDef): void {
  for (const ip of def.ips) {
    for (const r of ip.ranges) {
      if (!contains(ip.address, ip.prefix, r.start) || !contains(ip.address, ip.prefix, r.end)) {
        throw invalidInput(
          `DHCP range '${formatIp(r.start)}' to '${formatIp(r.end)}' is not entirely within network ${networkCidr(ip.address, ip.prefix)}`,
          { element: 'range', attribute: 'start' },
        );
      }
    }
    for (const h of ip.hosts) {
      if (h.ip && !contains(ip.address, ip.prefix, h.ip)) {
        throw invalidInput(
          `DHCP host address ${formatIp(h.ip)} is not within network ${networkCidr(ip.address, ip.prefix)}`,
          {
            element: 'host',
            attribute: 'ip',
          },
        );
      }
    }
  }
}
