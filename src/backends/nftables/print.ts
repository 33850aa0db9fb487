// What `virtwall nwfilter-compile --backend nftables` prints: the one nft transaction that binds
// a filter to a port on a host without virtwall tables, or with teardown the one that unbinds it.
import { renderBatch } from '../../nft/batch.js';
import { emptyRuleset } from '../../nft/objects.js';
import type { RuleInstance } from '../../nwfilter/instantiate.js';
import { PortLedger } from './ledger.js';
import { RuleBodies, TABLE } from './model.js';
import { noGarbage, planLoaded, planTransaction } from './transaction.js';

export function nftablesTransaction(ifname: string, mac: string, instances: readonly RuleInstance[], teardown: boolean): string {
  const ledger = new PortLedger('br_netfilter', 1);
  ledger.set({ ifname, mac, filter: '', instances });
  const bodies = new RuleBodies();
  const bind = planTransaction(emptyRuleset(), noGarbage(), ledger, ledger.takeDelta(), bodies);
  if (!teardown) return renderBatch(bind.batch, TABLE);
  const kernel = planLoaded(emptyRuleset(), bind, [], ledger, bodies);
  ledger.remove(ifname);
  return renderBatch(planTransaction(kernel, bind.garbage, ledger, ledger.takeDelta(), bodies).batch, TABLE);
}
