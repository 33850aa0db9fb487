// run-tests: alone (times the repair of a deleted table: within 1 s)
// virtwalld and the CLI on a real kernel, inside namespaces this test creates: the virsh-style
// commands end to end, exit codes, hostile input, a root-only socket, restart without
// rebuilding, self-healing after a foreign table deletion, and crashes at injected points.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canUseNetns } from '../support/netns.js';
import {
  api,
  cli,
  cliOk,
  connectAs,
  descendants,
  daemonFixture as fixture,
  kill9,
  nft,
  openToOthers,
  startDaemon,
  stopAll,
  waitForLog,
} from './process.js';
import { CORPUS } from '../support/corpus.js';
import { waitFor } from '../../src/util/wait-for.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';
const CORPUS_DEFAULT = join(CORPUS, 'default-network.xml.in');

const PORT_UUID = '5d1b8a2c-1f3e-4a0a-9b7e-0c1d2e3f4a5b';
const portXml = `<networkport>
  <uuid>${PORT_UUID}</uuid>
  <owner><name>guest1</name><uuid>11111111-2222-3333-4444-555555555555</uuid></owner>
  <mac address='52:54:00:aa:bb:01'/>
</networkport>
`;

/** Our two tables, each listed on its own (a recreated table lists in another order in the ruleset). */
const ourTables = (ns: string) =>
  nft(ns, 'list table bridge virtwall_nwf').stdout + nft(ns, 'list table inet virtwall_nwf').stdout;

