// The dnsmasq XML namespace of network definitions (bridge_driver.c's networkDnsmasqXmlNs):
// <dnsmasq:options><dnsmasq:option value='...'/></dnsmasq:options> adds raw dnsmasq.conf lines.
// Elements are matched by namespace URI, whatever prefix the document binds it to.
import { childElements, type XmlElement } from '../../xml/dom.js';
import type { XmlWriter } from '../../xml/writer.js';

export const DNSMASQ_NS_URI = 'http://libvirt.org/schemas/network/dnsmasq/1.0';
export const DNSMASQ_NS_PREFIX = 'dnsmasq';

function prefixesFor(root: XmlElement): string[] {
  return root.attrOrder.filter((a) => a.startsWith('xmlns:') && root.attrs[a] === DNSMASQ_NS_URI).map((a) => a.slice(6));
}

/** Values of ./dnsmasq:options/dnsmasq:option[@value] under the root. */
export function parseDnsmasqOptions(root: XmlElement): string[] {
  const values: string[] = [];
  for (const prefix of prefixesFor(root)) {
    for (const options of childElements(root, `${prefix}:options`)) {
      for (const option of childElements(options, `${prefix}:option`)) {
        const value = option.attrs['value'];
        if (value !== undefined) values.push(value);
      }
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
