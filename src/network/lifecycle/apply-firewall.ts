// Puts networks' firewalls into the kernel as typed objects: the kernel is listed first (nft's
// JSON, `*-save`), what is missing of libvirt's global chains or table is planned from those
// listings, and everything goes in as one transaction per tool — one nft batch (NftClient), one
// `*-restore --noflush` per iptables tool (XtablesClient). The rules are then read back and
// recorded as the kernel holds them (parts.ts), so health checks and removals find them by value.
import { VirtwallError, type Diagnostics } from '../../errors.js';
import type { CommandRunner } from '../../exec/runner.js';
import type { NetworkDef } from '../../conf/network/types.js';
import type { NftClient } from '../../nft/client.js';
import type { Command } from '../../nft/batch.js';
import { renderCommandLine } from '../../plan/command.js';
import type { XtablesClient } from '../../xtables/client.js';
import type { RestoreLine, RestoreTable } from '../../xtables/restore.js';
import { rulesIn, type XtRuleset } from '../../xtables/save.js';
import type { ListedTable } from '../../nft/listing.js';
import { bridgeName, hasFirewall } from '../definition.js';
import { missingSkeleton as missingXtSkeleton } from '../firewall/iptables.js';
import {
  checksumFilter,
  missingSkeleton as missingNftSkeleton,
  NFT_TABLE,
  networkChainRules,
  SKELETON_CHAINS,
  skeletonJump,
  type ChainRule,
} from '../firewall/nftables.js';
import type { FirewallBackendName } from '../firewall/plan.js';
import {
  isNftPart,
  isTcPart,
  isXtablesPart,
  locate,
  type FirewallPart,
  type NftPart,
  type TcPart,
  type XtablesPart,
} from '../firewall/parts.js';
import {
  firewallIo,
  IPTABLES_TOOLS,
  locateParts,
  nftRules,
  sameNft,
  sameXt,
  xtRules,
  type FirewallIo,
} from './firewall-health.js';
import { networkTableRules, type IptablesTool, type TableRule } from '../firewall/xtables.js';

const XT_TABLES = ['filter', 'nat', 'mangle'] as const;
/** The nf_tables family of an iptables tool's tables (iptables-nft creates `ip filter`, ...). */
const NFT_FAMILY_OF: Record<IptablesTool, 'ip' | 'ip6'> = { iptables: 'ip', ip6tables: 'ip6' };
const NFT_FAMILIES = ['ip', 'ip6'] as const;

export interface AppliedFirewalls {
  /** Each network's parts, as the kernel holds them. */
  parts: FirewallPart[][];
  /** How many objects went to the kernel (0: everything was already there). */
  created: number;
  /** nf_tables tables ("ip filter", ...) that iptables-nft created for this change. */
  createdTables: string[];
}

/**
 * The restore script for one iptables tool, a pure value: libvirt's chains and jumps that
 * `before` (the tool's tables as listed) lacks, the `replacing` parts found there deleted, the
 * `wanted` rules inserted at the heads of their chains in libvirt's order.
 */
export function planXtables(
  before: XtRuleset,
  wanted: readonly TableRule[],
  replacing: readonly XtablesPart[],
): { script: RestoreTable[]; created: number } {
  const lines = new Map<string, RestoreLine[]>(XT_TABLES.map((t) => [t, []]));
  const skeleton = missingXtSkeleton(before);
  for (const m of skeleton) if (m.chain) lines.get(m.table)!.push({ declare: m.child });
  for (const [i, at] of locate(replacing, xtRules(before), sameXt).entries())
    if (at >= 0) lines.get(replacing[i]!.table)!.push({ delete: replacing[i]!.rule });
  for (const m of skeleton) if (m.jump) lines.get(m.table)!.push({ insert: m.jumpRule });
  for (const r of wanted) lines.get(r.table)!.push({ insert: r.rule });
  const created = skeleton.filter((m) => m.chain).length + skeleton.filter((m) => m.jump).length + wanted.length;
  return { script: XT_TABLES.map((table) => ({ table, lines: lines.get(table)! })), created };
}

/**
 * One iptables tool: the planned script in one restore, then each inserted rule read back from
 * the head of its chain (the k rules inserted into a chain are its first k, the last inserted first).
 */
