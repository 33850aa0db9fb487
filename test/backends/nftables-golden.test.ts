// The compiled stock filters by value against golden files (scripts/golden-nftables.ts writes
// them): the transaction text, and, where the kernel is at hand, the kernel's listing of it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GOLDEN_DIR, kernelForm, stockTransactions } from './golden/stock-bindings.js';
import { canUseNetns, NetnsLab } from '../support/netns.js';

const golden = (file: string) => readFileSync(join(GOLDEN_DIR, file), 'utf8');

describe('nftables golden files', () => {
  const compiled = stockTransactions();

  it('every stock filter has its golden files, and nothing else has', () => {
    const files = readdirSync(GOLDEN_DIR).sort();
    assert.deepEqual(files, [...compiled.keys()].flatMap((n) => [`${n}.json`, `${n}.nft`]).sort());
  });

  it('compiles every stock filter to its golden transaction', () => {
    for (const [name, script] of compiled) assert.deepEqual(script.split('\n'), golden(`${name}.nft`).split('\n'), name);
  });

  it('the kernel lists every golden transaction as its golden JSON', { skip: canUseNetns() ? false : 'needs root and network namespaces' }, (t) => {
    const lab = new NetnsLab();
    t.after(() => lab.cleanup());
    const ns = lab.netns('golden');
    for (const name of compiled.keys()) assert.deepEqual(kernelForm(lab, ns, golden(`${name}.nft`)), JSON.parse(golden(`${name}.json`)), name);
  });
});
