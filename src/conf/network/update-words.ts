// The words of a network update (virsh net-update's command and section names), apart from the
// code that applies them (update.ts), so the command line can name them without loading it.
export const UPDATE_COMMANDS = ['add-first', 'add-last', 'modify', 'delete'] as const;
export type UpdateCommand = (typeof UPDATE_COMMANDS)[number];

/** In libvirt's order (virNetworkUpdateSection: its number is the index + 1). */
export const UPDATE_SECTIONS = [
  'bridge',
  'domain',
  'ip',
  'ip-dhcp-host',
  'ip-dhcp-range',
  'forward',
  'forward-interface',
  'forward-pf',
  'portgroup',
  'dns-host',
  'dns-txt',
  'dns-srv',
] as const;
export type UpdateSection = (typeof UPDATE_SECTIONS)[number];
