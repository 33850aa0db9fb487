// The rtnetlink codec by value. Requests are checked byte for byte against what iproute2's `ip`
// sends for the same operation (iproute2-requests.txt, captured with strace by
// capture-iproute2.sh; sequence numbers zeroed): the link lookup by name `ip` makes first, then
// its change. Answers are parsed from messages laid out as the kernel writes them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  attr,
  attrString,
  attrU32,
  encodeMessage,
  NLM_F,
  NLMSG,
  parseAttrs,
  parseError,
  parseMessages,
  Struct,
} from '../../src/netlink/message.js';
import * as rt from '../../src/netlink/rtnetlink.js';
import { parseIp, type IpAddress } from '../../src/util/address.js';

const captured = new Map<string, string[]>();
{
  let command = '';
  for (const line of readFileSync(new URL('./iproute2-requests.txt', import.meta.url), 'utf8').split('\n')) {
    if (line.startsWith('# ')) {
      command = line.slice(2);
      captured.set(command, []);
    } else if (line !== '') captured.get(command)!.push(line);
  }
}
const ip = (text: string): IpAddress => parseIp(text)!;
const hex = (...messages: Buffer[]) => messages.map((m) => m.toString('hex'));
/** nb0 and nb1 were the capture namespace's second and third links. */
const NB0 = 2;
const NB1 = 3;
const lookup = (name: string) => rt.getLink(0, { name });

describe('rtnetlink requests, as iproute2 sends them', () => {
  const cases: [string, Buffer[]][] = [
    [
      'ip link add name nb0 address 52:54:00:01:02:03 type bridge forward_delay 200 stp_state 1',
      [rt.newBridge(0, { name: 'nb0', mac: [0x52, 0x54, 0, 1, 2, 3], forwardDelay: 200, stp: true })],
    ],
    [
      'ip link add name nb1 type bridge forward_delay 0 stp_state 0',
      [rt.newBridge(0, { name: 'nb1', forwardDelay: 0, stp: false })],
    ],
    ['ip link set dev nb0 mtu 9000', [lookup('nb0'), rt.setMtu(0, NB0, 9000)]],
    ['ip link set dev nb0 up', [lookup('nb0'), rt.setUp(0, NB0)]],
    ['ip addr add 192.168.77.1/24 dev nb0', [lookup('nb0'), rt.newAddress(0, NB0, ip('192.168.77.1'), 24)]],
    ['ip addr add 2001:db8::1/64 dev nb0', [lookup('nb0'), rt.newAddress(0, NB0, ip('2001:db8::1'), 64)]],
    [
      'ip route add 10.9.0.0/16 via 192.168.77.5 dev nb0 metric 7',
      [
        lookup('nb0'),
        rt.newRoute(0, { dst: ip('10.9.0.0'), prefix: 16, gateway: ip('192.168.77.5'), index: NB0, metric: 7 }),
      ],
    ],
    [
      'ip route add 2001:db8:5::/48 via 2001:db8::5 dev nb0',
      [lookup('nb0'), rt.newRoute(0, { dst: ip('2001:db8:5::'), prefix: 48, gateway: ip('2001:db8::5'), index: NB0 })],
    ],
    ['ip link del dev nb1', [lookup('nb1'), rt.delLink(0, NB1)]],
    ['ip addr del 192.168.77.1/24 dev nb0', [lookup('nb0'), rt.delAddress(0, NB0, ip('192.168.77.1'), 24)]],
    ['ip link set dev nb0 down', [lookup('nb0'), rt.setDown(0, NB0)]],
    ['ip link set dev nb0 name vw~2 group 1987510273', [lookup('nb0'), rt.renameIntoGroup(0, NB0, 'vw~2', 1987510273)]],
    ['ip link del group 1987510273', [rt.delGroup(0, 1987510273)]],
  ];
  for (const [command, ours] of cases) {
    it(command, () => {
      const theirs = captured.get(command);
      assert.ok(theirs, `no capture of '${command}'`);
      assert.deepEqual(hex(...ours), theirs);
    });
  }

  it('puts the sequence number in the header', () => {
    assert.equal(rt.setUp(0x01020304, 5).readUInt32LE(8), 0x01020304);
  });

  it('asks for a dump of one family', () => {
    const [m] = parseMessages(rt.dumpRoutes(9, 'ipv6'));
    assert.equal(m!.type, rt.RTM.GETROUTE);
    assert.equal(m!.flags, NLM_F.REQUEST | NLM_F.DUMP);
    assert.equal(m!.payload[0], 10); // AF_INET6
  });
});

/** An RTM_NEWROUTE as the kernel reports one: rtmsg, then attributes. */
function routeMessage(family: number, dstLen: number, table: number, attrs: Buffer[]): Buffer {
  const body = new Struct(12).u8(0, family).u8(1, dstLen).u8(4, table).u8(5, 2).u8(7, 1).buf;
  return encodeMessage({ type: rt.RTM.NEWROUTE, flags: NLM_F.MULTI, seq: 1, pid: 77 }, body, attrs);
}

