// The daemon's live tracing (`virtwall nwfilter-trace`): trace sessions, each a client's stream of
// decisions on some ports. While any session runs, the nftables backend traces the union of
// their ports (their dispatch entries jump to trace chains: backends/nftables/compile.ts
// TracePhase; no other port's packets run a rule more), one netlink socket in group
// NFNLGRP_NFTRACE receives the kernel's trace events (read every POLL_MS, never blocking the
// event loop), DecisionTracker turns them into decisions, and each is named by the comment of
// the rule that made it (trace.ts: filter path and priority; listings of our table give handle
// -> comment) and the rule's XML. The last session on a port to end stops tracing it. A daemon
// killed while tracing leaves its ports traced; the next one's first reconcile stops that (its
// backend traces no port).
import type { Logger } from 'pino';
import { formatRule } from '../../conf/nwfilter/format.js';
import type { FilterDef } from '../../conf/nwfilter/types.js';
import { invalidInput } from '../../errors.js';
import { ruleOrigin } from '../../backends/nftables/trace.js';
import { NETLINK_NETFILTER, NETLINK_ROUTE, NetlinkSocket } from '../../netlink/socket.js';
import { getLink, parseLink } from '../../netlink/rtnetlink.js';
import type { NftClient } from '../../nft/client.js';
import type { Family } from '../../nft/objects.js';
import { NFNLGRP_NFTRACE } from '../../nft/nfnetlink.js';
import { parseTraceEvent } from '../../nft/trace-events.js';
import { SerialQueue } from '../../util/serial-queue.js';
import { DecisionTracker, type Decision, type Direction } from './decisions.js';

const POLL_MS = 50;
/** What arrives between two reads; more is lost and said so. */
const RECEIVE_BUFFER = 4 << 20;

/** One line of a trace: a decision on a traced port, named. */
export interface TraceLine {
  /** ISO 8601, ms. */
  time: string;
  port: string;
  direction: Direction;
  packet: string;
  verdict: 'accept' | 'drop';
  /** The filters from the bound one down to the rule's (a cut path starts with `...`). */
  filter?: string;
  priority?: number;
  /** The XML of the rule(s) of that filter and priority. */
  rules?: string[];
  /** Our rule's comment when it names no filter (`mac_filter`), or `policy` when no rule decided. */
  by?: string;
}

export interface TraceRequest {
  ports: string[];
  verdict?: 'accept' | 'drop';
  count?: number;
}

interface Session {
  ports: Set<string>;
  verdict?: 'accept' | 'drop';
  left: number;
  emit(line: TraceLine): void;
  end(): void;
}

export interface TracerDeps {
  /** Lists our table (rule handles and comments). */
  nft: NftClient;
  /** Traces exactly these ports (the nftables backend's trace()). */
  trace(ports: readonly string[]): Promise<void>;
  /** Our nwfilter table and its families. */
  table: string;
  families: readonly Family[];
  /** A filter by name, for the XML of the rule that decided. */
  filter(name: string): FilterDef | undefined;
  log: Logger;
}

export class Tracer {
  private readonly sessions = new Set<Session>();
  private readonly changes = new SerialQueue();
  private ports: string[] = [];
  private socket?: NetlinkSocket;
  private timer?: NodeJS.Timeout;
  private tracker?: DecisionTracker;
  private readonly comments = new Map<string, string>();
  private readonly names = new Map<number, string>();
  private lost = false;

  constructor(private readonly deps: TracerDeps) {}

  /**
   * Starts tracing `req.ports` for a client; `emit` gets its lines until the count is reached
   * (then `end`) or close() is called (the client went away).
   */
  async open(req: TraceRequest, emit: (line: TraceLine) => void, end: () => void): Promise<() => Promise<void>> {
    if (req.ports.length === 0) throw invalidInput('no port to trace: no binding exists');
    const s: Session = {
      ports: new Set(req.ports),
      verdict: req.verdict,
      left: req.count ?? Number.POSITIVE_INFINITY,
      emit,
      end,
    };
    this.sessions.add(s);
    try {
      await this.changes.run(() => this.apply());
    } catch (err) {
      this.sessions.delete(s);
      await this.changes.run(() => this.apply()).catch(() => undefined);
      throw err;
    }
    return () => this.close(s);
  }

  /** Ends every session (the daemon stops): no port stays traced. */
  async closeAll(): Promise<void> {
    for (const s of this.sessions) s.end();
    this.sessions.clear();
    await this.changes.run(() => this.apply());
  }

