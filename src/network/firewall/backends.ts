// The two firewall backends behind one table, as libvirt runs them (libvirt's command lines, what
// its tests compare): the global chains created when the first network starts, a network's plan.
// The kernel gets the same rules as typed objects (xtables.ts, nftables.ts; lifecycle/apply-firewall.ts).
import type { IpFamily } from '../../util/address.js';
import { iptablesGlobalSetup, iptablesNetworkPlan } from './iptables.js';
import type { NetworkDef } from '../../conf/network/types.js';
import { hasFirewall } from '../definition.js';
import { nftablesGlobalSetup, nftablesNetworkPlan } from './nftables.js';
import type { FirewallBackendName, FirewallTransaction, NetworkFirewallPlan } from './plan.js';

interface Backend {
  globalSetup(family: IpFamily): FirewallTransaction[];
  networkPlan(net: NetworkDef): NetworkFirewallPlan;
}

const BACKENDS: Record<FirewallBackendName, Backend> = {
  iptables: { globalSetup: (f) => iptablesGlobalSetup(f), networkPlan: iptablesNetworkPlan },
  nftables: { globalSetup: (f) => nftablesGlobalSetup(f), networkPlan: nftablesNetworkPlan },
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
