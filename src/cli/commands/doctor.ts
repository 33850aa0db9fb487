// `virtwall doctor [--json]`: checks the host (where it runs: a namespace with `ip netns exec`)
// for conditions known to break guests and explains each with its fix; exit 0 when none is a
// problem, 1 otherwise. Reads the state root's configuration and running networks; changes nothing.
import type { Command } from 'commander';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description(
      'check the host for conditions that break guests (firewalld zones, foreign forward drops, iptables-legacy, br_netfilter, forwarding sysctls, nft features, dnsmasq, other DHCP servers or libvirt daemons, damaged tables)',
    )
    .option('--json', 'print the report as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { root } = cmd.optsWithGlobals() as { root: string };
      const [
        { SystemRunner },
        { Firewalld },
        { stateLayout },
        { loadConfig },
        { activeNetworks },
        { runDoctor, formatDoctor, readKernelFile },
      ] = await Promise.all([
        import('../../exec/runner.js'),
        import('../../host/firewalld.js'),
        import('../../daemon/layout.js'),
        import('../../daemon/main.js'),
        import('../../network/lifecycle/driver.js'),
        import('../../host/doctor/run.js'),
      ]);
      const layout = stateLayout(root);
      const firewalld = new Firewalld();
      try {
        const report = await runDoctor({
          runner: new SystemRunner(),
          config: loadConfig(layout),
          networks: activeNetworks(layout.networkState, { readOnly: true }),
          firewalld,
          read: readKernelFile,
        });
        process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctor(report));
        process.exitCode = report.ok ? 0 : 1;
      } finally {
        firewalld.close();
      }
    });
}
