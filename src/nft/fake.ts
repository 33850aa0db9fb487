// An nft that keeps the ruleset in memory (as knftables' Fake does): it loads batches with
// applyBatch, refuses what the kernel would refuse, and lists tables as `nft -j list` would, with
// a rule's body as nft lists it (kernel-body.ts). Tests drive backends with it to check
// reconcile, heal, restart and the gap-free switch without root; foreign changes come in through
// `foreign`, the same way as ours.
import { applyBatch, renderBatch, type Batch, type Command } from './batch.js';
import type { AddedRule, NftClient } from './client.js';
import type { ListedTable } from './listing.js';
import { elementText, type Element, type Statement } from './expr.js';
import { kernelBody } from './kernel-body.js';
import {
  emptyRuleset,
  hasFamily,
  objectKey,
  type Family,
  type KernelStatement,
  type NftRule,
  type Ruleset,
} from './objects.js';

/** The fake kernel's form of a rule: what nft would list for it. */
const fakeBody = (r: NftRule): KernelStatement[] => kernelBody(r.statements);

/** A jump target in a map element (`... : jump CHAIN`). */
const jumpOf = (e: Element) =>
  e.value?.kind === 'verdict' && e.value.verdict.kind === 'jump' ? e.value.verdict.target : undefined;

export class FakeNft implements NftClient {
  private tables = new Map<string, Ruleset>();
  /** The kernel numbers every rule it adds, per table, from 1 again in a table created again. */
  private lastHandle = new Map<string, number>();
  /** ... and every table it creates, per namespace, never twice: by table and family. */
  private tableHandles = new Map<string, number>();
  private lastTableHandle = 0;
  /** Every batch loaded, rendered (what NftCli would have sent). */
  readonly scripts: string[] = [];
  /** Batches that pointed an entry existing before them at a chain they filled (see gapsIn). */
  readonly gaps: string[] = [];
  /** Fail the next apply as the kernel would refuse it. */
  refuseNext = false;

  ruleset(table: string): Ruleset {
    return this.tables.get(table) ?? emptyRuleset();
  }

  async list(family: Family, table: string): Promise<ListedTable | undefined> {
    await Promise.resolve();
    return this.listing(family, table);
  }

  async listChains(family: Family, table: string, rulesOf: readonly string[]): Promise<ListedTable | undefined> {
    await Promise.resolve();
    const t = this.listing(family, table);
    for (const c of t?.chains.values() ?? []) if (!rulesOf.includes(c.name)) c.rules = [];
    return t;
  }

  private listing(family: Family, table: string): ListedTable | undefined {
    const r = this.ruleset(table);
    if (!hasFamily(r, family)) return undefined;
    const out: ListedTable = { chains: new Map(), sets: new Map(), handles: new Set() };
    for (const [k, c] of r.chains) {
      if (c.family !== family) continue;
      out.chains.set(k, {
        ...c,
        rules: c.rules.map((x) => ({
          statements: [],
          comment: x.comment,
          body: x.body ?? fakeBody(x),
          handle: x.handle,
        })),
      });
    }
    for (const [k, s] of r.sets) if (s.family === family) out.sets.set(k, { ...s, elements: new Map(s.elements) });
    return out;
  }

  async tableHandle(family: Family, table: string): Promise<number | undefined> {
    await Promise.resolve();
    return this.tableHandles.get(`${family} ${table}`);
  }

  /** As apply; each added rule with the handle it got (found in its chain by value, as the kernel's events report it). */
  async applyWithHandles(batch: Batch, table: string): Promise<AddedRule[]> {
    const first = this.lastHandle.get(table) ?? 0;
    const bodies = await this.apply(batch, table);
    const fresh = [...this.ruleset(table).chains.values()].flatMap((c) =>
      c.rules.filter((r) => r.handle! > first).map((r) => ({ chain: objectKey(c.family, c.name), rule: r })),
    );
    return batch
      .flatMap((c) => ('rule' in c ? [c] : []))
      .map((c, i) => {
        const at = fresh.findIndex(
          (f) => f.chain === objectKey(c.chain.family, c.chain.name) && f.rule.comment === c.rule.comment,
        );
        const [found] = at >= 0 ? fresh.splice(at, 1) : [];
        return found ? { body: bodies[i]!, handle: found.rule.handle! } : { body: bodies[i]! };
      });
  }

