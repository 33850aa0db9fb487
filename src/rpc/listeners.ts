// The sockets of libvirt's modular network and nwfilter daemons, under DIR/run/libvirt for a
// state root DIR (/run/libvirt by default, the paths libvirt's clients and virtqemud have
// compiled in): a read-write socket (0600) and a read-only one (0666) per driver. Under systemd
// socket activation (LISTEN_FDS, sd_listen_fds(3)) a socket passed with the socket's file name as
// its FileDescriptorName is used as it is: systemd owns the path and keeps it across restarts.
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
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
export async function startLibvirtSockets(
  daemon: Daemon,
  root: string,
  log: Logger,
  options: RpcServerOptions = {},
): Promise<RpcServer> {
  const server = new RpcServer(daemon, log, options);
  mkdirSync(join(root, 'run/libvirt'), { recursive: true, mode: 0o755 });
  const passed = activationFds(process.env);
  for (const socket of libvirtSockets(root)) {
    const fd = passed.get(basename(socket.path));
    await server.listen(fd === undefined ? socket : { ...socket, fd });
  }
  return server;
}

/** The sockets systemd passed to this process, by FileDescriptorName (first fd is 3). */
export function activationFds(env: NodeJS.ProcessEnv, pid = process.pid): Map<string, number> {
  const count = Number(env['LISTEN_FDS'] ?? 0);
  if (Number(env['LISTEN_PID']) !== pid || !Number.isInteger(count) || count <= 0) return new Map();
  const names = (env['LISTEN_FDNAMES'] ?? '').split(':');
  return new Map(Array.from({ length: count }, (_, i) => [names[i] ?? '', 3 + i]));
}
