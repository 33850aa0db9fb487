// nwfilter-binding-create and nwfilter-binding-delete, which libvirt's callers (and hooks) run once
// per guest port: apart from the other nwfilter commands so that the CLI's fast path
// (src/cli/fast-path.ts) runs them without loading commander or the other commands.
import { seg } from '../client.js';
import { failing } from '../virsh.js';
import { type DocumentSpec, lookup, type VirshRun } from './daemon-io.js';

export const bindingArg = ['<binding>', 'network filter binding port dev'] as const;

export const BINDING_CREATE: DocumentSpec<{ portdev: string }> = {
  name: 'nwfilter-binding-create',
  description: 'create a network filter binding from an XML file',
  what: 'network filter binding',
  root: 'filterbinding',
  failure: 'Failed to create network filter',
  send: (c, xml, file) => c.call<{ portdev: string }>('POST', '/bindings', { xml, file }),
  message: (r, file) => `Network filter binding on ${r.portdev} created from ${file}\n`,
};

/** nwfilter-binding-delete BINDING: looked up first, as virsh does (its "failed to get" line). */
export async function deleteBinding({ client, args: [portdev], out }: VirshRun): Promise<void> {
  await lookup(client, 'binding', portdev!);
  await failing(
    `Failed to delete network filter binding on ${portdev}`,
    client.call('DELETE', `/bindings/${seg(portdev!)}`),
  );
  out.extra(`Network filter binding on ${portdev} deleted\n`);
}
