// How a command ends, whichever parser ran it (the program, or the fast path of the per-port
// commands): a virsh-style command prints virsh's blank line after itself unless -q and reports
// every failure with exit status 1; the others exit 2 for invalid input, 1 for other failures.
import { VirtwallError, exitCodeFor } from '../errors.js';
import { VirshError } from './virsh.js';

/** How the command that ran prints. */
export interface Printing {
  virsh: boolean;
  quiet: boolean;
}

/** The command ended with `code`: virsh's blank line after it; returns the exit code. */
export function ended(code: number, p: Printing): number {
  if (p.virsh && !p.quiet) process.stdout.write('\n');
  return code;
}

/** The command failed with `err`: its message on stderr; returns the exit code. */
export function failed(err: unknown, p: Printing): number {
  if (err instanceof VirshError) {
    process.stderr.write(err.lines());
    return ended(err.exitCode, p);
  }
  process.stderr.write(`error: ${(err as Error).message}\n`);
  if (p.virsh) return ended(1, p);
  return err instanceof VirtwallError ? exitCodeFor(err) : 1;
}
