// Splits a libpcap capture stream (what `tcpdump -w -` writes) into Ethernet frames, chunk by
// chunk as they arrive on a pipe. Pure; both byte orders and the nanosecond variant.

const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;
const LINKTYPE_ETHERNET = 1;
const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;

export class PcapStreamReader {
  private buf: Buffer = Buffer.alloc(0);
  private littleEndian?: boolean;

  /** Why the stream cannot be read; once set, every push answers it. */
  private error?: string;

  /** Feeds bytes; the frames completed by them, or why the stream is not Ethernet pcap. */
  push(chunk: Uint8Array): { frames: Buffer[] } | { error: string } {
    if (this.error !== undefined) return { error: this.error };
    this.buf = Buffer.concat([this.buf, chunk]);
    if (this.littleEndian === undefined) {
      if (this.buf.length < GLOBAL_HEADER) return { frames: [] };
      const le = this.buf.readUInt32LE(0);
      const be = this.buf.readUInt32BE(0);
      if (le === MAGIC_US || le === MAGIC_NS) this.littleEndian = true;
      else if (be === MAGIC_US || be === MAGIC_NS) this.littleEndian = false;
      else {
        this.error = 'not a pcap stream';
        return { error: this.error };
      }
      const link = this.littleEndian ? this.buf.readUInt32LE(20) : this.buf.readUInt32BE(20);
      if ((link & 0xffff) !== LINKTYPE_ETHERNET) {
        this.error = `pcap link type ${link} is not Ethernet`;
        return { error: this.error };
      }
      this.buf = this.buf.subarray(GLOBAL_HEADER);
    }
    const frames: Buffer[] = [];
    while (this.buf.length >= RECORD_HEADER) {
      const captured = this.littleEndian ? this.buf.readUInt32LE(8) : this.buf.readUInt32BE(8);
      if (this.buf.length < RECORD_HEADER + captured) break;
      frames.push(Buffer.from(this.buf.subarray(RECORD_HEADER, RECORD_HEADER + captured)));
      this.buf = this.buf.subarray(RECORD_HEADER + captured);
    }
    return { frames };
  }
}
