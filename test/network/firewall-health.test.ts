// Which parts of a network's recorded firewall are still in the kernel, from listings and
// checks answered by a fake runner: nft parts by chain and handle, iptables parts by --check.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeRunner } from '../../src/exec/fake.js';
import { command } from '../../src/plan/command.js';
import { firewallParts } from '../../src/network/lifecycle/firewall-health.js';

const LISTING = `table ip libvirt_network { # handle 7
\tchain forward { # handle 1
\t\ttype filter hook forward priority filter; policy accept;
\t\tcounter packets 0 bytes 0 jump guest_cross # handle 8
\t}
\tchain guest_output { # handle 2
\t\tiif "vwbr0" counter packets 0 bytes 0 reject # handle 12
\t}
\tchain guest_nat { # handle 5
\t}
}
`;

const del = (...args: string[]) => command(['nft', 'delete', 'rule', 'ip', 'libvirt_network', ...args], true);

describe('firewallParts', () => {
  it('finds nft rules by chain and handle, reading each table once', async () => {
    const runner = new FakeRunner((line) => (line === 'nft -a list table ip libvirt_network' ? { stdout: LISTING } : { status: 1 }));
    const kept = del('guest_output', 'handle', '12');
    // handle 8 exists, but in another chain; handle 13 nowhere; the ip6 table is gone
    const gone = [del('guest_nat', 'handle', '8'), del('guest_output', 'handle', '13'), command(['nft', 'delete', 'rule', 'ip6', 'libvirt_network', 'guest_output', 'handle', '12'], true)];
    const parts = await firewallParts([kept, ...gone], runner);
    assert.deepEqual(parts, { present: [kept], missing: gone });
    assert.deepEqual(runner.calls, ['nft -a list table ip libvirt_network', 'nft -a list table ip6 libvirt_network']);
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
