// What `virtwall nwfilter-compile --backend nftables` prints: the nft transactions that bind a
// filter to a port on a host without virtwall tables (new chains, then the switch; see
// preparedModel), or with teardown the one that unbinds it.
import type { RuleInstance } from '../../nwfilter/instantiate.js';
import { assignPortIds, compileModel } from './compile.js';
import { diffScript, preparedModel } from './model.js';

export function nftablesTransaction(ifname: string, mac: string, instances: readonly RuleInstance[], teardown: boolean): string {
  const port = { ifname, mac, filter: '', instances };
  const bound = compileModel([port], assignPortIds([ifname], new Map()));
  if (teardown) return diffScript(bound, compileModel([], new Map()));
  const prepared = preparedModel(undefined, bound);
  return `${diffScript(undefined, prepared)}# switch (second transaction)\n${diffScript(prepared, bound)}`;
}
