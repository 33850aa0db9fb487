// The nftables backend against the fake nft (src/nft/fake.ts): one batch (one transaction)
// per change, changes serialised, and a refused transaction leaving the backend at the state
// the kernel still holds.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NftablesBackend } from '../../src/backends/nftables/backend.js';
import { compileModel } from '../../src/backends/nftables/ledger.js';
import { snapshot, TABLE } from '../../src/backends/nftables/model.js';
import { FakeNft } from '../../src/nft/fake.js';
import { deferredPortFilter, type PortFilter } from '../../src/nwfilter/backend.js';
import { instantiateBinding } from '../../src/nwfilter/binding.js';
import { chainSources, MapFilterSource, type FilterSource } from '../../src/nwfilter/source.js';
import { parseFilter } from '../../src/conf/nwfilter/parse.js';
import { loadStockFilters } from '../../src/conf/nwfilter/stock.js';

const stock = new MapFilterSource(loadStockFilters().values());

function port(
  n: number,
  filter = 'clean-traffic',
  ips = [`10.0.${n >> 8}.${n & 255}`],
  source: FilterSource = stock,
): PortFilter {
  const mac = `52:54:00:00:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`;
  const binding = { portdev: `vnet${n}`, mac, filter, params: new Map([['IP', ips]]) };
  return { portdev: binding.portdev, mac, filter, instances: instantiateBinding(binding, source) };
}

/** A user filter over clean-traffic, in two definitions of different shape. */
const guard = (version: number) =>
  chainSources(
    new MapFilterSource([
      parseFilter(
        `<filter name='vwt-guard' chain='root'>${version === 2 ? "<rule action='drop' direction='out' priority='-900'><mac protocolid='0x88b5'/></rule>" : ''}<filterref filter='clean-traffic'/></filter>`,
      ),
    ]),
    stock,
  );

const verbs = (script: string) => [
  ...new Set(
    script
      .trim()
      .split('\n')
      .map((l) => l.split(' ').slice(0, 2).join(' ')),
  ),
];

