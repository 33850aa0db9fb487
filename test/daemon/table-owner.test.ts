// The daemon owns its nwfilter tables where the kernel lets it (owner and persist flags): a
// foreign `nft flush ruleset` passes them by and `nft delete table` is refused, so the guests'
// filters never lapse (the same table, never recreated: its handle stays); a kill -9 leaves
// them in place, the next daemon adopts them, and the daemon still deletes them itself.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canUseNetns } from '../support/netns.js';
import { BIN, cli, cleanTrafficGuests, daemonFixture, kill9, startDaemon, waitForLog } from './process.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';
const GUESTS = [
  { tap: 'vnet1', mac: '52:54:00:78:00:11', ip: '10.78.0.11', uuid: '7d1b8a2c-1f3e-4a0a-9b7e-0c1d2e3f4a11' },
  { tap: 'vnet2', mac: '52:54:00:78:00:12', ip: '10.78.0.12', uuid: '7d1b8a2c-1f3e-4a0a-9b7e-0c1d2e3f4a12' },
];
const NWF = ['bridge', 'inet'].map((f) => `${f} virtwall_nwf`);

/** doctor's table-ownership check, run in `ns`: its status and findings. */
function doctorSays(ns: string, root: string): { status: string; findings: { problem: string }[] } {
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, BIN, '--root', root, 'doctor', '--json'], {
    encoding: 'utf8',
    env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/nonexistent/virtwall-test-bus' },
  });
  const report = JSON.parse(r.stdout) as { checks: { id: string; status: string; findings: { problem: string }[] }[] };
  return report.checks.find((c) => c.id === 'nwfilter-table-owner')!;
}

