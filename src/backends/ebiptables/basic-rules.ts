// The fixed ebtables rule sets libvirt's IP address learning puts on an interface while it
// watches the guest (ebtablesApplyBasicRules / ApplyDHCPOnlyRules / ApplyDropAllRules) and their
// removal (ebtablesCleanAll). Each first tears down whatever filter the interface had; a failure
// cleans the interface completely, as libvirt does.
import { PlanBuilder, type FirewallPlan } from '../../plan/transaction.js';
import {
  ebAppend,
  ebCreateChain,
  ebLinkRoot,
  ebRemove,
  ebRenameRoot,
  ebRootChain,
  type EbDirection,
} from './chains.js';
import { allTeardown } from './plan.js';

/** libvirt's ebtablesCleanAll: final and temporary ebtables chains of the interface, all gone. */
function cleanAll(b: PlanBuilder, portdev: string): void {
  ebRemove(b, portdev, false);
  ebRemove(b, portdev, true);
}

export function removeBasicRules(portdev: string): FirewallPlan {
  const b = new PlanBuilder().startGroup(true);
  cleanAll(b, portdev);
  return b.build();
}

/** The steps of a fixed rule set: tear down, build it in temporary chains, hook and rename. */
function fixedRules(portdev: string, rules: Partial<Record<EbDirection, string[][]>>, rename: boolean): FirewallPlan[] {
  const dirs = (['from-guest', 'to-guest'] as const).filter((d) => rules[d]);
  const b = new PlanBuilder().startGroup();
  for (const d of dirs) b.add(ebCreateChain(ebRootChain(d, portdev, true)));
  for (const d of dirs) for (const args of rules[d]!) b.add(ebAppend(ebRootChain(d, portdev, true), args));
  for (const d of dirs) b.add(ebLinkRoot(d, portdev));
  if (rename) for (const d of dirs) b.add(ebRenameRoot(d, portdev));
  b.startRollback();
  cleanAll(b, portdev);
  return [allTeardown(portdev), b.build()];
}

/** Only frames from the guest's MAC, and only IPv4 and ARP, leave the guest. */
export function applyBasicRules(portdev: string, mac: string): FirewallPlan[] {
  return fixedRules(
    portdev,
    {
      'from-guest': [
        ['-s', '!', mac, '-j', 'DROP'],
        ['-p', 'IPv4', '-j', 'ACCEPT'],
        ['-p', 'ARP', '-j', 'ACCEPT'],
        ['-j', 'DROP'],
      ],
    },
    true,
  );
}

/**
 * Only DHCP: requests from the guest, and answers to its MAC or broadcast (from the given
 * servers when any). `leaveTemporary` keeps the temporary chain names, for a filter that will
 * replace these rules right away.
 */
export function applyDhcpOnlyRules(
  portdev: string,
  mac: string,
  dhcpServers: readonly string[],
  leaveTemporary: boolean,
): FirewallPlan[] {
  const answers = (dhcpServers.length ? dhcpServers : [undefined]).flatMap((server) =>
    [mac, 'ff:ff:ff:ff:ff:ff'].map((dst) => [
      '-d',
      dst,
      '-p',
      'ipv4',
      '--ip-protocol',
      'udp',
      ...(server ? ['--ip-src', server] : []),
      '--ip-sport',
      '67',
      '--ip-dport',
      '68',
      '-j',
      'ACCEPT',
    ]),
  );
  return fixedRules(
    portdev,
    {
      'from-guest': [
        ['-s', mac, '-p', 'ipv4', '--ip-protocol', 'udp', '--ip-sport', '68', '--ip-dport', '67', '-j', 'ACCEPT'],
        ['-j', 'DROP'],
      ],
      'to-guest': [...answers, ['-j', 'DROP']],
    },
    !leaveTemporary,
  );
}

/** Nothing in or out. */
export function applyDropAllRules(portdev: string): FirewallPlan[] {
  return fixedRules(portdev, { 'from-guest': [['-j', 'DROP']], 'to-guest': [['-j', 'DROP']] }, true);
}
