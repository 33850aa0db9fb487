// virtwalld and stopped networks' retired bridges, in a namespace this test creates: a daemon's
// start deletes the retired bridges a daemon that ended before deleting them left (and no other
// link of the retired group); a daemon stopped right after a net-destroy has deleted that
// network's bridge when it exits.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { RETIRED_BRIDGE_GROUP } from '../../src/util/device-name.js';
import { canUseNetns } from '../support/netns.js';
import { cliOk, daemonFixture, natNetwork, startDaemon, stopAll } from './process.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';
const GROUP = String(RETIRED_BRIDGE_GROUP);

describe('virtwalld deletes retired bridges', { skip }, () => {
  after(() => stopAll());

  it('left by an earlier daemon at its start, and pending ones before it exits', async (t) => {
    const { lab, ns, root, file } = daemonFixture(t);
    /** The names of the links of the retired group (iproute2 6.1 prints `{}` for each other link). */
    const group = () =>
      (JSON.parse(lab.exec(ns, ['ip', '-j', 'link', 'show', 'group', GROUP]).stdout) as { ifname?: string }[])
        .flatMap((l) => (l.ifname !== undefined ? [l.ifname] : []))
        .sort();
    // what a daemon killed between a stop and the deletion leaves, and a link of someone else's
    for (const name of ['left1', 'theirs']) {
      lab.exec(ns, ['ip', 'link', 'add', name, 'type', 'bridge']);
      lab.exec(ns, ['ip', 'link', 'set', name, 'group', GROUP]);
    }
    const index = (
      JSON.parse(lab.exec(ns, ['ip', '-j', 'link', 'show', 'dev', 'left1']).stdout) as { ifindex: number }[]
    )[0]!.ifindex;
    lab.exec(ns, ['ip', 'link', 'set', 'left1', 'name', `vw~${index}`]);
    assert.deepEqual(group(), ['theirs', `vw~${index}`]);

    const daemon = await startDaemon(ns, root);
    assert.deepEqual(group(), ['theirs'], 'the leftover retired bridge survived the start');

    cliOk(root, ['net-create', file('n.xml', natNetwork('n1', 'vwbr1', '192.168.150'))]);
    cliOk(root, ['net-destroy', 'n1']);
    // at once: the reaper deletes after 0.1 s without stops; the daemon waits for it as it ends
    daemon.child.kill('SIGTERM');
    assert.equal(await daemon.exited, 0);
    assert.deepEqual(group(), ['theirs'], 'a retired bridge outlived the daemon');
  });
});
