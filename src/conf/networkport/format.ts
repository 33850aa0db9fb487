// NetworkPortDef -> <networkport> XML (virNetworkPortDefFormatBuf).
import { XmlWriter } from '../../xml/writer.js';
import { yesNo } from '../xmlprops.js';
import { formatBandwidth } from '../netdev/bandwidth.js';
import { formatVlan } from '../netdev/vlan.js';
import { formatVirtualPort } from '../netdev/vport.js';
import { formatPciAddress } from '../pci.js';
import { formatHostdevDriver } from '../hostdev-driver.js';
import type { NetworkPortDef, PortPlug } from './types.js';

export function formatNetworkPort(port: NetworkPortDef): string {
  const w = new XmlWriter();
  w.block('networkport', [], (p) => {
    p.text('uuid', port.uuid);
    p.block('owner', [], (o) => {
      o.text('name', port.owner.name);
      o.text('uuid', port.owner.uuid);
    });
    p.text('group', port.group);
    p.empty('mac', [['address', port.mac]]);
    formatVirtualPort(p, port.virtualPort);
    formatBandwidth(p, port.bandwidth, port.classId);
    formatVlan(p, port.vlan);
    if (port.isolatedPort !== undefined) p.empty('port', [['isolated', yesNo(port.isolatedPort)]]);
    if (port.trustGuestRxFilters !== undefined) p.empty('rxfilters', [['trustGuest', yesNo(port.trustGuestRxFilters)]]);
    formatPlug(p, port.plug);
  });
  return w.toString();
}

function formatPlug(w: XmlWriter, plug: PortPlug): void {
  switch (plug.type) {
    case 'none':
      return;
    case 'network':
    case 'bridge':
      w.empty('plug', [
        ['type', plug.type],
        ['bridge', plug.bridge],
        ['macTableManager', plug.macTableManager],
      ]);
      return;
    case 'direct':
      w.empty('plug', [
        ['type', plug.type],
        ['dev', plug.dev],
        ['mode', plug.mode],
      ]);
      return;
    case 'hostdev-pci':
      w.block(
        'plug',
        [
          ['type', plug.type],
          ['managed', plug.managed === undefined ? undefined : yesNo(plug.managed)],
        ],
        (p) => {
          formatHostdevDriver(p, plug.driver);
          formatPciAddress(p, plug.address, false);
        },
      );
  }
}
