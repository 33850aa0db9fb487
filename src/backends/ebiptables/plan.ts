// The ebiptables technology driver's steps (libvirt's ebiptables_driver): build a new rule set
// in temporary chains (applyNewRules), switch over to it by tearing the old chains down and
// renaming the temporary ones (tearOldRules), throw away a failed new set (tearNewRules), and
// remove everything of an interface (allTeardown). Each returns a FirewallPlan; nothing here
// runs commands.
import type { RuleInstance } from '../../nwfilter/instantiate.js';
import { orderRules, type OrderedRule } from '../../nwfilter/order.js';
import { protocolSpec } from '../../conf/nwfilter/protocols.js';
import { PlanBuilder, type FirewallPlan } from '../../plan/transaction.js';
import {
  ebAppend,
  ebCreateChain,
  ebLinkRoot,
  ebRemove,
  ebRemoveChain,
  ebRemoveChains,
  ebRenameTemporary,
  ebRootChain,
  ebSubChain,
  ebUnlinkRoots,
  iptAppend,
  iptClearInPost,
  iptPrepareTemporary,
  iptRemove,
  iptRemoveRoots,
  iptRenameTemporary,
  iptUnlinkRoots,
  type EbDirection,
  type IpLayer,
} from './chains.js';
import { ebtablesRuleArgs } from './ebtables-rules.js';
import { iptablesRuleArgs } from './iptables-rules.js';

type Layer = 'ethernet' | IpLayer;

/** Rules without a protocol element are Ethernet-layer (they match every frame). */
function layerOf(r: RuleInstance): Layer {
  return r.rule.protocol ? protocolSpec(r.rule.protocol).layer : 'ethernet';
}

/** Ethernet types of libvirt's sub-chain kinds (chain `ipv4-x` gets frames of type 0x0800). */
const SUBCHAIN_MATCH: readonly (readonly [string, readonly string[]])[] = [
  ['ipv4', ['-p', '0x0800']],
  ['ipv6', ['-p', '0x86dd']],
  ['arp', ['-p', '0x0806']],
  ['rarp', ['-p', '0x8035']],
  ['mac', []],
  ['vlan', ['-p', '0x8100']],
  ['stp', ['-d', '01:80:c2:00:00:00']],
];

interface SubChain {
  name: string;
  priority: number;
  dir: EbDirection;
  match: readonly string[];
}

/** The sub-chains ebtables rules need, ordered by chain priority (the `from-guest` side first). */
function subChains(ebRules: readonly OrderedRule[]): { sets: Record<EbDirection, Map<string, number>>; chains: SubChain[] } {
  const sets: Record<EbDirection, Map<string, number>> = { 'from-guest': new Map(), 'to-guest': new Map() };
  for (const { instance: r } of ebRules) {
    if (r.rule.direction !== 'in') sets['from-guest'].set(r.chain, r.chainPriority);
    if (r.rule.direction !== 'out') sets['to-guest'].set(r.chain, r.chainPriority);
  }
  const chains: SubChain[] = [];
  for (const dir of ['from-guest', 'to-guest'] as const) {
    for (const [name, priority] of sets[dir]) {
      const match = SUBCHAIN_MATCH.find(([prefix]) => name.startsWith(prefix))?.[1];
      if (match) chains.push({ name, priority, dir, match });
    }
  }
  chains.sort((a, b) => a.priority - b.priority);
  return { sets, chains };
}

function ebChainOf(dir: EbDirection, chain: string, ifname: string): string {
  return chain === 'root' ? ebRootChain(dir, ifname, true) : ebSubChain(dir, ifname, chain, true);
}

function addSubChain(b: PlanBuilder, c: SubChain, ifname: string): void {
  const chain = ebSubChain(c.dir, ifname, c.name, true);
  ebRemoveChain(b, chain);
  b.add(ebCreateChain(chain));
  b.add(ebAppend(ebRootChain(c.dir, ifname, true), [...c.match, '-j', chain]));
}

function addEbtablesRule(b: PlanBuilder, r: RuleInstance, ifname: string): void {
  const dir = r.rule.direction;
  for (const rule of r.expansions) {
    if (dir !== 'in') b.add(ebAppend(ebChainOf('from-guest', r.chain, ifname), ebtablesRuleArgs(rule, dir === 'inout')));
    if (dir !== 'out') b.add(ebAppend(ebChainOf('to-guest', r.chain, ifname), ebtablesRuleArgs(rule, false)));
  }
}

