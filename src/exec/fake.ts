// An in-memory CommandRunner for unit tests: records every command and what it was given on stdin
// (a `*-restore` or `nft -f -` script), and answers from a script (exit status and output chosen
// per command line and input), without touching the kernel.
import { renderCommandLine } from '../plan/command.js';
import type { CommandResult, CommandRunner } from './runner.js';

export type FakeAnswer = Partial<CommandResult>;

export class FakeRunner implements CommandRunner {
  /** Every command run, rendered on one line, in order. */
  readonly calls: string[] = [];
  /** What each of `calls` got on stdin (undefined: nothing), by the same index. */
  readonly inputs: (string | undefined)[] = [];
  /** What each of `calls` got added to its environment, by the same index. */
  readonly envs: (Readonly<Record<string, string>> | undefined)[] = [];

  /** `answer` decides the result of a command line (and its input); the default succeeds with no output. */
  constructor(private readonly answer: (line: string, input?: string) => FakeAnswer | undefined = () => undefined) {}

  async run(argv: readonly string[], input?: string, env?: Readonly<Record<string, string>>): Promise<CommandResult> {
    const line = renderCommandLine(argv);
    this.calls.push(line);
    this.inputs.push(input);
    this.envs.push(env);
    const a = this.answer(line, input) ?? {};
    return { status: a.status ?? 0, stdout: a.stdout ?? '', stderr: a.stderr ?? '' };
  }
}
