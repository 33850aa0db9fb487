// The compiled stock filters by value against golden files (scripts/golden-nftables.ts writes
// them): the transaction as text and as nft JSON, both rendered from the same typed batch; the
// kernel's listing of it, predicted from the typed rules (src/nft/kernel-body.ts) and, where the
// kernel is at hand, read from it; and nft's own check of every compiled rule, text and JSON.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TABLE } from '../../src/backends/nftables/model.js';
import { renderBatch, renderBatchJson, setDeclJson, type Batch } from '../../src/nft/batch.js';
import { elementJson } from '../../src/nft/expr.js';
import { kernelBody } from '../../src/nft/kernel-body.js';
import type { Family, Json } from '../../src/nft/objects.js';
import { GOLDEN_DIR, kernelForm, stockBatches } from './golden/stock-bindings.js';
import { canUseNetns, NetnsLab } from '../support/netns.js';

const golden = (file: string) => readFileSync(join(GOLDEN_DIR, file), 'utf8');

/**
 * What `nft -j list table` shows once `batch` (adds only) is loaded into an empty kernel, per
 * family in the order nft lists: the table, sets and maps, chains, then each chain's rules.
 * Elements are sorted by value: the kernel lists a set's elements in its own order.
 */
function predictedListing(batch: Batch): Json[] {
  const out: Json[] = [];
  const byJson = (a: Json, b: Json) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);
  for (const family of ['bridge', 'inet'] as Family[]) {
    if (!batch.some((c) => 'table' in c && c.table === family)) continue;
    out.push({ table: { family, name: TABLE } });
    const elements = new Map<string, Json[]>();
    for (const c of batch)
      if ('elements' in c && c.set.family === family)
        elements.set(c.set.name, [...(elements.get(c.set.name) ?? []), ...c.elements.map(elementJson)]);
    for (const c of batch) {
      if (!('set' in c) || 'elements' in c || c.set.family !== family || !('decl' in c.set)) continue;
      const elem = elements.get(c.set.name);
      out.push({
        [c.set.kind]: {
          family,
          name: c.set.name,
          table: TABLE,
          ...setDeclJson(c.set.decl),
          ...(elem ? { elem: elem.sort(byJson) } : {}),
        },
      });
    }
    const chains = batch.flatMap((c) => ('chain' in c && !('rule' in c) && c.chain.family === family ? [c.chain] : []));
    for (const c of chains) {
      const h = 'hook' in c ? c.hook : undefined;
      out.push({
        chain: {
          family,
          table: TABLE,
          name: c.name,
          ...(h ? { type: h.type, hook: h.hook, prio: h.priority, policy: h.policy } : {}),
        },
      });
    }
    for (const chain of chains) {
      for (const c of batch) {
        if (!('rule' in c) || c.chain.family !== family || c.chain.name !== chain.name) continue;
        out.push({
          rule: {
            family,
            table: TABLE,
            chain: chain.name,
            expr: kernelBody(c.rule.statements),
            ...(c.rule.comment ? { comment: c.rule.comment } : {}),
          },
        });
      }
    }
  }
  return out;
}

/** A listing with every set's elements sorted (see predictedListing). */
function sortedElements(listing: Json[]): Json[] {
  return listing.map((item) => {
    const [kind, o] = Object.entries(item as Record<string, Record<string, Json>>)[0]!;
    if ((kind !== 'set' && kind !== 'map') || !Array.isArray(o['elem'])) return item;
    return {
      [kind]: {
        ...o,
        elem: [...(o['elem'] as Json[])].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)),
      },
    };
  });
}

describe('nftables golden files', () => {
  const batches = stockBatches();

  it('every stock filter has its golden files, and nothing else has', () => {
    const files = readdirSync(GOLDEN_DIR).sort();
    assert.deepEqual(files, [...batches.keys()].flatMap((n) => [`${n}.batch.json`, `${n}.json`, `${n}.nft`]).sort());
  });

  it('compiles every stock filter to its golden transaction, as text and as nft JSON', () => {
    for (const [name, batch] of batches) {
      assert.deepEqual(renderBatch(batch, TABLE).split('\n'), golden(`${name}.nft`).split('\n'), name);
      assert.deepEqual(renderBatchJson(batch, TABLE), JSON.parse(golden(`${name}.batch.json`)), name);
    }
  });

  it("predicts the kernel's listing of every golden transaction from the typed rules: rules compare by body", () => {
    for (const [name, batch] of batches)
      assert.deepEqual(predictedListing(batch), sortedElements(JSON.parse(golden(`${name}.json`)) as Json[]), name);
  });

  it('the kernel lists every golden transaction as its golden JSON', {
    skip: canUseNetns() ? false : 'needs root and network namespaces',
  }, (t) => {
    const lab = new NetnsLab();
    t.after(() => lab.cleanup());
    const ns = lab.netns('golden');
    for (const name of batches.keys())
      assert.deepEqual(kernelForm(lab, ns, golden(`${name}.nft`)), JSON.parse(golden(`${name}.json`)), name);
  });

  it("nft -c accepts every compiled rule, as text and as nft's JSON", {
    skip: canUseNetns() ? false : 'needs root and network namespaces',
  }, (t) => {
    const lab = new NetnsLab();
    t.after(() => lab.cleanup());
    const ns = lab.netns('check');
    const dir = mkdtempSync(join(tmpdir(), 'vw-golden-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    for (const [name, batch] of batches) {
      lab.exec(ns, ['nft', '-c', '-f', '-'], true, renderBatch(batch, TABLE));
      // JSON: the declarations go in as text (nft 1.0.6's JSON has no `typeof` for raw keys), then
      // the rules and elements are checked in nft's JSON against them
      const declared = batch.filter((c) => !('rule' in c) && !('elements' in c));
      lab.exec(ns, ['nft', '-f', '-'], true, renderBatch(declared, TABLE));
      const file = join(dir, `${name}.json`);
      writeFileSync(
        file,
        JSON.stringify(
          renderBatchJson(
            batch.filter((c) => 'rule' in c || 'elements' in c),
            TABLE,
          ),
        ),
      );
      const checked = lab.exec(ns, ['nft', '-c', '-j', '-f', file], false);
      assert.equal(checked.status, 0, `${name}: ${checked.stderr}`);
      lab.exec(ns, ['nft', 'flush', 'ruleset']);
    }
  });
});
