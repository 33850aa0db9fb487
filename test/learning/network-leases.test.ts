// The 'dnsmasq-leases' mechanism on a real kernel: a virtwall network (NetworkDriver, its own
// dnsmasq and lease hook) in a host namespace, a guest on a filtered port of its bridge. No
// capture runs: the learner follows the lease records the hook writes, and its callback puts
// the port's filter in place through each nwfilter backend.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EbiptablesBackend } from '../../src/backends/ebiptables/backend.js';
import { NftablesBackend } from '../../src/backends/nftables/backend.js';
import { parseNetwork } from '../../src/conf/network/parse.js';
import { parseFilter } from '../../src/conf/nwfilter/parse.js';
import { SystemRunner } from '../../src/exec/runner.js';
import { watchLeases } from '../../src/learning/lease-watch.js';
import { LearningManager } from '../../src/learning/manager.js';
import { learningPortOf, portFilterFor } from '../../src/learning/port-filter.js';
import { writeLeaseHookScript } from '../../src/network/lifecycle/lease-hook.js';
import type { FilterBinding } from '../../src/nwfilter/binding.js';
import { MapFilterSource } from '../../src/nwfilter/source.js';
import { waitFor } from '../../src/util/wait-for.js';
import { dhcp, peerServer } from '../support/guest.js';
import { canUseNetns, NetnsLab } from '../support/netns.js';
import { testNetworkDriver } from '../support/network-driver.js';

const skip = canUseNetns() ? false : 'needs root and network namespaces';
const MAC = '52:54:00:00:00:31';

const NETWORK = `<network>
  <name>vwlearn</name>
  <bridge name='vwlbr0' stp='off'/>
  <ip address='192.168.150.1' netmask='255.255.255.0'>
    <dhcp><range start='192.168.150.10' end='192.168.150.20'/></dhcp>
  </ip>
  <ip family='ipv6' address='fd50::1' prefix='64'>
    <dhcp><range start='fd50::10' end='fd50::20'/></dhcp>
  </ip>
</network>`;

// Only the leased addresses may be sources (one 'return' per address, then drop), DHCP and
// neighbour discovery allowed so leases can be had and renewed.
const FILTERS = new MapFilterSource(
  [
    `<filter name='vw-lease4' chain='ipv4'>
       <rule action='accept' direction='out' priority='100'><ip protocol='udp' srcportstart='68' dstportstart='67'/></rule>
       <rule action='return' direction='out'><ip srcipaddr='$IP'/></rule>
       <rule action='drop' direction='out' priority='1000'/>
     </filter>`,
    `<filter name='vw-lease6' chain='ipv6'>
       <rule action='accept' direction='out' priority='100'><ipv6 protocol='udp' srcportstart='546' dstportstart='547'/></rule>
       <rule action='accept' direction='out' priority='100'><ipv6 protocol='icmpv6'/></rule>
       <rule action='return' direction='out'><ipv6 srcipaddr='$IPV6'/></rule>
       <rule action='drop' direction='out' priority='1000'/>
     </filter>`,
    `<filter name='vw-lease'><filterref filter='vw-lease4'/><filterref filter='vw-lease6'/></filter>`,
  ].map((x) => parseFilter(x)),
);

const PROBE = `
import socket, sys
fam = socket.AF_INET6 if ':' in sys.argv[2] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(2)
try:
    s.bind((sys.argv[1], 0))
    s.connect((sys.argv[2], int(sys.argv[3])))
    print(s.recv(200).decode().strip())
except Exception as e:
    print('FAIL ' + type(e).__name__)
    sys.exit(1)
`;

