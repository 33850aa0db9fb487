// run-tests: alone (times the repair of zones and rules: within 1 s)
// virtwalld beside firewalld (nftables backend, Debian defaults: default zone public), both
// confined to a namespace this test creates: bridges go to libvirt's zones (installed over
// D-Bus when firewalld lacks them), guests get DHCP and reach an upstream peer through NAT and
// routing, and still do after `firewall-cmd --reload` and after firewalld is stopped and started
// (zones back within 1 s of firewalld answering). <bridge zone> works and fails as libvirt's.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canUseNetns } from '../support/netns.js';
import { dhcp, peerSeenAs, peerServer } from '../support/guest.js';
import { BUS_ADDRESS, FirewalldLab } from '../support/firewalld-lab.js';
import { cli, daemonFixture, startDaemon, stopAll, waitForLog } from '../daemon/process.js';
import { waitFor } from '../../src/util/wait-for.js';

const installed = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const hasFirewalld = canUseNetns() && installed('firewalld') && installed('dbus-daemon');
const skip = hasFirewalld ? false : 'needs root, ip netns, firewalld and dbus-daemon';

const UP_HOST = '198.51.100.1';
const UP_PEER = '198.51.100.2';
const PORT = 7002;

const network = (name: string, bridge: string, net: string, mode: string, zone?: string) => `<network>
  <name>${name}</name>
  <forward mode='${mode}'/>
  <bridge name='${bridge}' stp='off'${zone ? ` zone='${zone}'` : ''}/>
  <ip address='${net}.1' netmask='255.255.255.0'>
    <dhcp><range start='${net}.10' end='${net}.20'/></dhcp>
  </ip>
</network>`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('virtwalld with firewalld', { skip }, () => {
  after(() => stopAll());

  for (const backend of ['nftables', 'iptables'] as const) {
    it(`puts bridges in libvirt's zones and keeps NAT and routed guests working (${backend})`, async (t) => {
      const { lab, ns, root, file } = daemonFixture(t, 'h');
      const up = lab.netns('u');
      const g1 = lab.netns('g1');
      const g2 = lab.netns('g2');
      lab.veth(ns, 'up0', up, 'eth0');
      lab.exec(ns, ['ip', 'addr', 'add', `${UP_HOST}/24`, 'dev', 'up0']);
      lab.exec(up, ['ip', 'addr', 'add', `${UP_PEER}/24`, 'dev', 'eth0']);
      // the routed network's subnet is reached through the host
      lab.exec(up, ['ip', 'route', 'add', '192.168.121.0/24', 'via', UP_HOST]);
      await peerServer(lab, up, UP_PEER, PORT);
      const fwd = new FirewalldLab(lab, ns);
      await fwd.start(t);
      assert.equal(fwd.firewallCmd('--get-default-zone'), 'public');
      assert.doesNotMatch(
        fwd.firewallCmd('--get-zones'),
        /libvirt/,
        'this firewalld already had libvirt zones: the install is not tested',
      );
      mkdirSync(join(root, 'etc/virtwall'), { recursive: true });
      writeFileSync(
        join(root, 'etc/virtwall/virtwall.conf'),
        `network_firewall_backend = "${backend}"\nlog_level = 1\n`,
      );
      const d = await startDaemon(ns, root, { DBUS_SYSTEM_BUS_ADDRESS: BUS_ADDRESS }, fwd.enter);

      const create = (name: string, xml: string) => cli(root, ['net-create', file(`${name}.xml`, xml)]);
      assert.equal(create('natnet', network('natnet', 'vwnat0', '192.168.120', 'nat')).status, 0);
      assert.equal(create('routed', network('routed', 'vwrt0', '192.168.121', 'route')).status, 0);
      // libvirt's zones and policies were added to firewalld's permanent configuration
      assert.match(fwd.firewallCmd('--get-zones'), /\blibvirt\b.*\blibvirt-routed\b/);
      assert.deepEqual(
        fwd
          .firewallCmd('--get-policies')
          .split(/\s+/)
          .filter((p) => p.startsWith('libvirt'))
          .sort(),
        ['libvirt-routed-in', 'libvirt-routed-out', 'libvirt-to-host'],
      );
      assert.match(
        fwd.firewallCmd('--permanent', '--zone=libvirt', '--list-all'),
        /target: ACCEPT[\s\S]*services: dhcp dhcpv6 dns ssh tftp[\s\S]*protocols: icmp ipv6-icmp[\s\S]*rule priority="32767" reject/,
      );
      const zones = () => [
        fwd.firewallCmd('--get-zone-of-interface=vwnat0'),
        fwd.firewallCmd('--get-zone-of-interface=vwrt0'),
      ];
      assert.deepEqual(zones(), ['libvirt', 'libvirt-routed']);
      // firewalld's own table sends each bridge's input to its zone's chain (polled: firewall-cmd is slow)
      const zonesInKernel = () => {
        const chain = lab.exec(ns, ['nft', 'list', 'chain', 'inet', 'firewalld', 'filter_INPUT_ZONES'], false).stdout;
        return (
          /iifname "vwnat0" goto filter_IN_libvirt\b/.test(chain) &&
          /iifname "vwrt0" goto filter_IN_libvirt-routed\b/.test(chain)
        );
      };
      assert.ok(
        zonesInKernel(),
        lab.exec(ns, ['nft', 'list', 'chain', 'inet', 'firewalld', 'filter_INPUT_ZONES'], false).stdout,
      );

      lab.veth(ns, 'vnet1', g1, 'eth0', { bridge: 'vwnat0' });
      lab.veth(ns, 'vnet2', g2, 'eth0', { bridge: 'vwrt0' });
      assert.ok(dhcp(lab, g1, 'eth0').ok, 'NAT guest got no lease');
      assert.ok(dhcp(lab, g2, 'eth0').ok, 'routed guest got no lease');
      const g2addr = lab.exec(g2, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']).stdout.match(/inet ([\d.]+)/)![1];
      const traffic = (when: string) => {
        assert.equal(peerSeenAs(lab, g1, UP_PEER, PORT), UP_HOST, `NAT guest to upstream ${when}`);
        assert.equal(peerSeenAs(lab, g2, UP_PEER, PORT), g2addr, `routed guest to upstream ${when}\n${d.log()}`);
      };
      traffic('at start');

      // a reload drops runtime zone assignments and flushes iptables-nft chains
      fwd.firewallCmd('--reload');
      const t0 = Date.now();
      await waitFor(zonesInKernel, {
        what: 'the zones back after the reload',
        timeout: 3000,
        interval: 10,
        detail: () => d.log(),
      });
      const took = Date.now() - t0;
      assert.deepEqual(zones(), ['libvirt', 'libvirt-routed'], `after reload\n${d.log()}`);
      assert.ok(took < 1000, `zones back after ${took} ms`);
      await waitForLog(d, /firewalld Reloaded/);
      // the network's rules the reload flushed come back with the zones' repair
      await sleep(300);
      traffic('after firewall-cmd --reload');

      await fwd.stopFirewalld();
      await fwd.startFirewalld();
      const t1 = Date.now();
      await waitFor(zonesInKernel, {
        what: 'the zones back after the restart',
        timeout: 3000,
        interval: 10,
        detail: () => d.log(),
      });
      const took1 = Date.now() - t1;
      assert.deepEqual(zones(), ['libvirt', 'libvirt-routed'], `after restart\n${d.log()}`);
      assert.ok(took1 < 1000, `zones back ${took1} ms after firewalld answered`);
      assert.match(await waitForLog(d, /firewalld zone restored/), /firewalld zone restored/);
      await sleep(300);
      traffic('after firewalld stop and start');

      // net-destroy takes the bridge out of its zone
      assert.equal(cli(root, ['net-destroy', 'natnet']).status, 0);
      const gone = fwd.exec(['firewall-cmd', '--get-zone-of-interface=vwnat0'], false);
      assert.equal(gone.stdout + gone.stderr.trim(), 'no zone');
    });
  }

  for (const nwfilter of ['ebiptables', 'nftables'] as const) {
    it(`restores nwfilter rules (${nwfilter}) after firewalld reloads and restarts`, async (t) => {
      const { lab, ns, root, file } = daemonFixture(t, 'n');
      const fwd = new FirewalldLab(lab, ns);
      await fwd.start(t);
      mkdirSync(join(root, 'etc/virtwall'), { recursive: true });
      writeFileSync(join(root, 'etc/virtwall/virtwall.conf'), `nwfilter_backend = "${nwfilter}"\n`);
      const d = await startDaemon(ns, root, { DBUS_SYSTEM_BUS_ADDRESS: BUS_ADDRESS }, fwd.enter);
      lab.exec(ns, ['ip', 'link', 'add', 'vnet0', 'type', 'veth', 'peer', 'name', 'g-vnet0']);
      const binding =
        "<filterbinding><owner><name>g</name><uuid>11111111-2222-3333-4444-555555555550</uuid></owner><portdev name='vnet0'/><mac address='52:54:00:00:00:01'/><filterref filter='clean-traffic'><parameter name='IP' value='10.0.0.1'/></filterref></filterbinding>";
      assert.equal(cli(root, ['nwfilter-binding-create', file('b.xml', binding)]).status, 0);
      const listings = () =>
        nwfilter === 'ebiptables'
          ? ['ebtables-save', 'iptables-save', 'ip6tables-save']
              .map((c) =>
                lab
                  .exec(ns, [c])
                  .stdout.replace(/^#.*\n/gm, '')
                  .replace(/\[\d+:\d+\]/g, ''),
              )
              .join('')
          : lab.exec(ns, ['nft', 'list', 'table', 'bridge', 'virtwall_nwf'], false).stdout;
      await sleep(500);
      const applied = listings();
      assert.match(applied, nwfilter === 'ebiptables' ? /vnet0/ : /table bridge virtwall_nwf/);
      const repairs = () =>
        d
          .log()
          .split('\n')
          .filter((l) => /"msg":"nwfilter reconcile"/.test(l) && /"repaired":\["vnet0"\]/.test(l)).length;
      for (const [what, act] of [
        ['firewall-cmd --reload', async () => void fwd.firewallCmd('--reload')],
        [
          'firewalld stop and start',
          async () => {
            await fwd.stopFirewalld();
            await fwd.startFirewalld();
          },
        ],
      ] as const) {
        const before = repairs();
        await act();
        const t0 = Date.now();
        await waitFor(() => listings() === applied, {
          what: `the rules restored after ${what}`,
          timeout: 3000,
          interval: 20,
          detail: () => d.log(),
        });
        const took = Date.now() - t0;
        assert.ok(took < 1000, `${what}: restored after ${took} ms`);
        // firewalld deletes ebtables-nft and iptables-nft chains it did not create; separate nft tables survive
        if (nwfilter === 'ebiptables') {
          await waitFor(() => repairs() > before, {
            what: `a reconcile that repaired what ${what} damaged`,
            timeout: 2000,
            detail: () => d.log(),
          });
        }
      }
    });
  }

  it('leaves alone a firewalld on the bus that rules another network namespace', async (t) => {
    const { lab, ns, root, file } = daemonFixture(t, 'o');
    const fwd = new FirewalldLab(lab, lab.netns('fw'));
    await fwd.start(t);
    // the daemon shares the bus (the private mounts) but not firewalld's network namespace
    await startDaemon(ns, root, { DBUS_SYSTEM_BUS_ADDRESS: BUS_ADDRESS }, fwd.enterOtherNetwork(ns));
    assert.equal(cli(root, ['net-create', file('o.xml', network('o', 'vwo0', '192.168.131', 'nat'))]).status, 0);
    assert.equal(
      lab.exec(ns, ['ip', 'link', 'show', 'vwo0'], false).status,
      0,
      "the network runs in the daemon's namespace",
    );
    assert.doesNotMatch(
      fwd.firewallCmd('--get-zones'),
      /libvirt/,
      "zones were added to the other namespace's firewalld",
    );
    assert.doesNotMatch(fwd.firewallCmd('--get-active-zones'), /vwo0/);
    const zoned = cli(root, ['net-create', file('p.xml', network('p', 'vwp0', '192.168.132', 'nat', 'public'))]);
    assert.match(zoned.stderr, /zone public requested for network p but firewalld is not active/);
  });

  it('<bridge zone> is honoured, refused for an unknown zone and while firewalld is down', async (t) => {
    const { lab, ns, root, file } = daemonFixture(t, 'z');
    const fwd = new FirewalldLab(lab, ns);
    await fwd.start(t);
    await startDaemon(ns, root, { DBUS_SYSTEM_BUS_ADDRESS: BUS_ADDRESS }, fwd.enter);
    const create = (name: string, zone: string) =>
      cli(root, ['net-create', file(`${name}.xml`, network(name, `vw${name}`, '192.168.130', 'nat', zone))]);

    assert.equal(create('pub', 'public').status, 0);
    assert.equal(fwd.firewallCmd('--get-zone-of-interface=vwpub'), 'public');
    assert.equal(cli(root, ['net-destroy', 'pub']).status, 0);

    const bad = create('bad', 'nosuchzone');
    assert.notEqual(bad.status, 0);
    assert.match(
      bad.stderr,
      /error from service: GDBus\.Error:org\.fedoraproject\.FirewallD1\.Exception: INVALID_ZONE: nosuchzone/,
    );
    assert.notEqual(lab.exec(ns, ['ip', 'link', 'show', 'vwbad'], false).status, 0, 'a refused start left its bridge');

    // a zone name outside libvirt's zoneName pattern never reaches firewalld
    const hostile = create('hostile', 'pub lic');
    assert.equal(hostile.status, 1, hostile.stderr);
    assert.match(hostile.stderr, /bridge.*zone.*invalid firewalld zone 'pub lic'/);
    assert.notEqual(lab.exec(ns, ['ip', 'link', 'show', 'vwhostile'], false).status, 0);

    await fwd.stopFirewalld();
    const down = create('down', 'libvirt');
    assert.notEqual(down.status, 0);
    assert.match(down.stderr, /zone libvirt requested for network down but firewalld is not active/);
    assert.notEqual(lab.exec(ns, ['ip', 'link', 'show', 'vwdown'], false).status, 0);
  });
});
