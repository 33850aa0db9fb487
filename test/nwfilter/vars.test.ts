// run-tests: alone (times a linear walk of long lists: under 1 s)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { VarRef } from '../../src/conf/nwfilter/types.js';
import { formatVarRef, parseVarRef } from '../../src/conf/nwfilter/varref.js';
import { MAX_COMBINATIONS, varCombinations, type VarTable } from '../../src/nwfilter/vars.js';

const table = (entries: Record<string, string[]>): VarTable => new Map(Object.entries(entries));
const ref = (text: string) => parseVarRef(text) as VarRef;
const combos = (vars: VarTable, accesses: string[]) =>
  varCombinations(vars, accesses.map(ref)).map((b) => accesses.map((a) => b.get(formatVarRef(ref(a)))).join(' '));

describe('combinations of variable values', () => {
  it('gives one empty combination to a rule without variables', () => {
    assert.deepEqual(
      varCombinations(new Map(), []).map((b) => b.size),
      [0],
    );
  });

  it('walks one list and skips values already produced', () => {
    assert.deepEqual(combos(table({ A: ['x', 'y', 'x', 'z'] }), ['A']), ['x', 'y', 'z']);
  });

  it('walks lists under the same iterator in parallel, skipping repeated tuples only', () => {
    const vars = table({ A: ['1', '2', '1', '1'], B: ['1', '3', '1', '4'] });
    assert.deepEqual(combos(vars, ['A', 'B']), ['1 1', '2 3', '1 4']);
  });

  it('rejects lists of different lengths under one iterator', () => {
    const vars = table({ A: ['1', '2'], B: ['1', '2', '3'] });
    assert.throws(() => combos(vars, ['A', 'B']), /same length/);
    assert.throws(() => combos(vars, ['A[@4]', 'B[@4]']), /same length/);
  });

  it('forms the cross product of different iterators, the first one varying fastest', () => {
    const vars = table({ A: ['a', 'b'], B: ['1', '2', '1'] });
    assert.deepEqual(combos(vars, ['A[@1]', 'B[@2]']), ['a 1', 'b 1', 'a 2', 'b 2']);
    assert.deepEqual(combos(vars, ['B[@2]', 'A[@1]']), ['1 a', '2 a', '1 b', '2 b']);
  });

  it('bounds a rule to MAX_COMBINATIONS (distinct values counted) and walks long lists in linear time', () => {
    const list = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
    assert.equal(
      varCombinations(table({ A: list(200, 'a'), B: [...list(100, 'b'), 'b0'] }), [ref('A[@1]'), ref('B[@2]')]).length,
      MAX_COMBINATIONS,
    );
    assert.throws(
      () => varCombinations(table({ A: list(200, 'a'), B: list(101, 'b') }), [ref('A[@1]'), ref('B[@2]')]),
      /the values of A, B give 20200 combinations for one rule; at most 20000/,
    );
    const t0 = Date.now();
    assert.equal(
      varCombinations(table({ A: list(MAX_COMBINATIONS, 'a'), B: list(MAX_COMBINATIONS, 'b') }), [ref('A'), ref('B')])
        .length,
      MAX_COMBINATIONS,
    );
    assert.ok(Date.now() - t0 < 1000, `${Date.now() - t0} ms`);
  });

  it('lets plain accesses (iterator 0) vary before explicit iterators', () => {
    const vars = table({ A: ['a', 'b'], B: ['1', '2'] });
    assert.deepEqual(combos(vars, ['B[@1]', 'A']), ['1 a', '1 b', '2 a', '2 b']);
  });

  it('resolves element accesses to one fixed value', () => {
    const vars = table({ A: ['a', 'b', 'c'], B: ['1', '2'] });
    assert.deepEqual(combos(vars, ['A[2]', 'B']), ['c 1', 'c 2']);
    assert.throws(() => combos(vars, ['A[3]']), /no element 3/);
  });

  it('reports a variable without value', () => {
    assert.throws(() => combos(table({}), ['MISSING']), /MISSING/);
  });
});
