// `virtwall daemon`: runs virtwalld for --root in the foreground (see src/daemon/main.ts).
import type { Command } from 'commander';

export function registerDaemon(program: Command): void {
  program
    .command('daemon')
    .description(
      'run the virtwall daemon for --root (state in ROOT/etc/virtwall, ROOT/var/lib/virtwall, ROOT/run/virtwall)',
    )
    .action((_o, cmd: Command) => startDaemon((cmd.optsWithGlobals() as { root: string }).root));
}

/** Runs the daemon for `root` until it is stopped (the program's action and the fast path's). */
export async function startDaemon(root: string): Promise<void> {
  // loaded only to run the daemon: client commands start without the daemon's modules
  await (await import('../../daemon/main.js')).runDaemon(root);
}
