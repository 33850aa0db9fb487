// Where libvirt places an IP-layer rule (libvirt's iptablesCreateRuleInstance): in up to three
// chains, F?-IF for traffic from (FJ) and to (FP) the guest through the bridge and HJ-IF for
// traffic from the guest to the host, each with its connection-state match. Both technology
// drivers follow it, so they decide the same packets the same way.
import type { ResolvedRule } from './instantiate.js';

/** One of the three chains a rule can land in. */
export interface ChainUse {
  prefix: 'F' | 'H';
  /** FP-IF holds traffic towards the guest. */
  toGuest: boolean;
  /** Whether the rule is seen from the guest's receiving side (sources and destinations swap). */
  directionIn: boolean;
  /** Connection-state match, if any. */
  match?: string;
  /** libvirt's defMatch: the default state match, dropped for non-accept actions, with --ctdir. */
  defaultMatch: boolean;
  acceptTarget: 'RETURN' | 'ACCEPT';
  /** An ICMP rule with a type is left out of this chain. */
  maySkipIcmp: boolean;
}

/** The rule's state attribute as libvirt prints it for iptables; undefined for NONE. */
function stateMatch(rule: ResolvedRule): string | undefined {
  const v = rule.attrs['state']?.value;
  return v?.kind === 'state' && !v.states.includes('NONE') ? v.states.join(',') : undefined;
}

function hasStateFlags(rule: ResolvedRule): boolean {
  const v = rule.attrs['state']?.value;
  return v?.kind === 'state' && v.states.length > 0;
}

function use(
  prefix: 'F' | 'H',
  toGuest: boolean,
  directionIn: boolean,
  match: string | undefined,
  defaultMatch: boolean,
  maySkipIcmp: boolean,
): ChainUse {
  return {
    prefix,
    toGuest,
    directionIn,
    match,
    defaultMatch,
    acceptTarget: toGuest ? 'ACCEPT' : 'RETURN',
    maySkipIcmp,
  };
}

/** The chains a rule goes to, in libvirt's order FJ, FP, HJ. */
export function chainUses(rule: ResolvedRule): ChainUse[] {
  const inout = rule.direction === 'inout';
  const dirIn = rule.direction !== 'out';
  if (rule.stateMatch && hasStateFlags(rule)) {
    // Explicit state: only the chains on the initiating side get the rule, with that state.
    const match = stateMatch(rule);
    return [
      ...(!dirIn || inout ? [use('F', false, dirIn, match, false, dirIn || inout)] : []),
      ...(dirIn ? [use('F', true, !dirIn, match, false, !dirIn || inout)] : []),
      ...(!dirIn || inout ? [use('H', false, dirIn, match, false, dirIn)] : []),
    ];
  }
  const needState = !inout && rule.stateMatch;
  const state = (initiating: boolean) => (needState ? (initiating ? 'NEW,ESTABLISHED' : 'ESTABLISHED') : undefined);
  return [
    use('F', false, dirIn, state(!dirIn), true, dirIn || inout),
    use('F', true, !dirIn, state(dirIn), true, !dirIn || inout),
    use('H', false, dirIn, state(!dirIn), true, dirIn),
  ];
}
