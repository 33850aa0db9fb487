// The packet path between two filtered guests A and B (clean-traffic + IP) on a bridge with
// 0 / 200 / 1000 other filtered ports: ping round trips (p50/p99) and iperf3 TCP throughput,
// for the unfiltered bridge, the nftables backend (verdict maps: O(1) per packet) and libvirt's
// layout (our ebiptables backend: a linear list of per-port jumps, A and B bound after the others,
// as guests started last are). The other ports' ebtables chains are replicated from a template
// port (support/replicate.ts) because binding them one command at a time takes ~20 minutes.
//
//   node --import tsx bench/nwfilter-datapath.ts [--n=0,200,1000] [--seconds=5] [--pings=300]
import { spawnSync } from 'node:child_process';
import type { NwfilterBackend } from '../src/nwfilter/backend.js';
import { BenchNet, cleanTrafficPort, guestIp, guestMac, portName, portIndexes, requireNetns } from './support/net.js';
import { replicateEbtablesPort } from './support/replicate.js';
import { rulesetSize } from './support/size.js';
import { fmt, listOption, numberOption, percentile, printTable } from './support/stats.js';

requireNetns();
for (const tool of ['iperf3', 'ping']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`bench: ${tool} is not installed`);
}
const others = listOption('n', [0, 200, 1000]);
const seconds = numberOption('seconds', 5);
const pings = numberOption('pings', 300);
const A = 0;
const B = 1;
const LAYOUTS = ['unfiltered', 'nftables', 'ebiptables'] as const;
type Layout = (typeof LAYOUTS)[number];

interface PathFigures {
  rules: number;
  pingP50: number;
  pingP99: number;
  lost: number;
  gbps: number;
}

/** The bridge with guests A and B in their own namespaces and `n` other ports. */
function guestNet(n: number) {
  const net = new BenchNet();
  const guests = [A, B].map((i) => {
    const ns = net.lab.netns(i === A ? 'a' : 'b');
    net.lab.veth(net.host, portName(i), ns, 'eth0', { bridge: 'br0', mac: guestMac(i) });
    net.lab.exec(ns, ['ip', 'addr', 'add', `${guestIp(i)}/16`, 'dev', 'eth0']);
    return ns;
  });
  net.addPorts(2, n + 2);
  return { net, a: guests[0]!, b: guests[1]! };
}

async function measure(net: BenchNet, a: string, b: string): Promise<PathFigures> {
  const lab = net.lab;
  const ping = lab.exec(a, ['ping', '-n', '-c', String(pings), '-i', '0.01', '-W', '1', guestIp(B)], false).stdout;
  const rtts = [...ping.matchAll(/time=([0-9.]+) ms/g)].map((m) => Number(m[1]));
  const server = lab.spawn(b, ['iperf3', '-s', '-1']);
  let result: { end?: { sum_received?: { bits_per_second: number } } } = {};
  for (let attempt = 0; attempt < 50 && !result.end; attempt++) {
    await new Promise((r) => setTimeout(r, 100));
    const r = lab.exec(a, ['iperf3', '-c', guestIp(B), '-t', String(seconds), '-J'], false);
    if (r.status === 0) result = JSON.parse(r.stdout) as typeof result;
  }
  server.kill();
  if (!result.end?.sum_received) throw new Error('iperf3 did not connect');
  return {
    rules: rulesetSize(net.host).rules,
    pingP50: percentile(rtts, 50),
    pingP99: percentile(rtts, 99),
    lost: pings - rtts.length,
    gbps: result.end.sum_received.bits_per_second / 1e9,
  };
}

/** Puts `layout`'s filters on every port, the others first, A and B last. */
async function install(layout: Layout, net: BenchNet, n: number): Promise<NwfilterBackend | undefined> {
  if (layout === 'unfiltered') return undefined;
  const backend = await net.backend(layout);
  if (layout === 'nftables') {
    await backend.apply({ set: portIndexes(2, n + 2).map((i) => cleanTrafficPort(i)), remove: [] });
  } else if (n > 0) {
    await backend.apply({ set: [cleanTrafficPort(2)], remove: [] });
    replicateEbtablesPort(net, 2, portIndexes(3, n + 2));
  }
  await backend.apply({ set: [A, B].map((i) => cleanTrafficPort(i)), remove: [] });
  return backend;
}

const results = new Map<string, PathFigures>();
for (const n of others) {
  const { net, a, b } = guestNet(n);
  try {
    for (const layout of LAYOUTS) {
      const backend = await install(layout, net, n);
      const f = await measure(net, a, b);
      results.set(`${layout}/${n}`, f);
      console.error(`${layout} with ${n} other ports: ${JSON.stringify(f)}`);
      // Back to the bare bridge for the next layout: the backend unbinds every port, and the
      // nftables backend's empty dispatch skeleton goes with the rest of this namespace's ruleset.
      await backend?.apply({ set: [], remove: portIndexes(0, n + 2).map(portName) });
      net.lab.exec(net.host, ['nft', 'flush', 'ruleset']);
    }
  } finally {
    net.cleanup();
  }
}

printTable(
  `Packet path A -> B (both clean-traffic + IP) with N other filtered ports; ping ${pings} x 10 ms, iperf3 TCP ${seconds} s`,
  ['layout', 'N others', 'kernel rules', 'ping p50 ms', 'ping p99 ms', 'lost', 'TCP Gbit/s', '% of unfiltered'],
  others.flatMap((n) =>
    LAYOUTS.map((layout) => {
      const f = results.get(`${layout}/${n}`)!;
      const base = results.get(`unfiltered/${n}`)!;
      return [layout, String(n), String(f.rules), fmt(f.pingP50, 3), fmt(f.pingP99, 3), String(f.lost), fmt(f.gbps, 2), `${fmt((100 * f.gbps) / base.gbps)}%`];
    }),
  ),
);
const nMax = Math.max(...others);
const share = (100 * results.get(`nftables/${nMax}`)!.gbps) / results.get(`unfiltered/${nMax}`)!.gbps;
console.log(`\nTarget: nftables >= 95% of the unfiltered bridge's TCP throughput with ${nMax} other ports: ${fmt(share)}% -> ${nMax >= 1000 && share >= 95 ? 'met' : 'not met'}`);
