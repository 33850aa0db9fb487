// Instantiating the filter of a binding (a filter bound to one guest port, libvirt's
// virNWFilterBindingDef). The reserved variables are filled in as libvirt's gentech driver does:
// MAC from the binding, IP (and, beyond libvirt, IPV6) from learned addresses, each only when no
// parameter sets it.
// CTRL_IP_LEARNING (any/dhcp/none) says whether a missing IP may be learned; IPV6, DHCPSERVER
// and DHCPSERVERV6 are ordinary parameters the stock filters read.
import { hash } from 'node:crypto';
import { invalidInput, VirtwallError } from '../errors.js';
import type { FilterBindingDef } from '../conf/nwfilterbinding/types.js';
import { instantiate, unresolvedVariables, type InstantiateOptions, type RuleInstance } from './instantiate.js';
import type { FilterSource } from './source.js';
import type { FilterDef } from '../conf/nwfilter/types.js';
import type { VarTable, VarValue } from './vars.js';

/** What instantiation needs of a <filterbinding>: filter, port device, guest MAC, parameters. */
export type FilterBinding = Pick<FilterBindingDef, 'portdev' | 'mac' | 'filter' | 'params'>;

const IP_LEARNING_MODES = ['any', 'dhcp', 'none'] as const;
/** CTRL_IP_LEARNING: whether (and from what) a missing IP/IPV6 may be learned. */
export type IpLearningMode = (typeof IP_LEARNING_MODES)[number];
/** The variables IP address learning can supply (src/learning/). */
export const LEARNABLE_VARIABLES = ['IP', 'IPV6'];

/** The binding's CTRL_IP_LEARNING, any case (libvirt's default `any`); undefined for a value libvirt refuses. */
export function ipLearningMode(b: FilterBinding): IpLearningMode | undefined {
  const value = (b.params.get('CTRL_IP_LEARNING')?.[0] ?? 'any').toLowerCase();
  return IP_LEARNING_MODES.find((m) => m === value);
}

/** What IP learning found: one IPv4 address, or lists per family (DHCP gives several). */
export type LearnedAddresses = string | { ip?: readonly string[]; ipv6?: readonly string[] };

/** The variables the bound filter sees, with the learned addresses filled in where none is set. */
export function bindingVariables(b: FilterBinding, learned?: LearnedAddresses): VarTable {
  const vars = new Map<string, VarValue>(b.params);
  if (!vars.has('MAC')) vars.set('MAC', [b.mac]);
  const lists = typeof learned === 'string' ? { ip: [learned] } : (learned ?? {});
  if (lists.ip?.length && !vars.has('IP')) vars.set('IP', lists.ip);
  if (lists.ipv6?.length && !vars.has('IPV6')) vars.set('IPV6', lists.ipv6);
  return vars;
}

/**
 * The rule instances of a binding. Missing learnable variables (IP, IPV6) are handed to
 * `opts.resolveMissing` when CTRL_IP_LEARNING allows learning; anything else unresolved is an
 * error.
 */
export function instantiateBinding(
  b: FilterBinding,
  source: FilterSource,
  opts: InstantiateOptions = {},
  learned?: LearnedAddresses,
): RuleInstance[] {
  const root = rootFilter(b, source);
  const learning = ipLearningMode(b);
  const resolveMissing = (missing: readonly string[]) => {
    if (!missing.every((m) => LEARNABLE_VARIABLES.includes(m)) || learning === 'none') return undefined;
    if (learning === undefined) {
      throw invalidInput(`filter '${b.filter}' learning value '${b.params.get('CTRL_IP_LEARNING')![0]}' invalid`);
    }
    return opts.resolveMissing?.(missing);
  };
  return instantiate(root, bindingVariables(b, learned), source, { resolveMissing });
}

/**
 * A digest of every input of instantiateBinding(b, source, _, learned): what a backend keeps
 * the port's compiled form under (PortFilter.inputsDigest); undefined when the source has no digest.
 */
export function bindingDigest(b: FilterBinding, source: FilterSource, learned?: LearnedAddresses): string | undefined {
  if (source.digest === undefined) return undefined;
  const inputs = [source.digest, b.portdev, b.mac, b.filter, [...b.params], learned ?? null];
  // one-shot: a Hash object per port was half the cost at 10,000 ports
  return hash('sha256', JSON.stringify(inputs), 'base64url').slice(0, 24);
}

/**
 * The variables the binding's filter uses and finds no value for (none: instantiating it can
 * neither learn nor fail for want of a value). Throws what instantiateBinding throws for a tree
 * it cannot walk (a missing filter, a loop).
 */
export function unresolvedOf(b: FilterBinding, source: FilterSource, learned?: LearnedAddresses): string[] {
  const vars = bindingVariables(b, learned);
  if (source.digest === undefined) return unresolvedVariables(rootFilter(b, source), vars, source);
  // Whether an access resolves depends on the names and list lengths alone (vars.ts
  // isVarRefAvailable): bindings of one filter mostly share the answer, and a start asks for a
  // thousand of them (walking each tree again cost ~25 ms CPU).
  // `name=length`: the length (digits) follows the last '='
  const key = JSON.stringify([b.filter, [...vars].map(([name, value]) => `${name}=${value.length}`).sort()]);
  const known = unresolvedBySource.get(source) ?? unresolvedBySource.set(source, new Map()).get(source)!;
  const missing = known.get(key) ?? unresolvedVariables(rootFilter(b, source), vars, source);
  known.set(key, missing);
  return [...missing];
}

/** unresolvedOf's answers by source (one with a digest: its definitions are those of the digest), filter and variables' shape. */
const unresolvedBySource = new WeakMap<FilterSource, Map<string, readonly string[]>>();

function rootFilter(b: FilterBinding, source: FilterSource): FilterDef {
  const root = source.lookup(b.filter);
  if (!root) throw new VirtwallError('not-found', `filter '${b.filter}' of interface ${b.portdev} does not exist`);
  return root;
}
