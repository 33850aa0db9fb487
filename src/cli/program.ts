// The `virtwall` command line, parsed by commander. Each command lives in its own module under
// src/cli/commands. main.ts runs it for every command line the fast path does not take.
import { Command, CommanderError, Option } from 'commander';
import { VirshError, isVirsh } from './virsh.js';
import { ended, failed } from './outcome.js';
import { packageVersion } from '../util/package-version.js';
import { registerConformance } from './commands/conformance.js';
import { registerDocumentCommands } from './commands/document.js';
import { registerNwfilterCompile } from './commands/nwfilter-compile.js';
import { registerLeaseHook } from './commands/lease-hook.js';
import { registerDaemon } from './commands/daemon.js';
import { registerNwfilterCommands } from './commands/nwfilter.js';
import { registerNwfilterTrace } from './commands/nwfilter-trace.js';
import { registerNetworkCommands } from './commands/network.js';
import { registerCompletion } from './commands/completion.js';
import { registerHooks } from './commands/hooks.js';
import { registerDemo } from './commands/demo.js';
import { registerDoctor } from './commands/doctor.js';
import { registerNwfilterExplain } from './commands/nwfilter-explain.js';
import { registerCluster } from './commands/cluster.js';

export function buildProgram(): Command {
  const program = new Command('virtwall')
    .description('libvirt-compatible virtual networks and nwfilter traffic filters')
    .option('--root <dir>', 'state root for the daemon and its clients', '/')
    .option('-q, --quiet', "quiet mode (virsh's -q: no table headers, confirmations or blank line)")
    .version(packageVersion(), '-v, --version', 'print the version')
    .addOption(
      new Option(
        '-c, --connect <uri>',
        "the daemon to talk to: tls://HOST[:PORT] (client certificate from ROOT/etc/pki); default: ROOT's Unix socket",
      ).env('VIRTWALL_DEFAULT_URI'),
    )
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerConformance(program);
  registerDocumentCommands(program);
  registerNwfilterCompile(program);
  registerLeaseHook(program);
  registerDaemon(program);
  registerNwfilterCommands(program);
  registerNwfilterTrace(program);
  registerNwfilterExplain(program);
  registerNetworkCommands(program);
  registerCompletion(program);
  registerHooks(program);
  registerDemo(program);
  registerCluster(program);
  // an unknown command in virsh's words (exit 1), not commander's suggestion
  (program as unknown as { unknownCommand(): never }).unknownCommand = () => {
    throw new VirshError(`unknown command: '${program.args[0]}'`);
  };
  registerDoctor(program);
  return program;
}

/**
 * Runs the CLI; returns the process exit code (0 ok, 1 failure, 2 invalid input). The
 * virsh-style commands print as virsh does: a blank line after the command unless -q, and
 * exit code 1 for every failure.
 */
export async function runProgram(argv: string[]): Promise<number> {
  const program = buildProgram();
  let running: Command | undefined;
  program.hook('preAction', (_program, command) => {
    running = command;
  });
  const printing = () => ({
    virsh: running !== undefined && isVirsh(running),
    quiet: program.opts()['quiet'] === true,
  });
  try {
    await program.parseAsync(argv);
    return ended(typeof process.exitCode === 'number' ? process.exitCode : 0, printing());
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
        return 0;
      return 2;
    }
    return failed(err, printing());
  }
}
