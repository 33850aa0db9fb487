// virsh against virtwall's libvirt sockets and against libvirt's own daemon, side by side: the
// same virsh binary, one process per call, the same kind of socket path (libvirtd's is reached
// through /proc/PID/root of its private mount namespace). Calls alternate between the two so
// that machine noise hits both. Each side runs in its own bench namespace with the same ports.
//   per-bind   `virsh nwfilter-binding-create` of port i (clean-traffic with its IP), i = 0..binds-1
//   net-list   `virsh net-list --all` with `networks` defined networks, `rounds` times
//   others     nwfilter-list, net-dumpxml, nwfilter-binding-list, `rounds` times
// Prints medians and p90 in ms and libvirt/virtwall (above 1: virtwall is faster). Also opens
// `clients` connections to virtwall at once and has each list the networks.
//
//   node --import tsx bench/libvirt-rpc.ts [--binds=20] [--networks=100] [--rounds=10] [--clients=1000]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeFrame, FrameSplitter, PROGRAM, STATUS, TYPE } from '../src/rpc/framing.js';
import { T } from '../src/rpc/remote-types.js';
import { encode } from '../src/rpc/xdr.js';
import { BIN } from '../test/daemon/process.js';
import { bindingXml, LibvirtNwfilter } from './support/libvirt.js';
import { BenchNet, requireNetns } from './support/net.js';
import { fmt, numberOption, percentile, printTable, ratio } from './support/stats.js';

requireNetns();
const binds = numberOption('binds', 20);
const networks = numberOption('networks', 100);
const rounds = numberOption('rounds', 10);
const clients = numberOption('clients', 1000);
const files = mkdtempSync(join(tmpdir(), 'virtwall-bench-rpc-'));
process.on('exit', () => rmSync(files, { recursive: true, force: true }));

type Side = 'libvirt' | 'virtwall';
const uri = {
  libvirt: (d: string) => `${d}+unix:///system?socket=${lv.socket}`,
  virtwall: (d: string) => `${d}+unix:///system?socket=${root}/run/libvirt/virt${d}d-sock`,
};

function virsh(side: Side, driver: 'network' | 'nwfilter', args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('virsh', ['-q', '-c', uri[side](driver), ...args], { encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${side}: virsh ${args.join(' ')}: ${r.stderr.trim()}`);
  return ms;
}

const lvNet = new BenchNet();
const vwNet = new BenchNet();
lvNet.addPorts(0, binds);
vwNet.addPorts(0, binds);
const lv = await LibvirtNwfilter.start(lvNet.host, ['nwfilter', 'network']);
// on tmpfs, as libvirtd's /etc/libvirt and /run/libvirt are in its bench namespace (fsync is free there)
const root = mkdtempSync(join('/dev/shm', 'virtwall-bench-root-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
const daemon = vwNet.lab.spawn(vwNet.host, [process.execPath, BIN, '--root', root, 'daemon']);
let log = '';
daemon.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
for (let i = 0; i < 300 && !log.includes('virtwalld ready'); i++) await new Promise((r) => setTimeout(r, 50));
if (!log.includes('virtwalld ready')) throw new Error(`virtwalld did not start: ${log}`);

const times = new Map<string, Record<Side, number[]>>();
const record = (op: string, side: Side, ms: number) => {
  const t = times.get(op) ?? { libvirt: [], virtwall: [] };
  t[side].push(ms);
  times.set(op, t);
};
const sides: Side[] = ['libvirt', 'virtwall'];

for (let i = 0; i < binds; i++) {
  const file = join(files, `binding-${i}.xml`);
  writeFileSync(file, bindingXml(i));
  for (const side of i % 2 ? sides : [...sides].reverse())
    record('nwfilter-binding-create (per bind)', side, virsh(side, 'nwfilter', ['nwfilter-binding-create', file]));
}
for (let i = 0; i < networks; i++) {
  const file = join(files, `net-${i}.xml`);
  writeFileSync(
    file,
    `<network><name>bench${i}</name><bridge name='vbb${i}'/><ip address='10.${100 + (i >> 8)}.${i & 255}.1' prefix='24'/></network>`,
  );
  for (const side of i % 2 ? sides : [...sides].reverse())
    record('net-define', side, virsh(side, 'network', ['net-define', file]));
}
const reads: [string, 'network' | 'nwfilter', string[]][] = [
  [`net-list --all (${networks} networks)`, 'network', ['net-list', '--all']],
  ['net-dumpxml', 'network', ['net-dumpxml', 'bench0']],
  ['nwfilter-list', 'nwfilter', ['nwfilter-list']],
  [`nwfilter-binding-list (${binds} bindings)`, 'nwfilter', ['nwfilter-binding-list']],
];
for (let r = 0; r < rounds; r++)
  for (const [op, driver, args] of reads)
    for (const side of r % 2 ? sides : [...sides].reverse()) record(op, side, virsh(side, driver, args));

printTable(
  'virsh, one process per call: libvirt 9.0 (Debian 12 libvirtd) and virtwall side by side (ms)',
  ['operation', 'calls', 'libvirt p50', 'virtwall p50', 'libvirt p90', 'virtwall p90', 'libvirt/virtwall (p50)'],
  [...times].map(([op, t]) => [
    op,
    String(t.libvirt.length),
    fmt(percentile(t.libvirt, 50)),
    fmt(percentile(t.virtwall, 50)),
    fmt(percentile(t.libvirt, 90)),
    fmt(percentile(t.virtwall, 90)),
    ratio(percentile(t.libvirt, 50), percentile(t.virtwall, 50)),
  ]),
);

// many clients at once against virtwall: each connects, opens, lists all networks
const t0 = Date.now();
const served = await Promise.all(
  Array.from({ length: clients }, () => listOnce(`${root}/run/libvirt/virtnetworkd-sock`)),
);
console.log(
  `\n${clients} clients at once: ${served.filter((n) => n === networks).length} listed all ${networks} networks in ${Date.now() - t0} ms`,
);
await lv.stop();
process.exit(0);

function listOnce(path: string): Promise<number> {
  const call = (proc: number, serial: number, payload: Buffer) =>
    encodeFrame({ prog: PROGRAM.remote, vers: 1, proc, type: TYPE.call, serial, status: STATUS.ok }, payload);
  return new Promise((resolve, reject) => {
    const s = connect(path);
    const splitter = new FrameSplitter();
    s.on('connect', () =>
      s.write(
        Buffer.concat([
          call(1, 1, encode(T.connectOpenArgs, { name: 'network:///system', flags: 0 })),
          call(283, 2, encode(T.listAllArgs, { need_results: 1, flags: 0 })),
        ]),
      ),
    );
    s.on('data', (d) => {
      for (const f of splitter.push(d)) {
        if (f.header.serial !== 2) continue;
        s.destroy();
        resolve(f.header.status === STATUS.ok ? f.payload.readUInt32BE(f.payload.length - 4) : -1);
      }
    });
    s.on('error', reject);
  });
}
