// libvirt's RPC framing (src/rpc/virnetprotocol.x): a big-endian u32 length that counts itself,
// a 24-byte header (prog, vers, proc, type, serial, status) and an XDR payload. The splitter
// keeps what it has received, never what a length word promises, so a hostile length costs no
// memory until the bytes actually arrive.

export const PROGRAM = { remote: 0x20008086, keepalive: 0x6b656570 } as const;
export const PROTOCOL_VERSION = 1;
export const TYPE = {
  call: 0,
  reply: 1,
  message: 2,
  stream: 3,
  callWithFds: 4,
  replyWithFds: 5,
  streamHole: 6,
} as const;
export const STATUS = { ok: 0, error: 1, continue: 2 } as const;

const LEN_SIZE = 4;
const HEADER_SIZE = 24;
/** VIR_NET_MESSAGE_MAX: header and payload; the length word comes on top. */
export const MESSAGE_MAX = 33554432;

export interface Header {
  prog: number;
  vers: number;
  proc: number;
  type: number;
  serial: number;
  status: number;
}

export interface Frame {
  header: Header;
  payload: Buffer;
}

export class FrameError extends Error {}

export function encodeFrame(header: Header, payload: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(LEN_SIZE + HEADER_SIZE + payload.length);
  out.writeUInt32BE(out.length, 0);
  out.writeUInt32BE(header.prog, 4);
  out.writeUInt32BE(header.vers, 8);
  out.writeInt32BE(header.proc, 12);
  out.writeUInt32BE(header.type, 16);
  out.writeUInt32BE(header.serial, 20);
  out.writeUInt32BE(header.status, 24);
  payload.copy(out, LEN_SIZE + HEADER_SIZE);
  return out;
}

export function decodeHeader(buf: Buffer): Header {
  return {
    prog: buf.readUInt32BE(0),
    vers: buf.readUInt32BE(4),
    proc: buf.readInt32BE(8),
    type: buf.readUInt32BE(12),
    serial: buf.readUInt32BE(16),
    status: buf.readUInt32BE(20),
  };
}

/** Cuts a byte stream into frames; a length outside [header, max] is a FrameError (close the connection). */
export class FrameSplitter {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** `max`: the largest header + payload this connection accepts (at most MESSAGE_MAX). */
  constructor(private readonly max = MESSAGE_MAX) {}

  push(data: Buffer): Frame[] {
    this.chunks.push(data);
    this.buffered += data.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.buffered < LEN_SIZE) break;
      const head = this.peek(LEN_SIZE);
      const len = head.readUInt32BE(0);
      if (len < LEN_SIZE + HEADER_SIZE)
        throw new FrameError(`packet ${len} bytes received too small, want ${LEN_SIZE + HEADER_SIZE}`);
      if (len - LEN_SIZE > this.max)
        throw new FrameError(`packet ${len} bytes received too large, want ${this.max + LEN_SIZE}`);
      if (this.buffered < len) break;
      const whole = this.consume(len);
      frames.push({ header: decodeHeader(whole.subarray(LEN_SIZE)), payload: whole.subarray(LEN_SIZE + HEADER_SIZE) });
    }
    return frames;
  }

  /** Bytes received and not yet part of a whole frame. */
  get pending(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!.subarray(0, n);
  }

  private consume(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = Buffer.from(all.subarray(0, n));
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }
}
