// <driver name= model=/> of PCI host devices (virDeviceHostdevPCIDriverInfoParseXML/Format),
// used by hostdev networks and network ports.
import type { XmlElement } from '../xml/dom.js';
import type { XmlWriter } from '../xml/writer.js';
import type { HostdevDriver } from './network/types.js';
import { badInput, prop } from './xmlprops.js';

const DRIVER_NAMES: readonly NonNullable<HostdevDriver['name']>[] = ['kvm', 'vfio', 'xen'];

/** The driver, or undefined when the element says nothing. */
export function parseHostdevDriver(el: XmlElement): HostdevDriver | undefined {
  const name = prop(el, 'name');
  if (name !== undefined && !(DRIVER_NAMES as readonly string[]).includes(name)) {
    throw badInput(el, `Invalid value for attribute 'name' in element 'driver': '${name}'.`, 'name');
  }
  const model = prop(el, 'model');
  if (name === undefined && model === undefined) return undefined;
  return { name: name as HostdevDriver['name'], model };
}

/** Written only when it has an attribute. */
export function formatHostdevDriver(w: XmlWriter, driver: HostdevDriver | undefined): void {
  if (driver && (driver.name !== undefined || driver.model !== undefined))
    w.empty('driver', [
      ['name', driver.name],
      ['model', driver.model],
    ]);
}
