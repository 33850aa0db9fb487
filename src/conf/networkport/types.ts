// Typed form of libvirt's <networkport> (virNetworkPortDef, src/conf/virnetworkportdef.h): one
// guest interface's port on a network, with how it is plugged in.
import type { Bandwidth, HostdevDriver, PciAddress, Vlan, VirtualPortProfile } from '../network/types.js';

export type MacvlanMode = 'vepa' | 'private' | 'bridge' | 'passthrough';

export type PortPlug =
  | { type: 'none' }
  | { type: 'network' | 'bridge'; bridge: string; macTableManager?: 'kernel' | 'libvirt' }
  | { type: 'direct'; dev: string; mode: MacvlanMode }
  | { type: 'hostdev-pci'; managed?: boolean; driver?: HostdevDriver; address: PciAddress };

export interface NetworkPortDef {
  /** Lower-case canonical UUID of the port. */
  uuid: string;
  owner: { name: string; uuid: string };
  /** Portgroup the port belongs to. */
  group?: string;
  /** Guest MAC, lower-case text. */
  mac: string;
  virtualPort?: VirtualPortProfile;
  bandwidth?: Bandwidth;
  /** tc class id assigned for the port's bandwidth (live state). */
  classId?: number;
  vlan?: Vlan;
  isolatedPort?: boolean;
  trustGuestRxFilters?: boolean;
  plug: PortPlug;
}
