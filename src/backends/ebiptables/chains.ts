// The chains libvirt's ebiptables driver keeps per interface, and the commands that create,
// link, rename and remove them. New rules are always built in temporary chains (ebtables
// libvirt-J-IF / libvirt-P-IF, iptables FJ-IF / FP-IF / HJ-IF) and only renamed to their final
// names (libvirt-I-IF / libvirt-O-IF, FI-IF / FO-IF / HI-IF) once the whole set applied, so a
// failure never leaves a half-built filter in place.
import { parseChainListing } from '../../xtables/save.js';
import type { PlanBuilder, PlannedCommand } from '../../plan/transaction.js';

export type IpLayer = 'ipv4' | 'ipv6';

const ebtables = (args: string[], ignoreErrors = false): PlannedCommand => ({
  argv: ['ebtables', '--concurrent', '-t', 'nat', ...args],
  ignoreErrors,
});

const IPTABLES_BINARY: Record<IpLayer, string> = { ipv4: 'iptables', ipv6: 'ip6tables' };

const iptables = (layer: IpLayer, args: string[], ignoreErrors = false): PlannedCommand => ({
  argv: [IPTABLES_BINARY[layer], '-w', ...args],
  ignoreErrors,
});

/** Direction of an ebtables root chain: traffic from the guest (in to the host) or to it. */
export type EbDirection = 'from-guest' | 'to-guest';

const EB_PREFIX = {
  'from-guest': { temp: 'J', final: 'I', hook: 'PREROUTING', dev: '-i' },
  'to-guest': { temp: 'P', final: 'O', hook: 'POSTROUTING', dev: '-o' },
} as const;

export function ebRootChain(dir: EbDirection, ifname: string, temporary: boolean): string {
  return `libvirt-${temporary ? EB_PREFIX[dir].temp : EB_PREFIX[dir].final}-${ifname}`;
}

export function ebSubChain(dir: EbDirection, ifname: string, suffix: string, temporary: boolean): string {
  return `${temporary ? EB_PREFIX[dir].temp : EB_PREFIX[dir].final}-${ifname}-${suffix}`;
}

export function ebCreateChain(chain: string): PlannedCommand {
  return ebtables(['-N', chain]);
}

export function ebAppend(chain: string, args: string[]): PlannedCommand {
  return ebtables(['-A', chain, ...args]);
}

function ebJump(op: '-A' | '-D', dir: EbDirection, ifname: string, temporary: boolean): PlannedCommand {
  const p = EB_PREFIX[dir];
  return ebtables([op, p.hook, p.dev, ifname, '-j', ebRootChain(dir, ifname, temporary)], op === '-D');
}

export const ebLinkRoot = (dir: EbDirection, ifname: string) => ebJump('-A', dir, ifname, true);

/** Flushes and deletes an ebtables chain that may not exist. */
export function ebRemoveChain(b: PlanBuilder, chain: string): void {
  b.add(ebtables(['-F', chain], true)).add(ebtables(['-X', chain], true));
}

/** The targets of the rules of `chain` in its `ebtables -L` output, in order. */
const jumpTargets = (chain: string, listing: string): string[] => parseChainListing(chain, listing).flatMap((r) => (r.target ? [r.target.name] : []));

/** Lists a chain and removes every sub-chain it jumps to whose name starts with one of `prefixes`. */
function ebListAndRemoveSubChains(chain: string, prefixes: string): PlannedCommand {
  return {
    ...ebtables(['-L', chain]),
    followUp: (out) =>
      jumpTargets(chain, out).flatMap((sub) => {
        if (sub[1] !== '-' || !prefixes.includes(sub[0]!)) return [];
        return [ebListAndRemoveSubChains(sub, prefixes), ebtables(['-F', sub], true), ebtables(['-X', sub], true)];
      }),
  };
}

