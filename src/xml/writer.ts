// Writes XML the way libvirt's formatters do: single-quoted attributes, two-space indentation,
// empty elements self-closed, and libvirt's escaping (virBufferEscapeString).

export type AttrValue = string | number | boolean | undefined | null;
export type Attrs = ReadonlyArray<readonly [string, AttrValue]>;

const ESCAPES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' };

/** libvirt's attribute/text escaping; control characters other than TAB/LF/CR are dropped. */
export function escapeXml(value: string): string {
  // eslint-disable-next-line no-control-regex
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters XML 1.0 cannot carry are what this removes
  return value.replace(/[<>&'"]|[\x01-\x08\x0b\x0c\x0e-\x1f]/g, (c) => ESCAPES[c] ?? '');
}

export function formatAttrs(attrs: Attrs): string {
  let out = '';
  for (const [name, value] of attrs) {
    if (value === undefined || value === null) continue;
    out += ` ${name}='${escapeXml(String(value))}'`;
  }
  return out;
}

export class XmlWriter {
  private readonly lines: string[] = [];
  private depth: number;

  constructor(depth = 0) {
    this.depth = depth;
  }

  private pad(): string {
    return '  '.repeat(this.depth);
  }

  /** `<name attrs/>` */
  empty(name: string, attrs: Attrs = []): this {
    this.lines.push(`${this.pad()}<${name}${formatAttrs(attrs)}/>`);
    return this;
  }

  /** `<name attrs>text</name>`; omitted entirely when text is undefined. */
  text(name: string, text: AttrValue, attrs: Attrs = []): this {
    if (text === undefined || text === null) return this;
    this.lines.push(`${this.pad()}<${name}${formatAttrs(attrs)}>${escapeXml(String(text))}</${name}>`);
    return this;
  }

  /**
   * An element whose children are written by `body`; self-closed when the body writes nothing
   * (libvirt's virXMLFormatElement).
   */
  element(name: string, attrs: Attrs, body?: (w: XmlWriter) => void): this {
    const inner = new XmlWriter(this.depth + 1);
    body?.(inner);
    if (inner.lines.length === 0) return this.empty(name, attrs);
    this.lines.push(`${this.pad()}<${name}${formatAttrs(attrs)}>`);
    this.lines.push(...inner.lines);
    this.lines.push(`${this.pad()}</${name}>`);
    return this;
  }

  /** Like `element`, but omitted entirely (not self-closed) when the body writes nothing. */
  elementIfChildren(name: string, attrs: Attrs, body: (w: XmlWriter) => void): this {
    const inner = new XmlWriter(this.depth + 1);
    body(inner);
    if (inner.lines.length === 0) return this;
    this.lines.push(`${this.pad()}<${name}${formatAttrs(attrs)}>`);
    this.lines.push(...inner.lines);
    this.lines.push(`${this.pad()}</${name}>`);
    return this;
  }

  /** Like `element`, but always written with an open and a close tag, even when empty. */
  block(name: string, attrs: Attrs, body: (w: XmlWriter) => void): this {
    const inner = new XmlWriter(this.depth + 1);
    body(inner);
    this.lines.push(`${this.pad()}<${name}${formatAttrs(attrs)}>`, ...inner.lines, `${this.pad()}</${name}>`);
    return this;
  }

  /** Pre-formatted lines, indented to the current depth (multi-line strings are split). */
  raw(text: string): this {
    for (const line of text.split('\n')) this.lines.push(this.pad() + line);
    return this;
  }

  get isEmpty(): boolean {
    return this.lines.length === 0;
  }

  toString(): string {
    return this.lines.length ? `${this.lines.join('\n')}\n` : '';
  }
}
