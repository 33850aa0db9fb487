// virsh's nwfilter-* and nwfilter-binding-* commands, served by the daemon of --root.
import type { Command } from 'commander';
import { seg } from '../client.js';
import { documentCommand, editCommand, listCommand, simpleCommand, xmlCommand } from './daemon-io.js';

const filterArg = ['<nwfilter>', 'network filter name or uuid'] as const;
const bindingArg = ['<binding>', 'network filter binding port dev'] as const;

export function registerNwfilterCommands(program: Command): void {
  documentCommand(program, 'nwfilter-define', 'define or update a network filter from an XML file', 'network filter',
    (c, xml, file) => c.call<{ name: string }>('POST', '/nwfilters', { xml, file }), (r, file) => `Network filter ${r.name} defined from ${file}\n`);
  simpleCommand(program, 'nwfilter-undefine', 'undefine a network filter (refused while in use)', [filterArg],
    async (c, [name]) => `Network filter ${(await c.call<{ name: string }>('DELETE', `/nwfilters/${seg(name!)}`)).name} undefined\n`);
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
  simpleCommand(program, 'nwfilter-binding-delete', 'delete a network filter binding', [bindingArg],
    async (c, [portdev]) => (await c.call('DELETE', `/bindings/${seg(portdev!)}`), `Network filter binding on ${portdev} deleted\n`));
  listCommand(program, {
    name: 'nwfilter-binding-list',
    description: 'list network filter bindings',
    fetch: (c) => c.call<{ portdev: string; filter: string }[]>('GET', '/bindings'),
    columns: [['Port Dev', (b) => b.portdev], ['Filter', (b) => b.filter]],
  });
  xmlCommand(program, 'nwfilter-binding-dumpxml', 'network filter binding information in XML', [bindingArg], ([portdev]) => `/bindings/${seg(portdev!)}`);
}
