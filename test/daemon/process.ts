// virtwalld as a real process inside a test namespace, and the CLI as a real process talking to
// it: what an operator runs. Every daemon started here is killed by stopAll().
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../src/util/wait-for.js';
import { NetnsLab } from '../support/netns.js';

export const BIN = join(import.meta.dirname, '../../bin/virtwall.js');

export interface DaemonProcess {
  child: ChildProcess;
  root: string;
  /** Everything it logged so far (pino JSON lines). */
  log(): string;
  exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();

/**
 * Starts the daemon in `ns` (or with the `enter` argv prefix, e.g. nsenter into a namespace's
 * own mounts). Its system bus is none unless `env` names one: a test never reaches the host's
 * firewalld.
 */
export async function startDaemon(
  ns: string,
  root: string,
  env: Record<string, string> = {},
  enter = ['ip', 'netns', 'exec', ns],
): Promise<DaemonProcess> {
  const [cmd, ...args] = [...enter, process.execPath, BIN, '--root', root, 'daemon'];
  const child = spawn(cmd!, args, {
    env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/nonexistent/virtwall-test-bus', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  running.add(child);
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const socket = join(root, 'run/virtwall/virtwall-sock');
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`daemon exited: ${log}`);
      return log.includes('virtwalld ready');
    },
    // generous: under tsx on a busy machine a start takes seconds; the bound only ends a hang
    { what: 'virtwalld ready', timeout: 30_000, detail: () => log },
  );
  if (!existsSync(socket)) throw new Error(`daemon did not start: ${log}`);
  return { child, root, log: () => log, exited };
}

/** Waits up to `ms` for the daemon's log to match; returns the log, or fails showing it. */
export async function waitForLog(d: DaemonProcess, re: RegExp, ms = 2000): Promise<string> {
  await waitFor(() => re.test(d.log()), { what: `a log line matching ${re}`, timeout: ms, detail: () => d.log() });
  return d.log();
}

/**
 * When the daemon logged each line matching `re` (pino's `time`, ms since the epoch): how fast it
 * acted, free of the time a test's own polling takes on a busy machine.
 */
export function logTimes(d: DaemonProcess, re: RegExp): number[] {
  return d
    .log()
    .split('\n')
    .filter((l) => l.startsWith('{') && re.test(l))
    .map((l) => (JSON.parse(l) as { time: number }).time);
}

export async function kill9(d: DaemonProcess): Promise<void> {
  // ip netns exec execs the daemon, so the child pid is the daemon's
  d.child.kill('SIGKILL');
  await d.exited;
}

/** Kills every daemon started here and the dnsmasq of networks a daemon of `roots` left running. */
export function stopAll(...roots: string[]): void {
  for (const c of running) c.kill('SIGKILL');
  for (const root of roots) {
    const dir = join(root, 'run/virtwall/network');
    for (const f of existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.pid')) : []) {
      const pid = Number(readFileSync(join(dir, f), 'utf8'));
      if (pid > 1) spawnSync('kill', [String(pid)]);
    }
  }
}

/** The binding record of guest i (vnetI, clean-traffic with IP 10.1.x.y), as the daemon stores it in DIR/run/virtwall/nwfilter-binding. */
export function bindingRecord(i: number): string {
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return `<filterbinding>
  <owner>
    <name>g${i}</name>
    <uuid>11111111-2222-3333-4444-${String(i).padStart(12, '0')}</uuid>
  </owner>
  <portdev name='vnet${i}'/>
  <mac address='52:54:00:00:${hex(i >> 8)}:${hex(i & 255)}'/>
  <filterref filter='clean-traffic'>
    <parameter name='IP' value='10.1.${i >> 8}.${i & 255}'/>
  </filterref>
</filterbinding>
`;
}

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function cli(
  root: string,
  args: readonly string[],
  opts: { env?: Record<string, string>; input?: string } = {},
): CliResult {
  const r = spawnSync(process.execPath, [BIN, '--root', root, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...opts.env },
    input: opts.input,
    timeout: 60_000,
  });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** The CLI's output; the test fails, naming the command and its error, unless it succeeds. */
export function cliOk(root: string, args: readonly string[]): string {
  const r = cli(root, args);
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A NAT network with DHCP on NET.0/24, its bridge without STP; `extra` goes last inside <network>. */
export const natNetwork = (name: string, bridge: string, net: string, extra = '') => `<network>
  <name>${name}</name>
  <forward mode='nat'/>
  <bridge name='${bridge}' stp='off'/>
  <ip address='${net}.1' netmask='255.255.255.0'>
    <dhcp><range start='${net}.10' end='${net}.20'/></dhcp>
  </ip>
${extra}</network>
`;

/**
 * Connects to a Unix socket as another user and prints the outcome (`connected` or the error
 * code). Node's own binary runs an inline script, so nothing of the clone (whose parent folders
 * may be closed to that user) needs to be readable by it.
 */
export function connectAs(user: string, socket: string): string {
  const script = `require('node:net').connect(process.argv[1]).on('connect', function () { console.log('connected'); this.destroy(); }).on('error', (e) => console.log(e.code));`;
  const r = spawnSync('runuser', ['-u', user, '--', process.execPath, '-e', script, socket], {
    encoding: 'utf8',
    cwd: '/',
    timeout: 60_000,
  });
  return (r.stdout ?? '').trim() || `runuser failed: ${r.stderr}`;
}

/** Opens the root to other users, so only the socket's own mode can keep them out. */
export function openToOthers(root: string): void {
  for (const dir of [root, join(root, 'run'), join(root, 'run/virtwall')]) chmodSync(dir, 0o755);
}

export function readIfExists(file: string): string | undefined {
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

export function nft(ns: string, args: string): { status: number; stdout: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', ...args.split(' ')], { encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout ?? '' };
}

/** A new temporary state root for a daemon. */
export function daemonRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'virtwall-root-'));
  // others may pass (not list): dnsmasq reads the networks' hosts files as nobody (network/dnsmasq/reach.ts)
  chmodSync(root, 0o711);
  return root;
}

