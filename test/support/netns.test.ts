import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { canUseNetns, NetnsLab } from './netns.js';

it('lab namespaces pass traffic over a bridge and vanish on cleanup', {
  skip: canUseNetns() ? false : 'needs root and ip netns',
}, (t) => {
  const lab = new NetnsLab();
  t.after(() => lab.cleanup());
  const host = lab.netns('host');
  const a = lab.netns('a');
  lab.bridge(host, 'br0');
  lab.veth(host, 'vnet0', a, 'eth0', { bridge: 'br0' });
  lab.exec(host, ['ip', 'addr', 'add', '10.99.0.1/24', 'dev', 'br0']);
  lab.exec(a, ['ip', 'addr', 'add', '10.99.0.2/24', 'dev', 'eth0']);
  assert.equal(lab.exec(a, ['ping', '-c1', '-W2', '10.99.0.1'], false).status, 0);
  lab.cleanup();
  const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  assert.ok(!left.includes(lab.tag), left);
});
