// The nftables backend against the fake nft (src/nft/fake.ts), without root: heal after foreign
// changes (a rule body edited under its own comment included), restart with and without the kept
// compiled ports, and the gap-free switch checked on every batch the backend loads.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NftablesBackend } from '../../src/backends/nftables/backend.js';
import { TABLE } from '../../src/backends/nftables/model.js';
import { FakeNft } from '../../src/nft/fake.js';
import { concatValue, counter, jump, str, verdict } from '../../src/nft/expr.js';
import type { PortFilter } from '../../src/nwfilter/backend.js';
import { instantiateBinding } from '../../src/nwfilter/binding.js';
import { chainSources, MapFilterSource } from '../../src/nwfilter/source.js';
import { parseFilter } from '../../src/conf/nwfilter/parse.js';
import { loadStockFilters } from '../../src/conf/nwfilter/stock.js';

const stock = new MapFilterSource(loadStockFilters().values());

function port(n: number, filter = 'clean-traffic', ips = [`10.0.0.${n}`], extra: string[] = []): PortFilter {
  const mac = `52:54:00:00:00:${n.toString(16).padStart(2, '0')}`;
  const source = chainSources(new MapFilterSource(extra.map((x) => parseFilter(x))), stock);
  const binding = { portdev: `vnet${n}`, mac, filter, params: new Map([['IP', ips]]) };
  return {
    portdev: binding.portdev,
    mac,
    filter,
    inputsDigest: `${n} ${filter} ${ips.join(',')} ${extra.join('')}`,
    instances: instantiateBinding(binding, source),
  };
}

/** A chain of the shape ports share, by its suffix, and its rules. */
function shapeChain(nft: FakeNft, suffix: string): { name: string; comments: string[] } {
  const c = [...nft.ruleset(TABLE).chains.values()].find(
    (x) => x.family === 'bridge' && x.name.endsWith(`_${suffix}`),
  )!;
  return { name: c.name, comments: c.rules.map((r) => r.comment) };
}

