// Reading and writing `<filterbinding>` documents as libvirt's virnwfilterbindingdef.c does.
import { invalidInput } from '../../errors.js';
import { formatMac, parseMac } from '../../util/address.js';
import { childElements, firstChild, locationOf, parseXml, textContent, type XmlElement } from '../../xml/dom.js';
import { XmlWriter } from '../../xml/writer.js';
import { parseFilterParams, writeFilterRef } from '../nwfilter/params.js';
import { parseUuid } from '../uuid.js';
import type { FilterBindingDef } from './types.js';

export function parseFilterBinding(text: string, file?: string): FilterBindingDef {
  return parseFilterBindingElement(parseXml(text, file));
}

/** libvirt reads with XPath string(): an empty value counts as missing. */
function required(value: string | undefined, what: string, where: XmlElement, attribute?: string): string {
  if (!value) throw invalidInput(`filter binding has no ${what}`, locationOf(where, attribute));
  return value;
}

export function parseFilterBindingElement(el: XmlElement): FilterBindingDef {
  if (el.name !== 'filterbinding') throw invalidInput('unknown root element for nwfilter binding', locationOf(el));
  const portdevEl = firstChild(el, 'portdev');
  const portdev = required(portdevEl?.attrs.name, 'port dev name', portdevEl ?? el, 'name');
  const linkdevEl = firstChild(el, 'linkdev');
  const linkdev = linkdevEl && required(linkdevEl.attrs.name, 'link dev name', linkdevEl, 'name');

  const ownerEl = firstChild(el, 'owner');
  const nameEl = ownerEl && firstChild(ownerEl, 'name');
  const ownerName = required(nameEl && textContent(nameEl), 'owner name', nameEl ?? ownerEl ?? el);
  const uuidEl = ownerEl && firstChild(ownerEl, 'uuid');
  const uuidText = required(uuidEl && textContent(uuidEl), 'owner UUID', uuidEl ?? ownerEl ?? el);
  const uuid = parseUuid(uuidText);
  if (uuid === undefined) throw invalidInput(`unable to parse UUID '${uuidText}'`, locationOf(uuidEl!));

  const macEl = firstChild(el, 'mac');
  const macText = required(macEl?.attrs.address, 'MAC address', macEl ?? el, 'address');
  const mac = parseMac(macText);
  if (mac === undefined) throw invalidInput(`unable to parse MAC '${macText}'`, locationOf(macEl!, 'address'));

  const refEl = childElements(el, 'filterref')[0];
  const filter = required(refEl?.attrs.filter, 'filter reference', refEl ?? el, 'filter');
  return {
    owner: { name: ownerName, uuid },
    portdev,
    linkdev,
    mac: formatMac(mac),
    filter,
    params: parseFilterParams(refEl!),
    source: locationOf(el),
    refSource: locationOf(refEl!, 'filter'),
  };
}

export function formatFilterBinding(def: FilterBindingDef): string {
  const w = new XmlWriter();
  w.element('filterbinding', [], (b) => {
    b.element('owner', [], (o) => o.text('name', def.owner.name).text('uuid', def.owner.uuid));
    b.empty('portdev', [['name', def.portdev]]);
    if (def.linkdev !== undefined) b.empty('linkdev', [['name', def.linkdev]]);
    b.empty('mac', [['address', def.mac]]);
    writeFilterRef(b, def.filter, def.params);
  });
  return w.toString();
}
