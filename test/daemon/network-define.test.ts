// What libvirt's networkValidate completes and refuses when a network is defined or created
// (bridge MAC, bridge names), and what a start refuses before touching anything (forward modes
// virtwall cannot run, a firewalld zone). A fake runner plays an empty host.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VirtwallError } from '../../src/errors.js';
import { FakeRunner } from '../../src/exec/fake.js';
import { emptyHostAnswer, openDaemon, RecordingBackend, tempRoot } from './support.js';

const net = (name: string, inner: string) => `<network><name>${name}</name>${inner}</network>`;
/** A network the fake host can start: no firewall, no dnsmasq. */
const openNet = (name: string, inner: string) =>
  net(name, `<forward mode='open'/>${inner}<dns enable='no'/><ip address='10.9.0.1' prefix='24'/>`);
const MAC = /<mac address='(52:54:00(?::[0-9a-f]{2}){3})'\/>/;
const stored = (root: string, name: string) => readFileSync(join(root, 'etc/virtwall/networks', `${name}.xml`), 'utf8');

describe('network define and create', () => {
  it('gives a virtual network a 52:54:00 bridge MAC at define, stored and used for the bridge', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const { daemon, runner } = await openDaemon(root);
    await daemon.networkDefine(openNet('n1', "<bridge name='vbr1'/>"));
    const mac = MAC.exec(stored(root, 'n1'))?.[1];
    assert.ok(mac, stored(root, 'n1'));
    assert.match(daemon.networks.xml('n1', true), new RegExp(`<mac address='${mac}'/>`));
    await daemon.networks.start('n1');
    assert.ok(runner.calls.includes(`ip link add name vbr1 address ${mac} type bridge`), runner.calls.join('\n'));
    // a restart keeps it
    const again = await openDaemon(root);
    assert.match(again.daemon.networks.xml('n1', true), new RegExp(`<mac address='${mac}'/>`));
    // a given MAC is kept as given; two networks get different ones
    await daemon.networkDefine(net('n2', "<bridge name='vbr2'/><mac address='52:54:00:aa:bb:cc'/>"));
    assert.match(stored(root, 'n2'), /<mac address='52:54:00:aa:bb:cc'\/>/);
    await daemon.networkDefine(net('n3', "<bridge name='vbr3'/>"));
    assert.notEqual(MAC.exec(stored(root, 'n3'))?.[1], mac);
  });

  it('gives a transient network a bridge MAC at create', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const { daemon, runner } = await openDaemon(root);
    await daemon.networkCreate(openNet('t1', "<bridge name='vbr1'/>"));
    const mac = MAC.exec(daemon.networks.xml('t1', false))?.[1];
    assert.ok(mac);
    assert.ok(runner.calls.includes(`ip link add name vbr1 address ${mac} type bridge`));
  });

  it('gives a stored definition without a MAC one at start-up and saves it (virNetworkLoadConfig)', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    await openDaemon(root);
    writeFileSync(
      join(root, 'etc/virtwall/networks/old.xml'),
      net('old', "<uuid>0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d</uuid><bridge name='vbr9'/>"),
    );
    const { daemon } = await openDaemon(root);
    const mac = MAC.exec(stored(root, 'old'))?.[1];
    assert.ok(mac, stored(root, 'old'));
    assert.match(daemon.networks.xml('old', true), new RegExp(`<mac address='${mac}'/>`));
  });

  it('gives no MAC to networks of other forward modes', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const { daemon } = await openDaemon(root);
    await daemon.networkDefine(net('pt', "<forward mode='passthrough'><interface dev='eth1'/></forward>"));
    assert.doesNotMatch(stored(root, 'pt'), /<mac /);
  });

  it('refuses at define and create a bridge name another network uses (virNetworkObjBridgeInUse)', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const { daemon } = await openDaemon(root);
    await daemon.networkDefine(net('n1', "<bridge name='vbr1'/>"));
    await daemon.networkCreate(openNet('t1', "<bridge name='vbr2'/>"));
    for (const [name, bridge] of [
      ['n2', 'vbr1'],
      ['n3', 'vbr2'],
    ]) {
      await assert.rejects(
        daemon.networkDefine(net(name!, `<bridge name='${bridge}'/>`), 'x.xml'),
        (e: VirtwallError) => {
          assert.equal(e.kind, 'conflict');
          assert.equal(e.message, `x.xml <bridge> attribute 'name': bridge name '${bridge}' already in use.`);
          return true;
        },
      );
      await assert.rejects(daemon.networkCreate(net(name!, `<bridge name='${bridge}'/>`)), /already in use/);
    }
    // a network keeps its own bridge name when it is redefined
    await daemon.networkDefine(net('n1', "<bridge name='vbr1' stp='off'/>"));
    assert.deepEqual(
      daemon.networks.list().map((n) => n.name),
      ['n1', 't1'],
    );
  });

  it("names a bridge virbrN when none is given, skipping other networks' names and existing devices", async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    // virbr1 exists on the host without being a network's
    const runner = new FakeRunner((line) => (line === 'ip link show dev virbr1' ? {} : emptyHostAnswer(line)));
    const { daemon } = await openDaemon(root, new RecordingBackend(), runner);
    await daemon.networkDefine(net('a', ''));
    await daemon.networkDefine(net('b', ''));
    await daemon.networkDefine(net('c', "<bridge name='vb%d'/>"));
    const bridge = (n: string) => /<bridge name='([^']+)'/.exec(stored(root, n))?.[1];
    assert.deepEqual([bridge('a'), bridge('b'), bridge('c')], ['virbr0', 'virbr2', 'vb0']);
  });
});

