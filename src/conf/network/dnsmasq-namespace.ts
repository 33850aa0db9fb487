// The dnsmasq XML namespace of network definitions (bridge_driver.c's networkDnsmasqXmlNs):
// <dnsmasq:options><dnsmasq:option value='...'/></dnsmasq:options> adds raw dnsmasq.conf lines.
// Elements are matched by namespace URI, as libvirt's XPath does: whatever prefix the document
// binds it to and wherever the declaration is (on <network>, on <options>, a default xmlns).
import { childElements, type XmlElement } from '../../xml/dom.js';
import { localNameOf, prefixOf, scopeIn, type Scope } from '../../xml/namespaces.js';
import type { XmlWriter } from '../../xml/writer.js';
import { badInput } from '../xmlprops.js';

export const DNSMASQ_NS_URI = 'http://libvirt.org/schemas/network/dnsmasq/1.0';
export const DNSMASQ_NS_PREFIX = 'dnsmasq';

/** The element's name as libvirt's XPath would address it: `dnsmasq:LOCAL` in the namespace, else as written. */
export function qualifiedName(el: XmlElement, scope: Scope): string {
  return scope[prefixOf(el.name)] === DNSMASQ_NS_URI ? `${DNSMASQ_NS_PREFIX}:${localNameOf(el.name)}` : el.name;
}

/** The children of `el` (whose inner scope is `scope`) that libvirt's XPath step `dnsmasq:NAME` selects. */
function dnsmasqChildren(el: XmlElement, scope: Scope, local: string): { el: XmlElement; scope: Scope }[] {
  return childElements(el)
    .map((c) => ({ el: c, scope: scopeIn(c, scope) }))
    .filter((c) => c.scope[prefixOf(c.el.name)] === DNSMASQ_NS_URI && localNameOf(c.el.name) === local);
}

/** Values of ./dnsmasq:options/dnsmasq:option under the root; an option without value is an error, as in libvirt. */
export function parseDnsmasqOptions(root: XmlElement): string[] {
  const values: string[] = [];
  for (const options of dnsmasqChildren(root, scopeIn(root, {}), 'options')) {
    for (const option of dnsmasqChildren(options.el, options.scope, 'option')) {
      const value = option.el.attrs['value'];
      if (value === undefined) throw badInput(option.el, 'No dnsmasq options value specified', 'value');
      values.push(value);
    }
  }
  return values;
}

/** The namespace declaration for the root element, present only when there are options. */
export function dnsmasqNamespaceAttr(options: readonly string[]): readonly [string, string | undefined] {
  return [`xmlns:${DNSMASQ_NS_PREFIX}`, options.length ? DNSMASQ_NS_URI : undefined];
}

export function formatDnsmasqOptions(w: XmlWriter, options: readonly string[]): void {
  if (!options.length) return;
  w.element(`${DNSMASQ_NS_PREFIX}:options`, [], (o) => {
    for (const value of options) o.empty(`${DNSMASQ_NS_PREFIX}:option`, [['value', value]]);
  });
}
