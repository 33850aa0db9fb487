// virsh's nwfilter-* and nwfilter-binding-* commands (tools/virsh-nwfilter.c), served by the
// daemon of --root, and virtwall's own nwfilter-binding-learning.
import type { Command } from 'commander';
import { seg } from '../client.js';
import { byNameCase, failing } from '../virsh.js';
import { documentCommand, listCommand, lookup, virshCommand } from './daemon-io.js';
import { editCommand } from './edit.js';
import { BINDING_CREATE, bindingArg, deleteBinding } from './nwfilter-binding.js';

const filterArg = ['<nwfilter>', 'network filter name or uuid'] as const;

export function registerNwfilterCommands(program: Command): void {
  documentCommand(program, {
    name: 'nwfilter-define',
    description: 'define or update a network filter from an XML file',
    what: 'network filter',
    root: 'filter',
    failure: 'Failed to define network filter',
    send: (c, xml, file) => c.call<{ name: string }>('POST', '/nwfilters', { xml, file }),
    message: (r, file) => `Network filter ${r.name} defined from ${file}\n`,
  });
  virshCommand(
    program,
    'nwfilter-undefine',
    'undefine a network filter (refused while in use)',
    [filterArg],
    [],
    async ({ client, args: [name], out }) => {
      await lookup(client, 'nwfilter', name!);
      await failing(`Failed to undefine network filter ${name}`, client.call('DELETE', `/nwfilters/${seg(name!)}`));
      out.extra(`Network filter ${name} undefined\n`);
    },
  );
  listCommand(program, {
    name: 'nwfilter-list',
    description: 'list network filters',
    fetch: async (c) =>
      (await c.call<{ uuid: string; name: string }[]>('GET', '/nwfilters')).sort((a, b) => byNameCase(a.name, b.name)),
    columns: [
      ['UUID', (f) => f.uuid],
      ['Name', (f) => f.name],
    ],
    // not in virsh 9's nwfilter-list; as net-list's --uuid and --name
    only: [
      ['uuid', (f) => f.uuid],
      ['name', (f) => f.name],
    ],
    exclusive: 'Only one argument from --table, --name and --uuid may be specified.',
  });
  virshCommand(
    program,
    'nwfilter-dumpxml',
    'network filter information in XML',
    [filterArg],
    [],
    async ({ client, args: [name], out }) => {
      out.print((await lookup<{ xml: string }>(client, 'nwfilter', name!)).xml);
    },
  );
  editCommand(
    program,
    'nwfilter-edit',
    'Network filter',
    filterArg,
    'nwfilter',
    (name) => `/nwfilters/${seg(name)}`,
    '/nwfilters',
  );
  documentCommand(program, BINDING_CREATE);
  virshCommand(program, 'nwfilter-binding-delete', 'delete a network filter binding', [bindingArg], [], deleteBinding);
  listCommand(program, {
    name: 'nwfilter-binding-list',
    description: 'list network filter bindings',
    fetch: async (c) =>
      (await c.call<{ portdev: string; filter: string }[]>('GET', '/bindings')).sort((a, b) =>
        byNameCase(a.portdev, b.portdev),
      ),
    columns: [
      ['Port Dev', (b) => b.portdev],
      ['Filter', (b) => b.filter],
    ],
  });
  virshCommand(
    program,
    'nwfilter-binding-dumpxml',
    'network filter information in XML',
    [bindingArg],
    [],
    async ({ client, args: [portdev], out }) => {
      out.print((await lookup<{ xml: string }>(client, 'binding', portdev!)).xml);
    },
  );
  virshCommand(
    program,
    'nwfilter-binding-learning',
    "virtwall's IP address learning state of a binding's port (not in virsh): the addresses learned and how",
    [bindingArg],
    [['--json', 'machine-readable output']],
    async ({ client, args: [portdev], opts, out }) => {
      await lookup(client, 'binding', portdev!);
      const l = await client.call<{ xml: string; json: unknown }>('GET', `/bindings/${seg(portdev!)}/learning`);
      out.print(opts['json'] ? `${JSON.stringify(l.json, null, 2)}\n` : l.xml);
    },
  );
}
