// The one way virtwall talks to nftables: list one table (`nft -j list table`, never the whole
// ruleset), load one batch as one transaction, check one without loading it. NftCli runs the nft
// command through a CommandRunner; FakeNft (fake.ts) answers the same from memory.
import { VirtwallError } from '../errors.js';
import { runWithInputFile, type CommandRunner } from '../exec/runner.js';
import { renderBatch, type Batch } from './batch.js';
import { echoedRuleBodies, parseTableListing, type ListedTable } from './listing.js';
import type { Family, Statement } from './objects.js';

export interface NftClient {
  /** The table's objects, or undefined when it does not exist. */
  list(family: Family, table: string): Promise<ListedTable | undefined>;
  /**
   * Loads `batch` (objects of `table`) as one transaction, or throws and the kernel keeps its
   * state. Returns the kernel's form of every rule the batch adds, in order.
   */
  apply(batch: Batch, table: string): Promise<(readonly Statement[])[]>;
  /** Whether nft and the kernel would accept the batch (`nft -c`: nothing is loaded). */
  check(batch: Batch, table: string): Promise<boolean>;
}

export class NftCli implements NftClient {
  constructor(private readonly runner: CommandRunner) {}

  async list(family: Family, table: string): Promise<ListedTable | undefined> {
    const r = await this.runner.run(['nft', '-j', 'list', 'table', family, table]);
    return r.status === 0 ? parseTableListing(r.stdout, family) : undefined;
  }

  async apply(batch: Batch, table: string): Promise<(readonly Statement[])[]> {
    if (batch.length === 0) return [];
    const script = renderBatch(batch, table);
    // The kernel's form of added rules comes from its echo, which nft prints as JSON only when
    // the script is a file; a batch without rules goes through stdin.
    const addsRules = batch.some((c) => 'rule' in c);
    const r = addsRules ? await runWithInputFile(this.runner, ['nft', '-j', '--echo', '-f'], script) : await this.runner.run(['nft', '-f', '-'], script);
    if (r.status !== 0) throw new VirtwallError('operation-failed', `nft -f failed with status ${r.status}: ${r.stderr.trim()}`);
    return addsRules ? echoedRuleBodies(r.stdout) : [];
  }

  async check(batch: Batch, table: string): Promise<boolean> {
    return (await this.runner.run(['nft', '-c', '-f', '-'], renderBatch(batch, table))).status === 0;
  }
}
