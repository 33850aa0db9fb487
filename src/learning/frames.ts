// Reading what IP address learning needs out of raw Ethernet frames (pure): who sent the frame,
// its ARP sender, its IPv4/IPv6 source, and DHCP / DHCPv6 messages with the addresses they
// hand out. Malformed or truncated frames yield fewer facts, never an exception: the bytes
// come from an untrusted guest.

export interface DhcpMessage {
  /** 1 = BOOTREQUEST (client), 2 = BOOTREPLY (server). */
  op: number;
  /** Client hardware address (first 6 bytes of chaddr). */
  chaddr: string;
  ciaddr: string;
  yiaddr: string;
  /** Option 53; libvirt refuses a message carrying it twice. */
  type: number;
  /** Option 51 in seconds; 0xffffffff = infinite; undefined when absent. */
  leaseTime?: number;
  /** Option 54, the server that answers. */
  serverId?: string;
  /** Option 50 (DECLINE names the refused address here). */
  requestedIp?: string;
  /** Option 61, hex. */
  clientId?: string;
}

export const DHCP = { DISCOVER: 1, OFFER: 2, REQUEST: 3, DECLINE: 4, ACK: 5, NAK: 6, RELEASE: 7 } as const;

export interface Dhcpv6Address {
  address: string;
  /** Valid lifetime in seconds; 0xffffffff = infinite, 0 = withdrawn. */
  validLifetime: number;
}

export interface Dhcpv6Message {
  type: number;
  /** OPTION_CLIENTID / OPTION_SERVERID, hex. */
  clientDuid?: string;
  serverDuid?: string;
  /** Addresses of IA_NA/IA_TA options whose own status (if any) is Success. */
  addresses: Dhcpv6Address[];
}

export const DHCPV6 = {
  SOLICIT: 1,
  ADVERTISE: 2,
  REQUEST: 3,
  RENEW: 5,
  REBIND: 6,
  REPLY: 7,
  RELEASE: 8,
  DECLINE: 9,
} as const;

export interface FrameFacts {
  srcMac: string;
  dstMac: string;
  arp?: { op: number; senderIp: string; targetIp: string };
  ipv4?: { src: string; dst: string; protocol: number };
  ipv6?: { src: string; dst: string; nextHeader: number };
  dhcp?: DhcpMessage;
  dhcpv6?: Dhcpv6Message;
}

