// Which parts of a network's recorded firewall are still in the kernel, from listings and
// checks answered by a fake runner: nft parts by chain and handle (from nft's JSON listing),
// iptables parts by --check.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeRunner } from '../../src/exec/fake.js';
import { command } from '../../src/plan/command.js';
import { firewallParts } from '../../src/network/lifecycle/firewall-health.js';

/** `nft -j list table ip libvirt_network` of a table with two rules (handles 8 and 12). */
const LISTING = JSON.stringify({
  nftables: [
    { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
    { table: { family: 'ip', name: 'libvirt_network', handle: 7 } },
    { chain: { family: 'ip', table: 'libvirt_network', name: 'forward', handle: 1, type: 'filter', hook: 'forward', prio: 0, policy: 'accept' } },
    { chain: { family: 'ip', table: 'libvirt_network', name: 'guest_output', handle: 2 } },
    { chain: { family: 'ip', table: 'libvirt_network', name: 'guest_nat', handle: 5 } },
    { rule: { family: 'ip', table: 'libvirt_network', chain: 'forward', handle: 8, expr: [{ counter: { packets: 0, bytes: 0 } }, { jump: { target: 'guest_cross' } }] } },
    { rule: { family: 'ip', table: 'libvirt_network', chain: 'guest_output', handle: 12, expr: [{ match: { op: '==', left: { meta: { key: 'iif' } }, right: 'vwbr0' } }, { counter: { packets: 0, bytes: 0 } }, { reject: null }] } },
  ],
});

const del = (...args: string[]) => command(['nft', 'delete', 'rule', 'ip', 'libvirt_network', ...args], true);

describe('firewallParts', () => {
  it('finds nft rules by chain and handle, reading each table once', async () => {
    const runner = new FakeRunner((line) => (line === 'nft -j list table ip libvirt_network' ? { stdout: LISTING } : { status: 1 }));
    const kept = del('guest_output', 'handle', '12');
    // handle 8 exists, but in another chain; handle 13 nowhere; the ip6 table is gone
    const gone = [del('guest_nat', 'handle', '8'), del('guest_output', 'handle', '13'), command(['nft', 'delete', 'rule', 'ip6', 'libvirt_network', 'guest_output', 'handle', '12'], true)];
    const parts = await firewallParts([kept, ...gone], runner);
    assert.deepEqual(parts, { present: [kept], missing: gone });
    assert.deepEqual(runner.calls, ['nft -j list table ip libvirt_network', 'nft -j list table ip6 libvirt_network']);
  });

  it('asks iptables to --check each recorded rule and keeps tc filters as present', async () => {
    const runner = new FakeRunner((line) => (line.includes('--in-interface vwbr0') ? {} : { status: 1 }));
    const kept = command(['iptables', '-w', '--table', 'filter', '--delete', 'LIBVIRT_FWO', '--in-interface', 'vwbr0', '--jump', 'REJECT'], true);
    const gone = command(['iptables', '-w', '--table', 'filter', '--delete', 'LIBVIRT_FWI', '--out-interface', 'vwbr0', '--jump', 'REJECT'], true);
    const tc = command(['tc', 'filter', 'del', 'dev', 'vwbr0', 'prio', '2'], true);
    assert.deepEqual(await firewallParts([kept, gone, tc], runner), { present: [kept, tc], missing: [gone] });
    assert.deepEqual(runner.calls, [
      'iptables -w --table filter --check LIBVIRT_FWO --in-interface vwbr0 --jump REJECT',
      'iptables -w --table filter --check LIBVIRT_FWI --out-interface vwbr0 --jump REJECT',
    ]);
  });
});
