// virsh's net-* and net-port-* commands (tools/virsh-network.c), served by the daemon of --root.
import { Option, type Command } from 'commander';
import { invalidInput } from '../../errors.js';
import { UPDATE_COMMANDS, UPDATE_SECTIONS } from '../../conf/network/update-words.js';
import type { NetworkSummary } from '../../daemon/networks.js';
import type { NetworkLease } from '../../network/lifecycle/leases.js';
import { seg } from '../client.js';
import { formatInfo } from '../table.js';
import { VirshError, byNameCase, failing } from '../virsh.js';
import {
  documentCommand,
  listCommand,
  lookup,
  parseParamWords,
  readDocument,
  validate,
  virshCommand,
  type Arg,
  type VirshRun,
} from './daemon-io.js';
import { editCommand } from './edit.js';

const yesNo = (b: boolean) => (b ? 'yes' : 'no');
const netArg = ['<network>', 'network name or uuid'] as const;
const portArg = ['<port>', 'port UUID'] as const;
const UUID_LENGTH = 36;

/** A command on one network: virsh looks it up first, then acts; `failure` names what failed. */
function onNetwork(
  program: Command,
  name: string,
  description: string,
  failure: (net: string) => string,
  act: (r: VirshRun, net: string) => Promise<string>,
): void {
  virshCommand(program, name, description, [netArg], [], async (r) => {
    const net = r.args[0]!;
    await lookup(r.client, 'network', net);
    r.out.extra(await failing(failure(net), act(r, net)));
  });
}

/**
 * net-list's filters (virNetworkObjListFilter): of each pair, a row must pass one of the options
 * given. Commander folds --autostart and --no-autostart into one value (true or false).
 */
const LIST_FILTERS: readonly (readonly [
  given: (o: Record<string, unknown>) => boolean,
  test: (n: NetworkSummary) => boolean,
])[][] = [
  [
    [(o) => o['persistent'] === true, (n) => n.persistent],
    [(o) => o['transient'] === true, (n) => !n.persistent],
  ],
  [
    [(o) => o['autostart'] === true, (n) => n.autostart],
    [(o) => o['autostart'] === false, (n) => !n.autostart],
  ],
];

function listed(nets: NetworkSummary[], o: Record<string, unknown>): NetworkSummary[] {
  const state = o['all']
    ? () => true
    : o['inactive']
      ? (n: NetworkSummary) => !n.active
      : (n: NetworkSummary) => n.active;
  const filters = LIST_FILTERS.map((pair) => pair.filter(([given]) => given(o))).filter((given) => given.length);
  return nets
    .filter((n) => state(n) && filters.every((given) => given.some(([, test]) => test(n))))
    .sort((a, b) => byNameCase(a.name, b.name));
}

