// libvirt's own clients against virtwalld's libvirt sockets: Debian's virsh and python3-libvirt
// (for /usr/bin/python3), run as real processes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export type Driver = 'network' | 'nwfilter';

export const socketOf = (root: string, driver: Driver, ro = false) =>
  join(root, 'run/libvirt', `virt${driver}d-sock${ro ? '-ro' : ''}`);
export const uriOf = (root: string, driver: Driver, ro = false) =>
  `${driver}+unix:///system?socket=${socketOf(root, driver, ro)}`;

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/** virsh on `driver`'s socket. virsh ends its output with an empty line, which is dropped. */
export function virsh(root: string, driver: Driver, args: readonly string[], opts: { ro?: boolean } = {}): Run {
  const r = spawnSync('virsh', ['-c', uriOf(root, driver, opts.ro), ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** virsh's error message: its last `error:` line (the first one says what virsh was doing). */
export const lastError = (stderr: string): string =>
  stderr
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('error: '))
    .at(-1) ?? '';

/** Runs a python3-libvirt script; `ROOT` is defined in it; it prints its results as JSON. */
export function python(root: string, script: string): unknown {
  const prelude = `import json, libvirt\nlibvirt.registerErrorHandler(lambda *_: None, None)\nROOT = ${JSON.stringify(root)}\ndef uri(d, ro=False): return d + '+unix:///system?socket=' + ROOT + '/run/libvirt/virt' + d + 'd-sock' + ('-ro' if ro else '')\ndef err(f):\n    try:\n        f()\n        return None\n    except libvirt.libvirtError as e:\n        return [e.get_error_code(), e.get_error_domain(), e.get_error_level(), e.get_error_message()]\n`;
  const r = spawnSync('/usr/bin/python3', ['-c', prelude + script], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** A long-running virsh (net-event --loop); killed by the caller. */
export function virshLoop(root: string, args: readonly string[]): { child: ChildProcess; output: () => string } {
  const child = spawn('virsh', ['-c', uriOf(root, 'network'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  return { child, output: () => out };
}
