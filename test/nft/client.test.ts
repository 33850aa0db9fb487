// NftCli by the commands it runs (a FakeRunner answers): after loading a batch it reads back the
// kernel's form of the rules it added from a scratch table holding only the batch's chains, sets
// and rules (listing our table would fetch all its sets' elements), from a terse listing of the
// table itself when the scratch table refuses them, and not at all when every added rule's form
// is known already (a heal re-adding rules loaded before).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeRunner } from '../../src/exec/fake.js';
import type { Batch } from '../../src/nft/batch.js';
import { NftCli } from '../../src/nft/client.js';
import { SystemRunner } from '../../src/exec/runner.js';
import { concat, counter, jump, match, meta, payload, setref, str, sym, verdict } from '../../src/nft/expr.js';
import { canUseNetns, NetnsLab } from '../support/netns.js';
import type { KernelStatement, NftRule } from '../../src/nft/objects.js';

const skip = canUseNetns() ? false : 'needs root and network namespaces';
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
  it("reads them from a scratch table holding the batch's chains (without hooks), sets and rules, then deletes it", async () => {
    const runner = new FakeRunner((line) => (line.includes(' list ') ? { stdout: listing } : undefined));
    const known = (r: NftRule) => (r === a ? body('vnet0') : undefined);
    const hooked: Batch = [
      { verb: 'add', chain: { ...chain, hook: { type: 'filter', hook: 'forward', priority: 0, policy: 'accept' } } },
      ...batch.slice(2),
    ];
    assert.deepEqual(await new NftCli(runner).apply(hooked, 't', known), [body('vnet0'), body('vnet1')]);
    assert.deepEqual(runner.calls, ['nft -f -', 'nft -f -', 'nft -j -t list table bridge t_bodies', 'nft -f -']);
    assert.equal(
      runner.inputs[1],
      [
        'add table bridge t_bodies',
        'delete table bridge t_bodies',
        'add table bridge t_bodies',
        'add chain bridge t_bodies c',
        'add rule bridge t_bodies c iifname "vnet0" counter drop comment "vnet0"',
        'add rule bridge t_bodies c iifname "vnet1" counter drop comment "vnet1"',
        '',
      ].join('\n'),
    );
    assert.equal(runner.inputs[3], 'delete table bridge t_bodies\n');
  });

  it('lists the table itself, tersely, when the scratch table refuses the rules (they name an object the batch lacks)', async () => {
    const runner = new FakeRunner((line, input) =>
      input?.includes('t_bodies') ? { status: 1 } : line.includes(' list ') ? { stdout: listing } : undefined,
    );
    assert.deepEqual(await new NftCli(runner).apply(batch, 't'), [body('vnet0'), body('vnet1')]);
    assert.deepEqual(runner.calls, ['nft -f -', 'nft -f -', 'nft -j -t list table bridge t']);
  });

  it('does not list at all when every added rule is known', async () => {
    const runner = new FakeRunner();
    const known = (r: NftRule) => body(r.comment);
    assert.deepEqual(await new NftCli(runner).apply(batch, 't', known), [body('vnet0'), body('vnet1')]);
    assert.deepEqual(runner.calls, ['nft -f -']);
  });

  it('on the kernel: the bodies read from the scratch table are those the table holds, and no scratch table stays', {
    skip,
  }, async (t) => {
    const lab = new NetnsLab();
    t.after(() => lab.cleanup());
    const cli = new NftCli(new SystemRunner({ netns: lab.netns('bodies') }));
    const set = {
      family: 'bridge',
      name: 's',
      kind: 'set',
      decl: { key: { typeof: concat([meta('iifname'), payload('ether', 'saddr')]) } },
    } as const;
    const sub = { family: 'bridge', name: 'sub' } as const;
    const rules: NftRule[] = [
      {
        statements: [match(concat([meta('iifname'), payload('ether', 'saddr')]), setref('s')), counter, jump('sub')],
        comment: 'lookup',
      },
      { statements: [match(payload('ether', 'type'), sym('arp')), counter, verdict('accept')], comment: 'arp' },
    ];
    const loaded: Batch = [
      { verb: 'add', table: 'bridge' },
      { verb: 'add', set },
      { verb: 'add', chain: { ...chain, hook: { type: 'filter', hook: 'forward', priority: 0, policy: 'accept' } } },
      { verb: 'add', chain: sub },
      ...rules.map((rule) => ({ verb: 'add', chain, rule }) as const),
      { verb: 'add', chain: sub, rule: { statements: [counter, verdict('drop')], comment: 'sub' } },
    ];
    const bodies = await cli.apply(loaded, 't');
    const listed = (await cli.list('bridge', 't'))!;
    assert.deepEqual(
      bodies,
      [...listed.chains.get('bridge c')!.rules, ...listed.chains.get('bridge sub')!.rules].map((r) => r.body),
    );
    assert.equal(await cli.list('bridge', 't_bodies'), undefined);
  });
});
