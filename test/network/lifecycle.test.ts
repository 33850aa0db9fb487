// Virtual networks on a real kernel, in namespaces this test creates: a host namespace runs the
// network (bridge, firewall, dnsmasq), guest namespaces join its bridge by veth and use a real
// DHCP client, an upstream namespace plays the outside world routed through the host. Every
// scenario runs for both firewall backends.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNetwork } from '../../src/conf/network/parse.js';
import { DiagnosticList, VirtwallError } from '../../src/errors.js';
import { SystemRunner } from '../../src/exec/runner.js';
import { parseDnsmasqVersion } from '../../src/network/dnsmasq/config.js';
import { NetworkDriver } from '../../src/network/lifecycle/driver.js';
import { writeLeaseHookScript } from '../../src/network/lifecycle/lease-hook.js';
import type { FirewallBackendName } from '../../src/network/firewall/plan.js';
import { canUseNetns, NetnsLab } from '../support/netns.js';
import { dhcp, peerSeenAs, peerServer, snapshot } from '../support/guest.js';
import { spawnSync } from 'node:child_process';
import { waitFor } from '../../src/util/wait-for.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';
const caps = parseDnsmasqVersion(spawnSync('dnsmasq', ['--version'], { encoding: 'utf8' }).stdout ?? '');

const UP_HOST = '198.51.100.1';
const UP_PEER = '198.51.100.2';
const UP6_HOST = '2001:db8:ff::1';
const UP6_PEER = '2001:db8:ff::2';

function networkXml(mode: 'nat' | 'route' | 'isolated' | 'open', opts: { v6?: boolean; natV6?: boolean } = {}): string {
  const forward =
    mode === 'isolated'
      ? ''
      : mode === 'nat'
        ? `<forward mode='nat'>${opts.natV6 ? "<nat ipv6='yes'/>" : ''}</forward>`
        : `<forward mode='${mode}'/>`;
  const v6 = opts.v6
    ? `<ip family='ipv6' address='2001:db8:100::1' prefix='64'><dhcp><range start='2001:db8:100::10' end='2001:db8:100::20'/></dhcp></ip>`
    : '';
  return `<network>
  <name>vw${mode}</name>
  ${forward}
  <bridge name='vwbr0' stp='off'/>
  <domain name='lab'/>
  <dns><host ip='192.168.100.50'><hostname>svc</hostname></host></dns>
  <ip address='192.168.100.1' netmask='255.255.255.0'>
    <dhcp><range start='192.168.100.10' end='192.168.100.20'/></dhcp>
  </ip>
  ${v6}
</network>`;
}

interface Rig {
  lab: NetnsLab;
  host: string;
  up: string;
  g1: string;
  g2: string;
  driver: NetworkDriver;
  stateDir: string;
  baseline: string;
}

function makeRig(backend: FirewallBackendName): Rig {
  const lab = new NetnsLab();
  const host = lab.netns('h');
  const up = lab.netns('u');
  const g1 = lab.netns('g1');
  const g2 = lab.netns('g2');
  // upstream link, routed through the host namespace
  lab.veth(host, 'up0', up, 'eth0');
  lab.exec(host, ['ip', 'addr', 'add', `${UP_HOST}/24`, 'dev', 'up0']);
  lab.exec(host, ['ip', '-6', 'addr', 'add', `${UP6_HOST}/64`, 'dev', 'up0', 'nodad']);
  lab.exec(up, ['ip', 'addr', 'add', `${UP_PEER}/24`, 'dev', 'eth0']);
  lab.exec(up, ['ip', '-6', 'addr', 'add', `${UP6_PEER}/64`, 'dev', 'eth0', 'nodad']);
  // guests: host ends play the TAP devices, joined to the bridge once the network runs
  lab.veth(host, 'vnet1', g1, 'eth0', { mac: '52:54:00:00:00:11' });
  lab.veth(host, 'vnet2', g2, 'eth0', { mac: '52:54:00:00:00:22' });
  for (const g of [g1, g2]) lab.exec(g, ['sysctl', '-q', '-w', 'net.ipv6.conf.eth0.accept_dad=0']);
  const stateDir = mkdtempSync(join(tmpdir(), 'vwt-net-'));
  const driver = new NetworkDriver({
    runner: new SystemRunner({ netns: host }),
    stateDir,
    firewallBackend: backend,
    leaseHook: writeLeaseHookScript(stateDir),
    dnsmasqCaps: async () => caps,
    diag: new DiagnosticList(),
  });
  return { lab, host, up, g1, g2, driver, stateDir, baseline: snapshot(lab, host) };
}

/**
 * Guests join the running network and bring their NIC up, as a guest booting on it does (it
 * then solicits a router advertisement: the bridge's IPv6 addresses may still have been
 * tentative when dnsmasq sent its first ones, the start does not wait for DAD).
 */
