// The virsh-style nwfilter commands against the real virsh and libvirt's real nwfilter driver
// (Debian's libvirtd in a private namespace, test/daemon/libvirtd.ts): both get the same filters
// (virtwall's stock filters as it dumps them, UUIDs included, defined into libvirtd) and the
// same operations in the same order; stdout, stderr and exit status must be equal byte for
// byte, with and without -q. Reasons libvirt words differently from virtwall's daemon are not
// compared (noted where it happens).
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
    : !hasLibvirtd('nwfilter')
      ? 'needs libvirtd (libvirt-daemon)'
      : false;

const filterXml = (name: string, i: number) => `<filter name='${name}' chain='root'>
  <uuid>33333333-0000-4000-8000-00000000000${i}</uuid>
  <rule action='drop' direction='out' priority='500'>
    <tcp dstportstart='444${i}'/>
  </rule>
</filter>
`;
const bindingXml = (dev: string, filter: string, params: string) => `<filterbinding>
  <owner><name>g</name><uuid>22222222-0000-4000-8000-000000000003</uuid></owner>
  <portdev name='${dev}'/>
  <mac address='52:54:00:aa:00:03'/>
  <filterref filter='${filter}'>${params}</filterref>
</filterbinding>
`;

describe("virsh-style nwfilter commands print what virsh with libvirt's nwfilter driver prints", { skip }, () => {
  after(() => stopAll());

  it('filters and bindings: lists, XML, definitions, lookups and failures, with and without -q', async (t) => {
    const { lab, ns, root, file } = fixture(t);
    await startDaemon(ns, root);
    const libvirtd = await startLibvirtd(t, 'nwfilter');
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
    const same = (words: string[], quiet: boolean, normalize = (r: CliResult) => r, extra = {}) =>
      assert.deepEqual(
        normalize(ours(quiet, words, extra)),
        oracle(quiet, words, extra),
        `${quiet ? '-q ' : ''}${words.join(' ')}`,
      );
    const both = (words: string[]) => {
      for (const quiet of [false, true]) same(words, quiet);
    };

    // the same filters on both sides: virtwall's stock ones, as it shows them, defined into libvirtd
    const stock = ours(true, ['nwfilter-list', '--name']).stdout.trim().split('\n');
    assert.ok(stock.includes('clean-traffic'), stock.join(' '));
    for (const name of stock) {
      const r = oracle(true, [
        'nwfilter-define',
        file(`stock-${name}.xml`, ours(true, ['nwfilter-dumpxml', name]).stdout),
      ]);
      assert.equal(r.status, 0, `${name}: ${r.stderr}`);
    }
    for (const name of stock) both(['nwfilter-dumpxml', name]);

    // definitions: confirmations, the list sorted case-insensitively, the XML back
    const zb = file('zb.xml', filterXml('zz-b', 1));
    const za = file('za.xml', filterXml('ZZ-a', 2));
    same(['nwfilter-define', zb], false);
    same(['nwfilter-define', za], true);
    both(['nwfilter-list']);
    both(['nwfilter-dumpxml', 'zz-b']);
    both(['nwfilter-dumpxml', '33333333-0000-4000-8000-000000000002']);
    same(['nwfilter-define', zb], true); // redefinition
    same(['nwfilter-undefine', 'ZZ-a'], false);
    same(['nwfilter-define', za], false);
    same(['nwfilter-undefine', '33333333-0000-4000-8000-000000000002'], true);
    both(['nwfilter-list']);

    // nwfilter-edit by UUID: virsh names the filter as libvirt does, edited or not
    const port4445 = file('port.sh', `#!/bin/sh\nsed -i "s/4441/4445/" "$1"\n`);
    same(['nwfilter-edit', '33333333-0000-4000-8000-000000000001'], false, (r) => r, { EDITOR: 'true' });
    same(['nwfilter-edit', '33333333-0000-4000-8000-000000000001'], false, (r) => r, { EDITOR: `sh ${port4445}` });
    both(['nwfilter-dumpxml', 'zz-b']);

    // failures: lookups, files, schema validation, malformed XML
    both(['nwfilter-dumpxml', 'nope']);
    both(['nwfilter-undefine', 'nope']);
    both(['nwfilter-define', '/nonexistent/filter.xml']);
    const invalid = file('invalid.xml', "<filter name='v' chain='root'>\n  <bogus/>\n</filter>\n");
    const invalidBinding = file(
      'invalid-binding.xml',
      bindingXml('vnet9', 'zz-b', '').replace('<portdev', '<bogus/>\n  <portdev'),
    );
    const schemaPath = (r: CliResult) => ({
      ...r,
      stderr: r.stderr.replace(SCHEMA_DIR, '/usr/share/libvirt/schemas/'),
    });
    for (const quiet of [false, true]) {
      same(['nwfilter-define', '--validate', invalid], quiet, schemaPath);
      same(['nwfilter-binding-create', '--validate', invalidBinding], quiet, schemaPath);
    }
    const badTags = file('bad-tags.xml', "<filter name='b' chain='root'>\n  <rule action='drop'></filter>\n");
    const [bad, badOracle] = [ours(false, ['nwfilter-define', badTags]), oracle(false, ['nwfilter-define', badTags])];
    // libvirt prefixes "(nwfilter_definition):LINE:" and adds a caret line, virtwall its file:line:col
    assert.deepEqual(
      [bad.status, bad.stdout, bad.stderr.split('\n')[0]],
      [badOracle.status, badOracle.stdout, badOracle.stderr.split('\n')[0]],
    );
    for (const r of [bad, badOracle])
      assert.match(r.stderr.split('\n')[1]!, /:2(:\d+)?: Opening and ending tag mismatch: rule line 2 and filter$/);

    // bindings on a device both sides have
    lab.exec(ns, ['ip', 'link', 'add', 'vnet0', 'type', 'veth', 'peer', 'name', 'g0']);
    libvirtd.inNetns(['ip', 'link', 'add', 'vnet0', 'type', 'veth', 'peer', 'name', 'g0']);
    const binding = file('binding.xml', bindingXml('vnet0', 'zz-b', "<parameter name='IP' value='10.0.0.3'/>"));
    same(['nwfilter-binding-create', binding], false);
    both(['nwfilter-binding-list']);
    both(['nwfilter-binding-dumpxml', 'vnet0']); // MAC added among the parameters, as libvirt does
    both(['nwfilter-binding-dumpxml', 'nope']);
    both(['nwfilter-binding-delete', 'nope']);
    // a filter in use
    const [inUse, inUseOracle] = [
      ours(false, ['nwfilter-undefine', 'zz-b']),
      oracle(false, ['nwfilter-undefine', 'zz-b']),
    ];
    assert.deepEqual(
      [inUse.status, inUse.stdout, inUse.stderr],
      [inUseOracle.status, inUseOracle.stdout, inUseOracle.stderr],
    );
    same(['nwfilter-binding-delete', 'vnet0'], true);
    lab.exec(ns, ['ip', 'link', 'add', 'vnet1', 'type', 'veth', 'peer', 'name', 'g1']);
    libvirtd.inNetns(['ip', 'link', 'add', 'vnet1', 'type', 'veth', 'peer', 'name', 'g1']);
    same(
      [
        'nwfilter-binding-create',
        file(
          'b1.xml',
          bindingXml(
            'vnet1',
            'clean-traffic',
            "<parameter name='IP' value='10.0.0.4'/><parameter name='MAC' value='52:54:00:aa:00:09'/>",
          ),
        ),
      ],
      true,
    );
    both(['nwfilter-binding-dumpxml', 'vnet1']); // a MAC given stays
    both(['nwfilter-binding-list']);
    same(['nwfilter-binding-delete', 'vnet1'], false);
    both(['nwfilter-binding-list']);
  });
});
