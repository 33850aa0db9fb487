// What the kernel holds of the ebiptables layout, read from one `*-save` listing per tool and
// split per port. A port's part is the chains it owns by libvirt's names (ebtables
// libvirt-I/O/J/P-IF and their I-/O-/J-/P-IF-* sub-chains, iptables FI/FO/HI-IF and the
// temporary FJ/FP/HJ-IF) with their rules in order, and its rules in chains it does not own
// (jumps to its chains from PREROUTING/POSTROUTING or libvirt-in/-out/-host-in, its lines in
// libvirt-in-post and in the mac-filter chain). Equal parts mean the kernel still holds what was
// applied: the part is the port's fingerprint. Also read: which of our shared chains exist and
// the jumps to them from the built-in chains. Pure: listing text in, data out.
import { BASE_JUMPS } from './chains.js';
import { MAC_FILTER_CHAIN } from './mac-filter.js';

export type Tool = 'ebtables' | 'iptables' | 'ip6tables';

interface ToolSpec {
  table: string;
  save: readonly string[];
  restore: readonly string[];
  /** Chains a port owns by name alone; the port is the first group. */
  roots: RegExp;
  /** Sub-chains `X-<port>-<suffix>`: the rest (first group) starts with a known port and `-`. */
  subChains?: RegExp;
  /** Options naming the port device in rules of shared chains. */
  devices: readonly string[];
  /** Jumps from built-in chains to our shared chains, in the order they sit at the chain's top. */
  hooks: readonly (readonly [hook: string, chain: string])[];
  /** The `*-restore` line creating (or flushing) a chain. */
  declare: (chain: string) => string;
}

const iptables = (binary: string): ToolSpec => ({
  table: 'filter',
  save: [`${binary}-save`, '-t', 'filter'],
  restore: [`${binary}-restore`, '-w', '--noflush'],
  roots: /^(?:F[IOJP]|H[IJ])-(.+)$/,
  devices: ['--physdev-in', '--physdev-out'],
  hooks: BASE_JUMPS.map(([hook, chain]) => [hook, chain] as const),
  declare: (chain) => `:${chain} - [0:0]`,
});

export const TOOLS: Record<Tool, ToolSpec> = {
  ebtables: {
    table: 'nat',
    save: ['ebtables-save', '-t', 'nat'],
    restore: ['ebtables-restore', '--noflush'],
    roots: /^libvirt-[IOJP]-(.+)$/,
    subChains: /^[IOJP]-(.+)$/,
    devices: ['-i', '-o'],
    hooks: [['PREROUTING', MAC_FILTER_CHAIN]],
    declare: (chain) => `:${chain} ACCEPT`,
  },
  iptables: iptables('iptables'),
  ip6tables: iptables('ip6tables'),
};

export const TOOL_NAMES = Object.keys(TOOLS) as Tool[];

/** One port's part of a tool's listing (its fingerprint). */
export interface PortPart {
  /** Owned chains (sorted by name) -> their rule lines (`-A CHAIN ...`) in order. */
  chains: Record<string, string[]>;
  /** Its rule lines in chains it does not own, sorted (their order does not matter). */
  links: string[];
}

export const EMPTY_PART: PortPart = { chains: {}, links: [] };

export interface ToolState {
  ports: Map<string, PortPart>;
  /** Our shared chains that exist. */
  shared: Set<string>;
  /** Built-in chain -> its jump lines to our shared chains, in order. */
  hooks: Map<string, string[]>;
}

export const fingerprint = (part: PortPart | undefined): string => JSON.stringify(part ?? EMPTY_PART);

/** A rule line's words; a quoted comment (`"a \"b\" c"`) is one word. */
export const words = (line: string): string[] => line.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];

/** The value after the first of `options` in a rule, if any. */
function optionValue(w: readonly string[], options: readonly string[]): string | undefined {
  const at = w.findIndex((x) => options.includes(x));
  return at < 0 ? undefined : w[at + 1];
}

export const sharedChains = (spec: ToolSpec) => new Set(spec.hooks.map(([, chain]) => chain));

/** The port owning `chain`: by its root name, else the longest known port its sub-chain name starts with. */
function ownerOf(spec: ToolSpec, chain: string, ports: ReadonlySet<string>): string | undefined {
  const root = spec.roots.exec(chain);
  if (root) return root[1];
  const rest = spec.subChains?.exec(chain)?.[1];
  let best: string | undefined;
  for (const p of rest === undefined ? [] : ports) if (rest!.startsWith(`${p}-`) && p.length > (best?.length ?? 0)) best = p;
  return best;
}

/**
 * Reads a `*-save` listing (only the tool's table) into per-port parts. `known` names ports
 * whose sub-chains may exist without their root chain (a partly deleted port).
 */
export function readListing(tool: Tool, text: string, known: ReadonlySet<string> = new Set()): ToolState {
  const spec = TOOLS[tool];
  const shared = sharedChains(spec);
  const chains: string[] = [];
  const rules: { chain: string; line: string }[] = [];
  let table = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    if (table !== spec.table) continue;
    if (line.startsWith(':')) chains.push(line.slice(1).split(/\s/)[0]!);
    else if (line.startsWith('-A ')) rules.push({ chain: words(line)[1]!, line });
  }
  const ports = new Set(known);
  for (const c of chains) {
    const root = spec.roots.exec(c);
    if (root) ports.add(root[1]!);
  }
  const state: ToolState = { ports: new Map(), shared: new Set(chains.filter((c) => shared.has(c))), hooks: new Map() };
  const part = (port: string) => state.ports.get(port) ?? state.ports.set(port, { chains: {}, links: [] }).get(port)!;
  const owner = new Map<string, string>();
  for (const c of [...chains].sort()) {
    const port = ownerOf(spec, c, ports);
    if (port === undefined) continue;
    owner.set(c, port);
    part(port).chains[c] = [];
  }
  for (const { chain, line } of rules) {
    const own = owner.get(chain);
    if (own !== undefined) {
      part(own).chains[chain]!.push(line);
      continue;
    }
    const w = words(line);
    const target = optionValue(w, ['-j', '-g']);
    const device = shared.has(chain) ? optionValue(w, spec.devices) : undefined;
    const port = (target !== undefined ? owner.get(target) : undefined) ?? device;
    if (port !== undefined) part(port).links.push(line);
    else if (target !== undefined && shared.has(target)) state.hooks.set(chain, [...(state.hooks.get(chain) ?? []), line]);
  }
  for (const p of state.ports.values()) p.links.sort();
  return state;
}
