// The RPC server's connection handling, in process over a daemon with a fake host: pipelined
// calls answered in order, keepalive (PONG for PING, PINGs to a silent client, then the close),
// the read-only sockets' smaller frames, max clients, and 1,000 clients served at once.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { encodeFrame, FrameSplitter, PROGRAM, STATUS, TYPE, type Frame } from '../../src/rpc/framing.js';
import { KEEPALIVE_PROC, PING } from '../../src/rpc/keepalive.js';
import { T } from '../../src/rpc/remote-types.js';
import { RpcServer, type RpcServerOptions } from '../../src/rpc/server.js';
import { decode, encode } from '../../src/rpc/xdr.js';
import { openDaemon, tempRoot } from '../daemon/support.js';
import { exchange } from './wire.js';
import { waitFor } from '../../src/util/wait-for.js';
import { setTimeout as sleep } from 'node:timers/promises';

const call = (proc: number, serial: number, payload: Buffer = Buffer.alloc(0)) =>
  encodeFrame({ prog: PROGRAM.remote, vers: 1, proc, type: TYPE.call, serial, status: STATUS.ok }, payload);
const open = (serial: number, driver = 'network') =>
  call(1, serial, encode(T.connectOpenArgs, { name: `${driver}:///system`, flags: 0 }));
const listAll = (serial: number) => call(283, serial, encode(T.listAllArgs, { need_results: 1, flags: 0 }));

async function serve(t: { after: (f: () => void | Promise<void>) => void }, options: RpcServerOptions = {}) {
  const { root, cleanup } = tempRoot();
  t.after(cleanup);
  const { daemon } = await openDaemon(root);
  daemon.networkDefine("<network><name>n1</name><bridge name='vbr1'/></network>");
  const server = new RpcServer(daemon, pino({ level: 'silent' }), options);
  t.after(() => server.close());
  const rw = join(root, 'sock');
  const ro = join(root, 'sock-ro');
  await server.listen({ path: rw, driver: 'network', readonly: false });
  await server.listen({ path: ro, driver: 'network', readonly: true });
  return { server, rw, ro };
}

/** A client that collects frames. */
function client(path: string): Promise<{ socket: Socket; frames: Frame[]; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const splitter = new FrameSplitter();
    const frames: Frame[] = [];
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.on('data', (d) => frames.push(...splitter.push(d)));
    socket.on('connect', () => resolve({ socket, frames, closed }));
    socket.on('error', reject);
  });
}

describe('RPC connections', () => {
  it('answers 50 pipelined calls in order, serials echoed', async (t) => {
    const { rw } = await serve(t);
    const calls = [open(0), ...Array.from({ length: 49 }, (_, i) => listAll(i + 1))];
    const replies = await exchange(rw, calls, 50);
    assert.deepEqual(
      replies.map((r) => r.readUInt32BE(20)),
      Array.from({ length: 50 }, (_, i) => i),
    );
    const last = decode(T.netList, replies[49]!.subarray(28)) as { nets: { name: string }[]; ret: number };
    assert.deepEqual([last.nets.map((n) => n.name), last.ret], [['n1'], 1]);
  });

  it('keepalive: a PING gets a PONG; a client that asked for keepalive and falls silent is pinged, then dropped', async (t) => {
    const { rw } = await serve(t, { keepalive: { interval: 0.1, count: 2 } });
    const c = await client(rw);
    c.socket.write(PING);
    c.socket.write(call(60, 1, encode(T.int('feature'), { feature: 10 })));
    const t0 = Date.now();
    await c.closed;
    const elapsed = Date.now() - t0;
    const kinds = c.frames.map((f) =>
      f.header.prog === PROGRAM.keepalive ? `ka${f.header.proc}` : `r${f.header.serial}`,
    );
    assert.deepEqual(kinds.slice(0, 2), [`ka${KEEPALIVE_PROC.pong}`, 'r1']);
    assert.deepEqual(kinds.slice(2), ['ka1', 'ka1'], 'two unanswered PINGs, then the close');
    assert.ok(elapsed >= 200 && elapsed < 2000, `closed after ${elapsed} ms`);
  });

  it('a client that answers keeps its connection', async (t) => {
    const { rw } = await serve(t, { keepalive: { interval: 0.1, count: 1 } });
    const c = await client(rw);
    c.socket.write(call(60, 1, encode(T.int('feature'), { feature: 10 })));
    const timer = setInterval(
      () =>
        c.socket.write(
          encodeFrame({
            prog: PROGRAM.keepalive,
            vers: 1,
            proc: KEEPALIVE_PROC.pong,
            type: TYPE.message,
            serial: 0,
            status: 0,
          }),
        ),
      50,
    );
    // six keepalive intervals: a client that answers each ping stays
    await sleep(600);
    clearInterval(timer);
    assert.equal(c.socket.destroyed, false);
    c.socket.destroy();
  });

  it('keeps read-only frames small and refuses clients beyond max_clients', async (t) => {
    const { rw, ro, server } = await serve(t, { maxClients: 3, maxReadonlyClients: 1 });
    const big = call(
      41,
      1,
      encode(T.xml, { xml: `<network><name>big</name><description>${'x'.repeat(2 << 20)}</description></network>` }),
    );
    const small = await client(ro);
    small.socket.write(big);
    await small.closed;
    assert.deepEqual(small.frames, [], 'the read-only socket closed without reading 2 MiB');
    const [reply] = await exchange(rw, [open(0), big], 2).then((r) => r.slice(1));
    assert.equal(reply!.readUInt32BE(24), STATUS.ok, 'the read-write socket read it and defined the network');
    // read-only clients have their own, smaller share
    const roHeld = await client(ro);
    const roExtra = await client(ro);
    await roExtra.closed;
    const rwOk = await client(rw);
    assert.deepEqual(await exchange(rw, [call(66, 7)], 1).then((r) => r[0]!.readUInt32BE(20)), 7, 'root still gets in');
    roHeld.socket.destroy();
    rwOk.socket.destroy();
    await waitFor(() => server.clients === 0, {
      what: 'the server to see both clients gone',
      detail: () => `${server.clients} clients`,
    });
    const held = await Promise.all([client(rw), client(rw), client(rw)]);
    const extra = await client(rw);
    await extra.closed;
    for (const h of held) assert.equal(h.socket.destroyed, false);
    for (const h of held) h.socket.destroy();
  });

  it('serves 1,000 clients connected at once', async (t) => {
    // two sockets per client in this process (client and server side)
    if (process.getuid?.() === 0) spawnSync('prlimit', ['--pid', String(process.pid), '--nofile=8192:8192']);
    const { rw, server } = await serve(t);
    const clients = await Promise.all(Array.from({ length: 1000 }, () => client(rw)));
    await waitFor(() => server.clients === 1000, {
      what: 'all 1000 connected at once',
      timeout: 10_000,
      detail: () => `${server.clients} clients`,
    });
    for (const c of clients) c.socket.write(Buffer.concat([call(66, 0), open(1), listAll(2)]));
    await waitFor(() => clients.every((c) => c.frames.length >= 3), {
      what: 'three replies for every client',
      timeout: 30_000,
    });
    for (const c of clients) {
      assert.deepEqual(
        c.frames.map((f) => [f.header.serial, f.header.status]),
        [
          [0, 0],
          [1, 0],
          [2, 0],
        ],
      );
      assert.equal((decode(T.netList, c.frames[2]!.payload) as { ret: number }).ret, 1);
      c.socket.destroy();
    }
  });
});
