// The two firewall backends behind one table: the global chains created when the first network
// starts, a network's plan, and how its commands are undone.
import type { FirewallCommand } from '../../plan/command.js';
import type { IpFamily } from '../../util/address.js';
import { iptablesGlobalSetup, iptablesNetworkPlan, iptablesRollback } from './iptables.js';
import type { NetworkDef } from '../../conf/network/types.js';
import { hasFirewall } from '../definition.js';
import { nftablesGlobalSetup, nftablesNetworkPlan, nftablesRollback } from './nftables.js';
import {
  removalCommands,
  type FirewallBackendName,
  type BackendRollback,
  type FirewallTransaction,
  type NetworkFirewallPlan,
} from './plan.js';

interface Backend {
  globalSetup(family: IpFamily): FirewallTransaction[];
  networkPlan(net: NetworkDef): NetworkFirewallPlan;
  rollback: BackendRollback;
}

const BACKENDS: Record<FirewallBackendName, Backend> = {
  iptables: { globalSetup: iptablesGlobalSetup, networkPlan: iptablesNetworkPlan, rollback: iptablesRollback },
  nftables: { globalSetup: nftablesGlobalSetup, networkPlan: nftablesNetworkPlan, rollback: nftablesRollback },
};

export const BACKEND_NAMES = Object.keys(BACKENDS) as FirewallBackendName[];

/** networkSetupPrivateChains: libvirt's global chains or tables, IPv4 then IPv6. */
export function globalSetupPlan(backend: FirewallBackendName): FirewallTransaction[] {
  return [...BACKENDS[backend].globalSetup('ipv4'), ...BACKENDS[backend].globalSetup('ipv6')];
}

/** libvirt's networkAddFirewallRules: the rules, whatever the forward mode. */
export function addFirewallRulesPlan(net: NetworkDef, backend: FirewallBackendName): NetworkFirewallPlan {
  return BACKENDS[backend].networkPlan(net);
}

/** What starting the network adds (nothing for open and host-device networks). */
export function networkFirewallPlan(net: NetworkDef, backend: FirewallBackendName): NetworkFirewallPlan {
  return hasFirewall(net) ? addFirewallRulesPlan(net, backend) : { backend, groups: [] };
}

/** What libvirt runs to remove it again; `outputOf` gives each add command's stdout. */
export function networkRemovalCommands(
  plan: NetworkFirewallPlan,
  outputOf?: (cmd: FirewallCommand) => string,
): FirewallCommand[] {
  return removalCommands(plan, BACKENDS[plan.backend].rollback, outputOf);
}