export function registerNetworkCommands(program: Command): void {
  documentCommand(program, {
    name: 'net-define',
    description: 'define an inactive persistent virtual network or modify an existing persistent one from an XML file',
    what: 'network',
    root: 'network',
    failure: 'Failed to define network',
    send: (c, xml, file) => c.call<{ name: string }>('POST', '/networks', { xml, file }),
    message: (r, file) => `Network ${r.name} defined from ${file}\n`,
  });
  documentCommand(program, {
    name: 'net-create',
    description: 'create a network from an XML file',
    what: 'network',
    root: 'network',
    failure: 'Failed to create network',
    send: (c, xml, file) => c.call<{ name: string }>('POST', '/networks/create', { xml, file }),
    message: (r, file) => `Network ${r.name} created from ${file}\n`,
  });
  onNetwork(
    program,
    'net-undefine',
    'undefine a persistent network',
    (n) => `Failed to undefine network ${n}`,
    async ({ client }, n) => {
      await client.call('DELETE', `/networks/${seg(n)}`);
      return `Network ${n} has been undefined\n`;
    },
  );
  onNetwork(
    program,
    'net-start',
    'start a (previously defined) inactive network',
    (n) => `Failed to start network ${n}`,
    async ({ client }, n) => {
      await client.call('POST', `/networks/${seg(n)}/start`);
      return `Network ${n} started\n`;
    },
  );
  onNetwork(
    program,
    'net-destroy',
    'destroy (stop) a network',
    (n) => `Failed to destroy network ${n}`,
    async ({ client }, n) => {
      await client.call('POST', `/networks/${seg(n)}/destroy`);
      return `Network ${n} destroyed\n`;
    },
  );
  // net-uuid looks the network up by name only, net-name by UUID only (virshCommandOptNetworkBy)
  virshCommand(
    program,
    'net-uuid',
    'convert a network name to network UUID',
    [['<network>', 'network name']],
    [],
    async ({ client, args: [n], out }) => {
      const net = await lookup<NetworkSummary>(client, 'network', n!);
      if (net.name !== n)
        throw new VirshError(`failed to get network '${n}'`, `Network not found: no network with matching name '${n}'`);
      out.print(`${net.uuid}\n`);
    },
  );
  virshCommand(
    program,
    'net-name',
    'convert a network UUID to network name',
    [['<network>', 'network uuid']],
    [],
    async ({ client, args: [u], out }) => {
      if (u!.length !== UUID_LENGTH) throw new VirshError(`failed to get network '${u}'`);
      const net = await lookup<NetworkSummary>(client, 'network', u!).catch(() => undefined);
      if (!net || net.uuid !== u!.toLowerCase())
        throw new VirshError(`failed to get network '${u}'`, `Network not found: no network with matching uuid '${u}'`);
      out.print(`${net.name}\n`);
    },
  );
  listCommand(program, {
    name: 'net-list',
    description: 'list networks',
    options: [
      ['--inactive', 'list inactive networks'],
      ['--all', 'list inactive & active networks'],
      ['--persistent', 'list persistent networks'],
      ['--transient', 'list transient networks'],
      ['--autostart', 'list networks with autostart enabled'],
      ['--no-autostart', 'list networks with autostart disabled'],
    ],
    fetch: async (c, _a, o) => listed(await c.call<NetworkSummary[]>('GET', '/networks'), o),
    columns: [
      ['Name', (n) => n.name],
      ['State', (n) => (n.active ? 'active' : 'inactive')],
      ['Autostart', (n) => yesNo(n.autostart)],
      ['Persistent', (n) => yesNo(n.persistent)],
    ],
    only: [
      ['uuid', (n) => n.uuid],
      ['name', (n) => n.name],
    ],
    exclusive: 'Only one argument from --table, --name and --uuid may be specified.',
  });
  virshCommand(
    program,
    'net-info',
    'network information',
    [netArg],
    [['--json', 'machine-readable output']],
    async ({ client, args: [net], opts, out }) => {
      const n = await lookup<NetworkSummary>(client, 'network', net!);
      if (opts['json']) return out.print(`${JSON.stringify(n, null, 2)}\n`);
      const rows: [string, string][] = [
        ['Name', n.name],
        ['UUID', n.uuid],
        ['Active', yesNo(n.active)],
        ['Persistent', yesNo(n.persistent)],
        ['Autostart', yesNo(n.autostart)],
      ];
      if (n.bridge !== undefined) rows.push(['Bridge', n.bridge]);
      out.print(formatInfo(rows));
    },
  );
  virshCommand(
    program,
    'net-dumpxml',
    'network information in XML',
    [netArg],
    [['--inactive', 'network information of an inactive domain']],
    async ({ client, args: [net], opts, out }) => {
      await lookup(client, 'network', net!);
      out.print(
        (
          await client.call<{ xml: string }>(
            'GET',
            `/networks/${seg(net!)}/xml${opts['inactive'] ? '?inactive=1' : ''}`,
          )
        ).xml,
      );
    },
  );
  editCommand(
    program,
    'net-edit',
    'Network',
    netArg,
    'network',
    (net) => `/networks/${seg(net)}/xml?inactive=1`,
    '/networks',
  );
  virshCommand(
    program,
    'net-autostart',
    'autostart a network',
    [netArg],
    [['--disable', 'disable autostarting']],
    async ({ client, args: [net], opts, out }) => {
      await lookup(client, 'network', net!);
      const enabled = !opts['disable'];
      await failing(
        `failed to ${enabled ? 'mark' : 'unmark'} network ${net} as autostarted`,
        client.call('PUT', `/networks/${seg(net!)}/autostart`, { enabled }),
      );
      out.extra(`Network ${net} ${enabled ? 'marked' : 'unmarked'} as autostarted\n`);
    },
  );
  registerNetUpdate(program);
  registerDhcpLeases(program);
  registerPortCommands(program);
}

