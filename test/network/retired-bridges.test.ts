// A stopped network's bridge on a real kernel, in namespaces this test creates: net-destroy's
// contract holds when the stop returns (the name free, addresses and routes gone, no frame
// forwarded between ports still attached, the same network starts again at once), and the
// retired bridges are deleted afterwards, without touching others' links in the retired group.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseNetwork } from '../../src/conf/network/parse.js';
import { SystemRunner } from '../../src/exec/runner.js';
import { networkKernel } from '../../src/network/lifecycle/kernel.js';
import { writeLeaseHookScript } from '../../src/network/lifecycle/lease-hook.js';
import { parseIp } from '../../src/util/address.js';
import { isRetiredBridgeName, RETIRED_BRIDGE_GROUP } from '../../src/util/device-name.js';
import { waitFor } from '../../src/util/wait-for.js';
import { canUseNetns, NetnsLab } from '../support/netns.js';
import { testNetworkDriver } from '../support/network-driver.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';
const GROUP = String(RETIRED_BRIDGE_GROUP);

interface Link {
  ifname: string;
  ifindex: number;
  master?: string;
  group?: string;
  flags: string[];
}
/** iproute2 6.1 prints `{}` for each link a selector leaves out. */
const links = (lab: NetnsLab, ns: string, ...selector: string[]): Link[] =>
  (JSON.parse(lab.exec(ns, ['ip', '-j', 'link', 'show', ...selector]).stdout || '[]') as Link[]).filter(
    (x) => x.ifname !== undefined,
  );
/** The retired group's links (`ip` names a group it has no name for by its number). */
const retired = (lab: NetnsLab, ns: string) => links(lab, ns, 'group', GROUP);
const addresses = (lab: NetnsLab, ns: string) =>
  (JSON.parse(lab.exec(ns, ['ip', '-j', 'addr', 'show']).stdout) as { addr_info: { local: string }[] }[]).flatMap((l) =>
    l.addr_info.map((a) => a.local),
  );
const routes = (lab: NetnsLab, ns: string) =>
  [
    ...(JSON.parse(lab.exec(ns, ['ip', '-j', 'route', 'show']).stdout) as { dst: string }[]),
    ...(JSON.parse(lab.exec(ns, ['ip', '-j', '-6', 'route', 'show']).stdout) as { dst: string }[]),
  ].map((r) => r.dst);
const pings = (lab: NetnsLab, from: string, to: string) =>
  lab.exec(from, ['ping', '-c', '2', '-i', '0.2', '-W', '1', to], false).status === 0;

function lab(t: { after: (f: () => void) => void }) {
  const l = new NetnsLab();
  t.after(() => l.cleanup());
  return l;
}

