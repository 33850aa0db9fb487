// The firewalld zones and policies libvirt ships (libvirt-daemon's /usr/lib/firewalld files),
// as data: same names and settings, so a host that already has libvirt's files keeps them and
// virtwall's bridges behave as libvirt's there. Missing ones are added to firewalld's permanent
// configuration over D-Bus and loaded with a reload.
import type { Firewalld, Settings } from './firewalld.js';

const GUEST_SERVICES = ['dhcp', 'dhcpv6', 'dns', 'ssh', 'tftp'];
const GUEST_PROTOCOLS = ['icmp', 'ipv6-icmp'];

interface Definition {
  kind: 'zone' | 'policy';
  name: string;
  /** firewalld's addZone2 / addPolicy settings (strings 's', lists 'as'). */
  settings: Settings;
}

/** libvirt.xml, libvirt-routed.xml and the three policies of routed networks, in install order. */
export const LIBVIRT_FIREWALLD_DEFINITIONS: readonly Definition[] = [
  {
    kind: 'zone',
    name: 'libvirt',
    settings: {
      short: 'libvirt',
      description:
        'The default policy of "ACCEPT" allows all packets to/from interfaces in the zone to be forwarded, while the (*low priority*) reject rule blocks any traffic destined for the host, except those services explicitly listed (that list can be modified as required by the local admin). This zone is intended to be used only by libvirt virtual networks - libvirt will add the bridge devices for all new virtual networks to this zone by default.',
      target: 'ACCEPT',
      rules_str: ['rule priority="32767" reject'],
      protocols: GUEST_PROTOCOLS,
      services: GUEST_SERVICES,
    },
  },
  {
    kind: 'zone',
    name: 'libvirt-routed',
    settings: {
      short: 'libvirt-routed',
      description:
        'This zone is intended to be used only by routed libvirt virtual networks - libvirt will add the bridge devices for all new virtual networks to this zone by default.',
    },
  },
  {
    kind: 'policy',
    name: 'libvirt-routed-in',
    settings: {
      short: 'libvirt-routed-in',
      description: 'This policy is used to allow routed traffic to the virtual machines.',
      target: 'ACCEPT',
      ingress_zones: ['ANY'],
      egress_zones: ['libvirt-routed'],
    },
  },
  {
    kind: 'policy',
    name: 'libvirt-routed-out',
    settings: {
      short: 'libvirt-routed-out',
      description: 'This policy is used to allow routed virtual machine traffic to the rest of the network.',
      target: 'ACCEPT',
      ingress_zones: ['libvirt-routed'],
      egress_zones: ['ANY'],
    },
  },
  {
    kind: 'policy',
    name: 'libvirt-to-host',
    settings: {
      short: 'libvirt-to-host',
      description: 'This policy is used to filter traffic from virtual machines to the host.',
      target: 'REJECT',
      ingress_zones: ['libvirt-routed'],
      egress_zones: ['HOST'],
      protocols: GUEST_PROTOCOLS,
      services: GUEST_SERVICES,
    },
  },
];

/**
 * Adds the definitions firewalld lacks (zones before the policies that name them) and reloads
 * it so they take effect; returns the names added (none: nothing changed, no reload).
 */
export async function installMissingDefinitions(fw: Firewalld): Promise<string[]> {
  const present = { zone: new Set(await fw.zones()), policy: new Set(await fw.policies()) };
  const missing = LIBVIRT_FIREWALLD_DEFINITIONS.filter((d) => !present[d.kind].has(d.name));
  for (const d of missing) {
    if (d.kind === 'zone') await fw.addPermanentZone(d.name, d.settings);
    else await fw.addPermanentPolicy(d.name, d.settings);
  }
  if (missing.length > 0) await fw.reload();
  return missing.map((d) => d.name);
}
