// The systemd units in systemd/: one socket unit per libvirt socket virtwalld serves, with the
// path, mode and descriptor name the daemon looks for, all passed to virtwalld.service; and
// systemd's own checker accepts them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { libvirtSockets } from '../../src/rpc/listeners.js';

const DIR = join(import.meta.dirname, '../../systemd');
const key = (text: string, k: string) => [...text.matchAll(new RegExp(`^${k}=(.*)$`, 'gm'))].map((m) => m[1]!);

describe('systemd units', () => {
  it('declare every socket the daemon serves, as the daemon expects it', () => {
    const service = readFileSync(join(DIR, 'virtwalld.service'), 'utf8');
    const passed = key(service, 'Sockets')[0]!.split(' ');
    const units = readdirSync(DIR).filter((f) => f.endsWith('.socket'));
    assert.deepEqual([...units].sort(), [...passed].sort());
    const sockets = libvirtSockets('/');
    assert.equal(units.length, sockets.length);
    for (const s of sockets) {
      const unit = units
        .map((u) => readFileSync(join(DIR, u), 'utf8'))
        .find((u) => key(u, 'ListenStream')[0] === s.path);
      assert.ok(unit, s.path);
      assert.deepEqual(key(unit, 'FileDescriptorName'), [basename(s.path)]);
      assert.deepEqual(key(unit, 'SocketMode'), [s.readonly ? '0666' : '0600']);
      assert.deepEqual(key(unit, 'Service'), ['virtwalld.service']);
    }
  });

  it('make the daemon a Type=notify service whose readiness systemd takes from its main process', () => {
    // the daemon's READY=1 comes under its own PID (test/daemon/systemd.test.ts)
    const service = readFileSync(join(DIR, 'virtwalld.service'), 'utf8');
    assert.deepEqual(key(service, 'Type'), ['notify']);
    assert.deepEqual(key(service, 'NotifyAccess'), ['main']);
  });

  it('pass systemd-analyze verify', {
    skip: spawnSync('systemd-analyze', ['--version']).status === 0 ? false : 'systemd-analyze missing',
  }, () => {
    for (const f of readdirSync(DIR)) {
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', join(DIR, f)], { encoding: 'utf8' });
      const complaints = r.stderr.split('\n').filter((l) => l && !/is not executable: No such file/.test(l));
      assert.deepEqual(complaints, [], f);
    }
  });
});
