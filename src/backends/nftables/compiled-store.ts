// What the backend compiled, kept across restarts in DIR/run/virtwall/nwfilter-nftables.json:
// the compiled form of every port with an inputs digest (chains once per shape) with its id, and the kernel's form of
// the rules loaded (RuleBodies). A restarted daemon
// finds its ports here by PortFilter.inputsDigest and goes straight to comparing with the kernel,
// neither instantiating nor compiling them. It is a cache: read only when written by the same
// code (the content stamp of the sources, util/code-version.ts) for the same stateful path; a
// missing or stale file costs only the compile, and a corrupt one (not fitting the schema) is
// set aside and logged (util/state-file.ts) before the ports are compiled again.
//
// Ports of a shape differ only in their elements' leaves (names, addresses, numbers), so an
// element is kept as its form (the element with its leaves blanked, checked against the element
// schema once per form) and the port's leaves, each checked against the form's blank: a restart
// reads and checks a thousand ports' elements without walking every one through the schema.
import { z } from 'zod';
import { codeVersion } from '../../util/code-version.js';
import { isDeviceName } from '../../util/device-name.js';
import { readState, writeFileAtomic } from '../../util/state-file.js';
import type { CompiledPort, StatefulPath } from './compile.js';
import type { KernelStatement } from '../../nft/objects.js';
import { CHAIN, ELEMENT, KERNEL_STATEMENT, SET_META } from '../../nft/schema.js';
import type { Element } from '../../nft/expr.js';

const STORED_PORT = z.strictObject({
  /** The port's PortFilter.inputsDigest (the file keeps the field name `key`; ifname is its portdev). */
  key: z.string(),
  ifname: z.string().refine(isDeviceName, 'not a device name'),
  id: z.number().int(),
  shape: z.string(),
  entries: z.array(z.string()),
  /** The elements of each of the shape's sets, in the shape's order: [form, ...leaves], checked by formsOf. */
  elements: z.array(z.array(z.unknown())),
});

const STORED_FILE = z.strictObject({
  code: z.string(),
  path: z.enum(['br_netfilter', 'bridge-conntrack']) satisfies z.ZodType<StatefulPath>,
  shapes: z.record(z.string(), z.strictObject({ chains: z.array(CHAIN), sets: z.array(SET_META) })),
  /** Element forms, as JSON text (the order of the leaves is the order of the text). */
  forms: z.array(z.string()),
  ports: z.array(STORED_PORT),
  bodies: z.array(z.tuple([z.string(), z.array(KERNEL_STATEMENT).readonly()])),
});

type StoredFile = z.infer<typeof STORED_FILE>;

type Leaf = string | number;

/** A form's blank for a leaf: what the leaf must be of the same type as. */
const blank = (leaf: Leaf): Leaf => (typeof leaf === 'string' ? '' : 0);

/** Element forms by their text, numbered in the order they are first seen. */
class Forms {
  readonly texts: string[] = [];
  private readonly index = new Map<string, number>();

  /** `e` as [form, ...leaves]: every string and number but a `kind` is a leaf. */
  encode(e: Element): Leaf[] {
    const leaves: Leaf[] = [];
    const text = JSON.stringify(e, (k, v: unknown) => {
      if (k === 'kind' || (typeof v !== 'string' && typeof v !== 'number')) return v;
      leaves.push(v);
      return blank(v);
    });
    let i = this.index.get(text);
    if (i === undefined) {
      i = this.texts.push(text) - 1;
      this.index.set(text, i);
    }
    return [i, ...leaves];
  }
}

/** The forms of a file, each parsed and checked once; the decoder fills one with a port's leaves. */
function formsOf(texts: readonly string[]): (stored: unknown) => Element {
  const forms = texts.map((t) => {
    const form = JSON.parse(t) as unknown;
    ELEMENT.parse(form);
    return form;
  });
  return (stored) => {
    const leaves: readonly unknown[] = Array.isArray(stored) ? stored : [];
    const form = Number.isInteger(leaves[0]) ? forms[leaves[0] as number] : undefined;
    if (form === undefined) throw new Error(`not an element of a known form: ${JSON.stringify(stored)}`);
    const at = { next: 1 };
    const e = fill(form, '', leaves, at) as Element;
    if (at.next !== leaves.length)
      throw new Error(`element with ${leaves.length - 1} leaves for a form of ${at.next - 1}`);
    return e;
  };
}

/** `x` (part of a form under `key`) with its blanks replaced by `leaves` from `at.next` on, each of its blank's type. */
function fill(x: unknown, key: string, leaves: readonly unknown[], at: { next: number }): unknown {
  if (Array.isArray(x)) return x.map((y) => fill(y, '', leaves, at));
  if (typeof x === 'object' && x !== null) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(x)) out[k] = fill((x as Record<string, unknown>)[k], k, leaves, at);
    return out;
  }
  if (key === 'kind' || (typeof x !== 'string' && typeof x !== 'number')) return x;
  const leaf = leaves[at.next++];
  if (typeof leaf !== typeof x || (typeof leaf === 'number' && !Number.isSafeInteger(leaf)))
    throw new Error(`element leaf ${JSON.stringify(leaf)} where its form has a ${typeof x}`);
  return leaf;
}

export function saveCompiledPorts(
  file: string,
  path: StatefulPath,
  ports: Iterable<readonly [string, CompiledPort]>,
  bodies: [string, readonly KernelStatement[]][],
): void {
  const forms = new Forms();
  const stored: StoredFile = { code: codeVersion(), path, shapes: {}, forms: forms.texts, ports: [], bodies };
  for (const [inputsDigest, c] of ports) {
    stored.shapes[c.shape] ??= { chains: c.chains, sets: c.sets.map(({ elements: _e, ...meta }) => meta) };
    stored.ports.push({
      key: inputsDigest,
      ifname: c.portdev,
      id: c.id,
      shape: c.shape,
      entries: c.entries,
      elements: c.sets.map((s) => s.elements.map((e) => forms.encode(e))),
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
  const stored = readState(file, (text) => {
    const json = JSON.parse(text) as { code?: unknown; path?: unknown } | null;
    // another code's file is stale, whatever its form: only ours is checked (and may be corrupt)
    if (json?.code !== codeVersion() || json.path !== path) return undefined;
    const f = STORED_FILE.parse(json);
    const decode = formsOf(f.forms);
    const ports = f.ports.map((p) => ({ ...p, elements: p.elements.map((es) => es.map(decode)) }));
    return { ...f, ports };
  });
  if (!stored) return none;
  for (const p of stored.ports) {
    const shape = stored.shapes[p.shape];
    if (!shape || shape.sets.length !== p.elements.length) continue;
    const sets = shape.sets.map((meta, i) => ({ ...meta, elements: p.elements[i]! }));
    out.set(p.key, { portdev: p.ifname, id: p.id, shape: p.shape, chains: shape.chains, sets, entries: p.entries });
  }
  return { ports: out, bodies: stored.bodies };
}
