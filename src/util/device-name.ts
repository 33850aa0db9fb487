// The one rule for a network device name (a binding's port device, a TAP, a bridge, a forward
// device) wherever one comes from (XML, the API, the CLI, a state file, dnsmasq's environment):
// it goes into kernel device names, file names, firewall rules and tcpdump's arguments.
import { invalidInput, type SourceLocation } from '../errors.js';
import { printable } from './printable.js';

/**
 * The characters libvirt's generated and user-chosen names use, as a character-class body.
 * Not '+': iptables and ebtables read a trailing '+' as a wildcard (`-i vnet+` is every vnet
 * device), so such a port's rules would match other guests' traffic. Not '/' nor white space,
 * which Linux refuses.
 */
export const DEVICE_NAME_CHARS = 'A-Za-z0-9_.:-';
/** Linux IFNAMSIZ - 1. */
export const DEVICE_NAME_MAX = 15;

const DEVICE_NAME = new RegExp(`^[${DEVICE_NAME_CHARS}]{1,${DEVICE_NAME_MAX}}$`);

export const isDeviceName = (name: string): boolean => DEVICE_NAME.test(name) && name !== '.' && name !== '..';

export function checkDeviceName(name: string, what: string, loc: SourceLocation = {}): string {
  if (!isDeviceName(name)) {
    throw invalidInput(
      `invalid ${what} '${printable(name)}': at most ${DEVICE_NAME_MAX} characters of letters, digits and _.:-`,
      loc,
    );
  }
  return name;
}

/**
 * A stopped network's bridge while the kernel deletes it (network/lifecycle/retired-bridges.ts):
 * "vw~" and the link's index, unique while the link exists, at most 3 + 10 digits. '~' is no
 * character of a device name above, so no name a user or libvirt gives can be a retired one, and
 * a retired name is refused wherever a device name is taken.
 */
export const retiredBridgeName = (index: number): string => `vw~${index}`;
export const isRetiredBridgeName = (name: string): boolean => /^vw~\d{1,10}$/.test(name);
/** The link group retired bridges are moved into (IFLA_GROUP), deleted a group at a time. */
export const RETIRED_BRIDGE_GROUP = 0x76770001;
