// nftables' netlink events as the kernel sends them, built from its layout
// (include/uapi/linux/netfilter/nf_tables.h, nfnetlink.h; net/netfilter/nf_tables_api.c's
// nf_tables_fill_gen_info), not from anything virtwall writes: for tests of event readers.
import { endianness } from 'node:os';

const LE = endianness() === 'LE';
/** nfnetlink: a message's type is its subsystem's id (NFNL_SUBSYS_NFTABLES = 10) << 8 | its own. */
export const nft = (msg: number) => (10 << 8) | msg;
export const NFT_MSG = {
  NEWTABLE: 0,
  DELTABLE: 2,
  NEWRULE: 6,
  NEWSETELEM: 12,
  DELSETELEM: 14,
  NEWGEN: 15,
  NEWOBJ: 18,
};
export const NFPROTO = { INET: 1, IP: 2, IP6: 10 };
export const NFTA_GEN_ID = 1;
const NFTA_GEN_PROC_PID = 2;
const NFTA_GEN_PROC_NAME = 3;

const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  if (LE) b.writeUInt16LE(v);
  else b.writeUInt16BE(v);
  return b;
};
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  if (LE) b.writeUInt32LE(v);
  else b.writeUInt32BE(v);
  return b;
};
export const be32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
};
export const be64 = (v: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(v));
  return b;
};
export const text = (s: string) => Buffer.from(`${s}\0`);
const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
/** struct nlattr (length without padding, type), payload, padding. */
export const nla = (type: number, payload: Buffer) => pad(Buffer.concat([u16(4 + payload.length), u16(type), payload]));
/** struct nlmsghdr, struct nfgenmsg (family, NFNETLINK_V0, resource id big-endian), attributes. */
export function message(type: number, attrs: Buffer[] = [], family = NFPROTO.INET): Buffer {
  const nfgen = Buffer.from([family, 0, 0, 0]);
  const body = Buffer.concat([nfgen, ...attrs]);
  return Buffer.concat([u32(16 + body.length), u16(type), u16(0), u32(0), u32(0), body]);
}
/** The kernel's NEWGEN: generation id, committing pid (both big-endian), the process's comm. */
export const generation = (pid: number, comm = 'nft') =>
  message(
    nft(NFT_MSG.NEWGEN),
    [nla(NFTA_GEN_ID, be32(9)), nla(NFTA_GEN_PROC_PID, be32(pid)), nla(NFTA_GEN_PROC_NAME, text(comm))],
    0, // NFPROTO_UNSPEC
  );
