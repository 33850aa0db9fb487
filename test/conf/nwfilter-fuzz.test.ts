import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { mutate, rng } from '../support/mutate.js';
import { DiagnosticList, VirtwallError } from '../../src/errors.js';
import { formatFilter, parseFilter, stockFilterDir } from '../../src/conf/nwfilter/index.js';
import { formatFilterBinding, parseFilterBinding } from '../../src/conf/nwfilterbinding/index.js';

const corpus = resolve(process.env.VIRTWALL_CORPUS ?? '../shared/libvirt-corpus');
const read = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.xml')).map((f) => readFileSync(join(dir, f), 'utf8'));

/** Mutated documents never make a parser throw anything but invalid input, and what parses formats. */
function survives(docs: string[], parse: (text: string) => string, rounds: number): void {
  for (let seed = 0; seed < rounds; seed++) {
    const r = rng(seed);
    let doc = docs[seed % docs.length]!;
    for (let i = 0, n = 1 + Math.floor(r() * 3); i < n; i++) doc = mutate(doc, r);
    try {
      parse(doc);
    } catch (err) {
      assert.ok(err instanceof VirtwallError && err.kind === 'invalid-input', `seed ${seed}: ${(err as Error).stack}\n${doc}`);
    }
  }
}

describe('nwfilter parsers on hostile input', () => {
  const filters = [...read(stockFilterDir()), ...read(join(corpus, 'nwfilterxml2xmlin'))];

  it('filters fail only with invalid-input, in both value modes', () => {
    survives(filters, (t) => formatFilter(parseFilter(t, 'm.xml')), 1500);
    survives(filters, (t) => formatFilter(parseFilter(t, 'm.xml', new DiagnosticList(), { invalidValues: 'drop' })), 1500);
  });

  it('filter bindings fail only with invalid-input', () => {
    survives(read(join(corpus, 'virnwfilterbindingxml2xmldata')), (t) => formatFilterBinding(parseFilterBinding(t, 'm.xml')), 500);
  });
});
