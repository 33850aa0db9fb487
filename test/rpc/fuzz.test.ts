// 10,000 mutated frames, seeded from libvirt 9.0's captured frames (and calls virsh makes), sent
// to the RPC server in pipelined batches on open connections: bytes flipped, words replaced by
// edge values, payloads cut or grown, frames spliced, header fields changed. Every connection
// must either answer (libvirt's reply or error reply, serial echoed) up to a final probe call or be
// closed — never hang — and the server must keep serving, with records on disk that load back
// to exactly the state it holds (no half-applied change).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { encodeFrame, FrameSplitter, STATUS, TYPE, type Header } from '../../src/rpc/framing.js';
import { RpcServer } from '../../src/rpc/server.js';
import { openDaemon, tempRoot } from '../daemon/support.js';
import { rng } from '../support/mutate.js';
import { T } from '../../src/rpc/remote-types.js';
import { encode } from '../../src/rpc/xdr.js';
import { readCapture } from './capture.js';

const SEED = 0x11c0ffee;
const FRAMES = 10_000;
const PER_CONNECTION = 100;
const REMOTE = 0x20008086;

const call = (proc: number, serial: number, payload: Buffer): { header: Header; payload: Buffer } => ({
  header: { prog: REMOTE, vers: 1, proc, type: TYPE.call, serial, status: STATUS.ok },
  payload,
});
const hex = (h: string) => Buffer.from(h.replace(/ /g, ''), 'hex');

/** Calls virsh makes that the captures do not hold (list-all, lookups, defines). */
const EXTRA = [
  call(283, 0, hex('00000001 00000003')),
  call(286, 0, hex('00000001 00000000')),
  call(401, 0, hex('00000001 00000000')),
  call(175, 0, hex('0000000d 636c6561 6e2d7472 61666669 63000000')),
  call(
    180,
    0,
    Buffer.concat([
      hex('0000002c'),
      Buffer.from("<filter name='fz'><rule action='drop' direction='out'/></filter>".slice(0, 44)),
    ]),
  ),
  call(
    41,
    0,
    Buffer.concat([
      hex('00000030'),
      Buffer.from("<network><name>fz</name><bridge name='fzbr'/></network>".slice(0, 48)),
    ]),
  ),
  call(313, 0, hex('00000000 00000000')),
];

/** A mutated frame; `hostileLength`: its length word was replaced (the server may wait for bytes that never come). */
function mutate(
  seed: { header: Header; payload: Buffer },
  r: () => number,
  others: readonly { payload: Buffer }[],
): { frame: Buffer; hostileLength: boolean } {
  const header = { ...seed.header };
  let payload = Buffer.from(seed.payload);
  const edge = [0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 16, 17, 4194304, 4194305, 33554432];
  const word = () => edge[Math.floor(r() * edge.length)]!;
  const steps = 1 + Math.floor(r() * 3);
  for (let i = 0; i < steps; i++) {
    const kind = Math.floor(r() * 8);
    if (kind === 0 && payload.length) payload[Math.floor(r() * payload.length)] ^= 1 << Math.floor(r() * 8);
    else if (kind === 1 && payload.length >= 4)
      payload.writeUInt32BE(word(), Math.floor(r() * Math.floor(payload.length / 4)) * 4);
    else if (kind === 2) payload = payload.subarray(0, Math.floor(r() * payload.length));
    else if (kind === 3)
      payload = Buffer.concat([
        payload,
        Buffer.from(Array.from({ length: Math.floor(r() * 64) }, () => Math.floor(r() * 256))),
      ]);
    else if (kind === 4)
      payload = Buffer.concat([
        payload.subarray(0, Math.floor(r() * payload.length)),
        others[Math.floor(r() * others.length)]!.payload,
      ]);
    else if (kind === 5) header.proc = Math.floor(r() * 450) - 2;
    else if (kind === 6) [header.type, header.status] = [Math.floor(r() * 8), r() < 0.8 ? 0 : Math.floor(r() * 4)];
    else if (kind === 7) [header.prog, header.vers] = r() < 0.5 ? [0x6b656570, 1] : [REMOTE, r() < 0.5 ? 1 : word()];
  }
  const frame = encodeFrame(header, payload);
  // mostly a consistent length word, so the mutation reaches the decoder; sometimes a hostile one
  const hostileLength = r() < 0.005;
  if (hostileLength) frame.writeUInt32BE(word(), 0);
  return { frame, hostileLength };
}

