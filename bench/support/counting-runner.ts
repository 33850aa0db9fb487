// A runner that counts the processes a backend starts, by program (`nft`, `ebtables`, ...), so a
// bench can show how many kernel transactions or commands one change took.
import type { CommandResult, CommandRunner } from '../../src/exec/runner.js';

export class CountingRunner implements CommandRunner {
  readonly counts = new Map<string, number>();

  constructor(private readonly inner: CommandRunner) {}

  run(argv: readonly string[]): Promise<CommandResult> {
    this.counts.set(argv[0]!, (this.counts.get(argv[0]!) ?? 0) + 1);
    return this.inner.run(argv);
  }

  /** Counts so far as `nft 1, ebtables 30`, then starts again from zero. */
  take(): string {
    const text = [...this.counts].map(([prog, n]) => `${prog} ${n}`).join(', ');
    this.counts.clear();
    return text || 'none';
  }
}
