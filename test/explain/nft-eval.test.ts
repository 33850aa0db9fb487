// The evaluator by itself: nft's semantics on small hand-written rulesets (jump and goto,
// policies, verdict maps, the mark between hooks, br_netfilter passing only IP frames, prefixes,
// ranges and sets, conntrack as an assumption, "cannot evaluate" instead of a guess); then a
// stock filter compiled as the backend compiles it, explained down to its XML.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PortLedger } from '../../src/backends/nftables/ledger.js';
import { loadStockFilters } from '../../src/conf/nwfilter/stock.js';
import { explainPort, renderExplanation, type ExplainedStep } from '../../src/explain/explain.js';
import { decodeFrame } from '../../src/explain/frame.js';
import { evaluateNft, type NftContext } from '../../src/explain/nft-eval.js';
import { microflowFrame, parseMicroflow } from '../../src/explain/packet.js';
import { match, meta, num, payload, setref, str, sym, type Statement } from '../../src/nft/expr.js';
import { objectKey, type Hook, type NftChain, type Ruleset } from '../../src/nft/objects.js';
import { instantiateBinding } from '../../src/nwfilter/binding.js';
import { chainSources, MapFilterSource } from '../../src/nwfilter/source.js';
import { parseFilter } from '../../src/conf/nwfilter/parse.js';

const ETH = 'eth.src=52:54:00:00:00:01,eth.dst=52:54:00:00:00:02';
const IP4 = `${ETH},ip4.src=10.0.0.2,ip4.dst=10.0.0.1`;

const hook = (name: Hook['hook'], policy: Hook['policy'] = 'accept', priority = 0): Hook => ({
  type: 'filter',
  hook: name,
  priority,
  policy,
});
const chain = (family: 'bridge' | 'inet', name: string, rules: Statement[][], h?: Hook): NftChain => ({
  family,
  name,
  ...(h ? { hook: h } : {}),
  rules: rules.map((statements, i) => ({ statements, comment: `${name} ${i + 1}` })),
});

function ruleset(
  chains: NftChain[],
  sets: { family: 'bridge' | 'inet'; name: string; elements: [string, Statement | null][] }[] = [],
): Ruleset {
  return {
    chains: new Map(chains.map((c) => [objectKey(c.family, c.name), c])),
    sets: new Map(
      sets.map((s) => [
        objectKey(s.family, s.name),
        {
          family: s.family,
          name: s.name,
          kind: 'map' as const,
          decl: { key: { type: 'ifname' } },
          elements: new Map(
            s.elements.map(([k, v]) => [
              k,
              { key: str(k), ...(v && 'target' in v ? { value: { kind: 'verdict' as const, verdict: v } } : {}) },
            ]),
          ),
        },
      ]),
    ),
  };
}

const CTX: NftContext = {
  portdev: 'vnet0',
  direction: 'out',
  peer: 'port',
  ct: { state: 'new', direction: 'original' },
};
function run(model: Ruleset, packet: string, ctx: Partial<NftContext> = {}) {
  const m = parseMicroflow(packet);
  return evaluateNft(model, decodeFrame(microflowFrame(m)), { ...CTX, ct: m.ct, ...ctx });
}

const ipIs = (addr: string): Statement => match(payload('ip', 'saddr'), { kind: 'ip', addr });

