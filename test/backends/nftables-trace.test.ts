// Tracing a port in the nftables backend (nwfilter-trace), against the fake nft: only the traced
// port's dispatch entries and mac_filter_ports element change (to trace chains that exist before
// an entry points at them), other ports and the hooked chains stay as they are, a MAC-filtered
// frame is checked at every moment of every step, and the trace is gone after a stop, and after
// a restart of a daemon killed while tracing. Redefining, removing and healing a traced port keep
// it traced.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NftablesBackend } from '../../src/backends/nftables/backend.js';
import { PortLedger } from '../../src/backends/nftables/ledger.js';
import { snapshot, TABLE } from '../../src/backends/nftables/model.js';
import { dispatchOf, FakeNft } from '../../src/nft/fake.js';
import type { Batch } from '../../src/nft/batch.js';
import type { KernelStatement, Ruleset } from '../../src/nft/objects.js';
import { str, valueText, type Element } from '../../src/nft/expr.js';
import type { PortFilter } from '../../src/nwfilter/backend.js';
import { instantiateBinding } from '../../src/nwfilter/binding.js';
import { chainSources, MapFilterSource } from '../../src/nwfilter/source.js';
import { parseFilter } from '../../src/conf/nwfilter/parse.js';
import { loadStockFilters } from '../../src/conf/nwfilter/stock.js';

const stock = new MapFilterSource(loadStockFilters().values());
const EXTRA_RULE = `<filter name='vwt-guard' chain='root'><rule action='accept' direction='out' priority='-900'><mac protocolid='0x88b5' srcmacaddr='$MAC'/></rule><filterref filter='clean-traffic'/></filter>`;

/** A clean-traffic port with mac_filter (`extra`: a user filter `vwt-guard` to bind instead). */
function port(n: number, extra?: string): PortFilter {
  const mac = `52:54:00:00:00:${n.toString(16).padStart(2, '0')}`;
  const filter = extra ? 'vwt-guard' : 'clean-traffic';
  const source = chainSources(new MapFilterSource(extra ? [parseFilter(extra)] : []), stock);
  const binding = { portdev: `vnet${n}`, mac, filter, params: new Map([['IP', [`10.0.0.${n}`]]]) };
  return { portdev: binding.portdev, mac, filter, instances: instantiateBinding(binding, source), macFilter: true };
}

/** The fake nft, keeping our tables as they are after every batch. */
class SteppedNft extends FakeNft {
  readonly states: Ruleset[] = [];
  override async apply(batch: Batch, table: string): Promise<(readonly KernelStatement[])[]> {
    const r = await super.apply(batch, table);
    this.states.push(this.ruleset(table));
    return r;
  }
}

const rulesOf = (r: Ruleset, chain: string) => r.chains.get(`bridge ${chain}`)?.rules ?? [];
/**
 * The chain a frame of `portdev` is sent to by the dispatch rules of the hooked prerouting chain
 * of `rules` (the from-port map, then the main shape's set), finding elements as in `state`.
 */
function entryOf(rules: Ruleset, state: Ruleset, portdev: string): string | undefined {
  for (const l of rulesOf(rules, 'prerouting').flatMap((r) => dispatchOf(r.statements))) {
    const e = [...(state.sets.get(`bridge ${l.set}`)?.elements.values() ?? [])].find(
      (x) => x.key.kind === 'string' && x.key.text === portdev,
    );
    if (!e) continue;
    if (!l.map) return l.verdict!.target;
    return e.value?.kind === 'verdict' && 'target' in e.value.verdict ? e.value.verdict.target : undefined;
  }
  return undefined;
}

/**
 * Whether a frame of `portdev` from a foreign MAC is checked: its prerouting runs the rules of
 * `rules` (the generation it entered in), finds mac_filter_ports as in `mac` and its dispatch
 * entry as in `entry` (elements are looked up when reached, so a later lookup sees a later state).
 */
function macChecked(portdev: string, rules: Ruleset, mac: Ruleset, entry: Ruleset): boolean {
  if (mac.sets.get('bridge mac_filter_ports')?.elements.has(`"${portdev}"`)) return true;
  const target = entryOf(rules, entry, portdev);
  return target !== undefined && rulesOf(rules, target).some((r) => r.comment === 'mac_filter');
}

const macFiltered = (r: Ruleset, portdev: string) =>
  [...(r.sets.get('bridge mac_filter')?.elements.keys() ?? [])].some((k) => k.startsWith(`"${portdev}" . `));

/** Every batch of `states` (each the one after the one before) leaves no moment without the MAC check. */
function assertMacChecked(portdev: string, states: readonly Ruleset[]): void {
  for (let i = 1; i < states.length; i++) {
    const [a, b] = [states[i - 1]!, states[i]!];
    if (!macFiltered(a, portdev) || !macFiltered(b, portdev)) continue;
    for (const [rules, mac, entry] of [
      [a, a, a],
      [a, a, b],
      [a, b, b],
      [b, b, b],
    ] as const)
      assert.ok(macChecked(portdev, rules, mac, entry), `batch ${i}: a frame of ${portdev} is not MAC-checked`);
  }
}

