// The one way virtwall talks to nftables: list one table (`nft -j list table`, never the whole
// ruleset), load one batch as one transaction, check one without loading it. NftCli runs the nft
// command through a CommandRunner; FakeNft (fake.ts) answers the same from memory.
import { VirtwallError } from '../errors.js';
import type { CommandRunner } from '../exec/runner.js';
import { renderBatch, type Batch, type Command } from './batch.js';
import { parseChainsListing, parseTableHandle, parseTableListing, type ListedTable } from './listing.js';
import { objectKey, type Family, type KernelStatement, type NftRule } from './objects.js';
import { NETLINK_NETFILTER, NetlinkError, NetlinkSocket } from '../netlink/socket.js';
import { getTable, tableHandleOf } from './ownership.js';
import { handlesOf, RuleEvents } from './rule-handles.js';

export interface NftClient {
  /** The table's objects, or undefined when it does not exist. */
  list(family: Family, table: string): Promise<ListedTable | undefined>;
  /**
   * Loads `batch` (objects of `table`) as one transaction, or throws and the kernel keeps its
   * state. Returns the kernel's form of every rule the batch adds, in order; `known` gives the
   * forms already known (of a rule loaded before), which need not be read back.
   */
  apply(batch: Batch, table: string, known?: KnownBodies): Promise<(readonly KernelStatement[])[]>;
  /**
   * The table's chains with the rules of the chains named in `rulesOf` only (the others listed
   * empty), or undefined when the table does not exist: what planning needs when it replaces no
   * rule, without listing every rule of the table.
   */
  listChains(family: Family, table: string, rulesOf: readonly string[]): Promise<ListedTable | undefined>;
  /**
   * As apply, with the handle the kernel gave each added rule, read from its change events (none
   * where the client acts on no kernel, or when events were lost): nft's --echo would fetch every
   * element of every set first.
   */
  applyWithHandles(batch: Batch, table: string): Promise<AddedRule[]>;
  /** The table's handle (listing.ts parseTableHandle), undefined when it does not exist. */
  tableHandle(family: Family, table: string): Promise<number | undefined>;
  /** Whether nft and the kernel would accept the batch (`nft -c`: nothing is loaded). */
  check(batch: Batch, table: string): Promise<boolean>;
}

/** A rule a batch added: its kernel form, and its handle where it is known. */
export interface AddedRule {
  body: readonly KernelStatement[];
  handle?: number;
}

/** The kernel's form of a rule, where it is known already. */
export type KnownBodies = (rule: NftRule) => readonly KernelStatement[] | undefined;
const ENOENT = 2;

