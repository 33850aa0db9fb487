// applyBatch's elements given as a keyed map (Command.keyed): a set without elements takes the
// map as it is, and the ruleset is the one the same batch without the map gives.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyBatch, type Batch } from '../../src/nft/batch.js';
import { elementText, meta, str, type Element } from '../../src/nft/expr.js';
import { emptyRuleset } from '../../src/nft/objects.js';
import { CowMap } from '../../src/util/cow-map.js';

const set = { family: 'bridge', name: 's', kind: 'set', decl: { key: { typeof: meta('iifname') } } } as const;
const ref = { family: 'bridge', name: 's' } as const;
const el = (name: string): Element => ({ key: str(name) });
const keyed = (es: Element[]) => CowMap.of(es.map((e) => [elementText(e), e] as const));
const texts = (r: ReturnType<typeof applyBatch>) => [...r.sets.get('bridge s')!.elements.keys()].sort();

describe('applyBatch with keyed elements', () => {
  const es = [el('vnet1'), el('vnet2'), el('vnet3')];
  const create: Batch = [
    { verb: 'add', table: 'bridge' },
    { verb: 'add', set },
  ];

  it('gives the set the map into a set without elements, and the same ruleset as the elements alone', () => {
    const map = keyed(es);
    const shared = applyBatch(emptyRuleset(), [...create, { verb: 'add', set: ref, elements: es, keyed: map }]);
    const plain = applyBatch(emptyRuleset(), [...create, { verb: 'add', set: ref, elements: es }]);
    assert.equal(shared.sets.get('bridge s')!.elements, map);
    assert.deepEqual(texts(shared), texts(plain));
    assert.deepEqual(texts(shared), ['"vnet1"', '"vnet2"', '"vnet3"']);
  });

  it('leaves the map as it was when the set changes later, and adds to a set that has elements', () => {
    const map = keyed(es);
    const first = applyBatch(emptyRuleset(), [...create, { verb: 'add', set: ref, elements: [el('vnet0')] }]);
    const merged = applyBatch(first, [{ verb: 'add', set: ref, elements: es, keyed: map }]);
    assert.deepEqual(texts(merged), ['"vnet0"', '"vnet1"', '"vnet2"', '"vnet3"']);
    const taken = applyBatch(emptyRuleset(), [...create, { verb: 'add', set: ref, elements: es, keyed: map }]);
    const after = applyBatch(taken, [
      { verb: 'add', set: ref, elements: [el('vnet4')] },
      { verb: 'delete', set: ref, elements: [el('vnet1')] },
    ]);
    assert.deepEqual(texts(after), ['"vnet2"', '"vnet3"', '"vnet4"']);
    assert.deepEqual([...map.keys()].sort(), ['"vnet1"', '"vnet2"', '"vnet3"']);
  });
});
