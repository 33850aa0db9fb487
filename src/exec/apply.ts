// Applying a FirewallPlan with libvirt's virFirewallApply semantics: groups in order; inside a
// group, a failing command aborts unless the group or the command ignores errors; on abort the
// failed group's rollback commands run (their errors ignored) and the failure is reported.
import { VirtwallError } from '../errors.js';
import { renderCommandLine } from '../plan/command.js';
import type { CommandGroup, FirewallPlan, PlannedCommand } from '../plan/transaction.js';
import type { CommandRunner } from './runner.js';

export async function applyPlan(plan: FirewallPlan, runner: CommandRunner): Promise<void> {
  for (const group of plan) {
    const failure = await applyGroup(group, runner);
    if (failure) {
      for (const cmd of group.rollback) await runner.run(cmd.argv);
      throw failure;
    }
  }
}

/** Plans one after the other; a failing plan stops the sequence (its own rollback done). */
export async function applyPlans(plans: readonly FirewallPlan[], runner: CommandRunner): Promise<void> {
  for (const plan of plans) await applyPlan(plan, runner);
}

async function applyGroup(group: CommandGroup, runner: CommandRunner): Promise<VirtwallError | undefined> {
  // Follow-ups are appended to the group being applied, as libvirt's query callbacks do.
  const queue: PlannedCommand[] = [...group.commands];
  for (let i = 0; i < queue.length; i++) {
    const cmd = queue[i]!;
    const r = await runner.run(cmd.argv);
    if (r.status !== 0) {
      if (group.ignoreErrors || cmd.ignoreErrors) continue;
      return new VirtwallError(
        'operation-failed',
        `command '${renderCommandLine(cmd.argv)}' failed with status ${r.status}: ${r.stderr.trim()}`,
      );
    }
    if (cmd.followUp) queue.push(...cmd.followUp(r.stdout));
  }
  return undefined;
}
