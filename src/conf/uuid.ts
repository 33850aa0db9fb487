// UUIDs as libvirt reads and prints them (virUUIDParse / virUUIDFormat / virUUIDGenerate).
import { createHash, randomUUID } from 'node:crypto';

const ASCII_SPACE = /^[ \t\n\v\f\r]*/;

/**
 * libvirt's liberal UUID syntax: 32 hex digits in pairs, with '-' or ' ' allowed between pairs
 * and white space around. Returns the canonical lowercase 8-4-4-4-12 form.
 */
export function parseUuid(text: string): string | undefined {
  const s = text.replace(ASCII_SPACE, '');
  let hex = '';
  let i = 0;
  while (hex.length < 32) {
    const c = s[i];
    if (c === '-' || c === ' ') {
      i++;
      continue;
    }
    const pair = s.slice(i, i + 2);
    if (!/^[0-9a-fA-F]{2}$/.test(pair)) return undefined;
    hex += pair.toLowerCase();
    i += 2;
  }
  if (!/^[ \t\n\v\f\r]*$/.test(s.slice(i))) return undefined;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A new random UUID, as libvirt makes one for a definition that has none. */
export function generateUuid(): string {
  return randomUUID();
}

/** RFC 4122 version-5 (SHA-1, name-based) UUID: the same namespace and name always give the same UUID. */
export function nameBasedUuid(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
