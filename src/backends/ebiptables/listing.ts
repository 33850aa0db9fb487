// What the kernel holds of the ebiptables layout, read from one `*-save` listing per tool (parsed
// once into typed rules by src/xtables) and split per port. A port's part is the chains it owns
// by libvirt's names (ebtables libvirt-I/O/J/P-IF and their I-/O-/J-/P-IF-* sub-chains, iptables
// FI/FO/HI-IF and the temporary FJ/FP/HJ-IF) with their rules in order, and its rules in chains it
// does not own (jumps to its chains from PREROUTING/POSTROUTING or libvirt-in/-out/-host-in, its
// rules in libvirt-in-post and in the mac-filter chain). Equal parts mean the kernel still holds
// what was applied: the part is the port's fingerprint. Also read: which of our shared chains
// exist and the jumps to them from the built-in chains. Pure: typed tables in, data out.
import { saveLine } from '../../xtables/restore.js';
import { optionValue, type XtRule, type XtTool } from '../../xtables/rule.js';
import type { XtTable } from '../../xtables/save.js';
import { BASE_JUMPS } from './chains.js';
import { MAC_FILTER_CHAIN } from './mac-filter.js';

export type Tool = XtTool;

interface ToolSpec {
  /** The table the tool's part of the layout lives in. */
  table: string;
  /** Prefixes of chains a port owns by name alone (the rest of the name is the port). */
  roots: readonly string[];
  /** Prefixes of sub-chains `X-<port>-<suffix>` (the rest starts with a known port and `-`). */
  subChains: readonly string[];
  /** Options naming the port device in rules of shared chains. */
  devices: readonly string[];
  /** Jumps from built-in chains to our shared chains, in the order they sit at the chain's top. */
  hooks: readonly (readonly [hook: string, chain: string])[];
}

const iptables: ToolSpec = {
  table: 'filter',
  roots: ['FI-', 'FO-', 'FJ-', 'FP-', 'HI-', 'HJ-'],
  subChains: [],
  devices: ['--physdev-in', '--physdev-out'],
  hooks: BASE_JUMPS.map(([hook, chain]) => [hook, chain] as const),
};

export const TOOLS: Record<Tool, ToolSpec> = {
  ebtables: {
    table: 'nat',
    roots: ['libvirt-I-', 'libvirt-O-', 'libvirt-J-', 'libvirt-P-'],
    subChains: ['I-', 'O-', 'J-', 'P-'],
    devices: ['-i', '-o'],
    hooks: [['PREROUTING', MAC_FILTER_CHAIN]],
  },
  iptables,
  ip6tables: iptables,
};

export const TOOL_NAMES = Object.keys(TOOLS) as Tool[];

/** One port's part of a tool's listing (its fingerprint). */
export interface PortPart {
  /** Owned chains (sorted by name) -> their rules in order. */
  chains: Record<string, XtRule[]>;
  /** Its rules in chains it does not own, sorted by their text (their order does not matter). */
  links: XtRule[];
}

export const EMPTY_PART: PortPart = { chains: {}, links: [] };

export interface ToolState {
  ports: Map<string, PortPart>;
  /** Our shared chains that exist. */
  shared: Set<string>;
  /** Built-in chain -> its jumps to our shared chains, in order. */
  hooks: Map<string, XtRule[]>;
}

export const fingerprint = (part: PortPart | undefined): string => JSON.stringify(part ?? EMPTY_PART);

export const sharedChains = (spec: ToolSpec) => new Set(spec.hooks.map(([, chain]) => chain));

/** The rest of `name` after the first of `prefixes` it starts with. */
const after = (name: string, prefixes: readonly string[]) => {
  const p = prefixes.find((x) => name.startsWith(x) && name.length > x.length);
  return p === undefined ? undefined : name.slice(p.length);
};

/** The port owning `chain`: by its root name, else the longest known port its sub-chain name starts with. */
function ownerOf(spec: ToolSpec, chain: string, ports: ReadonlySet<string>): string | undefined {
  const root = after(chain, spec.roots);
  if (root !== undefined) return root;
  const rest = after(chain, spec.subChains);
  let best: string | undefined;
  for (const p of rest === undefined ? [] : ports)
    if (rest!.startsWith(`${p}-`) && p.length > (best?.length ?? 0)) best = p;
  return best;
}

/**
 * Splits the tool's table (as listed; undefined: absent) into per-port parts. `known` names
 * ports whose sub-chains may exist without their root chain (a partly deleted port).
 */
export function readListing(tool: Tool, table: XtTable | undefined, known: ReadonlySet<string> = new Set()): ToolState {
  const spec = TOOLS[tool];
  const shared = sharedChains(spec);
  const chains = (table?.chains ?? []).map((c) => c.name);
  const ports = new Set(known);
  for (const c of chains) {
    const root = after(c, spec.roots);
    if (root !== undefined) ports.add(root);
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
  for (const rule of table?.rules ?? []) {
    const own = owner.get(rule.chain);
    if (own !== undefined) {
      part(own).chains[rule.chain]!.push(rule);
      continue;
    }
    const target = rule.target?.name;
    const device = shared.has(rule.chain) ? optionValue(rule, spec.devices) : undefined;
    const port = (target !== undefined ? owner.get(target) : undefined) ?? device;
    if (port !== undefined) part(port).links.push(rule);
    else if (target !== undefined && shared.has(target))
      state.hooks.set(rule.chain, [...(state.hooks.get(rule.chain) ?? []), rule]);
  }
  const text = (r: XtRule) => saveLine(r, tool);
  for (const p of state.ports.values()) p.links.sort((a, b) => (text(a) < text(b) ? -1 : text(a) > text(b) ? 1 : 0));
  return state;
}
