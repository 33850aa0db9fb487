// Netlink's wire format (netlink(7)), pure: a message is a 16-byte header (length, type, flags,
// sequence, port) and a body; bodies end in attributes (length, type, payload), each padded to
// 4 bytes, nested attributes being attributes whose payload is attributes. Integers are in the
// host's byte order.
import { endianness } from 'node:os';

const LE = endianness() === 'LE';
export const HEADER_SIZE = 16;
const ATTR_HEADER_SIZE = 4;
/** NLA_F_NESTED and NLA_F_NET_BYTEORDER ride in an attribute's type. */
const ATTR_TYPE_MASK = 0x3fff;

export const NLM_F = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  ECHO: 0x8,
  DUMP: 0x300,
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
} as const;
export const NLMSG = { ERROR: 2, DONE: 3 } as const;
/** Attributes of an error message sent with NETLINK_EXT_ACK (nlmsgerr_attrs). */
const NLMSGERR_ATTR_MSG = 1;
/** nlmsgerr flag: the request is not echoed in the error (NETLINK_CAP_ACK). */
const NLM_F_CAPPED = 0x100;
/** nlmsgerr flag: extended-ack attributes follow. */
const NLM_F_ACK_TLVS = 0x200;

const align4 = (n: number) => (n + 3) & ~3;

/** A little writer for fixed-size structs in host byte order. */
export class Struct {
  readonly buf: Buffer;
  constructor(size: number) {
    this.buf = Buffer.alloc(size);
  }
  u8(off: number, v: number): this {
    this.buf.writeUInt8(v, off);
    return this;
  }
  u16(off: number, v: number): this {
    if (LE) this.buf.writeUInt16LE(v, off);
    else this.buf.writeUInt16BE(v, off);
    return this;
  }
  u32(off: number, v: number): this {
    if (LE) this.buf.writeUInt32LE(v >>> 0, off);
    else this.buf.writeUInt32BE(v >>> 0, off);
    return this;
  }
  u64(off: number, v: number): this {
    if (LE) this.buf.writeBigUInt64LE(BigInt(v), off);
    else this.buf.writeBigUInt64BE(BigInt(v), off);
    return this;
  }
  i32(off: number, v: number): this {
    if (LE) this.buf.writeInt32LE(v, off);
    else this.buf.writeInt32BE(v, off);
    return this;
  }
}

export const readU16 = (b: Buffer, off: number) => (LE ? b.readUInt16LE(off) : b.readUInt16BE(off));
export const readU32 = (b: Buffer, off: number) => (LE ? b.readUInt32LE(off) : b.readUInt32BE(off));
export const readI32 = (b: Buffer, off: number) => (LE ? b.readInt32LE(off) : b.readInt32BE(off));

/** One attribute, encoded with its padding. */
export function attr(type: number, payload: Buffer): Buffer {
  const len = ATTR_HEADER_SIZE + payload.length;
  const out = new Struct(align4(len)).u16(0, len).u16(2, type).buf;
  payload.copy(out, ATTR_HEADER_SIZE);
  return out;
}

export const attrU32 = (type: number, v: number) => attr(type, new Struct(4).u32(0, v).buf);
/** A NUL-terminated string (interface names). */
export const attrString = (type: number, s: string) => attr(type, Buffer.from(`${s}\0`, 'latin1'));
export const attrBytes = (type: number, bytes: readonly number[]) => attr(type, Buffer.from(bytes));
export const attrNested = (type: number, attrs: readonly Buffer[]) => attr(type, Buffer.concat(attrs));

export interface MessageHeader {
  type: number;
  flags: number;
  seq: number;
  /** The sender's port id (0: the kernel). */
  pid?: number;
}

/** A whole message: header, fixed body (its struct), attributes. */
export function encodeMessage(h: MessageHeader, body: Buffer, attrs: readonly Buffer[] = []): Buffer {
  const payload = Buffer.concat([body, Buffer.alloc(align4(body.length) - body.length), ...attrs]);
  const head = new Struct(HEADER_SIZE)
    .u32(0, HEADER_SIZE + payload.length)
    .u16(4, h.type)
    .u16(6, h.flags)
    .u32(8, h.seq)
    .u32(12, h.pid ?? 0);
  return Buffer.concat([head.buf, payload]);
}

export interface Message extends Required<MessageHeader> {
  /** Everything after the header. */
  payload: Buffer;
}

/**
 * Calls `each` with the type of every message of one datagram and where its payload lies in
 * `buf`: no object and no view per message, for datagrams of hundreds of events. A truncated or
 * malformed message throws.
 */
export function scanMessages(buf: Buffer, each: (type: number, start: number, end: number) => void): void {
  let off = 0;
  while (off + HEADER_SIZE <= buf.length) {
    const len = readU32(buf, off);
    if (len < HEADER_SIZE || off + len > buf.length)
      throw new Error(`malformed netlink message (length ${len} at ${off} of ${buf.length})`);
    each(readU16(buf, off + 4), off + HEADER_SIZE, off + len);
    off += align4(len);
  }
}

/** The messages of one datagram; a truncated or malformed one ends the list with an error. */
export function parseMessages(buf: Buffer): Message[] {
  const out: Message[] = [];
  scanMessages(buf, (type, start, end) =>
    out.push({
      type,
      flags: readU16(buf, start - 10),
      seq: readU32(buf, start - 8),
      pid: readU32(buf, start - 4),
      payload: buf.subarray(start, end),
    }),
  );
  return out;
}

/** The attributes in `buf` from `start`, by type (the last one of a type wins, as the kernel reads them). */
export function parseAttrs(buf: Buffer, start = 0): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = start;
  while (off + ATTR_HEADER_SIZE <= buf.length) {
    const len = readU16(buf, off);
    if (len < ATTR_HEADER_SIZE || off + len > buf.length) break;
    out.set(readU16(buf, off + 2) & ATTR_TYPE_MASK, buf.subarray(off + ATTR_HEADER_SIZE, off + len));
    off += align4(len);
  }
  return out;
}

/** A NUL-terminated string attribute's text. */
export function attrText(payload: Buffer | undefined): string | undefined {
  if (payload === undefined) return undefined;
  const nul = payload.indexOf(0);
  return payload.subarray(0, nul < 0 ? payload.length : nul).toString('latin1');
}

/** An NLMSG_ERROR's payload: errno (0 for an acknowledgement) and the kernel's extended-ack text. */
export function parseError(m: Message): { errno: number; text?: string } {
  const errno = 0 - readI32(m.payload, 0);
  if (!(m.flags & NLM_F_ACK_TLVS)) return { errno };
  // the request's header is echoed (capped), or the whole request
  const echoed = m.flags & NLM_F_CAPPED ? HEADER_SIZE : readU32(m.payload, 4);
  const text = attrText(parseAttrs(m.payload, 4 + align4(echoed)).get(NLMSGERR_ATTR_MSG));
  return text ? { errno, text } : { errno };
}
