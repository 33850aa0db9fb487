// The bindings libvirt's qemu hook asks for: one per interface of a guest's domain XML that has a
// <filterref> and a host device. Loaded by `virtwall hook libvirt-qemu` only (hooks.ts).
import { invalidInput } from '../../errors.js';
import type { FilterBindingDef } from '../../conf/nwfilterbinding/index.js';
import { parseFilterParams } from '../../conf/nwfilter/params.js';
import { parseUuid } from '../../conf/uuid.js';
import { formatMac, parseMac } from '../../util/address.js';
import { childElements, firstChild, parseXml, textContent } from '../../xml/dom.js';

/** The guest interfaces with a <filterref> and a host device, as bindings (libvirt domain XML). */
export function domainBindings(domainXml: string): FilterBindingDef[] {
  const dom = parseXml(domainXml, 'domain');
  if (dom.name !== 'domain') throw invalidInput('expected a <domain> document on stdin');
  const name = textContent(firstChild(dom, 'name') ?? dom).trim();
  const uuid = parseUuid(textContent(firstChild(dom, 'uuid') ?? dom).trim());
  if (!name || !uuid) throw invalidInput('domain has no name or uuid');
  const devices = firstChild(dom, 'devices');
  return (devices ? childElements(devices, 'interface') : []).flatMap((iface) => {
    const ref = firstChild(iface, 'filterref');
    const dev = firstChild(iface, 'target')?.attrs['dev'];
    const mac = parseMac(firstChild(iface, 'mac')?.attrs['address'] ?? '');
    if (!ref || !dev || !mac) return [];
    return [
      {
        owner: { name, uuid },
        portdev: dev,
        mac: formatMac(mac),
        filter: ref.attrs['filter'] ?? '',
        params: parseFilterParams(ref),
      },
    ];
  });
}
