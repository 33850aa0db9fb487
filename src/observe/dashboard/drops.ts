// The dashboard's "last drops": sampled from counter deltas. Between two reads of the counters,
// a drop (or reject) rule whose packet count grew is one event: rule X of filter Y on the ports
// of shape Z dropped N packets at time T. Bounded: the newest MAX_DROPS are kept. (Which packets
// they were needs nftables tracing: `virtwall nwfilter-trace`, issue #16 section 2.)
import type { CounterSnapshot, RuleCounter } from '../counters.js';

export const MAX_DROPS = 50;

export interface DropEvent {
  /** When the growth was seen (ms since the epoch). */
  time: number;
  shape: string;
  chain: string;
  path: string;
  priority: number;
  verdict: 'drop' | 'reject';
  /** Packets dropped since the previous read. */
  packets: number;
  /** The ports of the shape at that time (the drop was on one of them; exactly it when one). */
  ports: string[];
}

const ruleKey = (r: RuleCounter) => `${r.family} ${r.shape} ${r.chain} ${r.path} ${r.priority} ${r.verdict}`;

export class DropLog {
  private previous: Map<string, number> | undefined;
  private readonly events: DropEvent[] = [];

  /** Takes a new snapshot; returns the events it added. The first one only sets the baseline. */
  update(s: CounterSnapshot): DropEvent[] {
    const now = new Map(s.rules.map((r) => [ruleKey(r), r.packets]));
    const added: DropEvent[] = [];
    if (this.previous) {
      for (const r of s.rules) {
        if (r.verdict !== 'drop' && r.verdict !== 'reject') continue;
        // a rule new since the last read (a port bound) counts from 0; a smaller count was reset
        const before = this.previous.get(ruleKey(r)) ?? 0;
        if (r.packets <= before) continue;
        added.push({
          time: s.time,
          shape: r.shape,
          chain: r.chain,
          path: r.path,
          priority: r.priority,
          verdict: r.verdict,
          packets: r.packets - before,
          ports: [...(s.portsOf.get(r.shape) ?? [])],
        });
      }
    }
    this.previous = now;
    this.events.push(...added);
    this.events.splice(0, Math.max(0, this.events.length - MAX_DROPS));
    return added;
  }

  /** The kept events, newest first. */
  recent(): DropEvent[] {
    return [...this.events].reverse();
  }
}