for (const backendName of ['ebiptables', 'nftables'] as const) {
  describe(`IP learning from our dnsmasq's leases (${backendName})`, { skip, concurrency: false }, () => {
    it('dhcp: the leased IPv4 and IPv6 addresses become the port addresses, others are dropped, no capture', async (t) => {
      const lab = new NetnsLab();
      const stateDir = mkdtempSync(join(tmpdir(), 'vwt-learn-net-'));
      t.after(() => {
        lab.cleanup();
        rmSync(stateDir, { recursive: true, force: true });
      });
      const host = lab.netns('h');
      const g = lab.netns('g');
      for (const ns of [host, g])
        lab.exec(ns, ['sysctl', '-qw', 'net.ipv6.conf.default.accept_dad=0', 'net.ipv6.conf.all.accept_dad=0']);
      lab.veth(host, 'vnet7', g, 'eth0', { mac: MAC });
      const runner = new SystemRunner({ netns: host });
      const driver = testNetworkDriver(t, { runner, stateDir, leaseHook: writeLeaseHookScript(stateDir) });
      await driver.start(parseNetwork(NETWORK));
      lab.exec(host, [
        'sysctl',
        '-qw',
        'net.bridge.bridge-nf-call-iptables=1',
        'net.bridge.bridge-nf-call-ip6tables=1',
      ]);
      await peerServer(lab, host, '192.168.150.1', 7101);
      await peerServer(lab, host, 'fd50::1', 7102);

      const backend = backendName === 'nftables' ? await NftablesBackend.create(runner) : new EbiptablesBackend(runner);
      const binding: FilterBinding = {
        portdev: 'vnet7',
        mac: MAC,
        filter: 'vw-lease',
        params: new Map([['CTRL_IP_LEARNING', ['dhcp']]]),
      };
      let pending = Promise.resolve();
      const apply = (learned: { ipv4: string[]; ipv6: string[] }) => {
        const plan = portFilterFor(binding, FILTERS, learned);
        pending = pending.then(() => backend.apply({ set: [plan.filter], remove: [] }));
        return plan;
      };
      const first = apply({ ipv4: [], ipv6: [] });
      assert.deepEqual(first.learning, { mode: 'dhcp', ipv4: true, ipv6: true });
      await pending;
      lab.exec(host, ['ip', 'link', 'set', 'vnet7', 'master', 'vwlbr0']);

      let observed = false;
      const manager = new LearningManager({
        onAddressesChanged: (_p, c) => apply(c),
        observe: () => {
          observed = true;
          return { stop() {} };
        },
      });
      manager.watch(learningPortOf(binding, first.learning!, 'vwlbr0'));
      const watch = watchLeases(stateDir, 'vwlbr0', manager);
      t.after(() => watch.close());

      const v4 = dhcp(lab, g, 'eth0');
      assert.ok(v4.ok, v4.output);
      const v6 = dhcp(lab, g, 'eth0', true);
      assert.ok(v6.ok, v6.output);
      lab.exec(g, ['ip', '-6', 'route', 'replace', 'fd50::/64', 'dev', 'eth0']);
      const learned = () => manager.learned('vnet7')!.state;
      await waitFor(() => learned().ipv4.length === 1 && learned().ipv6.length === 1, {
        what: 'both leases',
        timeout: 20_000,
        detail: () => JSON.stringify(learned()),
      });
      await pending;
      const [ip4, ip6] = [learned().ipv4[0]!, learned().ipv6[0]!];
      assert.equal(ip4.source, 'dnsmasq-lease');
      assert.ok(ip4.expires! > Date.now() / 1000);
      assert.equal(observed, false, 'no capture for ports on our own networks');

      const seen = (src: string, dst: string, port: number) =>
        lab.exec(g, ['python3', '-c', PROBE, src, dst, String(port)], false).stdout.trim();
      assert.equal(seen(ip4.address, '192.168.150.1', 7101), ip4.address);
      assert.equal(seen(ip6.address, 'fd50::1', 7102), ip6.address);
      lab.exec(g, ['ip', 'addr', 'add', '192.168.150.99/24', 'dev', 'eth0']);
      lab.exec(g, ['ip', 'addr', 'add', 'fd50::99/64', 'dev', 'eth0', 'nodad']);
      assert.match(seen('192.168.150.99', '192.168.150.1', 7101), /^FAIL/);
      assert.match(seen('fd50::99', 'fd50::1', 7102), /^FAIL/);
    });
  });
}
