// virtwalld under systemd: READY=1 reaches the notification socket from the daemon's own PID once
// the API serves (what Type=notify with NotifyAccess=main accepts), and on the journal's stream
// the log is priority-prefixed lines. systemd itself cannot run here; python3 plays its socket.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns } from '../support/netns.js';
import { notifyListener } from '../support/notify.js';
import { isJournalStream, journalLine } from '../../src/daemon/systemd.js';
import { BIN, daemonFixture } from './process.js';

describe('journald lines', () => {
  it('carry the priority of the pino level, the message first, the fields as JSON', () => {
    const line = (level: number, msg: string, fields = {}) =>
      journalLine(`${JSON.stringify({ level, time: 1, pid: 2, hostname: 'h', msg, ...fields })}\n`);
    assert.equal(
      line(30, 'virtwalld ready', { root: '/', socket: '/run/virtwall/virtwall-sock' }),
      '<6>virtwalld ready {"root":"/","socket":"/run/virtwall/virtwall-sock"}\n',
    );
    assert.equal(line(20, 'd'), '<7>d\n');
    assert.equal(line(40, 'w'), '<4>w\n');
    assert.equal(line(50, 'e'), '<3>e\n');
    assert.equal(line(60, 'f'), '<2>f\n');
    // a message with a line feed stays one journal entry
    assert.equal(line(30, 'a\nb'), '<6>a\\nb\n');
  });

  it('are used only on the stream JOURNAL_STREAM names', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'virtwall-js-'));
    const fd = openSync(join(dir, 'log'), 'w');
    t.after(() => {
      closeSync(fd);
      rmSync(dir, { recursive: true });
    });
    const st = fstatSync(fd);
    assert.equal(isJournalStream(fd, { JOURNAL_STREAM: `${st.dev}:${st.ino}` }), true);
    assert.equal(isJournalStream(fd, { JOURNAL_STREAM: `${st.dev}:${st.ino + 1}` }), false);
    assert.equal(isJournalStream(fd, {}), false);
  });
});

describe('virtwalld under a notification socket', { skip: canUseNetns() ? false : 'needs root and ip netns' }, () => {
  it('sends READY=1 from its own PID once it serves, and logs journald lines', async (t) => {
    const { ns, root } = daemonFixture(t);
    const dir = mkdtempSync(join(tmpdir(), 'virtwall-notify-'));
    const notify = join(dir, 'notify');
    const logFd = openSync(join(dir, 'stderr'), 'w');
    const st = fstatSync(logFd);
    const listener = await notifyListener(notify, join(root, 'run/virtwall/virtwall-sock'));
    const daemon = spawn('ip', ['netns', 'exec', ns, process.execPath, BIN, '--root', root, 'daemon'], {
      env: {
        ...process.env,
        DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/nonexistent/virtwall-test-bus',
        NOTIFY_SOCKET: notify,
        JOURNAL_STREAM: `${st.dev}:${st.ino}`,
      },
      stdio: ['ignore', 'ignore', logFd],
    });
    t.after(() => {
      daemon.kill('SIGKILL');
      listener.close();
      closeSync(logFd);
      rmSync(dir, { recursive: true, force: true });
    });
    const ready = await listener.next();
    assert.ok(ready, `no notification; daemon log:\n${readFileSync(join(dir, 'stderr'), 'utf8')}`);
    // ip netns exec execs the daemon: the child's PID is the daemon's
    assert.deepEqual(ready, { message: 'READY=1', pid: daemon.pid, serving: true });
    const log = readFileSync(join(dir, 'stderr'), 'utf8');
    assert.match(log, /^<6>virtwalld ready \{"root":/m);
    assert.doesNotMatch(log, /^\{/m);
  });
});
