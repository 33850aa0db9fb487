// The rtnetlink requests a virtual network needs (rtnetlink(7), linux/if_link.h, if_addr.h,
// rtnetlink.h), built and read as iproute2's `ip` builds and reads them, pure: create a bridge,
// set a link's MTU or bring it up or down, rename it into a link group, delete it (or a whole
// group), find it by name or index, list all links, add or delete an address, add a route, dump
// the routes of the main table.
import type { IpAddress, IpFamily } from '../util/address.js';
import { formatIp } from '../util/address.js';
import {
  attr,
  attrBytes,
  attrNested,
  attrString,
  attrText,
  attrU32,
  encodeMessage,
  NLM_F,
  parseAttrs,
  readI32,
  readU32,
  Struct,
  type Message,
} from './message.js';

export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  NEWADDR: 20,
  DELADDR: 21,
  NEWROUTE: 24,
  GETROUTE: 26,
} as const;
const AF: Record<IpFamily | 'unspec', number> = { unspec: 0, ipv4: 2, ipv6: 10 };
const IFLA = { ADDRESS: 1, IFNAME: 3, MTU: 4, LINKINFO: 18, GROUP: 27, EXT_MASK: 29 } as const;
const IFLA_INFO = { KIND: 1, DATA: 2 } as const;
const IFLA_BR = { FORWARD_DELAY: 1, STP_STATE: 5 } as const;
/** RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS, as `ip` looks a link up: no counters. */
const LOOKUP_EXT_MASK = (1 << 0) | (1 << 3);
const IFF_UP = 0x1;
const IFA = { ADDRESS: 1, LOCAL: 2 } as const;
const RTA = { DST: 1, OIF: 4, GATEWAY: 5, PRIORITY: 6, TABLE: 15 } as const;
const RT_TABLE_MAIN = 254;
/** `ip route add`'s defaults: a route "installed during boot", of global scope, unicast. */
const RTPROT_BOOT = 3;
const RT_SCOPE_UNIVERSE = 0;
const RTN_UNICAST = 1;

const IFINFOMSG_SIZE = 16;
const IFADDRMSG_SIZE = 8;
const RTMSG_SIZE = 12;

const REQUEST_ACK = NLM_F.REQUEST | NLM_F.ACK;
const CREATE = REQUEST_ACK | NLM_F.CREATE | NLM_F.EXCL;

/** struct ifinfomsg: family, type, index, flags, change. */
function ifinfomsg(index = 0, flags = 0, change = 0): Buffer {
  return new Struct(IFINFOMSG_SIZE).u8(0, AF.unspec).i32(4, index).u32(8, flags).u32(12, change).buf;
}

/** An address's bytes in network order (IpAddress holds big-endian 16-bit words). */
export function addressBytes(a: IpAddress): number[] {
  return a.words.flatMap((w) => [w >> 8, w & 0xff]);
}

function addressFromBytes(family: IpFamily, b: Buffer): IpAddress {
  const words: number[] = [];
  for (let i = 0; i + 1 < b.length; i += 2) words.push((b[i]! << 8) | b[i + 1]!);
  return { family, words };
}

export interface BridgeSpec {
  name: string;
  /** MAC address bytes. */
  mac?: readonly number[];
  /** Forwarding delay in centiseconds (the kernel's clock_t, as `ip ... forward_delay` takes it). */
  forwardDelay: number;
  stp: boolean;
}

/**
 * `ip link add name NAME [address MAC] type bridge forward_delay D stp_state S`: one message.
 * The bridge applies the delay before STP (br_changelink), as libvirt orders its two calls.
 */
