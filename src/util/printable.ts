// Untrusted text as it may be shown in a message or log line: control and non-ASCII characters
// escaped (a value can never start a new line of output), length capped.
export function printable(s: string, max = 64): string {
  const short = s.length > max ? `${s.slice(0, max)}...` : s;
  return short.replace(/[^\x20-\x7e]/gu, (c) => {
    const code = c.codePointAt(0)!;
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}
