import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { mutate, rng } from '../support/mutate.js';
import { VirtwallError } from '../../src/errors.js';
import { formatNetwork } from '../../src/conf/network/format.js';
import { parseNetwork } from '../../src/conf/network/parse.js';
import { formatNetworkPort } from '../../src/conf/networkport/format.js';
import { parseNetworkPort } from '../../src/conf/networkport/parse.js';
import { resolveCorpusFile } from '../../src/conformance/corpus.js';

const corpus = resolve(process.env.VIRTWALL_CORPUS ?? '../shared/libvirt-corpus');
const read = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.xml'))
    .map((f) => resolveCorpusFile(join(dir, f)))
    .filter((p): p is string => p !== undefined)
    .map((p) => readFileSync(p, 'utf8'));

/** Mutated documents fail only with invalid input; what parses formats to text that is a fixed point. */
function survives(docs: string[], roundTrip: (text: string) => string, rounds: number): void {
  for (let seed = 0; seed < rounds; seed++) {
    const r = rng(seed);
    let doc = docs[seed % docs.length]!;
    for (let i = 0, n = 1 + Math.floor(r() * 3); i < n; i++) doc = mutate(doc, r);
    let once: string;
    try {
      once = roundTrip(doc);
    } catch (err) {
      assert.ok(err instanceof VirtwallError && err.kind === 'invalid-input', `seed ${seed}: ${(err as Error).stack}\n${doc}`);
      continue;
    }
    assert.equal(roundTrip(once), once, `seed ${seed}: output does not parse back to itself\n${doc}`);
  }
}

describe('network parsers on hostile input', () => {
  it('networks', () => {
    survives(read(join(corpus, 'networkxml2xmlin')), (t) => formatNetwork(parseNetwork(t, 'm.xml')), 1500);
  });

  it('network ports', () => {
    survives(read(join(corpus, 'virnetworkportxml2xmldata')), (t) => formatNetworkPort(parseNetworkPort(t, 'm.xml')), 500);
  });
});
