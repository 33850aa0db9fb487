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
  iptFinalChain,
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
import type { XtTool } from '../../xtables/rule.js';

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

function ebChainOf(dir: EbDirection, chain: string, portdev: string, temporary = true): string {
  return chain === 'root' ? ebRootChain(dir, portdev, temporary) : ebSubChain(dir, portdev, chain, temporary);
}

/** What put a rule into a port's chain: a filter rule, or libvirt's jump into one of its sub-chains. */
export type RuleOrigin = { instance: RuleInstance } | { subChain: string; priority: number };

/** Hears every rule appended to a port's chains, by tool and the chain's final name. */
type Recorder = (tool: XtTool, chain: string, origin: RuleOrigin) => void;

const IP_TOOL: Record<IpLayer, XtTool> = { ipv4: 'iptables', ipv6: 'ip6tables' };

function addSubChain(b: PlanBuilder, c: SubChain, portdev: string, record: Recorder): void {
  const chain = ebSubChain(c.dir, portdev, c.name, true);
  ebRemoveChain(b, chain);
  b.add(ebCreateChain(chain));
  b.add(ebAppend(ebRootChain(c.dir, portdev, true), [...c.match, '-j', chain]));
  record('ebtables', ebRootChain(c.dir, portdev, false), { subChain: c.name, priority: c.priority });
}

function addEbtablesRule(b: PlanBuilder, r: RuleInstance, portdev: string, record: Recorder): void {
  const dir = r.rule.direction;
  for (const rule of r.expansions) {
    for (const [side, reverse] of [
      ['from-guest', dir === 'inout'],
      ['to-guest', false],
    ] as const) {
      if (dir === (side === 'from-guest' ? 'in' : 'out')) continue;
      b.add(ebAppend(ebChainOf(side, r.chain, portdev), ebtablesRuleArgs(rule, reverse)));
      record('ebtables', ebChainOf(side, r.chain, portdev, false), { instance: r });
    }
  }
}

function addIptablesRules(
  b: PlanBuilder,
  layer: IpLayer,
  rules: readonly OrderedRule[],
  portdev: string,
  record: Recorder,
): void {
  iptPrepareTemporary(b, layer, portdev);
  for (const { instance } of rules) {
    for (const rule of instance.expansions) {
      for (const args of iptablesRuleArgs(rule, portdev)) {
        b.add(iptAppend(layer, args[1]!, args.slice(2)));
        record(IP_TOOL[layer], iptFinalChain(args[1]!), { instance });
      }
    }
  }
}

/**
 * Where each rule of a port's chains comes from, in chain order, keyed `TOOL CHAIN` by the
 * chains' final names: the kernel holds a chain's rules in the order they were appended.
 */
export function ruleOrigins(portdev: string, instances: readonly RuleInstance[]): Map<string, RuleOrigin[]> {
  const out = new Map<string, RuleOrigin[]>();
  applyNewRules(portdev, instances, (tool, chain, origin) => {
    const key = `${tool} ${chain}`;
    out.set(key, [...(out.get(key) ?? []), origin]);
  });
  return out;
}

/** libvirt's applyNewRules: the interface's new rule set, in temporary chains, hooked in. */
export function applyNewRules(
  portdev: string,
  instances: readonly RuleInstance[],
  record: Recorder = () => undefined,
): FirewallPlan {
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
      addSubChain(b, chains[next]!, portdev, record);
    addEbtablesRule(b, o.instance, portdev, record);
  }
  for (; next < chains.length; next++) addSubChain(b, chains[next]!, portdev, record);

  if (ip4.length > 0) addIptablesRules(b, 'ipv4', ip4, portdev, record);
  if (ip6.length > 0) addIptablesRules(b, 'ipv6', ip6, portdev, record);
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