function attach(rig: Rig): void {
  for (const port of ['vnet1', 'vnet2']) rig.lab.exec(rig.host, ['ip', 'link', 'set', port, 'master', 'vwbr0']);
  for (const g of [rig.g1, rig.g2]) {
    rig.lab.exec(g, ['ip', 'link', 'set', 'eth0', 'down']);
    rig.lab.exec(g, ['ip', 'link', 'set', 'eth0', 'up']);
  }
}

function lease(rig: Rig, g: string): string {
  const r = dhcp(rig.lab, g, 'eth0');
  assert.ok(r.ok, `DHCP failed in ${g}: ${r.output}`);
  const addr = /inet (192\.168\.100\.\d+)\//.exec(rig.lab.exec(g, ['ip', '-4', 'addr', 'show', 'eth0']).stdout)?.[1];
  assert.ok(addr, 'no address after DHCP');
  return addr;
}

function assertResolves(rig: Rig, g: string, name: string, expected: string): void {
  const r = rig.lab.exec(g, ['dig', '+time=2', '+tries=2', '@192.168.100.1', name], false);
  const answer = /^\S+\s+\d+\s+IN\s+A\s+(\S+)$/m.exec(r.stdout)?.[1];
  assert.equal(answer, expected, `dig ${name}: ${r.stdout}${r.stderr}`);
}

async function stopAndCheck(rig: Rig, name: string): Promise<void> {
  await rig.driver.stop(name);
  // guests detached by the bridge's deletion, which follows the stop: the host namespace is as before the start
  await rig.driver.settle();
  assert.equal(snapshot(rig.lab, rig.host), rig.baseline);
}