  private async close(s: Session): Promise<void> {
    if (!this.sessions.delete(s)) return;
    await this.changes.run(() => this.apply());
  }

  /** Brings the traced ports and the event socket to what the sessions need. */
  private async apply(): Promise<void> {
    const want = [...new Set([...this.sessions].flatMap((s) => [...s.ports]))].sort();
    // events are read from before the first port is traced
    if (want.length > 0) this.startEvents();
    this.ports = want;
    this.names.clear();
    await this.deps.trace(want);
    if (want.length === 0) this.stopEvents();
  }

  private startEvents(): void {
    // still open after a failed start
    if (this.socket) return;
    const socket = NetlinkSocket.open(NETLINK_NETFILTER);
    socket.subscribe(NFNLGRP_NFTRACE, RECEIVE_BUFFER);
    this.socket = socket;
    this.tracker = new DecisionTracker(this.deps.table);
    let busy = false;
    this.timer = setInterval(() => {
      if (busy) return;
      busy = true;
      void this.read()
        .catch((err: unknown) => this.deps.log.error({ err: (err as Error).message }, 'reading trace events failed'))
        .finally(() => (busy = false));
    }, POLL_MS);
  }

  private stopEvents(): void {
    clearInterval(this.timer);
    this.socket?.close();
    this.socket = undefined;
    this.tracker = undefined;
  }

  private async read(): Promise<void> {
    const socket = this.socket;
    const tracker = this.tracker;
    if (!socket || !tracker) return;
    const { messages, overrun } = socket.drain();
    if (overrun && !this.lost) this.deps.log.warn('trace events lost: the daemon did not read them in time');
    this.lost = overrun;
    const now = Date.now();
    for (const m of messages) {
      const e = parseTraceEvent(m);
      const d = e && tracker.add(e, now);
      if (!d) continue;
      const port = this.portName(d.ifindex);
      if (port === undefined || !this.ports.includes(port)) continue;
      const line = await this.describe(d, port);
      for (const s of this.sessions) {
        if (!s.ports.has(port) || (s.verdict && s.verdict !== line.verdict) || s.left <= 0) continue;
        s.emit(line);
        if (--s.left === 0) s.end();
      }
    }
  }

  private portName(ifindex: number): string | undefined {
    if (!this.names.has(ifindex)) {
      const socket = NetlinkSocket.open(NETLINK_ROUTE);
      try {
        const name = parseLink(socket.request((seq) => getLink(seq, { index: ifindex }))[0]!).name;
        if (name !== undefined) this.names.set(ifindex, name);
      } catch {
        return undefined; // gone meanwhile
      } finally {
        socket.close();
      }
    }
    return this.names.get(ifindex);
  }

  /** The comment of one of our rules; the table is listed again when the rule is new. */
  private async comment(rule: NonNullable<Decision['rule']>): Promise<string | undefined> {
    const key = `${rule.family} ${rule.chain} ${rule.handle}`;
    if (!this.comments.has(key)) {
      this.comments.clear();
      for (const family of this.deps.families) {
        const listed = await this.deps.nft.list(family, this.deps.table);
        for (const chain of listed?.chains.values() ?? [])
          for (const r of chain.rules)
            if (r.handle !== undefined) this.comments.set(`${family} ${chain.name} ${r.handle}`, r.comment);
      }
    }
    return this.comments.get(key);
  }

  private async describe(d: Decision, port: string): Promise<TraceLine> {
    const line: TraceLine = {
      time: new Date(d.time).toISOString(),
      port,
      direction: d.direction,
      packet: d.packet,
      verdict: d.verdict,
    };
    if (!d.rule) return { ...line, by: 'policy' };
    const comment = await this.comment(d.rule);
    const origin = comment === undefined ? undefined : ruleOrigin(comment);
    if (!origin) return { ...line, by: comment ?? `rule ${d.rule.family} ${d.rule.chain} handle ${d.rule.handle}` };
    const name = origin.path[origin.path.length - 1]!;
    const rules = (this.deps.filter(name)?.entries ?? []).flatMap((e) =>
      e.kind === 'rule' && e.priority === origin.priority ? [oneLine(formatRule(e))] : [],
    );
    return { ...line, filter: origin.path.join('/'), priority: origin.priority, rules };
  }
}

/** A rule's XML on one line: a trace line shows it after the packet. */
const oneLine = (xml: string) =>
  xml
    .split('\n')
    .map((l) => l.trim())
    .join('');
