// run-tests: alone (times the repair of flushed rules: within 1 s)
// virtwalld with the ebiptables nwfilter backend heals foreign damage on its own: after
// `nft flush ruleset`, `iptables -F` or `ebtables -t nat -F` the rules are back within 1 s, the
// log names the repaired ports, and the events of its own repair do not start a loop. A restart
// after kill -9 finds the intact rules intact (nothing rebuilt).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canUseNetns } from '../support/netns.js';
import { cli, daemonFixture, kill9, startDaemon, stopAll, type DaemonProcess } from './process.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const WEB =
  "<filter name='web' chain='root'><filterref filter='clean-traffic'/><rule action='accept' direction='in' priority='500'><tcp dstportstart='80'/></rule><rule action='drop' direction='inout' priority='600'><tcp-ipv6 dstportstart='22'/></rule></filter>";
const binding = (dev: string, mac: string, filter: string, ip: string) =>
  `<filterbinding><owner><name>g-${dev}</name><uuid>11111111-2222-3333-4444-55555555555${dev.at(-1)}</uuid></owner><portdev name='${dev}'/><mac address='${mac}'/><filterref filter='${filter}'><parameter name='IP' value='${ip}'/></filterref></filterbinding>`;

interface Reconcile {
  reason: string;
  repaired: string[];
  removed: string[];
}

const reconciles = (d: DaemonProcess): Reconcile[] =>
  d
    .log()
    .split('\n')
    .filter((l) => l.includes('"msg":"nwfilter reconcile"'))
    .map((l) => JSON.parse(l) as Reconcile);

/** Waits until the daemon logged no reconcile for `quietMs`. */
async function settled(d: DaemonProcess, quietMs: number): Promise<void> {
  for (let n = -1; n !== reconciles(d).length; ) {
    n = reconciles(d).length;
    await sleep(quietMs);
  }
}

describe('virtwalld with the ebiptables backend', { skip }, () => {
  after(() => stopAll());

  it('restores flushed rules within 1 s, logs the repaired ports, and stays quiet afterwards', async (t) => {
    const { lab, ns, root, file } = daemonFixture(t);
    mkdirSync(join(root, 'etc/virtwall'), { recursive: true });
    writeFileSync(join(root, 'etc/virtwall/virtwall.conf'), 'nwfilter_backend = "ebiptables"\n');
    const d = await startDaemon(ns, root);
    for (const dev of ['vnet0', 'vnet1'])
      lab.exec(ns, ['ip', 'link', 'add', dev, 'type', 'veth', 'peer', 'name', `g-${dev}`]);
    assert.equal(cli(root, ['nwfilter-define', file('web.xml', WEB)]).status, 0);
    assert.equal(
      cli(root, ['nwfilter-binding-create', file('b0.xml', binding('vnet0', '52:54:00:00:00:01', 'web', '10.0.0.1'))])
        .status,
      0,
    );
    assert.equal(
      cli(root, [
        'nwfilter-binding-create',
        file('b1.xml', binding('vnet1', '52:54:00:00:00:02', 'clean-traffic', '10.0.0.2')),
      ]).status,
      0,
    );
    const listings = () =>
      ['ebtables-save', 'iptables-save', 'ip6tables-save']
        .map((c) => lab.exec(ns, [c]).stdout.replace(/^#.*\n/gm, ''))
        .join('');
    await settled(d, 500);
    const applied = listings();
    assert.match(applied, /FI-vnet0/);
    assert.ok(
      reconciles(d).every((r) => r.repaired.length + r.removed.length === 0),
      'the reconciles our own applies trigger find nothing to do',
    );

    for (const [damage, repaired] of [
      ['nft flush ruleset', ['vnet0', 'vnet1']],
      ['iptables -F', ['vnet0']],
      ['ebtables -t nat -F', ['vnet0', 'vnet1']],
    ] as const) {
      const seen = reconciles(d).length;
      lab.exec(ns, damage.split(' '));
      const t0 = Date.now();
      while (listings() !== applied && Date.now() - t0 < 3000) await sleep(20);
      const healedIn = Date.now() - t0;
      assert.ok(healedIn < 1000, `${damage}: restored in ${healedIn} ms`);
      assert.equal(listings(), applied, damage);

      await settled(d, 1500);
      const after = reconciles(d).slice(seen);
      assert.deepEqual(after[0], { ...after[0], reason: 'kernel change', repaired, removed: [] }, damage);
      assert.ok(after.length <= 3, `${damage}: ${after.length} reconciles until quiet`);
      assert.deepEqual(
        after.slice(1).filter((r) => r.repaired.length + r.removed.length > 0),
        [],
        `${damage}: the repair's own events find nothing to do`,
      );
    }

    await kill9(d);
    const restarted = await startDaemon(ns, root);
    assert.deepEqual(reconciles(restarted)[0], {
      ...reconciles(restarted)[0],
      reason: 'start-up',
      repaired: [],
      removed: [],
    });
    assert.equal(listings(), applied);
  });
});
