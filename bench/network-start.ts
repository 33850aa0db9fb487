// Starting and stopping NAT networks with DHCP (issue 15, target 2): virtwall and Debian's
// libvirtd side by side, each in its own bench namespace, in one run.
//   daemon-side  one long-lived libvirt RPC connection per daemon (what virsh speaks), the time
//                from sending NETWORK_CREATE_XML / NETWORK_DESTROY to its reply
//   end to end   one `virsh net-create FILE` / `virsh net-destroy NAME` process per call (the same
//                virsh for both), and virtwall's own CLI (`virtwall net-create FILE`)
// A start counts only when dnsmasq answers: after each start of the `--networks` case a guest
// port (veth) joins the new bridge and a DHCP probe that stays running in the guest namespace
// broadcasts DHCPDISCOVER until an offer comes back; its latency is printed too. Calls
// alternate between the two daemons so that machine noise hits both. Then `--many` networks are
// started one after the other over the RPC connection and stopped again (wall time of all),
// one of them probed. The floor: rtnetlink's bridge add/delete in-process and a bare dnsmasq
// start. The profile: one start and stop through the network driver in-process, time per step.
//
//   node --import tsx bench/network-start.ts [--networks=5] [--many=100] [--rounds=3]
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseNetwork } from '../src/conf/network/parse.js';
import { SystemRunner } from '../src/exec/runner.js';
import { NETLINK_ROUTE, NetlinkSocket } from '../src/netlink/socket.js';
import * as rt from '../src/netlink/rtnetlink.js';
import { encodeFrame, FrameSplitter, PROGRAM, STATUS, TYPE } from '../src/rpc/framing.js';
import { T } from '../src/rpc/remote-types.js';
import { decode, encode, type XdrType } from '../src/rpc/xdr.js';
import { BIN } from '../test/daemon/process.js';
import { processRuns } from '../src/util/process.js';
import { NetnsLab } from '../test/support/netns.js';
import { LibvirtNwfilter } from './support/libvirt.js';
import { timedNetworkDriver } from './support/timed-driver.js';
import { requireNetns } from './support/net.js';
import { fmt, numberOption, percentile, printTable, ratio } from './support/stats.js';

requireNetns();
const networks = numberOption('networks', 5);
const many = numberOption('many', 100);
const rounds = numberOption('rounds', 3);
const files = mkdtempSync(join(tmpdir(), 'virtwall-bench-netstart-'));
process.on('exit', () => rmSync(files, { recursive: true, force: true }));

type Side = 'libvirt' | 'virtwall';
const SIDES: Side[] = ['libvirt', 'virtwall'];
const median = (v: readonly number[]) => percentile(v, 50);
const since = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

/** The DHCP probe's MAC, on every guest port (each port is on a bridge of its own). */
const PROBE_MAC = '52:54:00:77:00:01';

/**
 * A NAT network with DHCP on 10.(200+set).i.0/24, its bridge without STP (a port forwards at
 * once). The probe's MAC has a reservation: dnsmasq offers a dynamic address only after pinging
 * it for 3 s (an address in use must not be offered), a reserved one at once.
 */
function networkXml(set: number, i: number): { name: string; bridge: string; xml: string } {
  const name = `nsb${set}x${i}`;
  const bridge = `vnsb${set}x${i}`;
  const net = `10.${200 + set}.${i}`;
  const xml = `<network>
  <name>${name}</name>
  <forward mode='nat'/>
  <bridge name='${bridge}' stp='off' delay='0'/>
  <ip address='${net}.1' prefix='24'>
    <dhcp><range start='${net}.10' end='${net}.250'/><host mac='${PROBE_MAC}' ip='${net}.5'/></dhcp>
  </ip>
</network>
`;
  return { name, bridge, xml };
}