describe('virtwalld in a namespace', { skip }, () => {
  after(() => stopAll());

  it('serves the virsh-style commands: networks, ports, bindings, filters', async (t) => {
    const { lab, ns, root, file } = fixture(t);
    await startDaemon(ns, root);
    const ok = (args: string[]) => cliOk(root, args);
    assert.match(ok(['nwfilter-list']), /^ UUID +Name\n-+\n( [0-9a-f-]{36}   \S+\n)+\n$/);
    assert.match(ok(['nwfilter-list', '--json']), /"name": "clean-traffic"/);
    assert.equal(ok(['net-define', CORPUS_DEFAULT]), `Network default defined from ${CORPUS_DEFAULT}\n\n`);
    assert.equal(ok(['net-autostart', 'default']), 'Network default marked as autostarted\n\n');
    assert.equal(ok(['net-start', 'default']), 'Network default started\n\n');
    assert.equal(
      ok(['net-list']),
      ' Name      State    Autostart   Persistent\n--------------------------------------------\n default   active   yes         yes\n\n',
    );
    const uuid = ok(['net-uuid', 'default']).trim();
    assert.equal(ok(['net-name', uuid]), 'default\n\n');
    assert.match(ok(['net-info', 'default']), /^Name: {11}default\nUUID: {11}[0-9a-f-]{36}\nActive: {9}yes\n/);
    assert.match(ok(['net-dumpxml', 'default']), /<bridge name='virbr0'/);

    lab.exec(ns, ['ip', 'link', 'add', 'vnet0', 'type', 'veth', 'peer', 'name', 'g0']);
    const port = file('port.xml', portXml);
    assert.equal(
      ok([
        'net-port-create',
        'default',
        port,
        '--tap',
        'vnet0',
        '--filter',
        'clean-traffic',
        '--param',
        'IP=192.168.122.10',
        '--mac-filter',
      ]),
      `Network port ${PORT_UUID} created from ${port}\n\n`,
    );
    assert.match(lab.exec(ns, ['ip', '-br', 'link', 'show', 'master', 'virbr0']).stdout, /^vnet0@g0 /m);
    assert.match(ok(['net-port-list', 'default']), new RegExp(` ${PORT_UUID}\n`));
    assert.match(ok(['net-port-dumpxml', 'default', PORT_UUID]), /<plug type='network' bridge='virbr0'\/>/);
    assert.match(ok(['nwfilter-binding-list']), /^ Port Dev   Filter\n-+\n vnet0      clean-traffic\n\n$/);
    assert.match(nft(ns, 'list ruleset').stdout, /vnet0/);

    // a filter in use cannot go; redefining one of its parts is accepted and applied
    const inUse = cli(root, ['nwfilter-undefine', 'clean-traffic']);
    assert.equal(inUse.status, 1);
    assert.match(inUse.stderr, /in use/);
    const edited = file(
      'edit.sh',
      "#!/bin/sh\nsed -i \"s|</filter>|<rule action='drop' direction='out' priority='500'><tcp dstportstart='4444'/></rule></filter>|\" \"$1\"\n",
    );
    const r = cli(root, ['nwfilter-edit', 'no-ip-spoofing'], { env: { EDITOR: `sh ${edited}` } });
    assert.equal(r.stdout, 'Network filter no-ip-spoofing XML configuration edited.\n\n', r.stderr);
    assert.match(nft(ns, 'list ruleset').stdout, /4444/);

    assert.equal(ok(['net-port-delete', 'default', PORT_UUID]), `Network port ${PORT_UUID} deleted\n\n`);
    assert.doesNotMatch(nft(ns, 'list ruleset').stdout, /vnet0/);
    assert.equal(ok(['net-destroy', 'default']), 'Network default destroyed\n\n');
    assert.equal(
      ok(['net-list', '--all']),
      ' Name      State      Autostart   Persistent\n----------------------------------------------\n default   inactive   yes         yes\n\n',
    );
  });

  it("answers bad input with 4xx / virsh's exit code 1 and names the place", async (t) => {
    const { ns, root, file } = fixture(t);
    await startDaemon(ns, root);
    const bad = file('bad.xml', "<filter name='x'>\n  <rule action='drop' direction='sideways'/>\n</filter>\n");
    const r = cli(root, ['nwfilter-define', bad]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`${bad}:2:\\d+`));
    for (const dev of ['vnet0;reboot', '$(x)', 'x'.repeat(40)]) {
      const b = file(
        'b.xml',
        `<filterbinding><owner><name>g</name><uuid>11111111-2222-3333-4444-555555555555</uuid></owner><portdev name='${dev}'/><mac address='52:54:00:00:00:01'/><filterref filter='allow-arp'/></filterbinding>`,
      );
      assert.equal(cli(root, ['nwfilter-binding-create', b]).status, 1, dev);
    }
    assert.equal(cli(root, ['net-info', 'nope']).status, 1);
    assert.equal(cli(root, ['net-update', 'x', 'frobnicate', 'ip-dhcp-host', '<host/>']).status, 1);
    assert.equal((await api(root, 'POST', '/nwfilters', '{not json')).status, 400);
    assert.equal((await api(root, 'POST', '/nwfilters', '{"xml": 3}')).status, 400);
    assert.equal((await api(root, 'POST', '/bindings', JSON.stringify({ xml: '<filterbinding/>' }))).status, 400);
    assert.equal((await api(root, 'GET', '/nothing', '')).status, 404);
    assert.equal((await api(root, 'PATCH', '/nwfilters', '')).status, 405);
    assert.equal((await api(root, 'POST', '/nwfilters', JSON.stringify({ xml: 'x'.repeat(2 << 20) }))).status, 413);
    assert.equal(nft(ns, 'list ruleset').stdout.includes('reboot'), false);
  });

  it('keeps the socket to root and to one daemon', async (t) => {
    const { ns, root } = fixture(t);
    await startDaemon(ns, root);
    openToOthers(root);
    assert.equal(connectAs('nobody', join(root, 'run/virtwall/virtwall-sock')), 'EACCES');
    assert.equal(cli(root, ['nwfilter-list']).status, 0);
    await assert.rejects(startDaemon(ns, root), /already serves/);
    assert.equal(cli(root, ['nwfilter-list']).status, 0, 'the first daemon still serves');
  });

  it('restarts without rebuilding and heals foreign deletions of its rules', async (t) => {
    const { lab, ns, root, file } = fixture(t);
    // the heal of tables the daemon does not own (as on kernels without ownership); owned ones: table-owner.test.ts
    mkdirSync(join(root, 'etc/virtwall'), { recursive: true });
    writeFileSync(join(root, 'etc/virtwall/virtwall.conf'), 'nwfilter_table_owner = 0\n');
    const first = await startDaemon(ns, root);
    lab.exec(ns, ['ip', 'link', 'add', 'vnet0', 'type', 'veth', 'peer', 'name', 'g0']);
    const binding = file(
      'b.xml',
      "<filterbinding><owner><name>g</name><uuid>11111111-2222-3333-4444-555555555555</uuid></owner><portdev name='vnet0'/><mac address='52:54:00:00:00:01'/><filterref filter='clean-traffic'><parameter name='IP' value='10.0.0.2'/></filterref></filterbinding>",
    );
    assert.equal(cli(root, ['nwfilter-binding-create', binding]).status, 0);
    const rules = ourTables(ns);
    await kill9(first);
    assert.equal(ourTables(ns), rules, 'rules stay while the daemon is down');
    const second = await startDaemon(ns, root);
    assert.match(second.log(), /"reason":"start-up","repaired":\[\],"removed":\[\]/);
    assert.equal(ourTables(ns), rules);

    /** Deletes our bridge table; resolves with the milliseconds until it is back. */
    const healTime = async () => {
      assert.equal(nft(ns, 'delete table bridge virtwall_nwf').status, 0);
      const t0 = Date.now();
      await waitFor(() => nft(ns, 'list ruleset').stdout.includes('table bridge virtwall_nwf'), {
        what: 'our bridge table back',
        timeout: 3000,
        interval: 20,
      });
      return Date.now() - t0;
    };
    const healedIn = await healTime();
    assert.ok(healedIn < 1000, `restored in ${healedIn} ms`);
    assert.equal(ourTables(ns), rules);
    assert.match(await waitForLog(second, /"repaired":\["vnet0"\]/), /"reason":"kernel change","repaired":\["vnet0"\]/);

    // the watch is the daemon's own socket: no nft process of its own runs beside it
    assert.deepEqual(
      descendants(second.child.pid!).filter((p) => p.comm === 'nft'),
      [],
    );
  });

  for (const point of ['write:nwfilter:before', 'write:nwfilter:after', 'nwfilter:stored']) {
    it(`a crash at ${point} leaves the old or the new definition, and a restart converges`, async (t) => {
      const { lab, ns, root, file } = fixture(t);
      const first = await startDaemon(ns, root);
      lab.exec(ns, ['ip', 'link', 'add', 'vnet0', 'type', 'veth', 'peer', 'name', 'g0']);
      const filter = (port: number) =>
        `<filter name='guard' chain='root'><uuid>0d3b6c1e-2f7e-4d0c-9c57-7a1f3e0d9b21</uuid><rule action='drop' direction='out' priority='500'><tcp dstportstart='${port}'/></rule></filter>\n`;
      assert.equal(cli(root, ['nwfilter-define', file('g1.xml', filter(1111))]).status, 0);
      assert.equal(
        cli(root, [
          'nwfilter-binding-create',
          file(
            'b.xml',
            "<filterbinding><owner><name>g</name><uuid>11111111-2222-3333-4444-555555555555</uuid></owner><portdev name='vnet0'/><mac address='52:54:00:00:00:01'/><filterref filter='guard'/></filterbinding>",
          ),
        ]).status,
        0,
      );
      await kill9(first);

      const crashing = await startDaemon(ns, root, { VIRTWALL_CRASH_AT: point });
      assert.notEqual(cli(root, ['nwfilter-define', file('g2.xml', filter(2222))]).status, 0);
      await crashing.exited;
      const stored = readFileSync(join(root, 'etc/virtwall/nwfilter/guard.xml'), 'utf8');
      const port = /dstportstart='(\d+)'/.exec(stored)?.[1];
      assert.ok(port === '1111' || port === '2222', stored);
      await startDaemon(ns, root);
      const ruleset = nft(ns, 'list ruleset').stdout;
      assert.ok(
        ruleset.includes(port === '1111' ? '1111' : '2222') && !ruleset.includes(port === '1111' ? '2222' : '1111'),
        `kernel follows the stored definition (port ${port})`,
      );
    });
  }

  for (const point of ['write:binding:before', 'write:binding:after']) {
    it(`a crash at ${point} leaves the binding wholly there or wholly gone after a restart`, async (t) => {
      const { lab, ns, root, file } = fixture(t);
      const crashing = await startDaemon(ns, root, { VIRTWALL_CRASH_AT: point });
      lab.exec(ns, ['ip', 'link', 'add', 'vnet0', 'type', 'veth', 'peer', 'name', 'g0']);
      const b = file(
        'b.xml',
        "<filterbinding><owner><name>g</name><uuid>11111111-2222-3333-4444-555555555555</uuid></owner><portdev name='vnet0'/><mac address='52:54:00:00:00:01'/><filterref filter='allow-arp'/></filterbinding>",
      );
      assert.notEqual(cli(root, ['nwfilter-binding-create', b]).status, 0);
      await crashing.exited;
      await startDaemon(ns, root);
      const listed = JSON.parse(cli(root, ['nwfilter-binding-list', '--json']).stdout) as { portdev: string }[];
      const inKernel = nft(ns, 'list ruleset').stdout.includes('vnet0');
      assert.equal(inKernel, listed.length === 1, `record ${listed.length}, kernel ${inKernel}`);
      assert.equal(listed.length, point === 'write:binding:after' ? 1 : 0);
    });
  }

  it('reads virtwall.conf: ebiptables nwfilter backend re-applied on SIGHUP', async (t) => {
    const { lab, ns, root, file } = fixture(t);
    mkdirSync(join(root, 'etc/virtwall'), { recursive: true });
    writeFileSync(join(root, 'etc/virtwall/virtwall.conf'), 'nwfilter_backend = "ebiptables"\n');
    const d = await startDaemon(ns, root);
    assert.match(d.log(), /"nwfilterBackend":"ebiptables"/);
    lab.exec(ns, ['ip', 'link', 'add', 'vnet0', 'type', 'veth', 'peer', 'name', 'g0']);
    const b = file(
      'b.xml',
      "<filterbinding><owner><name>g</name><uuid>11111111-2222-3333-4444-555555555555</uuid></owner><portdev name='vnet0'/><mac address='52:54:00:00:00:01'/><filterref filter='no-mac-spoofing'/></filterbinding>",
    );
    assert.equal(cli(root, ['nwfilter-binding-create', b]).status, 0);
    const chain = () => lab.exec(ns, ['ebtables', '-t', 'nat', '-L', 'libvirt-I-vnet0'], false).stdout;
    const applied = chain();
    assert.match(applied, /-j I-vnet0-mac/);
    // the kernel-event watch may repair the flush before the signal lands: both must end here
    lab.exec(ns, ['ebtables', '-t', 'nat', '-F', 'libvirt-I-vnet0']);
    d.child.kill('SIGHUP');
    await waitFor(() => chain() === applied, { what: 'the flushed chain restored', timeout: 5000, detail: chain });
    assert.match(await waitForLog(d, /"reason":"SIGHUP"/), /"reason":"SIGHUP"/);
  });
});
