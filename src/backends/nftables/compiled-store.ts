// What the backend compiled, kept across restarts in DIR/run/virtwall/nwfilter-nftables.json:
// every keyed port's compiled form (chains once per shape) with its id, and the kernel's form of
// the rules loaded (RuleBodies). A restarted daemon
// finds its ports here by PortFilter.key and goes straight to comparing with the kernel,
// neither instantiating nor compiling them. It is a cache: read only when written by the same
// code for the same stateful path, and a missing, stale or unreadable file costs only the compile.
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../../network/lifecycle/leases.js';
import { codeVersion } from '../../util/code-version.js';
import type { CompiledPort, StatefulPath } from './compile.js';
import type { Element } from '../../nft/expr.js';
import type { KernelStatement, NftChain, SetMeta } from '../../nft/objects.js';

interface StoredPort {
  key: string;
  ifname: string;
  id: number;
  shape: string;
  entries: string[];
  /** The elements of each of the shape's sets, in the shape's order. */
  elements: (readonly Element[])[];
}

interface StoredFile {
  code: string;
  path: StatefulPath;
  shapes: Record<string, { chains: NftChain[]; sets: SetMeta[] }>;
  ports: StoredPort[];
  bodies: [string, readonly KernelStatement[]][];
}

export function saveCompiledPorts(file: string, path: StatefulPath, ports: Iterable<readonly [string, CompiledPort]>, bodies: [string, readonly KernelStatement[]][]): void {
  const stored: StoredFile = { code: codeVersion(), path, shapes: {}, ports: [], bodies };
  for (const [key, c] of ports) {
    stored.shapes[c.shape] ??= { chains: c.chains, sets: c.sets.map(({ elements: _e, ...meta }) => meta) };
    stored.ports.push({ key, ifname: c.ifname, id: c.id, shape: c.shape, entries: c.entries, elements: c.sets.map((s) => s.elements) });
  }
  writeFileAtomic(file, JSON.stringify(stored), 0o600);
}

/** The compiled ports by key and the rule bodies; empty when the file is missing, unreadable or from other code. */
export function loadCompiledPorts(file: string, path: StatefulPath): { ports: Map<string, CompiledPort>; bodies: [string, readonly KernelStatement[]][] } {
  const out = new Map<string, CompiledPort>();
  const none = { ports: out, bodies: [] };
  let stored: StoredFile;
  try {
    if (!existsSync(file)) return none;
    stored = JSON.parse(readFileSync(file, 'utf8')) as StoredFile;
  } catch {
    return none;
  }
  if (stored.code !== codeVersion() || stored.path !== path || !Array.isArray(stored.bodies)) return none;
  for (const p of stored.ports) {
    const shape = stored.shapes[p.shape];
    if (!shape || shape.sets.length !== p.elements.length) continue;
    const sets = shape.sets.map((meta, i) => ({ ...meta, elements: p.elements[i]! }));
    out.set(p.key, { ifname: p.ifname, id: p.id, shape: p.shape, chains: shape.chains, sets, entries: p.entries });
  }
  return { ports: out, bodies: stored.bodies };
}
