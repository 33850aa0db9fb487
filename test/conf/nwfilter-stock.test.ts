import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatFilter, loadStockFilters, parseFilter, stockFilterDir } from '../../src/conf/nwfilter/index.js';

const files = readdirSync(stockFilterDir()).filter((f) => f.endsWith('.xml'));

describe('stock filters', () => {
  it('are all present, one filter per file named after it', () => {
    const stock = loadStockFilters();
    assert.equal(files.length, 24);
    assert.deepEqual([...stock.keys()].sort(), files.map((f) => f.replace(/\.xml$/, '')).sort());
  });

  for (const file of files) {
    it(`${file} formats to a text that parses and formats back to itself`, () => {
      const text = readFileSync(join(stockFilterDir(), file), 'utf8');
      const def = parseFilter(text, file);
      const formatted = formatFilter(def);
      const again = parseFilter(formatted, file);
      assert.equal(formatFilter(again), formatted);
      assert.equal(again.uuid, def.uuid);
      assert.deepEqual(
        again.entries.map((e) => e.kind),
        def.entries.map((e) => e.kind),
      );
    });
  }

  it('get stable, distinct UUIDs although the files have none', () => {
    const first = loadStockFilters();
    const uuids = [...first.values()].map((d) => d.uuid);
    assert.equal(new Set(uuids).size, uuids.length);
    for (const d of first.values()) assert.equal(d.uuidSpecified, false);
    // A second load (a fresh map) and a parse of the same folder elsewhere agree.
    assert.deepEqual(
      [...loadStockFilters().values()].map((d) => d.uuid),
      uuids,
    );
    assert.notEqual(loadStockFilters(), first);
  });
});