describe('virtwalld owns its nwfilter tables', { skip }, () => {
  it('keeps them through foreign flushes and deletes, kill -9 and restart, and deletes them itself', async (t) => {
    const fixture = daemonFixture(t, 'to');
    const { lab, ns: host, root } = fixture;
    const first = await startDaemon(host, root);
    const ownership = /"nwfilterTableOwnership":"([^"]*)"/.exec(first.log())?.[1];
    if (ownership !== 'owner') {
      assert.match(ownership ?? '', /^none: /, 'the daemon says why it does not own its tables');
      t.skip(`this kernel cannot own tables (${ownership}): the heal tests cover it`);
      return;
    }
    const guests = cleanTrafficGuests(fixture, '10.78.0.1', GUESTS);
    const [g1] = guests as [string, string];
    const reach = () => lab.exec(g1, ['ping', '-c', '1', '-W', '2', GUESTS[1]!.ip], false).status === 0;
    const spoofBlocked = () =>
      lab.exec(
        g1,
        [
          'sh',
          '-c',
          `ip addr add 10.78.0.99/32 dev eth0 && ping -c 1 -W 1 -I 10.78.0.99 ${GUESTS[1]!.ip}; r=$?; ip addr del 10.78.0.99/32 dev eth0; exit $r`,
        ],
        false,
      ).status !== 0;
    assert.ok(reach(), 'filtered guests reach each other');
    assert.ok(spoofBlocked());
    await new Promise((r) => setTimeout(r, 500));
    assert.doesNotMatch(
      first.log(),
      /"reason":"kernel change"/,
      "the daemon's own in-process transactions wake no reconcile",
    );

    /**
     * Each table's listing with its handle (`nft -a`): the same text is the same table, never
     * deleted and recreated. Counters aside, and the owner's process name nft adds.
     */
    const tables = () =>
      NWF.map(
        (t) =>
          lab.exec(host, [
            'sh',
            '-c',
            `nft -a list table ${t} | sed 's/counter packets [0-9]* bytes [0-9]*/counter/; s/ progname [^ ]*$//'`,
          ]).stdout,
      ).join('');
    const before = tables();
    assert.match(before, /^table bridge virtwall_nwf \{ # handle \d+\n\tflags owner\n/m);
    // the inet table exists only where the bridge family has no conntrack (br_netfilter path)
    assert.equal(
      before.match(/^table /gm)!.length,
      before.match(/^table .*\n\tflags owner\n/gm)!.length,
      'every table of ours is owned',
    );
    const foreign = (argv: string) => lab.exec(host, ['nft', ...argv.split(' ')], false);
    const refusedAll = () => {
      assert.equal(foreign('flush ruleset').status, 0);
      assert.equal(tables(), before, 'a foreign flush passes our tables by');
      for (const t of NWF.filter((t) => before.includes(`table ${t} {`))) {
        assert.match(foreign(`delete table ${t}`).stderr, /Operation not permitted/);
        assert.match(foreign(`flush table ${t}`).stderr, /Operation not permitted/);
      }
      assert.equal(tables(), before);
      assert.ok(spoofBlocked(), 'spoofing stays blocked');
    };
    refusedAll();
    const up = doctorSays(host, root);
    assert.deepEqual([up.status, up.findings], ['ok', []], 'doctor: the daemon owns its tables');

    await kill9(first);
    const down = doctorSays(host, root);
    assert.equal(down.status, 'note');
    assert.match(down.findings[0]!.problem, /^table bridge virtwall_nwf has no owner: virtwalld is not running/);
    assert.equal(
      tables(),
      before.replaceAll('\tflags owner\n', '\tflags \n'),
      'the tables stay, without an owner, while the daemon is down',
    );
    assert.ok(spoofBlocked());
    const second = await startDaemon(host, root);
    assert.match(second.log(), /"nwfilterTableOwnership":"owner"/);
    assert.match(await waitForLog(second, /"reason":"start-up"/), /"reason":"start-up","repaired":\[\],"removed":\[\]/);
    assert.equal(tables(), before, 'the restarted daemon owns the same tables');
    refusedAll();
    assert.ok(reach());

    // the daemon changes and deletes its tables itself
    for (const g of GUESTS) assert.equal(cli(root, ['net-port-delete', 'n', g.uuid]).status, 0);
    assert.equal(
      foreign('list tables').stdout.includes('virtwall_nwf'),
      false,
      'the last port took the tables with it',
    );
    assert.equal(cli(root, ['net-destroy', 'n']).status, 0);
  });

  it('with nwfilter_table_owner = 0 leaves them unowned and heals them', async (t) => {
    const { lab, ns: host, root, file } = daemonFixture(t, 'tn');
    mkdirSync(join(root, 'etc/virtwall'), { recursive: true });
    writeFileSync(join(root, 'etc/virtwall/virtwall.conf'), 'nwfilter_table_owner = 0\n');
    const d = await startDaemon(host, root);
    assert.match(d.log(), /"nwfilterTableOwnership":"none: nwfilter_table_owner = 0"/);
    assert.equal(
      cli(root, [
        'net-create',
        file(
          'net.xml',
          "<network><name>n</name><bridge name='vbr0' stp='off'/><dns enable='no'/><ip address='10.78.0.1' prefix='24'/></network>",
        ),
      ]).status,
      0,
    );
    const g = GUESTS[0]!;
    lab.veth(host, g.tap, lab.netns('g0'), 'eth0', { mac: g.mac });
    const port = file(
      'p.xml',
      `<networkport><uuid>${g.uuid}</uuid><owner><name>g0</name><uuid>${g.uuid}</uuid></owner><mac address='${g.mac}'/></networkport>`,
    );
    assert.equal(
      cli(root, ['net-port-create', 'n', port, '--tap', g.tap, '--filter', 'clean-traffic', '--param', `IP=${g.ip}`])
        .status,
      0,
    );
    assert.doesNotMatch(lab.exec(host, ['nft', 'list', 'table', 'bridge', 'virtwall_nwf']).stdout, /flags owner/);
    const said = doctorSays(host, root);
    assert.equal(said.status, 'note');
    assert.match(said.findings[0]!.problem, /^nwfilter_table_owner = 0: /);
    assert.equal(
      lab.exec(host, ['nft', 'delete', 'table', 'bridge', 'virtwall_nwf'], false).status,
      0,
      'anyone may delete an unowned table',
    );
    assert.match(
      await waitForLog(d, /"reason":"kernel change","repaired":\["vnet1"\]/, 5000),
      /"reason":"kernel change","repaired":\["vnet1"\]/,
      'the heal restores it',
    );
    assert.equal(lab.exec(host, ['nft', 'list', 'table', 'bridge', 'virtwall_nwf'], false).status, 0);
  });

  it('doctor tells a table created without ownership', async (t) => {
    const { lab, ns, root } = daemonFixture(t, 'tu');
    assert.deepEqual(doctorSays(ns, root).findings, [], 'no tables: nothing to tell');
    lab.exec(ns, ['nft', 'add table bridge virtwall_nwf']);
    const said = doctorSays(ns, root);
    if (said.status === 'note' && /cannot own/.test(said.findings[0]!.problem))
      return t.skip(said.findings[0]!.problem);
    assert.equal(said.status, 'note');
    assert.match(said.findings[0]!.problem, /^table bridge virtwall_nwf was created without ownership/);
  });
});
