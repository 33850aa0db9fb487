// Self-healing of a running network's firewall: virtwalld (a real process in a namespace) runs
// one NAT network; another tool damages its rules in the ways test/support/network-damage.ts
// lists, per network firewall backend, and the bench measures the time from the damage until
// the kernel lists exactly the rules of before again (polled every 5 ms), and SIGHUP's full
// re-apply until it is logged. The daemon's figure includes its nftables watch's 50 ms debounce.
//
//   node --import tsx bench/network-heal.ts [--rounds=10]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FirewallBackendName } from '../src/network/firewall/plan.js';
import { cli, startDaemon, stopAll } from '../test/daemon/process.js';
import { DAMAGE, firewallState } from '../test/support/network-damage.js';
import { NetnsLab } from '../test/support/netns.js';
import { requireNetns } from './support/net.js';
import { fmt, numberOption, percentile, printTable } from './support/stats.js';

requireNetns();
const ROUNDS = numberOption('rounds', 10);
const NETWORK = `<network><name>bench</name><forward mode='nat'/><bridge name='vwbr0' stp='off'/>
<ip address='192.168.100.1' netmask='255.255.255.0'><dhcp><range start='192.168.100.10' end='192.168.100.20'/></dhcp></ip></network>`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function bench(backend: FirewallBackendName): Promise<string[][]> {
  const lab = new NetnsLab();
  const root = mkdtempSync(join(tmpdir(), 'virtwall-bench-'));
  try {
    const ns = lab.netns('host');
    mkdirSync(join(root, 'etc/virtwall'), { recursive: true });
    writeFileSync(join(root, 'etc/virtwall/virtwall.conf'), `network_firewall_backend = "${backend}"\n`);
    const daemon = await startDaemon(ns, root);
    writeFileSync(join(root, 'net.xml'), NETWORK);
    if (cli(root, ['net-create', join(root, 'net.xml')]).status !== 0) throw new Error('net-create failed');
    const run = (argv: string[]) => lab.exec(ns, argv, false).stdout;
    const intact = firewallState(run, backend);
    const rows: string[][] = [];
    for (const damage of DAMAGE[backend]) {
      const times: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        lab.sh(ns, damage);
        const t0 = performance.now();
        while (firewallState(run, backend) !== intact) {
          if (performance.now() - t0 > 10_000) throw new Error(`${backend}: not restored after ${damage}`);
          await sleep(5);
        }
        times.push(performance.now() - t0);
        await sleep(300); // let the events of the repair settle
      }
      rows.push([
        backend,
        `\`${damage.length > 50 ? `${damage.slice(0, 47)}...` : damage}\``,
        fmt(percentile(times, 50), 0),
        fmt(percentile(times, 90), 0),
        fmt(Math.max(...times), 0),
      ]);
    }
    const sighup: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const before = daemon.log().split('re-applied').length;
      const t0 = performance.now();
      daemon.child.kill('SIGHUP');
      while (daemon.log().split('re-applied').length === before) await sleep(5);
      sighup.push(performance.now() - t0);
      await sleep(300);
    }
    rows.push([
      backend,
      'SIGHUP (full re-apply, until logged)',
      fmt(percentile(sighup, 50), 0),
      fmt(percentile(sighup, 90), 0),
      fmt(Math.max(...sighup), 0),
    ]);
    if (firewallState(run, backend) !== intact) throw new Error(`${backend}: rules differ after the rounds`);
    cli(root, ['net-destroy', 'bench']);
    return rows;
  } finally {
    stopAll(root);
    lab.cleanup();
    rmSync(root, { recursive: true, force: true });
  }
}

const rows: string[][] = [];
for (const backend of ['nftables', 'iptables'] as const) rows.push(...(await bench(backend)));
printTable(`damage to restored, ms (${ROUNDS} rounds each)`, ['backend', 'damage', 'median', 'p90', 'max'], rows);
