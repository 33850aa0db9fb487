// The network driver's in-process kernel operations (rtnetlink, /proc/sys/net) on the real
// kernel, in a namespace this test creates, checked with iproute2's own listings: what they
// change lands in the runner's namespace and nowhere else.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SystemRunner } from '../../src/exec/runner.js';
import { networkKernel, type NetworkKernel } from '../../src/network/lifecycle/kernel.js';
import { parseIp, type IpAddress } from '../../src/util/address.js';
import { canUseNetns, NetnsLab } from '../support/netns.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';
const ip = (text: string): IpAddress => parseIp(text)!;

describe('network kernel operations over rtnetlink', { skip }, () => {
  let lab: NetnsLab;
  let ns: string;
  let kernel: NetworkKernel;
  const link = (name: string) => JSON.parse(lab.exec(ns, ['ip', '-d', '-j', 'link', 'show', 'dev', name]).stdout)[0];

  before(() => {
    lab = new NetnsLab();
    ns = lab.netns('k');
    kernel = networkKernel(new SystemRunner({ netns: ns }));
  });
  after(() => lab.cleanup());

  it('creates a bridge with its MAC, forwarding delay and STP, then its MTU, and brings it up', async () => {
    assert.equal(await kernel.linkExists('vnl0'), false);
    await kernel.addBridge({ name: 'vnl0', mac: '52:54:00:aa:bb:01', delay: 0, stp: false });
    await kernel.addBridge({ name: 'vnl1', delay: 4, stp: true });
    await kernel.setMtu('vnl0', 9000);
    await kernel.setUp('vnl0');
    assert.equal(await kernel.linkExists('vnl0'), true);
    const l0 = link('vnl0');
    assert.equal(l0.address, '52:54:00:aa:bb:01');
    assert.equal(l0.mtu, 9000);
    assert.ok(l0.flags.includes('UP'), JSON.stringify(l0.flags));
    assert.equal(l0.linkinfo.info_kind, 'bridge');
    assert.equal(l0.linkinfo.info_data.stp_state, 0);
    assert.equal(l0.linkinfo.info_data.forward_delay, 0);
    const l1 = link('vnl1');
    assert.equal(l1.linkinfo.info_data.stp_state, 1);
    assert.equal(l1.linkinfo.info_data.forward_delay, 400);
    assert.ok(!l1.flags.includes('UP'));
    // a bridge's MTU set after creation is kept as the user's when a port with a smaller one joins
    lab.exec(ns, ['ip', 'link', 'add', 'vnlp', 'mtu', '1400', 'type', 'veth', 'peer', 'name', 'vnlq']);
    lab.exec(ns, ['ip', 'link', 'set', 'vnlp', 'master', 'vnl0']);
    assert.equal(link('vnl0').mtu, 9000);
  });

  it('refuses a second bridge of the same name with the kernel error', async () => {
    await assert.rejects(
      kernel.addBridge({ name: 'vnl0', delay: 0, stp: false }),
      /creating bridge vnl0 failed: File exists/,
    );
  });

  it('adds addresses and routes; a route the kernel refuses is reported, not thrown', async () => {
    await kernel.addAddress('vnl0', ip('192.168.201.1'), 24);
    await kernel.addAddress('vnl0', ip('2001:db8:201::1'), 64);
    const addrs = JSON.parse(lab.exec(ns, ['ip', '-j', 'addr', 'show', 'dev', 'vnl0']).stdout)[0].addr_info.map(
      (a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`,
    );
    assert.ok(addrs.includes('192.168.201.1/24') && addrs.includes('2001:db8:201::1/64'), addrs.join(' '));
    assert.equal(
      await kernel.addRoute({
        dst: ip('10.201.0.0'),
        prefix: 16,
        gateway: ip('192.168.201.7'),
        dev: 'vnl0',
        metric: 9,
      }),
      undefined,
    );
    assert.match(
      lab.exec(ns, ['ip', 'route', 'show', '10.201.0.0/16']).stdout,
      /^10\.201\.0\.0\/16 via 192\.168\.201\.7 dev vnl0 metric 9/,
    );
    // the gateway is not on the link
    const failure = await kernel.addRoute({
      dst: ip('10.202.0.0'),
      prefix: 16,
      gateway: ip('172.31.0.1'),
      dev: 'vnl0',
    });
    assert.match(failure ?? '', /unreachable|gateway/i);
    await assert.rejects(kernel.addAddress('nosuch0', ip('192.168.9.1'), 24), /Cannot find device "nosuch0"/);
  });

  it("lists the main table's routes as `ip -j route` does, with the devices asked for", async () => {
    const routes = await kernel.routes((dst) => dst.endsWith('/24'));
    const expected = [
      ...JSON.parse(lab.exec(ns, ['ip', '-j', '-4', 'route', 'show']).stdout),
      ...JSON.parse(lab.exec(ns, ['ip', '-j', '-6', 'route', 'show']).stdout),
    ];
    assert.deepEqual(
      routes.map((r) => r.dst),
      expected.map((r: { dst: string }) => r.dst),
    );
    assert.deepEqual(
      routes.find((r) => r.dst === '192.168.201.0/24'),
      { dst: '192.168.201.0/24', dev: 'vnl0' },
    );
    assert.deepEqual(
      routes.find((r) => r.dst === '10.201.0.0/16'),
      { dst: '10.201.0.0/16' },
    );
  });

  it("writes /proc/sys/net in the runner's namespace only, and only a network's keys", async () => {
    const hostValue = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    const before = await kernel.readSysctl('net/ipv4/ip_forward');
    const other = before === '1' ? '0' : '1';
    await kernel.writeSysctl('net/ipv4/ip_forward', other);
    assert.equal(lab.exec(ns, ['sysctl', '-n', 'net.ipv4.ip_forward']).stdout.trim(), other);
    assert.equal(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8'), hostValue);
    await kernel.writeSysctl('net/ipv6/conf/vnl1/disable_ipv6', '1');
    assert.equal(lab.exec(ns, ['sysctl', '-n', 'net.ipv6.conf.vnl1.disable_ipv6']).stdout.trim(), '1');
    for (const key of [
      'kernel/hostname',
      'net/ipv6/conf/../../../kernel/hostname/disable_ipv6',
      'net/ipv4/conf/all/rp_filter',
    ]) {
      await assert.rejects(kernel.writeSysctl(key, '1'), /refusing to change sysctl/);
    }
    await assert.rejects(kernel.writeSysctl('net/ipv4/ip_forward', '1\nx'), /refusing to write/);
    await assert.rejects(
      kernel.writeSysctl('net/ipv6/conf/nosuch0/autoconf', '0'),
      /setting sysctl net\/ipv6\/conf\/nosuch0\/autoconf to 0 failed/,
    );
  });

  it('deletes links; one already gone is no error', async () => {
    await kernel.deleteLink('vnl1');
    await kernel.deleteLink('vnl1');
    assert.equal(await kernel.linkExists('vnl1'), false);
    assert.equal(lab.exec(ns, ['ip', 'link', 'show', 'dev', 'vnl1'], false).status, 1);
  });
});
