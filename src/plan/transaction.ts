// A firewall change as libvirt's virFirewall models it: groups of commands run in order. A group
// either tolerates every failure (cleanup of what may not exist) or aborts on the first one that
// is not marked ignoreErrors, after running that group's rollback commands. A command may also
// carry a follow-up that reads its output (libvirt's query callbacks, e.g. listing an ebtables
// chain to find its sub-chains); the derived commands run at the end of the same group.
import type { FirewallCommand } from './command.js';

export interface PlannedCommand extends FirewallCommand {
  /** Pure function of the command's stdout; a dry run (no output) derives nothing. */
  followUp?: (stdout: string) => PlannedCommand[];
}

export interface CommandGroup {
  /** libvirt's VIR_FIREWALL_TRANSACTION_IGNORE_ERRORS. */
  ignoreErrors: boolean;
  commands: PlannedCommand[];
  /** Run (errors ignored) when a command of this group fails. */
  rollback: PlannedCommand[];
}

export type FirewallPlan = CommandGroup[];

/** Collects groups the way libvirt's virFirewallStartTransaction/StartRollback/AddRule do. */
export class PlanBuilder {
  readonly groups: CommandGroup[] = [];
  private target: PlannedCommand[] | undefined;

  startGroup(ignoreErrors = false): this {
    const group: CommandGroup = { ignoreErrors, commands: [], rollback: [] };
    this.groups.push(group);
    this.target = group.commands;
    return this;
  }

  startRollback(): this {
    const group = this.groups[this.groups.length - 1];
    if (!group) throw new Error('startRollback() before startGroup()');
    this.target = group.rollback;
    return this;
  }

  add(cmd: PlannedCommand): this {
    if (!this.target) throw new Error('add() before startGroup()');
    this.target.push(cmd);
    return this;
  }

  build(): FirewallPlan {
    return this.groups;
  }
}

/** The commands a dry run executes: every group's commands, no rollback, no follow-ups. */
export function dryRunCommands(plan: FirewallPlan): FirewallCommand[] {
  return plan.flatMap((g) => g.commands.map(({ argv, ignoreErrors }) => ({ argv, ignoreErrors })));
}
