// The pure parts of the network lifecycle, by value: libvirt's table skeleton and lease records.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyLeaseEvent, leaseDatabase, networkLeases, type LeaseRecord } from '../../src/network/lifecycle/leases.js';
import { nftTableIsSkeleton } from '../../src/network/lifecycle/global-firewall.js';
import { forwardJump, libvirtNetworkListing, type ListedRule } from './nft-listing.js';

describe('global firewall', () => {
  it("recognises libvirt's bare table skeleton, and anything more as in use", () => {
    // `nft -j list table ip libvirt_network` of libvirt's skeleton (counters as traffic left them)
    const listing = (...rules: ListedRule[]) =>
      libvirtNetworkListing('ip', ['forward', 'guest_output', 'guest_input', 'guest_cross'], rules);
    const skeleton = ['guest_cross', 'guest_input', 'guest_output'].map((target, i) => forwardJump(target, i));
    assert.ok(nftTableIsSkeleton(listing(...skeleton)));
    const reject = {
      chain: 'guest_output',
      expr: [
        { match: { op: '==', left: { meta: { key: 'iif' } }, right: 'virbr9' } },
        { counter: { packets: 0, bytes: 0 } },
        { reject: null },
      ],
    };
    assert.ok(!nftTableIsSkeleton(listing(...skeleton, reject)));
    assert.ok(
      !nftTableIsSkeleton(listing(...skeleton, forwardJump('LIBVIRT_INP'))),
      "a jump elsewhere is not libvirt's",
    );
  });
});

describe('lease records', () => {
  const env = (o: Record<string, string>) => o;
  const now = 1_800_000_000;

  it('adds, renews and deletes leases as dnsmasq reports them, dropping expired ones', () => {
    let leases: LeaseRecord[] = [];
    leases = applyLeaseEvent(
      leases,
      {
        action: 'add',
        mac: '52:54:00:00:00:11',
        ip: '10.0.0.11',
        hostname: 'g1',
        env: env({ DNSMASQ_LEASE_EXPIRES: String(now + 3600) }),
      },
      now,
    );
    leases = applyLeaseEvent(
      leases,
      {
        action: 'add',
        mac: '52:54:00:00:00:12',
        ip: '10.0.0.12',
        env: env({ DNSMASQ_LEASE_EXPIRES: String(now + 10) }),
      },
      now,
    );
    leases = applyLeaseEvent(
      leases,
      {
        action: 'old',
        mac: '52:54:00:00:00:11',
        ip: '10.0.0.11',
        hostname: 'g1',
        env: env({ DNSMASQ_LEASE_EXPIRES: String(now + 7200) }),
      },
      now,
    );
    assert.deepEqual(
      leases.map((l) => [l.ipAddress, l.expiryTime]),
      [
        ['10.0.0.12', now + 10],
        ['10.0.0.11', now + 7200],
      ],
    );
    // later, the second lease has expired: any event drops it
    leases = applyLeaseEvent(leases, { action: 'del', mac: '52:54:00:00:00:13', ip: '10.0.0.13', env: {} }, now + 60);
    assert.deepEqual(
      leases.map((l) => l.ipAddress),
      ['10.0.0.11'],
    );
    leases = applyLeaseEvent(leases, { action: 'del', mac: '52:54:00:00:00:11', ip: '10.0.0.11', env: {} }, now + 60);
    assert.deepEqual(leases, []);
  });

  it('keeps DHCPv6 identity (DUID as client id, IAID, MAC from the environment)', () => {
    const [l] = applyLeaseEvent(
      [],
      {
        action: 'add',
        mac: '00:01:00:01:aa:bb',
        ip: '2001:db8::10',
        hostname: 'g6',
        env: env({
          DNSMASQ_LEASE_EXPIRES: String(now + 60),
          DNSMASQ_IAID: '1234',
          DNSMASQ_MAC: '52:54:00:00:00:16',
          DNSMASQ_SERVER_DUID: '00:01:00:01:cc',
        }),
      },
      now,
    );
    assert.deepEqual(l, {
      expiryTime: now + 60,
      ipAddress: '2001:db8::10',
      macAddress: '52:54:00:00:00:16',
      hostname: 'g6',
      clientId: '00:01:00:01:aa:bb',
      iaid: '1234',
      serverDuid: '00:01:00:01:cc',
    });
    assert.equal(leaseDatabase([l!], now), `duid 00:01:00:01:cc\n${now + 60} 1234 2001:db8::10 g6 00:01:00:01:aa:bb\n`);
  });

  it('lists live leases with their subnet prefix, as net-dhcp-leases lists them', () => {
    const records: LeaseRecord[] = [
      {
        expiryTime: now + 60,
        ipAddress: '192.168.122.45',
        macAddress: '52:54:00:aa:bb:cc',
        hostname: 'web',
        clientId: '01:52:54:00:aa:bb:cc',
      },
      { expiryTime: now - 1, ipAddress: '192.168.122.46', macAddress: '52:54:00:aa:bb:cd' },
    ];
    const leases = networkLeases(records, (ip) => (ip.startsWith('192.168.122.') ? 24 : undefined), now);
    assert.deepEqual(
      leases.map((l) => `${l.ipAddress}/${l.prefix} ${l.type}`),
      ['192.168.122.45/24 ipv4'],
    );
  });
});