interface Outcome {
  replies: number;
  probeAnswered: boolean;
  closed: boolean;
}

/**
 * Sends the handshake, the batch and a probe call; waits for the probe's reply or the close. A
 * batch ending in a frame with a hostile length has no probe: the server either refuses the
 * length (closes) or waits for the rest, and closes once the client ends its side.
 */
function session(path: string, uri: string, batch: Buffer[], endsHostile = false): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    const splitter = new FrameSplitter();
    const out: Outcome = { replies: 0, probeAnswered: false, closed: false };
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`hang: ${out.replies} replies, no probe reply and no close`));
    }, 20_000);
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(out);
    };
    s.on('data', (d) => {
      for (const f of splitter.push(d)) {
        out.replies++;
        if (f.header.serial === 0xabcdef && f.header.proc === 66) {
          out.probeAnswered = true;
          done();
        }
      }
    });
    s.on('close', () => {
      out.closed = true;
      done();
    });
    s.on('error', () => undefined);
    const openArgs = encode(T.connectOpenArgs, { name: uri, flags: 0 });
    const probe = encodeFrame(call(66, 0xabcdef, Buffer.alloc(0)).header);
    s.write(
      Buffer.concat([encodeFrame(call(1, 1, openArgs).header, openArgs), ...batch, ...(endsHostile ? [] : [probe])]),
    );
    if (endsHostile) setTimeout(() => s.end(), 200);
  });
}

describe('RPC server fuzz', () => {
  it(`survives ${FRAMES} mutated frames: answers or closes, never hangs, keeps its state whole`, async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const { daemon } = await openDaemon(root);
    const server = new RpcServer(daemon, pino({ level: 'silent' }), { keepalive: { interval: 0, count: 0 } });
    t.after(() => server.close());
    const sockets = { network: join(root, 'net-sock'), nwfilter: join(root, 'nwf-sock') };
    await server.listen({ path: sockets.network, driver: 'network', readonly: false });
    await server.listen({ path: sockets.nwfilter, driver: 'nwfilter', readonly: false });

    const seeds = [...readCapture('virtnetworkd'), ...readCapture('virtnwfilterd')]
      .filter((f) => f.toServer && f.header.proc !== 2)
      .map((f) => ({ header: f.header, payload: f.payload }));
    seeds.push(...EXTRA);
    const r = rng(SEED);
    let answered = 0;
    let closed = 0;
    let replies = 0;
    for (let sent = 0, n = 0; sent < FRAMES; sent += PER_CONNECTION, n++) {
      const batch: Buffer[] = [];
      let endsHostile = false;
      while (batch.length < PER_CONNECTION && !endsHostile) {
        const m = mutate(seeds[Math.floor(r() * seeds.length)]!, r, seeds);
        batch.push(m.frame);
        endsHostile = m.hostileLength;
      }
      sent += batch.length - PER_CONNECTION;
      const driver = n % 2 ? 'network' : 'nwfilter';
      const o = await session(sockets[driver], `${driver}:///system`, batch, endsHostile);
      assert.ok(o.probeAnswered || o.closed, `seed ${SEED} connection ${n}`);
      replies += o.replies;
      if (o.probeAnswered) answered++;
      else closed++;
    }
    t.diagnostic(
      `seed ${SEED}: ${replies} replies; ${answered} connections answered everything, ${closed} closed on a bad frame or CONNECT_CLOSE`,
    );
    assert.ok(answered > 0 && closed > 0, 'both outcomes happened');
    assert.ok(replies > FRAMES / 2, 'most mutated calls reached the dispatcher and got an answer');

    // still serving, and what it holds is what its records load back to
    const probe = await session(sockets.network, 'network:///system', []);
    assert.ok(probe.probeAnswered);
    const reloaded = (await openDaemon(root)).daemon;
    assert.deepEqual(
      reloaded.filters.list().map((f) => [f.name, f.uuid]),
      daemon.filters.list().map((f) => [f.name, f.uuid]),
    );
    assert.deepEqual(reloaded.networks.list(), daemon.networks.list());
    assert.deepEqual(
      reloaded.bindings.list().map((b) => b.portdev),
      daemon.bindings.list().map((b) => b.portdev),
    );
    assert.deepEqual(reloaded.ports.list(), daemon.ports.list());
  });
});