export function newBridge(seq: number, b: BridgeSpec): Buffer {
  const data = [attrU32(IFLA_BR.FORWARD_DELAY, b.forwardDelay), attrU32(IFLA_BR.STP_STATE, b.stp ? 1 : 0)];
  return encodeMessage({ type: RTM.NEWLINK, flags: CREATE, seq }, ifinfomsg(), [
    ...(b.mac ? [attrBytes(IFLA.ADDRESS, b.mac)] : []),
    attrString(IFLA.IFNAME, b.name),
    // the kind without its NUL, as `ip` sends it (the kernel takes both)
    attrNested(IFLA.LINKINFO, [attr(IFLA_INFO.KIND, Buffer.from('bridge')), attrNested(IFLA_INFO.DATA, data)]),
  ]);
}

/**
 * `ip link set dev NAME mtu N`. A separate change after creation on purpose: an MTU given at
 * creation is stored without the bridge's ndo_change_mtu, so the bridge would not keep it as
 * set by the user once ports join.
 */
export function setMtu(seq: number, index: number, mtu: number): Buffer {
  return encodeMessage({ type: RTM.NEWLINK, flags: REQUEST_ACK, seq }, ifinfomsg(index), [attrU32(IFLA.MTU, mtu)]);
}

/** `ip link set dev NAME up`. */
export function setUp(seq: number, index: number): Buffer {
  return encodeMessage({ type: RTM.NEWLINK, flags: REQUEST_ACK, seq }, ifinfomsg(index, IFF_UP, IFF_UP));
}

/** `ip link set dev NAME down`. */
export function setDown(seq: number, index: number): Buffer {
  return encodeMessage({ type: RTM.NEWLINK, flags: REQUEST_ACK, seq }, ifinfomsg(index, 0, IFF_UP));
}

/** `ip link set dev NAME name NEW group GROUP` (the kernel renames only a link that is down). */
export function renameIntoGroup(seq: number, index: number, name: string, group: number): Buffer {
  return encodeMessage({ type: RTM.NEWLINK, flags: REQUEST_ACK, seq }, ifinfomsg(index), [
    attrU32(IFLA.GROUP, group),
    attrString(IFLA.IFNAME, name),
  ]);
}

/** `ip link del dev NAME`, once the link's index is known. */
export function delLink(seq: number, index: number): Buffer {
  return encodeMessage({ type: RTM.DELLINK, flags: REQUEST_ACK, seq }, ifinfomsg(index));
}

/** `ip link del group GROUP`: every link of the group, in one unregistration. */
export function delGroup(seq: number, group: number): Buffer {
  return encodeMessage({ type: RTM.DELLINK, flags: REQUEST_ACK, seq }, ifinfomsg(), [attrU32(IFLA.GROUP, group)]);
}

/** `ip link show`: a dump of every link, without counters. */
export function dumpLinks(seq: number): Buffer {
  return encodeMessage({ type: RTM.GETLINK, flags: NLM_F.REQUEST | NLM_F.DUMP, seq }, ifinfomsg(), [
    attrU32(IFLA.EXT_MASK, LOOKUP_EXT_MASK),
  ]);
}

/**
 * A link by name, without its counters, as `ip` looks up the link a command names (its first
 * request for `ip link set`, `ip addr add`, `ip route add ... dev`), or by index.
 */
export function getLink(seq: number, link: { name: string } | { index: number }): Buffer {
  const byName = 'name' in link;
  return encodeMessage({ type: RTM.GETLINK, flags: NLM_F.REQUEST, seq }, ifinfomsg(byName ? 0 : link.index), [
    attrU32(IFLA.EXT_MASK, LOOKUP_EXT_MASK),
    ...(byName ? [attrString(IFLA.IFNAME, link.name)] : []),
  ]);
}

/** A link as RTM_NEWLINK reports it. */
export function parseLink(m: Message): { index: number; name?: string; group?: number } {
  const attrs = parseAttrs(m.payload, IFINFOMSG_SIZE);
  const group = attrs.get(IFLA.GROUP);
  return {
    index: readI32(m.payload, 4),
    name: attrText(attrs.get(IFLA.IFNAME)),
    ...(group ? { group: readU32(group, 0) } : {}),
  };
}

