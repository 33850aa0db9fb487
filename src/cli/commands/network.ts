// virsh's net-* and net-port-* commands, served by the daemon of --root.
import { Argument, Option, type Command } from 'commander';
import { invalidInput } from '../../errors.js';
import { UPDATE_COMMANDS, UPDATE_SECTIONS } from '../../conf/network/update.js';
import type { NetworkSummary } from '../../daemon/networks.js';
import { DaemonClient, seg } from '../client.js';
import { formatInfo } from '../table.js';
import { documentCommand, editCommand, listCommand, out, outJson, parseParamWords, readDocument, simpleCommand, xmlCommand } from './daemon-io.js';

const yesNo = (b: boolean) => (b ? 'yes' : 'no');
const netArg = ['<network>', 'network name or uuid'] as const;

/** Registers `name`: one positional network argument, a request, and the line virsh prints. */
function simple(program: Command, name: string, description: string, run: (c: DaemonClient, net: string) => Promise<string>): void {
  simpleCommand(program, name, description, [netArg], (c, [net]) => run(c, net!));
}

export function registerNetworkCommands(program: Command): void {
  documentCommand(program, 'net-define', 'define an inactive persistent virtual network or modify an existing one from an XML file', 'network',
    (c, xml, file) => c.call<{ name: string }>('POST', '/networks', { xml, file }), (r, file) => `Network ${r.name} defined from ${file}\n`);
  documentCommand(program, 'net-create', 'create (start) a transient network from an XML file', 'network',
    (c, xml, file) => c.call<{ name: string }>('POST', '/networks/create', { xml, file }), (r, file) => `Network ${r.name} created from ${file}\n`);
  simple(program, 'net-undefine', 'undefine a persistent network', async (c, n) => `Network ${(await c.call<{ name: string }>('DELETE', `/networks/${seg(n)}`)).name} has been undefined\n`);
  simple(program, 'net-start', 'start a (previously defined) inactive network', async (c, n) => `Network ${(await c.call<{ name: string }>('POST', `/networks/${seg(n)}/start`)).name} started\n`);
  simple(program, 'net-destroy', 'destroy (stop) a network', async (c, n) => `Network ${(await c.call<{ name: string }>('POST', `/networks/${seg(n)}/destroy`)).name} destroyed\n`);
  simple(program, 'net-uuid', 'convert a network name to network UUID', async (c, n) => `${(await c.call<NetworkSummary>('GET', `/networks/${seg(n)}`)).uuid}\n`);
  simple(program, 'net-name', 'convert a network UUID to network name', async (c, n) => `${(await c.call<NetworkSummary>('GET', `/networks/${seg(n)}`)).name}\n`);
  listCommand(program, {
    name: 'net-list',
    description: 'list networks',
    options: [['--all', 'list inactive & active networks'], ['--inactive', 'list inactive networks']],
    fetch: async (c, _a, o) => (await c.call<NetworkSummary[]>('GET', '/networks')).filter((n) => o['all'] || (o['inactive'] ? !n.active : n.active)),
    columns: [['Name', (n) => n.name], ['State', (n) => (n.active ? 'active' : 'inactive')], ['Autostart', (n) => yesNo(n.autostart)], ['Persistent', (n) => yesNo(n.persistent)]],
  });
  program
    .command('net-info')
    .description('network information')
    .argument(...netArg)
    .option('--json', 'machine-readable output')
    .action(async (net: string, o: { json?: boolean }, cmd: Command) => {
      const n = await DaemonClient.of(cmd).call<NetworkSummary>('GET', `/networks/${seg(net)}`);
      if (o.json) return outJson(n);
      const rows: [string, string][] = [['Name', n.name], ['UUID', n.uuid], ['Active', yesNo(n.active)], ['Persistent', yesNo(n.persistent)], ['Autostart', yesNo(n.autostart)]];
      if (n.bridge !== undefined) rows.push(['Bridge', n.bridge]);
      out(formatInfo(rows));
    });
  xmlCommand(program, 'net-dumpxml', 'network information in XML', [netArg], ([net], o) => `/networks/${seg(net!)}/xml${o['inactive'] ? '?inactive=1' : ''}`, [['--inactive', 'show inactive defined XML']]);
  editCommand(program, 'net-edit', 'Network', netArg, (net) => `/networks/${seg(net)}/xml?inactive=1`, '/networks');
  program
    .command('net-autostart')
    .description('autostart a network')
    .argument(...netArg)
    .option('--disable', 'disable autostarting')
    .action(async (net: string, o: { disable?: boolean }, cmd: Command) => {
      const r = await DaemonClient.of(cmd).call<{ name: string }>('PUT', `/networks/${seg(net)}/autostart`, { enabled: !o.disable });
      out(o.disable ? `Network ${r.name} unmarked as autostarted\n` : `Network ${r.name} marked as autostarted\n`);
    });
  program
    .command('net-update')
    .description("update parts of an existing network's configuration")
    .argument(...netArg)
    .addArgument(new Argument('<command>', 'type of update').choices(UPDATE_COMMANDS))
    .argument('<section>', `which section of network configuration to update (${UPDATE_SECTIONS.join(', ')})`)
    .argument('<xml>', 'name of file containing xml (or, if it starts with "<", the complete xml element itself)')
    .option('--parent-index <index>', 'which parent object to search through', '-1')
    .addOption(new Option('--config', 'affect next network startup'))
    .addOption(new Option('--live', 'affect running network'))
    .addOption(new Option('--current', 'affect current state of network').conflicts(['config', 'live']))
    .action(async (net: string, command: string, section: string, xmlArg: string, o: { parentIndex: string; config?: boolean; live?: boolean }, cmd: Command) => {
      const parentIndex = Number(o.parentIndex);
      if (!Number.isInteger(parentIndex)) throw invalidInput(`invalid --parent-index '${o.parentIndex}'`);
      const xml = xmlArg.trimStart().startsWith('<') ? xmlArg : readDocument(xmlArg);
      const body = { command, section, parentIndex, xml, live: o.live === true, config: o.config === true };
      const r = await DaemonClient.of(cmd).call<{ name: string; live: boolean; config: boolean }>('POST', `/networks/${seg(net)}/update`, body);
      // virsh's wording for what was changed
      const what = r.config ? (r.live ? 'persistent config and live state' : 'persistent config') : 'live state';
      out(`Updated network ${r.name} ${what}\n`);
    });
  program
    .command('net-dhcp-leases')
    .description('print lease info for a given network')
    .argument(...netArg)
    .option('--mac <mac>', 'MAC address')
    .option('--json', 'machine-readable output')
    .action(async (net: string, o: { mac?: string; json?: boolean }, cmd: Command) => {
      const r = await DaemonClient.of(cmd).call<{ table: string; leases: { mac?: string }[] }>('GET', `/networks/${seg(net)}/leases`);
      if (o.json) return outJson(o.mac ? r.leases.filter((l) => l.mac === o.mac!.toLowerCase()) : r.leases);
      out(o.mac ? filterLeaseTable(r.table, o.mac.toLowerCase()) : r.table);
    });
  registerPortCommands(program);
}

