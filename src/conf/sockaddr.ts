// libvirt's virSocketAddr rules for definitions: parsing (getaddrinfo with AI_NUMERICHOST, so
// IPv4 takes every inet_aton form), the prefix an <ip> element implies, and the DHCP/NAT range
// sanity check (virSocketAddrGetRange).
import {
  formatIp,
  maskToNetwork,
  netmaskToPrefix,
  parseIp,
  parseIPv4,
  type IpAddress,
  type IpFamily,
} from '../util/address.js';

/** virSocketAddrParse: an IPv4 or IPv6 address, optionally of one family only. */
export function parseSocketAddr(text: string, family?: IpFamily): IpAddress | undefined {
  if (family !== 'ipv6') {
    const v4 = parseIPv4(text);
    if (v4) return { family: 'ipv4', words: [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!] };
  }
  if (family === 'ipv4' || !text.includes(':')) return undefined;
  const v6 = parseIp(text);
  return v6?.family === 'ipv6' ? v6 : undefined;
}

export function sameAddress(a: IpAddress | undefined, b: IpAddress | undefined): boolean {
  return a !== undefined && b !== undefined && a.family === b.family && a.words.every((w, i) => w === b.words[i]);
}

/**
 * virSocketAddrGetIPPrefix: the written prefix, else the netmask's length (-1 when it is not
 * contiguous), else IPv4's classful prefix (-1 beyond class C) or 64 for IPv6 (0 for ::).
 */
export function effectivePrefix(address: IpAddress, netmask: IpAddress | undefined, prefix: number): number {
  if (prefix > 0) return prefix;
  if (netmask) return netmaskToPrefix(netmask) ?? -1;
  if (address.family === 'ipv6') return address.words.every((w) => w === 0) ? 0 : 64;
  const octet = address.words[0]! >> 8;
  if ((octet & 0x80) === 0) return 8;
  if ((octet & 0xc0) === 0x80) return 16;
  if ((octet & 0xe0) === 0xc0) return 24;
  return -1;
}

const WIDTH: Record<IpFamily, number> = { ipv4: 32, ipv6: 128 };

function sameNet(a: IpAddress, b: IpAddress, prefix: number): boolean {
  return sameAddress(maskToNetwork(a, prefix), maskToNetwork(b, prefix));
}

function broadcast(addr: IpAddress, prefix: number): IpAddress {
  const hostBits = WIDTH[addr.family] - prefix;
  const words = addr.words.map((w, i) => {
    const bitsBelow = (addr.words.length - 1 - i) * 16;
    const maskedOnes = Math.max(0, Math.min(16, hostBits - bitsBelow));
    return w | ((1 << maskedOnes) - 1);
  });
  return { family: addr.family, words };
}

/**
 * virSocketAddrGetRange: checks start..end (same family, inside the network when given, not its
 * network/broadcast address, not reversed, at most 65535 wide) and returns its size. Throws the
 * libvirt message through `fail`.
 */
export function checkRange(
  start: IpAddress,
  end: IpAddress,
  network: { address: IpAddress; prefix: number } | undefined,
  fail: (detail: string) => Error,
): number {
  const s = formatIp(start);
  const e = formatIp(end);
  if (start.family !== end.family) throw fail(`mismatch of address family in range ${s} - ${e}`);
  if (network) {
    const n = formatIp(network.address);
    if (start.family !== network.address.family)
      throw fail(`mismatch of address family in range ${s} - ${e} for network ${n}`);
    const prefix = network.prefix;
    if (prefix < 0 || prefix > WIDTH[start.family])
      throw fail(`bad prefix ${prefix} for network ${n} when checking range ${s} - ${e}`);
    if (!sameNet(start, network.address, prefix) || !sameNet(end, network.address, prefix)) {
      throw fail(`range ${s} - ${e} is not entirely within network ${n}/${prefix}`);
    }
    if (start.family === 'ipv4') {
      if (sameAddress(start, maskToNetwork(network.address, prefix)))
        throw fail(`start of range ${s} - ${e} in network ${n}/${prefix} is the network address`);
      if (sameAddress(end, broadcast(network.address, prefix)))
        throw fail(`end of range ${s} - ${e} in network ${n}/${prefix} is the broadcast address`);
    }
  }
  // libvirt's legacy size rule: only the low 16 bits (IPv4) or 32 bits (IPv6) may differ.
  const fixed = start.family === 'ipv4' ? 1 : 6;
  for (let i = 0; i < fixed; i++)
    if (start.words[i] !== end.words[i]) throw fail(`range ${s} - ${e} is too large (> 65535)`);
  let size = 0;
  for (let i = fixed; i < start.words.length; i++) size = size * 65536 + (end.words[i]! - start.words[i]!);
  if (size < 0) throw fail(`range ${s} - ${e} is reversed `);
  return size + 1;
}
