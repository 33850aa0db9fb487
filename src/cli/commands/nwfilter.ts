// virsh's nwfilter-* and nwfilter-binding-* commands, served by the daemon of --root.
import type { Command } from 'commander';
import { DaemonClient, seg } from '../client.js';
import { documentCommand, editCommand, listCommand, out, xmlCommand } from './daemon-io.js';

const filterArg = ['<nwfilter>', 'network filter name or uuid'] as const;
const bindingArg = ['<binding>', 'network filter binding port dev'] as const;

export function registerNwfilterCommands(program: Command): void {
  documentCommand(program, 'nwfilter-define', 'define or update a network filter from an XML file', 'network filter',
    (c, xml, file) => c.call<{ name: string }>('POST', '/nwfilters', { xml, file }), (r, file) => `Network filter ${r.name} defined from ${file}\n`);
  program
    .command('nwfilter-undefine')
    .description('undefine a network filter (refused while in use)')
    .argument(...filterArg)
    .action(async (name: string, _o, cmd: Command) => {
      const r = await DaemonClient.of(cmd).call<{ name: string }>('DELETE', `/nwfilters/${seg(name)}`);
      out(`Network filter ${r.name} undefined\n`);
    });
  listCommand(program, {
    name: 'nwfilter-list',
    description: 'list network filters',
    fetch: (c) => c.call<{ uuid: string; name: string }[]>('GET', '/nwfilters'),
    columns: [['UUID', (f) => f.uuid], ['Name', (f) => f.name]],
  });
  xmlCommand(program, 'nwfilter-dumpxml', 'network filter information in XML', [filterArg], ([name]) => `/nwfilters/${seg(name!)}`);
  editCommand(program, 'nwfilter-edit', 'Network filter', filterArg, (name) => `/nwfilters/${seg(name)}`, '/nwfilters');
  documentCommand(program, 'nwfilter-binding-create', 'create a network filter binding from an XML file', 'network filter binding',
    (c, xml, file) => c.call<{ portdev: string }>('POST', '/bindings', { xml, file }), (r, file) => `Network filter binding on ${r.portdev} created from ${file}\n`);
  program
    .command('nwfilter-binding-delete')
    .description('delete a network filter binding')
    .argument(...bindingArg)
    .action(async (portdev: string, _o, cmd: Command) => {
      await DaemonClient.of(cmd).call('DELETE', `/bindings/${seg(portdev)}`);
      out(`Network filter binding on ${portdev} deleted\n`);
    });
  listCommand(program, {
    name: 'nwfilter-binding-list',
    description: 'list network filter bindings',
    fetch: (c) => c.call<{ portdev: string; filter: string }[]>('GET', '/bindings'),
    columns: [['Port Dev', (b) => b.portdev], ['Filter', (b) => b.filter]],
  });
  xmlCommand(program, 'nwfilter-binding-dumpxml', 'network filter binding information in XML', [bindingArg], ([portdev]) => `/bindings/${seg(portdev!)}`);
}
