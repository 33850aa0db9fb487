// The virsh-style commands no live oracle serves (libvirt's test driver has no nwfilter, ports or
// DHCP leases): their output is checked against virsh's format strings, read in libvirt 9.0's
// tools/virsh-nwfilter.c, tools/virsh-network.c and tools/vsh-table.c and filled with this
// test's state by hand: vshPrintExtra confirmations ("Network filter %s defined from %s\n"),
// vshError's "error: failed to get <what> '%s'" then libvirt's reason, the blank line virsh
// prints after every command unless -q, tables of (widest cell + 2)-padded columns sorted as
// virsh sorts (names case-insensitively, port UUIDs by bytes, leases by MAC case-insensitively),
// and the binding XML libvirt shows once instantiated (MAC added to the parameters, sorted by
// name). Also: completion of the daemon's object names in real bash and zsh.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { canUseNetns } from '../support/netns.js';
import { stateLayout } from '../../src/daemon/layout.js';
import { leaseFile } from '../../src/network/lifecycle/lease-hook.js';
import { writeLeases } from '../../src/network/lifecycle/leases.js';
import { cli, daemonFixture as fixture, startDaemon, stopAll } from './process.js';
import { completer } from './completion-shell.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';

const PORTS = ['7a000000-0000-4000-8000-000000000002', '1b000000-0000-4000-8000-000000000001'];
const portXml = (uuid: string, i: number) => `<networkport>
  <uuid>${uuid}</uuid>
  <owner><name>g${i}</name><uuid>22222222-0000-4000-8000-00000000000${i}</uuid></owner>
  <mac address='52:54:00:aa:00:0${i}'/>
</networkport>
`;
const NETWORK = `<network>
  <name>n</name>
  <bridge name='vws0'/>
  <ip address='10.0.0.1' prefix='24'/>
</network>
`;

