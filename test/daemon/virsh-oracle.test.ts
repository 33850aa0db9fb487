// The virsh-style network commands against the real virsh: the same operations on equivalent
// state, virtwall's daemon in a test namespace on one side, virsh with libvirt's test driver
// (test:///NODE.xml, in the client library) on the other, compared byte for byte: stdout, stderr
// and exit status, with and without -q. The test driver keeps no state between runs, so each
// virsh run replays the state's history as one command string:
//   virsh -c test:///NODE.xml 'SETUP; HISTORY; echo VWMARK; echo --err VWMARK; QUERY'
// and what it printed before the markers (measured by the same string without QUERY) is cut off.
// Failure reasons that come from the driver differ between the test driver and libvirt's network
// driver (e.g. "already running"), and the test driver has no --inactive XML, so only reasons both share (lookups, client-side file
// errors, schema validation) are compared.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { canUseNetns } from '../support/netns.js';
import { SCHEMA_DIR } from '../../src/schema/relaxng.js';
import { cli, daemonFixture as fixture, startDaemon, stopAll, type CliResult } from './process.js';

const hasVirsh = spawnSync('virsh', ['--version']).status === 0;
const skip = !canUseNetns() ? 'needs root and ip netns' : !hasVirsh ? 'needs virsh (libvirt-clients)' : false;

const uuid = (i: number) => `11111111-0000-4000-8000-00000000000${i}`;
const networkXml = (name: string, i: number) => `<network>
  <name>${name}</name>
  <uuid>${uuid(i)}</uuid>
  <bridge name='vwo${i}' stp='on' delay='0'/>
  <mac address='52:54:00:00:0a:0${i}'/>
</network>
`;

