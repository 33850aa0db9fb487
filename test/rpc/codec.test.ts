// Golden XDR vectors: every frame virtqemud and libvirt 9.0's real virtnetworkd/virtnwfilterd
// exchanged while a guest started, reconnected and stopped (test/rpc/captures). Each payload
// decodes with the procedure table's structure to the values libvirt sent and encodes back to
// the same bytes; then the whole conversations are replayed against virtwall's server and its
// replies are the bytes the real daemons sent.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pino } from 'pino';
import { decode, encode, XdrError, xdr } from '../../src/rpc/xdr.js';
import { PROCEDURES } from '../../src/rpc/procedures.js';
import { encodeFrame, FrameError, FrameSplitter, STATUS, TYPE } from '../../src/rpc/framing.js';
import { RpcServer } from '../../src/rpc/server.js';
import { messageError } from '../../src/rpc/remote-types.js';
import { openDaemon, tempRoot } from '../daemon/support.js';
import { cli, daemonFixture, startDaemon, stopAll } from '../daemon/process.js';
import { canUseNetns } from '../support/netns.js';
import { socketOf } from './clients.js';
import { exchange } from './wire.js';
import { conversations, readCapture, type CapturedFrame } from './capture.js';

const captures = { network: readCapture('virtnetworkd'), nwfilter: readCapture('virtnwfilterd') };
const typeOf = (f: CapturedFrame) => {
  const proc = PROCEDURES.get(f.header.proc);
  assert.ok(proc, `procedure ${f.header.proc}`);
  return f.toServer ? proc.args : proc.ret;
};
const uuidHex = (u: string) => Buffer.from(u.replace(/-/g, ''), 'hex');

describe('XDR codec against libvirt 9.0 captures', () => {
  it('decodes every captured payload and encodes it back byte for byte', () => {
    let n = 0;
    for (const frames of Object.values(captures)) {
      for (const f of frames) {
        const value = decode(typeOf(f), f.payload);
        assert.deepEqual(encode(typeOf(f), value), f.payload, `${f.conn} proc ${f.header.proc}`);
        n++;
      }
    }
    assert.equal(n, 92, 'frames in the two captures (grep -c len=)');
  });

  it('reads the values libvirt sent', () => {
    const net = captures.network;
    const first = (proc: number, toServer: boolean) =>
      decode(
        typeOf(net.find((f) => f.header.proc === proc && f.toServer === toServer)!),
        net.find((f) => f.header.proc === proc && f.toServer === toServer)!.payload,
      ) as Record<string, unknown>;
    assert.deepEqual(first(66, false), { types: [0] });
    assert.deepEqual(first(60, true), { feature: 10 });
    assert.deepEqual(first(60, false), { supported: 1 });
    assert.deepEqual(first(1, true), { name: 'network:///system', flags: 0 });
    const identity = first(419, true) as { params: { field: string; value: { type: number; value: unknown } }[] };
    assert.deepEqual(
      identity.params.map((p) => [p.field, p.value.type]),
      [
        ['user-name', 7],
        ['unix-user-id', 4],
        ['group-name', 7],
        ['unix-group-id', 4],
        ['process-id', 3],
        ['process-time', 4],
      ],
    );
    assert.equal(identity.params[0]!.value.value, 'root');
    assert.equal(identity.params[4]!.value.value, 0x7730n);
    const ab53 = uuidHex('ab5301e7-ec3d-48fc-bf5e-e37a616e5673');
    assert.deepEqual(first(46, false), { net: { name: 'default', uuid: ab53 } });
    const create = first(406, true);
    assert.deepEqual(create['network'], { name: 'default', uuid: ab53 });
    assert.match(String(create['xml']), /^<networkport>\n {2}<uuid>34b72dda-0ac2-4bf1-aa81-8e353f736334<\/uuid>/);
    assert.equal(create['flags'], 0);
    assert.deepEqual(first(406, false), {
      port: { net: { name: 'default', uuid: ab53 }, uuid: uuidHex('34b72dda-0ac2-4bf1-aa81-8e353f736334') },
    });
    assert.match(String(first(409, false)['xml']), /<plug type='network' bridge='virbr0'\/>\n<\/networkport>\n$/);
    const nwf = captures.nwfilter.find((f) => f.header.proc === 399 && !f.toServer)!;
    assert.deepEqual(decode(typeOf(nwf), nwf.payload), { nwfilter: { portdev: 'vnet1', filtername: 'clean-traffic' } });
  });

  it('refuses what libvirt would not send: bad lengths, non-UTF-8 and NUL in strings, trailing bytes', () => {
    const str = xdr.string(16);
    assert.deepEqual(decode(str, Buffer.from('0000000361626300', 'hex')), 'abc');
    for (const hex of [
      `00000011${'00'.repeat(20)}`,
      '00000003616263',
      '0000000361006300',
      '00000002ffff0000',
      '000000036162630000000000',
      'ffffffff',
    ]) {
      assert.throws(() => decode(str, Buffer.from(hex, 'hex')), XdrError, hex);
    }
    assert.throws(() => decode(xdr.array(xdr.int, 1000), Buffer.from('00000005', 'hex')), /beyond the payload/);
    assert.throws(() => decode(xdr.optional(xdr.int), Buffer.from('0000000200000000', 'hex')), /optional marker/);
  });

  it('splits frames wherever the bytes are cut and refuses lengths outside libvirt limits', () => {
    const frames = captures.network.map((f) => encodeFrame(f.header, f.payload));
    const stream = Buffer.concat(frames);
    for (const size of [1, 3, 7, 1000]) {
      const s = new FrameSplitter();
      const got = [];
      for (let i = 0; i < stream.length; i += size) got.push(...s.push(stream.subarray(i, i + size)));
      assert.equal(got.length, frames.length);
      assert.deepEqual(
        got.map((f) => f.payload),
        captures.network.map((f) => f.payload),
      );
      assert.equal(s.pending, 0);
    }
    assert.throws(() => new FrameSplitter().push(Buffer.from('0000001b', 'hex')), FrameError);
    // libvirt's own limit: 32 MiB after the length word (virNetMessageDecodeLength)
    assert.throws(() => new FrameSplitter().push(Buffer.from('02000005', 'hex')), /too large/);
    assert.deepEqual(
      new FrameSplitter().push(Buffer.from('02000004', 'hex')),
      [],
      'the largest frame libvirt allows is waited for',
    );
    // the message virsh printed before this server existed: "packet 1213486156 bytes ... too large"
    assert.equal(Buffer.from('HTTP').readUInt32BE(0) - 4, 1213486156);
  });
});

