// `virtwall daemon`: runs virtwalld for --root in the foreground (see src/daemon/main.ts).
import type { Command } from 'commander';

export function registerDaemon(program: Command): void {
  program
    .command('daemon')
    .description(
      'run the virtwall daemon for --root (state in ROOT/etc/virtwall, ROOT/var/lib/virtwall, ROOT/run/virtwall)',
    )
    // loaded only to run the daemon: client commands start without the daemon's modules
    .action(async (_o, cmd: Command) =>
      (await import('../../daemon/main.js')).runDaemon((cmd.optsWithGlobals() as { root: string }).root),
    );
}
