// The numbers nftables' netlink messages carry (include/uapi/linux/netfilter/nfnetlink.h,
// nf_tables.h), for the code that speaks it without nft: table ownership, the trace and change
// events.
import type { Family } from './objects.js';

/** The nfnetlink subsystem of nftables: a message's type is this << 8 | its own (NFT_MSG_*). */
export const NFNL_SUBSYS_NFTABLES = 10;
/** struct nfgenmsg (family, version, resource id) before a message's attributes. */
export const NFGENMSG_SIZE = 4;
/** Multicast groups: every committed change, and the packets traced (`meta nftrace set 1`). */
export const NFNLGRP_NFTABLES = 7;
export const NFNLGRP_NFTRACE = 9;

/** NFPROTO_* of each family: nfgenmsg's family. */
export const NFPROTO: Readonly<Record<Family, number>> = { inet: 1, ip: 2, arp: 3, netdev: 5, bridge: 7, ip6: 10 };

const FAMILY_OF = new Map(Object.entries(NFPROTO).map(([family, n]) => [n, family as Family]));

/** The family of an NFPROTO_* number; undefined for one nft has no family for. */
export const familyOfNfproto = (n: number): Family | undefined => FAMILY_OF.get(n);

/** NFT_MSG_NEWGEN: the last event of a committed transaction, and the answer to NFT_MSG_GETGEN. */
export const NFT_MSG_NEWGEN = 15;
/** NFT_MSG_NEWGEN's attributes (nf_tables_fill_gen_info: big-endian, whatever the host's order). */
export const NFTA_GEN_ID = 1;
const NFTA_GEN_PROC_PID = 2;

/** The thread that committed the transaction a NEWGEN message ends, from its attributes; undefined when not named. */
export function committerOf(attrs: ReadonlyMap<number, Buffer>): number | undefined {
  const pid = attrs.get(NFTA_GEN_PROC_PID);
  return pid?.length === 4 ? pid.readUInt32BE(0) : undefined;
}
