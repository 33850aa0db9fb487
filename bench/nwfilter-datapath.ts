// The packet path between two filtered guests A and B (clean-traffic + IP) on a bridge with
// 0 / 200 / 1000 other filtered ports (past 1,000 they sit on further bridges: a bridge takes 1,024): ping round trips (p50/p99) and iperf3 TCP throughput,
// for the unfiltered bridge, the nftables backend (verdict maps: O(1) per packet) and libvirt's
// layout (our ebiptables backend: a linear list of per-port jumps, A and B bound after the others,
// as guests started last are). The other ports' ebtables chains are replicated from a template
// port (support/replicate.ts) because binding them one command at a time takes ~20 minutes.
//
// The layouts take turns for `--rounds` rounds so that load from elsewhere hits them alike;
// throughput is the median of the rounds, ping percentiles are over all rounds' pings.
// --ebiptables=0 leaves libvirt's layout out (at 10,000 ports its ~380,000 ebtables rules take
// long to load and are not what issue 15's target measures).
//
//   node --import tsx bench/nwfilter-datapath.ts [--n=0,200,1000] [--rounds=3] [--seconds=5] [--pings=300] [--ebiptables=1]
import { spawnSync } from 'node:child_process';
import { type BenchNet, cleanTrafficPort, guestIp, guestPair, portIndexes, requireNetns } from './support/net.js';
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
const rounds = numberOption('rounds', 3);
const A = 0;
const B = 1;
const ALL_LAYOUTS = ['unfiltered', 'nftables', 'ebiptables'] as const;
type Layout = (typeof ALL_LAYOUTS)[number];
const LAYOUTS = ALL_LAYOUTS.filter((l) => l !== 'ebiptables' || numberOption('ebiptables', 1) !== 0);

/** One round's measurement of one layout. */
interface Sample {
  rules: number;
  rtts: number[];
  lost: number;
  gbps: number;
}

async function measure(net: BenchNet, a: string, b: string): Promise<Sample> {
  const lab = net.lab;
  const ping = lab.exec(a, ['ping', '-n', '-c', String(pings), '-i', '0.01', '-W', '1', guestIp(B)], false).stdout;
  const rtts = [...ping.matchAll(/time=([0-9.]+) ms/g)].map((m) => Number(m[1]));
  const server = lab.spawn(b, ['iperf3', '-s', '-1']);
  let result: { end?: { sum_received?: { bits_per_second: number } } } = {};
  let failure = '';
  for (let attempt = 0; attempt < 50 && !result.end; attempt++) {
    await new Promise((r) => setTimeout(r, 100));
    const r = lab.exec(a, ['iperf3', '-c', guestIp(B), '-t', String(seconds), '-J'], false);
    if (r.status === 0) result = JSON.parse(r.stdout) as typeof result;
    else failure = `status ${r.status}: ${r.stdout.slice(0, 400)} ${r.stderr}`;
  }
  server.kill();
  if (!result.end?.sum_received)
    throw new Error(`iperf3 did not connect (${rtts.length}/${pings} pings answered): ${failure.trim()}`);
  return {
    rules: rulesetSize(net.host).rules,
    rtts,
    lost: pings - rtts.length,
    gbps: result.end.sum_received.bits_per_second / 1e9,
  };
}

/** Puts `layout`'s filters on every port, the others first, A and B last. */
async function install(layout: Layout, net: BenchNet, n: number): Promise<void> {
  if (layout === 'unfiltered') return;
  const backend = await net.backend(layout);
  if (layout === 'nftables') {
    await backend.apply({ set: portIndexes(2, n + 2).map((i) => cleanTrafficPort(i)), remove: [] });
  } else if (n > 0) {
    await backend.apply({ set: [cleanTrafficPort(2)], remove: [] });
    replicateEbtablesPort(net, 2, portIndexes(3, n + 2));
  }
  await backend.apply({ set: [A, B].map((i) => cleanTrafficPort(i)), remove: [] });
}

const samples = new Map<string, Sample[]>();
for (const n of others) {
  const { net, a, b } = guestPair(n);
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const layout of LAYOUTS) {
        await install(layout, net, n);
        const s = await measure(net, a, b);
        samples.set(`${layout}/${n}`, [...(samples.get(`${layout}/${n}`) ?? []), s]);
        console.error(
          `round ${round}: ${layout} with ${n} other ports: ${s.rules} rules, ping p50 ${fmt(percentile(s.rtts, 50), 3)} ms, ${fmt(s.gbps, 2)} Gbit/s`,
        );
        // Back to the bare bridge for the next layout (unbinding ports one by one through the
        // ebiptables backend would take minutes; the namespace and its ruleset are the bench's).
        net.lab.exec(net.host, ['nft', 'flush', 'ruleset']);
      }
    }
  } finally {
    net.cleanup();
  }
}

const median = (values: number[]) => percentile(values, 50);
const gbps = (layout: Layout, n: number) => median(samples.get(`${layout}/${n}`)!.map((s) => s.gbps));

printTable(
  `Packet path A -> B (both clean-traffic + IP) with N other filtered ports; ${rounds} rounds of ${pings} pings every 10 ms and iperf3 TCP for ${seconds} s`,
  [
    'layout',
    'N others',
    'kernel rules',
    'ping p50 ms',
    'ping p99 ms',
    'lost',
    'TCP Gbit/s (median)',
    'TCP Gbit/s (rounds)',
    '% of unfiltered',
  ],
  others.flatMap((n) =>
    LAYOUTS.map((layout) => {
      const runs = samples.get(`${layout}/${n}`)!;
      const rtts = runs.flatMap((s) => s.rtts);
      const lost = runs.reduce((sum, s) => sum + s.lost, 0);
      const each = runs.map((s) => fmt(s.gbps, 1)).join(' / ');
      return [
        layout,
        String(n),
        String(runs[0]!.rules),
        fmt(percentile(rtts, 50), 3),
        fmt(percentile(rtts, 99), 3),
        String(lost),
        fmt(gbps(layout, n), 2),
        each,
        `${fmt((100 * gbps(layout, n)) / gbps('unfiltered', n))}%`,
      ];
    }),
  ),
);
const nMax = Math.max(...others);
const share = (100 * gbps('nftables', nMax)) / gbps('unfiltered', nMax);
const p99 = (layout: Layout) =>
  percentile(
    samples.get(`${layout}/${nMax}`)!.flatMap((s) => s.rtts),
    99,
  );
const p99Share = (100 * p99('nftables')) / p99('unfiltered');
console.log(
  `\nTarget: nftables >= 95% of the unfiltered bridge's TCP throughput with ${nMax} other ports: ${fmt(share)}% -> ${nMax >= 1000 && share >= 95 ? 'met' : 'not met'}`,
);
console.log(
  `Target: nftables ping p99 within 10% of the unfiltered bridge's with ${nMax} other ports: ${fmt(p99('nftables'), 3)} vs ${fmt(p99('unfiltered'), 3)} ms = ${fmt(p99Share)}% -> ${p99Share <= 110 ? 'met' : 'not met'}`,
);
