// The xtables evaluator by itself: ebtables and iptables semantics on small listings as the
// tools print them (jumps, gotos returning to the caller's caller, user chain policies as
// listed, physdev in FORWARD and INPUT, the IP hooks only for IP frames, conntrack as an
// assumption, "cannot evaluate" instead of a guess); then clean-traffic laid out as the
// ebiptables backend's plan lays it out, explained down to its XML by chain and position.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyNewRules } from '../../src/backends/ebiptables/plan.js';
import { loadStockFilters } from '../../src/conf/nwfilter/stock.js';
import { explainPort, renderExplanation, type ExplainedStep } from '../../src/explain/explain.js';
import { decodeFrame } from '../../src/explain/frame.js';
import { microflowFrame, parseMicroflow } from '../../src/explain/packet.js';
import type { EvalContext } from '../../src/explain/steps.js';
import { evaluateXtables, type XtablesHeld } from '../../src/explain/xtables-eval.js';
import { instantiateBinding } from '../../src/nwfilter/binding.js';
import { MapFilterSource } from '../../src/nwfilter/source.js';
import { dryRunCommands } from '../../src/plan/transaction.js';
import { parseRuleWords, type XtRule, type XtTool } from '../../src/xtables/rule.js';
import { parseSave, type XtChain } from '../../src/xtables/save.js';

const GUEST = '52:54:00:00:00:01';
const FROM_GUEST = `eth.src=${GUEST},eth.dst=52:54:00:00:00:02,ip4.src=10.0.0.1,ip4.dst=10.0.0.2`;
const TO_GUEST = `eth.src=52:54:00:00:00:02,eth.dst=${GUEST},ip4.src=10.0.0.2,ip4.dst=10.0.0.1`;

/** Listings as `*-save` prints them, by tool. */
function held(listings: Partial<Record<XtTool, string>>): XtablesHeld {
  return Object.entries(listings).flatMap(([tool, text]) =>
    [...parseSave(text).values()].map((table) => ({ tool: tool as XtTool, table })),
  );
}

const CTX: EvalContext = {
  portdev: 'vnet0',
  direction: 'out',
  peer: 'port',
  ct: { state: 'new', direction: 'original' },
};
function run(h: XtablesHeld, packet: string, ctx: Partial<EvalContext> = {}) {
  const m = parseMicroflow(packet);
  return evaluateXtables(h, decodeFrame(microflowFrame(m)), { ...CTX, ct: m.ct, ...ctx });
}
const ruleSteps = (ev: ReturnType<typeof run>) =>
  ev.steps.flatMap((s) => (s.kind === 'rule' ? [`${s.chain}#${s.index}${s.matched ? ` ${s.outcome}` : ''}`] : []));

const EB_SUBCHAIN = (policy: string) => `*nat
:PREROUTING ACCEPT
:OUTPUT ACCEPT
:POSTROUTING ACCEPT
:I-vnet0-ipv4-ip ${policy}
:libvirt-I-vnet0 ${policy}
-A PREROUTING -i vnet0 -j libvirt-I-vnet0
-A I-vnet0-ipv4-ip -p IPv4 --ip-src 10.0.0.1 -j RETURN
-A libvirt-I-vnet0 -p IPv4 -j I-vnet0-ipv4-ip
-A libvirt-I-vnet0 -p ARP -j ACCEPT
-A libvirt-I-vnet0 -j DROP
`;

