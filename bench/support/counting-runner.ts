// A runner that counts the processes a backend starts and the time they take, by program (`nft`,
// `ebtables`, ...), so a bench can show how many kernel transactions or commands one change took
// and how much of its time was spent outside virtwall's own code.
import type { CommandResult, CommandRunner } from '../../src/exec/runner.js';
import { scratchTable } from '../../src/nft/client.js';

/**
 * Whether a script touches only scratch tables (NftCli's reading of a batch's rule bodies: no
 * hook, created and deleted around the listing), counted apart from the transactions that change
 * our tables.
 */
function onlyScratch(script: string | undefined): boolean {
  const tables = [...(script ?? '').matchAll(/\btable (?:bridge|inet|ip6?|arp|netdev) (\S+)/g)].map((m) => m[1]!);
  return tables.length > 0 && tables.every((t) => t.endsWith(scratchTable('')));
}

export class CountingRunner implements CommandRunner {
  readonly counts = new Map<string, number>();
  /** Milliseconds spent in started processes since the last take(). */
  ms = 0;

  constructor(private readonly inner: CommandRunner) {}

  get netns(): string | undefined {
    return this.inner.netns;
  }

  async run(argv: readonly string[], input?: string, env?: Readonly<Record<string, string>>): Promise<CommandResult> {
    // `nft -f FILE` (or `-f -`, the script on stdin) is a transaction, as is an echoed script
    // (`nft -e -j SCRIPT`); other nft runs only read (or check with -c).
    const batch = argv.includes('-f') || argv.includes('-e');
    const what =
      argv[0] === 'nft' && batch && !argv.includes('-c')
        ? onlyScratch(input)
          ? 'nft -f scratch'
          : 'nft -f'
        : argv[0]!;
    this.counts.set(what, (this.counts.get(what) ?? 0) + 1);
    const start = process.hrtime.bigint();
    try {
      return await this.inner.run(argv, input, env);
    } finally {
      this.ms += Number(process.hrtime.bigint() - start) / 1e6;
    }
  }

  /** Counts so far as `nft -f 1, ebtables 30`, then starts again from zero. */
  take(): string {
    const text = [...this.counts].map(([prog, n]) => `${prog} ${n}`).join(', ');
    this.counts.clear();
    this.ms = 0;
    return text || 'none';
  }
}
