// MAC, IPv4 and IPv6 addresses as libvirt reads, prints and computes them. libvirt parses
// addresses with glibc (getaddrinfo with AI_NUMERICHOST: inet_aton/inet_pton rules) and prints
// them with getnameinfo (inet_ntop), so both directions follow glibc, not Node's net module nor an
// npm IP library (ip-address and ipaddr.js print RFC 5952 text: "::ffff:102:304" where glibc
// prints "::ffff:1.2.3.4"). The network driver's arithmetic (masking, netmask/prefix, DHCP range
// sizes, PTR zones) holds addresses as big-endian 16-bit words (2 for IPv4, 8 for IPv6) so both
// families share one code path; nwfilter's datatypes hold them as bytes.
import { randomBytes } from 'node:crypto';

export type IpFamily = 'ipv4' | 'ipv6';

export interface IpAddress {
  family: IpFamily;
  words: readonly number[];
}

const WIDTH: Record<IpFamily, number> = { ipv4: 32, ipv6: 128 };

export function familyWidth(family: IpFamily): number {
  return WIDTH[family];
}

/** Strict dotted-quad decimal, as inet_pton takes it (no leading zeros). */
function parseIpv4Words(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
  const b = parts.map(Number);
  return [(b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!];
}

function parseIpv6Words(text: string): number[] | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  // a dotted IPv4 tail may only end the address
  const groups = (half: string, allowIpv4Tail: boolean): number[] | undefined => {
    if (half === '') return [];
    const out: number[] = [];
    const parts = half.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (allowIpv4Tail && i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIpv4Words(p);
        if (!v4) return undefined;
        out.push(...v4);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) {
        out.push(parseInt(p, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? groups(halves[1]!, true) : [];
  if (!head || !tail) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const fill = 8 - head.length - tail.length;
  if (fill < 1) return undefined;
  return [...head, ...new Array<number>(fill).fill(0), ...tail];
}

/** Parses an IPv4 or IPv6 address; undefined when `text` is neither. */
export function parseIp(text: string): IpAddress | undefined {
  const v4 = parseIpv4Words(text);
  if (v4) return { family: 'ipv4', words: v4 };
  const v6 = text.includes(':') ? parseIpv6Words(text) : undefined;
  return v6 ? { family: 'ipv6', words: v6 } : undefined;
}

function formatIpv4(words: readonly number[]): string {
  return words.flatMap((w) => [w >> 8, w & 0xff]).join('.');
}

/** The text form libvirt prints (virSocketAddrFormat, i.e. glibc inet_ntop). */
export function formatIp(addr: IpAddress): string {
  if (addr.family === 'ipv4') return formatIpv4(addr.words);
  const w = addr.words;
  // the longest run of two or more zero words is written "::" (the first one on a tie)
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const embedsIpv4 = bestStart === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff));
  const hex = (from: number, to: number): string[] => w.slice(from, to).map((x) => x.toString(16));
  if (embedsIpv4) return `::${bestLen === 5 ? 'ffff:' : ''}${formatIpv4(w.slice(6))}`;
  if (bestStart < 0) return hex(0, 8).join(':');
  return `${hex(0, bestStart).join(':')}::${hex(bestStart + bestLen, 8).join(':')}`;
}

function toBigInt(addr: IpAddress): bigint {
  return addr.words.reduce((acc, word) => (acc << 16n) | BigInt(word), 0n);
}

function fromBigInt(family: IpFamily, value: bigint): IpAddress {
  const count = WIDTH[family] / 16;
  const words: number[] = [];
  for (let i = count - 1; i >= 0; i--) words.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  return { family, words };
}

function maskBits(family: IpFamily, prefix: number): bigint {
  const width = BigInt(WIDTH[family]);
  const all = (1n << width) - 1n;
  return prefix <= 0 ? 0n : (all << (width - BigInt(prefix))) & all;
}

/** The address with its host bits cleared. */
export function maskToNetwork(addr: IpAddress, prefix: number): IpAddress {
  return fromBigInt(addr.family, toBigInt(addr) & maskBits(addr.family, prefix));
}

/** libvirt's virSocketAddrFormatWithPrefix(masked): "192.168.122.0/24". */
export function networkCidr(addr: IpAddress, prefix: number): string {
  return `${formatIp(maskToNetwork(addr, prefix))}/${prefix}`;
}

export function prefixToNetmask(prefix: number): IpAddress {
  return fromBigInt('ipv4', maskBits('ipv4', prefix));
}

/** Prefix length of a contiguous netmask, or undefined for a non-contiguous one. */
export function netmaskToPrefix(mask: IpAddress): number | undefined {
  const width = WIDTH[mask.family];
  const value = toBigInt(mask);
  for (let prefix = 0; prefix <= width; prefix++) if (maskBits(mask.family, prefix) === value) return prefix;
  return undefined;
}

/** The classful prefix libvirt assumes for an IPv4 address given without netmask or prefix. */
export function classfulPrefix(addr: IpAddress): number {
  if (addr.family === 'ipv6') return 64;
  const first = addr.words[0]! >> 8;
  if (first < 128) return 8;
  if (first < 192) return 16;
  if (first < 224) return 24;
  return 32;
}

export function sameNetwork(a: IpAddress, b: IpAddress, prefix: number): boolean {
  return a.family === b.family && toBigInt(maskToNetwork(a, prefix)) === toBigInt(maskToNetwork(b, prefix));
}

/**
 * Number of addresses from `start` to `end` inclusive, as virSocketAddrGetRange counts them for
 * dnsmasq's lease limit: IPv6 ranges may differ only in their last 32 bits. Undefined when the
 * range is reversed or too large.
 */
export function rangeSize(start: IpAddress, end: IpAddress): number | undefined {
  if (start.family !== end.family) return undefined;
  const fixedWords = start.family === 'ipv6' ? 6 : 0;
  for (let i = 0; i < fixedWords; i++) if (start.words[i] !== end.words[i]) return undefined;
  const size = toBigInt(end) - toBigInt(start) + 1n;
  return size > 0n ? Number(size) : undefined;
}

/**
 * The reverse-lookup zone of a subnet (virSocketAddrPTRDomain): whole octets (IPv4) or nibbles
 * (IPv6) of the network part, reversed. Undefined when the prefix does not end on such a boundary.
 */
export function ptrDomain(addr: IpAddress, prefix: number): string | undefined {
  const digitBits = addr.family === 'ipv4' ? 8 : 4;
  if (prefix <= 0 || prefix >= WIDTH[addr.family] || prefix % digitBits !== 0) return undefined;
  const digits =
    addr.family === 'ipv4'
      ? addr.words.flatMap((w) => [w >> 8, w & 0xff]).map(String)
      : addr.words.flatMap((w) => [w >> 12, (w >> 8) & 0xf, (w >> 4) & 0xf, w & 0xf]).map((n) => n.toString(16));
  const zone = addr.family === 'ipv4' ? 'in-addr.arpa' : 'ip6.arpa';
  return [...digits.slice(0, prefix / digitBits).reverse(), zone].join('.');
}

/** Whether char code `c` is a hex digit (a test per character, not a regular expression's match of a one-character string). */
const isHexDigit = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/**
 * libvirt's virMacAddrParse: six groups of one or two hex digits separated by ':'; anything
 * from a space or control character on may follow the last group.
 */
export function parseMac(text: string): number[] | undefined {
  const bytes: number[] = [];
  let pos = 0;
  for (let i = 0; i < 6; i++) {
    let end = pos;
    while (end < text.length && isHexDigit(text.charCodeAt(end))) end++;
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
  return dottedDecimal(text) ?? anyIPv4(text);
}

/**
 * a.b.c.d, each part decimal without a leading zero and at most 255: the form nearly every
 * address has, read without splitting or regular expressions; undefined for any other form
 * (anyIPv4 reads those).
 */
function dottedDecimal(text: string): number[] | undefined {
  const bytes: number[] = [];
  let v = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || bytes.length === 4) return undefined;
      bytes.push(v);
      v = 0;
      digits = 0;
    } else {
      if (c < 0x30 || c > 0x39 || (digits === 1 && v === 0)) return undefined;
      v = v * 10 + (c - 0x30);
      digits++;
      if (v > 0xff) return undefined;
    }
  }
  return bytes.length === 4 ? bytes : undefined;
}

function anyIPv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length > 4) return undefined;
  const values: number[] = [];
  for (const part of parts) {
    const m = /^(0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$/.exec(part);
    if (!m) return undefined;
    const v =
      part.length > 1 && (part[1] === 'x' || part[1] === 'X')
        ? part.length === 2
          ? 0
          : parseInt(part.slice(2), 16)
        : part.startsWith('0')
          ? parseInt(part, 8)
          : Number(part);
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
