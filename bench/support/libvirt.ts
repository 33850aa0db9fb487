// libvirt's own nwfilter driver for contrast: Debian's libvirtd run inside a bench network
// namespace and a private mount namespace, where tmpfs hides the host's libvirt state and config
// and a bind mount hides every connection driver but nwfilter. Bindings are created with
// `virsh -c nwfilter:///system nwfilter-binding-create`, entered through nsenter so that virsh
// reaches this daemon's socket. The daemon is killed by pid on stop(), on exit and on Ctrl-C.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stockFilterDir } from '../../src/conf/nwfilter/stock.js';
import { guestIp, guestMac, portName } from './net.js';

const DRIVERS = '/usr/lib/x86_64-linux-gnu/libvirt/connection-driver';
const live = new Set<LibvirtNwfilter>();
process.on('exit', () => {
  for (const l of live) l.kill();
});

/** Installs Debian's libvirt daemon and client when missing (as root, through apt). */
export function ensureLibvirtInstalled(): void {
  if (spawnSync('sh', ['-c', 'command -v libvirtd && command -v virsh']).status === 0) return;
  console.error('bench: installing libvirt-daemon and libvirt-clients ...');
  const r = spawnSync(
    'sh',
    [
      '-c',
      'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends libvirt-daemon libvirt-clients',
    ],
    { stdio: 'inherit' },
  );
  if (r.status !== 0) throw new Error('installing libvirt failed');
}

/** The setup run inside the private mount namespace before it becomes libvirtd (with only `drivers`). */
function daemonScript(filterDir: string, drivers: readonly string[]): string {
  return [
    'set -e',
    'for d in /run/libvirt /etc/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; do mkdir -p $d; mount -t tmpfs none $d; done',
    `mkdir /var/cache/libvirt/drivers && cp ${drivers.map((d) => `${DRIVERS}/libvirt_driver_${d}.so`).join(' ')} /var/cache/libvirt/drivers/`,
    `mount --bind /var/cache/libvirt/drivers ${DRIVERS}`,
    `mkdir -p /etc/libvirt/nwfilter && cp ${filterDir}/*.xml /etc/libvirt/nwfilter/`,
    `echo 'unix_sock_group = "root"' > /etc/libvirt/libvirtd.conf`,
    'exec libvirtd --config /etc/libvirt/libvirtd.conf --pid-file /run/libvirt/bench.pid',
  ].join('\n');
}

/** The <filterbinding> of port i: clean-traffic with the guest's IP, as the bench's own backends get it. */
export function bindingXml(i: number, filter = 'clean-traffic'): string {
  const uuid = `d54df46f-1ab5-4a22-8618-${i.toString(16).padStart(12, '0')}`;
  return `<filterbinding>
  <owner><name>vm${i}</name><uuid>${uuid}</uuid></owner>
  <portdev name='${portName(i)}'/>
  <mac address='${guestMac(i)}'/>
  <filterref filter='${filter}'><parameter name='IP' value='${guestIp(i)}'/></filterref>
</filterbinding>
`;
}

export class LibvirtNwfilter {
  private daemon: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'virtwall-bench-libvirt-'));
  private log = '';

  private constructor() {
    live.add(this);
  }

  /** Starts libvirtd in `netns` with the connection `drivers` and waits until its socket answers. */
  static async start(netns: string, drivers: readonly string[] = ['nwfilter']): Promise<LibvirtNwfilter> {
    ensureLibvirtInstalled();
    const l = new LibvirtNwfilter();
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        netns,
        'unshare',
        '-m',
        '--propagation',
        'private',
        'sh',
        '-c',
        daemonScript(stockFilterDir(), drivers),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    l.daemon = child;
    for (const s of [child.stdout, child.stderr]) s.setEncoding('utf8').on('data', (d: string) => (l.log += d));
    for (let i = 0; i < 100; i++) {
      if (child.exitCode !== null) break;
      if (l.enter(['test', '-S', '/run/libvirt/libvirt-sock']).status === 0 && l.virsh('nwfilter-list').status === 0)
        return l;
      await new Promise((r) => setTimeout(r, 100));
    }
    l.kill();
    throw new Error(`libvirtd did not start: ${l.log.trim()}`);
  }

  /** libvirtd's socket, reachable from outside its mount namespace. */
  get socket(): string {
    return `/proc/${this.daemon!.pid}/root/run/libvirt/libvirt-sock`;
  }

  /** Runs argv in the daemon's network and mount namespaces. */
  private enter(argv: string[]) {
    const r = spawnSync('nsenter', ['-t', String(this.daemon!.pid), '-m', '-n', ...argv], {
      encoding: 'utf8',
      timeout: 600_000,
    });
    return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
  }

  /** One virsh process running `commands` (virsh's `;`-separated command list). */
  virsh(...commands: string[]) {
    return this.enter(['virsh', '-q', '-c', 'nwfilter:///system', commands.join(' ; ')]);
  }

  /** Writes the binding files of `ports` (bound to `filter`) and returns their paths. */
  bindingFiles(ports: readonly number[], filter?: string): string[] {
    return ports.map((i) => {
      const file = join(this.dir, `binding-${i}.xml`);
      writeFileSync(file, bindingXml(i, filter));
      return file;
    });
  }

  /** Defines (or redefines) a filter from its XML, as `virsh nwfilter-define` does. */
  define(filterXml: string): void {
    const file = join(this.dir, 'filter.xml');
    writeFileSync(file, filterXml);
    const r = this.virsh(`nwfilter-define ${file}`);
    if (r.status !== 0) throw new Error(`virsh nwfilter-define failed: ${r.stderr.trim()}`);
  }

  /** Creates the bindings of `files` in one virsh session; throws on the first failure. */
  bind(files: readonly string[]): void {
    const r = this.virsh(...files.map((f) => `nwfilter-binding-create ${f}`));
    if (r.status !== 0) throw new Error(`virsh nwfilter-binding-create failed: ${r.stderr.trim()}`);
  }

  /** Stops the daemon (SIGTERM, then SIGKILL after 5 s) and waits until it is gone. */
  async stop(): Promise<void> {
    const d = this.daemon;
    if (d && d.exitCode === null && d.signalCode === null) {
      const timer = setTimeout(() => d.kill('SIGKILL'), 5000);
      d.kill('SIGTERM');
      await once(d, 'exit');
      clearTimeout(timer);
    }
    this.kill();
  }

  /** Synchronous last resort (exit handler): SIGKILL the daemon, remove the binding files. */
  kill(): void {
    const d = this.daemon;
    if (d && d.exitCode === null && d.signalCode === null) d.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }
}
