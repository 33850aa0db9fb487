// The nftables compiler by value: shared chains for equal filter shapes, per-port values as set
// elements, libvirt's any-combination meaning for variables, and model diffs as minimal scripts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compilePort } from '../../src/backends/nftables/compile.js';
import { assignPortIds } from '../support/port-ids.js';
import { compileModel, PortLedger } from '../../src/backends/nftables/ledger.js';
import { modelSize, RuleBodies, snapshot, TABLE, type NftModel } from '../../src/backends/nftables/model.js';
import { afterBatch, kernelModel, planBatch, type KernelModel } from '../../src/backends/nftables/plan.js';
import { nftRuleText, renderBatch } from '../../src/nft/batch.js';
import { elementText, exprText, ruleText } from '../../src/nft/expr.js';
import { emptyRuleset, hasFamily } from '../../src/nft/objects.js';
import { ruleComment, ruleOrigin } from '../../src/backends/nftables/trace.js';
import { loadStockFilters } from '../../src/conf/nwfilter/stock.js';
import { parseFilter } from '../../src/conf/nwfilter/parse.js';
import type { PortFilter } from '../../src/nwfilter/backend.js';
import { instantiateBinding } from '../../src/nwfilter/binding.js';
import { chainSources, MapFilterSource } from '../../src/nwfilter/source.js';

const stock = new MapFilterSource(loadStockFilters().values());

function port(
  n: number,
  filter = 'clean-traffic',
  params: Record<string, string[]> = { IP: [`10.0.${n >> 8}.${n & 255}`] },
  extra: string[] = [],
): PortFilter {
  const mac = `52:54:00:00:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`;
  const source = chainSources(new MapFilterSource(extra.map((x) => parseFilter(x))), stock);
  const binding = { portdev: `vnet${n}`, mac, filter, params: new Map(Object.entries(params)) };
  return { portdev: binding.portdev, mac, filter, instances: instantiateBinding(binding, source) };
}

function model(ports: PortFilter[], previous: NftModel | undefined = undefined): NftModel {
  const prevIds = new Map<string, number>();
  for (const e of previous?.sets.get('bridge port_mark_from')?.elements ?? []) {
    if (e.key.kind === 'string' && e.value?.kind === 'number') prevIds.set(e.key.text, Number(e.value.value) & 0xffff);
  }
  return compileModel(
    ports,
    assignPortIds(
      ports.map((p) => p.portdev),
      prevIds,
    ),
  );
}

/** A set's name without its hash (compile.ts nameSets), and a chain's without its shape: `from_mac_p`. */
const setRole = (text: string) => text.replace(/\bs[0-9a-f]{10}_/g, '').replace(/_v[0-9a-f]{10}(?=[pnc])/g, '_');

const lines = (script: string) => script.trim().split('\n').filter(Boolean);

/** Changes planned as the backend plans them, against a mirror of what the kernel would hold. */
class Changes {
  ledger = PortLedger.empty('br_netfilter', 1);
  model: KernelModel = kernelModel(emptyRuleset());
  bodies = new RuleBodies();

  /** The change's script; the mirror then holds what the kernel would (a rule's text standing for its body). */
  apply(set: PortFilter[], remove: string[] = []): string[] {
    const { ledger, delta } = this.ledger.with({ set, remove });
    const plan = planBatch(this.model, ledger, delta, this.bodies);
    const echoed = plan.batch.flatMap((c) => ('rule' in c ? [[{ rule: nftRuleText(c.rule) }]] : []));
    this.model = afterBatch(this.model, plan, echoed);
    this.ledger = plan.desired;
    this.bodies = this.bodies.learnt(plan.batch, echoed);
    return lines(renderBatch(plan.batch, TABLE));
  }
}

