// The nftables nwfilter backend's rule counters, read from the kernel for metrics and the
// dashboard. Every rule of ours carries `counter` and a comment naming its filter path and
// priority (src/backends/nftables/trace.ts). Ports whose filters have the same shape share
// chains (compile.ts), so a rule's counter is its shape's: which port has which shape the
// backend knows (it loaded them), so only the rules are listed.
//
// Not through NftClient.list: its bodies have their counters zeroed (rules compare without
// them), and it lists set elements, which at 10,000 ports takes nft about a second. `nft -t`
// (terse: no elements) lists every chain with its counters in a few ms.
import type { CommandRunner } from '../exec/runner.js';
import { TABLE } from '../backends/nftables/model.js';
import { ruleOrigin } from '../backends/nftables/trace.js';
import type { Json } from '../nft/objects.js';

/** What a rule does with a packet it matches (nft's verdict statement; `continue` for none). */
export type Verdict = 'accept' | 'drop' | 'reject' | 'return' | 'continue';

/** The counter of one rule (or the sum of a shape's rules with the same origin in one chain). */
export interface RuleCounter {
  family: string;
  /** The shape's chain suffix: `from`, `to`, `from_ipv4_ip`, `fwd_from`, `host`, ... */
  chain: string;
  shape: string;
  /** Filter names from the bound filter down to the one holding the rule. */
  path: string;
  priority: number;
  verdict: Verdict;
  packets: number;
  bytes: number;
}

export interface CounterSnapshot {
  /** When it was read (ms since the epoch). */
  time: number;
  rules: RuleCounter[];
  /** Port device -> the shape its chains belong to. */
  shapeOf: ReadonlyMap<string, string>;
  /** Shape -> its ports, sorted. */
  portsOf: ReadonlyMap<string, readonly string[]>;
}

type JsonObject = { readonly [k: string]: Json };
const isObject = (v: Json | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const items = (text: string): JsonObject[] => {
  const list = (JSON.parse(text) as JsonObject)['nftables'];
  return Array.isArray(list) ? (list as Json[]).filter(isObject) : [];
};

/** A shape's chain name: `s` and ten hex digits, `_`, the suffix. */
const SHAPE_CHAIN = /^(s[0-9a-f]{10})_(\w+)$/;
const VERDICTS: readonly Verdict[] = ['accept', 'drop', 'reject', 'return'];

/** The rules of our tables in a `nft -t -j list ruleset`, counters summed per shape, chain and origin. */
export function ruleCounters(listing: string): RuleCounter[] {
  const sums = new Map<string, RuleCounter>();
  for (const item of items(listing)) {
    const rule = item['rule'];
    if (!isObject(rule) || rule['table'] !== TABLE || typeof rule['comment'] !== 'string') continue;
    const chain = SHAPE_CHAIN.exec(String(rule['chain']));
    const origin = ruleOrigin(rule['comment']);
    const expr = Array.isArray(rule['expr']) ? (rule['expr'] as Json[]).filter(isObject) : [];
    const counter = expr.map((s) => s['counter']).find(isObject);
    // jumps enter libvirt's sub-chains: they are the layout, not rules of a filter
    if (!chain || !origin || !counter || expr.some((s) => 'jump' in s || 'goto' in s)) continue;
    const verdict = VERDICTS.find((v) => expr.some((s) => v in s)) ?? 'continue';
    const r: RuleCounter = {
      family: String(rule['family']),
      shape: chain[1]!,
      chain: chain[2]!,
      path: origin.path.join('/'),
      priority: origin.priority,
      verdict,
      packets: Number(counter['packets']),
      bytes: Number(counter['bytes']),
    };
    const k = `${r.family} ${r.shape} ${r.chain} ${r.path} ${r.priority} ${r.verdict}`;
    const seen = sums.get(k);
    if (!seen) sums.set(k, r);
    else {
      seen.packets += r.packets;
      seen.bytes += r.bytes;
    }
  }
  return [...sums.values()];
}

/** How old a snapshot may be when it is handed out again. */
export const COUNTERS_MAX_AGE_MS = 1000;

/**
 * Reads the counters at most once a second, whoever asks (a scrape, the dashboard's sampler);
 * callers at the same time share one read.
 */
export class CounterReader {
  private last: CounterSnapshot | undefined;
  private pending: Promise<CounterSnapshot> | undefined;
  /** The last port -> shape map and its ports by shape. */
  private shaped: { shapeOf: ReadonlyMap<string, string>; portsOf: ReadonlyMap<string, readonly string[]> } = {
    shapeOf: new Map(),
    portsOf: new Map(),
  };

  /** `shapes`: port -> shape as the backend loaded them (a new map after every change). */
  constructor(
    private readonly runner: CommandRunner,
    private readonly shapes: () => ReadonlyMap<string, string>,
  ) {}

  read(): Promise<CounterSnapshot> {
    if (this.last && Date.now() - this.last.time < COUNTERS_MAX_AGE_MS) return Promise.resolve(this.last);
    this.pending ??= this.readNow().finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async readNow(): Promise<CounterSnapshot> {
    const time = Date.now();
    const r = await this.runner.run(['nft', '-t', '-j', 'list', 'ruleset']);
    if (r.status !== 0) throw new Error(`nft -t -j list ruleset failed with status ${r.status}: ${r.stderr.trim()}`);
    const shapeOf = this.shapes();
    if (shapeOf !== this.shaped.shapeOf) this.shaped = { shapeOf, portsOf: portsByShape(shapeOf) };
    this.last = { time, rules: ruleCounters(r.stdout), ...this.shaped };
    return this.last;
  }
}

/** Shape -> its ports, sorted. */
function portsByShape(shapeOf: ReadonlyMap<string, string>): Map<string, string[]> {
  const portsOf = new Map<string, string[]>();
  for (const [port, shape] of shapeOf) {
    if (!portsOf.has(shape)) portsOf.set(shape, []);
    portsOf.get(shape)!.push(port);
  }
  for (const ports of portsOf.values()) ports.sort();
  return portsOf;
}
