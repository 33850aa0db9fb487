// What the nftables golden files hold: each stock filter bound to one port, with the variables
// the stock filters use, compiled into the transaction a host without virtwall tables gets
// (what `virtwall nwfilter-compile --backend nftables` prints, FILTER.nft; the same batch in nft's
// JSON, FILTER.batch.json), and the kernel's form of it (what `nft -j list table` shows once it
// is loaded, FILTER.json). Shared by the test and by scripts/golden-nftables.ts, which writes the files.
import { fileURLToPath } from 'node:url';
import { bindBatch } from '../../../src/backends/nftables/print.js';
import type { Batch } from '../../../src/nft/batch.js';
import { loadStockFilters } from '../../../src/conf/nwfilter/stock.js';
import { instantiateBinding } from '../../../src/nwfilter/binding.js';
import { MapFilterSource } from '../../../src/nwfilter/source.js';
import type { Json } from '../../../src/nft/objects.js';
import type { NetnsLab } from '../../support/netns.js';

export const GOLDEN_DIR = fileURLToPath(new URL('./nftables/', import.meta.url));

const MAC = '52:54:00:12:34:56';
const PARAMS: Record<string, string[]> = {
  IP: ['192.168.122.10', '192.168.122.11'],
  IPV6: ['fd00::10'],
  DHCPSERVER: ['192.168.122.1'],
  GATEWAY_MAC: ['52:54:00:00:00:01'],
};
/** Filters whose variables take other values (DHCPSERVER is an IPv6 address for DHCPv6). */
const PARAMS_OF: Record<string, Record<string, string[]>> = {
  'allow-dhcpv6-server': { DHCPSERVER: ['fd00::1'] },
};

/** Each stock filter's bind batch, by filter name. */
export function stockBatches(): Map<string, Batch> {
  const filters = loadStockFilters();
  const source = new MapFilterSource(filters.values());
  const out = new Map<string, Batch>();
  for (const name of [...filters.keys()].sort()) {
    const params = new Map(Object.entries({ ...PARAMS, ...PARAMS_OF[name] }));
    const instances = instantiateBinding({ portdev: 'vnet0', mac: MAC, filter: name, params }, source);
    out.set(name, bindBatch('vnet0', MAC, instances, false));
  }
  return out;
}

/**
 * Our tables as the kernel lists them after loading `script` in namespace `ns` (nft's JSON, without
 * handles, counters zeroed): the kernel's form of a golden transaction.
 */
export function kernelForm(lab: NetnsLab, ns: string, script: string): Json[] {
  lab.exec(ns, ['nft', '-f', '-'], true, script);
  const out: Json[] = [];
  for (const family of ['bridge', 'inet']) {
    const listed = lab.exec(ns, ['nft', '-j', 'list', 'table', family, 'virtwall_nwf'], false);
    if (listed.status !== 0) continue;
    const items = (JSON.parse(listed.stdout) as { nftables: Json[] }).nftables;
    out.push(...items.filter((i) => !('metainfo' in (i as object))).map(withoutState));
  }
  lab.exec(ns, ['nft', 'flush', 'ruleset']);
  return out;
}

function withoutState(v: Json): Json {
  if (Array.isArray(v)) return v.map(withoutState);
  if (typeof v !== 'object' || v === null) return v;
  const o = v as Record<string, Json>;
  if ('counter' in o && Object.keys(o).length === 1) return { counter: { packets: 0, bytes: 0 } };
  return Object.fromEntries(
    Object.entries(o)
      .filter(([k]) => k !== 'handle')
      .map(([k, x]) => [k, withoutState(x)]),
  );
}
