// The daemon's read-only listeners: Prometheus' /metrics (metrics_listen) and the dashboard
// (dashboard_listen), each off unless configured. The one place main.ts calls.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ListenAddress } from '../daemon/config.js';
import type { Daemon } from '../daemon/daemon.js';
import type { CommandRunner } from '../exec/runner.js';
import { CounterReader } from './counters.js';
import { Dashboard } from './dashboard/server.js';
import { DropSamples } from './dashboard/drop-samples.js';
import type { Tracer } from './trace/tracer.js';
import { registerMetrics, type BuildInfo } from './metrics.js';
import { readOnlyHandler, SAFE_HEADERS } from './read-only-http.js';

export interface ObserveOptions {
  metrics?: ListenAddress;
  dashboard?: ListenAddress;
  build: BuildInfo;
  runner: CommandRunner;
  /** Port -> shape from the nftables backend (rule counters are per shape); none with ebiptables. */
  portShapes?: () => ReadonlyMap<string, string>;
  log: Logger;
  /** Live tracing (nftables backend): the dashboard samples dropped packets with it. */
  tracer?: Tracer;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** Connections each read-only listener serves at once; more are closed at once. */
export const MAX_CONNECTIONS = 32;

/** Starts the configured listeners; resolves once they listen. `close()` stops them. */
export async function startObserve(daemon: Daemon, o: ObserveOptions): Promise<{ close(): Promise<void> }> {
  if (!o.metrics && !o.dashboard) return { close: async () => {} };
  const counters = o.portShapes ? new CounterReader(o.runner, o.portShapes) : undefined;
  const servers: Server[] = [];
  const serve = async (at: ListenAddress, routes: Map<string, Handler>, what: string) => {
    const server = createServer(
      readOnlyHandler(at.port, routes, (err) => o.log.error({ err: err.message }, `${what} request failed`)),
    );
    // anyone who reaches it may connect: open pages (event streams) and scrapers are few
    server.maxConnections = MAX_CONNECTIONS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: at.host, port: at.port }, resolve);
    });
    servers.push(server);
  };
  let dashboard: Dashboard | undefined;
  try {
    if (o.metrics) {
      const metrics = registerMetrics(daemon, o.build, counters);
      await serve(
        o.metrics,
        new Map([
          [
            '/metrics',
            async (_req: IncomingMessage, res: ServerResponse) => {
              const text = await metrics.scrape();
              res.writeHead(200, { ...SAFE_HEADERS, 'content-type': daemon.telemetry.registry.contentType });
              res.end(text);
            },
          ],
        ]),
        'metrics',
      );
    }
    if (o.dashboard) {
      const samples = o.tracer && new DropSamples(o.tracer, o.log);
      dashboard = new Dashboard(daemon, o.build, counters, o.log, samples);
      await serve(o.dashboard, dashboard.routes(), 'dashboard');
    }
  } catch (err) {
    dashboard?.close();
    for (const s of servers) s.close();
    throw err;
  }
  return {
    close: async () => {
      dashboard?.close();
      const closed = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
      for (const s of servers) s.closeAllConnections();
      await Promise.all(closed);
    },
  };
}
