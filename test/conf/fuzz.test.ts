// Seeded mutation test: well over 10,000 mutated libvirt documents (every corpus document of
// every kind virtwall parses, plus the stock filters) go through the parsers. Each either fails
// with virtwall's own invalid-input error or parses; what parses formats to canonical XML that
// parses back to the same text.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { mutate, rng } from '../support/mutate.js';
import { DiagnosticList, VirtwallError } from '../../src/errors.js';
import { DOCUMENT_KINDS, parseDocument } from '../../src/conf/document.js';
import { formatFilter, parseFilter, stockFilterDir } from '../../src/conf/nwfilter/index.js';
import { resolveCorpusFile } from '../../src/conformance/corpus.js';
import { CORPUS } from '../support/corpus.js';

const corpus = CORPUS;
const ROUNDS_PER_KIND = 3000;

/** Every readable XML document under the corpus and the stock filters, grouped by root element. */
function seedDocuments(): Map<string, string[]> {
  const byRoot = new Map<string, string[]>();
  const visit = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        visit(path);
        continue;
      }
      if (!name.endsWith('.xml')) continue;
      const real = resolveCorpusFile(path);
      if (!real) continue;
      const text = readFileSync(real, 'utf8');
      const root = /<([A-Za-z][\w:-]*)/.exec(text.replace(/<\?[^>]*\?>|<!--[\s\S]*?-->/g, ''))?.[1];
      if (!root || !DOCUMENT_KINDS.some((k) => k.root === root)) continue;
      byRoot.set(root, [...(byRoot.get(root) ?? []), text]);
    }
  };
  visit(corpus);
  visit(stockFilterDir());
  return byRoot;
}

function survives(
  seeds: readonly string[],
  roundTrip: (text: string) => string,
  rounds: number,
  seedBase: number,
): number {
  let parsed = 0;
  for (let i = 0; i < rounds; i++) {
    const seed = seedBase + i;
    const r = rng(seed);
    const doc = mutate(seeds[i % seeds.length]!, r);
    let once: string;
    try {
      once = roundTrip(doc);
    } catch (err) {
      assert.ok(
        err instanceof VirtwallError && err.kind === 'invalid-input',
        `seed ${seed}: ${(err as Error).stack}\n${doc}`,
      );
      continue;
    }
    parsed++;
    assert.equal(roundTrip(once), once, `seed ${seed}: output does not parse back to itself\n${doc}`);
  }
  return parsed;
}

describe('parsers on mutated documents', () => {
  const seeds = seedDocuments();
  const viaTable = (text: string) => {
    const doc = parseDocument(text, 'mutated.xml', new DiagnosticList());
    return doc.kind.format(doc.def);
  };

  for (const kind of DOCUMENT_KINDS) {
    it(`<${kind.root}>: ${ROUNDS_PER_KIND} mutations fail only with invalid-input`, () => {
      const docs = seeds.get(kind.root) ?? [];
      assert.ok(docs.length > 0, `no seed documents for <${kind.root}>`);
      const parsed = survives(docs, viaTable, ROUNDS_PER_KIND, kind.root.length * 100_000);
      // the mutations must leave a fair share parseable, or the test proves little
      assert.ok(
        parsed > ROUNDS_PER_KIND / 20,
        `only ${parsed} of ${ROUNDS_PER_KIND} mutated <${kind.root}> documents parsed`,
      );
    });
  }

  it('<filter> in libvirt-before-11 mode (illegal values dropped with a warning) as well', () => {
    const lenient = (text: string) =>
      formatFilter(parseFilter(text, 'mutated.xml', new DiagnosticList(), { invalidValues: 'drop' }));
    survives(seeds.get('filter')!, lenient, 1000, 9_000_000);
  });
});
