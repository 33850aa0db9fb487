// Which packets the last drops were: when the counters show drops (drops.ts), the dashboard traces
// the ports that dropped for a moment (nwfilter-trace's machinery, verdict drop only) and keeps the
// dropped packets it sees with their rule. Sampled and bounded: at most one such trace at a time,
// of at most MAX_PORTS ports, SAMPLE_MS long or SAMPLE_COUNT packets, and none for COOLDOWN_MS
// after; the newest MAX_SAMPLES packets are kept. A guest that keeps sending what its filter drops
// is caught; a single dropped packet is counted (drops.ts) but has passed before a trace starts.
import type { Logger } from 'pino';
import type { TraceLine, Tracer } from '../trace/tracer.js';
import type { DropEvent } from './drops.js';

export const MAX_SAMPLES = 20;
const MAX_PORTS = 8;
const SAMPLE_MS = 3000;
const SAMPLE_COUNT = 5;
const COOLDOWN_MS = 10_000;

export class DropSamples {
  private readonly samples: TraceLine[] = [];
  private busy = false;
  private nextAt = 0;

  constructor(
    private readonly tracer: Tracer,
    private readonly log: Logger,
  ) {}

  /** New drop events seen in the counters: trace their ports for a moment, unless one runs or ran lately. */
  seen(events: readonly DropEvent[], now = Date.now()): void {
    if (events.length === 0 || this.busy || now < this.nextAt) return;
    const ports = [...new Set(events.flatMap((e) => e.ports))].slice(0, MAX_PORTS);
    if (ports.length === 0) return;
    this.busy = true;
    void this.trace(ports)
      .catch((err: unknown) =>
        this.log.warn({ err: (err as Error).message }, 'dashboard: sampling dropped packets failed'),
      )
      .finally(() => {
        this.busy = false;
        this.nextAt = Date.now() + COOLDOWN_MS;
      });
  }

  private async trace(ports: string[]): Promise<void> {
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const close = await this.tracer.open(
      { ports, verdict: 'drop', count: SAMPLE_COUNT },
      (line) => {
        this.samples.push(line);
        this.samples.splice(0, Math.max(0, this.samples.length - MAX_SAMPLES));
      },
      finish,
    );
    const timer = setTimeout(finish, SAMPLE_MS);
    await done;
    clearTimeout(timer);
    await close();
  }

  /** The kept packets, newest first. */
  recent(): TraceLine[] {
    return [...this.samples].reverse();
  }
}
