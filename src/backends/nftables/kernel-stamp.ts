// What spares a restart the listing of our tables (nft 1.0.6 fetches every element of a table it
// lists: 80,000 at 10,000 ports, most of a restart's CPU): a stamp, written beside the compiled
// ports (DIR/run/virtwall/nwfilter-nftables.stamp.json), saying "in this network namespace of
// this boot, at ruleset generation G, our tables held a model of digest D". Why it is sound:
//
// - The kernel moves a namespace's ruleset generation on by one with every committed
//   transaction, of any process, on any table; nothing else changes a table's chains, rules,
//   sets or elements (our sets have no timeouts). Orphaning a table (its owner's socket closing)
//   and the ownership flags are no change of its content.
// - A stamp is written only while the daemon owns the tables (no other socket can change them)
//   and no change of ours is in flight (in the backend's serial queue), for a model the
//   backend holds the kernel to and has compared with what it read or loaded (no garbage of a
//   previous generation, no traced port).
// - At the next start the tables are adopted in ONE transaction the kernel takes only while the
//   generation is still G (NFNL_BATCH_GENID, checked under the namespace's commit lock): taken,
import { SHAPE_NAME } from './compile.js';
//   no transaction at all came between the stamp and the tables becoming ours again, so they
//   hold what they held at G; refused, something changed and the start lists the kernel.
// - Generations count from 1 in every new namespace and start over at boot: the stamp names the
//   namespace by its cookie (never given twice in one boot) and the boot by its id.
// - What the tables then hold is the model of the stamped ports: each port by its inputs digest
//   (what the compiled ports are reused by, PortFilter.inputsDigest) and MAC filtering, under
//   the stamped ids and dispatch generation. A start whose ports are the stamped ones (the same
//   portsDigest) is converged at once; its ledger is built from the kept compiled ports right
//   after (or first, when a change comes sooner), and its model's digest checked against D: a
//   model that differs has the tables listed and repaired. A start whose ports differ (a binding
//   or filter edited while the daemon was down) builds its ledger first and trusts the stamp only
//   when the model's digest is D; else it lists the tables.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Family, Ruleset } from '../../nft/objects.js';
import { readState, writeFileAtomic } from '../../util/state-file.js';
import * as z from '../../util/zod.js';
import { codeVersion } from '../../util/code-version.js';
import type { RuleBodies } from './model.js';

/** Where a kernel's ruleset is: this boot, one network namespace. */
export interface KernelIdentity {
  boot: string;
  /** The namespace's cookie (SO_NETNS_COOKIE), in decimal. */
  netns: string;
}

const STAMP = z.strictObject({
  code: z.string(),
  boot: z.string(),
  netns: z.string().check(z.regex(/^\d+$/)),
  /** The ruleset generation the tables held the model at. */
  generation: z.int().check(z.positive()),
  /** Our tables that existed then. */
  tables: z.array(z.enum(['bridge', 'inet'])),
  /** modelDigest of the model. */
  digest: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  /** The dispatch maps' generation of the model (compile.ts dispatchName). */
  dispatch: z.int().check(z.positive()),
  /** The model's main shape (compile.ts MainShape), if it has one. */
  main: z.optional(z.string().check(z.regex(SHAPE_NAME))),
  /** portsDigest of the model's ports. */
  ports: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  /** The ports' ids, in portsDigest's order. */
  ids: z.array(z.int().check(z.nonnegative())),
});

export type KernelStamp = Omit<z.output<typeof STAMP>, 'code' | 'tables'> & { tables: Family[] };

/** This boot's id (it changes at every boot). */
export const bootId = (): string => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

export function writeKernelStamp(file: string, stamp: KernelStamp): void {
  writeFileAtomic(file, JSON.stringify({ code: codeVersion(), ...stamp }), 0o600);
}

/** The stamp kept in `file`, when written by this code in `where`; else undefined. */
export function readKernelStamp(file: string, where: KernelIdentity): KernelStamp | undefined {
  const stamp = readState(file, (text) => {
    const json = JSON.parse(text) as { code?: unknown } | null;
    if (json?.code !== codeVersion()) return undefined;
    const { code: _code, ...s } = STAMP.parse(json);
    return s;
  });
  return stamp && stamp.boot === where.boot && stamp.netns === where.netns ? stamp : undefined;
}

/** JSON with every object's keys sorted: the same value reads back from a schema in another key order. */
const canonical = (x: unknown): string =>
  JSON.stringify(x, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );

/** The part of a port that makes its rules: every input of them by digest (PortFilter.inputsDigest), and MAC filtering. */
export interface PortInputs {
  portdev: string;
  inputsDigest?: string;
  macFilter?: boolean;
}

/** `ports` in the order portsDigest reads them (by port name). */
export const byPortName = <T extends PortInputs>(ports: readonly T[]): T[] =>
  [...ports].sort((a, b) => (a.portdev < b.portdev ? -1 : a.portdev > b.portdev ? 1 : 0));

/**
 * A digest of a set of ports by what makes their rules, in the layout `path` (compile.ts
 * StatefulPath: whether the bridge family tracks connections), so that the same ports (each with
 * the same inputs) in the same layout have the same digest; undefined when a port's inputs are
 * not digested.
 */
export function portsDigest(path: string, ports: readonly PortInputs[]): string | undefined {
  const h = createHash('sha256');
  h.update(`${path}\0`);
  for (const p of byPortName(ports)) {
    if (p.inputsDigest === undefined) return undefined;
    h.update(`${p.portdev} ${p.inputsDigest} ${p.macFilter ? 1 : 0}\0`);
  }
  return h.digest('hex');
}

/**
 * A digest of a model: each chain's hook and rules by comment and kernel form (as a reconcile
 * compares them, modelDelta), each set's declaration and elements by text; in key order, so two models with the same
 * content have the same digest however they were built. Undefined when a rule's kernel form is
 * not known (the model cannot be stamped).
 */
export function modelDigest(m: Ruleset, bodies: RuleBodies): string | undefined {
  const h = createHash('sha256');
  for (const k of [...m.chains.keys()].sort()) {
    h.update(`chain ${k} ${canonical(m.chains.get(k)!.hook ?? null)}\0`);
    for (const r of m.chains.get(k)!.rules) {
      const body = r.body ?? bodies.expected(r);
      if (body === undefined) return undefined;
      h.update(`${JSON.stringify(r.comment)} ${canonical(body)}\0`);
    }
  }
  for (const k of [...m.sets.keys()].sort()) {
    const { kind, decl } = m.sets.get(k)!;
    h.update(`${kind} ${k} ${canonical(decl)}\0`);
    h.update([...m.sets.get(k)!.elements.keys()].sort().join('\0'));
    h.update('\0\0');
  }
  return h.digest('hex');
}
