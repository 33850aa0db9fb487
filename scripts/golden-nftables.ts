// Writes test/backends/golden/nftables/FILTER.nft, FILTER.batch.json and FILTER.json: the nftables
// transaction of every stock filter as text and as nft JSON, and the kernel's listing of it (test/backends/golden/stock-bindings.ts; the
// listing needs root, it loads each transaction in a scratch network namespace). Run
// `npx tsx scripts/golden-nftables.ts` after a deliberate change of the compiler, review the
// diff, and commit it with the change.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TABLE } from '../src/backends/nftables/model.js';
import { renderBatch, renderBatchJson } from '../src/nft/batch.js';
import { GOLDEN_DIR, kernelForm, stockBatches } from '../test/backends/golden/stock-bindings.js';
import { NetnsLab } from '../test/support/netns.js';

mkdirSync(GOLDEN_DIR, { recursive: true });
for (const f of readdirSync(GOLDEN_DIR)) rmSync(join(GOLDEN_DIR, f));
const lab = new NetnsLab();
try {
  const ns = lab.netns('golden');
  for (const [name, batch] of stockBatches()) {
    const script = renderBatch(batch, TABLE);
    writeFileSync(join(GOLDEN_DIR, `${name}.nft`), script);
    writeFileSync(
      join(GOLDEN_DIR, `${name}.batch.json`),
      `${JSON.stringify(renderBatchJson(batch, TABLE), null, 1)}\n`,
    );
    writeFileSync(join(GOLDEN_DIR, `${name}.json`), `${JSON.stringify(kernelForm(lab, ns, script), null, 1)}\n`);
  }
} finally {
  lab.cleanup();
}