function registerNetUpdate(program: Command): void {
  virshCommand(
    program,
    'net-update',
    "update parts of an existing network's configuration",
    [
      netArg,
      ['<command>', `type of update (${UPDATE_COMMANDS.join(', ')}, or add = add-last)`],
      ['<section>', `which section of network configuration to update (${UPDATE_SECTIONS.join(', ')})`],
      ['<xml>', 'name of file containing xml (or, if it starts with "<", the complete xml element itself)'],
    ],
    [['--parent-index <index>', 'which parent object to search through']],
    async ({ client, args: [net, commandWord, section, xmlArg], opts, out }) => {
      const { name } = await lookup<NetworkSummary>(client, 'network', net!);
      const command = commandWord === 'add' ? 'add-last' : commandWord!;
      if (!(UPDATE_COMMANDS as readonly string[]).includes(command))
        throw new VirshError(`unrecognized command name '${commandWord}'`);
      if (!(UPDATE_SECTIONS as readonly string[]).includes(section!))
        throw new VirshError(`unrecognized section name '${section}'`);
      const parentIndex = opts['parentIndex'] === undefined ? -1 : Number(opts['parentIndex']);
      if (!Number.isInteger(parentIndex))
        throw new VirshError(
          `Numeric value '${String(opts['parentIndex'])}' for <parent-index> option is malformed or out of range`,
        );
      const xml = xmlArg!.startsWith('<') ? xmlArg! : readDocument(xmlArg!);
      const body = { command, section, parentIndex, xml, live: opts['live'] === true, config: opts['config'] === true };
      const r = await failing(
        `Failed to update network ${name}`,
        client.call<{ name: string; live: boolean; config: boolean }>('POST', `/networks/${seg(net!)}/update`, body),
      );
      // virsh's wording for what was changed, without a newline of its own
      out.extra(
        `Updated network ${r.name} ${r.config ? (r.live ? 'persistent config and live state' : 'persistent config') : 'live state'}`,
      );
    },
  )
    .addOption(new Option('--config', 'affect next network startup'))
    .addOption(new Option('--live', 'affect running network'))
    .addOption(new Option('--current', 'affect current state of network').conflicts(['config', 'live']));
}

