// Reading attributes and child values the way libvirt's XML helpers do. Two families matter:
// virXMLPropString (an empty attribute is an empty string) and virXPathString (an empty result
// counts as absent). Every failure is an invalid-input error located at the element/attribute.
import { VirtwallError, invalidInput } from '../errors.js';
import { firstChild, locationOf, textContent, type XmlElement } from '../xml/dom.js';
import { parseUInt } from '../util/strtol.js';

/** An invalid-input error pointing at `el` (and `attr` when given). */
export function badInput(el: XmlElement, detail: string, attr?: string): VirtwallError {
  return invalidInput(detail, locationOf(el, attr));
}

/** virXMLPropString: the attribute as written, '' included. */
export function prop(el: XmlElement | undefined, name: string): string | undefined {
  return el?.attrs[name];
}

/** virXPathString("string(./@name)"): like prop, but an empty value counts as absent. */
export function xpathProp(el: XmlElement | undefined, name: string): string | undefined {
  const v = el?.attrs[name];
  return v === '' ? undefined : v;
}

/** virXPathString("string(./child[1])"): text of the first such child, empty counts as absent. */
export function childText(el: XmlElement, name: string): string | undefined {
  const child = firstChild(el, name);
  const text = child ? textContent(child) : '';
  return text === '' ? undefined : text;
}

/** virXMLPropTristateBool: yes/no, undefined when absent; anything else is an error. */
export function tristateProp(el: XmlElement | undefined, name: string): boolean | undefined {
  const v = prop(el, name);
  if (v === undefined || el === undefined) return undefined;
  if (v === 'yes') return true;
  if (v === 'no') return false;
  throw badInput(
    el,
    `Invalid value for attribute '${name}' in element '${el.name}': '${v}'. Expected one of 'yes', 'no'`,
    name,
  );
}

export function yesNo(value: boolean): 'yes' | 'no' {
  return value ? 'yes' : 'no';
}

/**
 * An unsigned int attribute (virXMLPropUInt / virStrToLong_ui with the given base; base 0 is
 * C's auto-detection: 0x hex, leading 0 octal). Undefined when absent.
 */
export function uintProp(el: XmlElement, name: string, base: 0 | 10 | 16 = 10, message?: string): number | undefined {
  const v = prop(el, name);
  if (v === undefined) return undefined;
  const n = parseCUInt(v, base);
  if (n === undefined) {
    throw badInput(
      el,
      message ?? `Invalid value for attribute '${name}' in element '${el.name}': '${v}'. Expected integer value`,
      name,
    );
  }
  return n;
}

/** strtoul-style unsigned parse with base 0 (auto), 10 or 16; undefined on failure. */
export function parseCUInt(text: string, base: 0 | 10 | 16): number | undefined {
  if (base !== 0) return parseUInt(text, base);
  const digits = text.replace(/^[ \t\n\v\f\r]*[+-]?/, '');
  if (/^0[xX]/.test(digits)) return parseUInt(text, 16);
  if (/^0[0-7]+$/.test(digits)) {
    const v = parseInt(digits, 8);
    return v <= 0xffffffff && !/^[ \t\n\v\f\r]*-/.test(text) ? v : undefined;
  }
  return parseUInt(text, 10);
}

/** Decimal unsigned long long (virStrToLong_ullp: no sign allowed); undefined on failure. */
export function parseULongLong(text: string): number | undefined {
  if (!/^[ \t\n\v\f\r]*\+?[0-9]+$/.test(text)) return undefined;
  const v = BigInt(text.trim().replace(/^\+/, ''));
  return v > 0xffffffffffffffffn ? undefined : Number(v);
}

/**
 * Runs a definition parser on a root element so that it fails only with VirtwallError, every
 * error naming the document's file.
 */
export function parseDocument<T>(root: XmlElement, parse: (root: XmlElement) => T): T {
  try {
    return parse(root);
  } catch (err) {
    if (err instanceof VirtwallError) throw err.withLocation({ file: root.file });
    throw invalidInput(`internal parser failure: ${(err as Error).message}`, { file: root.file });
  }
}