describe('nft semantics', () => {
  it('returns from a jump to the next rule, and from a goto to the caller of the chain', () => {
    const model = (verdict: 'jump' | 'goto') =>
      ruleset([
        chain(
          'bridge',
          'pre',
          [[match(payload('ether', 'type'), sym('ip')), { kind: verdict, target: 'sub' }], [{ kind: 'accept' }]],
          hook('prerouting', 'drop'),
        ),
        chain('bridge', 'sub', [[ipIs('10.0.0.1'), { kind: 'accept' }]]),
      ]);
    assert.equal(run(model('jump'), IP4).verdict, 'accept', 'after the jump, the next rule accepts');
    const viaGoto = run(model('goto'), IP4);
    assert.equal(viaGoto.verdict, 'drop', 'after the goto, the base chain ends: policy drop');
    assert.match(viaGoto.reason, /policy of the bridge prerouting hook/);
    assert.equal(run(model('goto'), IP4.replace('10.0.0.2', '10.0.0.1')).verdict, 'accept');
  });

  it('looks verdict maps up by the port, and a miss ends the rule', () => {
    const model = ruleset(
      [
        chain('bridge', 'pre', [[{ kind: 'vmap', key: meta('iifname'), map: 'ports' }]], hook('prerouting')),
        chain('bridge', 'port', [[{ kind: 'drop' }]]),
      ],
      [{ family: 'bridge', name: 'ports', elements: [['vnet0', { kind: 'jump', target: 'port' }]] }],
    );
    assert.equal(run(model, ETH).verdict, 'drop');
    assert.equal(run(model, ETH, { portdev: 'vnet9' }).verdict, 'accept');
    // to the guest, the frame enters from another port: the map has no element for it
    assert.equal(run(model, ETH, { direction: 'in' }).verdict, 'accept');
  });

  it('carries the mark from the bridge hook to the IP hooks, which only IP frames without a tag pass', () => {
    const model = ruleset([
      chain(
        'bridge',
        'pre',
        [[{ kind: 'mangle', key: meta('mark'), value: num(5, 8) }]],
        hook('prerouting', 'accept', -300),
      ),
      chain('inet', 'forward', [[match(meta('mark'), num(5, 8)), { kind: 'drop' }]], hook('forward')),
    ]);
    assert.equal(run(model, IP4).verdict, 'drop');
    const arp = run(model, `${ETH},arp`);
    assert.equal(arp.verdict, 'accept');
    assert.ok(arp.steps.some((s) => s.kind === 'skip' && s.family === 'inet'));
    assert.equal(run(model, `${IP4},vlan.id=3`).verdict, 'accept', 'a tagged IPv4 frame skips the IP hooks');
    assert.equal(run(model, IP4, { peer: 'host' }).verdict, 'accept', 'to the host: input, not forward');
  });

  it('matches prefixes, ranges, anonymous sets and named sets of concatenations', () => {
    const rule = (s: Statement) => ruleset([chain('bridge', 'pre', [[s, { kind: 'drop' }]], hook('prerouting'))]);
    const net = (addr: string, len: number) => ({ kind: 'prefix' as const, addr: { kind: 'ip' as const, addr }, len });
    assert.equal(run(rule(match(payload('ip', 'saddr'), net('10.0.0.0', 30))), IP4).verdict, 'drop');
    assert.equal(run(rule(match(payload('ip', 'saddr'), net('10.0.0.4', 30))), IP4).verdict, 'accept');
    const ports = { kind: 'range' as const, from: num(20), to: num(30) };
    assert.equal(run(rule(match(payload('th', 'dport'), ports)), `${IP4},udp.dst=25`).verdict, 'drop');
    assert.equal(run(rule(match(payload('th', 'dport'), ports)), `${IP4},udp.dst=31`).verdict, 'accept');
    assert.equal(run(rule(match(payload('th', 'dport'), ports)), `${ETH},arp`).verdict, 'accept', 'ARP has no port');
    const both = { kind: 'set' as const, items: [num(22), num(23)] };
    assert.equal(run(rule(match(payload('tcp', 'dport'), both, true)), `${IP4},tcp.dst=22`).verdict, 'accept');
    assert.equal(run(rule(match(payload('tcp', 'dport'), both, true)), `${IP4},tcp.dst=24`).verdict, 'drop');
    const flags = { kind: 'and' as const, expr: payload('tcp', 'flags'), mask: num(0x12, 0) };
    assert.equal(run(rule(match(flags, num(0x02, 0))), `${IP4},tcp.flags=syn`).verdict, 'drop');
    assert.equal(run(rule(match(flags, num(0x02, 0))), `${IP4},tcp.flags=syn|ack`).verdict, 'accept');
    const keyed = ruleset([
      chain(
        'bridge',
        'pre',
        [
          [
            match({ kind: 'concat', parts: [meta('iifname'), payload('ip', 'saddr')] }, setref('own')),
            { kind: 'accept' },
          ],
          [{ kind: 'drop' }],
        ],
        hook('prerouting'),
      ),
    ]);
    (keyed.sets as Map<string, unknown>).set(objectKey('bridge', 'own'), {
      family: 'bridge',
      name: 'own',
      kind: 'set',
      decl: { key: { type: 'ifname . ipv4_addr' } },
      elements: new Map([['x', { key: { kind: 'concat', parts: [str('vnet0'), { kind: 'ip', addr: '10.0.0.2' }] } }]]),
    });
    assert.equal(run(keyed, IP4).verdict, 'accept');
    assert.equal(run(keyed, IP4, { portdev: 'vnet1' }).verdict, 'drop');
  });

  it('takes the conntrack state as the PACKET assumes it', () => {
    const model = ruleset([
      chain(
        'inet',
        'forward',
        [
          [
            match({ kind: 'ct', key: 'state' }, { kind: 'flags', names: ['established', 'related'] }),
            { kind: 'accept' },
          ],
          [{ kind: 'drop' }],
        ],
        hook('forward'),
      ),
    ]);
    assert.equal(run(model, IP4).verdict, 'drop');
    assert.equal(run(model, `${IP4},ct.state=established`).verdict, 'accept');
    assert.equal(run(model, `${IP4},ct.state=related`).verdict, 'accept');
  });

  it('has the bridge drop a frame from a group source MAC before any hook, unless the host sends it', () => {
    const model = ruleset([chain('bridge', 'pre', [[{ kind: 'accept' }]], hook('prerouting'))]);
    const group = 'eth.src=01:02:03:04:05:06,eth.dst=52:54:00:00:00:02';
    const ev = run(model, group);
    assert.equal(ev.verdict, 'drop');
    assert.deepEqual(
      ev.steps.map((s) => s.kind),
      ['bridge'],
    );
    assert.equal(run(model, group, { direction: 'in' }).verdict, 'drop', 'from another port too');
    assert.equal(run(model, group, { direction: 'in', peer: 'host' }).verdict, 'accept');
  });

  it('says what it cannot evaluate and leaves the verdict undetermined', () => {
    for (const s of [
      match(meta('skuid'), num(0)),
      { kind: 'limit', rate: 1, per: 'second' } as Statement,
      match({ kind: 'ct', key: 'mark' }, num(1)),
    ]) {
      const model = ruleset([chain('bridge', 'pre', [[s, { kind: 'drop' }]], hook('prerouting'))]);
      const ev = run(model, IP4);
      assert.equal(ev.verdict, 'undetermined');
      const cannot = ev.steps.find((x) => x.kind === 'cannot');
      assert.ok(
        cannot && cannot.kind === 'cannot' && /^cannot evaluate /.test(cannot.what),
        JSON.stringify(ev.steps.at(-1)),
      );
    }
  });
});

