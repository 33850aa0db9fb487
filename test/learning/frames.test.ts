import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatIpv6, parseFrame } from '../../src/learning/frames.js';
import { PcapStreamReader } from '../../src/learning/pcap-stream.js';
import { arp, dhcp, dhcpv6, ether, ip6, ipv4, ipv6 } from './craft.js';

const G = '52:54:00:00:00:0a';
const S = '52:54:00:00:00:01';

describe('frames', () => {
  it('reads the ARP sender and target', () => {
    assert.deepEqual(parseFrame(arp(G, 1, '10.0.0.5', '10.0.0.1'))?.arp, {
      op: 1,
      senderIp: '10.0.0.5',
      targetIp: '10.0.0.1',
    });
  });

  it('reads IPv4 and IPv6 headers and looks into 802.1Q tags', () => {
    assert.deepEqual(parseFrame(ipv4(S, G, '10.0.0.5', '10.0.0.1'))?.ipv4, {
      src: '10.0.0.5',
      dst: '10.0.0.1',
      protocol: 6,
    });
    const tagged = ipv4(S, G, '10.0.0.7', '10.0.0.1');
    const withTag = Uint8Array.from([...tagged.subarray(0, 12), 0x81, 0x00, 0x00, 0x05, ...tagged.subarray(12)]);
    assert.equal(parseFrame(withTag)?.ipv4?.src, '10.0.0.7');
    assert.deepEqual(parseFrame(ipv6(S, G, '2001:db8::5', 'fe80::1'))?.ipv6, {
      src: '2001:db8::5',
      dst: 'fe80::1',
      nextHeader: 59,
    });
  });

  it('formats IPv6 like inet_ntop', () => {
    for (const a of ['2001:db8::5', '::', 'fe80::1:0:0:1', '2001:db8:0:1:1:1:1:1', '1::', '2001:0:0:1::1']) {
      assert.equal(formatIpv6(Uint8Array.from(ip6(a))), a);
    }
  });

  it('reads a DHCP ACK: type, addresses, lease time, server, client MAC', () => {
    const f = parseFrame(
      dhcp(G, S, '10.0.0.1', '10.0.0.5', { type: 5, chaddr: G, yiaddr: '10.0.0.5', lease: 3600, server: '10.0.0.1' }),
    );
    assert.deepEqual(f?.dhcp, {
      op: 2,
      chaddr: G,
      ciaddr: '0.0.0.0',
      yiaddr: '10.0.0.5',
      type: 5,
      leaseTime: 3600,
      serverId: '10.0.0.1',
    });
  });

  it('refuses DHCP with a bad magic, two message types or two lease times, or overrunning options', () => {
    const ok = { type: 5, chaddr: G, yiaddr: '10.0.0.5', lease: 60 };
    const frame = (extra: number[]) => parseFrame(dhcp(G, S, '10.0.0.1', '10.0.0.5', { ...ok, extra }));
    assert.ok(frame([])?.dhcp);
    assert.equal(frame([53, 1, 5])?.dhcp, undefined);
    assert.equal(frame([51, 4, 0, 0, 0, 9])?.dhcp, undefined);
    assert.equal(frame([12, 40, 1])?.dhcp, undefined);
    const bad = dhcp(G, S, '10.0.0.1', '10.0.0.5', ok);
    bad[14 + 20 + 8 + 236] = 98;
    assert.equal(parseFrame(bad)?.dhcp, undefined);
  });

  it('reads DHCPv6 addresses whose status is Success only', () => {
    const reply = (spec: Parameters<typeof dhcpv6>[4]) => parseFrame(dhcpv6(G, S, 'fe80::1', 'fe80::a', spec))?.dhcpv6;
    const m = reply({
      type: 7,
      addresses: [
        { address: '2001:db8::10', valid: 300 },
        { address: '2001:db8::11', valid: 0, status: 2 },
      ],
    });
    assert.equal(m?.type, 7);
    assert.deepEqual(m?.addresses, [{ address: '2001:db8::10', validLifetime: 300 }]);
    assert.equal(m?.clientDuid, '00030001010203040506');
    assert.deepEqual(
      reply({ type: 7, addresses: [{ address: '2001:db8::10', valid: 300 }], iaStatus: 2 })?.addresses,
      [],
    );
  });

  it('never throws on truncated or random frames', () => {
    const frames = [
      dhcp(G, S, '10.0.0.1', '10.0.0.5', { type: 5, chaddr: G, lease: 1 }),
      dhcpv6(G, S, 'fe80::1', 'fe80::a', { type: 7, addresses: [{ address: '2001:db8::1', valid: 1 }] }),
      arp(G, 2, '1.2.3.4', '1.2.3.5'),
    ];
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    for (const f of frames) {
      for (let n = 0; n <= f.length; n++) parseFrame(f.subarray(0, n));
      for (let i = 0; i < 300; i++) {
        const m = Uint8Array.from(f);
        m[14 + (rnd() % (m.length - 14))] = rnd() & 0xff;
        parseFrame(m);
      }
    }
    assert.deepEqual(parseFrame(ether(G, S, 0x0800, [])), { dstMac: G, srcMac: S });
  });
});

describe('pcap stream', () => {
  const header = (le: boolean) => {
    const b = Buffer.alloc(24);
    if (le) {
      b.writeUInt32LE(0xa1b2c3d4, 0);
      b.writeUInt32LE(1, 20);
    } else {
      b.writeUInt32BE(0xa1b23c4d, 0);
      b.writeUInt32BE(1, 20);
    }
    return b;
  };
  const record = (le: boolean, data: Uint8Array) => {
    const h = Buffer.alloc(16);
    (le ? h.writeUInt32LE : h.writeUInt32BE).call(h, data.length, 8);
    (le ? h.writeUInt32LE : h.writeUInt32BE).call(h, data.length + 10, 12);
    return Buffer.concat([h, data]);
  };

  for (const le of [true, false]) {
    it(`splits a ${le ? 'little' : 'big'}-endian stream fed in odd chunks`, () => {
      const frames = [arp(G, 1, '10.0.0.5', '10.0.0.1'), ipv4(S, G, '10.0.0.5', '10.0.0.1')];
      const stream = Buffer.concat([header(le), ...frames.map((f) => record(le, f))]);
      const r = new PcapStreamReader();
      const out: Buffer[] = [];
      for (let i = 0; i < stream.length; i += 7) {
        const read = r.push(stream.subarray(i, i + 7));
        assert.ok('frames' in read);
        out.push(...read.frames);
      }
      assert.deepEqual(
        out.map((b) => [...b]),
        frames.map((f) => [...f]),
      );
    });
  }

  it('refuses a stream that is not Ethernet pcap', () => {
    const notPcap = new PcapStreamReader();
    assert.deepEqual(notPcap.push(Buffer.alloc(24, 1)), { error: 'not a pcap stream' });
    assert.deepEqual(notPcap.push(header(true)), { error: 'not a pcap stream' }, 'and stays refused');
    const h = header(true);
    h.writeUInt32LE(113, 20);
    assert.deepEqual(new PcapStreamReader().push(h), { error: 'pcap link type 113 is not Ethernet' });
  });
});
