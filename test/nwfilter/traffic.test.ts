// Real traffic through filters applied on a real kernel, inside namespaces this test creates:
// a host namespace with bridge br0 and guests A and B attached by veth (the host ends vnet0 and
// vnet1 play the guests' TAP devices). Frames are crafted with AF_PACKET sockets (frames.py).
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { applyBasicRules, removeBasicRules } from '../../src/backends/ebiptables/basic-rules.js';
import { instantiationPlans, allTeardown } from '../../src/backends/ebiptables/plan.js';
import { parseFilter } from '../../src/conf/nwfilter/parse.js';
import { applyPlan, applyPlans } from '../../src/exec/apply.js';
import type { SystemRunner } from '../../src/exec/runner.js';
import { instantiateBinding, type FilterBinding } from '../../src/nwfilter/binding.js';
import { chainSources, DirectoryFilterSource, MapFilterSource } from '../../src/nwfilter/source.js';
import type { FirewallPlan } from '../../src/plan/transaction.js';
import { canUseNetns, type NetnsLab } from '../support/netns.js';
import {
  connects as labConnects,
  type Frame,
  IP,
  MAC,
  type Net as LabNet,
  probe as labProbe,
  type Side,
  tcpServers,
  topology as labTopology,
} from './lab.js';
import { CORPUS } from '../support/corpus.js';

const STOCK = resolve(CORPUS, 'filters');
const skip = canUseNetns() ? false : 'needs root and network namespaces';

const BCAST = 'ff:ff:ff:ff:ff:ff';
const ZERO = '00:00:00:00:00:00';

interface Net {
  lab: NetnsLab;
  host: string;
  a: string;
  b: string;
  runner: SystemRunner;
  shared: LabNet;
}

/** The shared lab network (lab.ts), seen with this file's names. */
function topology(t: TestContext): Net {
  const net = labTopology(t);
  return { lab: net.lab, host: net.ns.host, a: net.ns.a, b: net.ns.b, runner: net.runner, shared: net };
}

/** The whole netfilter state of the host namespace (ebtables and iptables live in nftables). */
function ruleset(net: Net): string {
  return net.lab.exec(net.host, ['nft', '-s', 'list', 'ruleset']).stdout;
}

/** Sends `frames` from guest A and counts, per listener, the frames of each marker that arrived. */
async function probe(net: Net, frames: Frame[]): Promise<{ b: Record<string, number>; host: Record<string, number> }> {
  const seen = await labProbe(net.shared, 'a', frames);
  return { b: seen.b, host: seen.host };
}

const ipv4 = (marker: string, src_mac: string, dst_mac: string, src_ip: string, dst_ip: string): Frame => ({
  kind: 'ipv4',
  marker,
  src_mac,
  dst_mac,
  src_ip,
  dst_ip,
});
const arp = (
  marker: string,
  op: number,
  dst_mac: string,
  sha: string,
  spa: string,
  tha: string,
  tpa: string,
): Frame => ({
  kind: 'arp',
  marker,
  op,
  src_mac: MAC.a,
  dst_mac,
  sha,
  spa,
  tha,
  tpa,
});

/**
 * The chains a plan builds, under their final names ("iptables FI-vnet0"), with the jump target
 * of each rule it appends to them, in order.
 */
function finalChains(plans: FirewallPlan[]): Map<string, string[]> {
  const rename = (c: string) =>
    c
      .replace(/^libvirt-J-/, 'libvirt-I-')
      .replace(/^libvirt-P-/, 'libvirt-O-')
      .replace(/^([FH]?)J-/, '$1I-')
      .replace(/^([FH]?)P-/, '$1O-');
  const chains = new Map<string, string[]>();
  for (const { argv } of plans[0]!.flatMap((g) => g.commands)) {
    const i = argv.findIndex((a) => a === '-N' || a === '-A');
    const key = `${argv[0]} ${rename(argv[i + 1]!)}`;
    if (argv[i] === '-N' && /^(libvirt-[JP]-|[JP]-|[FH][JP]-)/.test(argv[i + 1]!)) chains.set(key, []);
    else if (argv[i] === '-A' && chains.has(key)) chains.get(key)!.push(rename(argv[argv.indexOf('-j') + 1]!));
  }
  return chains;
}

/** The same view of what the kernel lists (ebtables nat table, iptables/ip6tables filter table). */
function kernelChains(net: Net): Map<string, string[]> {
  const chains = new Map<string, string[]>();
  let current: string[] = [];
  for (const line of net.lab.exec(net.host, ['ebtables', '-t', 'nat', '-L']).stdout.split('\n')) {
    const chain = /^Bridge chain: ([^,]+),/.exec(line)?.[1];
    if (chain) {
      current = [];
      chains.set(`ebtables ${chain}`, current);
    } else if (line.startsWith('-')) current.push(/-j (\S+)/.exec(line)![1]!);
  }
  for (const ipt of ['iptables', 'ip6tables']) {
    const lines = net.lab.exec(net.host, [ipt, '-S'], false).stdout.split('\n');
    for (const l of lines) if (l.startsWith('-N ')) chains.set(`${ipt} ${l.slice(3)}`, []);
    for (const l of lines) {
      const m = /^-A (\S+) .*-[jg] (\S+)/.exec(l);
      if (m) chains.get(`${ipt} ${m[1]}`)?.push(m[2]!);
    }
  }
  return chains;
}

