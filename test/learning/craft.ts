// Crafted frames for the learning tests: Ethernet + ARP / IPv4 / IPv6 / UDP with DHCP and
// DHCPv6 payloads, built byte by byte (no checksums: the parser does not read them).

const mac = (m: string) => m.split(':').map((x) => parseInt(x, 16));
const ip4 = (a: string) => a.split('.').map(Number);
const u16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const u32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

export function ip6(a: string): number[] {
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.flatMap((g) => u16(parseInt(g, 16)));
}

export function ether(dst: string, src: string, type: number, payload: number[]): Uint8Array {
  return Uint8Array.from([...mac(dst), ...mac(src), ...u16(type), ...payload]);
}

export function arp(src: string, op: number, senderIp: string, targetIp: string): Uint8Array {
  const body = [0, 1, 8, 0, 6, 4, ...u16(op), ...mac(src), ...ip4(senderIp), 0, 0, 0, 0, 0, 0, ...ip4(targetIp)];
  return ether('ff:ff:ff:ff:ff:ff', src, 0x0806, body);
}

function udp(sport: number, dport: number, payload: number[]): number[] {
  return [...u16(sport), ...u16(dport), ...u16(8 + payload.length), 0, 0, ...payload];
}

/** The IPv4 header checksum (bridges with br_netfilter drop frames whose header sum is wrong). */
function withChecksum(header: number[]): number[] {
  let sum = 0;
  for (let i = 0; i < header.length; i += 2) sum += (header[i]! << 8) | header[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  header.splice(10, 2, ...u16(~sum & 0xffff));
  return header;
}

export function ipv4(
  dst: string,
  src: string,
  srcIp: string,
  dstIp: string,
  protocol = 6,
  l4: number[] = [],
): Uint8Array {
  const header = withChecksum([
    0x45,
    0,
    ...u16(20 + l4.length),
    0,
    0,
    0,
    0,
    64,
    protocol,
    0,
    0,
    ...ip4(srcIp),
    ...ip4(dstIp),
  ]);
  return ether(dst, src, 0x0800, [...header, ...l4]);
}

export function ipv6(dst: string, src: string, srcIp: string, dstIp: string, next = 59, l4: number[] = []): Uint8Array {
  return ether(dst, src, 0x86dd, [0x60, 0, 0, 0, ...u16(l4.length), next, 64, ...ip6(srcIp), ...ip6(dstIp), ...l4]);
}

export interface DhcpSpec {
  op?: number;
  type: number;
  chaddr: string;
  yiaddr?: string;
  ciaddr?: string;
  lease?: number;
  server?: string;
  requested?: string;
  /** Raw extra options bytes appended before END. */
  extra?: number[];
}

export function dhcpPayload(s: DhcpSpec): number[] {
  const fixed = Array(236).fill(0);
  fixed[0] = s.op ?? (s.type === 1 || s.type === 3 || s.type === 4 || s.type === 7 ? 1 : 2);
  fixed[1] = 1;
  fixed[2] = 6;
  fixed.splice(12, 4, ...ip4(s.ciaddr ?? '0.0.0.0'));
  fixed.splice(16, 4, ...ip4(s.yiaddr ?? '0.0.0.0'));
  fixed.splice(28, 6, ...mac(s.chaddr));
  const opts = [99, 130, 83, 99, 53, 1, s.type];
  if (s.lease !== undefined) opts.push(51, 4, ...u32(s.lease));
  if (s.server) opts.push(54, 4, ...ip4(s.server));
  if (s.requested) opts.push(50, 4, ...ip4(s.requested));
  opts.push(...(s.extra ?? []), 255);
  return [...fixed, ...opts];
}

/** A DHCP message in a frame: servers answer from 67 to 68, clients from 68 to 67. */
export function dhcp(dstMac: string, srcMac: string, srcIp: string, dstIp: string, s: DhcpSpec): Uint8Array {
  const fromServer = (s.op ?? (s.type === 2 || s.type === 5 || s.type === 6 ? 2 : 1)) === 2;
  return ipv4(dstMac, srcMac, srcIp, dstIp, 17, udp(fromServer ? 67 : 68, fromServer ? 68 : 67, dhcpPayload(s)));
}

function option(code: number, body: number[]): number[] {
  return [...u16(code), ...u16(body.length), ...body];
}

export interface Dhcpv6Spec {
  type: number;
  addresses?: { address: string; valid: number; status?: number }[];
  iaStatus?: number;
}

export function dhcpv6Payload(s: Dhcpv6Spec): number[] {
  const addrs = (s.addresses ?? []).map((a) =>
    option(5, [
      ...ip6(a.address),
      ...u32(a.valid),
      ...u32(a.valid),
      ...(a.status !== undefined ? option(13, [...u16(a.status)]) : []),
    ]),
  );
  const iaBody = [
    ...u32(1),
    ...u32(0),
    ...u32(0),
    ...addrs.flat(),
    ...(s.iaStatus !== undefined ? option(13, [...u16(s.iaStatus), 0x6e, 0x6f]) : []),
  ];
  return [
    s.type,
    1,
    2,
    3,
    ...option(1, [0, 3, 0, 1, 1, 2, 3, 4, 5, 6]),
    ...option(2, [0, 1, 9, 9]),
    ...option(3, iaBody),
  ];
}

export function dhcpv6(dstMac: string, srcMac: string, srcIp: string, dstIp: string, s: Dhcpv6Spec): Uint8Array {
  const fromServer = s.type === 2 || s.type === 7;
  return ipv6(dstMac, srcMac, srcIp, dstIp, 17, udp(fromServer ? 547 : 546, fromServer ? 546 : 547, dhcpv6Payload(s)));
}
