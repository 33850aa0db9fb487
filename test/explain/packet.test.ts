// nwfilter-explain's PACKET: microflows checked against the field table (hostile input refused
// with the field named), the frames they describe (headers, checksums a stack would accept),
// and frames read back: offsets past 802.1Q tags and IPv6 extension headers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VirtwallError } from '../../src/errors.js';
import { decodeFrame, parseHexFrame } from '../../src/explain/frame.js';
import { MAX_MICROFLOW, microflowFrame, parseMicroflow } from '../../src/explain/packet.js';

const ETH = 'eth.src=52:54:00:00:00:01,eth.dst=ff:ff:ff:ff:ff:ff';
const frameOf = (text: string) => microflowFrame(parseMicroflow(text));
const u16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;

/** The Internet checksum over `bytes` sums to 0xffff when the stored checksum is right. */
function sums(bytes: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

function refused(text: string, mentions: string | RegExp): void {
  assert.throws(
    () => parseMicroflow(text),
    (e: unknown) =>
      e instanceof VirtwallError &&
      e.kind === 'invalid-input' &&
      (typeof mentions === 'string' ? e.message.includes(mentions) : mentions.test(e.message)),
    `refuses ${text.slice(0, 80)}`,
  );
}

describe('microflow', () => {
  it('writes an IPv4/TCP frame a stack would accept', () => {
    const f = frameOf(`${ETH},ip4.src=10.0.0.9,ip4.dst=10.0.0.1,tcp.dst=22,tcp.flags=syn|ack`);
    assert.deepEqual([...f.subarray(0, 6)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert.deepEqual([...f.subarray(6, 12)], [0x52, 0x54, 0, 0, 0, 1]);
    assert.equal(u16(f, 12), 0x0800);
    const ip = [...f.subarray(14, 34)];
    assert.equal(ip[0], 0x45);
    assert.equal(ip[9], 6);
    assert.deepEqual(ip.slice(12, 16), [10, 0, 0, 9]);
    assert.equal(sums(ip), 0xffff, 'IPv4 header checksum');
    const tcp = [...f.subarray(34, 14 + u16(f, 16))];
    assert.equal(u16(f, 36), 22);
    assert.equal(tcp[13], 0x12, 'SYN|ACK');
    assert.equal(
      sums([10, 0, 0, 9, 10, 0, 0, 1, 0, 6, tcp.length >> 8, tcp.length & 0xff, ...tcp]),
      0xffff,
      'TCP checksum',
    );
  });

  it('writes ARP, RARP, IPv6/ICMPv6 and 802.1Q frames', () => {
    const arp = frameOf(`${ETH},arp.op=reply,arp.spa=10.0.0.1,arp.tpa=10.0.0.2`);
    assert.equal(u16(arp, 12), 0x0806);
    assert.equal(u16(arp, 14 + 6), 2);
    assert.deepEqual([...arp.subarray(14 + 8, 14 + 14)], [0x52, 0x54, 0, 0, 0, 1], 'sender MAC defaults to eth.src');
    assert.deepEqual([...arp.subarray(14 + 14, 14 + 18)], [10, 0, 0, 1]);
    assert.equal(u16(frameOf(`${ETH},rarp`), 12), 0x8035);
    const v6 = frameOf(`${ETH},ip6.src=fe80::1,ip6.dst=ff02::1,icmp6.type=135`);
    assert.equal(u16(v6, 12), 0x86dd);
    assert.equal(v6[14 + 6], 58);
    assert.equal(v6[54], 135);
    const tcp = [...v6.subarray(54)].slice(0, u16(v6, 18));
    const pseudo = [...v6.subarray(22, 54), 0, 0, tcp.length >> 8, tcp.length & 0xff, 0, 0, 0, 58];
    assert.equal(sums([...pseudo, ...tcp]), 0xffff, 'ICMPv6 checksum');
    const tagged = frameOf(`${ETH},vlan.id=291,vlan.pcp=5,ip4.src=10.0.0.1,ip4.dst=10.0.0.2,udp.dst=67`);
    assert.equal(u16(tagged, 12), 0x8100);
    assert.equal(u16(tagged, 14), (5 << 13) | 291);
    assert.equal(u16(tagged, 16), 0x0800);
  });

  it('takes conntrack state and direction as assumptions, new and original by default', () => {
    assert.deepEqual(parseMicroflow(ETH).ct, { state: 'new', direction: 'original' });
    assert.deepEqual(parseMicroflow(`${ETH},ct.state=established,ct.direction=reply`).ct, {
      state: 'established',
      direction: 'reply',
    });
  });

  it('refuses hostile and inconsistent input, naming the field', () => {
    refused('eth.src=52:54:00:00:00:01', 'eth.dst is required');
    refused(`${ETH},ip4.srcc=1.2.3.4`, 'unknown field "ip4.srcc"');
    refused(`${ETH},__proto__=1`, 'unknown field "__proto__"');
    refused(`${ETH},constructor=1`, 'unknown field "constructor"');
    refused('eth.src=52:54:00:00:00:1,eth.dst=ff:ff:ff:ff:ff:ff', 'eth.src="52:54:00:00:00:1": expected source MAC');
    refused(`${ETH},ip4.src=10.0.0.256`, 'ip4.src');
    refused(`${ETH},ip4.src=0x0a000001`, 'ip4.src');
    refused(`${ETH},ip6.src=1.2.3.4`, 'ip6.src');
    refused(`${ETH},tcp.dst=65536`, 'tcp.dst');
    refused(`${ETH},tcp.dst=-1`, 'tcp.dst');
    refused(`${ETH},tcp.flags=syn|bogus`, 'tcp.flags');
    refused(`${ETH},ct.state=maybe`, 'ct.state');
    refused(`${ETH},vlan.id=4096`, 'vlan.id');
    refused(`${ETH},ip4.dst=10.0.0.1,ip4.dst=10.0.0.2`, 'ip4.dst is given twice');
    refused(`${ETH},,ip4`, 'empty field');
    refused(`${ETH},tcp.dst=22`, 'tcp needs ip4 or ip6');
    refused(`${ETH},ip6.src=::1,icmp.type=8`, 'icmp needs ip4');
    refused(`${ETH},ip4.src=1.2.3.4,ip6.src=::1`, 'one network layer at most');
    refused(`${ETH},arp,ip4`, 'one network layer at most');
    refused(`${ETH},ip4,tcp,udp`, 'one transport layer at most');
    refused(`${ETH},eth.type=arp,arp`, 'eth.type is implied');
    refused(`${ETH},ip4,ip4.proto=6,tcp`, 'the protocol is implied by tcp');
    refused(`${ETH},$(reboot)`, 'neither NAME=VALUE nor a layer');
    refused(`${ETH},eth.type=${'9'.repeat(MAX_MICROFLOW)}`, `longer than ${MAX_MICROFLOW}`);
  });
});

describe('frames read back', () => {
  it('finds the network and transport headers behind 802.1Q tags and IPv6 extension headers', () => {
    const tagged = decodeFrame(frameOf(`${ETH},vlan.id=7,ip4.src=10.0.0.1,ip4.dst=10.0.0.2,tcp`));
    assert.equal(tagged.etherType, 0x8100);
    assert.equal(tagged.innerType, 0x0800);
    assert.deepEqual(tagged.vlans, [7]);
    assert.equal(tagged.nh, 18);
    assert.equal(tagged.th, 38);
    assert.equal(tagged.l4proto, 6);
    // IPv6, hop-by-hop options (8 bytes) then UDP
    const v6 = frameOf(`${ETH},ip6.src=fe80::1,ip6.dst=ff02::1,ip6.nexthdr=0`);
    const bytes = Uint8Array.from([...v6.subarray(0, 54), 17, 0, 0, 0, 0, 0, 0, 0, 0x9c, 0x40, 0, 67, 0, 8, 0, 0]);
    const d = decodeFrame(bytes);
    assert.equal(d.l4proto, 17);
    assert.equal(d.th, 62);
    assert.equal(decodeFrame(frameOf(`${ETH},arp`)).th, undefined, 'ARP has no transport header');
  });

  it('reads --frame hex with separators and refuses what is not hex', () => {
    assert.deepEqual([...parseHexFrame('01:02 03')], [1, 2, 3]);
    assert.throws(() => parseHexFrame('0'), /even number of hex digits/);
    assert.throws(() => parseHexFrame('zz'), /even number of hex digits/);
    assert.throws(() => decodeFrame(Uint8Array.from([1, 2, 3])), /shorter than an Ethernet header/);
  });
});
