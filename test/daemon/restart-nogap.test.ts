// Restart without gaps: a guest pings another through clean-traffic ports while virtwalld is
// killed with SIGKILL and started again; the kernel rules stay and the start-up reconcile finds
// nothing to change, so no ping is lost and spoofing stays blocked throughout.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canUseNetns } from '../support/netns.js';
import { cli, cleanTrafficGuests, daemonFixture, kill9, startDaemon } from './process.js';
import { waitFor } from '../../src/util/wait-for.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';
const GUESTS = [
  { tap: 'vnet1', mac: '52:54:00:77:00:11', ip: '10.77.0.11', uuid: '6d1b8a2c-1f3e-4a0a-9b7e-0c1d2e3f4a11' },
  { tap: 'vnet2', mac: '52:54:00:77:00:12', ip: '10.77.0.12', uuid: '6d1b8a2c-1f3e-4a0a-9b7e-0c1d2e3f4a12' },
];

describe('virtwalld restart', { skip }, () => {
  it('loses no packet of a filtered guest while the daemon is killed and restarted', async (t) => {
    const fixture = daemonFixture(t, 'rh');
    const { lab, ns: host, root } = fixture;
    const first = await startDaemon(host, root);
    const guests = cleanTrafficGuests(fixture, '10.77.0.1', GUESTS);
    const [g1] = guests as [string, string];
    assert.equal(
      lab.exec(g1, ['ping', '-c', '1', '-W', '2', GUESTS[1]!.ip], false).status,
      0,
      'filtered guests reach each other',
    );

    const ping = lab.spawn(g1, ['ping', '-i', '0.02', '-c', '250', '-W', '1', GUESTS[1]!.ip]);
    let out = '';
    ping.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const done = new Promise((r) => ping.on('exit', r));
    // the daemon dies while the pings flow
    await waitFor(() => (out.match(/bytes from/g) ?? []).length >= 20, {
      what: 'the first 20 ping replies',
      timeout: 10_000,
      detail: () => out,
    });
    await kill9(first);
    const spoofWhileDown = lab.exec(
      g1,
      [
        'sh',
        '-c',
        `ip addr add 10.77.0.99/32 dev eth0 && ping -c 1 -W 1 -I 10.77.0.99 ${GUESTS[1]!.ip}; r=$?; ip addr del 10.77.0.99/32 dev eth0; exit $r`,
      ],
      false,
    );
    assert.notEqual(spoofWhileDown.status, 0, 'spoofing stays blocked while the daemon is down');
    const second = await startDaemon(host, root);
    await done;
    assert.match(out, /250 packets transmitted, 250 received, 0% packet loss/, out.split('\n').slice(-4).join('\n'));
    assert.match(second.log(), /"reason":"start-up","repaired":\[\],"removed":\[\]/);
    assert.equal(cli(root, ['net-destroy', 'n']).status, 0);
  });
});
