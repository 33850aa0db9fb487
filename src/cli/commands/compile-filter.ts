// What `virtwall nwfilter-compile` prints: a filter file instantiated for one interface, as the
// commands libvirt's ebiptables driver would run (libvirt's test-harness format) or the nftables
// backend's transaction. Loaded by the command only (src/cli/commands/nwfilter-compile.ts).
import { allTeardown, instantiationPlans } from '../../backends/ebiptables/plan.js';
import { nftablesTransaction } from '../../backends/nftables/print.js';
import { parseAs } from '../../conf/nwfilter/datatypes.js';
import { parseFilter } from '../../conf/nwfilter/parse.js';
import { loadStockFilters } from '../../conf/nwfilter/stock.js';
import { DiagnosticList, invalidInput } from '../../errors.js';
import { instantiate, type RuleInstance } from '../../nwfilter/instantiate.js';
import { chainSources, DirectoryFilterSource, MapFilterSource, type FilterSource } from '../../nwfilter/source.js';
import { isValidVarValue, type VarValue } from '../../nwfilter/vars.js';
import { renderCommands } from '../../plan/command.js';
import { dryRunCommands, type FirewallPlan } from '../../plan/transaction.js';
import { parseNameValues } from '../../util/name-value.js';
import { printable } from '../../util/printable.js';
import { readInput } from './document.js';

export interface CompileOptions {
  ifname: string;
  backend: string;
  mac?: string;
  param: string[];
  filterDir?: string;
  teardown?: boolean;
}

const VAR_NAME = /^[A-Za-z0-9_]+$/;

/** Repeated --param NAME=VALUE; a name given several times becomes a list, in order. */
function parseParams(params: readonly string[], mac: string | undefined): Map<string, VarValue> {
  const vars: Map<string, VarValue> = parseNameValues(params, '--param');
  for (const [name, values] of vars) {
    if (!VAR_NAME.test(name))
      throw invalidInput(`invalid --param '${printable(name)}=...': NAME may only hold letters, digits and _`);
    const bad = values.find((v) => !isValidVarValue(v));
    if (bad !== undefined)
      throw invalidInput(
        `invalid --param '${printable(name)}=${printable(bad)}': the value may only hold letters, digits, '_', '.' and ':'`,
      );
  }
  if (mac !== undefined && !vars.has('MAC')) {
    const parsed = parseAs('mac', mac);
    if (parsed?.kind !== 'mac') throw invalidInput(`--mac '${mac}' is not a MAC address`);
    vars.set('MAC', [parsed.text]);
  }
  return vars;
}

/** The filter file instantiated with the options' variables and filter directory. */
function loadInstances(file: string, opts: CompileOptions): RuleInstance[] {
  const diag = new DiagnosticList();
  const root = parseFilter(readInput(file), file, diag);
  for (const w of diag.format()) process.stderr.write(`warning: ${w}\n`);
  const sources: FilterSource[] = [];
  if (opts.filterDir) sources.push(new DirectoryFilterSource(opts.filterDir, (text, f) => parseFilter(text, f)));
  sources.push(new MapFilterSource(loadStockFilters().values()));
  return instantiate(root, parseParams(opts.param, opts.mac), chainSources(...sources));
}

/** The commands (ebiptables) or the transaction (nftables) for the options' interface. */
export function compileFilter(file: string, opts: CompileOptions & { backend: 'ebiptables' | 'nftables' }): string {
  if (opts.backend === 'nftables')
    return nftablesTransaction(opts.ifname, opts.mac ?? '', loadInstances(file, opts), !!opts.teardown);
  const plans: FirewallPlan[] = opts.teardown
    ? [allTeardown(opts.ifname)]
    : instantiationPlans(opts.ifname, loadInstances(file, opts));
  return renderCommands(plans.flatMap(dryRunCommands));
}
