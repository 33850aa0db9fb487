// The frames of a capture between virtqemud and libvirt 9.0's real virtnetworkd/virtnwfilterd
// (test/rpc/captures, vendored from the xdrtap proxy's output): header fields and payload words.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Header } from '../../src/rpc/framing.js';

export interface CapturedFrame {
  conn: string;
  /** C>S: client to server. */
  toServer: boolean;
  header: Header;
  payload: Buffer;
}

const TYPES: Record<string, number> = { CALL: 0, REPLY: 1, MESSAGE: 2 };

export function readCapture(name: 'virtnetworkd' | 'virtnwfilterd'): CapturedFrame[] {
  const lines = readFileSync(join(import.meta.dirname, 'captures', `tap-qemud-${name}.txt`), 'utf8').split('\n');
  const frames: CapturedFrame[] = [];
  for (const line of lines) {
    const m =
      /^\S+ (c\d+) (C>S|S>C) len=(\d+) prog=\S+\((0x[0-9a-f]+)\) vers=(\d+) proc=(\d+):\S+ type=(\w+) serial=(\d+) status=(\d+)$/.exec(
        line,
      );
    if (m) {
      const header = {
        prog: Number(m[4]),
        vers: Number(m[5]),
        proc: Number(m[6]),
        type: TYPES[m[7]!]!,
        serial: Number(m[8]),
        status: Number(m[9]),
      };
      frames.push({ conn: m[1]!, toServer: m[2] === 'C>S', header, payload: Buffer.alloc(0) });
      if (Number(m[3]) !== 28) frames.at(-1)!.payload = Buffer.alloc(Number(m[3]) - 28, 0xff); // replaced by the payload line
      continue;
    }
    const p = /^\s+payload ((?:[0-9a-f]+ ?)+)$/.exec(line);
    if (p) frames.at(-1)!.payload = Buffer.from(p[1]!.replace(/ /g, ''), 'hex');
  }
  return frames;
}

/** The conversations of a capture, in order: connection name -> its frames. */
export function conversations(frames: readonly CapturedFrame[]): Map<string, CapturedFrame[]> {
  const out = new Map<string, CapturedFrame[]>();
  for (const f of frames) out.set(f.conn, [...(out.get(f.conn) ?? []), f]);
  return out;
}
