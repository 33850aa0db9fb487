// Debian's libvirtd as a live oracle: libvirt's real nwfilter or network driver, in a private
// mount and network namespace of its own (unshare), with empty tmpfs over /run, /var/lib,
// /var/cache, /var/log and /etc/libvirt so it reads and writes nothing of the host's (its
// bridges and firewall rules live in its own network namespace). Only the one driver module is
// loaded (LIBVIRT_DRIVER_DIR); virsh reaches it through `DRIVER+unix:///system?socket=...`.
// The process is killed by PID after the test.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../src/util/wait-for.js';

const LIBVIRTD = '/usr/sbin/libvirtd';
const DRIVERS = '/usr/lib/x86_64-linux-gnu/libvirt/connection-driver';
type Driver = 'nwfilter' | 'network';
const module = (driver: Driver) => join(DRIVERS, `libvirt_driver_${driver}.so`);
const PRIVATE_DIRS = ['/run', '/var/lib', '/var/cache', '/var/log', '/etc/libvirt'];

export const hasLibvirtd = (driver: Driver) =>
  existsSync(LIBVIRTD) && existsSync(module(driver)) && PRIVATE_DIRS.every((d) => existsSync(d));

export interface Libvirtd {
  uri: string;
  /** Runs a command in libvirtd's network namespace. */
  inNetns(argv: string[]): void;
}

export async function startLibvirtd(t: { after: (f: () => void) => void }, driver: Driver): Promise<Libvirtd> {
  const dir = mkdtempSync(join(tmpdir(), 'virtwall-libvirtd-'));
  const sock = join(dir, 'sock');
  mkdirSync(sock);
  mkdirSync(join(dir, 'drivers'));
  symlinkSync(module(driver), join(dir, 'drivers', `libvirt_driver_${driver}.so`));
  writeFileSync(
    join(dir, 'libvirtd.conf'),
    `unix_sock_dir = "${sock}"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\nlog_outputs = "3:stderr"\n`,
  );
  const mounts = PRIVATE_DIRS.map((d) => `mount -t tmpfs tmpfs ${d}`).join(' && ');
  const child: ChildProcess = spawn(
    'unshare',
    [
      '--mount',
      '--net',
      '--propagation',
      'private',
      'sh',
      '-c',
      `${mounts} && exec ${LIBVIRTD} -f ${join(dir, 'libvirtd.conf')}`,
    ],
    {
      env: { ...process.env, LIBVIRT_DRIVER_DIR: join(dir, 'drivers') },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
  const exited = new Promise((r) => child.once('exit', r));
  t.after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const socket = join(sock, 'libvirt-sock');
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`libvirtd exited (${child.exitCode}): ${log}`);
      return existsSync(socket);
    },
    { what: "libvirtd's socket", timeout: 30_000, detail: () => log },
  );
  return {
    uri: `${driver}+unix:///system?socket=${socket}`,
    // unshare execs sh, which execs libvirtd: the child's PID is libvirtd's
    inNetns: (argv) => {
      const r = spawnSync('nsenter', ['-t', String(child.pid), '-n', ...argv], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
    },
  };
}
