// nftables table ownership, in our own netlink messages (nft 1.0.6 cannot say `persist`): a
// table flagged `owner` refuses every change from another netlink socket — `nft flush ruleset`
// skips it, `nft delete table` gets EPERM — and with `persist` it outlives its owner's socket as
// an orphan, which the next owner adopts by the same flags. Sent on the socket of libnftables'
// context (libnftables.ts), so that context's commands stay accepted.
import {
  attr,
  attrString,
  encodeMessage,
  NLM_F,
  NLMSG,
  parseAttrs,
  parseError,
  parseMessages,
  type Message,
} from '../netlink/message.js';
import { receiveOn, sendOn } from '../netlink/socket.js';
import { NFGENMSG_SIZE, NFNL_SUBSYS_NFTABLES, NFPROTO, NFTA_GEN_ID } from './nfnetlink.js';
import type { Family } from './objects.js';

/** nf_tables.h: NFT_TABLE_F_*. */
export const TABLE_OWNER = 0x2;
export const TABLE_PERSIST = 0x4;
const OWNED = TABLE_OWNER | TABLE_PERSIST;
const BATCH_BEGIN = 0x10;
const BATCH_END = 0x11;
const NEWTABLE = (NFNL_SUBSYS_NFTABLES << 8) | 0;
const GETTABLE = (NFNL_SUBSYS_NFTABLES << 8) | 1;
const DELTABLE = (NFNL_SUBSYS_NFTABLES << 8) | 2;
const GETGEN = (NFNL_SUBSYS_NFTABLES << 8) | 16;
/** nfnetlink.h: the batch attribute that makes the kernel refuse a batch unless the ruleset is at that generation. */
const NFNL_BATCH_GENID = 1;
const NFTA_TABLE_NAME = 1;
const NFTA_TABLE_FLAGS = 2;
const NFTA_TABLE_HANDLE = 4;
const MSG_DONTWAIT = 0x40;
const ENOENT = 2;
const EPERM = 1;
const EOPNOTSUPP = 95;
const ENOBUFS = 105;
/** The batch was refused: the ruleset is no longer at the generation it named. */
const ERESTART = 85;

/** One nfnetlink message: nlmsghdr, nfgenmsg, attributes. */
function message(type: number, flags: number, seq: number, family: number, attrs: Buffer[] = []): Buffer {
  const nfgen = Buffer.alloc(NFGENMSG_SIZE);
  nfgen.writeUInt8(family, 0);
  // batch messages name the subsystem in res_id; object messages leave it 0
  nfgen.writeUInt16BE(type === BATCH_BEGIN || type === BATCH_END ? NFNL_SUBSYS_NFTABLES : 0, 2);
  return encodeMessage({ type, flags, seq }, nfgen, attrs);
}

function tableMessage(
  type: number,
  flags: number,
  seq: number,
  family: Family,
  table: string,
  tableFlags?: number,
): Buffer {
  const attrs = [attrString(NFTA_TABLE_NAME, table)];
  if (tableFlags !== undefined) {
    // nf_tables attributes are in network byte order
    const f = Buffer.alloc(4);
    f.writeUInt32BE(tableFlags);
    attrs.push(attr(NFTA_TABLE_FLAGS, f));
  }
  return message(type, flags | NLM_F.REQUEST | NLM_F.ACK, seq, NFPROTO[family], attrs);
}

/** NFT_MSG_GETTABLE for one table (for a NetlinkSocket of NETLINK_NETFILTER). */
export const getTable = (seq: number, family: Family, table: string): Buffer =>
  tableMessage(GETTABLE, 0, seq, family, table);

/** The table's handle in GETTABLE's answer (a 64-bit number the kernel never gives twice per namespace). */
export function tableHandleOf(m: Message): number | undefined {
  const h = parseAttrs(m.payload, NFGENMSG_SIZE).get(NFTA_TABLE_HANDLE);
  return h && Number(h.readBigUInt64BE(0));
}

let nextSeq = Math.floor(Date.now() / 1000);

/**
 * Reads answers on `fd` until every sequence number in `seqs` got its ack or error, or `refused`
 * (a batch's begin) got an error (the kernel refused the whole batch and answers nothing else);
 * returns the errnos and the other messages.
 */
function answers(fd: number, seqs: number[], refused?: number): { errors: Map<number, number>; messages: Message[] } {
  const errors = new Map<number, number>();
  const messages: Message[] = [];
  const buf = Buffer.alloc(1 << 16);
  while (seqs.some((s) => !errors.has(s)) && !(refused !== undefined && errors.has(refused))) {
    const n = receiveOn(fd, buf, MSG_DONTWAIT);
    // an overrun of the socket (by a large libnftables listing) is reported once; our answers queue behind it
    if (n === -ENOBUFS) continue;
    if (n <= 0) throw new Error(`netlink answer missing (errno ${-n})`);
    // copies: the buffer is reused
    for (const m of parseMessages(Buffer.from(buf.subarray(0, n)))) {
      if (m.type === NLMSG.ERROR) errors.set(m.seq, parseError(m).errno);
      else messages.push(m);
    }
  }
  return { errors, messages };
}

function sendAll(fd: number, data: Buffer): void {
  const n = sendOn(fd, data);
  if (n !== data.length) throw new Error(`netlink send failed (errno ${n < 0 ? -n : 0})`);
}

/**
 * Sends the messages as one transaction on `fd` and returns each message's errno (0: done), in
 * order. Every message asks for an answer, so all of them are read here and none is left for
 * libnftables to find on its socket. The kernel answers while `send` runs. With `generation`,
 * the kernel takes the batch only while the ruleset is at that generation (else every errno is
 * ERESTART): checked and committed under the one lock of the namespace's nftables.
 */
