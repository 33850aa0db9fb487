// run-tests: alone (times the repair of damaged rules: within 1 s)
// virtwalld heals running networks' firewall, for both network firewall backends, inside
// namespaces this test creates (two NAT networks): another tool flushes or deletes libvirt's rules in various ways,
// the daemon restores exactly them within 1 s (logged), guest traffic through NAT works again,
// repairs cause no repair loop, SIGHUP re-applies, a live forward-interface update swaps the
// rules, damage while the daemon is down is repaired at its start, and net-destroy afterwards leaves the
// namespace as before the start.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canUseNetns } from '../support/netns.js';
import { dhcp, peerSeenAs, peerServer, snapshot } from '../support/guest.js';
import {
  cli,
  daemonFixture as fixture,
  kill9,
  logTimes,
  natNetwork,
  startDaemon,
  stopAll,
  waitForLog,
  type DaemonProcess,
} from './process.js';
import { DAMAGE, firewallState } from '../support/network-damage.js';
import { waitFor } from '../../src/util/wait-for.js';
import { setTimeout as sleep } from 'node:timers/promises';

const skip = canUseNetns() ? false : 'needs root and ip netns';

const UP_HOST = '198.51.100.1';
const UP_PEER = '198.51.100.2';
const PEER_PORT = 7001;

const network = natNetwork;

/** The namespace's state; the daemon's own esbuild helper (tsx) comes and goes on its own. */
const stateOf = (lab: Parameters<typeof snapshot>[0], ns: string) => snapshot(lab, ns).replace(/\besbuild /g, '');

const count = (log: string, re: RegExp) => log.split('\n').filter((l) => re.test(l)).length;