function bindingPlans(binding: FilterBinding, extra: MapFilterSource): FirewallPlan[] {
  const source = chainSources(extra, new DirectoryFilterSource(STOCK, (text, file) => parseFilter(text, file)));
  return instantiationPlans(binding.portdev, instantiateBinding(binding, source));
}

/** Applies the binding's plans and checks the kernel holds exactly the renamed chains. */
async function bind(net: Net, plans: FirewallPlan[]): Promise<void> {
  await applyPlans(plans, net.runner);
  const kernel = kernelChains(net);
  for (const [chain, targets] of finalChains(plans))
    assert.deepEqual(kernel.get(chain), targets, `${chain} after instantiation`);
  for (const chain of kernel.keys())
    assert.doesNotMatch(chain, / (libvirt-[JP]-|[JP]-vnet|[FH][JP]-)/, 'temporary chain left behind');
}

describe('nwfilter on a real kernel', { skip }, () => {
  it('clean-traffic on guest A drops spoofed and foreign traffic and lets legitimate traffic pass', async (t) => {
    const net = topology(t);
    const binding: FilterBinding = {
      portdev: 'vnet0',
      mac: MAC.a,
      filter: 'clean-traffic',
      params: new Map([['IP', [IP.a]]]),
    };
    const plans = bindingPlans(binding, new MapFilterSource([]));

    // libvirt's shared iptables chains survive a teardown; one cycle first makes them part of
    // the state every later teardown must restore exactly.
    await applyPlans(plans, net.runner);
    await applyPlan(allTeardown('vnet0'), net.runner);
    const before = ruleset(net);
    assert.doesNotMatch(before, /vnet0/);

    await bind(net, plans);
    const frames = [
      ipv4('ok-ip-b', MAC.a, MAC.b, IP.a, IP.b),
      ipv4('ok-ip-host', MAC.a, MAC.host, IP.a, IP.host),
      arp('ok-arp-request', 1, BCAST, MAC.a, IP.a, ZERO, IP.b),
      arp('ok-arp-reply', 2, MAC.b, MAC.a, IP.a, MAC.b, IP.b),
      ipv4('bad-src-mac', MAC.other, MAC.b, IP.a, IP.b),
      ipv4('bad-src-ip', MAC.a, MAC.b, IP.other, IP.b),
      ipv4('bad-src-ip-host', MAC.a, MAC.host, IP.other, IP.host),
      arp('bad-arp-foreign-ip', 1, BCAST, MAC.a, IP.other, ZERO, IP.b),
      arp('bad-arp-foreign-mac', 2, MAC.b, MAC.other, IP.a, MAC.b, IP.b),
      arp('bad-arp-request-foreign-mac', 1, BCAST, MAC.other, IP.a, ZERO, IP.b),
      arp('bad-arp-reply-foreign-ip', 2, MAC.b, MAC.a, IP.other, MAC.b, IP.b),
      arp('bad-gratuitous-arp-for-b', 1, BCAST, MAC.a, IP.b, ZERO, IP.b),
      { kind: 'raw', marker: 'bad-ethertype', src_mac: MAC.a, dst_mac: MAC.b, ethertype: '88b5' },
      { kind: 'raw', marker: 'bad-ipv6', src_mac: MAC.a, dst_mac: MAC.b, ethertype: '86dd' },
    ];
    const seen = await probe(net, frames);
    assert.deepEqual(
      {
        ...seen.b,
        'ok-ip-host': seen.host['ok-ip-host'],
        'bad-src-ip-host': seen.host['bad-src-ip-host'],
        'host-arp-request': seen.host['ok-arp-request'],
      },
      {
        'ok-ip-b': 1,
        'ok-ip-host': 1,
        'ok-arp-request': 1,
        'ok-arp-reply': 1,
        'host-arp-request': 1,
        'bad-src-mac': 0,
        'bad-src-ip': 0,
        'bad-src-ip-host': 0,
        'bad-arp-foreign-ip': 0,
        'bad-arp-foreign-mac': 0,
        'bad-arp-request-foreign-mac': 0,
        'bad-arp-reply-foreign-ip': 0,
        'bad-gratuitous-arp-for-b': 0,
        'bad-ethertype': 0,
        'bad-ipv6': 0,
      },
    );
    // The guests' own stacks still talk both ways (ARP and ICMP).
    assert.equal(net.lab.exec(net.b, ['ping', '-c1', '-W2', IP.a], false).status, 0, 'B reaches A');
    assert.equal(net.lab.exec(net.a, ['ping', '-c1', '-W2', IP.host], false).status, 0, 'A reaches the host');

    await applyPlan(allTeardown('vnet0'), net.runner);
    assert.equal(ruleset(net), before, 'teardown restores the prior ruleset');
    const free = await probe(net, [ipv4('free-src-mac', MAC.other, MAC.b, IP.other, IP.b)]);
    assert.equal(free.b['free-src-mac'], 1, 'traffic is free again');
  });

  it('a TCP filter drops port 25 out of the guest and keeps state for allowed connections', async (t) => {
    const net = topology(t);
    const filter = parseFilter(`<filter name='vwt-l4' chain='root'>
  <rule action='drop' direction='out' priority='100'><tcp dstportstart='25'/></rule>
  <rule action='accept' direction='out' priority='200'><tcp dstportstart='80'/></rule>
  <rule action='accept' direction='in' priority='200'><tcp dstportstart='22'/></rule>
  <rule action='drop' direction='inout' priority='900'><tcp/></rule>
</filter>`);
    const plans = bindingPlans(
      { portdev: 'vnet0', mac: MAC.a, filter: 'vwt-l4', params: new Map() },
      new MapFilterSource([filter]),
    );
    await applyPlans(plans, net.runner);
    await applyPlan(allTeardown('vnet0'), net.runner);
    const before = ruleset(net);

    await tcpServers(net.shared, [22, 25, 80, 2222]);
    const connects = (from: Side, to: Side, port: number) => labConnects(net.shared, from, to, port);

    await bind(net, plans);
    assert.deepEqual(
      {
        aToB25: connects('a', 'b', 25),
        aToB80: connects('a', 'b', 80),
        aToB2222: connects('a', 'b', 2222),
        bToA22: connects('b', 'a', 22),
        bToA80: connects('b', 'a', 80),
        aToHost80: connects('a', 'host', 80),
        aToHost25: connects('a', 'host', 25),
      },
      { aToB25: false, aToB80: true, aToB2222: false, bToA22: true, bToA80: false, aToHost80: true, aToHost25: false },
    );

    await applyPlan(allTeardown('vnet0'), net.runner);
    assert.equal(ruleset(net), before, 'teardown restores the prior ruleset');
    assert.equal(connects('a', 'b', 25), true, 'port 25 open again');
  });

  it('a rule the kernel refuses rolls the new rule set back and keeps the previous filter', async (t) => {
    const net = topology(t);
    const working = parseFilter(
      `<filter name='vwt-ok'><rule action='drop' direction='out'><tcp dstportstart='25'/></rule></filter>`,
    );
    // The ipset does not exist, so iptables refuses the rule in the middle of the new set.
    const failing = parseFilter(`<filter name='vwt-bad'>
  <rule action='accept' direction='out'><udp dstportstart='53'/></rule>
  <rule action='accept' direction='out'><all ipset='vwt_no_such_set' ipsetflags='src'/></rule>
</filter>`);
    const source = new MapFilterSource([working, failing]);
    await bind(net, bindingPlans({ portdev: 'vnet0', mac: MAC.a, filter: 'vwt-ok', params: new Map() }, source));
    const before = ruleset(net);
    assert.match(before, /vnet0/);

    await assert.rejects(
      applyPlans(
        bindingPlans({ portdev: 'vnet0', mac: MAC.a, filter: 'vwt-bad', params: new Map() }, source),
        net.runner,
      ),
      /vwt_no_such_set/,
    );
    assert.equal(ruleset(net), before, 'the failed set is gone and the old one untouched');
    await applyPlan(allTeardown('vnet0'), net.runner);
  });

  it("IP learning's basic rules let only the guest's own MAC, IPv4 and ARP out, and go away cleanly", async (t) => {
    const net = topology(t);
    await applyPlans(applyBasicRules('vnet0', MAC.a), net.runner);
    await applyPlan(removeBasicRules('vnet0'), net.runner);
    const before = ruleset(net);

    await applyPlans(applyBasicRules('vnet0', MAC.a), net.runner);
    const seen = await probe(net, [
      ipv4('ok-ip', MAC.a, MAC.b, IP.a, IP.b),
      ipv4('ok-any-ip', MAC.a, MAC.b, IP.other, IP.b),
      ipv4('bad-src-mac', MAC.other, MAC.b, IP.a, IP.b),
      { kind: 'raw', marker: 'bad-ethertype', src_mac: MAC.a, dst_mac: MAC.b, ethertype: '88b5' },
    ]);
    assert.deepEqual(seen.b, { 'ok-ip': 1, 'ok-any-ip': 1, 'bad-src-mac': 0, 'bad-ethertype': 0 });
    await applyPlan(removeBasicRules('vnet0'), net.runner);
    assert.equal(ruleset(net), before);
  });
});
