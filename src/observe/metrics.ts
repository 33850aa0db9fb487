// The daemon's state as Prometheus metrics, computed when scraped: the nftables rule counters
// (counters.ts), bindings and ports per filter, DHCP leases per network, IP-learning states,
// build info. Added to the Telemetry registry, which already holds the request and reconcile
// metrics, so one exposition serves all.
import { Counter, Gauge } from 'prom-client';
import type { FilterBindingDef } from '../conf/nwfilterbinding/types.js';
import type { Daemon } from '../daemon/daemon.js';
import type { CounterReader } from './counters.js';

export interface BuildInfo {
  version: string;
  nwfilterBackend: string;
  networkBackend: string;
}

/** Labels of a rule counter: where the rule is (shape, chain), where it comes from (path, priority), what it does. */
const RULE_LABELS = ['shape', 'chain', 'path', 'priority', 'verdict'] as const;

/**
 * Registers the scrape-time metrics. `counters` is absent with the ebiptables backend (its rules
 * are ebtables' and iptables', not ours to read here).
 */
export function registerMetrics(
  daemon: Daemon,
  build: BuildInfo,
  counters: CounterReader | undefined,
): { scrape(): Promise<string> } {
  const registry = daemon.telemetry.registry;
  const registers = [registry];
  // the bindings, listed once per scrape (the listing sorts them: at 10,000 ports that costs)
  let listed: FilterBindingDef[] | undefined;
  const bindings = () => (listed ??= daemon.bindings.list());
  const scrape = async () => {
    try {
      return await registry.metrics();
    } finally {
      listed = undefined;
    }
  };
  new Gauge({
    name: 'virtwall_build_info',
    help: 'The running virtwalld: version, Node.js version, backends (always 1)',
    labelNames: ['version', 'nodejs', 'nwfilter_backend', 'network_backend'],
    registers,
    collect() {
      this.set(
        {
          version: build.version,
          nodejs: process.versions.node,
          nwfilter_backend: build.nwfilterBackend,
          network_backend: build.networkBackend,
        },
        1,
      );
    },
  });
  new Gauge({
    name: 'virtwall_start_time_seconds',
    help: 'When the daemon started (seconds since the epoch)',
    registers,
    collect() {
      this.set(daemon.telemetry.started / 1000);
    },
  });
  new Gauge({
    name: 'virtwall_nwfilter_bindings',
    help: 'Filter bindings, by the filter they bind',
    labelNames: ['filter'],
    registers,
    collect() {
      this.reset();
      for (const [filter, n] of countBy(bindings().map((b) => b.filter))) this.set({ filter }, n);
    },
  });
  new Gauge({
    name: 'virtwall_network_ports',
    help: 'Network ports, by network and the filter of their binding ("" for none)',
    labelNames: ['network', 'filter'],
    registers,
    collect() {
      this.reset();
      for (const [k, n] of countBy(daemon.ports.list().map((p) => JSON.stringify([p.network, p.filter ?? ''])))) {
        const [network, filter] = JSON.parse(k) as [string, string];
        this.set({ network, filter }, n);
      }
    },
  });
  new Gauge({
    name: 'virtwall_network_active',
    help: 'Whether a defined network runs (1) or not (0)',
    labelNames: ['network'],
    registers,
    collect() {
      this.reset();
      for (const n of daemon.networks.list()) this.set({ network: n.name }, n.active ? 1 : 0);
    },
  });
  new Gauge({
    name: 'virtwall_network_dhcp_leases',
    help: "DHCP leases of a running network's dnsmasq that have not expired",
    labelNames: ['network'],
    registers,
    collect() {
      this.reset();
      for (const n of daemon.networks.list().filter((x) => x.active))
        this.set({ network: n.name }, daemon.networks.leases(n.name).length);
    },
  });
  new Gauge({
    name: 'virtwall_ip_learning_ports',
    help: 'Bound ports learning their IP addresses, by state (learning: the drop-all learning policy is on; learned; failed: drops all traffic)',
    labelNames: ['state'],
    registers,
    collect() {
      this.reset();
      const states = bindings().map((b) => daemon.learning.stateOf(b.portdev));
      for (const state of ['learning', 'learned', 'failed'] as const)
        this.set({ state }, states.filter((s) => s === state).length);
    },
  });
  if (!counters) return { scrape };

  // one read of the kernel's counters serves all of a scrape's metrics (the reader keeps it 1 s)
  const read = () => counters.read();
  const ruleCounter = (unit: 'packets' | 'bytes') =>
    new Counter({
      name: `virtwall_nwfilter_rule_${unit}_total`,
      help: `${unit === 'packets' ? 'Packets' : 'Bytes'} matched by a filter rule (nft counter), by shape (the chains ports with equal filters share: see virtwall_nwfilter_shape_ports), chain, filter path, priority and verdict`,
      labelNames: RULE_LABELS,
      registers,
      async collect() {
        const s = await read().catch(() => undefined);
        this.reset();
        for (const r of s?.rules ?? [])
          this.inc(
            { shape: r.shape, chain: r.chain, path: r.path, priority: String(r.priority), verdict: r.verdict },
            r[unit],
          );
      },
    });
  ruleCounter('packets');
  ruleCounter('bytes');
  new Gauge({
    name: 'virtwall_nwfilter_shape_ports',
    help: "Ports whose rules are a shape's chains (its rule counters count them all: a port's own when 1)",
    labelNames: ['shape'],
    registers,
    async collect() {
      const s = await read().catch(() => undefined);
      this.reset();
      for (const [shape, ports] of s?.portsOf ?? []) this.set({ shape }, ports.length);
    },
  });
  // one series per port: set again only when the ports or their shapes changed (at 10,000 ports
  // setting them is most of a scrape's time)
  let shown: { shapeOf: unknown; ports: string } | undefined;
  new Gauge({
    name: 'virtwall_nwfilter_port_info',
    help: 'A bound port, the filter it binds and the shape of its rules (always 1)',
    labelNames: ['port', 'filter', 'shape'],
    registers,
    async collect() {
      const s = await read().catch(() => undefined);
      const ports = bindings()
        .map((b) => `${b.portdev} ${b.filter}`)
        .join('\n');
      if (shown && shown.shapeOf === s?.shapeOf && shown.ports === ports) return;
      shown = { shapeOf: s?.shapeOf, ports };
      this.reset();
      for (const b of bindings())
        this.set({ port: b.portdev, filter: b.filter, shape: s?.shapeOf.get(b.portdev) ?? '' }, 1);
    },
  });
  new Gauge({
    name: 'virtwall_nwfilter_counters_up',
    help: 'Whether the last scrape read the nft rule counters (1) or failed (0)',
    registers,
    async collect() {
      this.set(
        await read()
          .then(() => 1)
          .catch(() => 0),
      );
    },
  });
  return { scrape };
}

function countBy(values: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const v of values) out.set(v, (out.get(v) ?? 0) + 1);
  return out;
}
