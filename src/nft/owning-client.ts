// The nft client of a kernel with table ownership: NftCli on the in-process libnftables context
// (libnftables.ts), whose socket owns every table the client creates (ownership.ts), so no other
// process can flush or delete them while we run, and they persist when we stop. nft would send
// `add table` with no flags, which the kernel refuses for an owned table: such commands become
// own() (create or adopt) before the batch, which then only fills the table.
import type { Batch, Command } from './batch.js';
import { NftCli, type AddedRule, type KnownBodies, type NftClient } from './client.js';
import { Libnftables } from './libnftables.js';
import type { ListedTable } from './listing.js';
import type { Family, Statement } from './objects.js';
import {
  adoptAtGeneration,
  kernelOwnsTables,
  own,
  rulesetGeneration,
  tableFlags,
  type Ownership,
} from './ownership.js';
import { netnsCookie } from '../netlink/socket.js';

const PROBE_TABLE = 'virtwall_owner_probe';

const addsTable = (c: Command): c is Command & { verb: 'add'; table: Family } => 'table' in c && c.verb === 'add';

export class OwningNft implements NftClient {
  private readonly cli: NftCli;

  /** `lib`: the in-process nft whose socket owns the tables; commands run on it are accepted there. */
  private constructor(
    readonly lib: Libnftables,
    /** Whether open() adopted the tables it was told, at the generation it was told. */
    readonly adopted = false,
  ) {
    this.cli = new NftCli(lib);
  }

  /** The cookie of the network namespace the client acts in (see netnsCookie). */
  get netns(): bigint {
    return netnsCookie(this.lib.fd);
  }

  /** The namespace's ruleset generation now (ownership.ts rulesetGeneration). */
  generation(): Promise<number> {
    return this.lib.exclusive(() => rulesetGeneration(this.lib.fd));
  }

  /**
   * The owning client, or why there is none here: libnftables does not load, or the kernel
   * does not keep owned tables past their owner (before Linux 6.9: no `persist`). `adopt`, told
   * the client's namespace (its cookie), may name orphaned tables and the ruleset generation
   * they are to be adopted at, before anything else of ours changes the ruleset (see
   * adoptAtGeneration); `adopted` says whether they were.
   */
  static open(
    adopt?: (netns: bigint) => { tables: readonly { family: Family; table: string }[]; generation: number } | undefined,
  ): OwningNft | { unavailable: string } {
    let lib: Libnftables;
    try {
      lib = new Libnftables();
    } catch (e) {
      return { unavailable: `libnftables: ${(e as Error).message}` };
    }
    try {
      const at = adopt?.(netnsCookie(lib.fd));
      // tables a persisting owner held are proof enough that the kernel keeps them: no probe
      if (at && adoptAtGeneration(lib.fd, at.tables, at.generation)) return new OwningNft(lib, true);
    } catch {
      // not adopted at that generation: adopted as any start adopts them (a stamp only spares a listing)
    }
    try {
      if (!kernelOwnsTables(lib.fd, PROBE_TABLE))
        return { unavailable: 'the kernel refuses nftables tables flagged owner and persist' };
    } catch (e) {
      return { unavailable: `probing table ownership: ${(e as Error).message}` };
    }
    return new OwningNft(lib);
  }

  /** Makes `table` ours (see ownership.ts own); without `create`, an absent table stays absent. */
  own(family: Family, table: string, create = false): Promise<Ownership> {
    return this.lib.exclusive(() => own(this.lib.fd, family, table, create));
  }

  /** The table's flags as the kernel holds them (ownership.ts TABLE_*), undefined when it does not exist. */
  flags(family: Family, table: string): Promise<number | undefined> {
    return this.lib.exclusive(() => tableFlags(this.lib.fd, family, table));
  }

  list(family: Family, table: string): Promise<ListedTable | undefined> {
    return this.cli.list(family, table);
  }

  listChains(family: Family, table: string, rulesOf: readonly string[]): Promise<ListedTable | undefined> {
    return this.cli.listChains(family, table, rulesOf);
  }

  async applyWithHandles(batch: Batch, table: string): Promise<AddedRule[]> {
    return this.cli.applyWithHandles(await this.owned(batch, table, true), table);
  }

  tableHandle(family: Family, table: string): Promise<number | undefined> {
    return this.cli.tableHandle(family, table);
  }

  async apply(batch: Batch, table: string, known?: KnownBodies): Promise<(readonly Statement[])[]> {
    return this.cli.apply(await this.owned(batch, table, true), table, known);
  }

  async check(batch: Batch, table: string): Promise<boolean> {
    return this.cli.check(await this.owned(batch, table, false), table);
  }

  /**
   * `batch` without the `add table`s of tables we own (creating them first when `create`); a
   * table we cannot own keeps its command, and is changed as nft would change it.
   */
  private async owned(batch: Batch, table: string, create: boolean): Promise<Batch> {
    const out: Command[] = [];
    for (const c of batch) {
      if (addsTable(c) && (await this.own(c.table, table, create)) === 'owned') continue;
      out.push(c);
    }
    return out;
  }
}