describe('ebtables semantics', () => {
  it('returns from a sub-chain to the root chain, whose last rule drops', () => {
    const h = held({ ebtables: EB_SUBCHAIN('RETURN') });
    const own = run(h, FROM_GUEST);
    assert.equal(own.verdict, 'drop');
    assert.deepEqual(ruleSteps(own), [
      'PREROUTING#1 jump libvirt-I-vnet0',
      'libvirt-I-vnet0#1 jump I-vnet0-ipv4-ip',
      'I-vnet0-ipv4-ip#1 RETURN',
      'libvirt-I-vnet0#2',
      'libvirt-I-vnet0#3 DROP',
    ]);
    assert.match(
      own.reason,
      /^rule 3 of libvirt-I-vnet0 in the bridge prerouting hook \(ebtables -t nat PREROUTING\)$/,
    );
    // ARP never enters the IPv4 sub-chain and is accepted by the root chain
    assert.equal(
      run(h, `eth.src=${GUEST},eth.dst=ff:ff:ff:ff:ff:ff,arp.spa=10.0.0.1,arp.tpa=10.0.0.2`).verdict,
      'accept',
    );
    // the rule names the port: frames to the guest never enter its from-guest chain
    assert.deepEqual(ruleSteps(run(h, TO_GUEST, { direction: 'in' })), ['PREROUTING#1']);
  });

  it('ends a user chain with the policy its listing gives: ACCEPT (ebtables-nft 1.8.9) accepts the frame', () => {
    const spoof = `eth.src=${GUEST},eth.dst=52:54:00:00:00:02,ip4.src=10.0.0.9,ip4.dst=10.0.0.2`;
    assert.equal(run(held({ ebtables: EB_SUBCHAIN('RETURN') }), spoof).verdict, 'drop');
    const kernel = run(held({ ebtables: EB_SUBCHAIN('ACCEPT') }), spoof);
    assert.equal(kernel.verdict, 'accept');
    const end = kernel.steps.find((s) => s.kind === 'end' && s.chain === 'I-vnet0-ipv4-ip');
    assert.match(end?.kind === 'end' ? end.outcome : '', /^policy accept \(as listed: ebtables-nft 1\.8\.9/);
  });

  it('matches MAC classes, negations, IP fields and port ranges as listed', () => {
    const h = held({
      ebtables: `*nat
:PREROUTING ACCEPT
-A PREROUTING -p Length -j ACCEPT
-A PREROUTING -s ! ${GUEST} -j DROP
-A PREROUTING -d Broadcast -j CONTINUE
-A PREROUTING -p IPv4 --ip-dst ! 10.0.0.0/24 -j DROP
-A PREROUTING -p IPv4 --ip-proto udp --ip-dport 50:60 -j DROP
-A PREROUTING -p IPv4 --ip-proto tcp --ip-dport 22 -j ACCEPT
-A PREROUTING -j DROP
`,
    });
    assert.equal(run(h, `${FROM_GUEST},udp.dst=53`).verdict, 'drop');
    assert.deepEqual(ruleSteps(run(h, `${FROM_GUEST},udp.dst=53`)).at(-1), 'PREROUTING#5 DROP');
    assert.equal(run(h, `${FROM_GUEST},tcp.dst=22`).verdict, 'accept');
    assert.equal(run(h, `${FROM_GUEST},tcp.dst=23`).verdict, 'drop');
    const away = run(h, `eth.src=${GUEST},eth.dst=52:54:00:00:00:02,ip4.src=10.0.0.1,ip4.dst=10.9.0.1,tcp.dst=22`);
    assert.equal(ruleSteps(away).at(-1), 'PREROUTING#4 DROP');
    // an 802.3 frame carries its length where others carry their type
    assert.equal(run(h, 'eth.src=52:54:00:00:00:09,eth.dst=52:54:00:00:00:02,eth.type=0x0100').verdict, 'accept');
    const spoofed = run(h, `eth.src=52:54:00:00:00:09,eth.dst=52:54:00:00:00:02`);
    assert.match(
      spoofed.steps.flatMap((s) => (s.kind === 'rule' ? s.checks.map((c) => c.detail) : []))[1]!,
      /^-s is 52:54:00:00:00:09: does not match, as wanted 52:54:00:00:00:01$/,
    );
  });
});

const IPT = (fi: string, extra = '') => `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:FI-vnet0 - [0:0]
:FO-vnet0 - [0:0]
:HI-vnet0 - [0:0]
:libvirt-host-in - [0:0]
:libvirt-in - [0:0]
:libvirt-in-post - [0:0]
:libvirt-out - [0:0]
-A INPUT -j libvirt-host-in
-A FORWARD -j libvirt-in
-A FORWARD -j libvirt-out
-A FORWARD -j libvirt-in-post
-A FI-vnet0 ${fi}
-A HI-vnet0 -p tcp -m tcp --dport 22 -j RETURN
-A HI-vnet0 -j DROP
-A libvirt-host-in -m physdev --physdev-in vnet0 -g HI-vnet0
-A libvirt-in -m physdev --physdev-in vnet0 -g FI-vnet0
-A libvirt-in-post -m physdev --physdev-in vnet0 -j ACCEPT
-A libvirt-out -m physdev --physdev-out vnet0 --physdev-is-bridged -g FO-vnet0
${extra}COMMIT
`;

describe('iptables semantics behind br_netfilter', () => {
  it("returns from a goto'd chain to the caller of the chain that went there", () => {
    // the DROP behind the goto is never reached: FI-vnet0 returns to FORWARD
    const h = held({
      iptables: IPT('-p tcp -m tcp --dport 23 -j DROP', '-A libvirt-in -m physdev --physdev-in vnet0 -j DROP\n'),
    });
    const ok = run(h, `${FROM_GUEST},tcp.dst=22`);
    assert.equal(ok.verdict, 'accept');
    assert.deepEqual(ruleSteps(ok), [
      'FORWARD#1 jump libvirt-in',
      'libvirt-in#1 goto FI-vnet0',
      'FI-vnet0#1',
      'FORWARD#2 jump libvirt-out',
      'libvirt-out#1',
      'FORWARD#3 jump libvirt-in-post',
      'libvirt-in-post#1 ACCEPT',
    ]);
    assert.equal(run(h, `${FROM_GUEST},tcp.dst=23`).verdict, 'drop');
    // to the guest: libvirt-out's goto needs the frame bridged out of vnet0; FO is empty, FORWARD's policy drops
    const toGuest = run(h, `${TO_GUEST},tcp.dst=23`, { direction: 'in' });
    assert.equal(toGuest.verdict, 'drop');
    assert.match(toGuest.reason, /^the policy of the ip forward hook/);
  });

  it('takes frames to the host through INPUT by their bridge port, and only IP frames', () => {
    const h = held({ iptables: IPT('-j DROP') });
    const host = { peer: 'host' as const };
    assert.equal(run(h, `${FROM_GUEST},tcp.dst=22`, host).verdict, 'accept');
    const other = run(h, `${FROM_GUEST},udp.dst=53`, host);
    assert.equal(other.verdict, 'drop');
    assert.equal(ruleSteps(other).at(-1), 'HI-vnet0#2 DROP');
    const arp = run(h, `eth.src=${GUEST},eth.dst=ff:ff:ff:ff:ff:ff,arp.spa=10.0.0.1,arp.tpa=10.0.0.2`);
    assert.equal(arp.verdict, 'accept');
    assert.deepEqual(
      arp.steps.map((s) => s.kind),
      ['skip'],
    );
  });

  it('reads conntrack state and direction as assumptions, and says what it cannot evaluate', () => {
    const h = held({
      iptables: IPT(
        '-p tcp -m conntrack --ctstate ESTABLISHED -m conntrack --ctdir REPLY -j RETURN\n-A FI-vnet0 -p tcp -m connlimit --connlimit-above 2 -j DROP\n-A FI-vnet0 -j DROP',
      ),
    });
    assert.equal(run(h, `${FROM_GUEST},tcp.src=22,ct.state=established,ct.direction=reply`).verdict, 'accept');
    const counted = run(h, `${FROM_GUEST},tcp.dst=22`);
    assert.equal(counted.verdict, 'undetermined');
    const cannot = counted.steps.at(-1);
    assert.equal(cannot?.kind, 'cannot');
    assert.match(cannot?.kind === 'cannot' ? cannot.what : '', /--connlimit-above of -m connlimit/);
    assert.equal(run(h, `${FROM_GUEST},udp.dst=53`).verdict, 'drop', 'connlimit is not reached for UDP');
  });

  it('rejects where iptables REJECTs, and refuses an unknown target', () => {
    assert.equal(
      run(held({ iptables: IPT('-j REJECT --reject-with icmp-port-unreachable') }), FROM_GUEST).verdict,
      'reject',
    );
    const marked = run(held({ iptables: IPT('-j MARK --set-xmark 0x1/0xffffffff') }), FROM_GUEST);
    assert.equal(marked.verdict, 'undetermined');
  });
});

// --- clean-traffic as the ebiptables backend lays it out ---------------------------------------

/** What the plan's commands leave in each tool's table (temporary chains renamed as tearOldRules does). */
function laidOut(plan: ReturnType<typeof applyNewRules>, userPolicy: string): XtablesHeld {
  const final = (name: string) =>
    name
      .replace(/^libvirt-J-/, 'libvirt-I-')
      .replace(/^libvirt-P-/, 'libvirt-O-')
      .replace(/^([FH]?)J-/, '$1I-')
      .replace(/^([FH]?)P-/, '$1O-');
  const tables = new Map<XtTool, { chains: Map<string, XtChain>; rules: XtRule[] }>();
  for (const { argv } of dryRunCommands(plan)) {
    const tool = argv[0] as XtTool;
    const args = argv.slice(1).filter((a) => !['--concurrent', '-w'].includes(a));
    const [op, chain, ...rest] = args[0] === '-t' ? args.slice(2) : args;
    const t = tables.get(tool) ?? tables.set(tool, { chains: new Map(), rules: [] }).get(tool)!;
    const name = final(chain!);
    const builtin = /^[A-Z]+$/.test(name);
    if (op === '-N') t.chains.set(name, { name, ...(tool === 'ebtables' ? { policy: userPolicy } : {}) });
    if (op !== '-A' && op !== '-I') continue;
    if (builtin) t.chains.set(name, { name, policy: 'ACCEPT' });
    const spec = (op === '-I' ? rest.slice(1) : rest).map((w) => ({ text: final(w), quoted: false }));
    const rule = parseRuleWords(name, spec);
    if (op === '-I') t.rules.unshift(rule);
    else t.rules.push(rule);
  }
  return [...tables].map(([tool, t]) => ({
    tool,
    table: { name: tool === 'ebtables' ? 'nat' : 'filter', chains: [...t.chains.values()], rules: t.rules },
  }));
}

describe('clean-traffic on the ebiptables layout', () => {
  const stock = new MapFilterSource(loadStockFilters().values());
  const binding = { portdev: 'vnet0', mac: GUEST, filter: 'clean-traffic', params: new Map([['IP', ['10.0.0.1']]]) };
  const port = { portdev: 'vnet0', mac: GUEST, filter: 'clean-traffic', instances: instantiateBinding(binding, stock) };
  const xtables = laidOut(applyNewRules('vnet0', port.instances), 'RETURN');
  const explain = (packet: string, direction: 'in' | 'out' = 'out') =>
    explainPort({ port, xtables, layout: 'test' }, { direction, peer: 'port', packet });
  const deciding = (p: { steps: ExplainedStep[] }) =>
    p.steps.filter((s): s is ExplainedStep & { kind: 'rule' } => s.kind === 'rule' && s.matched).at(-1)!;

  it('drops an IP spoof at no-ip-spoofing, tied to the XML by chain and position', () => {
    const report = explain(`eth.src=${GUEST},eth.dst=ff:ff:ff:ff:ff:ff,ip4.src=10.0.0.9,ip4.dst=10.0.0.2,tcp.dst=22`);
    assert.equal(report.backend, 'ebiptables');
    const p = report.packets[0]!;
    assert.equal(p.verdict, 'drop');
    const rule = deciding(p);
    assert.equal(rule.chain, 'I-vnet0-ipv4-ip');
    assert.equal(rule.candidates, undefined);
    assert.deepEqual(
      rule.sources?.map((s) => [s.path.join('/'), s.chain, s.priority, s.xml]),
      [['clean-traffic/no-ip-spoofing', 'ipv4-ip', 1000, "<rule action='drop' direction='out' priority='1000'/>"]],
    );
    // the sub-chain's jump names the libvirt chain it enters; the rule for $IP names its value
    const jumps = p.steps.flatMap((s) => (s.kind === 'rule' && s.enters ? [`${s.chain}#${s.index} ${s.enters}`] : []));
    assert.deepEqual(jumps, [
      'libvirt-I-vnet0#1 libvirt chain mac (priority -800)',
      'libvirt-I-vnet0#2 libvirt chain ipv4-ip (priority -710)',
    ]);
    const own = p.steps.find(
      (s): s is ExplainedStep & { kind: 'rule' } => s.kind === 'rule' && !!s.sources?.some((x) => 'IP' in x.variables),
    )!;
    assert.equal(own.matched, false);
    assert.deepEqual(own.sources![0]!.variables, { IP: ['10.0.0.1'] });
    const text = renderExplanation(report);
    assert.match(text, /^ +ebtables: -A I-vnet0-ipv4-ip -p ipv4 --ip-source 10\.0\.0\.1 -j RETURN$/m);
    assert.match(text, /^verdict: DROP \(rule \d+ of I-vnet0-ipv4-ip in the bridge prerouting hook/m);
    assert.match(
      text,
      /^ {4}PREROUTING rule 1: MATCH -> jump libvirt-I-vnet0\n.*\n.*\n {6}\(libvirt's jump to a port's chain for traffic from its guest\)$/m,
    );
  });

  it("passes the port's own traffic, and drops a MAC spoof at no-mac-spoofing", () => {
    const own = explain(`eth.src=${GUEST},eth.dst=ff:ff:ff:ff:ff:ff,ip4.src=10.0.0.1,ip4.dst=10.0.0.9,udp.dst=53`);
    assert.equal(own.packets[0]!.verdict, 'accept');
    const mac = explain('eth.src=52:54:00:00:00:09,eth.dst=ff:ff:ff:ff:ff:ff,ip4.src=10.0.0.1,ip4.dst=10.0.0.9');
    assert.deepEqual(
      deciding(mac.packets[0]!).sources?.map((s) => [s.path.join('/'), s.priority, s.xml]),
      [
        [
          'clean-traffic/no-mac-spoofing',
          500,
          "<rule action='drop' direction='out' priority='500'>\n  <mac/>\n</rule>",
        ],
      ],
    );
  });

  it('names candidates instead of one rule when the kernel chain does not hold what the plan put there', () => {
    const shifted = xtables.map((h) =>
      h.tool !== 'ebtables'
        ? h
        : {
            ...h,
            table: {
              ...h.table,
              rules: [
                { chain: 'I-vnet0-ipv4-ip', matches: [], target: { name: 'CONTINUE', options: [] } },
                ...h.table.rules,
              ],
            },
          },
    );
    const p = explainPort(
      { port, xtables: shifted, layout: 'test' },
      {
        direction: 'out',
        peer: 'port',
        packet: `eth.src=${GUEST},eth.dst=ff:ff:ff:ff:ff:ff,ip4.src=10.0.0.9,ip4.dst=10.0.0.2`,
      },
    ).packets[0]!;
    const rule = deciding(p);
    assert.equal(rule.chain, 'I-vnet0-ipv4-ip');
    const [, listed, planned] =
      /holds (\d+) rules where the port's filter puts (\d+)/.exec(rule.candidates ?? '') ?? [];
    assert.equal(Number(listed), Number(planned) + 1, rule.candidates);
    assert.ok(rule.sources!.some((s) => s.priority === 1000 && s.path.at(-1) === 'no-ip-spoofing'));
    assert.ok(rule.sources!.every((s) => s.chain === 'ipv4-ip'));
  });
});
