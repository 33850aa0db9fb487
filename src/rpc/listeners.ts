// The sockets of libvirt's modular network and nwfilter daemons, under DIR/run/libvirt for a
// state root DIR (/run/libvirt by default, the paths libvirt's clients and virtqemud have
// compiled in): a read-write socket (0600) and a read-only one (0666) per driver.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Daemon } from '../daemon/daemon.js';
import { RpcServer, type RpcServerOptions, type RpcSocket } from './server.js';
import type { Driver } from './session.js';

const DRIVERS: readonly Driver[] = ['network', 'nwfilter'];

export function libvirtSockets(root: string): RpcSocket[] {
  const dir = join(root, 'run/libvirt');
  return DRIVERS.flatMap((driver) => [
    { path: join(dir, `virt${driver}d-sock`), driver, readonly: false },
    { path: join(dir, `virt${driver}d-sock-ro`), driver, readonly: true },
  ]);
}

/** Serves libvirt's RPC protocol for the network and nwfilter drivers on their sockets. */
export async function startLibvirtSockets(daemon: Daemon, root: string, log: Logger, options: RpcServerOptions = {}): Promise<RpcServer> {
  const server = new RpcServer(daemon, log, options);
  mkdirSync(join(root, 'run/libvirt'), { recursive: true, mode: 0o755 });
  for (const socket of libvirtSockets(root)) await server.listen(socket);
  return server;
}
