// <metadata>: application data libvirt keeps verbatim. On parse libvirt copies the node (a
// namespace declared outside it moves onto <metadata>), drops children without a namespace or
// repeating an earlier child's namespace (virXMLNodeSanitizeNamespaces), and formats it with
// libxml2's dumper (double quotes, libxml2 escaping and indentation) rather than its own writer.
import type { XmlElement, XmlNode } from '../../xml/dom.js';
import { declarations, prefixOf, type Scope } from '../../xml/namespaces.js';

/** libxml2's keepBlanks(0): white-space-only text between elements is not kept. */
function dropBlanks(el: XmlElement): XmlElement {
  const hasElements = el.children.some((c) => c.kind === 'element');
  const children: XmlNode[] = [];
  for (const c of el.children) {
    if (c.kind === 'text' && !c.cdata && hasElements && c.text.trim() === '') continue;
    children.push(c.kind === 'element' ? dropBlanks(c) : c);
  }
  return { ...el, children };
}

/** Prefixes used in the subtree but not declared inside it. */
function undeclaredPrefixes(el: XmlElement, declared: ReadonlySet<string>, out: Set<string>): void {
  const here = new Set([...declared, ...Object.keys(declarations(el))]);
  const used = [
    prefixOf(el.name),
    ...el.attrOrder.filter((a) => a !== 'xmlns' && !a.startsWith('xmlns:') && a.includes(':')).map(prefixOf),
  ];
  for (const p of used) if (p !== 'xml' && !here.has(p)) out.add(p);
  for (const c of el.children) if (c.kind === 'element') undeclaredPrefixes(c, here, out);
}

/** The metadata element as libvirt keeps it; `scope` holds the declarations in force at it. */
export function sanitizeMetadata(metadata: XmlElement, scope: Scope): XmlElement {
  const own = declarations(metadata);
  const seen = new Set<string>();
  const kept: XmlElement[] = [];
  for (const c of metadata.children) {
    if (c.kind !== 'element') continue;
    const childScope = { ...scope, ...declarations(c) };
    const ns = childScope[prefixOf(c.name)];
    if (!ns || seen.has(ns)) continue;
    seen.add(ns);
    kept.push(dropBlanks(c));
  }
  const copy: XmlElement = {
    ...metadata,
    attrs: { ...metadata.attrs },
    attrOrder: [...metadata.attrOrder],
    children: kept,
  };
  const missing = new Set<string>();
  for (const c of kept) undeclaredPrefixes(c, new Set(Object.keys(own)), missing);
  for (const p of missing) {
    const uri = scope[p];
    if (uri === undefined) continue;
    const name = p === '' ? 'xmlns' : `xmlns:${p}`;
    copy.attrs[name] = uri;
    copy.attrOrder.push(name);
  }
  return copy;
}

function escapeNonAscii(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the range is all of ASCII; what lies outside becomes a character reference
  return s.replace(/[^\x00-\x7f]/gu, (c) => `&#x${c.codePointAt(0)!.toString(16).toUpperCase()};`);
}

function escapeText(s: string): string {
  return escapeNonAscii(s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#13;'));
}

function escapeAttr(s: string): string {
  const map: Record<string, string> = {
    '&': '&amp;',
    '<': '&lt;',
    '>': '&gt;',
    '"': '&quot;',
    '\n': '&#10;',
    '\r': '&#13;',
    '\t': '&#9;',
  };
  return escapeNonAscii(s.replace(/[&<>"\n\r\t]/g, (c) => map[c]!));
}

/** xmlNodeDump(level, format=1): namespace declarations first, then attributes. */
function dump(node: XmlNode, level: number, format: boolean): string {
  if (node.kind === 'text') return node.cdata ? `<![CDATA[${node.text}]]>` : escapeText(node.text);
  if (node.kind === 'comment') return `<!--${node.text}-->`;
  const isDecl = (a: string) => a === 'xmlns' || a.startsWith('xmlns:');
  const order = [...node.attrOrder.filter(isDecl), ...node.attrOrder.filter((a) => !isDecl(a))];
  const attrs = order.map((a) => ` ${a}="${escapeAttr(node.attrs[a]!)}"`).join('');
  if (node.children.length === 0) return `<${node.name}${attrs}/>`;
  const indentChildren = format && !node.children.some((c) => c.kind === 'text' && !c.cdata);
  let out = `<${node.name}${attrs}>`;
  for (const c of node.children) {
    out += indentChildren ? `\n${'  '.repeat(level + 1)}` : '';
    out += dump(c, level + 1, indentChildren);
  }
  if (indentChildren) out += `\n${'  '.repeat(level)}`;
  return `${out}</${node.name}>`;
}

/** virXMLFormatMetadata's text, relative to the element's own indentation (the caller adds it). */
export function dumpMetadata(metadata: XmlElement): string {
  return dump(metadata, 0, true);
}
