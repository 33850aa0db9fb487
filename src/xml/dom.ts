// A small immutable XML tree with source positions, built with saxes (strict, well-formedness
// checked). Parsers of libvirt objects read this tree; positions let them name line:col in errors.
import { SaxesParser } from 'saxes';
import { VirtwallError, invalidInput, type SourceLocation } from '../errors.js';
import { findImproperUtf8 } from './utf8.js';

export interface XmlElement {
  kind: 'element';
  /** Qualified name as written, e.g. `dnsmasq:options`. */
  name: string;
  attrs: Record<string, string>;
  /** Attribute names in document order (libvirt's formatter does not keep it, metadata does). */
  attrOrder: string[];
  children: XmlNode[];
  line: number;
  col: number;
  file?: string;
}

export interface XmlText {
  kind: 'text';
  text: string;
  cdata: boolean;
}

export interface XmlComment {
  kind: 'comment';
  text: string;
}

export type XmlNode = XmlElement | XmlText | XmlComment;

export function parseXml(text: string, file?: string): XmlElement {
  const improper = findImproperUtf8(text);
  if (improper) {
    throw invalidInput(`Input is not proper UTF-8, indicate encoding ! Bytes: ${improper.bytes}`, {
      file,
      line: improper.line,
      col: improper.col,
    });
  }
  const parser = new SaxesParser({ position: true, xmlns: false });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let failure: Error | undefined;

  let closed: XmlElement | undefined;
  parser.on('error', (err) => {
    failure ??= invalidInput(
      libxml2Words(err.message.replace(SAXES_POSITION, ''), text.slice(0, parser.position), closed, stack.at(-1)),
      {
        file,
        line: parser.line,
        col: parser.column,
      },
    );
  });
  parser.on('opentag', (tag) => {
    const attrs: Record<string, string> = {};
    const attrOrder: string[] = [];
    for (const [k, v] of Object.entries(tag.attributes)) {
      attrs[k] = v;
      attrOrder.push(k);
    }
    const el: XmlElement = {
      kind: 'element',
      name: tag.name,
      attrs,
      attrOrder,
      children: [],
      line: parser.line,
      col: parser.column,
      file,
    };
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(el);
    else root = el;
    stack.push(el);
  });
  parser.on('closetag', () => {
    closed = stack.pop();
  });
  parser.on('text', (t) => {
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push({ kind: 'text', text: t, cdata: false });
  });
  parser.on('cdata', (t) => {
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push({ kind: 'text', text: t, cdata: true });
  });
  parser.on('comment', (t) => {
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push({ kind: 'comment', text: t });
  });

  try {
    parser.write(text).close();
  } catch (err) {
    if (!(err instanceof VirtwallError)) {
      failure ??= invalidInput((err as Error).message.replace(SAXES_POSITION, ''), {
        file,
        line: parser.line,
        col: parser.column,
      });
    }
  }
  if (failure) throw failure;
  if (!root) throw invalidInput('document has no root element', { file });
  return root;
}

/** saxes's "[file:]line:col: " before its message (the location is given apart). */
const SAXES_POSITION = /^(?:[^:]*:)?\d+:\d+: /;

/**
 * libxml2's words for the well-formedness errors that name tags (what libvirt reports), in
 * place of saxes's: a close tag that does not match, a document that ends inside an element.
 */
function libxml2Words(
  message: string,
  read: string,
  closed: XmlElement | undefined,
  open: XmlElement | undefined,
): string {
  const closeName = /<\/([^\s>]+)\s*>$/.exec(read)?.[1];
  if (message === 'unexpected close tag.' && closed && closeName)
    return `Opening and ending tag mismatch: ${closed.name} line ${closed.line} and ${closeName}`;
  if (message.startsWith('unclosed tag: ') && open)
    return `Premature end of data in tag ${open.name} line ${open.line}`;
  return message;
}

export function locationOf(el: XmlElement, attribute?: string): SourceLocation {
  return { file: el.file, line: el.line, col: el.col, element: el.name, attribute };
}

export function childElements(el: XmlElement, name?: string): XmlElement[] {
  return el.children.filter((c): c is XmlElement => c.kind === 'element' && (name === undefined || c.name === name));
}

export function firstChild(el: XmlElement, name: string): XmlElement | undefined {
  return childElements(el, name)[0];
}

/** Concatenated text content of the element's direct text children. */
export function textContent(el: XmlElement): string {
  return el.children.map((c) => (c.kind === 'text' ? c.text : c.kind === 'element' ? textContent(c) : '')).join('');
}
