import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseFrame } from '../../src/learning/frames.js';
import { PortLearner, type LearnerConfig } from '../../src/learning/learner.js';
import { DHCP_PKT_BURST, DHCP_PKT_RATE, DhcpRateLimiter } from '../../src/learning/rate-limit.js';
import { arp, dhcp, dhcpv6, ipv4, ipv6 } from './craft.js';

const G = '52:54:00:00:00:0a';
const S = '52:54:00:00:00:01';
const ROGUE = '52:54:00:00:00:66';
const BC = 'ff:ff:ff:ff:ff:ff';
const T0 = 1_000_000;

const learner = (c: Partial<LearnerConfig> = {}) =>
  new PortLearner({ mode: 'any', mac: G, dhcpServers: [], dhcpServersV6: [], ...c }, T0);
const see = (l: PortLearner, frame: Uint8Array, fromGuest: boolean, now = T0) =>
  l.observe(parseFrame(frame)!, fromGuest, now);
const ack = (yiaddr: string, lease: number, server = '10.0.0.1', srcMac = S, chaddr = G) =>
  dhcp(BC, srcMac, server, '255.255.255.255', { type: 5, chaddr, yiaddr, lease, server });

describe('any mode', () => {
  it('locks to the first IPv4 source the guest uses and ignores later ones', () => {
    const l = learner();
    assert.equal(see(l, ipv4(S, G, '0.0.0.0', '255.255.255.255'), true), false);
    assert.equal(see(l, ipv4(S, G, '224.0.0.5', '10.0.0.1'), true), false);
    assert.equal(see(l, ipv4(S, G, '10.0.0.5', '10.0.0.1'), true), true);
    assert.equal(see(l, ipv4(S, G, '10.0.0.6', '10.0.0.1'), true), false);
    assert.deepEqual(l.addresses('ipv4'), ['10.0.0.5']);
    assert.equal(l.snapshot().ipv4[0]!.source, 'ip-traffic');
    assert.equal(l.nextExpiry(), undefined);
  });

  it('learns from the ARP sender, not from probes or frames with another source MAC', () => {
    const l = learner();
    assert.equal(see(l, arp(G, 1, '0.0.0.0', '10.0.0.9'), true), false);
    assert.equal(see(l, arp(ROGUE, 1, '10.0.0.66', '10.0.0.1'), true), false);
    assert.equal(see(l, arp(G, 1, '10.0.0.9', '10.0.0.1'), true), true);
    assert.deepEqual(l.addresses('ipv4'), ['10.0.0.9']);
    assert.equal(l.snapshot().ipv4[0]!.source, 'arp');
  });

  it('locks to the address a DHCP ACK gives this guest', () => {
    const l = learner();
    assert.equal(see(l, ack('10.0.0.7', 60, '10.0.0.1', S, '52:54:00:00:00:0b'), false), false);
    assert.equal(see(l, ack('10.0.0.7', 60), false), true);
    assert.deepEqual(
      l.snapshot().ipv4.map((a) => [a.address, a.source, a.expires]),
      [['10.0.0.7', 'dhcp-snoop', undefined]],
    );
  });

  it('locks IPv6 to the first global source, skipping link-local and unspecified', () => {
    const l = learner();
    assert.equal(see(l, ipv6(S, G, '::', 'ff02::1:ff00:5'), true), false);
    assert.equal(see(l, ipv6(S, G, 'fe80::5', 'ff02::2'), true), false);
    assert.equal(see(l, ipv6(S, G, '2001:db8::5', '2001:db8::1'), true), true);
    assert.equal(see(l, ipv6(S, G, '2001:db8::6', '2001:db8::1'), true), false);
    assert.deepEqual([l.addresses('ipv4'), l.addresses('ipv6')], [[], ['2001:db8::5']]);
  });

  it('keeps its lock through snapshot and restore', () => {
    const l = learner();
    see(l, ipv4(S, G, '10.0.0.5', '10.0.0.1'), true);
    const again = new PortLearner(l.config, T0 + 5, l.snapshot());
    assert.equal(see(again, ipv4(S, G, '10.0.0.6', '10.0.0.1'), true, T0 + 6), false);
    assert.deepEqual(again.addresses('ipv4'), ['10.0.0.5']);
  });
});

