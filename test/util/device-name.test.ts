// The one device-name rule, and the places that used their own: the daemon's ports and
// bindings, the lease hook's bridge, `nwfilter-compile --ifname`, a network's <bridge name>.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ruleViolation, RULES } from '../../src/conf/network/dnsmasq-fields.js';
import { handleLeaseHook } from '../../src/network/lifecycle/lease-hook.js';
import { checkDeviceName, isDeviceName } from '../../src/util/device-name.js';

it('a device name: 1-15 of letters, digits and _.:-, never a wildcard, path or word break', () => {
  for (const ok of ['vnet0', 'virbr0', 'eth0.100', 'eth0:1', 'a_b-c', 'x'.repeat(15)])
    assert.equal(isDeviceName(ok), true, ok);
  for (const bad of ['', 'vnet+', '+', 'x'.repeat(16), '.', '..', 'a/b', 'a b', 'a;b', 'vnet0\n', 'é'])
    assert.equal(isDeviceName(bad), false, bad);
  assert.throws(
    () => checkDeviceName('vnet+', 'port device'),
    /invalid port device 'vnet\+': at most 15 characters of letters, digits and _\.:-/,
  );
});

it("a bridge name template is the rule plus '%'", () => {
  assert.equal(ruleViolation(RULES.bridgeName, 'virbr%d'), undefined);
  assert.equal(ruleViolation(RULES.bridgeName, 'virbr0'), undefined);
  assert.match(ruleViolation(RULES.bridgeName, 'virbr+')!, /not allowed/);
});

it('the lease hook writes nothing for a bridge that is not a device name', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vwt-devname-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const add = (bridge: string) =>
    handleLeaseHook(dir, ['add', '52:54:00:00:00:01', '10.0.0.2'], { VIR_BRIDGE_NAME: bridge }, 0);
  for (const bridge of ['virbr+', '..', '../x', 'a'.repeat(16)]) add(bridge);
  assert.deepEqual(readdirSync(dir), []);
  add('virbr0');
  assert.deepEqual(readdirSync(dir), ['virbr0.leases.json']);
});
