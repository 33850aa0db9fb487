// The CLI's own cost per command (issue 15, target 3: a bind through `virtwall` <= 60 ms p50),
// side by side in one run, each command a fresh process as a hook runs it:
//
//   (a) `virtwall --help` (the program: commander and every command's definition);
//   (b) a bind, `virtwall nwfilter-binding-create FILE`, and the unbind after it,
//       `nwfilter-binding-delete PORTDEV` (clean-traffic + IP, nftables backend; the fast path,
//       src/cli/fast-path.ts), against a daemon running in a namespace this bench creates (removed
//       on exit, error and Ctrl-C, with the daemon);
//   (c) the floor: `node -e 0` (Node's bare start-up) and `node dist/cli/main.js` (loading the
//       bundle's entry and nothing else: no command runs);
//   (d) the daemon's share: the same requests from this process, already running;
//   (e) virsh for reference: `virsh --help` and `virsh -c test:///default list`.
//
// virtwall runs as installed: the files `npm pack` ships, copied to a scratch folder (no src/, so
// bin/ does not check sources against the build's stamp); one row runs the checkout's bin/,
// which does. The same rows run under Node 24 (the LTS in lts/, when installed) with its compile cache and
// without it (NODE_DISABLE_COMPILE_CACHE=1). `--baseline=DIR` adds (a) and (b) through DIR's
// bin/virtwall.js, another checkout (built) of virtwall, e.g. the commit before a change, under
// each Node. Commands alternate round by round, so the machine's load falls on all of them
// alike; the first `--warmup` rounds are not counted.
//
//   node --import tsx bench/cli-latency.ts [--rounds=40] [--warmup=3] [--baseline=DIR]
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DaemonClient } from '../src/cli/client.js';
import { BIN, bindingRecord, startDaemon, stopAll } from '../test/daemon/process.js';
import { NetnsLab } from '../test/support/netns.js';
import { requireNetns } from './support/net.js';
import { fmt, numberOption, percentile, printTable, ratio, timeMs } from './support/stats.js';

requireNetns();
const { builtFromCurrentSources } = (await import('../scripts/source-stamp.mjs' as string)) as {
  builtFromCurrentSources(): boolean;
};
if (!builtFromCurrentSources()) {
  console.error(
    'bench: dist/ is not built from the current sources; run `npm run build` first (bin/ would run the sources through tsx)',
  );
  process.exit(2);
}
const ROUNDS = numberOption('rounds', 40);
const WARMUP = numberOption('warmup', 3);
const BASELINE = process.argv.find((a) => a.startsWith('--baseline='))?.slice('--baseline='.length);
const REPO = resolve(import.meta.dirname, '..');
const NODE24 = resolve(import.meta.dirname, '../lts/node_modules/.bin/node');
const NO_CACHE = { NODE_DISABLE_COMPILE_CACHE: '1' };

/** One way of running node: the binary and the environment it gets. */
interface Runtime {
  name: string;
  node: string;
  env: Record<string, string>;
}
const runtimes: Runtime[] = [{ name: `Node ${process.versions.node}`, node: process.execPath, env: {} }];
if (existsSync(NODE24)) {
  const version = spawnSync(NODE24, ['--version'], { encoding: 'utf8' }).stdout.trim().slice(1);
  runtimes.push(
    { name: `Node ${version}, compile cache`, node: NODE24, env: {} },
    { name: `Node ${version}, no compile cache`, node: NODE24, env: NO_CACHE },
  );
}

/** Milliseconds to run argv to its end; fails the bench unless it exits 0. */
function timed(argv: readonly string[], env: Record<string, string> = {}): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env: { ...process.env, ...env } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

