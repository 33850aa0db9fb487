// `<filterref filter='NAME'>` parameters (virNWFilterParseParamAttributes /
// virNWFilterFormatParamAttributes), shared by filters and filter bindings.
import { childElements, type XmlElement } from '../../xml/dom.js';
import type { XmlWriter } from '../../xml/writer.js';
import type { FilterParams } from './types.js';

/** What a parameter's name and value may be (others are skipped); also what a kept parsed binding is checked against. */
export const VALID_PARAM_NAME = /^[A-Za-z0-9_]*$/;
export const VALID_PARAM_VALUE = /^[A-Za-z0-9_.:]+$/;

/**
 * The `<parameter name value>` children of `el`. A repeated name makes a list; parameters with
 * a missing or malformed name or value are skipped, as libvirt does.
 */
export function parseFilterParams(el: XmlElement): Map<string, string[]> {
  const params = new Map<string, string[]>();
  for (const p of childElements(el, 'parameter')) {
    const { name, value } = p.attrs;
    if (name === undefined || value === undefined || !VALID_PARAM_NAME.test(name) || !VALID_PARAM_VALUE.test(value))
      continue;
    const list = params.get(name);
    if (list) list.push(value);
    else params.set(name, [value]);
  }
  return params;
}

/**
 * `<filterref>` as libvirt prints it: parameters sorted by name, one element per value, names
 * and values unescaped (libvirt prints them with %s).
 */
export function writeFilterRef(w: XmlWriter, filter: string, params: FilterParams): void {
  const names = [...params.keys()].sort();
  if (names.length === 0) {
    w.raw(`<filterref filter='${filter}'/>`);
    return;
  }
  w.raw(`<filterref filter='${filter}'>`);
  for (const name of names) {
    for (const value of params.get(name)!) w.raw(`  <parameter name='${name}' value='${value}'/>`);
  }
  w.raw('</filterref>');
}
