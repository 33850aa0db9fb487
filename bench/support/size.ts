// Ruleset size as the kernel holds it, counted the same way for every backend: tables, chains,
// rules and set/map elements of the whole ruleset of a bench namespace (`nft -j list ruleset`,
// which also shows what ebtables-nft and iptables-nft made).
import { spawnSync } from 'node:child_process';

export interface RulesetSize {
  tables: number;
  chains: number;
  rules: number;
  sets: number;
  elements: number;
}

export function rulesetSize(ns: string): RulesetSize {
  // Thousands of ebtables rules make tens of megabytes of JSON: room beyond spawnSync's 1 MB default.
  const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'ruleset'], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  if (r.status !== 0) throw new Error(`nft -j list ruleset in ${ns} failed: ${r.stderr || r.error}`);
  const out = r.stdout;
  const items = (JSON.parse(out) as { nftables: Record<string, { elem?: unknown[] }>[] }).nftables;
  const count = (kind: string) => items.filter((i) => i[kind]).length;
  const elements = items.reduce((n, i) => n + ((i['set'] ?? i['map'])?.elem?.length ?? 0), 0);
  return {
    tables: count('table'),
    chains: count('chain'),
    rules: count('rule'),
    sets: count('set') + count('map'),
    elements,
  };
}
