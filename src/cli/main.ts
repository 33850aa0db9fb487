// The `virtwall` command line: the per-port commands hooks run and the daemon's start through the
// fast path (fast-path.ts), every other command line through the program (program.ts, commander),
// which loads only then.
import { fastCommand, runFast } from './fast-path.js';

/** Runs the CLI; returns the process exit code (0 ok, 1 failure, 2 invalid input). */
export async function main(argv: string[]): Promise<number> {
  const fast = fastCommand(argv.slice(2), process.env);
  if (fast) return runFast(fast);
  const { runProgram } = await import('./program.js');
  return runProgram(argv);
}
