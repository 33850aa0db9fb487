// libvirt's QEMU mac_filter on the ebiptables backend, on a real kernel: raw frames from guest A
// with a foreign source MAC are dropped while A's own MAC passes, with or without an nwfilter on
// the port; switching it off, removing the port and a reconcile after foreign damage behave.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EbiptablesBackend } from '../../src/backends/ebiptables/backend.js';
import { MAC_FILTER_CHAIN } from '../../src/backends/ebiptables/mac-filter.js';
import type { PortFilter } from '../../src/nwfilter/backend.js';
import { canUseNetns } from '../support/netns.js';
import { filterSource, IP, MAC, portFilter, probe, topology, type Net } from './lab.js';

const skip = canUseNetns() ? false : 'needs root and network namespaces';

const FRAMES = [
  { kind: 'ipv4', marker: 'own-mac', src_mac: MAC.a, dst_mac: MAC.b, src_ip: IP.a, dst_ip: IP.b },
  { kind: 'ipv4', marker: 'spoof-mac!', src_mac: MAC.other, dst_mac: MAC.b, src_ip: IP.a, dst_ip: IP.b },
];

/** What guest B receives of A's own-MAC and spoofed-MAC frames. */
async function seenByB(net: Net): Promise<{ own: number; spoofed: number }> {
  const seen = await probe(net, 'a', FRAMES);
  return { own: seen.b['own-mac']!, spoofed: seen.b['spoof-mac!']! };
}

const macOnly = (macFilter: boolean): PortFilter => ({
  portdev: 'vnet0',
  mac: MAC.a,
  filter: '',
  instances: [],
  macFilter,
});

function ebtables(net: Net, ...args: string[]): string {
  return net.lab.exec(net.ns.host, ['ebtables', '--concurrent', '-t', 'nat', ...args]).stdout;
}

describe('ebiptables backend: mac_filter on a real kernel', { skip }, () => {
  it('drops frames with a foreign source MAC from a mac_filter port, alone or under an nwfilter', async (t) => {
    const net = topology(t);
    const backend = new EbiptablesBackend(net.runner);
    assert.deepEqual(await seenByB(net), { own: 1, spoofed: 1 }, 'unfiltered, both pass');

    await backend.apply({ set: [macOnly(true)], remove: [] });
    assert.deepEqual(await seenByB(net), { own: 1, spoofed: 0 });

    // an nwfilter that lets everything through does not open the MAC check
    const allowAll = portFilter('vnet0', MAC.a, 'allow-arp', {}, filterSource());
    await backend.apply({ set: [{ ...allowAll, macFilter: true }], remove: [] });
    assert.deepEqual(await seenByB(net), { own: 1, spoofed: 0 });
    // applying again (a redefinition) keeps exactly one rule for the port
    await backend.apply({ set: [{ ...allowAll, macFilter: true }], remove: [] });
    assert.equal(ebtables(net, '-L', MAC_FILTER_CHAIN).match(/-j DROP/g)?.length, 1);

    await backend.apply({ set: [{ ...allowAll, macFilter: false }], remove: [] });
    assert.deepEqual(await seenByB(net), { own: 1, spoofed: 1 }, 'switched off');

    await backend.apply({ set: [macOnly(true)], remove: [] });
    await backend.apply({ set: [], remove: ['vnet0'] });
    assert.doesNotMatch(ebtables(net, '-L', MAC_FILTER_CHAIN), /vnet0/, 'removing the port removes its rule');
  });

  it('reconcile restores a flushed MAC check and removes the rule of a port no longer wanted', async (t) => {
    const net = topology(t);
    const backend = new EbiptablesBackend(net.runner);
    await backend.apply({ set: [macOnly(true)], remove: [] });
    net.lab.exec(net.ns.host, ['ebtables', '-t', 'nat', '-F']);
    assert.deepEqual(await seenByB(net), { own: 1, spoofed: 1 }, 'flushed by someone else');

    const report = await backend.reconcile([macOnly(true)]);
    assert.deepEqual(report, { repaired: ['vnet0'], removed: [] });
    assert.deepEqual(await seenByB(net), { own: 1, spoofed: 0 });
    assert.equal(
      ebtables(net, '-L', 'PREROUTING').match(new RegExp(`-j ${MAC_FILTER_CHAIN}`, 'g'))?.length,
      1,
      'one jump to the chain',
    );

    assert.deepEqual(await backend.reconcile([]), { repaired: [], removed: ['vnet0'] });
    assert.deepEqual(await seenByB(net), { own: 1, spoofed: 1 });
  });
});