describe('nftables compiler', () => {
  it('ports with the same filter shape share chains: rules do not grow with ports, elements do', () => {
    const one = modelSize(model([port(1)]));
    const fifty = modelSize(model(Array.from({ length: 50 }, (_, i) => port(i + 1))));
    assert.equal(fifty.rules, one.rules);
    assert.equal(fifty.chains, one.chains);
    assert.equal(fifty.elements, one.elements * 50);
    assert.equal(compilePort(port(1), 1).shape, compilePort(port(2), 2).shape);
  });

  it('ports of one shape share its rule trees; a value needing an interval set makes another shape', () => {
    const [a, b] = [compilePort(port(1), 1), compilePort(port(2), 2)];
    assert.equal(a.chains, b.chains, 'one set of chains per shape, not one per port');
    // drafted from one rule structure: an address with a mask needs an interval set, without one a hash
    const net = `<filter name='vwt-net'><rule action='accept' direction='out'><ip srcipaddr='$A' srcipmask='$M'/></rule></filter>`;
    const source = chainSources(new MapFilterSource([parseFilter(net)]), stock);
    const on = (n: number, mask: string) => {
      const binding = { portdev: `vnet${n}`, mac: '52:54:00:00:00:01', filter: 'vwt-net', params: new Map() };
      binding.params.set('A', [`10.1.${n}.0`]).set('M', [mask]);
      return compilePort({ ...binding, instances: instantiateBinding(binding, source) }, n);
    };
    const [exact, prefix, exactAgain] = [on(3, '32'), on(4, '24'), on(5, '32')];
    const interval = (c: typeof exact) => c.sets.map((s) => s.decl.flags?.includes('interval') ?? false);
    assert.deepEqual([interval(exact), interval(prefix), interval(exactAgain)], [[false], [true], [false]]);
    assert.notEqual(prefix.shape, exact.shape);
    assert.equal(exactAgain.shape, exact.shape);
    assert.deepEqual(
      [prefix, exactAgain].map((c) => c.sets[0]!.elements.map(elementText)),
      [['"vnet4" . 10.1.4.0/24'], ['"vnet5" . 10.1.5.0']],
    );
  });

  it("a port's shape and chains do not depend on the ports compiled before it", async () => {
    const params = {
      IP: ['10.0.0.1', '10.0.0.2'],
      IPV6: ['fd00::1'],
      DHCPSERVER: ['10.0.0.254'],
      GATEWAY_MAC: ['52:54:00:00:00:fe'],
    };
    const net = `<filter name='vwt-net'><rule action='accept' direction='out'><ip srcipaddr='$A' srcipmask='$M'/></rule></filter>`;
    const ports = [
      ...[...loadStockFilters().keys()].map((f, i) =>
        port(i + 1, f, f === 'allow-dhcpv6-server' ? { ...params, DHCPSERVER: ['fd00::fe'] } : params),
      ),
      port(40),
      port(41, 'clean-traffic', { IP: ['10.0.0.1', '10.0.0.2'] }),
      ...['32', '24', '32'].map((mask, i) => port(42 + i, 'vwt-net', { A: [`10.1.${i}.0`], M: [mask] }, [net])),
    ];
    // this module has compiled other ports before (the tests above); each port again in a module of its own
    const warm = ports.map((p, i) => compilePort(p, i + 1));
    for (const [i, p] of ports.entries()) {
      const fresh = (await import(
        `../../src/backends/nftables/compile.js?port=${i}`
      )) as typeof import('../../src/backends/nftables/compile.js');
      const cold = fresh.compilePort({ ...p }, i + 1);
      assert.equal(warm[i]!.shape, cold.shape, `${p.portdev} (${p.filter})`);
      assert.deepEqual(warm[i], cold, `${p.portdev} (${p.filter})`);
    }
  });

  it("a port's variables become elements keyed by the port, in the bridge and the inet table", () => {
    const m = model([port(7, 'clean-traffic', { IP: ['10.0.0.7', '10.0.0.8'] })]);
    const elements = [...m.sets.values()].flatMap((s) =>
      s.elements.map((e) => `${s.family} ${setRole(s.name)} ${elementText(e)}`),
    );
    assert.ok(elements.includes('bridge from_mac_p "vnet7" . 52:54:00:00:00:07'));
    assert.ok(elements.includes('bridge from_ipv4_ip_p "vnet7" . 10.0.0.7'));
    assert.ok(elements.includes('bridge from_ipv4_ip_p "vnet7" . 10.0.0.8'));
    const ipRules = [...m.chains.values()].flatMap((c) => c.rules).filter((r) => nftRuleText(r).includes('ip saddr @'));
    assert.equal(ipRules.length, 1, 'two IPs, one rule');

    const tcp = `<filter name='vwt-web'><rule action='accept' direction='in'><tcp dstportstart='$PORT'/></rule></filter>`;
    const inet = model([port(3, 'vwt-web', { PORT: ['80', '443'] }, [tcp])]);
    const set = [...inet.sets.values()].find(
      (s) =>
        s.family === 'inet' && 'typeof' in s.decl.key && exprText(s.decl.key.typeof).startsWith('meta mark . th dport'),
    )!;
    assert.deepEqual(set.elements.map(elementText), ['0x76770001 . 443', '0x76770001 . 80']);
  });

  it("keeps libvirt's meaning of a negated variable: one rule per value unless there is one value", () => {
    const neg = `<filter name='vwt-neg'><rule action='drop' direction='out'><ip srcipaddr='$A' match='no'/></rule></filter>`;
    const single = compilePort(port(1, 'vwt-neg', { A: ['1.1.1.1'] }, [neg]), 1);
    assert.match(
      single.chains
        .flatMap((c) => c.rules)
        .map(nftRuleText)
        .join('\n'),
      /iifname \. ip saddr != @\S+ counter drop/,
    );
    const multi = compilePort(port(1, 'vwt-neg', { A: ['1.1.1.1', '2.2.2.2'] }, [neg]), 1);
    const texts = multi.chains.flatMap((c) => c.rules).map(nftRuleText);
    assert.ok(
      texts.some((t) => t.includes('ip saddr != 1.1.1.1')) && texts.some((t) => t.includes('ip saddr != 2.2.2.2')),
    );
    assert.notEqual(multi.shape, compilePort(port(1, 'vwt-neg', { A: ['1.1.1.1', '3.3.3.3'] }, [neg]), 1).shape);
  });

  it('reverses the guest-bound half of an inout Ethernet rule and drops foreign MACs for mac_filter ports', () => {
    const xml = `<filter name='vwt-inout'><rule action='accept' direction='inout'><mac srcmacaddr='$MAC'/></rule><rule action='reject' direction='in'><ipv6/></rule></filter>`;
    const p = { ...port(4, 'vwt-inout', {}, [xml]), macFilter: true };
    const c = compilePort(p, 4);
    const texts = (suffix: string) =>
      c.chains.find((x) => x.name === `${c.shape}_${suffix}`)!.rules.map((r) => setRole(ruleText(r.statements, '')));
    assert.deepEqual(texts('from'), ['iifname . ether daddr @from_p counter accept']);
    assert.deepEqual(texts('to'), ['oifname . ether saddr @to_p counter accept', 'ether type ip6 counter drop']);
    const m = model([p]);
    assert.deepEqual(m.sets.get('bridge mac_filter')!.elements, [
      {
        key: {
          kind: 'concat',
          parts: [
            { kind: 'string', text: 'vnet4' },
            { kind: 'ether', addr: '52:54:00:00:00:04' },
          ],
        },
      },
    ]);
    assert.deepEqual(m.sets.get('bridge mac_filter_ports')!.elements, [{ key: { kind: 'string', text: 'vnet4' } }]);
  });

  it('places IP rules as libvirt does: state matches, reject to the guest drops in postrouting', () => {
    const xml = `<filter name='vwt-l4'>
      <rule action='accept' direction='out'><tcp dstportstart='80'/></rule>
      <rule action='reject' direction='in'><tcp dstportstart='23'/></rule>
      <rule action='reject' direction='out'><udp dstportstart='53'/></rule>
    </filter>`;
    const c = compilePort(port(1, 'vwt-l4', {}, [xml]), 1);
    const chain = (suffix: string) =>
      c.chains.find((x) => x.name === `${c.shape}_${suffix}`)!.rules.map((r) => ruleText(r.statements, ''));
    assert.ok(
      chain('fwd_from').some((r) =>
        /tcp th dport 80 ct state new,established ct direction original counter return$/.test(r),
      ),
    );
    assert.ok(chain('fwd_from').some((r) => /udp th dport 53 counter reject$/.test(r)));
    assert.ok(
      chain('fwd_to').some((r) => /tcp th dport 23 counter drop$/.test(r)),
      'reject towards the guest drops',
    );
    assert.ok(
      chain('fwd_to').some((r) => /tcp th sport 80 ct state established ct direction reply counter accept$/.test(r)),
    );
    assert.deepEqual(c.entries.sort(), ['fwd_from', 'fwd_to', 'host']);
  });

  it('with bridge conntrack keeps the IP rules in the bridge table, dispatched by port name', () => {
    const xml = `<filter name='vwt-l4'><rule action='accept' direction='out'><tcp dstportstart='80'/></rule><rule action='reject' direction='out'><udp/></rule></filter>`;
    const p = port(5, 'vwt-l4', {}, [xml]);
    const m = compileModel([p], new Map([['vnet5', 5]]), 'bridge-conntrack');
    assert.ok([...m.chains.values(), ...m.sets.values()].every((x) => x.family === 'bridge'));
    const c = compilePort(p, 5, 'bridge-conntrack');
    const from = c.chains.find((x) => x.name === `${c.shape}_fwd_from`)!.rules.map((r) => ruleText(r.statements, ''));
    assert.deepEqual(from, [
      'ether type ip meta l4proto tcp th dport 80 ct state new,established ct direction original counter return',
      'ether type ip meta l4proto udp counter drop',
    ]);
    assert.deepEqual(m.sets.get('bridge fwd_to_port_g1')!.elements, [
      {
        key: { kind: 'string', text: 'vnet5' },
        value: { kind: 'verdict', verdict: { kind: 'jump', target: `${c.shape}_fwd_to` } },
      },
    ]);
  });

  it('writes a change as a minimal script: a new port of a known shape only adds elements', () => {
    const changes = new Changes();
    changes.apply([port(1)]);
    const script = changes.apply([port(2)]);
    assert.ok(script.length > 0 && script.every((l) => l.startsWith('add element ')), script.join('\n'));
    assert.ok(script.every((l) => l.includes('"vnet2"') || l.includes('0x76760002') || l.includes('0x76770002')));
    const removal = changes.apply([], ['vnet2']);
    assert.ok(removal.length > 0 && removal.every((l) => l.startsWith('delete element ')), removal.join('\n'));
    assert.deepEqual(changes.apply([]), []);
  });

  it('a parameter change swaps only the changed elements', () => {
    const changes = new Changes();
    changes.apply([port(1)]);
    assert.deepEqual(changes.apply([port(1, 'clean-traffic', { IP: ['10.0.0.99'] })]).map(setRole), [
      'delete element bridge virtwall_nwf from_arp_ip_p { "vnet1" . 10.0.0.1 }',
      'delete element bridge virtwall_nwf from_ipv4_ip_p { "vnet1" . 10.0.0.1 }',
      'add element bridge virtwall_nwf from_arp_ip_p { "vnet1" . 10.0.0.99 }',
      'add element bridge virtwall_nwf from_ipv4_ip_p { "vnet1" . 10.0.0.99 }',
    ]);
  });

  it('a filter referenced twice with other parameters gives each of its rules sets of their own', () => {
    // libvirt runs each reference's rules with its own value: accept from 1.1.1.1, drop to 1.1.1.1,
    // accept from 2.2.2.2, drop to 2.2.2.2; one set per rule for both values would accept a
    // frame from 2.2.2.2 to 1.1.1.1 at the first rule, which libvirt drops at the second
    const x = `<filter name='vwt-x' chain='ipv4'><rule action='accept' direction='out' priority='500'><ip srcipaddr='$A'/></rule><rule action='drop' direction='out' priority='500'><ip dstipaddr='$A'/></rule></filter>`;
    const twice = `<filter name='vwt-twice' chain='root'><filterref filter='vwt-x'><parameter name='A' value='1.1.1.1'/></filterref><filterref filter='vwt-x'><parameter name='A' value='2.2.2.2'/></filterref></filter>`;
    const c = compilePort(port(1, 'vwt-twice', {}, [x, twice]), 1);
    const rules = c.chains.find((ch) => ch.name === `${c.shape}_from_ipv4`)!.rules.map(nftRuleText);
    const elements = new Map(c.sets.map((s) => [s.name, s.elements.map(elementText)]));
    assert.deepEqual(
      rules.map((r) => {
        const [, field, set] = /ip (saddr|daddr) @(\S+) counter (?:accept|drop)/.exec(r)!;
        return `${field} ${elements.get(set!)!.join(', ')}`;
      }),
      ['saddr "vnet1" . 1.1.1.1', 'daddr "vnet1" . 1.1.1.1', 'saddr "vnet1" . 2.2.2.2', 'daddr "vnet1" . 2.2.2.2'],
    );
  });

  it('a port moving to a shape that shares a set keeps its values there, and its old values go at once when they change', () => {
    // v2 keeps clean-traffic's no-mac-spoofing (the same rule, by the same path): its MAC set is shared
    const v2 = `<filter name='clean-traffic' chain='root'><filterref filter='no-mac-spoofing'/></filter>`;
    const macOf = (p: PortFilter) => compilePort(p, 1).sets.find((x) => setRole(x.name) === 'from_mac_p')!.name;
    assert.equal(macOf(port(1)), macOf(port(1, 'clean-traffic', undefined, [v2])));
    const changes = new Changes();
    changes.apply([port(1), port(2)]);
    const mac = `bridge ${macOf(port(1))}`;
    // a redefinition: the ports' MACs stay where they are, no element of the set is written
    const moved = changes.apply([1, 2].map((n) => port(n, 'clean-traffic', undefined, [v2])));
    assert.ok(!moved.some((l) => l.includes(`element bridge virtwall_nwf ${macOf(port(1))} `)), moved.join('\n'));
    // a move that also changes a port's MAC deletes the old one at once: the new chains read
    // this set too, so an old MAC kept for the previous generation would pass through them
    const mac2 = '52:54:00:aa:bb:cc';
    const binding = { portdev: 'vnet1', mac: mac2, filter: 'clean-traffic', params: new Map([['IP', ['10.0.0.1']]]) };
    const changed = changes.apply([{ ...port(1), mac: mac2, instances: instantiateBinding(binding, stock) }]);
    assert.ok(
      changed.includes(`delete element bridge virtwall_nwf ${macOf(port(1))} { "vnet1" . 52:54:00:00:00:01 }`),
      changed.join('\n'),
    );
    assert.ok(!changes.model.garbage.elements.get(mac)?.size, 'no old MAC kept in the shared set');
    assert.deepEqual([...changes.model.ruleset.sets.get(mac)!.elements.keys()].sort(), [
      '"vnet1" . 52:54:00:aa:bb:cc',
      '"vnet2" . 52:54:00:00:00:02',
    ]);
  });

  it('a redefinition loads the next generation of dispatch maps; the old ones go with the next change', () => {
    const v2 = `<filter name='clean-traffic' chain='root'><filterref filter='no-mac-spoofing'/></filter>`;
    const changes = new Changes();
    changes.apply([port(1), port(2)]);
    const before = snapshot(changes.model.ruleset);
    const script = changes.apply([
      port(1, 'clean-traffic', { IP: ['10.0.0.1'] }, [v2]),
      port(2, 'clean-traffic', { IP: ['10.0.0.2'] }, [v2]),
    ]);
    assert.ok(
      script.includes('add map bridge virtwall_nwf from_port_g2 { type ifname : verdict; }'),
      script.join('\n'),
    );
    assert.ok(script.includes('flush chain bridge virtwall_nwf prerouting'));
    assert.ok(script.some((l) => /^add rule bridge virtwall_nwf prerouting iifname vmap @from_port_g2 /.test(l)));
    // both ports are of the main shape: they are elements of its set, in one command
    assert.ok(
      script.some((l) => /^add set bridge virtwall_nwf from_port_s[0-9a-f]{10}_g2 \{ type ifname; \}$/.test(l)),
    );
    assert.deepEqual(
      script
        .filter((l) => /^add element .* from_port_s[0-9a-f]{10}_g2 /.test(l))
        .map((l) =>
          l
            .replace(/.* \{ (.*) \}$/, '$1')
            .split(', ')
            .sort(),
        ),
      [['"vnet1"', '"vnet2"']],
    );
    assert.ok(!script.some((l) => /^add element .* from_port_g2 /.test(l)), 'the map of generation 2 is empty');
    assert.ok(
      !script.some((l) => /^delete (chain|map|element)/.test(l)),
      'nothing the previous generation may still use goes',
    );
    // The old maps and chains are still there for packets of the previous generation...
    for (const k of before.chains.keys()) assert.ok(changes.model.ruleset.chains.has(k), k);
    assert.ok(changes.model.ruleset.sets.has('bridge from_port_g1'));
    // ...and the next change, whatever it is, removes them.
    const next = changes.apply([port(3, 'clean-traffic', { IP: ['10.0.0.3'] }, [v2])]);
    assert.ok(next.includes('delete map bridge virtwall_nwf from_port_g1'), next.join('\n'));
    assert.ok(
      next.findIndex((l) => l.startsWith('delete map')) < next.findIndex((l) => l.startsWith('delete chain')),
      'maps (holding jumps) before chains',
    );
    assert.deepEqual(snapshot(changes.model.ruleset), snapshot(changes.ledger.model));
    assert.ok(modelSize(changes.model.ruleset).rules < modelSize(before).rules);
  });

  it('an entry moving to a chain that exists already is switched in place, to and from the main shape', () => {
    const v2 = `<filter name='clean-traffic' chain='root'><filterref filter='no-mac-spoofing'/></filter>`;
    const redefined = (n: number) => port(n, 'clean-traffic', { IP: [`10.0.0.${n}`] }, [v2]);
    const changes = new Changes();
    // vnet2-4 have the main shape, vnet1 another one
    changes.apply([port(1), redefined(2), redefined(3), redefined(4)]);
    const main = changes.ledger.main!;
    assert.equal(changes.ledger.shapeOf('vnet2'), main);
    const mainSet = `from_port_${main}_g1`;
    // into the main shape: out of the map, into the main set
    const into = changes.apply([redefined(1)]);
    assert.ok(!into.some((l) => /^add (map|set|chain)/.test(l)), into.join('\n'));
    assert.ok(into.some((l) => /^delete element bridge virtwall_nwf from_port_g1 \{ "vnet1" : goto /.test(l)));
    assert.ok(into.includes(`add element bridge virtwall_nwf ${mainSet} { "vnet1" }`), into.join('\n'));
    assert.ok(
      !into.some((l) => /^delete element .* s[0-9a-f]+_\S+ \{ "vnet1"/.test(l)),
      "the port's elements in its old shape stay for the previous generation",
    );
    // out of the main shape, to one that has a port: into the map, and still in the main set,
    // which packets of the next generation reach only when the map has no entry for them
    changes.apply([port(5)]);
    const out = changes.apply([port(2)]);
    assert.ok(!out.some((l) => /^add (map|set|chain)/.test(l)), out.join('\n'));
    assert.ok(
      out.some((l) => /^add element bridge virtwall_nwf from_port_g1 \{ "vnet2" : goto s[0-9a-f]{10}_from \}$/.test(l)),
    );
    assert.ok(!out.some((l) => l.includes(`${mainSet} { "vnet2"`)), out.join('\n'));
    const next = changes.apply([], ['vnet5']);
    assert.ok(next.includes(`delete element bridge virtwall_nwf ${mainSet} { "vnet2" }`), next.join('\n'));
    assert.deepEqual(snapshot(changes.model.ruleset), snapshot(changes.ledger.model));
  });

  it('the incremental model equals the whole-model compile after any sequence of changes', () => {
    const v2 = `<filter name='clean-traffic' chain='root'><filterref filter='no-mac-spoofing'/></filter>`;
    let ledger = PortLedger.empty('br_netfilter', 1);
    const live = new Map<string, PortFilter>();
    const steps: [PortFilter[], string[]][] = [
      [[port(1), port(2), port(3)], []],
      [[port(2, 'clean-traffic', { IP: ['10.0.0.9', '10.0.0.10'] })], ['vnet1']],
      [[port(3, 'clean-traffic', { IP: ['10.0.0.3'] }, [v2]), port(1)], []],
      [[], ['vnet2', 'vnet3']],
    ];
    for (const [set, remove] of steps) {
      for (const n of remove) live.delete(n);
      for (const p of set) live.set(p.portdev, p);
      ledger = ledger.with({ set, remove }).ledger;
      const ids = new Map([...live.keys()].map((n) => [n, ledger.idOf(n)!]));
      assert.deepEqual(snapshot(ledger.model), compileModel([...live.values()], ids));
    }
  });

  it('keeps the main shape until another has twice as many ports and more, and equals the whole-model compile with it', () => {
    const v2 = `<filter name='clean-traffic' chain='root'><filterref filter='no-mac-spoofing'/></filter>`;
    const shaped = (n: number, other: boolean) => (other ? port(n, 'clean-traffic', undefined, [v2]) : port(n));
    let ledger = PortLedger.empty('br_netfilter', 1);
    const live = new Map<number, boolean>();
    const mains = new Set<string>();
    for (let step = 0; step < 120; step++) {
      // 40 ports of the first shape, then each moves to the other one, then back
      const n = 1 + (step % 40);
      const other = Math.floor(step / 40) === 1;
      live.set(n, other);
      ledger = ledger.with({ set: [shaped(n, other)], remove: [] }).ledger;
      const count = (o: boolean) => [...live.values()].filter((x) => x === o).length;
      const main = ledger.main!;
      mains.add(main);
      const mainIsOther = ledger.shapeOf(`vnet${[...live].find(([, o]) => o)?.[0]}`) === main;
      const [own, rival] = mainIsOther ? [count(true), count(false)] : [count(false), count(true)];
      assert.ok(own > 0 && rival < 2 * own + 16, `step ${step}: ${own} ports of the main shape, ${rival} of another`);
      const ids = new Map([...live.keys()].map((m) => [`vnet${m}`, ledger.idOf(`vnet${m}`)!]));
      const ports = [...live].map(([m, o]) => shaped(m, o));
      assert.deepEqual(snapshot(ledger.model), compileModel(ports, ids, 'br_netfilter', 1, main));
    }
    assert.equal(mains.size, 2, 'the main shape changed hands, and back');
  });

  it('a change that empties a shape removes the sets only it held, whole; the sets it shares keep their elements untouched', () => {
    const v2 = `<filter name='clean-traffic' chain='root'><filterref filter='no-mac-spoofing'/></filter>`;
    const first = PortLedger.empty('br_netfilter', 1).with({ set: [port(1), port(2)], remove: [] }).ledger;
    const setKeys = (p: PortFilter) => compilePort(p, 1).sets.map((x) => `${x.family} ${x.name}`);
    const oldSets = setKeys(port(1));
    // v2 keeps clean-traffic's no-mac-spoofing, reached by the same path: its set is the same one
    const shared = setKeys(port(1, 'clean-traffic', undefined, [v2])).filter((k) => oldSets.includes(k));
    const own = oldSets.filter((k) => !shared.includes(k));
    assert.deepEqual(shared.map(setRole), ['bridge from_mac_p']);
    assert.ok(own.length > 0);
    // both ports move to another shape (a redefinition): the old shape's own sets go whole, the shared one stays as it is
    const redefined = first.with({
      set: [port(1, 'clean-traffic', undefined, [v2]), port(2, 'clean-traffic', undefined, [v2])],
      remove: [],
    });
    for (const k of own) {
      assert.ok(redefined.delta.removedSets.has(k), `${k} removed`);
      assert.equal(redefined.delta.removedElements.get(k), undefined, `${k}: no element removals`);
    }
    for (const k of shared) {
      assert.ok(!redefined.delta.removedSets.has(k) && !redefined.delta.addedSets.has(k), `${k} stays`);
      assert.equal(redefined.delta.removedElements.get(k), undefined, `${k}: no element removals`);
      assert.equal(redefined.delta.addedElements.get(k), undefined, `${k}: no element additions`);
      assert.equal(redefined.ledger.model.sets.get(k)!.elements.size, 2);
    }
    const ids = new Map(['vnet1', 'vnet2'].map((n) => [n, redefined.ledger.idOf(n)!]));
    assert.deepEqual(
      snapshot(redefined.ledger.model),
      compileModel([port(1, 'clean-traffic', undefined, [v2]), port(2, 'clean-traffic', undefined, [v2])], ids),
    );
    // one port of two moves: its elements leave the sets only the old shape holds, and only its
    const moved = first.with({ set: [port(1, 'clean-traffic', undefined, [v2])], remove: [] });
    for (const k of own) {
      assert.ok(!moved.delta.removedSets.has(k));
      const removed = [...(moved.delta.removedElements.get(k)?.keys() ?? [])];
      assert.ok(removed.length > 0 && removed.every((t) => t.startsWith('"vnet1"')), `${k}: ${removed}`);
      assert.ok(![...moved.ledger.model.sets.get(k)!.elements.keys()].some((t) => t.startsWith('"vnet1"')));
    }
    for (const k of shared) assert.equal(moved.delta.removedElements.get(k), undefined);
    // a port set again as it was changes nothing, in the sets nor in the delta
    const again = first.with({ set: [port(1)], remove: [] });
    const count = (m: ReadonlyMap<string, ReadonlyMap<string, unknown>>) =>
      [...m.values()].reduce((n, es) => n + es.size, 0);
    assert.equal(count(again.delta.addedElements) + count(again.delta.removedElements), 0);
    assert.deepEqual(snapshot(again.ledger.model), snapshot(first.model));
  });

  it('a port set twice in one change ends as set the second time', () => {
    const first = PortLedger.empty('br_netfilter', 1).with({ set: [port(2)], remove: [] }).ledger;
    const twice = first.with({
      set: [port(1, 'clean-traffic', { IP: ['10.0.0.1'] }), port(1, 'clean-traffic', { IP: ['10.0.0.9'] })],
      remove: [],
    });
    const ids = new Map(['vnet1', 'vnet2'].map((n) => [n, twice.ledger.idOf(n)!]));
    assert.deepEqual(
      snapshot(twice.ledger.model),
      compileModel([port(2), port(1, 'clean-traffic', { IP: ['10.0.0.9'] })], ids),
    );
    // also when the port was there before the change
    const again = twice.ledger.with({ set: [port(1, 'clean-traffic', { IP: ['10.0.0.5'] }), port(1)], remove: [] });
    assert.deepEqual(snapshot(again.ledger.model), compileModel([port(2), port(1)], ids));
    assert.ok(
      ![...again.delta.addedElements.values()].some((es) => [...es.keys()].some((t) => t.includes('10.0.0.5'))),
    );
  });

  it('a change makes a new ledger and leaves the one it was made on as it was', () => {
    const v2 = `<filter name='clean-traffic' chain='root'><filterref filter='no-mac-spoofing'/></filter>`;
    const garp = `<filter name='vwt-garp' chain='arp'><rule action='accept' direction='out'><arp gratuitous='true'/></rule></filter>`;
    // all one can ask a ledger, and the id the next new port would get
    const state = (l: PortLedger) => ({
      model: snapshot(l.model),
      ports: l.ports(),
      ids: l.ports().map((p) => [p.portdev, l.idOf(p.portdev), l.shapeOf(p.portdev)]),
      generation: l.generation,
      shapeSets: l.shapeSets(),
      compiled: l.compiledPorts(),
      nextId: l.with({ set: [port(99)], remove: [] }).ledger.idOf('vnet99'),
    });
    const first = PortLedger.empty('br_netfilter', 1).with({ set: [port(1), port(2), port(3)], remove: [] }).ledger;
    const before = state(first);
    const { ledger: second } = first.with({
      set: [port(2, 'clean-traffic', { IP: ['10.0.0.2'] }, [v2]), port(4)],
      remove: ['vnet1'],
    });
    assert.deepEqual(state(first), before);
    assert.notDeepEqual(state(second), before);
    // the new ledger is a value too: changes made on it (or refused) leave it as it is
    const after = state(second);
    second.with({ set: [port(5)], remove: ['vnet2', 'vnet3'] });
    second.renamed(2);
    assert.throws(
      () => second.with({ set: [port(6), port(4, 'vwt-garp', {}, [garp])], remove: ['vnet3'] }),
      /gratuitous/,
    );
    assert.deepEqual(state(second), after);
    assert.deepEqual(state(first), before);
  });

  it('after a generation switch, changes to ports recorded before it still equal the whole-model compile', () => {
    const v2 = `<filter name='clean-traffic' chain='root'><filterref filter='no-mac-spoofing'/></filter>`;
    const changes = new Changes();
    changes.apply([port(1), port(2), port(3)]);
    const moved = port(1, 'clean-traffic', { IP: ['10.0.0.1'] }, [v2]);
    changes.apply([moved, port(4)]);
    assert.equal(changes.ledger.generation, 2);
    // vnet2 and vnet3 were put in under generation 1
    const rebound = port(2, 'clean-traffic', { IP: ['10.0.0.22'] });
    changes.apply([rebound], ['vnet3']);
    const ids = new Map([
      ['vnet1', 1],
      ['vnet2', 2],
      ['vnet4', 4],
    ]);
    assert.deepEqual(snapshot(changes.ledger.model), compileModel([moved, rebound, port(4)], ids, 'br_netfilter', 2));
  });

  it('removing the last port removes our tables', () => {
    const changes = new Changes();
    changes.apply([port(1)]);
    assert.deepEqual(changes.apply([], ['vnet1']), ['delete table bridge virtwall_nwf']);
    assert.equal(changes.model.ruleset.chains.size + changes.model.ruleset.sets.size, 0);
  });

  it('registers IP-level hooks and port marks only while some port has IP rules', () => {
    const tcp = `<filter name='vwt-web'><rule action='accept' direction='in'><tcp dstportstart='80'/></rule></filter>`;
    const changes = new Changes();
    const clean = changes.apply([port(1)]);
    assert.ok(!clean.some((l) => / inet |port_mark|mac_filter/.test(l)), clean.join('\n'));
    const web = changes.apply([port(2, 'vwt-web', {}, [tcp])]);
    assert.ok(web.includes('add table inet virtwall_nwf'));
    assert.ok(web.includes('flush chain bridge virtwall_nwf prerouting'), 'the bridge hooks start marking ports');
    assert.ok(web.some((l) => /^add element bridge virtwall_nwf port_mark_from \{ "vnet2" : /.test(l)));
    assert.ok(!web.some((l) => /port_mark_from \{ "vnet1"/.test(l)), 'a port without IP rules is not marked');
    const gone = changes.apply([], ['vnet2']);
    assert.ok(gone.includes('flush chain inet virtwall_nwf forward'), 'the inet hooks are emptied at once');
    assert.ok(!gone.some((l) => /^delete /.test(l) && / inet /.test(l)), 'and deleted with the next change');
    assert.deepEqual(
      changes
        .apply([port(3)])
        .filter((l) => / inet /.test(l))
        .at(-1),
      'delete table inet virtwall_nwf',
    );
    assert.ok(!hasFamily(changes.model.ruleset, 'inet'));
  });

  it('starts from nothing with the tables and hooks, and traces every rule to its filter', () => {
    const changes = new Changes();
    const script = changes.apply([port(1)]);
    assert.equal(script[0], 'add table bridge virtwall_nwf');
    const rules = [...changes.model.ruleset.chains.values()]
      .filter((c) => / ?s[0-9a-f]{10}_/.test(c.name))
      .flatMap((c) => c.rules);
    assert.ok(rules.length > 0);
    for (const r of rules) assert.ok(ruleOrigin(r.comment), r.comment);
    assert.ok(rules.some((r) => ruleOrigin(r.comment)!.path.join('/') === 'clean-traffic/no-mac-spoofing'));
    assert.deepEqual(ruleOrigin('clean-traffic/no-mac-spoofing prio=500'), {
      path: ['clean-traffic', 'no-mac-spoofing'],
      priority: 500,
    });
    assert.equal(ruleOrigin('a foreign comment'), undefined);
    assert.equal(ruleOrigin('prio=x prio=5x'), undefined);
    const long = ruleComment(
      Array.from({ length: 40 }, (_, i) => `filter${i}`),
      -20,
    );
    assert.ok(long.length <= 127 && ruleOrigin(long)!.priority === -20);
  });
});