describe("dnsmasq's capabilities", () => {
  it('are asked when a network first needs dnsmasq, once, not at every start of the daemon', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const { daemon, runner } = await openDaemon(root);
    const asked = () => runner.calls.filter((c) => c.startsWith('dnsmasq --version')).length;
    await daemon.networkCreate(openNet('quiet', "<bridge name='vbr1'/>"));
    assert.equal(asked(), 0, 'neither the start nor a network without DNS and DHCP asks');
    // DNS on: dnsmasq is needed (the fake host runs none, so the start fails after asking)
    const dns = net('dns', "<forward mode='open'/><bridge name='vbr2'/><ip address='10.9.2.1' prefix='24'/>");
    await assert.rejects(daemon.networkCreate(dns), /dns\.pid/);
    await assert.rejects(daemon.networkCreate(dns), /dns\.pid/);
    assert.equal(asked(), 1);
    assert.ok(
      runner.calls.findIndex((c) => c.startsWith('dnsmasq --version')) <
        runner.calls.findIndex((c) => c.startsWith('dnsmasq --conf-file')),
    );
  });
});

describe('network start refuses what virtwall cannot run', () => {
  for (const mode of ['passthrough', 'private', 'vepa', 'bridge', 'hostdev']) {
    it(`forward mode '${mode}': accepted at define, refused at start and create with nothing run`, async (t) => {
      const { root, cleanup } = tempRoot();
      t.after(cleanup);
      const { daemon, runner } = await openDaemon(root);
      const pool =
        mode === 'hostdev'
          ? "<address type='pci' domain='0' bus='4' slot='0' function='1'/>"
          : "<interface dev='eth1'/>";
      const xml = net('ext', `<forward mode='${mode}'>${pool}</forward>`);
      await daemon.networkDefine(xml);
      const before = runner.calls.length;
      const refused = (e: VirtwallError) => {
        assert.equal(e.kind, 'invalid-input');
        assert.equal(
          e.detail,
          `unsupported configuration: forward mode='${mode}' of network 'ext' is not supported (virtwall runs networks with no forward mode or mode 'nat', 'route' or 'open')`,
        );
        return true;
      };
      await assert.rejects(daemon.networks.start('ext'), refused);
      await assert.rejects(
        daemon.networkCreate(xml.replace('ext', 'ext2')),
        (e: VirtwallError) => e.kind === 'invalid-input' && /forward mode='/.test(e.message),
      );
      assert.deepEqual(runner.calls.slice(before), []);
    });
  }

  it('a firewalld zone: refused at start as libvirt does when firewalld is not running', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const { daemon, runner } = await openDaemon(root);
    await daemon.networkDefine(
      net('z', "<forward mode='nat'/><bridge name='vbr1' zone='libvirt'/><ip address='10.9.0.1' prefix='24'/>"),
    );
    const before = runner.calls.length;
    await assert.rejects(daemon.networks.start('z'), (e: VirtwallError) => {
      assert.equal(e.kind, 'operation-failed');
      assert.equal(e.detail, 'zone libvirt requested for network z but firewalld is not active');
      return true;
    });
    assert.deepEqual(runner.calls.slice(before), []);
  });
});
