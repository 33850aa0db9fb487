// Every implemented conformance suite runs against the shared corpus, one test per case.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { allSuites } from '../../src/conformance/suites/index.js';
import { runCase } from '../../src/conformance/runner.js';
import { CORPUS } from '../support/corpus.js';

const corpus = CORPUS;

for (const suite of allSuites()) {
  if ('notImplemented' in suite) continue;
  const cases = suite.discover(corpus) ?? [];
  describe(`conformance ${suite.name}`, () => {
    it('discovers cases', () => assert.ok(cases.length > 0, `no cases found under ${corpus}`));
    for (const c of cases) {
      it(c.name, async () => {
        const r = await runCase(c);
        assert.ok(r.ok, r.detail);
      });
    }
  });
}
