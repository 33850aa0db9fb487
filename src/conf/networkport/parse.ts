// <networkport> XML -> NetworkPortDef (virNetworkPortDefParseXML).
import { parseXml, firstChild, type XmlElement } from '../../xml/dom.js';
import { formatMac, parseMac } from '../../util/address.js';
import { parseUuid } from '../uuid.js';
import { badInput, childText, parseDocument, prop, tristateProp } from '../xmlprops.js';
import { parseBandwidth } from '../netdev/bandwidth.js';
import { parseVlan } from '../netdev/vlan.js';
import { parseVirtualPort } from '../netdev/vport.js';
import { parsePciAddress } from '../pci.js';
import { parseHostdevDriver } from '../hostdev-driver.js';
import type { MacvlanMode, NetworkPortDef, PortPlug } from './types.js';

export const PLUG_TYPES = ['none', 'network', 'bridge', 'direct', 'hostdev-pci'] as const;
/** virNetDevMacVLanMode, in enum order (the first is the default). */
export const MACVLAN_MODES: readonly MacvlanMode[] = ['vepa', 'private', 'bridge', 'passthrough'];

export function parseNetworkPort(text: string, file?: string): NetworkPortDef {
  return parseNetworkPortElement(parseXml(text, file));
}

export function parseNetworkPortElement(root: XmlElement): NetworkPortDef {
  return parseDocument(root, parsePort);
}

function uuidOf(parent: XmlElement, missing: string): string {
  const text = childText(parent, 'uuid');
  if (text === undefined) throw badInput(parent, missing);
  const uuid = parseUuid(text);
  if (!uuid) throw badInput(firstChild(parent, 'uuid')!, `Unable to parse UUID '${text}'`);
  return uuid;
}

function parsePort(root: XmlElement): NetworkPortDef {
  if (root.name !== 'networkport') throw badInput(root, 'unknown root element for network port');
  const uuid = uuidOf(root, 'network port has no uuid');
  const ownerEl = firstChild(root, 'owner');
  const ownerName = ownerEl && childText(ownerEl, 'name');
  if (!ownerEl || ownerName === undefined) throw badInput(ownerEl ?? root, 'network port has no owner name');
  const ownerUuid = uuidOf(ownerEl, 'network port has no owner UUID');

  const macEl = firstChild(root, 'mac');
  const macText = macEl?.attrs['address'] || undefined;
  if (!macEl || macText === undefined) throw badInput(macEl ?? root, 'network port has no mac');
  const mac = parseMac(macText);
  if (!mac) throw badInput(macEl, `Unable to parse MAC '${macText}'`, 'address');

  const port: NetworkPortDef = {
    uuid,
    owner: { name: ownerName, uuid: ownerUuid },
    group: childText(root, 'group'),
    mac: formatMac(mac),
    plug: { type: 'none' },
  };
  const vport = firstChild(root, 'virtualport');
  if (vport) port.virtualPort = parseVirtualPort(vport, false);
  const bw = firstChild(root, 'bandwidth');
  if (bw) {
    // floor is allowed here; whether the network permits it is checked when the port is used
    const parsed = parseBandwidth(bw, true, true);
    port.bandwidth = parsed.bandwidth;
    port.classId = parsed.classId;
  }
  const vlan = firstChild(root, 'vlan');
  if (vlan) port.vlan = parseVlan(vlan);
  port.isolatedPort = tristateProp(firstChild(root, 'port'), 'isolated');
  port.trustGuestRxFilters = tristateProp(firstChild(root, 'rxfilters'), 'trustGuest');
  const plugEl = firstChild(root, 'plug');
  if (plugEl) port.plug = parsePlug(plugEl);
  return port;
}

function parsePlug(el: XmlElement): PortPlug {
  const type = prop(el, 'type');
  if (type === undefined) return { type: 'none' };
  if (!(PLUG_TYPES as readonly string[]).includes(type)) {
    throw badInput(el, `Invalid value for attribute 'type' in element 'plug': '${type}'.`, 'type');
  }
  switch (type as (typeof PLUG_TYPES)[number]) {
    case 'none':
      return { type: 'none' };
    case 'network':
    case 'bridge': {
      const bridge = prop(el, 'bridge');
      if (bridge === undefined) throw badInput(el, 'Missing network port bridge name', 'bridge');
      const mtm = prop(el, 'macTableManager');
      if (mtm !== undefined && mtm !== 'kernel' && mtm !== 'libvirt') {
        throw badInput(el, `Invalid macTableManager setting '${mtm}' in network port`, 'macTableManager');
      }
      return { type: type as 'network' | 'bridge', bridge, macTableManager: mtm as 'kernel' | 'libvirt' | undefined };
    }
    case 'direct': {
      const dev = prop(el, 'dev');
      if (dev === undefined) throw badInput(el, 'Missing network port link device name', 'dev');
      const mode = prop(el, 'mode');
      if (mode !== undefined && !MACVLAN_MODES.includes(mode as MacvlanMode))
        throw badInput(el, `Invalid mode setting '${mode}' in network port`, 'mode');
      return { type: 'direct', dev, mode: (mode as MacvlanMode | undefined) ?? MACVLAN_MODES[0]! };
    }
    case 'hostdev-pci': {
      const managed = tristateProp(el, 'managed');
      const driverEl = firstChild(el, 'driver');
      const driver = driverEl && parseHostdevDriver(driverEl);
      const addrEl = firstChild(el, 'address');
      if (!addrEl) throw badInput(el, 'Missing network port PCI address');
      return { type: 'hostdev-pci', managed, driver, address: parsePciAddress(addrEl) };
    }
  }
}