/** The lease table keeping the two header lines and the rows of one MAC. */
function filterLeaseTable(table: string, mac: string): string {
  const lines = table.split('\n');
  return [...lines.slice(0, 2), ...lines.slice(2).filter((l) => l.includes(` ${mac} `))].join('\n').replace(/\n*$/, '\n');
}

function registerPortCommands(program: Command): void {
  program
    .command('net-port-create')
    .description("create a network port from an XML file, attaching a TAP device to the network's bridge")
    .argument(...netArg)
    .argument('<file>', 'file containing an XML network port description ("-": stdin)')
    .requiredOption('--tap <dev>', 'the existing TAP (or veth) device of the guest interface')
    .option('--filter <name>', "the interface's <filterref>: bind this nwfilter to the port")
    .option('--param <name=value>', 'filter parameter (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--mac-filter', "drop frames from the port with another source MAC (libvirt's mac_filter)")
    .action(async (net: string, file: string, o: { tap: string; filter?: string; param: string[]; macFilter?: boolean }, cmd: Command) => {
      const filter = o.filter === undefined ? undefined : { name: o.filter, params: parseParamWords(o.param, '--param') };
      const r = await DaemonClient.of(cmd).call<{ uuid: string }>('POST', `/networks/${seg(net)}/ports`, { xml: readDocument(file), tap: o.tap, filter, macFilter: o.macFilter === true });
      out(`Network port ${r.uuid} created from ${file}\n`);
    });
  simpleCommand(program, 'net-port-delete', 'delete the specified network port', [netArg, ['<port>', 'port UUID']],
    async (c, [, uuid]) => (await c.call('DELETE', `/ports/${seg(uuid!)}`), `Network port ${uuid} deleted\n`));
  listCommand(program, {
    name: 'net-port-list',
    description: 'list network ports',
    args: [netArg],
    fetch: (c, [net]) => c.call<{ uuid: string }[]>('GET', `/networks/${seg(net!)}/ports`),
    columns: [['UUID', (p) => p.uuid]],
  });
  xmlCommand(program, 'net-port-dumpxml', 'network port information in XML', [netArg, ['<port>', 'port UUID']], ([, uuid]) => `/ports/${seg(uuid!)}`);
}