/** The package as npm installs it (the files `npm pack` lists) in `dir`, with the checkout's node_modules. */
function installedCopy(dir: string): string {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm pack --dry-run: ${r.stderr}`);
  for (const { path } of (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    cpSync(join(REPO, path), join(dir, path));
  }
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

const lab = new NetnsLab();
const ns = lab.netns('cli');
const root = mkdtempSync(join(tmpdir(), 'vwt-bench-cli-'));
try {
  const pkg = installedCopy(join(root, 'package'));
  const bin = join(pkg, 'bin/virtwall.js');
  const entry = join(pkg, 'dist/cli/main.js');
  mkdirSync(join(root, 'etc/virtwall'), { recursive: true });
  writeFileSync(join(root, 'etc/virtwall/virtwall.conf'), 'nwfilter_backend = "nftables"\n');
  const binding = join(root, 'binding.xml');
  writeFileSync(binding, bindingRecord(2));
  await startDaemon(ns, root);

  /** A row: what it runs each round (commands, or requests from this process, timed together). */
  interface Row {
    name: string;
    steps?: (readonly string[])[];
    env?: Record<string, string>;
    requests?: () => Promise<unknown>;
  }
  const client = DaemonClient.forRoot(root);
  const xml = readFileSync(binding, 'utf8');
  /** A bind then its unbind, each a row of its own (so each round binds before it unbinds). */
  const bind = (name: string, node: string, virtwall: string, env: Record<string, string> = {}): Row[] => [
    { name: `${name}: bind`, steps: [[node, virtwall, '--root', root, 'nwfilter-binding-create', binding]], env },
    { name: `${name}: unbind`, steps: [[node, virtwall, '--root', root, 'nwfilter-binding-delete', 'vnet2']], env },
  ];
  const rows: Row[] = [];
  for (const rt of runtimes) {
    rows.push(
      { name: `${rt.name}: node -e 0`, steps: [[rt.node, '-e', '0']], env: rt.env },
      { name: `${rt.name}: node dist/cli/main.js (load the entry only)`, steps: [[rt.node, entry]], env: rt.env },
      { name: `${rt.name}: virtwall --help`, steps: [[rt.node, bin, '--help']], env: rt.env },
      ...bind(`${rt.name}: virtwall`, rt.node, bin, rt.env),
    );
  }
  rows.push(...bind(`${runtimes[0]!.name}: checkout's bin/ (stamp check of src/)`, process.execPath, BIN));
  if (BASELINE) {
    const old = join(resolve(BASELINE), 'bin/virtwall.js');
    for (const rt of runtimes.filter((r) => r.env !== NO_CACHE))
      rows.push(
        { name: `${rt.name}: baseline (${BASELINE}): virtwall --help`, steps: [[rt.node, old, '--help']], env: rt.env },
        ...bind(`${rt.name}: baseline`, rt.node, old, rt.env),
      );
  }
  // the daemon's share: the requests the two commands send, from a process already running
  rows.push(
    {
      name: 'daemon only, from a running process: bind (POST)',
      requests: () => client.call('POST', '/bindings', { xml, file: binding }),
    },
    {
      name: 'daemon only, from a running process: unbind (GET, DELETE)',
      requests: async () => {
        await client.call('GET', '/bindings/vnet2');
        await client.call('DELETE', '/bindings/vnet2');
      },
    },
  );
  rows.push(
    { name: 'virsh --help', steps: [['virsh', '--help']] },
    { name: 'virsh -c test:///default list', steps: [['virsh', '-c', 'test:///default', 'list']] },
  );

  const loadAtStart = loadavg();
  const times = rows.map(() => [] as number[]);
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    for (const [i, row] of rows.entries()) {
      const ms = row.requests
        ? await timeMs(row.requests)
        : row.steps!.reduce((sum, argv) => sum + timed(argv, row.env), 0);
      if (round >= WARMUP) times[i]!.push(ms);
    }
  }

  const p50 = (name: string) => percentile(times[rows.findIndex((r) => r.name === name)]!, 50);
  const node = runtimes[0]!.name;
  const floor = p50(`${node}: node -e 0`);
  const virshHelp = p50('virsh --help');
  console.log(
    `\n${new Date().toISOString()}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${[
      loadAtStart,
      loadavg(),
    ]
      .map((l) => l.map((x) => x.toFixed(2)).join(' '))
      .join(' at the start, ')} at the end, ${ROUNDS} rounds (+${WARMUP} not counted)`,
  );
  printTable(
    'Milliseconds per command, a fresh process each',
    ['command', 'p50', 'p95', `x node -e 0 (${node})`, 'x virsh --help'],
    rows.map((row, i) => {
      const m = percentile(times[i]!, 50);
      return [row.name, fmt(m), fmt(percentile(times[i]!, 95)), ratio(m, floor), ratio(m, virshHelp)];
    }),
  );
  const daemon = p50('daemon only, from a running process: bind (POST)');
  for (const rt of runtimes) {
    const bindMs = p50(`${rt.name}: virtwall: bind`);
    const bare = p50(`${rt.name}: node -e 0`);
    console.log(
      `bind through virtwall (${rt.name}): ${fmt(bindMs)} ms p50, target <= 60 ms ${bindMs <= 60 ? 'met' : 'not met'}: node -e 0 ${fmt(bare)} + daemon ${fmt(daemon)} + virtwall's own ${fmt(bindMs - bare - daemon)}`,
    );
  }
} finally {
  stopAll(root);
  lab.cleanup();
  rmSync(root, { recursive: true, force: true });
}
