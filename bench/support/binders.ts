// The three things the benches bind ports with, behind one shape: virtwall's nftables and
// ebiptables backends (instantiation included in the time, as libvirt's includes its own), and
// libvirt's nwfilter driver (one virsh process per single bind, one virsh session for a bulk).
import type { NwfilterBackendName } from '../../src/nwfilter/backend.js';
import { CountingRunner } from './counting-runner.js';
import { LibvirtNwfilter } from './libvirt.js';
import { BenchNet, cleanTrafficPort } from './net.js';
import { numberOption } from './stats.js';

export type BinderName = NwfilterBackendName | 'libvirt';
export const BINDERS: readonly BinderName[] = ['nftables', 'ebiptables', 'libvirt'];

/**
 * The largest N each binder is run at: ebiptables and libvirt cost about a second per port, so
 * they stop at `--ebiptables-max` / `--libvirt-max` (10 unless given).
 */
export function binderLimits(): Record<BinderName, number> {
  return {
    nftables: Infinity,
    ebiptables: numberOption('ebiptables-max', 10),
    libvirt: numberOption('libvirt-max', 10),
  };
}

export interface Binder {
  /** Binds port `ports[0]`... in one change (one apply, or one virsh session). */
  bind(ports: readonly number[]): Promise<void>;
  /** Milliseconds the last bind spent in the commands it ran (nft, ebtables, ...); ours only. */
  commandMs(): number | undefined;
  stop(): Promise<void>;
}

export async function startBinder(name: BinderName, net: BenchNet): Promise<Binder> {
  if (name === 'libvirt') {
    const lv = await LibvirtNwfilter.start(net.host);
    return {
      bind: async (ports) => lv.bind(lv.bindingFiles(ports)),
      commandMs: () => undefined,
      stop: () => lv.stop(),
    };
  }
  const runner = new CountingRunner(net.runner);
  const backend = await net.backend(name, runner);
  let ms = 0;
  return {
    bind: async (ports) => {
      runner.take();
      await backend.apply({ set: ports.map((i) => cleanTrafficPort(i)), remove: [] });
      ms = runner.ms;
    },
    commandMs: () => ms,
    stop: async () => {},
  };
}

/** Runs `fn` with a fresh `name` binder on a fresh bridge with n ports; all is removed afterwards. */
export async function withBinder<T>(
  name: BinderName,
  n: number,
  fn: (binder: Binder, net: BenchNet) => Promise<T>,
): Promise<T> {
  const net = new BenchNet();
  try {
    net.addPorts(0, n);
    const binder = await startBinder(name, net);
    try {
      return await fn(binder, net);
    } finally {
      await binder.stop();
    }
  } finally {
    net.cleanup();
  }
}
