// The dashboard's routes: the page and its two assets (share/dashboard/, served from the
// package: no CDN), the state as JSON, and server-sent events that push the state once a second
// while a page is open. A sampler reads the counters every second (also with no page open, so
// the last drops are there when one opens) and keeps the drops it sees (drops.ts), and has the
// packets of new drops sampled by tracing (drop-samples.ts).
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Daemon } from '../../daemon/daemon.js';
import type { CounterReader, CounterSnapshot } from '../counters.js';
import type { BuildInfo } from '../metrics.js';
import { SAFE_HEADERS } from '../read-only-http.js';
import type { DropSamples } from './drop-samples.js';
import { DropLog } from './drops.js';
import { dashboardState } from './state.js';

/** The page's files, two levels up from src/observe/dashboard and dist/observe/dashboard alike. */
const ASSETS = new URL('../../../share/dashboard/', import.meta.url);
const FILES: readonly (readonly [string, string, string])[] = [
  ['/', 'index.html', 'text/html; charset=utf-8'],
  ['/dashboard.js', 'dashboard.js', 'text/javascript; charset=utf-8'],
  ['/dashboard.css', 'dashboard.css', 'text/css; charset=utf-8'],
  ['/favicon.svg', 'favicon.svg', 'image/svg+xml'],
];

export const SAMPLE_MS = 1000;

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export class Dashboard {
  private readonly drops = new DropLog();
  private readonly clients = new Set<ServerResponse>();
  private last: CounterSnapshot | undefined;
  private lastError: string | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly daemon: Daemon,
    private readonly build: BuildInfo,
    private readonly counters: CounterReader | undefined,
    private readonly log: Logger,
    /** The packets of the drops, sampled by tracing (nftables backend only). */
    private readonly samples?: DropSamples,
  ) {
    this.timer = setInterval(() => void this.sample(), SAMPLE_MS);
    void this.sample();
  }

  routes(): Map<string, Handler> {
    const routes = new Map<string, Handler>();
    for (const [path, file, type] of FILES) {
      const body = readFileSync(new URL(file, ASSETS));
      routes.set(path, (_req, res) => {
        res.writeHead(200, { ...SAFE_HEADERS, 'content-type': type });
        res.end(body);
      });
    }
    routes.set('/state.json', (_req, res) => {
      res.writeHead(200, { ...SAFE_HEADERS, 'content-type': 'application/json' });
      res.end(JSON.stringify(this.state()));
    });
    routes.set('/events', (req, res) => {
      res.writeHead(200, { ...SAFE_HEADERS, 'content-type': 'text/event-stream' });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      res.write(`retry: ${SAMPLE_MS}\ndata: ${JSON.stringify(this.state())}\n\n`);
      this.clients.add(res);
      req.on('close', () => this.clients.delete(res));
    });
    return routes;
  }

  private state() {
    return dashboardState(
      this.daemon,
      this.build,
      this.last,
      this.lastError,
      this.drops.recent(),
      this.samples?.recent() ?? [],
    );
  }

  private async sample(): Promise<void> {
    if (this.counters) {
      try {
        this.last = await this.counters.read();
        this.lastError = undefined;
        this.samples?.seen(this.drops.update(this.last));
      } catch (err) {
        if (this.lastError === undefined)
          this.log.warn({ err: (err as Error).message }, 'dashboard: rule counters not read');
        this.lastError = (err as Error).message;
      }
    } else this.lastError = "the ebiptables backend's counters are not read (only the nftables backend's)";
    if (this.clients.size === 0) return;
    const data = `data: ${JSON.stringify(this.state())}\n\n`;
    for (const c of this.clients) c.write(data);
  }

  close(): void {
    clearInterval(this.timer);
    for (const c of this.clients) c.end();
  }
}
