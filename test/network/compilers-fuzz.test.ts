// Whatever network the parser accepts, the firewall and dnsmasq compilers either compile it or
// refuse it with a located invalid-input error; they never crash.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mutate, rng } from '../support/mutate.js';
import { VirtwallError } from '../../src/errors.js';
import { parseNetwork } from '../../src/conf/network/parse.js';
import { applyPlan } from '../../src/exec/apply.js';
import { FakeRunner } from '../../src/exec/fake.js';
import { addFirewallRulesPlan, BACKEND_NAMES } from '../../src/network/firewall/backends.js';
import { dnsmasqFiles, parseDnsmasqVersion } from '../../src/network/dnsmasq/config.js';
import { resolveCorpusFile } from '../../src/conformance/corpus.js';
import { CORPUS } from '../support/corpus.js';

const corpus = CORPUS;
const docs = ['networkxml2firewalldata', 'networkxml2confdata', 'networkxml2xmlin'].flatMap((dir) =>
  readdirSync(join(corpus, dir))
    .filter((f) => f.endsWith('.xml'))
    .map((f) => resolveCorpusFile(join(corpus, dir, f)))
    .filter((p): p is string => p !== undefined)
    .map((p) => readFileSync(p, 'utf8')),
);
const caps = parseDnsmasqVersion('Dnsmasq version 2.67');

async function compile(text: string): Promise<void> {
  const def = parseNetwork(text, 'm.xml');
  for (const backend of BACKEND_NAMES) {
    const plan = addFirewallRulesPlan(def, backend);
    await applyPlan(plan.groups, new FakeRunner());
  }
  dnsmasqFiles(def, { caps });
}

describe('network compilers on hostile input', () => {
  it('compile or refuse with invalid-input', async () => {
    assert.ok(docs.length > 0, `no network documents under ${corpus}`);
    let compiled = 0;
    // one mutation per document keeps enough of them parseable to reach the compilers
    for (let seed = 0; seed < 2000; seed++) {
      const doc = mutate(docs[seed % docs.length]!, rng(seed));
      try {
        await compile(doc);
        compiled++;
      } catch (err) {
        assert.ok(
          err instanceof VirtwallError && err.kind === 'invalid-input',
          `seed ${seed}: ${(err as Error).stack}\n${doc}`,
        );
      }
    }
    assert.ok(
      compiled > 200,
      `only ${compiled} mutated networks compiled: the mutations no longer reach the compilers`,
    );
  });
});
