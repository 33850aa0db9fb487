// `virtwall demo` end to end: every check passes, and it leaves no namespace or process behind.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { demoCommand, runDemo } from '../../src/demo/demo.js';
import { canUseNetns } from '../support/netns.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';

describe('the commands the demo prints', () => {
  it('paste into a shell as the words the demo ran', () => {
    const args = [
      'net-update',
      'default',
      'add-last',
      'ip-dhcp-host',
      "<host mac='52:54:00:de:00:01' ip='192.168.122.11'/>",
      '--config',
      'a b',
      '$HOME',
      '',
    ];
    const line = demoCommand(args);
    assert.ok(line.startsWith('$ virtwall '), line);
    const pasted = spawnSync('bash', ['-c', `virtwall() { printf '%s\\0' "$@"; }\n${line.slice(2)}`], {
      encoding: 'utf8',
    });
    assert.deepEqual(pasted.stdout.split('\0').slice(0, -1), args, pasted.stderr);
  });
});

describe('virtwall demo', { skip }, () => {
  it('passes its checks, shows the drop counters and cleans up', async () => {
    const lines: string[] = [];
    const result = await runDemo((l) => lines.push(l));
    const text = lines.join('\n');
    assert.equal(result.ok, true, text);
    assert.match(text, /PASS {2}g1 spoofing .* is blocked/);
    assert.match(text, /^    clean-traffic\/no-ip-spoofing prio=\d+ \(chain \w+\): [1-9]\d* packets dropped$/m);
    const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    for (const ns of result.namespaces) assert.ok(!left.includes(ns), `namespace ${ns} left behind`);
    const procs = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout;
    // (only this run's: the quick-start test may run another demo meanwhile)
    assert.ok(!procs.includes(result.dir), `a process of the demo left behind:\n${procs}`);
  });
});
