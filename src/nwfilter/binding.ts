// Instantiating the filter of a binding (a filter bound to one guest port, libvirt's
// virNWFilterBindingDef). The reserved variables are filled in as libvirt's gentech driver does:
// MAC from the binding, IP from a learned address, each only when no parameter sets it.
// CTRL_IP_LEARNING (any/dhcp/none) says whether a missing IP may be learned; IPV6, DHCPSERVER
// and DHCPSERVERV6 are ordinary parameters the stock filters read.
import { invalidInput, VirtwallError } from '../errors.js';
import type { FilterBindingDef } from '../conf/nwfilterbinding/types.js';
import { instantiate, type InstantiateOptions, type RuleInstance } from './instantiate.js';
import type { FilterSource } from './source.js';
import type { VarTable, VarValue } from './vars.js';

/** What instantiation needs of a <filterbinding>: filter, port device, guest MAC, parameters. */
export type FilterBinding = Pick<FilterBindingDef, 'portdev' | 'mac' | 'filter' | 'params'>;

const LEARNING_MODES = ['any', 'dhcp', 'none'];

/** The variables the bound filter sees; `learnedIp` is the address IP learning found, if any. */
export function bindingVariables(b: FilterBinding, learnedIp?: string): VarTable {
  const vars = new Map<string, VarValue>(b.params);
  if (!vars.has('MAC')) vars.set('MAC', [b.mac]);
  if (learnedIp !== undefined && !vars.has('IP')) vars.set('IP', [learnedIp]);
  return vars;
}

/**
 * The rule instances of a binding. A missing IP (the only variable libvirt can learn) is handed
 * to `opts.resolveMissing` when CTRL_IP_LEARNING allows learning; anything else unresolved is an
 * error.
 */
export function instantiateBinding(b: FilterBinding, source: FilterSource, opts: InstantiateOptions = {}, learnedIp?: string): RuleInstance[] {
  const root = source.lookup(b.filter);
  if (!root) throw new VirtwallError('not-found', `filter '${b.filter}' of interface ${b.portdev} does not exist`);
  const learning = (b.params.get('CTRL_IP_LEARNING')?.[0] ?? 'any').toLowerCase();
  const resolveMissing = (missing: readonly string[]) => {
    if (missing.length !== 1 || missing[0] !== 'IP' || learning === 'none') return undefined;
    if (!LEARNING_MODES.includes(learning)) {
      throw invalidInput(`filter '${b.filter}' learning value '${b.params.get('CTRL_IP_LEARNING')![0]}' invalid`);
    }
    return opts.resolveMissing?.(missing);
  };
  return instantiate(root, bindingVariables(b, learnedIp), source, { resolveMissing });
}
