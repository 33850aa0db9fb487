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
function subChains(ebRules: readonly OrderedRule[]): {
  sets: Record<EbDirection, Map<string, number>>;
  chains: SubChain[];
} {
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

function ebChainOf(dir: EbDirection, chain: string, portdev: string): string {
  return chain === 'root' ? ebRootChain(dir, portdev, true) : ebSubChain(dir, portdev, chain, true);
}

function addSubChain(b: PlanBuilder, c: SubChain, portdev: string): void {
  const chain = ebSubChain(c.dir, portdev, c.name, true);
  ebRemoveChain(b, chain);
  b.add(ebCreateChain(chain));
  b.add(ebAppend(ebRootChain(c.dir, portdev, true), [...c.match, '-j', chain]));
}

function addEbtablesRule(b: PlanBuilder, r: RuleInstance, portdev: string): void {
  const dir = r.rule.direction;
  for (const rule of r.expansions) {
    if (dir !== 'in')
      b.add(ebAppend(ebChainOf('from-guest', r.chain, portdev), ebtablesRuleArgs(rule, dir === 'inout')));
    if (dir !== 'out') b.add(ebAppend(ebChainOf('to-guest', r.chain, portdev), ebtablesRuleArgs(rule, false)));
  }
}

function addIptablesRules(b: PlanBuilder, layer: IpLayer, rules: readonly OrderedRule[], portdev: string): void {
  iptPrepareTemporary(b, layer, portdev);
  for (const { instance } of rules) {
    for (const rule of instance.expansions) {
      for (const args of iptablesRuleArgs(rule, portdev)) b.add(iptAppend(layer, args[1]!, args.slice(2)));
    }
  }
}

/** libvirt's applyNewRules: the interface's new rule set, in temporary chains, hooked in. */
export function applyNewRules(portdev: string, instances: readonly RuleInstance[]): FirewallPlan {
  const ordered = orderRules(instances);
  const byLayer = (layer: Layer) => ordered.filter((o) => layerOf(o.instance) === layer);
  const eb = byLayer('ethernet');
  const ip4 = byLayer('ipv4');
  const ip6 = byLayer('ipv6');
  const b = new PlanBuilder();

  b.startGroup(true);
  ebRemove(b, portdev, true);

  b.startGroup();
  const { sets, chains } = subChains(eb);
  if (sets['from-guest'].size > 0) b.add(ebCreateChain(ebRootChain('from-guest', portdev, true)));
  if (sets['to-guest'].size > 0) b.add(ebCreateChain(ebRootChain('to-guest', portdev, true)));
  // Each sub-chain is created just before the first rule whose priority reaches the chain's.
  let next = 0;
  for (const o of eb) {
    for (; next < chains.length && chains[next]!.priority <= o.effectivePriority; next++)
      addSubChain(b, chains[next]!, portdev);
    addEbtablesRule(b, o.instance, portdev);
  }
  for (; next < chains.length; next++) addSubChain(b, chains[next]!, portdev);

  if (ip4.length > 0) addIptablesRules(b, 'ipv4', ip4, portdev);
  if (ip6.length > 0) addIptablesRules(b, 'ipv6', ip6, portdev);
  if (sets['from-guest'].size > 0) b.add(ebLinkRoot('from-guest', portdev));
  if (sets['to-guest'].size > 0) b.add(ebLinkRoot('to-guest', portdev));

  b.startRollback();
  ebUnlinkRoots(b, portdev, true);
  if (ip6.length > 0) iptRemove(b, 'ipv6', portdev, true);
  if (ip4.length > 0) iptRemove(b, 'ipv4', portdev, true);
  ebRemoveChains(b, portdev, true);
  return b.build();
}

/** What instantiating a filter on an interface runs: build the new set, then switch to it. */
export function instantiationPlans(portdev: string, instances: readonly RuleInstance[]): FirewallPlan[] {
  return [applyNewRules(portdev, instances), tearOldRules(portdev)];
}

/** libvirt's tearOldRules: drop the previous rule set and give the new one its final names. */
export function tearOldRules(portdev: string): FirewallPlan {
  const b = new PlanBuilder().startGroup(true);
  for (const layer of ['ipv4', 'ipv6'] as const) {
    iptRemove(b, layer, portdev, false);
    iptRenameTemporary(b, layer, portdev);
  }
  ebRemove(b, portdev, false);
  ebRenameTemporary(b, portdev);
  return b.build();
}

function tearNew(b: PlanBuilder, portdev: string): void {
  iptRemove(b, 'ipv4', portdev, true);
  iptRemove(b, 'ipv6', portdev, true);
  ebRemove(b, portdev, true);
}

/** libvirt's tearNewRules: throw away a new rule set that was not switched to. */
export function tearNewRules(portdev: string): FirewallPlan {
  const b = new PlanBuilder().startGroup(true);
  tearNew(b, portdev);
  return b.build();
}

/** libvirt's allTeardown: remove every chain and hook of the interface. */
export function allTeardown(portdev: string): FirewallPlan {
  const b = new PlanBuilder().startGroup(true);
  tearNew(b, portdev);
  for (const layer of ['ipv4', 'ipv6'] as const) {
    iptUnlinkRoots(b, layer, portdev, false);
    iptClearInPost(b, layer, portdev);
    iptRemoveRoots(b, layer, portdev, false);
  }
  ebRemove(b, portdev, false);
  return b.build();
}
