// `virtwall demo`: see src/demo/demo.ts. Needs root, iproute2, nftables, dnsmasq and dhclient.
import type { Command } from 'commander';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'run virtwall end to end inside temporary network namespaces (NAT network, two filtered guests, a blocked spoof)',
    )
    .action(async () => {
      const { runDemo } = await import('../../demo/demo.js');
      const r = await runDemo((line) => process.stdout.write(`${line}\n`));
      process.stdout.write(r.ok ? 'demo: all checks passed\n' : 'demo: some checks FAILED\n');
      if (!r.ok) process.exitCode = 1;
    });
}
