// Real libvirt clients against virtwalld in a namespace: Debian's virsh and python3-libvirt drive
// every network and nwfilter command over DIR/run/libvirt/virt{network,nwfilter}d-sock, and what
// they print is what virtwall's own CLI prints for the same command (one service layer serves
// both). Errors carry libvirt's code, domain, level and wording; read-only sockets refuse
// changes; unknown flags are refused as libvirt refuses them; events reach `virsh net-event`.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { canUseNetns } from '../support/netns.js';
import { BIN, cli, daemonFixture, startDaemon, stopAll, waitForLog } from '../daemon/process.js';
import { lastError, python, socketOf, virsh, virshLoop, type Driver } from './clients.js';
import { waitFor } from '../../src/util/wait-for.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';

const net = (name: string, bridge: string, octet: number) => `<network>
  <name>${name}</name>
  <bridge name='${bridge}'/>
  <ip address='192.168.${octet}.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.${octet}.10' end='192.168.${octet}.20'/>
    </dhcp>
  </ip>
</network>
`;
const PORT_UUID = '5b0a4c1e-6a7f-4c21-9b55-0c7e2d9f1a11';
const port = `<networkport>
  <uuid>${PORT_UUID}</uuid>
  <owner><name>vm1</name><uuid>d2f4b7a8-1c3e-4e5f-9a0b-1c2d3e4f5a6b</uuid></owner>
  <mac address='52:54:00:aa:bb:cd'/>
</networkport>
`;
const filter = `<filter name='rpc-test' chain='ipv4'>
  <rule action='accept' direction='out' priority='500'>
    <ip srcipaddr='$IP'/>
  </rule>
  <filterref filter='no-mac-spoofing'/>
</filter>
`;
const binding = `<filterbinding>
  <owner><name>vm1</name><uuid>d2f4b7a8-1c3e-4e5f-9a0b-1c2d3e4f5a6b</uuid></owner>
  <portdev name='vnet7'/>
  <mac address='52:54:00:aa:bb:cc'/>
  <filterref filter='clean-traffic'>
    <parameter name='IP' value='192.0.2.77'/>
  </filterref>
</filterbinding>
`;

const driverOf = (args: readonly string[]): Driver => (args[0]!.startsWith('nwfilter') ? 'nwfilter' : 'network');

