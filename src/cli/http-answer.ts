// The daemon's answer to one HTTP/1.1 request, read from the bytes of the connection as they
// come: the status line, the headers it frames the body by (content-length, chunked transfer
// coding, else until the daemon closes) and the body as UTF-8 text, handed on piece by piece (a
// streamed NDJSON answer) or whole. node:http does the same with its agent, parser and streams,
// which cost a short-lived command (a hook's bind) about as much as the daemon's work on it.

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
/** Far above any head the daemon sends: a peer that never ends its head is not read forever. */
const MAX_HEAD = 64 * 1024;

export class HttpAnswer {
  /** The status code, once the head is read. */
  status: number | undefined;
  /** True once the body is complete by its framing (or, unframed, once `end` is called). */
  complete = false;
  private pending: Buffer = Buffer.alloc(0);
  /** Bytes of the body (or of the current chunk) still to come; undefined: read until the close. */
  private left: number | undefined;
  private chunked = false;
  /** In chunked coding: expecting the CRLF after a chunk's data. */
  private chunkEnd = false;
  private readonly decoder = new TextDecoder('utf-8');

  constructor(
    /** Body text as it is decoded. */
    private readonly onText: (text: string) => void,
  ) {}

  /** Takes the next bytes of the connection; throws on a malformed answer. */
  push(data: Buffer): void {
    this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
    if (this.status === undefined && !this.readHead()) return;
    while (!this.complete && this.pending.length > 0 && this.readBody());
  }

  /** The connection ended: true when the answer was complete (a body framed by the close is, then). */
  end(): boolean {
    if (this.status !== undefined && this.left === undefined && !this.chunked) this.finish();
    return this.complete;
  }

  private readHead(): boolean {
    const at = this.pending.indexOf(HEAD_END);
    if (at < 0) {
      if (this.pending.length > MAX_HEAD) throw new Error('the answer has no end of its head');
      return false;
    }
    const [statusLine, ...fields] = this.pending.subarray(0, at).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(statusLine!);
    if (!m) throw new Error(`malformed status line '${statusLine}'`);
    const headers = new Map<string, string>();
    for (const f of fields) {
      const colon = f.indexOf(':');
      if (colon > 0) headers.set(f.slice(0, colon).trim().toLowerCase(), f.slice(colon + 1).trim());
    }
    this.pending = this.pending.subarray(at + HEAD_END.length);
    this.status = Number(m[1]);
    const coding = headers.get('transfer-encoding');
    const length = headers.get('content-length');
    if (coding !== undefined) {
      if (coding.toLowerCase() !== 'chunked') throw new Error(`unsupported transfer-encoding '${coding}'`);
      this.chunked = true;
    } else if (length !== undefined) {
      if (!/^\d+$/.test(length)) throw new Error(`malformed content-length '${length}'`);
      this.left = Number(length);
      if (this.left === 0) this.finish();
    }
    return true;
  }

  /** Reads what it can of the body; false when it needs more bytes. */
  private readBody(): boolean {
    if (!this.chunked) {
      const take = this.left === undefined ? this.pending : this.pending.subarray(0, this.left);
      this.text(take);
      this.pending = this.pending.subarray(take.length);
      if (this.left !== undefined) {
        this.left -= take.length;
        if (this.left === 0) this.finish();
      }
      return false;
    }
    if (this.chunkEnd) {
      if (this.pending.length < CRLF.length) return false;
      if (!this.pending.subarray(0, CRLF.length).equals(CRLF)) throw new Error('malformed chunk end');
      this.pending = this.pending.subarray(CRLF.length);
      this.chunkEnd = false;
      return true;
    }
    if (this.left === undefined || this.left === 0) {
      const eol = this.pending.indexOf(CRLF);
      if (eol < 0) return false;
      // the size, before any chunk extension
      const size = this.pending.subarray(0, eol).toString('latin1').split(';')[0]!.trim();
      if (!/^[0-9A-Fa-f]{1,8}$/.test(size)) throw new Error(`malformed chunk size '${size}'`);
      this.pending = this.pending.subarray(eol + CRLF.length);
      this.left = Number.parseInt(size, 16);
      // the last chunk: trailers, if any, are of no use here
      if (this.left === 0) this.finish();
      return true;
    }
    const take = this.pending.subarray(0, this.left);
    this.text(take);
    this.pending = this.pending.subarray(take.length);
    this.left -= take.length;
    if (this.left === 0) this.chunkEnd = true;
    return true;
  }

  private text(bytes: Buffer): void {
    const s = this.decoder.decode(bytes, { stream: true });
    if (s !== '') this.onText(s);
  }

  private finish(): void {
    this.complete = true;
    const rest = this.decoder.decode();
    if (rest !== '') this.onText(rest);
  }
}
