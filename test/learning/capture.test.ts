import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { observeTraffic, tcpdumpArgv } from '../../src/learning/capture.js';
import type { LearningPort } from '../../src/learning/manager.js';

const port: LearningPort = { port: 'vwt-nosuch0', mac: '52:54:00:00:00:0a', mode: 'dhcp', dhcpServers: [], dhcpServersV6: [], mechanism: 'traffic', needs: { ipv4: true, ipv6: false } };
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
    const deadline = Date.now() + 10_000;
    while (errors.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(errors.length, 2);
    assert.match(errors[0]!, /tcpdump exited/);
    const quiet: string[] = [];
    const o = observeTraffic(port, () => undefined, { onError: (_p, m) => quiet.push(m) });
    o.stop();
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(quiet, []);
  });
});
