import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyBasicRules, applyDhcpOnlyRules } from '../../src/backends/ebiptables/basic-rules.js';
import { allTeardown, tearNewRules, tearOldRules } from '../../src/backends/ebiptables/plan.js';
import { applyPlan, applyPlans } from '../../src/exec/apply.js';
import { FakeRunner } from '../../src/exec/fake.js';
import { renderCommandLine } from '../../src/plan/command.js';
import { dryRunCommands } from '../../src/plan/transaction.js';

/** A fake kernel whose `ebtables -L CHAIN` lists the jumps given for that chain. */
function listing(jumps: Record<string, string[]>): FakeRunner {
  return new FakeRunner((line) => {
    const chain = /-L (\S+)$/.exec(line)?.[1];
    if (!chain) return undefined;
    const targets = jumps[chain];
    if (!targets) return { status: 1, stderr: `Chain ${chain} does not exist` };
    return {
      stdout: `Bridge chain: ${chain}, entries: ${targets.length}, policy: ACCEPT\n${targets.map((t) => `-p ARP -j ${t} \n`).join('')}`,
    };
  });
}

const ebCalls = (r: FakeRunner) =>
  r.calls.filter((c) => c.startsWith('ebtables')).map((c) => c.replace('ebtables --concurrent -t nat ', ''));

describe('ebiptables switch-over and removal', () => {
  it('renames the root chains, then (as libvirt appends query results) the sub-chains found by listing', async () => {
    const runner = listing({
      'libvirt-J-vnet0': ['J-vnet0-arp', 'ACCEPT'],
      'J-vnet0-arp': ['J-vnet0-arp-ip'],
      'J-vnet0-arp-ip': [],
      'libvirt-P-vnet0': [],
    });
    await applyPlan(tearOldRules('vnet0'), runner);
    const calls = ebCalls(runner);
    const at = (c: string) => calls.indexOf(c);
    assert.ok(at('-E J-vnet0-arp I-vnet0-arp') > at('-X I-vnet0-arp'), calls.join('\n'));
    assert.ok(at('-E J-vnet0-arp-ip I-vnet0-arp-ip') > at('-L J-vnet0-arp-ip'));
    assert.ok(at('-E libvirt-J-vnet0 libvirt-I-vnet0') < at('-E J-vnet0-arp I-vnet0-arp'));
    assert.ok(at('-E libvirt-P-vnet0 libvirt-O-vnet0') >= 0);
    assert.equal(calls.filter((c) => c.startsWith('-E ')).length, 4);
    // The old final chains went first; the libvirt-in/out hooks of iptables are renamed too.
    assert.ok(at('-X libvirt-I-vnet0') < at('-E libvirt-J-vnet0 libvirt-I-vnet0'));
    assert.ok(runner.calls.includes('iptables -w -E FJ-vnet0 FI-vnet0'));
  });

  it('tearing down a new set touches temporary chains only, sub-chains included', async () => {
    const runner = listing({ 'libvirt-J-vnet0': ['J-vnet0-mac'], 'J-vnet0-mac': [] });
    await applyPlan(tearNewRules('vnet0'), runner);
    assert.ok(
      runner.calls.every((c) => !/\b(libvirt-[IO]-|[FH][IO]-|[IO]-vnet0)/.test(c)),
      runner.calls.join('\n'),
    );
    assert.ok(ebCalls(runner).includes('-X J-vnet0-mac'));
  });

  it('removing everything also drops final chains, their sub-chains and the in-post accept', async () => {
    const runner = listing({ 'libvirt-I-vnet0': ['I-vnet0-ipv4'], 'I-vnet0-ipv4': [] });
    await applyPlan(allTeardown('vnet0'), runner);
    const eb = ebCalls(runner);
    assert.ok(eb.includes('-D PREROUTING -i vnet0 -j libvirt-I-vnet0'));
    assert.ok(eb.indexOf('-X I-vnet0-ipv4') > eb.indexOf('-L I-vnet0-ipv4'));
    assert.ok(runner.calls.includes('ip6tables -w -D libvirt-in-post -m physdev --physdev-in vnet0 -j ACCEPT'));
    assert.ok(runner.calls.includes('iptables -w -X HI-vnet0'));
  });
});

describe('fixed rule sets for IP address learning', () => {
  const lines = (plans: ReturnType<typeof applyDhcpOnlyRules>) =>
    plans.flatMap(dryRunCommands).map((c) => renderCommandLine(c.argv).replace('ebtables --concurrent -t nat ', ''));

  it('DHCP-only answers come from each given server, to the guest MAC and to broadcast', () => {
    const out = lines(applyDhcpOnlyRules('vnet2', '52:54:00:00:00:02', ['10.0.0.1', '10.0.0.2'], false));
    const answers = out.filter((l) => l.startsWith('-A libvirt-P-vnet2') && l.includes('--ip-sport 67'));
    assert.deepEqual(
      answers.map((l) => [/-d (\S+)/.exec(l)![1], /--ip-src (\S+)/.exec(l)![1]]),
      [
        ['52:54:00:00:00:02', '10.0.0.1'],
        ['ff:ff:ff:ff:ff:ff', '10.0.0.1'],
        ['52:54:00:00:00:02', '10.0.0.2'],
        ['ff:ff:ff:ff:ff:ff', '10.0.0.2'],
      ],
    );
    assert.ok(
      out.indexOf('-E libvirt-P-vnet2 libvirt-O-vnet2') > out.indexOf('-A POSTROUTING -o vnet2 -j libvirt-P-vnet2'),
    );
    // The interface's previous filter is torn down first.
    assert.ok(out.indexOf('-D PREROUTING -i vnet2 -j libvirt-I-vnet2') < out.indexOf('-N libvirt-J-vnet2'));
    assert.ok(!lines(applyDhcpOnlyRules('vnet2', '52:54:00:00:00:02', [], true)).some((l) => l.startsWith('-E')));
  });

  it('a failing basic rule set cleans the interface completely', async () => {
    const runner = new FakeRunner((line) => (line.includes('-p ARP -j ACCEPT') ? { status: 1 } : undefined));
    await assert.rejects(applyPlans(applyBasicRules('vnet3', '52:54:00:00:00:03'), runner));
    const after = ebCalls(runner).slice(ebCalls(runner).indexOf('-A libvirt-J-vnet3 -p ARP -j ACCEPT') + 1);
    for (const chain of ['libvirt-I-vnet3', 'libvirt-O-vnet3', 'libvirt-J-vnet3', 'libvirt-P-vnet3'])
      assert.ok(after.includes(`-X ${chain}`), chain);
  });
});