  async apply(batch: Batch, table: string): Promise<(readonly KernelStatement[])[]> {
    await new Promise((resolve) => setTimeout(resolve, 1));
    if (batch.length === 0) return [];
    const script = renderBatch(batch, table);
    if (this.refuseNext) {
      this.refuseNext = false;
      this.scripts.push(script);
      throw new Error('nft -f failed with status 1: Error: Could not process rule');
    }
    const before = this.ruleset(table);
    const bodies = batch.flatMap((c) => ('rule' in c ? [fakeBody(c.rule)] : []));
    const after = applyBatch(before, batch, bodies);
    checkReferences(after);
    this.scripts.push(script);
    this.gaps.push(...gapsIn(before, batch));
    this.setTable(table, after);
    return bodies;
  }

  async check(batch: Batch): Promise<boolean> {
    await Promise.resolve();
    try {
      applyBatch(emptyRuleset(), batch);
      return true;
    } catch {
      return false;
    }
  }

  /** A change by someone else (another tool, an administrator). */
  foreign(table: string, batch: Batch): void {
    this.setTable(
      table,
      applyBatch(
        this.ruleset(table),
        batch,
        batch.flatMap((c) => ('rule' in c ? [fakeBody(c.rule)] : [])),
      ),
    );
  }

  /** The table's new state: new rules numbered, a family's table that appears numbered, one that went forgotten. */
  private setTable(table: string, r: Ruleset): void {
    this.tables.set(table, this.numbered(table, r));
    for (const family of ['ip', 'ip6', 'inet', 'bridge', 'arp', 'netdev'] as const) {
      const k = `${family} ${table}`;
      if (!hasFamily(r, family)) this.tableHandles.delete(k);
      else if (!this.tableHandles.has(k)) this.tableHandles.set(k, ++this.lastTableHandle);
    }
  }

  /** Someone else edits a rule's body in place, keeping its comment. */
  editRule(table: string, family: Family, chain: string, index: number, statements: readonly Statement[]): void {
    const r = this.ruleset(table);
    const c = r.chains.get(objectKey(family, chain))!;
    const rules = c.rules.map((x, i) =>
      i === index ? { ...x, statements, body: fakeBody({ statements, comment: x.comment }) } : x,
    );
    this.tables.set(table, { ...r, chains: new Map(r.chains).set(objectKey(family, chain), { ...c, rules }) });
  }

  /** `r` with a handle for every rule that has none yet. */
  private numbered(table: string, r: Ruleset): Ruleset {
    let last = this.lastHandle.get(table) ?? 0;
    const chains = new Map(
      [...r.chains].map(([k, c]) => [
        k,
        { ...c, rules: c.rules.map((x) => (x.handle === undefined ? { ...x, handle: ++last } : x)) },
      ]),
    );
    this.lastHandle.set(table, last);
    return { ...r, chains };
  }

  /** The kernel loses every table (a `flush ruleset` by someone else). */
  flushRuleset(): void {
    this.tables.clear();
    this.tableHandles.clear();
    this.lastHandle.clear();
  }
}

/** The kernel refuses to delete a chain that a map element still jumps to. */
function checkReferences(r: Ruleset): void {
  for (const s of r.sets.values()) {
    for (const e of s.elements.values()) {
      const target = jumpOf(e);
      if (target && !r.chains.has(objectKey(s.family, target)))
        throw new Error(`nft would refuse the batch: ${s.name} jumps to missing chain ${target}`);
    }
  }
}

/**
 * Commands by which a packet of the old generation could run a chain empty: an element added to a
 * map that existed before the batch, for a key that had an entry there, jumping to a chain the
 * batch creates or flushes (the kernel rule plan.ts is built on).
 */
function gapsIn(before: Ruleset, batch: Batch): string[] {
  const filled = new Set<string>();
  for (const c of batch) {
    if (
      'chain' in c &&
      !('rule' in c) &&
      (c.verb === 'flush' || (c.verb === 'add' && !before.chains.has(objectKey(c.chain.family, c.chain.name))))
    ) {
      filled.add(objectKey(c.chain.family, c.chain.name));
    }
  }
  const out: string[] = [];
  for (const c of batch) {
    if (!isElementAdd(c)) continue;
    const old = before.sets.get(objectKey(c.set.family, c.set.name));
    if (!old) continue;
    const oldKeys = new Set([...old.elements.values()].map((e) => elementText({ key: e.key })));
    for (const e of c.elements) {
      const target = jumpOf(e);
      if (target && oldKeys.has(elementText({ key: e.key })) && filled.has(objectKey(c.set.family, target)))
        out.push(`${c.set.name}: ${elementText(e)}`);
    }
  }
  return out;
}

const isElementAdd = (c: Command): c is Extract<Command, { elements: readonly Element[] }> =>
  'elements' in c && c.verb === 'add';