/** The scratch table NftCli reads a batch's rule bodies from (scratchRules): no hook, gone after each batch. */
export const scratchTable = (table: string) => `${table}_bodies`;

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
    const listed = (await this.scratchRules(batch, table, families)) ?? new Map<string, readonly NftRule[]>();
    for (const family of listed.size > 0 ? [] : families) {
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

  async listChains(family: Family, table: string, rulesOf: readonly string[]): Promise<ListedTable | undefined> {
    const r = await this.runner.run(['nft', '-j', 'list', 'chains', family]);
    if (r.status !== 0)
      throw new VirtwallError('operation-failed', `nft list chains failed with status ${r.status}: ${r.stderr.trim()}`);
    const out = parseChainsListing(r.stdout, family, table);
    // absent, or a table without chains: its listing is that small
    if (out.chains.size === 0) return this.list(family, table);
    for (const name of rulesOf) {
      const k = objectKey(family, name);
      if (!out.chains.has(k)) continue;
      const listed = await this.runner.run(['nft', '-j', 'list', 'chain', family, table, name]);
      const chain = listed.status === 0 ? parseTableListing(listed.stdout, family) : undefined;
      // a chain deleted in between is absent
      if (!chain?.chains.has(k)) out.chains.delete(k);
      else {
        out.chains.get(k)!.rules.push(...chain.chains.get(k)!.rules);
        for (const h of chain.handles) out.handles.add(h);
      }
    }
    return out;
  }

  /**
   * The rules `batch` adds, as the kernel holds them, read from a scratch table: the batch's sets
   * and chains (without hooks: no packet ever runs them) and its rules, loaded into
   * `<table>_bodies`, listed and deleted. nft 1.0 lists any table, even terse, only after
   * fetching every element of its sets: at 10,000 ports the table's own listing took 0.6 s and
   * left 60 MB of cache. Undefined when the rules refer to an object the batch does not declare
   * (a rule rewritten in a chain of the layout): then the table itself is listed.
   */
  private async scratchRules(
    batch: Batch,
    table: string,
    families: readonly Family[],
  ): Promise<Map<string, readonly NftRule[]> | undefined> {
    const scratch = scratchTable(table);
    const ours = (f: Family) => families.includes(f);
    const chains = new Map<string, Command>();
    const sets: Command[] = [];
    const rules: Command[] = [];
    for (const c of batch) {
      if ('rule' in c && ours(c.chain.family)) {
        rules.push(c);
        chains.set(objectKey(c.chain.family, c.chain.name), { verb: 'add', chain: c.chain });
      } else if ('chain' in c && c.verb === 'add' && ours(c.chain.family)) {
        const { family, name } = c.chain;
        chains.set(objectKey(family, name), { verb: 'add', chain: { family, name } });
      } else if ('set' in c && 'decl' in c.set && ours(c.set.family)) sets.push(c);
    }
    // delete first: a scratch table a crash left behind must not add its rules to these
    const tables = families.flatMap((f): Command[] => [
      { verb: 'add', table: f },
      { verb: 'delete', table: f },
      { verb: 'add', table: f },
    ]);
    const loaded = await this.runner.run(
      ['nft', '-f', '-'],
      renderBatch([...tables, ...sets, ...chains.values(), ...rules], scratch),
    );
    try {
      if (loaded.status !== 0) return undefined;
      const out = new Map<string, readonly NftRule[]>();
      for (const family of families) {
        const t = await this.listing(family, scratch, true);
        if (!t) return undefined;
        for (const [k, chain] of t.chains) out.set(k, chain.rules);
      }
      return out;
    } finally {
      const gone = families.map((f): Command => ({ verb: 'delete', table: f }));
      if (loaded.status === 0) await this.runner.run(['nft', '-f', '-'], renderBatch(gone, scratch));
    }
  }

  /**
   * One NFT_MSG_GETTABLE where the runner acts on a kernel (0.1 ms): nft 1.0.6 fetches every
   * table's rules for `list tables` (4 ms at 100 networks); else `nft -j list tables`.
   */
  async tableHandle(family: Family, table: string): Promise<number | undefined> {
    if (this.runner.netns !== undefined) {
      // a socket per question: clients are made per operation, and a kept socket would keep a
      // deleted namespace alive
      const socket = NetlinkSocket.open(NETLINK_NETFILTER, this.runner.netns || undefined);
      try {
        const [answer] = socket.request((q) => getTable(q, family, table));
        return answer && tableHandleOf(answer);
      } catch (err) {
        if (err instanceof NetlinkError && err.errno === ENOENT) return undefined;
        throw new VirtwallError(
          'operation-failed',
          `finding nft table ${family} ${table} failed: ${(err as Error).message}`,
        );
      } finally {
        socket.close();
      }
    }
    const r = await this.runner.run(['nft', '-j', 'list', 'tables', family]);
    if (r.status !== 0)
      throw new VirtwallError('operation-failed', `nft list tables failed with status ${r.status}: ${r.stderr.trim()}`);
    return parseTableHandle(r.stdout, table);
  }

  async applyWithHandles(batch: Batch, table: string): Promise<AddedRule[]> {
    // subscribed before the commit: its events are queued by the time nft returns
    const events = this.runner.netns === undefined ? undefined : RuleEvents.open(this.runner.netns || undefined);
    try {
      const bodies = await this.apply(batch, table);
      const committed = events?.read();
      const added = batch.flatMap((c) => ('rule' in c ? [c.chain] : []));
      const handles = committed && handlesOf(committed, table, added);
      return bodies.map((body, i) => (handles ? { body, handle: handles[i]! } : { body }));
    } finally {
      events?.close();
    }
  }

  async check(batch: Batch, table: string): Promise<boolean> {
    return (await this.runner.run(['nft', '-c', '-f', '-'], renderBatch(batch, table))).status === 0;
  }
}