function addIptablesRules(b: PlanBuilder, layer: IpLayer, rules: readonly OrderedRule[], ifname: string): void {
  iptPrepareTemporary(b, layer, ifname);
  for (const { instance } of rules) {
    for (const rule of instance.expansions) {
      for (const args of iptablesRuleArgs(rule, ifname)) b.add(iptAppend(layer, args[1]!, args.slice(2)));
    }
  }
}

/** libvirt's applyNewRules: the interface's new rule set, in temporary chains, hooked in. */
export function applyNewRules(ifname: string, instances: readonly RuleInstance[]): FirewallPlan {
  const ordered = orderRules(instances);
  const byLayer = (layer: Layer) => ordered.filter((o) => layerOf(o.instance) === layer);
  const eb = byLayer('ethernet');
  const ip4 = byLayer('ipv4');
  const ip6 = byLayer('ipv6');
  const b = new PlanBuilder();

  b.startGroup(true);
  ebRemove(b, ifname, true);

  b.startGroup();
  const { sets, chains } = subChains(eb);
  if (sets['from-guest'].size > 0) b.add(ebCreateChain(ebRootChain('from-guest', ifname, true)));
  if (sets['to-guest'].size > 0) b.add(ebCreateChain(ebRootChain('to-guest', ifname, true)));
  // Each sub-chain is created just before the first rule whose priority reaches the chain's.
  let next = 0;
  for (const o of eb) {
    for (; next < chains.length && chains[next]!.priority <= o.effectivePriority; next++) addSubChain(b, chains[next]!, ifname);
    addEbtablesRule(b, o.instance, ifname);
  }
  for (; next < chains.length; next++) addSubChain(b, chains[next]!, ifname);

  if (ip4.length > 0) addIptablesRules(b, 'ipv4', ip4, ifname);
  if (ip6.length > 0) addIptablesRules(b, 'ipv6', ip6, ifname);
  if (sets['from-guest'].size > 0) b.add(ebLinkRoot('from-guest', ifname));
  if (sets['to-guest'].size > 0) b.add(ebLinkRoot('to-guest', ifname));

  b.startRollback();
  ebUnlinkRoots(b, ifname, true);
  if (ip6.length > 0) iptRemove(b, 'ipv6', ifname, true);
  if (ip4.length > 0) iptRemove(b, 'ipv4', ifname, true);
  ebRemoveChains(b, ifname, true);
  return b.build();
}

/** What instantiating a filter on an interface runs: build the new set, then switch to it. */
export function instantiationPlans(ifname: string, instances: readonly RuleInstance[]): FirewallPlan[] {
  return [applyNewRules(ifname, instances), tearOldRules(ifname)];
}

/** libvirt's tearOldRules: drop the previous rule set and give the new one its final names. */
export function tearOldRules(ifname: string): FirewallPlan {
  const b = new PlanBuilder().startGroup(true);
  for (const layer of ['ipv4', 'ipv6'] as const) {
    iptRemove(b, layer, ifname, false);
    iptRenameTemporary(b, layer, ifname);
  }
  ebRemove(b, ifname, false);
  ebRenameTemporary(b, ifname);
  return b.build();
}

function tearNew(b: PlanBuilder, ifname: string): void {
  iptRemove(b, 'ipv4', ifname, true);
  iptRemove(b, 'ipv6', ifname, true);
  ebRemove(b, ifname, true);
}

/** libvirt's tearNewRules: throw away a new rule set that was not switched to. */
export function tearNewRules(ifname: string): FirewallPlan {
  const b = new PlanBuilder().startGroup(true);
  tearNew(b, ifname);
  return b.build();
}

/** libvirt's allTeardown: remove every chain and hook of the interface. */
export function allTeardown(ifname: string): FirewallPlan {
  const b = new PlanBuilder().startGroup(true);
  tearNew(b, ifname);
  for (const layer of ['ipv4', 'ipv6'] as const) {
    iptUnlinkRoots(b, layer, ifname, false);
    iptClearInPost(b, layer, ifname);
    iptRemoveRoots(b, layer, ifname, false);
  }
  ebRemove(b, ifname, false);
  return b.build();
}
