// The nftables backend's kernel stamps (src/backends/nftables/kernel-stamp.ts) against the fake
// nft: a backend whose tables were adopted at a stamp lists nothing when its ports are the
// stamped ones and builds its ledger when first needed; a stamp whose model is not the one its
// ports build, or ports other than the stamped ones, have the tables listed and repaired.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NftablesBackend } from '../../src/backends/nftables/backend.js';
import { bootId, readKernelStamp, type KernelStamp } from '../../src/backends/nftables/kernel-stamp.js';
import { snapshot, TABLE } from '../../src/backends/nftables/model.js';
import { FakeNft } from '../../src/nft/fake.js';
import { hasFamily } from '../../src/nft/objects.js';
import { deferredPortFilter, type PortFilter } from '../../src/nwfilter/backend.js';
import { instantiateBinding } from '../../src/nwfilter/binding.js';
import { MapFilterSource } from '../../src/nwfilter/source.js';
import { loadStockFilters } from '../../src/conf/nwfilter/stock.js';

const stock = new MapFilterSource(loadStockFilters().values());

/** Port vnetN on clean-traffic, its inputs digested (as the daemon's ports are). */
function port(n: number, ip = `10.0.0.${n}`): PortFilter {
  const mac = `52:54:00:00:00:${n.toString(16).padStart(2, '0')}`;
  const binding = { portdev: `vnet${n}`, mac, filter: 'clean-traffic', params: new Map([['IP', [ip]]]) };
  return deferredPortFilter(
    { portdev: binding.portdev, mac, filter: 'clean-traffic', inputsDigest: `k${n} ${ip}` },
    () => instantiateBinding(binding, stock),
  );
}

/** A fake nft that counts its listings. */
class CountingNft extends FakeNft {
  listed = 0;
  override list(...args: Parameters<FakeNft['list']>) {
    this.listed++;
    return super.list(...args);
  }
}

const until = async (what: string, ok: () => boolean) => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), what);
};

describe('nftables backend kernel stamps', () => {
  it('adopted at a stamp of the same ports: lists nothing, and the first change finds the ledger the ports build', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vwt-nft-stamp-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const stateFile = join(dir, 'nwfilter-nftables.json');
    const file = join(dir, 'stamp.json');
    let generation = 7;
    const clock = { netns: 1n, generation: async () => generation };
    const where = { boot: bootId(), netns: '1' };
    const kernel = new CountingNft();
    const ports = [1, 2, 3].map((n) => port(n));

    await new NftablesBackend(kernel, undefined, { stateFile, stamp: { file, clock } }).reconcile(ports);
    await until('a stamp is written after the reconcile', () => readKernelStamp(file, where) !== undefined);
    const stamp = readKernelStamp(file, where)!;
    assert.equal(stamp.generation, 7);
    assert.deepEqual(
      stamp.tables,
      (['bridge', 'inet'] as const).filter((f) => hasFamily(kernel.ruleset(TABLE), f)),
      'the tables that exist',
    );

    // the tables were adopted at the stamp's generation (the adoption moved it on)
    generation = 8;
    kernel.listed = 0;
    const scripts = kernel.scripts.length;
    const adopted = new NftablesBackend(kernel, undefined, { stateFile, stamp: { file, clock, adopted: stamp } });
    assert.deepEqual(await adopted.reconcile(ports), { repaired: [], removed: [], compiled: 0, stamped: true });
    assert.equal(kernel.listed, 0, 'no table listed');
    assert.equal(kernel.scripts.length, scripts, 'nothing loaded');
    await until('stamped again at the new generation', () => readKernelStamp(file, where)?.generation === 8);

    await adopted.apply({ set: [port(4)], remove: [] });
    assert.equal(kernel.listed, 0, 'the change is planned on the ledger the stamped ports build');
    const fresh = new FakeNft();
    await new NftablesBackend(fresh).reconcile([1, 2, 3, 4].map((n) => port(n)));
    assert.deepEqual(snapshot(kernel.ruleset(TABLE)), snapshot(fresh.ruleset(TABLE)));

    // without kept compiled ports the ledger is built (compiling every port) before the start converges
    await until('stamped with the fourth port', () => readKernelStamp(file, where)?.ids.length === 4);
    const four = readKernelStamp(file, where)!;
    rmSync(stateFile);
    kernel.listed = 0;
    const uncompiled = new NftablesBackend(kernel, undefined, { stateFile, stamp: { file, clock, adopted: four } });
    assert.deepEqual(await uncompiled.reconcile([1, 2, 3, 4].map((n) => port(n))), {
      repaired: [],
      removed: [],
      compiled: 4,
      stamped: true,
    });
    assert.equal(kernel.listed, 0);
  });

  it('a stamp whose model is not what its ports build, or other ports: the tables are listed and repaired', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vwt-nft-stamp-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const stateFile = join(dir, 'nwfilter-nftables.json');
    const file = join(dir, 'stamp.json');
    const clock = { netns: 1n, generation: async () => 7 };
    const kernel = new CountingNft();
    const ports = [1, 2, 3].map((n) => port(n));
    await new NftablesBackend(kernel, undefined, { stateFile, stamp: { file, clock } }).reconcile(ports);
    await until('stamped', () => readKernelStamp(file, { boot: bootId(), netns: '1' }) !== undefined);
    const stamp = readKernelStamp(file, { boot: bootId(), netns: '1' })!;
    const held = snapshot(kernel.ruleset(TABLE));

    // the stamp's ports, but a model digest the ports do not build; the tables emptied
    kernel.flushRuleset();
    const forged: KernelStamp = { ...stamp, digest: '0'.repeat(64) };
    const a = new NftablesBackend(kernel, undefined, { stateFile, stamp: { file, clock, adopted: forged } });
    assert.equal((await a.reconcile(ports)).stamped, true, 'the ports are the stamped ones');
    await a.apply({ set: [], remove: [] });
    assert.ok(kernel.listed > 0, 'the model the ports build is not the stamped one: the tables are listed');
    assert.deepEqual(snapshot(kernel.ruleset(TABLE)), held, 'and repaired');

    // other ports than the stamped ones: their model is compared with the stamp's digest first
    kernel.flushRuleset();
    kernel.listed = 0;
    const b = new NftablesBackend(kernel, undefined, { stateFile, stamp: { file, clock, adopted: stamp } });
    const moved = [port(1), port(2, '10.0.0.22'), port(3)];
    const report = await b.reconcile(moved);
    assert.equal(report.stamped, undefined);
    assert.ok(kernel.listed > 0);
    const fresh = new FakeNft();
    await new NftablesBackend(fresh).reconcile(moved);
    assert.deepEqual(snapshot(kernel.ruleset(TABLE)), snapshot(fresh.ruleset(TABLE)));

    // the stamped ports in another layout (bridge conntrack now there): not taken as the stamped
    // ones; their ledger is built (compiled: the kept ports are the other layout's) and compared first
    const other = new NftablesBackend(
      kernel,
      { bridgeConntrack: true },
      { stateFile, stamp: { file, clock, adopted: stamp } },
    );
    assert.equal((await other.reconcile(ports)).compiled, 3);
  });
});
