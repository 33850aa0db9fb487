// D-Bus and firewalld confined to one test namespace, as /work/shared/firewalld-lab's recipe
// does: a `sleep infinity` holds a private mount namespace inside the network namespace, with
// /etc and /var overlaid (firewalld writes its permanent configuration there) and /run a tmpfs
// (its own /run/dbus); every daemon and client enters both with `nsenter -t HOLD -m -n` (plain
// `ip netns exec` would give each command a fresh mount namespace and so another /run/dbus).
// Everything it starts is killed by PID; the mounts die with the holder.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecResult, NetnsLab } from './netns.js';
import { waitFor } from '../../src/util/wait-for.js';

const DBUS_CONF = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type><auth>EXTERNAL</auth>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <policy context="default">
    <allow user="*"/><deny own="*"/><deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/><allow receive_type="method_return"/>
    <allow receive_type="error"/><allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <includedir>/usr/share/dbus-1/system.d</includedir>
  <includedir>/etc/dbus-1/system.d</includedir>
</busconfig>
`;

export const BUS_ADDRESS = 'unix:path=/run/dbus/system_bus_socket';

export class FirewalldLab {
  private holder!: ChildProcess;
  private readonly processes: ChildProcess[] = [];
  private firewalld: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'vwt-fwd-'));

  constructor(
    private readonly lab: NetnsLab,
    readonly ns: string,
  ) {}

  /** argv prefix that runs a command in the namespace and its private mounts. */
  get enter(): string[] {
    return ['nsenter', '-t', String(this.holder.pid), '-m', '-n'];
  }

  /** argv prefix with the private mounts (and so this D-Bus) but network namespace `otherNs`. */
  enterOtherNetwork(otherNs: string): string[] {
    return ['nsenter', '-t', String(this.holder.pid), '-m', `--net=/run/netns/${otherNs}`];
  }

  exec(argv: readonly string[], check = true): ExecResult {
    const [cmd, ...args] = [...this.enter, ...argv];
    const r = spawnSync(cmd!, args, { encoding: 'utf8', timeout: 60_000 });
    const result = { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
    if (check && result.status !== 0)
      throw new Error(`[${this.ns} mounts] ${argv.join(' ')} failed (${result.status}): ${result.stderr.trim()}`);
    return result;
  }

  firewallCmd(...args: string[]): string {
    return this.exec(['firewall-cmd', ...args], false).stdout.trim();
  }

  private spawnInside(argv: readonly string[]): ChildProcess {
    const [cmd, ...args] = [...this.enter, ...argv];
    const child = spawn(cmd!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.processes.push(child);
    return child;
  }

  /** Holder, mounts, dbus-daemon and (unless `firewalld` is false) firewalld, answering; cleanup is registered on `t`. */
  async start(t: { after: (f: () => void) => void }, { firewalld = true } = {}): Promise<void> {
    t.after(() => this.cleanup());
    this.holder = this.lab.spawn(this.ns, ['unshare', '-m', '--propagation', 'private', 'sleep', 'infinity']);
    // the holder's mount namespace exists once `unshare` has exec'd sleep
    const holder = this.holder;
    await waitFor(
      () => /sleep/.test(spawnSync('ps', ['-o', 'comm=', '-p', String(holder.pid)], { encoding: 'utf8' }).stdout),
      { what: 'the mount namespace holder', timeout: 10_000, interval: 20 },
    );
    writeFileSync(join(this.dir, 'dbus.conf'), DBUS_CONF);
    const ovl = join(this.dir, 'ovl');
    this.exec([
      'sh',
      '-ec',
      `mkdir -p ${ovl}; mount -t tmpfs vwt-ovl ${ovl}
       for d in etc var; do mkdir -p ${ovl}/$d-u ${ovl}/$d-w
         mount -t overlay vwt-$d -o lowerdir=/$d,upperdir=${ovl}/$d-u,workdir=${ovl}/$d-w /$d; done
       mount -t tmpfs vwt-run /run
       mkdir -p /run/dbus /var/log/firewalld`,
    ]);
    this.spawnInside(['dbus-daemon', `--config-file=${join(this.dir, 'dbus.conf')}`, '--nofork', '--nopidfile']);
    await waitFor(() => this.exec(['test', '-S', '/run/dbus/system_bus_socket'], false).status === 0, {
      what: "dbus-daemon's socket",
      timeout: 10_000,
      interval: 20,
    });
    if (firewalld) await this.startFirewalld();
  }

  /** Starts another process inside (killed by cleanup()). */
  spawn(argv: readonly string[]): ChildProcess {
    return this.spawnInside(argv);
  }

  /** A scratch folder of this lab (removed by cleanup()). */
  get scratch(): string {
    return this.dir;
  }

  /** Starts firewalld; resolves once it answers (`firewall-cmd --state`). */
  async startFirewalld(): Promise<void> {
    this.firewalld = this.spawnInside(['firewalld', '--nofork', '--nopid']);
    await waitFor(() => this.exec(['firewall-cmd', '--state'], false).status === 0, {
      what: 'firewalld to answer',
      timeout: 30_000,
    });
  }

  /** Stops firewalld (SIGTERM: it cleans up its rules as a service stop does); resolves when it has exited. */
  async stopFirewalld(): Promise<void> {
    const fw = this.firewalld;
    if (!fw || fw.exitCode !== null) return;
    // (nsenter execs firewalld: the child's pid is firewalld's)
    fw.kill('SIGTERM');
    await new Promise<void>((resolve) => (fw.exitCode !== null ? resolve() : fw.once('exit', () => resolve())));
    this.firewalld = undefined;
  }

  cleanup(): void {
    for (const p of this.processes.splice(0).reverse()) {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
    if (this.holder && this.holder.exitCode === null) this.holder.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
