// The daemon's domain rules, with a recording backend: stock filters on first start, one
// backend apply for a redefinition, filters in use, hostile names, restart reconcile, ports.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VirtwallError } from '../../src/errors.js';
import { loadStockFilters } from '../../src/conf/nwfilter/index.js';
import { FakeRunner } from '../../src/exec/fake.js';
import { bindingXml, emptyHostAnswer, openDaemon, RecordingBackend, tempRoot } from './support.js';

const userFilter = (name: string, body: string, uuid = '') =>
  `<filter name='${name}' chain='root'>${uuid ? `<uuid>${uuid}</uuid>` : ''}${body}</filter>`;

describe('virtwalld domain layer', () => {
  it('installs the stock filters on first start only', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const { daemon } = await openDaemon(root);
    const stock = [...loadStockFilters().keys()].sort();
    assert.deepEqual(
      daemon.filters.list().map((f) => f.name),
      stock,
    );
    assert.ok(existsSync(join(root, 'etc/virtwall/nwfilter/clean-traffic.xml')));
    // an undefined stock filter stays undefined after a restart
    const unused = daemon.filters.list().find((f) => daemon.filters.referrers(f.name).length === 0)!.name;
    await daemon.undefineFilter(unused);
    const again = await openDaemon(root);
    assert.ok(!again.daemon.filters.list().some((f) => f.name === unused));
  });

  it('re-instantiates every binding using a redefined filter in one backend apply', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const { daemon, backend } = await openDaemon(root);
    await daemon.defineFilter(
      userFilter('inner', "<rule action='drop' direction='out'><tcp dstportstart='22'/></rule>"),
    );
    await daemon.defineFilter(userFilter('outer', "<filterref filter='inner'/>"));
    await daemon.createBinding(bindingXml('vnet0', 'outer'));
    const firstDigest = backend.applied.at(-1)!.set[0]!.inputsDigest;
    await daemon.createBinding(bindingXml('vnet1', 'inner', '52:54:00:00:00:02'));
    await daemon.createBinding(bindingXml('vnet2', 'allow-arp', '52:54:00:00:00:03'));
    const before = backend.applied.length;
    const r = await daemon.defineFilter(
      userFilter('inner', "<rule action='drop' direction='out'><tcp dstportstart='23'/></rule>"),
    );
    assert.deepEqual(r.reinstantiated.sort(), ['vnet0', 'vnet1']);
    assert.equal(backend.applied.length, before + 1);
    const change = backend.applied.at(-1)!;
    assert.deepEqual(change.set.map((p) => p.portdev).sort(), ['vnet0', 'vnet1']);
    assert.match(JSON.stringify(change.set[0]!.instances), /23/);
    const vnet0 = change.set.find((p) => p.portdev === 'vnet0')!;
    assert.ok(
      firstDigest && vnet0.inputsDigest && vnet0.inputsDigest !== firstDigest,
      'a redefinition changes the inputs digests of the ports it reaches',
    );
  });

  it('a definition being checked has the digest it has once stored: the refresh can take the instances its check made', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const { daemon } = await openDaemon(root);
    await daemon.defineFilter(userFilter('f', "<rule action='drop' direction='out'><tcp dstportstart='22'/></rule>"));
    const stored = daemon.filters.source().digest;
    const def = daemon.filters.parse(
      userFilter('f', "<rule action='drop' direction='out'><tcp dstportstart='23'/></rule>"),
      'test',
    );
    const trying = daemon.filters.source(def).digest;
    assert.ok(trying !== undefined && trying !== stored, 'the definition being tried has its own digest');
    daemon.filters.store(def);
    assert.equal(daemon.filters.source().digest, trying);
  });

  it('refuses a redefinition that breaks a binding, keeping the old definition', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const { daemon, backend } = await openDaemon(root);
    await daemon.defineFilter(userFilter('f', "<rule action='drop' direction='out'><tcp dstportstart='22'/></rule>"));
    await daemon.createBinding(bindingXml('vnet0', 'f'));
    const applies = backend.applied.length;
    await assert.rejects(daemon.defineFilter(userFilter('f', "<filterref filter='missing'/>")), VirtwallError);
    assert.equal(backend.applied.length, applies);
    assert.match(readFileSync(join(root, 'etc/virtwall/nwfilter/f.xml'), 'utf8'), /dstportstart='22'/);
  });

  it('refuses a redefinition that breaks a port with learned addresses: checked with what the port learned', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const mac = '52:54:00:00:00:01';
    // vnet0 learned 10.0.0.5 before this start (dnsmasq leases: no capture is started)
    const learning = {
      version: 1,
      ports: [
        {
          config: {
            port: 'vnet0',
            bridge: 'vbr0',
            mechanism: 'dnsmasq-leases',
            needs: { ipv4: true, ipv6: false },
            mode: 'any',
            mac,
            dhcpServers: [],
            dhcpServersV6: [],
          },
          state: { ipv4: [{ address: '10.0.0.5', source: 'dnsmasq-lease', learnedAt: 1 }], ipv6: [] },
        },
      ],
    };
    mkdirSync(join(root, 'var/lib/virtwall'), { recursive: true });
    writeFileSync(join(root, 'var/lib/virtwall/ip-learning.json'), JSON.stringify(learning));
    const { daemon, backend } = await openDaemon(root);
    await daemon.defineFilter(userFilter('f', "<rule action='accept' direction='out'><ip srcipaddr='$IP'/></rule>"));
    await daemon.createBinding(bindingXml('vnet0', 'f', mac));
    assert.match(
      JSON.stringify(backend.kernel.get('vnet0')!.instances),
      /10\.0\.0\.5/,
      'the port has its learned address',
    );
    const applies = backend.applied.length;
    // the learned IPv4 address does not fit a MAC attribute: the port would fail once applied
    await assert.rejects(
      daemon.defineFilter(userFilter('f', "<rule action='drop' direction='out'><mac srcmacaddr='$IP'/></rule>")),
      (e: VirtwallError) => e.kind === 'invalid-input' && /10\.0\.0\.5/.test(e.message),
    );
    assert.equal(backend.applied.length, applies, 'nothing applied');
    assert.match(readFileSync(join(root, 'etc/virtwall/nwfilter/f.xml'), 'utf8'), /srcipaddr/, 'nothing stored');
  });

  it('refuses to undefine a filter that is bound or referenced', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const { daemon } = await openDaemon(root);
    await daemon.createBinding(
      bindingXml('vnet0', 'clean-traffic', '52:54:00:00:00:01', "<parameter name='IP' value='10.0.0.2'/>"),
    );
    await assert.rejects(
      () => daemon.undefineFilter('clean-traffic'),
      (e: VirtwallError) => e.kind === 'conflict',
    );
    // no-mac-spoofing is referenced by clean-traffic
    await assert.rejects(
      () => daemon.undefineFilter('no-mac-spoofing'),
      (e: VirtwallError) => e.kind === 'conflict',
    );
    await daemon.deleteBinding('vnet0');
    assert.equal(await daemon.undefineFilter('clean-traffic'), 'clean-traffic');
  });

  it('refuses hostile device and object names before anything reaches the backend', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const { daemon, backend } = await openDaemon(root);
    for (const dev of ['vnet0;reboot', '$(x)', 'a'.repeat(16), '../etc', 'a b']) {
      await assert.rejects(
        daemon.createBinding(bindingXml(dev.replace(/'/g, ''), 'allow-arp')),
        (e: VirtwallError) => e.kind === 'invalid-input',
        dev,
      );
    }
    for (const value of ['10.0.0.1;reboot', '$(x)', '10.0.0.1&quot; ; flush ruleset']) {
      await assert.rejects(
        daemon.createBinding(
          bindingXml('vnet0', 'clean-traffic', '52:54:00:00:00:01', `<parameter name='IP' value='${value}'/>`),
        ),
        VirtwallError,
        value,
      );
    }
    await assert.rejects(
      daemon.defineFilter(userFilter('../../x', '')),
      (e: VirtwallError) => e.kind === 'invalid-input',
    );
    await assert.rejects(
      daemon.networkDefine(
        "<network><name>n2</name><forward mode='nat' dev='eth0;reboot'/><bridge name='virbr9'/></network>",
      ),
      (e: VirtwallError) => e.kind === 'invalid-input',
    );
    await assert.rejects(
      daemon.networkDefine("<network><name>a;b</name><bridge name='virbr9'/></network>"),
      (e: VirtwallError) => e.kind === 'invalid-input',
    );
    await assert.rejects(
      daemon.networkDefine("<network><name>n</name><bridge name='br$(reboot)'/></network>"),
      (e: VirtwallError) => e.kind === 'invalid-input',
    );
    assert.equal(backend.applied.length, 0);
    assert.deepEqual(readdirSync(join(root, 'run/virtwall/nwfilter-binding')), []);
  });

  it('reconciles the kernel to the recorded bindings and MAC-filtered ports on restart', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const { daemon } = await openDaemon(root);
    await daemon.createBinding(bindingXml('vnet0', 'allow-arp'));
    const backend = new RecordingBackend();
    await openDaemon(root, backend);
    assert.equal(backend.applied.length, 0, 'a restart reconciles instead of rebuilding');
    assert.deepEqual(
      backend.reconciled[0]!.map((p) => [p.portdev, p.filter]),
      [['vnet0', 'allow-arp']],
    );
  });

  it('a port attaches its device to the bridge, binds its filter and applies mac_filter; net-destroy removes ports', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const { daemon, backend, runner } = await openDaemon(root);
    await daemon.networkDefine(
      "<network><name>n1</name><forward mode='open'/><bridge name='vbr1'/><dns enable='no'/><ip address='10.9.0.1' prefix='24'/></network>",
    );
    await daemon.networks.start('n1');
    const port = `<networkport><uuid>5d1b8a2c-1f3e-4a0a-9b7e-0c1d2e3f4a5b</uuid><owner><name>g</name><uuid>11111111-2222-3333-4444-555555555555</uuid></owner><mac address='52:54:00:aa:bb:01'/></networkport>`;
    const uuid = await daemon.createPort({ network: 'n1', xml: port, tap: 'tap7', macFilter: true });
    assert.equal(uuid, '5d1b8a2c-1f3e-4a0a-9b7e-0c1d2e3f4a5b');
    assert.ok(runner.calls.includes('ip link set dev tap7 master vbr1'));
    assert.deepEqual(backend.kernel.get('tap7'), {
      portdev: 'tap7',
      mac: '52:54:00:aa:bb:01',
      filter: '',
      instances: [],
      macFilter: true,
    });
    assert.match(daemon.ports.get(uuid).xml, /<plug type='network' bridge='vbr1'\/>/);
    await daemon.deletePort(uuid);
    assert.equal(backend.kernel.has('tap7'), false);
    // destroying a network takes its ports with it
    await daemon.createPort({ network: 'n1', xml: port, tap: 'tap7', filter: { name: 'allow-arp', params: {} } });
    await daemon.networkDestroy('n1');
    assert.deepEqual(daemon.ports.list(), []);
    assert.deepEqual(daemon.bindings.list(), []);
  });

  it('a port whose device cannot join the bridge leaves no binding and no mac filter behind', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const runner = new FakeRunner((line) =>
      line.startsWith('ip link set dev gone0 master')
        ? { status: 1, stderr: 'Cannot find device "gone0"' }
        : emptyHostAnswer(line),
    );
    const { daemon, backend } = await openDaemon(root, new RecordingBackend(), runner);
    await daemon.networkDefine(
      "<network><name>n1</name><forward mode='open'/><bridge name='vbr1'/><dns enable='no'/><ip address='10.9.0.1' prefix='24'/></network>",
    );
    await daemon.networks.start('n1');
    const port = `<networkport><uuid>5d1b8a2c-1f3e-4a0a-9b7e-0c1d2e3f4a5b</uuid><owner><name>g</name><uuid>11111111-2222-3333-4444-555555555555</uuid></owner><mac address='52:54:00:aa:bb:01'/></networkport>`;
    await assert.rejects(
      daemon.createPort({
        network: 'n1',
        xml: port,
        tap: 'gone0',
        filter: { name: 'allow-arp', params: {} },
        macFilter: true,
      }),
      /gone0/,
    );
    assert.deepEqual(daemon.bindings.list(), []);
    assert.deepEqual(daemon.ports.list(), []);
    assert.equal(backend.kernel.size, 0);
  });

  it('net-update follows --live/--config/--current: each definition is changed on its own', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const { daemon } = await openDaemon(root);
    const pg = (name: string) => `<portgroup name='${name}'/>`;
    const update = (name: string, group: string, live: boolean, config: boolean) =>
      daemon.networkUpdate(name, 'add-last', 'portgroup', -1, pg(group), { live, config });
    const groups = (name: string, inactive: boolean) =>
      [...daemon.networks.xml(name, inactive).matchAll(/<portgroup name='(\w+)'/g)].map((m) => m[1]);
    await daemon.networkDefine(
      "<network><name>n1</name><forward mode='open'/><bridge name='vbr1'/><dns enable='no'/><ip address='10.9.0.1' prefix='24'/></network>",
    );
    await assert.rejects(update('n1', 'a', true, false), /network is not running/);
    assert.deepEqual(await update('n1', 'a', false, false), { name: 'n1', live: false, config: true });
    await daemon.networks.start('n1');
    assert.deepEqual(await update('n1', 'b', false, false), { name: 'n1', live: true, config: false });
    assert.deepEqual(await update('n1', 'c', false, true), { name: 'n1', live: false, config: true });
    assert.deepEqual(await update('n1', 'd', true, true), { name: 'n1', live: true, config: true });
    assert.deepEqual(groups('n1', false), ['a', 'b', 'd']);
    assert.deepEqual(groups('n1', true), ['a', 'c', 'd']);
    // a failing update changes neither definition
    await assert.rejects(update('n1', 'b', true, true), /existing portgroup/);
    assert.deepEqual(
      [groups('n1', false), groups('n1', true)],
      [
        ['a', 'b', 'd'],
        ['a', 'c', 'd'],
      ],
    );

    await daemon.networkCreate(
      "<network><name>t1</name><forward mode='open'/><bridge name='vbr2'/><dns enable='no'/><ip address='10.8.0.1' prefix='24'/></network>",
    );
    await assert.rejects(update('t1', 'a', false, true), /cannot change persistent config of a transient network/);
    assert.deepEqual(await update('t1', 'a', false, false), { name: 't1', live: true, config: false });
    assert.deepEqual(groups('t1', false), ['a']);
  });
});
