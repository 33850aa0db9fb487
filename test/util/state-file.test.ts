// One outcome for a corrupt state file, whatever its kind: moved aside as NAME.corrupt-TIMESTAMP
// with its bytes kept, reported (the daemon logs it as a warning), read as missing, and rebuilt
// by its owner. Here the lease records and the nftables backend's compiled-port cache (the
// daemon's records: test/daemon/api-safety.test.ts; learned addresses: test/learning/manager;
// the ebiptables backend's applied ports: test/nwfilter/ebiptables-heal).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NftablesBackend } from '../../src/backends/nftables/backend.js';
import { loadStockFilters } from '../../src/conf/nwfilter/stock.js';
import { activeNetworks } from '../../src/network/lifecycle/driver.js';
import { readLeases, writeLeases } from '../../src/network/lifecycle/leases.js';
import { FakeNft } from '../../src/nft/fake.js';
import type { PortFilter } from '../../src/nwfilter/backend.js';
import { instantiateBinding } from '../../src/nwfilter/binding.js';
import { MapFilterSource } from '../../src/nwfilter/source.js';
import { readState, reportCorruptStateTo, type CorruptState } from '../../src/util/state-file.js';
import { decodeUtf8 } from '../../src/xml/utf8.js';

function scratch(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vwt-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function reports(): CorruptState[] {
  const seen: CorruptState[] = [];
  reportCorruptStateTo((c) => seen.push(c));
  return seen;
}

/** The one set-aside file next to `file`, holding `text`. */
function assertSetAside(file: string, text: string, seen: CorruptState[]): void {
  assert.equal(existsSync(file) && readFileSync(file, 'utf8') === text, false, 'not read again as it was');
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.file, file);
  assert.match(seen[0]!.movedTo, new RegExp(`^${file}\\.corrupt-\\d{8}T\\d{9}Z$`));
  assert.equal(readFileSync(seen[0]!.movedTo, 'utf8'), text, 'kept as it was');
  const name = file.split('/').at(-1)!;
  assert.equal(readdirSync(join(file, '..')).filter((f) => f.startsWith(`${name}.corrupt-`)).length, 1);
}

const stock = new MapFilterSource(loadStockFilters().values());
function port(n: number): PortFilter {
  const mac = `52:54:00:00:00:0${n}`;
  const binding = { portdev: `vnet${n}`, mac, filter: 'clean-traffic', params: new Map([['IP', [`10.0.0.${n}`]]]) };
  return {
    portdev: binding.portdev,
    mac,
    filter: 'clean-traffic',
    inputsDigest: `k${n}`,
    instances: instantiateBinding(binding, stock),
  };
}

describe('corrupt state files', () => {
  it('network status records: a read-only reader (the doctor) skips a corrupt one and changes nothing; the driver sets it aside', (t) => {
    const dir = scratch(t);
    const file = join(dir, 'n.status.json');
    const text = '{"name": "n", "files": ["/etc/shadow"]}';
    writeFileSync(file, text);
    const seen = reports();
    assert.deepEqual(activeNetworks(dir, { readOnly: true }), []);
    assert.deepEqual(readdirSync(dir), ['n.status.json']);
    assert.equal(seen.length, 0);
    assert.deepEqual(activeNetworks(dir), []);
    assertSetAside(file, text, seen);
  });

  // the report says what is wrong: the first field that does not fit, and what it must be
  for (const [what, text, problem] of [
    ['torn JSON', '[{"expiryTime": 0, "ipAd', /JSON/],
    ['not a list', '{"expiryTime": 0}', /^Invalid input: expected array, received object$/],
    [
      'a record of the wrong shape',
      '[{"expiryTime": "soon", "ipAddress": "10.0.0.2"}]',
      /^field '0\.expiryTime': Invalid input: expected number, received string$/,
    ],
  ] as const) {
    it(`lease records (${what}): set aside, reported, read as none; the next event writes them again`, (t) => {
      const file = join(scratch(t), 'virbr0.status');
      writeFileSync(file, text);
      const seen = reports();
      assert.deepEqual(readLeases(file), []);
      assertSetAside(file, text, seen);
      assert.match(seen[0]!.err, problem);
      writeLeases(file, [{ expiryTime: 0, ipAddress: '10.0.0.2' }]);
      assert.deepEqual(readLeases(file), [{ expiryTime: 0, ipAddress: '10.0.0.2' }]);
      assert.equal(seen.length, 1);
    });
  }

  for (const [what, corrupt] of [
    ['torn JSON', (good: string) => good.slice(0, good.length / 2)],
    ['a port that is not a device', (good: string) => good.replace(/("ifnames":\[[^\]]*)"vnet1"/, '$1"vnet1; reboot"')],
    ['a port missing a field', (good: string) => good.replace(/"ids":\[\d+,/, '"ids":[')],
    ['a rule of the wrong shape', (good: string) => good.replace(/"comment":"[^"]*"/, '"comment":7')],
    ["an element leaf of another type than its form's", (good: string) => good.replace(/\[(\d+),"vnet1"/, '[$1,7')],
    ['an element of no form', (good: string) => good.replace(/\[\d+,"vnet1"/, '[99,"vnet1"')],
  ] as const) {
    it(`nftables compiled-port cache (${what}): set aside, reported, the ports compiled again and the cache rewritten`, async (t) => {
      const file = join(scratch(t), 'nwfilter-nftables.json');
      const ports = [port(1), port(2)];
      await new NftablesBackend(new FakeNft(), undefined, { stateFile: file }).reconcile(ports);
      await new Promise((r) => setTimeout(r, 20));
      const good = readFileSync(file, 'utf8');
      assert.equal(
        (await new NftablesBackend(new FakeNft(), undefined, { stateFile: file }).reconcile(ports)).compiled,
        0,
        'the intact cache serves',
      );

      const text = corrupt(good);
      assert.notEqual(text, good);
      writeFileSync(file, text);
      const seen = reports();
      const nft = new FakeNft();
      assert.equal(
        (await new NftablesBackend(nft, undefined, { stateFile: file }).reconcile(ports)).compiled,
        2,
        'rebuilt',
      );
      assertSetAside(file, text, seen);
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(readFileSync(file, 'utf8'), good, 'the cache is written again, as it was');
    });
  }
});

describe('reading a state file', () => {
  it('gives its UTF-8 text; bad bytes decoded strictly (as the XML reader refuses them), a real U+FFFD kept', (t) => {
    const dir = scratch(t);
    const file = join(dir, 'record.xml');
    const read = () => readState(file, (text) => text);
    writeFileSync(file, 'é \uFFFD ok');
    assert.equal(read(), 'é \uFFFD ok');
    const bad = Buffer.from([0x3c, 0x61, 0xff, 0xc3, 0x3e]);
    writeFileSync(file, bad);
    assert.equal(read(), decodeUtf8(bad));
    assert.ok(!read()!.includes('\uFFFD'), 'no bad byte passes as U+FFFD');
  });
});
