// `virtwall nwfilter-compile`: instantiate a filter file for one interface and print the commands
// libvirt's ebiptables driver would run, in libvirt's test-harness format. Nothing is applied.
// The instantiation (compile-filter.ts) loads only when the command runs.
import type { Command } from 'commander';
import { invalidInput } from '../../errors.js';
import type { CompileOptions } from './compile-filter.js';

import { checkDeviceName } from '../../util/device-name.js';

export function registerNwfilterCompile(program: Command): void {
  program
    .command('nwfilter-compile')
    .description('print the firewall commands libvirt would run to instantiate a filter on an interface')
    .argument('<file>', "the filter XML file ('-' for standard input)")
    .requiredOption('--ifname <name>', 'the guest interface (TAP device), e.g. vnet0')
    .option('--backend <name>', 'firewall technology', 'ebiptables')
    .option('--mac <mac>', "the guest's MAC address (variable MAC)")
    .option(
      '--param <NAME=VALUE>',
      'a filter variable; repeat a name to make a list',
      (v: string, acc: string[]) => [...acc, v],
      [],
    )
    .option('--filter-dir <dir>', 'where referenced filters are found (DIR/NAME.xml), before the stock filters')
    .option('--teardown', 'print the commands that remove the filter from the interface instead')
    .action(async (file: string, opts: CompileOptions) => {
      const backend = opts.backend;
      if (backend !== 'ebiptables' && backend !== 'nftables') {
        throw invalidInput(`unknown backend '${backend}' (known: ebiptables, nftables)`);
      }
      checkDeviceName(opts.ifname, 'interface name');
      const { compileFilter } = await import('./compile-filter.js');
      process.stdout.write(compileFilter(file, { ...opts, backend }));
    });
}
