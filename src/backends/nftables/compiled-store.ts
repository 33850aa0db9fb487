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
import * as z from '../../util/zod.js';
import { codeVersion } from '../../util/code-version.js';
import { isDeviceName } from '../../util/device-name.js';
import { readState, writeFileAtomic } from '../../util/state-file.js';
import type { CompiledPort, StatefulPath } from './compile.js';
import type { KernelStatement } from '../../nft/objects.js';
import { CHAIN, ELEMENT, KERNEL_STATEMENT, SET_META } from '../../nft/schema.js';
import type { Element } from '../../nft/expr.js';

/**
 * The ports, field by field (the i-th port is the i-th of every list): a thousand ports are six
 * lists to check, not a thousand objects.
 */
const STORED_PORTS = z
  .strictObject({
    /** Each port's PortFilter.inputsDigest. */
    keys: z.array(z.string()),
    ifnames: z.array(z.string().check(z.refine(isDeviceName, 'not a device name'))),
    ids: z.array(z.int()),
    shapes: z.array(z.string()),
    entries: z.array(z.array(z.string())),
    /** The elements of each of the shape's sets, in the shape's order, each as [form, ...leaves] (formsOf). */
    elements: z.array(z.array(z.unknown())),
  })
  .check(
    z.refine(
      (p) => [p.ifnames, p.ids, p.shapes, p.entries, p.elements].every((l) => l.length === p.keys.length),
      'port fields of different lengths',
    ),
  );

const STORED_FILE = z.strictObject({
  code: z.string(),
  path: z.enum(['br_netfilter', 'bridge-conntrack']) satisfies z.ZodMiniType<StatefulPath>,
  shapes: z.record(z.string(), z.strictObject({ chains: z.array(CHAIN), sets: z.array(SET_META) })),
  /** Element forms, as JSON text (the order of the leaves is the order of the text). */
  forms: z.array(z.string()),
  ports: STORED_PORTS,
  bodies: z.array(z.tuple([z.string(), z.readonly(z.array(KERNEL_STATEMENT))])),
});

type StoredFile = z.output<typeof STORED_FILE>;

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

/** Makes a form's element from a port's leaves (from `at.next` on). */
type Build = (leaves: readonly unknown[], at: { next: number }) => unknown;

/** The forms of a file, each parsed and checked once; the decoder fills one with a port's leaves. */
function formsOf(texts: readonly string[]): (stored: unknown) => Element {
  const forms = texts.map((t) => {
    const form = JSON.parse(t) as unknown;
    ELEMENT.parse(form);
    return builder(form, '');
  });
  return (stored) => {
    const leaves: readonly unknown[] = Array.isArray(stored) ? stored : [];
    const form = Number.isInteger(leaves[0]) ? forms[leaves[0] as number] : undefined;
    if (form === undefined) throw new Error(`not an element of a known form: ${JSON.stringify(stored)}`);
    const at = { next: 1 };
    const e = form(leaves, at) as Element;
    if (at.next !== leaves.length)
      throw new Error(`element with ${leaves.length - 1} leaves for a form of ${at.next - 1}`);
    return e;
  };
}

/**
 * What fills `x` (part of a form under `key`): its blanks replaced by leaves in order, each of its
 * blank's type. Made once per form, so filling a port's element walks no form.
 */
function builder(x: unknown, key: string): Build {
  if (Array.isArray(x)) {
    const items = x.map((y) => builder(y, ''));
    return (leaves, at) => items.map((b) => b(leaves, at));
  }
  if (typeof x === 'object' && x !== null) {
    const fields = Object.entries(x).map(([k, v]) => [k, builder(v, k)] as const);
    return (leaves, at) => {
      const out: Record<string, unknown> = {};
      for (const [k, b] of fields) out[k] = b(leaves, at);
      return out;
    };
  }
  if (key === 'kind' || (typeof x !== 'string' && typeof x !== 'number')) return () => x;
  const type = typeof x;
  return (leaves, at) => {
    const leaf = leaves[at.next++];
    if (typeof leaf !== type || (type === 'number' && !Number.isSafeInteger(leaf)))
      throw new Error(`element leaf ${JSON.stringify(leaf)} where its form has a ${type}`);
    return leaf;
  };
}

export function saveCompiledPorts(
  file: string,
  path: StatefulPath,
  ports: Iterable<readonly [string, CompiledPort]>,
  bodies: [string, readonly KernelStatement[]][],
): void {
  const forms = new Forms();
  const p: StoredFile['ports'] = { keys: [], ifnames: [], ids: [], shapes: [], entries: [], elements: [] };
  const stored: StoredFile = { code: codeVersion(), path, shapes: {}, forms: forms.texts, ports: p, bodies };
  for (const [inputsDigest, c] of ports) {
    stored.shapes[c.shape] ??= { chains: c.chains, sets: c.sets.map(({ elements: _e, ...meta }) => meta) };
    p.keys.push(inputsDigest);
    p.ifnames.push(c.portdev);
    p.ids.push(c.id);
    p.shapes.push(c.shape);
    p.entries.push(c.entries);
    p.elements.push(c.sets.map((s) => s.elements.map((e) => forms.encode(e))));
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
    const elements = f.ports.elements.map((sets) =>
      sets.map((es) => {
        if (!Array.isArray(es)) throw new Error(`a set's elements are not a list: ${JSON.stringify(es)}`);
        return es.map(decode);
      }),
    );
    return { ...f, elements };
  });
  if (!stored) return none;
  const p = stored.ports;
  for (const [i, key] of p.keys.entries()) {
    const shape = stored.shapes[p.shapes[i]!];
    const elements = stored.elements[i]!;
    if (!shape || shape.sets.length !== elements.length) continue;
    const sets = shape.sets.map((meta, j) => ({ ...meta, elements: elements[j]! }));
    out.set(key, {
      portdev: p.ifnames[i]!,
      id: p.ids[i]!,
      shape: p.shapes[i]!,
      chains: shape.chains,
      sets,
      entries: p.entries[i]!,
    });
  }
  return { ports: out, bodies: stored.bodies };
}
