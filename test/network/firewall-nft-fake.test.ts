// The network firewall's nftables side against the fake nft (src/nft/fake.ts): the batch that sets
// up libvirt's table and a network's rules, a health check that finds a rule whose body another
// tool edited in place (keeping its comment), the repair batch, and the removal — by value,
// without root.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DiagnosticList, ignoreDiagnostics } from '../../src/errors.js';
import { FakeRunner } from '../../src/exec/fake.js';
import { FakeNft } from '../../src/nft/fake.js';
import { counter, match, meta, ruleText, str, verdict } from '../../src/nft/expr.js';
import { objectKey } from '../../src/nft/objects.js';
import { XtablesClient } from '../../src/xtables/client.js';
import {
  applyNetworkFirewall,
  reapplyNetworkFirewalls,
  removeNetworkFirewall,
} from '../../src/network/lifecycle/apply-firewall.js';
import { firewallParts } from '../../src/network/lifecycle/firewall-health.js';
import { isNftPart, type NftPart } from '../../src/network/firewall/parts.js';
import { ipDef, networkDef, pool } from './defs.js';

const TABLE = 'libvirt_network';

function rig() {
  const nft = new FakeNft();
  const runner = new FakeRunner();
  return { nft, runner, io: { runner, nft, xt: new XtablesClient(runner) } };
}

const nat = networkDef('nat', { ips: [ipDef('10.20.30.1', 24, pool('10.20.30.100', '10.20.30.199'))] });
/** Rule texts of a chain of the fake kernel, in order. */
const texts = (nft: FakeNft, chain: string) =>
  nft
    .ruleset(TABLE)
    .chains.get(objectKey('ip', chain))
    ?.rules.map((r) => ruleText(r.statements, r.comment));

