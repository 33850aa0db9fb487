// `virtwall nwfilter-compile`: instantiate a filter file for one interface and print the commands
// libvirt's ebiptables driver would run, in libvirt's test-harness format. Nothing is applied.
import type { Command } from 'commander';
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
import { checkDeviceName } from '../../util/device-name.js';
import { parseNameValues } from '../../util/name-value.js';
import { printable } from '../../util/printable.js';
import { dryRunCommands, type FirewallPlan } from '../../plan/transaction.js';
import { readInput } from './document.js';

interface CompileOptions {
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
    if (!VAR_NAME.test(name)) throw invalidInput(`invalid --param '${printable(name)}=...': NAME may only hold letters, digits and _`);
    const bad = values.find((v) => !isValidVarValue(v));
    if (bad !== undefined) throw invalidInput(`invalid --param '${printable(name)}=${printable(bad)}': the value may only hold letters, digits, '_', '.' and ':'`);
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

export function registerNwfilterCompile(program: Command): void {
  program
    .command('nwfilter-compile')
    .description("print the firewall commands libvirt would run to instantiate a filter on an interface")
    .argument('<file>', "the filter XML file ('-' for standard input)")
    .requiredOption('--ifname <name>', 'the guest interface (TAP device), e.g. vnet0')
    .option('--backend <name>', 'firewall technology', 'ebiptables')
    .option('--mac <mac>', "the guest's MAC address (variable MAC)")
    .option('--param <NAME=VALUE>', 'a filter variable; repeat a name to make a list', (v: string, acc: string[]) => [...acc, v], [])
    .option('--filter-dir <dir>', 'where referenced filters are found (DIR/NAME.xml), before the stock filters')
    .option('--teardown', 'print the commands that remove the filter from the interface instead')
    .action((file: string, opts: CompileOptions) => {
      if (opts.backend !== 'ebiptables' && opts.backend !== 'nftables') {
        throw invalidInput(`unknown backend '${opts.backend}' (known: ebiptables, nftables)`);
      }
      checkDeviceName(opts.ifname, 'interface name');
      let plans: FirewallPlan[];
      if (opts.backend === 'nftables') {
        process.stdout.write(nftablesTransaction(opts.ifname, opts.mac ?? '', loadInstances(file, opts), !!opts.teardown));
        return;
      }
      if (opts.teardown) {
        plans = [allTeardown(opts.ifname)];
      } else {
        plans = instantiationPlans(opts.ifname, loadInstances(file, opts));
      }
      process.stdout.write(renderCommands(plans.flatMap(dryRunCommands)));
    });
}
