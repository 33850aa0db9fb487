// An Ethernet frame's bytes with the places nft reads from: the link, network and transport
// header offsets as the kernel's bridge path sets them (802.1Q tags are taken off before the
// network header, IPv6 extension headers are skipped to the transport header). Pure.
import { invalidInput } from '../errors.js';

export const ETHERTYPE = { ipv4: 0x0800, arp: 0x0806, rarp: 0x8035, vlan: 0x8100, ipv6: 0x86dd } as const;

export interface DecodedFrame {
  bytes: Uint8Array;
  /** The Ethernet type as on the wire (offset 12): 0x8100 for a tagged frame. */
  etherType: number;
  /** The type after the 802.1Q tags (the network protocol). */
  innerType: number;
  /** VLAN ids of the tags, outermost first. */
  vlans: number[];
  /** Byte offset of the network header. */
  nh: number;
  /** IPv4/IPv6 only: the transport protocol (after IPv6 extension headers) and its header's offset. */
  l4proto?: number;
  th?: number;
}

/** IPv6 extension headers the kernel skips to find the transport header (ipv6_find_hdr). */
const IPV6_EXTENSIONS = new Set([0, 43, 60]);
const IPV6_FRAGMENT = 44;

export function decodeFrame(bytes: Uint8Array): DecodedFrame {
  if (bytes.length < 14) throw invalidInput(`a frame of ${bytes.length} bytes is shorter than an Ethernet header`);
  const u16 = (at: number) => (bytes[at]! << 8) | bytes[at + 1]!;
  const etherType = u16(12);
  let at = 12;
  const vlans: number[] = [];
  while (u16(at) === ETHERTYPE.vlan || u16(at) === 0x88a8) {
    if (bytes.length < at + 6) throw invalidInput('the frame ends inside an 802.1Q tag');
    vlans.push(u16(at + 2) & 0xfff);
    at += 4;
  }
  const innerType = u16(at);
  const nh = at + 2;
  const frame: DecodedFrame = { bytes, etherType, innerType, vlans, nh };
  if (innerType === ETHERTYPE.ipv4 && bytes.length >= nh + 20) {
    const ihl = (bytes[nh]! & 0x0f) * 4;
    const fragmentOffset = u16(nh + 6) & 0x1fff;
    return { ...frame, l4proto: bytes[nh + 9]!, ...(fragmentOffset === 0 ? { th: nh + ihl } : {}) };
  }
  if (innerType === ETHERTYPE.ipv6 && bytes.length >= nh + 40) {
    let next = bytes[nh + 6]!;
    let off = nh + 40;
    while (IPV6_EXTENSIONS.has(next) && bytes.length >= off + 8) {
      const len = (bytes[off + 1]! + 1) * 8;
      next = bytes[off]!;
      off += len;
    }
    if (next === IPV6_FRAGMENT && bytes.length >= off + 8) {
      const later = (u16(off + 2) & 0xfff8) !== 0;
      return { ...frame, l4proto: bytes[off]!, ...(later ? {} : { th: off + 8 }) };
    }
    return { ...frame, l4proto: next, th: off };
  }
  return frame;
}

export const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** `--frame HEX`: hex digits, optionally separated by spaces or colons. */
export function parseHexFrame(text: string): Uint8Array {
  const digits = text.replace(/[\s:]/g, '');
  if (!/^([0-9a-fA-F]{2})+$/.test(digits))
    throw invalidInput('--frame: expected an even number of hex digits (spaces and colons may separate them)');
  if (digits.length > 2 * 65535) throw invalidInput('--frame: a frame is at most 65535 bytes');
  return Uint8Array.from(Buffer.from(digits, 'hex'));
}
