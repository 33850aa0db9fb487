// Binding N guest ports to clean-traffic (with their IP), one by one and all in one change, with
// virtwall's nftables backend, its ebiptables backend (libvirt's layout) and libvirt's own
// nwfilter driver, each in a fresh namespace. Prints single-bind percentiles, bulk totals,
// per-port cost and the ratios to nftables.
//
//   node --import tsx bench/nwfilter-bind.ts [--n=1,10,100,1000] [--ebiptables-max=10] [--libvirt-max=10]
//
// ebiptables and libvirt cost about a second per port, so they stop at their own maximum N.
import { BINDERS, binderLimits, withBinder, type BinderName } from './support/binders.js';
import { portIndexes, requireNetns } from './support/net.js';
import { fmt, listOption, percentile, printTable, ratio, timeMs } from './support/stats.js';

requireNetns();
const sizes = listOption('n', [1, 10, 100, 1000]);
const maxN = binderLimits();

interface Figures {
  /** Each single bind's time (ms), binding ports 0..N-1 one after the other. */
  singles: number[];
  /** The part of each single bind spent in the commands it ran (ours only). */
  commands: number[];
  /** One change binding all N ports (ms). */
  bulk: number;
}

async function measure(name: BinderName, n: number): Promise<Figures> {
  const { singles, commands } = await withBinder(name, n, async (binder) => {
    const times = { singles: [] as number[], commands: [] as number[] };
    for (const i of portIndexes(0, n)) {
      times.singles.push(await timeMs(() => binder.bind([i])));
      const ms = binder.commandMs();
      if (ms !== undefined) times.commands.push(ms);
    }
    return times;
  });
  const bulk = await withBinder(name, n, (binder) => timeMs(() => binder.bind(portIndexes(0, n))));
  return { singles, commands, bulk };
}

const results = new Map<string, Figures>();
const at = (name: BinderName, n: number) => results.get(`${name}/${n}`);
for (const n of sizes) {
  for (const name of BINDERS.filter((b) => n <= maxN[b])) {
    const f = await measure(name, n);
    results.set(`${name}/${n}`, f);
    console.error(`${name} N=${n}: single p50 ${fmt(percentile(f.singles, 50))} ms, bulk ${fmt(f.bulk)} ms`);
  }
}

printTable(
  'Bind N ports to clean-traffic (+IP)',
  [
    'backend',
    'N',
    'single p50 ms',
    'of which commands ms',
    'single p99 ms',
    'one-by-one total s',
    'bulk total s',
    'bulk per port ms',
  ],
  sizes.flatMap((n) =>
    BINDERS.flatMap((name) => {
      const f = at(name, n);
      if (!f) return [];
      const total = f.singles.reduce((a, b) => a + b, 0);
      return [
        [
          name,
          String(n),
          fmt(percentile(f.singles, 50)),
          fmt(percentile(f.commands, 50)),
          fmt(percentile(f.singles, 99)),
          fmt(total / 1000, 2),
          fmt(f.bulk / 1000, 2),
          fmt(f.bulk / n, 2),
        ],
      ];
    }),
  ),
);

// Ratios at equal N, and the headline: libvirt's per-port cost at its largest N against
// nftables' per-port cost at the largest N measured.
const perPort = (name: BinderName, n: number) => (at(name, n) ? at(name, n)!.bulk / n : undefined);
const p50 = (name: BinderName, n: number) => (at(name, n) ? percentile(at(name, n)!.singles, 50) : undefined);
printTable(
  'Ratios (x times slower than nftables)',
  ['N', 'ebiptables single p50', 'ebiptables bulk per port', 'libvirt single p50', 'libvirt bulk per port'],
  sizes
    .filter((n) => at('ebiptables', n) ?? at('libvirt', n))
    .map((n) => [
      String(n),
      ratio(p50('ebiptables', n), p50('nftables', n)),
      ratio(perPort('ebiptables', n), perPort('nftables', n)),
      ratio(p50('libvirt', n), p50('nftables', n)),
      ratio(perPort('libvirt', n), perPort('nftables', n)),
    ]),
);

const largest = (name: BinderName) => Math.max(...sizes.filter((n) => at(name, n)));
const nBig = largest('nftables');
const nLv = largest('libvirt');
const big = at('nftables', nBig);
printTable(
  'Targets (issue 5)',
  ['target', 'measured', 'met'],
  [
    [
      `single bind p50 <= 15 ms (nftables, N=${nBig})`,
      `${fmt(p50('nftables', nBig))} ms`,
      String((p50('nftables', nBig) ?? Infinity) <= 15),
    ],
    [
      `${nBig} ports in bulk <= 2 s (nftables)`,
      `${fmt((big?.bulk ?? NaN) / 1000, 2)} s`,
      String(nBig === 1000 && (big?.bulk ?? Infinity) <= 2000),
    ],
    [
      `>= 100x faster per port than libvirt (libvirt N=${nLv} vs nftables N=${nBig}, bulk)`,
      ratio(perPort('libvirt', nLv), perPort('nftables', nBig)),
      String((perPort('libvirt', nLv) ?? 0) / (perPort('nftables', nBig) ?? Infinity) >= 100),
    ],
  ],
);