/** The ruleset as plain text per object, for comparing. */
function text(r: Ruleset): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, c] of r.chains) out.set(k, JSON.stringify([c.hook, c.rules.map((x) => [x.comment, x.statements])]));
  for (const [k, s] of r.sets) out.set(k, JSON.stringify([s.kind, s.decl, [...s.elements.keys()].sort()]));
  return out;
}

const isTrace = (name: string) => name.includes('_trace');

describe('nftables backend: tracing a port', () => {
  it('switches only the traced port to trace chains that exist before, and back; the rest stays as it is', async () => {
    const nft = new SteppedNft();
    const backend = new NftablesBackend(nft);
    await backend.reconcile([port(1), port(2)]);
    const before = nft.ruleset(TABLE);
    const start = nft.states.length;
    await backend.trace(['vnet1']);
    const during = nft.ruleset(TABLE);
    // both ports have the main shape: the entries the port leaves in the main sets for the
    // previous generation go last
    assert.equal(nft.states.length - start, 3, 'the trace chains first, then the entries, then what they left');
    assert.deepEqual(nft.gaps, []);

    const [was, is] = [text(before), text(during)];
    for (const [k, v] of was) {
      if (/(from|to)_port_(s[0-9a-f]{10}_)?g\d+$/.test(k) || k === 'bridge mac_filter_ports') continue;
      assert.equal(is.get(k), v, `${k} is not touched`);
    }
    // the dispatch maps and mac_filter_ports differ in vnet1's elements only
    for (const [k, s] of before.sets) {
      const other = (t: string) => !t.startsWith('"vnet1"');
      assert.deepEqual(
        [...during.sets.get(k)!.elements.keys()].filter(other),
        [...s.elements.keys()].filter(other),
        `${k}: other ports' elements`,
      );
    }
    const added = [...during.chains.keys()].filter((k) => !before.chains.has(k));
    assert.ok(added.length > 0 && added.every(isTrace), added.join());
    assert.ok(!during.sets.get('bridge mac_filter_ports')!.elements.has('"vnet1"'));
    const target = entryOf(during, during, 'vnet1')!;
    assert.match(target, /_from_trace_mac$/);
    assert.deepEqual(
      rulesOf(during, target).map((r) => r.comment),
      ['nwfilter-trace', 'mac_filter', 'nwfilter-trace'],
      'nftrace first, then the MAC check, then the port chain',
    );
    assert.deepEqual(rulesOf(during, target).at(-1)!.statements, [
      { kind: 'goto', target: entryOf(before, before, 'vnet1')! },
    ]);
    assert.equal(entryOf(during, during, 'vnet2'), entryOf(before, before, 'vnet2'));

    await backend.trace([]);
    assert.deepEqual(text(nft.ruleset(TABLE)), was, 'nothing of the trace left');
    assert.deepEqual(nft.gaps, []);
    assertMacChecked('vnet1', nft.states.slice(start - 1));
  });

  it('keeps a traced port traced when it is redefined, removed and bound again, or healed', async () => {
    const nft = new SteppedNft();
    const backend = new NftablesBackend(nft);
    await backend.reconcile([port(1), port(2)]);
    const start = nft.states.length;
    await backend.trace(['vnet1']);
    const tracedEntry = () => entryOf(nft.ruleset(TABLE), nft.ruleset(TABLE), 'vnet1');
    const firstShape = tracedEntry()!;

    await backend.apply({ set: [port(1, EXTRA_RULE)], remove: [] });
    const redefined = tracedEntry()!;
    assert.match(redefined, /_from_trace_mac$/);
    assert.notEqual(redefined, firstShape, 'the new shape has trace chains of its own');
    assert.ok(nft.ruleset(TABLE).chains.has(`bridge ${redefined.replace(/_trace_mac$/, '')}`));

    await backend.apply({ set: [], remove: ['vnet1'] });
    assert.equal(tracedEntry(), undefined);
    await backend.apply({ set: [port(1)], remove: [] });
    assert.match(tracedEntry()!, /_from_trace_mac$/, 'bound again while the trace runs: traced');

    const flushed = nft.states.length;
    nft.flushRuleset();
    await backend.reconcile([port(1), port(2)]);
    assert.match(tracedEntry()!, /_from_trace_mac$/, 'healed traced');
    assert.ok(!nft.ruleset(TABLE).sets.get('bridge mac_filter_ports')!.elements.has('"vnet1"'));

    await backend.trace([]);
    const left = nft.ruleset(TABLE);
    assert.deepEqual([...left.chains.keys()].filter(isTrace), []);
    assert.ok(left.sets.get('bridge mac_filter_ports')!.elements.has('"vnet1"'));
    assert.deepEqual(nft.gaps, []);
    // the foreign flush is the one moment without filter (healed); every batch of ours checks the MAC
    assertMacChecked('vnet1', nft.states.slice(start - 1, flushed));
    assertMacChecked('vnet1', nft.states.slice(flushed));
  });

  it('a daemon started after one killed while tracing stops the trace, checking the MAC throughout', async () => {
    const nft = new SteppedNft();
    const ports = [port(1), port(2)];
    const killed = new NftablesBackend(nft);
    await killed.reconcile(ports);
    const untraced = text(nft.ruleset(TABLE));
    await killed.trace(['vnet1']);
    const start = nft.states.length;
    // a new backend (a restarted daemon) traces no port: its first reconcile stops the trace
    await new NftablesBackend(nft).reconcile(ports);
    assert.deepEqual(text(nft.ruleset(TABLE)), untraced);
    assert.deepEqual(nft.gaps, []);
    assertMacChecked('vnet1', nft.states.slice(start - 1));
  });

  it('the ledger: a traced model is the same however it was reached, and untraced the one never traced', () => {
    const on = new Map([['vnet1', 'on' as const]]);
    const empty = (traced = new Map<string, 'on'>()) =>
      PortLedger.empty('br_netfilter', 1, new Map(), new Map(), traced);
    const first = empty().with({ set: [port(1), port(2)], remove: [] }).ledger;
    const traced = first.withTrace(on);
    assert.deepEqual(
      [traced.delta.changedChains.size, traced.delta.removedChains.size, traced.delta.addedSets.size],
      [0, 0, 0],
      'only trace chains and elements are added',
    );
    assert.ok([...traced.delta.addedChains].every((k) => k.includes('_trace')));
    const changed = traced.ledger.with({ set: [port(1, EXTRA_RULE)], remove: ['vnet2'] }).ledger;
    const built = empty(on).with({ set: [port(1, EXTRA_RULE)], remove: [] }).ledger;
    assert.deepEqual(snapshot(changed.model), snapshot(built.model));
    assert.deepEqual(
      snapshot(changed.withTrace(new Map()).ledger.model),
      snapshot(empty().with({ set: [port(1, EXTRA_RULE)], remove: [] }).ledger.model),
    );
  });

  for (const layout of ['br_netfilter', 'bridge-conntrack'] as const)
    it(`on ${layout}, every dispatch entry of a traced port with IP rules goes through a trace chain to its own`, () => {
      const ipFilter = `<filter name='vwt-guard' chain='root'><rule action='drop' direction='out' priority='500'><icmp type='8'/></rule><rule action='drop' direction='in' priority='510'><icmp type='8'/></rule></filter>`;
      const ports = [port(1, ipFilter), port(2, ipFilter)];
      const plain = PortLedger.empty(layout, 1).with({ set: ports, remove: [] }).ledger.model;
      const traced = PortLedger.empty(layout, 1, new Map(), new Map(), new Map([['vnet1', 'on' as const]])).with({
        set: ports,
        remove: [],
      }).ledger.model;
      const maps = [...plain.sets.values()].filter((m) => /_port_g1$/.test(m.name));
      assert.equal(maps.length, 5, maps.map((m) => m.name).join());
      const target = (e: Element) =>
        e.value?.kind === 'verdict' ? (e.value.verdict as { target?: string }).target : undefined;
      // port 1's keys: its name, and in the inet maps its marks
      const own = new Set([valueText(str('vnet1'))]);
      for (const m of ['port_mark_from', 'port_mark_to'])
        for (const e of plain.sets.get(`bridge ${m}`)?.elements.values() ?? [])
          if (valueText(e.key) === valueText(str('vnet1'))) own.add(valueText(e.value!));
      let switched = 0;
      for (const m of maps) {
        const now = new Map(
          [...traced.sets.get(`${m.family} ${m.name}`)!.elements.values()].map((e) => [valueText(e.key), e]),
        );
        for (const e of m.elements.values()) {
          const t = target(now.get(valueText(e.key))!);
          if (!own.has(valueText(e.key))) {
            assert.equal(t, target(e), `${m.name}: another port's entry`);
            continue;
          }
          const chain = traced.chains.get(`${m.family} ${t}`)!;
          assert.match(chain.name, /_trace(_mac)?$/, `${m.name}`);
          assert.deepEqual(chain.rules.at(-1)!.statements, [{ kind: 'goto', target: target(e) }], chain.name);
          switched++;
        }
      }
      assert.equal(switched, 3, "every entry of the port's own (its IP chains)");
      // and the bridge hooks, where it has no chain of its own: they name the port and check its MAC
      const bare = (map: string) =>
        [...traced.sets.get(`bridge ${map}_g1`)!.elements.values()]
          .filter((e) => valueText(e.key) === valueText(str('vnet1')))
          .map(target);
      assert.deepEqual([bare('from_port'), bare('to_port')], [['from_trace_mac'], ['to_trace']]);
      assert.deepEqual(
        traced.chains.get('bridge from_trace_mac')!.rules.map((r) => r.comment),
        ['nwfilter-trace', 'mac_filter'],
      );
    });
});