// ---- the kernel side: a namespace per daemon, one guest namespace with a port towards each
const lab = new NetnsLab();
const host: Record<Side, string> = { libvirt: lab.netns('lh'), virtwall: lab.netns('vh') };
const guest = lab.netns('g');
const probes = Math.max(networks, 1);
const guestPort = (side: Side, i: number) => ({
  hostIf: `${side[0]}port${i}`,
  guestIf: `${side[0]}g${i}`,
  mac: PROBE_MAC,
});
for (const side of SIDES)
  for (let i = 0; i <= probes; i++)
    lab.veth(host[side], guestPort(side, i).hostIf, guest, guestPort(side, i).guestIf, { mac: guestPort(side, i).mac });

/** The DHCP probe, started once in the guest namespace. */
const probe = (() => {
  // killed with the guest namespace's processes by lab.cleanup()
  const child = spawn(
    'ip',
    ['netns', 'exec', guest, 'python3', '-u', join(import.meta.dirname, 'support/dhcp-probe.py')],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout! });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (l) => waiting.shift()?.(l));
  return (ifname: string, mac: string): Promise<string> =>
    new Promise((resolve) => {
      waiting.push(resolve);
      child.stdin!.write(`${ifname} ${mac}\n`);
    });
})();

/** Puts guest port i of `side` on `bridge` and returns the probe's latency (ms) until dnsmasq offered an address. */
async function dhcpAnswers(side: Side, i: number, bridge: string): Promise<number> {
  const p = guestPort(side, i);
  lab.exec(host[side], ['ip', 'link', 'set', p.hostIf, 'master', bridge]);
  const answer = await probe(p.guestIf, p.mac);
  lab.exec(host[side], ['ip', 'link', 'set', p.hostIf, 'nomaster']);
  const m = /^ok (\S+) (\S+)$/.exec(answer);
  if (!m || !m[2]!.endsWith('.5'))
    throw new Error(`${side}: no DHCP offer of the reserved address on ${bridge} (${answer})`);
  return Number(m[1]);
}

