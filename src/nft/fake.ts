// An nft that keeps the ruleset in memory (as knftables' Fake does): it loads batches with
// applyBatch, refuses what the kernel would refuse, and lists tables as `nft -j list` would, with
// a rule's body as nft lists it (kernel-body.ts). Tests drive backends with it to check
// reconcile, heal, restart and the gap-free switch without root; foreign changes come in through
// `foreign`, the same way as ours.
import { applyBatch, renderBatch, type Batch } from './batch.js';
import type { AddedRule, NftClient } from './client.js';
import type { ListedTable } from './listing.js';
import { exprText, valueText, type Element, type Statement } from './expr.js';
import { kernelBody } from './kernel-body.js';
import {
  emptyRuleset,
  hasFamily,
  objectKey,
  type Family,
  type KernelStatement,
  type NftChain,
  type NftRule,
  type Ruleset,
} from './objects.js';

/** The fake kernel's form of a rule: what nft would list for it. */
const fakeBody = (r: NftRule): KernelStatement[] => kernelBody(r.statements);

/** A jump target in a map element (`... : jump CHAIN`). */
const jumpOf = (e: Element) =>
  e.value?.kind === 'verdict' && 'target' in e.value.verdict ? e.value.verdict.target : undefined;

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
    this.gaps.push(...gapsIn(before, batch, after));
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
 * How a packet of the previous generation can fare in a batch: it runs the hooked chains' old
 * rules, and every chain it jumps to in their old form (a chain the batch creates is empty
 * there), while each set or map lookup it makes finds the elements as they are before the batch
 * or, from some lookup on, after it (the kernel rule plan.ts is built on). For each port that a
 * dispatch rule of a hooked chain found before the batch, and each point at which the batch may
 * become visible between its lookups, this names what can go wrong: the port found by no
 * dispatch rule while it stays filtered (its packets pass unfiltered), a dispatch to a chain empty
 * before the batch that the batch fills (run empty), or to two chains (a jump returns, and a later rule finds the port again).
 */
function gapsIn(before: Ruleset, batch: Batch, after: Ruleset): string[] {
  // chains empty for the previous generation that the batch fills: new ones, and emptied ones it fills again
  const filled = new Set<string>();
  for (const c of batch) {
    if (!('chain' in c) || 'rule' in c || (c.verb !== 'flush' && c.verb !== 'add')) continue;
    const k = objectKey(c.chain.family, c.chain.name);
    if ((before.chains.get(k)?.rules.length ?? 0) === 0) filled.add(k);
  }
  // ports the hooked chains dispatch after the batch (the others leave: unfiltered is what they get)
  const staying = new Set<string>();
  for (const chain of after.chains.values())
    for (const r of chain.hook ? chain.rules : [])
      for (const l of dispatchOf(r.statements))
        for (const e of after.sets.get(objectKey(chain.family, l.set))?.elements.values() ?? [])
          staying.add(`${chain.name} ${valueText(e.key)}`);
  const out = new Set<string>();
  for (const chain of before.chains.values()) {
    if (!chain.hook) continue;
    // lookups by what they look up: a packet's iifname and oifname are different ports
    const byExpr = new Map<string, DispatchLookup[]>();
    for (const l of chain.rules.flatMap((r) => dispatchOf(r.statements)))
      byExpr.set(l.key, [...(byExpr.get(l.key) ?? []), l]);
    for (const lookups of byExpr.values()) gapsOf(chain, lookups);
  }
  return [...out];

  function gapsOf(chain: NftChain, lookups: DispatchLookup[]): void {
    // what each lookup finds for a port key, before and after the batch
    const index = new Map<Ruleset, Map<string, Map<string, Element>>>();
    const byKey = (state: Ruleset, set: string) => {
      const sets = index.get(state) ?? index.set(state, new Map()).get(state)!;
      let keys = sets.get(set);
      if (!keys) {
        const elements = state.sets.get(objectKey(chain.family, set))?.elements.values() ?? [];
        keys = new Map([...elements].map((e) => [valueText(e.key), e]));
        sets.set(set, keys);
      }
      return keys;
    };
    const found = (state: Ruleset, l: DispatchLookup, port: string) => {
      const e = byKey(state, l.set).get(port);
      if (!e) return undefined;
      if (!l.map) return l.verdict;
      return e.value?.kind === 'verdict' && 'target' in e.value.verdict ? e.value.verdict : undefined;
    };
    const ports = new Set<string>();
    for (const l of lookups) for (const port of byKey(before, l.set).keys()) ports.add(port);
    for (const port of ports) {
      for (let flip = 0; flip <= lookups.length; flip++) {
        const hits = lookups.flatMap((l, i) => {
          const v = found(i < flip ? before : after, l, port);
          return v ? [v] : [];
        });
        const [first, second] = hits;
        const at = `${chain.name}: ${port}`;
        if (!first) {
          if (staying.has(`${chain.name} ${port}`)) out.add(`${at} found by no dispatch`);
        } else if (filled.has(objectKey(chain.family, first.target)))
          out.add(`${at} -> ${first.target}, which the batch fills`);
        else if (second && first.kind === 'jump') out.add(`${at} -> ${first.target} and ${second.target}`);
      }
    }
  }
}

/** A dispatch of a hooked chain's rule: a verdict-map lookup, or a set lookup with a jump or goto. */
export interface DispatchLookup {
  /** What it looks up (`iifname`, `meta mark`). */
  key: string;
  set: string;
  map: boolean;
  verdict?: { kind: 'jump' | 'goto'; target: string };
}

export function dispatchOf(statements: readonly Statement[]): DispatchLookup[] {
  const [a, b] = statements;
  if (statements.length === 1 && a?.kind === 'vmap') return [{ key: exprText(a.key), set: a.map, map: true }];
  if (
    statements.length === 2 &&
    a?.kind === 'match' &&
    a.op === '==' &&
    a.right.kind === 'setref' &&
    (b?.kind === 'jump' || b?.kind === 'goto')
  )
    return [{ key: exprText(a.left), set: a.right.name, map: false, verdict: b }];
  return [];
}
