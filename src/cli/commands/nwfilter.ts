// virsh's nwfilter-* and nwfilter-binding-* commands, served by the daemon of --root.
import type { Command } from 'commander';
import { DaemonClient, seg } from '../client.js';
import { formatTable } from '../table.js';
import { documentCommand, editDocument, out, outJson } from './daemon-io.js';

type Json = { json?: boolean };

export function registerNwfilterCommands(program: Command): void {
  documentCommand(program, 'nwfilter-define', 'define or update a network filter from an XML file', 'network filter',
    (c, xml, file) => c.call<{ name: string }>('POST', '/nwfilters', { xml, file }), (r, file) => `Network filter ${r.name} defined from ${file}\n`);
  program
    .command('nwfilter-undefine')
    .description('undefine a network filter (refused while in use)')
    .argument('<nwfilter>', 'network filter name or uuid')
    .action(async (name: string, _o, cmd: Command) => {
      const r = await DaemonClient.of(cmd).call<{ name: string }>('DELETE', `/nwfilters/${seg(name)}`);
      out(`Network filter ${r.name} undefined\n`);
    });
  program
    .command('nwfilter-list')
    .description('list network filters')
    .option('--json', 'machine-readable output')
    .action(async (o: Json, cmd: Command) => {
      const list = await DaemonClient.of(cmd).call<{ uuid: string; name: string }[]>('GET', '/nwfilters');
      if (o.json) return outJson(list);
      out(formatTable(['UUID', 'Name'], list.map((f) => [f.uuid, f.name])));
    });
  program
    .command('nwfilter-dumpxml')
    .description('network filter information in XML')
    .argument('<nwfilter>', 'network filter name or uuid')
    .action(async (name: string, _o, cmd: Command) => {
      out((await DaemonClient.of(cmd).call<{ xml: string }>('GET', `/nwfilters/${seg(name)}`)).xml);
    });
  program
    .command('nwfilter-edit')
    .description('edit XML configuration for a network filter with $EDITOR')
    .argument('<nwfilter>', 'network filter name or uuid')
    .action(async (name: string, _o, cmd: Command) => {
      const client = DaemonClient.of(cmd);
      const { xml } = await client.call<{ xml: string }>('GET', `/nwfilters/${seg(name)}`);
      const changed = await editDocument(xml, async (edited) => void (await client.call('POST', '/nwfilters', { xml: edited })));
      out(changed ? `Network filter ${name} XML configuration edited.\n` : `Network filter ${name} XML configuration not changed.\n`);
    });
  documentCommand(program, 'nwfilter-binding-create', 'create a network filter binding from an XML file', 'network filter binding',
    (c, xml, file) => c.call<{ portdev: string }>('POST', '/bindings', { xml, file }), (r, file) => `Network filter binding on ${r.portdev} created from ${file}\n`);
  program
    .command('nwfilter-binding-delete')
    .description('delete a network filter binding')
    .argument('<binding>', 'network filter binding port dev')
    .action(async (portdev: string, _o, cmd: Command) => {
      await DaemonClient.of(cmd).call('DELETE', `/bindings/${seg(portdev)}`);
      out(`Network filter binding on ${portdev} deleted\n`);
    });
  program
    .command('nwfilter-binding-list')
    .description('list network filter bindings')
    .option('--json', 'machine-readable output')
    .action(async (o: Json, cmd: Command) => {
      const list = await DaemonClient.of(cmd).call<{ portdev: string; filter: string }[]>('GET', '/bindings');
      if (o.json) return outJson(list);
      out(formatTable(['Port Dev', 'Filter'], list.map((b) => [b.portdev, b.filter])));
    });
  program
    .command('nwfilter-binding-dumpxml')
    .description('network filter binding information in XML')
    .argument('<binding>', 'network filter binding port dev')
    .action(async (portdev: string, _o, cmd: Command) => {
      out((await DaemonClient.of(cmd).call<{ xml: string }>('GET', `/bindings/${seg(portdev)}`)).xml);
    });
}
