// The commands libvirt's hooks and QEMU's tap scripts run once per guest port, and the daemon's
// own start (a restart is a gap in the API), parsed from a small table instead of commander:
// building the program (commander and every command's definition) costs a short-lived command
// about as much as its work. Only the plain form is
// taken: global --root and -q before the command words, then its operands, none an option;
// anything else (help, --connect or $VIRTWALL_DEFAULT_URI, a command's options, a missing or
// extra word) goes to the program, whose parser and messages stay the only ones. The actions are
// the program's own (test/cli/fast-path.test.ts checks the table against the program's commands).
import { DaemonClient } from './client.js';
import { documentRun } from './commands/daemon-io.js';
import { startDaemon } from './commands/daemon.js';
import { libvirtQemu, qemuIfdown, qemuIfup } from './commands/hooks.js';
import { BINDING_CREATE, deleteBinding } from './commands/nwfilter-binding.js';
import { ended, failed } from './outcome.js';
import { virshOutput, type VirshOutput } from './virsh.js';

export interface FastCommand {
  /** The command's words after the global options. */
  words: readonly string[];
  /** How many operands it takes, at least and at most (Infinity: its last is variadic). */
  operands: readonly [min: number, max: number];
  /** Printed as virsh prints (src/cli/virsh.ts), as the program marks it. */
  virsh: boolean;
  run(at: FastContext): Promise<void>;
}

/** What a fast command runs with: the daemon's client for --root, its operands, where it prints. */
export interface FastContext {
  root: string;
  connect: () => DaemonClient;
  operands: string[];
  out: VirshOutput;
}

export const FAST_COMMANDS: readonly FastCommand[] = [
  {
    words: ['nwfilter-binding-create'],
    operands: [1, 1],
    virsh: true,
    run: ({ connect, operands, out }) =>
      documentRun(BINDING_CREATE)({ client: connect(), args: operands, opts: {}, out }),
  },
  {
    words: ['nwfilter-binding-delete'],
    operands: [1, 1],
    virsh: true,
    run: ({ connect, operands, out }) => deleteBinding({ client: connect(), args: operands, opts: {}, out }),
  },
  {
    words: ['hook', 'qemu-ifup'],
    operands: [1, 1],
    virsh: false,
    run: ({ connect, operands: [tap] }) => qemuIfup(connect, tap!),
  },
  {
    words: ['hook', 'qemu-ifdown'],
    operands: [1, 1],
    virsh: false,
    run: ({ connect, operands: [tap] }) => qemuIfdown(connect, tap!),
  },
  {
    words: ['hook', 'libvirt-qemu'],
    operands: [2, Number.POSITIVE_INFINITY],
    virsh: false,
    run: ({ connect, operands: [, operation] }) => libvirtQemu(connect, operation!),
  },
  { words: ['daemon'], operands: [0, 0], virsh: false, run: ({ root }) => startDaemon(root) },
];

export interface FastRun {
  command: FastCommand;
  root: string;
  quiet: boolean;
  operands: string[];
}

/** What the fast path runs for `args` (the words after the program's name), if it takes them. */
export function fastCommand(args: readonly string[], env: NodeJS.ProcessEnv): FastRun | undefined {
  // the program reads --connect's default from it
  if ('VIRTWALL_DEFAULT_URI' in env) return undefined;
  let root = '/';
  let quiet = false;
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-q' || a === '--quiet') quiet = true;
    else if (a.startsWith('--root=')) root = a.slice('--root='.length);
    else if (a === '--root') {
      const value = args[++i];
      if (value === undefined || value.startsWith('-')) return undefined;
      root = value;
    } else break;
  }
  const rest = args.slice(i);
  const command = FAST_COMMANDS.find((c) => c.words.every((w, k) => rest[k] === w));
  if (!command) return undefined;
  const operands = rest.slice(command.words.length);
  const [min, max] = command.operands;
  if (operands.length < min || operands.length > max) return undefined;
  // '-' is an operand (stdin), as for commander
  if (operands.some((o) => o.length > 1 && o.startsWith('-'))) return undefined;
  return { command, root, quiet, operands };
}

/** Runs what fastCommand took; returns the exit code, as the program would. */
export async function runFast({ command, root, quiet, operands }: FastRun): Promise<number> {
  const printing = { virsh: command.virsh, quiet };
  try {
    await command.run({ root, connect: () => DaemonClient.forRoot(root), operands, out: virshOutput(quiet) });
    return ended(typeof process.exitCode === 'number' ? process.exitCode : 0, printing);
  } catch (err) {
    return failed(err, printing);
  }
}
