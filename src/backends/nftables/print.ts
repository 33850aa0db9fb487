// What `virtwall nwfilter-compile --backend nftables` prints: the one nft transaction that binds
// a filter to a port on a host without virtwall tables, or with teardown the one that unbinds it.
import { renderBatch, type Batch } from '../../nft/batch.js';
import { emptyRuleset } from '../../nft/objects.js';
import type { RuleInstance } from '../../nwfilter/instantiate.js';
import { PortLedger } from './ledger.js';
import { RuleBodies, TABLE } from './model.js';
import { adoptPlan, afterBatch, kernelModel, planBatch } from './plan.js';

/** The batch binding (or with teardown, unbinding) one port on a host without virtwall tables. */
export function bindBatch(portdev: string, mac: string, instances: readonly RuleInstance[], teardown: boolean): Batch {
  const ledger = new PortLedger('br_netfilter', 1);
  ledger.set({ portdev, mac, filter: '', instances });
  const bodies = new RuleBodies();
  const empty = kernelModel(emptyRuleset());
  const bind = planBatch(empty, ledger, ledger.takeDelta(), bodies);
  if (!teardown) return bind.batch;
  adoptPlan(bind, [], ledger, bodies);
  ledger.remove(portdev);
  return planBatch(afterBatch(empty, bind, []), ledger, ledger.takeDelta(), bodies).batch;
}

export function nftablesTransaction(
  portdev: string,
  mac: string,
  instances: readonly RuleInstance[],
  teardown: boolean,
): string {
  return renderBatch(bindBatch(portdev, mac, instances, teardown), TABLE);
}