/** virsh's expiry column: local time of the expiry (g_date_time_format "%Y-%m-%d %H:%M:%S"). */
function expiry(epoch: number): string {
  const d = new Date(epoch * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

function registerDhcpLeases(program: Command): void {
  virshCommand(
    program,
    'net-dhcp-leases',
    'print lease info for a given network',
    [netArg],
    [
      ['--mac <mac>', 'MAC address'],
      ['--json', 'machine-readable output'],
    ],
    async ({ client, args: [net], opts, out }) => {
      await lookup(client, 'network', net!);
      const all = await failing(
        `Failed to get leases info for ${net}`,
        client.call<{ leases: NetworkLease[] }>('GET', `/networks/${seg(net!)}/leases`),
      );
      const mac = typeof opts['mac'] === 'string' ? opts['mac'].toLowerCase() : undefined;
      // sorted by MAC as virsh sorts them (virshNetworkDHCPLeaseSorter: strcasecmp)
      const leases = all.leases
        .filter((l) => mac === undefined || l.mac?.toLowerCase() === mac)
        .sort((a, b) => byNameCase(a.mac ?? '', b.mac ?? ''));
      if (opts['json']) return out.print(`${JSON.stringify(leases, null, 2)}\n`);
      out.table(
        ['Expiry Time', 'MAC address', 'Protocol', 'IP address', 'Hostname', 'Client ID or DUID'],
        leases.map((l) => [
          expiry(l.expiryTime),
          l.mac ?? '-',
          l.type,
          `${l.ipAddress}/${l.prefix}`,
          l.hostname ?? '-',
          l.clientId ?? '-',
        ]),
      );
    },
  );
}

/**
 * The lookups of net-port-dumpxml and net-port-delete: libvirt 9's virsh starts these commands
 * with `ret = true`, so a network or port not found prints only virsh's line and exits 0.
 */
async function lookupPort(client: VirshRun['client'], net: string, uuid: string): Promise<{ xml: string }> {
  try {
    await lookup(client, 'network', net);
    return await lookup<{ xml: string }>(client, 'port', uuid);
  } catch (err) {
    throw err instanceof VirshError ? new VirshError(err.context, undefined, 0) : err;
  }
}

function registerPortCommands(program: Command): void {
  const portFile: Arg = ['<file>', 'file containing an XML network port description ("-": stdin)'];
  virshCommand(
    program,
    'net-port-create',
    "create a network port from an XML file, attaching a TAP device to the network's bridge",
    [netArg, portFile],
    [
      ['--tap <dev>', 'the existing TAP (or veth) device of the guest interface (required)'],
      ['--filter <name>', "the interface's <filterref>: bind this nwfilter to the port"],
      ['--mac-filter', "drop frames from the port with another source MAC (libvirt's mac_filter)"],
      ['--validate', 'validate the XML against the schema'],
    ],
    async ({ client, args: [net, file], opts, out }) => {
      await lookup(client, 'network', net!);
      const xml = readDocument(file!);
      const filter =
        opts['filter'] === undefined
          ? undefined
          : { name: opts['filter'] as string, params: parseParamWords(opts['param'] as string[], '--param') };
      const r = await failing(`Failed to create network from ${file}`, async () => {
        if (typeof opts['tap'] !== 'string') throw invalidInput("option '--tap <dev>' is required");
        if (opts['validate']) await validate(xml, 'networkport');
        return client.call<{ uuid: string }>('POST', `/networks/${seg(net!)}/ports`, {
          xml,
          tap: opts['tap'],
          filter,
          macFilter: opts['macFilter'] === true,
        });
      });
      out.extra(`Network port ${r.uuid} created from ${file}\n`);
    },
  ).option(
    '--param <name=value>',
    'filter parameter (repeatable)',
    (v: string, acc: string[]) => [...acc, v],
    [] as string[],
  );
  virshCommand(
    program,
    'net-port-delete',
    'delete the specified network port',
    [netArg, portArg],
    [],
    async ({ client, args: [net, uuid], out }) => {
      await lookupPort(client, net!, uuid!);
      await failing(`Failed to delete network port ${uuid}`, client.call('DELETE', `/ports/${seg(uuid!)}`));
      out.extra(`Network port ${uuid} deleted\n`);
    },
  );
  listCommand(program, {
    name: 'net-port-list',
    description: 'list network ports',
    args: [netArg],
    fetch: async (c, [net]) => {
      await lookup(c, 'network', net!);
      // virshNetworkPortSorter: by the UUID's bytes, the order of its lowercase text
      return (await c.call<{ uuid: string }[]>('GET', `/networks/${seg(net!)}/ports`)).sort((a, b) =>
        a.uuid < b.uuid ? -1 : 1,
      );
    },
    columns: [['UUID', (p) => p.uuid]],
    only: [['uuid', (p) => p.uuid]],
    exclusive: 'Only one argument from --table and --uuid may be specified.',
  });
  virshCommand(
    program,
    'net-port-dumpxml',
    'network port information in XML',
    [netArg, portArg],
    [],
    async ({ client, args: [net, uuid], out }) => {
      out.print((await lookupPort(client, net!, uuid!)).xml);
    },
  );
}
