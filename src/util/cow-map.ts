// A map from strings as a value: its entries are spread over buckets (native Maps) by a hash of
// the key, the buckets held in a two-level table (32 chunks of 32 buckets), and a new version
// (CowMap.edit ... done) copies only what it writes to: the top list, the chunks and the buckets
// of the keys it changes, sharing all others with the old version, which stays as it was. So a
// change of a few keys costs a few small copies however large the map is, while reads and bulk
// writes run at about native Map speed. (immutable's Map was tried first: with keys like set
// elements' texts its string hashing made bulk changes twice as slow, and reads several times
// slower than a native Map's.)

const WIDTH = 32;
type Bucket<V> = ReadonlyMap<string, V> | undefined;
type Chunk<V> = readonly Bucket<V>[] | undefined;

/** The key's bucket: chunk (hash >>> 5) and place in it (hash & 31). */
function bucketOf(key: string): number {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) | 0;
  // keys often differ only in a few digits: mix them into the low bits
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return (h ^ (h >>> 16)) & (WIDTH * WIDTH - 1);
}

/** The bucket `key` belongs in, if the table has it. */
function bucketIn<V>(chunks: readonly Chunk<V>[], key: string): Bucket<V> {
  const h = bucketOf(key);
  return chunks[h >>> 5]?.[h & 31];
}

function* entriesIn<V>(chunks: readonly Chunk<V>[]): Generator<[string, V]> {
  for (const c of chunks) if (c) for (const b of c) if (b) yield* b;
}

const NO_CHUNKS: readonly Chunk<never>[] = Object.freeze(new Array<undefined>(WIDTH).fill(undefined));

export class CowMap<V> implements ReadonlyMap<string, V> {
  private static readonly EMPTY = new CowMap<unknown>(NO_CHUNKS, 0);

  private constructor(
    /** Never changed once the map is made: an edit copies what it writes to. */
    private readonly chunks: readonly Chunk<V>[],
    readonly size: number,
  ) {}

  static empty<V>(): CowMap<V> {
    return CowMap.EMPTY as CowMap<unknown> as CowMap<V>;
  }

  static of<V>(entries: Iterable<readonly [string, V]>): CowMap<V> {
    const edit = CowMap.empty<V>().edit();
    for (const [k, v] of entries) edit.set(k, v);
    return edit.done();
  }

  /** A mutable copy; its `done` gives the new version. */
  edit(): CowEdit<V> {
    return new CowEdit(this, this.chunks, this.size, (chunks, size) => new CowMap(chunks, size));
  }

  get(key: string): V | undefined {
    return bucketIn(this.chunks, key)?.get(key);
  }

  has(key: string): boolean {
    return bucketIn(this.chunks, key)?.has(key) ?? false;
  }

  entries(): MapIterator<[string, V]> {
    return entriesIn(this.chunks);
  }

  *keys(): MapIterator<string> {
    for (const [k] of this.entries()) yield k;
  }

  *values(): MapIterator<V> {
    for (const c of this.chunks) if (c) for (const b of c) if (b) yield* b.values();
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  forEach(f: (value: V, key: string, map: ReadonlyMap<string, V>) => void): void {
    for (const [k, v] of this) f(v, k, this);
  }
}

/** A CowMap being changed: it writes to its own copies, made at the first write to each. */
export class CowEdit<V> {
  /** The map's top list until the first write, then this edit's copy. */
  private chunks: readonly Chunk<V>[];
  /** Per chunk, a bit per bucket this edit copied; none before the first write. */
  private own: Uint32Array | undefined;
  /** A bit per chunk this edit copied. */
  private ownChunks = 0;
  private finished = false;

  constructor(
    private readonly from: CowMap<V>,
    chunks: readonly Chunk<V>[],
    private count: number,
    private readonly make: (chunks: readonly Chunk<V>[], size: number) => CowMap<V>,
  ) {
    this.chunks = chunks;
  }

  get size(): number {
    return this.count;
  }

  get(key: string): V | undefined {
    return bucketIn(this.chunks, key)?.get(key);
  }

  has(key: string): boolean {
    return bucketIn(this.chunks, key)?.has(key) ?? false;
  }

  /** The entries as they are now (not to be changed while iterating). */
  entries(): Generator<[string, V]> {
    return entriesIn(this.chunks);
  }

  set(key: string, value: V): this {
    const b = this.writable(bucketOf(key));
    if (!b.has(key)) this.count++;
    b.set(key, value);
    return this;
  }

  delete(key: string): boolean {
    if (!this.has(key)) return false;
    this.writable(bucketOf(key)).delete(key);
    this.count--;
    return true;
  }

  /** The new version (the map edited, when nothing was written); the edit is over. */
  done(): CowMap<V> {
    if (this.finished) throw new Error('CowEdit.done called twice');
    this.finished = true;
    return this.own ? this.make(this.chunks, this.count) : this.from;
  }

  private writable(h: number): Map<string, V> {
    if (this.finished) throw new Error('CowEdit changed after done');
    if (!this.own) {
      this.chunks = this.chunks.slice();
      this.own = new Uint32Array(WIDTH);
    }
    const c = h >>> 5;
    const j = h & 31;
    const chunks = this.chunks as Chunk<V>[];
    if (!(this.ownChunks & (1 << c))) {
      chunks[c] = chunks[c]?.slice() ?? new Array<undefined>(WIDTH).fill(undefined);
      this.ownChunks |= 1 << c;
    }
    const chunk = chunks[c] as Bucket<V>[];
    if (!(this.own[c]! & (1 << j))) {
      chunk[j] = new Map(chunk[j]);
      this.own[c]! |= 1 << j;
    }
    return chunk[j] as Map<string, V>;
  }
}
