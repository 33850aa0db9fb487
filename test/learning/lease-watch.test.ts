import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchLeases } from '../../src/learning/lease-watch.js';
import { LearningManager, type AddressesChanged } from '../../src/learning/manager.js';
import { leaseFile } from '../../src/network/lifecycle/lease-hook.js';
import { writeLeases } from '../../src/network/lifecycle/leases.js';
import { waitFor } from '../../src/util/wait-for.js';
import { setTimeout as sleep } from 'node:timers/promises';

const G = '52:54:00:00:00:0a';

describe('dnsmasq lease watch', () => {
  it('feeds the manager the bridge lease records now and after each atomic rewrite', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vwt-leasewatch-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const now = Math.floor(Date.now() / 1000);
    writeLeases(leaseFile(dir, 'virbr5'), [{ ipAddress: '10.5.0.10', macAddress: G, expiryTime: now + 600 }]);
    const changes: AddressesChanged[] = [];
    const m = new LearningManager({ onAddressesChanged: (_p, c) => changes.push(c) });
    m.watch({
      port: 'vnet3',
      mac: G,
      mode: 'dhcp',
      dhcpServers: [],
      dhcpServersV6: [],
      mechanism: 'dnsmasq-leases',
      bridge: 'virbr5',
      needs: { ipv4: true, ipv6: true },
    });
    const w = watchLeases(dir, 'virbr5', m);
    t.after(() => w.close());
    assert.deepEqual(
      changes.map((c) => [c.ipv4, c.ipv6, c.source]),
      [[['10.5.0.10'], [], 'dnsmasq-lease']],
    );

    writeLeases(leaseFile(dir, 'virbr5'), [
      { ipAddress: '10.5.0.10', macAddress: G, expiryTime: now + 600 },
      { ipAddress: 'fd05::10', macAddress: G, expiryTime: now + 600, iaid: '1' },
    ]);
    await waitFor(() => changes.length >= 2, { what: 'the second change' });
    assert.deepEqual(changes[1] && [changes[1].ipv4, changes[1].ipv6], [['10.5.0.10'], ['fd05::10']]);
    writeLeases(leaseFile(dir, 'virbr6'), [{ ipAddress: '10.6.0.10', macAddress: G, expiryTime: now + 600 }]);
    // a change of this port's file took well under this to arrive above
    await sleep(300);
    assert.equal(changes.length, 2, 'another bridge does not feed the port');
  });
});