function ebRemoveSubChains(b: PlanBuilder, ifname: string, temporary: boolean): void {
  const prefixes = temporary ? 'JP' : 'IO';
  for (const dir of ['from-guest', 'to-guest'] as const) b.add(ebListAndRemoveSubChains(ebRootChain(dir, ifname, temporary), prefixes));
}

/** Lists a temporary chain and renames each temporary sub-chain it jumps to (J/P -> I/O). */
function ebListAndRenameSubChains(chain: string): PlannedCommand {
  return {
    ...ebtables(['-L', chain]),
    followUp: (out) =>
      jumpTargets(chain, out).flatMap((sub) => {
        if (sub[1] !== '-' || (sub[0] !== 'J' && sub[0] !== 'P')) return [];
        const renamed = (sub[0] === 'J' ? 'I' : 'O') + sub.slice(1);
        return [
          ebListAndRenameSubChains(sub),
          ebtables(['-F', renamed], true),
          ebtables(['-X', renamed], true),
          ebtables(['-E', sub, renamed]),
        ];
      }),
  };
}

/** Removes the temporary ebtables chains of an interface (libvirt's first cleanup step). */
export function ebUnlinkRoots(b: PlanBuilder, ifname: string, temporary: boolean): void {
  b.add(ebJump('-D', 'from-guest', ifname, temporary)).add(ebJump('-D', 'to-guest', ifname, temporary));
}

/** Removes an interface's temporary (or final) ebtables chains, sub-chains first. */
export function ebRemoveChains(b: PlanBuilder, ifname: string, temporary: boolean): void {
  ebRemoveSubChains(b, ifname, temporary);
  ebRemoveChain(b, ebRootChain('from-guest', ifname, temporary));
  ebRemoveChain(b, ebRootChain('to-guest', ifname, temporary));
}

/** Unlinks and removes an interface's temporary (or final) ebtables chains. */
export function ebRemove(b: PlanBuilder, ifname: string, temporary: boolean): void {
  ebUnlinkRoots(b, ifname, temporary);
  ebRemoveChains(b, ifname, temporary);
}

/** Renames the temporary ebtables chains (sub-chains first, found by listing) to their final names. */
export function ebRenameTemporary(b: PlanBuilder, ifname: string): void {
  for (const dir of ['from-guest', 'to-guest'] as const) b.add(ebListAndRenameSubChains(ebRootChain(dir, ifname, true)));
  for (const dir of ['from-guest', 'to-guest'] as const) b.add(ebRenameRoot(dir, ifname));
}

/** Gives a temporary root chain its final name. */
export function ebRenameRoot(dir: EbDirection, ifname: string): PlannedCommand {
  return ebtables(['-E', ebRootChain(dir, ifname, true), ebRootChain(dir, ifname, false)]);
}

// --- iptables / ip6tables -------------------------------------------------------------------

/**
 * libvirt's per-interface iptables root chains: F?-IF hooked (goto) from libvirt-out for traffic
 * to the guest, F?-IF from libvirt-in for traffic from the guest, H?-IF from libvirt-host-in for
 * traffic from the guest to the host itself. Listed in libvirt's order.
 */
const IPT_ROOTS = [
  { prefix: 'F', toGuest: true, base: 'libvirt-out' },
  { prefix: 'F', toGuest: false, base: 'libvirt-in' },
  { prefix: 'H', toGuest: false, base: 'libvirt-host-in' },
] as const;

type IptRoot = (typeof IPT_ROOTS)[number];

export function iptRootChain(prefix: 'F' | 'H', toGuest: boolean, ifname: string, temporary: boolean): string {
  const dir = toGuest ? (temporary ? 'P' : 'O') : temporary ? 'J' : 'I';
  return `${prefix}${dir}-${ifname}`;
}

const rootName = (r: IptRoot, ifname: string, temporary: boolean) => iptRootChain(r.prefix, r.toGuest, ifname, temporary);

