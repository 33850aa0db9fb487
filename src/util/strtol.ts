// libvirt's number parsing (virStrToLong_ui / virStrToLong_i with no end pointer): C strtoul /
// strtol rules (leading white space, optional sign, `0x` prefix in base 16) and the whole string
// must be consumed. Returns undefined where libvirt reports a parse failure.

const C_SPACE = /^[ \t\n\v\f\r]*/;

/** Digits of `text` after sign/prefix per strtoul, or undefined when no digit was consumed. */
function scan(text: string, base: 10 | 16): { negative: boolean; value: bigint } | undefined {
  let s = text.replace(C_SPACE, '');
  let negative = false;
  if (s[0] === '+' || s[0] === '-') {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  if (base === 16 && /^0[xX][0-9a-fA-F]/.test(s)) s = s.slice(2);
  const digits = base === 16 ? /^[0-9a-fA-F]+$/ : /^[0-9]+$/;
  if (!digits.test(s)) return undefined;
  return { negative, value: BigInt(base === 16 ? `0x${s}` : s) };
}

/**
 * virStrToLong_ui: an unsigned int. Like libvirt, `-N` wraps (so `-1` is 4294967295) as long as
 * N itself fits in 32 bits.
 */
export function parseUInt(text: string, base: 10 | 16 = 10): number | undefined {
  const r = scan(text, base);
  if (!r || r.value > 0xffffffffffffffffn) return undefined;
  if (r.negative) return r.value > 0xffffffffn ? undefined : Number((0x100000000n - r.value) & 0xffffffffn);
  return r.value > 0xffffffffn ? undefined : Number(r.value);
}

/** virStrToLong_i: a signed 32-bit int in base 10. */
export function parseInt32(text: string): number | undefined {
  const r = scan(text, 10);
  if (!r) return undefined;
  const v = r.negative ? -r.value : r.value;
  return v < -0x80000000n || v > 0x7fffffffn ? undefined : Number(v);
}
