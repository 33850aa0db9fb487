// What the backend compiled, kept across restarts in DIR/run/virtwall/nwfilter-nftables.json:
// the compiled form of every port with an inputs digest (chains once per shape) with its id, and the kernel's form of
// the rules loaded (RuleBodies). A restarted daemon
// finds its ports here by PortFilter.inputsDigest and goes straight to comparing with the kernel,
// neither instantiating nor compiling them. It is a cache: read only when written by the same
// code (the content stamp of the sources, util/code-version.ts) for the same stateful path; a
// missing or stale file costs only the compile, and a corrupt one (not fitting the schema) is
// set aside and logged (util/state-file.ts) before the ports are compiled again.
import { z } from 'zod';
import { codeVersion } from '../../util/code-version.js';
import { isDeviceName } from '../../util/device-name.js';
import { jsonState, readState, writeFileAtomic } from '../../util/state-file.js';
import type { CompiledPort, StatefulPath } from './compile.js';
import type { KernelStatement } from '../../nft/objects.js';
import { CHAIN, ELEMENT, KERNEL_STATEMENT, SET_META } from '../../nft/schema.js';

const STORED_PORT = z.strictObject({
  /** The port's PortFilter.inputsDigest (the file keeps the field name `key`; ifname is its portdev). */
  key: z.string(),
  ifname: z.string().refine(isDeviceName, 'not a device name'),
  id: z.number().int(),
  shape: z.string(),
  entries: z.array(z.string()),
  /** The elements of each of the shape's sets, in the shape's order. */
  elements: z.array(z.array(ELEMENT).readonly()),
});

const STORED_FILE = z.strictObject({
  code: z.string(),
  path: z.enum(['br_netfilter', 'bridge-conntrack']) satisfies z.ZodType<StatefulPath>,
  shapes: z.record(z.string(), z.strictObject({ chains: z.array(CHAIN), sets: z.array(SET_META) })),
  ports: z.array(STORED_PORT),
  bodies: z.array(z.tuple([z.string(), z.array(KERNEL_STATEMENT).readonly()])),
});

type StoredFile = z.infer<typeof STORED_FILE>;

export function saveCompiledPorts(
  file: string,
  path: StatefulPath,
  ports: Iterable<readonly [string, CompiledPort]>,
  bodies: [string, readonly KernelStatement[]][],
): void {
  const stored: StoredFile = { code: codeVersion(), path, shapes: {}, ports: [], bodies };
  for (const [inputsDigest, c] of ports) {
    stored.shapes[c.shape] ??= { chains: c.chains, sets: c.sets.map(({ elements: _e, ...meta }) => meta) };
    stored.ports.push({
      key: inputsDigest,
      ifname: c.portdev,
      id: c.id,
      shape: c.shape,
      entries: c.entries,
      elements: c.sets.map((s) => s.elements),
    });
  }
  writeFileAtomic(file, JSON.stringify(stored), 0o600);
}

/** The compiled ports by inputs digest and the rule bodies; empty when the file is missing, unreadable or from other code. */
export function loadCompiledPorts(
  file: string,
  path: StatefulPath,
): { ports: Map<string, CompiledPort>; bodies: [string, readonly KernelStatement[]][] } {
  const out = new Map<string, CompiledPort>();
  const none = { ports: out, bodies: [] };
  const stored = readState(file, jsonState(STORED_FILE));
  if (!stored || stored.code !== codeVersion() || stored.path !== path) return none;
  for (const p of stored.ports) {
    const shape = stored.shapes[p.shape];
    if (!shape || shape.sets.length !== p.elements.length) continue;
    const sets = shape.sets.map((meta, i) => ({ ...meta, elements: p.elements[i]! }));
    out.set(p.key, { portdev: p.ifname, id: p.id, shape: p.shape, chains: shape.chains, sets, entries: p.entries });
  }
  return { ports: out, bodies: stored.bodies };
}
