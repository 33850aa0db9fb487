import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import test from 'node:test';
import { processIs, processRuns, processTree } from '../../src/util/process.js';
import { waitFor } from '../../src/util/wait-for.js';

test('a process tree read from /proc: its members run, are named, and are gone once killed', async (t) => {
  // a shell whose child is a sleep: the tree of the shell holds both
  const shell = spawn('sh', ['-c', 'sleep 30 & wait'], { stdio: 'ignore' });
  t.after(() => shell.kill('SIGKILL'));
  const pid = shell.pid as number;
  const tree = await waitFor(() => (processTree(pid).length === 2 ? processTree(pid) : undefined), {
    what: "the shell's sleep",
  });
  assert.equal(tree[0], pid);
  const sleep = tree[1];
  t.after(() => {
    try {
      process.kill(sleep, 'SIGKILL');
    } catch {}
  });
  assert.ok(processIs(sleep, 'sleep'));
  assert.ok(!processIs(sleep, 'dnsmasq'), 'another name is not this process');
  assert.ok(processRuns(pid) && processRuns(sleep));
  process.kill(sleep, 'SIGKILL');
  // the shell reaps its sleep; the shell itself ends and Node reaps it
  await once(shell, 'exit');
  await waitFor(() => !processRuns(sleep), { what: 'the sleep to end' });
  assert.ok(!processRuns(pid));
  assert.deepEqual(processTree(pid), [pid], 'a gone process has no descendants');
});
