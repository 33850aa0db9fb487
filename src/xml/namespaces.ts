// XML namespaces over the tree of dom.ts, which keeps qualified names as written: the
// declarations in force at an element decide which namespace its prefix stands for.
import type { XmlElement } from './dom.js';

/** Prefix -> namespace URI ('' is the default namespace). */
export type Scope = Readonly<Record<string, string>>;

export function prefixOf(qname: string): string {
  const i = qname.indexOf(':');
  return i < 0 ? '' : qname.slice(0, i);
}

export function localNameOf(qname: string): string {
  return qname.slice(qname.indexOf(':') + 1);
}

/** The xmlns / xmlns:p declarations written on `el`. */
export function declarations(el: XmlElement): Record<string, string> {
  const decl: Record<string, string> = {};
  for (const name of el.attrOrder) {
    if (name === 'xmlns') decl[''] = el.attrs[name]!;
    else if (name.startsWith('xmlns:')) decl[name.slice(6)] = el.attrs[name]!;
  }
  return decl;
}

/** The scope inside `el`, given the scope outside it. */
export function scopeIn(el: XmlElement, outer: Scope): Scope {
  return { ...outer, ...declarations(el) };
}

/** Namespace declarations in scope at `target`, found by walking down from `root`. */
export function scopeAt(root: XmlElement, target: XmlElement): Scope | undefined {
  const walk = (el: XmlElement, outer: Scope): Scope | undefined => {
    const scope = scopeIn(el, outer);
    if (el === target) return scope;
    for (const c of el.children) {
      if (c.kind !== 'element') continue;
      const found = walk(c, scope);
      if (found) return found;
    }
    return undefined;
  };
  return walk(root, {});
}
