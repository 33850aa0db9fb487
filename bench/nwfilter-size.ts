// Kernel ruleset size against the number of ports bound to clean-traffic (+IP): tables, chains,
// rules and set/map elements, counted alike for every backend from `nft -j list ruleset` of the
// bench namespace (ebtables-nft and iptables-nft rules show there too). nftables shares chains
// between ports with the same filter tree, so only elements should grow with N.
//
//   node --import tsx bench/nwfilter-size.ts [--n=1,10,100,1000] [--ebiptables-max=10] [--libvirt-max=10]
import { BINDERS, binderLimits, withBinder, type BinderName } from './support/binders.js';
import { portIndexes, requireNetns } from './support/net.js';
import { rulesetSize, type RulesetSize } from './support/size.js';
import { fmt, listOption, printTable } from './support/stats.js';

requireNetns();
const sizes = listOption('n', [1, 10, 100, 1000]);
const maxN = binderLimits();

function sizeAt(name: BinderName, n: number): Promise<RulesetSize> {
  return withBinder(name, n, async (binder, net) => {
    await binder.bind(portIndexes(0, n));
    return rulesetSize(net.host);
  });
}

const rows: string[][] = [];
for (const name of BINDERS) {
  for (const n of sizes.filter((s) => s <= maxN[name])) {
    const s = await sizeAt(name, n);
    console.error(`${name} N=${n}: ${JSON.stringify(s)}`);
    rows.push([
      name,
      String(n),
      String(s.tables),
      String(s.chains),
      String(s.rules),
      String(s.sets),
      String(s.elements),
      fmt(s.rules / n),
      fmt(s.elements / n),
    ]);
  }
}
printTable(
  'Ruleset size versus N (clean-traffic + IP on every port)',
  ['backend', 'N', 'tables', 'chains', 'rules', 'sets/maps', 'elements', 'rules per port', 'elements per port'],
  rows,
);
