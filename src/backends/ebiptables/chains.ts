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

export function ebRootChain(dir: EbDirection, portdev: string, temporary: boolean): string {
  return `libvirt-${temporary ? EB_PREFIX[dir].temp : EB_PREFIX[dir].final}-${portdev}`;
}

export function ebSubChain(dir: EbDirection, portdev: string, suffix: string, temporary: boolean): string {
  return `${temporary ? EB_PREFIX[dir].temp : EB_PREFIX[dir].final}-${portdev}-${suffix}`;
}

export function ebCreateChain(chain: string): PlannedCommand {
  return ebtables(['-N', chain]);
}

export function ebAppend(chain: string, args: string[]): PlannedCommand {
  return ebtables(['-A', chain, ...args]);
}

function ebJump(op: '-A' | '-D', dir: EbDirection, portdev: string, temporary: boolean): PlannedCommand {
  const p = EB_PREFIX[dir];
  return ebtables([op, p.hook, p.dev, portdev, '-j', ebRootChain(dir, portdev, temporary)], op === '-D');
}

export const ebLinkRoot = (dir: EbDirection, portdev: string) => ebJump('-A', dir, portdev, true);

/** Flushes and deletes an ebtables chain that may not exist. */
export function ebRemoveChain(b: PlanBuilder, chain: string): void {
  b.add(ebtables(['-F', chain], true)).add(ebtables(['-X', chain], true));
}

/** The targets of the rules of `chain` in its `ebtables -L` output, in order. */
const jumpTargets = (chain: string, listing: string): string[] =>
  parseChainListing(chain, listing).flatMap((r) => (r.target ? [r.target.name] : []));

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

function ebRemoveSubChains(b: PlanBuilder, portdev: string, temporary: boolean): void {
  const prefixes = temporary ? 'JP' : 'IO';
  for (const dir of ['from-guest', 'to-guest'] as const)
    b.add(ebListAndRemoveSubChains(ebRootChain(dir, portdev, temporary), prefixes));
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
export function ebUnlinkRoots(b: PlanBuilder, portdev: string, temporary: boolean): void {
  b.add(ebJump('-D', 'from-guest', portdev, temporary)).add(ebJump('-D', 'to-guest', portdev, temporary));
}

/** Removes an interface's temporary (or final) ebtables chains, sub-chains first. */
export function ebRemoveChains(b: PlanBuilder, portdev: string, temporary: boolean): void {
  ebRemoveSubChains(b, portdev, temporary);
  ebRemoveChain(b, ebRootChain('from-guest', portdev, temporary));
  ebRemoveChain(b, ebRootChain('to-guest', portdev, temporary));
}

/** Unlinks and removes an interface's temporary (or final) ebtables chains. */
export function ebRemove(b: PlanBuilder, portdev: string, temporary: boolean): void {
  ebUnlinkRoots(b, portdev, temporary);
  ebRemoveChains(b, portdev, temporary);
}

/** Renames the temporary ebtables chains (sub-chains first, found by listing) to their final names. */
export function ebRenameTemporary(b: PlanBuilder, portdev: string): void {
  for (const dir of ['from-guest', 'to-guest'] as const)
    b.add(ebListAndRenameSubChains(ebRootChain(dir, portdev, true)));
  for (const dir of ['from-guest', 'to-guest'] as const) b.add(ebRenameRoot(dir, portdev));
}

/** Gives a temporary root chain its final name. */
export function ebRenameRoot(dir: EbDirection, portdev: string): PlannedCommand {
  return ebtables(['-E', ebRootChain(dir, portdev, true), ebRootChain(dir, portdev, false)]);
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

export function iptRootChain(prefix: 'F' | 'H', toGuest: boolean, portdev: string, temporary: boolean): string {
  const dir = toGuest ? (temporary ? 'P' : 'O') : temporary ? 'J' : 'I';
  return `${prefix}${dir}-${portdev}`;
}

/** The final name of a temporary root chain (FJ-IF -> FI-IF, FP-IF -> FO-IF, HJ-IF -> HI-IF). */
export const iptFinalChain = (temporary: string) =>
  `${temporary[0]}${temporary[1] === 'J' ? 'I' : 'O'}${temporary.slice(2)}`;

const rootName = (r: IptRoot, portdev: string, temporary: boolean) =>
  iptRootChain(r.prefix, r.toGuest, portdev, temporary);

function physdevMatch(toGuest: boolean, portdev: string): string[] {
  return toGuest
    ? ['-m', 'physdev', '--physdev-is-bridged', '--physdev-out', portdev]
    : ['-m', 'physdev', '--physdev-in', portdev];
}

export function iptUnlinkRoots(b: PlanBuilder, layer: IpLayer, portdev: string, temporary: boolean): void {
  for (const r of IPT_ROOTS) {
    const chain = rootName(r, portdev, temporary);
    b.add(iptables(layer, ['-D', r.base, ...physdevMatch(r.toGuest, portdev), '-g', chain], true));
    // Older libvirt linked the to-guest chain without --physdev-is-bridged; remove that too.
    if (r.toGuest) b.add(iptables(layer, ['-D', r.base, '-m', 'physdev', '--physdev-out', portdev, '-g', chain], true));
  }
}

export function iptRemoveRoots(b: PlanBuilder, layer: IpLayer, portdev: string, temporary: boolean): void {
  for (const r of IPT_ROOTS) {
    const chain = rootName(r, portdev, temporary);
    b.add(iptables(layer, ['-F', chain], true)).add(iptables(layer, ['-X', chain], true));
  }
}

/** Unlinks and removes an interface's temporary (or final) iptables root chains. */
export function iptRemove(b: PlanBuilder, layer: IpLayer, portdev: string, temporary: boolean): void {
  iptUnlinkRoots(b, layer, portdev, temporary);
  iptRemoveRoots(b, layer, portdev, temporary);
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

const inPostAccept = (op: '-A' | '-D', layer: IpLayer, portdev: string) =>
  iptables(layer, [op, 'libvirt-in-post', ...physdevMatch(false, portdev), '-j', 'ACCEPT'], op === '-D');

/** The prologue of a new iptables/ip6tables rule set: fresh temporary root chains, linked. */
export function iptPrepareTemporary(b: PlanBuilder, layer: IpLayer, portdev: string): void {
  iptRemove(b, layer, portdev, true);
  iptCreateBaseChains(b, layer);
  for (const r of IPT_ROOTS) b.add(iptables(layer, ['-N', rootName(r, portdev, true)]));
  for (const r of IPT_ROOTS) {
    b.add(iptables(layer, ['-A', r.base, ...physdevMatch(r.toGuest, portdev), '-g', rootName(r, portdev, true)]));
  }
  b.add(inPostAccept('-D', layer, portdev)).add(inPostAccept('-A', layer, portdev));
}

export function iptAppend(layer: IpLayer, chain: string, args: string[]): PlannedCommand {
  return iptables(layer, ['-A', chain, ...args]);
}

export function iptRenameTemporary(b: PlanBuilder, layer: IpLayer, portdev: string): void {
  for (const r of IPT_ROOTS) b.add(iptables(layer, ['-E', rootName(r, portdev, true), rootName(r, portdev, false)]));
}

export function iptClearInPost(b: PlanBuilder, layer: IpLayer, portdev: string): void {
  b.add(inPostAccept('-D', layer, portdev));
}
