// Which firewall rules a network gets, independent of the backend: libvirt's iptables and
// nftables backends add the same rules in the same order (network_iptables.c and
// network_nftables.c mirror each other); each backend renders them (iptables.ts, nftables.ts).
import { VirtwallError } from '../../errors.js';
import { formatIp, networkCidr, type IpFamily } from '../../util/address.js';
import type { NetworkDef, NetworkIp } from '../../conf/network/types.js';
import { forwardDev, servesDhcp } from '../definition.js';

export type Protocol = 'tcp' | 'udp';

/** Rules between the guests' bridge and the rest of the host. */
export type FirewallRule =
  /** Let the host's dnsmasq serve DHCP/DNS/TFTP on the bridge (iptables only). */
  | { kind: 'hostAccept'; family: IpFamily; direction: 'input' | 'output'; protocol: Protocol; port: number }
  /** Catch-all: reject forwarding out of / into / across the bridge unless allowed. */
  | { kind: 'rejectOut'; family: IpFamily }
  | { kind: 'rejectIn'; family: IpFamily }
  | { kind: 'allowCross'; family: IpFamily }
  /** Forward the network's own traffic out; back in when related (nat) or always (route). */
  | { kind: 'allowOut'; family: IpFamily; network: string; physdev?: string }
  | { kind: 'allowRelatedIn'; family: IpFamily; network: string; physdev?: string }
  | { kind: 'allowIn'; family: IpFamily; network: string; physdev?: string }
  | Masquerade
  | { kind: 'dontMasquerade'; family: IpFamily; network: string; physdev?: string; destination: string };

export interface Masquerade {
  kind: 'masquerade';
  family: IpFamily;
  network: string;
  physdev?: string;
  protocol?: Protocol;
  /** Source port range, only with a protocol. */
  ports?: { start: number; end: number };
  /** SNAT address range (of the network's family) instead of masquerading. */
  address?: { start: string; end?: string };
}

export type RuleKind = FirewallRule['kind'];

/** An option and its value, or nothing when the value is absent (libvirt's `if (physdev && physdev[0])`). */
export function optionArgs(option: string, value: string | undefined): string[] {
  return value !== undefined && value !== '' ? [option, value] : [];
}

const LOCAL_MULTICAST: Record<IpFamily, string> = { ipv4: '224.0.0.0/24', ipv6: 'ff02::/16' };
const LOCAL_BROADCAST = '255.255.255.255/32';
const DEFAULT_NAT_PORTS = { start: 1024, end: 65535 };

/** Host services on the bridge: [direction, protocol, port], in libvirt's order. */
const DHCP_DNS_V4: readonly (readonly ['input' | 'output', Protocol, number])[] = [
  ['input', 'tcp', 67],
  ['input', 'udp', 67],
  ['output', 'tcp', 68],
  ['output', 'udp', 68],
  ['input', 'tcp', 53],
  ['input', 'udp', 53],
  ['output', 'tcp', 53],
  ['output', 'udp', 53],
];
const TFTP_V4 = [
  ['input', 'udp', 69],
  ['output', 'udp', 69],
] as const;
const DNS_DHCP_V6 = [
  ['input', 'tcp', 53],
  ['input', 'udp', 53],
  ['output', 'tcp', 53],
  ['output', 'udp', 53],
  ['input', 'udp', 547],
  ['output', 'udp', 546],
] as const;

function hostRules(
  family: IpFamily,
  services: readonly (readonly ['input' | 'output', Protocol, number])[],
): FirewallRule[] {
  return services.map(([direction, protocol, port]) => ({ kind: 'hostAccept', family, direction, protocol, port }));
}

function catchAll(family: IpFamily): FirewallRule[] {
  return [
    { kind: 'rejectOut', family },
    { kind: 'rejectIn', family },
    { kind: 'allowCross', family },
  ];
}

/** The IPv4 address dnsmasq serves (the first with DHCP or TFTP), as libvirt picks it. */
function servedIpv4(net: NetworkDef): NetworkIp | undefined {
  return net.ips.find((ip) => ip.family === 'ipv4' && (servesDhcp(ip) || ip.tftpRoot !== undefined));
}

