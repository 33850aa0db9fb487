// Fleet propagation (issue 17): the time from a filter redefinition on one host until every one
// of N hosts enforces it, against one host's local define. Real parts throughout (the fleet
// lab of test/fleet/lab.ts): a three-member etcd cluster with mutual TLS in a namespace, N
// virtwall daemons each in a namespace of its own, every host with one binding of the filter on
// a veth, so "enforces" means its port's rules were re-instantiated in the kernel. A host's
// moment is when its daemon logged `fleet: applied` for the revision, which it logs after the
// re-instantiation returned (pino's `time`, the same clock as this process), so the figure is
// free of this bench's polling. The baseline is the same redefinition on a daemon without a
// fleet (one binding), timed as the API request.
//
//   node --import tsx bench/fleet-propagation.ts [--n=3,10,30] [--rounds=10] [--record]
//
// --record replaces this bench's section of bench/RESULTS.md with the printed figures.
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../src/util/wait-for.js';
import { api, logTimes, startDaemon, stopAll } from '../test/daemon/process.js';
import { FleetLab, type FleetHost } from '../test/fleet/lab.js';
import { requireNetns } from './support/net.js';
import { fmt, listOption, numberOption, percentile, printTable, ratio, timeMs } from './support/stats.js';

requireNetns();
const FILTER = 'vwt-fleet-bench';
const UUID = '5a1d9c7e-2b4f-4e21-8c3a-6f0e1d2c3b4a';
const definition = (port: number) =>
  `<filter name='${FILTER}' chain='root'><uuid>${UUID}</uuid><rule action='drop' direction='out' priority='500'><tcp dstportstart='${port}'/></rule><filterref filter='clean-traffic'/></filter>`;
const binding = (i: number) =>
  `<filterbinding><owner><name>g${i}</name><uuid>11111111-2222-3333-4444-${String(i).padStart(12, '0')}</uuid></owner><portdev name='vb${i}'/><mac address='52:54:00:00:20:${(i % 256).toString(16).padStart(2, '0')}'/><filterref filter='${FILTER}'><parameter name='IP' value='10.66.0.${i + 2}'/></filterref></filterbinding>`;

async function post(root: string, path: string, body: object): Promise<void> {
  const r = await api(root, 'POST', path, JSON.stringify(body));
  if (r.status !== 200) throw new Error(`${path}: ${r.json.error}`);
}

/** A host's filtered port: a veth in its namespace bound to the filter. */
async function bindOn(fleet: FleetLab, h: FleetHost, i: number): Promise<void> {
  fleet.lab.exec(h.ns, ['ip', 'link', 'add', `vb${i}`, 'type', 'veth', 'peer', 'name', `vb${i}p`]);
  await post(h.root, '/bindings', { xml: binding(i) });
}

interface Figures {
  n: number;
  /** Per round: ms from sending the write until the writer's define returned. */
  writer: number[];
  /** Per round: ms from sending the write until the last host applied it. */
  all: number[];
}

async function fleetRun(n: number, rounds: number): Promise<Figures> {
  const fleet = new FleetLab();
  try {
    await fleet.startEtcd();
    const hosts = Array.from({ length: n }, (_, i) => fleet.addHost(`b${i}`));
    // started a few at a time: N daemons starting at once on two cores only slow each other
    for (let i = 0; i < n; i += 5) await Promise.all(hosts.slice(i, i + 5).map((h) => fleet.start(h)));
    for (const h of hosts) await post(h.root, '/cluster/join', {});
    await post(hosts[0]!.root, '/nwfilters', { xml: definition(1) });
    await waitFor(() => hosts.every((h) => logTimes(h.daemon!, new RegExp(`"name":"${FILTER}"`)).length > 0), {
      what: 'the filter on every host',
      timeout: 60_000,
    });
    for (const [i, h] of hosts.entries()) await bindOn(fleet, h, i);
    const figures: Figures = { n, writer: [], all: [] };
    for (let r = 0; r < rounds; r++) {
      const writer = hosts[r % n]!;
      const others = hosts.filter((h) => h !== writer);
      const seen = new Map(others.map((h) => [h, applied(h).length]));
      const start = Date.now();
      figures.writer.push(await timeMs(() => post(writer.root, '/nwfilters', { xml: definition(1000 + r) })));
      const times = await waitFor(
        () => {
          const t = others.map((h) => applied(h)[seen.get(h)!]);
          return t.every((x) => x !== undefined) && (t as number[]);
        },
        { what: `round ${r} applied on every host`, timeout: 60_000 },
      );
      figures.all.push(Math.max(...times, start + figures.writer.at(-1)!) - start);
    }
    return figures;
  } finally {
    fleet.cleanup();
  }
}

const applied = (h: FleetHost) => logTimes(h.daemon!, new RegExp(`"name":"${FILTER}".*"msg":"fleet: applied"`));

/** One daemon without a fleet: the same redefinition with one binding, timed as the request. */
async function localRun(rounds: number): Promise<number[]> {
  const fleet = new FleetLab();
  try {
    const h = fleet.addHost('solo');
    writeFileSync(join(h.root, 'etc/virtwall/virtwall.conf'), 'libvirt_sockets = 0\n');
    h.daemon = await startDaemon(h.ns, h.root);
    await post(h.root, '/nwfilters', { xml: definition(1) });
    await bindOn(fleet, h, 0);
    const out: number[] = [];
    for (let r = 0; r < rounds; r++)
      out.push(await timeMs(() => post(h.root, '/nwfilters', { xml: definition(1000 + r) })));
    return out;
  } finally {
    stopAll();
    fleet.cleanup();
  }
}

const ns = listOption('n', [3, 10, 30]);
const rounds = numberOption('rounds', 10);
const started = new Date();
const load = loadavg();
const local = await localRun(rounds);
const rows: string[][] = [];
for (const n of ns) {
  const f = await fleetRun(n, rounds);
  rows.push([
    String(n),
    fmt(percentile(f.writer, 50)),
    fmt(percentile(f.all, 50)),
    fmt(percentile(f.all, 99)),
    fmt(Math.max(...f.all)),
    ratio(percentile(f.all, 50), percentile(local, 50)),
  ]);
}
const header = `Run started ${started.toISOString().slice(11, 19)} UTC, load average ${load.map((l) => l.toFixed(2)).join(' / ')} (1/5/15 min); ${rounds} redefinitions per N (writer taking turns), one binding per host; local define (one daemon, no fleet): median ${fmt(percentile(local, 50))} ms, p99 ${fmt(percentile(local, 99))} ms.`;
console.log(header);
const title = 'Filter redefinition until every host enforces it (ms from sending the write)';
const columns = [
  'N hosts',
  'writer done (median)',
  'all hosts (median)',
  'all hosts (p99)',
  'all hosts (max)',
  'median / local define',
];
printTable(title, columns, rows);

if (process.argv.includes('--record')) {
  const file = join(import.meta.dirname, 'RESULTS.md');
  const table = [
    `| ${columns.join(' | ')} |`,
    `|${columns.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
  const section = `## Fleet propagation (issue 17)\n\nReproduce with \`node --import tsx bench/fleet-propagation.ts --record\` (root; namespaces only).\n\n${header}\n\n### ${title}\n\n${table}\n`;
  const text = readFileSync(file, 'utf8');
  const at = text.indexOf('## Fleet propagation (issue 17)');
  const end = at < 0 ? -1 : text.indexOf('\n## ', at + 1);
  writeFileSync(
    file,
    at < 0 ? `${text.trimEnd()}\n\n${section}` : `${text.slice(0, at)}${section}${end < 0 ? '' : text.slice(end + 1)}`,
  );
}
