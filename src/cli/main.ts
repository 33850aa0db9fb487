// The `virtwall` command line. Each command lives in its own module under src/cli/commands.
import { Command, CommanderError } from 'commander';
import { VirtwallError, exitCodeFor } from '../errors.js';
import { registerConformance } from './commands/conformance.js';
import { registerDocumentCommands } from './commands/document.js';
import { registerNwfilterCompile } from './commands/nwfilter-compile.js';
import { registerLeaseHook } from './commands/lease-hook.js';
import { registerDaemon } from './commands/daemon.js';
import { registerNwfilterCommands } from './commands/nwfilter.js';
import { registerNetworkCommands } from './commands/network.js';
import { registerCompletion } from './commands/completion.js';
import { registerHooks } from './commands/hooks.js';
import { registerDemo } from './commands/demo.js';
import { registerDoctor } from './commands/doctor.js';

export function buildProgram(): Command {
  const program = new Command('virtwall')
    .description('libvirt-compatible virtual networks and nwfilter traffic filters')
    .option('--root <dir>', 'state root for the daemon and its clients', '/')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerConformance(program);
  registerDocumentCommands(program);
  registerNwfilterCompile(program);
  registerLeaseHook(program);
  registerDaemon(program);
  registerNwfilterCommands(program);
  registerNetworkCommands(program);
  registerCompletion(program);
  registerHooks(program);
  registerDemo(program);
  registerDoctor(program);
  return program;
}

/** Runs the CLI; returns the process exit code (0 ok, 1 failure, 2 invalid input). */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2;
    }
    process.stderr.write(`error: ${(err as Error).message}\n`);
    return err instanceof VirtwallError ? exitCodeFor(err) : 1;
  }
}