describe('virtwalld heals network firewall rules', { skip }, () => {
  after(() => stopAll());

  for (const backend of ['nftables', 'iptables'] as const) {
    it(`restores a NAT network's ${backend} rules after foreign damage`, async (t) => {
      const { lab, ns, root, file } = fixture(t, 'h');
      const up = lab.netns('u');
      const guest = lab.netns('g');
      lab.veth(ns, 'up0', up, 'eth0');
      lab.exec(ns, ['ip', 'addr', 'add', `${UP_HOST}/24`, 'dev', 'up0']);
      lab.exec(up, ['ip', 'addr', 'add', `${UP_PEER}/24`, 'dev', 'eth0']);
      lab.veth(ns, 'vnet1', guest, 'eth0', { mac: '52:54:00:00:00:11' });
      await peerServer(lab, up, UP_PEER, PEER_PORT);
      mkdirSync(join(root, 'etc/virtwall'), { recursive: true });
      writeFileSync(
        join(root, 'etc/virtwall/virtwall.conf'),
        `network_firewall_backend = "${backend}"\nlog_level = 1\n`,
      );
      let d: DaemonProcess = await startDaemon(ns, root);
      const baseline = stateOf(lab, ns);
      const run = (argv: string[]) => lab.exec(ns, argv, false).stdout;

      assert.equal(cli(root, ['net-create', file('net.xml', network('healme', 'vwbr0', '192.168.100'))]).status, 0);
      // a second network started later (named to sort first): its rules stay above the first's
      assert.equal(cli(root, ['net-create', file('alpha.xml', network('alpha', 'vwbr1', '192.168.101'))]).status, 0);
      lab.exec(ns, ['ip', 'link', 'set', 'vnet1', 'master', 'vwbr0']);
      assert.ok(dhcp(lab, guest, 'eth0').ok, 'guest got no lease');
      assert.equal(peerSeenAs(lab, guest, UP_PEER, PEER_PORT), UP_HOST, 'NAT to upstream before any damage');
      const intact = firewallState(run, backend);

      for (const [i, damage] of DAMAGE[backend].entries()) {
        lab.sh(ns, damage);
        assert.notEqual(firewallState(run, backend), intact, `${damage} changed nothing`);
        const t0 = Date.now();
        await waitFor(() => firewallState(run, backend) === intact, {
          what: `the rules restored after ${damage}`,
          timeout: 3000,
          interval: 20,
          detail: () => d.log(),
        });
        assert.equal(peerSeenAs(lab, guest, UP_PEER, PEER_PORT), UP_HOST, `NAT to upstream after ${damage}`);
        // (the log arrives through a pipe this process reads between its blocking calls)
        await waitFor(() => count(d.log(), /network firewall restored/) >= i + 1, {
          what: `the log line for ${damage}`,
          timeout: 2000,
          interval: 20,
          detail: () => d.log(),
        });
        const took = logTimes(d, /network firewall restored/)[i]! - t0;
        assert.ok(took < 1000, `${damage}: restored after ${took} ms`);
      }
      // our own repairs cause kernel events, but the checks they trigger find nothing to do: after
      // a second for those events, a second more passes without a log line
      await sleep(1000);
      const settled = d.log().length;
      const repairs = count(d.log(), /network firewall restored/);
      await sleep(1000);
      assert.equal(d.log().length, settled, 'the daemon kept reconciling');
      assert.match(
        d.log(),
        /"reason":"kernel change","network":"healme","missing":\d+,"kept":\d+,"msg":"network firewall restored"/,
      );

      d.child.kill('SIGHUP');
      assert.match(
        await waitForLog(d, /network firewall re-applied/, 5000),
        /"reason":"SIGHUP","network":"healme","missing":0,"kept":\d+,"msg":"network firewall re-applied"/,
      );
      // the events of the re-apply: half a second in which no repair may follow
      await sleep(500);
      assert.equal(firewallState(run, backend), intact, 'SIGHUP doubled or lost rules');
      assert.equal(count(d.log(), /network firewall restored/), repairs, 'the re-apply was taken for damage');

      // a live forward-interface change swaps the rules in place: NAT only out of up0, then back
      const iface = "<interface dev='up0'/>";
      assert.equal(
        cli(root, ['net-update', 'healme', 'add-first', 'forward-interface', iface, '--live']).stdout,
        'Updated network healme live state\n',
      );
      const viaUp0 = firewallState(run, backend);
      assert.equal(count(intact, /up0/), 0);
      assert.ok(count(viaUp0, /up0/) > 0, 'no rule names the forward device');
      assert.equal(viaUp0.split('\n').length, intact.split('\n').length, 'rules were added, not replaced');
      assert.equal(peerSeenAs(lab, guest, UP_PEER, PEER_PORT), UP_HOST, 'NAT through the forward device');
      assert.equal(cli(root, ['net-update', 'healme', 'delete', 'forward-interface', iface]).status, 0);
      // the same rules; the updated network's are now above the other's, as with libvirt
      const sorted = (state: string) => state.split('\n').sort().join('\n');
      assert.equal(sorted(firewallState(run, backend)), sorted(intact));
      // the events of the update: half a second in which no repair may follow
      await sleep(500);
      assert.equal(count(d.log(), /network firewall restored/), repairs, 'a live update was taken for damage');

      // damage while the daemon is down is repaired when it starts
      await kill9(d);
      lab.sh(ns, DAMAGE[backend][0]!);
      d = await startDaemon(ns, root);
      assert.equal(firewallState(run, backend), intact, 'not restored at start-up');
      assert.match(
        await waitForLog(d, /"reason":"start-up","network":"healme"/),
        /"reason":"start-up","network":"healme","missing":[1-9]\d*,"kept":\d+,"msg":"network firewall restored"/,
      );
      assert.equal(peerSeenAs(lab, guest, UP_PEER, PEER_PORT), UP_HOST, 'NAT after the restart');

      assert.equal(cli(root, ['net-destroy', 'healme']).status, 0);
      assert.equal(cli(root, ['net-destroy', 'alpha']).status, 0);
      // (on a timeout, the assertion shows how the namespace differs)
      await waitFor(() => stateOf(lab, ns) === baseline, {
        what: 'the namespace as before the networks',
        timeout: 5000,
      }).catch(() => undefined);
      assert.equal(stateOf(lab, ns), baseline);
    });
  }
});
