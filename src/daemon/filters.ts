// The nwfilter definitions of the daemon (libvirt's /etc/libvirt/nwfilter): one NAME.xml per
// filter, the stock filters written there on first start. Pure bookkeeping; re-instantiating
// the bindings a change affects is the caller's (Daemon) job.
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { invalidInput, VirtwallError } from '../errors.js';
import { formatFilter, loadStockFilters, parseFilter, type FilterDef } from '../conf/nwfilter/index.js';
import type { FilterSource } from '../nwfilter/source.js';
import { checkObjectName } from './names.js';
import { removeRecord, writeRecord } from './persist.js';
import { readRecords } from '../util/state-file.js';

const SUFFIX = '.xml';

const textsDigest = (texts: ReadonlyMap<string, string>) =>
  createHash('sha256')
    .update(JSON.stringify([...texts].sort(([a], [b]) => (a < b ? -1 : 1))))
    .digest('base64url');

export class FilterService {
  private readonly defs = new Map<string, FilterDef>();
  /** Each definition as stored; their digest keys instantiated ports (FilterSource.digest). */
  private readonly texts = new Map<string, string>();
  private digest: string | undefined;

  constructor(private readonly dir: string) {}

  /** Reads the definitions; on first start (no marker in `libDir`) installs the stock filters. */
  load(libDir: string): void {
    const marker = join(libDir, 'stock-filters-installed');
    if (!existsSync(marker)) {
      for (const def of loadStockFilters().values()) {
        if (!existsSync(join(this.dir, def.name + SUFFIX)))
          writeRecord('nwfilter', this.dir, def.name + SUFFIX, formatFilter(def));
      }
      writeFileSync(marker, '');
    }
    const read = (text: string, file: string) => {
      const def = parseFilter(text, file);
      if (def.name + SUFFIX !== basename(file))
        throw new VirtwallError('invalid-input', `filter file ${file} holds filter '${def.name}'`);
      return { def, text };
    };
    for (const [name, { def, text }] of readRecords(this.dir, SUFFIX, read)) {
      this.defs.set(name, def);
      this.texts.set(name, text);
    }
  }

  /** Lookup for instantiation, optionally with one definition replaced (a define being tried). */
  source(override?: FilterDef): FilterSource {
    // the digest the definitions will have once the override is stored (store() keeps this text)
    if (override)
      return {
        lookup: (name) => (override.name === name ? override : this.defs.get(name)),
        digest: textsDigest(new Map(this.texts).set(override.name, formatFilter(override))),
      };
    this.digest ??= textsDigest(this.texts);
    return { lookup: (name) => this.defs.get(name), digest: this.digest };
  }

  list(): FilterDef[] {
    return [...this.defs.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get(nameOrUuid: string): FilterDef {
    const def = this.defs.get(nameOrUuid) ?? [...this.defs.values()].find((d) => d.uuid === nameOrUuid.toLowerCase());
    if (!def)
      throw new VirtwallError('not-found', `Network filter not found: no nwfilter with matching name '${nameOrUuid}'`);
    return def;
  }

  /** The filter with this UUID (libvirt's lookups by UUID). */
  getUuid(uuid: string): FilterDef {
    const def = [...this.defs.values()].find((d) => d.uuid === uuid.toLowerCase());
    if (!def)
      throw new VirtwallError('not-found', `Network filter not found: no nwfilter with matching uuid '${uuid}'`);
    return def;
  }

  /** Parses a definition and checks it against the existing ones (libvirt's rules on UUIDs). */
  parse(xml: string, file: string): FilterDef {
    const def = parseFilter(xml, file);
    checkObjectName(def.name, 'filter', def.source);
    const old = this.defs.get(def.name);
    const sameUuid = [...this.defs.values()].find((d) => d.uuid === def.uuid && d.name !== def.name);
    if (def.uuidSpecified && sameUuid)
      throw new VirtwallError(
        'conflict',
        `filter with same UUID but different name ('${sameUuid.name}') already exists`,
      );
    if (old && def.uuidSpecified && old.uuid !== def.uuid)
      throw new VirtwallError('conflict', `filter '${def.name}' already exists with uuid ${old.uuid}`);
    this.checkLoop(def);
    return old && !def.uuidSpecified ? { ...def, uuid: old.uuid } : def;
  }

  /**
   * libvirt's virNWFilterObjListDefLoopDetect: refused if `def`, with the filters defined,
   * would reach itself through filterrefs. Filters not defined yet end a path (libvirt
   * accepts references to them). The error points at def's filterref the loop starts from.
   */
  private checkLoop(def: FilterDef): void {
    // filters already explored without reaching def (also ends a loop that does not pass def)
    const explored = new Set<string>();
    const loopFrom = (name: string, path: string[]): string[] | undefined => {
      if (name === def.name) return [...path, name];
      if (explored.has(name)) return undefined;
      explored.add(name);
      for (const e of this.defs.get(name)?.entries ?? []) {
        if (e.kind !== 'filterref') continue;
        const loop = loopFrom(e.filter, [...path, name]);
        if (loop) return loop;
      }
      return undefined;
    };
    for (const e of def.entries) {
      if (e.kind !== 'filterref') continue;
      const loop = loopFrom(e.filter, [def.name]);
      if (loop)
        throw invalidInput(`filter would introduce a loop: ${loop.join(' -> ')}`, { ...e.source, attribute: 'filter' });
    }
  }

  store(def: FilterDef): void {
    const text = formatFilter(def);
    writeRecord('nwfilter', this.dir, def.name + SUFFIX, text);
    this.defs.set(def.name, def);
    this.texts.set(def.name, text);
    this.digest = undefined;
  }

  remove(name: string): void {
    removeRecord('nwfilter', this.dir, name + SUFFIX);
    this.defs.delete(name);
    this.texts.delete(name);
    this.digest = undefined;
  }

  /** Filters referring to `name` directly. */
  referrers(name: string): string[] {
    return this.list()
      .filter((d) => d.entries.some((e) => e.kind === 'filterref' && e.filter === name))
      .map((d) => d.name);
  }

  /** `name` and every filter that reaches it through filterrefs: whose instances change with it. */
  affectedBy(name: string): Set<string> {
    const out = new Set<string>([name]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const d of this.defs.values()) {
        if (!out.has(d.name) && d.entries.some((e) => e.kind === 'filterref' && out.has(e.filter))) {
          out.add(d.name);
          grew = true;
        }
      }
    }
    return out;
  }
}