describe('network firewall on nftables (fake nft)', () => {
  it("sets up libvirt's table and the network's rules in one batch, in libvirt's order", async () => {
    const { nft, runner, io } = rig();
    const applied = await applyNetworkFirewall('nftables', nat, io, ignoreDiagnostics);
    assert.equal(nft.scripts.length, 1, 'one transaction');
    assert.deepEqual(texts(nft, 'forward'), [
      'counter jump guest_cross',
      'counter jump guest_input',
      'counter jump guest_output',
    ]);
    assert.deepEqual(texts(nft, 'guest_output'), [
      'ip saddr 10.20.30.0/24 iif "vbr7" counter accept',
      'iif "vbr7" counter reject',
    ]);
    assert.deepEqual(texts(nft, 'guest_input'), [
      'oif "vbr7" ip daddr 10.20.30.0/24 ct state related,established counter accept',
      'oif "vbr7" counter reject',
    ]);
    assert.deepEqual(texts(nft, 'guest_cross'), ['iif "vbr7" oif "vbr7" counter accept']);
    assert.deepEqual(texts(nft, 'guest_nat'), [
      'ip saddr 10.20.30.0/24 ip daddr 224.0.0.0/24 counter return',
      'ip saddr 10.20.30.0/24 ip daddr 255.255.255.255/32 counter return',
      'meta l4proto tcp ip saddr 10.20.30.0/24 ip daddr != 10.20.30.0/24 counter masquerade to :1024-65535',
      'meta l4proto udp ip saddr 10.20.30.0/24 ip daddr != 10.20.30.0/24 counter masquerade to :1024-65535',
      'ip saddr 10.20.30.0/24 ip daddr != 10.20.30.0/24 counter masquerade',
    ]);
    assert.deepEqual(nft.ruleset(TABLE).chains.get(objectKey('ip', 'guest_nat'))?.hook, {
      type: 'nat',
      hook: 'postrouting',
      priority: 100,
      policy: 'accept',
    });
    // every rule recorded as the kernel holds it; the tc filter by the command that deletes it
    assert.equal(applied.parts.filter(isNftPart).length, 10);
    assert.deepEqual(applied.parts.filter((p) => 'tc' in p).length, 1);
    assert.deepEqual(runner.calls.slice(0, 2), [
      'tc qdisc show dev vbr7 handle 1:',
      'tc qdisc add dev vbr7 root handle 1: htb default 2',
    ]);
    assert.deepEqual(await firewallParts(applied.parts, io), { present: applied.parts, missing: [] });
  });

  it('a rule whose body was edited in place, keeping its comment, is missing; the repair batch puts it back above the edit', async () => {
    const { nft, io } = rig();
    const { parts } = await applyNetworkFirewall('nftables', nat, io, ignoreDiagnostics);
    // the reject becomes an accept
    nft.editRule(TABLE, 'ip', 'guest_output', 1, [match(meta('iif'), str('vbr7')), counter, verdict('accept')]);
    const health = await firewallParts(parts, io);
    assert.equal(health.missing.length, 1);
    const { handle, table, ...edited } = health.missing[0] as NftPart;
    assert.ok(handle !== undefined && table !== undefined, 'recorded without its handles');
    assert.deepEqual(edited, {
      family: 'ip',
      chain: 'guest_output',
      comment: '',
      body: [
        { match: { op: '==', left: { meta: { key: 'iif' } }, right: 'vbr7' } },
        { counter: { packets: 0, bytes: 0 } },
        { reject: null },
      ],
    });

    const { removals } = await reapplyNetworkFirewalls(
      'nftables',
      [{ def: nat, previous: parts, present: health.present }],
      io,
      ignoreDiagnostics,
    );
    assert.equal(nft.scripts.length, 2, 'one repair transaction');
    // ours swapped in place, the foreign edit left below them
    assert.deepEqual(texts(nft, 'guest_output'), [
      'ip saddr 10.20.30.0/24 iif "vbr7" counter accept',
      'iif "vbr7" counter reject',
      'iif "vbr7" counter accept',
    ]);
    assert.deepEqual(
      texts(nft, 'forward'),
      ['counter jump guest_cross', 'counter jump guest_input', 'counter jump guest_output'],
      'the skeleton was complete',
    );
    assert.deepEqual((await firewallParts(removals[0]!, io)).missing, []);
    assert.deepEqual(
      removals[0]!.filter((p) => 'tc' in p),
      parts.filter((p) => 'tc' in p),
      'the tc filter stays with the bridge',
    );

    await removeNetworkFirewall(removals[0]!, io);
    assert.deepEqual(texts(nft, 'guest_output'), ['iif "vbr7" counter accept'], 'only the foreign rule is left');
    assert.deepEqual(texts(nft, 'guest_nat'), []);
  });

  it('stop deletes the rules by the handles recorded at start, without listing the table', async () => {
    const { nft, io } = rig();
    const { parts } = await applyNetworkFirewall('nftables', nat, io, ignoreDiagnostics);
    const recorded = parts.filter(isNftPart);
    assert.equal(new Set(recorded.map((p) => p.handle)).size, recorded.length, 'one handle per rule');
    // the handles are the fake kernel's own: the rules in its chains carry them
    const held = [...nft.ruleset(TABLE).chains.values()].flatMap((c) => c.rules.map((r) => r.handle));
    for (const p of recorded) assert.ok(held.includes(p.handle), `handle ${p.handle} is no rule's`);
    const listed: string[] = [];
    const list = nft.list.bind(nft);
    nft.list = (family, table) => {
      listed.push(family);
      return list(family, table);
    };
    await removeNetworkFirewall(parts, io);
    assert.deepEqual(listed, []);
    assert.deepEqual(texts(nft, 'guest_output'), []);
    assert.deepEqual(texts(nft, 'guest_nat'), []);
  });

  it("a table created again since the start: stop finds the rules by value, and removes no other network's rule", async () => {
    const { nft, io } = rig();
    const { parts } = await applyNetworkFirewall('nftables', nat, io, ignoreDiagnostics);
    nft.flushRuleset();
    // another network starts before any heal: the table is created again, numbered afresh
    const other = networkDef('nat', {
      name: 'other',
      bridge: { name: 'vbr8', stp: true, delay: 0 },
      ips: [ipDef('10.20.31.1', 24)],
    });
    const started = await applyNetworkFirewall('nftables', other, io, ignoreDiagnostics);
    assert.notEqual(started.parts.filter(isNftPart)[0]!.table, parts.filter(isNftPart)[0]!.table);
    // its rules got the handles the stopped network's rules had: deleting by those would remove them
    const handles = (ps: typeof parts) => ps.filter(isNftPart).map((p) => p.handle);
    assert.ok(handles(started.parts).some((h) => handles(parts).includes(h)));
    const before = texts(nft, 'guest_nat');
    await removeNetworkFirewall(parts, io);
    assert.deepEqual(texts(nft, 'guest_nat'), before);
    assert.deepEqual((await firewallParts(started.parts, io)).missing, []);
    // a record written before handles were recorded is found by value too
    const again = await applyNetworkFirewall('nftables', nat, io, ignoreDiagnostics);
    const mine = again.parts.filter(isNftPart).map(({ handle, table, ...p }) => p);
    await removeNetworkFirewall(mine, io);
    assert.deepEqual((await firewallParts(mine, io)).present, []);
    assert.deepEqual((await firewallParts(started.parts, io)).missing, []);
  });

  it('a flushed ruleset is set up again from nothing; parts from before are all missing', async () => {
    const { nft, io } = rig();
    const { parts } = await applyNetworkFirewall('nftables', nat, io, ignoreDiagnostics);
    nft.flushRuleset();
    const health = await firewallParts(parts, io);
    assert.equal(health.missing.length, parts.filter(isNftPart).length);
    const { removals } = await reapplyNetworkFirewalls(
      'nftables',
      [{ def: nat, previous: parts, present: health.present }],
      io,
      ignoreDiagnostics,
    );
    assert.deepEqual((await firewallParts(removals[0]!, io)).missing, []);
    assert.equal(texts(nft, 'forward')?.length, 3);
  });

  it('a start with networks running lists no whole table: the chains and the skeleton jumps only, so it costs the same for the 1st and the 30th network', async () => {
    const { nft, io } = rig();
    const listings: string[] = [];
    const list = nft.list.bind(nft);
    nft.list = (family, table) => {
      listings.push(`list table ${family}`);
      return list(family, table);
    };
    const listChains = nft.listChains.bind(nft);
    nft.listChains = (family, table, rulesOf) => {
      listings.push(`list chains ${family} with rules of ${rulesOf.join(',')}`);
      return listChains(family, table, rulesOf);
    };
    const perStart: string[][] = [];
    let parts: Awaited<ReturnType<typeof applyNetworkFirewall>>['parts'] = [];
    for (let i = 1; i <= 30; i++) {
      listings.length = 0;
      const def = networkDef('nat', {
        name: `n${i}`,
        bridge: { name: `vbr${i}`, stp: true, delay: 0 },
        ips: [ipDef(`10.21.${i}.1`, 24, pool(`10.21.${i}.100`, `10.21.${i}.199`))],
      });
      ({ parts } = await applyNetworkFirewall('nftables', def, io, ignoreDiagnostics));
      perStart.push([...listings]);
    }
    for (const l of perStart)
      assert.deepEqual(l, ['list chains ip with rules of forward', 'list chains ip6 with rules of forward']);
    assert.equal(nft.scripts.length, 30, 'one transaction per start');
    assert.deepEqual(texts(nft, 'forward'), [
      'counter jump guest_cross',
      'counter jump guest_input',
      'counter jump guest_output',
    ]);
    // the 30th network's rules on top, recorded as the kernel holds them
    assert.deepEqual(texts(nft, 'guest_cross')?.[0], 'iif "vbr30" oif "vbr30" counter accept');
    assert.deepEqual(await firewallParts(parts, io), { present: parts, missing: [] });
  });

  it('a kernel without the tc csum action is asked once: later starts skip the checksum fix without running tc', async () => {
    const nft = new FakeNft();
    const runner = new FakeRunner((line) =>
      line.includes(' csum ') ? { status: 2, stderr: 'Error: Unknown action "csum"' } : undefined,
    );
    const io = { runner, nft, xt: new XtablesClient(runner) };
    const diag = new DiagnosticList();
    const first = await applyNetworkFirewall('nftables', nat, io, diag);
    assert.equal(runner.calls.length, 3, runner.calls.join('\n'));
    assert.deepEqual(
      first.parts.filter((p) => 'tc' in p),
      [],
    );
    const other = networkDef('nat', {
      name: 'other',
      bridge: { name: 'vbr8', stp: true, delay: 0 },
      ips: [ipDef('10.20.31.1', 24)],
    });
    const second = await applyNetworkFirewall('nftables', other, io, diag);
    assert.equal(runner.calls.length, 3, 'no tc for the second network');
    assert.deepEqual(
      second.parts.filter((p) => 'tc' in p),
      [],
    );
    assert.equal(diag.warnings.filter((w) => w.detail.includes('csum')).length, 2, 'each start still warns');
    // a kernel with it gets libvirt's three tc commands every time
    const withCsum = rig();
    await applyNetworkFirewall('nftables', nat, withCsum.io, ignoreDiagnostics);
    await applyNetworkFirewall('nftables', other, withCsum.io, ignoreDiagnostics);
    assert.equal(withCsum.runner.calls.filter((c) => c.startsWith('tc ')).length, 6);
  });
});
