// Bringing one tool's share of the kernel back to the parts remembered for its ports, as one
// `*-restore --noflush` transaction: no moment with half a port, and nothing touched of ports that
// are intact or of rules that are not ours. Pure: typed rules in, typed restore lines out.
import { isDeepStrictEqual } from 'node:util';
import type { RestoreLine, RestoreTable } from '../../xtables/restore.js';
import { sameRule, type XtRule } from '../../xtables/rule.js';
import { fingerprint, EMPTY_PART, sharedChains, TOOLS, type PortPart, type Tool, type ToolState } from './listing.js';

/** `a` without the rules of `b` (each rule of `b` cancels one equal rule of `a`). */
function without(a: readonly XtRule[], b: readonly XtRule[]): XtRule[] {
  const left = [...b];
  return a.filter((rule) => {
    const at = left.findIndex((x) => sameRule(x, rule));
    if (at < 0) return true;
    left.splice(at, 1);
    return false;
  });
}

export interface Repair {
  /** The `*-restore` input (one table). */
  script: RestoreTable[];
  /** Ports whose filtering it restores (those it rewrites, and all using a shared chain or jump it restores). */
  repaired: string[];
}

const jumpTo = (hook: string, chain: string): XtRule => ({
  chain: hook,
  matches: [],
  target: { name: chain, options: [] },
});

/**
 * The script making `current` hold `wanted` (port -> remembered part) again; undefined when it
 * does. Shared chains and their jumps are wanted while some wanted port has rules in them.
 */
export function repairScript(
  tool: Tool,
  current: ToolState,
  wanted: ReadonlyMap<string, PortPart>,
): Repair | undefined {
  const spec = TOOLS[tool];
  const shared = sharedChains(spec);
  const users = new Map<string, string[]>();
  for (const [port, part] of wanted) {
    for (const rule of part.links)
      if (shared.has(rule.chain)) users.set(rule.chain, [...(users.get(rule.chain) ?? []), port]);
  }
  const repaired = new Set<string>();
  const declare: RestoreLine[] = [];
  const unlink: RestoreLine[] = [];
  const drop: RestoreLine[] = [];
  const append: RestoreLine[] = [];
  const link: RestoreLine[] = [];
  const hooks: RestoreLine[] = [];

  for (const chain of users.keys()) {
    if (current.shared.has(chain)) continue;
    declare.push({ declare: chain });
    for (const p of users.get(chain)!) repaired.add(p);
  }
  for (const hook of new Set(spec.hooks.map(([h]) => h))) {
    const jumps = spec.hooks.filter(([h, chain]) => h === hook && users.has(chain)).map(([, chain]) => chain);
    const present = (current.hooks.get(hook) ?? []).filter((r) => jumps.includes(r.target!.name));
    // all there in libvirt's order (foreign rules may sit between or before them); else reinserted at the top
    if (present.map((r) => r.target!.name).join() === jumps.join()) continue;
    hooks.push(
      ...present.map((r) => ({ delete: r })),
      ...jumps.map((chain, i) => ({ insert: jumpTo(hook, chain), position: i + 1 })),
    );
    for (const chain of jumps) for (const p of users.get(chain)!) repaired.add(p);
  }

  for (const [port, want] of wanted) {
    const cur = current.ports.get(port) ?? EMPTY_PART;
    if (fingerprint(cur) === fingerprint(want)) continue;
    repaired.add(port);
    unlink.push(...without(cur.links, want.links).map((r) => ({ delete: r })));
    for (const [chain, rules] of Object.entries(want.chains)) {
      if (chain in cur.chains && isDeepStrictEqual(cur.chains[chain], rules)) continue;
      declare.push({ declare: chain });
      append.push(...rules.map((r) => ({ append: r })));
    }
    for (const chain of Object.keys(cur.chains).filter((c) => !(c in want.chains))) {
      declare.push({ declare: chain });
      drop.push({ deleteChain: chain });
    }
    link.push(...without(want.links, cur.links).map((r) => ({ append: r })));
  }
  const lines = [...declare, ...unlink, ...drop, ...append, ...link, ...hooks];
  if (lines.length === 0) return undefined;
  return { script: [{ table: spec.table, lines }], repaired: [...repaired].sort() };
}
