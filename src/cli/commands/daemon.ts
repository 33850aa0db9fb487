// `virtwall daemon`: runs virtwalld for --root in the foreground (see src/daemon/main.ts).
import type { Command } from 'commander';
import { runDaemon } from '../../daemon/main.js';

export function registerDaemon(program: Command): void {
  program
    .command('daemon')
    .description('run the virtwall daemon for --root (state in ROOT/etc/virtwall, ROOT/var/lib/virtwall, ROOT/run/virtwall)')
    .action(async (_o, cmd: Command) => runDaemon((cmd.optsWithGlobals() as { root: string }).root));
}