for (const backend of ['nftables', 'iptables'] as FirewallBackendName[]) {
  describe(`network lifecycle (${backend})`, { skip, concurrency: false }, () => {
    let rig: Rig;
    before(() => {
      rig = makeRig(backend);
    });
    after(() => {
      rig.lab.cleanup();
      rmSync(rig.stateDir, { recursive: true, force: true });
    });

    it('nat: DHCP lease, DNS from <dns><host>, upstream sees the host address, upstream cannot connect in', async () => {
      const def = parseNetwork(networkXml('nat', { v6: true, natV6: true }));
      await rig.driver.start(def);
      try {
        attach(rig);
        const a = lease(rig, rig.g1);
        assertResolves(rig, rig.g1, 'svc.lab', '192.168.100.50');
        // dnsmasq reports the lease through its script, shortly after the ACK
        const seen = await waitFor(() => rig.driver.leases('vwnat').find((l) => l.ipAddress === a), {
          what: `the lease of ${a}`,
          timeout: 10_000,
        });
        assert.equal(seen.mac, '52:54:00:00:00:11');
        assert.equal(seen.prefix, 24);
        assert.equal(seen.type, 'ipv4');
        assert.ok(seen.expiryTime > Date.now() / 1000);
        await peerServer(rig.lab, rig.up, UP_PEER, 8080);
        assert.equal(peerSeenAs(rig.lab, rig.g1, UP_PEER, 8080), UP_HOST, 'masquerade: upstream sees the host');
        // upstream knows the way in, yet the firewall admits only replies
        rig.lab.exec(rig.up, ['ip', 'route', 'add', '192.168.100.0/24', 'via', UP_HOST]);
        await peerServer(rig.lab, rig.g1, a, 9090);
        assert.equal(peerSeenAs(rig.lab, rig.up, a, 9090), undefined, 'upstream must not connect to a NATed guest');
        // IPv6: DHCPv6 lease, masqueraded (nat ipv6='yes')
        assert.ok(dhcp(rig.lab, rig.g1, 'eth0', true).ok, 'DHCPv6');
        rig.lab.exec(rig.g1, ['ip', '-6', 'route', 'replace', 'default', 'via', '2001:db8:100::1']);
        await peerServer(rig.lab, rig.up, UP6_PEER, 8081);
        assert.equal(peerSeenAs(rig.lab, rig.g1, UP6_PEER, 8081), UP6_HOST);
        rig.lab.exec(rig.up, ['ip', 'route', 'del', '192.168.100.0/24']);
      } finally {
        await stopAndCheck(rig, 'vwnat');
      }
    });

    it('route: upstream sees the guest address and can reach the guest, over IPv4 and IPv6', async () => {
      await rig.driver.start(parseNetwork(networkXml('route', { v6: true })));
      try {
        attach(rig);
        const a = lease(rig, rig.g2);
        rig.lab.exec(rig.up, ['ip', 'route', 'add', '192.168.100.0/24', 'via', UP_HOST]);
        rig.lab.exec(rig.up, ['ip', '-6', 'route', 'add', '2001:db8:100::/64', 'via', UP6_HOST]);
        await peerServer(rig.lab, rig.up, UP_PEER, 8082);
        assert.equal(peerSeenAs(rig.lab, rig.g2, UP_PEER, 8082), a, 'no masquerade on a routed network');
        await peerServer(rig.lab, rig.g2, a, 9091);
        assert.equal(peerSeenAs(rig.lab, rig.up, a, 9091), UP_PEER);
        assert.ok(dhcp(rig.lab, rig.g2, 'eth0', true).ok, 'DHCPv6');
        const a6 = /inet6 (2001:db8:100::[0-9a-f]+)\//.exec(
          rig.lab.exec(rig.g2, ['ip', '-6', 'addr', 'show', 'eth0']).stdout,
        )?.[1];
        assert.ok(a6, 'no DHCPv6 address');
        // DHCPv6 gives a /128; the subnet is on-link from dnsmasq's router advertisement, which
        // comes once the bridge's address has left its tentative state (the start does not wait)
        await waitFor(() => rig.lab.exec(rig.g2, ['ip', '-6', 'route', 'show', '2001:db8:100::/64']).stdout.trim(), {
          what: "the guest's route to 2001:db8:100::/64 from router advertisements",
          timeout: 15_000,
        });
        rig.lab.exec(rig.g2, ['ip', '-6', 'route', 'replace', 'default', 'via', '2001:db8:100::1']);
        await peerServer(rig.lab, rig.up, UP6_PEER, 8083);
        assert.equal(peerSeenAs(rig.lab, rig.g2, UP6_PEER, 8083), a6);
      } finally {
        // the upstream's routes go also when the test failed: the next test adds its own
        rig.lab.exec(rig.up, ['ip', 'route', 'del', '192.168.100.0/24'], false);
        rig.lab.exec(rig.up, ['ip', '-6', 'route', 'del', '2001:db8:100::/64'], false);
        await stopAndCheck(rig, 'vwroute');
      }
    });

    it("isolated: guests reach each other and the host's DHCP/DNS, nothing beyond", async () => {
      await rig.driver.start(parseNetwork(networkXml('isolated')));
      try {
        attach(rig);
        const a = lease(rig, rig.g1);
        const b = lease(rig, rig.g2);
        assertResolves(rig, rig.g2, 'svc.lab', '192.168.100.50');
        assert.equal(rig.lab.exec(rig.g1, ['ping', '-c1', '-W2', b], false).status, 0, 'guest to guest');
        // routes both ways and IP forwarding on: only the firewall keeps traffic in
        rig.lab.exec(rig.g1, ['ip', 'route', 'replace', 'default', 'via', '192.168.100.1']);
        rig.lab.exec(rig.up, ['ip', 'route', 'add', '192.168.100.0/24', 'via', UP_HOST]);
        rig.lab.exec(rig.host, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
        try {
          assert.notEqual(
            rig.lab.exec(rig.g1, ['ping', '-c1', '-W2', UP_PEER], false).status,
            0,
            'isolated guest reached upstream',
          );
          assert.notEqual(
            rig.lab.exec(rig.up, ['ping', '-c1', '-W2', a], false).status,
            0,
            'upstream reached isolated guest',
          );
        } finally {
          rig.lab.exec(rig.host, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0']);
          rig.lab.exec(rig.up, ['ip', 'route', 'del', '192.168.100.0/24']);
        }
      } finally {
        await stopAndCheck(rig, 'vwisolated');
      }
    });

    it('open: no firewall rule of ours at all', async () => {
      const rules = () => snapshot(rig.lab, rig.host).split('\n----\n').slice(4, 7).join('\n');
      const before = rules();
      await rig.driver.start(parseNetwork(networkXml('open')));
      try {
        assert.equal(rules(), before);
      } finally {
        await stopAndCheck(rig, 'vwopen');
      }
    });

    it('a failing step rolls back every step before it', async () => {
      // dnsmasq refuses the option, after bridge, firewall, addresses and routes are in place
      const xml = networkXml('nat')
        .replace('<network>', "<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>")
        .replace(
          '</network>',
          "<dnsmasq:options><dnsmasq:option value='no-such-dnsmasq-option'/></dnsmasq:options></network>",
        );
      await assert.rejects(rig.driver.start(parseNetwork(xml)), /dnsmasq/);
      assert.equal(snapshot(rig.lab, rig.host), rig.baseline);
      assert.deepEqual(rig.driver.active(), []);
    });

    it('stops exactly after a daemon restart with the other firewall backend configured', async () => {
      await rig.driver.start(parseNetwork(networkXml('nat')));
      const other: FirewallBackendName = backend === 'nftables' ? 'iptables' : 'nftables';
      const restarted = new NetworkDriver({
        runner: new SystemRunner({ netns: rig.host }),
        stateDir: rig.stateDir,
        firewallBackend: other,
        dnsmasqCaps: async () => caps,
        diag: new DiagnosticList(),
      });
      assert.deepEqual(
        restarted.active().map((s) => s.name),
        ['vwnat'],
      );
      await restarted.stop('vwnat');
      await restarted.settle();
      assert.equal(snapshot(rig.lab, rig.host), rig.baseline);
    });

    it('refuses bad starts with clear errors and leaves nothing behind', async () => {
      const refused = async (xml: string, pattern: RegExp) => {
        await assert.rejects(
          rig.driver.start(parseNetwork(xml)),
          (err: unknown) => err instanceof VirtwallError && pattern.test(err.message),
        );
      };
      // a bridge name in use
      rig.lab.exec(rig.host, ['ip', 'link', 'add', 'vwbr0', 'type', 'bridge']);
      await refused(networkXml('nat'), /bridge name 'vwbr0' already in use/);
      rig.lab.exec(rig.host, ['ip', 'link', 'del', 'vwbr0']);
      assert.equal(snapshot(rig.lab, rig.host), rig.baseline);
      // a forward device that does not exist
      await refused(
        networkXml('nat').replace("<forward mode='nat'>", "<forward mode='nat' dev='nosuch0'>"),
        /forward device 'nosuch0'/,
      );
      // a subnet the host already routes elsewhere
      await refused(
        networkXml('nat')
          .replace(/192\.168\.100\./g, '198.51.100.')
          .replace("198.51.100.1'", "198.51.100.7'"),
        /already in use by interface up0/,
      );
      // overlapping a running network
      await rig.driver.start(parseNetwork(networkXml('isolated')));
      try {
        await refused(networkXml('nat').replace('vwbr0', 'vwbr1').replace('<name>vwnat', '<name>other'), /overlaps/);
      } finally {
        await rig.driver.stop('vwisolated');
      }
      await rig.driver.settle();
      assert.equal(snapshot(rig.lab, rig.host), rig.baseline);
    });
  });
}

// An IPv6 network on a bridge with STP (libvirt's default) has no carrier until a port
// forwards, so its address stays tentative: the start must not wait for duplicate address
// detection (libvirt 11 does not), and dnsmasq (bind-dynamic) binds the address once DAD ends.
describe('IPv6 networks, STP on and off', { skip, concurrency: false }, () => {
  let rig: Rig;
  before(() => {
    rig = makeRig('nftables');
  });
  after(() => {
    rig.lab.cleanup();
    rmSync(rig.stateDir, { recursive: true, force: true });
  });

  const v6Xml = (stp: 'on' | 'off') => `<network>
  <name>vw6</name>
  <bridge name='vwbr0' stp='${stp}'/>
  <mac address='52:54:00:66:00:01'/>
  <dns><host ip='2001:db8:100::50'><hostname>svc6</hostname></host></dns>
  <ip family='ipv6' address='2001:db8:100::1' prefix='64'>
    <dhcp><range start='2001:db8:100::10' end='2001:db8:100::20'/></dhcp>
  </ip>
</network>`;

  const resolves6 = (g: string) => {
    const r = rig.lab.exec(g, ['dig', '+time=1', '+tries=1', '@2001:db8:100::1', 'AAAA', 'svc6'], false);
    return /^\S+\s+\d+\s+IN\s+AAAA\s+2001:db8:100::50$/m.test(r.stdout);
  };

  for (const stp of ['on', 'off'] as const) {
    it(`STP ${stp}: starts at once without ports; a guest joining later gets DHCPv6 and DNS over IPv6`, async () => {
      const t0 = Date.now();
      const status = await rig.driver.start(parseNetwork(v6Xml(stp)));
      try {
        assert.ok(Date.now() - t0 < 3000, `start took ${Date.now() - t0} ms`);
        assert.equal(
          rig.lab.exec(rig.host, ['cat', '/sys/class/net/vwbr0/bridge/stp_state']).stdout.trim(),
          stp === 'on' ? '1' : '0',
        );
        assert.ok(status.dnsmasqPid && rig.lab.pids(rig.host).includes(String(status.dnsmasqPid)), 'dnsmasq runs');
        attach(rig);
        // STP: the port forwards after listening and learning; then DAD; then dnsmasq binds
        await waitFor(() => resolves6(rig.g1), { what: 'DNS over IPv6', timeout: 20_000 });
        assert.ok(dhcp(rig.lab, rig.g2, 'eth0', true).ok, 'DHCPv6');
        assert.match(
          rig.lab.exec(rig.g2, ['ip', '-6', 'addr', 'show', 'eth0']).stdout,
          /inet6 2001:db8:100::(1[0-9a-f]|20)\//,
        );
      } finally {
        await stopAndCheck(rig, 'vw6');
      }
    });
  }
});
