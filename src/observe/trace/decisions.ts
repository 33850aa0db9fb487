// From trace events to decisions: which of our rules (or which hook's policy) let a packet of a
// port through or dropped it, in which direction. A packet's events come one per rule it passes
// in every table that traces it; only our table's count. Per packet (trace id) we keep its
// headers and the ports it came from and goes to (the bridge family's iif/oif: in the inet family
// the interface is the bridge), and per hook which port chain the dispatch jumped to: its entry
// name says the direction (compile.ts names port chains SHAPE_ENTRY). A traced port's dispatch
// jumps to a trace chain named after the port chain it goes to (compile.ts traceTarget); in the
// hook where the flag is set, the trace chain's own events are the first of the packet there, and
// its hooked chain's come only after it. Pure; bounded memory.
import { traceTarget } from '../../backends/nftables/compile.js';
import type { Family } from '../../nft/objects.js';
import type { TraceEvent } from '../../nft/trace-events.js';
import { packetSummary } from './packet.js';

export type Direction = 'from' | 'to';

export interface Decision {
  /** ms since the epoch, when the deciding event was read. */
  time: number;
  /** ifindex of the port (the caller names it). */
  ifindex: number;
  direction: Direction;
  packet: string;
  verdict: 'accept' | 'drop';
  /** The rule that decided; none: no rule did, the hook's policy accepted. */
  rule?: { family: Family; chain: string; handle: number };
}

/** Our hooked chains are named after their hooks (compile.ts LAYOUTS). */
const BASE_CHAINS = new Set(['prerouting', 'input', 'forward', 'postrouting']);
/** Entry chains of packets going to the port (libvirt's "out of the bridge" side). */
const TO_ENTRIES = ['_to', '_fwd_to'];
/** The direction of a port chain (SHAPE_ENTRY); none for a trace chain's bare `from`/`to` (no port chain there). */
const directionOf = (chain: string): Direction | undefined =>
  !chain.includes('_') ? undefined : TO_ENTRIES.some((s) => chain.endsWith(s)) ? 'to' : 'from';
const DIRECTION_OF_HOOK: Readonly<Record<string, Direction>> = {
  prerouting: 'from',
  input: 'from',
  forward: 'from',
  postrouting: 'to',
};
/** Packets followed at once; the oldest is forgotten first (its later events decide nothing). */
const MAX_PACKETS = 4096;

interface PacketState {
  ll?: Buffer;
  network?: Buffer;
  transport?: Buffer;
  iif?: number;
  oif?: number;
  /** The base chain being passed (`family chain`) and the direction its dispatch chose. */
  hook?: string;
  direction?: Direction;
  /** A trace chain was entered since the last event of a base chain (its hook's are still to come). */
  entered?: boolean;
}

export class DecisionTracker {
  private readonly packets = new Map<number, PacketState>();

  /** `table`: our table's name; events of other tables only feed the packet's headers. */
  constructor(private readonly table: string) {}

  /** The decision `e` makes, if it makes one. */
  add(e: TraceEvent, now: number): Decision | undefined {
    let p = this.packets.get(e.id);
    if (!p) {
      p = {};
      this.packets.set(e.id, p);
      if (this.packets.size > MAX_PACKETS) this.packets.delete(this.packets.keys().next().value!);
    }
    if (e.ll && !p.ll) p.ll = e.ll;
    if (e.network && !p.network) p.network = e.network;
    if (e.transport && !p.transport) p.transport = e.transport;
    if (e.family === 'bridge') {
      if (e.iif !== undefined) p.iif = e.iif;
      if (e.oif !== undefined) p.oif = e.oif;
    }
    if (e.table !== this.table) return undefined;
    const base = BASE_CHAINS.has(e.chain);
    if (base && p.hook !== `${e.family} ${e.chain}`) {
      p.hook = `${e.family} ${e.chain}`;
      if (!p.entered) p.direction = undefined;
    }
    if (base) p.entered = false;
    const traced = traceTarget(e.chain);
    if (traced !== undefined) {
      p.entered = true;
      p.direction = directionOf(traced) ?? p.direction;
    }
    if (base && e.type === 'rule' && (e.verdict === 'jump' || e.verdict === 'goto') && e.target)
      p.direction = directionOf(traceTarget(e.target) ?? e.target);
    const decides = e.type === 'rule' ? e.verdict === 'accept' || e.verdict === 'drop' : false;
    // a policy decides for a port only when the hook dispatched the packet to one
    const byPolicy = base && e.type === 'policy' && p.direction !== undefined;
    if (!decides && !byPolicy) return undefined;
    const direction = p.direction ?? DIRECTION_OF_HOOK[p.hook?.split(' ')[1] ?? e.chain] ?? 'from';
    const ifindex = direction === 'from' ? p.iif : p.oif;
    if (ifindex === undefined) return undefined;
    const d: Decision = {
      time: now,
      ifindex,
      direction,
      packet: packetSummary(p.ll, p.network, p.transport),
      verdict: e.verdict === 'drop' ? 'drop' : 'accept',
    };
    if (decides && e.handle !== undefined) d.rule = { family: e.family, chain: e.chain, handle: e.handle };
    // a drop ends the packet; an accept ends this hook only
    if (d.verdict === 'drop') this.packets.delete(e.id);
    else p.direction = undefined;
    return d;
  }
}