describe('rtnetlink answers', () => {
  it('reads routes as `ip -j route` names their destinations', () => {
    const dst = (bytes: number[]) => attr(1, Buffer.from(bytes));
    const messages = parseMessages(
      Buffer.concat([
        routeMessage(2, 24, 254, [dst([192, 168, 1, 0]), attrU32(4, 5)]),
        routeMessage(2, 0, 254, [attr(5, Buffer.from([10, 0, 0, 1])), attrU32(4, 2)]),
        routeMessage(2, 32, 255, [dst([10, 0, 0, 7]), attrU32(4, 2)]),
        // a table above 255 is given by RTA_TABLE (rtm_table then says RT_TABLE_COMPAT)
        routeMessage(10, 48, 252, [
          attrU32(15, 1000),
          dst([0x20, 0x01, 0x0d, 0xb8, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ]),
        routeMessage(7, 8, 254, []),
      ]),
    );
    assert.deepEqual(messages.map(rt.parseRoute), [
      { table: 254, dst: '192.168.1.0/24', oif: 5 },
      { table: 254, dst: 'default', oif: 2 },
      { table: 255, dst: '10.0.0.7', oif: 2 },
      { table: 1000, dst: '2001:db8:5::/48' },
      undefined,
    ]);
  });

  it('reads a link answer: index and name', () => {
    const body = new Struct(16).i32(4, 42).u32(8, 0x1003).buf;
    const [m] = parseMessages(
      encodeMessage({ type: rt.RTM.NEWLINK, flags: 0, seq: 3 }, body, [attrU32(4, 1500), attrString(3, 'virbr7')]),
    );
    assert.deepEqual(rt.parseLink(m!), { index: 42, name: 'virbr7' });
  });

  it('reads a link answer with its group', () => {
    const body = new Struct(16).i32(4, 43).buf;
    const [m] = parseMessages(
      encodeMessage({ type: rt.RTM.NEWLINK, flags: 0, seq: 3 }, body, [attrString(3, 'vw~43'), attrU32(27, 7)]),
    );
    assert.deepEqual(rt.parseLink(m!), { index: 43, name: 'vw~43', group: 7 });
  });

  it('asks for a dump of every link without counters', () => {
    const [m] = parseMessages(rt.dumpLinks(4));
    assert.equal(m!.type, rt.RTM.GETLINK);
    assert.equal(m!.flags, NLM_F.REQUEST | NLM_F.DUMP);
    assert.deepEqual([...parseAttrs(m!.payload, 16).keys()], [29]);
  });

  it('reads errors with and without the extended acknowledgement', () => {
    const request = rt.setUp(3, 9);
    const plain = encodeMessage(
      { type: NLMSG.ERROR, flags: 0, seq: 3 },
      Buffer.concat([new Struct(4).i32(0, -17).buf, request]),
    );
    assert.deepEqual(parseError(parseMessages(plain)[0]!), { errno: 17 });
    // NETLINK_CAP_ACK: only the request's header is echoed; NETLINK_EXT_ACK: the text follows
    const capped = encodeMessage(
      { type: NLMSG.ERROR, flags: 0x100 | 0x200, seq: 3 },
      Buffer.concat([new Struct(4).i32(0, -22).buf, request.subarray(0, 16)]),
      [attrString(1, 'Unknown device type')],
    );
    assert.deepEqual(parseError(parseMessages(capped)[0]!), { errno: 22, text: 'Unknown device type' });
    const ack = encodeMessage(
      { type: NLMSG.ERROR, flags: 0x100, seq: 3 },
      Buffer.concat([Buffer.alloc(4), request.subarray(0, 16)]),
    );
    assert.deepEqual(parseError(parseMessages(ack)[0]!), { errno: 0 });
  });

  it('splits a datagram into its messages and refuses a truncated one', () => {
    const a = rt.setUp(1, 2);
    const b = rt.getLink(2, { name: 'x' });
    assert.deepEqual(
      parseMessages(Buffer.concat([a, b])).map((m) => m.seq),
      [1, 2],
    );
    assert.throws(() => parseMessages(Buffer.concat([a, b.subarray(0, b.length - 4)])), /malformed netlink message/);
  });

  it('reads nested attributes, ignoring the nested flag in their type', () => {
    const data = parseAttrs(Buffer.concat([attr(0x8000 | 18, attrU32(1, 7)), attrString(3, 'br0')]));
    assert.deepEqual([...data.keys()], [18, 3]);
    assert.equal(parseAttrs(data.get(18)!).get(1)!.readUInt32LE(0), 7);
  });
});
