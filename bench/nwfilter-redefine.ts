// Redefining a filter that N ports use: every port is instantiated again from the new definition
// and the kernel switched over. nftables does it in one transaction; ebiptables (libvirt's layout)
// and libvirt itself rebuild each port's chains with a run of commands, so they are measured at a
// smaller N for contrast. nftables runs twice: an nft process per command, and nft in-process
// (libnftables in the bench namespace, as virtwalld runs it).
//
//   node --import tsx bench/nwfilter-redefine.ts [--n=1000] [--ebiptables-n=10] [--libvirt-n=10]
import { parseFilter } from '../src/conf/nwfilter/parse.js';
import type { NwfilterBackendName } from '../src/nwfilter/backend.js';
import { chainSources, MapFilterSource } from '../src/nwfilter/source.js';
import { inNetns } from '../src/netlink/socket.js';
import { Libnftables } from '../src/nft/libnftables.js';
import { CountingRunner } from './support/counting-runner.js';
import { LibvirtNwfilter } from './support/libvirt.js';
import {
  BenchNet,
  cleanTrafficPort,
  GUARD_DEFINITIONS,
  GUARD_FILTER,
  portIndexes,
  requireNetns,
  stockFilters,
} from './support/net.js';
import { rulesetSize } from './support/size.js';
import { fmt, numberOption, printTable, ratio, timeMs } from './support/stats.js';

requireNetns();

interface Figures {
  n: number;
  bind: number;
  redefine: number;
  /** Processes the redefinition started, by program. */
  commands: string;
  rulesBefore: number;
  rulesAfter: number;
}

/**
 * `inProcess`: nft through one libnftables context opened in the bench's namespace, as the daemon
 * runs it (src/exec/runner.ts, src/nft/owning-client.ts); else an nft process per command.
 */
async function ours(name: NwfilterBackendName, n: number, inProcess = false): Promise<Figures> {
  const net = new BenchNet();
  try {
    net.addPorts(0, n);
    const lib = inProcess ? inNetns(net.host, () => new Libnftables()) : undefined;
    const runner = new CountingRunner(
      lib
        ? {
            netns: net.runner.netns,
            run: (argv, input) => (argv[0] === 'nft' ? lib.run(argv, input) : net.runner.run(argv, input)),
          }
        : net.runner,
    );
    const backend = await net.backend(name, runner);
    const ports = (version: number) => {
      const source = chainSources(new MapFilterSource([parseFilter(GUARD_DEFINITIONS[version]!)]), stockFilters);
      return portIndexes(0, n).map((i) => cleanTrafficPort(i, GUARD_FILTER, source));
    };
    const bind = await timeMs(() => backend.apply({ set: ports(0), remove: [] }));
    const rulesBefore = rulesetSize(net.host).rules;
    runner.take();
    const redefine = await timeMs(() => backend.apply({ set: ports(1), remove: [] }));
    return { n, bind, redefine, commands: runner.take(), rulesBefore, rulesAfter: rulesetSize(net.host).rules };
  } finally {
    net.cleanup();
  }
}

async function libvirt(n: number): Promise<Figures> {
  const net = new BenchNet();
  try {
    net.addPorts(0, n);
    const lv = await LibvirtNwfilter.start(net.host);
    try {
      lv.define(GUARD_DEFINITIONS[0]!);
      const bind = await timeMs(() => lv.bind(lv.bindingFiles(portIndexes(0, n), GUARD_FILTER)));
      const rulesBefore = rulesetSize(net.host).rules;
      const redefine = await timeMs(() => lv.define(GUARD_DEFINITIONS[1]!));
      return {
        n,
        bind,
        redefine,
        commands: 'virsh 1 (daemon runs ebtables/iptables)',
        rulesBefore,
        rulesAfter: rulesetSize(net.host).rules,
      };
    } finally {
      await lv.stop();
    }
  } finally {
    net.cleanup();
  }
}

const runs: [string, Figures][] = [];
for (const [name, run] of [
  ['nftables', () => ours('nftables', numberOption('n', 1000))],
  ['nftables, in-process nft', () => ours('nftables', numberOption('n', 1000), true)],
  ['ebiptables', () => ours('ebiptables', numberOption('ebiptables-n', 10))],
  ['libvirt', () => libvirt(numberOption('libvirt-n', 10))],
] as const) {
  if (numberOption(name.startsWith('nftables') ? 'n' : `${name}-n`, 1) === 0) continue;
  const f = await run();
  console.error(`${name} N=${f.n}: redefine ${fmt(f.redefine)} ms`);
  runs.push([name, f]);
}

printTable(
  `Redefine filter '${GUARD_FILTER}' used by N ports (clean-traffic + IP underneath)`,
  [
    'backend',
    'N',
    'bind all s',
    'redefine s',
    'redefine per port ms',
    'processes for the redefinition',
    'kernel rules before -> after',
  ],
  runs.map(([name, f]) => [
    name,
    String(f.n),
    fmt(f.bind / 1000, 2),
    fmt(f.redefine / 1000, 2),
    fmt(f.redefine / f.n, 2),
    f.commands,
    `${f.rulesBefore} -> ${f.rulesAfter}`,
  ]),
);
const nft = runs.find(([name]) => name === 'nftables')?.[1];
printTable(
  'Per-port redefinition cost, ratio to nftables',
  ['backend', 'x slower per port'],
  runs
    .filter(([name]) => name !== 'nftables')
    .map(([name, f]) => [name, ratio(f.redefine / f.n, nft ? nft.redefine / nft.n : undefined)]),
);
if (nft) {
  // one `nft -f` changing our tables (the transaction); other nft runs only read, or load and
  // delete the scratch table the added rules' kernel forms are read from (`nft -f scratch`)
  const oneTransaction =
    nft.commands
      .split(', ')
      .filter((c) => /^nft -f \d+$/.test(c))
      .join() === 'nft -f 1';
  console.log(
    `\nTarget: redefine a filter used by ${nft.n} ports in one transaction, <= 1 s: ${fmt(nft.redefine / 1000, 2)} s, ${nft.commands} -> ${nft.n === 1000 && oneTransaction && nft.redefine <= 1000 ? 'met' : 'not met'}`,
  );
}