async function applyXtables(
  tool: IptablesTool,
  defs: readonly NetworkDef[],
  replacing: readonly XtablesPart[],
  xt: XtablesClient,
) {
  const before = await xt.save(tool);
  const wanted = defs.map((d) => networkTableRules(d).filter((r) => r.tool === tool));
  const { script, created } = planXtables(before, wanted.flat(), replacing);
  await xt.restore(tool, script);
  const createdTables = script
    .filter((t) => t.lines.length > 0 && !before.has(t.table))
    .map((t) => `${NFT_FAMILY_OF[tool]} ${t.table}`);
  const after = wanted.flat().length > 0 ? await xt.save(tool) : before;
  const inserted = new Map<string, number>();
  for (const r of wanted.flat())
    inserted.set(`${r.table} ${r.rule.chain}`, (inserted.get(`${r.table} ${r.rule.chain}`) ?? 0) + 1);
  const seen = new Map<string, number>();
  const parts = wanted.map((rules) =>
    rules.map((r): XtablesPart => {
      const k = `${r.table} ${r.rule.chain}`;
      const n = seen.get(k) ?? 0;
      seen.set(k, n + 1);
      const rule = rulesIn(after.get(r.table), r.rule.chain)[inserted.get(k)! - 1 - n];
      if (!rule)
        throw new VirtwallError(
          'operation-failed',
          `${tool} chain ${r.rule.chain} of table ${r.table} lacks the rules just inserted into it`,
        );
      return { tool, table: r.table, rule };
    }),
  );
  return { parts, created, createdTables };
}

/**
 * The nft batch, a pure value: libvirt's table, chains and jumps that the listed tables lack,
 * the `replacing` parts found there deleted (by the handles of the rules equal to them), the
 * `wanted` rules inserted at the heads of their chains in libvirt's order; both families in one.
 */
export function planNft(
  listed: Readonly<Record<'ip' | 'ip6', ListedTable | undefined>>,
  wanted: readonly ChainRule[],
  replacing: readonly NftPart[],
): { batch: Command[]; created: number } {
  const batch: Command[] = [];
  let created = wanted.length;
  for (const family of NFT_FAMILIES) {
    const missing = missingNftSkeleton(listed[family], family);
    if (missing.table) batch.push({ verb: 'add', table: family });
    for (const c of missing.chains)
      batch.push({ verb: 'add', chain: { family, name: c.name, ...(c.hook ? { hook: c.hook } : {}) } });
    for (const c of missing.jumps)
      batch.push({ verb: 'insert', chain: { family, name: c.parent! }, rule: skeletonJump(c.name) });
    created += Number(missing.table) + missing.chains.length + missing.jumps.length;
    const rules = nftRules(listed[family]);
    const mine = replacing.filter((p) => p.family === family);
    for (const [i, at] of locate(mine, rules, sameNft).entries())
      if (at >= 0) batch.push({ verb: 'delete', handle: rules[at]!.handle!, chain: { family, name: mine[i]!.chain } });
  }
  for (const r of wanted) batch.push({ verb: 'insert', chain: { family: r.family, name: r.chain }, rule: r.rule });
  return { batch, created };
}

/** The chains holding the jumps of libvirt's skeleton (what planNft needs of their rules when it replaces none). */
const SKELETON_PARENTS = [...new Set(SKELETON_CHAINS.flatMap((c) => (c.parent ? [c.parent] : [])))];

/**
 * The nft backend: the planned batch as one transaction; the client reads the inserted rules
 * back as the kernel holds them, with their handles (NftClient.applyWithHandles). A family whose rules are not replaced is listed without the networks'
 * rules (chains and skeleton jumps only): a start costs the same however many networks run.
 */
async function applyNft(defs: readonly NetworkDef[], replacing: readonly NftPart[], nft: NftClient) {
  const listing = (family: 'ip' | 'ip6') =>
    replacing.some((p) => p.family === family)
      ? nft.list(family, NFT_TABLE)
      : nft.listChains(family, NFT_TABLE, SKELETON_PARENTS);
  const listed = { ip: await listing('ip'), ip6: await listing('ip6') };
  const wanted = defs.map((d) => networkChainRules(d));
  const { batch, created } = planNft(listed, wanted.flat(), replacing);
  const added = await nft.applyWithHandles(batch, NFT_TABLE);
  // the handles stop deletes by, with the table's that numbered them (asked once the batch is in)
  const tables = new Map<string, number | undefined>();
  if (added.some((a) => a.handle !== undefined))
    for (const family of new Set(wanted.flat().map((r) => r.family)))
      tables.set(family, await nft.tableHandle(family, NFT_TABLE));
  // the client returns the kernel's form of every added rule in order: the jumps first
  let at = added.length - wanted.flat().length;
  const parts = wanted.map((rules) =>
    rules.map((r): NftPart => {
      const { body, handle } = added[at++]!;
      const table = tables.get(r.family);
      const where = handle !== undefined && table !== undefined ? { handle, table } : {};
      return { family: r.family, chain: r.chain, comment: r.rule.comment, body, ...where };
    }),
  );
  return { parts, created };
}