/**
 * A test's namespace lab (with one namespace `ns`), temporary state root and file folder,
 * all removed after the test together with the daemons and networks it started.
 */
export function daemonFixture(t: { after: (f: () => void) => void }, nsName = 'd') {
  const lab = new NetnsLab();
  const ns = lab.netns(nsName);
  const root = daemonRoot();
  const files = mkdtempSync(join(tmpdir(), 'virtwall-files-'));
  t.after(() => {
    stopAll(root);
    lab.cleanup();
    rmSync(root, { recursive: true, force: true });
    rmSync(files, { recursive: true, force: true });
  });
  const file = (name: string, text: string) => {
    const p = join(files, name);
    writeFileSync(p, text);
    return p;
  };
  return { lab, ns, root, file };
}

export interface FilteredGuest {
  tap: string;
  mac: string;
  ip: string;
  uuid: string;
}

/**
 * Network `n` (bridge vbr0, `gateway`/24, no DNS) and one clean-traffic port per guest, each guest
 * in its own namespace behind a veth with its address: the guests' namespaces, in order.
 */
export function cleanTrafficGuests(
  fixture: ReturnType<typeof daemonFixture>,
  gateway: string,
  guests: readonly FilteredGuest[],
  /** More net-port-create options (`--mac-filter`). */
  options: readonly string[] = [],
): string[] {
  const { lab, ns: host, root, file } = fixture;
  assert.equal(
    cli(root, [
      'net-create',
      file(
        'net.xml',
        `<network><name>n</name><bridge name='vbr0' stp='off'/><dns enable='no'/><ip address='${gateway}' prefix='24'/></network>`,
      ),
    ]).status,
    0,
  );
  return guests.map((g, i) => {
    const ns = lab.netns(`g${i}`);
    lab.veth(host, g.tap, ns, 'eth0', { mac: g.mac });
    lab.exec(ns, ['ip', 'addr', 'add', `${g.ip}/24`, 'dev', 'eth0']);
    const port = file(
      `${g.tap}.xml`,
      `<networkport><uuid>${g.uuid}</uuid><owner><name>g${i}</name><uuid>${g.uuid}</uuid></owner><mac address='${g.mac}'/></networkport>`,
    );
    const r = cli(root, [
      'net-port-create',
      'n',
      port,
      '--tap',
      g.tap,
      '--filter',
      'clean-traffic',
      '--param',
      `IP=${g.ip}`,
      ...options,
    ]);
    assert.equal(r.status, 0, r.stderr);
    return ns;
  });
}

/**
 * One request to the daemon's Unix socket on its own connection, as the CLI sends it unless
 * `headers` say otherwise. A server may answer before it has read the whole body; the late write
 * then fails on a socket the request has already let go, so the socket keeps a listener for such
 * errors after the reply (the reply is what the tests check).
 */
export function api(
  root: string,
  method: string,
  path: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: { error?: string } }> {
  return new Promise((resolve, reject) => {
    let replied = false;
    const all = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers };
    const req = request(
      { socketPath: join(root, 'run/virtwall/virtwall-sock'), method, path, headers: all, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => {
          replied = true;
          resolve({ status: res.statusCode!, json: JSON.parse(text) });
        });
      },
    );
    req.on('socket', (s) => s.on('error', (err) => replied || reject(err)));
    req.on('error', (err) => replied || reject(err));
    req.end(body);
  });
}

/** Every process below `pid` (children, their children, ...), from ps. */
export function descendants(pid: number): { pid: number; comm: string }[] {
  const rows = spawnSync('ps', ['-e', '-o', 'pid=,ppid=,comm='], { encoding: 'utf8' })
    .stdout.trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/));
  const out: { pid: number; comm: string }[] = [];
  for (let parents = new Set([pid]), grew = true; grew; ) {
    grew = false;
    for (const [p, pp, comm] of rows) {
      if (parents.has(Number(pp)) && !out.some((o) => o.pid === Number(p))) {
        out.push({ pid: Number(p), comm: comm! });
        parents = new Set([...parents, Number(p)]);
        grew = true;
      }
    }
  }
  return out;
}
