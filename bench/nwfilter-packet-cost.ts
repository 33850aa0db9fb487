// Where the nftables backend's per-packet cost goes: guests A and B (clean-traffic + IP, bound by
// the backend) on one bridge, and the ruleset the backend loaded cut down piece by piece
// (no table at all, the hooked chains empty, the dispatch alone, ours without counters, ...).
// Each variant is loaded with `nft -f` in turn, every round, so load from elsewhere hits them
// alike; a round trip crosses four bridge hooks (A's from, B's to, B's from, A's to).
//
// Three ways of timing a round trip A -> B -> A:
//   warm  back to back (support/echo-timer.py): the CPU cost of the rules, caches hot;
//   cold  the same with --evict-mb MB copied before each (data caches cold, the same every time);
//   idle  `ping -i 0.01` as bench/nwfilter-datapath.ts does: what issue 15's "ping p99 within
//         10% of unfiltered" measures, where the CPU has idled for 10 ms before each packet.
// "added" is the median over the rounds of (variant - no table) in the same round, each side the
// mean of the round's middle half (ping prints whole microseconds: a median would be as coarse).
// --show prints the variants' rulesets and exits.
//
//   node --import tsx bench/nwfilter-packet-cost.ts [--rounds=10] [--warm=400] [--cold=200] [--evict-mb=1] [--pings=100] [--show]
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { cleanTrafficPort, guestIp, guestPair, requireNetns } from './support/net.js';
import { fmt, numberOption, percentile, printTable } from './support/stats.js';

requireNetns();
const rounds = numberOption('rounds', 10);
const warmCount = numberOption('warm', 400);
const coldCount = numberOption('cold', 200);
const evictMb = numberOption('evict-mb', 1);
const pings = numberOption('pings', 100);
const TRAVERSALS = 4;

// --- the variants: the backend's listing, cut down -------------------------------------------

/** A `set`, `map` or `chain` block of a listed table: its header line, body lines, closing line. */
interface Block {
  kind: string;
  name: string;
  lines: string[];
}

