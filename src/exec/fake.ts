// An in-memory CommandRunner for unit tests: records every command and answers from a script
// (exit status and output chosen per command line), without touching the kernel.
import { renderCommandLine } from '../plan/command.js';
import type { CommandResult, CommandRunner } from './runner.js';

export type FakeAnswer = Partial<CommandResult>;

export class FakeRunner implements CommandRunner {
  /** Every command run, rendered on one line, in order. */
  readonly calls: string[] = [];

  /** `answer` decides the result of a command line; the default succeeds with no output. */
  constructor(private readonly answer: (line: string) => FakeAnswer | undefined = () => undefined) {}

  async run(argv: readonly string[]): Promise<CommandResult> {
    const line = renderCommandLine(argv);
    this.calls.push(line);
    const a = this.answer(line) ?? {};
    return { status: a.status ?? 0, stdout: a.stdout ?? '', stderr: a.stderr ?? '' };
  }
}
