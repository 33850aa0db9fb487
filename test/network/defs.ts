// Network definitions for unit tests, built by value with libvirt's defaults filled in.
import type { ForwardMode, NetworkDef, NetworkIp } from '../../src/conf/network/types.js';
import { parseIp } from '../../src/util/address.js';

export const addr = (text: string) => {
  const a = parseIp(text);
  if (!a) throw new Error(`bad test address ${text}`);
  return a;
};

export function ipDef(address: string, prefix: number, extra: Partial<NetworkIp> = {}): NetworkIp {
  const a = addr(address);
  return {
    family: a.family,
    familyWritten: false,
    address: a,
    prefix,
    maskForm: 'prefix',
    ranges: [],
    hosts: [],
    ...extra,
  };
}

/** A <dhcp> with one <range>. */
export function pool(start: string, end: string): Pick<NetworkIp, 'ranges'> {
  return { ranges: [{ start: addr(start), end: addr(end) }] };
}

export function networkDef(
  mode: ForwardMode,
  extra: Partial<NetworkDef> = {},
  forwardExtra: Partial<NetworkDef['forward']> = {},
): NetworkDef {
  return {
    name: 'lab',
    uuid: '81ff0d90-c91e-6742-64da-4a736edb9a9b',
    uuidSpecified: true,
    ipv6NoGateway: false,
    forward: { mode, managed: false, pfs: [], interfaces: [], ...forwardExtra },
    bridge: { name: 'vbr7', stp: true, delay: 0 },
    dns: { forwarders: [], txts: [], srvs: [], hosts: [] },
    ips: [],
    routes: [],
    portGroups: [],
    dnsmasqOptions: [],
    ...extra,
  };
}
