// Raw frames to and from an RPC socket, for tests that speak the protocol themselves.
import { connect } from 'node:net';
import { encodeFrame, FrameSplitter } from '../../src/rpc/framing.js';

/** Sends `frames` on one connection (pipelined) and collects `count` reply frames. */
export function exchange(path: string, frames: Buffer[], count: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    const splitter = new FrameSplitter();
    const got: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`timeout: ${got.length} of ${count} replies`));
    }, 10_000);
    s.on('data', (d) => {
      for (const f of splitter.push(d)) got.push(encodeFrame(f.header, f.payload));
      if (got.length >= count) {
        clearTimeout(timer);
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', reject);
    s.write(Buffer.concat(frames));
  });
}
