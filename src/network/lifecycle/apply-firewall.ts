// Carries out a network's firewall plan as kernel transactions instead of libvirt's one process
// per rule: read-only queries (libvirt's listing commands and their follow-ups) run first and
// decide what is missing; then every creating command goes to the kernel in one `nft -f` batch
// or one `*-restore --noflush` run per tool. The returned removal commands are what libvirt
// would record (nft deletes by the handles the batch echoed).
import { VirtwallError, type Diagnostics } from '../../errors.js';
import type { CommandRunner } from '../../exec/runner.js';
import { renderCommandLine, type FirewallCommand } from '../../plan/command.js';
import type { PlannedCommand } from '../../plan/transaction.js';
import { networkRemovalCommands } from '../firewall/backends.js';
import type { FirewallTransaction, NetworkFirewallPlan } from '../firewall/plan.js';
import { nftScript, restoreScript, toolOf, type BatchTool } from './firewall-batch.js';

const RESTORE: Record<'iptables' | 'ip6tables', string> = { iptables: 'iptables-restore', ip6tables: 'ip6tables-restore' };

/** A query is a command whose output decides what else runs; it changes nothing. */
const isQuery = (c: PlannedCommand): boolean => c.followUp !== undefined;

/** Runs the queries of `groups` and returns the creating commands they and the plan call for, in order. */
async function resolveCommands(groups: readonly FirewallTransaction[], runner: CommandRunner): Promise<FirewallCommand[]> {
  const out: FirewallCommand[] = [];
  for (const group of groups) {
    const queue = [...group.commands];
    for (let i = 0; i < queue.length; i++) {
      const cmd = queue[i]!;
      if (!isQuery(cmd)) {
        out.push(cmd);
        continue;
      }
      // libvirt reads a failed listing (table absent) as empty output
      const r = await runner.run(cmd.argv);
      queue.splice(i + 1, 0, ...cmd.followUp!(r.status === 0 ? r.stdout : ''));
    }
  }
  return out;
}

