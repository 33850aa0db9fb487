// The three things the benches bind ports with, behind one shape: virtwall's nftables and
// ebiptables backends (instantiation included in the time, as libvirt's includes its own), and
// libvirt's nwfilter driver (one virsh process per single bind, one virsh session for a bulk).
import type { NwfilterBackendName } from '../../src/nwfilter/backend.js';
import { LibvirtNwfilter } from './libvirt.js';
import { cleanTrafficPort, type BenchNet } from './net.js';

export type BinderName = NwfilterBackendName | 'libvirt';
export const BINDERS: readonly BinderName[] = ['nftables', 'ebiptables', 'libvirt'];

export interface Binder {
  /** Binds port `ports[0]`... in one change (one apply, or one virsh session). */
  bind(ports: readonly number[]): Promise<void>;
  stop(): Promise<void>;
}

export async function startBinder(name: BinderName, net: BenchNet): Promise<Binder> {
  if (name === 'libvirt') {
    const lv = await LibvirtNwfilter.start(net.host);
    return { bind: async (ports) => lv.bind(lv.bindingFiles(ports)), stop: () => lv.stop() };
  }
  const backend = await net.backend(name);
  return {
    bind: (ports) => backend.apply({ set: ports.map((i) => cleanTrafficPort(i)), remove: [] }),
    stop: async () => {},
  };
}