describe('virsh-style nwfilter, binding, port and lease commands in virsh formats (from its source)', { skip }, () => {
  after(() => stopAll());

  it('prints tables, XML, confirmations and lookup failures as virsh does, and completes object names', async (t) => {
    const { lab, ns, root, file } = fixture(t);
    await startDaemon(ns, root);
    const run = (args: string[]) => cli(root, args, { env: { TZ: 'UTC', LC_ALL: 'C' } });
    const ok = (args: string[]) => {
      const r = run(args);
      assert.deepEqual([r.status, r.stderr], [0, ''], args.join(' '));
      return r.stdout;
    };
    const failure = (args: string[], lines: string[]) =>
      assert.deepEqual(
        run(args),
        { status: 1, stdout: '\n', stderr: lines.map((l) => `error: ${l}\n`).join('') },
        args.join(' '),
      );

    // nwfilter-define / -undefine / -list (virshNWFilterSorter: case-insensitive names)
    const zb = file('zb.xml', "<filter name='zz-b' chain='root'/>\n");
    const za = file('za.xml', "<filter name='ZZ-a' chain='root'/>\n");
    assert.equal(ok(['nwfilter-define', zb]), `Network filter zz-b defined from ${zb}\n\n`);
    assert.equal(ok(['-q', 'nwfilter-define', za]), '');
    const names = ok(['nwfilter-list', '--name']).trimEnd().split('\n');
    assert.deepEqual(names.slice(-2), ['ZZ-a', 'zz-b']);
    assert.deepEqual(
      names,
      [...names].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1)),
    );
    const table = ok(['nwfilter-list']).split('\n');
    assert.match(table[0]!, /^ UUID {35}Name$/);
    assert.match(table.at(-3)!, /^ [0-9a-f-]{36} {3}zz-b$/);
    assert.equal(table.at(-1), '');
    assert.equal(ok(['nwfilter-undefine', 'ZZ-a']), 'Network filter ZZ-a undefined\n\n');
    failure(
      ['nwfilter-dumpxml', 'ZZ-a'],
      ["failed to get nwfilter 'ZZ-a'", "Network filter not found: no nwfilter with matching name 'ZZ-a'"],
    );
    failure(
      ['nwfilter-undefine', 'nope'],
      ["failed to get nwfilter 'nope'", "Network filter not found: no nwfilter with matching name 'nope'"],
    );

    // ports: created on a running network, listed by UUID bytes, counted as its connections
    assert.equal(ok(['-q', 'net-define', file('n.xml', NETWORK)]), '');
    assert.equal(ok(['net-start', 'n']), 'Network n started\n\n');
    for (const i of [1, 2]) lab.exec(ns, ['ip', 'link', 'add', `vnet${i}`, 'type', 'veth', 'peer', 'name', `g${i}`]);
    const port1 = file('p1.xml', portXml(PORTS[0]!, 1));
    assert.equal(
      ok(['net-port-create', 'n', port1, '--tap', 'vnet1', '--filter', 'clean-traffic', '--param', 'IP=10.0.0.11']),
      `Network port ${PORTS[0]} created from ${port1}\n\n`,
    );
    assert.equal(
      ok([
        '-q',
        'net-port-create',
        'n',
        file('p2.xml', portXml(PORTS[1]!, 2)),
        '--tap',
        'vnet2',
        '--filter',
        'clean-traffic',
      ]),
      '',
    );
    const sorted = [...PORTS].sort();
    assert.equal(ok(['net-port-list', 'n']), ` UUID\n${'-'.repeat(39)}\n${sorted.map((u) => ` ${u}\n`).join('')}\n`);
    assert.equal(ok(['-q', 'net-port-list', 'n']), sorted.map((u) => ` ${u}\n`).join(''));
    assert.equal(ok(['net-port-list', 'n', '--uuid']), `${sorted.join('\n')}\n\n`);
    assert.match(ok(['net-dumpxml', 'n']), /^<network connections='2'>\n/);
    assert.match(ok(['net-dumpxml', 'n', '--inactive']), /^<network>\n/);

    // the binding as libvirt shows it: MAC filled in among the parameters; no virtwall additions
    assert.match(
      ok(['nwfilter-binding-dumpxml', 'vnet1']),
      /^<filterbinding>\n[\s\S]*  <filterref filter='clean-traffic'>\n    <parameter name='IP' value='10\.0\.0\.11'\/>\n    <parameter name='MAC' value='52:54:00:aa:00:01'\/>\n  <\/filterref>\n<\/filterbinding>\n\n$/,
    );
    const learning = ok(['nwfilter-binding-dumpxml', 'vnet2']);
    assert.match(
      learning,
      /<filterref filter='clean-traffic'>\n    <parameter name='MAC' value='52:54:00:aa:00:02'\/>\n  <\/filterref>\n<\/filterbinding>\n\n$/,
    );
    assert.doesNotMatch(learning + ok(['net-port-dumpxml', 'n', PORTS[1]!]), /ip-learning/);
    // virtwall's learning state has its own command
    assert.match(
      ok(['nwfilter-binding-learning', 'vnet2']),
      /^<vw:ip-learning xmlns:vw='[^']+' mode='any' mechanism='\w+' state='learning'(\/>|>)/,
    );
    assert.equal(JSON.parse(ok(['-q', 'nwfilter-binding-learning', 'vnet2', '--json'])).learning, true);
    assert.equal(
      ok(['nwfilter-binding-list']),
      ' Port Dev   Filter\n---------------------------\n vnet1      clean-traffic\n vnet2      clean-traffic\n\n',
    );
    failure(
      ['nwfilter-binding-dumpxml', 'nope'],
      [
        "failed to get nwfilter binding 'nope'",
        "Network filter binding not found: no nwfilter binding for port dev 'nope'",
      ],
    );
    failure(
      ['nwfilter-binding-delete', 'nope'],
      [
        "failed to get nwfilter binding 'nope'",
        "Network filter binding not found: no nwfilter binding for port dev 'nope'",
      ],
    );
    const unknownPort = '99999999-0000-4000-8000-000000000000';
    // virsh 9 reports a port it cannot find and exits 0 (cmdNetworkPortDelete starts with ret = true)
    assert.deepEqual(run(['net-port-delete', 'n', unknownPort]), {
      status: 0,
      stdout: '\n',
      stderr: `error: failed to get network port '${unknownPort}'\n`,
    });
    failure(
      ['net-port-list', 'nope'],
      ["failed to get network 'nope'", "Network not found: no network with matching name 'nope'"],
    );

    // a binding of its own
    lab.exec(ns, ['ip', 'link', 'add', 'vnet3', 'type', 'veth', 'peer', 'name', 'g3']);
    const binding = file(
      'b.xml',
      "<filterbinding>\n  <owner><name>g3</name><uuid>22222222-0000-4000-8000-000000000003</uuid></owner>\n  <portdev name='vnet3'/>\n  <mac address='52:54:00:aa:00:03'/>\n  <filterref filter='no-ip-spoofing'><parameter name='MAC' value='52:54:00:aa:00:09'/></filterref>\n</filterbinding>\n",
    );
    assert.equal(
      ok(['nwfilter-binding-create', binding]),
      `Network filter binding on vnet3 created from ${binding}\n\n`,
    );
    assert.match(
      ok(['nwfilter-binding-dumpxml', 'vnet3']),
      /<filterref filter='no-ip-spoofing'>\n    <parameter name='MAC' value='52:54:00:aa:00:09'\/>\n  <\/filterref>/,
      'a MAC given stays',
    );

    // completion of the daemon's names, in real bash and zsh
    for (const shell of ['bash', 'zsh'] as const) {
      const complete = completer(shell);
      if (!complete) continue;
      t.after(complete.cleanup);
      const at = (words: string[]) => complete(['--root', root, ...words]);
      assert.deepEqual(at(['net-info', '']), ['n'], shell);
      assert.deepEqual(at(['nwfilter-dumpxml', 'zz']), ['zz-b'], shell);
      assert.deepEqual(at(['nwfilter-binding-dumpxml', 'vnet']), ['vnet1', 'vnet2', 'vnet3'], shell);
      assert.deepEqual(at(['net-port-delete', 'n', '']), sorted, shell);
      assert.deepEqual(at(['net-port-create', 'n', 'p.xml', '--filter', 'no-ip-s']), ['no-ip-spoofing'], shell);
    }

    assert.equal(ok(['nwfilter-binding-delete', 'vnet3']), 'Network filter binding on vnet3 deleted\n\n');
    assert.equal(ok(['net-port-delete', 'n', PORTS[1]!]), `Network port ${PORTS[1]} deleted\n\n`);
    assert.match(ok(['net-dumpxml', 'n']), /^<network connections='1'>\n/);

    // DHCP leases (the records dnsmasq's hook keeps): columns as wide as their cells, sorted by
    // MAC case-insensitively, every hostname whole, expiry in local time (TZ=UTC here)
    writeLeases(leaseFile(stateLayout(root).networkState, 'vws0'), [
      {
        expiryTime: 4102444800,
        macAddress: '52:54:00:0B:00:02',
        ipAddress: '10.0.0.12',
        hostname: 'a-very-long-hostname-for-guest-two',
        clientId: '01:52:54:00:0b:00:02',
      },
      { expiryTime: 4102444800, macAddress: '52:54:00:0a:00:01', ipAddress: '10.0.0.11' },
    ]);
    const leases =
      ' Expiry Time           MAC address         Protocol   IP address     Hostname                             Client ID or DUID\n' +
      '-'.repeat(128) +
      '\n' +
      ' 2100-01-01 00:00:00   52:54:00:0a:00:01   ipv4       10.0.0.11/24   -                                    -\n' +
      ' 2100-01-01 00:00:00   52:54:00:0B:00:02   ipv4       10.0.0.12/24   a-very-long-hostname-for-guest-two   01:52:54:00:0b:00:02\n';
    assert.equal(ok(['net-dhcp-leases', 'n']), `${leases}\n`);
    assert.equal(ok(['net-dhcp-leases', 'n', '--mac', '52:54:00:0b:00:02']).split('\n').length, 5);
    assert.equal(
      ok(['-q', 'net-dhcp-leases', 'n', '--mac', '52:54:00:0a:00:01']),
      ' 2100-01-01 00:00:00   52:54:00:0a:00:01   ipv4   10.0.0.11/24   -   -\n',
    );
  });
});