// ---- the daemons
// its readiness check lists nwfilters: the nwfilter driver is loaded too (as in bench/libvirt-rpc.ts)
const lv = await LibvirtNwfilter.start(host.libvirt, ['nwfilter', 'network']);
// on tmpfs, as libvirtd's state is in its bench namespace
const root = mkdtempSync(join('/dev/shm', 'virtwall-bench-root-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
// dnsmasq reads its hosts files after dropping root privileges
chmodSync(root, 0o755);
// This machine's PID 1 reaps orphaned processes only every ~2 s; a host's init (systemd) does at
// once, and virtwall's stop waits until the network's dnsmasq is reaped (libvirt's does not wait).
// So virtwalld runs under a child subreaper that reaps orphans as they end, as a host's init does.
const daemon = lab.spawn(host.virtwall, [
  'python3',
  join(import.meta.dirname, 'support/reaper.py'),
  process.execPath,
  BIN,
  '--root',
  root,
  'daemon',
]);
let daemonLog = '';
daemon.stderr!.setEncoding('utf8').on('data', (d: string) => (daemonLog += d));
for (let i = 0; i < 600 && !daemonLog.includes('virtwalld ready'); i++) await new Promise((r) => setTimeout(r, 50));
if (!daemonLog.includes('virtwalld ready')) throw new Error(`virtwalld did not start: ${daemonLog}`);
const socketOf: Record<Side, string> = { libvirt: lv.socket, virtwall: `${root}/run/libvirt/virtnetworkd-sock` };

const CONNECT_OPEN = 1;
const AUTH_LIST = 66;
const AUTH_POLKIT = 70;
const REMOTE_AUTH_POLKIT = 2;

/** libvirt's remote protocol on one connection, calls one at a time. */
class RpcClient {
  private serial = 0;
  private readonly splitter = new FrameSplitter();
  private pending: ((f: { status: number; payload: Buffer }) => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (d) => {
      for (const f of this.splitter.push(d))
        if (f.header.type === TYPE.reply) this.pending?.({ status: f.header.status, payload: f.payload });
    });
  }

  static async open(path: string): Promise<RpcClient> {
    const s = connect(path);
    await new Promise((resolve, reject) => s.once('connect', resolve).once('error', reject));
    const c = new RpcClient(s);
    // as virsh does: libvirtd's UNIX socket asks for polkit, which grants root
    const auth = (await c.call(AUTH_LIST, T.void, undefined, T.authListRet)) as { types: number[] };
    if (auth.types.includes(REMOTE_AUTH_POLKIT)) await c.call(AUTH_POLKIT, T.void, undefined);
    await c.call(CONNECT_OPEN, T.connectOpenArgs, { name: 'network:///system', flags: 0 });
    return c;
  }

  async call(proc: number, argsType: XdrType, args: unknown, retType?: XdrType): Promise<unknown> {
    const serial = ++this.serial;
    const reply = new Promise<{ status: number; payload: Buffer }>((r) => (this.pending = r));
    this.socket.write(
      encodeFrame(
        { prog: PROGRAM.remote, vers: 1, proc, type: TYPE.call, serial, status: STATUS.ok },
        encode(argsType, args),
      ),
    );
    const r = await reply;
    if (r.status !== STATUS.ok)
      throw new Error(
        `procedure ${proc} failed: ${r.payload
          .toString('latin1')
          .replace(/[^ -~]+/g, ' ')
          .trim()}`,
      );
    return retType ? decode(retType, r.payload) : undefined;
  }

  close(): void {
    this.socket.destroy();
  }
}

const NETWORK_CREATE_XML = 40;
const NETWORK_DESTROY = 42;
const rpc: Record<Side, RpcClient> = {
  libvirt: await RpcClient.open(socketOf.libvirt),
  virtwall: await RpcClient.open(socketOf.virtwall),
};
const refs = new Map<string, unknown>();

async function rpcCreate(side: Side, xml: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const ret = (await rpc[side].call(NETWORK_CREATE_XML, T.xml, { xml }, T.net)) as { net: { name: string } };
  const ms = since(t0);
  refs.set(`${side}/${ret.net.name}`, ret.net);
  return ms;
}

async function rpcDestroy(side: Side, name: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  await rpc[side].call(NETWORK_DESTROY, T.net, { net: refs.get(`${side}/${name}`) });
  return since(t0);
}

function timedProcess(argv: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  const ms = since(t0);
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr.trim()}`);
  return ms;
}
const virsh = (side: Side, args: string[]) =>
  timedProcess(['virsh', '-q', '-c', `network+unix:///system?socket=${socketOf[side]}`, ...args]);
const virtwallCli = (args: string[]) => timedProcess([process.execPath, BIN, '--root', root, ...args]);

// ---- 1. `networks` NAT networks with DHCP, started and stopped one by one, `rounds` times
const t: Record<string, Record<Side, number[]>> = {};
const record = (what: string, side: Side, ms: number) => {
  t[what] ??= { libvirt: [], virtwall: [] };
  t[what][side].push(ms);
};
const cliCreate: number[] = [];
const cliDestroy: number[] = [];
for (let round = 0; round < rounds; round++) {
  for (let i = 0; i < networks; i++) {
    const n = networkXml(0, i);
    const file = join(files, `${n.name}.xml`);
    writeFileSync(file, n.xml);
    for (const side of (round + i) % 2 ? SIDES : [...SIDES].reverse()) {
      record('start, daemon-side (RPC)', side, await rpcCreate(side, n.xml));
      record('DHCP offer after the start reply', side, await dhcpAnswers(side, i, n.bridge));
      record('stop, daemon-side (RPC)', side, await rpcDestroy(side, n.name));
      record('start, end to end (virsh net-create)', side, virsh(side, ['net-create', file]));
      record('DHCP offer after virsh returned', side, await dhcpAnswers(side, i, n.bridge));
      record('stop, end to end (virsh net-destroy)', side, virsh(side, ['net-destroy', n.name]));
    }
    cliCreate.push(virtwallCli(['net-create', file]));
    await dhcpAnswers('virtwall', i, n.bridge);
    cliDestroy.push(virtwallCli(['net-destroy', n.name]));
  }
}
const rows = Object.entries(t).map(([what, v]) => [
  what,
  String(v.libvirt.length),
  fmt(median(v.libvirt)),
  fmt(median(v.virtwall)),
  fmt(percentile(v.libvirt, 90)),
  fmt(percentile(v.virtwall, 90)),
  ratio(median(v.libvirt), median(v.virtwall)),
]);
rows.push([
  'start, end to end (virtwall net-create, its own CLI)',
  String(cliCreate.length),
  '-',
  fmt(median(cliCreate)),
  '-',
  fmt(percentile(cliCreate, 90)),
  ratio(median(t['start, end to end (virsh net-create)']!.libvirt), median(cliCreate)),
]);
rows.push([
  'stop, end to end (virtwall net-destroy, its own CLI)',
  String(cliDestroy.length),
  '-',
  fmt(median(cliDestroy)),
  '-',
  fmt(percentile(cliDestroy, 90)),
  ratio(median(t['stop, end to end (virsh net-destroy)']!.libvirt), median(cliDestroy)),
]);
printTable(
  `${networks} NAT networks with DHCP, each started and stopped ${rounds} times per way, per network (ms)`,
  ['operation', 'calls', 'libvirt p50', 'virtwall p50', 'libvirt p90', 'virtwall p90', 'libvirt/virtwall (p50)'],
  rows,
);

// ---- 2. `many` networks started one after the other, then stopped
const bulk: [string, Record<Side, number>][] = [];
{
  const totals = { start: { libvirt: 0, virtwall: 0 }, stop: { libvirt: 0, virtwall: 0 } };
  for (const side of SIDES) {
    const defs = Array.from({ length: many }, (_, i) => networkXml(1 + (i >> 8), i & 255));
    let t0 = process.hrtime.bigint();
    for (const n of defs) await rpcCreate(side, n.xml);
    totals.start[side] = since(t0);
    // the last one started answers DHCP
    await dhcpAnswers(side, probes, defs.at(-1)!.bridge);
    t0 = process.hrtime.bigint();
    for (const n of defs) await rpcDestroy(side, n.name);
    totals.stop[side] = since(t0);
  }
  bulk.push(
    [`start ${many} networks (RPC, one after the other)`, totals.start],
    [`stop ${many} networks (RPC, one after the other)`, totals.stop],
  );
  printTable(
    `${many} NAT networks with DHCP started, then stopped, one request at a time (total ms)`,
    ['operation', 'libvirt', 'virtwall', 'libvirt/virtwall'],
    bulk.map(([what, v]) => [what, fmt(v.libvirt), fmt(v.virtwall), ratio(v.libvirt, v.virtwall)]),
  );
}

rpc.libvirt.close();
rpc.virtwall.close();
await lv.stop();
daemon.kill('SIGTERM');

// ---- 3. the floor: what the kernel and dnsmasq take, without virtwall's work around them
{
  const ns = lab.netns('f');
  const nl = NetlinkSocket.open(NETLINK_ROUTE, ns);
  const add: number[] = [];
  const del: number[] = [];
  for (let i = 0; i < 20; i++) {
    let t0 = process.hrtime.bigint();
    nl.request((q) => rt.newBridge(q, { name: `fl${i}`, forwardDelay: 0, stp: false }));
    add.push(since(t0));
    const index = rt.parseLink(nl.request((q) => rt.getLink(q, { name: `fl${i}` }))[0]!).index;
    t0 = process.hrtime.bigint();
    nl.request((q) => rt.delLink(q, index));
    del.push(since(t0));
  }
  nl.close();
  lab.exec(ns, ['ip', 'link', 'add', 'fdns0', 'type', 'bridge']);
  lab.exec(ns, ['ip', 'addr', 'add', '10.250.0.1/24', 'dev', 'fdns0']);
  lab.exec(ns, ['ip', 'link', 'set', 'fdns0', 'up']);
  const conf = join(files, 'floor-dnsmasq.conf');
  writeFileSync(
    conf,
    `pid-file=${files}/floor.pid\nexcept-interface=lo\nbind-dynamic\ninterface=fdns0\ndhcp-range=10.250.0.10,10.250.0.250,255.255.255.0\n`,
  );
  const bare: number[] = [];
  const nsExec: number[] = [];
  for (let i = 0; i < 5; i++) {
    nsExec.push(timedProcess(['ip', 'netns', 'exec', ns, 'true']));
    bare.push(timedProcess(['ip', 'netns', 'exec', ns, 'dnsmasq', `--conf-file=${conf}`, '--leasefile-ro']));
    const pid = Number(spawnSync('cat', [`${files}/floor.pid`], { encoding: 'utf8' }).stdout.trim());
    process.kill(pid, 'SIGKILL');
    // the next one binds the same address: wait for this one's end (50 ms were too short under load)
    for (let t = 0; t < 200 && processRuns(pid); t++) await new Promise((r) => setTimeout(r, 10));
  }
  printTable(
    'The floor (ms, median)',
    ['what', 'median', 'p90'],
    [
      ['rtnetlink: create a bridge (RTM_NEWLINK, in-process)', fmt(median(add), 2), fmt(percentile(add, 90), 2)],
      ['rtnetlink: delete a bridge (RTM_DELLINK, in-process)', fmt(median(del), 2), fmt(percentile(del, 90), 2)],
      [
        'dnsmasq started until its parent returns (ip netns exec ... dnsmasq)',
        fmt(median(bare)),
        fmt(percentile(bare, 90)),
      ],
      ['of which `ip netns exec NS true`', fmt(median(nsExec)), fmt(percentile(nsExec, 90))],
    ],
  );
}

// ---- 4. the profile: where one start and stop spend their time, through the driver in-process
{
  const ns = lab.netns('p');
  const inner = new SystemRunner({ netns: ns });
  const steps = new Map<string, number[]>();
  let current = new Map<string, number>();
  const note = (what: string, ms: number) => current.set(what, (current.get(what) ?? 0) + ms);
  // on tmpfs as the daemon's root above (fsync is free there); this process is no subreaper, so
  // a stop here also waits for this machine's PID 1 to reap the network's dnsmasq
  const driver = timedNetworkDriver(
    inner,
    note,
    {
      run: (argv) =>
        `process: ${argv[0] === 'dnsmasq' ? 'dnsmasq (until it is ready)' : argv.slice(0, argv[0] === 'nft' || argv[0] === 'tc' ? 3 : 1).join(' ')}`,
      kernel: (op) => `in-process: ${op}`,
    },
    'prof',
  );
  const total = { start: [] as number[], stop: [] as number[] };
  for (let i = 0; i < 5; i++) {
    const n = networkXml(9, i);
    current = new Map();
    let t0 = process.hrtime.bigint();
    await driver.start(parseNetwork(n.xml));
    total.start.push(since(t0));
    for (const [k, v] of current)
      (steps.get(`start: ${k}`) ?? steps.set(`start: ${k}`, []).get(`start: ${k}`)!).push(v);
    current = new Map();
    t0 = process.hrtime.bigint();
    await driver.stop(n.name);
    total.stop.push(since(t0));
    for (const [k, v] of current) (steps.get(`stop: ${k}`) ?? steps.set(`stop: ${k}`, []).get(`stop: ${k}`)!).push(v);
  }
  // the stops' bridges, retired, are deleted after them
  await driver.settle();
  const accounted = (phase: string) =>
    [...steps].filter(([k]) => k.startsWith(phase)).reduce((a, [, v]) => a + median(v), 0);
  printTable(
    'Profile: one NAT network with DHCP through the network driver in-process (nftables firewall; ms, median of 5)',
    ['step', 'median'],
    [
      ...[...steps].map(([k, v]) => [k, fmt(median(v), 2)]),
      ['start: total', fmt(median(total.start))],
      ['start: virtwall code around the steps', fmt(median(total.start) - accounted('start:'))],
      ['stop: total', fmt(median(total.stop))],
      ['stop: virtwall code around the steps', fmt(median(total.stop) - accounted('stop:'))],
    ],
  );
}

lab.cleanup();
process.exit(0);
