// The virsh-style network commands against the real virsh and libvirt's real network driver
// (Debian's libvirtd in a private namespace, test/daemon/libvirtd.ts), where the test driver
// (virsh-oracle.test.ts) cannot serve: the reasons libvirt's network driver gives for refused
// operations, the persistent (--inactive) XML, undefining a running network. Both sides get
// the same commands in the same order; stdout, stderr and exit status must be equal byte for
// byte, with and without -q. No network with an IP address is started: no dnsmasq on either side.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { canUseNetns } from '../support/netns.js';
import { SCHEMA_DIR } from '../../src/schema/relaxng.js';
import { cli, daemonFixture as fixture, startDaemon, stopAll, type CliResult } from './process.js';
import { hasLibvirtd, startLibvirtd } from './libvirtd.js';

const hasVirsh = spawnSync('virsh', ['--version']).status === 0;
const skip = !canUseNetns()
  ? 'needs root and ip netns'
  : !hasVirsh
    ? 'needs virsh (libvirt-clients)'
    : !hasLibvirtd('network')
      ? 'needs libvirtd (libvirt-daemon)'
      : false;

const networkXml = (name: string, i: number) => `<network>
  <name>${name}</name>
  <uuid>11111111-0000-4000-8000-00000000000${i}</uuid>
  <bridge name='vwn${i}' stp='on' delay='0'/>
  <mac address='52:54:00:00:0b:0${i}'/>
</network>
`;

describe("virsh-style network commands print what virsh with libvirt's network driver prints", { skip }, () => {
  after(() => stopAll());

  it('refusals with their reasons, persistent XML, undefining a running network, with and without -q', async (t) => {
    const { ns, root, file } = fixture(t);
    await startDaemon(ns, root);
    const libvirtd = await startLibvirtd(t, 'network');
    const env = { LC_ALL: 'C' };
    const oracle = (quiet: boolean, words: string[], extra = {}): CliResult => {
      const r = spawnSync('virsh', [...(quiet ? ['-q'] : []), '-c', libvirtd.uri, ...words], {
        encoding: 'utf8',
        env: { ...process.env, ...env, ...extra },
      });
      return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    };
    const ours = (quiet: boolean, words: string[], extra = {}) =>
      cli(root, [...(quiet ? ['-q'] : []), ...words], { env: { ...env, ...extra } });
    const same = (words: string[], quiet = false, extra = {}) =>
      assert.deepEqual(
        ours(quiet, words, extra),
        oracle(quiet, words, extra),
        `${quiet ? '-q ' : ''}${words.join(' ')}`,
      );
    const both = (words: string[]) => {
      for (const quiet of [false, true]) same(words, quiet);
    };
    const [alpha, beta, gamma] = [
      file('alpha.xml', networkXml('alpha', 1)),
      file('Beta.xml', networkXml('Beta', 2)),
      file('gamma.xml', networkXml('gamma', 3)),
    ];

    same(['net-define', alpha]);
    same(['net-define', beta], true);
    same(['net-start', 'alpha']);
    same(['net-autostart', 'alpha'], true);
    same(['net-create', gamma]);
    for (const words of [
      ['net-list', '--all'],
      ['net-list', '--transient'],
      ['net-list', '--inactive', '--name'],
      ['net-info', 'gamma'],
      ['net-dumpxml', 'alpha'],
      ['net-dumpxml', '--inactive', 'alpha'],
      ['net-dumpxml', 'gamma'],
    ])
      both(words);

    // net-edit by UUID: virsh names the network as libvirt does, edited or not
    const stpOff = file('stp-off.sh', `#!/bin/sh\nsed -i "s/stp='on'/stp='off'/" "$1"\n`);
    same(['net-edit', '11111111-0000-4000-8000-000000000002'], false, { EDITOR: 'true' });
    same(['net-edit', '11111111-0000-4000-8000-000000000002'], false, { EDITOR: `sh ${stpOff}` });
    both(['net-dumpxml', 'Beta']);

    // --validate: libvirt's schema messages (each side names its own copy of the schema)
    const invalid = file('invalid.xml', '<network>\n  <name>x</name>\n  <bogus/>\n</network>\n');
    for (const quiet of [false, true]) {
      for (const command of ['net-define', 'net-create']) {
        const words = [command, '--validate', invalid];
        const r = ours(quiet, words);
        assert.deepEqual(
          { ...r, stderr: r.stderr.replace(SCHEMA_DIR, '/usr/share/libvirt/schemas/') },
          oracle(quiet, words),
          words.join(' '),
        );
      }
    }

    // refused operations: virsh's line and libvirt's reason
    for (const words of [
      ['net-start', 'alpha'],
      ['net-destroy', 'Beta'],
      ['net-create', gamma],
      ['net-autostart', 'gamma'],
      ['net-undefine', 'gamma'],
      ['net-update', 'gamma', 'add', 'ip-dhcp-host', "<host mac='52:54:00:00:00:01' ip='10.0.0.5'/>", '--config'],
    ])
      both(words);

    // net-update of a persistent, inactive network with DHCP (never started: no dnsmasq)
    same([
      'net-define',
      file(
        'delta.xml',
        networkXml('delta', 4).replace(
          '</network>',
          "  <ip address='10.9.4.1' prefix='24'>\n    <dhcp>\n      <range start='10.9.4.2' end='10.9.4.9'/>\n    </dhcp>\n  </ip>\n</network>",
        ),
      ),
    ]);
    const host = "<host mac='52:54:00:00:00:04' name='h4' ip='10.9.4.4'/>";
    same(['net-update', 'delta', 'add', 'ip-dhcp-host', host, '--config']);
    same(['net-update', 'delta', 'add-first', 'ip-dhcp-host', "<host mac='52:54:00:00:00:05' ip='10.9.4.5'/>"], true);
    both(['net-dumpxml', '--inactive', 'delta']);
    same(['net-update', 'delta', 'delete', 'ip-dhcp-host', host]);
    both(['net-dumpxml', 'delta']);
    for (const words of [
      ['net-update', 'delta', 'add', 'ip-dhcp-host', host, '--live'],
      ['net-update', 'delta', 'frob', 'ip-dhcp-host', host],
      ['net-update', 'delta', 'add', 'ip-frob', host],
      ['net-update', 'nope', 'add', 'ip-dhcp-host', host],
      ['net-update', 'delta', 'add', 'ip-dhcp-host', '/nonexistent/host.xml'],
    ])
      both(words);

    // ports and leases of a running network without any (virsh 9 exits 0 when net-port-dumpxml or
    // net-port-delete find no network or port: the commands start with ret = true)
    const unknownPort = '99999999-0000-4000-8000-000000000000';
    for (const words of [
      ['net-port-list', 'alpha'],
      ['net-port-list', 'alpha', '--uuid'],
      ['net-port-dumpxml', 'alpha', unknownPort],
      ['net-port-delete', 'alpha', unknownPort],
      ['net-port-dumpxml', 'nope', unknownPort],
      ['net-port-delete', 'nope', unknownPort],
      ['net-dhcp-leases', 'alpha'],
      ['net-port-list', 'nope'],
    ])
      both(words);

    // undefining a running network leaves it running, transient
    same(['net-undefine', 'alpha']);
    both(['net-list', '--all']);
    both(['net-info', 'alpha']);
    same(['net-destroy', 'alpha'], true);
    same(['net-destroy', 'gamma']);
    both(['net-list', '--all']);
    both(['net-info', 'alpha']);
  });
});
