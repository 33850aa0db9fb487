// NftCli by the commands it runs (a FakeRunner answers): after loading a batch it reads back the
// kernel's form of the rules it added, with a terse listing (rules, not the sets' elements), and
// not at all when every added rule's form is known already (a heal re-adding rules loaded before).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeRunner } from '../../src/exec/fake.js';
import type { Batch } from '../../src/nft/batch.js';
import { NftCli } from '../../src/nft/client.js';
import { counter, match, meta, str, verdict } from '../../src/nft/expr.js';
import type { KernelStatement, NftRule } from '../../src/nft/objects.js';

const chain = { family: 'bridge', name: 'c' } as const;
const rule = (port: string): NftRule => ({
  statements: [match(meta('iifname'), str(port)), counter, verdict('drop')],
  comment: port,
});
const [a, b] = [rule('vnet0'), rule('vnet1')];
const batch: Batch = [
  { verb: 'add', table: 'bridge' },
  { verb: 'add', chain },
  { verb: 'add', chain, rule: a },
  { verb: 'add', chain, rule: b },
];
const body = (port: string): KernelStatement[] => [
  { match: { op: '==', left: { meta: { key: 'iifname' } }, right: port } },
  { counter: { packets: 0, bytes: 0 } },
  { drop: null },
];
const listing = JSON.stringify({
  nftables: [
    { table: { family: 'bridge', name: 't', handle: 1 } },
    { chain: { family: 'bridge', table: 't', name: 'c', handle: 1 } },
    ...['vnet0', 'vnet1'].map((p, i) => ({
      rule: { family: 'bridge', table: 't', chain: 'c', handle: 2 + i, comment: p, expr: body(p) },
    })),
  ],
});

describe('NftCli: reading back the rules a batch added', () => {
  it('lists the table tersely when a rule is not known', async () => {
    const runner = new FakeRunner((line) => (line.includes(' list ') ? { stdout: listing } : undefined));
    const known = (r: NftRule) => (r === a ? body('vnet0') : undefined);
    assert.deepEqual(await new NftCli(runner).apply(batch, 't', known), [body('vnet0'), body('vnet1')]);
    assert.deepEqual(runner.calls, ['nft -f -', 'nft -j -t list table bridge t']);
  });

  it('does not list at all when every added rule is known', async () => {
    const runner = new FakeRunner();
    const known = (r: NftRule) => body(r.comment);
    assert.deepEqual(await new NftCli(runner).apply(batch, 't', known), [body('vnet0'), body('vnet1')]);
    assert.deepEqual(runner.calls, ['nft -f -']);
  });
});