/** The DHCP checksum fix needs the act_csum kernel module; without it libvirt's tc filter cannot exist. */
const isMissingCsumAction = (stderr: string) =>
  ['Failed to load TC action module', 'Unknown action'].some((s) => stderr.toLowerCase().includes(s.toLowerCase()));

/**
 * Runners whose kernel refused the csum action, with tc's words: later starts skip the fix
 * without starting tc (three processes per start). A module installed meanwhile counts from
 * the daemon's next start.
 */
const csumMissing = new WeakMap<CommandRunner, string>();

const skippedWarning = (stderr: string) =>
  `kernel lacks the tc csum action: DHCP checksum fix on the bridge skipped (${stderr})`;

/**
 * The nftables backend's DHCP checksum fix (nftablesAddFirewallRules): a tc filter on the bridge,
 * under a root qdisc created if the bridge has none (virNetDevBandWidthAddTxFilterParentQdisc).
 */
async function addChecksumFilter(def: NetworkDef, runner: CommandRunner, diag: Diagnostics): Promise<TcPart[]> {
  const br = bridgeName(def);
  const missing = csumMissing.get(runner);
  if (missing !== undefined) {
    diag.warn(skippedWarning(missing));
    return [];
  }
  const run = async (argv: readonly string[]) => {
    const r = await runner.run(argv);
    if (r.status !== 0 && !(argv.includes('csum') && isMissingCsumAction(r.stderr))) {
      throw new VirtwallError(
        'operation-failed',
        `'${renderCommandLine(argv)}' failed (${r.status}): ${r.stderr.trim()}`,
      );
    }
    return r;
  };
  if ((await run(['tc', 'qdisc', 'show', 'dev', br, 'handle', '1:'])).stdout.trim() === '') {
    await run(['tc', 'qdisc', 'add', 'dev', br, 'root', 'handle', '1:', 'htb', 'default', '2']);
  }
  const r = await run(checksumFilter(br, 'add').argv);
  if (r.status !== 0) {
    csumMissing.set(runner, r.stderr.trim());
    diag.warn(skippedWarning(r.stderr.trim()));
    return [];
  }
  return [{ tc: checksumFilter(br, 'del').argv }];
}

/**
 * Applies libvirt's global chains (or tables) where missing and the firewall of each of `defs`,
 * replacing `replacing` (parts of earlier records still in the kernel) in the same transactions,
 * so a re-apply never doubles a rule nor leaves one missing. On failure nothing of the networks'
 * rules is left. `checksum`: also add the nftables backend's tc filter (not on a re-apply: it
 * stays with the bridge).
 */
export async function applyNetworkFirewalls(
  backend: FirewallBackendName,
  defs: readonly NetworkDef[],
  replacing: readonly FirewallPart[],
  io: CommandRunner | FirewallIo,
  diag: Diagnostics,
  checksum = true,
): Promise<AppliedFirewalls> {
  const { runner, nft, xt } = firewallIo(io);
  const nets = defs.filter(hasFirewall);
  const parts: FirewallPart[][] = defs.map(() => []);
  const add = (per: FirewallPart[][]) => {
    for (const [i, p] of per.entries()) parts[defs.indexOf(nets[i]!)]!.push(...p);
  };
  if (backend === 'nftables') {
    const applied = await applyNft(nets, replacing.filter(isNftPart), nft);
    add(applied.parts);
    try {
      // nftablesAddFirewallRules adds the tc filter to every network
      if (checksum) for (const d of nets) parts[defs.indexOf(d)]!.push(...(await addChecksumFilter(d, runner, diag)));
    } catch (err) {
      await removeNetworkFirewall(parts.flat(), io);
      throw err;
    }
    return { parts, created: applied.created, createdTables: [] };
  }
  let created = 0;
  const createdTables: string[] = [];
  try {
    for (const tool of IPTABLES_TOOLS) {
      const applied = await applyXtables(
        tool,
        nets,
        replacing.filter((p) => isXtablesPart(p) && p.tool === tool) as XtablesPart[],
        xt,
      );
      add(applied.parts);
      created += applied.created;
      createdTables.push(...applied.createdTables);
    }
  } catch (err) {
    await removeNetworkFirewall(parts.flat(), runner);
    throw err;
  }
  return { parts, created, createdTables };
}

