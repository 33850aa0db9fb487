import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeRunner } from '../../src/exec/fake.js';

describe('FakeRunner', () => {
  it('records each command with what it got on stdin, and answers by line and input', async () => {
    const fake = new FakeRunner((line, input) =>
      line === 'iptables-restore --noflush' && input?.includes('-A BAD') ? { status: 1, stderr: 'refused' } : undefined,
    );
    assert.equal((await fake.run(['iptables-restore', '--noflush'], '*filter\n-A OK -j ACCEPT\nCOMMIT\n')).status, 0);
    assert.equal(
      (await fake.run(['iptables-restore', '--noflush'], '*filter\n-A BAD -j DROP\nCOMMIT\n')).stderr,
      'refused',
    );
    assert.equal((await fake.run(['iptables-save'])).status, 0);
    assert.deepEqual(fake.calls, ['iptables-restore --noflush', 'iptables-restore --noflush', 'iptables-save']);
    assert.deepEqual(fake.inputs, [
      '*filter\n-A OK -j ACCEPT\nCOMMIT\n',
      '*filter\n-A BAD -j DROP\nCOMMIT\n',
      undefined,
    ]);
  });
});
