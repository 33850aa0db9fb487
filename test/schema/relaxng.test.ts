import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { assertSchemaValid, validateAgainstSchema } from '../../src/schema/relaxng.js';
import { listCorpusDir, readCorpusFile } from '../../src/conformance/corpus.js';
import { VirtwallError } from '../../src/errors.js';
import { CORPUS } from '../support/corpus.js';

const corpus = CORPUS;

describe('RelaxNG validation', () => {
  it('accepts every stock filter and every round-trip network/port/binding document', () => {
    const sets: [string, string][] = [
      ['filters', 'filter'],
      ['networkxml2xmlout', 'network'],
      ['virnetworkportxml2xmldata', 'networkport'],
      ['virnwfilterbindingxml2xmldata', 'filterbinding'],
    ];
    let checked = 0;
    for (const [dir, root] of sets) {
      for (const f of listCorpusDir(corpus, dir) ?? []) {
        const violations = validateAgainstSchema(readCorpusFile(join(corpus, dir, f)), root, f);
        assert.deepEqual(violations, [], `${dir}/${f}`);
        checked++;
      }
    }
    assert.ok(checked > 50);
  });

  it('rejects a rule with an unknown action, naming the line', () => {
    const text = "<filter name='x'>\n  <rule action='explode' direction='in'/>\n</filter>\n";
    const violations = validateAgainstSchema(text, 'filter', 'x.xml');
    assert.ok(violations.length > 0);
    assert.equal(violations[0]!.line, 2);
    assert.throws(
      () => assertSchemaValid(text, 'filter', 'x.xml'),
      (err: unknown) => err instanceof VirtwallError && err.kind === 'invalid-input' && /x\.xml:2/.test(err.message),
    );
  });

  it('reports malformed XML as a violation instead of throwing', () => {
    const violations = validateAgainstSchema('<network><name>x</network>', 'network', 'n.xml');
    assert.ok(violations.length > 0);
  });
});
