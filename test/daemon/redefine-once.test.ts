// A filter redefinition instantiates each bound port it reaches once: BindingService.prepare
// instantiates (so that a failure refuses the change before it is stored) and refresh applies
// that instantiation, also when the collector ran in between (a deferred port holds its rule
// trees weakly); a port bound again or unbound in between is not given a stale filter.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { BindingService } from '../../src/daemon/bindings.js';
import { FilterService } from '../../src/daemon/filters.js';
import { PortLearning } from '../../src/daemon/learning.js';
import type { PortChange } from '../../src/nwfilter/backend.js';
import type { RuleInstance } from '../../src/nwfilter/instantiate.js';
import type { FilterSource } from '../../src/nwfilter/source.js';
import { bindingXml, RecordingBackend } from './support.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Takes every port's instances when applying, as the kernel backends do. */
class InstantiatingBackend extends RecordingBackend {
  readonly taken: Map<string, readonly RuleInstance[]>[] = [];
  override async apply(change: PortChange): Promise<void> {
    this.taken.push(new Map(change.set.map((p) => [p.portdev, p.instances])));
    await super.apply(change);
  }
}

const filter = (body: string) => `<filter name='f' chain='root'>${body}</filter>`;
const FIRST = filter(
  "<rule action='accept' direction='out'><ip protocol='tcp' srcipaddr='$IP' dstportstart='22'/></rule>",
);
const SECOND = filter(
  "<rule action='accept' direction='out'><ip protocol='tcp' srcipaddr='$IP' dstportstart='23'/></rule>",
);
const ip = (i: number) => `<parameter name='IP' value='10.0.0.${i + 10}'/>`;
const mac = (i: number) => `52:54:00:00:00:0${i}`;

async function setUp(t: { after: (fn: () => void) => void }, ports: number) {
  const dir = mkdtempSync(join(tmpdir(), 'vwt-redefine-once-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const d of ['filters', 'bindings', 'lib', 'leases']) mkdirSync(join(dir, d));
  const filters = new FilterService(join(dir, 'filters'));
  filters.load(join(dir, 'lib'));
  filters.store(filters.parse(FIRST, 'f.xml'));
  const learning = new PortLearning({
    stateFile: join(dir, 'lib/ip-learning.json'),
    leaseDir: join(dir, 'leases'),
    log: pino({ level: 'silent' }),
    onChange: () => {},
  });
  const backend = new InstantiatingBackend();
  const bindings = new BindingService(join(dir, 'bindings'), backend, {}, learning);
  for (let i = 0; i < ports; i++)
    await bindings.create(bindings.parse(bindingXml(`vnet${i}`, 'f', mac(i), ip(i)), 'test'), filters.source());
  return { filters, bindings, backend };
}

/** `source` with its lookups of `name` counted. */
function counting(source: FilterSource, name: string): { source: FilterSource; lookups: () => number } {
  let lookups = 0;
  const lookup = (n: string) => {
    if (n === name) lookups++;
    return source.lookup(n);
  };
  return { source: { digest: source.digest, lookup }, lookups: () => lookups };
}

describe('a filter redefinition', () => {
  it('instantiates each port it reaches once, and applies that instantiation', async (t) => {
    const { filters, bindings, backend } = await setUp(t, 3);
    const def = filters.parse(SECOND, 'f.xml');
    const affected = filters.affectedBy(def.name);
    const trying = counting(filters.source(def), 'f');
    const prepared = bindings.prepare(affected, trying.source);
    // one walk of the tree per instantiation (and at most one for the ports' unresolved variables)
    const instantiations = trying.lookups();
    assert.ok(instantiations >= 3, `each port instantiated: ${instantiations} lookups`);
    // (not held here: what the refresh takes must be held by the prepared change)
    const made = new WeakSet([...prepared.ports.values()].map((p) => p.instances));
    // a turn ends and the collector runs before the change is applied (the fleet writes the
    // definition to etcd in between): instances held only weakly would be gone
    await new Promise((r) => setImmediate(r));
    gc();
    filters.store(def);
    const stored = counting(filters.source(), 'f');
    assert.deepEqual((await bindings.refresh(prepared, stored.source)).sort(), ['vnet0', 'vnet1', 'vnet2']);
    assert.equal(stored.lookups() + trying.lookups() - instantiations, 0, 'the refresh instantiated nothing again');
    const taken = backend.taken.at(-1)!;
    assert.deepEqual([...taken.keys()].sort(), ['vnet0', 'vnet1', 'vnet2']);
    for (const [port, instances] of taken) assert.ok(made.has(instances), `${port}: the prepared instances`);
    assert.match(JSON.stringify(taken.get('vnet1')), /"dstportstart".*23/);
  });

  it('plans a port bound again or unbound after the prepare anew, and a change of other definitions', async (t) => {
    const { filters, bindings, backend } = await setUp(t, 3);
    const def = filters.parse(SECOND, 'f.xml');
    const affected = filters.affectedBy(def.name);
    const prepared = bindings.prepare(affected, filters.source(def));
    filters.store(def);
    await bindings.delete('vnet0', filters.source());
    await bindings.delete('vnet1', filters.source());
    await bindings.create(bindings.parse(bindingXml('vnet1', 'f', mac(1), ip(7)), 'test'), filters.source());
    assert.deepEqual((await bindings.refresh(prepared, filters.source())).sort(), ['vnet1', 'vnet2']);
    const taken = backend.taken.at(-1)!;
    assert.deepEqual([...taken.keys()].sort(), ['vnet1', 'vnet2'], 'an unbound port is not bound again');
    assert.match(JSON.stringify(taken.get('vnet1')), /10\.0\.0\.17/, 'the binding of now');

    // the definitions changed again after the prepare (another digest): every port is planned anew
    const third = filters.parse(
      filter("<rule action='drop' direction='out'><ip protocol='tcp' dstportstart='24'/></rule>"),
      'f.xml',
    );
    const stale = bindings.prepare(affected, filters.source(filters.parse(FIRST, 'f.xml')));
    filters.store(third);
    await bindings.refresh(stale, filters.source());
    for (const instances of backend.taken.at(-1)!.values())
      assert.match(JSON.stringify(instances), /"dstportstart".*24/);
  });
});
