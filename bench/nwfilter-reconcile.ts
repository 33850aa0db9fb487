// Reconcile after a restart (issue 6's situation): N ports bound to clean-traffic (+IP) by one
// backend object, then a NEW backend object (as a restarted daemon has) reconciles the same
// desired state, instantiated afresh. Prints the time to instantiate, the reconcile itself (its
// `nft` runs included), and what it repaired: nothing, the kernel already holds that state.
//
//   node --import tsx bench/nwfilter-reconcile.ts [--n=100,1000] [--rounds=3]
import { BenchNet, cleanTrafficPort, portIndexes, requireNetns } from './support/net.js';
import { fmt, listOption, numberOption, percentile, printTable, timeMs } from './support/stats.js';
import type { PortFilter } from '../src/nwfilter/backend.js';

requireNetns();
const sizes = listOption('n', [100, 1000]);
const rounds = numberOption('rounds', 3);

const rows: string[][] = [];
for (const n of sizes) {
  const net = new BenchNet();
  try {
    await (await net.backend('nftables')).apply({ set: portIndexes(0, n).map((i) => cleanTrafficPort(i)), remove: [] });
    const instantiate: number[] = [];
    const reconcile: number[] = [];
    let changed = 0;
    for (let r = 0; r < rounds; r++) {
      let desired: PortFilter[] = [];
      instantiate.push(await timeMs(() => (desired = portIndexes(0, n).map((i) => cleanTrafficPort(i)))));
      const backend = await net.backend('nftables');
      reconcile.push(
        await timeMs(async () => {
          const report = await backend.reconcile(desired);
          changed += report.repaired.length + report.removed.length;
        }),
      );
    }
    rows.push([
      String(n),
      fmt(percentile(instantiate, 50)),
      fmt(percentile(reconcile, 50)),
      fmt(Math.max(...reconcile)),
      String(changed),
    ]);
    console.error(`N=${n}: reconcile p50 ${fmt(percentile(reconcile, 50))} ms`);
  } finally {
    net.cleanup();
  }
}
printTable(
  `Reconcile N ports after a restart (new backend object, same desired state), ${rounds} rounds`,
  ['N', 'instantiate ms (p50)', 'reconcile ms (p50)', 'reconcile ms (max)', 'ports repaired or removed'],
  rows,
);
