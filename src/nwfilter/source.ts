// Where referenced filters come from: looked up by name, first in a directory of filter XML
// files (NAME.xml, as libvirt keeps /etc/libvirt/nwfilter), then in other sources such as the
// stock filters.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FilterDef } from '../conf/nwfilter/types.js';
import { invalidInput } from '../errors.js';
import { decodeUtf8 } from '../xml/utf8.js';

export interface FilterSource {
  /** The filter called `name`, or undefined when this source has none. */
  lookup(name: string): FilterDef | undefined;
  /** A digest of every definition the source can return, when it knows one (see PortFilter.inputsDigest). */
  readonly digest?: string;
}

const FILE_NAME = /^[A-Za-z0-9_.:-]+$/;

/** Filters stored as DIR/NAME.xml, parsed on first use. */
export class DirectoryFilterSource implements FilterSource {
  private readonly cache = new Map<string, FilterDef | undefined>();

  constructor(
    private readonly dir: string,
    private readonly parse: (text: string, file: string) => FilterDef,
  ) {}

  lookup(name: string): FilterDef | undefined {
    if (!this.cache.has(name)) {
      const file = join(this.dir, `${name}.xml`);
      const def =
        FILE_NAME.test(name) && existsSync(file) ? this.parse(decodeUtf8(readFileSync(file)), file) : undefined;
      // libvirt refuses a config file whose name is not the filter's.
      if (def && def.name !== name)
        throw invalidInput(`filter file does not match the filter's name '${def.name}'`, { ...def.source, file });
      this.cache.set(name, def);
    }
    return this.cache.get(name);
  }
}

/** Filters given in memory (e.g. the stock set, or filters defined through an API). */
export class MapFilterSource implements FilterSource {
  private readonly byName: ReadonlyMap<string, FilterDef>;

  constructor(filters: Iterable<FilterDef>) {
    this.byName = new Map([...filters].map((f) => [f.name, f]));
  }

  lookup(name: string): FilterDef | undefined {
    return this.byName.get(name);
  }
}

/** Tries each source in turn. */
export function chainSources(...sources: FilterSource[]): FilterSource {
  return { lookup: (name) => sources.reduce<FilterDef | undefined>((found, s) => found ?? s.lookup(name), undefined) };
}