/** Rewrites every set/map/chain block of an `nft list ruleset` listing; `undefined` drops the block. */
function rewrite(listing: string, f: (b: Block) => string[] | undefined): string {
  const out: string[] = [];
  let block: Block | undefined;
  for (const line of listing.split('\n')) {
    const open = /^\t(set|map|chain) (\S+) \{$/.exec(line);
    if (open) block = { kind: open[1]!, name: open[2]!, lines: [line] };
    else if (block) {
      block.lines.push(line);
      if (line === '\t}') {
        out.push(...(f(block) ?? []));
        block = undefined;
      }
    } else out.push(line);
  }
  return out.join('\n').replace(/\n{3,}/g, '\n\n');
}

const isHooked = (b: Block) => b.kind === 'chain' && b.lines.some((l) => /^\t\ttype \w+ hook /.test(l));
const header = (b: Block) => b.lines.filter((l) => !l.startsWith('\t\t') || /^\t\ttype \w+ hook /.test(l));
/** Maps listed without elements (the dispatch maps while every port is of the main shape). */
const emptyMaps = (listing: string) => {
  const names: string[] = [];
  rewrite(listing, (b) => {
    if (b.kind === 'map' && !b.lines.some((l) => l.includes('elements ='))) names.push(b.name);
    return b.lines;
  });
  return names;
};

/**
 * The dispatch as one verdict map per hook: the main shape's set rule (`iifname @from_port_S_g1
 * jump S_from`, compile.ts MainShape) dropped and its ports put into the map before it, as
 * `goto` elements (the layout before the main shape, which cost binds at 10,000 ports more).
 */
function oneMapDispatch(ours: string): string {
  const moves: { map: string; set: string; target: string }[] = [];
  const elements = new Map<string, string[]>();
  rewrite(ours, (b) => {
    const body = b.lines.join('\n');
    if (b.kind === 'set') {
      const listed = /elements = \{([^}]*)\}/.exec(body)?.[1] ?? '';
      elements.set(
        b.name,
        [...listed.matchAll(/"[^"]+"/g)].map((m) => m[0]),
      );
    }
    const map = /vmap @(\w+) /.exec(body)?.[1];
    for (const m of body.matchAll(/^\t\t[io]ifname @(\w+) jump (\w+) /gm)) {
      moves.push({ map: map!, set: m[1]!, target: m[2]! });
    }
    return b.lines;
  });
  const isMoved = (l: string) => moves.some((m) => l.includes(`@${m.set} jump `));
  return rewrite(ours, (b) => {
    if (moves.some((m) => m.set === b.name)) return undefined;
    const into = moves.filter((m) => m.map === b.name);
    if (!into.length) return b.lines.filter((l) => !isMoved(l));
    const added = into.flatMap((m) => elements.get(m.set)!.map((port) => `${port} : goto ${m.target}`));
    return [...b.lines.slice(0, -1), `\t\telements = { ${added.join(', ')} }`, '\t}'];
  });
}

interface Variant {
  name: string;
  /** The ruleset to load ('' for none), from the backend's listing. */
  ruleset: (ours: string) => string;
  /** net.bridge.bridge-nf-call-iptables (libvirt's hosts, and the other variants, have 1). */
  brNetfilter: boolean;
}

const BASELINE = 'no table';
/** Rules ours evaluate per hook on the round trip's path, on average (24 per round trip). */
const NOOP_RULES = 6;
const VARIANTS: Variant[] = [
  { name: BASELINE, ruleset: () => '', brNetfilter: true },
  { name: 'no table, bridge-nf-call-iptables=0', ruleset: () => '', brNetfilter: false },
  {
    name: 'hooked chains only, empty',
    ruleset: (ours) => rewrite(ours, (b) => (isHooked(b) ? header(b) : undefined)),
    brNetfilter: true,
  },
  {
    // as many rules as ours evaluate per round trip (clean-traffic's IPv4 path: 8 from, 4 to), each
    // a payload match and a counter like most of ours, none matching
    name: `hooked chains only, ${NOOP_RULES} rules each matching nothing`,
    ruleset: (ours) =>
      rewrite(ours, (b) =>
        isHooked(b)
          ? [...header(b).slice(0, -1), ...Array<string>(NOOP_RULES).fill('\t\tether type 0x88b5 counter drop'), '\t}']
          : undefined,
      ),
    brNetfilter: true,
  },
  {
    name: 'dispatch only (port chains empty)',
    ruleset: (ours) => rewrite(ours, (b) => (b.kind === 'chain' && !isHooked(b) ? header(b) : b.lines)),
    brNetfilter: true,
  },
  { name: 'ours, dispatch by one map per hook', ruleset: oneMapDispatch, brNetfilter: true },
  {
    name: 'ours without the empty maps',
    ruleset: (ours) => {
      const empty = emptyMaps(ours);
      const uses = (l: string) => empty.some((m) => l.includes(`vmap @${m} `));
      return rewrite(ours, (b) => (empty.includes(b.name) ? undefined : b.lines.filter((l) => !uses(l))));
    },
    brNetfilter: true,
  },
  {
    name: 'ours without counters',
    ruleset: (ours) => ours.replace(/counter packets \d+ bytes \d+ /g, ''),
    brNetfilter: true,
  },
  { name: 'ours without comments', ruleset: (ours) => ours.replace(/ comment "[^"]*"/g, ''), brNetfilter: true },
  { name: 'ours', ruleset: (ours) => ours, brNetfilter: true },
];

// --- measuring ---------------------------------------------------------------------------

const REGIMES = ['warm', 'cold', 'idle'] as const;
type Regime = (typeof REGIMES)[number];
/** Round trips in microseconds, by variant and regime, one list per round. */
const samples = new Map<string, number[][]>();
const record = (variant: string, regime: Regime, us: number[]) => {
  const k = `${variant}/${regime}`;
  samples.set(k, [...(samples.get(k) ?? []), us]);
};

const { net, a } = guestPair();
const lab = net.lab;
const B = guestIp(1);
const ECHO_TIMER = join(import.meta.dirname, 'support/echo-timer.py');
const timed = (count: number, evict: number) =>
  lab
    .exec(a, ['python3', ECHO_TIMER, B, String(count), String(evict)])
    .stdout.trim()
    .split(' ')
    .map((ns) => Number(ns) / 1000);
const pinged = () => {
  const out = lab.exec(a, ['ping', '-n', '-c', String(pings), '-i', '0.01', '-W', '1', B], false).stdout;
  return [...out.matchAll(/time=([0-9.]+) ms/g)].map((m) => Number(m[1]) * 1000);
};

const started = new Date();
const loadBefore = loadavg();
let rulesets: string[];
try {
  const backend = await net.backend('nftables');
  await backend.apply({ set: [0, 1].map((i) => cleanTrafficPort(i)), remove: [] });
  const ours = lab.exec(net.host, ['nft', 'list', 'ruleset']).stdout;
  rulesets = VARIANTS.map((v) => v.ruleset(ours));
  if (process.argv.includes('--show')) {
    for (const [i, v] of VARIANTS.entries()) console.log(`# ${v.name}\n${rulesets[i]}`);
    process.exit(0);
  }
  for (let round = 1; round <= rounds; round++) {
    for (const [i, v] of VARIANTS.entries()) {
      lab.exec(net.host, ['nft', 'flush', 'ruleset']);
      if (rulesets[i]) lab.exec(net.host, ['nft', '-f', '-'], true, rulesets[i]);
      const on = Number(v.brNetfilter);
      const sysctls = [`net.bridge.bridge-nf-call-iptables=${on}`, `net.bridge.bridge-nf-call-ip6tables=${on}`];
      lab.exec(net.host, ['sysctl', '-qw', ...sysctls]);
      timed(20, 0); // the new ruleset's first packets, and the timer's start
      record(v.name, 'warm', timed(warmCount, 0));
      record(v.name, 'cold', timed(coldCount, evictMb));
      record(v.name, 'idle', pinged());
    }
    console.error(`round ${round}/${rounds} done, load ${loadavg()[0]!.toFixed(1)}`);
  }
} finally {
  net.cleanup();
}

const median = (v: readonly number[]) => percentile(v, 50);
/** The mean of the middle half of `values` (between the 25th and the 75th percentile). */
const middleMean = (values: readonly number[]) => {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = sorted.slice(Math.floor(sorted.length / 4), Math.ceil((3 * sorted.length) / 4));
  return middle.reduce((sum, v) => sum + v, 0) / middle.length;
};
const rounded = (k: string) => samples.get(k)!.map((r) => middleMean(r));
/** The median over rounds of the variant's middle mean minus the baseline's of the same round. */
const added = (variant: string, regime: Regime) => {
  const base = rounded(`${BASELINE}/${regime}`);
  return median(rounded(`${variant}/${regime}`).map((p, i) => p - base[i]!));
};
/** Rules in a listing: its lines at rule depth that are not declarations or continued elements. */
const rules = (text: string) =>
  text.split('\n').filter((l) => /^\t\t\S/.test(l) && !/^\t\t(type|typeof|elements|flags|size) /.test(l)).length;

console.log(
  `\nRun ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} (1/5/15 min) at start, ${loadavg()[0]!.toFixed(2)} at end`,
);
printTable(
  `One round trip A -> B -> A (4 bridge hook traversals), microseconds; ${rounds} rounds of ${warmCount} warm, ${coldCount} cold (${evictMb} MB evicted before each) and ${pings} idle (ping every 10 ms) round trips per variant`,
  [
    'variant',
    'rules',
    'warm p50',
    'warm added',
    'cold p50',
    'cold added',
    'idle p50',
    'idle added',
    'idle p99',
    'added per traversal (warm / cold / idle)',
  ],
  VARIANTS.map((v, i) => {
    const all = (r: Regime) => samples.get(`${v.name}/${r}`)!.flat();
    const per = REGIMES.map((r) => fmt(added(v.name, r) / TRAVERSALS, 2)).join(' / ');
    return [
      v.name,
      String(rules(rulesets[i]!)),
      fmt(median(all('warm')), 2),
      fmt(added(v.name, 'warm'), 2),
      fmt(median(all('cold')), 2),
      fmt(added(v.name, 'cold'), 2),
      fmt(median(all('idle')), 1),
      fmt(added(v.name, 'idle'), 1),
      fmt(percentile(all('idle'), 99), 1),
      per,
    ];
  }),
);
