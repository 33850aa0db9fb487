// What `virtwall nwfilter-compile --backend nftables` prints: the one nft transaction that binds
// a filter to a port on a host without virtwall tables (or, with teardown, that unbinds it).
import type { RuleInstance } from '../../nwfilter/instantiate.js';
import { assignPortIds, compileModel } from './compile.js';
import { diffScript } from './model.js';

export function nftablesTransaction(ifname: string, mac: string, instances: readonly RuleInstance[], teardown: boolean): string {
  const port = { ifname, mac, filter: '', instances };
  const bound = compileModel([port], assignPortIds([ifname], new Map()));
  return teardown ? diffScript(bound, compileModel([], new Map())) : diffScript(undefined, bound);
}
