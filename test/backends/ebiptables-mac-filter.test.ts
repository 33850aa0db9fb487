// The ebiptables backend's mac_filter rules computed from the chain's listing: nothing to do when
// the chain is right, a new rule before the stale one goes, strays only within the scope.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listedMacRules, macFilterCommands, macFilterPlan } from '../../src/backends/ebiptables/mac-filter.js';

const LISTING = `Bridge table: nat

Bridge chain: virtwall-mac-filter, entries: 2, policy: RETURN
-s ! 52:54:00:0a:00:01 -i vnet0 -j DROP
-s ! 52:54:00:0a:00:09 -i vnet9 -j DROP
`;
/** Commands without the common `ebtables --concurrent -t nat`. */
const args = (cmds: readonly { argv: readonly string[] }[]) => cmds.map((c) => c.argv.slice(4).join(' '));

describe('ebiptables mac_filter rules', () => {
  it('reads the DROP rules of the listing per port, MACs as ebtables-legacy or the nft variant print them', () => {
    assert.deepEqual(
      [...listedMacRules(LISTING)],
      [
        ['vnet0', ['52:54:00:0a:00:01']],
        ['vnet9', ['52:54:00:0a:00:09']],
      ],
    );
    assert.deepEqual([...listedMacRules('-s ! 52:54:0:A:0:1 -i vnet0 -j DROP\n')], [['vnet0', ['52:54:00:0a:00:01']]]);
  });

  it('changes nothing for a port whose rule is there, whatever the case of its MAC', () => {
    const r = macFilterCommands(LISTING, new Map([['vnet0', '52:54:00:0A:00:01']]), new Set(['vnet0']));
    assert.deepEqual(r, { commands: [], changed: [] });
  });

  it('adds the new MAC before deleting the old one, and leaves ports outside the scope alone', () => {
    const r = macFilterCommands(LISTING, new Map([['vnet0', '52:54:00:0a:00:02']]), new Set(['vnet0']));
    assert.deepEqual(args(r.commands), [
      '-A virtwall-mac-filter -i vnet0 -s ! 52:54:00:0a:00:02 -j DROP',
      '-D virtwall-mac-filter -i vnet0 -s ! 52:54:00:0a:00:01 -j DROP',
    ]);
    assert.deepEqual(r.changed, ['vnet0']);
  });

  it('a reconcile (no scope) removes every rule not wanted', () => {
    const r = macFilterCommands(LISTING, new Map([['vnet0', '52:54:00:0a:00:01']]), undefined);
    assert.deepEqual(args(r.commands), ['-D virtwall-mac-filter -i vnet9 -s ! 52:54:00:0a:00:09 -j DROP']);
    assert.deepEqual(r.changed, ['vnet9']);
  });

  it('creates the chain and its jump only when some port wants a rule', () => {
    const only = (plan: ReturnType<typeof macFilterPlan>) => plan.map((g) => args(g.commands));
    assert.deepEqual(only(macFilterPlan(new Map(), new Set(['vnet0']))), [['-L virtwall-mac-filter']]);
    assert.deepEqual(only(macFilterPlan(new Map([['vnet0', '52:54:00:0a:00:01']]), undefined)), [
      ['-N virtwall-mac-filter', '-L PREROUTING'],
      ['-L virtwall-mac-filter'],
    ]);
    const jump = macFilterPlan(new Map([['vnet0', '52:54:00:0a:00:01']]), undefined)[0]!.commands[1]!.followUp!;
    assert.deepEqual(jump('Bridge chain: PREROUTING, entries: 1, policy: ACCEPT\n-j virtwall-mac-filter\n'), []);
    assert.deepEqual(args(jump('Bridge chain: PREROUTING, entries: 0, policy: ACCEPT\n')), [
      '-I PREROUTING 1 -j virtwall-mac-filter',
    ]);
  });
});
