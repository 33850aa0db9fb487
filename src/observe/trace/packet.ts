// A traced packet in one line, from the headers a trace event carries (Ethernet, then the network
// and transport headers): who sent it to whom, what it is. The bytes come from a guest: a short
// or odd header gives a shorter summary, never an exception.
import { parseFrame } from '../../learning/frames.js';

const PROTOCOLS: Readonly<Record<number, string>> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6' };
const ARP_OPS: Readonly<Record<number, string>> = { 1: 'request', 2: 'reply' };

/** `tcp 1234 > 80`, `icmp type 8`: the transport header's ports or message type. */
function transportText(protocol: number, l4: Buffer | undefined): string {
  const name = PROTOCOLS[protocol] ?? `proto ${protocol}`;
  if (!l4) return name;
  if ((protocol === 6 || protocol === 17) && l4.length >= 4)
    return `${name} ${l4.readUInt16BE(0)} > ${l4.readUInt16BE(2)}`;
  if ((protocol === 1 || protocol === 58) && l4.length >= 2) return `${name} type ${l4[0]} code ${l4[1]}`;
  return name;
}

export function packetSummary(
  ll: Buffer | undefined,
  network: Buffer | undefined,
  transport: Buffer | undefined,
): string {
  const facts = ll && ll.length >= 14 ? parseFrame(Buffer.concat([ll, network ?? Buffer.alloc(0)])) : undefined;
  const parts: string[] = facts ? [`${facts.srcMac} > ${facts.dstMac}`] : [];
  if (facts?.arp)
    parts.push(`arp ${ARP_OPS[facts.arp.op] ?? `op ${facts.arp.op}`} ${facts.arp.senderIp} > ${facts.arp.targetIp}`);
  else if (facts?.ipv4)
    parts.push(`ip ${facts.ipv4.src} > ${facts.ipv4.dst} ${transportText(facts.ipv4.protocol, transport)}`);
  else if (facts?.ipv6)
    parts.push(`ip6 ${facts.ipv6.src} > ${facts.ipv6.dst} ${transportText(facts.ipv6.nextHeader, transport)}`);
  else if (ll && ll.length >= 14) parts.push(`ethertype 0x${ll.readUInt16BE(12).toString(16).padStart(4, '0')}`);
  return parts.join(' ') || 'packet';
}
