// XML input arrives as bytes (files, stdin, API request bodies) and must be UTF-8: libxml2,
// and so libvirt, refuses anything else ("Input is not proper UTF-8"). Node's decoders would
// turn each bad sequence into U+FFFD and accept it. Here every byte of a bad sequence becomes
// the lone surrogate U+DC80 + byte instead (no UTF-8 decodes to a surrogate, and a string
// holding one survives JSON), and the XML reader refuses the document at that place.

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Length of the valid UTF-8 sequence at `i` (RFC 3629: no overlong forms, no surrogates), or 0. */
function sequenceLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/** The text of UTF-8 bytes; each byte of an invalid sequence becomes U+DC80 + byte. */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return strict.decode(bytes);
  } catch {
    // fall through: decode piece by piece
  }
  let out = '';
  let start = 0;
  for (let i = 0; i < bytes.length; ) {
    const n = sequenceLength(bytes, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out += strict.decode(bytes.subarray(start, i)) + String.fromCharCode(0xdc00 + bytes[i]!);
    start = ++i;
  }
  return out + strict.decode(bytes.subarray(start));
}

/** A code unit no valid UTF-8 produces: a surrogate that is not half of a pair. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Where `text` holds something that was not proper UTF-8 (1-based line and column), with the
 * bytes of the bad sequence as libxml2 lists them; undefined when it is all proper text.
 */
export function findImproperUtf8(text: string): { line: number; col: number; bytes: string } | undefined {
  const m = LONE_SURROGATE.exec(text);
  if (!m) return undefined;
  const before = text.slice(0, m.index);
  const line = before.split('\n').length;
  const col = m.index - before.lastIndexOf('\n');
  const units: string[] = [];
  for (let i = m.index; i < text.length && units.length < 4; i++) {
    const u = text.charCodeAt(i);
    if (u < 0xd800 || u > 0xdfff) break;
    // an escaped byte, or a lone surrogate that came as such (a JSON \u escape)
    units.push(
      u >= 0xdc80 && u <= 0xdcff ? `0x${(u - 0xdc00).toString(16).toUpperCase()}` : `U+${u.toString(16).toUpperCase()}`,
    );
  }
  return { line, col, bytes: units.join(' ') };
}
