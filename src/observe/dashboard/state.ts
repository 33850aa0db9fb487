// What the dashboard page shows, as one JSON value: networks with their ports and leases, the
// bound ports with their filter and drop counts, the rule counters of their shapes, the last
// drops, the daemon's health. Built from the daemon's records and one counter snapshot.
import type { Daemon } from '../../daemon/daemon.js';
import type { CounterSnapshot } from '../counters.js';
import type { BuildInfo } from '../metrics.js';
import type { ReconcileEvent } from '../telemetry.js';
import type { DropEvent } from './drops.js';
import type { TraceLine } from '../trace/tracer.js';

/** Ports drawn and listed at most (a host with thousands shows the first ones and the count). */
export const MAX_PORTS = 300;

export interface PortView {
  port: string;
  network?: string;
  filter?: string;
  shape?: string;
  /** Other ports sharing the shape's chains (and so its counters). */
  sharedWith: number;
  learning?: 'learning' | 'learned' | 'failed';
  /** Packets the shape's drop and reject rules dropped. */
  dropped: number;
}

export interface RuleView {
  shape: string;
  chain: string;
  path: string;
  priority: number;
  verdict: string;
  packets: number;
  bytes: number;
}

export interface DashboardState {
  time: number;
  health: {
    version: string;
    nodejs: string;
    nwfilterBackend: string;
    networkBackend: string;
    started: number;
    lastReconcile?: ReconcileEvent;
    lastHeal?: ReconcileEvent;
    /** Why the rule counters could not be read, if they could not. */
    countersError?: string;
  };
  networks: {
    name: string;
    bridge?: string;
    active: boolean;
    leases: { ip: string; mac?: string; hostname?: string; expiry: number }[];
  }[];
  ports: PortView[];
  /** Bound ports not shown (beyond MAX_PORTS). */
  morePorts: number;
  rules: RuleView[];
  drops: DropEvent[];
  /** Dropped packets with their rule, sampled by tracing (drop-samples.ts), newest first. */
  dropSamples: TraceLine[];
}

export function dashboardState(
  daemon: Daemon,
  build: BuildInfo,
  counters: CounterSnapshot | undefined,
  countersError: string | undefined,
  drops: DropEvent[],
  dropSamples: TraceLine[] = [],
): DashboardState {
  const t = daemon.telemetry;
  const networks = daemon.networks.list().map((n) => ({
    name: n.name,
    ...(n.bridge !== undefined ? { bridge: n.bridge } : {}),
    active: n.active,
    leases: n.active
      ? daemon.networks
          .leases(n.name)
          .map((l) => ({ ip: l.ipAddress, mac: l.mac, hostname: l.hostname, expiry: l.expiryTime }))
      : [],
  }));
  const networkOf = new Map(
    daemon.ports.list().flatMap((p) => (p.tap !== undefined ? [[p.tap, p.network] as const] : [])),
  );
  const droppedBy = new Map<string, number>();
  for (const r of counters?.rules ?? [])
    if (r.verdict === 'drop' || r.verdict === 'reject')
      droppedBy.set(r.shape, (droppedBy.get(r.shape) ?? 0) + r.packets);
  const bindings = daemon.bindings.list();
  const ports = bindings.slice(0, MAX_PORTS).map((b): PortView => {
    const shape = counters?.shapeOf.get(b.portdev);
    const network = networkOf.get(b.portdev);
    const learning = daemon.learning.stateOf(b.portdev);
    return {
      port: b.portdev,
      ...(network !== undefined ? { network } : {}),
      filter: b.filter,
      ...(shape !== undefined ? { shape } : {}),
      sharedWith: shape === undefined ? 0 : (counters!.portsOf.get(shape)?.length ?? 1) - 1,
      ...(learning !== undefined ? { learning } : {}),
      dropped: shape === undefined ? 0 : (droppedBy.get(shape) ?? 0),
    };
  });
  const shown = new Set(ports.flatMap((p) => (p.shape !== undefined ? [p.shape] : [])));
  return {
    time: Date.now(),
    health: {
      version: build.version,
      nodejs: process.versions.node,
      nwfilterBackend: build.nwfilterBackend,
      networkBackend: build.networkBackend,
      started: t.started,
      ...(t.lastReconcile ? { lastReconcile: t.lastReconcile } : {}),
      ...(t.lastHeal ? { lastHeal: t.lastHeal } : {}),
      ...(countersError !== undefined ? { countersError } : {}),
    },
    networks,
    ports,
    morePorts: bindings.length - ports.length,
    rules: (counters?.rules ?? []).filter((r) => shown.has(r.shape)).map(({ family: _, ...r }) => r),
    drops,
    dropSamples,
  };
}
