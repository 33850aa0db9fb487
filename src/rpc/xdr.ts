// XDR (RFC 4506) for the subset libvirt's remote protocol uses on the network and nwfilter
// procedures: types are data (see remote-types.ts), one reader and one writer walk them. The
// reader is strict: every length is checked against the declared maximum and the bytes left
// before anything is allocated, strings must be UTF-8 without NUL bytes (they become file
// contents, names and log lines), and a payload must be consumed exactly.

export type XdrType =
  | { t: 'void' }
  | { t: 'int' }
  | { t: 'uint' }
  | { t: 'hyper' }
  | { t: 'uhyper' }
  | { t: 'double' }
  | { t: 'string'; max: number }
  | { t: 'fixed'; len: number }
  | { t: 'optional'; of: XdrType }
  | { t: 'array'; of: XdrType; max: number }
  | { t: 'struct'; fields: readonly (readonly [string, XdrType])[] }
  | { t: 'union'; arms: Readonly<Record<number, XdrType>> };

/** The value of a union: its discriminant and the arm's value. */
export interface UnionValue {
  type: number;
  value: unknown;
}

export class XdrError extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export const xdr = {
  void: { t: 'void' } as const,
  int: { t: 'int' } as const,
  uint: { t: 'uint' } as const,
  hyper: { t: 'hyper' } as const,
  uhyper: { t: 'uhyper' } as const,
  double: { t: 'double' } as const,
  string: (max: number): XdrType => ({ t: 'string', max }),
  fixed: (len: number): XdrType => ({ t: 'fixed', len }),
  optional: (of: XdrType): XdrType => ({ t: 'optional', of }),
  array: (of: XdrType, max: number): XdrType => ({ t: 'array', of, max }),
  struct: (...fields: [string, XdrType][]): XdrType => ({ t: 'struct', fields }),
  union: (arms: Record<number, XdrType>): XdrType => ({ t: 'union', arms }),
};

const pad = (n: number) => (4 - (n % 4)) % 4;

export class XdrReader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private take(n: number): Buffer {
    if (n > this.remaining) throw new XdrError(`need ${n} bytes, ${this.remaining} left`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  read(type: XdrType): unknown {
    switch (type.t) {
      case 'void':
        return undefined;
      case 'int':
        return this.take(4).readInt32BE(0);
      case 'uint':
        return this.take(4).readUInt32BE(0);
      case 'hyper':
        return this.take(8).readBigInt64BE(0);
      case 'uhyper':
        return this.take(8).readBigUInt64BE(0);
      case 'double':
        return this.take(8).readDoubleBE(0);
      case 'string': {
        const bytes = this.opaque(type.max);
        if (bytes.includes(0)) throw new XdrError('string holds a NUL byte');
        try {
          return utf8.decode(bytes);
        } catch {
          throw new XdrError('string is not UTF-8');
        }
      }
      case 'fixed': {
        const out = Buffer.from(this.take(type.len));
        this.take(pad(type.len));
        return out;
      }
      case 'optional': {
        const present = this.read(xdr.uint);
        if (present === 0) return null;
        if (present !== 1) throw new XdrError(`optional marker ${String(present)}`);
        return this.read(type.of);
      }
      case 'array': {
        const n = this.count(type.max);
        const out: unknown[] = [];
        for (let i = 0; i < n; i++) out.push(this.read(type.of));
        return out;
      }
      case 'struct': {
        const out: Record<string, unknown> = {};
        for (const [name, t] of type.fields) out[name] = this.read(t);
        return out;
      }
      case 'union': {
        const discriminant = this.read(xdr.int) as number;
        const arm = type.arms[discriminant];
        if (!arm) throw new XdrError(`union discriminant ${discriminant}`);
        return { type: discriminant, value: this.read(arm) } satisfies UnionValue;
      }
    }
  }

  /** A length-prefixed byte string, its length checked before it is read. */
  private opaque(max: number): Buffer {
    const n = this.count(max);
    const out = this.take(n);
    this.take(pad(n));
    return out;
  }

  /** An element count: at most `max` and, as each element takes 4 bytes at least, what is left. */
  private count(max: number): number {
    const n = this.read(xdr.uint) as number;
    if (n > max) throw new XdrError(`length ${n} above the maximum ${max}`);
    if (n > this.remaining) throw new XdrError(`length ${n} beyond the payload`);
    return n;
  }
}

/** Decodes a whole payload: trailing bytes are an error. */
export function decode(type: XdrType, buf: Buffer): unknown {
  const r = new XdrReader(buf);
  const value = r.read(type);
  if (r.remaining !== 0) throw new XdrError(`${r.remaining} bytes after the payload`);
  return value;
}

export class XdrWriter {
  private readonly parts: Buffer[] = [];

  write(type: XdrType, value: unknown): this {
    switch (type.t) {
      case 'void':
        break;
      case 'int':
      case 'uint': {
        const b = Buffer.alloc(4);
        if (type.t === 'int') b.writeInt32BE(value as number);
        else b.writeUInt32BE(value as number);
        this.parts.push(b);
        break;
      }
      case 'hyper':
      case 'uhyper': {
        const b = Buffer.alloc(8);
        if (type.t === 'hyper') b.writeBigInt64BE(BigInt(value as bigint | number));
        else b.writeBigUInt64BE(BigInt(value as bigint | number));
        this.parts.push(b);
        break;
      }
      case 'double': {
        const b = Buffer.alloc(8);
        b.writeDoubleBE(value as number);
        this.parts.push(b);
        break;
      }
      case 'string': {
        const bytes = Buffer.from(value as string, 'utf8');
        if (bytes.length > type.max)
          throw new XdrError(`string of ${bytes.length} bytes above the maximum ${type.max}`);
        this.write(xdr.uint, bytes.length);
        this.parts.push(bytes, Buffer.alloc(pad(bytes.length)));
        break;
      }
      case 'fixed': {
        const bytes = value as Buffer;
        if (bytes.length !== type.len) throw new XdrError(`fixed opaque of ${bytes.length} bytes, want ${type.len}`);
        this.parts.push(bytes, Buffer.alloc(pad(bytes.length)));
        break;
      }
      case 'optional':
        if (value === null || value === undefined) this.write(xdr.uint, 0);
        else this.write(xdr.uint, 1).write(type.of, value);
        break;
      case 'array': {
        const items = value as unknown[];
        if (items.length > type.max) throw new XdrError(`${items.length} elements above the maximum ${type.max}`);
        this.write(xdr.uint, items.length);
        for (const item of items) this.write(type.of, item);
        break;
      }
      case 'struct': {
        const obj = value as Record<string, unknown>;
        for (const [name, t] of type.fields) this.write(t, obj[name]);
        break;
      }
      case 'union': {
        const u = value as UnionValue;
        const arm = type.arms[u.type];
        if (!arm) throw new XdrError(`union discriminant ${u.type}`);
        this.write(xdr.int, u.type).write(arm, u.value);
        break;
      }
    }
    return this;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export const encode = (type: XdrType, value: unknown): Buffer => new XdrWriter().write(type, value).toBuffer();
