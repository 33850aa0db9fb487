// Where the daemon of one state root keeps everything (libvirt's /etc, /var/lib and /run split):
// definitions survive reboots, run-time records (bindings, ports, network status, the API
// socket) live as long as the kernel state they describe.
import { mkdirSync, statSync, type Stats } from 'node:fs';
import { VirtwallError } from '../errors.js';
import { join } from 'node:path';

export interface StateLayout {
  root: string;
  /** DIR/etc/virtwall */
  etc: string;
  config: string;
  filters: string;
  networks: string;
  /** Symlinks NAME.xml -> ../NAME.xml, as libvirt's networks/autostart. */
  autostart: string;
  /** DIR/var/lib/virtwall */
  lib: string;
  /** DIR/run/virtwall */
  run: string;
  bindings: string;
  ports: string;
  /** The network driver's state directory (status with undo records, dnsmasq files, leases). */
  networkState: string;
  socket: string;
  pidFile: string;
}

export function stateLayout(root: string): StateLayout {
  const etc = join(root, 'etc/virtwall');
  const run = join(root, 'run/virtwall');
  return {
    root,
    etc,
    config: join(etc, 'virtwall.conf'),
    filters: join(etc, 'nwfilter'),
    networks: join(etc, 'networks'),
    autostart: join(etc, 'networks/autostart'),
    lib: join(root, 'var/lib/virtwall'),
    run,
    bindings: join(run, 'nwfilter-binding'),
    ports: join(run, 'ports'),
    networkState: join(run, 'network'),
    socket: join(run, 'virtwall-sock'),
    pidFile: join(run, 'virtwalld.pid'),
  };
}

/** Creates the directories (root-only where they hold run-time records). */
export function ensureLayout(l: StateLayout): void {
  for (const dir of [l.filters, l.autostart, l.lib, l.bindings, l.ports, l.networkState])
    mkdirSync(dir, { recursive: true });
}

/**
 * Refuses a state root that another user could change: root runs the lease hook written under
 * DIR/run and reads its definitions from DIR/etc, so a folder on the way that others can write
 * (or that another user owns, who may change its mode) would hand them root.
 */
export function checkLayoutPrivate(l: StateLayout): void {
  const dirs = [
    l.root,
    join(l.root, 'etc'),
    l.etc,
    join(l.root, 'run'),
    l.run,
    join(l.root, 'var'),
    join(l.root, 'var/lib'),
    l.lib,
  ];
  for (const dir of dirs) {
    let st: Stats;
    try {
      st = statSync(dir);
    } catch {
      continue; // created by ensureLayout, root-owned and not writable by others
    }
    const me = process.getuid?.() ?? 0;
    const why =
      st.uid !== 0 && st.uid !== me
        ? `is owned by uid ${st.uid}`
        : st.mode & 0o002 || (st.mode & 0o020 && st.gid !== 0)
          ? `is writable by other users (mode ${(st.mode & 0o7777).toString(8)})`
          : undefined;
    if (why)
      throw new VirtwallError(
        'operation-failed',
        `refusing to start: ${dir} ${why}; the daemon runs what it keeps there as root`,
      );
  }
}
