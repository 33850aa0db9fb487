// CowMap: a map as a value. An edit gives a new version and leaves the one it was made from as it
// was, whatever it writes; reads and iteration agree with a native Map under the same operations.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CowMap } from '../../src/util/cow-map.js';

/** A deterministic sequence of sets and deletes over `n` keys shaped like set elements' texts. */
function* operations(n: number, seed: number): Generator<[string, number | undefined]> {
  let x = seed;
  for (let i = 0; i < n * 3; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const key = `"vnet${x % n}" : jump s0f${x % 7}_from`;
    yield [key, x % 4 === 0 ? undefined : i];
  }
}

const contents = (m: ReadonlyMap<string, number>) => new Map([...m].sort(([a], [b]) => (a < b ? -1 : 1)));

describe('CowMap', () => {
  it('reads and iterates as a native Map given the same sets and deletes', () => {
    const native = new Map<string, number>();
    const edit = CowMap.empty<number>().edit();
    for (const [k, v] of operations(3000, 1)) {
      if (v === undefined) assert.equal(edit.delete(k), native.delete(k), k);
      else {
        edit.set(k, v);
        native.set(k, v);
      }
    }
    const m = edit.done();
    assert.equal(m.size, native.size);
    assert.deepEqual(contents(m), contents(native));
    for (const [k, v] of native) assert.equal(m.get(k), v);
    assert.equal(m.has('"vnet-1" : jump none'), false);
    assert.deepEqual(new Set(m.keys()), new Set(native.keys()));
    assert.deepEqual([...m.values()].sort(), [...native.values()].sort());
  });

  it('an edit leaves the map it was made from as it was, and two edits of one map are independent', () => {
    const base = CowMap.of([...operations(2000, 2)].flatMap(([k, v]) => (v === undefined ? [] : [[k, v] as const])));
    const before = contents(base);
    const a = base.edit();
    const b = base.edit();
    for (const [k, v] of operations(2000, 3)) {
      if (v === undefined) a.delete(k);
      else a.set(k, -v);
    }
    b.set('only in b', 1);
    const [na, nb] = [a.done(), b.done()];
    assert.deepEqual(contents(base), before);
    assert.equal(base.size, before.size);
    assert.notDeepEqual(contents(na), before);
    assert.deepEqual(contents(nb), contents(new Map<string, number>([...before, ['only in b', 1]])));
    assert.equal(na.has('only in b'), false);
    // an edit of the new version leaves it as it is too
    const after = contents(na);
    const c = na.edit();
    for (const k of na.keys()) c.delete(k);
    assert.equal(c.done().size, 0);
    assert.deepEqual(contents(na), after);
  });

  it('an edit that writes nothing gives the same map; an edit is over once done', () => {
    const m = CowMap.of([['a', 1]]);
    const e = m.edit();
    assert.equal(e.delete('b'), false);
    assert.equal(e.done(), m);
    const f = m.edit();
    f.set('b', 2);
    f.done();
    assert.throws(() => f.set('c', 3), /after done/);
    assert.throws(() => f.done(), /twice/);
    assert.deepEqual([...m], [['a', 1]]);
  });
});
