// The ebiptables backend's reconcile on a real kernel: foreign damage (`nft flush ruleset`,
// `iptables -F`, `ebtables -t nat -F`, a deleted jump or rule) is restored exactly, only the
// damaged ports are reported, the reconcile after a repair finds nothing to do, and a new
// backend on the same state file (a restarted daemon) leaves intact ports alone; a corrupt one is
// set aside and its ports rebuilt.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EbiptablesBackend } from '../../src/backends/ebiptables/backend.js';
import type { PortFilter } from '../../src/nwfilter/backend.js';
import { reportCorruptStateTo, type CorruptState } from '../../src/util/state-file.js';
import { canUseNetns } from '../support/netns.js';
import { filterSource, inlineFilters, IP, MAC, portFilter, probe, topology, type Net } from './lab.js';

const skip = canUseNetns() ? false : 'needs root and network namespaces';

const WEB = `<filter name='web' chain='root'>
  <filterref filter='clean-traffic'/>
  <rule action='accept' direction='in' priority='500'><tcp dstportstart='80' comment='web "x"'/></rule>
  <rule action='drop' direction='inout' priority='600'><tcp-ipv6 dstportstart='22'/></rule>
</filter>`;

function ports(net: Net): PortFilter[] {
  const source = filterSource(inlineFilters(WEB));
  return [
    { ...portFilter(net.ifname.a, MAC.a, 'web', { IP: [IP.a] }, source), macFilter: true },
    portFilter(net.ifname.b, MAC.b, 'web', { IP: [IP.b] }, source),
  ];
}

/** Everything the three tools list (comment lines with dates left out). */
const listings = (net: Net) =>
  ['ebtables-save', 'iptables-save', 'ip6tables-save']
    .map((c) => net.lab.exec(net.ns.host, [c]).stdout.replace(/^#.*\n/gm, ''))
    .join('');

describe('ebiptables backend: reconcile after foreign damage, on a real kernel', { skip }, () => {
  it('restores exactly what was applied, reports only damaged ports, and then finds nothing to do', async (t) => {
    const net = topology(t);
    const dir = mkdtempSync(join(tmpdir(), 'virtwall-ebheal-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const stateFile = join(dir, 'applied.json');
    const backend = new EbiptablesBackend(net.runner, { stateFile });
    const desired = ports(net);
    await backend.apply({ set: desired, remove: [] });
    const applied = listings(net);
    assert.deepEqual(await backend.reconcile(desired), { repaired: [], removed: [] });

    const damages: [string[], string[]][] = [
      [
        ['nft', 'flush', 'ruleset'],
        ['vnet0', 'vnet1'],
      ],
      [
        ['iptables', '-F'],
        ['vnet0', 'vnet1'],
      ],
      [
        ['ebtables', '-t', 'nat', '-F'],
        ['vnet0', 'vnet1'],
      ],
      [
        ['ip6tables', '-D', 'FORWARD', '-j', 'libvirt-out'],
        ['vnet0', 'vnet1'],
      ],
      [['ebtables', '-t', 'nat', '-D', 'libvirt-I-vnet1', '-j', 'DROP'], ['vnet1']],
      [['ebtables', '-t', 'nat', '-F', 'virtwall-mac-filter'], ['vnet0']],
    ];
    for (const [damage, repaired] of damages) {
      net.lab.exec(net.ns.host, damage);
      assert.notEqual(listings(net), applied, damage.join(' '));
      assert.deepEqual(await backend.reconcile(desired), { repaired, removed: [] }, damage.join(' '));
      assert.equal(listings(net), applied, `${damage.join(' ')} restored exactly`);
      assert.deepEqual(await backend.reconcile(desired), { repaired: [], removed: [] }, 'nothing left to do');
    }
    // the repaired rules filter: A's spoofed-MAC frames are dropped again
    const seen = await probe(net, 'a', [
      { kind: 'ipv4', marker: 'own', src_mac: MAC.a, dst_mac: MAC.b, src_ip: IP.a, dst_ip: IP.b },
      { kind: 'ipv4', marker: 'spoofed', src_mac: MAC.other, dst_mac: MAC.b, src_ip: IP.a, dst_ip: IP.b },
    ]);
    assert.deepEqual(seen.b, { own: 1, spoofed: 0 });

    // a restarted daemon's backend: intact ports stay untouched, damaged ones come back from the file
    const restarted = new EbiptablesBackend(net.runner, { stateFile });
    assert.deepEqual(await restarted.reconcile(desired), { repaired: [], removed: [] });
    net.lab.exec(net.ns.host, ['nft', 'flush', 'ruleset']);
    assert.deepEqual(await restarted.reconcile(desired), { repaired: ['vnet0', 'vnet1'], removed: [] });
    assert.equal(listings(net), applied);

    // a corrupt file is set aside and reported; its ports are rebuilt as after a reboot
    const reported: CorruptState[] = [];
    reportCorruptStateTo((c) => reported.push(c));
    writeFileSync(stateFile, '{"vnet0": {"key": 1}}');
    const afterCorruption = new EbiptablesBackend(net.runner, { stateFile });
    assert.deepEqual(await afterCorruption.reconcile(desired), { repaired: ['vnet0', 'vnet1'], removed: [] });
    assert.equal(listings(net), applied);
    assert.equal(reported.length, 1);
    assert.equal(reported[0]!.file, stateFile);
    assert.match(reported[0]!.err, /vnet0/);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('applied.json.corrupt-')),
      [reported[0]!.movedTo.split('/').at(-1)],
    );
    assert.deepEqual(
      Object.keys(JSON.parse(readFileSync(stateFile, 'utf8'))).sort(),
      ['vnet0', 'vnet1'],
      'written again',
    );
    assert.deepEqual(
      Object.keys(JSON.parse(readFileSync(stateFile, 'utf8')).vnet0).sort(),
      ['key', 'parts'],
      'the file keeps its field names',
    );

    // without memory every port is instantiated again (libvirt's restart); a port no longer desired goes
    const forgetful = new EbiptablesBackend(net.runner);
    assert.deepEqual(await forgetful.reconcile(desired.slice(0, 1)), { repaired: ['vnet0'], removed: ['vnet1'] });
    assert.doesNotMatch(listings(net), /vnet1/);
    assert.deepEqual(await forgetful.reconcile(desired.slice(0, 1)), { repaired: [], removed: [] });
  });
});