describe('virsh-style network commands print what the real virsh prints', { skip }, () => {
  after(() => stopAll());

  it('lists, info, XML, lookups, changes and their failures, with and without -q', async (t) => {
    const { ns, root, file } = fixture(t);
    const files = Object.fromEntries(
      ['alpha', 'Beta', 'gamma', 'delta', 'epsilon'].map((n, i) => [n, file(`${n}.xml`, networkXml(n, i + 1))]),
    );
    const badTags = file('bad-tags.xml', "<network>\n  <name>x</name>\n  <bridge name='b'></network>\n");
    const unknownElement = file('unknown-element.xml', '<network>\n  <name>x</name>\n  <bogus/>\n</network>\n');
    const dir = join(files['alpha']!, '..', 'a-directory');
    mkdirSync(dir);
    // the test driver starts with its networks active and persistent; virtwall gets there by commands
    const node = file(
      'node.xml',
      `<node>\n${networkXml('alpha', 1)}${networkXml('Beta', 2)}${networkXml('delta', 4)}</node>\n`,
    );
    const setup = [
      ['net-autostart', 'alpha'],
      ['net-destroy', 'Beta'],
      ['net-create', files['gamma']!],
    ];

    await startDaemon(ns, root);
    for (const words of [
      ['net-define', files['alpha']!],
      ['net-define', files['Beta']!],
      ['net-define', files['delta']!],
      ['net-start', 'alpha'],
      ['net-start', 'Beta'],
      ['net-start', 'delta'],
      ...setup,
    ]) {
      assert.equal(cli(root, words).status, 0, words.join(' '));
    }

    const history: string[][] = [];
    const virsh = (quiet: boolean, query?: string[]): CliResult => {
      const script = [...setup, ...history, ['echo', 'VWMARK'], ['echo', '--err', 'VWMARK'], ...(query ? [query] : [])]
        .map((w) => w.join(' '))
        .join('; ');
      const r = spawnSync('virsh', [...(quiet ? ['-q'] : []), '-c', `test://${node}`, script], {
        encoding: 'utf8',
        env: { ...process.env, LC_ALL: 'C' },
      });
      return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    };
    const prefixes = new Map<string, CliResult>();
    const oracle = (quiet: boolean, query: string[]): CliResult => {
      const key = `${quiet} ${history.length}`;
      const prefix = prefixes.get(key) ?? virsh(quiet);
      prefixes.set(key, prefix);
      const full = virsh(quiet, query);
      assert.ok(
        full.stdout.startsWith(prefix.stdout) && full.stderr.startsWith(prefix.stderr),
        `virsh's output before the query changed: ${query.join(' ')}`,
      );
      return {
        status: full.status,
        stdout: full.stdout.slice(prefix.stdout.length),
        stderr: full.stderr.slice(prefix.stderr.length),
      };
    };
    const ours = (quiet: boolean, words: string[]) =>
      cli(root, [...(quiet ? ['-q'] : []), ...words], { env: { LC_ALL: 'C' } });
    const same = (words: string[], quiet: boolean, normalize = (r: CliResult) => r) => {
      const expected = oracle(quiet, words);
      assert.deepEqual(normalize(ours(quiet, words)), expected, `${quiet ? '-q ' : ''}${words.join(' ')}`);
    };

    const queries: string[][] = [
      ['net-list'],
      ['net-list', '--all'],
      ['net-list', '--inactive'],
      ['net-list', '--all', '--persistent'],
      ['net-list', '--all', '--transient'],
      ['net-list', '--all', '--autostart'],
      ['net-list', '--all', '--no-autostart'],
      ['net-list', '--persistent', '--transient'],
      ['net-list', '--all', '--persistent', '--no-autostart'],
      ['net-list', '--all', '--name'],
      ['net-list', '--all', '--uuid'],
      ['net-list', '--inactive', '--name'],
      ['net-list', '--table'],
      ['net-list', '--name', '--uuid'],
      ['net-list', '--table', '--uuid'],
      ['net-info', 'alpha'],
      ['net-info', 'Beta'],
      ['net-info', 'gamma'],
      ['net-info', uuid(4)],
      ['net-info', 'nope'],
      ['net-uuid', 'alpha'],
      ['net-uuid', uuid(1)],
      ['net-uuid', 'nope'],
      ['net-name', uuid(1)],
      ['net-name', 'alpha'],
      ['net-name', uuid(9)],
      ['net-dumpxml', 'alpha'],
      ['net-dumpxml', 'Beta'],
      ['net-dumpxml', 'gamma'],
      ['net-dumpxml', 'nope'],
      ['net-start', 'nope'],
      ['net-destroy', 'nope'],
      ['net-undefine', 'nope'],
      ['net-autostart', 'nope'],
      ['net-autostart', '--disable', 'nope'],
      ['net-define', '/nonexistent/net.xml'],
      ['net-create', '/nonexistent/net.xml'],
      ['net-define', dir],
      ['net-update', 'alpha', 'add', 'ip-dhcp-host', '<host/>', '--parent-index', 'x'],
      ['net-update', 'alpha', 'frob', 'ip-dhcp-host', '<host/>'],
    ];
    for (const words of queries) for (const quiet of [false, true]) same(words, quiet);

    // bad command lines: virsh refuses a whole command string, so these run on their own
    for (const words of [
      ['net-info'],
      ['net-define'],
      ['net-list', '--bogus'],
      ['net-list', 'extra'],
      ['net-dhcp-leases', 'alpha', '--mac'],
      ['nosuch'],
      ['net-lis'],
    ]) {
      for (const quiet of [false, true]) {
        const r = spawnSync('virsh', [...(quiet ? ['-q'] : []), '-c', `test://${node}`, ...words], {
          encoding: 'utf8',
          env: { ...process.env, LC_ALL: 'C' },
        });
        assert.deepEqual(ours(quiet, words), { status: r.status, stdout: r.stdout, stderr: r.stderr }, words.join(' '));
      }
    }

    // --validate: the same messages, naming each side's own copy of libvirt's schema
    for (const quiet of [false, true]) {
      same(['net-define', '--validate', unknownElement], quiet, (r) => ({
        ...r,
        stderr: r.stderr.replace(SCHEMA_DIR, '/usr/share/libvirt/schemas/'),
      }));
    }

    // malformed XML: virsh's first line; the reason names the tags as libxml2 does (libvirt adds
    // its "(network_definition):LINE:" prefix and a caret line, virtwall its file:line:col)
    const bad = ours(false, ['net-define', badTags]);
    const badOracle = oracle(false, ['net-define', badTags]);
    assert.deepEqual(
      [bad.status, bad.stdout, bad.stderr.split('\n')[0]],
      [badOracle.status, badOracle.stdout, badOracle.stderr.split('\n')[0]],
    );
    for (const r of [bad, badOracle])
      assert.match(r.stderr.split('\n')[1]!, /:3(:\d+)?: Opening and ending tag mismatch: bridge line 3 and network$/);

    // changes, each made on both sides (the virsh side replays them), then the lists again
    const changes: [string[], boolean][] = [
      [['net-autostart', '--disable', 'alpha'], false],
      [['net-autostart', 'delta'], true],
      [['net-destroy', 'delta'], false],
      [['net-start', 'Beta'], true],
      [['net-destroy', 'gamma'], false],
      [['net-undefine', 'delta'], true],
      [['net-define', files['epsilon']!], false],
      [['net-start', uuid(5)], false],
      [['net-destroy', 'epsilon'], true],
      [['net-create', files['gamma']!], true],
    ];
    for (const [words, quiet] of changes) {
      same(words, quiet);
      history.push(words);
    }
    for (const words of [
      ['net-list', '--all'],
      ['net-list', '--inactive'],
      ['net-info', 'epsilon'],
      ['net-dumpxml', 'Beta'],
    ])
      for (const quiet of [false, true]) same(words, quiet);
  });
});
