// Variable references in attribute values, read and printed as libvirt does
// (virNWFilterVarAccessParse / virNWFilterVarAccessPrint): `NAME` is iterator 0, `NAME[@n]`
// iterator n, `NAME[n]` element n. White space is allowed inside the brackets and anything
// after the closing bracket is ignored.
import { scanUInt } from '../../util/strtol.js';
import type { VarRef } from './types.js';

/** libvirt's VIR_NWFILTER_MAX_ITERID. */
export const MAX_ITERATOR_ID = 1000;

const VAR_NAME = /^[A-Za-z0-9_]*/;
const SPACE = /^[ \t\n\f\r]*/;

/** Parses the text after `$`; a message saying what is wrong when it is malformed. */
export function parseVarRef(text: string): VarRef | string {
  const name = VAR_NAME.exec(text)![0];
  let rest = text.slice(name.length);
  if (rest === '') return { kind: 'iterator', name, iterId: 0 };
  if (rest[0] !== '[') return 'malformed variable';
  rest = rest.slice(1).replace(SPACE, '');
  const iterator = rest.startsWith('@');
  if (iterator) rest = rest.slice(1);
  const n = scanUInt(rest);
  if (!n || rest.slice(n.length).replace(SPACE, '')[0] !== ']')
    return iterator ? 'malformed iterator id' : 'malformed array index';
  if (!iterator) return { kind: 'element', name, index: n.value };
  if (n.value > MAX_ITERATOR_ID) return `iterator id exceeds the maximum of ${MAX_ITERATOR_ID}`;
  return { kind: 'iterator', name, iterId: n.value };
}

/** The reference as libvirt prints it, without the `$`. */
export function formatVarRef(ref: VarRef): string {
  if (ref.kind === 'element') return `${ref.name}[${ref.index}]`;
  return ref.iterId === 0 ? ref.name : `${ref.name}[@${ref.iterId}]`;
}

export function sameVarRef(a: VarRef, b: VarRef): boolean {
  return formatVarRef(a) === formatVarRef(b);
}
