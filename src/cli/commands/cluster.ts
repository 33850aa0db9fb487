// `virtwall cluster join|status|leave`: this host's place in the fleet (etcd_endpoints), through
// its daemon, which does the work in its serialised operations (src/fleet/sync.ts).
import { Option, type Command } from 'commander';
import { DaemonClient } from '../client.js';
import { formatTable } from '../table.js';
import { printable } from '../../util/printable.js';
import type { FleetStatus } from '../../fleet/sync.js';

export function registerCluster(program: Command): void {
  const cluster = program
    .command('cluster')
    .description('this host in the fleet of hosts sharing definitions through etcd');
  cluster
    .command('join')
    .description(
      "join the fleet: this host's definitions go to etcd, the fleet's come here; refused, showing the differences, when both hold a definition with different content unless --prefer says which side wins",
    )
    .addOption(new Option('--prefer <side>', 'which definition wins where they differ').choices(['local', 'cluster']))
    .action(async (opts: { prefer?: 'local' | 'cluster' }, cmd: Command) => {
      const r = await DaemonClient.of(cmd).call<{ exported: string[]; imported: string[]; replaced: string[] }>(
        'POST',
        '/cluster/join',
        opts.prefer ? { prefer: opts.prefer } : {},
      );
      process.stdout.write(
        `joined the fleet: ${r.exported.length} definitions exported, ${r.imported.length} imported, ${r.replaced.length} replaced in the fleet\n`,
      );
    });
  cluster
    .command('status')
    .description('the fleet: hosts, when each was last seen, the definitions revision it applied, its drift')
    .option('--json', 'print the status as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const s = await DaemonClient.of(cmd).call<FleetStatus>('GET', '/cluster');
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `this host: ${s.host} (${s.joined ? 'joined' : 'not joined'}); etcd revision ${s.etcdRevision}, ${s.definitions} definitions\n`,
      );
      const rows = s.hosts.map((h) => [
        printable(h.host),
        h.joined ? 'joined' : 'not joined',
        h.lastSeen,
        String(h.revision),
        String(h.networks.filter((n) => n.active).length),
        String(h.bindings),
        Object.keys(h.drift).length
          ? Object.entries(h.drift)
              .map(([k, why]) => `${printable(k)}: ${printable(why, 120)}`)
              .join('; ')
          : h.behind
            ? 'behind'
            : 'none',
      ]);
      process.stdout.write(
        formatTable(['Host', 'State', 'Last seen', 'Revision', 'Networks', 'Bindings', 'Drift'], rows),
      );
    });
  cluster
    .command('leave')
    .description('leave the fleet: this host stops following etcd and keeps its definitions as they are')
    .action(async (_o, cmd: Command) => {
      await DaemonClient.of(cmd).call('POST', '/cluster/leave', {});
      process.stdout.write('left the fleet (local definitions kept)\n');
    });
}
