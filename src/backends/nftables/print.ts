// What `virtwall nwfilter-compile --backend nftables` prints: the one nft transaction that binds
// a filter to a port on a host without virtwall tables, or with teardown the one that unbinds it.
import type { RuleInstance } from '../../nwfilter/instantiate.js';
import { PortLedger } from './ledger.js';
import { LiveModel } from './model.js';
import { noGarbage, planTransaction } from './transaction.js';

export function nftablesTransaction(ifname: string, mac: string, instances: readonly RuleInstance[], teardown: boolean): string {
  const ledger = new PortLedger('br_netfilter', 1);
  ledger.set({ ifname, mac, filter: '', instances });
  const kernel = new LiveModel();
  const bind = planTransaction(kernel, noGarbage(), ledger, ledger.takeDelta());
  if (!teardown) return bind.script;
  bind.commit(kernel);
  ledger.remove(ifname);
  return planTransaction(kernel, bind.garbage, ledger, ledger.takeDelta()).script;
}
