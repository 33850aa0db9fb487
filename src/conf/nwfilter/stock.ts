// The stock filters virtwall ships: libvirt's own filter files (clean-traffic and its building
// blocks) in the repository's `filters/` folder. The files carry no UUID; libvirt gives each a
// random one when it first defines it. Here each gets a UUID derived from its name instead, so
// the stock set is the same on every load and every host.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nameBasedUuid } from '../uuid.js';
import { parseFilter } from './parse.js';
import type { FilterDef } from './types.js';

/** Namespace of the stock filters' name-based UUIDs. */
const STOCK_UUID_NAMESPACE = '5f0b6c1e-2f7e-4d0c-9c57-7a1f3e0d9b21';

/** `filters/` next to the package root (the nearest folder up from here with a package.json). */
export function stockFilterDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('virtwall package root not found');
    dir = parent;
  }
  return join(dir, 'filters');
}

const cache = new Map<string, ReadonlyMap<string, FilterDef>>();

/**
 * Every filter in `dir` (the stock folder by default) keyed by filter name. Files are parsed
 * once; each call returns a fresh map of the same (shared, not to be modified) definitions.
 */
export function loadStockFilters(dir: string = stockFilterDir()): Map<string, FilterDef> {
  let filters = cache.get(dir);
  if (!filters) {
    const loaded = new Map<string, FilterDef>();
    for (const file of readdirSync(dir)
      .filter((f) => f.endsWith('.xml'))
      .sort()) {
      const path = join(dir, file);
      const def = parseFilter(readFileSync(path, 'utf8'), path);
      loaded.set(def.name, def.uuidSpecified ? def : { ...def, uuid: nameBasedUuid(STOCK_UUID_NAMESPACE, def.name) });
    }
    filters = loaded;
    cache.set(dir, filters);
  }
  return new Map(filters);
}
