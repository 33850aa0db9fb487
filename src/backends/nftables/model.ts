// The nftables state virtwall owns, as pure data: two tables (`bridge virtwall_nwf` for what
// libvirt puts in ebtables, `inet virtwall_nwf` for what it puts in iptables), their chains,
// sets and maps. A change is the difference between two models, written as ONE nft script so
// the kernel switches from the old complete state to the new one in a single transaction.

export const TABLE = 'virtwall_nwf';
export type Family = 'bridge' | 'inet';

export interface NftRule {
  /** The rule as `add rule` takes it, comment included. */
  text: string;
  /** The rule's comment: how a listed kernel rule is recognised (and traced, see trace.ts). */
  comment: string;
}

export interface NftChain {
  family: Family;
  name: string;
  /** Base chain declaration (`type filter hook ... priority ...; policy accept;`), if hooked. */
  hook?: string;
  rules: readonly NftRule[];
}

export interface NftSet {
  family: Family;
  name: string;
  kind: 'set' | 'map';
  /** Declaration body, e.g. `typeof iifname . ether saddr; flags interval;`. */
  decl: string;
  /** Elements as nft writes them (`"vnet0" . 52:54:00:00:00:0a`, `0x76760001 : jump s1_fwd`). */
  elements: readonly string[];
}

export interface NftModel {
  chains: ReadonlyMap<string, NftChain>;
  sets: ReadonlyMap<string, NftSet>;
}

export const key = (family: Family, name: string) => `${family} ${name}`;

const FAMILIES: readonly Family[] = ['bridge', 'inet'];

const same = (a: readonly NftRule[], b: readonly NftRule[]) => a.length === b.length && a.every((r, i) => r.comment === b[i]!.comment);

/**
 * The nft script that turns `from` (what the kernel holds; undefined when our tables do not
 * exist) into `to`. Order inside the transaction: new sets and chains, their rules, changed
 * chains re-filled, elements removed then added (a port's verdict-map entry moves to its new
 * chain in the same step), and at last chains and sets nobody uses any more.
 */
export function diffScript(from: NftModel | undefined, to: NftModel): string {
  const out: string[] = [];
  const has = (m: NftModel | undefined, fam: Family) => !!m && [...m.chains.values(), ...m.sets.values()].some((x) => x.family === fam);
  for (const fam of FAMILIES) if (has(to, fam) && !has(from, fam)) out.push(`add table ${fam} ${TABLE}`);
  const old = from ?? { chains: new Map<string, NftChain>(), sets: new Map<string, NftSet>() };

  for (const [k, s] of to.sets) if (!old.sets.has(k)) out.push(`add ${s.kind} ${s.family} ${TABLE} ${s.name} { ${s.decl} }`);
  const added = [...to.chains].filter(([k]) => !old.chains.has(k)).map(([, c]) => c);
  for (const c of added) out.push(`add chain ${c.family} ${TABLE} ${c.name}${c.hook ? ` { ${c.hook} }` : ''}`);
  const changed = [...to.chains].filter(([k, c]) => old.chains.has(k) && !same(old.chains.get(k)!.rules, c.rules)).map(([, c]) => c);
  for (const c of changed) out.push(`flush chain ${c.family} ${TABLE} ${c.name}`);
  for (const c of [...added, ...changed]) for (const r of c.rules) out.push(`add rule ${c.family} ${TABLE} ${c.name} ${r.text}`);

  const elementChanges = (verb: 'add' | 'delete', a: ReadonlyMap<string, NftSet>, b: ReadonlyMap<string, NftSet>) => {
    for (const [k, s] of a) {
      const other = new Set(b.get(k)?.elements ?? []);
      const diff = s.elements.filter((e) => !other.has(e));
      if (diff.length > 0 && (verb === 'add' || b.has(k))) out.push(`${verb} element ${s.family} ${TABLE} ${s.name} { ${diff.join(', ')} }`);
    }
  };
  elementChanges('delete', old.sets, to.sets);
  elementChanges('add', to.sets, old.sets);

  const gone = [...old.chains].filter(([k]) => !to.chains.has(k)).map(([, c]) => c);
  for (const c of gone) out.push(`flush chain ${c.family} ${TABLE} ${c.name}`);
  for (const c of gone) out.push(`delete chain ${c.family} ${TABLE} ${c.name}`);
  for (const [k, s] of old.sets) if (!to.sets.has(k)) out.push(`delete ${s.kind} ${s.family} ${TABLE} ${s.name}`);
  return out.length > 0 ? out.join('\n') + '\n' : '';
}

/**
 * `from` plus the chains (with their rules) and empty sets that `to` adds: what the first of the
 * two transactions of a change loads, before any traffic can reach it. The kernel picks a base
 * chain's rules by the generation current when the packet entered, but looks up verdict maps
 * by the generation current at lookup time; a port's map entry switched to a chain created in
 * the same transaction can therefore, for an instant, lead a packet into that chain as it was
 * in the previous generation: empty, so the packet would pass unfiltered. Chains that already
 * exist, fully populated, when the map entry moves close that window. The second transaction
 * (diffScript(prepared, to)) is then the atomic switch: elements, map entries, old chains.
 */
export function preparedModel(from: NftModel | undefined, to: NftModel): NftModel {
  const chains = new Map(from?.chains ?? []);
  for (const [k, c] of to.chains) if (!chains.has(k)) chains.set(k, c);
  const sets = new Map(from?.sets ?? []);
  for (const [k, s] of to.sets) if (!sets.has(k)) sets.set(k, { ...s, elements: [] });
  return { chains, sets };
}

/** Counts for tests and reports: rules, chains, set elements. */
export function modelSize(m: NftModel): { rules: number; chains: number; elements: number } {
  let rules = 0;
  for (const c of m.chains.values()) rules += c.rules.length;
  let elements = 0;
  for (const s of m.sets.values()) elements += s.elements.length;
  return { rules, chains: m.chains.size, elements };
}
