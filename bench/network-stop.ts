// Where a network's stop spends its time (issue 15, target 2: 100 networks stopped in <= 3 s),
// against the kernel's floor. The network driver runs in-process inside a namespace this bench
// creates (as virtwalld runs: nft through libnftables in-process, netlink from the process),
// under bench/support/reaper.py (a child subreaper, as a host's init: dnsmasq is reaped when it
// ends). It starts `--many` NAT networks with DHCP (nftables firewall), then stops them one
// after the other, timing each step of every stop, and the deletion of the retired bridges that
// follows the stops; and, first, the floor: RTM_DELLINK of a bridge, down and up with an
// address, in-process (`--floor` deletions of each), and of `--floor` bridges in one group.
//
//   node --import tsx bench/network-stop.ts [--many=100] [--floor=20]
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseNetwork } from '../src/conf/network/parse.js';
import { SystemRunner } from '../src/exec/runner.js';
import { NETLINK_ROUTE, NetlinkSocket } from '../src/netlink/socket.js';
import * as rt from '../src/netlink/rtnetlink.js';
import { parseIp } from '../src/util/address.js';
import { RETIRED_BRIDGE_GROUP, retiredBridgeName } from '../src/util/device-name.js';
import { NetnsLab } from '../test/support/netns.js';
import { requireNetns } from './support/net.js';
import { fmt, numberOption, percentile, printTable } from './support/stats.js';
import { timedNetworkDriver } from './support/timed-driver.js';

const many = numberOption('many', 100);
const floorRounds = numberOption('floor', 20);
const since = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const median = (v: readonly number[]) => percentile(v, 50);
const INSIDE = '--inside';

if (!process.argv.includes(INSIDE)) {
  // the outer run: a namespace, and this script again inside it under the subreaper
  requireNetns();
  const lab = new NetnsLab();
  try {
    const ns = lab.netns('stop');
    const r = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        ns,
        'python3',
        join(import.meta.dirname, 'support/reaper.py'),
        process.execPath,
        ...process.execArgv,
        import.meta.filename,
        ...process.argv.slice(2),
        INSIDE,
      ],
      { stdio: 'inherit' },
    );
    process.exitCode = r.status ?? 1;
  } finally {
    lab.cleanup();
  }
} else {
  console.log(
    `load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} at the start`,
  );
  // ---- the floor: the kernel deleting a bridge, nothing else
  const nl = NetlinkSocket.open(NETLINK_ROUTE);
  const down: number[] = [];
  const up: number[] = [];
  for (let i = 0; i < floorRounds; i++) {
    for (const [name, times, configure] of [
      [`fd${i}`, down, false],
      [`fu${i}`, up, true],
    ] as const) {
      nl.request((q) => rt.newBridge(q, { name, forwardDelay: 0, stp: false }));
      const index = rt.parseLink(nl.request((q) => rt.getLink(q, { name }))[0]!).index;
      if (configure) {
        nl.request((q) => rt.newAddress(q, index, parseIp(`10.9.${i}.1`)!, 24));
        nl.request((q) => rt.setUp(q, index));
      }
      const t0 = process.hrtime.bigint();
      nl.request((q) => rt.delLink(q, index));
      times.push(since(t0));
    }
  }
  // the reaper's way: bridges retired (down, renamed into the group), then one RTM_DELLINK of the group
  const retire: number[] = [];
  for (let i = 0; i < floorRounds; i++) {
    nl.request((q) => rt.newBridge(q, { name: `fg${i}`, forwardDelay: 0, stp: false }));
    const index = rt.parseLink(nl.request((q) => rt.getLink(q, { name: `fg${i}` }))[0]!).index;
    nl.request((q) => rt.newAddress(q, index, parseIp(`10.9.${i}.1`)!, 24));
    nl.request((q) => rt.setUp(q, index));
    const t0 = process.hrtime.bigint();
    nl.request((q) => rt.delAddress(q, index, parseIp(`10.9.${i}.1`)!, 24));
    nl.request((q) => rt.setDown(q, index));
    nl.request((q) => rt.renameIntoGroup(q, index, retiredBridgeName(index), RETIRED_BRIDGE_GROUP));
    retire.push(since(t0));
  }
  const g0 = process.hrtime.bigint();
  nl.request((q) => rt.delGroup(q, RETIRED_BRIDGE_GROUP));
  const group = since(g0);
  nl.close();
  printTable(
    `The floor: RTM_DELLINK of a bridge, in-process (ms, ${floorRounds} each)`,
    ['bridge', 'median', 'p90'],
    [
      ['down, no address', fmt(median(down), 2), fmt(percentile(down, 90), 2)],
      ['up, with an IPv4 address', fmt(median(up), 2), fmt(percentile(up, 90), 2)],
      ['retired (address off, down, renamed into the group)', fmt(median(retire), 2), fmt(percentile(retire, 90), 2)],
      [
        `deleted with ${floorRounds - 1} others (one RTM_DELLINK of the group), per bridge`,
        fmt(group / floorRounds, 2),
        '-',
      ],
    ],
  );

  // ---- the stops, step by step
  let current = new Map<string, number>();
  const note = (what: string, ms: number) => current.set(what, (current.get(what) ?? 0) + ms);
  const driver = timedNetworkDriver(
    new SystemRunner(),
    note,
    { run: (argv) => `run: ${argv.slice(0, argv[0] === 'nft' ? 4 : 1).join(' ')}`, kernel: (op) => `kernel: ${op}` },
    'stop',
  );
  const names: string[] = [];
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < many; i++) {
    const net = `10.${100 + Math.floor(i / 250)}.${i % 250}`;
    const name = `stop${i}`;
    await driver.start(
      parseNetwork(`<network><name>${name}</name><forward mode='nat'/><bridge name='vstop${i}' stp='off' delay='0'/>
<ip address='${net}.1' prefix='24'><dhcp><range start='${net}.10' end='${net}.250'/></dhcp></ip></network>`),
    );
    names.push(name);
  }
  const started = since(t0);
  const steps = new Map<string, number[]>();
  const stops: number[] = [];
  t0 = process.hrtime.bigint();
  for (const name of names) {
    current = new Map();
    const s0 = process.hrtime.bigint();
    await driver.stop(name);
    stops.push(since(s0));
    for (const [k, v] of current) (steps.get(k) ?? steps.set(k, []).get(k)!).push(v);
  }
  const stopped = since(t0);
  await driver.settle();
  const reaped = since(t0);
  const sum = (v: readonly number[]) => v.reduce((a, b) => a + b, 0);
  const accounted = sum([...steps.values()].map(sum));
  printTable(
    `${many} NAT networks with DHCP started (${fmt(started)} ms), then stopped one after the other: each step of the stops (ms)`,
    ['step', 'median per stop', 'first stop', 'all stops'],
    [
      ...[...steps].map(([k, v]) => [k, fmt(median(v), 2), fmt(v[0], 2), fmt(sum(v))]),
      ['the rest (dnsmasq ended and reaped, records, files)', '-', '-', fmt(stopped - accounted)],
      ['a stop', fmt(median(stops), 1), fmt(stops[0], 1), fmt(stopped)],
      ['until the retired bridges were deleted (after the first stop)', '-', '-', fmt(reaped)],
    ],
  );
  console.log(
    `load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} at the end`,
  );
}
