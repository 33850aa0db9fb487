// `virtwall lease-hook`: called by dnsmasq (through the script the network driver writes) on
// every DHCP lease change; not meant for people. The lease code loads only when it runs.
import type { Command } from 'commander';

export function registerLeaseHook(program: Command): void {
  program
    .command('lease-hook', { hidden: true })
    .description("dnsmasq's dhcp-script: records lease changes of a virtwall network")
    .requiredOption('--state-dir <dir>', 'the network driver state directory')
    .argument('<action>', 'add, old, del, init, ...')
    .argument('[args...]', 'MAC, IP, hostname as dnsmasq passes them')
    .action(async (action: string, args: string[], opts: { stateDir: string }) => {
      const { handleLeaseHook } = await import('../../network/lifecycle/lease-hook.js');
      process.stdout.write(
        handleLeaseHook(opts.stateDir, [action, ...args], process.env, Math.floor(Date.now() / 1000)),
      );
    });
}
