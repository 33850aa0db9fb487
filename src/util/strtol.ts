// libvirt's number parsing (virStrToLong_ui / virStrToLong_i): C strtoul / strtol rules
// (leading white space, optional sign, `0x` prefix in base 16). Without an end pointer the whole
// string must be consumed. Returns undefined where libvirt reports a parse failure.

const NUMBER = {
  10: /^[ \t\n\v\f\r]*([+-]?)()([0-9]+)/,
  16: /^[ \t\n\v\f\r]*([+-]?)(0[xX](?=[0-9a-fA-F]))?([0-9a-fA-F]+)/,
} as const;

/** The unsigned int at the start of `text` and how many characters it took (strtoul + virStrToLong_ui). */
export function scanUInt(text: string, base: 10 | 16 = 10): { value: number; length: number } | undefined {
  const m = NUMBER[base].exec(text);
  if (!m) return undefined;
  const magnitude = BigInt(base === 16 ? `0x${m[3]}` : m[3]!);
  // Like libvirt, `-N` wraps (so `-1` is 4294967295) as long as N itself fits in 32 bits.
  if (magnitude > 0xffffffffn) return undefined;
  const value = m[1] === '-' ? Number((0x100000000n - magnitude) & 0xffffffffn) : Number(magnitude);
  return { value, length: m[0].length };
}

/** virStrToLong_ui: an unsigned int filling the whole text. */
export function parseUInt(text: string, base: 10 | 16 = 10): number | undefined {
  const r = scanUInt(text, base);
  return r && r.length === text.length ? r.value : undefined;
}

/** virStrToLong_i: a signed 32-bit int in base 10 filling the whole text. */
export function parseInt32(text: string): number | undefined {
  const m = NUMBER[10].exec(text);
  if (!m || m[0].length !== text.length) return undefined;
  const v = (m[1] === '-' ? -1n : 1n) * BigInt(m[3]!);
  return v < -0x80000000n || v > 0x7fffffffn ? undefined : Number(v);
}
