// The order libvirt applies rule instances in (ebiptablesApplyNewRules): rules of root-chain
// filters first, then by rule priority, keeping document order among equals. Rules of a non-root
// chain whose chain priority is higher than their own priority are then treated as having the
// chain's priority, so the chain is created before its first rule.
import type { RuleInstance } from './instantiate.js';

export interface OrderedRule {
  instance: RuleInstance;
  /** Priority used to interleave chain creation with the rules. */
  effectivePriority: number;
}

const isRoot = (r: RuleInstance) => r.chain === 'root';

export function orderRules(instances: readonly RuleInstance[]): OrderedRule[] {
  // Array.prototype.sort is stable, as glibc's merge-sort qsort is for libvirt.
  const sorted = [...instances].sort((a, b) => Number(isRoot(b)) - Number(isRoot(a)) || a.priority - b.priority);
  return sorted.map((instance) => ({
    instance,
    effectivePriority:
      !isRoot(instance) && instance.chainPriority > instance.priority ? instance.chainPriority : instance.priority,
  }));
}
