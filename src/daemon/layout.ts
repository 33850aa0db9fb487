// Where the daemon of one state root keeps everything (libvirt's /etc, /var/lib and /run split):
// definitions survive reboots, run-time records (bindings, ports, network status, the API
// socket) live as long as the kernel state they describe.
import { mkdirSync } from 'node:fs';
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
  for (const dir of [l.filters, l.autostart, l.lib, l.bindings, l.ports, l.networkState]) mkdirSync(dir, { recursive: true });
}