const ETH_IPV4 = 0x0800;
const ETH_ARP = 0x0806;
const ETH_IPV6 = 0x86dd;
const ETH_VLAN = 0x8100;
const UDP = 17;
const DHCP_MAGIC = [99, 130, 83, 99];
const BOOTP_FIXED = 236;

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export function formatMac(b: Uint8Array, at = 0): string {
  return [...b.subarray(at, at + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function ipv4At(b: Uint8Array, at: number): string {
  return [...b.subarray(at, at + 4)].join('.');
}

/** RFC 5952 text (lower case, longest zero run of 2+ groups compressed), as inet_ntop prints. */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const text = (g: number[]) => g.map((x) => x.toString(16)).join(':');
  if (best < 0) return text(groups);
  return `${text(groups.slice(0, best))}::${text(groups.slice(best + bestLen))}`;
}

function dhcpOptions(opts: Uint8Array): Omit<DhcpMessage, 'op' | 'chaddr' | 'ciaddr' | 'yiaddr'> | undefined {
  if (opts.length < 4 || DHCP_MAGIC.some((m, i) => opts[i] !== m)) return undefined;
  const out: Omit<DhcpMessage, 'op' | 'chaddr' | 'ciaddr' | 'yiaddr'> = { type: 0 };
  for (let i = 4; i < opts.length; ) {
    const code = opts[i]!;
    if (code === 0) {
      i++;
      continue;
    }
    if (code === 255) break;
    if (i + 1 >= opts.length) return undefined;
    const len = opts[i + 1]!;
    const body = opts.subarray(i + 2, i + 2 + len);
    if (body.length < len) return undefined;
    const u32 = () => (len === 4 ? new DataView(body.buffer, body.byteOffset, 4).getUint32(0) : undefined);
    switch (code) {
      case 53:
        // libvirt drops a message with two message types or two lease times (spoofing attempt)
        if (out.type || len !== 1) return undefined;
        out.type = body[0]!;
        break;
      case 51:
        if (out.leaseTime !== undefined || len !== 4) return undefined;
        out.leaseTime = u32();
        break;
      case 54:
        if (len === 4) out.serverId = ipv4At(body, 0);
        break;
      case 50:
        if (len === 4) out.requestedIp = ipv4At(body, 0);
        break;
      case 61:
        out.clientId = hex(body);
        break;
    }
    i += 2 + len;
  }
  return out.type ? out : undefined;
}

function parseDhcp(udp: Uint8Array): DhcpMessage | undefined {
  if (udp.length < BOOTP_FIXED + 4) return undefined;
  const opts = dhcpOptions(udp.subarray(BOOTP_FIXED));
  if (!opts) return undefined;
  return { op: udp[0]!, chaddr: formatMac(udp, 28), ciaddr: ipv4At(udp, 12), yiaddr: ipv4At(udp, 16), ...opts };
}

/** Walks DHCPv6 options (2-byte code, 2-byte length); false when they overrun the buffer. */
function eachOption(b: Uint8Array, visit: (code: number, body: Uint8Array) => void): boolean {
  const view = new DataView(b.buffer, b.byteOffset, b.length);
  let i = 0;
  for (; i + 4 <= b.length; ) {
    const code = view.getUint16(i);
    const len = view.getUint16(i + 2);
    if (i + 4 + len > b.length) return false;
    visit(code, b.subarray(i + 4, i + 4 + len));
    i += 4 + len;
  }
  return i === b.length;
}

const V6_CLIENTID = 1;
const V6_SERVERID = 2;
const V6_IA_NA = 3;
const V6_IA_TA = 4;
const V6_IAADDR = 5;
const V6_STATUS = 13;

function statusOk(opts: Uint8Array): boolean {
  let ok = true;
  const wellFormed = eachOption(opts, (code, body) => {
    if (code === V6_STATUS && (body.length < 2 || body[0] !== 0 || body[1] !== 0)) ok = false;
  });
  return ok && wellFormed;
}

function parseDhcpv6(udp: Uint8Array): Dhcpv6Message | undefined {
  if (udp.length < 4) return undefined;
  const msg: Dhcpv6Message = { type: udp[0]!, addresses: [] };
  const iaAddresses = (ia: Uint8Array) => {
    if (!statusOk(ia)) return;
    eachOption(ia, (code, body) => {
      if (code !== V6_IAADDR || body.length < 24 || !statusOk(body.subarray(24))) return;
      const view = new DataView(body.buffer, body.byteOffset, body.length);
      msg.addresses.push({ address: formatIpv6(body.subarray(0, 16)), validLifetime: view.getUint32(20) });
    });
  };
  const ok = eachOption(udp.subarray(4), (code, body) => {
    if (code === V6_CLIENTID) msg.clientDuid = hex(body);
    else if (code === V6_SERVERID) msg.serverDuid = hex(body);
    else if (code === V6_IA_NA && body.length >= 12) iaAddresses(body.subarray(12));
    else if (code === V6_IA_TA && body.length >= 4) iaAddresses(body.subarray(4));
  });
  return ok ? msg : undefined;
}

/** The UDP payload when `l4` is a UDP datagram between the given ports (either way round). */
function udpPayload(l4: Uint8Array, ports: readonly [number, number]): Uint8Array | undefined {
  if (l4.length < 8) return undefined;
  const view = new DataView(l4.buffer, l4.byteOffset, 8);
  const [sport, dport] = [view.getUint16(0), view.getUint16(2)];
  const match = (sport === ports[0] && dport === ports[1]) || (sport === ports[1] && dport === ports[0]);
  return match ? l4.subarray(8) : undefined;
}

/** The facts of one Ethernet frame as captured (802.1Q-tagged frames are looked into, once). */
export function parseFrame(frame: Uint8Array): FrameFacts | undefined {
  if (frame.length < 14) return undefined;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.length);
  const facts: FrameFacts = { dstMac: formatMac(frame, 0), srcMac: formatMac(frame, 6) };
  let type = view.getUint16(12);
  let at = 14;
  if (type === ETH_VLAN && frame.length >= 18) {
    type = view.getUint16(16);
    at = 18;
  }
  const l3 = frame.subarray(at);
  if (type === ETH_ARP && l3.length >= 28 && l3[4] === 6 && l3[5] === 4) {
    facts.arp = { op: (l3[6]! << 8) | l3[7]!, senderIp: ipv4At(l3, 14), targetIp: ipv4At(l3, 24) };
  } else if (type === ETH_IPV4 && l3.length >= 20 && l3[0]! >> 4 === 4) {
    const ihl = (l3[0]! & 0x0f) * 4;
    facts.ipv4 = { src: ipv4At(l3, 12), dst: ipv4At(l3, 16), protocol: l3[9]! };
    const udp = facts.ipv4.protocol === UDP && ihl >= 20 ? udpPayload(l3.subarray(ihl), [67, 68]) : undefined;
    if (udp) facts.dhcp = parseDhcp(udp);
  } else if (type === ETH_IPV6 && l3.length >= 40 && l3[0]! >> 4 === 6) {
    facts.ipv6 = { src: formatIpv6(l3.subarray(8, 24)), dst: formatIpv6(l3.subarray(24, 40)), nextHeader: l3[6]! };
    const udp = facts.ipv6.nextHeader === UDP ? udpPayload(l3.subarray(40), [546, 547]) : undefined;
    if (udp) facts.dhcpv6 = parseDhcpv6(udp);
  }
  return facts;
}
