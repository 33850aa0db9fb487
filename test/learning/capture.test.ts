import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { observeTraffic, tcpdumpArgv } from '../../src/learning/capture.js';
import type { LearningPort } from '../../src/learning/manager.js';
import { waitFor } from '../../src/util/wait-for.js';
import { setTimeout as sleep } from 'node:timers/promises';

const port: LearningPort = {
  port: 'vwt-nosuch0',
  mac: '52:54:00:00:00:0a',
  mode: 'dhcp',
  dhcpServers: [],
  dhcpServersV6: [],
  mechanism: 'traffic',
  needs: { ipv4: true, ipv6: false },
};
const skip = spawnSync('tcpdump', ['--version']).status === 0 ? false : 'needs tcpdump';

describe('traffic capture', { skip }, () => {
  it('captures each direction of the port, guest side by source MAC in any mode, DHCP only in dhcp mode', () => {
    assert.deepEqual(tcpdumpArgv(port, true).slice(0, 5), ['tcpdump', '-i', 'vwt-nosuch0', '-Q', 'in']);
    assert.equal(tcpdumpArgv(port, false)[4], 'out');
    assert.match(tcpdumpArgv(port, true).at(-1)!, /^udp port 67 /);
    assert.match(tcpdumpArgv({ ...port, mode: 'any' }, true).at(-1)!, /^ether src 52:54:00:00:00:0a /);
  });

  it('reports a capture that cannot run, once per direction, and not after stop()', async () => {
    const errors: string[] = [];
    observeTraffic(port, () => assert.fail('no frames'), { onError: (_p, m) => errors.push(m) });
    await waitFor(() => errors.length >= 2, { what: 'an error for each direction', timeout: 10_000 });
    assert.equal(errors.length, 2);
    assert.match(errors[0]!, /tcpdump exited/);
    const quiet: string[] = [];
    const o = observeTraffic(port, () => undefined, { onError: (_p, m) => quiet.push(m) });
    o.stop();
    // as long as the failing capture took to report above, and more: nothing comes
    await sleep(500);
    assert.deepEqual(quiet, []);
  });
});
