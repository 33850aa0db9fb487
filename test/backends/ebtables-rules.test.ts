import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ebtablesRuleArgs } from '../../src/backends/ebiptables/ebtables-rules.js';
import { parseFilter } from '../../src/conf/nwfilter/parse.js';
import { VirtwallError } from '../../src/errors.js';
import { instantiate, type ResolvedRule } from '../../src/nwfilter/instantiate.js';
import { MapFilterSource } from '../../src/nwfilter/source.js';

function resolved(rule: string, vars: Record<string, string[]> = {}): ResolvedRule {
  const [inst] = instantiate(
    parseFilter(`<filter name='t'>${rule}</filter>`),
    new Map(Object.entries(vars)),
    new MapFilterSource([]),
  );
  return inst!.expansions[0]!;
}
const args = (rule: string, reverse = false) => ebtablesRuleArgs(resolved(rule), reverse).join(' ');

describe('ebtables rules', () => {
  it('swaps sources and destinations for the reversed half of an inout rule', () => {
    const rule = `<rule action='accept' direction='inout'><ip srcmacaddr='52:54:00:00:00:01' srcipaddr='10.0.0.1' srcportstart='5' protocol='tcp'/></rule>`;
    assert.equal(
      args(rule),
      '-s 52:54:00:00:00:01 -p ipv4 --ip-source 10.0.0.1 --ip-protocol 6 --ip-source-port 5 -j ACCEPT',
    );
    assert.equal(
      args(rule, true),
      '-d 52:54:00:00:00:01 -p ipv4 --ip-destination 10.0.0.1 --ip-protocol 6 --ip-destination-port 5 -j ACCEPT',
    );
  });

  it('negates with ! after the option, and drops instead of rejecting', () => {
    assert.equal(
      args(
        `<rule action='reject' direction='out'><mac match='no' srcmacaddr='52:54:00:00:00:01' protocolid='arp'/></rule>`,
      ),
      '-s ! 52:54:00:00:00:01 -p ! 0x806 -j DROP',
    );
  });

  it('prints variable values exactly as given, hex options included', () => {
    const rule = resolved(`<rule action='accept' direction='out'><mac protocolid='$P' srcmacaddr='$M'/></rule>`, {
      P: ['2048'],
      M: ['52:54:0:0:0:1'],
    });
    assert.equal(ebtablesRuleArgs(rule, false).join(' '), '-s 52:54:0:0:0:1 -p 2048 -j ACCEPT');
  });

  it('gives an ARP destination without mask the source mask, as libvirt does', () => {
    assert.equal(
      args(
        `<rule action='accept' direction='out'><arp arpsrcipaddr='10.0.0.1' arpsrcipmask='24' arpdstipaddr='10.0.0.2'/></rule>`,
      ),
      '-p 0x806 --arp-ip-src 10.0.0.1/24 --arp-ip-dst 10.0.0.2/24 -j ACCEPT',
    );
    assert.equal(
      args(`<rule action='accept' direction='out'><arp arpdstipaddr='10.0.0.2'/></rule>`),
      '-p 0x806 --arp-ip-dst 10.0.0.2/32 -j ACCEPT',
    );
  });

  it('fills missing ICMPv6 type and code bounds', () => {
    assert.match(
      args(`<rule action='accept' direction='out'><ipv6 protocol='icmpv6' code='3'/></rule>`),
      /--ip6-icmp-type 0:255\/3:3 /,
    );
    assert.match(
      args(`<rule action='accept' direction='out'><ipv6 protocol='icmpv6' type='1' typeend='4'/></rule>`),
      /--ip6-icmp-type 1:4\/0:255 /,
    );
  });

  it('refuses STP with a source MAC in the reversed direction', () => {
    const rule = resolved(`<rule action='accept' direction='inout'><stp srcmacaddr='52:54:00:00:00:01'/></rule>`);
    assert.equal(ebtablesRuleArgs(rule, false).join(' '), '-s 52:54:00:00:00:01 -d 01:80:c2:00:00:00 -j ACCEPT');
    assert.throws(() => ebtablesRuleArgs(rule, true), VirtwallError);
  });
});
