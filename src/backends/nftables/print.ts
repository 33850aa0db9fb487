// What `virtwall nwfilter-compile --backend nftables` prints: the one nft transaction that binds
// a filter to a port on a host without virtwall tables, or with teardown the one that unbinds it.
import { renderBatch, type Batch } from '../../nft/batch.js';
import { emptyRuleset } from '../../nft/objects.js';
import type { RuleInstance } from '../../nwfilter/instantiate.js';
import { PortLedger } from './ledger.js';
import { RuleBodies, TABLE } from './model.js';
import { afterBatch, kernelModel, planBatch } from './plan.js';

/** The batch binding (or with teardown, unbinding) one port on a host without virtwall tables. */
export function bindBatch(portdev: string, mac: string, instances: readonly RuleInstance[], teardown: boolean): Batch {
  const bound = PortLedger.empty('br_netfilter', 1).with({
    set: [{ portdev, mac, filter: '', instances }],
    remove: [],
  });
  const bodies = new RuleBodies();
  const empty = kernelModel(emptyRuleset());
  const bind = planBatch(empty, bound.ledger, bound.delta, bodies);
  if (!teardown) return bind.batch;
  const unbound = bind.desired.with({ set: [], remove: [portdev] });
  return planBatch(afterBatch(empty, bind, []), unbound.ledger, unbound.delta, bodies).batch;
}

export function nftablesTransaction(
  portdev: string,
  mac: string,
  instances: readonly RuleInstance[],
  teardown: boolean,
): string {
  return renderBatch(bindBatch(portdev, mac, instances, teardown), TABLE);
}
