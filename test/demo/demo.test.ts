// `virtwall demo` end to end: every check passes, and it leaves no namespace or process behind.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { runDemo } from '../../src/demo/demo.js';
import { canUseNetns } from '../support/netns.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';

describe('virtwall demo', { skip }, () => {
  it('passes its checks, shows the drop counters and cleans up', async () => {
    const lines: string[] = [];
    const result = await runDemo((l) => lines.push(l));
    const text = lines.join('\n');
    assert.equal(result.ok, true, text);
    assert.match(text, /PASS {2}g1 spoofing .* is blocked/);
    assert.match(text, /counter packets [1-9]\d* bytes \d+ drop comment "clean-traffic\/no-ip-spoofing/);
    const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    for (const ns of result.namespaces) assert.ok(!left.includes(ns), `namespace ${ns} left behind`);
    const procs = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout;
    assert.doesNotMatch(procs, /virtwall-demo-/);
  });
});
