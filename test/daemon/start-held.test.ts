// virtwalld's API socket listens from the start of a daemon's start, in a namespace this test
// creates: a request that comes while the daemon still reads its records and reconciles the
// kernel (a hook during a restart) is held and answered once the daemon serves, with everything
// the records hold, instead of finding no socket.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DaemonClient } from '../../src/cli/client.js';
import { waitFor } from '../../src/util/wait-for.js';
import { canUseNetns } from '../support/netns.js';
import { BIN, bindingRecord, daemonFixture } from './process.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';
const N = 300;

it('a request sent while the daemon starts is held and answered once it serves', { skip }, async (t) => {
  const { ns, root } = daemonFixture(t);
  const records = join(root, 'run/virtwall/nwfilter-binding');
  mkdirSync(records, { recursive: true });
  for (let i = 2; i < 2 + N; i++) writeFileSync(join(records, `vnet${i}.xml`), bindingRecord(i));
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, BIN, '--root', root, 'daemon'], {
    env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/nonexistent/virtwall-test-bus' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
  const socket = join(root, 'run/virtwall/virtwall-sock');
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`daemon exited: ${log}`);
      return existsSync(socket);
    },
    { what: "the daemon's socket", interval: 1, timeout: 30_000, detail: () => log },
  );
  const before = log;
  const answer = (await DaemonClient.forRoot(root).call('GET', '/bindings')) as unknown as { portdev: string }[];
  // the request went out before the daemon served: it was held, not answered by chance later
  assert.ok(!before.includes('virtwalld ready'), `the daemon was ready before the request: ${before}`);
  assert.ok(!before.includes('"reason":"start-up"'), 'the start-up reconcile ran before the request');
  assert.equal(answer.length, N, 'every record is there');
  assert.ok(log.includes('"reason":"start-up"'), 'answered after the start-up reconcile');
});
