// The libvirt XML documents virtwall understands, keyed by root element: one table that the
// offline `validate` and `format` commands (and anything else that accepts "some libvirt XML")
// read to detect the object type, parse it, and write it back canonically.
import { invalidInput, type Diagnostics } from '../errors.js';
import { parseXml, type XmlElement } from '../xml/dom.js';
import { formatFilter, parseFilterElement } from './nwfilter/index.js';
import { formatFilterBinding, parseFilterBindingElement } from './nwfilterbinding/index.js';
import { formatNetwork } from './network/format.js';
import { parseNetworkElement } from './network/parse.js';
import { formatNetworkPort } from './networkport/format.js';
import { parseNetworkPortElement } from './networkport/parse.js';

export interface DocumentParseOptions {
  /**
   * nwfilter attribute values libvirt calls illegal: rejected (libvirt 11), or dropped with a
   * warning (older libvirt, whose outputs the corpus still carries).
   */
  invalidValues?: 'reject' | 'drop';
}

export interface DocumentKind<T = unknown> {
  /** Root element name. */
  root: string;
  /** What libvirt calls the object (for messages). */
  description: string;
  parse(el: XmlElement, diag: Diagnostics, options: DocumentParseOptions): T;
  format(def: T): string;
}

function kind<T>(k: DocumentKind<T>): DocumentKind {
  return k as DocumentKind;
}

export const DOCUMENT_KINDS: readonly DocumentKind[] = [
  kind({
    root: 'filter',
    description: 'network filter',
    parse: (el, diag, opts) => parseFilterElement(el, diag, opts),
    format: formatFilter,
  }),
  kind({
    root: 'filterbinding',
    description: 'network filter binding',
    parse: (el) => parseFilterBindingElement(el),
    format: formatFilterBinding,
  }),
  kind({
    root: 'network',
    description: 'network',
    parse: (el) => parseNetworkElement(el),
    format: (def) => formatNetwork(def),
  }),
  kind({
    root: 'networkport',
    description: 'network port',
    parse: (el) => parseNetworkPortElement(el),
    format: formatNetworkPort,
  }),
];

export interface ParsedDocument {
  kind: DocumentKind;
  def: unknown;
}

/** Parses any supported document, choosing the parser by its root element. */
export function parseDocument(
  text: string,
  file: string | undefined,
  diag: Diagnostics,
  options: DocumentParseOptions = {},
): ParsedDocument {
  const root = parseXml(text, file);
  const k = DOCUMENT_KINDS.find((d) => d.root === root.name);
  if (!k) {
    const known = DOCUMENT_KINDS.map((d) => `<${d.root}>`).join(', ');
    throw invalidInput(`unsupported document type <${root.name}> (expected one of ${known})`, {
      file,
      line: root.line,
      col: root.col,
      element: root.name,
    });
  }
  return { kind: k, def: k.parse(root, diag, options) };
}
