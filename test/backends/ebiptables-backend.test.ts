// The ebiptables backend's reconcile against a scripted kernel: an intact port costs only the
// three listings, a damaged one one restore (and the listings again, which nwfilter-explain
// evaluates), and a restore the kernel refuses falls back to instantiating the port again.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EbiptablesBackend } from '../../src/backends/ebiptables/backend.js';
import { FakeRunner } from '../../src/exec/fake.js';
import { filterSource, portFilter } from '../nwfilter/lab.js';

const HELD = `*nat
:PREROUTING ACCEPT
:libvirt-I-vnet0 ACCEPT
-A PREROUTING -i vnet0 -j libvirt-I-vnet0
-A libvirt-I-vnet0 -s ! 52:54:00:00:00:01 -j DROP
`;

/** A kernel whose ebtables listing is `kernel.eb` and whose restores answer `kernel.restore` (0: restored). */
function scripted() {
  const kernel = { eb: HELD, restore: 0 };
  const runner = new FakeRunner((line) => {
    if (line.startsWith('ebtables-save')) return { stdout: kernel.eb };
    if (line.startsWith('ebtables-restore')) {
      // a restore that succeeds brings back what the port had
      if (kernel.restore === 0) kernel.eb = HELD;
      return { status: kernel.restore };
    }
    return undefined;
  });
  return { kernel, runner };
}

const port = portFilter('vnet0', '52:54:00:00:00:01', 'no-mac-spoofing', {}, filterSource());
const instantiates = (calls: readonly string[]) => calls.some((c) => c.includes('-N libvirt-J-vnet0'));

describe('ebiptables backend reconcile', () => {
  it('lists each tool once for an intact port, restores a damaged one, rebuilds when the restore is refused', async () => {
    const { kernel, runner } = scripted();
    const backend = new EbiptablesBackend(runner);
    assert.equal(backend.explainable(), undefined, 'nothing listed before the first change');
    await backend.apply({ set: [port], remove: [] });
    const ebRules = () => {
      const held = backend.explainable();
      return held && 'xtables' in held
        ? held.xtables.find((h) => h.tool === 'ebtables')?.table.rules.length
        : undefined;
    };
    assert.equal(ebRules(), 2, 'explain evaluates the tables as listed after the change');

    runner.calls.length = 0;
    assert.deepEqual(await backend.reconcile([port]), { repaired: [], removed: [] });
    assert.deepEqual(runner.calls, ['ebtables-save -t nat', 'iptables-save -t filter', 'ip6tables-save -t filter']);

    kernel.eb = '*nat\n:PREROUTING ACCEPT\n';
    runner.calls.length = 0;
    assert.deepEqual(await backend.reconcile([port]), { repaired: ['vnet0'], removed: [] });
    // then what the kernel holds is listed again, for nwfilter-explain
    assert.deepEqual(runner.calls.slice(3), [
      'ebtables-restore --noflush',
      'ebtables-save -t nat',
      'iptables-save -t filter',
      'ip6tables-save -t filter',
    ]);
    assert.equal(ebRules(), 2, 'explain evaluates the tables as listed after the repair');

    kernel.eb = '*nat\n:PREROUTING ACCEPT\n';
    kernel.restore = 1;
    runner.calls.length = 0;
    assert.deepEqual(await backend.reconcile([port]), { repaired: ['vnet0'], removed: [] });
    assert.ok(instantiates(runner.calls), 'instantiated again');
  });

  it('instantiates a port whose rules changed since they were applied, and removes ports no longer desired', async () => {
    const { runner } = scripted();
    const backend = new EbiptablesBackend(runner);
    await backend.apply({ set: [port], remove: [] });
    runner.calls.length = 0;
    const changed = { ...port, mac: '52:54:00:00:00:02', macFilter: true };
    assert.deepEqual(await backend.reconcile([changed]), { repaired: ['vnet0'], removed: [] });
    assert.ok(instantiates(runner.calls));
    assert.deepEqual(await backend.reconcile([]), { repaired: [], removed: ['vnet0'] });
  });
});