/** `ip addr add ADDR/PREFIX dev LINK`: local and peer address both ADDR, no broadcast, global scope. */
export function newAddress(seq: number, index: number, address: IpAddress, prefix: number): Buffer {
  return addressMessage(RTM.NEWADDR, CREATE, seq, index, address, prefix);
}

/** `ip addr del ADDR/PREFIX dev LINK`. */
export function delAddress(seq: number, index: number, address: IpAddress, prefix: number): Buffer {
  return addressMessage(RTM.DELADDR, REQUEST_ACK, seq, index, address, prefix);
}

function addressMessage(type: number, flags: number, seq: number, index: number, address: IpAddress, prefix: number) {
  const body = new Struct(IFADDRMSG_SIZE).u8(0, AF[address.family]).u8(1, prefix).u32(4, index).buf;
  const bytes = addressBytes(address);
  return encodeMessage({ type, flags, seq }, body, [attrBytes(IFA.LOCAL, bytes), attrBytes(IFA.ADDRESS, bytes)]);
}

export interface RouteSpec {
  dst: IpAddress;
  prefix: number;
  gateway: IpAddress;
  index: number;
  metric?: number;
}

/** `ip route add DST/PREFIX via GATEWAY dev LINK [metric M]` in the main table. */
export function newRoute(seq: number, r: RouteSpec): Buffer {
  const body = new Struct(RTMSG_SIZE)
    .u8(0, AF[r.dst.family])
    .u8(1, r.prefix)
    .u8(4, RT_TABLE_MAIN)
    .u8(5, RTPROT_BOOT)
    .u8(6, RT_SCOPE_UNIVERSE)
    .u8(7, RTN_UNICAST).buf;
  return encodeMessage({ type: RTM.NEWROUTE, flags: CREATE, seq }, body, [
    attrBytes(RTA.DST, addressBytes(r.dst)),
    attrBytes(RTA.GATEWAY, addressBytes(r.gateway)),
    ...(r.metric !== undefined ? [attrU32(RTA.PRIORITY, r.metric)] : []),
    attrU32(RTA.OIF, r.index),
  ]);
}

/** `ip -4|-6 route show`: a dump of one family's routes (the main table is picked by parseRoute's reader). */
export function dumpRoutes(seq: number, family: IpFamily): Buffer {
  return encodeMessage(
    { type: RTM.GETROUTE, flags: NLM_F.REQUEST | NLM_F.DUMP, seq },
    new Struct(RTMSG_SIZE).u8(0, AF[family]).buf,
  );
}

export interface Route {
  table: number;
  /** As `ip -j route` prints it: `default`, an address (a host route) or ADDRESS/PREFIX. */
  dst: string;
  /** The output link's index (none for multipath or blackhole routes). */
  oif?: number;
}

/** An RTM_NEWROUTE of a dump; undefined for families other than IPv4 and IPv6. */
export function parseRoute(m: Message): Route | undefined {
  const p = m.payload;
  const family = p[0] === AF.ipv4 ? 'ipv4' : p[0] === AF.ipv6 ? 'ipv6' : undefined;
  if (family === undefined) return undefined;
  const dstLen = p[1]!;
  const attrs = parseAttrs(p, RTMSG_SIZE);
  const table = attrs.get(RTA.TABLE);
  const dstBytes = attrs.get(RTA.DST);
  const oif = attrs.get(RTA.OIF);
  const full = family === 'ipv4' ? 32 : 128;
  const addr = dstBytes ? formatIp(addressFromBytes(family, dstBytes)) : family === 'ipv4' ? '0.0.0.0' : '::';
  const dst = dstLen === 0 ? 'default' : dstLen === full ? addr : `${addr}/${dstLen}`;
  return { table: table ? readU32(table, 0) : p[4]!, dst, ...(oif ? { oif: readU32(oif, 0) } : {}) };
}

export const MAIN_TABLE = RT_TABLE_MAIN;