/** Applies the global setup and one network's firewall; its parts are what removeNetworkFirewall takes. */
export async function applyNetworkFirewall(
  backend: FirewallBackendName,
  def: NetworkDef,
  io: CommandRunner | FirewallIo,
  diag: Diagnostics,
) {
  const { parts, ...rest } = await applyNetworkFirewalls(backend, [def], [], io, diag);
  return { parts: parts[0]!, ...rest };
}

/** A network whose firewall was applied before, to get `def`'s rules instead. */
export interface Reapply {
  def: NetworkDef;
  /** Its record. */
  previous: readonly FirewallPart[];
  /** The part of the record still in the kernel. */
  present: readonly FirewallPart[];
}

/**
 * Applies the firewalls of networks applied before, all in one transaction per tool: the present
 * parts are swapped for the new rules; each bridge's tc filter is kept with its record. Returns
 * the new record of each network, in order.
 */
export async function reapplyNetworkFirewalls(
  backend: FirewallBackendName,
  networks: readonly Reapply[],
  io: CommandRunner | FirewallIo,
  diag: Diagnostics,
) {
  const replacing = networks.flatMap((n) => n.present.filter((p) => !isTcPart(p)));
  const applied = await applyNetworkFirewalls(
    backend,
    networks.map((n) => n.def),
    replacing,
    io,
    diag,
    false,
  );
  return {
    removals: applied.parts.map((p, i) => [...p, ...networks[i]!.previous.filter(isTcPart)]),
    createdTables: applied.createdTables,
  };
}

/**
 * The handles of the nft parts as recorded at start, when every part has one and each family's
 * table is still the one that numbered them; else undefined: the parts must be found by value.
 */
async function recordedHandles(parts: readonly NftPart[], nft: FirewallIo['nft']) {
  if (parts.length === 0 || parts.some((p) => p.handle === undefined || p.table === undefined)) return undefined;
  for (const family of new Set(parts.map((p) => p.family))) {
    const table = await nft.tableHandle(family, NFT_TABLE);
    if (parts.some((p) => p.family === family && p.table !== table)) return undefined;
  }
  return new Map(parts.map((p) => [p, p.handle!]));
}

/**
 * Removes the parts that are still in the kernel: one transaction per tool; if it fails (the
 * kernel changed meanwhile) each part is removed on its own, errors ignored. nft rules go by the
 * handles recorded at start where they still name them (no listing), else by those a listing
 * finds for them.
 */
export async function removeNetworkFirewall(
  parts: readonly FirewallPart[],
  io: CommandRunner | FirewallIo,
): Promise<void> {
  const { runner, nft, xt } = firewallIo(io);
  const recorded = await recordedHandles(parts.filter(isNftPart), nft);
  const { present, handles } = await locateParts(recorded ? parts.filter((p) => !isNftPart(p)) : parts, io);
  for (const tool of IPTABLES_TOOLS) {
    const found = present.filter((p): p is XtablesPart => isXtablesPart(p) && p.tool === tool);
    const script = (ps: readonly XtablesPart[]) =>
      XT_TABLES.map((table) => ({
        table,
        lines: ps.filter((p) => p.table === table).map((p) => ({ delete: p.rule })),
      }));
    await xt.restore(tool, script(found)).catch(async () => {
      for (const p of found) await xt.restore(tool, script([p])).catch(() => undefined);
    });
  }
  const deletes: Command[] = [...(recorded ?? handles)].map(([p, handle]) => ({
    verb: 'delete',
    handle,
    chain: { family: p.family, name: p.chain },
  }));
  await nft.apply(deletes, NFT_TABLE).catch(async () => {
    for (const d of deletes) await nft.apply([d], NFT_TABLE).catch(() => undefined);
  });
  for (const p of parts.filter(isTcPart)) await runner.run(p.tc);
}
