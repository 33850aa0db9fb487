// NAME=VALUE words (filter parameters on the command line, in the QEMU hook's environment): split
// at the first '=', a name given several times collecting a list in order.
import { invalidInput } from '../errors.js';
import { printable } from './printable.js';

export function parseNameValues(words: readonly string[], what: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq <= 0) throw invalidInput(`invalid ${what} '${printable(word)}': expected NAME=VALUE`);
    const name = word.slice(0, eq);
    out.set(name, [...(out.get(name) ?? []), word.slice(eq + 1)]);
  }
  return out;
}