describe('dhcp mode', () => {
  it('ignores traffic and takes several leases from ACKs', () => {
    const l = learner({ mode: 'dhcp' });
    assert.equal(see(l, ipv4(S, G, '10.0.0.5', '10.0.0.1'), true), false);
    assert.equal(see(l, arp(G, 2, '10.0.0.5', '10.0.0.1'), true), false);
    assert.equal(see(l, ack('10.0.0.5', 100), false), true);
    assert.equal(see(l, ack('10.0.0.6', 200), false, T0 + 1), true);
    assert.deepEqual(l.addresses('ipv4'), ['10.0.0.5', '10.0.0.6']);
    assert.equal(l.nextExpiry(), T0 + 100);
  });

  it('does not take an ACK the guest sends, or one for another client', () => {
    const l = learner({ mode: 'dhcp' });
    assert.equal(
      see(l, dhcp(S, G, '10.0.0.5', '10.0.0.1', { op: 2, type: 5, chaddr: G, yiaddr: '10.0.0.5', lease: 10 }), true),
      false,
    );
    assert.equal(see(l, ack('10.0.0.5', 10, '10.0.0.1', S, '52:54:00:00:00:0b'), false), false);
    assert.deepEqual(l.addresses('ipv4'), []);
  });

  it('with DHCPSERVER takes ACKs from those servers only', () => {
    const l = learner({ mode: 'dhcp', dhcpServers: ['10.0.0.1'] });
    assert.equal(see(l, ack('10.0.0.66', 100, '10.0.0.254', ROGUE), false), false);
    assert.equal(see(l, ack('10.0.0.5', 100, '10.0.0.1'), false), true);
    assert.deepEqual(l.addresses('ipv4'), ['10.0.0.5']);
  });

  it('renewal extends a lease, never shortens it; expiry removes it', () => {
    const l = learner({ mode: 'dhcp' });
    see(l, ack('10.0.0.5', 100), false);
    assert.equal(see(l, ack('10.0.0.5', 100), false, T0 + 50), false);
    assert.equal(l.nextExpiry(), T0 + 150);
    see(l, ack('10.0.0.5', 10), false, T0 + 60);
    assert.equal(l.nextExpiry(), T0 + 150);
    assert.equal(l.expire(T0 + 149), false);
    assert.equal(l.expire(T0 + 150), true);
    assert.deepEqual(l.addresses('ipv4'), []);
  });

  it('an infinite lease never expires; RELEASE and DECLINE from the guest remove leases', () => {
    const l = learner({ mode: 'dhcp' });
    see(l, ack('10.0.0.5', 0xffffffff), false);
    see(l, ack('10.0.0.6', 100), false);
    see(l, ack('10.0.0.7', 100), false);
    assert.equal(l.expire(T0 + 10 ** 9), true);
    assert.deepEqual(l.addresses('ipv4'), ['10.0.0.5']);
    see(l, ack('10.0.0.6', 100), false);
    see(l, ack('10.0.0.7', 100), false);
    assert.equal(see(l, dhcp(S, G, '10.0.0.6', '10.0.0.1', { type: 7, chaddr: G, ciaddr: '10.0.0.6' }), true), true);
    assert.equal(
      see(l, dhcp(BC, G, '0.0.0.0', '255.255.255.255', { type: 4, chaddr: G, requested: '10.0.0.7' }), true),
      true,
    );
    assert.deepEqual(l.addresses('ipv4'), ['10.0.0.5']);
  });

  it('learns DHCPv6 Reply addresses for this guest, from DHCPSERVERV6 when set; lifetime 0 withdraws', () => {
    const l = learner({ mode: 'dhcp', dhcpServersV6: ['fe80::1'] });
    const reply = (src: string, from: string, addresses: { address: string; valid: number }[], dst = G) =>
      dhcpv6(dst, from, src, 'fe80::a', { type: 7, addresses });
    assert.equal(see(l, reply('fe80::66', ROGUE, [{ address: '2001:db8::66', valid: 100 }]), false), false);
    assert.equal(
      see(l, reply('fe80::1', S, [{ address: '2001:db8::10', valid: 100 }], '52:54:00:00:00:0b'), false),
      false,
    );
    assert.equal(
      see(
        l,
        reply('fe80::1', S, [
          { address: '2001:db8::10', valid: 100 },
          { address: '2001:db8::11', valid: 50 },
        ]),
        false,
      ),
      true,
    );
    assert.deepEqual(l.addresses('ipv6'), ['2001:db8::10', '2001:db8::11']);
    assert.equal(see(l, reply('fe80::1', S, [{ address: '2001:db8::11', valid: 0 }]), false), true);
    assert.deepEqual(l.addresses('ipv6'), ['2001:db8::10']);
    assert.equal(l.expire(T0 + 100), true);
    assert.deepEqual(l.addresses('ipv6'), []);
  });

  it('takes our dnsmasq lease records as the port addresses', () => {
    const l = learner({ mode: 'dhcp' });
    assert.equal(
      l.leases(
        [
          { ipAddress: '10.0.0.5', expiryTime: T0 + 60 },
          { ipAddress: '2001:db8::5', expiryTime: 0 },
          { ipAddress: '10.0.0.9', expiryTime: T0 - 1 },
        ],
        T0,
      ),
      true,
    );
    assert.deepEqual([l.addresses('ipv4'), l.addresses('ipv6')], [['10.0.0.5'], ['2001:db8::5']]);
    assert.equal(
      l.leases(
        [
          { ipAddress: '10.0.0.5', expiryTime: T0 + 60 },
          { ipAddress: '2001:db8::5', expiryTime: 0 },
        ],
        T0 + 1,
      ),
      false,
    );
    assert.equal(l.leases([], T0 + 2), true);
    assert.deepEqual(l.addresses('ipv4'), []);
  });

  it('evaluates a flood of DHCP packets only at the rate libvirt does', () => {
    const l = learner({ mode: 'dhcp' });
    // the limiter's second starts a fresh count; a flood in one second after the first burst
    let learned = 0;
    for (let i = 0; i < 200; i++)
      if (see(l, ack(`10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`, 100), false, T0 + 20)) learned++;
    assert.equal(learned, DHCP_PKT_BURST);
    let next = 0;
    for (let i = 0; i < 200; i++) if (see(l, ack(`10.1.0.${i + 1}`, 100), false, T0 + 25)) next++;
    assert.equal(next, DHCP_PKT_RATE);
  });
});

describe('DHCP rate limiter', () => {
  it('allows the rate every second and one burst per interval, counted over two seconds', () => {
    const r = new DhcpRateLimiter(100);
    const admitted = (t: number, n: number) => Array.from({ length: n }, () => r.admit(t)).filter(Boolean).length;
    assert.equal(admitted(101, 80), DHCP_PKT_BURST);
    // libvirt keeps counting through the burst's second second
    assert.equal(admitted(102, 80), 0);
    assert.equal(admitted(103, 80), DHCP_PKT_RATE);
    assert.equal(admitted(104, 5), 5);
    assert.equal(admitted(113, 80), DHCP_PKT_BURST);
  });
});
