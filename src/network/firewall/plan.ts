// A network's firewall as pure data: what libvirt runs to add it (per backend) and what it runs
// later to remove it. The removal is derived the way libvirt derives it (virFirewall's
// auto-rollback): every rule-creating command that ran is undone by its mirror command, in
// reverse order, errors ignored.
import type { FirewallCommand } from '../../plan/command.js';
import type { CommandGroup } from '../../plan/transaction.js';

export type FirewallBackendName = 'iptables' | 'nftables';

/** One virFirewall group; `rollback` holds undo commands known before anything runs. */
export interface FirewallTransaction extends CommandGroup {
  /** libvirt's AUTO_ROLLBACK: each successful creating command records its mirror as undo. */
  autoRollback: boolean;
}

export interface NetworkFirewallPlan {
  backend: FirewallBackendName;
  groups: FirewallTransaction[];
}

export interface BackendRollback {
  /** The command undoing `cmd` given its standard output, or undefined if it creates nothing. */
  rollbackOf(cmd: FirewallCommand, output: string): FirewallCommand | undefined;
}

/**
 * The commands that remove what `plan` added. `outputOf` gives each command's standard output
 * when it ran (nft prints the handle of the rule it created there).
 */
export function removalCommands(
  plan: NetworkFirewallPlan,
  backend: BackendRollback,
  outputOf: (cmd: FirewallCommand) => string = () => '',
): FirewallCommand[] {
  const undo = plan.groups.map((g) => [
    ...g.rollback,
    ...(g.autoRollback ? g.commands.flatMap((c) => backend.rollbackOf(c, outputOf(c)) ?? []) : []),
  ]);
  return undo
    .reverse()
    .flatMap((g) => g.reverse())
    .map((c) => ({ argv: c.argv, ignoreErrors: true }));
}