function physdevMatch(toGuest: boolean, ifname: string): string[] {
  return toGuest ? ['-m', 'physdev', '--physdev-is-bridged', '--physdev-out', ifname] : ['-m', 'physdev', '--physdev-in', ifname];
}

export function iptUnlinkRoots(b: PlanBuilder, layer: IpLayer, ifname: string, temporary: boolean): void {
  for (const r of IPT_ROOTS) {
    const chain = rootName(r, ifname, temporary);
    b.add(iptables(layer, ['-D', r.base, ...physdevMatch(r.toGuest, ifname), '-g', chain], true));
    // Older libvirt linked the to-guest chain without --physdev-is-bridged; remove that too.
    if (r.toGuest) b.add(iptables(layer, ['-D', r.base, '-m', 'physdev', '--physdev-out', ifname, '-g', chain], true));
  }
}

export function iptRemoveRoots(b: PlanBuilder, layer: IpLayer, ifname: string, temporary: boolean): void {
  for (const r of IPT_ROOTS) {
    const chain = rootName(r, ifname, temporary);
    b.add(iptables(layer, ['-F', chain], true)).add(iptables(layer, ['-X', chain], true));
  }
}

/** Unlinks and removes an interface's temporary (or final) iptables root chains. */
export function iptRemove(b: PlanBuilder, layer: IpLayer, ifname: string, temporary: boolean): void {
  iptUnlinkRoots(b, layer, ifname, temporary);
  iptRemoveRoots(b, layer, ifname, temporary);
}

/** libvirt's shared chains and the jumps to them, inserted at these positions of FORWARD and INPUT. */
export const BASE_JUMPS = [
  ['FORWARD', 'libvirt-in', '1'],
  ['FORWARD', 'libvirt-out', '2'],
  ['FORWARD', 'libvirt-in-post', '3'],
  ['INPUT', 'libvirt-host-in', '1'],
] as const;

/** libvirt's shared chains; (re)hooked at the top of FORWARD and INPUT on every instantiation. */
function iptCreateBaseChains(b: PlanBuilder, layer: IpLayer): void {
  for (const [, chain] of BASE_JUMPS) b.add(iptables(layer, ['-N', chain], true));
  for (const [hook, chain] of BASE_JUMPS) b.add(iptables(layer, ['-D', hook, '-j', chain], true));
  for (const [hook, chain, pos] of BASE_JUMPS) b.add(iptables(layer, ['-I', hook, pos, '-j', chain]));
}

const inPostAccept = (op: '-A' | '-D', layer: IpLayer, ifname: string) =>
  iptables(layer, [op, 'libvirt-in-post', ...physdevMatch(false, ifname), '-j', 'ACCEPT'], op === '-D');

/** The prologue of a new iptables/ip6tables rule set: fresh temporary root chains, linked. */
export function iptPrepareTemporary(b: PlanBuilder, layer: IpLayer, ifname: string): void {
  iptRemove(b, layer, ifname, true);
  iptCreateBaseChains(b, layer);
  for (const r of IPT_ROOTS) b.add(iptables(layer, ['-N', rootName(r, ifname, true)]));
  for (const r of IPT_ROOTS) {
    b.add(iptables(layer, ['-A', r.base, ...physdevMatch(r.toGuest, ifname), '-g', rootName(r, ifname, true)]));
  }
  b.add(inPostAccept('-D', layer, ifname)).add(inPostAccept('-A', layer, ifname));
}

export function iptAppend(layer: IpLayer, chain: string, args: string[]): PlannedCommand {
  return iptables(layer, ['-A', chain, ...args]);
}

export function iptRenameTemporary(b: PlanBuilder, layer: IpLayer, ifname: string): void {
  for (const r of IPT_ROOTS) b.add(iptables(layer, ['-E', rootName(r, ifname, true), rootName(r, ifname, false)]));
}

export function iptClearInPost(b: PlanBuilder, layer: IpLayer, ifname: string): void {
  b.add(inPostAccept('-D', layer, ifname));
}
