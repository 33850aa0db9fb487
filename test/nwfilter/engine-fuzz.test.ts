// Mutated filters that still parse must compile to commands or fail with a structured error:
// the engine never crashes on what the parser accepted.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { allTeardown, instantiationPlans } from '../../src/backends/ebiptables/plan.js';
import { parseFilter } from '../../src/conf/nwfilter/parse.js';
import { loadStockFilters, stockFilterDir } from '../../src/conf/nwfilter/stock.js';
import { VirtwallError } from '../../src/errors.js';
import { instantiate } from '../../src/nwfilter/instantiate.js';
import { MapFilterSource } from '../../src/nwfilter/source.js';
import { dryRunCommands } from '../../src/plan/transaction.js';
import { mutate, rng } from '../support/mutate.js';
import { CORPUS } from '../support/corpus.js';

const corpus = CORPUS;
const read = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.xml'))
    .map((f) => readFileSync(join(dir, f), 'utf8'));

const VARIABLES = new Map([
  ['MAC', ['52:54:00:00:00:01']],
  ['IP', ['10.0.0.1', '10.0.0.2']],
  ['X', ['1', '2', '3']],
  ['A', ['1.1.1.1', '2.2.2.2', '3.3.3.3']],
  ['IPSETNAME', ['tck_test']],
]);

it('compiles or fails with a VirtwallError for every mutated filter that parses', () => {
  const docs = [...read(stockFilterDir()), ...read(join(corpus, 'nwfilterxml2firewalldata'))];
  const source = new MapFilterSource(loadStockFilters().values());
  let compiled = 0;
  for (let seed = 0; seed < 800; seed++) {
    const r = rng(seed);
    let def: ReturnType<typeof parseFilter>;
    try {
      def = parseFilter(mutate(docs[seed % docs.length]!, r), 'm.xml');
    } catch {
      continue;
    }
    try {
      const plans = [...instantiationPlans('vnet0', instantiate(def, VARIABLES, source)), allTeardown('vnet0')];
      assert.ok(plans.flatMap(dryRunCommands).every((c) => c.argv.every((a) => typeof a === 'string')));
      compiled++;
    } catch (err) {
      assert.ok(err instanceof VirtwallError, `seed ${seed}: ${(err as Error).stack}`);
    }
  }
  assert.ok(compiled > 50, `only ${compiled} mutated filters compiled`);
});
