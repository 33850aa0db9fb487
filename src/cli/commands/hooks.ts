// What the hook scripts in hooks/ run: QEMU's `-netdev tap,script=/downscript=` (attach a TAP
// to a network as a port, with its filter) and libvirt's /etc/libvirt/hooks/qemu (bindings for
// the <filterref> of each interface of a starting or stopping guest). Each loads the XML code it
// needs when it runs: hooks run once per guest NIC, so they pay for nothing else.
import type { Command } from 'commander';
import { invalidInput, type VirtwallError } from '../../errors.js';
import { DaemonClient, seg } from '../client.js';
import { parseParamWords, readDocument } from './daemon-io.js';

const env = (key: string): string | undefined => process.env[key] || undefined;

// Each takes the daemon's client as a function: made only where the command first needs it, so a
// failure before that (a bad MAC, an operation to ignore) is reported as it was.

/** qemu-ifup TAP: TAP becomes a port of $VIRTWALL_NETWORK with the guest's MAC and filter. */
export async function qemuIfup(connect: () => DaemonClient, tap: string): Promise<void> {
  const [{ formatNetworkPort }, { generateUuid }, { formatMac, parseMac }] = await Promise.all([
    import('../../conf/networkport/format.js'),
    import('../../conf/uuid.js'),
    import('../../util/address.js'),
  ]);
  const mac = parseMac(env('VIRTWALL_MAC') ?? '');
  if (!mac) throw invalidInput('VIRTWALL_MAC must hold the guest MAC address');
  const owner = env('VIRTWALL_OWNER') ?? tap;
  const port = formatNetworkPort({
    uuid: generateUuid(),
    owner: { name: owner, uuid: generateUuid() },
    mac: formatMac(mac),
    plug: { type: 'none' },
  });
  const params = parseParamWords(
    (env('VIRTWALL_FILTER_PARAMS') ?? '').split(/\s+/).filter(Boolean),
    'VIRTWALL_FILTER_PARAMS entry',
  );
  const filter = env('VIRTWALL_FILTER');
  await connect().call('POST', `/networks/${seg(env('VIRTWALL_NETWORK') ?? 'default')}/ports`, {
    xml: port,
    tap,
    filter: filter ? { name: filter, params } : undefined,
    macFilter: env('VIRTWALL_MAC_FILTER') === '1',
  });
}

/** qemu-ifdown TAP: the ports of TAP in $VIRTWALL_NETWORK are deleted. */
export async function qemuIfdown(connect: () => DaemonClient, tap: string): Promise<void> {
  const client = connect();
  const net = env('VIRTWALL_NETWORK') ?? 'default';
  const ports = await client.call<{ uuid: string; tap: string }[]>('GET', `/networks/${seg(net)}/ports`);
  for (const p of ports.filter((p) => p.tap === tap)) await client.call('DELETE', `/ports/${seg(p.uuid)}`);
}

/** libvirt's hooks/qemu GUEST OPERATION: bindings of the domain XML on stdin created ('started') or deleted ('stopped'). */
export async function libvirtQemu(connect: () => DaemonClient, operation: string): Promise<void> {
  if (operation !== 'started' && operation !== 'stopped') return;
  const client = connect();
  const [{ domainBindings }, { formatFilterBinding }] = await Promise.all([
    import('./domain-bindings.js'),
    import('../../conf/nwfilterbinding/index.js'),
  ]);
  for (const b of domainBindings(readDocument('-'))) {
    if (operation === 'started')
      await client.call('POST', '/bindings', { xml: formatFilterBinding(b), file: 'domain' });
    // a guest that failed to start may have no binding left to delete
    else
      await client.call('DELETE', `/bindings/${seg(b.portdev)}`).catch((err: VirtwallError) => {
        if (err.kind !== 'not-found') throw err;
      });
  }
}

export function registerHooks(program: Command): void {
  const hook = program
    .command('hook')
    .description('entry points of the scripts in hooks/ (QEMU tap scripts, libvirt qemu hook)');
  hook
    .command('qemu-ifup')
    .description(
      'QEMU -netdev tap,script=: attach TAP to $VIRTWALL_NETWORK with guest MAC $VIRTWALL_MAC, filter $VIRTWALL_FILTER (parameters $VIRTWALL_FILTER_PARAMS "NAME=VALUE ...")',
    )
    .argument('<tap>', 'TAP device QEMU created')
    .action((tap: string, _o, cmd: Command) => qemuIfup(() => DaemonClient.of(cmd), tap));
  hook
    .command('qemu-ifdown')
    .description('QEMU -netdev tap,downscript=: delete the port of TAP')
    .argument('<tap>', 'TAP device')
    .action((tap: string, _o, cmd: Command) => qemuIfdown(() => DaemonClient.of(cmd), tap));
  hook
    .command('libvirt-qemu')
    .description("libvirt's hooks/qemu: domain XML on stdin; 'started' creates bindings, 'stopped' deletes them")
    .argument('<guest>', 'domain name')
    .argument('<operation>', 'libvirt hook operation')
    .argument('[rest...]', 'sub-operation and extra arguments')
    .action((_guest: string, operation: string, _rest: string[], _o, cmd: Command) =>
      libvirtQemu(() => DaemonClient.of(cmd), operation),
    );
}
