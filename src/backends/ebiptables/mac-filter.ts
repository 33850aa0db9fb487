// libvirt's QEMU `mac_filter` on the ebtables layout: frames entering from a port with another
// source MAC are dropped. libvirt keeps a `libvirt_qemu_FORWARD` chain with policy DROP and one
// ACCEPT per (TAP, MAC), which drops every frame of every other device once one guest asks for
// it; here each port that asks gets its own DROP rule instead (`-i TAP -s ! MAC -j DROP`) in one
// shared chain, jumped to first from the nat table's PREROUTING, as early as the nftables
// backend's check. The chain is separate from the nwfilter chains, so re-instantiating a filter
// never opens a window in the MAC check. Plans are computed from the chain's listing: a rule is
// added before a stale one of the same port goes, and nothing changes when the chain is right.
import type { PortFilter } from '../../nwfilter/backend.js';
import { PlanBuilder, type FirewallPlan, type PlannedCommand } from '../../plan/transaction.js';
import { parseChainListing } from '../../xtables/save.js';

export const MAC_FILTER_CHAIN = 'virtwall-mac-filter';

const ebtables = (args: string[], ignoreErrors = false): PlannedCommand => ({
  argv: ['ebtables', '--concurrent', '-t', 'nat', ...args],
  ignoreErrors,
});

/** A MAC as we write it; ebtables-legacy lists `52:54:0:a:0:1`, the nft variant `52:54:00:0a:00:01`. */
const canonicalMac = (mac: string) =>
  mac
    .toLowerCase()
    .split(':')
    .map((o) => o.padStart(2, '0'))
    .join(':');

const dropArgs = (portdev: string, mac: string) => ['-i', portdev, '-s', '!', canonicalMac(mac), '-j', 'DROP'];

/** The chain's DROP rules as `ebtables -L` lists them (`-s ! MAC -i IF -j DROP`): portdev -> MACs. */
export function listedMacRules(listing: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const rule of parseChainListing(MAC_FILTER_CHAIN, listing)) {
    const options = rule.matches.length === 1 && rule.matches[0]!.module === undefined ? rule.matches[0]!.options : [];
    const mac = options.find((o) => o.name === '-s' && o.negated && o.values.length === 1)?.values[0];
    const portdev = options.find((o) => o.name === '-i' && !o.negated && o.values.length === 1)?.values[0];
    if (
      options.length !== 2 ||
      mac === undefined ||
      portdev === undefined ||
      rule.target?.name !== 'DROP' ||
      rule.target.options.length > 0
    )
      continue;
    out.set(portdev, [...(out.get(portdev) ?? []), canonicalMac(mac)]);
  }
  return out;
}

/** Whether `ebtables -L PREROUTING` output holds the plain jump to the chain. */
const jumpsToChain = (listing: string) =>
  parseChainListing('PREROUTING', listing).some(
    (r) =>
      r.matches.length === 0 && r.target?.name === MAC_FILTER_CHAIN && !r.target.goto && r.target.options.length === 0,
  );

/**
 * Makes the chain hold a DROP rule exactly for the ports of `wanted` (portdev -> guest MAC) among
 * `scope` (every port when undefined: a reconcile); returns the ports whose rules changed.
 */
export function macFilterCommands(
  listing: string,
  wanted: ReadonlyMap<string, string>,
  scope?: ReadonlySet<string>,
): { commands: PlannedCommand[]; changed: string[] } {
  const listed = listedMacRules(listing);
  const commands: PlannedCommand[] = [];
  const changed = new Set<string>();
  for (const [portdev, mac] of wanted) {
    if (listed.get(portdev)?.includes(canonicalMac(mac))) continue;
    commands.push(ebtables(['-A', MAC_FILTER_CHAIN, ...dropArgs(portdev, mac)]));
    changed.add(portdev);
  }
  for (const [portdev, macs] of listed) {
    if (scope && !scope.has(portdev)) continue;
    for (const mac of macs) {
      if (wanted.has(portdev) && canonicalMac(wanted.get(portdev)!) === mac) continue;
      commands.push(ebtables(['-D', MAC_FILTER_CHAIN, ...dropArgs(portdev, mac)], true));
      changed.add(portdev);
    }
  }
  return { commands, changed: [...changed] };
}

/** Ports asking for mac_filter, portdev -> MAC. */
export function macFilterPorts(ports: readonly PortFilter[]): Map<string, string> {
  return new Map(ports.filter((p) => p.macFilter).map((p) => [p.portdev, p.mac]));
}

/**
 * The plan for a change: creates the chain and its PREROUTING jump when some port wants a rule
 * (a host without mac_filter ports keeps libvirt's layout exactly), then derives the rule changes
 * from the chain's listing. `onChanged` hears which ports needed a change (a reconcile reports
 * them as repaired).
 */
export function macFilterPlan(
  wanted: ReadonlyMap<string, string>,
  scope: ReadonlySet<string> | undefined,
  onChanged: (ports: string[]) => void = () => undefined,
): FirewallPlan {
  const b = new PlanBuilder();
  if (wanted.size > 0) {
    b.startGroup(true);
    b.add(ebtables(['-N', MAC_FILTER_CHAIN], true));
    b.add({
      ...ebtables(['-L', 'PREROUTING']),
      followUp: (out) => (jumpsToChain(out) ? [] : [ebtables(['-I', 'PREROUTING', '1', '-j', MAC_FILTER_CHAIN])]),
    });
  }
  // a missing chain (never needed yet) lists nothing to change: the group tolerates that failure
  b.startGroup(wanted.size === 0);
  b.add({
    ...ebtables(['-L', MAC_FILTER_CHAIN]),
    followUp: (out) => {
      const { commands, changed } = macFilterCommands(out, wanted, scope);
      onChanged(changed);
      return commands;
    },
  });
  return b.build();
}