/** Runs `argv` with `script` on its stdin; returns stdout, or throws with its error. */
async function runBatch(runner: CommandRunner, argv: readonly string[], script: string): Promise<string> {
  const r = await runner.run(argv, script);
  if (r.status !== 0) throw new VirtwallError('operation-failed', `'${renderCommandLine(argv)}' failed (${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

const NFT_CREATES = /^(add|insert|create) (table|chain|rule) /;

/** The DHCP checksum fix needs the act_csum kernel module; without it libvirt's tc filter cannot exist. */
function isMissingCsumAction(cmd: FirewallCommand, stderr: string): boolean {
  return cmd.argv[0] === 'tc' && cmd.argv.includes('csum') && /Failed to load TC action module|Unknown action/i.test(stderr);
}

export interface AppliedFirewall {
  /** Commands that remove what was applied (errors ignored when run), as libvirt records them. */
  removal: FirewallCommand[];
  /** How many creating commands went to the kernel (0: everything was already there). */
  created: number;
  /** nf_tables tables ("ip filter", ...) that iptables-nft created for this change. */
  createdTables: string[];
}

const IPT_FAMILY: Record<'iptables' | 'ip6tables', string> = { iptables: 'ip', ip6tables: 'ip6' };

/** The tables an iptables batch touches that do not exist yet (iptables-nft creates them). */
async function missingTables(tool: 'iptables' | 'ip6tables', cmds: readonly FirewallCommand[], runner: CommandRunner): Promise<string[]> {
  const tables = new Set(cmds.map((c) => (c.argv.includes('--table') ? c.argv[c.argv.indexOf('--table') + 1]! : 'filter')));
  const missing: string[] = [];
  for (const t of tables) {
    const name = `${IPT_FAMILY[tool]} ${t}`;
    if ((await runner.run(['nft', 'list', 'table', IPT_FAMILY[tool], t])).status !== 0) missing.push(name);
  }
  return missing;
}

function groupByTool(cmds: readonly FirewallCommand[]): Map<BatchTool, FirewallCommand[]> {
  const byTool = new Map<BatchTool, FirewallCommand[]>();
  for (const c of cmds) {
    const tool = toolOf(c);
    if (!byTool.has(tool)) byTool.set(tool, []);
    byTool.get(tool)!.push(c);
  }
  return byTool;
}

/**
 * Applies the global setup and a network's plan. On failure nothing of the network's rules is
 * left: each tool's batch is all-or-nothing, and batches already applied are removed again.
 */
export async function applyNetworkFirewall(
  globalSetup: readonly FirewallTransaction[],
  plan: NetworkFirewallPlan,
  runner: CommandRunner,
  diag: Diagnostics,
): Promise<AppliedFirewall> {
  const { removals, ...rest } = await applyNetworkFirewalls(globalSetup, [plan], runner, diag, []);
  return { removal: removals[0]!, ...rest };
}

/**
 * applyNetworkFirewall for several networks' plans in the same batches, one removal record per
 * plan. `replacing` (removal commands of parts already in the kernel) runs first in the batch of
 * its tool, so a re-apply swaps old parts for new ones in one transaction, never doubling them.
 */
async function applyNetworkFirewalls(
  globalSetup: readonly FirewallTransaction[],
  plans: readonly NetworkFirewallPlan[],
  runner: CommandRunner,
  diag: Diagnostics,
  replacing: readonly FirewallCommand[],
): Promise<Omit<AppliedFirewall, 'removal'> & { removals: FirewallCommand[][] }> {
  const setup = await resolveCommands(globalSetup, runner);
  const rules = await resolveCommands(plans.flatMap((p) => p.groups), runner);
  const output = new Map<FirewallCommand, string>();
  const byTool = groupByTool([...setup, ...rules]);
  const removing = groupByTool(replacing);
  const applied: FirewallCommand[] = [];
  const skipped = new Set<FirewallCommand>();
  const createdTables: string[] = [];
  try {
    for (const [tool, cmds] of byTool) {
      if (tool === 'nft') {
        const echoed = (await runBatch(runner, ['nft', '--echo', '--handle', '-f', '-'], nftScript([...(removing.get(tool) ?? []), ...cmds])))
          .split('\n')
          .filter((l) => NFT_CREATES.test(l));
        const creating = cmds.filter((c) => NFT_CREATES.test(c.argv.filter((a) => !a.startsWith('-')).slice(1).join(' ')));
        if (echoed.length !== creating.length) {
          throw new VirtwallError('operation-failed', `nft echoed ${echoed.length} objects for ${creating.length} created`);
        }
        creating.forEach((c, i) => output.set(c, echoed[i]!));
      } else if (tool === 'tc') {
        for (const c of cmds) {
          const r = await runner.run(c.argv);
          if (r.status === 0) continue;
          if (isMissingCsumAction(c, r.stderr)) {
            diag.warn(`kernel lacks the tc csum action: DHCP checksum fix on the bridge skipped (${r.stderr.trim()})`);
            skipped.add(c);
            continue;
          }
          throw new VirtwallError('operation-failed', `'${renderCommandLine(c.argv)}' failed (${r.status}): ${r.stderr.trim()}`);
        }
      } else {
        const missing = await missingTables(tool, cmds, runner);
        await runBatch(runner, [RESTORE[tool], '--noflush'], restoreScript([...(removing.get(tool) ?? []), ...cmds]));
        createdTables.push(...missing);
      }
      applied.push(...cmds);
    }
  } catch (err) {
    await removeNetworkFirewall(plans.flatMap((p) => removalFor(p, applied, output)), runner);
    throw err;
  }
  const removals = plans.map((plan) =>
    networkRemovalCommands(plan, (c) => output.get(c) ?? '').filter((c) => ![...skipped].some((s) => sameTcObject(s, c))),
  );
  return { removals, createdTables, created: applied.length };
}

/** `tc filter add X` and `tc filter del X` name the same object. */
function sameTcObject(a: FirewallCommand, b: FirewallCommand): boolean {
  const rest = (c: FirewallCommand) => [c.argv[0], c.argv[1], ...c.argv.slice(3)].join(' ');
  return rest(a) === rest(b);
}

/** Undo of a partial application: the plan's removal restricted to what ran. */
function removalFor(plan: NetworkFirewallPlan, applied: FirewallCommand[], output: Map<FirewallCommand, string>): FirewallCommand[] {
  const ran = new Set(applied);
  const partial: NetworkFirewallPlan = {
    backend: plan.backend,
    groups: plan.groups.map((g) => ({ ...g, commands: g.commands.filter((c) => ran.has(c)), rollback: g.commands.some((c) => ran.has(c)) ? g.rollback : [] })),
  };
  return networkRemovalCommands(partial, (c) => output.get(c) ?? '');
}

/**
 * Removes a network's rules: one batch per tool; if a batch fails (something was already gone,
 * e.g. after a foreign flush) its commands run one by one with errors ignored, as libvirt does.
 */
export async function removeNetworkFirewall(removal: readonly FirewallCommand[], runner: CommandRunner): Promise<void> {
  for (const [tool, cmds] of groupByTool(removal)) {
    if (tool === 'tc') {
      for (const c of cmds) await runner.run(c.argv);
      continue;
    }
    const argv = tool === 'nft' ? ['nft', '-f', '-'] : [RESTORE[tool], '--noflush'];
    const script = tool === 'nft' ? nftScript(cmds) : restoreScript(cmds);
    try {
      await runBatch(runner, argv, script);
    } catch {
      for (const c of cmds) await runner.run(c.argv);
    }
  }
}

const isTc = (c: FirewallCommand): boolean => c.argv[0] === 'tc';

/** The plan without its tc part: the bridge's qdisc and DHCP checksum filter stay with the bridge. */
function withoutTc(plan: NetworkFirewallPlan): NetworkFirewallPlan {
  return {
    backend: plan.backend,
    groups: plan.groups.map((g) => ({ ...g, commands: g.commands.filter((c) => !isTc(c)), rollback: g.rollback.filter((c) => !isTc(c)) })),
  };
}

/** A network whose firewall was applied before, to get `plan`'s rules instead. */
export interface Reapply {
  plan: NetworkFirewallPlan;
  /** Its removal record. */
  previous: readonly FirewallCommand[];
  /** The part of the record still in the kernel. */
  present: readonly FirewallCommand[];
}

/**
 * Applies the plans of networks whose firewall was applied before, all in one batch per tool:
 * the present parts are swapped for the plans' rules, so no rule is doubled and none is missing
 * at any moment the batch leaves; each bridge's tc filter is kept with its removal. Returns the
 * new removal record of each network, in order.
 */
export async function reapplyNetworkFirewalls(
  globalSetup: readonly FirewallTransaction[],
  networks: readonly Reapply[],
  runner: CommandRunner,
  diag: Diagnostics,
): Promise<{ removals: FirewallCommand[][]; createdTables: string[] }> {
  const replacing = networks.flatMap((n) => n.present.filter((c) => !isTc(c)));
  const { removals, createdTables } = await applyNetworkFirewalls(globalSetup, networks.map((n) => withoutTc(n.plan)), runner, diag, replacing);
  return { removals: removals.map((r, i) => [...r, ...networks[i]!.previous.filter(isTc)]), createdTables };
}