/** Rules added once per network ("general" rules in libvirt). */
export function generalRules(net: NetworkDef): FirewallRule[] {
  const rules = hostRules('ipv4', DHCP_DNS_V4);
  if (servedIpv4(net)?.tftpRoot !== undefined) rules.push(...hostRules('ipv4', TFTP_V4));
  rules.push(...catchAll('ipv4'));
  const hasIpv6 = net.ips.some((ip) => ip.family === 'ipv6');
  if (hasIpv6 || net.ipv6NoGateway) rules.push(...catchAll('ipv6'));
  if (hasIpv6) rules.push(...hostRules('ipv6', DNS_DHCP_V6));
  return rules;
}

function natPorts(net: NetworkDef): { start: number; end: number } {
  const port = net.forward.nat?.port;
  const ports = port && (port.start !== 0 || port.end !== 0) ? port : DEFAULT_NAT_PORTS;
  if (!(ports.start < ports.end && ports.end < 65536)) {
    throw new VirtwallError('invalid-input', `Invalid port range '${ports.start}-${ports.end}'.`, { element: 'port' });
  }
  return ports;
}

function masqueradingRules(net: NetworkDef, ip: NetworkIp): FirewallRule[] {
  const fam = ip.family;
  const network = networkCidr(ip.address, ip.prefix);
  const physdev = forwardDev(net);
  const start = net.forward.nat?.address?.start;
  const end = net.forward.nat?.address?.end;
  const address =
    start?.family === fam
      ? { start: formatIp(start), ...(end?.family === fam ? { end: formatIp(end) } : {}) }
      : undefined;
  const masquerade = (protocol?: Protocol): Masquerade => ({
    kind: 'masquerade',
    family: fam,
    network,
    ...(physdev !== undefined ? { physdev } : {}),
    ...(protocol ? { protocol, ports: natPorts(net) } : {}),
    ...(address ? { address } : {}),
  });
  const dontMasquerade = (destination: string): FirewallRule => ({
    kind: 'dontMasquerade',
    family: fam,
    network,
    physdev,
    destination,
  });
  // rules are inserted at the chain's head, so they are added in reverse of their final order:
  // exemptions first in the chain, then tcp/udp with a port range, then any protocol
  return [
    { kind: 'allowOut', family: fam, network, physdev },
    { kind: 'allowRelatedIn', family: fam, network, physdev },
    masquerade(),
    masquerade('udp'),
    masquerade('tcp'),
    ...(fam === 'ipv4' ? [dontMasquerade(LOCAL_BROADCAST)] : []),
    dontMasquerade(LOCAL_MULTICAST[fam]),
  ];
}

function routingRules(net: NetworkDef, ip: NetworkIp): FirewallRule[] {
  const fam = ip.family;
  const network = networkCidr(ip.address, ip.prefix);
  const physdev = forwardDev(net);
  return [
    { kind: 'allowOut', family: fam, network, physdev },
    { kind: 'allowIn', family: fam, network, physdev },
  ];
}

/** Rules for one of the network's addresses. IPv6 is routed on a nat network (unless nat ipv6='yes'). */
export function addressRules(net: NetworkDef, ip: NetworkIp): FirewallRule[] {
  if (net.forward.mode === 'nat') {
    return ip.family === 'ipv4' || net.forward.nat?.ipv6 === true ? masqueradingRules(net, ip) : routingRules(net, ip);
  }
  return net.forward.mode === 'route' ? routingRules(net, ip) : [];
}

/** Every rule of the network in the order libvirt adds them. */
export function networkRules(net: NetworkDef): FirewallRule[] {
  return [...generalRules(net), ...net.ips.flatMap((ip) => addressRules(net, ip))];
}

/** The bridge gets the DHCP checksum fix when dnsmasq serves DHCPv4 (iptables; nft always adds it). */
export function needsDhcpChecksumFix(net: NetworkDef): boolean {
  return net.ips.some((ip) => ip.family === 'ipv4' && servesDhcp(ip));
}
