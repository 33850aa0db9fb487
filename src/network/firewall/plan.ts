// A network's firewall as libvirt runs it, as pure data: the command groups libvirt's iptables and
// nftables backends run to add it (virFirewall transactions), as libvirt's tests print them.
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
