// `virtwall demo`: the whole job on a fresh machine, entirely inside namespaces it creates and
// removes. A host namespace runs virtwalld with libvirt's stock `default` NAT network, an
// upstream namespace plays the outside world, two guest namespaces join the network as ports
// with clean-traffic and get DHCP leases; then pings between guests and to upstream work, an IP
// spoofing attempt is dropped, and the counters of the rules that dropped it are shown.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { quote } from 'shell-quote';
import { VirtwallError } from '../errors.js';
import { ruleCounters } from '../observe/counters.js';
import { waitFor } from '../util/wait-for.js';

const PACKAGE = join(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(PACKAGE, 'bin/virtwall.js');
const DEFAULT_NETWORK = join(PACKAGE, 'share/default-network.xml');

const GUESTS = [
  { name: 'g1', mac: '52:54:00:de:00:01', ip: '192.168.122.11' },
  { name: 'g2', mac: '52:54:00:de:00:02', ip: '192.168.122.12' },
];
const UPSTREAM = { host: '198.51.100.1', peer: '198.51.100.2' };
const SPOOFED_IP = '192.168.122.99';

/** dhclient-script that only configures the interface (never the host's resolv.conf). */
const DHCLIENT_SCRIPT = `#!/bin/sh
case "$reason" in
  BOUND|RENEW|REBIND|REBOOT)
    ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface" 2>/dev/null
    [ -n "$new_routers" ] && ip route replace default via "\${new_routers%% *}" dev "$interface" ;;
esac
exit 0
`;

export interface DemoResult {
  ok: boolean;
  namespaces: string[];
  /** The demo's scratch folder (removed by then): every process it started named it. */
  dir: string;
}

class Demo {
  readonly tag = randomBytes(2).toString('hex');
  readonly namespaces: string[] = [];
  readonly dir = mkdtempSync(join(tmpdir(), 'virtwall-demo-'));
  readonly root = join(this.dir, 'root');
  private daemon?: ChildProcess;

  constructor(private readonly say: (line: string) => void) {
    // dnsmasq reads its hosts file (the DHCP reservations) after dropping root privileges
    chmodSync(this.dir, 0o755);
  }

  ns(name: string): string {
    const ns = `vwdemo-${this.tag}-${name}`;
    this.run(['ip', 'netns', 'add', ns]);
    this.namespaces.push(ns);
    this.exec(ns, ['ip', 'link', 'set', 'lo', 'up']);
    return ns;
  }

  run(argv: string[], check = true): { status: number; out: string } {
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 60_000 });
    const out = (r.stdout ?? '') + (r.stderr ?? '');
    if (check && r.status !== 0) throw new VirtwallError('operation-failed', `${argv.join(' ')}: ${out.trim()}`);
    return { status: r.status ?? -1, out };
  }

  exec(ns: string, argv: string[], check = true): { status: number; out: string } {
    return this.run(['ip', 'netns', 'exec', ns, ...argv], check);
  }

  virtwall(args: string[]): string {
    const out = this.run([process.execPath, BIN, '--root', this.root, ...args]).out;
    this.say(`${demoCommand(args)}\n${out.replace(/^/gm, '    ').trimEnd()}`);
    return out;
  }

  async startDaemon(ns: string): Promise<void> {
    this.daemon = spawn('ip', ['netns', 'exec', ns, process.execPath, BIN, '--root', this.root, 'daemon'], {
      stdio: 'ignore',
    });
    const socket = join(this.root, 'run/virtwall/virtwall-sock');
    const daemon = this.daemon;
    await waitFor(
      () => {
        if (daemon.exitCode !== null)
          throw new VirtwallError('operation-failed', `the daemon exited (${daemon.exitCode})`);
        return existsSync(socket);
      },
      { what: "the daemon's socket", timeout: 30_000 },
    ).catch((err) => {
      throw err instanceof VirtwallError
        ? err
        : new VirtwallError('operation-failed', `the daemon did not start: ${(err as Error).message}`);
    });
  }

  /** Stops what it started: dhclients, the network (dnsmasq), the daemon, the namespaces. */
  async cleanup(): Promise<void> {
    for (const g of GUESTS) {
      const pid = join(this.dir, `${g.name}.pid`);
      if (existsSync(pid)) this.run(['kill', readFileSync(pid, 'utf8').trim()], false);
    }
    if (this.daemon && this.daemon.exitCode === null) {
      const destroyed = this.run([process.execPath, BIN, '--root', this.root, 'net-destroy', 'default'], false);
      if (destroyed.status !== 0) this.say(`warning: net-destroy failed: ${destroyed.out.trim()}`);
      const exited = new Promise((r) => this.daemon!.once('exit', r));
      this.daemon.kill('SIGTERM');
      await exited;
    }
    for (const ns of this.namespaces.reverse()) this.run(['ip', 'netns', 'del', ns], false);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function runDemo(say: (line: string) => void): Promise<DemoResult> {
  const d = new Demo(say);
  let ok = false;
  try {
    const host = d.ns('host');
    const up = d.ns('up');
    say(`namespaces: ${host} (virtwalld, network 'default'), ${up} (upstream)`);
    d.exec(host, ['ip', 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', up]);
    d.exec(host, ['ip', 'addr', 'add', `${UPSTREAM.host}/24`, 'dev', 'up0']);
    d.exec(host, ['ip', 'link', 'set', 'up0', 'up']);
    d.exec(host, ['ip', 'route', 'add', 'default', 'via', UPSTREAM.peer]);
    d.exec(up, ['ip', 'addr', 'add', `${UPSTREAM.peer}/24`, 'dev', 'eth0']);
    d.exec(up, ['ip', 'link', 'set', 'eth0', 'up']);

    await d.startDaemon(host);
    d.virtwall(['net-define', DEFAULT_NETWORK]);
    for (const g of GUESTS)
      d.virtwall([
        'net-update',
        'default',
        'add-last',
        'ip-dhcp-host',
        `<host mac='${g.mac}' ip='${g.ip}'/>`,
        '--config',
      ]);
    d.virtwall(['net-start', 'default']);
    d.virtwall(['net-list', '--all']);

    const script = join(d.dir, 'dhclient-script');
    writeFileSync(script, DHCLIENT_SCRIPT);
    chmodSync(script, 0o755);
    for (const [i, g] of GUESTS.entries()) {
      const ns = d.ns(g.name);
      const tap = `vnet${i}`;
      d.exec(host, ['ip', 'link', 'add', tap, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      d.exec(ns, ['ip', 'link', 'set', 'eth0', 'address', g.mac, 'up']);
      const port = join(d.dir, `${g.name}-port.xml`);
      writeFileSync(
        port,
        `<networkport>\n  <uuid>${randomUuid()}</uuid>\n  <owner><name>${g.name}</name><uuid>${randomUuid()}</uuid></owner>\n  <mac address='${g.mac}'/>\n</networkport>\n`,
      );
      d.virtwall([
        'net-port-create',
        'default',
        port,
        '--tap',
        tap,
        '--filter',
        'clean-traffic',
        '--param',
        `IP=${g.ip}`,
      ]);
      d.exec(ns, [
        'timeout',
        '40',
        'dhclient',
        '-4',
        '-1',
        '-sf',
        script,
        '-lf',
        join(d.dir, `${g.name}.leases`),
        '-pf',
        join(d.dir, `${g.name}.pid`),
        'eth0',
      ]);
      say(`${g.name}: DHCP lease ${d.exec(ns, ['ip', '-4', '-br', 'addr', 'show', 'eth0']).out.trim()}`);
    }
    d.virtwall(['nwfilter-binding-list']);
    d.virtwall(['net-dhcp-leases', 'default']);

    const [g1, g2] = GUESTS.map((g) => `vwdemo-${d.tag}-${g.name}`) as [string, string];
    const ping = (ns: string, target: string, from?: string) =>
      d.exec(ns, ['ping', '-c', '2', '-W', '1', ...(from ? ['-I', from] : []), target], false).status === 0;
    const checks: [string, boolean][] = [
      [`g1 -> g2 (${GUESTS[1]!.ip})`, ping(g1, GUESTS[1]!.ip)],
      [`g2 -> g1 (${GUESTS[0]!.ip})`, ping(g2, GUESTS[0]!.ip)],
      [`g1 -> upstream ${UPSTREAM.peer} (NAT)`, ping(g1, UPSTREAM.peer)],
    ];
    d.exec(g1, ['ip', 'addr', 'add', `${SPOOFED_IP}/32`, 'dev', 'eth0']);
    const spoofed = ping(g1, GUESTS[1]!.ip, SPOOFED_IP);
    checks.push([`g1 spoofing ${SPOOFED_IP} -> g2 is blocked`, !spoofed]);
    for (const [what, passed] of checks) say(`${passed ? 'PASS' : 'FAIL'}  ${what}`);
    const drops = ruleCounters(d.exec(host, ['nft', '-j', 'list', 'table', 'bridge', 'virtwall_nwf']).out)
      .filter((r) => r.verdict === 'drop' && r.packets > 0)
      .map((r) => `    ${r.path} prio=${r.priority} (chain ${r.chain}): ${r.packets} packets dropped`);
    say(`rules that dropped packets (nft -j list table bridge virtwall_nwf):\n${drops.join('\n') || '    (none)'}`);
    ok = checks.every(([, passed]) => passed) && drops.length > 0;
  } finally {
    await d.cleanup();
    say(`removed namespaces ${d.namespaces.join(', ')}`);
  }
  return { ok, namespaces: d.namespaces, dir: d.dir };
}

/** The command line the demo ran, quoted so it can be pasted into a shell. */
export function demoCommand(args: readonly string[]): string {
  return `$ ${quote(['virtwall', ...args])}`;
}

function randomUuid(): string {
  return globalThis.crypto.randomUUID();
}
