// What the nftables backend asks the kernel, and only about our own tables: their current
// content (`nft -j list table <family> virtwall_nwf`, never the whole ruleset), one script
// applied as one transaction (`nft -f FILE`), and the capability probes run at start-up.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtwallError } from '../../errors.js';
import type { CommandRunner } from '../../exec/runner.js';
import { key, TABLE, type Family, type NftChain, type NftModel, type NftRule, type NftSet } from './model.js';

/** Runs `nft [flags] -f FILE` with `script` in FILE. */
async function nftScript(runner: CommandRunner, script: string, flags: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'virtwall-nft-'));
  try {
    const file = join(dir, 'change.nft');
    writeFileSync(file, script);
    return await runner.run(['nft', ...flags, '-f', file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Applies one transaction; on failure the kernel keeps its previous state and we throw. */
export async function applyScript(runner: CommandRunner, script: string): Promise<void> {
  if (script === '') return;
  const r = await nftScript(runner, script);
  if (r.status !== 0) throw new VirtwallError('operation-failed', `nft -f failed with status ${r.status}: ${r.stderr.trim()}`);
}

type Json = Record<string, unknown>;

const hex8 = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

/** One element part as compile.ts writes it, given the set's key type there. */
function part(v: unknown, type: string | undefined): string {
  if (typeof v === 'number') return type === 'mark' ? hex8(v) : type === 'integer' ? `0x${v.toString(16)}` : String(v);
  if (typeof v === 'string') return type === 'ifname' ? `"${v}"` : v;
  const o = v as Json;
  if (o['prefix']) {
    const p = o['prefix'] as { addr: string; len: number };
    return `${p.addr}/${p.len}`;
  }
  if (o['range']) return (o['range'] as unknown[]).map((x) => part(x, type)).join('-');
  if (o['jump']) return `jump ${(o['jump'] as { target: string }).target}`;
  if (o['elem']) return part((o['elem'] as Json)['val'], type);
  return JSON.stringify(v);
}

function element(e: unknown, types: string[], mapType: string | undefined): string {
  const [k, value] = Array.isArray(e) ? e : [e, undefined];
  const concat = typeof k === 'object' && k !== null ? (k as Json)['concat'] : undefined;
  const keyText = Array.isArray(concat) ? concat.map((x, i) => part(x, types[i])).join(' . ') : part(k, types[0]);
  return value === undefined ? keyText : `${keyText} : ${part(value, mapType)}`;
}

async function listTable(runner: CommandRunner, family: Family): Promise<Json[] | undefined> {
  const r = await runner.run(['nft', '-j', 'list', 'table', family, TABLE]);
  if (r.status !== 0) return undefined;
  return (JSON.parse(r.stdout) as { nftables: Json[] }).nftables;
}

/**
 * Our tables as a model, enough to diff against: chains with their rules' comments, sets and
 * maps with their elements. Undefined when neither table exists.
 */
export async function readModel(runner: CommandRunner): Promise<NftModel | undefined> {
  const chains = new Map<string, NftChain & { rules: NftRule[] }>();
  const sets = new Map<string, NftSet>();
  let found = false;
  for (const family of ['bridge', 'inet'] as const) {
    const items = await listTable(runner, family);
    if (!items) continue;
    found = true;
    for (const item of items) {
      if (item['chain']) {
        const c = item['chain'] as { name: string };
        chains.set(key(family, c.name), { family, name: c.name, rules: [] });
      } else if (item['rule']) {
        const r = item['rule'] as { chain: string; comment?: string };
        chains.get(key(family, r.chain))?.rules.push({ text: '', comment: r.comment ?? '' });
      } else if (item['set'] || item['map']) {
        const s = (item['set'] ?? item['map']) as { name: string; type: string | string[]; map?: string; elem?: unknown[] };
        const types = Array.isArray(s.type) ? s.type : [s.type];
        const elements = (s.elem ?? []).map((e) => element(e, types, s.map)).sort();
        sets.set(key(family, s.name), { family, name: s.name, kind: item['map'] ? 'map' : 'set', decl: '', elements });
      }
    }
  }
  return found ? { chains, sets } : undefined;
}

export interface NftCapabilities {
  /** `ct` works in the bridge family (nf_conntrack_bridge). */
  bridgeConntrack: boolean;
}

// No probe for the `owner` table flag: an owned table lives as long as the netlink socket that
// created it, and each change is its own `nft -f` process, while our rules must outlive even the
// daemon (restarts without gaps). `owner, persist` would fit, but nft 1.0.6 does not know it.

/** Checks (`nft -c`, nothing is changed) what this kernel and nft support. */
export async function probeCapabilities(runner: CommandRunner): Promise<NftCapabilities> {
  const scratch = 'add table bridge virtwall_probe\nadd chain bridge virtwall_probe c { type filter hook forward priority 0; }\n';
  const r = await nftScript(runner, `${scratch}add rule bridge virtwall_probe c ct state established accept\n`, ['-c']);
  return { bridgeConntrack: r.status === 0 };
}
