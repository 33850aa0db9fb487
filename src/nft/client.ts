// The one way virtwall talks to nftables: list one table (`nft -j list table`, never the whole
// ruleset), load one batch as one transaction, check one without loading it. NftCli runs the nft
// command through a CommandRunner; FakeNft (fake.ts) answers the same from memory.
import { VirtwallError } from '../errors.js';
import type { CommandRunner } from '../exec/runner.js';
import { renderBatch, type Batch } from './batch.js';
import { parseTableListing, type ListedTable } from './listing.js';
import { objectKey, type Family, type KernelStatement, type NftRule } from './objects.js';

export interface NftClient {
  /** The table's objects, or undefined when it does not exist. */
  list(family: Family, table: string): Promise<ListedTable | undefined>;
  /**
   * Loads `batch` (objects of `table`) as one transaction, or throws and the kernel keeps its
   * state. Returns the kernel's form of every rule the batch adds, in order; `known` gives the
   * forms already known (of a rule loaded before), which need not be read back.
   */
  apply(batch: Batch, table: string, known?: KnownBodies): Promise<(readonly KernelStatement[])[]>;
  /** Whether nft and the kernel would accept the batch (`nft -c`: nothing is loaded). */
  check(batch: Batch, table: string): Promise<boolean>;
}

/** The kernel's form of a rule, where it is known already. */
export type KnownBodies = (rule: NftRule) => readonly KernelStatement[] | undefined;

export class NftCli implements NftClient {
  constructor(private readonly runner: CommandRunner) {}

  async list(family: Family, table: string): Promise<ListedTable | undefined> {
    return this.listing(family, table, false);
  }

  /** `terse`: without the sets' elements (`nft -t`), which are most of a big table's listing. */
  private async listing(family: Family, table: string, terse: boolean): Promise<ListedTable | undefined> {
    const r = await this.runner.run(['nft', '-j', ...(terse ? ['-t'] : []), 'list', 'table', family, table]);
    return r.status === 0 ? parseTableListing(r.stdout, family) : undefined;
  }

  async apply(batch: Batch, table: string, known?: KnownBodies): Promise<(readonly KernelStatement[])[]> {
    if (batch.length === 0) return [];
    const r = await this.runner.run(['nft', '-f', '-'], renderBatch(batch, table));
    if (r.status !== 0)
      throw new VirtwallError('operation-failed', `nft -f failed with status ${r.status}: ${r.stderr.trim()}`);
    // a heal re-adds rules whose forms were read when they were first loaded: nothing to list
    const bodies = known && batch.flatMap((c) => ('rule' in c ? [known(c.rule)] : []));
    if (bodies?.every((b) => b !== undefined)) return bodies as (readonly KernelStatement[])[];
    return this.addedRuleBodies(batch, table);
  }

  /**
   * The kernel's form of the rules `batch` added, in the batch's order, read back after it was
   * committed. Not nft's --echo: echoing a batch with tens of thousands of set elements overruns
   * nft's netlink socket (ENOBUFS). A chain's appended rules are its last ones, its inserted
   * rules its first ones (the last inserted first). The listing is terse: rules are all it is
   * read for, and the sets' elements would be most of it.
   */
  private async addedRuleBodies(batch: Batch, table: string): Promise<(readonly KernelStatement[])[]> {
    const added = batch.flatMap((c) =>
      'rule' in c ? [{ k: objectKey(c.chain.family, c.chain.name), head: c.verb === 'insert' }] : [],
    );
    if (added.length === 0) return [];
    const families = [...new Set(batch.flatMap((c) => ('rule' in c ? [c.chain.family] : [])))];
    const listed = new Map<string, readonly NftRule[]>();
    for (const family of families) {
      const t = await this.listing(family, table, true);
      if (!t)
        throw new VirtwallError('operation-failed', `nft table ${family} ${table} is gone after loading rules into it`);
      for (const [k, chain] of t.chains) listed.set(k, chain.rules);
    }
    const counts = new Map<string, number>();
    for (const { k, head } of added) counts.set(`${head} ${k}`, (counts.get(`${head} ${k}`) ?? 0) + 1);
    const count = (k: string, head: boolean) => counts.get(`${head} ${k}`)!;
    const next = new Map<string, number>();
    return added.map(({ k, head }) => {
      const rules = listed.get(k) ?? [];
      const n = next.get(`${head} ${k}`) ?? 0;
      next.set(`${head} ${k}`, n + 1);
      const body = rules[head ? count(k, true) - 1 - n : rules.length - count(k, false) + n]?.body;
      if (!body)
        throw new VirtwallError(
          'operation-failed',
          `nft chain ${k} of table ${table} lacks the rules just loaded into it`,
        );
      return body;
    });
  }

  async check(batch: Batch, table: string): Promise<boolean> {
    return (await this.runner.run(['nft', '-c', '-f', '-'], renderBatch(batch, table))).status === 0;
  }
}