describe("replaying virtqemud's conversations", () => {
  it("answers each captured call with the bytes libvirt's daemons sent", {
    skip: canUseNetns() ? false : 'needs root and ip netns',
  }, async (t) => {
    const { ns, root, file } = daemonFixture(t);
    after(() => stopAll());
    await startDaemon(ns, root);
    // the network the real virtnetworkd had: its XML as it sent it (NETWORK_GET_XML_DESC's reply)
    const xmlReply = captures.network.find((f) => f.header.proc === 43 && !f.toServer)!;
    const xml = (decode(typeOf(xmlReply), xmlReply.payload) as { xml: string }).xml;
    for (const args of [
      ['net-define', file('default.xml', xml)],
      ['net-start', 'default'],
    ])
      assert.equal(cli(root, args).status, 0, args.join(' '));

    for (const driver of ['network', 'nwfilter'] as const) {
      for (const [conn, frames] of conversations(captures[driver])) {
        const calls = frames.filter((f) => f.toServer);
        const want = frames.filter((f) => !f.toServer).map((f) => encodeFrame(f.header, f.payload));
        const got = await exchange(
          socketOf(root, driver),
          calls.map((f) => encodeFrame(f.header, f.payload)),
          want.length,
        );
        for (let i = 0; i < want.length; i++)
          assert.deepEqual(got[i], want[i], `${driver} ${conn} reply to proc ${calls[i]!.header.proc}`);
      }
    }
    // the guest was started and destroyed: nothing is left
    assert.equal(cli(root, ['net-port-list', 'default']).stdout, ' UUID\n-------\n\n');
    assert.equal(cli(root, ['nwfilter-binding-list']).stdout, ' Port Dev   Filter\n--------------------\n\n');
  });

  it('answers a call it cannot decode, an unknown procedure and a call before CONNECT_OPEN with libvirt errors, and goes on', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const { daemon } = await openDaemon(root);
    const server = new RpcServer(daemon, pino({ level: 'silent' }));
    t.after(() => server.close());
    const path = join(root, 'sock');
    await server.listen({ path, driver: 'nwfilter', readonly: false });
    const call = (proc: number, serial: number, payload = Buffer.alloc(0)) =>
      encodeFrame({ prog: 0x20008086, vers: 1, proc, type: TYPE.call, serial, status: STATUS.ok }, payload);
    const replies = await exchange(
      path,
      [
        call(286, 1, Buffer.from('0000000100000000', 'hex')),
        call(9999, 2),
        call(1, 3, Buffer.from('00', 'hex')),
        call(66, 4),
      ],
      4,
    );
    const err = (b: Buffer) => decode(messageError, b.subarray(28)) as Record<string, unknown>;
    assert.deepEqual(
      [err(replies[0]!)['code'], err(replies[0]!)['domain'], err(replies[0]!)['message']],
      [1, 7, 'internal error: connection not open'],
    );
    assert.deepEqual([err(replies[1]!)['code'], err(replies[1]!)['message']], [39, 'unknown procedure: 9999']);
    assert.deepEqual([err(replies[2]!)['code'], err(replies[2]!)['message']], [39, 'Unable to decode message payload']);
    assert.deepEqual(
      replies.map((r) => [r.readUInt32BE(20), r.readUInt32BE(24)]),
      [
        [1, 1],
        [2, 1],
        [3, 1],
        [4, 0],
      ],
      'serials echoed; the last call succeeds',
    );
  });
});