describe('retired bridges (kernel)', { skip }, () => {
  it('a retired bridge forwards nothing between its ports, and its deletion detaches them', async (t) => {
    const l = lab(t);
    const host = l.netns('h');
    const g1 = l.netns('g1');
    const g2 = l.netns('g2');
    const kernel = networkKernel(new SystemRunner({ netns: host }));
    await kernel.addBridge({ name: 'vwbr0', delay: 0, stp: false });
    await kernel.addAddress('vwbr0', parseIp('192.168.100.1')!, 24);
    await kernel.setUp('vwbr0');
    l.veth(host, 'vnet1', g1, 'eth0', { bridge: 'vwbr0' });
    l.veth(host, 'vnet2', g2, 'eth0', { bridge: 'vwbr0' });
    l.exec(g1, ['ip', 'addr', 'add', '192.168.100.11/24', 'dev', 'eth0']);
    l.exec(g2, ['ip', 'addr', 'add', '192.168.100.12/24', 'dev', 'eth0']);
    assert.ok(pings(l, g1, '192.168.100.12'), 'the guests do not reach each other through the bridge');

    assert.equal(await kernel.retireBridge('vwbr0', [{ address: parseIp('192.168.100.1')!, prefix: 24 }]), true);
    assert.equal(await kernel.linkExists('vwbr0'), false);
    const [bridge, ...more] = retired(l, host);
    assert.ok(bridge && more.length === 0, 'not one retired bridge');
    assert.ok(isRetiredBridgeName(bridge.ifname), bridge.ifname);
    assert.ok(!bridge.flags.includes('UP'));
    // the guests' ports are still its ports, and nothing passes
    assert.deepEqual(
      links(l, host, 'master', bridge.ifname)
        .map((p) => p.ifname)
        .sort(),
      ['vnet1', 'vnet2'],
    );
    assert.ok(!addresses(l, host).includes('192.168.100.1'));
    assert.ok(!pings(l, g1, '192.168.100.12'), 'a retired bridge forwarded a frame');

    assert.equal(await kernel.deleteRetiredBridges(), 1);
    assert.deepEqual(retired(l, host), []);
    for (const port of ['vnet1', 'vnet2']) assert.equal(links(l, host, 'dev', port)[0]!.master, undefined);
    assert.equal(await kernel.deleteRetiredBridges(), 0);
  });

  it("a link change while a batch of retired bridges is deleted waits for the kernel, not the daemon's event loop", async (t) => {
    const l = lab(t);
    const host = l.netns('h');
    const kernel = networkKernel(new SystemRunner({ netns: host }));
    const BATCH = 30;
    for (let i = 0; i < BATCH; i++) {
      await kernel.addBridge({ name: `vwold${i}`, delay: 0, stp: false });
      assert.equal(await kernel.retireBridge(`vwold${i}`, []), true);
    }
    // the event loop's longest pause while the batch goes (the kernel holds its rtnl lock
    // throughout, ~17 ms a bridge) and a new bridge is made and brought up meanwhile
    let last = performance.now();
    let longest = 0;
    const tick = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 2);
    t.after(() => clearInterval(tick));
    const t0 = performance.now();
    const deleted = kernel.deleteRetiredBridges();
    await new Promise((r) => setTimeout(r, 20));
    await kernel.addBridge({ name: 'vwnew', delay: 0, stp: false });
    await kernel.setUp('vwnew');
    assert.equal(await deleted, BATCH);
    const took = performance.now() - t0;
    clearInterval(tick);
    assert.ok(await kernel.linkExists('vwnew'));
    assert.deepEqual(retired(l, host), []);
    assert.ok(
      longest < Math.max(100, took / 3),
      `the event loop paused ${longest.toFixed(0)} ms of ${took.toFixed(0)} ms`,
    );
  });

  it('leaves links of the retired group that are not retired bridges', async (t) => {
    const l = lab(t);
    const host = l.netns('h');
    const kernel = networkKernel(new SystemRunner({ netns: host }));
    l.bridge(host, 'theirs');
    l.exec(host, ['ip', 'link', 'set', 'theirs', 'group', GROUP]);
    for (const name of ['vwbr1', 'vwbr2']) {
      await kernel.addBridge({ name, delay: 0, stp: false });
      assert.equal(await kernel.retireBridge(name, []), true);
    }
    assert.equal(await kernel.deleteRetiredBridges(), 2);
    assert.deepEqual(
      retired(l, host).map((x) => x.ifname),
      ['theirs'],
    );
    assert.equal(await kernel.retireBridge('vwbr1', []), false);
  });
});

describe('retired bridges (network driver)', { skip }, () => {
  it('net-destroy frees the name and removes addresses and routes at once; the bridge is deleted afterwards', async (t) => {
    const l = lab(t);
    const host = l.netns('h');
    const stateDir = mkdtempSync(join(tmpdir(), 'vwt-retire-'));
    const driver = testNetworkDriver(t, {
      runner: new SystemRunner({ netns: host }),
      stateDir,
      leaseHook: writeLeaseHookScript(stateDir),
    });
    t.after(() => rmSync(stateDir, { recursive: true, force: true }));
    const def = parseNetwork(`<network><name>vwr</name><forward mode='nat'/><bridge name='vwbr0' stp='off' delay='0'/>
<route address='10.77.0.0' prefix='16' gateway='192.168.100.2'/>
<ip address='192.168.100.1' prefix='24'><dhcp><range start='192.168.100.10' end='192.168.100.20'/></dhcp></ip>
<ip family='ipv6' address='2001:db8:100::1' prefix='64'/></network>`);
    const gone = () => {
      const addrs = addresses(l, host);
      for (const a of ['192.168.100.1', '2001:db8:100::1']) assert.ok(!addrs.includes(a), `${a} is still there`);
      const rs = routes(l, host);
      for (const r of ['192.168.100.0/24', '10.77.0.0/16', '2001:db8:100::/64']) assert.ok(!rs.includes(r), `${r}`);
    };
    await driver.start(def);
    assert.ok(routes(l, host).includes('10.77.0.0/16'), 'the static route was not added');
    await driver.stop('vwr');
    assert.equal(spawnSync('ip', ['netns', 'exec', host, 'ip', 'link', 'show', 'vwbr0']).status, 1, 'name not free');
    gone();
    // the same network again, at once: same name, same addresses
    await driver.start(def);
    assert.ok(addresses(l, host).includes('192.168.100.1'));
    assert.ok(links(l, host, 'dev', 'vwbr0')[0]!.flags.includes('UP'));
    await driver.stop('vwr');
    gone();
    await waitFor(() => retired(l, host).length === 0, { what: 'the retired bridges to be deleted' });
    await driver.settle();
    assert.deepEqual(retired(l, host), []);
  });
});