describe('libvirt clients on the libvirt sockets', { skip }, () => {
  after(() => stopAll());

  it('virsh runs every network and nwfilter command and prints what virtwall prints', async (t) => {
    const { lab, ns, root, file } = daemonFixture(t);
    await startDaemon(ns, root);
    for (const d of ['network', 'nwfilter'] as const) {
      assert.equal(statSync(socketOf(root, d)).mode & 0o777, 0o600);
      assert.equal(statSync(socketOf(root, d, true)).mode & 0o777, 0o666);
    }
    const viaVirsh = (args: string[]) => {
      const r = virsh(root, driverOf(args), args);
      assert.equal(r.status, 0, `virsh ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const viaCli = (args: string[]) => {
      const r = cli(root, args);
      assert.equal(r.status, 0, `virtwall ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    /** A read: both print the same. */
    const same = (...args: string[]) => {
      const out = viaVirsh(args);
      assert.equal(out, viaCli(args), args.join(' '));
      return out;
    };
    /** A change and its inverse, each done by virsh and then by the CLI: both print the same; the change stays. */
    const change = (doIt: string[], undo: string[], cliDo = doIt) => {
      const [vDo, vUndo] = [viaVirsh(doIt), viaVirsh(undo)];
      const [cDo, cUndo] = [viaCli(cliDo), viaCli(undo)];
      assert.equal(vDo, cDo, doIt.join(' '));
      assert.equal(vUndo, cUndo, undo.join(' '));
      assert.equal(viaVirsh(doIt), vDo);
      return vDo;
    };

    const f1 = file('t1.xml', net('t1', 'vwtbr1', 151));
    const f2 = file('t2.xml', net('t2', 'vwtbr2', 152));
    assert.equal(change(['net-define', f1], ['net-undefine', 't1']), `Network t1 defined from ${f1}\n\n`);
    change(['net-start', 't1'], ['net-destroy', 't1']);
    change(['net-autostart', 't1'], ['net-autostart', 't1', '--disable']);
    change(['net-create', f2], ['net-destroy', 't2']);
    assert.equal(
      same('net-list', '--all'),
      ' Name   State    Autostart   Persistent\n-----------------------------------------\n t1     active   yes         yes\n t2     active   no          no\n\n',
    );
    same('net-list');
    same('net-list', '--inactive');
    same('net-info', 't1');
    const uuid = same('net-uuid', 't1').trim();
    same('net-name', uuid);
    same('net-dumpxml', 't1');
    same('net-dumpxml', 't1', '--inactive');
    same('net-dhcp-leases', 't1');
    const host = "<host mac='52:54:00:00:00:11' ip='192.168.151.11'/>";
    change(
      ['net-update', 't1', 'add-last', 'ip-dhcp-host', host, '--live', '--config'],
      ['net-update', 't1', 'delete', 'ip-dhcp-host', host, '--live', '--config'],
    );
    assert.match(same('net-dumpxml', 't1'), /<host mac='52:54:00:00:00:11' ip='192.168.151.11'\/>/);
    assert.match(same('net-dumpxml', 't1', '--inactive'), /<host mac='52:54:00:00:00:11'/);

    // a port made by virsh is libvirt's kind (its client plugs the device); the CLI's attaches a TAP
    lab.exec(ns, ['ip', 'link', 'add', 'vnet5', 'type', 'veth', 'peer', 'name', 'g5']);
    const p = file('port.xml', port);
    change(
      ['net-port-create', 't1', p],
      ['net-port-delete', 't1', PORT_UUID],
      ['net-port-create', 't1', p, '--tap', 'vnet5'],
    );
    same('net-port-list', 't1');
    assert.match(same('net-port-dumpxml', 't1', PORT_UUID), /<plug type='network' bridge='vwtbr1'\/>/);

    const ff = file('filter.xml', filter);
    assert.equal(
      change(['nwfilter-define', ff], ['nwfilter-undefine', 'rpc-test']),
      `Network filter rpc-test defined from ${ff}\n\n`,
    );
    assert.match(viaVirsh(['nwfilter-define', ff, '--validate']), /defined/);
    assert.match(same('nwfilter-list'), / rpc-test\n/);
    same('nwfilter-dumpxml', 'rpc-test');
    same('nwfilter-dumpxml', 'clean-traffic');
    const fb = file('binding.xml', binding);
    change(['nwfilter-binding-create', fb], ['nwfilter-binding-delete', 'vnet7']);
    assert.equal(
      same('nwfilter-binding-list'),
      ' Port Dev   Filter\n---------------------------\n vnet7      clean-traffic\n\n',
    );
    same('nwfilter-binding-dumpxml', 'vnet7');

    // and the other way round: what virsh changed, virtwall's CLI sees, and back
    change(['net-undefine', 't1'], ['net-define', f1]);
  });

  it('gives libvirt errors: virsh prints what the CLI prints', async (t) => {
    const { ns, root, file } = daemonFixture(t);
    await startDaemon(ns, root);
    const f1 = file('t1.xml', net('t1', 'vwtbr1', 151));
    assert.equal(cli(root, ['net-define', f1]).status, 0);
    const bad = file('bad.xml', "<filter name='x'>\n  <rule action='drop' direction='sideways'/>\n</filter>\n");
    const cases: string[][] = [
      ['net-info', 'nope'],
      ['net-dumpxml', 'nope'],
      ['nwfilter-dumpxml', 'nope'],
      ['nwfilter-binding-dumpxml', 'nope'],
      ['nwfilter-binding-delete', 'nope'],
      ['net-destroy', 't1'],
      ['nwfilter-undefine', 'no-mac-spoofing'],
    ];
    for (const args of cases) {
      const v = virsh(root, driverOf(args), args);
      const c = cli(root, args);
      assert.equal(v.status, 1, args.join(' '));
      assert.equal(c.status, 1, args.join(' '));
      assert.equal(c.stderr, v.stderr, args.join(' '));
    }
    const v = virsh(root, 'nwfilter', ['nwfilter-define', bad]);
    assert.match(lastError(v.stderr), /^error: XML error: nwfilter:2:\d+ <rule> attribute 'direction': /);
    assert.equal(
      virsh(root, 'network', ['net-define', f1, '--validate']).status,
      0,
      'a valid definition passes --validate',
    );
    const invalid = file('invalid.xml', '<network><name>v</name><bogus/></network>');
    assert.match(
      lastError(virsh(root, 'network', ['net-define', invalid, '--validate']).stderr),
      /^error: XML error: .*does not validate against network.rng/,
    );
    assert.equal(cli(root, ['net-list', '--all']).stdout.includes(' v '), false, 'the invalid network was not defined');
  });

  it('serves python3-libvirt: error fields, flags, read-only sockets, ports, bindings', async (t) => {
    const { ns, root, file } = daemonFixture(t);
    const daemon = await startDaemon(ns, root);
    assert.equal(cli(root, ['net-define', file('t1.xml', net('t1', 'vwtbr1', 151))]).status, 0);
    assert.equal(cli(root, ['net-start', 't1']).status, 0);
    assert.equal(cli(root, ['net-autostart', 't1']).status, 0);
    assert.equal(cli(root, ['net-define', file('t2.xml', net('t2', 'vwtbr2', 152))]).status, 0);
    assert.equal(cli(root, ['net-create', file('t3.xml', net('t3', 'vwtbr3', 153))]).status, 0);
    const r = python(
      root,
      `
c = libvirt.open(uri('network'))
c.setIdentity({'user-name': 'alice', 'unix-user-id': 1234, 'system.token': 'tok3n-s3cret'})
names = lambda flags: sorted(n.name() for n in c.listAllNetworks(flags))
n = c.networkLookupByName('t1')
out = {
  'type': c.getType(), 'lib': c.getLibVersion(), 'secure': c.isSecure(),
  'all': names(0), 'active': names(2), 'inactive': names(1), 'persistent': names(4), 'transient': names(8),
  'autostart': names(16), 'noautostart': names(32), 'active_persistent': names(2 | 4),
  'byuuid': c.networkLookupByUUIDString(n.UUIDString()).name(), 'bridge': n.bridgeName(),
  'isActive': n.isActive(), 'isPersistent': n.isPersistent(), 'autostartOf': n.autostart(),
  'notFound': err(lambda: c.networkLookupByName('nope')),
  'badFlags': err(lambda: n.XMLDesc(4)),
  'listFlags': err(lambda: c.listAllNetworks(64)),
  'hostname': err(lambda: c.getHostname()),
  'reclaimNoPlug': err(lambda: n.portCreateXML(${JSON.stringify(port)}, libvirt.VIR_NETWORK_PORT_CREATE_RECLAIM)),
}
p = n.portCreateXML(${JSON.stringify(port)}, 0)
out['port'] = [p.UUIDString(), [q.UUIDString() for q in n.listAllPorts()], n.portLookupByUUIDString('${PORT_UUID}').UUIDString()]
xml = p.XMLDesc()
out['portXml'] = xml
p.delete()
out['portGone'] = err(lambda: n.portLookupByUUIDString('${PORT_UUID}'))
out['reclaimed'] = n.portCreateXML(xml, libvirt.VIR_NETWORK_PORT_CREATE_RECLAIM).UUIDString()
out['plugNoReclaim'] = err(lambda: n.portCreateXML(xml.replace('${PORT_UUID}', '${PORT_UUID.replace('5b', '6b')}'), 0))
ro = libvirt.open(uri('network', True))
out['roList'] = sorted(x.name() for x in ro.listAllNetworks(0))
out['roDefine'] = err(lambda: ro.networkDefineXML('<network><name>x</name></network>'))
out['roDestroy'] = err(lambda: ro.networkLookupByName('t1').destroy())
out['ro_flag'] = err(lambda: libvirt.openReadOnly(uri('network')).networkLookupByName('t1').undefine())
f = libvirt.open(uri('nwfilter'))
out['filterNotFound'] = err(lambda: f.nwfilterLookupByName('nope'))
out['wrongDriver'] = err(lambda: f.listAllNetworks(0))
out['wrongUri'] = err(lambda: libvirt.open('qemu+unix:///system?socket=' + ROOT + '/run/libvirt/virtnetworkd-sock'))
b = f.nwfilterBindingCreateXML(${JSON.stringify(binding)}, 0)
out['binding'] = [b.portDev(), b.filterName(), [x.portDev() for x in f.listAllNWFilterBindings()], f.nwfilterBindingLookupByPortDev('vnet7').filterName()]
out['bindingXml'] = b.XMLDesc()
b.delete()
out['bindingGone'] = err(lambda: f.nwfilterBindingLookupByPortDev('vnet7'))
flt = f.nwfilterLookupByName('clean-traffic')
out['filter'] = [flt.UUIDString(), f.nwfilterLookupByUUIDString(flt.UUIDString()).name(), len(f.listAllNWFilters())]
out['filterUndefineRo'] = err(lambda: libvirt.open(uri('nwfilter', True)).nwfilterLookupByName('clean-traffic').undefine())
print(json.dumps(out))
`,
    ) as Record<string, unknown>;
    assert.equal(r['type'], 'network');
    assert.equal(r['lib'], 9000000);
    assert.equal(r['secure'], 1);
    assert.deepEqual(r['all'], ['t1', 't2', 't3']);
    assert.deepEqual(r['active'], ['t1', 't3']);
    assert.deepEqual(r['inactive'], ['t2']);
    assert.deepEqual(r['persistent'], ['t1', 't2']);
    assert.deepEqual(r['transient'], ['t3']);
    assert.deepEqual(r['autostart'], ['t1']);
    assert.deepEqual(r['noautostart'], ['t2', 't3']);
    assert.deepEqual(r['active_persistent'], ['t1']);
    assert.equal(r['byuuid'], 't1');
    assert.equal(r['bridge'], 'vwtbr1');
    assert.deepEqual([r['isActive'], r['isPersistent'], r['autostartOf']], [1, 1, 1]);
    // VIR_ERR_NO_NETWORK 43, VIR_FROM_NETWORK 19, VIR_ERR_ERROR 2
    assert.deepEqual(r['notFound'], [43, 19, 2, "Network not found: no network with matching name 'nope'"]);
    assert.deepEqual(r['badFlags'], [
      8,
      19,
      2,
      'invalid argument: unsupported flags (0x4) in function networkGetXMLDesc',
    ]);
    assert.deepEqual(r['listFlags'], [
      8,
      19,
      2,
      'invalid argument: unsupported flags (0x40) in function networkConnectListAllNetworks',
    ]);
    assert.deepEqual(r['hostname'], [
      3,
      20,
      2,
      'this function is not supported by the connection driver: virConnectGetHostname',
    ]);
    assert.deepEqual(r['reclaimNoPlug'], [8, 19, 2, 'invalid argument: Port reclaim requested but plug type is none']);
    assert.deepEqual(r['port'], [PORT_UUID, [PORT_UUID], PORT_UUID]);
    assert.match(r['portXml'] as string, /<plug type='network' bridge='vwtbr1'\/>/);
    assert.deepEqual(r['portGone'], [
      107,
      19,
      2,
      `network port not found: Network port with UUID ${PORT_UUID} does not exist`,
    ]);
    assert.equal(r['reclaimed'], PORT_UUID);
    assert.deepEqual(r['plugNoReclaim'], [
      8,
      19,
      2,
      'invalid argument: Port reclaim not requested but plug type is not none',
    ]);
    assert.deepEqual(r['roList'], ['t1', 't2', 't3']);
    // VIR_ERR_OPERATION_DENIED 29
    assert.deepEqual(r['roDefine'], [29, 19, 2, 'operation forbidden: read only access prevents virNetworkDefineXML']);
    assert.deepEqual(r['roDestroy'], [29, 19, 2, 'operation forbidden: read only access prevents virNetworkDestroy']);
    assert.deepEqual(r['ro_flag'], [29, 19, 2, 'operation forbidden: read only access prevents virNetworkUndefine']);
    assert.deepEqual(r['filterNotFound'], [
      62,
      33,
      2,
      "Network filter not found: no nwfilter with matching name 'nope'",
    ]);
    assert.deepEqual(r['wrongDriver'], [1, 7, 2, 'internal error: connection not open']);
    assert.deepEqual(r['wrongUri'], [5, 0, 2, 'no connection driver available for qemu:///system']);
    assert.deepEqual(r['binding'], ['vnet7', 'clean-traffic', ['vnet7'], 'clean-traffic']);
    assert.match(r['bindingXml'] as string, /<portdev name='vnet7'\/>/);
    assert.deepEqual(r['bindingGone'], [
      101,
      33,
      2,
      "Network filter binding not found: no nwfilter binding for port dev 'vnet7'",
    ]);
    assert.equal((r['filter'] as unknown[])[1], 'clean-traffic');
    assert.deepEqual(r['filterUndefineRo'], [
      29,
      33,
      2,
      'operation forbidden: read only access prevents virNWFilterUndefine',
    ]);
    // who asked is logged with its changes, never its token
    const identity = /"call":"NETWORK_PORT_CREATE_XML","identity":\{"user-name":"alice","unix-user-id":"1234"\}/;
    assert.match(await waitForLog(daemon, identity, 5000), identity);
    assert.doesNotMatch(daemon.log(), /tok3n/);
    // the state the python client left is the CLI's state
    assert.match(cli(root, ['net-port-list', 't1']).stdout, new RegExp(PORT_UUID));
    assert.equal(cli(root, ['nwfilter-binding-list']).stdout, ' Port Dev   Filter\n--------------------\n\n');
  });

  it('sends network lifecycle events to virsh net-event --loop, whichever API made the change', async (t) => {
    const { ns, root, file } = daemonFixture(t);
    await startDaemon(ns, root);
    const events = virshLoop(root, ['net-event', '--loop', '--event', 'lifecycle']);
    t.after(() => events.child.kill('SIGKILL'));
    // virsh registers once connected: a probe network is defined and undefined until virsh reports it
    const probe = file('probe.xml', net('probe', 'vwtbr9', 159));
    await waitFor(
      () => {
        if (events.output().includes('network probe: Defined')) return true;
        cli(root, ['net-define', probe]);
        cli(root, ['net-undefine', 'probe']);
        return false;
      },
      { what: "virsh's event for the probe network", timeout: 10_000, interval: 100, detail: events.output },
    );
    await waitFor(() => events.output().endsWith('network probe: Undefined\n'), {
      what: "virsh's last probe event",
      detail: events.output,
    });
    const before = events.output().length;
    const f = file('t1.xml', net('t1', 'vwtbr1', 151));
    for (const args of [
      ['net-define', f],
      ['net-start', 't1'],
      ['net-destroy', 't1'],
      ['net-undefine', 't1'],
    ])
      assert.equal(cli(root, args).status, 0, args.join(' '));
    assert.equal(virsh(root, 'network', ['net-create', f]).status, 0);
    assert.equal(virsh(root, 'network', ['net-destroy', 't1']).status, 0);
    const want = ['Defined', 'Started', 'Stopped', 'Undefined', 'Started', 'Stopped']
      .map((e) => `event 'lifecycle' for network t1: ${e}\n`)
      .join('');
    await waitFor(() => events.output().slice(before) === want, {
      what: "virsh's six lifecycle events",
      detail: () => events.output().slice(before),
    });
  });
});

describe('a libvirt daemon already serving', { skip }, () => {
  it('is never taken over: virtwalld stops with an error naming the socket', async (t) => {
    const { ns, root } = daemonFixture(t);
    mkdirSync(join(root, 'run/libvirt'), { recursive: true });
    const foreign = createServer((c) => c.end());
    await new Promise<void>((r) => foreign.listen(socketOf(root, 'nwfilter'), r));
    t.after(() => foreign.close());
    await assert.rejects(startDaemon(ns, root), /virtnwfilterd-sock is served by another daemon/);
    assert.equal(existsSync(join(root, 'run/virtwall/virtwall-sock')), false, 'nothing of virtwalld is left listening');
    assert.ok(existsSync(socketOf(root, 'nwfilter')), 'its socket is left alone');
  });
});

describe('systemd socket activation', { skip }, () => {
  it('serves the sockets systemd passes (LISTEN_FDS, named as the socket files)', async (t) => {
    const { lab, ns, root } = daemonFixture(t);
    mkdirSync(join(root, 'run/libvirt'), { recursive: true });
    const names = ['virtnetworkd-sock', 'virtnetworkd-sock-ro', 'virtnwfilterd-sock', 'virtnwfilterd-sock-ro'];
    // systemd-socket-activate listens like a .socket unit and starts the daemon at the first connection
    const activator = lab.spawn(ns, [
      'systemd-socket-activate',
      ...names.flatMap((n) => ['-l', join(root, 'run/libvirt', n)]),
      `--fdname=${names.join(':')}`,
      process.execPath,
      BIN,
      '--root',
      root,
      'daemon',
    ]);
    let log = '';
    activator.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
    await waitFor(() => names.every((n) => existsSync(join(root, 'run/libvirt', n))), {
      what: 'the four activated sockets',
      detail: () => log,
    });
    const r = virsh(root, 'nwfilter', ['nwfilter-list']);
    assert.equal(r.status, 0, r.stderr + log);
    assert.match(r.stdout, / clean-traffic\n/);
    await waitFor(() => log.includes('virtwalld ready'), { what: 'virtwalld ready', detail: () => log });
    assert.match(log, /"libvirtSockets":true.*virtwalld ready/);
    assert.equal(virsh(root, 'network', ['net-list', '--all'], { ro: true }).status, 0);
  });
});
