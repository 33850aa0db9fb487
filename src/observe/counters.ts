// The nftables nwfilter backend's rule counters, read from the kernel for metrics and the
// dashboard. Every rule of ours carries `counter` and a comment naming its filter path and
// priority (src/backends/nftables/trace.ts). Ports whose filters have the same shape share
// chains (compile.ts), so a rule's counter is its shape's: the dispatch maps say which ports
// jump to which shape.
//
// Not through NftClient.list: its bodies have their counters zeroed (rules compare without
// them), and it lists set elements, which at 10,000 ports takes nft about a second. `nft -t`
// (terse: no elements) lists every chain with its counters in a few ms; the dispatch maps,
// whose elements name the ports, are listed again only when our chains, maps or the bound
// ports changed, meanwhile the last ones serve (a new port has no shape for that long).
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

/** Our dispatch maps' and port-mark maps' names in a terse listing, with their families. */
function ourMaps(listing: string): string[] {
  return items(listing).flatMap((i) => {
    const m = i['map'];
    return isObject(m) && m['table'] === TABLE ? [`${String(m['family'])} ${String(m['name'])}`] : [];
  });
}

/**
 * Port -> shape from the elements of our maps (`nft -j list map` outputs, one a line): a bridge dispatch map
 * element is `"vnet0" : jump sX_from`; an inet one keys a port mark, which `port_mark_from` /
 * `port_mark_to` give for each port.
 */
export function shapesOfPorts(listings: string): Map<string, string> {
  const shapeOf = new Map<string, string>();
  const byMark = new Map<number, string>();
  const portOfMark = new Map<number, string>();
  const all = listings
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap(items);
  for (const item of all) {
    const m = item['map'];
    if (!isObject(m) || m['table'] !== TABLE || !Array.isArray(m['elem'])) continue;
    for (const e of m['elem'] as Json[]) {
      const pair = Array.isArray(e)
        ? (e as Json[])
        : isObject(e) && Array.isArray(e['elem'])
          ? (e['elem'] as Json[])
          : undefined;
      if (pair?.length !== 2) continue;
      const [k, v] = pair as [Json, Json];
      const jump = isObject(v) && isObject(v['jump']) ? String(v['jump']['target']) : undefined;
      const shape = jump ? SHAPE_CHAIN.exec(jump)?.[1] : undefined;
      if (typeof k === 'string' && shape) shapeOf.set(k, shape);
      else if (typeof k === 'number' && shape) byMark.set(k, shape);
      else if (typeof k === 'string' && typeof v === 'number') portOfMark.set(v, k);
    }
  }
  for (const [mark, shape] of byMark) {
    const port = portOfMark.get(mark);
    if (port !== undefined && !shapeOf.has(port)) shapeOf.set(port, shape);
  }
  return shapeOf;
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
  /** What the port -> shape map was read for: our chains and maps, and the ports bound then. */
  private mapsReadFor = '';
  /** What a map listing is under way for (as mapsReadFor). */
  private refreshing: string | undefined;
  private shapeOf = new Map<string, string>();
  private portsOf = new Map<string, string[]>();

  /** `boundPorts`: the ports with bindings now, in a stable order (a change makes the dispatch maps be read again). */
  constructor(
    private readonly runner: CommandRunner,
    private readonly boundPorts: () => readonly string[],
  ) {}

  read(): Promise<CounterSnapshot> {
    if (this.last && Date.now() - this.last.time < COUNTERS_MAX_AGE_MS) return Promise.resolve(this.last);
    this.pending ??= this.readNow().finally(() => (this.pending = undefined));
    return this.pending;
  }

  /**
   * Port -> shape from the bridge dispatch maps (`from_port_gN`, `to_port_gN`: every port with
   * Ethernet-level rules); the other maps (IP-only ports' marks) only when a bound port is not
   * in those. One listing per map: nft lists a map's elements at about 10 us each.
   */
  private async readShapes(maps: readonly string[]): Promise<Map<string, string>> {
    const listMap = async (m: string) => {
      const [family, name] = m.split(' ') as [string, string];
      const r = await this.runner.run(['nft', '-j', 'list', 'map', family, TABLE, name]);
      if (r.status !== 0) throw new Error(`nft -j list map ${m} failed with status ${r.status}: ${r.stderr.trim()}`);
      return r.stdout;
    };
    const dispatch = maps.filter((m) => /^bridge (from|to)_port_g\d+$/.test(m));
    const texts = await Promise.all(dispatch.map(listMap));
    let shapeOf = shapesOfPorts(texts.join('\n'));
    if (this.boundPorts().some((p) => !shapeOf.has(p))) {
      const rest = await Promise.all(maps.filter((m) => !dispatch.includes(m)).map(listMap));
      shapeOf = shapesOfPorts([...texts, ...rest].join('\n'));
    }
    return shapeOf;
  }

  private async readNow(): Promise<CounterSnapshot> {
    const time = Date.now();
    const r = await this.runner.run(['nft', '-t', '-j', 'list', 'ruleset']);
    if (r.status !== 0) throw new Error(`nft -t -j list ruleset failed with status ${r.status}: ${r.stderr.trim()}`);
    const rules = ruleCounters(r.stdout);
    const chains = [...new Set(rules.map((c) => c.shape))].sort();
    const layout = JSON.stringify([chains, ourMaps(r.stdout).sort(), this.boundPorts()]);
    if (layout !== this.mapsReadFor && layout !== this.refreshing) {
      // the first time it is waited for; after a change the last map serves until the new one is read
      this.refreshing = layout;
      const refresh = this.readShapes(ourMaps(r.stdout))
        .then(
          (shapeOf) => {
            this.shapeOf = shapeOf;
            this.portsOf = portsByShape(shapeOf);
            this.mapsReadFor = layout;
          },
          () => undefined,
        )
        .finally(() => {
          if (this.refreshing === layout) this.refreshing = undefined;
        });
      if (this.mapsReadFor === '') await refresh;
    }
    this.last = { time, rules, shapeOf: this.shapeOf, portsOf: this.portsOf };
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
