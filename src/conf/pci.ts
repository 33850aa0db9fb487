// PCI addresses as device_conf.c reads and writes them (virPCIDeviceAddressParseXML/Format).
import type { XmlElement } from '../xml/dom.js';
import type { XmlWriter } from '../xml/writer.js';
import type { PciAddress } from './network/types.js';
import { badInput, parseCUInt, prop } from './xmlprops.js';

/** Field, upper bound, and printf width of the hex form (function prints as 0x%d). */
const FIELDS: readonly { name: keyof PciAddress; max: number; width: number }[] = [
  { name: 'domain', max: 0xffff, width: 4 },
  { name: 'bus', max: 0xff, width: 2 },
  { name: 'slot', max: 0x1f, width: 2 },
  { name: 'function', max: 7, width: 0 },
];

export function parsePciAddress(el: XmlElement): PciAddress {
  const addr: PciAddress = { domain: 0, bus: 0, slot: 0, function: 0 };
  for (const f of FIELDS) {
    const text = prop(el, f.name);
    if (text === undefined) continue;
    const v = parseCUInt(text, 0);
    if (v === undefined) throw badInput(el, `Cannot parse <address> '${f.name}' attribute`, f.name);
    addr[f.name] = v;
  }
  for (const f of FIELDS) {
    if (addr[f.name] > f.max) {
      throw badInput(
        el,
        `Invalid PCI address ${f.name}='0x${addr[f.name].toString(16)}', must be <= 0x${f.max.toString(16).toUpperCase()}`,
        f.name,
      );
    }
  }
  return addr;
}

export function samePciAddress(a: PciAddress, b: PciAddress): boolean {
  return FIELDS.every((f) => a[f.name] === b[f.name]);
}

export function formatPciAddress(w: XmlWriter, addr: PciAddress, withType: boolean): void {
  const hex = (v: number, width: number) => (width ? `0x${v.toString(16).padStart(width, '0')}` : `0x${v}`);
  w.empty('address', [
    ['type', withType ? 'pci' : undefined],
    ...FIELDS.map((f) => [f.name, hex(addr[f.name], f.width)] as const),
  ]);
}

/** libvirt's text for an address in messages: dddd:bb:ss.f */
export function pciAddressText(addr: PciAddress): string {
  return `${addr.domain.toString(16).padStart(4, '0')}:${addr.bus.toString(16).padStart(2, '0')}:${addr.slot.toString(16).padStart(2, '0')}.${addr.function.toString(16)}`;
}