describe('a stock filter as the backend compiles it', () => {
  const stock = new MapFilterSource(loadStockFilters().values());
  const binding = {
    portdev: 'vnet0',
    mac: '52:54:00:00:00:01',
    filter: 'clean-traffic',
    params: new Map([['IP', ['10.0.0.1']]]),
  };
  const port = {
    portdev: 'vnet0',
    mac: binding.mac,
    filter: 'clean-traffic',
    instances: instantiateBinding(binding, stock),
  };
  // another port with its own address, so the sets hold more than the one port's elements
  const other = { ...binding, portdev: 'vnet1', mac: '52:54:00:00:00:02', params: new Map([['IP', ['10.0.0.2']]]) };
  const model = PortLedger.empty('br_netfilter', 1).with({
    set: [
      port,
      { portdev: 'vnet1', mac: other.mac, filter: 'clean-traffic', instances: instantiateBinding(other, stock) },
    ],
    remove: [],
  }).ledger.model;
  const rules = { port, model, layout: 'br_netfilter' };
  const explain = (packet: string, direction: 'in' | 'out' = 'out') =>
    explainPort(rules, { direction, peer: 'port', packet }).packets[0]!;
  const deciding = (p: ReturnType<typeof explain>) =>
    p.steps.filter((s): s is ExplainedStep & { kind: 'rule' } => s.kind === 'rule' && s.matched).at(-1)!;

  it('drops an IP spoof from the guest at no-ip-spoofing, naming the rule, its XML, file:line and variables', () => {
    const spoof = explain(
      'eth.src=52:54:00:00:00:01,eth.dst=ff:ff:ff:ff:ff:ff,ip4.src=10.0.0.2,ip4.dst=10.0.0.1,tcp.dst=22',
    );
    assert.equal(spoof.verdict, 'drop');
    const rule = deciding(spoof);
    assert.equal(rule.outcome, 'drop');
    assert.deepEqual(
      rule.sources?.map((s) => [s.path.join('/'), s.chain, s.priority]),
      [['clean-traffic/no-ip-spoofing', 'ipv4-ip', 1000]],
    );
    assert.match(rule.sources![0]!.xml, /^<rule action='drop' direction='out' priority='1000'\/>$/);
    assert.match(rule.sources![0]!.location!, /no-ip-spoofing\.xml:\d+:\d+$/);
    // the rule that would have let it through names $IP's value: the port's, not vnet1's
    const own = spoof.steps.find(
      (s): s is ExplainedStep & { kind: 'rule' } => s.kind === 'rule' && !!s.sources?.some((x) => 'IP' in x.variables),
    )!;
    assert.equal(own.matched, false);
    assert.deepEqual(own.sources![0]!.variables, { IP: ['10.0.0.1'] });
    assert.match(own.checks.find((c) => !c.ok)!.detail, /10\.0\.0\.2: does not match @/);
    const text = renderExplanation(explainPort(rules, { direction: 'out', peer: 'port', packet: spoof.packet }));
    assert.match(text, /^verdict: DROP \(rule \d+ of \S+_from_ipv4_ip \("clean-traffic\/no-ip-spoofing prio=1000"\)/m);
  });

  it("passes the port's own traffic, and drops a MAC spoof at no-mac-spoofing", () => {
    assert.equal(
      explain('eth.src=52:54:00:00:00:01,eth.dst=ff:ff:ff:ff:ff:ff,ip4.src=10.0.0.1,ip4.dst=10.0.0.9,udp.dst=53')
        .verdict,
      'accept',
    );
    const mac = explain('eth.src=52:54:00:00:00:09,eth.dst=ff:ff:ff:ff:ff:ff,ip4.src=10.0.0.1,ip4.dst=10.0.0.9');
    assert.equal(mac.verdict, 'drop');
    assert.deepEqual(
      deciding(mac).sources?.map((s) => s.xml),
      ["<rule action='drop' direction='out' priority='500'>\n  <mac/>\n</rule>"],
    );
  });

  it('explains a traced port (nwfilter-trace running) as an untraced one, rule for rule', () => {
    const traced = {
      ...rules,
      model: PortLedger.empty('br_netfilter', 1, new Map(), new Map(), new Map([['vnet0', 'on']])).with({
        set: [port],
        remove: [],
      }).ledger.model,
    };
    for (const packet of [
      'eth.src=52:54:00:00:00:01,eth.dst=ff:ff:ff:ff:ff:ff,ip4.src=10.0.0.2,ip4.dst=10.0.0.1,tcp.dst=22',
      'eth.src=52:54:00:00:00:01,eth.dst=ff:ff:ff:ff:ff:ff,ip4.src=10.0.0.1,ip4.dst=10.0.0.9,udp.dst=53',
    ]) {
      const [was, is] = [rules, traced].map(
        (r) => explainPort(r, { direction: 'out', peer: 'port', packet }).packets[0]!,
      );
      assert.equal(is!.verdict, was!.verdict, packet);
      assert.deepEqual(deciding(is!).sources, deciding(was!).sources, packet);
    }
  });

  it('drops other layer 2 protocols to the guest at no-other-l2-traffic', () => {
    const l2 = explain('eth.src=52:54:00:00:00:09,eth.dst=52:54:00:00:00:01,eth.type=0x88b5', 'in');
    assert.equal(l2.verdict, 'drop');
    assert.deepEqual(
      deciding(l2).sources?.map((s) => s.path.join('/')),
      ['clean-traffic/no-other-l2-traffic'],
    );
    assert.equal(
      explain('eth.src=52:54:00:00:00:09,eth.dst=52:54:00:00:00:01,ip4.src=10.0.0.9,ip4.dst=10.0.0.1', 'in').verdict,
      'accept',
    );
  });
});

describe('an IP filter in both layouts of the nftables backend', () => {
  const xml = `<filter name='ssh-only' chain='root'>
  <rule action='accept' direction='in' priority='100'><tcp dstportstart='22'/></rule>
  <rule action='drop' direction='inout' priority='1000'><all/></rule>
</filter>`;
  const source = chainSources(new MapFilterSource([parseFilter(xml)]));
  const binding = { portdev: 'vnet0', mac: '52:54:00:00:00:01', filter: 'ssh-only', params: new Map() };
  const port = {
    portdev: 'vnet0',
    mac: binding.mac,
    filter: 'ssh-only',
    instances: instantiateBinding(binding, source),
  };
  const TO_GUEST = 'eth.src=52:54:00:00:00:02,eth.dst=52:54:00:00:00:01,ip4.src=10.0.0.2,ip4.dst=10.0.0.1';
  const FROM_GUEST = 'eth.src=52:54:00:00:00:01,eth.dst=52:54:00:00:00:02,ip4.src=10.0.0.1,ip4.dst=10.0.0.2';
  for (const layout of ['br_netfilter', 'bridge-conntrack'] as const) {
    it(`lets only new SSH in, and its replies out, on ${layout}`, () => {
      const model = PortLedger.empty(layout, 1).with({ set: [port], remove: [] }).ledger.model;
      const verdict = (direction: 'in' | 'out', packet: string) =>
        explainPort({ port, model, layout }, { direction, peer: 'port', packet }).packets[0]!.verdict;
      assert.equal(verdict('in', `${TO_GUEST},tcp.dst=22`), 'accept');
      assert.equal(verdict('in', `${TO_GUEST},tcp.dst=23`), 'drop');
      assert.equal(verdict('in', `${TO_GUEST},tcp.dst=22,ct.state=invalid`), 'drop');
      // libvirt lets the guest answer an accepted incoming connection, and nothing else out
      assert.equal(verdict('out', `${FROM_GUEST},tcp.src=22,ct.state=established,ct.direction=reply`), 'accept');
      assert.equal(verdict('out', `${FROM_GUEST},tcp.dst=22`), 'drop');
      assert.equal(
        verdict('in', 'eth.src=52:54:00:00:00:02,eth.dst=52:54:00:00:00:01,arp.spa=10.0.0.2,arp.tpa=10.0.0.1'),
        'accept',
        'ARP is not IP',
      );
    });
  }
});
