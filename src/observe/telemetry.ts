// What the daemon records about its own work as it happens: API requests (JSON API and libvirt
// RPC) and reconciles with what they repaired. Recorded always (a few counter increments per
// request), exposed only by the read-only listeners (listener.ts). Metric names follow
// Prometheus' conventions: `virtwall_` prefix, base units (seconds), `_total` for counters.
// prom-client (some 35 ms of a daemon's start) is loaded only when metrics_listen is set.
import type { Counter, Histogram, Registry } from 'prom-client';

/** Which API a request came through. */
export type Api = 'http' | 'libvirt';

/** The two halves of a reconcile (daemon.ts): the nwfilter rules, the running networks. */
export type ReconcilePart = 'nwfilter' | 'network';

/** One reconcile half that ran, for the dashboard's health panel. */
export interface ReconcileEvent {
  time: number;
  part: ReconcilePart;
  reason: string;
  seconds: number;
  /** Repairs it made (ports, network rule sets, dnsmasq, zones); 0: all was intact. */
  repairs: number;
  error?: string;
}

export class Telemetry {
  readonly started = Date.now();
  /** The last reconcile of each part, and the last one that repaired something. */
  lastReconcile: ReconcileEvent | undefined;
  lastHeal: ReconcileEvent | undefined;

  /** None: metrics_listen is unset, nothing would read them (the dashboard reads the events above). */
  constructor(private readonly metrics?: TelemetryMetrics) {}

  /** The registry the metrics listener exposes (listener.ts, metrics.ts). */
  get registry(): Registry {
    if (!this.metrics) throw new Error('telemetry was made without metrics (metrics_listen unset)');
    return this.metrics.registry;
  }

  request(api: Api, command: string, outcome: string, seconds: number): void {
    this.metrics?.requests.inc({ api, command, outcome });
    this.metrics?.requestSeconds.observe({ api, command }, seconds);
  }

  /** Runs one reconcile half; `repairsOf` counts by kind what its result says was repaired. */
  async reconcile<T>(
    part: ReconcilePart,
    reason: string,
    run: () => Promise<T>,
    repairsOf: (result: T) => Record<string, number>,
  ): Promise<T> {
    const t0 = performance.now();
    const done = (repairs: number, error?: string) => {
      const seconds = (performance.now() - t0) / 1000;
      this.metrics?.reconcileSeconds.observe({ part }, seconds);
      this.metrics?.reconciles.inc({
        part,
        reason,
        outcome: error !== undefined ? 'failed' : repairs > 0 ? 'repaired' : 'intact',
      });
      this.lastReconcile = {
        time: Date.now(),
        part,
        reason,
        seconds,
        repairs,
        ...(error !== undefined ? { error } : {}),
      };
      if (repairs > 0 || error !== undefined) this.lastHeal = this.lastReconcile;
    };
    try {
      const result = await run();
      const byKind = repairsOf(result);
      for (const [kind, n] of Object.entries(byKind)) if (n > 0) this.metrics?.repairs.inc({ kind }, n);
      done(Object.values(byKind).reduce((a, b) => a + b, 0));
      return result;
    } catch (err) {
      done(0, (err as Error).message);
      throw err;
    }
  }
}

/** The request and reconcile metrics in a registry of their own (to which metrics.ts adds the scrape-time ones). */
export interface TelemetryMetrics {
  registry: Registry;
  requests: Counter;
  requestSeconds: Histogram;
  reconciles: Counter;
  reconcileSeconds: Histogram;
  repairs: Counter;
}

/** Loads prom-client and makes the metrics Telemetry records into. */
export async function telemetryMetrics(): Promise<TelemetryMetrics> {
  const { Counter, Histogram, Registry } = await import('prom-client');
  const registry = new Registry();
  return {
    registry,
    requests: new Counter({
      name: 'virtwall_api_requests_total',
      help: 'API requests answered, by API (http: the JSON API, libvirt: the RPC sockets), command and outcome (ok, or the error kind)',
      labelNames: ['api', 'command', 'outcome'],
      registers: [registry],
    }),
    requestSeconds: new Histogram({
      name: 'virtwall_api_request_duration_seconds',
      help: 'Time from a request read to its answer, by API and command',
      labelNames: ['api', 'command'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [registry],
    }),
    reconciles: new Counter({
      name: 'virtwall_reconcile_total',
      help: 'Reconciles of the kernel state against the records, by part, reason (start-up, kernel change, SIGHUP, periodic, firewalld ...) and outcome (intact, repaired, failed)',
      labelNames: ['part', 'reason', 'outcome'],
      registers: [registry],
    }),
    reconcileSeconds: new Histogram({
      name: 'virtwall_reconcile_duration_seconds',
      help: 'Duration of a reconcile, by part',
      labelNames: ['part'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    repairs: new Counter({
      name: 'virtwall_heal_repairs_total',
      help: 'Things a reconcile put back, by kind (nwfilter_port, network_firewall, dnsmasq, firewalld_zone)',
      labelNames: ['kind'],
      registers: [registry],
    }),
  };
}