describe('nftables backend', () => {
  it('applies concurrent changes one after the other, each as one transaction', async () => {
    const runner = new FakeNft();
    const backend = new NftablesBackend(runner);
    await Promise.all([backend.apply({ set: [port(1)], remove: [] }), backend.apply({ set: [port(2)], remove: [] })]);
    assert.equal(runner.scripts.length, 2);
    assert.match(runner.scripts[0]!, /^add table bridge virtwall_nwf\n/);
    assert.deepEqual(
      verbs(runner.scripts[1]!),
      ['add element'],
      'the second port only adds elements to what the first built',
    );
  });

  it('runs exactly one nft -f per change: new tree, new parameters, redefinition under many ports, last unbind', async () => {
    const runner = new FakeNft();
    const backend = new NftablesBackend(runner);
    const many = Array.from({ length: 50 }, (_, i) => i + 1);
    const counted = async (what: string, change: Parameters<NftablesBackend['apply']>[0], expect: RegExp) => {
      const before = runner.scripts.length;
      await backend.apply(change);
      assert.equal(runner.scripts.length - before, 1, what);
      assert.match(runner.scripts.at(-1)!, expect, what);
    };
    await counted(
      'bind a new tree',
      { set: many.map((n) => port(n, 'vwt-guard', undefined, guard(1))), remove: [] },
      /add chain/,
    );
    await counted(
      'rebind with new parameters',
      { set: [port(7, 'vwt-guard', ['10.9.9.9', '10.9.9.10'], guard(1))], remove: [] },
      /10\.9\.9\.10/,
    );
    await counted(
      'redefine the filter of every port',
      { set: many.map((n) => port(n, 'vwt-guard', undefined, guard(2))), remove: [] },
      /add map bridge virtwall_nwf from_port_g2/,
    );
    await counted(
      'unbind a port (the previous generation goes now)',
      { set: [], remove: ['vnet1'] },
      /delete map bridge virtwall_nwf from_port_g1/,
    );
    await counted(
      'unbind the last ports',
      { set: [], remove: many.slice(1).map((n) => `vnet${n}`) },
      /^(delete table (bridge|inet) virtwall_nwf\n)+$/,
    );
    assert.equal(backend.model()?.chains.size ?? 0, 0, 'nothing of ours left');
  });

  it('deletes what a change kept for the previous generation by itself a moment later, when no change came', async () => {
    const runner = new FakeNft();
    const backend = new NftablesBackend(runner);
    const many = [1, 2, 3];
    await backend.apply({ set: many.map((n) => port(n, 'vwt-guard', undefined, guard(1))), remove: [] });
    await backend.apply({ set: many.map((n) => port(n, 'vwt-guard', undefined, guard(2))), remove: [] });
    const maps = () =>
      [...runner.ruleset(TABLE).sets.values()].map((x) => x.name).filter((n) => /^from_port_g\d$/.test(n));
    assert.deepEqual(maps().sort(), ['from_port_g1', 'from_port_g2'], 'the old generation stays for its packets');
    const scripts = runner.scripts.length;
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(maps(), ['from_port_g2']);
    assert.equal(runner.scripts.length, scripts + 1, 'one transaction');
    assert.match(runner.scripts.at(-1)!, /^delete map bridge virtwall_nwf from_port_g1$/m);
    assert.deepEqual(snapshot(backend.model()!), snapshot(runner.ruleset(TABLE)));
  });

  it('keeps the old state when the kernel refuses a transaction', async () => {
    const runner = new FakeNft();
    const backend = new NftablesBackend(runner);
    await backend.apply({ set: [port(1)], remove: [] });
    runner.refuseNext = true;
    await assert.rejects(backend.apply({ set: [port(2)], remove: [] }), /nft -f failed.*Could not process rule/);
    await backend.apply({ set: [port(3)], remove: [] });
    const last = runner.scripts.at(-1)!;
    assert.doesNotMatch(last, /vnet2/, 'the refused port is not assumed to be in place');
    assert.match(last, /"vnet3"/);
  });

  it('a refused transaction leaves the desired model and the kernel as they were, and the next change plans from them', async () => {
    const runner = new FakeNft();
    const backend = new NftablesBackend(runner);
    const guarded = (n: number, version: number) => port(n, 'vwt-guard', undefined, guard(version));
    await backend.apply({ set: [guarded(1, 1), guarded(2, 1)], remove: [] });
    const desired = snapshot(backend.desired()!);
    const kernel = snapshot(runner.ruleset(TABLE));
    runner.refuseNext = true;
    // a redefinition (the next generation of dispatch maps), a new port and a removal, refused
    await assert.rejects(
      backend.apply({ set: [guarded(1, 2), port(3)], remove: ['vnet2'] }),
      /nft -f failed.*Could not process rule/,
    );
    assert.deepEqual(snapshot(backend.desired()!), desired);
    assert.deepEqual(snapshot(runner.ruleset(TABLE)), kernel);
    await backend.apply({ set: [guarded(4, 1)], remove: [] });
    const last = runner.scripts.at(-1)!;
    assert.deepEqual(verbs(last), ['add element'], last);
    assert.doesNotMatch(last, /vnet[123]\b|_g2/, 'nothing of the refused change is assumed in place');
    const ids = new Map([
      ['vnet1', 1],
      ['vnet2', 2],
      ['vnet4', 3],
    ]);
    const want = compileModel([guarded(1, 1), guarded(2, 1), guarded(4, 1)], ids);
    assert.deepEqual(snapshot(backend.desired()!), want);
    assert.deepEqual(snapshot(runner.ruleset(TABLE)), want);
  });

  it('refuses a port it cannot express without touching the ports already bound', async () => {
    const runner = new FakeNft();
    const backend = new NftablesBackend(runner);
    await backend.apply({ set: [port(1), port(2)], remove: [] });
    const before = backend.model();
    const desired = snapshot(backend.desired()!);
    const gratuitous = new MapFilterSource([
      parseFilter(
        "<filter name='vwt-garp' chain='arp'><rule action='accept' direction='out'><arp gratuitous='true'/></rule></filter>",
      ),
    ]);
    // vnet1 is rebound to the filter nft cannot express, next to a new port that it can
    await assert.rejects(
      backend.apply({ set: [port(3), port(1, 'vwt-garp', [], gratuitous)], remove: [] }),
      /gratuitous/,
    );
    assert.equal(runner.scripts.length, 1, 'nothing was sent to the kernel');
    assert.deepEqual(backend.model(), before);
    assert.deepEqual(snapshot(backend.desired()!), desired, 'the desired model is the one before the change');
    await backend.apply({ set: [port(4)], remove: [] });
    assert.deepEqual(verbs(runner.scripts.at(-1)!), ['add element']);
    assert.doesNotMatch(runner.scripts.at(-1)!, /vnet1|vnet3/, 'the next change carries only its own port');
  });

  it('keeps compiled ports by inputs digest: a restart and a heal reuse them without instantiating; a new digest or another path compiles', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vwt-nft-store-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const stateFile = join(dir, 'nwfilter-nftables.json');
    let instantiated = 0;
    const digested = (n: number, ips?: string[]) => {
      const p = port(n, 'clean-traffic', ips);
      return deferredPortFilter(
        { portdev: p.portdev, mac: p.mac, filter: p.filter, inputsDigest: `k${n} ${ips ?? ''}` },
        () => {
          instantiated++;
          return p.instances;
        },
      );
    };
    const ports = () => [1, 2, 3].map((n) => digested(n));

    assert.equal((await new NftablesBackend(new FakeNft(), undefined, { stateFile }).reconcile(ports())).compiled, 3);
    // a reconcile that compiled writes at once (a timer due now runs before one due in 20 ms)
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(existsSync(stateFile), 'written right after the reconcile that compiled');
    // a port's elements are kept as leaves of forms the ports share, not as whole typed values
    const stored = JSON.parse(readFileSync(stateFile, 'utf8')) as { forms: string[]; ports: unknown[] };
    assert.ok(!JSON.stringify(stored.ports).includes('"kind"'));
    assert.ok(stored.forms.length < 3 * 8, `${stored.forms.length} forms for 3 ports`);
    instantiated = 0;
    const runner = new FakeNft();
    const restarted = new NftablesBackend(runner, undefined, { stateFile });
    assert.equal((await restarted.reconcile(ports())).compiled, 0);
    assert.equal(instantiated, 0, 'a restart with the same digests instantiates nothing');
    const fresh = new FakeNft();
    await new NftablesBackend(fresh).reconcile([1, 2, 3].map((n) => port(n)));
    assert.equal(runner.scripts[0], fresh.scripts[0], 'what was kept builds exactly what compiling builds');

    // the kernel lost everything: the ledger's own compiled ports serve
    runner.flushRuleset();
    assert.equal((await restarted.reconcile(ports())).compiled, 0);
    assert.equal(instantiated, 0);

    const changed = await new NftablesBackend(new FakeNft(), undefined, { stateFile }).reconcile([
      digested(1),
      digested(2, ['10.9.9.9']),
      digested(3),
    ]);
    assert.equal(changed.compiled, 1, 'only the port with a new digest');
    assert.equal(instantiated, 1);
    const other = await new NftablesBackend(new FakeNft(), { bridgeConntrack: true }, { stateFile }).reconcile(ports());
    assert.equal(other.compiled, 3, 'ports compiled for the br_netfilter path do not serve the bridge-conntrack one');
  });

  it('writes its compiled ports after the change nft is loading, not in its middle', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vwt-nft-store-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const stateFile = join(dir, 'nwfilter-nftables.json');
    const nft = new FakeNft();
    const backend = new NftablesBackend(nft, undefined, { stateFile });
    const digested = (n: number, filter?: string) => ({ ...port(n, filter), inputsDigest: `k${n}` });
    await backend.reconcile([digested(1)]);
    await new Promise((r) => setTimeout(r, 30));
    rmSync(stateFile);
    // a change bringing new rule bodies: its write is due at once; nft then holds the next change's batch
    await backend.apply({ set: [digested(3, 'no-mac-spoofing')], remove: [] });
    const load = nft.apply.bind(nft);
    let release = () => {};
    nft.apply = async (batch, table) => {
      await new Promise<void>((r) => {
        release = r;
      });
      return load(batch, table);
    };
    const change = backend.apply({ set: [digested(2)], remove: [] });
    await new Promise((r) => setTimeout(r, 30));
    assert.ok(!existsSync(stateFile), 'no write while the change waits for nft');
    release();
    await change;
    await new Promise((r) => setTimeout(r, 30));
    const stored = JSON.parse(readFileSync(stateFile, 'utf8')) as { ports: { ifnames: string[] } };
    assert.deepEqual(stored.ports.ifnames.sort(), ['vnet1', 'vnet2', 'vnet3'], 'the write holds the change');
  });
});
