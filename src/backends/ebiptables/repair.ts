// Bringing one tool's share of the kernel back to the parts remembered for its ports, as one
// `*-restore --noflush` script: one kernel transaction per tool, so no moment with half a port,
// and nothing touched of ports that are intact or of rules that are not ours. Pure.
import { fingerprint, EMPTY_PART, sharedChains, TOOLS, words, type PortPart, type Tool, type ToolState } from './listing.js';

/** `a` without the lines of `b` (each line of `b` cancels one equal line of `a`). */
function without(a: readonly string[], b: readonly string[]): string[] {
  const left = [...b];
  return a.filter((line) => {
    const at = left.indexOf(line);
    if (at < 0) return true;
    left.splice(at, 1);
    return false;
  });
}

const deletion = (line: string) => `-D${line.slice(2)}`;

export interface Repair {
  /** The `*-restore` input. */
  script: string;
  /** Ports whose filtering it restores (those it rewrites, and all using a shared chain or jump it restores). */
  repaired: string[];
}

/**
 * The script making `current` hold `wanted` (port -> remembered part) again; undefined when it
 * does. Shared chains and their jumps are wanted while some wanted port has rules in them.
 */
export function repairScript(tool: Tool, current: ToolState, wanted: ReadonlyMap<string, PortPart>): Repair | undefined {
  const spec = TOOLS[tool];
  const shared = sharedChains(spec);
  const users = new Map<string, string[]>();
  for (const [port, part] of wanted) {
    for (const line of part.links) {
      const chain = words(line)[1]!;
      if (shared.has(chain)) users.set(chain, [...(users.get(chain) ?? []), port]);
    }
  }
  const repaired = new Set<string>();
  const declare: string[] = [];
  const unlink: string[] = [];
  const drop: string[] = [];
  const append: string[] = [];
  const link: string[] = [];
  const hooks: string[] = [];

  for (const chain of users.keys()) {
    if (current.shared.has(chain)) continue;
    declare.push(spec.declare(chain));
    users.get(chain)!.forEach((p) => repaired.add(p));
  }
  for (const hook of new Set(spec.hooks.map(([h]) => h))) {
    const jumps = spec.hooks.filter(([h, chain]) => h === hook && users.has(chain)).map(([, chain]) => chain);
    const present = (current.hooks.get(hook) ?? []).filter((l) => jumps.includes(words(l).at(-1)!));
    // all there in libvirt's order (foreign rules may sit between or before them); else reinserted at the top
    if (present.map((l) => words(l).at(-1)).join() === jumps.join()) continue;
    hooks.push(...present.map(deletion), ...jumps.map((chain, i) => `-I ${hook} ${i + 1} -j ${chain}`));
    for (const chain of jumps) users.get(chain)!.forEach((p) => repaired.add(p));
  }

  for (const [port, want] of wanted) {
    const cur = current.ports.get(port) ?? EMPTY_PART;
    if (fingerprint(cur) === fingerprint(want)) continue;
    repaired.add(port);
    unlink.push(...without(cur.links, want.links).map(deletion));
    for (const [chain, rules] of Object.entries(want.chains)) {
      if (JSON.stringify(cur.chains[chain]) === JSON.stringify(rules)) continue;
      declare.push(spec.declare(chain));
      append.push(...rules);
    }
    for (const chain of Object.keys(cur.chains).filter((c) => !(c in want.chains))) {
      declare.push(spec.declare(chain));
      drop.push(`-X ${chain}`);
    }
    link.push(...without(want.links, cur.links));
  }
  const lines = [...declare, ...unlink, ...drop, ...append, ...link, ...hooks];
  if (lines.length === 0) return undefined;
  return { script: [`*${spec.table}`, ...lines, 'COMMIT', ''].join('\n'), repaired: [...repaired].sort() };
}
