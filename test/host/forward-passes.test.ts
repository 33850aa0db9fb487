// run-tests: alone (times the repair of a deleted accept: within 1 s)
// Foreign forward chains with policy drop (Docker's `iptables -P FORWARD DROP`, and a native nft
// table doing the same) in a namespace this test creates: virtwalld inserts narrow accepts for
// its NAT network there (logged), a guest's forwarded NAT traffic passes, removed accepts come
// back within 1 s, net-destroy removes them, and `foreign_forward_accept = 0` leaves the drop
// in force. Both network firewall backends.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canUseNetns } from '../support/netns.js';
import { dhcp, peerSeenAs, peerServer } from '../support/guest.js';
import { cli, daemonFixture, logTimes, startDaemon, stopAll, waitForLog } from '../daemon/process.js';
import { waitFor } from '../../src/util/wait-for.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';

const UP_HOST = '198.51.100.1';
const UP_PEER = '198.51.100.2';
const PORT = 7003;
const NET = `<network>
  <name>dock</name>
  <forward mode='nat'/>
  <bridge name='vwdock0' stp='off'/>
  <ip address='192.168.140.1' netmask='255.255.255.0'>
    <dhcp><range start='192.168.140.10' end='192.168.140.20'/></dhcp>
  </ip>
</network>`;

async function setup(t: Parameters<typeof daemonFixture>[0], backend: string, extraConf = '') {
  const { lab, ns, root, file } = daemonFixture(t, 'h');
  const up = lab.netns('u');
  const guest = lab.netns('g');
  lab.veth(ns, 'up0', up, 'eth0');
  lab.exec(ns, ['ip', 'addr', 'add', `${UP_HOST}/24`, 'dev', 'up0']);
  lab.exec(up, ['ip', 'addr', 'add', `${UP_PEER}/24`, 'dev', 'eth0']);
  await peerServer(lab, up, UP_PEER, PORT);
  // Docker's policy, and a native nft table with a dropping forward chain
  lab.exec(ns, ['iptables', '-P', 'FORWARD', 'DROP']);
  lab.exec(ns, [
    'nft',
    'add table inet guard; add chain inet guard gfwd { type filter hook forward priority 10; policy drop; }',
  ]);
  mkdirSync(join(root, 'etc/virtwall'), { recursive: true });
  writeFileSync(
    join(root, 'etc/virtwall/virtwall.conf'),
    `network_firewall_backend = "${backend}"\nlog_level = 1\n${extraConf}`,
  );
  const d = await startDaemon(ns, root);
  assert.equal(cli(root, ['net-create', file('net.xml', NET)]).status, 0);
  lab.veth(ns, 'vnet1', guest, 'eth0', { bridge: 'vwdock0' });
  assert.ok(dhcp(lab, guest, 'eth0').ok, 'guest got no lease');
  return { lab, ns, root, guest, d };
}

describe('accepts in foreign forward chains with policy drop', { skip }, () => {
  after(() => stopAll());

  for (const backend of ['nftables', 'iptables'] as const) {
    it(`lets a NAT network's traffic through them, heals and removes them (${backend})`, async (t) => {
      const { lab, ns, root, guest, d } = await setup(t, backend);
      const ruleset = () => lab.exec(ns, ['nft', '-a', 'list', 'ruleset']).stdout;
      // (nft does not show iptables' comments: iptables lists its own table)
      const ours = () =>
        [...lab.exec(ns, ['iptables', '-S', 'FORWARD']).stdout.split('\n'), ...ruleset().split('\n')].filter((l) =>
          /comment "virtwall-forward:vwdock0"/.test(l),
        );
      assert.equal(peerSeenAs(lab, guest, UP_PEER, PORT), UP_HOST, `NAT through the drop policies\n${ruleset()}`);
      // the native table always gets them; iptables' filter FORWARD only with the nftables backend
      // (the iptables backend's own accepts sit there, as libvirt's do)
      assert.match(
        await waitForLog(d, /inet guard gfwd has policy drop/),
        /inet guard gfwd has policy drop: accept rules for vwdock0 inserted/,
      );
      if (backend === 'nftables')
        assert.match(d.log(), /ip filter FORWARD has policy drop: accept rules for vwdock0 inserted/);
      else assert.doesNotMatch(d.log(), /ip filter FORWARD has policy drop/);
      const intact = ours().length;
      assert.equal(intact, backend === 'nftables' ? 6 : 3);
      // the accepts are narrow: the bridge and the subnet
      for (const l of ours()) assert.match(l, /vwdock0/);
      assert.ok(ours().some((l) => /iifname "vwdock0" ip saddr 192\.168\.140\.0\/24/.test(l)));

      // another tool deletes one of them: back within 1 s
      const guardRule = lab
        .exec(ns, ['nft', '-a', 'list', 'chain', 'inet', 'guard', 'gfwd'])
        .stdout.split('\n')
        .find((l) => l.includes('saddr') && l.includes('virtwall-forward'))!;
      lab.exec(ns, ['nft', 'delete', 'rule', 'inet', 'guard', 'gfwd', 'handle', /# handle (\d+)/.exec(guardRule)![1]!]);
      assert.equal(ours().length, intact - 1);
      const t0 = Date.now();
      await waitFor(() => ours().length === intact, {
        what: 'the deleted accept back',
        timeout: 3000,
        interval: 20,
        detail: () => d.log(),
      });
      await waitForLog(d, /accepts in inet guard gfwd/);
      assert.match(
        d.log(),
        /network firewall restored.*accepts in inet guard gfwd|accepts in inet guard gfwd.*network firewall restored/,
      );
      const took = logTimes(d, /network firewall restored/).at(-1)! - t0;
      assert.ok(took < 1000, `restored after ${took} ms`);
      assert.equal(peerSeenAs(lab, guest, UP_PEER, PORT), UP_HOST, 'NAT after the repair');

      assert.equal(cli(root, ['net-destroy', 'dock']).status, 0);
      assert.deepEqual(ours(), [], 'net-destroy left accepts behind');
      // the foreign chains themselves are untouched
      assert.match(lab.exec(ns, ['iptables', '-S', 'FORWARD']).stdout, /-P FORWARD DROP/);
      assert.match(lab.exec(ns, ['nft', 'list', 'chain', 'inet', 'guard', 'gfwd']).stdout, /policy drop/);
    });
  }

  it('foreign_forward_accept = 0 leaves the drop policies in force', async (t) => {
    const { lab, ns, guest, d } = await setup(t, 'nftables', 'foreign_forward_accept = 0\n');
    assert.equal(peerSeenAs(lab, guest, UP_PEER, PORT, 2), undefined, 'traffic passed a drop policy without accepts');
    assert.doesNotMatch(
      lab.exec(ns, ['nft', 'list', 'ruleset']).stdout + lab.exec(ns, ['iptables', '-S']).stdout,
      /virtwall-forward/,
    );
    assert.doesNotMatch(d.log(), /has policy drop/);
  });
});
