import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { iptablesRuleArgs } from '../../src/backends/ebiptables/iptables-rules.js';
import { parseFilter } from '../../src/conf/nwfilter/parse.js';
import { instantiate } from '../../src/nwfilter/instantiate.js';
import { MapFilterSource } from '../../src/nwfilter/source.js';

/** The iptables arguments of a single-rule filter, one string per chain it lands in. */
function compile(rule: string): string[] {
  const [inst] = instantiate(parseFilter(`<filter name='t'>${rule}</filter>`), new Map(), new MapFilterSource([]));
  return iptablesRuleArgs(inst!.expansions[0]!, 'vnet0').map((a) => a.join(' '));
}

describe('iptables rules', () => {
  it('puts a rule in the from-guest, to-guest and to-host chains with state matches per direction', () => {
    const out = compile(`<rule action='accept' direction='out'><udp dstportstart='53'/></rule>`);
    assert.deepEqual(
      out.map((l) => l.split(' ')[1]),
      ['FJ-vnet0', 'FP-vnet0', 'HJ-vnet0'],
    );
    assert.match(out[0]!, /--dport 53 .*--ctstate NEW,ESTABLISHED .*--ctdir Original -j RETURN$/);
    // Seen from the guest's receiving side, ports swap and only replies pass.
    assert.match(out[1]!, /--sport 53 .*--ctstate ESTABLISHED .*--ctdir Reply -j ACCEPT$/);
  });

  it('with an explicit state, uses only the initiating side and no direction match', () => {
    const incoming = compile(`<rule action='accept' direction='in'><tcp dstportstart='22' state='NEW'/></rule>`);
    assert.deepEqual(incoming, ['-A FP-vnet0 -p tcp --dport 22 -m conntrack --ctstate NEW -j ACCEPT']);
    assert.equal(compile(`<rule action='accept' direction='out'><tcp state='NEW'/></rule>`).length, 2);
    assert.equal(compile(`<rule action='drop' direction='inout'><tcp state='NEW'/></rule>`).length, 3);
    // state NONE means no state match at all; statematch='false' ignores the state.
    assert.deepEqual(compile(`<rule action='accept' direction='in'><tcp state='NONE'/></rule>`), [
      '-A FP-vnet0 -p tcp -j ACCEPT',
    ]);
    assert.equal(
      compile(`<rule action='accept' direction='in' statematch='false'><tcp state='NEW'/></rule>`).length,
      3,
    );
  });

  it('drops the default state match for non-accept actions and for inout rules', () => {
    assert.ok(compile(`<rule action='drop' direction='out'><tcp/></rule>`).every((l) => !l.includes('conntrack')));
    assert.ok(compile(`<rule action='accept' direction='inout'><tcp/></rule>`).every((l) => !l.includes('conntrack')));
  });

  it('skips the source MAC where it cannot be known, and rules left with nothing else', () => {
    const out = compile(`<rule action='accept' direction='out'><all srcmacaddr='52:54:00:00:00:01'/></rule>`);
    assert.deepEqual(
      out.map((l) => l.split(' ')[1]),
      ['FJ-vnet0', 'HJ-vnet0'],
    );
    assert.ok(out.every((l) => l.includes('-m mac --mac-source 52:54:00:00:00:01')));
  });

  it('limits connections only for connections the guest opens', () => {
    const out = compile(`<rule action='drop' direction='out'><tcp connlimit-above='3'/></rule>`);
    assert.deepEqual(out, [
      '-A FJ-vnet0 -p tcp -m connlimit --connlimit-above 3 -j DROP',
      '-A HJ-vnet0 -p tcp -m connlimit --connlimit-above 3 -j DROP',
    ]);
  });

  it('leaves ICMP rules with a type out of the chains of the other direction', () => {
    const out = compile(`<rule action='accept' direction='in'><icmp type='0'/></rule>`);
    assert.deepEqual(out, ['-A FP-vnet0 -p icmp --icmp-type 0 -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT']);
  });
});