/** Two ports bound by a backend that keeps its compiled ports in a file, written by now. */
async function boundWithKeptPorts(t: { after: (fn: () => void) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'vwt-nft-fake-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const stateFile = join(dir, 'nwfilter-nftables.json');
  const nft = new FakeNft();
  const ports = [port(1), port(2)];
  await new NftablesBackend(nft, undefined, { stateFile }).reconcile(ports);
  await new Promise((r) => setTimeout(r, 20));
  return { stateFile, nft, ports };
}

describe('nftables backend on the fake nft', () => {
  it("names each port's shape as loaded, the chains its counters are in (metrics, dashboard)", async () => {
    const nft = new FakeNft();
    const backend = new NftablesBackend(nft);
    assert.equal(backend.portShapes().size, 0);
    await backend.reconcile([port(1), port(2), port(3, 'no-mac-spoofing')]);
    const shapes = backend.portShapes();
    assert.equal(shapes, backend.portShapes(), 'the same map until a change');
    assert.equal(shapes.get('vnet1'), shapes.get('vnet2'), 'clean-traffic ports share a shape');
    assert.notEqual(shapes.get('vnet3'), shapes.get('vnet1'));
    const chains = [...nft.ruleset(TABLE).chains.values()].map((c) => c.name);
    for (const [port, shape] of shapes)
      assert.ok(
        chains.some((c) => c.startsWith(`${shape}_`)),
        `${port}'s shape ${shape} has chains`,
      );
    await backend.apply({ set: [], remove: ['vnet2'] });
    assert.deepEqual([...backend.portShapes().keys()].sort(), ['vnet1', 'vnet3']);
  });

  it('heals a rule whose body someone changed under its own comment, and nothing else', async () => {
    const nft = new FakeNft();
    const backend = new NftablesBackend(nft);
    const ports = [port(1), port(2)];
    await backend.reconcile(ports);
    const chain = shapeChain(nft, 'from_mac');
    const index = chain.comments.findIndex((c) => c.includes('no-mac-spoofing'));
    // the MAC check's drop becomes an accept, the comment stays
    nft.editRule(TABLE, 'bridge', chain.name, index, [counter, verdict('accept')]);
    const loaded = nft.scripts.length;
    const report = await backend.reconcile(ports);
    assert.deepEqual(report.repaired.sort(), ['vnet1', 'vnet2']);
    assert.equal(nft.scripts.length, loaded + 1);
    assert.match(nft.scripts.at(-1)!, new RegExp(`^flush chain bridge ${TABLE} ${chain.name}$`, 'm'));
    assert.doesNotMatch(nft.scripts.at(-1)!, /element/, 'only the edited chain is written again');
    assert.deepEqual((await backend.reconcile(ports)).repaired, []);
  });

  it('heals foreign element removals and flushed chains from its own tables', async () => {
    const nft = new FakeNft();
    const backend = new NftablesBackend(nft);
    await backend.reconcile([port(1), port(2), port(3)]);
    const macSet = [...nft.ruleset(TABLE).sets.values()].find((s) => /^from_mac_v[0-9a-f]{10}p$/.test(s.name))!;
    nft.foreign(TABLE, [
      {
        verb: 'delete',
        set: { family: 'bridge', name: macSet.name },
        elements: [{ key: concatValue([str('vnet2'), { kind: 'ether', addr: '52:54:00:00:00:02' }]) }],
      },
      { verb: 'flush', chain: { family: 'bridge', name: shapeChain(nft, 'from_arp_ip').name } },
    ]);
    const report = await backend.reconcile([port(1), port(2)]);
    assert.deepEqual(report.repaired.sort(), ['vnet1', 'vnet2']);
    assert.deepEqual(report.removed, ['vnet3']);
    assert.ok(nft.ruleset(TABLE).sets.get(`bridge ${macSet.name}`)!.elements.has('"vnet2" . 52:54:00:00:00:02'));
    assert.deepEqual(await backend.reconcile([port(1), port(2)]), { repaired: [], removed: [], compiled: 0 });
  });

  it('a restart adopts the kernel as it is: with the kept compiled ports, and without them by the bodies nft lists', async (t) => {
    const { stateFile, nft, ports } = await boundWithKeptPorts(t);
    const loaded = nft.scripts.length;
    const restarted = await new NftablesBackend(nft, undefined, { stateFile }).reconcile(ports);
    assert.deepEqual(restarted, { repaired: [], removed: [], compiled: 0 });
    assert.equal(nft.scripts.length, loaded, 'the kernel is left as it is');

    // without the kept file the ports are compiled again, and the kernel's rules are recognised
    // by the body nft lists for each typed rule (kernel-body.ts): nothing is loaded
    const fresh = new NftablesBackend(nft);
    assert.deepEqual(await fresh.reconcile(ports), { repaired: [], removed: [], compiled: 2 });
    assert.equal(nft.scripts.length, loaded);
    // ... and a rule whose body is not that one is written again, with its chain only (the
    // chains its rules jump to are declared again, which changes nothing: see plan.ts)
    const chain = shapeChain(nft, 'from');
    nft.editRule(TABLE, 'bridge', chain.name, 0, [counter, verdict('accept')]);
    assert.deepEqual((await new NftablesBackend(nft).reconcile(ports)).repaired.sort(), ['vnet1', 'vnet2']);
    const script = nft.scripts.at(-1)!.split('\n').filter(Boolean);
    const jumps = [...new Set(script.flatMap((l) => /\bjump (\S+)/.exec(l)?.[1] ?? []))].sort();
    assert.deepEqual(
      script.filter((l) => !l.startsWith(`add rule bridge ${TABLE} ${chain.name} `)),
      [...jumps.map((c) => `add chain bridge ${TABLE} ${c}`), `flush chain bridge ${TABLE} ${chain.name}`],
    );
  });

  it('a start that loads only rules whose kernel form is kept does not write the kept ports before it answers', async (t) => {
    const { stateFile, nft, ports } = await boundWithKeptPorts(t);
    const kept = statSync(stateFile, { bigint: true });
    // a cold start: the kernel lost everything, every rule is loaded again with a body known from the file
    nft.flushRuleset();
    const cold = await new NftablesBackend(nft, undefined, { stateFile }).reconcile(ports);
    assert.deepEqual(cold.repaired.sort(), ['vnet1', 'vnet2']);
    await new Promise((r) => setTimeout(r, 20));
    const now = statSync(stateFile, { bigint: true });
    assert.deepEqual([now.ino, now.mtimeNs], [kept.ino, kept.mtimeNs], 'the kept file is not written again at once');
  });

  it('a heal loads what a start on the damaged kernel would, from the ports it holds while they are the ones asked for', async () => {
    const nft = new FakeNft();
    const backend = new NftablesBackend(nft);
    const ports = [port(1), port(2), port(3)];
    await backend.reconcile(ports);
    nft.flushRuleset();
    assert.deepEqual((await backend.reconcile(ports)).repaired.sort(), ['vnet1', 'vnet2', 'vnet3']);
    const fresh = new FakeNft();
    await new NftablesBackend(fresh).reconcile(ports);
    assert.equal(nft.scripts.at(-1), fresh.scripts[0], 'the held ports rebuild what building them afresh does');

    // a port whose inputs changed while the kernel was damaged is compiled again, not taken as held
    nft.flushRuleset();
    const report = await backend.reconcile([port(1), port(2, 'clean-traffic', ['10.0.0.9']), port(3)]);
    assert.equal(report.compiled, 1);
    const elements = [...nft.ruleset(TABLE).sets.values()].flatMap((x) => [...x.elements.keys()]);
    assert.ok(elements.includes('"vnet2" . 10.0.0.9'));
    assert.ok(!elements.includes('"vnet2" . 10.0.0.2'));

    // ... also when the kernel still holds its id (a port with IP rules is marked with it)
    const web = `<filter name='vwt-web'><rule action='accept' direction='in'><tcp dstportstart='80'/></rule></filter>`;
    await backend.reconcile([port(1), port(2, 'vwt-web', ['10.0.0.2'], [web])]);
    const again = await backend.reconcile([port(1), port(2, 'vwt-web', ['10.0.0.8'], [web])]);
    assert.equal(again.compiled, 1, 'new inputs, compiled again');
  });

  it('rebuilds everything after a foreign flush of the whole ruleset, in one batch, and then finds nothing to do', async () => {
    const nft = new FakeNft();
    const backend = new NftablesBackend(nft);
    const ports = [port(1), port(2, 'clean-traffic', ['10.0.0.2', '10.0.0.22'])];
    await backend.reconcile(ports);
    const before = nft.ruleset(TABLE);
    nft.flushRuleset();
    const loaded = nft.scripts.length;
    assert.deepEqual((await backend.reconcile(ports)).repaired.sort(), ['vnet1', 'vnet2']);
    assert.equal(nft.scripts.length, loaded + 1, 'one batch');
    const after = nft.ruleset(TABLE);
    assert.deepEqual([...after.chains.keys()].sort(), [...before.chains.keys()].sort());
    for (const [k, c] of before.chains)
      assert.deepEqual(
        after.chains.get(k)!.rules.map((r) => [r.comment, r.statements]),
        c.rules.map((r) => [r.comment, r.statements]),
        k,
      );
    for (const [k, s] of before.sets)
      assert.deepEqual([...after.sets.get(k)!.elements.keys()].sort(), [...s.elements.keys()].sort(), k);
    assert.deepEqual(await backend.reconcile(ports), { repaired: [], removed: [], compiled: 0 });
  });

  it('never points an existing entry at a chain the same batch fills, over redefinitions and ports coming and going', async () => {
    const definitions = [
      `<filter name='vwt-guard' chain='root'><filterref filter='clean-traffic'/></filter>`,
      `<filter name='vwt-guard' chain='root'><rule action='accept' direction='out' priority='-900'><mac protocolid='0x88b5' srcmacaddr='$MAC'/></rule><filterref filter='clean-traffic'/></filter>`,
    ];
    const nft = new FakeNft();
    const backend = new NftablesBackend(nft);
    const guarded = (i: number) =>
      port(1, 'vwt-guard', i % 4 < 2 ? ['10.0.0.1'] : ['10.0.0.1', '10.0.0.12'], [definitions[i % 2]!]);
    await backend.apply({ set: [guarded(0)], remove: [] });
    for (let i = 1; i <= 12; i++) {
      await backend.apply({ set: [guarded(i)], remove: [] });
      await backend.apply(i % 2 ? { set: [port(2)], remove: [] } : { set: [], remove: ['vnet2'] });
    }
    assert.ok(
      nft.scripts.some((s) => /^add map bridge virtwall_nwf from_port_g\d+ /m.test(s)),
      'redefinitions switched the dispatch maps',
    );
    assert.deepEqual(nft.gaps, []);

    // the check itself: a port's entry taken from the main set while the map's new one is looked up
    // first (a packet can look in the map before the batch and in the set after it), and an entry
    // pointed at a chain the same batch creates, are gaps
    const sets = [...nft.ruleset(TABLE).sets.values()];
    const map = sets.find((s) => /^from_port_g\d+$/.test(s.name))!;
    const main = sets.find((s) => /^from_port_s[0-9a-f]{10}_g\d+$/.test(s.name))!;
    const [member] = [...main.elements.values()];
    assert.ok(member?.key.kind === 'string', 'a port of the main shape');
    const shape = main.name.split('_')[2]!;
    await nft.apply(
      [
        { verb: 'delete', set: { family: 'bridge', name: main.name }, elements: [member] },
        {
          verb: 'add',
          set: { family: 'bridge', name: map.name },
          elements: [
            { key: member.key, value: { kind: 'verdict', verdict: { kind: 'goto', target: `${shape}_from` } } },
          ],
        },
      ],
      TABLE,
    );
    const name = `"${member.key.text}"`;
    const entryOf = (key: typeof member.key) =>
      [...nft.ruleset(TABLE).sets.get(`bridge ${map.name}`)!.elements.values()].find(
        (e) => e.key.kind === 'string' && key.kind === 'string' && e.key.text === key.text,
      )!;
    assert.deepEqual(nft.gaps, [`prerouting: ${name} found by no dispatch`]);
    await nft.apply(
      [
        { verb: 'add', chain: { family: 'bridge', name: 'vwt_new' } },
        {
          verb: 'add',
          chain: { family: 'bridge', name: 'vwt_new' },
          rule: { statements: [counter, verdict('accept')], comment: 'new' },
        },
        { verb: 'delete', set: { family: 'bridge', name: map.name }, elements: [entryOf(member.key)] },
        {
          verb: 'add',
          set: { family: 'bridge', name: map.name },
          elements: [{ key: member.key, value: { kind: 'verdict', verdict: jump('vwt_new') } }],
        },
      ],
      TABLE,
    );
    assert.deepEqual(nft.gaps.slice(1), [`prerouting: ${name} -> vwt_new, which the batch fills`]);
  });

  for (const bridgeConntrack of [false, true])
    it(`keeps every port filtered while ports move to and from the main shape, it changes hands, ports are traced (${bridgeConntrack ? 'bridge conntrack' : 'br_netfilter'})`, async () => {
      const guard = `<filter name='vwt-guard' chain='root'><rule action='accept' direction='out' priority='-900'><mac protocolid='0x88b5' srcmacaddr='$MAC'/></rule><filterref filter='clean-traffic'/></filter>`;
      const web = `<filter name='vwt-web' chain='root'><rule action='accept' direction='in'><tcp dstportstart='80'/></rule><filterref filter='clean-traffic'/></filter>`;
      // four shapes: clean-traffic (one address or two: the same shape), no-mac-spoofing, a user
      // filter, one with IP rules (dispatched in the inet hooks or the bridge forward hook too)
      const shaped = (n: number, shape: number) =>
        [
          () => port(n, 'clean-traffic', n % 2 ? [`10.0.0.${n}`] : [`10.0.0.${n}`, `10.0.1.${n}`]),
          () => port(n, 'no-mac-spoofing'),
          () => port(n, 'vwt-guard', [`10.0.0.${n}`], [guard]),
          () => port(n, 'vwt-web', [`10.0.0.${n}`], [web]),
        ][shape]!();
      const nft = new FakeNft();
      const backend = new NftablesBackend(nft, { bridgeConntrack });
      let seed = 7;
      const random = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return Math.floor(seed / 2 ** 16) % n;
      };
      const live = new Map<number, number>();
      const traced = new Set<string>();
      const mains = new Set<string>();
      const mainSet = /^from_port_s[0-9a-f]{10}_g\d+$/;
      for (let step = 0; step < 800; step++) {
        const op = random(10);
        const n = 1 + random(60);
        // mostly one shape at a time, so that one gains on the others and takes the main shape over
        const shape = (Math.floor(step / 150) + (random(4) === 0 ? 1 : 0)) % 4;
        if (op < 7) {
          live.set(n, shape);
          await backend.apply({ set: [shaped(n, shape)], remove: [] });
        } else if (op === 7 && live.has(n)) {
          live.delete(n);
          await backend.apply({ set: [], remove: [`vnet${n}`] });
        } else if (op === 8 && live.size > 0) {
          const name = `vnet${[...live.keys()][random(live.size)]}`;
          if (traced.has(name)) traced.delete(name);
          else if (traced.size < 3) traced.add(name);
          await backend.trace([...traced].filter((p) => live.has(Number(p.slice(4)))));
        } else await backend.apply({ set: [...live].slice(0, 5).map(([m, sh]) => shaped(m, sh)), remove: [] });
        assert.deepEqual(nft.gaps, [], `step ${step}`);
        for (const s of nft.ruleset(TABLE).sets.values()) if (mainSet.test(s.name)) mains.add(s.name.split('_')[2]!);
      }
      const scripts = nft.scripts.join('\n');
      assert.ok(mains.size >= 4, `the main shape changed hands: ${[...mains]}`);
      assert.match(
        scripts,
        /^delete element bridge virtwall_nwf from_port_g\d+ \{ "vnet\d+" : goto s[0-9a-f]{10}_from \}$/m,
      );
      assert.match(
        scripts,
        /^add element bridge virtwall_nwf from_port_g\d+ \{ "vnet\d+" : goto s[0-9a-f]{10}_from_trace/m,
      );
      // some port moved into the main set in place: a batch took it out of the map and into the set
      const inPlace = nft.scripts.some((script) =>
        [...script.matchAll(/^add element bridge virtwall_nwf from_port_s[0-9a-f]{10}_g(\d+) \{ ("vnet\d+")/gm)].some(
          ([, g, name]) =>
            !script.includes(`add set bridge virtwall_nwf`) &&
            new RegExp(`^delete element bridge virtwall_nwf from_port_g${g} \\{ ${name} : goto`, 'm').test(script),
        ),
      );
      assert.ok(inPlace, 'a port moved into the main set in place');
    });
});