function transact(fd: number, build: (seq: number) => Buffer[], generation?: number): number[] {
  nextSeq += 16;
  const first = nextSeq;
  const messages = build(first + 1);
  const genid = Buffer.alloc(4);
  if (generation !== undefined) genid.writeUInt32BE(generation);
  sendAll(
    fd,
    Buffer.concat([
      message(BATCH_BEGIN, NLM_F.REQUEST, first, 0, generation === undefined ? [] : [attr(NFNL_BATCH_GENID, genid)]),
      ...messages,
      message(BATCH_END, NLM_F.REQUEST, first + messages.length + 1, 0),
    ]),
  );
  const seqs = messages.map((_, i) => first + 1 + i);
  const { errors } = answers(fd, seqs, first);
  const refused = errors.get(first);
  if (refused !== undefined && refused !== 0) return seqs.map(() => refused);
  return seqs.map((s) => errors.get(s)!);
}

/** NFT_MSG_GETGEN: the ruleset's generation (for a NetlinkSocket of NETLINK_NETFILTER; see rulesetGeneration). */
export const getGeneration = (seq: number): Buffer => message(GETGEN, NLM_F.REQUEST | NLM_F.ACK, seq, 0);

/** The generation in GETGEN's answer. */
export function generationOf(m: Message): number {
  const id = parseAttrs(m.payload, NFGENMSG_SIZE).get(NFTA_GEN_ID);
  if (!id) throw new Error('the nftables generation answer carries no generation');
  return id.readUInt32BE(0);
}

/**
 * The generation of the namespace's nftables ruleset (NFT_MSG_GETGEN) on `fd`: a number every
 * committed transaction, of any process on any table, moves on by one; nothing else changes a
 * ruleset.
 */
export function rulesetGeneration(fd: number): number {
  nextSeq += 16;
  const s = nextSeq;
  sendAll(fd, getGeneration(s));
  const { errors, messages } = answers(fd, [s]);
  const errno = errors.get(s)!;
  if (errno !== 0) throw new Error(`reading the nftables generation: errno ${errno}`);
  const reply = messages.find((m) => m.seq === s);
  if (!reply) throw new Error('no answer with the nftables generation');
  return generationOf(reply);
}

/**
 * Adopts the orphaned `tables` (owner and persist, as own does) in ONE transaction the kernel
 * takes only while the ruleset is still at `generation`: true when it did, so no transaction
 * at all came between that generation and the tables becoming ours; false when one did (or a
 * table could not be adopted: the batch then changed nothing).
 */
export function adoptAtGeneration(
  fd: number,
  tables: readonly { family: Family; table: string }[],
  generation: number,
): boolean {
  if (tables.length === 0) return false;
  const errnos = transact(
    fd,
    (s) => tables.map(({ family, table }, i) => tableMessage(NEWTABLE, 0, s + i, family, table, OWNED)),
    generation,
  );
  if (errnos.every((e) => e === 0)) return true;
  if (errnos.every((e) => e === ERESTART || e === 0) || errnos.some((e) => e === EOPNOTSUPP || e === EPERM))
    return false;
  throw new Error(`adopting nft tables: errno ${errnos.find((e) => e !== 0)}`);
}

/** A table's flags (TABLE_OWNER, TABLE_PERSIST, ...), undefined when there is no such table. */
export function tableFlags(fd: number, family: Family, table: string): number | undefined {
  nextSeq += 16;
  const s = nextSeq;
  sendAll(fd, tableMessage(GETTABLE, 0, s, family, table));
  const { errors, messages } = answers(fd, [s]);
  const errno = errors.get(s)!;
  if (errno === ENOENT) return undefined;
  if (errno !== 0) throw new Error(`reading nft table ${family} ${table}: errno ${errno}`);
  const reply = messages.find((m) => m.seq === s);
  const flags = reply && parseAttrs(reply.payload, NFGENMSG_SIZE).get(NFTA_TABLE_FLAGS);
  if (flags) return flags.readUInt32BE(0);
  return 0;
}

/** What owning a table found: ours now, no such table, or a table we cannot own (see own). */
export type Ownership = 'owned' | 'absent' | 'not-ownable';

/**
 * Makes `table` owned and persistent by the socket `fd`: creates it so when `create`, adopts
 * it when it is an orphan of a previous owner, and leaves it as it is when it is ours already.
 * A table created without ownership (by nft, or by a daemon that could not own it) cannot take
 * it on (the kernel refuses: EOPNOTSUPP), nor can one a live socket owns (EPERM).
 */
export function own(fd: number, family: Family, table: string, create: boolean): Ownership {
  // NEWTABLE creates a missing table even without NLM_F_CREATE: ask first
  if (!create && tableFlags(fd, family, table) === undefined) return 'absent';
  const [errno] = transact(fd, (s) => [tableMessage(NEWTABLE, 0, s, family, table, OWNED)]);
  if (errno === 0) return 'owned';
  if (errno === EOPNOTSUPP || errno === EPERM) return 'not-ownable';
  throw new Error(`owning nft table ${family} ${table}: errno ${errno}`);
}

/**
 * Whether this kernel keeps owned tables past their owner (owner and persist flags): creates a
 * table so flagged and deletes it in the same transaction, which leaves nothing behind.
 */
export function kernelOwnsTables(fd: number, table: string): boolean {
  const [created] = transact(fd, (s) => [
    tableMessage(NEWTABLE, 0, s, 'inet', table, OWNED),
    tableMessage(DELTABLE, 0, s + 1, 'inet', table),
  ]);
  return created === 0;
}
