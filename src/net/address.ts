// MAC, IPv4 and IPv6 address text as libvirt reads and prints it. libvirt parses addresses with
// glibc (getaddrinfo with AI_NUMERICHOST, i.e. inet_aton/inet_pton rules) and prints them with
// getnameinfo (inet_ntop), so both directions follow glibc, not Node's net module. IPv6 text
// is handled by the network driver's inet module.
import { randomBytes } from 'node:crypto';
import { formatIp, parseIp } from '../network/inet.js';

const HEX_DIGIT = /^[0-9a-fA-F]$/;

/**
 * libvirt's virMacAddrParse: six groups of one or two hex digits separated by ':'; anything
 * from a space or control character on may follow the last group.
 */
export function parseMac(text: string): number[] | undefined {
  const bytes: number[] = [];
  let pos = 0;
  for (let i = 0; i < 6; i++) {
    let end = pos;
    while (end < text.length && HEX_DIGIT.test(text[end]!)) end++;
    if (end - pos < 1 || end - pos > 2) return undefined;
    bytes.push(parseInt(text.slice(pos, end), 16));
    if (i === 5) return end === text.length || text.charCodeAt(end) <= 0x20 ? bytes : undefined;
    if (text[end] !== ':') return undefined;
    pos = end + 1;
  }
  return undefined;
}

export function formatMac(bytes: readonly number[]): string {
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** virMacAddrGenerate: libvirt's (QEMU's) prefix 52:54:00 and three random bytes. */
export function generateMac(prefix: readonly number[] = [0x52, 0x54, 0x00]): string {
  return formatMac([...prefix, ...randomBytes(6 - prefix.length)]);
}

/**
 * An IPv4 address in any form glibc's inet_aton accepts (a, a.b, a.b.c, a.b.c.d; each part
 * decimal, 0x-hex or 0-octal), with nothing after it, as getaddrinfo(AI_NUMERICHOST) requires.
 */
export function parseIPv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length > 4) return undefined;
  const values: number[] = [];
  for (const part of parts) {
    const m = /^(0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$/.exec(part);
    if (!m) return undefined;
    const v = part.length > 1 && (part[1] === 'x' || part[1] === 'X') ? (part.length === 2 ? 0 : parseInt(part.slice(2), 16)) : part.startsWith('0') ? parseInt(part, 8) : Number(part);
    if (!Number.isSafeInteger(v) || v > 0xffffffff) return undefined;
    values.push(v);
  }
  // The last part fills all remaining bytes; the others are one byte each.
  const last = values.pop()!;
  if (values.some((v) => v > 0xff)) return undefined;
  const restBytes = 4 - values.length;
  if (last >= 2 ** (8 * restBytes)) return undefined;
  const bytes = [...values];
  for (let i = restBytes - 1; i >= 0; i--) bytes.push(Math.floor(last / 2 ** (8 * i)) % 256);
  return bytes;
}

export function formatIPv4(bytes: readonly number[]): string {
  return bytes.join('.');
}

/** An IPv6 address as inet_pton accepts it (optionally ending in dotted IPv4), as 16 bytes. */
export function parseIPv6(text: string): number[] | undefined {
  const addr = text.includes(':') ? parseIp(text) : undefined;
  return addr?.family === 'ipv6' ? addr.words.flatMap((w) => [w >> 8, w & 0xff]) : undefined;
}

/** glibc inet_ntop's text for 16 address bytes. */
export function formatIPv6(bytes: readonly number[]): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  return formatIp({ family: 'ipv6', words });
}

/** Length of a netmask's prefix of one bits, or undefined when the ones are not contiguous. */
export function prefixLength(mask: readonly number[]): number | undefined {
  let len = 0;
  let seenZero = false;
  for (const byte of mask) {
    for (let bit = 7; bit >= 0; bit--) {
      if (byte & (1 << bit)) {
        if (seenZero) return undefined;
        len++;
      } else {
        seenZero = true;
      }
    }
  }
  return len;
}
