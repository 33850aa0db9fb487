// The scripts in hooks/ against a daemon in a namespace: QEMU's tap up/down scripts attach a
// TAP as a filtered port and remove it; libvirt's qemu hook creates and deletes the bindings of
// a guest's interfaces from the domain XML on stdin.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { canUseNetns } from '../support/netns.js';
import { BIN, cli, daemonFixture, startDaemon } from './process.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';
const HOOKS = join(import.meta.dirname, '../../hooks');
const NETWORK =
  "<network><name>default</name><bridge name='virbr0'/><dns enable='no'/><ip address='192.168.122.1' prefix='24'/></network>";

function runHook(script: string, args: string[], env: Record<string, string>, input?: string) {
  // the scripts call `virtwall`; here that is this checkout's bin
  const r = spawnSync(join(HOOKS, script), args, {
    encoding: 'utf8',
    input,
    env: { ...process.env, VIRTWALL: `${process.execPath} ${BIN}`, ...env },
  });
  return { status: r.status ?? -1, stderr: r.stderr ?? '' };
}

describe('hook scripts', { skip }, () => {
  it('qemu-ifup / qemu-ifdown attach and remove a filtered TAP', async (t) => {
    const { lab, ns, root, file } = daemonFixture(t, 'h');
    await startDaemon(ns, root);
    assert.equal(cli(root, ['net-create', file('net.xml', NETWORK)]).status, 0);
    lab.exec(ns, ['ip', 'tuntap', 'add', 'dev', 'vnet3', 'mode', 'tap']);

    const env = {
      VIRTWALL_ROOT: root,
      VIRTWALL_MAC: '52:54:00:12:34:56',
      VIRTWALL_FILTER: 'clean-traffic',
      VIRTWALL_FILTER_PARAMS: 'IP=192.168.122.50',
      VIRTWALL_OWNER: 'vm1',
    };
    const up = runHook('qemu-ifup', ['vnet3'], env);
    assert.equal(up.status, 0, up.stderr);
    assert.match(lab.exec(ns, ['ip', '-br', 'link', 'show', 'master', 'virbr0']).stdout, /^vnet3 /m);
    const binding = cli(root, ['nwfilter-binding-dumpxml', 'vnet3']).stdout;
    assert.match(
      binding,
      /<name>vm1<\/name>[\s\S]*<mac address='52:54:00:12:34:56'\/>[\s\S]*<parameter name='IP' value='192.168.122.50'\/>/,
    );
    assert.equal(runHook('qemu-ifup', ['vnet3;reboot'], env).status, 2);
    assert.equal(runHook('qemu-ifup', ['vnet4'], { ...env, VIRTWALL_MAC: 'nonsense' }).status, 2);

    const down = runHook('qemu-ifdown', ['vnet3'], { VIRTWALL_ROOT: root });
    assert.equal(down.status, 0, down.stderr);
    assert.equal(lab.exec(ns, ['ip', '-br', 'link', 'show', 'master', 'virbr0']).stdout.trim(), '');
    assert.equal(cli(root, ['nwfilter-binding-list', '--json']).stdout.trim(), '[]');
    assert.equal(cli(root, ['net-destroy', 'default']).status, 0);
  });

  it("libvirt's qemu hook creates and deletes the bindings of a guest's interfaces", async (t) => {
    const { lab, ns, root } = daemonFixture(t, 'l');
    await startDaemon(ns, root);
    const domain = `<domain type='kvm'><name>vm2</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid><devices>
      <interface type='network'><mac address='52:54:00:00:00:0a'/><source network='default'/><target dev='vnet7'/>
        <filterref filter='clean-traffic'><parameter name='IP' value='10.1.1.7'/></filterref></interface>
      <interface type='network'><mac address='52:54:00:00:00:0b'/><source network='default'/><target dev='vnet8'/></interface>
    </devices></domain>`;
    const env = { VIRTWALL_ROOT: root };
    assert.equal(runHook('libvirt-qemu', ['vm2', 'prepare', 'begin', '-'], env, domain).status, 0);
    assert.equal(cli(root, ['nwfilter-binding-list', '--json']).stdout.trim(), '[]');
    const started = runHook('libvirt-qemu', ['vm2', 'started', 'begin', '-'], env, domain);
    assert.equal(started.status, 0, started.stderr);
    assert.deepEqual(JSON.parse(cli(root, ['nwfilter-binding-list', '--json']).stdout), [
      { portdev: 'vnet7', filter: 'clean-traffic' },
    ]);
    assert.match(lab.exec(ns, ['nft', 'list', 'ruleset']).stdout, /vnet7/);
    assert.equal(runHook('libvirt-qemu', ['vm2', 'stopped', 'end', '-'], env, domain).status, 0);
    assert.equal(cli(root, ['nwfilter-binding-list', '--json']).stdout.trim(), '[]');
    assert.doesNotMatch(lab.exec(ns, ['nft', 'list', 'ruleset']).stdout, /vnet7/);
  });
});
